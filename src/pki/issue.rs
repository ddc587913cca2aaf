//! Issuing: the CA certificates and the JPKI-shaped end-entity certificates.

use std::str::FromStr;

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use const_oid::ObjectIdentifier;
use der::asn1::{GeneralizedTime, Utf8StringRef};
use der::referenced::OwnedToRef;
use der::{Any, DateTime, Decode, DecodePem, Encode, EncodePem};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::name::{GeneralName, OtherName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, CertificatePolicies, KeyUsage, KeyUsages, SubjectAltName,
    SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

use aws_lc_rs::signature::ParsedPublicKey;

use super::pkcs1::parsed_public_key;
use super::{CaPem, CertificateKind, CertificateRequest, PkiError};
use crate::person::{age_on, Person};

/// 利用者証明用電子証明書 certificate policy.
pub(crate) const OID_AUTHENTICATION_POLICY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.1.3.30");
/// 署名用電子証明書 certificate policy.
pub(crate) const OID_SIGNING_POLICY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.1.1.20");
/// Signing-certificate subjectAltName otherName: name.
pub(crate) const OID_SAN_NAME: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.1");
/// Signing-certificate subjectAltName otherName: name substitute info.
pub(crate) const OID_SAN_NAME_SUBSTITUTE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.2");
/// Signing-certificate subjectAltName otherName: sex.
pub(crate) const OID_SAN_SEX: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.3");
/// Signing-certificate subjectAltName otherName: date of birth.
pub(crate) const OID_SAN_DATE_OF_BIRTH: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.4");
/// Signing-certificate subjectAltName otherName: address.
pub(crate) const OID_SAN_ADDRESS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.5");
/// Signing-certificate subjectAltName otherName: address substitute info.
pub(crate) const OID_SAN_ADDRESS_SUBSTITUTE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.6");

/// JPKI does not issue a 署名用電子証明書 to anyone younger than this.
pub(crate) const MIN_SIGNING_CERTIFICATE_AGE: u32 = 15;

const AUTHENTICATION_CA_NAME: &str = "OU=JPKI-TEST for user authentication,O=JPKI-TEST,C=JP";
const SIGNING_CA_NAME: &str = "OU=JPKI-TEST for digital signature,O=JPKI-TEST,C=JP";

/// First day (JST) of the test CAs' validity; wide so that scenarios at any date work.
pub(crate) fn ca_valid_from() -> NaiveDate {
    NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// Last day (JST) of the test CAs' validity.
pub(crate) fn ca_valid_until() -> NaiveDate {
    NaiveDate::from_ymd_opt(2099, 12, 31).unwrap_or(NaiveDate::MAX)
}

const JST_OFFSET_HOURS: i64 = 9;

pub(crate) fn ca_name(kind: CertificateKind) -> Result<Name, PkiError> {
    let text = match kind {
        CertificateKind::Authentication => AUTHENTICATION_CA_NAME,
        CertificateKind::Signing => SIGNING_CA_NAME,
    };
    Name::from_str(text)
        .map_err(|error| PkiError::Certificate(format!("CA name {text:?}: {error}")))
}

/// 00:00:00 JST of `day` (first second of validity).
fn start_of_jst_day(day: NaiveDate) -> Result<Time, PkiError> {
    utc_time(day.and_time(NaiveTime::MIN) - Duration::hours(JST_OFFSET_HOURS))
}

/// 23:59:59 JST of `day` (last second of validity).
fn end_of_jst_day(day: NaiveDate) -> Result<Time, PkiError> {
    let last_second = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN);
    utc_time(day.and_time(last_second) - Duration::hours(JST_OFFSET_HOURS))
}

fn utc_time(utc: NaiveDateTime) -> Result<Time, PkiError> {
    use chrono::{Datelike, Timelike};
    let out_of_range =
        || PkiError::Request(format!("time {utc} UTC cannot be encoded in a certificate"));
    let year = u16::try_from(utc.year()).map_err(|_| out_of_range())?;
    // Month, day and time components are always small; the casts cannot truncate.
    let date_time = DateTime::new(
        year,
        utc.month() as u8,
        utc.day() as u8,
        utc.hour() as u8,
        utc.minute() as u8,
        utc.second() as u8,
    )
    .map_err(|_| out_of_range())?;
    // The builder re-encodes years before 2050 as UTCTime, as RFC 5280 requires.
    Ok(Time::GeneralTime(GeneralizedTime::from_date_time(
        date_time,
    )))
}

/// The JST calendar day that a certificate time falls on.
pub(crate) fn jst_day(time: &Time) -> Result<NaiveDate, PkiError> {
    let seconds = i64::try_from(time.to_unix_duration().as_secs())
        .map_err(|_| PkiError::Certificate(format!("time {time} out of range")))?;
    let utc = chrono::DateTime::from_timestamp(seconds, 0)
        .ok_or_else(|| PkiError::Certificate(format!("time {time} out of range")))?;
    Ok((utc.naive_utc() + Duration::hours(JST_OFFSET_HOURS)).date())
}

fn certificate_error<E: std::fmt::Display>(context: &str) -> impl Fn(E) -> PkiError + '_ {
    move |error| PkiError::Certificate(format!("{context}: {error}"))
}

