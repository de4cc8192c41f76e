//! `summary.md`: the report people read first. Verdict, target, harness version, seed, times,
//! the packs with their content hashes and counts, then every failed check (errors, then
//! warnings) with id, severity, step, evidence, rule and the command that reproduces the case.

use super::record::{RunRecord, HARNESS_VERSION};
use crate::checks::Severity;
use crate::runner::Verdict;
use std::fmt::Write;

/// `text` as Markdown inline code, whatever backticks or pipes it holds: the fence is one
/// backtick longer than the longest run inside, line breaks become `␍`/`␊` marks so a code span
/// never spans lines, and `|` is escaped so it stays inside a table cell.
pub fn code(text: &str) -> String {
    let text = text.replace('\r', "␍").replace('\n', "␊").replace('|', "\\|");
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad =
        if text.starts_with('`') || text.ends_with('`') || text.is_empty() { " " } else { "" };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// Plain text in Markdown: characters that would start markup are escaped.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\`*_[]<>|#".contains(c) {
            out.push('\\');
        }
        match c {
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The comparison with the accepted snapshots: the headline, each changed snapshot with its
/// diff, the new and the missing ones.
fn baseline(out: &mut String, comparison: &super::baseline::Comparison) {
    let _ = writeln!(out, "\n## Baseline\n\n{}\n", plain(&comparison.headline()));
    for changed in &comparison.changed {
        let fence = "`"
            .repeat(changed.diff.split(|c| c != '`').map(str::len).max().unwrap_or(0).max(2) + 1);
        let _ = writeln!(
            out,
            "### Changed: {}\n\n{}\n\n{fence}diff\n{}{fence}\n",
            code(&changed.path),
            plain(&changed.title),
            changed.diff
        );
    }
    for (label, list) in [("New", &comparison.new), ("Missing", &comparison.missing)] {
        for path in list {
            let _ = writeln!(out, "- {label}: {}", code(path));
        }
    }
}

/// The `summary.md` document.
pub fn summary(record: &RunRecord) -> String {
    let outcome = record.outcome;
    let mut out = String::new();
    let total = outcome.cases().count();
    let count = |v: Verdict| outcome.cases().filter(|c| c.verdict() == v).count();
    let _ = writeln!(out, "# hl7-harness conformance report\n");
    let _ = writeln!(out, "**Verdict: {}**\n", record.verdict());
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Run | {} |", code(&record.run_id));
    let _ = writeln!(out, "| Target | {} |", code(&outcome.target));
    let _ = writeln!(
        out,
        "| Target profile | {} |",
        crate::profile::ProfileUsed::describe(&outcome.profiles)
    );
    let _ = writeln!(out, "| Harness | hl7-harness {HARNESS_VERSION} |");
    let _ = writeln!(out, "| Seed | {} |", outcome.seed);
    let _ = writeln!(out, "| Started | {} |", super::time::rfc3339(record.started));
    let _ = writeln!(out, "| Finished | {} |", super::time::rfc3339(record.finished));
    let _ = writeln!(
        out,
        "| Cases | {total}: {} passed, {} passed with warnings, {} failed |",
        count(Verdict::Passed),
        count(Verdict::Warned),
        count(Verdict::Failed)
    );
    let checks: usize = outcome.cases().map(|c| c.results.len()).sum();
    let failed_checks = |s: Severity| {
        outcome.cases().flat_map(|c| c.failures()).filter(|r| r.severity == s).count()
    };
    let _ = writeln!(
        out,
        "| Checks | {checks} run: {} error failures, {} warnings |",
        failed_checks(Severity::Error),
        failed_checks(Severity::Warning)
    );
    if record.phi_redacted {
        let _ = writeln!(
            out,
            "| Patient data | redacted (PID, NK1, PV1 values replaced by placeholders) |"
        );
    }
    if outcome.unreachable {
        let _ = writeln!(out, "| Target reachable | no: no case could connect |");
    }
    if let Some(shard) = outcome.shard {
        let _ = writeln!(out, "| Shard | {shard} (`report merge` joins the shards) |");
    }

    let _ = writeln!(out, "\n## Packs\n");
    let _ =
        writeln!(out, "| pack | sha256 | cases | passed | with warnings | failed | checks run |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for pack in &outcome.packs {
        let n = |v: Verdict| pack.cases.iter().filter(|c| c.verdict() == v).count();
        let sha = record.pack(&pack.name).map(|p| p.sha256.as_str()).unwrap_or("");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            plain(&pack.name),
            code(sha),
            pack.cases.len(),
            n(Verdict::Passed),
            n(Verdict::Warned),
            n(Verdict::Failed),
            pack.cases.iter().map(|c| c.results.len()).sum::<usize>()
        );
    }
    let _ = writeln!(out, "\n### Files read\n");
    let _ = writeln!(out, "| pack | kind | file | sha256 |\n|---|---|---|---|");
    for pack in &record.packs {
        for file in &pack.files {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                plain(&pack.name),
                file.kind,
                code(&file.path),
                code(&file.sha256)
            );
        }
    }

    if let Some(comparison) = &record.baseline {
        baseline(&mut out, comparison);
    }

    for (title, severity) in [("Failures", Severity::Error), ("Warnings", Severity::Warning)] {
        let cases: Vec<_> =
            outcome.cases().filter(|c| c.failures().any(|r| r.severity == severity)).collect();
        let _ = writeln!(out, "\n## {title}\n");
        if cases.is_empty() {
            let _ = writeln!(out, "None.");
            continue;
        }
        for case in cases {
            let _ = writeln!(
                out,
                "### {} › {} › {}\n",
                plain(&case.pack),
                plain(&case.scenario),
                plain(&case.name)
            );
            for sent in &case.sent {
                let _ = writeln!(out, "- sent: {}", code(sent));
            }
            for failure in case.failures().filter(|r| r.severity == severity) {
                let step = failure.step.map(|s| format!(" (step {s})")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "- **{}** {}{step}: {}",
                    failure.severity,
                    code(failure.id),
                    code(&failure.evidence)
                );
                let _ = writeln!(out, "  - rule: {}", plain(failure.rule));
            }
            if severity == Severity::Error {
                out.push_str(&super::sender_stderr::markdown(case));
            }
            let _ = writeln!(out, "- reproduce: {}\n", code(&case.reproduce));
        }
    }
    if !outcome.skipped.is_empty() {
        let _ = writeln!(out, "\n## Skipped\n");
        for (file, reason) in &outcome.skipped {
            let _ = writeln!(out, "- {}: {}", code(&file.display().to_string()), plain(reason));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(code(input), expected);
    }

    #[test]
    fn inline_code() {
        check("ack.msa2-echo", "`ack.msa2-echo`");
        check("a`b", "``a`b``");
        check("`x", "`` `x ``");
        check("A|B\rC", "`A\\|B␍C`");
        check("", "`  `");
    }
}
