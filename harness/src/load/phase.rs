//! A finished load phase as reports see it: what was planned, against what, the account, and
//! the checks its thresholds made.

use super::engine::{Finished, Mode, Plan};
use super::threshold::Threshold;
use crate::checks::{CheckResult, LOAD_LOST};

/// One load run (the `load` command, or a scenario's `load:` block).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadPhase {
    pub pack: String,
    pub scenario: String,
    /// The case name its checks are reported under.
    pub name: String,
    pub target: String,
    pub plan: Plan,
    pub thresholds: Vec<Threshold>,
    pub finished: Finished,
}

impl LoadPhase {
    /// The thresholds' checks. A lost message is an error by the standard, so without a `lost`
    /// threshold of its own a phase is judged by `lost == 0`.
    pub fn checks(&self) -> Vec<CheckResult> {
        let account = &self.finished.account;
        let mut results: Vec<CheckResult> =
            self.thresholds.iter().map(|t| t.check(account)).collect();
        if !self.thresholds.iter().any(Threshold::is_lost) {
            if let Ok(lost) = Threshold::parse("lost == 0") {
                results.insert(0, lost.check(account));
            }
        }
        debug_assert!(results.iter().any(|r| r.id == LOAD_LOST.id));
        results
    }

    /// One line: `open loop 200/s, 4 connections, 10s (+2s warmup)`.
    pub fn describe(&self) -> String {
        let plan = &self.plan;
        let mode = match plan.mode {
            Mode::Open { rate } => format!("open loop {rate}/s"),
            Mode::Closed => "closed loop".to_string(),
        };
        let mut parts = vec![mode, format!("{} connection(s)", plan.connections)];
        if let Some(d) = plan.duration {
            parts.push(format!("{:?}", d));
        }
        if let Some(c) = plan.count {
            parts.push(format!("at most {c} messages"));
        }
        if !plan.warmup.is_zero() {
            parts.push(format!("{:?} warmup", plan.warmup));
        }
        parts.join(", ")
    }
}
