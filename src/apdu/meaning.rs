//! The questions the rest of the harness asks about a command, answered in one place: does it
//! present a secret, consume a try, change the card, read a protected file; which bytes are
//! secret; which application and file it addresses.

use std::ops::Range;

use super::build::{
    CLA_PROPRIETARY, IDENTIFY_NONCE_LEN, IDENTIFY_P1, IDENTIFY_P2, IDENTIFY_PROOF_LEN,
};
use super::ids::{
    common, jpki, juki, surface, text, AID_COMMON, AID_JPKI, AID_JUKI, AID_SURFACE, AID_TEXT,
};
use super::ins::{Instruction, INS_IDENTIFY};
use super::Command;

/// Why a command is dangerous on a card that is not ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardChange {
    /// VERIFY with a PIN: a wrong one consumes a try (three lock the auth PIN).
    PinTry,
    /// CHANGE REFERENCE DATA / RESET RETRY COUNTER.
    PinChange,
    /// Writing or erasing files, creating or deleting them, (de)activating.
    Content,
}

impl std::fmt::Display for CardChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CardChange::PinTry => "consumes a PIN try",
            CardChange::PinChange => "changes a PIN",
            CardChange::Content => "changes the card's files",
        })
    }
}

impl Command<'_> {
    pub(crate) fn instruction(&self) -> Instruction {
        Instruction::of(self.cla, self.ins)
    }

    /// Whether the command presents (or sets) a PIN, password or 照合番号. The retry-counter
    /// query (VERIFY without data) presents nothing.
    pub(crate) fn presents_secret(&self) -> bool {
        self.instruction().carries_secret() && !self.data.is_empty()
    }

    #[cfg(test)]
    /// Whether a wrong secret in this command costs a try.
    pub(crate) fn consumes_try(&self) -> bool {
        self.instruction() == Instruction::Verify && !self.data.is_empty()
    }

    /// The harm this command can do to a real card. Proprietary commands other than the JPKI
    /// signature and the identification probe are unknown to us and therefore dangerous.
    pub fn card_change(&self) -> Option<CardChange> {
        match self.instruction() {
            Instruction::Verify if self.data.is_empty() => None,
            Instruction::Verify => Some(CardChange::PinTry),
            Instruction::ChangeReferenceData | Instruction::ResetRetryCounter => {
                Some(CardChange::PinChange)
            }
            Instruction::WriteContent(_) => Some(CardChange::Content),
            Instruction::Identify if self.identification_nonce().is_some() => None,
            Instruction::Identify | Instruction::OtherProprietary(_) => Some(CardChange::Content),
            Instruction::Select
            | Instruction::ReadBinary
            | Instruction::GetChallenge
            | Instruction::GetResponse
            | Instruction::ComputeDigitalSignature
            | Instruction::OtherInterindustry(_) => None,
        }
    }

    /// The nonce, when this is exactly myna-hil's identification probe.
    pub(crate) fn identification_nonce(&self) -> Option<[u8; IDENTIFY_NONCE_LEN]> {
        let probe = self.cla == CLA_PROPRIETARY
            && self.ins == INS_IDENTIFY
            && self.p1 == IDENTIFY_P1
            && self.p2 == IDENTIFY_P2
            && !self.extended
            && self.le == Some(IDENTIFY_PROOF_LEN);
        probe.then(|| self.data.try_into().ok()).flatten()
    }

    /// The offset a READ BINARY starts at (P1-P2, or P2 alone after a short EF identifier).
    pub(crate) fn read_offset(&self) -> Option<u16> {
        if self.instruction() != Instruction::ReadBinary {
            return None;
        }
        Some(if self.p1 & 0x80 != 0 {
            u16::from(self.p2)
        } else {
            u16::from_be_bytes([self.p1, self.p2])
        })
    }

    /// VERIFY without data: asks for the retry counter and spends no try.
    pub(crate) fn is_retry_query(&self) -> bool {
        self.instruction() == Instruction::Verify && self.data.is_empty()
    }

    /// What a SELECT addresses.
    pub(crate) fn selects(&self) -> Option<Target> {
        if self.instruction() != Instruction::Select {
            return None;
        }
        match (self.p1, self.data) {
            (0x04, aid) => aid.try_into().ok().map(Target::Application),
            (0x00, []) | (0x00, [0x3F, 0x00]) => Some(Target::MasterFile),
            (0x00..=0x02, [hi, lo]) => Some(Target::File(u16::from_be_bytes([*hi, *lo]))),
            _ => None,
        }
    }
}

