//! The test PKI: key pool, issued certificates (checked with openssl as an independent
//! verifier), verify_issued's rejections, and regeneration of the committed fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::NaiveDate;
use der::asn1::Utf8StringRef;
use der::{Decode, Encode};
use myna_hil::person::{MyNumber, Person, Sex};
use myna_hil::pki::{
    certificate_serial, pool_key, pool_size, CertificateKind, CertificateRequest, PkiError, TestPki,
};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey};
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{CertificatePolicies, KeyUsage, KeyUsages, SubjectAltName};
use x509_cert::Certificate;

const AUTH_POLICY: &str = "1.2.392.200149.8.5.1.3.30";
const SIGN_POLICY: &str = "1.2.392.200149.8.5.1.1.20";

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn hanako() -> Person {
    Person {
        name: "試験\u{3000}花子".into(),
        kana: "シケン ハナコ".into(),
        birth_date: date(1980, 5, 10),
        sex: Sex::Female,
        address: "東京都千代田区霞が関二丁目1番2号".into(),
        my_number: "123456789018".parse::<MyNumber>().unwrap(),
    }
}

fn issue(
    kind: CertificateKind,
    holder: &Person,
    key: &RsaPrivateKey,
    from: NaiveDate,
    until: NaiveDate,
) -> Vec<u8> {
    let public = key.to_public_key();
    TestPki::load()
        .unwrap()
        .issue(&CertificateRequest {
            kind,
            holder,
            subject_key: &public,
            not_before: from,
            not_after: until,
        })
        .unwrap()
}

fn extension<'a>(certificate: &'a Certificate, oid: &str) -> Option<&'a x509_cert::ext::Extension> {
    certificate
        .tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|extension| extension.extn_id.to_string() == oid)
}

fn policies(certificate: &Certificate) -> Vec<String> {
    let extension = extension(certificate, "2.5.29.32").expect("certificatePolicies");
    CertificatePolicies::from_der(extension.extn_value.as_bytes())
        .unwrap()
        .0
        .iter()
        .map(|policy| policy.policy_identifier.to_string())
        .collect()
}

fn key_usage(certificate: &Certificate) -> (KeyUsage, bool) {
    let extension = extension(certificate, "2.5.29.15").expect("keyUsage");
    (
        KeyUsage::from_der(extension.extn_value.as_bytes()).unwrap(),
        extension.critical,
    )
}

// ---------------------------------------------------------------- key pool

#[test]
fn pool_holds_sixteen_distinct_rsa_2048_keys_with_exponent_65537() {
    assert_eq!(pool_size(), 16);
    let mut moduli = Vec::new();
    for index in 0..pool_size() {
        let key = pool_key(index).unwrap();
        assert_eq!(key.size(), 256, "key {index}");
        assert_eq!(*key.e(), BigUint::from(65537u32), "key {index}");
        key.validate().unwrap();
        moduli.push(key.n().clone());
    }
    moduli.sort();
    moduli.dedup();
    assert_eq!(moduli.len(), 16, "pool keys must be distinct");
}

#[test]
fn pool_index_wraps_around_the_pool_size() {
    assert_eq!(pool_key(3).unwrap(), pool_key(3 + 16).unwrap());
    assert_eq!(pool_key(0).unwrap(), pool_key(16 * 1000).unwrap());
    assert_ne!(pool_key(0).unwrap(), pool_key(1).unwrap());
}

// ---------------------------------------------------------------- serial contract

#[test]
fn certificate_serial_follows_the_documented_derivation() {
    let number: MyNumber = "123456789018".parse().unwrap();
    for (kind, label) in [
        (CertificateKind::Authentication, "authentication"),
        (CertificateKind::Signing, "signing"),
    ] {
        let digest = Sha256::digest(format!(
            "myna-hil/certificate-serial/v1|{label}|123456789018|2024-04-01"
        ));
        let expected = u64::from_be_bytes(digest[..8].try_into().unwrap()) & (u64::MAX >> 1);
        assert_eq!(
            certificate_serial(kind, &number, date(2024, 4, 1)),
            expected
        );
    }
    let auth = certificate_serial(CertificateKind::Authentication, &number, date(2024, 4, 1));
    assert_ne!(
        auth,
        certificate_serial(CertificateKind::Signing, &number, date(2024, 4, 1))
    );
    assert_ne!(
        auth,
        certificate_serial(CertificateKind::Authentication, &number, date(2024, 4, 2))
    );
    let other: MyNumber = MyNumber::from_first_eleven([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 9]);
    assert_ne!(
        auth,
        certificate_serial(CertificateKind::Authentication, &other, date(2024, 4, 1))
    );
}

