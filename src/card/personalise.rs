//! Personalisation: what a card holds, built from its description. Issues the card's
//! certificates from the test PKI, builds each application's files (one module per
//! application: [`super::jpki`], [`super::text`], [`super::surface`]) and sets up the PIN
//! table. It knows nothing of the engine, which only ever sees the finished [`CardContents`].

use std::fmt;
use std::sync::Arc;

use rsa::{RsaPrivateKey, RsaPublicKey};

use super::description::{CardDescription, AUTH_PIN_TRIES, SIGNING_PASSWORD_TRIES, TEXT_PIN_TRIES};
use super::fs::FileSystem;
use super::mf::{MfHierarchy, MfInputs, MfObjects};
use super::pin::{PinId, PinRecord, PinTable};
use super::{common, jpki, surface, text};
use crate::person::PhoneKind;
use crate::pki::{pool_key, pool_signer, CertificateKind, CertificateRequest, RsaSigner, TestPki};

/// What a card is made of besides its description: certificates (DER) and private keys.
/// `Card::from_description` gets them from the test PKI; a caller may supply its own.
pub(crate) struct CardParts {
    pub(crate) auth_certificate: Vec<u8>,
    pub(crate) auth_ca_certificate: Vec<u8>,
    /// `None` on profiles and holders without a 署名用電子証明書.
    pub(crate) signing_certificate: Option<Vec<u8>>,
    pub(crate) signing_ca_certificate: Vec<u8>,
    pub(crate) auth_key: Arc<RsaSigner>,
    pub(crate) signing_key: Option<Arc<RsaSigner>>,
    /// Stands in for the issuer of the 券面事項 data (text AP EF 0003/0004, surface `DF 28`).
    pub(crate) issuer_key: RsaPrivateKey,
}

/// Errors building a card from its description (and refusing a malformed PIN reset).
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("card description: {0}")]
    Invalid(String),
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
}

/// The card's JPKI private keys (the issuer key is only used while personalising).
///
/// The keys COMPUTE DIGITAL SIGNATURE uses are [`RsaSigner`]s shared per pool slot: aws-lc
/// sets a key up on its first signature (milliseconds), once for all cards holding it.
pub(super) struct CardKeys {
    pub(super) auth: Arc<RsaSigner>,
    pub(super) signing: Option<Arc<RsaSigner>>,
    /// 共通AP key 0019 (physical cards only).
    pub(super) common: Option<RsaPrivateKey>,
    /// 券面事項入力補助AP key 0013 (`80 2A 00 00`).
    pub(super) text_card: Option<Arc<RsaSigner>>,
    /// 券面事項入力補助AP session-key delivery key (public half in EF 0006).
    pub(super) text_session: Option<RsaPrivateKey>,
    /// 券面事項確認AP key 001A (`80 2A 00 00`).
    pub(super) surface_card: Option<Arc<RsaSigner>>,
}

/// Everything personalisation writes onto the card; the engine adds session state.
pub(super) struct CardContents {
    pub(super) files: FileSystem,
    pub(super) keys: CardKeys,
    pub(super) auth_certificate: Vec<u8>,
    pub(super) signing_certificate: Option<Vec<u8>>,
    pub(super) collation_b: String,
    pub(super) pins: PinTable,
    /// GET DATA objects of the MF level (none on phone tokens).
    pub(super) mf_objects: MfObjects,
}

/// Pool slots of our own MF-level CV hierarchy (root, municipality intermediate, lower key):
/// the same for every card, like a real card's CA keys.
const MF_HIERARCHY_SLOTS: [usize; 3] = [13, 14, 15];

/// Pool slot of the CV CA of our own that certifies the 券面 APs' EF 0004 keys: the root of
/// the MF hierarchy, under its own identifiers (`7000033` text, `7000023` surface).
const CV_AUTHORITY_SLOT: usize = MF_HIERARCHY_SLOTS[0];

