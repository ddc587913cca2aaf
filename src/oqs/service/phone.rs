//! The phone rules (docs/spec/smartphone.md §4): a phone's スマホ用電子証明書 resolves to its
//! card's person and record, but it has no grace period, it stops working once its card is
//! renewed until it is issued again, and it is revoked with its card (by default). Everything
//! after admission (link state, record flags, the qualification answer) is the card's.

use super::{CallKind, CheckContext, Oqs};
use crate::oqs::codes::ReferenceClassification;
use crate::oqs::description::{LinkState, SmartphoneRevocation};
use crate::oqs::message::{CheckRequest, CheckResponse};
use crate::oqs::outcome::Outcome;
use crate::oqs::registry::{CardView, SmartphoneView};
use crate::oqs::rules::{self, CertificateStanding};
use crate::pki::VerifiedCertificate;

impl Oqs {
    /// The answer to a check (or registration) presenting a phone credential.
    pub(super) fn answer_smartphone(
        &self,
        phone: &SmartphoneView,
        request: &CheckRequest,
        kind: CallKind,
        verified: &VerifiedCertificate,
        context: &CheckContext<'_>,
    ) -> CheckResponse {
        let reply = self.reply(context, ReferenceClassification::MyNumberCard);
        let declared_other = request
            .smartphone
            .is_some_and(|declared| declared != phone.kind);
        // 保険証利用登録 takes the card itself (docs/spec/smartphone.md §1.3).
        if declared_other || kind == CallKind::Register {
            return reply.refusal(Outcome::SmartphoneNotRegistered);
        }
        // No face or 目視 route for phones (§3.12): the phone itself must have signed.
        if request.signature.is_none() {
            return reply.refusal(Outcome::RequestInvalid);
        }
        let card = match self.admit_smartphone(phone, verified, context) {
            Ok(card) => card,
            Err(outcome) => return reply.refusal(outcome),
        };
        let (link, _) =
            self.effective_link(card.serial, card.link, card.registered_on, context.date);
        match link {
            LinkState::Registered => {}
            LinkState::NotRegistered
            | LinkState::CancelledOnRequest
            | LinkState::CancelledAfterGrace => {
                return reply.refusal(Outcome::SmartphoneNotRegistered)
            }
            LinkState::RelinkNeeded => {
                if !self.jlis_reachable(context.date) {
                    return reply.refusal(Outcome::JlisUnavailable);
                }
                self.set_override(card.serial, LinkState::Registered, context.date);
            }
        }
        let Some(person) = self.registry.person(phone.person) else {
            return reply.refusal(Outcome::SmartphoneNotRegistered);
        };
        if person.self_information_blocked() {
            return reply.refusal(Outcome::SelfInformationBlocked);
        }
        let options = self.registry.options();
        if (card.mislinked || person.jlis_mismatch()) && context.date >= options.mislink_block_from
        {
            return reply.refusal(Outcome::RecordBlocked);
        }
        let (validity, listed) = super::evaluate_by_card(&person, context.date);
        // Never in grace: a phone past its expiry was refused above.
        reply.answer(validity, &listed, &person, false)
    }

    /// The phone's own validity (no grace), renewal of its card, revocation (its own, and its
    /// card's unless `smartphone_revocation: independent`); the card it was issued on.
    fn admit_smartphone(
        &self,
        phone: &SmartphoneView,
        verified: &VerifiedCertificate,
        context: &CheckContext<'_>,
    ) -> Result<CardView, Outcome> {
        let date = context.date;
        let options = self.registry.options();
        match rules::certificate_standing(
            date,
            verified.not_before,
            verified.not_after,
            options.grace,
        ) {
            CertificateStanding::NotYetValid => return Err(Outcome::CertificateNotYetValid),
            CertificateStanding::Valid => {}
            // The grace period covers only the physical card (docs/spec/smartphone.md §4.14).
            CertificateStanding::Grace | CertificateStanding::Expired => {
                return Err(Outcome::SmartphoneExpired)
            }
        }
        let Some(card) = self.registry.card(phone.card_serial) else {
            return Err(Outcome::SmartphoneNotRegistered);
        };
        if phone.revoked.is_some_and(|revoked| revoked.on <= date) {
            return Err(Outcome::SmartphoneRevoked);
        }
        if phone.card_renewed_on.is_some_and(|renewed| renewed <= date) {
            return Err(Outcome::SmartphoneReissueNeeded);
        }
        let card_revoked = card.revoked.is_some_and(|revoked| revoked.on <= date);
        if card_revoked && options.smartphone_revocation == SmartphoneRevocation::WithCard {
            return Err(Outcome::SmartphoneRevoked);
        }
        Ok(card)
    }
}
