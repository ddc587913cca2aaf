//! Knowing whether the card on the other side of a reader is our emulation, and refusing steps
//! that would consume PIN tries or change a card when it is not (or when we are not sure).
//!
//! A reader name proves nothing (anyone can serve anything through vpcd, and a real card can sit
//! in a reader called anything), so the proof is a challenge/response only our emulation can
//! answer: the client sends a fresh random nonce in a proprietary APDU and expects
//! SHA-256(key ‖ nonce) back. A real マイナンバーカード rejects the APDU (`6D 00`/`6E 00`),
//! which neither consumes a PIN try nor changes any state, so probing is safe on any card.
//!
//! The key is a constant of this crate: the threat is locking somebody's real card by
//! mistake, not an adversary imitating the emulator, and no real card can compute a hash over
//! a nonce it has never seen.
//!
//! Command: `80 F0 4D 48 10 <16-byte nonce> 20` ("MH" in P1 P2).
//! Answer:  `<32-byte proof> 90 00`.

use sha2::{Digest, Sha256};

use crate::apdu::build::{self, IDENTIFY_NONCE_LEN, IDENTIFY_PROOF_LEN};
pub use crate::apdu::card_change;
pub(crate) use crate::apdu::CardChange;
use crate::apdu::Command;

pub(crate) const NONCE_LEN: usize = IDENTIFY_NONCE_LEN;
pub(crate) const PROOF_LEN: usize = IDENTIFY_PROOF_LEN;

const EMULATION_KEY: &[u8] = b"myna-hil emulated card, never a real JPKI card, identification v1";

pub(crate) type Nonce = [u8; NONCE_LEN];

/// What the identification probe found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CardIdentity {
    /// The card answered the challenge with the right proof.
    Emulated,
    /// The card answered, but not with the proof: a real card or someone else's emulation.
    NotEmulated,
    /// Not probed yet, or the probe failed before an answer came back.
    Unknown,
}

pub(crate) fn fresh_nonce() -> Nonce {
    rand::random()
}

/// The probe APDU for `nonce`.
pub(crate) fn challenge_command(nonce: &Nonce) -> Vec<u8> {
    build::identification_probe(nonce)
}

/// The nonce, when `capdu` is exactly an identification probe.
pub(crate) fn parse_challenge(capdu: &[u8]) -> Option<Nonce> {
    Command::parse(capdu)
        .ok()
        .and_then(|command| command.identification_nonce())
}

pub(crate) fn proof(nonce: &Nonce) -> [u8; PROOF_LEN] {
    let mut hasher = Sha256::new();
    hasher.update(EMULATION_KEY);
    hasher.update(nonce);
    hasher.finalize().into()
}

/// What the emulation answers to a probe.
pub(crate) fn challenge_response(nonce: &Nonce) -> Vec<u8> {
    crate::apdu::response(&proof(nonce), crate::apdu::StatusWord::SUCCESS)
}

/// Judges a card's answer to the probe for `nonce`.
pub(crate) fn judge_response(nonce: &Nonce, rapdu: &[u8]) -> CardIdentity {
    if rapdu == challenge_response(nonce).as_slice() {
        CardIdentity::Emulated
    } else {
        CardIdentity::NotEmulated
    }
}

/// A step refused because the card is not proven to be our emulation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refused: this command {change} and the card in {reader} is not proven to be myna-hil's emulation \
     ({identity:?}); a harness must never lock or change a real card. Pass --allow-real-card-changes \
     only if you own this card and accept the consequences"
)]
pub(crate) struct RefusedStep {
    pub(crate) reader: String,
    pub(crate) change: CardChange,
    pub(crate) identity: CardIdentity,
}

/// Whether the user allowed dangerous steps on cards that are not ours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RealCardPolicy {
    /// Refuse (default): only the proven emulation may be changed.
    #[default]
    Refuse,
    /// The user passed the explicit flag.
    AllowChanges,
}

/// Refuses `capdu` unless it is harmless, the card is proven emulated, or the user allowed it.
pub(crate) fn guard_command(
    reader: &str,
    identity: CardIdentity,
    policy: RealCardPolicy,
    capdu: &[u8],
) -> Result<(), RefusedStep> {
    match (card_change(capdu), identity, policy) {
        (None, _, _)
        | (Some(_), CardIdentity::Emulated, _)
        | (Some(_), _, RealCardPolicy::AllowChanges) => Ok(()),
        (Some(change), identity, RealCardPolicy::Refuse) => Err(RefusedStep {
            reader: reader.to_string(),
            change,
            identity,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_round_trip() {
        let nonce: Nonce = *b"0123456789abcdef";
        let command = challenge_command(&nonce);
        assert_eq!(&command[..5], &[0x80, 0xF0, 0x4D, 0x48, 0x10]);
        assert_eq!(command.len(), 5 + 16 + 1);
        assert_eq!(parse_challenge(&command), Some(nonce));
        assert_eq!(
            judge_response(&nonce, &challenge_response(&nonce)),
            CardIdentity::Emulated
        );
    }

    #[test]
    fn what_a_real_card_answers_is_not_a_proof() {
        let nonce: Nonce = [7; 16];
        assert_eq!(
            judge_response(&nonce, &[0x6D, 0x00]),
            CardIdentity::NotEmulated
        );
        assert_eq!(
            judge_response(&nonce, &[0x6E, 0x00]),
            CardIdentity::NotEmulated
        );
        assert_eq!(
            judge_response(&nonce, &[0x90, 0x00]),
            CardIdentity::NotEmulated
        );
        // A replayed proof for another nonce does not pass.
        assert_eq!(
            judge_response(&nonce, &challenge_response(&[8; 16])),
            CardIdentity::NotEmulated
        );
    }

    #[test]
    fn near_misses_are_not_probes() {
        let nonce: Nonce = [1; 16];
        let mut wrong_p2 = challenge_command(&nonce);
        wrong_p2[3] = 0x00;
        assert_eq!(parse_challenge(&wrong_p2), None);
        let mut no_le = challenge_command(&nonce);
        no_le.pop();
        assert_eq!(parse_challenge(&no_le), None);
    }

    #[test]
    fn guard_refuses_unless_proven_or_allowed() {
        let verify = [0x00, 0x20, 0x00, 0x80, 0x04, b'9', b'9', b'9', b'9'];
        for identity in [CardIdentity::NotEmulated, CardIdentity::Unknown] {
            let refused =
                guard_command("pcsc:X", identity, RealCardPolicy::Refuse, &verify).unwrap_err();
            assert_eq!(refused.change, CardChange::PinTry);
            assert!(refused.to_string().contains("--allow-real-card-changes"));
            assert_eq!(
                guard_command("pcsc:X", identity, RealCardPolicy::AllowChanges, &verify),
                Ok(())
            );
        }
        assert_eq!(
            guard_command(
                "pcsc:X",
                CardIdentity::Emulated,
                RealCardPolicy::Refuse,
                &verify
            ),
            Ok(())
        );
        assert_eq!(
            guard_command(
                "pcsc:X",
                CardIdentity::Unknown,
                RealCardPolicy::Refuse,
                &[0x00, 0x20, 0x00, 0x80]
            ),
            Ok(())
        );
    }
}
