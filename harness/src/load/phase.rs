//! A finished load phase as reports see it: what was planned, against what, the account, and
//! the checks its thresholds made.

use super::engine::{Finished, Mode, Plan};
use super::threshold::Threshold;

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
