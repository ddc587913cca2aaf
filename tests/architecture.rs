//! The layering the README states, checked on the source: no module imports one of a higher
//! layer, and no two files import each other, directly or round a longer cycle. Paths are read
//! from `use` declarations and from `crate::` / `super::` paths in code; `pub use` re-exports
//! are followed to the file that defines the item, so a parent re-exporting its child is not
//! mistaken for a dependency. `#[cfg(test)]` modules are left out: tests may look anywhere.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layer of each top-level module, low to high (README "Architecture").
const LAYERS: &[(&str, u8)] = &[
    ("apdu", 1),
    ("person", 1),
    ("yaml", 1),
    ("excerpt", 1),
    ("card", 2),
    ("pki", 2),
    ("oqs", 2),
    ("trace", 3),
    ("transport", 4),
    ("reader", 5),
    ("scenario", 6),
    ("replay", 6),
    ("certify", 6),
    ("bench", 6),
    ("cli", 7),
];

/// Same-layer imports that would turn the stated direction round.
const FORBIDDEN: &[(&str, &str)] = &[
    ("pki", "card"),
    ("pki", "oqs"),
    // The qualification system never sees the card, and the card knows nothing of it.
    ("oqs", "card"),
    ("card", "oqs"),
    ("replay", "scenario"),
    ("replay", "certify"),
    ("scenario", "certify"),
    ("scenario", "bench"),
    ("replay", "bench"),
    ("certify", "bench"),
];

struct SourceFile {
    /// Module path, e.g. `["card", "fs"]`; `[]` for lib.rs.
    module: Vec<String>,
    text: String,
}

fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<SourceFile> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&src, &mut files);
    files
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "main.rs"))
        .map(|file| {
            let text = std::fs::read_to_string(&file).unwrap();
            let text = match text.find("#[cfg(test)]") {
                Some(at) => text[..at].to_owned(),
                None => text,
            };
            let text = text
                .lines()
                .filter(|line| {
                    let t = line.trim_start();
                    !t.starts_with("//")
                })
                .collect::<Vec<_>>()
                .join("\n");
            SourceFile {
                module: module_path(&src, &file),
                text,
            }
        })
        .collect()
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = without_aliases(tree);
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(p).into_iter().map(move |e| format!("{prefix}{e}")))
        .collect()
}

/// The tree with `as NAME` renames and all white space removed.
fn without_aliases(tree: &str) -> String {
    let spaced = tree
        .replace('{', " { ")
        .replace('}', " } ")
        .replace(',', " , ");
    let mut out = String::new();
    let mut tokens = spaced.split_whitespace();
    while let Some(token) = tokens.next() {
        if token == "as" {
            tokens.next();
        } else {
            out.push_str(token);
        }
    }
    out
}

/// `use` declarations as (is a `pub use`, expanded path).
fn use_paths(text: &str) -> Vec<(bool, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("use ") {
        let before = &rest[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let head = before[line_start..].trim();
        let is_decl = head.is_empty() || head.starts_with("pub");
        let after = &rest[at + 4..];
        let end = after.find(';').unwrap_or(after.len());
        if is_decl {
            for path in expand(&after[..end]) {
                found.push((!head.is_empty(), path));
            }
        }
        rest = &after[end.min(after.len())..];
    }
    found
}

/// `crate::a::b` paths written inline in code (not in `use` declarations).
fn inline_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("use ") || t.starts_with("pub use ") || t.starts_with("pub(crate) use ") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            found.push(tail[..end].trim_end_matches(':').to_owned());
            rest = &tail[end..];
        }
    }
    found
}

/// Resolves a path written in `from` to absolute segments below `crate`.
fn absolute(from: &[String], path: &str) -> Option<Vec<String>> {
    let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segments.first()? {
        &"crate" => Vec::new(),
        &"super" | &"self" => from.to_vec(),
        _ => return None,
    };
    let mut iter = segments.iter().peekable();
    if segments[0] == "crate" {
        iter.next();
    }
    while let Some(&&segment) = iter.peek() {
        match segment {
            "super" => {
                base.pop()?;
            }
            "self" => {}
            _ => break,
        }
        iter.next();
    }
    base.extend(iter.map(|s| (*s).to_owned()));
    Some(base)
}

struct Graph {
    files: BTreeSet<Vec<String>>,
    /// Names a parent module re-exports, mapped to the module they come from.
    reexports: BTreeMap<(Vec<String>, String), Vec<String>>,
}

impl Graph {
    /// The file that defines what `path` names: the longest module prefix, following re-exports.
    fn file_of(&self, mut path: Vec<String>) -> Vec<String> {
        for _ in 0..8 {
            let mut module = path.clone();
            while !module.is_empty() && !self.files.contains(&module) {
                module.pop();
            }
            let Some(name) = path.get(module.len()) else {
                return module;
            };
            match self.reexports.get(&(module.clone(), name.clone())) {
                Some(target) if target != &module => {
                    let mut next = target.clone();
                    next.extend(path[module.len()..].iter().cloned());
                    path = next;
                }
                _ => return module,
            }
        }
        path
    }
}

