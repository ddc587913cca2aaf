//! The JPKI AP (公的個人認証AP): certificates, token information, keys and PINs.

use super::description::ProfileFeatures;
use super::fs::{Application, EfContent, ElementaryFile, KeyId, ReadAccess, AID_JPKI};
use super::pin::PinId;

pub(crate) use crate::apdu::ids::jpki::{
    EF_AUTH_CA_CERTIFICATE, EF_AUTH_CERTIFICATE, EF_AUTH_KEY, EF_AUTH_PIN, EF_CERTIFICATE_PRESENCE,
    EF_SIGNING_CA_CERTIFICATE, EF_SIGNING_CERTIFICATE, EF_SIGNING_KEY, EF_SIGNING_PIN,
    EF_TOKEN_INFO,
};

/// Size of the token-info EF (docs/spec/card-measured.md §8.2).
pub(crate) const TOKEN_INFO_SIZE: usize = 160;

/// EF 0006: a PKCS#11 `CK_TOKEN_INFO` with 4-byte big-endian `CK_ULONG`s (docs/spec/card-measured.md
/// §8.2). The label tells clients a plastic card from a phone token; the other fields are the
/// values of the physical-card test vector the reference reports.
pub(crate) fn token_info(label: &str) -> Vec<u8> {
    fn padded(text: &[u8], width: usize) -> Vec<u8> {
        let mut field = vec![b' '; width];
        let length = text.len().min(width);
        field[..length].copy_from_slice(&text[..length]);
        field
    }
    // RNG, LOGIN_REQUIRED, USER_PIN_INITIALIZED, TOKEN_INITIALIZED.
    const FLAGS: u32 = 0x0000_040D;
    let counts: [u32; 6] = [
        1,  // ulMaxSessionCount
        0,  // ulSessionCount
        1,  // ulMaxRwSessionCount
        0,  // ulRwSessionCount
        16, // ulMaxPinLen
        6,  // ulMinPinLen
    ];
    let mut file = padded(label.as_bytes(), 32);
    file.extend(padded(b"00000000000000000000000000000001", 32));
    file.extend(padded(b"E16R01NJ", 16));
    file.extend(padded(b"0000000020500003", 16));
    file.extend(FLAGS.to_be_bytes());
    for count in counts {
        file.extend(count.to_be_bytes());
    }
    // Total and free public and private memory: unavailable.
    file.extend([0xFF; 16]);
    // hardwareVersion and firmwareVersion are ASCII on the card, not CK_VERSION pairs.
    file.extend(b"03");
    file.extend(b"01");
    file.extend([b'9'; 16]);
    debug_assert_eq!(file.len(), TOKEN_INFO_SIZE);
    file
}

/// EF 0008 **[RE]**: `8F` where the signing / authentication certificate is present.
pub(crate) fn certificate_presence(signing: bool, auth: bool) -> Vec<u8> {
    let flag = |present: bool| if present { 0x8F } else { 0x00 };
    vec![flag(signing), flag(auth), 0x00]
}

pub(crate) struct JpkiFiles {
    pub(crate) auth_certificate: Vec<u8>,
    pub(crate) auth_ca_certificate: Vec<u8>,
    pub(crate) signing_certificate: Option<Vec<u8>>,
    pub(crate) signing_ca_certificate: Vec<u8>,
}

pub(crate) fn application(features: &ProfileFeatures, files: JpkiFiles) -> Application {
    let has_signing = files.signing_certificate.is_some();
    let auth_read = if features.auth_certificate_needs_pin {
        ReadAccess::AnyOf(&[PinId::JpkiAuth])
    } else {
        ReadAccess::Free
    };
    let mut efs = vec![
        ElementaryFile::data(
            EF_TOKEN_INFO,
            token_info(features.token_label),
            ReadAccess::Free,
        ),
        ElementaryFile::data(
            EF_CERTIFICATE_PRESENCE,
            certificate_presence(has_signing, true),
            ReadAccess::Free,
        ),
        ElementaryFile::data(EF_AUTH_CERTIFICATE, files.auth_certificate, auth_read),
        ElementaryFile::data(
            EF_AUTH_CA_CERTIFICATE,
            files.auth_ca_certificate,
            ReadAccess::Free,
        ),
        ElementaryFile {
            fid: EF_AUTH_KEY,
            content: EfContent::Key {
                key: KeyId::Auth,
                pin: Some(PinId::JpkiAuth),
            },
        },
    ];
    if features.auth_pin {
        efs.push(ElementaryFile::pin(EF_AUTH_PIN, PinId::JpkiAuth));
    }
    if let Some(certificate) = files.signing_certificate {
        efs.extend([
            ElementaryFile::data(
                EF_SIGNING_CERTIFICATE,
                certificate,
                ReadAccess::AnyOf(&[PinId::JpkiSigning]),
            ),
            ElementaryFile::data(
                EF_SIGNING_CA_CERTIFICATE,
                files.signing_ca_certificate,
                ReadAccess::Free,
            ),
            ElementaryFile {
                fid: EF_SIGNING_KEY,
                content: EfContent::Key {
                    key: KeyId::Signing,
                    pin: Some(PinId::JpkiSigning),
                },
            },
            ElementaryFile::pin(EF_SIGNING_PIN, PinId::JpkiSigning),
        ]);
    }
    Application {
        aid: AID_JPKI,
        files: efs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_info_is_space_padded() {
        let file = token_info("JPKIAPICCTOKEN2");
        assert_eq!(file.len(), 160);
        assert_eq!(&file[..15], b"JPKIAPICCTOKEN2");
        assert!(file[15..32].iter().all(|b| *b == 0x20));
    }

    #[test]
    fn token_info_fields_sit_at_their_offsets() {
        let file = token_info("JPKIAPICCTOKEN2");
        assert_eq!(file.len(), TOKEN_INFO_SIZE);
        assert_eq!(&file[32..64], b"00000000000000000000000000000001");
        assert_eq!(&file[64..80], b"E16R01NJ        ");
        assert_eq!(&file[80..96], b"0000000020500003");
        assert_eq!(&file[96..100], &[0x00, 0x00, 0x04, 0x0D]);
        assert_eq!(&file[116..120], &[0, 0, 0, 16]);
        assert_eq!(&file[120..124], &[0, 0, 0, 6]);
        assert!(file[124..140].iter().all(|b| *b == 0xFF));
        assert_eq!(&file[140..144], b"0301");
    }
}