// ---------------------------------------------------------------- issued certificates

#[test]
fn authentication_certificate_has_jpki_shape() {
    let person = hanako();
    let key = pool_key(2).unwrap();
    let der = issue(
        CertificateKind::Authentication,
        &person,
        &key,
        date(2024, 4, 1),
        date(2029, 5, 10),
    );
    let certificate = Certificate::from_der(&der).unwrap();
    let tbs = &certificate.tbs_certificate;

    assert_eq!(tbs.version, x509_cert::Version::V3);
    assert_eq!(
        tbs.issuer.to_string(),
        "OU=JPKI-TEST for user authentication,O=JPKI-TEST,C=JP"
    );
    let subject = tbs.subject.to_string();
    let cn = subject
        .strip_prefix("CN=")
        .and_then(|rest| rest.strip_suffix(",C=JP"))
        .expect(&subject);
    assert!(
        cn.chars().all(|c| c.is_ascii_alphanumeric()),
        "opaque serial-like CN, got {cn}"
    );
    assert!(
        !cn.contains("123456789018") && !subject.contains("花子"),
        "no number, no name in {subject}"
    );

    let serial = certificate_serial(
        CertificateKind::Authentication,
        &person.my_number,
        date(2024, 4, 1),
    );
    assert_eq!(
        tbs.serial_number.as_bytes(),
        der::asn1::Uint::new(&serial.to_be_bytes())
            .unwrap()
            .as_bytes()
    );

    // JST days: 2024-04-01 00:00:00 JST .. 2029-05-10 23:59:59 JST.
    assert_eq!(tbs.validity.not_before.to_string(), "2024-03-31T15:00:00Z");
    assert_eq!(tbs.validity.not_after.to_string(), "2029-05-10T14:59:59Z");

    assert_eq!(policies(&certificate), vec![AUTH_POLICY]);
    let (usage, critical) = key_usage(&certificate);
    assert!(critical);
    assert!(usage.digital_signature() && !usage.non_repudiation() && !usage.key_encipherment());
    assert_eq!(usage.0.bits(), 0x0001, "digitalSignature only");
    assert!(
        extension(&certificate, "2.5.29.17").is_none(),
        "no subjectAltName on the auth certificate"
    );
    assert_eq!(
        tbs.subject_public_key_info.to_der().unwrap(),
        x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(
            rsa::pkcs8::EncodePublicKey::to_public_key_der(&key.to_public_key())
                .unwrap()
                .as_bytes()
        )
        .unwrap()
        .to_der()
        .unwrap()
    );
}

