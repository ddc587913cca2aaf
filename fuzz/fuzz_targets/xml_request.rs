//! The XML request reader of the file interface (`req/OQSsiquc01req_*.xml`), UTF-8 or CP932.
//! Invariants: no panic; a request that parses carries only text XML 1.0 can carry in what is
//! echoed into the answers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myna_hil::oqs::xml;

fuzz_target!(|data: &[u8]| {
    let _ = xml::parse_request(data);
});
