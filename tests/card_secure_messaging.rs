//! The 券面事項入力補助AP (docs/spec/card-measured.md §6) and the 券面事項確認AP (§7) as a client built
//! from the measured card sees them: file layouts, signatures, access rules, and secure
//! messaging with the client's own OAEP and AES (RustCrypto, not the card's code paths).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use crate::support::card::*;
use aes::cipher::block_padding::Iso7816;
use aes::cipher::{BlockDecryptMut, BlockEncrypt, BlockEncryptMut, KeyInit, KeyIvInit};
use aes::Aes128;
use myna_hil::card::Card;
use rsa::{BigUint, Oaep, Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256};

const SELECT_COMMON: &str = "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 01 00";

/// The standard fixture's text PIN, 照合番号A and B (fixtures/cards/standard.yaml: born
/// 1980-05-10 = 昭和55, expiry year from the card, security code 4321).
const TEXT_PIN: &[u8] = b"1234";
const MY_NUMBER: &[u8] = b"123456789018";

fn read_whole(card: &mut Card) -> Vec<u8> {
    let (data, sw) = send(card, "00 B0 00 00 00 00 00");
    assert_eq!(sw, 0x9000);
    data
}

fn verify(card: &mut Card, key_fid: u16, secret: &[u8]) -> u16 {
    assert_eq!(select_ef(card, key_fid), 0x9000);
    let mut apdu = vec![0x00, 0x20, 0x00, 0x80, secret.len() as u8];
    apdu.extend_from_slice(secret);
    send_bytes(card, &apdu).1
}

/// Parses `tag(1|2) len value` at the start of `bytes`.
fn tlv(bytes: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let tag_len = if bytes[0] & 0x1F == 0x1F { 2 } else { 1 };
    let (length, header) = match bytes[tag_len] {
        short if short < 0x80 => (usize::from(short), tag_len + 1),
        0x81 => (usize::from(bytes[tag_len + 1]), tag_len + 2),
        0x82 => (
            usize::from(u16::from_be_bytes([bytes[tag_len + 1], bytes[tag_len + 2]])),
            tag_len + 3,
        ),
        other => panic!("unexpected length byte {other:02X}"),
    };
    (
        &bytes[..tag_len],
        &bytes[header..header + length],
        &bytes[header + length..],
    )
}

/// `90 03 <e> 91 82 01 00 <n>` → an RSA public key.
fn key_90_91(encoded: &[u8]) -> RsaPublicKey {
    assert_eq!(encoded.len(), 265);
    assert_eq!(&encoded[..5], &[0x90, 0x03, 0x01, 0x00, 0x01]);
    assert_eq!(&encoded[5..9], &[0x91, 0x82, 0x01, 0x00]);
    RsaPublicKey::new(
        BigUint::from_bytes_be(&encoded[9..]),
        BigUint::from(65537u32),
    )
    .unwrap()
}

fn verify_sha256(key: &RsaPublicKey, message: &[u8], signature: &[u8]) {
    key.verify(
        Pkcs1v15Sign::new::<Sha256>(),
        &Sha256::digest(message),
        signature,
    )
    .expect("PKCS#1 v1.5 SHA-256 signature verifies");
}

/// The EF form of a CV certificate: checks the measured layout and returns (CAR, CHR, key).
fn cv_certificate(file: &[u8]) -> ([u8; 16], [u8; 16], RsaPublicKey) {
    assert_eq!(file.len(), 568);
    assert_eq!(&file[..5], &[0x7F, 0x21, 0x82, 0x02, 0x33]);
    assert_eq!(&file[5..10], &[0x5F, 0x4E, 0x82, 0x01, 0x29]);
    let body = &file[10..307];
    assert_eq!(&file[307..312], &[0x5F, 0x37, 0x82, 0x01, 0x00]);
    let signature = &file[312..568];
    // Our CV CA (the MF root key, pool slot 13) signed it.
    let authority = RsaPublicKey::from(&myna_hil::pki::pool_key(13).unwrap());
    verify_sha256(&authority, body, signature);
    (
        body[..16].try_into().unwrap(),
        body[16..32].try_into().unwrap(),
        key_90_91(&body[32..]),
    )
}

