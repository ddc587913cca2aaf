//! The real card as the oracle (`myna-hil card compare`): one fixed, read-only probe run on a
//! real card and on the emulated card of a card file, every difference reported per APDU, the
//! ATR included.
//!
//! The probe only reads and never spends a try: SELECTs of every application and file the
//! vocabulary knows, READ BINARY / READ RECORD, GET DATA, retry counters by VERIFY without
//! data, and error paths that change nothing (unknown AID and FID, wrong P1/P2, a read past
//! the end, a wrong Le, an unknown INS). [`allowed`] is checked before every command is sent,
//! on top of the guard the PC/SC transport applies to a card that is not ours.
//!
//! Contents that may hold personal data (certificates, the 4 attributes, the 個人番号, the
//! photo, card-specific GET DATA objects) are compared by structure and length only: the
//! report holds status words, lengths and the outer TLV tag and length, never the bytes.

use serde::Serialize;

use crate::apdu::ids::{
    common, jpki, juki, surface, text, AID_COMMON, AID_ISD, AID_JPKI, AID_JUKI, AID_SURFACE,
    AID_TEXT, EF_MF_INTERNAL,
};
use crate::apdu::{build, Command, Instruction, StatusWord};
use crate::card::atr::AtrKind;
use crate::transport::{Transport, TransportError};

/// What the report says about personal data, in every output.
pub(crate) const PERSONAL_DATA_NOTE: &str = "contents that may hold personal data (certificates, the 4 attributes, the 個人番号, the photo, card-specific data objects) are compared by structure and length only; no card content is printed or saved";

/// How a step's answer data is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Contents {
    /// Status word and length only: no data is expected (SELECT, VERIFY, error paths).
    StatusOnly,
    /// Status word, length and outer TLV structure: the data may be personal.
    Structure,
}

/// One command of the probe.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ProbeStep {
    pub(crate) label: String,
    #[serde(serialize_with = "hex_string")]
    pub(crate) command: Vec<u8>,
    pub(crate) contents: Contents,
    /// An error path (its status word belongs in a profile overlay when it differs).
    pub(crate) error_path: bool,
}

fn hex_string<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&crate::apdu::to_spaced_hex(bytes))
}

/// Whether the probe may send `capdu` to someone's real card: nothing that spends a try,
/// changes a PIN or a file, signs or authenticates.
pub(crate) fn allowed(capdu: &[u8]) -> bool {
    if crate::apdu::card_change(capdu).is_some() {
        return false;
    }
    match Command::parse(capdu) {
        Ok(command) => {
            !matches!(
                command.instruction(),
                Instruction::ComputeDigitalSignature | Instruction::Verify
            ) || command.is_retry_query()
        }
        // A malformed command is sent only as a deliberate error path, judged by its header.
        Err(_) => !matches!(capdu.get(1), Some(0x2A | 0x88 | 0x20 | 0x21 | 0x24 | 0x2C)),
    }
}

struct ProbeBuilder {
    steps: Vec<ProbeStep>,
}

impl ProbeBuilder {
    fn push(&mut self, label: impl Into<String>, command: Vec<u8>, contents: Contents) {
        self.steps.push(ProbeStep {
            label: label.into(),
            command,
            contents,
            error_path: false,
        });
    }

    fn error(&mut self, label: impl Into<String>, command: Vec<u8>) {
        self.steps.push(ProbeStep {
            label: label.into(),
            command,
            contents: Contents::StatusOnly,
            error_path: true,
        });
    }

    fn select_aid(&mut self, name: &str, aid: &[u8]) {
        let mut command = vec![0x00, 0xA4, 0x04, 0x0C, aid.len() as u8];
        command.extend_from_slice(aid);
        self.push(format!("SELECT {name}"), command, Contents::StatusOnly);
    }

    fn select_ef(&mut self, app: &str, fid: u16) {
        self.push(
            format!("{app}: SELECT EF {fid:04X}"),
            build::select_fid(fid),
            Contents::StatusOnly,
        );
    }

    /// The first bytes (a TLV header) and the first 256 bytes of a transparent EF.
    fn read_ef(&mut self, app: &str, fid: u16) {
        self.select_ef(app, fid);
        self.push(
            format!("{app}: READ BINARY EF {fid:04X}, 4 bytes"),
            build::read_binary(0, 4),
            Contents::Structure,
        );
        self.push(
            format!("{app}: READ BINARY EF {fid:04X}, Le 00"),
            build::read_binary(0, 256),
            Contents::Structure,
        );
    }

