//! The facts the code relies on are in the repository: every citation of a spec file points at
//! `docs/spec/`, and every section it names exists there (a heading, or a numbered item).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const SPEC_FILES: [&str; 5] = [
    "card-apdu.md",
    "card-measured.md",
    "qualification.md",
    "oqs-xml.md",
    "smartphone.md",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every file of the checkout that can cite a spec (code, tests, the suite, the docs), outside
/// docs/spec itself.
fn citing_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending: Vec<PathBuf> = [
        "src",
        "tests",
        "certify",
        "scenarios",
        "benches",
        "fuzz",
        "docs",
        "fixtures",
    ]
    .iter()
    .map(|dir| root().join(dir))
    .collect();
    pending.push(root().join("README.md"));
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            if path.ends_with("docs/spec") || path.ends_with("fuzz/target") {
                continue;
            }
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("rs" | "md" | "yaml" | "yml" | "py" | "sh" | "toml")
        ) {
            out.push(path);
        }
    }
    out
}

/// The section numbers a spec file defines: its numbered headings (`## 6.`, `### 6.10`), and its
/// numbered list items, both as numbered through the file (`§24`) and within their section
/// (`§7.6`).
fn sections(spec: &str) -> BTreeSet<String> {
    let mut numbers = BTreeSet::new();
    let mut section = String::new();
    for line in spec.lines() {
        let number_of = |text: &str| -> Option<String> {
            let digits: String = text
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let digits = digits.trim_end_matches('.').to_owned();
            (!digits.is_empty() && digits.starts_with(|c: char| c.is_ascii_digit()))
                .then_some(digits)
        };
        if let Some(heading) = line.strip_prefix('#') {
            let text = heading.trim_start_matches('#').trim_start();
            if let Some(number) = number_of(text) {
                if !number.contains('.') {
                    section = number.clone();
                }
                numbers.insert(number);
            }
        } else if let Some(number) = number_of(line) {
            if line[number.len()..].starts_with(". ") {
                numbers.insert(format!("{section}.{number}"));
                numbers.insert(number);
            }
        }
    }
    numbers
}

/// `card-measured.md §6.10, §8.2` → the numbers after each `§` that follows the file name.
fn cited_sections(text: &str, at: usize) -> Vec<String> {
    let rest = &text[at..];
    let end = rest.find(['\n', ')', ';']).unwrap_or(rest.len()).min(120);
    let mut cited = Vec::new();
    let mut tail = &rest[..end];
    while let Some(position) = tail.find('§') {
        tail = &tail[position + '§'.len_utf8()..];
        let number: String = tail
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let number = number.trim_end_matches('.').to_owned();
        if !number.is_empty() {
            cited.push(number);
        }
    }
    cited
}

#[test]
fn every_spec_citation_points_into_docs_spec_at_a_section_that_exists() {
    let known: Vec<(&str, BTreeSet<String>)> = SPEC_FILES
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(root().join("docs/spec").join(name))
                .unwrap_or_else(|error| panic!("docs/spec/{name}: {error}"));
            (*name, sections(&text))
        })
        .collect();
    let mut problems = Vec::new();
    let mut citations = 0;
    for path in citing_files() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let shown = path.strip_prefix(root()).unwrap().display().to_string();
        if shown == "tests/spec_citations.rs" {
            continue;
        }
        if text.contains("shared/spec") || text.contains("../shared") {
            problems.push(format!(
                "{shown}: cites a file outside the repository (shared/)"
            ));
        }
        for (name, numbers) in &known {
            for (at, _) in text.match_indices(name) {
                // `docs/NAME` is a user page of the same name (docs/smartphone.md), not the spec.
                if text[..at].ends_with("docs/") && root().join("docs").join(name).exists() {
                    continue;
                }
                let line = text[..at].matches('\n').count() + 1;
                if !text[..at].ends_with("docs/spec/") && !shown.starts_with("docs/") {
                    problems.push(format!("{shown}:{line}: `{name}` without docs/spec/"));
                }
                for number in cited_sections(&text, at + name.len()) {
                    citations += 1;
                    if !numbers.contains(&number) {
                        problems.push(format!("{shown}:{line}: {name} §{number} does not exist"));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        citations > 50,
        "only {citations} section citations found: is the scan reading the tree?"
    );
}

#[test]
fn the_section_reader_finds_headings_and_items_and_rejects_what_is_not_there() {
    let spec =
        "# Title\n## 1. One\n1. first\n2. second\n### 1.2 Sub\n## 2. Two\n- 3. not an item\n";
    let numbers = sections(spec);
    for present in ["1", "1.1", "1.2", "2", "1.2"] {
        assert!(numbers.contains(present), "{present} in {numbers:?}");
    }
    assert!(!numbers.contains("3"), "{numbers:?}");
    assert!(!numbers.contains("2.1"), "{numbers:?}");
    assert_eq!(
        cited_sections("card-measured.md §6.10, §8.2 and more", 16),
        ["6.10", "8.2"]
    );
}
