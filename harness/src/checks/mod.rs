//! Conformance checks: pure functions from observations to results. Each check has a stable id,
//! a severity by the standard (an error is a violation of the text of HL7 v2 chapter 2, MLLP
//! release 1 or 2, the HL7-over-HTTP specification or HLLP, a lost message or a false success;
//! what the text lets a receiver choose is never an error; where the text is unclear, a
//! warning), the HL7 versions it applies to, the rule it enforces with its citation, and
//! evidence when it fails. [`CATALOGUE`] is the rulebook; [`rulebook::markdown`] renders it into
//! the README and `docs/rulebook.md`.
//!
//! The generic checks run on every acknowledgment unless a case opts out (`skip_checks`); the
//! case-level ones (`expect.*`, `probe.*`) come from the scenario.

mod ack;
mod case;
mod catalogue;
mod content;
mod content_findings;
mod declared;
mod evaluate;
mod history;
pub mod load;
mod order;
mod plan;
mod replay;
mod result;
pub mod rulebook;
mod sender;
mod through;
mod through_read;
mod version;

pub use declared::{allowed_answers, Allowed};
pub use sender::content_key;

pub use crate::hl7::finding::Severity;
pub use catalogue::*;
pub use content_findings::{ContentFindings, MessageFindings, ProfileCoverage};
pub use evaluate::{evaluate, show_bytes};
pub use plan::{CasePlan, ExpectedMessage, ReceiverExpectation};
pub use result::CheckResult;
pub use through::{ExpectedOutput, OutputRedaction, ThroughExpectation, ThroughInputPlan};

#[cfg(test)]
mod tests;
