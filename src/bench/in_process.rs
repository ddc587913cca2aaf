//! The workloads run inside the bench's own process: the service, the reader flow and the
//! card called directly, one request at a time per worker thread.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};

use crate::bench::judge::{judge, judge_answer, Path};
use crate::bench::mix::{Expect, Mix};
use crate::bench::population::{check_date, Holder};
use crate::card::Card;
use crate::oqs::message::{CheckRequest, InsuranceCardRequest};
use crate::oqs::service::{CheckContext, Oqs};
use crate::oqs::ConsentChoices;
use crate::oqs::ConsentMode;
use crate::pki::VerifiedCertificate;
use crate::reader::{Input, Pin, ReaderOptions, Terminal, TerminalConfig};
use crate::transport::virtual_reader::VirtualReader;

/// The 医療機関コード every request names.
pub(crate) const FACILITY: &str = "1312345678";
/// One digit short: refused as malformed.
pub(crate) const BAD_FACILITY: &str = "131234567";

/// A workload the bench calls directly.
pub trait InProcess: Sync {
    /// What one load thread keeps between requests (its own state, no sharing).
    type Worker: Send;
    /// The state of load thread `index`.
    fn worker(&self, index: usize) -> Self::Worker;
    /// Runs request `k`. `Ok` carries time a real device would have added that the process
    /// only simulated (the card's processing time in virtual time); `Err` the error kind.
    fn run(&self, k: u64, worker: &mut Self::Worker) -> Result<Duration, String>;
}

/// Requests by kind; request `k` takes the `k`-th of its kind, round robin.
pub(crate) struct Pool<T> {
    mix: Mix,
    by_kind: Vec<(Expect, Vec<T>)>,
}

impl<T> Pool<T> {
    pub(crate) fn new(mix: Mix, by_kind: Vec<(Expect, Vec<T>)>) -> Pool<T> {
        Pool { mix, by_kind }
    }

    /// Request `k`: its kind from the mix, and an item of that kind chosen by a hash of `k`
    /// (so that no period of the mix table lines up with the pool's length).
    pub(crate) fn pick(&self, k: u64) -> Option<(Expect, &T)> {
        let kind = self.mix.pick(k);
        let (_, items) = self.by_kind.iter().find(|(have, _)| *have == kind)?;
        let len = items.len().max(1) as u64;
        let spread = k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 24;
        items.get((spread % len) as usize).map(|item| (kind, item))
    }

    pub(crate) fn items(&self) -> impl Iterator<Item = (Expect, &T)> {
        self.by_kind
            .iter()
            .flat_map(|(kind, items)| items.iter().map(move |item| (*kind, item)))
    }
}

/// `lookup`: the registry lookup and the rules after the proof of possession, no cryptography.
pub(crate) struct Lookup {
    /// The service under load.
    pub(crate) oqs: Arc<Oqs>,
    pub(crate) pool: Pool<VerifiedCertificate>,
}

impl InProcess for Lookup {
    type Worker = ();
    fn worker(&self, _: usize) {}
    fn run(&self, k: u64, _: &mut ()) -> Result<Duration, String> {
        let (expected, certificate) = self.pool.pick(k).ok_or("empty_pool")?;
        let context = CheckContext {
            facility_code: FACILITY,
            date: check_date(),
            time: NaiveTime::MIN,
            consent: ConsentChoices::default(),
            arbitrary_file_identifier: None,
            character_code: Default::default(),
        };
        let answer = self.oqs.check_verified(certificate, &context);
        judge_answer(Path::Card, expected, &answer)?;
        Ok(Duration::ZERO)
    }
}

/// `insurance-card` in process: the 被保険者証情報 lookup.
pub(crate) struct InsuranceCard {
    /// The service under load.
    pub(crate) oqs: Arc<Oqs>,
    pub(crate) pool: Pool<InsuranceCardRequest>,
}

impl InProcess for InsuranceCard {
    type Worker = ();
    fn worker(&self, _: usize) {}
    fn run(&self, k: u64, _: &mut ()) -> Result<Duration, String> {
        let (expected, request) = self.pool.pick(k).ok_or("empty_pool")?;
        let answer = self.oqs.lookup_by_insurance_card(request);
        judge_answer(Path::InsuranceCard, expected, &answer)?;
        Ok(Duration::ZERO)
    }
}

/// A check whose proof of possession is either signed in advance (reusable challenges) or
/// made for each request (a fresh challenge from the service, signed by the holder's key).
pub(crate) enum SignedCheck {
    Presigned(CheckRequest),
    Fresh {
        holder: Holder,
        request: CheckRequest,
    },
}

