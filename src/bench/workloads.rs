//! Building each workload's requests from the synthetic population, in process (its pool,
//! then the run) or for HTTP (the pool the load driver sends), and the `apdu` and `reception`
//! workloads' cards.

use std::sync::Arc;

use bytes::Bytes;
use chrono::NaiveDate;

use crate::bench::args::{usage, BenchArgs, BenchError, CardLatency, Setup, Workload};
use crate::bench::drive::{drive_in_process, HttpWorkload, RunResult};
use crate::bench::http::{self, HttpRequest, HttpTarget};
use crate::bench::in_process::{
    Check, InProcess, InsuranceCard, Lookup, Pool, Reception, SignedCheck, BAD_FACILITY, FACILITY,
};
use crate::bench::judge::Path;
use crate::bench::mix::{Expect, Mix};
use crate::bench::population::{
    can_carry_expired_certificate, card_for, check_date, expired_until, insurance_card_request,
    known_persons, unknown_persons, valid_until,
};
use crate::bench::presign::{check_holders, presign};
use crate::bench::progress::Progress;
use crate::card::Card;
use crate::oqs::generate::SyntheticPerson;
use crate::oqs::message::InsuranceCardRequest;
use crate::oqs::service::Oqs;
use crate::pki::VerifiedCertificate;

pub(super) fn run_in_process(
    args: &BenchArgs,
    setup: &Setup,
    workload: Workload,
    oqs: Arc<Oqs>,
    progress: &Progress,
) -> Result<RunResult, BenchError> {
    fn go<W: InProcess>(
        w: &W,
        setup: &Setup,
        progress: &Progress,
    ) -> Result<RunResult, BenchError> {
        Ok(drive_in_process(w, setup.load, setup.limits, progress)?)
    }
    let known = known_persons(setup.persons, args.seed, args.pool);
    match workload {
        Workload::Lookup => {
            let strangers = unknown_persons(setup.persons, args.seed, args.pool);
            let pool = Pool::new(
                setup.mix.clone(),
                lookup_items(&setup.mix, &known, &strangers)?,
            );
            go(&Lookup { oqs, pool }, setup, progress)
        }
        Workload::InsuranceCard => {
            let strangers = unknown_persons(setup.persons, args.seed, args.pool);
            let pool = Pool::new(
                setup.mix.clone(),
                insurance_card_items(&setup.mix, &known, &strangers),
            );
            go(&InsuranceCard { oqs, pool }, setup, progress)
        }
        Workload::Check => {
            let holders = check_holders(&setup.mix, setup.persons, args.seed, args.pool)?;
            let mut by_kind = Vec::new();
            for (kind, items) in holders {
                let mut requests = Vec::with_capacity(items.len());
                for (holder, request) in items {
                    requests.push(if args.fresh_challenges {
                        SignedCheck::Fresh { holder, request }
                    } else {
                        SignedCheck::Presigned(presign(
                            &holder,
                            request,
                            kind,
                            oqs.issue_challenge(),
                        ))
                    });
                }
                by_kind.push((kind, requests));
            }
            let pool = Pool::new(setup.mix.clone(), by_kind);
            go(&Check { oqs, pool }, setup, progress)
        }
        Workload::Reception => {
            let adults: Vec<&SyntheticPerson> = known
                .iter()
                .filter(|p| p.card_issued.years_since(p.person.birth_date).unwrap_or(0) >= 20)
                .take(args.pool.min(64))
                .collect();
            let mut cards = Vec::with_capacity(adults.len());
            for (index, person) in adults.iter().enumerate() {
                cards.push(build_card(person, index)?);
            }
            if cards.is_empty() {
                return Err(usage(
                    "the registry has no adult to build a card for; raise --registry-size",
                ));
            }
            let reception = Reception {
                oqs,
                cards,
                date: check_date(),
                card_latency: args.card_latency == CardLatency::Virtual,
            };
            go(&reception, setup, progress)
        }
        Workload::Apdu => Err(usage("apdu needs no registry")),
    }
}