/// What a SELECT addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// An application by its 10-byte DF name.
    Application([u8; 10]),
    /// An EF of the current application.
    File(u16),
    /// The MF (`3F 00`, or P1 `00` with no data): back to the card level, no application.
    MasterFile,
}

/// The harm `capdu` can do to a real card; a command that does not parse is judged by its
/// header, with any bytes after it taken as data (so a malformed VERIFY counts as a try).
pub fn card_change(capdu: &[u8]) -> Option<CardChange> {
    match Command::parse(capdu) {
        Ok(command) => command.card_change(),
        Err(_) => {
            let [cla, ins, ..] = capdu else { return None };
            let loose = Command {
                cla: *cla,
                ins: *ins,
                p1: capdu.get(2).copied().unwrap_or(0),
                p2: capdu.get(3).copied().unwrap_or(0),
                data: capdu.get(5..).unwrap_or(&[]),
                le: None,
                extended: false,
                case: super::ApduCase::Case3,
            };
            loose.card_change()
        }
    }
}

/// The bytes of `capdu` that are a secret (the data field of VERIFY, CHANGE REFERENCE DATA,
/// RESET RETRY COUNTER). A command whose lengths do not add up is still hidden from where
/// its data would start, so that nothing malformed leaks a PIN.
///
/// Under secure messaging (an interindustry class with SM bits, `08`/`0C`) the data field is
/// a cryptogram under the session key, which the client sent wrapped to the card's own key
/// (RSAES-OAEP): nobody reading a transcript can recover the secret from it, and keeping it is
/// what lets a replay against the same card reproduce the session (the card derives the same
/// session key from the same SET SESSION KEY, and the same IVs from the same counter). It is
/// not a secret range.
pub fn secret_range(capdu: &[u8]) -> Option<Range<usize>> {
    let [cla, ins, ..] = capdu else { return None };
    if !Instruction::of(*cla, *ins).carries_secret() {
        return None;
    }
    if cla & 0x80 == 0 && cla & 0x0C != 0 {
        return None;
    }
    let (start, length) = match Command::parse(capdu) {
        Ok(command) => (if command.extended { 7 } else { 5 }, command.data.len()),
        Err(_) if capdu.len() <= 5 => return None,
        Err(_) => match capdu[4] {
            0 if capdu.len() >= 7 => (7, usize::from(u16::from_be_bytes([capdu[5], capdu[6]]))),
            0 => return None,
            short => (5, usize::from(short)),
        },
    };
    let end = (start + length).min(capdu.len());
    (start < end).then_some(start..end)
}

/// Which secret a VERIFY (or PIN change) is aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretKind {
    /// JPKI 利用者証明用電子証明書 PIN (4 digits).
    AuthPin,
    /// JPKI 署名用電子証明書 password (6–16 characters).
    SigningPassword,
    /// 券面事項入力補助 PIN.
    TextPin,
    /// 照合番号A / B of the text application.
    TextCollationA,
    /// 照合番号B presented to the text application (券面事項入力補助AP).
    TextCollationB,
    /// 照合番号A / B of the surface application.
    SurfaceCollationA,
    /// 照合番号B presented to the surface application (券面確認AP).
    SurfaceCollationB,
    /// The surface application's 生年月日 key (EF 0011).
    SurfaceBirthDateKey,
    /// The text application's EF 0012, blocked from issuance (opens nothing).
    TextBlockedKey,
    /// The 共通AP's and the 住基AP's 4-digit PINs.
    CommonPin,
    /// The 住基AP's 4-digit PIN.
    JukiPin,
}

impl std::fmt::Display for SecretKind {
    /// As a report names it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SecretKind::AuthPin => "the JPKI auth PIN",
            SecretKind::SigningPassword => "the JPKI signing password",
            SecretKind::TextPin => "the text application's PIN",
            SecretKind::TextCollationA => "照合番号A (text application)",
            SecretKind::TextCollationB => "照合番号B (text application)",
            SecretKind::SurfaceCollationA => "照合番号A (surface application)",
            SecretKind::SurfaceCollationB => "照合番号B (surface application)",
            SecretKind::SurfaceBirthDateKey => "the 生年月日 key (surface application)",
            SecretKind::TextBlockedKey => "the text application's blocked EF 0012",
            SecretKind::CommonPin => "the 共通AP PIN",
            SecretKind::JukiPin => "the 住基AP PIN",
        })
    }
}

/// The application and EF a session has selected, followed command by command. The card keeps
/// its own; this is the client-side view (reader, replay, a judge of a recorded session).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    pub(crate) application: Option<[u8; 10]>,
    pub(crate) file: Option<u16>,
}