#[test]
fn text_ap_files_have_the_measured_layout_and_signatures() {
    let mut card = powered_card("standard");
    send(&mut card, SELECT_TEXT);
    // EF 0004 and 0005 are free.
    select_ef(&mut card, 0x0004);
    let (car, chr, issuer) = cv_certificate(&read_whole(&mut card));
    assert_eq!(&car, b"7000033\x08\x05001\0\0\0\0");
    assert_eq!(&chr, b"1310131\x08\x05000\0\0\0\0");
    select_ef(&mut card, 0x0005);
    let basic = read_whole(&mut card);
    assert_eq!(basic.len(), 164);
    assert_eq!(
        &basic[..12],
        &[0xFF, 0x40, 0x82, 0x00, 0x9F, 0xDF, 0x41, 0x04, 0x01, 0x03, 0x0E, 0x01]
    );
    assert_eq!(&basic[12..15], &[0xDF, 0x42, 0x10]);
    assert_eq!(&basic[31..36], &[0xDF, 0x43, 0x82, 0x00, 0x80]);
    assert!(basic[68..].iter().all(|b| *b == 0xFF));

    assert_eq!(verify(&mut card, 0x0011, TEXT_PIN), 0x9000);
    select_ef(&mut card, 0x0001);
    let my_number = read_whole(&mut card);
    assert_eq!(my_number.len(), 17);
    select_ef(&mut card, 0x0002);
    let basic_four = read_whole(&mut card);
    select_ef(&mut card, 0x0003);
    let integrity = read_whole(&mut card);
    assert_eq!(integrity.len(), 336);
    assert_eq!(&integrity[..5], &[0xFF, 0x30, 0x82, 0x01, 0x4B]);
    let (_, df31, rest) = tlv(&integrity[5..]);
    let (_, df32, rest) = tlv(rest);
    let (tag, df33, _) = tlv(rest);
    assert_eq!(tag, &[0xDF, 0x33]);
    assert_eq!(df31, Sha256::digest(&my_number).as_slice());
    // DF 32 hashes EF 0002 from the DF 22 tag (first offset) to the end of DF 25.
    let (_, outer, filler) = tlv(&basic_four);
    let (_, table, _) = tlv(outer);
    let start = usize::from(u16::from_be_bytes([table[0], table[1]]));
    let outer_end = basic_four.len() - filler.len();
    assert_eq!(
        df32,
        Sha256::digest(&basic_four[start..outer_end]).as_slice()
    );
    verify_sha256(&issuer, &integrity[5..75], df33);

    select_ef(&mut card, 0x0006);
    let session_key_file = read_whole(&mut card);
    assert_eq!(&session_key_file[..4], &[0xA1, 0x82, 0x01, 0x09]);
    let session_key = key_90_91(&session_key_file[4..]);
    select_ef(&mut card, 0x0007);
    let card_key_file = read_whole(&mut card);
    assert_eq!(card_key_file.len(), 536);
    assert_eq!(&card_key_file[..5], &[0xFF, 0x50, 0x82, 0x02, 0x13]);
    let (_, df51, rest) = tlv(&card_key_file[5..]);
    let (_, df52, _) = tlv(rest);
    verify_sha256(&issuer, &card_key_file[5..275], df52);
    let card_key = key_90_91(df51);
    assert_ne!(card_key, session_key);
    assert_ne!(card_key, issuer);
    select_ef(&mut card, 0x0008);
    assert_eq!(read_whole(&mut card), vec![0xFF; 16]);

    // 80 2A 00 00: key 0013 signs the client's DigestInfo, no credential needed.
    send(&mut card, "00 A4 04 0C 07 A0 00 00 01 51 00 00");
    send(&mut card, SELECT_TEXT);
    let challenge = b"sixteen byte chl";
    let mut digest_info = hex_bytes("30 31 30 0D 06 09 60 86 48 01 65 03 04 02 01 05 00 04 20");
    digest_info.extend_from_slice(&Sha256::digest(challenge));
    let mut apdu = vec![0x80, 0x2A, 0x00, 0x00, 0x33];
    apdu.extend_from_slice(&digest_info);
    apdu.push(0x00);
    let (signature, sw) = send_bytes(&mut card, &apdu);
    assert_eq!(sw, 0x9000);
    verify_sha256(&card_key, challenge, &signature);
    // INTERNAL AUTHENTICATE on it: 69 85 (docs/spec/card-measured.md §4).
    assert_eq!(send(&mut card, "00 88 00 93 04 01 02 03 04 00").1, 0x6985);
}

