//! report.html in a real browser: a certification run (a scripted fake driver, the card served
//! to vpcd) writes the page, headless Chromium (Debian package `chromium`) renders it; the DOM
//! has a row per requirement with its status and the case transcripts, and the screenshot is a
//! PNG with something on it. Needs the cargo feature `pcsc` and the Debian packages pcscd,
//! vsmartcard-vpcd and chromium.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking
#![cfg(feature = "pcsc")]

use std::io::Read;
use std::path::Path;
use std::process::Command;

use crate::support::*;

/// Decodes an 8-bit RGB / RGBA PNG (what Chromium writes) into rows of pixels.
fn png_pixels(png: &[u8]) -> (u32, u32, Vec<Vec<[u8; 3]>>) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let mut position = 8;
    let (mut width, mut height, mut channels) = (0u32, 0u32, 0usize);
    let mut compressed = Vec::new();
    while position + 8 <= png.len() {
        let length = u32::from_be_bytes(png[position..position + 4].try_into().unwrap()) as usize;
        let kind = &png[position + 4..position + 8];
        let data = &png[position + 8..position + 8 + length];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into().unwrap());
                height = u32::from_be_bytes(data[4..8].try_into().unwrap());
                assert_eq!(data[8], 8, "bit depth");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    other => panic!("colour type {other}"),
                };
                assert_eq!(data[12], 0, "interlaced");
            }
            b"IDAT" => compressed.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
        position += 12 + length;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&compressed[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = width as usize * channels;
    let mut previous = vec![0u8; stride];
    let mut rows = Vec::new();
    for line in raw.chunks(stride + 1).take(height as usize) {
        let (filter, bytes) = (line[0], &line[1..]);
        let mut current = vec![0u8; stride];
        for i in 0..stride {
            let left = if i >= channels {
                current[i - channels]
            } else {
                0
            };
            let up = previous[i];
            let up_left = if i >= channels {
                previous[i - channels]
            } else {
                0
            };
            let predictor = match filter {
                0 => 0,
                1 => left,
                2 => up,
                3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                4 => {
                    let p = i16::from(left) + i16::from(up) - i16::from(up_left);
                    let (pa, pb, pc) = (
                        (p - i16::from(left)).abs(),
                        (p - i16::from(up)).abs(),
                        (p - i16::from(up_left)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        left
                    } else if pb <= pc {
                        up
                    } else {
                        up_left
                    }
                }
                other => panic!("PNG filter {other}"),
            };
            current[i] = bytes[i].wrapping_add(predictor);
        }
        rows.push(
            current
                .chunks(channels)
                .map(|pixel| [pixel[0], pixel[1], pixel[2]])
                .collect(),
        );
        previous = current;
    }
    (width, height, rows)
}

#[test]
fn chromium_renders_the_report_with_a_row_per_requirement() {
    let chromium = require_program("chromium", "chromium");
    let dir = tempfile::tempdir().unwrap();
    let report_dir = dir.path().join("report");
    {
        let Some(_pcscd) = Pcscd::ensure() else {
            return;
        };
        let driver = format!(
            "sh {} ok none",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/fake_driver.sh")
                .display()
        );
        let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
            .args(["certify", "--quiet", "--driver", &driver])
            .args(["--device-name", "Example Reader <X-1>", "--report"])
            .arg(&report_dir)
            .args(["--case", "pin-valid", "face-valid", "outage"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let page = report_dir.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    for external in ["<script", "<link", "src=\"http", "url(http"] {
        assert!(
            !html.contains(external),
            "external asset or script: {external}"
        );
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("report.json")).unwrap())
            .unwrap();
    let url = format!("file://{}", page.display());
    let profile = dir.path().join("chromium-profile");
    let common = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--hide-scrollbars".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ];

    let dom = Command::new(&chromium)
        .args(&common)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    for requirement in report["requirements"].as_array().unwrap() {
        let id = requirement["id"].as_str().unwrap();
        let status = requirement["status"].as_str().unwrap();
        let row = format!("<tr id=\"req-{id}\" class=\"requirement {status}\"");
        assert!(dom.contains(&row), "no row {row} in the rendered DOM");
    }
    // Failures of this run (the fake device never talks to the card) are in the table.
    assert!(dom.contains("class=\"requirement fail\""));
    assert!(dom.contains("no PIN qualification check was made"));
    // The device name is escaped, the transcripts are there behind <details>.
    assert!(dom.contains("Example Reader &lt;X-1&gt;"));
    assert!(dom.contains("<details id=\"case-pin-valid\""));
    assert!(dom.contains("enter_pin (the card's PIN, hidden)"));
    assert!(!dom.contains("\"pin\":\"1234\""));

    let screenshot = dir.path().join("report.png");
    let shot = Command::new(&chromium)
        .args(&common)
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg("--window-size=1280,1600")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let (width, height, rows) = png_pixels(&std::fs::read(&screenshot).unwrap());
    assert_eq!((width, height), (1280, 1600));
    let background = rows[0][0];
    let pixels = rows.iter().flatten().count();
    let drawn = rows.iter().flatten().filter(|p| **p != background).count();
    assert!(
        drawn * 100 > pixels,
        "the screenshot is nearly blank: {drawn} of {pixels} pixels differ from the background"
    );
    // The red banner of a failed certification is drawn (#f8d7da).
    assert!(
        rows.iter().flatten().any(|p| *p == [0xf8, 0xd7, 0xda]),
        "no failure banner colour in the screenshot"
    );
    assert_japanese_renders_as_glyphs(&chromium, dir.path(), &html);
}

/// Kana and the common kanji: what the report's Japanese is written in.
fn is_japanese(c: char) -> bool {
    matches!(c, '\u{3041}'..='\u{30FE}' | '\u{4E00}'..='\u{9FFE}')
}

/// The same page with every Japanese character replaced by its neighbour in the same block: as
/// glyphs it looks different, as the boxes of a missing font it looks the same.
fn with_other_japanese(html: &str) -> String {
    html.chars()
        .map(|c| {
            if is_japanese(c) {
                char::from_u32(u32::from(c) + 1).unwrap()
            } else {
                c
            }
        })
        .collect()
}

/// A screenshot of `page` as pixel rows; `fontconfig` limits the fonts Chromium may use.
fn screenshot(
    chromium: &Path,
    dir: &Path,
    page: &Path,
    fontconfig: Option<&Path>,
) -> Vec<Vec<[u8; 3]>> {
    let png = page.with_extension("png");
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.join("chromium-profile").display()
        ))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1280,1600")
        .arg(format!("file://{}", page.display()));
    if let Some(config) = fontconfig {
        command.env("FONTCONFIG_FILE", config);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    png_pixels(&std::fs::read(&png).unwrap()).2
}

/// The report's Japanese renders as glyphs (Debian's fonts-noto-cjk, which scripts/install-deps
/// installs): replacing each Japanese character by another changes the picture. The control run
/// shows the comparison can fail: with fontconfig limited to DejaVu (no Japanese), both pages
/// render the same boxes.
fn assert_japanese_renders_as_glyphs(chromium: &Path, dir: &Path, html: &str) {
    let japanese = html.chars().filter(|c| is_japanese(*c)).count();
    assert!(
        japanese >= 10,
        "the report has Japanese text ({japanese} characters)"
    );
    let page = dir.join("japanese.html");
    let other = dir.join("other-japanese.html");
    std::fs::write(&page, html).unwrap();
    std::fs::write(&other, with_other_japanese(html)).unwrap();

    assert!(
        screenshot(chromium, dir, &page, None) != screenshot(chromium, dir, &other, None),
        "the report's Japanese renders as boxes: install fonts-noto-cjk (apt-get install fonts-noto-cjk)"
    );

    let no_japanese = dir.join("fonts-without-japanese.conf");
    std::fs::write(
        &no_japanese,
        format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"urn:fontconfig:fonts.dtd\">\n\
             <fontconfig><dir>/usr/share/fonts/truetype/dejavu</dir><cachedir>{}</cachedir></fontconfig>\n",
            dir.join("fontconfig-cache").display()
        ),
    )
    .unwrap();
    assert!(
        screenshot(chromium, dir, &page, Some(&no_japanese))
            == screenshot(chromium, dir, &other, Some(&no_japanese)),
        "without a Japanese font both pages should be the same boxes: the comparison cannot tell glyphs from boxes"
    );
}
