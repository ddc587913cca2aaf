//! Lookup latency of the qualification check (after signature verification) at 10 thousand,
//! 1 million and — opt-in with `MYNA_HIL_BENCH_10M=1`, because building it takes tens of
//! seconds and ~1.5 GB — 10 million synthetic persons.
//!
//! Each size also prints its build time and the registry's heap size to stderr.
#![allow(missing_docs)] // criterion_group! declares an undocumented `pub fn`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::hint::black_box;
use std::time::Instant;

use chrono::{NaiveDate, NaiveTime};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use myna_hil::oqs::generate::synthetic_registry;
use myna_hil::oqs::service::{CheckContext, Oqs, OqsConfig};
use myna_hil::oqs::ConsentChoices;
use myna_hil::pki::{pool_key, VerifiedCertificate};

fn sizes() -> Vec<usize> {
    let mut sizes = vec![10_000, 1_000_000];
    if std::env::var_os("MYNA_HIL_BENCH_10M").is_some_and(|v| v == "1") {
        sizes.push(10_000_000);
    }
    sizes
}

fn resident_megabytes() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned())
        })
        .map(|kb| format!("{} MiB peak RSS", kb.parse::<u64>().unwrap_or(0) / 1024))
        .unwrap_or_else(|| "RSS unknown".into())
}

fn lookup(c: &mut Criterion) {
    let public_key = pool_key(0).expect("committed key pool").to_public_key();
    let date = NaiveDate::from_ymd_opt(2025, 4, 1).expect("date");
    let mut group = c.benchmark_group("oqs_check_verified");
    for persons in sizes() {
        let started = Instant::now();
        let registry = synthetic_registry(persons, 1).expect("synthetic registry");
        eprintln!(
            "oqs bench: {persons} persons built in {:.2} s, registry heap {} MiB, {}",
            started.elapsed().as_secs_f64(),
            registry.heap_bytes() / (1024 * 1024),
            resident_megabytes()
        );
        let serials = registry.card_serials();
        // A spread of cards across the whole registry, so lookups miss the cache as in real life.
        let certificates: Vec<VerifiedCertificate> = (0..4096)
            .map(|i| serials[(i * 7919 * 104_729) % serials.len()])
            .map(|serial| VerifiedCertificate {
                serial,
                not_before: NaiveDate::from_ymd_opt(2016, 1, 1).expect("date"),
                not_after: NaiveDate::from_ymd_opt(2030, 12, 31).expect("date"),
                public_key: public_key.clone(),
            })
            .collect();
        let oqs = Oqs::new(
            registry,
            OqsConfig {
                record_calls: false,
                ..OqsConfig::default()
            },
        )
        .expect("test PKI");
        let context = CheckContext {
            facility_code: "1312345678",
            date,
            time: NaiveTime::MIN,
            consent: ConsentChoices::default(),
            arbitrary_file_identifier: None,
            character_code: Default::default(),
        };
        let mut next = 0usize;
        group.bench_with_input(BenchmarkId::new("persons", persons), &persons, |b, _| {
            b.iter(|| {
                next = (next + 1) % certificates.len();
                black_box(oqs.check_verified(black_box(&certificates[next]), &context))
            })
        });
        let mut next = 0usize;
        group.bench_with_input(
            BenchmarkId::new("card_index_only", persons),
            &persons,
            |b, _| {
                b.iter(|| {
                    next = (next + 1) % certificates.len();
                    black_box(oqs.registry().card(black_box(certificates[next].serial)))
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
