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

    /// A case's required waits are written as `waits` on the case and on the exchange that
    /// held them (kind, step when there is one, milliseconds); a case or exchange without any
    /// has no such key, so files without waits read as before.
    #[test]
    fn results_json_carries_the_required_waits() {
        use crate::observation::{Wait, WaitKind};
        use crate::report::overview::fixture;
        let mut outcome = fixture::outcome(false);
        let ms = std::time::Duration::from_millis;
        let case = &mut outcome.packs[0].cases[0];
        case.observation.waits = vec![
            Wait { kind: WaitKind::Pause, step: Some(1), duration: ms(50) },
            Wait { kind: WaitKind::Quiet, step: None, duration: ms(200) },
        ];
        case.observation.exchanges[0].waits =
            vec![Wait { kind: WaitKind::FaultDelay, step: Some(1), duration: ms(35) }];
        let value = results(&fixture::record(&outcome, None));
        let written = &value["packs"][0]["cases"][0];
        let waits = serde_json::json!({
            "case": written["waits"],
            "exchange": written["exchanges"][0]["waits"],
        });
        insta::assert_snapshot!(
            "results-waits",
            serde_json::to_string_pretty(&waits).unwrap_or_default()
        );
        let other = &value["packs"][0]["cases"][1];
        assert!(other.get("waits").is_none(), "{other}");
        assert!(other["exchanges"][0].get("waits").is_none(), "{other}");
    }
}
