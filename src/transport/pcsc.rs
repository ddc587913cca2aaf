//! Real PC/SC readers through the `pcsc` crate: a real card, or our card behind vpcd.
//!
//! Client-side protocol handling that applications do themselves in PC/SC:
//! - `61 xx` (T=0: more data waiting) → GET RESPONSE `00 C0 00 00 xx`, repeated, data joined;
//! - `6C xx` (wrong Le) → the same command again with Le = `xx`.
//!
//! Every exchange (with its GET RESPONSE chain) runs inside one PC/SC transaction, and
//! [`PcscTransport::step`] holds one transaction around a whole multi-APDU step, so no other
//! application can slip an APDU in between (e.g. between a VERIFY and the signature).
//!
//! Safety: on connect the transport probes the card with the identification challenge
//! ([`crate::transport::identify`]); commands that consume PIN tries or change the card are
//! refused with [`RefusedStep`] unless the card proved to be our emulation or the user passed
//! the explicit flag ([`RealCardPolicy::AllowChanges`]).

use std::ffi::CString;

use pcsc::{Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};

use super::identify::{self, CardIdentity, RealCardPolicy, RefusedStep};
use super::{Transport, TransportError};
use crate::apdu::build;

/// GET RESPONSE chains longer than this are a misbehaving card, not data.
const MAX_GET_RESPONSE: usize = 256;

/// The card state of one reader, as `myna-hil readers` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    /// No card in the reader.
    Empty,
    /// A card is present and answered reset.
    Present,
    /// Present and connected by some application.
    InUse,
    /// Present and held exclusively by some application.
    Exclusive,
    /// Present but does not answer reset.
    Mute,
    /// The reader is not usable (driver problem, unplugged).
    Unavailable,
    /// PC/SC reports a state this tool does not know.
    Unknown,
}

impl SlotState {
    fn from_state(state: State) -> SlotState {
        if state.contains(State::UNAVAILABLE) {
            SlotState::Unavailable
        } else if state.contains(State::EMPTY) {
            SlotState::Empty
        } else if state.contains(State::MUTE) {
            SlotState::Mute
        } else if state.contains(State::EXCLUSIVE) {
            SlotState::Exclusive
        } else if state.contains(State::INUSE) {
            SlotState::InUse
        } else if state.contains(State::PRESENT) {
            SlotState::Present
        } else {
            SlotState::Unknown
        }
    }

    /// Whether a card is in the reader, answering or not.
    pub fn has_card(self) -> bool {
        matches!(
            self,
            SlotState::Present | SlotState::InUse | SlotState::Exclusive | SlotState::Mute
        )
    }
}

impl std::fmt::Display for SlotState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SlotState::Empty => "empty",
            SlotState::Present => "card present",
            SlotState::InUse => "card in use",
            SlotState::Exclusive => "card in exclusive use",
            SlotState::Mute => "card mute",
            SlotState::Unavailable => "reader unavailable",
            SlotState::Unknown => "unknown",
        })
    }
}

/// One PC/SC reader.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReaderInfo {
    /// The reader's PC/SC name.
    pub name: String,
    /// The state of its card.
    pub state: SlotState,
    /// Upper-case hex, when a card is present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub atr: Option<String>,
}

fn pcsc_error(reader: &str, error: pcsc::Error) -> TransportError {
    use pcsc::Error as E;
    match error {
        E::NoService | E::ServiceStopped => TransportError::NoReader(
            ": pcscd is not running (Debian package `pcscd`; start it with `pcscd --foreground --error`)".into(),
        ),
        E::NoReadersAvailable => TransportError::NoReader(": pcscd runs but sees no reader".into()),
        E::UnknownReader | E::ReaderUnavailable => TransportError::NoReader(format!(": reader `{reader}` is gone")),
        E::NoSmartcard => TransportError::NoCard,
        E::RemovedCard => TransportError::CardRemoved,
        E::ResetCard => {
            TransportError::Transmission("another application reset the card (verified PINs are lost)".into())
        }
        E::UnpoweredCard | E::UnresponsiveCard => {
            TransportError::Transmission(format!("the card in `{reader}` does not answer reset"))
        }
        E::SharingViolation => TransportError::Transmission(format!(
            "the card in `{reader}` is held exclusively by another application"
        )),
        other => TransportError::Transmission(format!("{reader}: {other}")),
    }
}

