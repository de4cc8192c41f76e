//! The terminal summary of a run: one table row per pack (tabled), then every failing case with
//! its failed checks (id, severity, step, evidence, rule) and the command that reproduces it;
//! with `--verbose`, what the built-in endpoints logged.

use crate::checks::Severity;
use crate::runner::{Reporter, RunEvent, RunOutcome, Verdict};
use std::fmt::Write;
use tabled::settings::Style;
use tabled::{Table, Tabled};

#[derive(Tabled)]
struct PackRow {
    #[tabled(rename = "pack")]
    name: String,
    cases: usize,
    passed: usize,
    #[tabled(rename = "passed with warnings")]
    warned: usize,
    failed: usize,
    #[tabled(rename = "checks run")]
    checks: usize,
}

/// The summary as text; `verbose` also lists the warnings of passing cases.
pub fn summary(outcome: &RunOutcome, verbose: bool) -> String {
    let rows: Vec<PackRow> = outcome
        .packs
        .iter()
        .map(|pack| {
            let count = |v: Verdict| pack.cases.iter().filter(|c| c.verdict() == v).count();
            PackRow {
                name: pack.name.clone(),
                cases: pack.cases.len(),
                passed: count(Verdict::Passed),
                warned: count(Verdict::Warned),
                failed: count(Verdict::Failed),
                checks: pack.cases.iter().map(|c| c.results.len()).sum(),
            }
        })
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "{}", Table::new(rows).with(Style::sharp()));
    for case in outcome.cases() {
        let verdict = case.verdict();
        if verdict == Verdict::Passed || (verdict == Verdict::Warned && !verbose) {
            continue;
        }
        let label = if verdict == Verdict::Failed { "FAIL" } else { "WARN" };
        let _ = writeln!(out, "\n{label} {} › {} › {}", case.pack, case.scenario, case.name);
        for sent in &case.sent {
            let _ = writeln!(out, "  sent: {sent}");
        }
        for failure in case.failures() {
            let severity = match failure.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            let step = failure.step.map(|s| format!(" (step {s})")).unwrap_or_default();
            let _ = writeln!(out, "  {severity} {}{step}: {}", failure.id, failure.evidence);
            let _ = writeln!(out, "    rule: {}", failure.rule);
        }
        out.push_str(&crate::report::sender_stderr::terminal(case));
        let _ = writeln!(out, "  reproduce: {}", case.reproduce);
    }
    for (file, reason) in &outcome.skipped {
        let _ = writeln!(out, "\nSKIPPED {}: {reason}", file.display());
    }
    let total = outcome.cases().count();
    let failed = outcome.cases().filter(|c| c.verdict() == Verdict::Failed).count();
    let warned = outcome.cases().filter(|c| c.verdict() == Verdict::Warned).count();
    let _ = writeln!(
        out,
        "\n{}: {total} case{}, {failed} failed, {warned} passed with warnings; seed {}{}",
        if failed == 0 { "PASS" } else { "FAIL" },
        if total == 1 { "" } else { "s" },
        outcome.seed,
        outcome.shard.map(|s| format!("; shard {s}")).unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "target profile: {}",
        crate::profile::ProfileUsed::describe(&outcome.profiles)
    );
    if let Some(section) = super::message_profile::Section::of(outcome) {
        out.push_str(&section.terminal());
    }
    if warned > 0 && !verbose {
        let _ = writeln!(out, "(--verbose lists the warnings)");
    }
    out
}

/// The terminal reporter: it says nothing while the run goes (the progress bar does), then at
/// [`RunEvent::RunFinished`] renders the summary and every load phase's account into
/// [`Terminal::text`], which the caller writes where it prints.
#[derive(Debug, Default)]
pub struct Terminal {
    /// With `--verbose`: the warnings of passing cases too.
    pub verbose: bool,
    /// What to print, once the run is finished.
    pub text: String,
    /// With `--verbose`: what the built-in endpoints logged, per file, printed after the
    /// summary.
    endpoint_logs: Vec<(std::path::PathBuf, Vec<String>, usize)>,
}

impl Terminal {
    pub fn new(verbose: bool) -> Terminal {
        Terminal { verbose, text: String::new(), endpoint_logs: Vec::new() }
    }
}

impl Reporter for Terminal {
    fn report(&mut self, event: &RunEvent<'_>) {
        match event {
            RunEvent::RunStarted { .. }
            | RunEvent::FileStarted { .. }
            | RunEvent::CaseStarted { .. }
            | RunEvent::CaseFinished(_)
            | RunEvent::FileFinished { .. } => {}
            // Listed with the summary, in file order, after the failures.
            RunEvent::FileSkipped { .. } => {}
            // The account is printed after the summary, so the table stays at the top.
            RunEvent::LoadPhaseFinished { .. } => {}
            RunEvent::EndpointLog { file, log, .. } => {
                if self.verbose {
                    self.endpoint_logs.push((file.to_path_buf(), log.lines.clone(), log.dropped));
                }
            }
            RunEvent::RunFinished(outcome) => {
                self.text = summary(outcome, self.verbose);
                for phase in &outcome.load {
                    let _ = writeln!(self.text, "{} › {}:", phase.scenario, phase.name);
                    self.text.push_str(&super::load::terminal(phase, &[]));
                }
                // Files run side by side log in any order: shown by path.
                self.endpoint_logs.sort_by(|a, b| a.0.cmp(&b.0));
                for (file, lines, dropped) in &self.endpoint_logs {
                    let _ = writeln!(self.text, "\nbuilt-in endpoint of {}:", file.display());
                    for line in lines {
                        let _ = writeln!(self.text, "  {line}");
                    }
                    if *dropped > 0 {
                        let _ = writeln!(self.text, "  … {dropped} more line(s)");
                    }
                }
            }
        }
    }
}

/// The comparison with a baseline: one headline, then every changed snapshot with its diff, the
/// new and the missing ones, and how to accept them.
pub fn baseline(comparison: &crate::report::baseline::Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n{}", comparison.headline());
    for changed in &comparison.changed {
        let _ = writeln!(out, "\nCHANGED {} ({})", changed.path, changed.title);
        for line in changed.diff.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    for new in &comparison.new {
        let _ = writeln!(out, "NEW {new}");
    }
    for missing in &comparison.missing {
        let _ = writeln!(out, "MISSING {missing}");
    }
    if comparison.differs() && !comparison.accepted {
        let _ = writeln!(
            out,
            "the run differs from the baseline: review with `cargo insta review --workspace-root {}` \
             or accept all with --accept",
            comparison.dir
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lists_failures_then_hints_at_warnings() {
        use crate::report::overview::fixture;
        for (name, failing, verbose) in [
            ("terminal-failing", true, false),
            ("terminal-failing-verbose", true, true),
            ("terminal-passing", false, false),
        ] {
            let text = summary(&fixture::outcome(failing), verbose);
            insta::assert_snapshot!(name, text);
        }
    }

    #[test]
    fn one_line_per_message_profile_after_the_target_profile() {
        let outcome = crate::report::message_profile::fixture::outcome(false);
        let text = summary(&outcome, false);
        let tail: Vec<&str> =
            text.lines().skip_while(|l| !l.starts_with("target profile:")).collect();
        assert_eq!(
            &tail[1..3],
            [
                "message profile adt-a04: 3 of 5 rules exercised",
                "message profile adt-a08: 0 of 2 rules exercised"
            ]
        );
        assert!(!summary(&crate::report::overview::fixture::outcome(false), false)
            .contains("message profile"));
    }
}
