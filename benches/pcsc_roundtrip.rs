//! APDU round trip through the real PC/SC stack: PC/SC client → pcscd → vpcd → TCP → our
//! served card and back, with p50 / p99 from an HDR histogram. Starts pcscd when none runs.
//!
//! Run: `cargo bench --features pcsc --bench pcsc_roundtrip`
//! (`-- --iterations N` to change the sample size, `-- --no-quickack` to add a short run
//! without the TCP_QUICKACK re-arming, which shows the delayed-ACK trap when vpcd writes a
//! frame's length and payload separately).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use myna_hil::transport::identify::RealCardPolicy;
use myna_hil::transport::pcsc::PcscTransport;
use myna_hil::transport::serve::{spawn_vpcd, ServeOptions, VpcdConfig};
use myna_hil::transport::Transport;
use support::*;

struct Figures {
    p50: Duration,
    p99: Duration,
    max: Duration,
    count: u64,
}

fn measure(iterations: usize, mut round_trip: impl FnMut()) -> Figures {
    for _ in 0..iterations / 10 {
        round_trip();
    }
    let mut histogram =
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds");
    for _ in 0..iterations {
        let started = Instant::now();
        round_trip();
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        histogram.record(nanos.max(1)).expect("recording a sample");
    }
    let at = |quantile: f64| Duration::from_nanos(histogram.value_at_quantile(quantile));
    Figures {
        p50: at(0.50),
        p99: at(0.99),
        max: Duration::from_nanos(histogram.max()),
        count: histogram.len(),
    }
}

fn report(name: &str, figures: &Figures) {
    let us = |duration: Duration| duration.as_secs_f64() * 1e6;
    println!(
        "{name:<58} n={:<6} p50 {:>9.1} µs   p99 {:>9.1} µs   max {:>9.1} µs",
        figures.count,
        us(figures.p50),
        us(figures.p99),
        us(figures.max)
    );
}

fn serve_and_open(
    quickack: bool,
) -> (
    myna_hil::transport::serve::RunningServer<myna_hil::card::Card>,
    PcscTransport,
) {
    wait_until("the vpcd slot to be empty", Duration::from_secs(10), || {
        !opensc_sees_card(VPCD_READER)
    });
    let mut config = VpcdConfig::new(VPCD_ADDRESS);
    config.quickack = quickack;
    // No simulated card latency: this measures the transport, not the card model.
    let options = ServeOptions {
        apply_latency: false,
        ..ServeOptions::standard()
    };
    let server =
        spawn_vpcd(load_card(&standard_card_path()), config, options).expect("serving to vpcd");
    wait_until("pcscd to see the card", Duration::from_secs(10), || {
        opensc_sees_card(VPCD_READER)
    });
    let mut transport = PcscTransport::open(Some(VPCD_READER), RealCardPolicy::Refuse)
        .expect("opening the vpcd reader");
    transport.connect().expect("connecting");
    (server, transport)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iterations = args
        .iter()
        .position(|arg| arg == "--iterations")
        .and_then(|index| args.get(index + 1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(20_000);
    let _pcscd = Pcscd::ensure();
    let select = select_jpki();

    let mut card = load_card(&standard_card_path());
    card.power_on();
    report(
        "in process: Card::process(SELECT JPKI)",
        &measure(iterations, || {
            std::hint::black_box(card.process(std::hint::black_box(&select)));
        }),
    );

    let (server, mut transport) = serve_and_open(true);
    let raw_context = pcsc::Context::establish(pcsc::Scope::User).expect("pcsc context");
    let reader = std::ffi::CString::new(VPCD_READER).expect("reader name");
    let raw_card = raw_context
        .connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .expect("pcsc connect");
    let mut buffer = [0u8; 258];
    report(
        "pcsc SCardTransmit(SELECT JPKI) via pcscd + vpcd",
        &measure(iterations, || {
            let answer = raw_card.transmit(&select, &mut buffer).expect("transmit");
            assert_eq!(answer, [0x90, 0x00]);
        }),
    );
    report(
        "PcscTransport::transmit (+ transaction) via pcscd + vpcd",
        &measure(iterations, || {
            assert_eq!(transport.transmit(&select).expect("transmit"), [0x90, 0x00]);
        }),
    );
    drop(raw_card);
    transport.disconnect().expect("disconnect");
    server.stop().expect("stopping the server");

    if args.iter().any(|arg| arg == "--no-quickack") {
        let (server, mut transport) = serve_and_open(false);
        report(
            "PcscTransport::transmit, TCP_QUICKACK not re-armed",
            &measure(200, || {
                assert_eq!(transport.transmit(&select).expect("transmit"), [0x90, 0x00]);
            }),
        );
        transport.disconnect().expect("disconnect");
        server.stop().expect("stopping the server");
    }
}