fn layer(module: &[String]) -> Option<(&'static str, u8)> {
    let top = module.first()?;
    LAYERS
        .iter()
        .find(|(name, _)| name == top)
        .map(|(name, layer)| (*name, *layer))
}

fn file_edges() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let sources = sources();
    let mut graph = Graph {
        files: sources.iter().map(|s| s.module.clone()).collect(),
        reexports: BTreeMap::new(),
    };
    for source in &sources {
        for (public, path) in use_paths(&source.text) {
            let Some(target) = absolute(&source.module, &path) else {
                continue;
            };
            if public && target.len() > 1 {
                let name = target.last().unwrap().clone();
                let from = target[..target.len() - 1].to_vec();
                graph.reexports.insert((source.module.clone(), name), from);
            }
        }
    }
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for source in &sources {
        let uses = use_paths(&source.text)
            .into_iter()
            .filter(|(public, _)| !public)
            .map(|(_, path)| path);
        for path in uses.chain(inline_paths(&source.text)) {
            let Some(target) = absolute(&source.module, &path) else {
                continue;
            };
            let file = graph.file_of(target);
            if file != source.module && !file.is_empty() {
                edges.entry(source.module.clone()).or_default().insert(file);
            }
        }
    }
    edges
}

#[test]
fn no_module_imports_a_higher_layer() {
    let mut violations = Vec::new();
    for (from, targets) in file_edges() {
        let Some((from_top, from_layer)) = layer(&from) else {
            continue;
        };
        for target in targets {
            let Some((to_top, to_layer)) = layer(&target) else {
                continue;
            };
            if to_layer > from_layer || FORBIDDEN.contains(&(from_top, to_top)) {
                violations.push(format!("{} -> {}", from.join("::"), target.join("::")));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "upward imports:\n{}",
        violations.join("\n")
    );
}

#[test]
fn no_two_files_import_each_other() {
    let edges = file_edges();
    let mut cycles = Vec::new();
    // Depth-first search from every file; a file met again on the current path closes a cycle.
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let cycle: Vec<String> = stack[at..].iter().map(|m| m.join("::")).collect();
            cycles.push(format!("{} -> {}", cycle.join(" -> "), node.join("::")));
            return;
        }
        if done.contains(node) {
            return;
        }
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, stack, done, cycles);
        }
        stack.pop();
        done.insert(node.clone());
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        visit(node, &edges, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_checker_sees_an_upward_import_and_a_cycle() {
    // The parser must find what it is meant to find, or the two tests above prove nothing.
    let text = "use crate::scenario::run::Engine;\nuse crate::oqs::codes::{ReferenceClassification as Class, CharacterCode};\nuse super::{fs::Dir, pin::{Pin, Try}};\nfn f() { crate::oqs::Oqs::new(); }";
    let uses: Vec<String> = use_paths(text).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        uses,
        [
            "crate::scenario::run::Engine",
            "crate::oqs::codes::ReferenceClassification",
            "crate::oqs::codes::CharacterCode",
            "super::fs::Dir",
            "super::pin::Pin",
            "super::pin::Try"
        ]
    );
    assert_eq!(inline_paths(text), ["crate::oqs::Oqs::new"]);
    let from = vec!["card".to_owned(), "text".to_owned()];
    assert_eq!(
        absolute(&from, "super::fs::Dir").unwrap(),
        ["card", "fs", "Dir"]
    );
    assert!(!file_edges().is_empty());
}

/// docs/field.md lists, for the phone's aid_list.xml, exactly the AIDs the card answers: the
/// block between its markers is what `myna-hil card aids` prints, and the standard card
/// answers `90 00` to a SELECT of each.
#[test]
fn the_field_guide_lists_every_aid_the_card_answers() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/field.md"),
    )
    .unwrap();
    let start = doc
        .find("<aid-group")
        .expect("docs/field.md has the aid-group");
    let end = doc[start..].find("</aid-group>").unwrap() + start + "</aid-group>\n".len();
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["card", "aids"])
        .output()
        .unwrap();
    assert!(printed.status.success());
    assert_eq!(
        &doc[start..end],
        String::from_utf8(printed.stdout).unwrap(),
        "docs/field.md's aid-group differs from `myna-hil card aids`: paste its output"
    );

    let description = myna_hil::card::CardDescription::from_yaml_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cards/standard.yaml"),
    )
    .unwrap();
    let mut card = myna_hil::card::Card::from_description(
        &description,
        myna_hil::pki::TestPki::load().unwrap(),
    )
    .unwrap();
    card.power_on().unwrap();
    for (name, aid) in myna_hil::apdu::SELECTABLE_AIDS {
        let mut select = vec![0x00, 0xA4, 0x04, 0x0C, aid.len() as u8];
        select.extend_from_slice(aid);
        let answer = card.process(&select).rapdu;
        assert_eq!(answer, [0x90, 0x00], "SELECT {name}");
    }
}

