//! `summary.md`: the report people read first, in the order of report.html's overview: the
//! verdict, target and target profile, the packs with their content hashes and counts, the
//! check × pack matrix, then the failed cases before the warned ones, each failure with id,
//! severity, step, evidence, rule and the command that reproduces the case; after them the
//! baseline, the files read and what was skipped.

use super::overview;
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
pub fn plain(text: &str) -> String {
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

/// The check × pack matrix: per pack, in how many cases the check failed / warned / passed;
/// the checks that failed or warned anywhere first.
fn matrix(out: &mut String, outcome: &crate::runner::RunOutcome) {
    let rows = overview::matrix(outcome);
    let _ = writeln!(out, "\n## Checks × packs\n");
    let _ = writeln!(
        out,
        "Cases per pack in which each check failed / warned / passed (– where no case of the \
         pack ran it).\n"
    );
    let mut header = String::from("| check |");
    let mut rule = String::from("|---|");
    for pack in &outcome.packs {
        let _ = write!(header, " {} |", plain(&pack.name));
        rule.push_str("---|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for row in &rows {
        let _ = write!(out, "| {} |", code(row.id));
        for cell in &row.cells {
            match cell {
                Some(t) if t.failed + t.warned > 0 => {
                    let _ = write!(out, " **{} / {} / {}** |", t.failed, t.warned, t.passed);
                }
                Some(t) => {
                    let _ = write!(out, " {} / {} / {} |", t.failed, t.warned, t.passed);
                }
                None => out.push_str(" – |"),
            }
        }
        out.push('\n');
    }
}

/// The failed cases, then the warned ones: each failure with its evidence and rule, and the
/// command that runs the case again.
fn failures(out: &mut String, outcome: &crate::runner::RunOutcome) {
    let _ = writeln!(out, "\n## Failures and warnings\n");
    let cases = overview::to_look_at(outcome);
    if cases.is_empty() {
        let _ = writeln!(out, "None: every case passed.");
    }
    for (_, case) in cases {
        let verdict = super::json::verdict_name(case.verdict()).to_uppercase();
        let _ = writeln!(
            out,
            "### {verdict}: {} › {} › {}\n",
            plain(&case.pack),
            plain(&case.scenario),
            plain(&case.name)
        );
        for sent in &case.sent {
            let _ = writeln!(out, "- sent: {}", code(sent));
        }
        for failure in overview::failures(case) {
            let step = failure.step.map(|s| format!(" (step {s})")).unwrap_or_default();
            let _ = writeln!(
                out,
                "- **{}** {}{step}: {}",
                failure.severity,
                code(&failure.id),
                code(&failure.evidence)
            );
            let _ = writeln!(out, "  - rule: {}", plain(failure.rule));
        }
        // A failing sender under test: the end of its own error output says why.
        out.push_str(&super::sender_stderr::markdown(case));
        let _ = writeln!(out, "- reproduce: {}\n", code(&case.reproduce));
    }
}

/// The `summary.md` document, in the order of report.html's overview: verdict, target and
/// profile, counts per pack, the check × pack matrix, failures first; then the files read,
/// the baseline and what was skipped.
pub fn summary(record: &RunRecord) -> String {
    let outcome = record.outcome;
    let mut out = String::new();
    let total = outcome.cases().count();
    let count = |v: Verdict| outcome.cases().filter(|c| c.verdict() == v).count();
    let _ = writeln!(out, "# hl7-harness conformance report\n");
    let _ = writeln!(out, "**Verdict: {}**\n", record.verdict());
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Target | {} |", code(&outcome.target));
    let _ = writeln!(
        out,
        "| Target profile | {} |",
        crate::profile::ProfileUsed::describe(&outcome.profiles)
    );
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
    let _ = writeln!(out, "| Run | {} |", code(&record.run_id));
    let _ = writeln!(out, "| Harness | hl7-harness {HARNESS_VERSION} |");
    let _ = writeln!(out, "| Seed | {} |", outcome.seed);
    let _ = writeln!(out, "| Started | {} |", super::time::rfc3339(record.started));
    let _ = writeln!(out, "| Finished | {} |", super::time::rfc3339(record.finished));
    if record.phi_redacted {
        let _ = writeln!(
            out,
            "| Patient data | redacted (PID, NK1, PV1 values replaced by placeholders) |"
        );
    }
    if outcome.unreachable {
        let _ = writeln!(out, "| Target reachable | no: no case could connect |");
    }
    if !outcome.skipped.is_empty() {
        let _ = writeln!(
            out,
            "| Skipped | {} scenario file(s) not run (listed under Skipped, with why) |",
            outcome.skipped.len()
        );
    }
    if let Some(shard) = outcome.shard {
        let _ = writeln!(out, "| Shard | {shard} (`report merge` joins the shards) |");
    }

    let _ = writeln!(out, "\n## Packs\n");
    let _ =
        writeln!(out, "| pack | sha256 | cases | passed | with warnings | failed | checks run |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for pack in &outcome.packs {
        let tally = overview::Tally::of_pack(pack);
        let sha = record.pack(&pack.name).map(|p| p.sha256.as_str()).unwrap_or("");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            plain(&pack.name),
            code(sha),
            tally.total(),
            tally.passed,
            tally.warned,
            tally.failed,
            pack.cases.iter().map(|c| c.results.len()).sum::<usize>()
        );
    }
    matrix(&mut out, outcome);
    failures(&mut out, outcome);
    if let Some(section) = super::message_profile::Section::of(outcome) {
        out.push_str(&section.markdown());
    }

    if let Some(comparison) = &record.baseline {
        baseline(&mut out, comparison);
    }
    let _ = writeln!(out, "\n## Files read\n");
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
    if !outcome.skipped.is_empty() {
        let _ = writeln!(out, "\n## Skipped\n");
        for (file, reason) in &outcome.skipped {
            let _ = writeln!(out, "- {}: {}", code(&file.display().to_string()), plain(reason));
        }
    }
    if !outcome.load.is_empty() {
        out.push_str(&super::load::markdown(&outcome.load));
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

    #[test]
    fn overview_order_failures_first() {
        use crate::report::overview::fixture;
        for (name, failing) in [("summary-failing", true), ("summary-passing", false)] {
            let outcome = fixture::outcome(failing);
            let record = fixture::record(&outcome, None);
            let text = summary(&record);
            insta::assert_snapshot!(name, text);
            let at = |what: &str| text.find(what).unwrap_or_else(|| panic!("no {what}"));
            assert!(at("**Verdict") < at("| Target profile | site (profiles/site.yaml, sha256"));
            assert!(at("## Packs") < at("## Checks × packs"));
            assert!(at("## Checks × packs") < at("## Failures and warnings"));
            assert!(at("## Failures and warnings") < at("## Files read"));
        }
    }

    #[test]
    fn the_message_profile_section_follows_the_failures() {
        let outcome = crate::report::message_profile::fixture::outcome(true);
        let text = summary(&crate::report::overview::fixture::record(&outcome, None));
        let at = |what: &str| text.find(what).unwrap_or_else(|| panic!("no {what}"));
        assert!(at("## Failures and warnings") < at("## Message profile"));
        assert!(at("## Message profile") < at("## Files read"));
        assert!(text.contains("| `PID[1]-13` | 3 | usage | error |"), "{text}");
        assert!(text.contains("| `adt-a04` | 3 / 5 |"), "{text}");
    }
}
