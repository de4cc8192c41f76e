//! `junit.xml` for CI systems: one `<testsuite>` per pack; per case one `<testcase>` for the
//! case (failed when an error-severity check failed, with the reproduce command in
//! `<system-out>`) and one per check that ran (`<failure>` with the evidence for failed
//! error-severity checks; failed warnings pass and carry the evidence in `<system-out>`).
//! Check ids are used verbatim in test names.

use super::record::RunRecord;
use crate::checks::{CheckResult, Severity};
use crate::runner::{CaseOutcome, Verdict};
use std::fmt::Write;

/// Text safe in XML 1.0 content and attribute values: markup characters escaped, CR, LF and
/// tab as character references (so attribute normalisation keeps them), and the characters
/// XML 1.0 cannot carry at all (other C0 controls such as MLLP's 0x0B and 0x1C) written as
/// `[0x0B]`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "[0x{:02X}]", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn seconds(duration: std::time::Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

fn check_name(case: &CaseOutcome, check: &CheckResult) -> String {
    match check.step {
        Some(step) => format!("{} › {} (step {step})", case.name, check.id),
        None => format!("{} › {}", case.name, check.id),
    }
}

fn write_case(out: &mut String, classname: &str, case: &CaseOutcome) {
    let failed = case.verdict() == Verdict::Failed;
    let _ = writeln!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\">",
        escape(classname),
        escape(&case.name),
        seconds(case.duration)
    );
    if failed {
        let ids: Vec<&str> = case
            .failures()
            .filter(|r| r.severity == Severity::Error)
            .map(|r| r.id.as_str())
            .collect();
        let _ = writeln!(
            out,
            "      <failure type=\"conformance\" message=\"{}\">{}</failure>",
            escape(&format!("failed: {}", ids.join(", "))),
            escape(&format!("reproduce: {}", case.reproduce))
        );
    }
    let mut system_out = String::new();
    for sent in &case.sent {
        let _ = writeln!(system_out, "sent: {sent}");
    }
    let _ = writeln!(system_out, "reproduce: {}", case.reproduce);
    let _ = writeln!(out, "      <system-out>{}</system-out>", escape(&system_out));
    out.push_str("    </testcase>\n");
    for check in &case.results {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"0.000\"",
            escape(classname),
            escape(&check_name(case, check))
        );
        if check.passed {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        let detail = format!("{}\nrule: {}", check.evidence, check.rule);
        if check.severity == Severity::Error {
            let _ = writeln!(
                out,
                "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                escape(&check.id),
                escape(&check.evidence),
                escape(&detail)
            );
        } else {
            let _ = writeln!(
                out,
                "      <system-out>{}</system-out>",
                escape(&format!("{} {}: {detail}", check.severity, check.id))
            );
        }
        out.push_str("    </testcase>\n");
    }
}

