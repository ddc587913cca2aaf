//! `report.html`: one self-contained page (inline style, no scripts, no external assets) with
//! the summary, a row per requirement with its evidence, and the case transcripts behind
//! `<details>`.

use super::Report;
use crate::certify::judge::Status;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Texts from a driver arrive escaped already; this keeps any other out of the page.
            c if c.is_control() && !matches!(c, '\n' | '\t') => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:system-ui,'Noto Sans CJK JP',sans-serif;margin:2em;color:#1b1b1b;background:#fff}
h1{font-size:1.5em;margin-bottom:.2em}
.meta{color:#555;margin-bottom:1em}
.meta td{padding:0 1em 0 0}
.banner{padding:.8em 1em;font-size:1.2em;font-weight:bold;border-radius:4px;margin:1em 0}
.banner.pass{background:#d9f2dd;color:#155724}
.banner.fail{background:#f8d7da;color:#721c24}
table.requirements{border-collapse:collapse;width:100%}
table.requirements th,table.requirements td{border:1px solid #ccc;padding:.4em;vertical-align:top;text-align:left}
table.requirements th{background:#f0f0f0}
td.status{font-weight:bold;white-space:nowrap}
tr.pass td.status{color:#155724;background:#e6f4e8}
tr.fail td.status{color:#721c24;background:#fbe3e5}
tr.not_applicable td.status{color:#555;background:#eee}
tr.not_exercised td.status{color:#7a4b00;background:#fff3cd}
pre{background:#f7f7f7;border:1px solid #ddd;padding:.5em;overflow-x:auto;font-size:.85em}
.kind{font-size:.8em;color:#555;border:1px solid #bbb;border-radius:3px;padding:0 .3em}
details{margin:.3em 0}
";

/// Renders the page.
pub(crate) fn render_html(report: &Report) -> String {
    let mut page = String::new();
    let passed = report.summary.result == Status::Pass;
    page.push_str("<!DOCTYPE html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str(&format!(
        "<title>myna-hil certification: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&report.device_name)
    ));
    page.push_str(&format!(
        "<h1>認証結果 / Certification report: {}</h1>\n",
        escape(&report.device_name)
    ));
    page.push_str("<table class=\"meta\">\n");
    let mut meta = |label: &str, value: &str| {
        page.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>\n",
            escape(label),
            escape(value)
        ));
    };
    meta("date / 実施日", &report.date);
    meta(
        "harness",
        &format!("{} {}", report.harness.name, report.harness.version),
    );
    meta("suite sha256", &report.suite.sha256);
    if let Some(device) = &report.device {
        meta("device (driver)", device);
    }
    meta(
        "run",
        &format!("{} – {}", report.started_at, report.finished_at),
    );
    page.push_str("</table>\n");
    page.push_str(&format!(
        "<div id=\"summary\" class=\"banner {}\">{}: {} passed, {} failed, {} not exercised, {} not applicable{}{}</div>\n",
        if passed { "pass" } else { "fail" },
        if passed {
            "合格 / PASS"
        } else {
            "不合格 / FAIL"
        },
        report.summary.pass,
        report.summary.fail,
        report.summary.not_exercised,
        report.summary.not_applicable,
        if report.summary.not_exercised_ids.is_empty() {
            String::new()
        } else {
            format!(
                " — not exercised: {}",
                escape(&report.summary.not_exercised_ids.join(", "))
            )
        },
        if report.summary.must_failed.is_empty() {
            String::new()
        } else {
            format!(
                " — failed musts: {}",
                escape(&report.summary.must_failed.join(", "))
            )
        }
    ));

    page.push_str("<h2>要件 / Requirements</h2>\n<table class=\"requirements\">\n");
    page.push_str(
        "<tr><th>ID</th><th>Requirement</th><th>Level</th><th>Status</th><th>Evidence</th></tr>\n",
    );
    for requirement in &report.requirements {
        page.push_str(&format!(
            "<tr id=\"req-{id}\" class=\"requirement {status}\" data-status=\"{status}\">",
            id = escape(&requirement.id),
            status = requirement.status.name()
        ));
        page.push_str(&format!(
            "<td>{}</td><td>{}<br><small>{} — {}</small></td><td>{}</td><td class=\"status\">{}</td><td>",
            escape(&requirement.id),
            escape(&requirement.title),
            escape(&requirement.source),
            escape(&requirement.rationale),
            requirement.level.name(),
            requirement.status.name()
        ));
        if let Some(reason) = &requirement.reason {
            page.push_str(&format!(
                "<div class=\"reason\">{}: {}</div>",
                requirement.status.name().replace('_', " "),
                escape(reason)
            ));
        }
        for finding in &requirement.evidence {
            page.push_str(&format!(
                "<div><b>{}</b> <span class=\"kind\">{}</span> {}: {}</div>",
                escape(&finding.case),
                finding.kind.name(),
                finding.status.name(),
                escape(&finding.summary)
            ));
            if !finding.excerpt.is_empty() || finding.oqs_request.is_some() {
                page.push_str("<details><summary>transcript excerpt</summary><pre>");
                page.push_str(&escape(&finding.excerpt.join("\n")));
                if let Some(request) = &finding.oqs_request {
                    page.push_str("\n\nqualification-system request:\n");
                    page.push_str(&escape(
                        &serde_json::to_string_pretty(request).unwrap_or_default(),
                    ));
                }
                page.push_str("</pre></details>");
            }
        }
        page.push_str("</td></tr>\n");
    }
    page.push_str("</table>\n");

    page.push_str("<h2>ケース / Cases</h2>\n");
    for case in &report.cases {
        page.push_str(&format!(
            "<details id=\"case-{}\" class=\"case\"><summary>{} — {}{}</summary><p>evidence for: {}</p><pre>{}</pre></details>\n",
            escape(&case.id),
            escape(&case.id),
            escape(&case.title),
            case.aborted
                .as_ref()
                .map(|reason| format!(" (aborted: {})", escape(reason)))
                .unwrap_or_default(),
            escape(&case.evidence_for.join(", ")),
            escape(&case.transcript)
        ));
    }
    page.push_str("<p><small>PINs are never shown: PIN bytes in transcripts are replaced by XX.</small></p>\n");
    page.push_str("</body>\n</html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
