//! The registry loader (YAML description, then the compact registry built from it).
//! Invariant: no panic — bad input is a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myna_hil::oqs::description::RegistryDescription;
use myna_hil::oqs::registry::Registry;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(description) = RegistryDescription::from_yaml("fuzz.yaml", text) {
        let _ = Registry::from_description("fuzz.yaml", &description);
    }
});
