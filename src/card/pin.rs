//! Retry counters, lockout and verified state of the card's PINs and 照合番号.

use crate::apdu::StatusWord;

use super::description::{
    BlockedStatus, CardOptions, EmptyVerifyAnswer, FourDigitPin, SigningPassword,
};

/// Every secret the card checks. Each belongs to one application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum PinId {
    /// JPKI EF 0018: 利用者証明用電子証明書 PIN.
    JpkiAuth,
    /// JPKI EF 001B: 署名用電子証明書 password.
    JpkiSigning,
    /// 券面事項入力補助AP EF 0011.
    Text,
    /// 券面事項入力補助AP EF 0012: blocked from issuance, opens nothing (docs/spec/card-measured.md §6.1).
    TextBlocked,
    /// 券面事項入力補助AP EF 0014 (照合番号A).
    TextMatchA,
    /// 券面事項入力補助AP EF 0015 (照合番号B).
    TextMatchB,
    /// 券面事項確認AP EF 0013 (照合番号A).
    SurfaceMatchA,
    /// 券面事項確認AP EF 0012 (照合番号B).
    SurfaceMatchB,
    /// 券面事項確認AP EF 0011: the 生年月日 key, 和暦 `YYMMDD` (docs/spec/card-measured.md §7.1).
    SurfaceBirthDate,
    /// 共通AP EF 001C: 4-digit PIN (docs/spec/card-measured.md §5.1).
    CommonPin,
    /// 住基AP EF 001C: 4-digit PIN, a reference of its own (docs/spec/card-measured.md §9).
    JukiPin,
}

impl PinId {
    pub(crate) const COUNT: usize = 11;

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// What a new value must look like for CHANGE REFERENCE DATA; `None` = not changeable.
    fn change_rule(self) -> Option<fn(&[u8]) -> bool> {
        match self {
            PinId::JpkiAuth | PinId::Text | PinId::CommonPin | PinId::JukiPin => {
                Some(FourDigitPin::is_valid)
            }
            PinId::JpkiSigning => Some(SigningPassword::is_valid),
            _ => None,
        }
    }
}

/// One secret with its retry counter.
#[derive(Clone)]
pub(crate) struct PinRecord {
    secret: Vec<u8>,
    tries_left: u8,
    max_tries: u8,
    verified: bool,
}

impl PinRecord {
    pub(super) fn new(secret: Vec<u8>, max_tries: u8, tries_left: u8) -> PinRecord {
        PinRecord {
            secret,
            tries_left: tries_left.min(max_tries),
            max_tries,
            verified: false,
        }
    }

    pub(crate) fn tries_left(&self) -> u8 {
        self.tries_left
    }

    pub(crate) fn max_tries(&self) -> u8 {
        self.max_tries
    }

    pub(crate) fn is_verified(&self) -> bool {
        self.verified
    }

    pub(crate) fn is_blocked(&self) -> bool {
        self.tries_left == 0
    }

    fn blocked_status(options: &CardOptions) -> StatusWord {
        match options.blocked_status {
            BlockedStatus::ReferenceDataNotUsable => StatusWord::REFERENCE_DATA_NOT_USABLE,
            BlockedStatus::NoTriesLeft => StatusWord::tries_left(0),
            BlockedStatus::AuthenticationMethodBlocked => StatusWord::AUTHENTICATION_METHOD_BLOCKED,
        }
    }

    /// VERIFY without data: the retry query. Always `63 Cx` (clients loop on `90 00`) unless
    /// the option says a verified PIN answers `90 00`.
    pub(crate) fn query(&self, options: &CardOptions) -> StatusWord {
        if self.verified && options.empty_verify_after_success == EmptyVerifyAnswer::Success {
            StatusWord::SUCCESS
        } else {
            StatusWord::tries_left(self.tries_left)
        }
    }

    /// VERIFY with data.
    pub(crate) fn verify(&mut self, candidate: &[u8], options: &CardOptions) -> StatusWord {
        if self.is_blocked() {
            self.verified = false;
            return Self::blocked_status(options);
        }
        if candidate == self.secret.as_slice() {
            self.tries_left = self.max_tries;
            self.verified = true;
            StatusWord::SUCCESS
        } else {
            self.tries_left -= 1;
            self.verified = false;
            StatusWord::tries_left(self.tries_left)
        }
    }

    /// CHANGE REFERENCE DATA with only the new value (P1 = `01`): needs a prior VERIFY.
    pub(crate) fn change(
        &mut self,
        id: PinId,
        new_value: &[u8],
        options: &CardOptions,
    ) -> StatusWord {
        let Some(rule) = id.change_rule() else {
            return StatusWord::COMMAND_NOT_ALLOWED_NO_EF;
        };
        if self.is_blocked() {
            return Self::blocked_status(options);
        }
        if !self.verified {
            return StatusWord::SECURITY_STATUS_NOT_SATISFIED;
        }
        if !rule(new_value) {
            return StatusWord::WRONG_DATA;
        }
        self.secret = new_value.to_vec();
        self.tries_left = self.max_tries;
        StatusWord::SUCCESS
    }

    /// The municipal-office reset: counter back to the maximum, optionally a new value.
    pub(super) fn unblock(&mut self, new_value: Option<&[u8]>) {
        if let Some(value) = new_value {
            self.secret = value.to_vec();
        }
        self.tries_left = self.max_tries;
        self.verified = false;
    }

    pub(crate) fn forget_verification(&mut self) {
        self.verified = false;
    }
}

/// All secrets of a card, by [`PinId`]; `None` where the profile has none.
#[derive(Clone, Default)]
pub(crate) struct PinTable {
    records: [Option<PinRecord>; PinId::COUNT],
}

impl PinTable {
    pub(super) fn insert(&mut self, id: PinId, record: PinRecord) {
        self.records[id.index()] = Some(record);
    }

    pub(crate) fn get(&self, id: PinId) -> Option<&PinRecord> {
        self.records[id.index()].as_ref()
    }

    pub(crate) fn get_mut(&mut self, id: PinId) -> Option<&mut PinRecord> {
        self.records[id.index()].as_mut()
    }

    pub(crate) fn is_verified(&self, id: PinId) -> bool {
        self.get(id).is_some_and(PinRecord::is_verified)
    }

    pub(crate) fn forget_all_verifications(&mut self) {
        for record in self.records.iter_mut().flatten() {
            record.forget_verification();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_sequence_and_reset_on_success() {
        let options = CardOptions::default();
        let mut pin = PinRecord::new(b"1234".to_vec(), 3, 3);
        assert_eq!(pin.verify(b"0000", &options), StatusWord(0x63C2));
        assert_eq!(pin.verify(b"1234", &options), StatusWord::SUCCESS);
        assert_eq!(pin.tries_left(), 3);
        assert_eq!(pin.verify(b"0000", &options), StatusWord(0x63C2));
        assert_eq!(pin.verify(b"0000", &options), StatusWord(0x63C1));
        assert_eq!(pin.verify(b"0000", &options), StatusWord(0x63C0));
        assert_eq!(pin.verify(b"1234", &options), StatusWord(0x6984));
        assert_eq!(pin.query(&options), StatusWord(0x63C0));
        pin.unblock(None);
        assert_eq!(pin.verify(b"1234", &options), StatusWord::SUCCESS);
    }
}
