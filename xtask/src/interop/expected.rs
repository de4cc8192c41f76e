//! The allow-list of known third-party deviations, `docs/interop-expected.txt`: one line per
//! (receiver, scenario file, case, check id) that is expected to fail with severity error, each
//! written up in docs/interop.md with the standard's text that makes it a deviation. A failure
//! not on the list fails `cargo xtask interop` (a new deviation, or a harness bug); a listed
//! failure that ran and passed fails it too, so the list and docs/interop.md are updated when a
//! receiver or a check changes.

use anyhow::{bail, Context};
use std::collections::BTreeSet;
use std::path::Path;

/// The allow-list, beside docs/interop.md.
pub const PATH: &str = "docs/interop-expected.txt";

/// One failing check of one case against one receiver.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Failure {
    pub receiver: String,
    /// The scenario file as the harness names it (`scenarios/…/x.yaml`).
    pub file: String,
    pub case: String,
    pub check: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} | {} | {} | {}", self.receiver, self.file, self.case, self.check)
    }
}

/// Reads the allow-list: `receiver | file | case | check` per line; `#` starts a comment line.
pub fn read(root: &Path) -> anyhow::Result<BTreeSet<Failure>> {
    let path = root.join(PATH);
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    parse(&text).with_context(|| path.display().to_string())
}

fn parse(text: &str) -> anyhow::Result<BTreeSet<Failure>> {
    let mut out = BTreeSet::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        let [receiver, file, case, check] = parts[..] else {
            bail!("line {}: expected `receiver | file | case | check`, got {line:?}", number + 1);
        };
        if [receiver, file, case, check].iter().any(|p| p.is_empty()) {
            bail!("line {}: an empty part in {line:?}", number + 1);
        }
        let failure = Failure {
            receiver: receiver.into(),
            file: file.into(),
            case: case.into(),
            check: check.into(),
        };
        if !out.insert(failure) {
            bail!("line {}: listed twice: {line:?}", number + 1);
        }
    }
    Ok(out)
}

/// What one receiver's run differs from the list by.
#[derive(Debug, Default)]
pub struct Difference {
    /// Failed, not listed: a new deviation or a harness bug.
    pub unexpected: Vec<Failure>,
    /// Listed, and the case ran without that failure: the list is stale.
    pub fixed: Vec<Failure>,
    /// Listed, and the case did not run here (e.g. a tier this machine skips).
    pub not_run: Vec<Failure>,
}

/// Compares one receiver's failures with the list. `ran` holds every (file, case) that ran.
pub fn compare(
    receiver: &str,
    expected: &BTreeSet<Failure>,
    failures: &BTreeSet<Failure>,
    ran: &BTreeSet<(String, String)>,
) -> Difference {
    let mut difference = Difference {
        unexpected: failures.difference(expected).cloned().collect(),
        ..Difference::default()
    };
    for listed in expected.iter().filter(|f| f.receiver == receiver) {
        if failures.contains(listed) {
            continue;
        }
        if ran.contains(&(listed.file.clone(), listed.case.clone())) {
            difference.fixed.push(listed.clone());
        } else {
            difference.not_run.push(listed.clone());
        }
    }
    difference
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(receiver: &str, case: &str, check: &str) -> Failure {
        Failure {
            receiver: receiver.into(),
            file: "scenarios/p/f.yaml".into(),
            case: case.into(),
            check: check.into(),
        }
    }

    #[test]
    fn parses_lines_and_skips_comments() {
        let list = parse("# header\n\nr | scenarios/p/f.yaml | a case | ack.msh7\n").unwrap();
        assert_eq!(list.into_iter().collect::<Vec<_>>(), vec![failure("r", "a case", "ack.msh7")]);
    }

    /// The shipped list parses, so a bad edit fails `cargo test`, not only `cargo xtask interop`.
    #[test]
    fn the_shipped_list_parses() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let list = read(root).unwrap();
        let receivers: BTreeSet<&str> = list.iter().map(|f| f.receiver.as_str()).collect();
        assert!(receivers.iter().all(|r| ["python-hl7", "nodehl7", "mllp-crate"].contains(r)));
    }

    #[test]
    fn rejects_malformed_and_duplicate_lines() {
        assert!(parse("r | f | case\n").is_err());
        assert!(parse("r | f | | check\n").is_err());
        assert!(parse("r | f | c | x\nr | f | c | x\n").is_err());
    }

    #[test]
    fn sorts_failures_into_unexpected_fixed_and_not_run() {
        let expected: BTreeSet<_> = [
            failure("r", "still fails", "a"),
            failure("r", "now passes", "a"),
            failure("r", "skipped here", "a"),
            failure("other", "now passes", "a"),
        ]
        .into();
        let failures: BTreeSet<_> =
            [failure("r", "still fails", "a"), failure("r", "new", "b")].into();
        let ran: BTreeSet<_> = ["still fails", "now passes", "new"]
            .iter()
            .map(|c| ("scenarios/p/f.yaml".to_string(), c.to_string()))
            .collect();
        let difference = compare("r", &expected, &failures, &ran);
        assert_eq!(difference.unexpected, vec![failure("r", "new", "b")]);
        assert_eq!(difference.fixed, vec![failure("r", "now passes", "a")]);
        assert_eq!(difference.not_run, vec![failure("r", "skipped here", "a")]);
    }
}