impl Selection {
    /// Updates the selection after `capdu`; `succeeded` is whether the card accepted it.
    pub(crate) fn follow(&mut self, capdu: &[u8], succeeded: bool) {
        let Ok(command) = Command::parse(capdu) else {
            return;
        };
        match command.selects() {
            Some(Target::Application(aid)) => {
                self.application = succeeded.then_some(aid);
                self.file = None;
            }
            Some(Target::File(fid)) => self.file = succeeded.then_some(fid),
            Some(Target::MasterFile) if succeeded => self.clear(),
            Some(Target::MasterFile) => {}
            // READ BINARY with a short EF identifier (P1 b8 set) selects that EF as it reads.
            None if succeeded
                && command.instruction() == Instruction::ReadBinary
                && command.p1 & 0x80 != 0 =>
            {
                self.file = Some(u16::from(command.p1 & 0x1F));
            }
            None => {}
        }
    }

    /// Forgets everything (power loss, reset, removal).
    pub(crate) fn clear(&mut self) {
        *self = Selection::default();
    }

    /// The secret a VERIFY now would present to.
    pub(crate) fn secret(&self) -> Option<SecretKind> {
        secret_of(self.application?, self.file?)
    }

    /// The secret a VERIFY / CHANGE REFERENCE DATA with reference `p2` addresses now: `80`
    /// the current EF, `80 | n` the EF with short identifier `n` of the current application.
    pub(crate) fn secret_at(&self, p2: u8) -> Option<SecretKind> {
        match p2 & 0x1F {
            0 => self.secret(),
            short => secret_of(self.application?, u16::from(short)),
        }
    }

    #[cfg(test)]
    /// Whether the selected EF can only be read after a secret was verified (the signing
    /// certificate, the text application's personal data, the card face). The JPKI auth
    /// certificate is free to read on the cards this harness models by default.
    pub(crate) fn protected_file(&self) -> bool {
        match (self.application, self.file) {
            (Some(AID_JPKI), Some(file)) => file == jpki::EF_SIGNING_CERTIFICATE,
            (Some(AID_TEXT), Some(file)) => matches!(
                file,
                text::EF_MY_NUMBER
                    | text::EF_BASIC_FOUR
                    | text::EF_SIGNATURE
                    | text::EF_SESSION_KEY
                    | text::EF_CARD_KEY_RECORD
                    | text::EF_UNKNOWN_0008
            ),
            (Some(AID_SURFACE), Some(file)) => matches!(
                file,
                surface::EF_AGE_RECORD
                    | surface::EF_CARD_FACE
                    | surface::EF_MY_NUMBER_IMAGE
                    | surface::EF_UNKNOWN_0006
            ),
            _ => false,
        }
    }

    #[cfg(test)]
    /// Whether `capdu`, sent now, reads a protected file.
    pub(crate) fn reads_protected_file(&self, capdu: &[u8]) -> bool {
        Command::parse(capdu).is_ok_and(|command| command.instruction() == Instruction::ReadBinary)
            && self.protected_file()
    }
}

