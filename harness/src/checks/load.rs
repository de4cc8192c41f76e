//! Load thresholds judged on a load phase's account. The threshold says what it measures and
//! whether it holds (`load::Threshold`); this module names the check and its severity.

use super::{CheckDef, CheckResult};
use crate::load::{LoadPhase, Threshold};

/// The check definition a threshold is reported under: the catalogue's entry with the
/// threshold's check id (`every_metric_has_its_own_check` keeps every metric in the catalogue).
fn definition(threshold: &Threshold) -> CheckDef {
    let id = threshold.check_id();
    super::CATALOGUE.iter().copied().find(|def| def.id == id).unwrap_or(super::LOAD_LOST)
}

/// The check one threshold makes on a phase's account.
pub fn threshold(threshold: &Threshold, phase: &LoadPhase) -> CheckResult {
    let def = definition(threshold);
    match threshold.holds(&phase.finished.account) {
        Ok(()) => CheckResult::pass(def, None),
        Err(evidence) => CheckResult::fail(def, None, evidence),
    }
}

/// The thresholds' checks of a phase. A lost message is an error by the standard, so without a
/// `lost` threshold of its own a phase is judged by `lost == 0`.
pub fn phase(phase: &LoadPhase) -> Vec<CheckResult> {
    let mut results: Vec<CheckResult> =
        phase.thresholds.iter().map(|t| threshold(t, phase)).collect();
    if !phase.thresholds.iter().any(Threshold::is_lost) {
        if let Ok(lost) = Threshold::parse("lost == 0") {
            results.insert(0, threshold(&lost, phase));
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_its_own_check() {
        let all = [
            "p50 < 1ms",
            "p90 < 1ms",
            "p99 < 1ms",
            "p999 < 1ms",
            "max < 1ms",
            "mean < 1ms",
            "lost == 0",
            "timeouts == 0",
            "errors == 0",
            "rejected == 0",
            "throughput >= 1/s",
        ];
        for text in all {
            let parsed = Threshold::parse(text).expect(text);
            assert_eq!(definition(&parsed).id, parsed.check_id(), "{text}");
        }
    }
}