fn spki_of(key: &RsaPublicKey) -> Result<SubjectPublicKeyInfoOwned, PkiError> {
    let der = key
        .to_public_key_der()
        .map_err(|error| PkiError::Certificate(format!("encoding the public key: {error}")))?;
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes())
        .map_err(certificate_error("encoding the public key"))
}

/// One CA: its name, key and self-signed certificate.
pub(crate) struct CertificateAuthority {
    kind: CertificateKind,
    name: Name,
    signing_key: SigningKey<Sha256>,
    /// The CA key parsed once for aws-lc: a relying party may keep a CA key it trusts, so the
    /// per-key setup (Montgomery constants) is not paid again on every certificate checked.
    parsed_key: ParsedPublicKey,
    spki: SubjectPublicKeyInfoOwned,
    certificate_der: Vec<u8>,
    certificate_pem: String,
}

impl CertificateAuthority {
    pub(crate) fn from_pem(kind: CertificateKind, pem: CaPem<'_>) -> Result<Self, PkiError> {
        let what = format!("{} CA", kind.label());
        let private_key = RsaPrivateKey::from_pkcs8_pem(pem.private_key_pem)
            .map_err(|error| PkiError::Fixture(format!("{what} private key: {error}")))?;
        let certificate = Certificate::from_pem(pem.certificate_pem.as_bytes())
            .map_err(|error| PkiError::Fixture(format!("{what} certificate: {error}")))?;
        let public_key = private_key.to_public_key();
        let spki = spki_of(&public_key)?;
        if certificate.tbs_certificate.subject_public_key_info != spki {
            return Err(PkiError::Fixture(format!(
                "{what}: the private key does not match the certificate"
            )));
        }
        let name = ca_name(kind)?;
        if certificate.tbs_certificate.subject != name {
            return Err(PkiError::Fixture(format!(
                "{what} certificate names {}, expected {name}",
                certificate.tbs_certificate.subject
            )));
        }
        let certificate_der = certificate
            .to_der()
            .map_err(|error| PkiError::Fixture(format!("{what} certificate: {error}")))?;
        let parsed_key = parsed_public_key(&public_key)
            .ok_or_else(|| PkiError::Fixture(format!("{what}: aws-lc refuses its RSA key")))?;
        Ok(CertificateAuthority {
            kind,
            name,
            signing_key: SigningKey::new(private_key),
            parsed_key,
            spki,
            certificate_der,
            certificate_pem: pem.certificate_pem.to_owned(),
        })
    }

    pub(crate) fn kind(&self) -> CertificateKind {
        self.kind
    }

    /// Whether `signature` is this CA's PKCS#1 v1.5 SHA-256 signature over `message`.
    pub(crate) fn signed(&self, message: &[u8], signature: &[u8]) -> bool {
        self.parsed_key.verify_sig(message, signature).is_ok()
    }

    pub(crate) fn name(&self) -> &Name {
        &self.name
    }

    pub(crate) fn name_text(&self) -> String {
        self.name.to_string()
    }

    pub(crate) fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    pub(crate) fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    pub(super) fn issue(
        &self,
        request: &CertificateRequest<'_>,
        serial: u64,
    ) -> Result<Vec<u8>, PkiError> {
        if request.kind != self.kind {
            return Err(PkiError::Request(format!(
                "a {} certificate was asked of the {} CA",
                request.kind.label(),
                self.kind.label()
            )));
        }
        check_request(request)?;
        let subject_text = format!(
            "CN={}{serial:016X},C=JP",
            request.not_before.format("%Y%m%d")
        );
        let subject = Name::from_str(&subject_text).map_err(certificate_error("subject name"))?;
        let validity = Validity {
            not_before: start_of_jst_day(request.not_before)?,
            not_after: end_of_jst_day(request.not_after)?,
        };
        let subject_spki = spki_of(request.subject_key)?;
        let context = "building the certificate";
        let mut builder = CertificateBuilder::new(
            Profile::Manual {
                issuer: Some(self.name.clone()),
            },
            SerialNumber::from(serial),
            validity,
            subject,
            subject_spki.clone(),
            &self.signing_key,
        )
        .map_err(certificate_error(context))?;
        builder
            .add_extension(
                &SubjectKeyIdentifier::try_from(subject_spki.owned_to_ref())
                    .map_err(certificate_error(context))?,
            )
            .map_err(certificate_error(context))?;
        builder
            .add_extension(
                &AuthorityKeyIdentifier::try_from(self.spki.owned_to_ref())
                    .map_err(certificate_error(context))?,
            )
            .map_err(certificate_error(context))?;
        let (usage, policy) = match request.kind {
            CertificateKind::Authentication => (
                KeyUsage(KeyUsages::DigitalSignature.into()),
                OID_AUTHENTICATION_POLICY,
            ),
            CertificateKind::Signing => (
                KeyUsage(KeyUsages::DigitalSignature | KeyUsages::NonRepudiation),
                OID_SIGNING_POLICY,
            ),
        };
        builder
            .add_extension(&usage)
            .map_err(certificate_error(context))?;
        builder
            .add_extension(&CertificatePolicies(vec![PolicyInformation {
                policy_identifier: policy,
                policy_qualifiers: None,
            }]))
            .map_err(certificate_error(context))?;
        if request.kind == CertificateKind::Signing {
            builder
                .add_extension(&signing_subject_alt_name(request.holder)?)
                .map_err(certificate_error(context))?;
        }
        let certificate = builder
            .build::<rsa::pkcs1v15::Signature>()
            .map_err(certificate_error("signing the certificate"))?;
        certificate
            .to_der()
            .map_err(certificate_error("encoding the certificate"))
    }
}

