//! The HTTP round trip to `oqs serve`'s router on loopback, over one kept-alive connection:
//! `GET /v1/health` (the floor: hyper, axum, the socket) and `POST /v1/insurance-card` for a
//! known person of a 10,000-person synthetic registry (JSON in and out, the lookup, the rules).
//! Run: `cargo bench --bench http_roundtrip`.
#![allow(missing_docs)] // criterion_group! declares an undocumented `pub fn`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use hyper::{Method, StatusCode};
use myna_hil::bench::http::{Connection, HttpTarget};
use myna_hil::bench::population::{insurance_card_request, known_persons};
use myna_hil::oqs::generate::synthetic_registry;
use myna_hil::oqs::http::{serve, Api, ServerLimits};
use myna_hil::oqs::service::{Oqs, OqsConfig};

fn roundtrip(c: &mut Criterion) {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let oqs =
        Arc::new(Oqs::new(synthetic_registry(10_000, 1).unwrap(), OqsConfig::default()).unwrap());
    let listener = server
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    server.spawn(serve(
        listener,
        Api::new(oqs, None),
        ServerLimits::default(),
        std::future::pending(),
    ));
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let target = HttpTarget::parse(&format!("http://{address}")).unwrap();
    let mut connection = client.block_on(Connection::open(&target)).unwrap();
    let person = known_persons(10_000, 1, 1).remove(0);
    let body =
        Bytes::from(serde_json::to_vec(&insurance_card_request(&person, "1312345678")).unwrap());
    let mut group = c.benchmark_group("http_roundtrip");
    group.bench_function("get_health", |b| {
        b.iter(|| {
            let (status, answer) = client
                .block_on(connection.send(Method::GET, "/v1/health", Bytes::new()))
                .unwrap();
            assert_eq!(status, StatusCode::OK);
            black_box(answer)
        })
    });
    group.bench_function("post_insurance_card", |b| {
        b.iter(|| {
            let (status, answer) = client
                .block_on(connection.send(Method::POST, "/v1/insurance-card", body.clone()))
                .unwrap();
            assert_eq!(status, StatusCode::OK);
            black_box(answer)
        })
    });
    group.finish();
}

criterion_group!(benches, roundtrip);
criterion_main!(benches);
