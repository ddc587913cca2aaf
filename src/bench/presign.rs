//! The `check` workload's card holders (certificate and key) and their check requests, signed
//! ahead of the run over a reusable challenge so that the run times the service, not the
//! holder.

use chrono::NaiveDate;

use crate::bench::args::BenchError;
use crate::bench::in_process::{BAD_FACILITY, FACILITY};
use crate::bench::mix::{Expect, Mix};
use crate::bench::parallel::parallel_map;
use crate::bench::population::{
    can_carry_expired_certificate, check_date, expired_until, known_persons, unknown_persons,
    valid_until, Holder,
};
use crate::oqs::generate::SyntheticPerson;
use crate::oqs::message::{CheckRequest, ConsentChoices, IdentityMethod};
use crate::pki::TestPki;

pub(super) type ChecksByKind = Vec<(Expect, Vec<(Holder, CheckRequest)>)>;

/// Holders (certificate and key) and their unsigned check requests, by kind. Certificates
/// are issued on every CPU: each costs the CA an RSA signature.
pub(super) fn check_holders(
    mix: &Mix,
    persons: usize,
    seed: u64,
    pool: usize,
) -> Result<ChecksByKind, BenchError> {
    let pki = TestPki::load()?;
    let known = known_persons(persons, seed, pool);
    let strangers = unknown_persons(persons, seed, pool);
    let early: Vec<SyntheticPerson> = known
        .iter()
        .filter(|p| can_carry_expired_certificate(p))
        .cloned()
        .collect();
    let mut out = Vec::new();
    for kind in mix.kinds() {
        let (people, not_after): (&[SyntheticPerson], NaiveDate) = match kind {
            Expect::NotFound => (&strangers, valid_until()),
            Expect::Expired => (&early, expired_until()),
            _ => (&known, valid_until()),
        };
        let facility = if kind == Expect::Invalid {
            BAD_FACILITY
        } else {
            FACILITY
        };
        let holders = parallel_map(people, |index, person| {
            Holder::issue(pki, person, not_after, index)
        })?;
        let items = holders
            .into_iter()
            .map(|holder| {
                let request = CheckRequest {
                    identity: IdentityMethod::Pin,
                    challenge: None,
                    certificate: holder.certificate.clone(),
                    signature: None,
                    facility_code: facility.to_owned(),
                    date: check_date(),
                    time: None,
                    consent: ConsentChoices::default(),
                    arbitrary_file_identifier: None,
                    character_code: Default::default(),
                    smartphone: None,
                };
                (holder, request)
            })
            .collect();
        out.push((kind, items));
    }
    Ok(out)
}

/// The request signed once over `challenge` (a bad signature signs something else).
pub(super) fn presign(
    holder: &Holder,
    mut request: CheckRequest,
    kind: Expect,
    challenge: Vec<u8>,
) -> CheckRequest {
    request.signature = Some(if kind == Expect::BadSignature {
        holder.sign(b"not the challenge")
    } else {
        holder.sign(&challenge)
    });
    request.challenge = Some(challenge);
    request
}