fn hex_bytes(text: &str) -> Vec<u8> {
    myna_hil::apdu::parse_hex(text).unwrap()
}

#[test]
fn text_ap_access_rules_follow_the_measured_card() {
    let mut card = powered_card("standard");
    send(&mut card, SELECT_TEXT);
    let collation_b = card.collation_number_b().as_bytes().to_vec();
    let readable = |card: &mut Card, fid: u16| {
        select_ef(card, fid);
        send(card, "00 B0 00 00 01").1 == 0x9000
    };
    for fid in [0x0001, 0x0002, 0x0003, 0x0006, 0x0007] {
        assert!(!readable(&mut card, fid), "EF {fid:04X} without a key");
    }
    assert!(readable(&mut card, 0x0004));
    assert!(readable(&mut card, 0x0005));
    assert_eq!(verify(&mut card, 0x0014, MY_NUMBER), 0x9000);
    assert!(readable(&mut card, 0x0001));
    assert!(!readable(&mut card, 0x0002), "A does not open EF 0002");
    assert!(readable(&mut card, 0x0003));
    // Leave and come back: the status is gone.
    send(&mut card, SELECT_SURFACE);
    send(&mut card, SELECT_TEXT);
    assert_eq!(verify(&mut card, 0x0015, &collation_b), 0x9000);
    assert!(readable(&mut card, 0x0002));
    assert!(!readable(&mut card, 0x0001), "B does not open EF 0001");
    // Key 0012 is blocked from issuance.
    select_ef(&mut card, 0x0012);
    assert_eq!(send(&mut card, "00 20 00 80").1, 0x63C0);
    assert_eq!(send(&mut card, "00 20 00 80 04 31 32 33 34").1, 0x6984);
}

/// The client side of a session: key, counter, and the commands of docs/spec/card-measured.md §6.10.
struct Client {
    key: [u8; 16],
    counter: u128,
}

impl Client {
    fn iv(&self, counter: u128) -> [u8; 16] {
        let mut block = counter.to_be_bytes().into();
        Aes128::new(&self.key.into()).encrypt_block(&mut block);
        block.into()
    }

    fn next_iv(&mut self) -> [u8; 16] {
        self.counter += 1;
        self.iv(self.counter)
    }

    fn cryptogram(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let iv = self.next_iv();
        let mut buffer = vec![0u8; (plaintext.len() / 16 + 1) * 16];
        buffer[..plaintext.len()].copy_from_slice(plaintext);
        let ciphertext = cbc::Encryptor::<Aes128>::new(&self.key.into(), &iv.into())
            .encrypt_padded_mut::<Iso7816>(&mut buffer, plaintext.len())
            .unwrap()
            .to_vec();
        let mut object = vec![0x86, (ciphertext.len() + 1) as u8, 0x01];
        object.extend_from_slice(&ciphertext);
        object
    }

    fn command(&mut self, header: [u8; 4], plaintext: &[u8]) -> Vec<u8> {
        let object = self.cryptogram(plaintext);
        let mut apdu = header.to_vec();
        apdu.push(object.len() as u8);
        apdu.extend_from_slice(&object);
        apdu
    }

    fn read_binary(&mut self, offset: u16, length: u16) -> (Vec<u8>, [u8; 16]) {
        let iv = self.next_iv();
        let [oh, ol] = offset.to_be_bytes();
        let [lh, ll] = length.to_be_bytes();
        (
            vec![
                0x08, 0xB0, oh, ol, 0x00, 0x00, 0x05, 0x96, 0x03, 0x00, lh, ll, 0x00, 0x00,
            ],
            iv,
        )
    }

    fn open(&self, iv: [u8; 16], data: &[u8]) -> Vec<u8> {
        let (tag, value, rest) = tlv(data);
        assert_eq!(tag, &[0x86]);
        assert!(rest.is_empty(), "one object only");
        assert_eq!(value[0], 0x01);
        let mut buffer = value[1..].to_vec();
        cbc::Decryptor::<Aes128>::new(&self.key.into(), &iv.into())
            .decrypt_padded_mut::<Iso7816>(&mut buffer)
            .expect("response unpads")
            .to_vec()
    }
}

