//! What `sender.content` found, as data the report renders (the "Message profile" section)
//! and `results.json` carries: per judged message its violations, per message profile which
//! of its rules the case's messages exercised. The evidence text says the same for people;
//! this is what a table or a machine reads without parsing that text.

use crate::conformance::{Coverage, Violation};
use serde::{Deserialize, Serialize};

/// At most this many violations are kept as data per case; the rest are counted in
/// [`ContentFindings::omitted`], so a sender that floods the harness cannot grow a report
/// without bound.
pub const MAX_RECORDED: usize = 1000;

/// At most this many unexercised rules are kept per message profile in a case's coverage (the
/// count stays exact); a report shows fewer still.
pub const MAX_MISSED: usize = 2000;

/// The findings of `sender.content` on one case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentFindings {
    /// Distinct messages judged (a retransmission counts once).
    pub judged: usize,
    /// The judged messages with a finding (warning or error), in arrival order.
    #[serde(default)]
    pub messages: Vec<MessageFindings>,
    /// Violations past [`MAX_RECORDED`], counted but not kept.
    #[serde(default)]
    pub omitted: usize,
    /// Per message profile, which of its rules this case's messages exercised.
    #[serde(default)]
    pub coverage: Vec<ProfileCoverage>,
}

/// One judged message and what is wrong with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFindings {
    /// 1-based position among the case's arrivals.
    pub arrival: usize,
    /// MSH-10 as sent (empty when the message has none or did not parse).
    pub control_id: String,
    /// MSH-9 as sent, e.g. `ADT^A04^ADT_A01`.
    pub message_type: String,
    /// Why the message could not be judged at all (it is not HL7), when that is the finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unparsed: Option<String>,
    #[serde(default)]
    pub violations: Vec<Violation>,
}

/// Which rules of one message profile some message exercised (see
/// [`crate::conformance::Coverage`], which decides that).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileCoverage {
    /// The message profile's id (`adt-a04`).
    pub profile: String,
    /// How many rules it has.
    pub rules: usize,
    /// How many of them some message exercised.
    pub exercised: usize,
    /// The places of the rules no message exercised (at most [`MAX_MISSED`]).
    #[serde(default)]
    pub missed: Vec<String>,
}

impl ProfileCoverage {
    pub fn of(coverage: &Coverage) -> ProfileCoverage {
        ProfileCoverage {
            profile: coverage.profile.clone(),
            rules: coverage.rules,
            exercised: coverage.exercised.len(),
            missed: coverage.missed.iter().take(MAX_MISSED).cloned().collect(),
        }
    }

    /// The coverage of a whole run from its cases': a rule is exercised in the run when some
    /// case exercised it, so what the run missed is what every case missed. Message profiles
    /// are told apart by id and rule count (two target profiles may reuse an id), in the order
    /// they first appear.
    pub fn combine<'a>(
        cases: impl IntoIterator<Item = &'a ProfileCoverage>,
    ) -> Vec<ProfileCoverage> {
        let mut out: Vec<ProfileCoverage> = Vec::new();
        for coverage in cases {
            match out
                .iter_mut()
                .find(|c| c.profile == coverage.profile && c.rules == coverage.rules)
            {
                Some(run) => {
                    run.missed.retain(|place| coverage.missed.contains(place));
                    run.exercised = run.exercised.max(coverage.exercised).max(
                        // Exact when the missed lists were kept whole.
                        run.rules.saturating_sub(run.missed.len()),
                    );
                }
                None => out.push(coverage.clone()),
            }
        }
        out
    }

    /// Whether every rule was exercised.
    pub fn complete(&self) -> bool {
        self.exercised >= self.rules
    }
}

impl ContentFindings {
    /// How many violations were found, kept or not.
    pub fn violations(&self) -> usize {
        self.messages.iter().map(|m| m.violations.len()).sum::<usize>() + self.omitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coverage(profile: &str, rules: usize, missed: &[&str]) -> ProfileCoverage {
        ProfileCoverage {
            profile: profile.into(),
            rules,
            exercised: rules - missed.len(),
            missed: missed.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn check(cases: &[ProfileCoverage], expected: &[ProfileCoverage]) {
        assert_eq!(ProfileCoverage::combine(cases), expected);
    }

    #[test]
    fn a_run_misses_what_every_case_missed() {
        check(
            &[coverage("adt-a04", 4, &["a", "b"]), coverage("adt-a04", 4, &["b", "c"])],
            &[coverage("adt-a04", 4, &["b"])],
        );
        check(
            &[coverage("adt-a04", 4, &["a"]), coverage("adt-a08", 2, &[])],
            &[coverage("adt-a04", 4, &["a"]), coverage("adt-a08", 2, &[])],
        );
        check(
            &[coverage("adt-a04", 4, &["a"]), coverage("adt-a04", 5, &[])],
            &[coverage("adt-a04", 4, &["a"]), coverage("adt-a04", 5, &[])],
        );
        check(&[], &[]);
    }
}
