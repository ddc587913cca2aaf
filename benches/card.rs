//! Card core throughput: SELECT + READ BINARY, a full certificate read, and one RSA-2048
//! signature. Run: `cargo bench --bench card -- --warm-up-time 1 --measurement-time 3`.
#![allow(missing_docs)] // criterion_group! declares an undocumented `pub fn`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use myna_hil::card::{Card, CardDescription};
use myna_hil::pki::TestPki;

const SELECT_JPKI: [u8; 15] = [
    0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01,
];
const SELECT_AUTH_CERTIFICATE: [u8; 7] = [0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A];
const READ_256: [u8; 5] = [0x00, 0xB0, 0x00, 0x00, 0x00];

fn standard_card() -> Card {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cards/standard.yaml");
    let description = CardDescription::from_yaml_file(&path).expect("standard fixture");
    let pki = TestPki::load().expect("test PKI");
    let mut card = Card::from_description(&description, pki).expect("card builds");
    card.power_on();
    card.process(&SELECT_JPKI);
    card
}

fn bench_card(c: &mut Criterion) {
    let mut card = standard_card();

    let mut group = c.benchmark_group("card_apdu");
    group.throughput(Throughput::Elements(2));
    group.bench_function("select_ef_then_read_binary_256", |b| {
        b.iter(|| {
            black_box(card.process(black_box(&SELECT_AUTH_CERTIFICATE)));
            black_box(card.process(black_box(&READ_256)))
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("read_binary_256", |b| {
        b.iter(|| black_box(card.process(black_box(&READ_256))))
    });
    group.bench_function("select_df", |b| {
        b.iter(|| black_box(card.process(black_box(&SELECT_JPKI))))
    });
    group.finish();

    let mut group = c.benchmark_group("card_certificate");
    card.process(&SELECT_JPKI);
    card.process(&SELECT_AUTH_CERTIFICATE);
    let size = card.auth_certificate_der().len();
    group.throughput(Throughput::Bytes(size as u64));
    group.bench_function("full_auth_certificate_read_4byte_header_then_le00", |b| {
        b.iter(|| {
            card.process(&SELECT_AUTH_CERTIFICATE);
            let header = card.process(&[0x00, 0xB0, 0x00, 0x00, 0x04]).rapdu;
            let total = usize::from(u16::from_be_bytes([header[2], header[3]])) + 4;
            let mut offset = 0;
            while offset < total {
                let [hi, lo] = (offset as u16).to_be_bytes();
                let reply = card.process(&[0x00, 0xB0, hi, lo, 0x00]);
                offset += reply.rapdu.len() - 2;
            }
            black_box(offset)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("card_crypto");
    card.process(&SELECT_JPKI);
    card.process(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18]);
    card.process(&[0x00, 0x20, 0x00, 0x80, 0x04, b'1', b'2', b'3', b'4']);
    card.process(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x17]);
    let mut sign = vec![0x80, 0x2A, 0x00, 0x80, 0x33];
    sign.extend_from_slice(&[
        0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ]);
    sign.extend_from_slice(&[0xAB; 32]);
    sign.push(0x00);
    assert_eq!(card.process(&sign).rapdu.len(), 258, "signature setup");
    group.sample_size(20);
    group.bench_function("rsa2048_pkcs1_sign", |b| {
        b.iter(|| black_box(card.process(black_box(&sign))))
    });
    group.finish();
}

criterion_group!(benches, bench_card);
criterion_main!(benches);