/// Pool slots of the per-AP keys a real card generates on chip: text key 0013, the text
/// session-key delivery key (EF 0006), surface key 001A. Distinct from each other and from the
/// EF 0004 subjects, as on the card (docs/spec/card-measured.md §6.7).
const TEXT_CARD_KEY_SLOT: usize = 9;
const TEXT_SESSION_KEY_SLOT: usize = 10;
const SURFACE_CARD_KEY_SLOT: usize = 11;

/// Pool slot of the 共通AP INTERNAL AUTHENTICATE key 0019 (its public half is on no file of a
/// real card either, docs/spec/card-measured.md §5.3).
const COMMON_KEY_SLOT: usize = 12;

/// Issues the certificates the description calls for and loads the keys from the pool.
pub(super) fn issue_parts(
    description: &CardDescription,
    pki: &TestPki,
) -> Result<CardParts, CardError> {
    description
        .validate()
        .map_err(|invalid| CardError::Invalid(invalid.to_string()))?;
    let person = &description.person;
    let spec = &description.card;
    let auth_key = pool_signer(spec.keys.auth)?;
    let (not_before, not_after) = spec.auth_certificate_validity(person);
    let auth_request = CertificateRequest {
        kind: CertificateKind::Authentication,
        holder: person,
        subject_key: &auth_key.public_key(),
        not_before,
        not_after,
    };
    // A phone token's certificate has a serial of its own (docs/spec/smartphone.md §4.15).
    let auth_certificate = match phone_of(spec.profile) {
        Some(phone) => pki.issue_smartphone(phone, &auth_request)?,
        None => pki.issue(&auth_request)?,
    };
    let (signing_key, signing_certificate) = if spec.has_signing_certificate(person) {
        let key = pool_signer(spec.keys.signing)?;
        let (not_before, not_after) = spec.signing_certificate_validity(person);
        let certificate = pki.issue(&CertificateRequest {
            kind: CertificateKind::Signing,
            holder: person,
            subject_key: &key.public_key(),
            not_before,
            not_after,
        })?;
        (Some(key), Some(certificate))
    } else {
        (None, None)
    };
    Ok(CardParts {
        auth_certificate,
        auth_ca_certificate: pki
            .ca_certificate_der(CertificateKind::Authentication)
            .to_vec(),
        signing_certificate,
        signing_ca_certificate: pki.ca_certificate_der(CertificateKind::Signing).to_vec(),
        auth_key,
        signing_key,
        issuer_key: pool_key(spec.keys.text_ap)?,
    })
}

/// The phone a token profile stands for, `None` for a card.
fn phone_of(profile: super::description::Profile) -> Option<PhoneKind> {
    use super::description::Profile;
    match profile {
        Profile::Smartphone => Some(PhoneKind::Android),
        Profile::SmartphoneIos => Some(PhoneKind::Iphone),
        Profile::Standard | Profile::FaceOnly | Profile::JukiToken => None,
    }
}