    fn read_record(&mut self, app: &str, fid: u16) {
        self.select_ef(app, fid);
        self.push(
            format!("{app}: READ RECORD 1 of EF {fid:04X}"),
            vec![0x00, 0xB2, 0x01, 0x04, 0x00],
            Contents::Structure,
        );
    }

    fn retry_counter(&mut self, app: &str, fid: u16) {
        self.select_ef(app, fid);
        self.push(
            format!("{app}: retry counter of EF {fid:04X} (VERIFY without data)"),
            build::retry_query(),
            Contents::StatusOnly,
        );
    }
}

const PREFIX_SELECT: &str = "SELECT by a leading part of the JPKI AID";

/// GET DATA tags answered at the MF level (docs/spec/card-measured.md §3.2).
const GET_DATA_TAGS: [u16; 9] = [
    0x0042, 0x0045, 0x0066, 0x00F0, 0x00F2, 0x00F7, 0x00F8, 0x7F21, 0x5F51,
];

/// The fixed probe, in the order it is sent.
pub(crate) fn probe() -> Vec<ProbeStep> {
    let mut probe = ProbeBuilder { steps: Vec::new() };
    // The MF level, where the card starts.
    probe.select_aid("the MF level (ISD)", &AID_ISD);
    for tag in GET_DATA_TAGS {
        let [p1, p2] = tag.to_be_bytes();
        probe.push(
            format!("MF: GET DATA {tag:04X}"),
            vec![0x00, 0xCA, p1, p2, 0x00],
            Contents::Structure,
        );
    }
    probe.select_ef("MF", EF_MF_INTERNAL);
    probe.push(
        format!("MF: READ BINARY EF {EF_MF_INTERNAL:04X}"),
        build::read_binary(0, 4),
        Contents::Structure,
    );

    // A leading part of the JPKI AID (JICSAP 4.2 (1)): whether the card takes a prefix.
    probe.error(PREFIX_SELECT, {
        let mut command = vec![0x00, 0xA4, 0x04, 0x0C, 0x05];
        command.extend_from_slice(&AID_JPKI[..5]);
        command
    });

    // JPKI.
    probe.select_aid("JPKI", &AID_JPKI);
    for fid in [
        jpki::EF_TOKEN_INFO,
        jpki::EF_CERTIFICATE_PRESENCE,
        jpki::EF_AUTH_CERTIFICATE,
        jpki::EF_AUTH_CA_CERTIFICATE,
        jpki::EF_SIGNING_CERTIFICATE,
        jpki::EF_SIGNING_CA_CERTIFICATE,
    ] {
        probe.read_ef("JPKI", fid);
    }
    for fid in [jpki::EF_AUTH_KEY, jpki::EF_SIGNING_KEY] {
        probe.select_ef("JPKI", fid);
    }
    for fid in [jpki::EF_AUTH_PIN, jpki::EF_SIGNING_PIN] {
        probe.retry_counter("JPKI", fid);
    }
    probe.error("JPKI: SELECT of an unknown FID", build::select_fid(0xEEEE));
    probe.error(
        "JPKI: SELECT with a wrong P1",
        vec![0x00, 0xA4, 0x07, 0x0C, 0x02, 0x00, 0x0A],
    );
    probe.error(
        "JPKI: SELECT with a wrong P2",
        vec![0x00, 0xA4, 0x02, 0x7C, 0x02, 0x00, 0x0A],
    );
    probe.select_ef("JPKI", jpki::EF_AUTH_CA_CERTIFICATE);
    probe.error(
        "JPKI: READ BINARY past the end",
        vec![0x00, 0xB0, 0x7F, 0x00, 0x01],
    );
    probe.error(
        "JPKI: READ BINARY with a wrong Le (extended Le 0000 on a short read)",
        vec![0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00],
    );
    probe.error(
        "JPKI: READ BINARY with an SFI that names no file",
        vec![0x00, 0xB0, 0x9E, 0x00, 0x01],
    );
    probe.error("an unknown INS", vec![0x00, 0xFE, 0x00, 0x00]);

    // 券面事項入力補助AP.
    probe.select_aid("券面事項入力補助AP", &AID_TEXT);
    for fid in [
        text::EF_MY_NUMBER,
        text::EF_BASIC_FOUR,
        text::EF_SIGNATURE,
        text::EF_CV_CERTIFICATE,
        text::EF_BASIC_INFO,
        text::EF_SESSION_KEY,
        text::EF_CARD_KEY_RECORD,
        text::EF_UNKNOWN_0008,
    ] {
        probe.read_ef("text AP", fid);
    }
    for fid in [text::EF_BLOCKED_KEY, text::EF_CARD_KEY] {
        probe.select_ef("text AP", fid);
    }
    for fid in [text::EF_TEXT_PIN, text::EF_MATCH_A, text::EF_MATCH_B] {
        probe.retry_counter("text AP", fid);
    }

    // 券面事項確認AP.
    probe.select_aid("券面事項確認AP", &AID_SURFACE);
    for fid in [
        surface::EF_AGE_RECORD,
        surface::EF_CARD_FACE,
        surface::EF_BASIC_INFO,
        surface::EF_CV_CERTIFICATE,
        surface::EF_MY_NUMBER_IMAGE,
        surface::EF_UNKNOWN_0006,
    ] {
        probe.read_ef("surface AP", fid);
    }
    probe.select_ef("surface AP", surface::EF_CARD_KEY);
    for fid in [
        surface::EF_BIRTH_DATE_KEY,
        surface::EF_MATCH_A,
        surface::EF_MATCH_B,
    ] {
        probe.retry_counter("surface AP", fid);
    }

    // 共通AP and 住基AP.
    probe.select_aid("共通AP", &AID_COMMON);
    probe.read_record("共通AP", common::EF_CARD_INFO);
    probe.read_record("共通AP", common::EF_KEY_REFERENCE);
    probe.select_ef("共通AP", common::EF_INTERNAL_AUTH_KEY);
    probe.retry_counter("共通AP", common::EF_PIN);
    probe.select_aid("住基AP", &AID_JUKI);
    probe.read_record("住基AP", juki::EF_KEY_REFERENCE);
    probe.retry_counter("住基AP", juki::EF_PIN);

    // Back at the top: an AID no application has.
    probe.error(
        "SELECT of an unknown AID",
        vec![
            0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00,
            0xFF,
        ],
    );
    probe.steps
}