fn check_request(request: &CertificateRequest<'_>) -> Result<(), PkiError> {
    let (from, until) = (request.not_before, request.not_after);
    if until < from {
        return Err(PkiError::Request(format!(
            "not_after {until} is before not_before {from}"
        )));
    }
    if from < ca_valid_from() || until > ca_valid_until() {
        return Err(PkiError::Request(format!(
            "validity {from}..={until} leaves the test CA's validity {}..={}",
            ca_valid_from(),
            ca_valid_until()
        )));
    }
    if request.kind == CertificateKind::Signing {
        let age = age_on(request.holder.birth_date, from);
        if age < MIN_SIGNING_CERTIFICATE_AGE {
            return Err(PkiError::Request(format!(
                "JPKI issues no signing certificate to holders under {MIN_SIGNING_CERTIFICATE_AGE}; \
                 holder born {} is {age} on {from}",
                request.holder.birth_date
            )));
        }
    }
    Ok(())
}

/// The 基本4情報 as JPKI puts them in the signing certificate.
fn signing_subject_alt_name(holder: &Person) -> Result<SubjectAltName, PkiError> {
    let sex = char::from(holder.sex.card_code()).to_string();
    let birth = holder.birth_date.format("%Y%m%d").to_string();
    let entries: [(ObjectIdentifier, &str); 6] = [
        (OID_SAN_NAME, holder.name.as_str()),
        (OID_SAN_NAME_SUBSTITUTE, ""),
        (OID_SAN_SEX, sex.as_str()),
        (OID_SAN_DATE_OF_BIRTH, birth.as_str()),
        (OID_SAN_ADDRESS, holder.address.as_str()),
        (OID_SAN_ADDRESS_SUBSTITUTE, ""),
    ];
    let names = entries
        .into_iter()
        .map(|(type_id, text)| {
            let utf8 =
                Utf8StringRef::new(text).map_err(certificate_error("subjectAltName value"))?;
            let value =
                Any::encode_from(&utf8).map_err(certificate_error("subjectAltName value"))?;
            Ok(GeneralName::OtherName(OtherName { type_id, value }))
        })
        .collect::<Result<Vec<_>, PkiError>>()?;
    Ok(SubjectAltName(names))
}

/// A self-signed CA certificate for `kind`, PEM (used by fixture generation).
pub(crate) fn self_signed_ca_certificate_pem(
    kind: CertificateKind,
    private_key: &RsaPrivateKey,
) -> Result<String, PkiError> {
    let serial: u8 = match kind {
        CertificateKind::Authentication => 1,
        CertificateKind::Signing => 2,
    };
    let validity = Validity {
        not_before: start_of_jst_day(ca_valid_from())?,
        not_after: end_of_jst_day(ca_valid_until())?,
    };
    let signing_key = SigningKey::<Sha256>::new(private_key.clone());
    let spki = spki_of(&private_key.to_public_key())?;
    let context = "building the CA certificate";
    let builder = CertificateBuilder::new(
        Profile::Root,
        SerialNumber::from(serial),
        validity,
        ca_name(kind)?,
        spki,
        &signing_key,
    )
    .map_err(certificate_error(context))?;
    let certificate = builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(certificate_error(context))?;
    certificate
        .to_pem(LineEnding::LF)
        .map_err(certificate_error("encoding the CA certificate"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jst_days_round_trip_through_certificate_times() {
        for (y, m, d) in [
            (2000, 1, 1),
            (2024, 2, 29),
            (2049, 12, 31),
            (2050, 1, 1),
            (2099, 12, 31),
        ] {
            let day = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            assert_eq!(jst_day(&start_of_jst_day(day).unwrap()).unwrap(), day);
            assert_eq!(jst_day(&end_of_jst_day(day).unwrap()).unwrap(), day);
        }
    }

    #[test]
    fn end_of_day_is_14_59_59_utc_like_real_jpki_certificates() {
        let day = NaiveDate::from_ymd_opt(2029, 3, 22).unwrap();
        assert_eq!(
            end_of_jst_day(day).unwrap().to_string(),
            "2029-03-22T14:59:59Z"
        );
        assert_eq!(
            start_of_jst_day(day).unwrap().to_string(),
            "2029-03-21T15:00:00Z"
        );
    }
}