fn establish() -> Result<Context, TransportError> {
    Context::establish(Scope::User).map_err(|error| pcsc_error("pcscd", error))
}

/// Lists the readers pcscd knows and the state of their slots.
pub fn list_readers() -> Result<Vec<ReaderInfo>, TransportError> {
    let context = establish()?;
    let names = match context.list_readers_owned() {
        Ok(names) => names,
        Err(pcsc::Error::NoReadersAvailable) => return Ok(Vec::new()),
        Err(error) => return Err(pcsc_error("pcscd", error)),
    };
    let mut states: Vec<ReaderState> = names
        .into_iter()
        .map(|name| ReaderState::new(name, State::UNAWARE))
        .collect();
    if !states.is_empty() {
        context
            .get_status_change(std::time::Duration::ZERO, &mut states)
            .map_err(|error| pcsc_error("pcscd", error))?;
    }
    Ok(states
        .iter()
        .map(|reader| {
            let state = SlotState::from_state(reader.event_state());
            ReaderInfo {
                name: reader.name().to_string_lossy().into_owned(),
                state,
                atr: (state.has_card() && !reader.atr().is_empty())
                    .then(|| hex::encode_upper(reader.atr())),
            }
        })
        .collect())
}

/// A PC/SC reader slot as a [`Transport`].
pub struct PcscTransport {
    context: Context,
    reader: CString,
    card: Option<pcsc::Card>,
    identity: CardIdentity,
    policy: RealCardPolicy,
}

impl std::fmt::Debug for PcscTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscTransport")
            .field("reader", &self.reader)
            .field("connected", &self.card.is_some())
            .field("identity", &self.identity)
            .field("policy", &self.policy)
            .finish()
    }
}