/// Lays the description and parts out as files, keys and PINs.
pub(super) fn contents(
    description: &CardDescription,
    mut parts: CardParts,
) -> Result<CardContents, CardError> {
    description
        .validate()
        .map_err(|invalid| CardError::Invalid(invalid.to_string()))?;
    let person = &description.person;
    let spec = &description.card;
    let features = spec.profile.features();
    let signing = if spec.has_signing_certificate(person) {
        match (parts.signing_certificate.take(), parts.signing_key.take()) {
            (Some(certificate), Some(key)) => Some((certificate, key)),
            _ => {
                return Err(CardError::Invalid(
                    "the card carries a signing certificate but no signing certificate or key was supplied".into(),
                ))
            }
        }
    } else {
        None
    };
    let text_keys = if features.text_ap {
        Some((
            pool_key(TEXT_CARD_KEY_SLOT)?,
            pool_key(TEXT_SESSION_KEY_SLOT)?,
        ))
    } else {
        None
    };
    let files = application_files(
        description,
        &parts,
        signing.as_ref().map(|(certificate, _)| certificate.clone()),
        text_keys.as_ref(),
    )?;
    let mf_objects = if features.surface_ap {
        mf_objects(description)?
    } else {
        MfObjects::default()
    };
    let (_, collation_b) = description.collation_numbers();
    let pins = pin_table(description, signing.is_some(), &collation_b);

    let (signing_certificate, signing_key) = match signing {
        Some((certificate, key)) => (Some(certificate), Some(key)),
        None => (None, None),
    };
    Ok(CardContents {
        files,
        keys: CardKeys {
            auth: parts.auth_key,
            signing: signing_key,
            common: if features.surface_ap {
                Some(pool_key(COMMON_KEY_SLOT)?)
            } else {
                None
            },
            text_card: if text_keys.is_some() {
                Some(pool_signer(TEXT_CARD_KEY_SLOT)?)
            } else {
                None
            },
            text_session: text_keys.map(|(_, session)| session),
            surface_card: if features.surface_ap {
                Some(pool_signer(SURFACE_CARD_KEY_SLOT)?)
            } else {
                None
            },
        },
        auth_certificate: parts.auth_certificate,
        signing_certificate,
        collation_b,
        pins,
        mf_objects,
    })
}

/// The card's applications as files: JPKI always, the 券面 APs, 共通AP and 住基AP as the
/// profile has them.
fn application_files(
    description: &CardDescription,
    parts: &CardParts,
    signing_certificate: Option<Vec<u8>>,
    text_keys: Option<&(RsaPrivateKey, RsaPrivateKey)>,
) -> Result<FileSystem, CardError> {
    let person = &description.person;
    let spec = &description.card;
    let features = spec.profile.features();
    let expires = spec.expiry_date(person);
    let mut files = FileSystem::default();
    files.applications.push(jpki::application(
        &features,
        jpki::JpkiFiles {
            auth_certificate: parts.auth_certificate.clone(),
            auth_ca_certificate: parts.auth_ca_certificate.clone(),
            signing_certificate,
            signing_ca_certificate: parts.signing_ca_certificate.clone(),
        },
    ));
    if let Some((card_key, session_key)) = text_keys {
        let application = text::application(&text::TextInputs {
            person,
            municipality: spec.municipality_code.as_str(),
            has_pin: features.auth_pin,
            issuer: &parts.issuer_key,
            certificate_authority: &pool_key(CV_AUTHORITY_SLOT)?,
            card_key: &RsaPublicKey::from(card_key),
            session_key: &RsaPublicKey::from(session_key),
        })
        .map_err(|e| build_error("the text AP", &e))?;
        files.applications.push(application);
    }
    if features.surface_ap {
        let application = surface::application(&surface::SurfaceInputs {
            person,
            expires,
            security_code: spec.security_code.as_str(),
            municipality: spec.municipality_code.as_str(),
            issuer: &parts.issuer_key,
            certificate_authority: &pool_key(CV_AUTHORITY_SLOT)?,
            card_key: &RsaPublicKey::from(&pool_key(SURFACE_CARD_KEY_SLOT)?),
        })
        .map_err(|e| build_error("the surface AP", &e))?;
        files.applications.push(application);
        files.applications.push(common::application(
            person,
            spec.municipality_code.as_str(),
            expires,
        ));
    }
    if features.juki_ap {
        files.applications.push(common::juki_application());
    }
    Ok(files)
}

/// The MF-level GET DATA objects, signed by our own CV hierarchy.
fn mf_objects(description: &CardDescription) -> Result<MfObjects, CardError> {
    let person = &description.person;
    let spec = &description.card;
    let [root, intermediate, lower] = MF_HIERARCHY_SLOTS.map(pool_key);
    let atr = spec.atr.bytes();
    MfObjects::build(&MfInputs {
        municipality: spec.municipality_code.as_str(),
        serial: &common::card_serial(person),
        optional_objects: spec.options.mf_optional_objects,
        expires: spec.expiry_date(person),
        atr: atr.as_deref(),
        hierarchy: MfHierarchy {
            root: &root?,
            intermediate: &intermediate?,
            lower: &RsaPublicKey::from(&lower?),
        },
    })
    .map_err(|e| build_error("the MF data objects", &e))
}

