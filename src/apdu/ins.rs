//! Instruction bytes and what they mean for the card and its clients.

/// Interindustry (CLA `00`) instructions.
pub(crate) const INS_SELECT: u8 = 0xA4;
pub(crate) const INS_READ_BINARY: u8 = 0xB0;
pub(crate) const INS_READ_RECORD: u8 = 0xB2;
pub(crate) const INS_INTERNAL_AUTHENTICATE: u8 = 0x88;
pub(crate) const INS_VERIFY: u8 = 0x20;
pub(crate) const INS_CHANGE_REFERENCE_DATA: u8 = 0x24;
pub(crate) const INS_RESET_RETRY_COUNTER: u8 = 0x2C;
pub(crate) const INS_GET_CHALLENGE: u8 = 0x84;
pub(crate) const INS_GET_RESPONSE: u8 = 0xC0;
/// GET DATA: P1-P2 is the tag of a data object (answered at the MF level, docs/spec/card-measured.md §3.2).
pub(crate) const INS_GET_DATA: u8 = 0xCA;
/// Proprietary (CLA `80`) JPKI signature; the same byte is PSO in the interindustry class.
pub(crate) const INS_COMPUTE_DIGITAL_SIGNATURE: u8 = 0x2A;
/// Proprietary (CLA `80`) JICSAP CHANGE KEY: the 共通AP and 住基AP PIN change
/// (docs/spec/card-measured.md §10.4).
pub(crate) const INS_CHANGE_KEY: u8 = 0x32;
/// Proprietary (CLA `80`) SET SESSION KEY of the 券面事項入力補助AP's secure messaging
/// (docs/spec/card-measured.md §6.10).
pub(crate) const INS_SET_SESSION_KEY: u8 = 0xAE;
/// The last-command indicator `80 FC 00 00` an iPhone token takes (docs/spec/card-measured.md
/// §8.6).
pub(crate) const INS_LAST_COMMAND_INDICATOR: u8 = 0xFC;
/// Proprietary (CLA `80`): myna-hil's identification probe (see `transport::identify`).
pub(crate) const INS_IDENTIFY: u8 = 0xF0;

/// Interindustry instructions that write, erase, create, delete or (de)activate files.
const CONTENT_CHANGING: [u8; 14] = [
    0xD0, 0xD6, 0xD7, 0xDA, 0xDB, 0xDC, 0xDD, 0xE0, 0xE2, 0xE4, 0x0E, 0x0F, 0x44, 0x04,
];

/// What a command asks the card to do, as far as the card and its clients care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Instruction {
    Select,
    ReadBinary,
    /// VERIFY (`20`, or `21` with the data in a BER object).
    Verify,
    ChangeReferenceData,
    ResetRetryCounter,
    GetChallenge,
    GetResponse,
    /// JPKI COMPUTE DIGITAL SIGNATURE (`80 2A`).
    ComputeDigitalSignature,
    /// myna-hil's identification probe (`80 F0`).
    Identify,
    /// An interindustry instruction that changes files (UPDATE BINARY, ERASE, CREATE, …).
    WriteContent(u8),
    /// Anything else, interindustry.
    OtherInterindustry(u8),
    /// Anything else in a proprietary class.
    OtherProprietary(u8),
}

impl Instruction {
    /// Classifies the instruction byte in the context of its class byte.
    pub(crate) fn of(cla: u8, ins: u8) -> Instruction {
        let interindustry = cla & 0x80 == 0;
        match (interindustry, ins) {
            (true, INS_SELECT) => Instruction::Select,
            (true, INS_READ_BINARY) => Instruction::ReadBinary,
            (true, 0x20 | 0x21) => Instruction::Verify,
            (true, INS_CHANGE_REFERENCE_DATA) => Instruction::ChangeReferenceData,
            (true, INS_RESET_RETRY_COUNTER) => Instruction::ResetRetryCounter,
            (true, INS_GET_CHALLENGE) => Instruction::GetChallenge,
            (true, INS_GET_RESPONSE) => Instruction::GetResponse,
            (true, other) if CONTENT_CHANGING.contains(&other) => Instruction::WriteContent(other),
            (true, other) => Instruction::OtherInterindustry(other),
            (false, INS_COMPUTE_DIGITAL_SIGNATURE) => Instruction::ComputeDigitalSignature,
            // JICSAP CHANGE KEY changes a PIN like CHANGE REFERENCE DATA, and its data is the
            // new PIN (redacted in traces).
            (false, INS_CHANGE_KEY) => Instruction::ChangeReferenceData,
            (false, INS_IDENTIFY) => Instruction::Identify,
            (false, other) => Instruction::OtherProprietary(other),
        }
    }

    /// Whether the data field of this instruction is a secret (PIN, password, 照合番号, or a
    /// new one).
    pub(crate) fn carries_secret(self) -> bool {
        matches!(
            self,
            Instruction::Verify | Instruction::ChangeReferenceData | Instruction::ResetRetryCounter
        )
    }
}
