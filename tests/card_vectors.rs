//! Runs every APDU vector under scenarios/card/ directly against the card core, with a
//! minimal reading of the card-level scenario format. This keeps the vectors honest even
//! when the full scenario runner (`myna-hil run scenarios/card`) is not what is being tested.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::{Path, PathBuf};

use myna_hil::apdu::parse_hex;
use myna_hil::card::{Card, CardDescription, PinCounters};
use myna_hil::pki::TestPki;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: String,
    #[allow(dead_code)]
    description: Option<String>,
    #[allow(dead_code)]
    #[serde(default)]
    tags: Vec<String>,
    /// Which real readers the runner skips the scenario on; the card itself runs every vector.
    #[allow(dead_code)]
    #[serde(default)]
    skip_on: Option<serde::de::IgnoredAny>,
    card: CardRef,
    steps: Vec<StepFile>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CardRef {
    Path(String),
    Inline(Box<CardDescription>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    label: Option<String>,
    send: Option<String>,
    power: Option<String>,
    pins: Option<PinsFile>,
    expect: Option<ExpectFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectFile {
    sw: Option<String>,
    data: Option<String>,
    data_len: Option<usize>,
    atr: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinsFile {
    auth: Option<serde_json::Value>,
    signing: Option<serde_json::Value>,
    text: Option<serde_json::Value>,
}

/// `'??'` any byte, `'*'` any run, else hex bytes; '?' nibble wildcards in the SW.
fn pattern_matches(pattern: &str, bytes: &[u8]) -> bool {
    let tokens: Vec<&str> = pattern.split_whitespace().collect();
    fn go(tokens: &[&str], bytes: &[u8]) -> bool {
        match tokens.split_first() {
            None => bytes.is_empty(),
            Some((&"*", rest)) => (0..=bytes.len()).any(|skip| go(rest, &bytes[skip..])),
            Some((token, rest)) => {
                let Some((first, remaining)) = bytes.split_first() else {
                    return false;
                };
                (*token == "??" || u8::from_str_radix(token, 16).ok() == Some(*first))
                    && go(rest, remaining)
            }
        }
    }
    go(&tokens, bytes)
}

fn sw_matches(pattern: &str, sw: u16) -> bool {
    let text = format!("{sw:04X}");
    pattern.len() == 4
        && pattern
            .chars()
            .zip(text.chars())
            .all(|(p, c)| p == '?' || p.eq_ignore_ascii_case(&c))
}

fn check_pin(
    which: &str,
    expected: &Option<serde_json::Value>,
    counters: &PinCounters,
) -> Result<(), String> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let actual = match which {
        "auth" => counters.auth,
        "signing" => counters.signing,
        _ => counters.text,
    };
    let ok = match (expected, actual) {
        (serde_json::Value::String(s), None) => s == "none",
        (serde_json::Value::Number(n), Some(state)) => {
            n.as_u64() == Some(u64::from(state.tries_left))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{which} PIN: expected {expected}, card has {actual:?}"
        ))
    }
}

fn run_file(path: &Path, pki: &TestPki) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let scenario: ScenarioFile = serde_saphyr::from_str(&text).map_err(|e| e.to_string())?;
    let description = match scenario.card {
        CardRef::Path(relative) => {
            let card_path = path.parent().unwrap_or(Path::new(".")).join(relative);
            CardDescription::from_yaml_file(&card_path).map_err(|e| e.to_string())?
        }
        CardRef::Inline(description) => *description,
    };
    let mut card = Card::from_description(&description, pki).map_err(|e| e.to_string())?;
    card.power_on();
    for (n, step) in scenario.steps.iter().enumerate() {
        let title = format!(
            "{}: step {} {:?}",
            scenario.name,
            n + 1,
            step.label.as_deref().unwrap_or("")
        );
        if let Some(send) = &step.send {
            let apdu = parse_hex(send).map_err(|e| format!("{title}: {e}"))?;
            let reply = card.process(&apdu);
            let (data, sw) = reply.rapdu.split_at(reply.rapdu.len() - 2);
            let sw = u16::from_be_bytes([sw[0], sw[1]]);
            let expect = step
                .expect
                .as_ref()
                .ok_or(format!("{title}: send without expect"))?;
            if let Some(pattern) = &expect.sw {
                if !sw_matches(pattern, sw) {
                    return Err(format!(
                        "{title}: SW {sw:04X}, expected {pattern} (data {} bytes)",
                        data.len()
                    ));
                }
            }
            if let Some(pattern) = &expect.data {
                if !pattern_matches(pattern, data) {
                    return Err(format!(
                        "{title}: data {data:02X?} does not match {pattern}"
                    ));
                }
            }
            if let Some(length) = expect.data_len {
                if data.len() != length {
                    return Err(format!(
                        "{title}: {} data bytes, expected {length}",
                        data.len()
                    ));
                }
            }
        } else if let Some(power) = &step.power {
            let atr = match power.as_str() {
                "on" => card.power_on(),
                "reset" => card.reset(),
                "off" => {
                    card.power_off();
                    None
                }
                other => return Err(format!("{title}: unknown power action {other}")),
            };
            if let Some(pattern) = step.expect.as_ref().and_then(|e| e.atr.as_ref()) {
                let atr = atr.unwrap_or_default();
                if !pattern_matches(pattern, &atr) {
                    return Err(format!("{title}: ATR {atr:02X?} does not match {pattern}"));
                }
            }
        } else if let Some(pins) = &step.pins {
            let counters = card.pin_counters();
            check_pin("auth", &pins.auth, &counters).map_err(|e| format!("{title}: {e}"))?;
            check_pin("signing", &pins.signing, &counters).map_err(|e| format!("{title}: {e}"))?;
            check_pin("text", &pins.text, &counters).map_err(|e| format!("{title}: {e}"))?;
        } else {
            return Err(format!("{title}: step without action"));
        }
    }
    Ok(scenario.name)
}

#[test]
fn every_card_vector_passes() {
    let pki = TestPki::load().expect("test PKI");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/card");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/card exists")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "expected the card vector suite, found {} files",
        files.len()
    );
    let mut failures = Vec::new();
    let mut names = std::collections::HashSet::new();
    for file in &files {
        match run_file(file, pki) {
            Ok(name) => assert!(names.insert(name.clone()), "duplicate scenario name {name}"),
            Err(error) => failures.push(format!("{}: {error}", file.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vector files failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn the_pattern_matcher_of_this_test_is_strict() {
    assert!(pattern_matches("30 82 ?? ??", &[0x30, 0x82, 1, 2]));
    assert!(!pattern_matches("30 82 ?? ??", &[0x30, 0x82, 1]));
    assert!(pattern_matches("30 *", &[0x30]));
    assert!(!pattern_matches("31 *", &[0x30]));
    assert!(pattern_matches("", &[]));
    assert!(!pattern_matches("", &[0]));
    assert!(sw_matches("63C?", 0x63C2));
    assert!(!sw_matches("63C?", 0x6984));
}
