//! `through.destination-read`: the destinations the harness read rather than listened as
//! (`read:`) were read whole. A read command that failed, overran its time or output bound, a
//! file too large or a link in the folder leaves arrivals unseen, so the other through checks
//! judged less than the engine delivered; this check names what was not read. Pure: the
//! recorded reads.

use super::catalogue::THROUGH_DESTINATION_READ;
use super::CheckResult;
use crate::observation::ThroughObservation;

/// Problems named in the evidence; the rest are counted.
const SHOWN: usize = 10;

/// The check, when the case read any destination.
pub(super) fn destination_read(seen: &ThroughObservation) -> Option<CheckResult> {
    if seen.reads.is_empty() {
        return None;
    }
    let problems: Vec<String> = seen
        .reads
        .iter()
        .flat_map(|read| {
            read.problems.iter().map(move |p| format!("{} ({}): {p}", read.destination, read.how))
        })
        .collect();
    if problems.is_empty() {
        return Some(CheckResult::pass(THROUGH_DESTINATION_READ, None));
    }
    let mut evidence = problems.iter().take(SHOWN).cloned().collect::<Vec<_>>().join("; ");
    if problems.len() > SHOWN {
        evidence.push_str(&format!("; and {} more", problems.len() - SHOWN));
    }
    Some(CheckResult::fail(THROUGH_DESTINATION_READ, None, evidence))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::DestinationRead;

    fn check(problems: &[&[&str]], passed: Option<bool>, evidence: &str) {
        let reads = problems
            .iter()
            .enumerate()
            .map(|(i, p)| DestinationRead {
                destination: format!("d{i}"),
                how: "cat x".into(),
                reads: 3,
                problems: p.iter().map(|s| s.to_string()).collect(),
            })
            .collect();
        let seen = ThroughObservation { reads, ..ThroughObservation::default() };
        let result = destination_read(&seen);
        assert_eq!(result.as_ref().map(|r| r.passed), passed);
        let shown = result.map(|r| r.evidence).unwrap_or_default();
        assert!(shown.contains(evidence), "{shown:?}");
    }

    #[test]
    fn judged_only_when_a_destination_is_read() {
        check(&[], None, "");
        check(&[&[]], Some(true), "");
        check(
            &[&[], &["exited with code 1 (×4)"]],
            Some(false),
            "d1 (cat x): exited with code 1 (×4)",
        );
        let many: Vec<String> = (0..15).map(|i| format!("f{i}: a symbolic link")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        check(&[&many], Some(false), "and 5 more");
    }
}