/// The `junit.xml` document.
pub fn junit(record: &RunRecord) -> String {
    let outcome = record.outcome;
    let testcases =
        |cases: &[CaseOutcome]| -> usize { cases.iter().map(|c| 1 + c.results.len()).sum() };
    let failures = |cases: &[CaseOutcome]| -> usize {
        cases
            .iter()
            .map(|c| {
                usize::from(c.verdict() == Verdict::Failed)
                    + c.failures().filter(|r| r.severity == Severity::Error).count()
            })
            .sum()
    };
    let (mut tests, mut failed) = (0, 0);
    for pack in &outcome.packs {
        tests += testcases(&pack.cases);
        failed += failures(&pack.cases);
    }
    let regression = record.baseline.as_ref().map(baseline_cases).unwrap_or_default();
    tests += regression.len();
    failed += regression.iter().filter(|c| c.1.is_some()).count();
    tests += outcome.skipped.len();
    let total_time: std::time::Duration =
        record.finished.duration_since(record.started).unwrap_or_default();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"hl7-harness {}\" tests=\"{tests}\" failures=\"{failed}\" errors=\"0\" time=\"{}\">",
        escape(&record.run_id),
        seconds(total_time)
    );
    for pack in &outcome.packs {
        let time: std::time::Duration = pack.cases.iter().map(|c| c.duration).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"{}\" timestamp=\"{}\">",
            escape(&pack.name),
            testcases(&pack.cases),
            failures(&pack.cases),
            seconds(time),
            super::time::rfc3339(record.started).trim_end_matches('Z'),
        );
        out.push_str("    <properties>\n");
        let sha = record.pack(&pack.name).map(|p| p.sha256.clone()).unwrap_or_default();
        for (name, value) in [
            ("run-id", record.run_id.clone()),
            ("harness-version", super::record::HARNESS_VERSION.to_string()),
            ("target", outcome.target.clone()),
            ("seed", outcome.seed.to_string()),
            ("pack-sha256", sha),
            // As the other renderers name it: name, version, path and sha256 of each profile.
            ("target-profile", crate::profile::ProfileUsed::describe(&outcome.profiles)),
        ] {
            let _ = writeln!(out, "      <property name=\"{name}\" value=\"{}\"/>", escape(&value));
        }
        out.push_str("    </properties>\n");
        for case in &pack.cases {
            write_case(&mut out, &format!("{}.{}", pack.name, case.scenario), case);
        }
        out.push_str("  </testsuite>\n");
    }
    // Files that did not run (another transport, no packet-level lab): skipped, with the reason,
    // so a CI dashboard shows what was not tested.
    if !outcome.skipped.is_empty() {
        let count = outcome.skipped.len();
        let _ = writeln!(
            out,
            "  <testsuite name=\"skipped\" tests=\"{count}\" failures=\"0\" errors=\"0\" skipped=\"{count}\" time=\"0\">"
        );
        for (file, reason) in &outcome.skipped {
            let _ = writeln!(
                out,
                "    <testcase name=\"{}\" classname=\"skipped\" time=\"0\">\n      <skipped message=\"{}\"/>\n    </testcase>",
                escape(&file.display().to_string()),
                escape(reason)
            );
        }
        out.push_str("  </testsuite>\n");
    }
    if let Some(comparison) = &record.baseline {
        let failures = regression.iter().filter(|c| c.1.is_some()).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"baseline\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"0\">",
            regression.len()
        );
        let _ = writeln!(
            out,
            "    <properties>\n      <property name=\"baseline\" value=\"{}\"/>\n    </properties>",
            escape(&comparison.dir)
        );
        for (name, failure) in &regression {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"baseline\" time=\"0\"",
                escape(name)
            );
            match failure {
                None => out.push_str("/>\n"),
                Some((message, body)) => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure type=\"regression\" message=\"{}\">{}</failure>\n    </testcase>",
                        escape(message),
                        escape(body)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// A testcase per snapshot that differs from the baseline (failed unless accepted) and one for
/// the unchanged ones: name, and the failure's message and body.
type RegressionCase = (String, Option<(String, String)>);

fn baseline_cases(comparison: &super::baseline::Comparison) -> Vec<RegressionCase> {
    let fail = |message: String, body: String| (!comparison.accepted).then_some((message, body));
    let mut cases = vec![(format!("{} unchanged snapshot(s)", comparison.unchanged), None)];
    for changed in &comparison.changed {
        let message = format!("snapshot changed: {}", changed.title);
        cases.push((format!("changed › {}", changed.path), fail(message, changed.diff.clone())));
    }
    for path in &comparison.new {
        let message = "snapshot not in the baseline".to_string();
        cases.push((format!("new › {path}"), fail(message, String::new())));
    }
    for path in &comparison.missing {
        let message = "baseline snapshot without a case in this run".to_string();
        cases.push((format!("missing › {path}"), fail(message, String::new())));
    }
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(escape(input), expected);
    }

    #[test]
    fn escapes() {
        check("a<b>&\"c'", "a&lt;b&gt;&amp;&quot;c&apos;");
        check("MSH|^~\\&\rPID", "MSH|^~\\&amp;&#13;PID");
        check("\u{0b}MSH\u{1c}\r", "[0x0B]MSH[0x1C]&#13;");
        check("Dø ✓", "Dø ✓");
    }

    #[test]
    fn renders_failures_warnings_and_passes() {
        use crate::report::overview::fixture;
        for (name, failing) in [("junit-failing", true), ("junit-passing", false)] {
            let outcome = fixture::outcome(failing);
            let xml = junit(&fixture::record(&outcome, None));
            insta::assert_snapshot!(name, xml);
        }
    }
}