impl PcscTransport {
    /// Opens a reader: `selector` is an exact reader name or a part of exactly one reader's
    /// name; `None` takes the first reader with a card in it.
    pub fn open(
        selector: Option<&str>,
        policy: RealCardPolicy,
    ) -> Result<PcscTransport, TransportError> {
        let readers = list_readers()?;
        if readers.is_empty() {
            return Err(TransportError::NoReader(
                ": pcscd runs but sees no reader".into(),
            ));
        }
        let names = || {
            readers
                .iter()
                .map(|reader| format!("`{}`", reader.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let chosen = match selector {
            Some(wanted) => match readers.iter().find(|reader| reader.name == wanted) {
                Some(exact) => exact,
                None => {
                    let matching: Vec<&ReaderInfo> = readers
                        .iter()
                        .filter(|reader| reader.name.contains(wanted))
                        .collect();
                    match matching.as_slice() {
                        [only] => *only,
                        [] => {
                            return Err(TransportError::NoReader(format!(
                                " named `{wanted}` (readers: {})",
                                names()
                            )))
                        }
                        _ => {
                            return Err(TransportError::NoReader(format!(
                                " uniquely named `{wanted}`: it matches several ({})",
                                names()
                            )))
                        }
                    }
                }
            },
            None => readers
                .iter()
                .find(|reader| reader.state.has_card())
                .ok_or_else(|| {
                    TransportError::NoReader(format!(" with a card in it (readers: {})", names()))
                })?,
        };
        let reader = CString::new(chosen.name.clone())
            .map_err(|_| TransportError::NoReader(": reader name with a NUL byte".into()))?;
        Ok(PcscTransport {
            context: establish()?,
            reader,
            card: None,
            identity: CardIdentity::Unknown,
            policy,
        })
    }

    pub(crate) fn reader_name(&self) -> String {
        self.reader.to_string_lossy().into_owned()
    }

    /// Runs a multi-APDU step inside one exclusive PC/SC transaction.
    pub fn step<R>(
        &mut self,
        body: impl FnOnce(&mut ExclusiveStep<'_>) -> Result<R, TransportError>,
    ) -> Result<R, TransportError> {
        let reader = self.reader_name();
        let describe = self.describe();
        let identity = self.identity;
        let policy = self.policy;
        let card = self.card.as_mut().ok_or_else(|| {
            TransportError::Transmission("not connected: call connect first".into())
        })?;
        let (result, ended) = match card.transaction() {
            Err(error) => (Err(pcsc_error(&reader, error)), Ok(())),
            Ok(transaction) => {
                let mut step = ExclusiveStep {
                    transaction,
                    reader,
                    describe,
                    identity,
                    policy,
                };
                let result = body(&mut step);
                let ended = step
                    .transaction
                    .end(Disposition::LeaveCard)
                    .map_err(|(_, error)| pcsc_error(&step.reader, error));
                (result, ended)
            }
        };
        self.forget_card_if_removed(&result);
        let value = result?;
        ended?;
        Ok(value)
    }

    fn forget_card_if_removed<R>(&mut self, result: &Result<R, TransportError>) {
        if matches!(
            result,
            Err(TransportError::CardRemoved | TransportError::NoCard)
        ) {
            self.card = None;
            self.identity = CardIdentity::Unknown;
        }
    }

    /// Sends the identification challenge. Harmless on any card: a real one rejects the
    /// proprietary command without touching its state.
    fn probe_identity(&mut self) -> Result<CardIdentity, TransportError> {
        let nonce = identify::fresh_nonce();
        let answer = self.step(|step| {
            exchange(
                &step.transaction,
                &step.reader,
                &identify::challenge_command(&nonce),
            )
        })?;
        Ok(identify::judge_response(&nonce, &answer))
    }
}

/// One exclusive step: APDUs sent through it cannot be interleaved with other applications'.
pub struct ExclusiveStep<'a> {
    transaction: pcsc::Transaction<'a>,
    reader: String,
    describe: String,
    identity: CardIdentity,
    policy: RealCardPolicy,
}

impl ExclusiveStep<'_> {
    /// Sends one C-APDU inside the transaction (refused if it would change a protected real card)
    /// and returns the R-APDU.
    pub fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        identify::guard_command(&self.describe, self.identity, self.policy, capdu)
            .map_err(refused)?;
        exchange(&self.transaction, &self.reader, capdu)
    }
}

fn refused(refusal: RefusedStep) -> TransportError {
    TransportError::Refused(refusal.to_string())
}

/// One raw transmission.
fn transmit_raw(card: &pcsc::Card, reader: &str, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
    let mut buffer = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    let rapdu = card
        .transmit(capdu, &mut buffer)
        .map_err(|error| pcsc_error(reader, error))?;
    if rapdu.len() < 2 {
        return Err(TransportError::Transmission(format!(
            "{reader}: answer of {} bytes has no status word",
            rapdu.len()
        )));
    }
    Ok(rapdu.to_vec())
}

/// One command with the T=0 rules applied on the client side.
fn exchange(card: &pcsc::Card, reader: &str, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
    let mut response = transmit_raw(card, reader, capdu)?;
    if let [.., 0x6C, exact_le] = response[..] {
        if let Some(again) = with_short_le(capdu, exact_le) {
            response = transmit_raw(card, reader, &again)?;
        }
    }
    let mut data = Vec::new();
    for _ in 0..MAX_GET_RESPONSE {
        match response[..] {
            [ref body @ .., 0x61, available] => {
                data.extend_from_slice(body);
                let get_response = build::get_response_on_channel_of(capdu, available);
                response = transmit_raw(card, reader, &get_response)?;
            }
            _ => {
                data.extend_from_slice(&response);
                return Ok(data);
            }
        }
    }
    Err(TransportError::Transmission(format!(
        "{reader}: the card kept answering 61 xx after {MAX_GET_RESPONSE} GET RESPONSEs"
    )))
}

pub(crate) use crate::apdu::build::with_short_le;

impl Transport for PcscTransport {
    fn describe(&self) -> String {
        format!("pcsc:{}", self.reader_name())
    }

