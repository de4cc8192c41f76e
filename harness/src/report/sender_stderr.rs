//! The end of a failing sender's stderr (receiver role, `sut.command`), for the terminal and
//! `summary.md`: when a sender under test fails, its own error message usually says why, and
//! a reader should not have to open `results.json` for it. `results.json` and `report.html`
//! keep the whole tail the runner recorded (a few KiB of stdout and stderr); here only the last
//! [`MAX_LINES`] lines of stderr, at most [`MAX_BYTES`] bytes. The runner has already replaced
//! the scenario's secrets by `***`, and `--redact-phi` has replaced patient data.

use crate::runner::{CaseOutcome, Verdict};
use std::fmt::Write;

/// Lines shown at most.
pub const MAX_LINES: usize = 20;
/// Bytes shown at most (a line of megabytes must not flood a terminal).
pub const MAX_BYTES: usize = 2048;

/// The last lines of `text`, at most [`MAX_LINES`] and [`MAX_BYTES`] in all (a longer last
/// line keeps its end), with trailing blank lines left out and control characters (terminal
/// escapes included) shown as `�`.
pub fn tail(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let mut kept = Vec::new();
    let mut bytes = 0;
    for line in lines.iter().rev().take(MAX_LINES) {
        let clean: String =
            line.chars().map(|c| if c.is_control() && c != '\t' { '�' } else { c }).collect();
        if bytes + clean.len() > MAX_BYTES {
            if kept.is_empty() {
                let mut start = clean.len() - MAX_BYTES;
                while !clean.is_char_boundary(start) {
                    start += 1;
                }
                kept.push(format!("…{}", &clean[start..]));
            }
            break;
        }
        bytes += clean.len() + 1;
        kept.push(clean);
    }
    kept.reverse();
    kept
}

/// The tail of the case's sender's stderr when the case failed and the sender wrote any.
fn failing_tail(case: &CaseOutcome) -> Option<Vec<String>> {
    if case.verdict() != Verdict::Failed {
        return None;
    }
    let lines = tail(&case.observation.sut.as_ref()?.stderr);
    (!lines.is_empty()).then_some(lines)
}

/// Names whose stderr it is: the sender under test, or (through role) the engine.
fn heading(case: &CaseOutcome, lines: &[String]) -> String {
    let who = if case.observation.through.is_some() { "engine" } else { "sender" };
    match lines.len() {
        1 => format!("{who} stderr (last line)"),
        n => format!("{who} stderr (last {n} lines)"),
    }
}

/// For the terminal summary, under a failing case: indented, each line behind `| `.
pub fn terminal(case: &CaseOutcome) -> String {
    let Some(lines) = failing_tail(case) else { return String::new() };
    let mut out = format!("  {}:\n", heading(case, &lines));
    for line in &lines {
        let _ = writeln!(out, "    | {line}");
    }
    out
}

/// For `summary.md`, under a failing case: a fenced block (the fence longer than any run of
/// backticks in the text).
pub fn markdown(case: &CaseOutcome) -> String {
    let Some(lines) = failing_tail(case) else { return String::new() };
    let longest = lines
        .iter()
        .flat_map(|l| l.split(|c| c != '`').map(str::len).collect::<Vec<_>>())
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("- {}:\n\n{fence}text\n{}\n{fence}\n\n", heading(case, &lines), lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &[&str]) {
        assert_eq!(tail(input), expected);
    }

    #[test]
    fn keeps_the_last_lines() {
        check("", &[]);
        check("one\ntwo\n\n", &["one", "two"]);
        let many: String = (1..=30).map(|n| format!("line {n}\n")).collect();
        let last: Vec<String> = (11..=30).map(|n| format!("line {n}")).collect();
        assert_eq!(tail(&many), last);
    }

    #[test]
    fn bounds_the_bytes_and_cleans_control_characters() {
        let long = format!("{}\n{}", "a".repeat(10), "é".repeat(3000));
        let got = tail(&long);
        assert_eq!(got.len(), 1, "the earlier line no longer fits");
        assert!(got[0].starts_with('…') && got[0].len() <= MAX_BYTES + '…'.len_utf8());
        check("\u{1b}[31mred\tx\r", &["�[31mred\tx"]);
        let lines: String = (0..40).map(|_| format!("{}\n", "b".repeat(200))).collect();
        let kept = tail(&lines);
        assert!(kept.iter().map(|l| l.len() + 1).sum::<usize>() <= MAX_BYTES, "{}", kept.len());
    }
}