/// The PIN table: JPKI PINs, the 券面 APs' PINs and 照合番号 keys, as the profile has them.
fn pin_table(description: &CardDescription, has_signing: bool, collation_b: &str) -> PinTable {
    let person = &description.person;
    let spec = &description.card;
    let features = spec.profile.features();
    let mut pins = PinTable::default();
    let tries = &spec.tries_left;
    if features.auth_pin {
        let secret = spec.pins.auth_or_default().to_vec();
        pins.insert(
            PinId::JpkiAuth,
            PinRecord::new(secret, AUTH_PIN_TRIES, tries.auth.unwrap_or(AUTH_PIN_TRIES)),
        );
    }
    if has_signing {
        let secret = spec.pins.signing_or_default().to_vec();
        let start = tries.signing.unwrap_or(SIGNING_PASSWORD_TRIES);
        pins.insert(
            PinId::JpkiSigning,
            PinRecord::new(secret, SIGNING_PASSWORD_TRIES, start),
        );
    }
    let match_tries = spec.options.surface_match_tries;
    let my_number = person.my_number.as_str().as_bytes().to_vec();
    if features.text_ap {
        if features.auth_pin {
            let secret = spec.pins.text_or_default().to_vec();
            pins.insert(
                PinId::Text,
                PinRecord::new(secret, TEXT_PIN_TRIES, tries.text.unwrap_or(TEXT_PIN_TRIES)),
            );
        }
        // Blocked from issuance on every card examined (docs/spec/card-measured.md §6.1); its maximum
        // is not known and never shows, since nothing can reset it.
        pins.insert(PinId::TextBlocked, PinRecord::new(Vec::new(), 3, 0));
        pins.insert(
            PinId::TextMatchA,
            PinRecord::new(my_number.clone(), match_tries, match_tries),
        );
        pins.insert(
            PinId::TextMatchB,
            PinRecord::new(collation_b.as_bytes().to_vec(), match_tries, match_tries),
        );
    }
    if features.surface_ap {
        pins.insert(
            PinId::SurfaceMatchA,
            PinRecord::new(my_number, match_tries, match_tries),
        );
        pins.insert(
            PinId::SurfaceMatchB,
            PinRecord::new(collation_b.as_bytes().to_vec(), match_tries, match_tries),
        );
        // The 共通AP and 住基AP PINs are references of their own (docs/spec/card-measured.md §10.1);
        // the holder usually sets one 4-digit value for all, so they start as the text PIN.
        // Their retry count is not in the source; 3 as for the other 4-digit PINs.
        if features.auth_pin {
            let secret = spec.pins.text_or_default().to_vec();
            pins.insert(
                PinId::CommonPin,
                PinRecord::new(secret.clone(), TEXT_PIN_TRIES, TEXT_PIN_TRIES),
            );
            if features.juki_ap {
                pins.insert(
                    PinId::JukiPin,
                    PinRecord::new(secret, TEXT_PIN_TRIES, TEXT_PIN_TRIES),
                );
            }
        }
        // The 生年月日 key is the first six digits of 照合番号B (docs/spec/card-measured.md §10.2); its
        // retry count is not known, so it counts like the 照合番号.
        let birth_date_key = collation_b.as_bytes().get(..6).unwrap_or_default().to_vec();
        pins.insert(
            PinId::SurfaceBirthDate,
            PinRecord::new(birth_date_key, match_tries, match_tries),
        );
    }
    pins
}

/// A card-building failure of one part, said with the part's name.
fn build_error(what: &str, error: &dyn fmt::Display) -> CardError {
    CardError::Invalid(format!("building {what}: {error}"))
}