/// The reader flow drives the card's chip only through `transport`; the one module of
/// `reader` that may import `card` is `collation`, which reads the card's printed face (the
/// stand-in for OCR), never its chip.
#[test]
fn the_reader_reaches_the_chip_only_through_transport() {
    let mut violations = Vec::new();
    for (from, targets) in file_edges() {
        if from.first().map(String::as_str) != Some("reader") {
            continue;
        }
        for target in targets {
            if target.first().map(String::as_str) == Some("card") && from != ["reader", "collation"]
            {
                violations.push(format!("{} -> {}", from.join("::"), target.join("::")));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// Status-word literals and hand decoding of answers found in `text`: `0x6xxx` / `0x9xxx`
/// four-digit literals, `[0x6x, 0x..]` / `[0x9x, 0x..]` byte pairs, masking with `0xFFF0`,
/// and comparing SW1 by shifting (`>> 8 == 0x6…`).
fn status_word_literals(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let is_hex = |b: u8| b.is_ascii_hexdigit();
    for (at, _) in text.match_indices("0x") {
        let digits: Vec<u8> = bytes[at + 2..]
            .iter()
            .copied()
            .take_while(|b| is_hex(*b) || *b == b'_')
            .filter(|b| *b != b'_')
            .collect();
        let first = digits.first().map(u8::to_ascii_uppercase);
        let before = text[..at].trim_end();
        let sw1_byte = digits.len() == 2
            && matches!(first, Some(b'6' | b'9'))
            && before.ends_with('[')
            && text[at + 4..].trim_start().starts_with(",");
        let word = digits.len() == 4 && matches!(first, Some(b'6' | b'9'));
        let mask = digits.eq_ignore_ascii_case(b"FFF0");
        let shifted = before.ends_with(">> 8 ==") && matches!(first, Some(b'6' | b'9'));
        if word || sw1_byte || mask || shifted {
            let end = (at + 2 + digits.len()).min(text.len());
            let line = text[..at].matches('\n').count() + 1;
            found.push(format!("line {line}: {}", &text[at..end]));
        }
    }
    found
}

/// What a status word means (tries left, blocked, wrong length …) is said once, in `apdu`
/// (`StatusWord`, `PinStatus`); the card produces them. Nobody else writes a status word as a
/// number or decodes one by hand (tests aside).
#[test]
fn status_words_are_spoken_only_through_apdu() {
    let mut violations = Vec::new();
    for source in sources() {
        if matches!(
            source.module.first().map(String::as_str),
            Some("apdu" | "card")
        ) {
            continue;
        }
        for literal in status_word_literals(&source.text) {
            violations.push(format!("{}: {literal}", source.module.join("::")));
        }
    }
    assert!(
        violations.is_empty(),
        "status words outside apdu and card (use StatusWord / PinStatus):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_status_word_checker_sees_literals_and_hand_decoding() {
    let text = "let a = 0x63C0;\nlet b = [0x90, 0x00];\nif sw & 0xFFF0 == x {}\nif sw >> 8 == 0x61 {}\nlet port = 0x1F; let c = [0x00, 0xA4];";
    assert_eq!(
        status_word_literals(text),
        [
            "line 1: 0x63C0",
            "line 2: 0x90",
            "line 3: 0xFFF0",
            "line 4: 0x61"
        ]
    );
}

/// One exchange log: commands, answers and card events are held in memory only as
/// `trace::Transcript` entries (`trace::exchange`), and the JSON-lines transcript has one
/// writer and one reader (`trace::record`). Nobody else declares an exchange type or parses a
/// transcript line.
#[test]
fn there_is_one_exchange_log_and_one_reader_of_its_written_form() {
    let mut violations = Vec::new();
    for source in sources() {
        let in_trace = source.module.first().map(String::as_str) == Some("trace");
        for declared in [
            "struct Exchange",
            "enum EventKind",
            "struct ApduExchange",
            "struct Transcript ",
        ] {
            if source.text.contains(declared) && !in_trace {
                violations.push(format!(
                    "{}: declares `{declared}`",
                    source.module.join("::")
                ));
            }
        }
        if source.module != ["trace", "record"]
            && (source.text.contains("from_str::<TraceLine>")
                || source.text.contains(": TraceLine = serde_json")
                || source.text.contains("TraceLine {"))
        {
            violations.push(format!(
                "{}: reads or writes transcript lines itself",
                source.module.join("::")
            ));
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