    fn connect(&mut self) -> Result<Vec<u8>, TransportError> {
        let reader = self.reader_name();
        // Connecting again (power on while powered) is a cold start: end the old handle first.
        // Replacing it would drop it after the new one connected, and the drop resets the card,
        // so the new handle's first command failed with "the card was reset". A stale handle
        // (the card was pulled) may fail to disconnect; that must not stop the new connection.
        if let Err(error) = self.disconnect() {
            tracing::debug!(%error, "ending the previous card handle");
        }
        let card = self
            .context
            .connect(&self.reader, ShareMode::Shared, Protocols::ANY)
            .map_err(|error| pcsc_error(&reader, error))?;
        let atr = card
            .status2_owned()
            .map_err(|error| pcsc_error(&reader, error))?
            .atr()
            .to_vec();
        self.card = Some(card);
        self.identity = CardIdentity::Unknown;
        self.identity = self.probe_identity()?;
        tracing::info!(reader = %reader, identity = ?self.identity, "connected");
        Ok(atr)
    }

    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let capdu = capdu.to_vec();
        self.step(|step| step.transmit(&capdu))
    }

    fn disconnect(&mut self) -> Result<(), TransportError> {
        self.identity = CardIdentity::Unknown;
        match self.card.take() {
            None => Ok(()),
            // Unpower so that PINs verified during the run do not stay open for the next
            // application: a warm reset keeps them on a real card (docs/spec/card-measured.md §2).
            Some(card) => card
                .disconnect(Disposition::UnpowerCard)
                .map_err(|(_, error)| pcsc_error(&self.reader_name(), error)),
        }
    }

    fn reset(&mut self) -> Result<Vec<u8>, TransportError> {
        let reader = self.reader_name();
        let Some(card) = self.card.as_mut() else {
            return self.connect();
        };
        card.reconnect(ShareMode::Shared, Protocols::ANY, Disposition::ResetCard)
            .map_err(|error| pcsc_error(&reader, error))?;
        let atr = card
            .status2_owned()
            .map_err(|error| pcsc_error(&reader, error))?
            .atr()
            .to_vec();
        Ok(atr)
    }

    fn is_emulated_card(&self) -> bool {
        self.card.is_some() && self.identity == CardIdentity::Emulated
    }
}

impl PcscTransport {
    /// Releases the card powered off (SCARD_UNPOWER_CARD): unlike a warm reset, a power-off
    /// ends every verified PIN on a real card (docs/spec/card-measured.md §2).
    pub fn power_off(&mut self) -> Result<(), TransportError> {
        self.identity = CardIdentity::Unknown;
        match self.card.take() {
            None => Ok(()),
            Some(card) => card
                .disconnect(Disposition::UnpowerCard)
                .map_err(|(_, error)| pcsc_error(&self.reader_name(), error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn le_is_replaced_or_appended_for_every_short_case() {
        assert_eq!(
            with_short_le(&[0x00, 0xB0, 0x00, 0x00], 0x10),
            Some(vec![0x00, 0xB0, 0x00, 0x00, 0x10])
        );
        assert_eq!(
            with_short_le(&[0x00, 0xB0, 0x00, 0x00, 0x00], 0x10),
            Some(vec![0x00, 0xB0, 0x00, 0x00, 0x10])
        );
        assert_eq!(
            with_short_le(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A], 0x20),
            Some(vec![0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A, 0x20])
        );
        assert_eq!(
            with_short_le(&[0x80, 0x2A, 0x00, 0x80, 0x01, 0xAA, 0x00], 0x80),
            Some(vec![0x80, 0x2A, 0x00, 0x80, 0x01, 0xAA, 0x80])
        );
        assert_eq!(
            with_short_le(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00], 0x10),
            None,
            "extended"
        );
        assert_eq!(
            with_short_le(&[0x00, 0xA4, 0x02, 0x0C, 0x05, 0x00], 0x10),
            None,
            "truncated data"
        );
    }

    #[test]
    fn slot_states_read_from_pcsc_flags() {
        assert_eq!(SlotState::from_state(State::EMPTY), SlotState::Empty);
        assert_eq!(SlotState::from_state(State::PRESENT), SlotState::Present);
        assert_eq!(
            SlotState::from_state(State::PRESENT | State::INUSE),
            SlotState::InUse
        );
        assert_eq!(
            SlotState::from_state(State::PRESENT | State::INUSE | State::EXCLUSIVE),
            SlotState::Exclusive
        );
        assert_eq!(
            SlotState::from_state(State::PRESENT | State::MUTE),
            SlotState::Mute
        );
        assert_eq!(
            SlotState::from_state(State::UNAVAILABLE),
            SlotState::Unavailable
        );
    }
}
