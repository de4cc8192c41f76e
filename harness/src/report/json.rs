//! `results.json`: the run for machines. Schema `hl7-harness/results/1` (documented in the user
//! guide, docs/guide/reports.md, "Reports and sign-off"); a field is only ever added within a
//! schema version, never renamed or removed.

use super::record::RunRecord;
use super::results_model::ResultsFile;
use crate::runner::Verdict;
use serde_json::Value;

/// The schema id written into `results.json`.
pub const SCHEMA: &str = "hl7-harness/results/1";

pub fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Passed => "passed",
        Verdict::Warned => "warned",
        Verdict::Failed => "failed",
    }
}

/// The `results.json` document (see [`ResultsFile`] for its model).
pub fn results(record: &RunRecord) -> Value {
    serde_json::to_value(ResultsFile::of(record)).expect("results serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_json_is_stable() {
        use crate::report::overview::fixture;
        for (name, failing) in [("results-failing", true), ("results-passing", false)] {
            let outcome = fixture::outcome(failing);
            let value = results(&fixture::record(&outcome, None));
            let text = serde_json::to_string_pretty(&value).unwrap_or_default();
            insta::assert_snapshot!(name, text);
        }
    }

    #[test]
    fn results_json_carries_the_content_findings() {
        use crate::report::overview::fixture;
        let outcome = crate::report::message_profile::fixture::outcome(true);
        let value = results(&fixture::record(&outcome, None));
        let case = &value["packs"][2]["cases"][0];
        insta::assert_snapshot!(
            "results-message-profile",
            serde_json::to_string_pretty(&case["checks"]).unwrap_or_default()
        );
        // Other checks carry no such field: files written before it read back unchanged.
        let other = &value["packs"][0]["cases"][0]["checks"][0];
        assert!(other.get("content").is_none(), "{other}");
    }
}