/// The secret held in EF `file` of `application`, if it holds one.
fn secret_of(application: [u8; 10], file: u16) -> Option<SecretKind> {
    match (application, file) {
        (AID_JPKI, jpki::EF_AUTH_PIN) => Some(SecretKind::AuthPin),
        (AID_JPKI, jpki::EF_SIGNING_PIN) => Some(SecretKind::SigningPassword),
        (AID_TEXT, text::EF_TEXT_PIN) => Some(SecretKind::TextPin),
        (AID_TEXT, text::EF_MATCH_A) => Some(SecretKind::TextCollationA),
        (AID_TEXT, text::EF_MATCH_B) => Some(SecretKind::TextCollationB),
        (AID_SURFACE, surface::EF_MATCH_A) => Some(SecretKind::SurfaceCollationA),
        (AID_SURFACE, surface::EF_MATCH_B) => Some(SecretKind::SurfaceCollationB),
        (AID_SURFACE, surface::EF_BIRTH_DATE_KEY) => Some(SecretKind::SurfaceBirthDateKey),
        (AID_TEXT, text::EF_BLOCKED_KEY) => Some(SecretKind::TextBlockedKey),
        (AID_COMMON, common::EF_PIN) => Some(SecretKind::CommonPin),
        (AID_JUKI, juki::EF_PIN) => Some(SecretKind::JukiPin),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apdu::build;

    #[test]
    fn pin_and_write_commands_are_classified_as_changes() {
        let verify = build::verify(b"1234").unwrap();
        assert_eq!(card_change(&verify), Some(CardChange::PinTry));
        assert_eq!(card_change(&build::retry_query()), None);
        assert_eq!(
            card_change(&[0x00, 0x24, 0x01, 0x80, 0x04, 1, 2, 3, 4]),
            Some(CardChange::PinChange)
        );
        assert_eq!(
            card_change(&[0x00, 0xD6, 0x00, 0x00, 0x01, 0x00]),
            Some(CardChange::Content)
        );
        assert_eq!(card_change(&build::select_fid(0x000A)), None);
        assert_eq!(card_change(&build::read_binary(0, 256)), None);
        assert_eq!(
            card_change(&build::compute_digital_signature(&[0]).unwrap()),
            None
        );
        assert_eq!(card_change(&build::identification_probe(&[3; 16])), None);
        assert_eq!(
            card_change(&[0x80, 0x99, 0x00, 0x00]),
            Some(CardChange::Content)
        );
        // A VERIFY whose Lc lies still counts as a try.
        assert_eq!(
            card_change(&[0x00, 0x20, 0x00, 0x80, 0x09, b'1']),
            Some(CardChange::PinTry)
        );
    }

    #[test]
    fn secret_bytes_are_the_data_field_of_pin_commands_only() {
        assert_eq!(secret_range(&build::verify(b"1234").unwrap()), Some(5..9));
        assert_eq!(
            secret_range(&[0x00, 0x20, 0x00, 0x80, 0x00, 0x00, 0x02, 0x35, 0x36, 0x00, 0x00]),
            Some(7..9)
        );
        assert_eq!(secret_range(&build::retry_query()), None);
        assert_eq!(
            secret_range(&build::compute_digital_signature(&[1, 2]).unwrap()),
            None
        );
        // Malformed: Lc larger than what follows; everything after the header is hidden.
        assert_eq!(
            secret_range(&[0x00, 0x20, 0x00, 0x80, 0x09, b'1', b'2']),
            Some(5..7)
        );
        // Under secure messaging the data is a cryptogram under the session key, kept.
        assert_eq!(
            secret_range(&[0x08, 0x20, 0x00, 0x94, 0x03, 0x86, 0x01, 0x01]),
            None
        );
        // A proprietary class is not SM: CHANGE KEY's new PIN is a secret.
        assert_eq!(
            secret_range(&[0x80, 0x32, 0x00, 0x80, 0x02, b'1', b'2']),
            Some(5..7)
        );
    }

    #[test]
    fn the_selection_names_the_secret_and_protected_files() {
        let mut selection = Selection::default();
        selection.follow(&build::select_aid(&AID_JPKI), true);
        selection.follow(&build::select_fid(jpki::EF_SIGNING_PIN), true);
        assert_eq!(selection.secret(), Some(SecretKind::SigningPassword));
        selection.follow(&build::select_fid(jpki::EF_AUTH_PIN), false);
        assert_eq!(selection.secret(), None);
        selection.follow(&build::select_aid(&AID_SURFACE), true);
        selection.follow(&build::select_fid(surface::EF_CARD_FACE), true);
        assert!(selection.reads_protected_file(&build::read_binary(0, 256)));
        assert!(!selection.reads_protected_file(&build::retry_query()));
    }

    #[test]
    fn the_master_file_and_short_identifiers_move_the_selection() {
        let mut selection = Selection::default();
        selection.follow(&build::select_aid(&AID_JPKI), true);
        // READ BINARY with SFI 0x0A (P1 = 0x8A) reads the auth certificate and selects it.
        selection.follow(&[0x00, 0xB0, 0x8A, 0x00, 0x04], true);
        assert_eq!(selection.file, Some(jpki::EF_AUTH_CERTIFICATE));
        assert_eq!(selection.application, Some(AID_JPKI));
        // Selecting by FID with P1 00 is a file of the current application.
        selection.follow(&[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x00, 0x18], true);
        assert_eq!(selection.file, Some(jpki::EF_AUTH_PIN));
        // A failed MF selection changes nothing; a successful one leaves the application.
        selection.follow(&[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00], false);
        assert_eq!(selection.application, Some(AID_JPKI));
        selection.follow(&[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00], true);
        assert_eq!(selection, Selection::default());
        let read = Command::parse(&[0x00, 0xB0, 0x81, 0x20, 0x10]).unwrap();
        assert_eq!(read.read_offset(), Some(0x20));
        assert!(Command::parse(&build::retry_query())
            .unwrap()
            .is_retry_query());
    }
}