fn session_key_apdu(delivery_key: &RsaPublicKey, material: &[u8; 32]) -> Vec<u8> {
    let mut plaintext = vec![0xA0, 0x22, 0x80, 0x20];
    plaintext.extend_from_slice(material);
    let cryptogram = delivery_key
        .encrypt(&mut rand::thread_rng(), Oaep::new::<Sha256>(), &plaintext)
        .unwrap();
    let mut apdu = vec![0x80, 0xAE, 0x00, 0x00, 0x00, 0x01, 0x00];
    apdu.extend_from_slice(&cryptogram);
    apdu
}

fn open_session(card: &mut Card, material: [u8; 32]) -> Client {
    select_ef(card, 0x0006);
    let file = read_whole(card);
    let delivery_key = key_90_91(&file[4..]);
    assert_eq!(
        send_bytes(card, &session_key_apdu(&delivery_key, &material)).1,
        0x9000
    );
    Client {
        key: material[..16].try_into().unwrap(),
        counter: 0,
    }
}

#[test]
fn secure_messaging_reads_the_text_ap_as_the_measured_card_does() {
    let mut card = powered_card("standard");
    send(&mut card, SELECT_TEXT);
    assert_eq!(verify(&mut card, 0x0011, TEXT_PIN), 0x9000);
    select_ef(&mut card, 0x0002);
    let plain_basic_four = read_whole(&mut card);
    let mut client = open_session(&mut card, [0x42; 32]);

    // SM SELECT EF 0002, SM READ BINARY of the whole file (filler included).
    let apdu = client.command([0x08, 0xA4, 0x02, 0x0C], &[0x00, 0x02]);
    assert_eq!(apdu[4], 0x13, "Lc 13 as in the measured trace");
    assert_eq!(send_bytes(&mut card, &apdu), (vec![], 0x9000));
    let (apdu, iv) = client.read_binary(0, 0);
    let (data, sw) = send_bytes(&mut card, &apdu);
    assert_eq!(sw, 0x9000);
    assert_eq!(client.open(iv, &data), plain_basic_four);

    // A plain command in between does not advance the counter and still works.
    assert_eq!(send(&mut card, "00 B0 00 00 02").0, plain_basic_four[..2]);

    // SM VERIFY of 照合番号A by SFI (P2 94), then a partial SM read at an offset.
    assert_eq!(
        send_bytes(
            &mut card,
            &client.command([0x08, 0x20, 0x00, 0x94], MY_NUMBER)
        )
        .1,
        0x9000
    );
    assert_eq!(
        send_bytes(
            &mut card,
            &client.command([0x08, 0xA4, 0x02, 0x0C], &[0x00, 0x01])
        )
        .1,
        0x9000
    );
    let (apdu, iv) = client.read_binary(3, 12);
    let (data, sw) = send_bytes(&mut card, &apdu);
    assert_eq!(sw, 0x9000);
    assert_eq!(client.open(iv, &data), MY_NUMBER);

    // A refused command (VERIFY of the blocked key 0012) still uses up its number.
    assert_eq!(
        send_bytes(
            &mut card,
            &client.command([0x08, 0x20, 0x00, 0x92], b"0000")
        )
        .1,
        0x6984
    );
    // A wrong SM VERIFY reports 63 Cx in the clear.
    assert_eq!(
        send_bytes(
            &mut card,
            &client.command([0x08, 0x20, 0x00, 0x94], b"000000000000")
        )
        .1,
        0x63C9
    );
    let (apdu, iv) = client.read_binary(0, 3);
    let (data, _) = send_bytes(&mut card, &apdu);
    assert_eq!(client.open(iv, &data), &[0xFF, 0x10, 0x0C]);

    // Wrong counter: 69 88, and the session is dead (69 FC) even with the right counter.
    client.counter += 1;
    let apdu = client.command([0x08, 0xA4, 0x02, 0x0C], &[0x00, 0x01]);
    assert_eq!(send_bytes(&mut card, &apdu).1, 0x6988);
    client.counter -= 2;
    let apdu = client.command([0x08, 0xA4, 0x02, 0x0C], &[0x00, 0x01]);
    assert_eq!(send_bytes(&mut card, &apdu).1, 0x69FC);

    // A new SET SESSION KEY restarts the counter at 1.
    let mut client = open_session(&mut card, [0x17; 32]);
    let apdu = client.command([0x08, 0xA4, 0x02, 0x0C], &[0x00, 0x01]);
    assert_eq!(send_bytes(&mut card, &apdu).1, 0x9000);
    // 96 on VERIFY, 86 on READ BINARY, a second object: 69 88, session destroyed.
    let mut apdu = client.command([0x08, 0xA4, 0x02, 0x0C], &[0x00, 0x01]);
    let object = apdu[5..].to_vec();
    apdu.extend_from_slice(&object);
    apdu[4] = (object.len() * 2) as u8;
    assert_eq!(send_bytes(&mut card, &apdu).1, 0x6988);
    assert_eq!(
        send(&mut card, "08 B0 00 00 00 00 05 96 03 00 00 00 00 00").1,
        0x69FC
    );

    // Header authentication is 69 87; leaving the AP ends the session.
    let mut client = open_session(&mut card, [0x23; 32]);
    assert_eq!(
        send(&mut card, "0C B0 00 00 00 00 05 96 03 00 00 00 00 00").1,
        0x6987
    );
    let (apdu, _) = client.read_binary(0, 0);
    assert_eq!(send_bytes(&mut card, &apdu).1, 0x69FC);
    let mut client = open_session(&mut card, [0x24; 32]);
    send(&mut card, SELECT_SURFACE);
    send(&mut card, SELECT_TEXT);
    let (apdu, _) = client.read_binary(0, 0);
    assert_eq!(send_bytes(&mut card, &apdu).1, 0x69FC);
}

