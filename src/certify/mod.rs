//! Certifying a vendor's reader and terminal (the device under test).

pub mod device;
pub mod protocol;
