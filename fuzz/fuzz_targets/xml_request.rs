//! The XML request reader of the file interface (`req/OQSsiquc01req_*.xml`), UTF-8 or CP932.
//! Invariants: no panic; a request that parses carries only text XML 1.0 can carry in the
//! identifier that is echoed into the answers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myna_hil::oqs::xml::{self, FileRequest};

fuzz_target!(|data: &[u8]| {
    let Ok(request) = xml::parse_request(data) else {
        return;
    };
    let identifier = match &request {
        FileRequest::Card(request) => request.arbitrary_file_identifier.as_deref(),
        FileRequest::InsuranceCard(request) => request.arbitrary_file_identifier.as_deref(),
    };
    if let Some(character) = identifier.and_then(xml::first_non_xml10_char) {
        panic!("U+{:04X} accepted in ArbitraryFileIdentifier", u32::from(character));
    }
});