#[test]
fn set_session_key_checks_access_before_decryption() {
    let mut card = powered_card("standard");
    send(&mut card, SELECT_TEXT);
    select_ef(&mut card, 0x0004);
    // The delivery key is readable with 照合番号A; SET SESSION KEY still needs the PIN.
    assert_eq!(verify(&mut card, 0x0014, MY_NUMBER), 0x9000);
    select_ef(&mut card, 0x0006);
    let delivery_key = key_90_91(&read_whole(&mut card)[4..]);
    let good = session_key_apdu(&delivery_key, &[1; 32]);
    assert_eq!(send_bytes(&mut card, &good).1, 0x6982);
    assert_eq!(verify(&mut card, 0x0011, TEXT_PIN), 0x9000);
    // A cryptogram of another key: 6A 80; one above the modulus: 6F 00.
    let other = RsaPublicKey::from(&myna_hil::pki::pool_key(0).unwrap());
    let wrong = session_key_apdu(&other, &[1; 32]);
    let below_other = BigUint::from_bytes_be(&wrong[7..]) < BigUint::from_bytes_be(&good[7..]);
    let answer = send_bytes(&mut card, &wrong).1;
    assert!(answer == 0x6A80 || answer == 0x6F00);
    let _ = below_other;
    let mut above = good[..7].to_vec();
    above.extend_from_slice(&[0xFF; 256]);
    assert_eq!(send_bytes(&mut card, &above).1, 0x6F00);
    // A CCS key (tag 81) cannot be installed.
    let mut plaintext = vec![0xA0, 0x22, 0x81, 0x20];
    plaintext.extend_from_slice(&[5; 32]);
    let cryptogram = delivery_key
        .encrypt(&mut rand::thread_rng(), Oaep::new::<Sha256>(), &plaintext)
        .unwrap();
    let mut apdu = vec![0x80, 0xAE, 0x00, 0x00, 0x00, 0x01, 0x00];
    apdu.extend_from_slice(&cryptogram);
    assert_eq!(send_bytes(&mut card, &apdu).1, 0x6A80);
    assert_eq!(send_bytes(&mut card, &good).1, 0x9000);
    // The other applications: 66 F1 (common, surface), 69 82 (JPKI).
    for (select, expected) in [
        (SELECT_COMMON, 0x66F1),
        (SELECT_SURFACE, 0x66F1),
        (SELECT_JPKI, 0x6982),
    ] {
        send(&mut card, select);
        assert_eq!(send_bytes(&mut card, &good).1, expected, "{select}");
        // No session outside the text AP.
        assert_eq!(
            send(&mut card, "08 B0 00 00 00 00 05 96 03 00 00 00 00 00").1,
            0x69FC
        );
    }
}