/// What one side answered to one step, without its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Seen {
    /// `90 00`, or the transport's failure.
    pub(crate) status: String,
    pub(crate) length: usize,
    /// The outer TLV tag and declared length, for data that looks like BER-TLV.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) structure: Option<String>,
}

impl Seen {
    fn of(answer: &Result<Vec<u8>, TransportError>, contents: Contents) -> Seen {
        match answer {
            Err(error) => Seen {
                status: format!("error: {}", error.failure().kind),
                length: 0,
                structure: None,
            },
            Ok(rapdu) => {
                let status = StatusWord::from_rapdu(rapdu)
                    .map_or_else(|| "no status word".to_owned(), |sw| format!("{:04X}", sw.0));
                let data = rapdu.get(..rapdu.len().saturating_sub(2)).unwrap_or(&[]);
                Seen {
                    status,
                    length: data.len(),
                    structure: match contents {
                        Contents::Structure => tlv_outline(data),
                        Contents::StatusOnly => None,
                    },
                }
            }
        }
    }
}

/// "tag 30, length 1234" for BER-TLV data (one- or two-byte tag, definite length).
fn tlv_outline(data: &[u8]) -> Option<String> {
    let (&first, rest) = data.split_first()?;
    let (tag, rest) = if first & 0x1F == 0x1F {
        let (&second, rest) = rest.split_first()?;
        (u16::from_be_bytes([first, second]), rest)
    } else {
        (u16::from(first), rest)
    };
    let (&length_byte, rest) = rest.split_first()?;
    let length = match length_byte {
        0x00..=0x7F => usize::from(length_byte),
        0x81 => usize::from(*rest.first()?),
        0x82 => usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?])),
        _ => return None,
    };
    Some(format!("tag {tag:02X}, length {length}"))
}

