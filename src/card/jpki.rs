//! The JPKI AP (公的個人認証AP): certificates, token information, keys and PINs.

use super::description::ProfileFeatures;
use super::fs::{Application, EfContent, ElementaryFile, KeyId, ReadAccess, AID_JPKI};
use super::pin::PinId;

pub use crate::apdu::ids::jpki::{
    EF_AUTH_CA_CERTIFICATE, EF_AUTH_CERTIFICATE, EF_AUTH_KEY, EF_AUTH_PIN, EF_CERTIFICATE_PRESENCE,
    EF_SIGNING_CA_CERTIFICATE, EF_SIGNING_CERTIFICATE, EF_SIGNING_KEY, EF_SIGNING_PIN,
    EF_TOKEN_INFO,
};

/// Size of the token-info EF **[RE]**.
pub const TOKEN_INFO_SIZE: usize = 160;

/// Token info: the label padded with spaces (0x20, not 0x00) to 32 bytes; the rest of the
/// 160-byte EF is zero (its content is not documented; no client reads past byte 32).
pub(crate) fn token_info(label: &str) -> Vec<u8> {
    let mut file = vec![0x20; 32];
    let label = label.as_bytes();
    let length = label.len().min(32);
    file[..length].copy_from_slice(&label[..length]);
    file.resize(TOKEN_INFO_SIZE, 0x00);
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
                pin: PinId::JpkiAuth,
            },
        },
    ];
    if features.auth_pin {
        efs.push(ElementaryFile {
            fid: EF_AUTH_PIN,
            content: EfContent::Pin(PinId::JpkiAuth),
        });
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
                    pin: PinId::JpkiSigning,
                },
            },
            ElementaryFile {
                fid: EF_SIGNING_PIN,
                content: EfContent::Pin(PinId::JpkiSigning),
            },
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
}
