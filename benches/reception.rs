//! One whole reception in process: the reader flow with PIN (the emulated card reads its
//! certificate and signs the service's challenge with RSA-2048), the in-process qualification
//! service verifying chain and signature, over a synthetic registry of 10,000 persons.
//! Run: `cargo bench --bench reception`.
#![allow(missing_docs)] // criterion_group! declares an undocumented `pub fn`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use myna_hil::bench::in_process::{InProcess, Reception};
use myna_hil::bench::population::{card_for, check_date, known_persons};
use myna_hil::oqs::generate::synthetic_registry;
use myna_hil::oqs::service::{Oqs, OqsConfig};

fn reception(c: &mut Criterion) {
    let oqs = Arc::new(
        Oqs::new(
            synthetic_registry(10_000, 1).unwrap(),
            OqsConfig {
                record_calls: false,
                ..OqsConfig::default()
            },
        )
        .unwrap(),
    );
    let cards = known_persons(10_000, 1, 64)
        .iter()
        .filter(|p| p.card_issued.years_since(p.person.birth_date).unwrap_or(0) >= 20)
        .take(8)
        .enumerate()
        .map(|(index, person)| card_for(person, index).unwrap())
        .collect();
    let reception = Reception {
        oqs,
        cards,
        date: check_date(),
        card_latency: false,
    };
    reception.worker(0);
    let mut k = 0u64;
    let mut group = c.benchmark_group("reception");
    group.sample_size(30);
    group.bench_function("pin_reception_in_process", |b| {
        b.iter(|| {
            k += 1;
            black_box(reception.run(k, &mut ()).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, reception);
criterion_main!(benches);