/// One step as both cards answered it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StepComparison {
    #[serde(flatten)]
    pub(crate) step: ProbeStep,
    pub(crate) real: Seen,
    pub(crate) emulated: Seen,
    pub(crate) same: bool,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct AtrComparison {
    pub(crate) real: String,
    pub(crate) real_kind: String,
    pub(crate) emulated: String,
    pub(crate) emulated_kind: String,
    pub(crate) same: bool,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Comparison {
    pub(crate) real_reader: String,
    pub(crate) card_file: String,
    pub(crate) personal_data: &'static str,
    pub(crate) atr: AtrComparison,
    pub(crate) steps: Vec<StepComparison>,
    pub(crate) differences: usize,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CompareError {
    #[error("{side} card: {source}")]
    Transport {
        side: &'static str,
        source: TransportError,
    },
    #[error("the probe holds a command that is not read-only: {0} (a bug; nothing was sent)")]
    NotReadOnly(String),
}

/// Runs the probe on one card: connect (the ATR), every step, disconnect.
fn run_probe(
    transport: &mut dyn Transport,
    steps: &[ProbeStep],
    side: &'static str,
) -> Result<(Vec<u8>, Vec<Seen>), CompareError> {
    let atr = transport
        .connect()
        .map_err(|source| CompareError::Transport { side, source })?;
    let mut seen = Vec::with_capacity(steps.len());
    for step in steps {
        seen.push(Seen::of(&transport.transmit(&step.command), step.contents));
    }
    if let Err(error) = transport.disconnect() {
        tracing::debug!(%error, side, "releasing the card");
    }
    Ok((atr, seen))
}

/// Runs the probe on both cards and compares every answer.
pub(crate) fn compare(
    real: &mut dyn Transport,
    emulated: &mut dyn Transport,
    card_file: &str,
) -> Result<Comparison, CompareError> {
    let steps = probe();
    if let Some(step) = steps.iter().find(|step| !allowed(&step.command)) {
        return Err(CompareError::NotReadOnly(step.label.clone()));
    }
    let (real_atr, real_seen) = run_probe(real, &steps, "real")?;
    let (emulated_atr, emulated_seen) = run_probe(emulated, &steps, "emulated")?;
    let atr = AtrComparison {
        real: crate::apdu::to_spaced_hex(&real_atr),
        real_kind: AtrKind::of(&real_atr).describe(),
        emulated: crate::apdu::to_spaced_hex(&emulated_atr),
        emulated_kind: AtrKind::of(&emulated_atr).describe(),
        same: real_atr == emulated_atr,
    };
    let steps: Vec<StepComparison> = steps
        .into_iter()
        .zip(real_seen.into_iter().zip(emulated_seen))
        .map(|(step, (real, emulated))| StepComparison {
            same: real == emulated,
            step,
            real,
            emulated,
        })
        .collect();
    let differences = steps.iter().filter(|step| !step.same).count() + usize::from(!atr.same);
    Ok(Comparison {
        real_reader: real.describe(),
        card_file: card_file.to_owned(),
        personal_data: PERSONAL_DATA_NOTE,
        atr,
        steps,
        differences,
    })
}

fn describe_seen(seen: &Seen) -> String {
    let mut text = format!("{} ({} bytes", seen.status, seen.length);
    if let Some(structure) = &seen.structure {
        text.push_str(", ");
        text.push_str(structure);
    }
    text.push(')');
    text
}

impl Comparison {
    /// The human report: the ATR, then each difference.
    pub(crate) fn render(&self) -> String {
        let mut out = format!(
            "card compare: {} against {}\n{}\n\nATR  real     {}  {}\n     emulated {}  {}\n",
            self.real_reader,
            self.card_file,
            PERSONAL_DATA_NOTE,
            self.atr.real,
            self.atr.real_kind,
            self.atr.emulated,
            self.atr.emulated_kind
        );
        out.push_str(if self.atr.same {
            "     same\n\n"
        } else {
            "     DIFFERENT\n\n"
        });
        for step in self.steps.iter().filter(|step| !step.same) {
            out.push_str(&format!(
                "DIFF {}  [{}]\n     real     {}\n     emulated {}\n",
                step.step.label,
                crate::apdu::to_spaced_hex(&step.step.command),
                describe_seen(&step.real),
                describe_seen(&step.emulated)
            ));
        }
        out.push_str(&format!(
            "\n{} APDUs compared, {} difference(s){}\n",
            self.steps.len(),
            self.differences,
            if self.atr.same {
                ""
            } else {
                " (the ATR counts as one)"
            }
        ));
        out
    }

    /// A card description overlay with what differs and a card file can say today (the ATR, the
    /// `options` that explain a difference), and, as comments, the file sizes and status words
    /// that differ. Holds no card content.
    pub(crate) fn profile_overlay(&self) -> String {
        let mut yaml = format!(
            "# myna-hil card compare: the real card in {} against {}.\n\
             # Merge into the card file's `card:` section. {}.\n",
            self.real_reader, self.card_file, PERSONAL_DATA_NOTE
        );
        let options = self.option_overlay();
        if self.atr.same && options.is_empty() {
            yaml.push_str("card: {}\n");
        } else {
            yaml.push_str("card:\n");
        }
        if !self.atr.same {
            let atr = match crate::apdu::parse_hex(&self.atr.real)
                .ok()
                .map(|bytes| AtrKind::of(&bytes))
            {
                Some(AtrKind::ContactlessTypeB { atqb }) => format!(
                    "{{ type_b: {{ application_data: \"{}\", protocol_info: \"{}\", mbli: {} }} }}",
                    crate::apdu::to_spaced_hex(&atqb.application_data),
                    crate::apdu::to_spaced_hex(&atqb.protocol_info),
                    atqb.mbli
                ),
                _ => format!("{{ custom: \"{}\" }}", self.atr.real),
            };
            yaml.push_str(&format!("  # {}\n  atr: {atr}\n", self.atr.real_kind));
        }
        if !options.is_empty() {
            yaml.push_str("  options:\n");
            for (key, value, why) in options {
                yaml.push_str(&format!("    # {why}\n    {key}: {value}\n"));
            }
        }
        let differing: Vec<&StepComparison> = self.steps.iter().filter(|step| !step.same).collect();
        if !differing.is_empty() {
            yaml.push_str(
                "# Differences a card file cannot express yet (evidence for the emulation):\n",
            );
            for step in differing {
                let what = if step.step.error_path {
                    "status word"
                } else {
                    "answer"
                };
                yaml.push_str(&format!(
                    "#   {} ({what}): real {}, emulated {}\n",
                    step.step.label,
                    describe_seen(&step.real),
                    describe_seen(&step.emulated)
                ));
            }
        }
        yaml
    }
}

impl Comparison {
    fn step(&self, label: &str) -> Option<&StepComparison> {
        self.steps.iter().find(|step| step.step.label == label)
    }

    /// The card file `options` that explain a difference: `(key, value, why)`.
    fn option_overlay(&self) -> Vec<(&'static str, String, String)> {
        let mut options = Vec::new();
        let optional_objects: Vec<&StepComparison> = ["0042", "0045", "0066"]
            .iter()
            .filter_map(|tag| self.step(&format!("MF: GET DATA {tag}")))
            .filter(|step| !step.same)
            .collect();
        if let Some(step) = optional_objects.first() {
            let present = step.real.status == "9000";
            options.push((
                "mf_optional_objects",
                present.to_string(),
                format!(
                    "GET DATA 0042 / 0045 / 0066 at the MF level: real {}",
                    step.real.status
                ),
            ));
        }
        if let Some(step) = self.step(PREFIX_SELECT).filter(|step| !step.same) {
            options.push((
                "select_by_aid_prefix",
                (step.real.status == "9000").to_string(),
                format!("{PREFIX_SELECT}: real {}", step.real.status),
            ));
        }
        let surface = format!(
            "surface AP: retry counter of EF {:04X} (VERIFY without data)",
            surface::EF_MATCH_B
        );
        if let Some(step) = self.step(&surface).filter(|step| !step.same) {
            let tries = u16::from_str_radix(&step.real.status, 16)
                .ok()
                .and_then(|sw| StatusWord(sw).retry_count());
            if let Some(tries) = tries.filter(|tries| *tries > 0) {
                options.push((
                    "surface_match_tries",
                    tries.to_string(),
                    format!(
                        "照合番号B retry counter: real {} (the tries left; the maximum if none were spent)",
                        step.real.status
                    ),
                ));
            }
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_never_spends_a_try_signs_or_writes() {
        let steps = probe();
        assert!(steps.len() > 60);
        for step in &steps {
            assert!(allowed(&step.command), "{}", step.label);
            let command = Command::parse(&step.command);
            if let Ok(command) = command {
                assert!(!command.consumes_try(), "{}", step.label);
                assert!(!command.presents_secret(), "{}", step.label);
            }
        }
        assert!(!allowed(&build::verify(b"1234").unwrap_or_default()));
        assert!(allowed(&build::retry_query()));
        assert!(!allowed(
            &build::compute_digital_signature(&[0u8; 51]).unwrap_or_default()
        ));
        assert!(!allowed(&[0x00, 0xD6, 0x00, 0x00, 0x01, 0x00]));
        assert!(!allowed(&[0x00, 0x24, 0x01, 0x80, 0x02, 0x31, 0x32]));
    }

    #[test]
    fn tlv_outlines_name_tag_and_length() {
        assert_eq!(
            tlv_outline(&[0x30, 0x82, 0x04, 0xD2, 0x30]),
            Some("tag 30, length 1234".into())
        );
        assert_eq!(
            tlv_outline(&[0x5F, 0x51, 0x03, 1, 2, 3]),
            Some("tag 5F51, length 3".into())
        );
        assert_eq!(tlv_outline(&[]), None);
    }
}
