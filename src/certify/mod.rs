//! Certifying a vendor's reader and terminal (the device under test).

pub mod protocol;
