//! The names the card's applications and files are addressed by: every AID and file ID the
//! card, the reader and the harness use, declared once (spec §2, docs/spec/card-apdu.md).

/// DF names (AIDs) of the card's applications.
pub const AID_JPKI: [u8; 10] = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
/// AID of the 券面事項入力補助AP (text application: name, address, 個人番号 as text).
pub(crate) const AID_TEXT: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08];
/// AID of the 券面確認AP (surface application: the card front's image and fields).
pub(crate) const AID_SURFACE: [u8; 10] =
    [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02];
/// AID of the 住基AP (basic resident register application).
pub(crate) const AID_JUKI: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x01];
/// The GlobalPlatform Issuer Security Domain: the current DF after power-up, the "MF level"
/// (docs/spec/card-measured.md §1.1, §1.4).
pub(crate) const AID_ISD: [u8; 7] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00];
/// The MF level's one EF: selectable, but READ BINARY and READ RECORD answer `69 81`
/// (docs/spec/card-measured.md §3.1).
pub(crate) const EF_MF_INTERNAL: u16 = 0x001E;
/// AID of the 共通AP (common application: card-wide data outside JPKI and the 券面 applications).
pub(crate) const AID_COMMON: [u8; 10] =
    [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x01, 0x00];

/// Every AID the card answers a SELECT by DF name for (`90 00`), with the application's name:
/// what a phone's HCE service must register, since Android routes only SELECTs of registered
/// AIDs to it (docs/field.md, `myna-hil card aids`).
pub const SELECTABLE_AIDS: [(&str, &[u8]); 6] = [
    ("JPKI (公的個人認証)", &AID_JPKI),
    ("券面事項入力補助AP", &AID_TEXT),
    ("券面事項確認AP", &AID_SURFACE),
    ("住基AP", &AID_JUKI),
    ("共通AP", &AID_COMMON),
    ("Issuer Security Domain (MF level)", &AID_ISD),
];

/// Elementary files of the JPKI application (公的個人認証).
pub(crate) mod jpki {
    pub(crate) const EF_SIGNING_CERTIFICATE: u16 = 0x0001;
    pub(crate) const EF_SIGNING_CA_CERTIFICATE: u16 = 0x0002;
    pub(crate) const EF_TOKEN_INFO: u16 = 0x0006;
    pub(crate) const EF_CERTIFICATE_PRESENCE: u16 = 0x0008;
    pub(crate) const EF_AUTH_CERTIFICATE: u16 = 0x000A;
    pub(crate) const EF_AUTH_CA_CERTIFICATE: u16 = 0x000B;
    pub(crate) const EF_AUTH_KEY: u16 = 0x0017;
    pub(crate) const EF_AUTH_PIN: u16 = 0x0018;
    pub(crate) const EF_SIGNING_KEY: u16 = 0x001A;
    pub(crate) const EF_SIGNING_PIN: u16 = 0x001B;
}

/// Elementary files of the text application (券面事項入力補助).
pub(crate) mod text {
    pub(crate) const EF_MY_NUMBER: u16 = 0x0001;
    pub(crate) const EF_BASIC_FOUR: u16 = 0x0002;
    pub(crate) const EF_SIGNATURE: u16 = 0x0003;
    pub(crate) const EF_CV_CERTIFICATE: u16 = 0x0004;
    pub(crate) const EF_BASIC_INFO: u16 = 0x0005;
    /// The RSA public key SET SESSION KEY encrypts to (docs/spec/card-measured.md §6.7).
    pub(crate) const EF_SESSION_KEY: u16 = 0x0006;
    /// The card signing key's public half with the issuer's signature (§6.8).
    pub(crate) const EF_CARD_KEY_RECORD: u16 = 0x0007;
    /// Sixteen `FF` bytes of unknown purpose (§6.1).
    pub(crate) const EF_UNKNOWN_0008: u16 = 0x0008;
    pub(crate) const EF_TEXT_PIN: u16 = 0x0011;
    /// A key blocked from issuance that opens nothing (§6.1).
    pub(crate) const EF_BLOCKED_KEY: u16 = 0x0012;
    /// The card signing key answering `80 2A 00 00` without a credential (§6.9).
    pub(crate) const EF_CARD_KEY: u16 = 0x0013;
    pub(crate) const EF_MATCH_A: u16 = 0x0014;
    pub(crate) const EF_MATCH_B: u16 = 0x0015;
}

/// Elementary files of the surface application (券面確認).
pub(crate) mod surface {
    /// The age-verification record behind the birth-date key (docs/spec/card-measured.md §7.2).
    pub(crate) const EF_AGE_RECORD: u16 = 0x0001;
    pub(crate) const EF_CARD_FACE: u16 = 0x0002;
    pub(crate) const EF_BASIC_INFO: u16 = 0x0003;
    pub(crate) const EF_CV_CERTIFICATE: u16 = 0x0004;
    /// The rendered 個人番号 image, behind 照合番号A only (§7.5).
    pub(crate) const EF_MY_NUMBER_IMAGE: u16 = 0x0005;
    /// Sixteen `FF` bytes of unknown purpose (§7.1).
    pub(crate) const EF_UNKNOWN_0006: u16 = 0x0006;
    /// The 生年月日 key: 和暦 `YYMMDD` (§7.1, §10.2).
    pub(crate) const EF_BIRTH_DATE_KEY: u16 = 0x0011;
    pub(crate) const EF_MATCH_B: u16 = 0x0012;
    pub(crate) const EF_MATCH_A: u16 = 0x0013;
    /// The card key answering `80 2A 00 00` without a credential (§7.6).
    pub(crate) const EF_CARD_KEY: u16 = 0x001A;
}

/// Elementary files of the common application (共通AP, docs/spec/card-measured.md §5).
pub(crate) mod common {
    /// Record EF: record 1 = card info (serial, municipality, expiry).
    pub(crate) const EF_CARD_INFO: u16 = 0x0001;
    /// Record EF: one 16-byte key-reference-shaped value, the same as the 住基AP's
    /// (meaning unknown).
    pub(crate) const EF_KEY_REFERENCE: u16 = 0x0002;
    /// The key that answers INTERNAL AUTHENTICATE without a credential.
    pub(crate) const EF_INTERNAL_AUTH_KEY: u16 = 0x0019;
    /// The 4-digit PIN (本人確認業務用), changed with CHANGE KEY `80 32`.
    pub(crate) const EF_PIN: u16 = 0x001C;
}

/// Elementary files of the 住基AP (docs/spec/card-measured.md §9).
pub(crate) mod juki {
    /// Record EF: one 16-byte value, byte-identical to the 共通AP's EF 0002.
    pub(crate) const EF_KEY_REFERENCE: u16 = 0x0002;
    /// The 4-digit PIN, a reference of its own (not the 共通AP's).
    pub(crate) const EF_PIN: u16 = 0x001C;
}
