//! `report.html`: the report in one self-contained page (inline CSS and a few lines of inline
//! JavaScript, no network, no external assets): the summary, the packs with their hashes, and
//! per case the verdict, the checks and, folded, the messages sent and received with timings.
//! A checkbox shows only the cases that failed or warned.

use super::json::verdict_name;
use super::record::{RunRecord, HARNESS_VERSION};
use crate::runner::{CaseOutcome, Verdict};
use std::fmt::Write;

/// Text safe in HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t') => {
                let _ = write!(out, "[0x{:02X}]", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A message for a `<pre>`: one segment per line.
fn message(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    escape(&text.replace("\r\n", "\n").replace('\r', "\n"))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}\
.passed{color:#176f2c}.warned{color:#8a6100}.failed{color:#b00020}\
pre{background:#f6f6f6;padding:.5em;overflow-x:auto}code{font-size:.9em}\
.case{border-top:1px solid #ddd;padding:.3em 0}";

const SCRIPT: &str = "document.getElementById('only-failures').addEventListener('change',\
function(e){document.querySelectorAll('.case').forEach(function(c){\
c.hidden=e.target.checked&&c.dataset.verdict==='passed';});});";

fn case(out: &mut String, case: &CaseOutcome) {
    let verdict = verdict_name(case.verdict());
    let _ = writeln!(
        out,
        "<div class=\"case\" data-verdict=\"{verdict}\"><h3><span class=\"{verdict}\">{}</span> {} › {}</h3>",
        verdict.to_uppercase(),
        escape(&case.scenario),
        escape(&case.name)
    );
    for sent in &case.sent {
        let _ = writeln!(out, "<p>sent: <code>{}</code></p>", escape(sent));
    }
    out.push_str("<table><tr><th>check</th><th>severity</th><th>step</th><th>result</th><th>evidence</th><th>rule</th></tr>\n");
    for check in &case.results {
        let result = if check.passed { "passed" } else { "failed" };
        let class = match (check.passed, check.severity) {
            (true, _) => "passed",
            (false, crate::checks::Severity::Error) => "failed",
            (false, _) => "warned",
        };
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"{class}\">{result}</td><td>{}</td><td>{}</td></tr>",
            escape(check.id),
            check.severity,
            check.step.map(|s| s.to_string()).unwrap_or_default(),
            escape(&check.evidence),
            escape(check.rule)
        );
    }
    out.push_str("</table>\n");
    let _ = writeln!(
        out,
        "<details><summary>messages and timings ({} ms)</summary>",
        case.duration.as_millis()
    );
    for exchange in &case.observation.exchanges {
        let _ = writeln!(
            out,
            "<p>step {}, connection {}{}</p><pre>{}</pre>",
            exchange.step,
            exchange.connection,
            if exchange.faults.is_empty() {
                String::new()
            } else {
                format!(", faults: {}", escape(&exchange.faults.join(", ")))
            },
            message(&exchange.sent)
        );
        for reply in &exchange.replies {
            let _ = writeln!(
                out,
                "<p>reply after {} ms</p><pre>{}</pre>",
                reply.elapsed.as_millis(),
                message(&reply.payload)
            );
        }
        if let Some(event) = &exchange.event {
            let _ = writeln!(out, "<p>{}: {}</p>", escape(&event.code), escape(&event.detail));
        }
        if let Some(http) = &exchange.http {
            let _ = writeln!(out, "<p>HTTP {}</p>", http.status);
        }
    }
    for arrival in &case.observation.arrivals {
        let answered = arrival
            .answered
            .map(|a| format!(", answered at {} ms", a.as_millis()))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<p>arrived at {} ms on connection {}: answer {}{answered}</p><pre>{}</pre>",
            arrival.received.as_millis(),
            arrival.connection,
            escape(&arrival.answer),
            message(&arrival.payload)
        );
    }
    if let Some(sut) = &case.observation.sut {
        let ended = match (&sut.error, sut.killed, sut.exit) {
            (Some(error), _, _) => format!("could not start: {error}"),
            (None, true, _) => "stopped at the case timeout".into(),
            (None, false, Some(code)) => format!("exit {code}"),
            (None, false, None) => "ended by a signal".into(),
        };
        let _ = writeln!(
            out,
            "<p>sender under test: <code>{}</code>: {}</p><pre>{}</pre>",
            escape(&sut.command),
            escape(&ended),
            escape(&sut.output)
        );
    }
    let _ =
        writeln!(out, "<p>reproduce: <code>{}</code></p></details></div>", escape(&case.reproduce));
}

/// The `report.html` document.
pub fn html(record: &RunRecord) -> String {
    let outcome = record.outcome;
    let mut out =
        String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    let _ = writeln!(out, "<title>hl7-harness report {}</title>", escape(&record.run_id));
    let _ = writeln!(out, "<style>{STYLE}</style></head><body>");
    let class = if record.verdict() == super::record::CONFORMANT { "passed" } else { "failed" };
    let _ = writeln!(out, "<h1>hl7-harness conformance report</h1>");
    let _ =
        writeln!(out, "<p>Verdict: <strong class=\"{class}\">{}</strong></p>", record.verdict());
    let count = |v: Verdict| outcome.cases().filter(|c| c.verdict() == v).count();
    let _ = writeln!(out, "<table>");
    for (key, value) in [
        ("Run", record.run_id.clone()),
        ("Target", outcome.target.clone()),
        ("Harness", format!("hl7-harness {HARNESS_VERSION}")),
        ("Seed", outcome.seed.to_string()),
        ("Started", super::time::rfc3339(record.started)),
        ("Finished", super::time::rfc3339(record.finished)),
        (
            "Cases",
            format!(
                "{}: {} passed, {} passed with warnings, {} failed",
                outcome.cases().count(),
                count(Verdict::Passed),
                count(Verdict::Warned),
                count(Verdict::Failed)
            ),
        ),
        ("Patient data", if record.phi_redacted { "redacted" } else { "as sent" }.to_string()),
    ] {
        let _ = writeln!(out, "<tr><th>{key}</th><td>{}</td></tr>", escape(&value));
    }
    if let Some(shard) = outcome.shard {
        let _ = writeln!(out, "<tr><th>Shard</th><td>{shard}</td></tr>");
    }
    out.push_str("</table>\n<h2>Packs</h2>\n<table><tr><th>pack</th><th>sha256</th><th>cases</th><th>failed</th></tr>\n");
    for pack in &outcome.packs {
        let sha = record.pack(&pack.name).map(|p| p.sha256.as_str()).unwrap_or("");
        let failed = pack.cases.iter().filter(|c| c.verdict() == Verdict::Failed).count();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td><code>{sha}</code></td><td>{}</td><td>{failed}</td></tr>",
            escape(&pack.name),
            pack.cases.len()
        );
    }
    out.push_str("</table>\n");
    if !outcome.skipped.is_empty() {
        // What did not run belongs in a sign-off as much as what passed.
        out.push_str("<h2>Skipped</h2>\n<table><tr><th>file</th><th>why</th></tr>\n");
        for (file, reason) in &outcome.skipped {
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                escape(&file.display().to_string()),
                escape(reason)
            );
        }
        out.push_str("</table>\n");
    }
    if let Some(comparison) = &record.baseline {
        let _ = writeln!(out, "<h2>Baseline</h2>\n<p>{}</p>", escape(&comparison.headline()));
        for changed in &comparison.changed {
            let _ = writeln!(
                out,
                "<h3>Changed: {} ({})</h3>\n<pre>{}</pre>",
                escape(&changed.path),
                escape(&changed.title),
                escape(&changed.diff)
            );
        }
        for (label, list) in [("New", &comparison.new), ("Missing", &comparison.missing)] {
            for path in list {
                let _ = writeln!(out, "<p>{label}: <code>{}</code></p>", escape(path));
            }
        }
    }
    out.push_str("<h2>Cases</h2>\n");
    out.push_str("<label><input type=\"checkbox\" id=\"only-failures\"> only failed and warned cases</label>\n");
    for pack in &outcome.packs {
        let _ = writeln!(out, "<h2>{}</h2>", escape(&pack.name));
        for c in &pack.cases {
            case(&mut out, c);
        }
    }
    let _ = writeln!(out, "<script>{SCRIPT}</script>\n</body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(escape(input), expected);
    }

    #[test]
    fn escapes() {
        check("<script>&\"'", "&lt;script&gt;&amp;&quot;&#39;");
        check("\u{0b}MSH\u{1c}", "[0x0B]MSH[0x1C]");
    }
}