pub(super) fn lookup_items(
    mix: &Mix,
    known: &[SyntheticPerson],
    strangers: &[SyntheticPerson],
) -> Result<Vec<(Expect, Vec<VerifiedCertificate>)>, BenchError> {
    let public_key = crate::pki::pool_key(0)?.to_public_key();
    let certificate = |person: &SyntheticPerson, not_after: NaiveDate| VerifiedCertificate {
        serial: crate::pki::certificate_serial(
            crate::pki::CertificateKind::Authentication,
            &person.person.my_number,
            person.card_issued,
        ),
        not_before: person.card_issued,
        not_after,
        public_key: public_key.clone(),
    };
    Ok(mix
        .kinds()
        .map(|kind| {
            let items = match kind {
                Expect::NotFound => strangers
                    .iter()
                    .map(|p| certificate(p, valid_until()))
                    .collect(),
                Expect::Expired => known
                    .iter()
                    .filter(|p| can_carry_expired_certificate(p))
                    .map(|p| certificate(p, expired_until()))
                    .collect(),
                _ => known
                    .iter()
                    .map(|p| certificate(p, valid_until()))
                    .collect(),
            };
            (kind, items)
        })
        .collect())
}

pub(super) fn insurance_card_items(
    mix: &Mix,
    known: &[SyntheticPerson],
    strangers: &[SyntheticPerson],
) -> Vec<(Expect, Vec<InsuranceCardRequest>)> {
    mix.kinds()
        .map(|kind| {
            let items = match kind {
                Expect::NotFound => strangers
                    .iter()
                    .map(|p| insurance_card_request(p, FACILITY))
                    .collect(),
                Expect::Invalid => known
                    .iter()
                    .map(|p| insurance_card_request(p, BAD_FACILITY))
                    .collect(),
                _ => known
                    .iter()
                    .map(|p| insurance_card_request(p, FACILITY))
                    .collect(),
            };
            (kind, items)
        })
        .collect()
}

pub(super) fn http_workload(
    args: &BenchArgs,
    setup: &Setup,
    target: &HttpTarget,
    workload: Workload,
    reusable: bool,
    runtime: &tokio::runtime::Runtime,
) -> Result<HttpWorkload, BenchError> {
    let json = |value: &dyn erased::Json| Bytes::from(value.to_json());
    let by_kind: Vec<(Expect, Vec<HttpRequest>)> = match workload {
        Workload::InsuranceCard => {
            let known = known_persons(setup.persons, args.seed, args.pool);
            let strangers = unknown_persons(setup.persons, args.seed, args.pool);
            insurance_card_items(&setup.mix, &known, &strangers)
                .into_iter()
                .map(|(kind, items)| {
                    let requests = items
                        .iter()
                        .map(|request| HttpRequest::Ready {
                            path: "/v1/insurance-card",
                            body: json(request),
                        })
                        .collect();
                    (kind, requests)
                })
                .collect()
        }
        Workload::Check => {
            let holders = check_holders(&setup.mix, setup.persons, args.seed, args.pool)?;
            let needed: usize = holders.iter().map(|(_, items)| items.len()).sum();
            let mut challenges = if reusable {
                runtime
                    .block_on(http::challenges(target, needed))
                    .map_err(BenchError::Unreachable)?
                    .into_iter()
            } else {
                Vec::new().into_iter()
            };
            let mut out = Vec::new();
            for (kind, items) in holders {
                let mut requests = Vec::with_capacity(items.len());
                for (holder, request) in items {
                    match (reusable, challenges.next()) {
                        (true, Some(challenge)) => {
                            let signed = presign(&holder, request, kind, challenge);
                            requests.push(HttpRequest::Ready {
                                path: "/v1/check",
                                body: json(&signed),
                            });
                        }
                        _ => requests.push(HttpRequest::Fresh(Box::new((holder, request)))),
                    }
                }
                out.push((kind, requests));
            }
            out
        }
        other => {
            return Err(usage(format!(
                "--workload {} runs in process only",
                other.name()
            )))
        }
    };
    Ok(HttpWorkload {
        target: target.clone(),
        path: if workload == Workload::Check {
            Path::Card
        } else {
            Path::InsuranceCard
        },
        pool: Pool::new(setup.mix.clone(), by_kind),
    })
}

/// Serialising the two request types through one closure.
mod erased {
    pub(crate) trait Json {
        fn to_json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Vec<u8> {
            // Request structs of plain fields always serialise.
            serde_json::to_vec(self).unwrap_or_default()
        }
    }
}

/// The generator's person 0, as the `apdu` workload's card holder.
pub(super) fn first_person() -> Result<SyntheticPerson, BenchError> {
    known_persons(1, 1, 1)
        .into_iter()
        .next()
        .ok_or_else(|| usage("the generator yielded no person"))
}

pub(super) fn build_card(person: &SyntheticPerson, index: usize) -> Result<Card, BenchError> {
    card_for(person, index).map_err(|error| BenchError::Card(error.to_string()))
}