fn surface_card() -> Card {
    let mut card = powered_card("standard");
    send(&mut card, SELECT_SURFACE);
    card
}

#[test]
fn surface_ap_files_keys_and_signatures() {
    let mut card = surface_card();
    let collation_b = card.collation_number_b().as_bytes().to_vec();
    select_ef(&mut card, 0x0004);
    let (car, chr, issuer) = cv_certificate(&read_whole(&mut card));
    assert_eq!(&car, b"7000023\x08\x05001\0\0\0\0");
    assert_eq!(&chr, b"1310121\x08\x05000\0\0\0\0");
    select_ef(&mut card, 0x0003);
    let basic = read_whole(&mut card);
    assert_eq!(basic.len(), 320);
    assert_eq!(&basic[..5], &[0xFF, 0x30, 0x82, 0x01, 0x3B]);
    assert_eq!(&basic[5..12], &[0xDF, 0x31, 0x04, 0x06, 0x03, 0x0E, 0x01]);
    assert_eq!(&basic[31..35], &[0xDF, 0x33, 0x01, 0x00]);
    assert_eq!(&basic[35..43], b"\xDF\x34\x0513101");
    assert_eq!(&basic[43..48], &[0xDF, 0x35, 0x82, 0x01, 0x10]);

    // The birth-date key (first six digits of 照合番号B) opens EF 0001 only.
    assert_eq!(verify(&mut card, 0x0011, &collation_b[..6]), 0x9000);
    select_ef(&mut card, 0x0001);
    let age = read_whole(&mut card);
    assert_eq!(&age[..5], &[0xFF, 0x10, 0x82, 0x02, 0x1E]);
    assert_eq!(age.len(), 547);
    assert_eq!(&age[5..16], b"\xDF\x11\x0819800510");
    let (_, df12, rest) = tlv(&age[16..]);
    let card_key = key_90_91(df12);
    let (_, df13, _) = tlv(rest);
    verify_sha256(&issuer, &age[5..286], df13);
    for fid in [0x0002, 0x0005, 0x0006] {
        select_ef(&mut card, fid);
        assert_eq!(send(&mut card, "00 B0 00 00 01").1, 0x6982, "EF {fid:04X}");
    }

    // 照合番号B opens the face but not EF 0005, and no longer EF 0001 once re-entered.
    send(&mut card, SELECT_COMMON);
    send(&mut card, SELECT_SURFACE);
    assert_eq!(verify(&mut card, 0x0012, &collation_b), 0x9000);
    select_ef(&mut card, 0x0005);
    assert_eq!(send(&mut card, "00 B0 00 00 01").1, 0x6982);
    select_ef(&mut card, 0x0001);
    assert_eq!(send(&mut card, "00 B0 00 00 01").1, 0x6982);
    select_ef(&mut card, 0x0002);
    let face = read_whole(&mut card);
    let (tag, outer, _) = tlv(&face);
    assert_eq!(tag, &[0xFF, 0x20]);
    let (tag, table, _) = tlv(outer);
    assert_eq!(tag, &[0xDF, 0x21]);
    assert_eq!(table.len(), 18);
    let objects: Vec<(&[u8], &[u8], usize)> = table
        .chunks(2)
        .map(|offset| {
            let at = usize::from(u16::from_be_bytes([offset[0], offset[1]]));
            let (tag, value, rest) = tlv(&face[at..]);
            (tag, value, face.len() - rest.len())
        })
        .collect();
    let tags: Vec<u8> = objects.iter().map(|(tag, _, _)| tag[1]).collect();
    assert_eq!(tags, (0x22..=0x2A).collect::<Vec<u8>>());
    let offset = |n: usize| usize::from(u16::from_be_bytes([table[2 * n], table[2 * n + 1]]));
    assert_eq!(key_90_91(objects[2].1), card_key);
    assert_eq!(&objects[5].1[4..8], b"jP  ");
    assert_eq!(&objects[3].1[1..4], b"PNG");
    let group = |from: usize, to: usize| Sha256::digest(&face[offset(from)..objects[to].2]);
    let mut digest_info = hex_bytes("30 71 30 0D 06 09 60 86 48 01 65 03 04 02 01 05 00 04 60");
    digest_info.extend_from_slice(&group(0, 2));
    digest_info.extend_from_slice(&group(3, 4));
    digest_info.extend_from_slice(&group(5, 5));
    issuer
        .verify(Pkcs1v15Sign::new_unprefixed(), &digest_info, objects[6].1)
        .expect("DF 28 signs the triple hash");
    select_ef(&mut card, 0x0006);
    assert_eq!(read_whole(&mut card), vec![0xFF; 16]);

    // 照合番号A opens EF 0005, the rendered 個人番号.
    assert_eq!(verify(&mut card, 0x0013, MY_NUMBER), 0x9000);
    select_ef(&mut card, 0x0005);
    let image = read_whole(&mut card);
    assert_eq!(&image[..2], &[0xFF, 0x40]);
    let (_, objects, _) = tlv(&image);
    let (_, png, rest) = tlv(objects);
    assert_eq!(&png[1..4], b"PNG");
    let (_, df42, rest2) = tlv(rest);
    assert_eq!(key_90_91(df42), card_key);
    let (_, df43, _) = tlv(rest2);
    verify_sha256(&issuer, &objects[..objects.len() - rest2.len()], df43);

    // 80 2A 00 00 with key 001A: verifies with the DF 24 key, no credential.
    let mut fresh = surface_card();
    let challenge = b"0123456789abcdef";
    let mut digest_info = hex_bytes("30 31 30 0D 06 09 60 86 48 01 65 03 04 02 01 05 00 04 20");
    digest_info.extend_from_slice(&Sha256::digest(challenge));
    let mut apdu = vec![0x80, 0x2A, 0x00, 0x00, 0x33];
    apdu.extend_from_slice(&digest_info);
    apdu.push(0x00);
    let (signature, sw) = send_bytes(&mut fresh, &apdu);
    assert_eq!(sw, 0x9000);
    verify_sha256(&card_key, challenge, &signature);
    assert_eq!(send(&mut fresh, "00 88 00 9A 04 01 02 03 04 00").1, 0x6985);
    // A wrong birth date counts down its own counter.
    assert_eq!(verify(&mut fresh, 0x0011, b"000000"), 0x63C9);
}