/// `check` in process: the whole check, certificate chain and signature verified.
pub(crate) struct Check {
    /// The service under load.
    pub(crate) oqs: Arc<Oqs>,
    pub(crate) pool: Pool<SignedCheck>,
}

impl InProcess for Check {
    type Worker = ();
    fn worker(&self, _: usize) {}
    fn run(&self, k: u64, _: &mut ()) -> Result<Duration, String> {
        let (expected, item) = self.pool.pick(k).ok_or("empty_pool")?;
        let answer = match item {
            SignedCheck::Presigned(request) => self.oqs.check(request),
            SignedCheck::Fresh { holder, request } => {
                let challenge = self.oqs.issue_challenge();
                let signed = if expected == Expect::BadSignature {
                    holder.sign(b"not the challenge")
                } else {
                    holder.sign(&challenge)
                };
                let mut request = request.clone();
                request.challenge = Some(challenge);
                request.signature = Some(signed);
                self.oqs.check(&request)
            }
        };
        judge_answer(Path::Card, expected, &answer)?;
        Ok(Duration::ZERO)
    }
}

/// `reception`: the reader flow with the emulated card in the virtual reader (PIN, so the card
/// signs the challenge), against the in-process service.
pub struct Reception {
    /// The service under load.
    pub oqs: Arc<Oqs>,
    /// The cards the receptions take turns with (adults of the registry).
    pub cards: Vec<Card>,
    /// The day of every reception.
    pub date: NaiveDate,
    /// Add the card's simulated processing time to each reception's latency.
    pub card_latency: bool,
}

impl InProcess for Reception {
    type Worker = ();
    fn worker(&self, _: usize) {}
    fn run(&self, k: u64, _: &mut ()) -> Result<Duration, String> {
        let len = self.cards.len().max(1) as u64;
        let card = self.cards.get((k % len) as usize).ok_or("empty_pool")?;
        // A clone is a fresh card state (PIN counters, selection) sharing the files and keys.
        let mut reader = VirtualReader::with_card(card.clone());
        let mut terminal = Terminal::new(TerminalConfig {
            facility_code: FACILITY.to_owned(),
            date: self.date,
            time: None,
            options: ReaderOptions::default(),
        });
        let inputs = [
            Input::PlaceCard,
            Input::ChoosePin,
            Input::EnterPin {
                pin: Pin::new("1234"),
            },
            Input::ConsentMode {
                mode: ConsentMode::Comprehensive,
            },
            Input::RemoveCard,
        ];
        for input in inputs {
            terminal
                .handle(input, &mut reader, self.oqs.as_ref())
                .map_err(|_| "reader_flow_stuck".to_owned())?;
        }
        let outcome = terminal.outcome();
        match outcome.service_outcome {
            Some(service) => judge(Path::Card, Expect::Valid, service, outcome.validity)?,
            None => return Err("no_service_answer".to_owned()),
        }
        Ok(if self.card_latency {
            reader.elapsed()
        } else {
            Duration::ZERO
        })
    }
}

/// `apdu`: the card alone — SELECT the JPKI AP, SELECT the auth certificate, READ BINARY 256.
pub(crate) struct Apdu {
    /// The card under load.
    pub(crate) card: Card,
}

const SELECT_JPKI: [u8; 15] = [
    0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01,
];
const SELECT_AUTH_CERTIFICATE: [u8; 7] = [0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A];
const READ_256: [u8; 5] = [0x00, 0xB0, 0x00, 0x00, 0x00];

impl InProcess for Apdu {
    /// Each worker's own card, and where it is in its own SELECT, SELECT, READ cycle (the
    /// request numbers are shared between workers, so they cannot say).
    type Worker = (Card, u64);
    fn worker(&self, _: usize) -> (Card, u64) {
        let mut card = self.card.clone();
        card.power_on();
        (card, 0)
    }
    fn run(&self, _: u64, (card, step): &mut (Card, u64)) -> Result<Duration, String> {
        let command: &[u8] = match *step % 3 {
            0 => &SELECT_JPKI,
            1 => &SELECT_AUTH_CERTIFICATE,
            _ => &READ_256,
        };
        *step += 1;
        let reply = card.process(command);
        match reply.rapdu.as_slice() {
            [.., 0x90, 0x00] => Ok(Duration::ZERO),
            [.., sw1, sw2] => Err(format!("status_word_{sw1:02X}{sw2:02X}")),
            _ => Err("empty_answer".to_owned()),
        }
    }
}
