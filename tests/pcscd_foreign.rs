//! The end-to-end tests on a machine whose pcscd the tests did not start (a Debian desktop's
//! socket-activated one): each test either works with it or skips with its reason printed,
//! none fails because of it, and none stops it. A "system" pcscd is started here, outside
//! `support::Pcscd`, and a few tests' bodies run against it while this test holds the pcscd
//! lock (so no other test starts or uses a pcscd meanwhile).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking
#![cfg(feature = "pcsc")]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::*;

/// A pcscd started as the system would start it, ended by this test alone.
struct SystemPcscd(Child);

impl Drop for SystemPcscd {
    fn drop(&mut self) {
        terminate(&mut self.0);
    }
}

#[test]
fn a_pcscd_the_tests_did_not_start_is_used_or_skipped_for_and_never_stopped() {
    let _lock = lock_pcscd();
    // A pcscd already running is the system's own: the test uses it as it is.
    let mut system = (!pcscd_answers()).then(|| {
        let program = require_program("pcscd", "pcscd");
        SystemPcscd(
            Command::new(program)
                .args(["--foreground", "--error"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting the stand-in system pcscd"),
        )
    });
    wait_until(
        "the system pcscd and its vpcd reader",
        Duration::from_secs(10),
        || pcscd_answers() && tcp_port_listening(VPCD_PORT),
    );
    let skips_before = SKIPPED.lock().unwrap().len();
    REHEARSING_SKIPS.with(|rehearsing| rehearsing.set(true));
    // Works with it: the card served through its vpcd reader.
    crate::pcsc_client::reader_is_listed_with_the_cards_atr();
    // Need a pcscd of their own: skipped, each with its reason.
    crate::pcsc_client::the_card_comes_back_after_pcscd_restarts();
    crate::trace_clinic::a_pcscd_log_of_an_opensc_session_imports_replays_and_becomes_a_passing_scenario();
    crate::reader_vpcd::pcscd_connecting_out_to_a_listening_card_runs_a_reception();
    REHEARSING_SKIPS.with(|rehearsing| rehearsing.set(false));

    let skips: Vec<String> = SKIPPED.lock().unwrap()[skips_before..]
        .iter()
        .map(|(_, reason)| reason.clone())
        .collect();
    assert_eq!(skips.len(), 3, "{skips:#?}");
    for (skip, why) in skips.iter().zip([
        "this test restarts pcscd",
        "this test captures the APDU log of a pcscd it starts",
        "this test needs a pcscd of its own whose vpcd reader connects out",
    ]) {
        assert!(skip.starts_with(why), "{skip}");
        assert!(
            skip.contains("a pcscd not started by the tests is running")
                && skip.contains("never stopped"),
            "{skip}"
        );
    }
    // The system's pcscd is still the same process, still answering, its reader still there.
    if let Some(system) = system.as_mut() {
        assert!(
            matches!(system.0.try_wait(), Ok(None)),
            "the system pcscd was stopped"
        );
    }
    assert!(pcscd_answers());
    let (_, readers, _) = run("opensc-tool", &["-l"]);
    assert!(readers.contains(VPCD_READER), "{readers}");
}