#[test]
fn a_61xx_fault_card_still_answers_secure_messaging_in_one_cryptogram() {
    let mut card = powered_card("faults_61xx");
    send(&mut card, SELECT_TEXT);
    assert_eq!(verify(&mut card, 0x0011, TEXT_PIN), 0x9000);
    // The plain read goes through GET RESPONSE on this card.
    select_ef(&mut card, 0x0006);
    let (_, sw) = send(&mut card, "00 B0 00 00 00 00 00");
    assert_eq!(sw >> 8, 0x61);
    let mut file = Vec::new();
    loop {
        let (data, sw) = send(&mut card, "00 C0 00 00 00");
        file.extend_from_slice(&data);
        if sw == 0x9000 {
            break;
        }
        assert_eq!(sw >> 8, 0x61);
    }
    let delivery_key = key_90_91(&file[4..]);
    assert_eq!(
        send_bytes(&mut card, &session_key_apdu(&delivery_key, &[9; 32])).1,
        0x9000
    );
    let mut client = Client {
        key: [9; 16],
        counter: 0,
    };
    let apdu = client.command([0x08, 0xA4, 0x02, 0x0C], &[0x00, 0x01]);
    assert_eq!(send_bytes(&mut card, &apdu).1, 0x9000);
    let (apdu, iv) = client.read_binary(0, 0);
    let (data, sw) = send_bytes(&mut card, &apdu);
    assert_eq!(sw, 0x9000);
    assert_eq!(&client.open(iv, &data)[3..15], b"555666777885");
    // Nothing is left pending in the clear.
    assert_eq!(send(&mut card, "00 C0 00 00 00").1, 0x6985);
}
