//! The deliberately faulty variants of the reference device (`reference-device --fault NAME`),
//! as data: each names the requirements it breaks, so `certify --list-faults` and the fault
//! matrix test read the same list the device implements.
//!
//! The behaviour itself is [`FaultyBehaviour`]: one switch per fault, consulted at the few
//! places where the faulty device differs (the card link decorator
//! [`super::link::DeviceLink`], the service decorators in [`super::http_service`], the
//! reception's end and the report in [`super::ReferenceDevice`]).

/// One fault of the reference device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fault {
    /// The `--fault` name.
    pub(crate) name: &'static str,
    /// Requirement ids this fault must fail (and no other).
    pub(crate) breaks: &'static [&'static str],
    pub(crate) description: &'static str,
}

const FAULTS: &[Fault] = &[
    Fault {
        name: "pin-after-lock",
        breaks: &["CARD-PIN-02"],
        description: "sends VERIFY with the entered PIN although the card said the PIN is blocked",
    },
    Fault {
        name: "reads-signing-cert",
        breaks: &["CARD-READ-02"],
        description: "also reads the signing certificate (JPKI EF 0001) after the auth certificate",
    },
    Fault {
        name: "ignores-63cx",
        breaks: &["CARD-PIN-04"],
        description: "after a wrong PIN (63 Cx) still asks the card to sign and sends the check",
    },
    Fault {
        name: "fatal-6b00",
        breaks: &["CARD-READ-03"],
        description: "treats 6B 00 to READ BINARY as a fatal card error",
    },
    Fault {
        name: "impatient",
        breaks: &["CARD-SLOW-01"],
        description: "gives up on a card answer that takes more than 200 ms",
    },
    Fault {
        name: "no-proof",
        breaks: &["OQS-POP-01"],
        description: "sends the check without challenge and signature",
    },
    Fault {
        name: "qv4-as-valid",
        breaks: &["OQS-RESULT-04"],
        description: "shows QualificationValidity 4 (no qualification) as valid",
    },
    Fault {
        name: "leaves-pin-verified",
        breaks: &["SESSION-01"],
        description: "keeps the card powered and the JPKI AP selected after the reception",
    },
    Fault {
        name: "auto-retry-pin",
        breaks: &["CARD-PIN-03"],
        description: "re-sends the same PIN once on its own after 63 Cx",
    },
    Fault {
        name: "no-retry-query",
        breaks: &["CARD-PIN-01"],
        description: "never queries the retry counter before PIN entry",
    },
    Fault {
        name: "phone-pin-to-card",
        breaks: &["PHONE-PIN-01"],
        description: "also sends the Android phone's PIN as a VERIFY to the card on the face reader",
    },
    Fault {
        name: "face-for-phone",
        breaks: &["PHONE-FACE-01"],
        description: "offers face authentication on the phone screens and sends the phone's check as a face reception",
    },
];

/// Every fault, in the order `--list-faults` prints them.
pub(crate) fn all_faults() -> &'static [Fault] {
    FAULTS
}

#[cfg(test)]
/// The fault named `name`, if there is one.
pub(crate) fn find_fault(name: &str) -> Option<&'static Fault> {
    FAULTS.iter().find(|fault| fault.name == name)
}

/// A `--fault` name that is not in the list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault `{name}`; the faults are: {known}")]
pub struct UnknownFault {
    pub(crate) name: String,
    pub(crate) known: String,
}

/// How the device misbehaves: all false is the correct reference device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FaultyBehaviour {
    pub(crate) pin_after_lock: bool,
    pub(crate) reads_signing_cert: bool,
    pub(crate) ignores_63cx: bool,
    pub(crate) fatal_6b00: bool,
    pub(crate) impatient: bool,
    pub(crate) no_proof: bool,
    pub(crate) qv4_as_valid: bool,
    pub(crate) leaves_pin_verified: bool,
    pub(crate) auto_retry_pin: bool,
    pub(crate) no_retry_query: bool,
    pub(crate) phone_pin_to_card: bool,
    pub(crate) face_for_phone: bool,
}

impl FaultyBehaviour {
    #[cfg(test)]
    /// The correct device.
    pub(crate) fn correct() -> FaultyBehaviour {
        FaultyBehaviour::default()
    }

    /// The behaviour of `--fault NAME` (`None`: the correct device).
    pub(crate) fn from_name(name: Option<&str>) -> Result<FaultyBehaviour, UnknownFault> {
        let mut behaviour = FaultyBehaviour::default();
        let Some(name) = name else {
            return Ok(behaviour);
        };
        let switch = match name {
            "pin-after-lock" => &mut behaviour.pin_after_lock,
            "reads-signing-cert" => &mut behaviour.reads_signing_cert,
            "ignores-63cx" => &mut behaviour.ignores_63cx,
            "fatal-6b00" => &mut behaviour.fatal_6b00,
            "impatient" => &mut behaviour.impatient,
            "no-proof" => &mut behaviour.no_proof,
            "qv4-as-valid" => &mut behaviour.qv4_as_valid,
            "leaves-pin-verified" => &mut behaviour.leaves_pin_verified,
            "auto-retry-pin" => &mut behaviour.auto_retry_pin,
            "no-retry-query" => &mut behaviour.no_retry_query,
            "phone-pin-to-card" => &mut behaviour.phone_pin_to_card,
            "face-for-phone" => &mut behaviour.face_for_phone,
            _ => {
                return Err(UnknownFault {
                    name: name.to_owned(),
                    known: FAULTS
                        .iter()
                        .map(|fault| fault.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        };
        *switch = true;
        Ok(behaviour)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_fault_switches_exactly_one_behaviour() {
        let mut seen = Vec::new();
        for fault in all_faults() {
            let behaviour = FaultyBehaviour::from_name(Some(fault.name)).unwrap();
            assert_ne!(behaviour, FaultyBehaviour::correct(), "{}", fault.name);
            assert!(
                !seen.contains(&behaviour),
                "{} repeats a behaviour",
                fault.name
            );
            seen.push(behaviour);
            assert!(!fault.breaks.is_empty(), "{}", fault.name);
        }
        assert_eq!(seen.len(), 12);
    }

    #[test]
    fn unknown_fault_names_the_known_ones() {
        let error = FaultyBehaviour::from_name(Some("sloppy")).unwrap_err();
        assert!(error.to_string().contains("no-retry-query"), "{error}");
        assert_eq!(
            FaultyBehaviour::from_name(None),
            Ok(FaultyBehaviour::correct())
        );
    }

    #[test]
    fn issue_faults_are_present() {
        for name in [
            "pin-after-lock",
            "reads-signing-cert",
            "ignores-63cx",
            "fatal-6b00",
            "impatient",
            "no-proof",
            "qv4-as-valid",
            "leaves-pin-verified",
            "phone-pin-to-card",
            "face-for-phone",
        ] {
            assert!(find_fault(name).is_some(), "{name}");
        }
    }
}