#[test]
fn signing_certificate_carries_the_four_attributes_as_other_names() {
    let person = hanako();
    let key = pool_key(5).unwrap();
    let der = issue(
        CertificateKind::Signing,
        &person,
        &key,
        date(2024, 4, 1),
        date(2029, 5, 10),
    );
    let certificate = Certificate::from_der(&der).unwrap();
    let tbs = &certificate.tbs_certificate;

    assert_eq!(
        tbs.issuer.to_string(),
        "OU=JPKI-TEST for digital signature,O=JPKI-TEST,C=JP"
    );
    assert_eq!(policies(&certificate), vec![SIGN_POLICY]);
    let (usage, _) = key_usage(&certificate);
    assert_eq!(
        usage.0,
        KeyUsages::DigitalSignature | KeyUsages::NonRepudiation
    );
    let serial = certificate_serial(
        CertificateKind::Signing,
        &person.my_number,
        date(2024, 4, 1),
    );
    assert_eq!(
        tbs.serial_number.as_bytes(),
        der::asn1::Uint::new(&serial.to_be_bytes())
            .unwrap()
            .as_bytes()
    );

    let san = extension(&certificate, "2.5.29.17").expect("subjectAltName");
    let names = SubjectAltName::from_der(san.extn_value.as_bytes()).unwrap();
    let entries: Vec<(String, String)> = names
        .0
        .iter()
        .map(|name| match name {
            GeneralName::OtherName(other) => {
                // [0] EXPLICIT wraps a UTF8String: the value must decode as exactly that.
                let text = Utf8StringRef::try_from(&other.value).expect("UTF8String value");
                (other.type_id.to_string(), text.as_str().to_owned())
            }
            other => panic!("unexpected general name {other:?}"),
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("1.2.392.200149.8.5.5.1", "試験\u{3000}花子"),
        ("1.2.392.200149.8.5.5.2", ""),
        ("1.2.392.200149.8.5.5.3", "2"),
        ("1.2.392.200149.8.5.5.4", "19800510"),
        ("1.2.392.200149.8.5.5.5", "東京都千代田区霞が関二丁目1番2号"),
        ("1.2.392.200149.8.5.5.6", ""),
    ]
    .iter()
    .map(|(oid, value)| (oid.to_string(), value.to_string()))
    .collect();
    assert_eq!(entries, expected);
}

#[test]
fn issuing_is_deterministic() {
    let person = hanako();
    let key = pool_key(1).unwrap();
    let first = issue(
        CertificateKind::Signing,
        &person,
        &key,
        date(2030, 1, 1),
        date(2035, 1, 1),
    );
    let second = issue(
        CertificateKind::Signing,
        &person,
        &key,
        date(2030, 1, 1),
        date(2035, 1, 1),
    );
    assert_eq!(first, second);
}

#[test]
fn issue_refuses_reversed_dates_out_of_range_dates_and_signing_under_15() {
    let pki = TestPki::load().unwrap();
    let key = pool_key(0).unwrap().to_public_key();
    let adult = hanako();
    let mut child = hanako();
    child.birth_date = date(2015, 6, 1);
    let cases = [
        (
            CertificateKind::Authentication,
            &adult,
            date(2025, 1, 2),
            date(2025, 1, 1),
            "before",
        ),
        (
            CertificateKind::Authentication,
            &adult,
            date(1980, 1, 1),
            date(1985, 1, 1),
            "validity",
        ),
        (
            CertificateKind::Authentication,
            &adult,
            date(2098, 1, 1),
            date(2103, 1, 1),
            "validity",
        ),
        (
            CertificateKind::Signing,
            &child,
            date(2030, 5, 31),
            date(2035, 1, 1),
            "under 15",
        ),
    ];
    for (kind, holder, from, until, why) in cases {
        let request = CertificateRequest {
            kind,
            holder,
            subject_key: &key,
            not_before: from,
            not_after: until,
        };
        match pki.issue(&request) {
            Err(PkiError::Request(message)) => assert!(message.contains(why), "{message}"),
            other => panic!("{kind:?} {from}..{until}: expected a refused request, got {other:?}"),
        }
    }
    // The day the child turns 15 the signing certificate is issued.
    let request = CertificateRequest {
        kind: CertificateKind::Signing,
        holder: &child,
        subject_key: &key,
        not_before: date(2030, 6, 1),
        not_after: date(2035, 1, 1),
    };
    assert!(pki.issue(&request).is_ok());
}

// ---------------------------------------------------------------- openssl as independent verifier

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn ca_file(&self, kind: CertificateKind) -> PathBuf {
        let pki = TestPki::load().unwrap();
        self.write(
            &format!("{}-ca.pem", kind.label()),
            pki.ca_certificate_pem(kind).as_bytes(),
        )
    }

    /// DER certificate → PEM file, converted by openssl itself.
    fn certificate_pem(&self, name: &str, der: &[u8]) -> PathBuf {
        let der_path = self.write(&format!("{name}.der"), der);
        let pem_path = self.dir.path().join(format!("{name}.pem"));
        let output = openssl(&[
            "x509",
            "-inform",
            "DER",
            "-in",
            path(&der_path),
            "-out",
            path(&pem_path),
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        pem_path
    }
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl CLI is needed for these tests")
}

/// `openssl verify -x509_strict` at a JST date-time given as seconds since the epoch.
fn openssl_verify(ca: &Path, certificate: &Path, at_epoch: i64) -> (bool, String) {
    let at = at_epoch.to_string();
    let output = openssl(&[
        "verify",
        "-x509_strict",
        "-attime",
        &at,
        "-CAfile",
        path(ca),
        path(certificate),
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn jst_epoch(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> i64 {
    date(y, m, d)
        .and_hms_opt(h, min, s)
        .unwrap()
        .and_utc()
        .timestamp()
        - 9 * 3600
}

#[test]
fn openssl_verifies_both_kinds_within_their_jst_validity_only() {
    let scratch = Scratch::new();
    let person = hanako();
    let key = pool_key(7).unwrap();
    for kind in [CertificateKind::Authentication, CertificateKind::Signing] {
        let der = issue(kind, &person, &key, date(2024, 4, 1), date(2029, 5, 10));
        let certificate = scratch.certificate_pem(kind.label(), &der);
        let ca = scratch.ca_file(kind);

        let (ok, text) = openssl_verify(&ca, &certificate, jst_epoch(2026, 1, 1, 12, 0, 0));
        assert!(ok, "{kind:?}: {text}");
        let (ok, text) = openssl_verify(&ca, &certificate, jst_epoch(2024, 4, 1, 0, 0, 1));
        assert!(ok, "{kind:?} first second: {text}");
        let (ok, text) = openssl_verify(&ca, &certificate, jst_epoch(2029, 5, 10, 23, 59, 0));
        assert!(ok, "{kind:?} last minute: {text}");

        let (ok, text) = openssl_verify(&ca, &certificate, jst_epoch(2024, 3, 31, 23, 59, 0));
        assert!(!ok && text.contains("not yet valid"), "{kind:?}: {text}");
        let (ok, text) = openssl_verify(&ca, &certificate, jst_epoch(2029, 5, 11, 0, 0, 1));
        assert!(!ok && text.contains("expired"), "{kind:?}: {text}");

        let other_kind = match kind {
            CertificateKind::Authentication => CertificateKind::Signing,
            CertificateKind::Signing => CertificateKind::Authentication,
        };
        let (ok, text) = openssl_verify(
            &scratch.ca_file(other_kind),
            &certificate,
            jst_epoch(2026, 1, 1, 12, 0, 0),
        );
        assert!(
            !ok,
            "{kind:?} must not verify against the {other_kind:?} CA: {text}"
        );
    }
}

#[test]
fn certificates_valid_after_2050_verify_with_openssl() {
    let scratch = Scratch::new();
    let der = issue(
        CertificateKind::Authentication,
        &hanako(),
        &pool_key(8).unwrap(),
        date(2049, 6, 1),
        date(2054, 5, 10),
    );
    let certificate = scratch.certificate_pem("late", &der);
    let (ok, text) = openssl_verify(
        &scratch.ca_file(CertificateKind::Authentication),
        &certificate,
        jst_epoch(2052, 1, 1, 0, 0, 0),
    );
    assert!(ok, "{text}");
}

#[test]
fn openssl_reads_policy_key_usage_and_other_names() {
    let scratch = Scratch::new();
    let person = hanako();
    let key = pool_key(4).unwrap();

    let auth = issue(
        CertificateKind::Authentication,
        &person,
        &key,
        date(2024, 4, 1),
        date(2029, 5, 10),
    );
    let auth_path = scratch.certificate_pem("auth", &auth);
    let text =
        String::from_utf8(openssl(&["x509", "-noout", "-text", "-in", path(&auth_path)]).stdout)
            .unwrap();
    assert!(text.contains(&format!("Policy: {AUTH_POLICY}")), "{text}");
    assert!(
        text.contains("X509v3 Key Usage: critical\n                Digital Signature\n"),
        "{text}"
    );
    assert!(
        text.contains("Signature Algorithm: sha256WithRSAEncryption"),
        "{text}"
    );
    assert!(
        text.contains("Public-Key: (2048 bit)") && text.contains("Exponent: 65537"),
        "{text}"
    );

    let sign = issue(
        CertificateKind::Signing,
        &person,
        &key,
        date(2024, 4, 1),
        date(2029, 5, 10),
    );
    let sign_path = scratch.certificate_pem("sign", &sign);
    let text =
        String::from_utf8(openssl(&["x509", "-noout", "-text", "-in", path(&sign_path)]).stdout)
            .unwrap();
    assert!(text.contains(&format!("Policy: {SIGN_POLICY}")), "{text}");
    assert!(
        text.contains("Digital Signature, Non Repudiation"),
        "{text}"
    );
    assert!(text.contains("X509v3 Subject Alternative Name"), "{text}");

    // The otherName structure as openssl's own DER parser sees it: find the subjectAltName
    // extension's OCTET STRING, then parse inside it.
    let sign_der = scratch.write("sign-raw.der", &sign);
    let asn1parse = |extra: &[&str]| {
        let mut args = vec!["asn1parse", "-inform", "DER", "-in", path(&sign_der)];
        args.extend_from_slice(extra);
        String::from_utf8(openssl(&args).stdout).unwrap()
    };
    let dump = asn1parse(&[]);
    let lines: Vec<&str> = dump.lines().collect();
    let san_line = lines
        .iter()
        .position(|line| line.contains("X509v3 Subject Alternative Name"))
        .expect(&dump);
    let offset = lines[san_line + 1]
        .split(':')
        .next()
        .unwrap()
        .trim()
        .to_owned();
    let san = asn1parse(&["-strparse", &offset]);
    for arc in 1..=6 {
        assert!(
            san.contains(&format!(":1.2.392.200149.8.5.5.{arc}\n")),
            "otherName .{arc} in {san}"
        );
    }
    assert_eq!(
        san.matches("cont [ 0 ]").count(),
        12,
        "otherName [0] + value [0] EXPLICIT, six times: {san}"
    );
    assert_eq!(san.matches("prim: UTF8STRING").count(), 6, "{san}");
    assert!(san.contains("UTF8STRING        :19800510"), "{san}");
    assert!(san.contains("UTF8STRING        :2\n"), "{san}");
}

// ---------------------------------------------------------------- verify_issued

#[test]
fn verify_issued_returns_serial_dates_and_key() {
    let pki = TestPki::load().unwrap();
    let person = hanako();
    let key = pool_key(9).unwrap();
    for kind in [CertificateKind::Authentication, CertificateKind::Signing] {
        let der = issue(kind, &person, &key, date(2024, 4, 1), date(2029, 5, 10));
        let verified = pki.verify_issued(kind, &der).unwrap();
        assert_eq!(
            verified.serial,
            certificate_serial(kind, &person.my_number, date(2024, 4, 1))
        );
        assert_eq!(verified.not_before, date(2024, 4, 1));
        assert_eq!(verified.not_after, date(2029, 5, 10));
        assert_eq!(verified.public_key, key.to_public_key());
    }
}

#[test]
fn verify_issued_refuses_the_other_test_ca() {
    let pki = TestPki::load().unwrap();
    let der = issue(
        CertificateKind::Signing,
        &hanako(),
        &pool_key(0).unwrap(),
        date(2024, 4, 1),
        date(2029, 5, 10),
    );
    match pki.verify_issued(CertificateKind::Authentication, &der) {
        Err(PkiError::UnknownIssuer { expected, found }) => {
            assert_eq!(
                expected,
                "OU=JPKI-TEST for user authentication,O=JPKI-TEST,C=JP"
            );
            assert_eq!(found, "OU=JPKI-TEST for digital signature,O=JPKI-TEST,C=JP");
        }
        other => panic!("expected UnknownIssuer, got {other:?}"),
    }
}

#[test]
fn verify_issued_refuses_a_foreign_ca_that_copies_our_name() {
    let scratch = Scratch::new();
    let dir = scratch.dir.path();
    let run = |args: &[&str]| {
        let output = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "foreign-ca.key",
        "-out",
        "foreign-ca.pem",
        "-days",
        "3650",
        "-subj",
        "/C=JP/O=JPKI-TEST/OU=JPKI-TEST for user authentication",
    ]);
    run(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=FORGED/C=JP",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "foreign-ca.pem",
        "-CAkey",
        "foreign-ca.key",
        "-set_serial",
        "42",
        "-days",
        "365",
        "-sha256",
        "-outform",
        "DER",
        "-out",
        "leaf.der",
    ]);
    let der = std::fs::read(dir.join("leaf.der")).unwrap();
    match TestPki::load()
        .unwrap()
        .verify_issued(CertificateKind::Authentication, &der)
    {
        Err(PkiError::BadSignature { issuer, .. }) => {
            assert_eq!(
                issuer,
                "OU=JPKI-TEST for user authentication,O=JPKI-TEST,C=JP"
            )
        }
        other => panic!("expected BadSignature, got {other:?}"),
    }
}

#[test]
fn verify_issued_refuses_a_tampered_certificate() {
    let pki = TestPki::load().unwrap();
    let person = hanako();
    let der = issue(
        CertificateKind::Authentication,
        &person,
        &pool_key(0).unwrap(),
        date(2024, 4, 1),
        date(2029, 5, 10),
    );
    // Move the expiry by a year, same length: UTCTime "290510145959Z" → "300510145959Z".
    let position = der
        .windows(13)
        .position(|window| window == b"290510145959Z")
        .expect("notAfter");
    let mut tampered = der.clone();
    tampered[position] = b'3';
    tampered[position + 1] = b'0';
    assert!(
        Certificate::from_der(&tampered).is_ok(),
        "still a well-formed certificate"
    );
    assert!(matches!(
        pki.verify_issued(CertificateKind::Authentication, &tampered),
        Err(PkiError::BadSignature { .. })
    ));

    // A flipped bit in the signature itself.
    let mut bad_signature = der.clone();
    let last = bad_signature.len() - 1;
    bad_signature[last] ^= 0x01;
    assert!(matches!(
        pki.verify_issued(CertificateKind::Authentication, &bad_signature),
        Err(PkiError::BadSignature { .. })
    ));
}

#[test]
fn verify_issued_refuses_garbage_without_panicking() {
    let pki = TestPki::load().unwrap();
    let der = issue(
        CertificateKind::Authentication,
        &hanako(),
        &pool_key(0).unwrap(),
        date(2024, 4, 1),
        date(2029, 5, 10),
    );
    let mut with_trailing_byte = der.clone();
    with_trailing_byte.push(0);
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0x30],
        vec![0x30, 0x82, 0xFF, 0xFF],
        b"-----BEGIN CERTIFICATE-----".to_vec(),
        (0..=255u8).collect(),
        der[..der.len() / 2].to_vec(),
        with_trailing_byte,
    ];
    for input in inputs {
        match pki.verify_issued(CertificateKind::Authentication, &input) {
            Err(PkiError::Malformed(message)) => assert!(!message.is_empty()),
            other => panic!("{} bytes: expected Malformed, got {other:?}", input.len()),
        }
    }
}

// ---------------------------------------------------------------- fixtures

#[test]
fn ca_certificates_are_self_signed_jpki_test_roots_valid_2000_to_2099() {
    let scratch = Scratch::new();
    for (kind, name) in [
        (
            CertificateKind::Authentication,
            "OU=JPKI-TEST for user authentication,O=JPKI-TEST,C=JP",
        ),
        (
            CertificateKind::Signing,
            "OU=JPKI-TEST for digital signature,O=JPKI-TEST,C=JP",
        ),
    ] {
        let pki = TestPki::load().unwrap();
        let ca = Certificate::from_der(pki.ca_certificate_der(kind)).unwrap();
        assert_eq!(ca.tbs_certificate.subject.to_string(), name);
        assert_eq!(ca.tbs_certificate.issuer.to_string(), name);
        assert_eq!(pki.issuer_name(kind), name);
        let ca_path = scratch.ca_file(kind);
        for year in [2000, 2099] {
            let (ok, text) = openssl_verify(&ca_path, &ca_path, jst_epoch(year, 1, 1, 0, 0, 1));
            assert!(ok, "{kind:?} CA in {year}: {text}");
        }
    }
}

#[test]
fn fixtures_generate_reproduces_the_committed_files() {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["fixtures", "generate", "--keys", "2", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("rebuild"), "{stdout}");

    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for file in [
        "pki/authentication-ca.key.pem",
        "pki/authentication-ca.cert.pem",
        "pki/signing-ca.key.pem",
        "pki/signing-ca.cert.pem",
    ] {
        let generated = std::fs::read_to_string(out.path().join(file)).unwrap();
        let expected = std::fs::read_to_string(committed.join(file)).unwrap();
        assert!(
            generated == expected,
            "{file} differs from the committed one"
        );
    }
    // The first two keys of the committed pool are the two keys generated here.
    let generated = std::fs::read_to_string(out.path().join("keys/pool.pem")).unwrap();
    let expected = std::fs::read_to_string(committed.join("keys/pool.pem")).unwrap();
    assert_eq!(generated.matches("BEGIN PRIVATE KEY").count(), 2);
    assert!(
        expected.starts_with(&generated),
        "pool keys 0 and 1 differ from the committed pool"
    );
}

#[test]
fn fixtures_generate_rejects_a_bad_key_count() {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["fixtures", "generate", "--keys", "0", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "clap usage error");
    assert!(String::from_utf8_lossy(&output.stderr).contains("1 to 1024"));
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "nothing written"
    );
}
