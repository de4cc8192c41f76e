//! One check's result on one case: passed or failed, with severity and evidence.

use super::{CheckDef, Severity};
use crate::vocab::CheckId;
use serde::Serialize;

/// One check applied to one observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub id: CheckId,
    pub severity: Severity,
    pub rule: &'static str,
    /// The step (1-based) the result is about; `None` for the case as a whole.
    pub step: Option<usize>,
    pub passed: bool,
    /// What failed: the bytes or field values. Empty when passed.
    pub evidence: String,
    /// `sender.content`'s findings and coverage as data (passed or not), for the report's
    /// message profile section; `None` for every other check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Box<super::ContentFindings>>,
}

impl CheckResult {
    pub fn pass(def: CheckDef, step: Option<usize>) -> CheckResult {
        CheckResult {
            id: def.id,
            severity: def.severity,
            rule: def.rule,
            step,
            passed: true,
            evidence: String::new(),
            content: None,
        }
    }

    pub fn fail(def: CheckDef, step: Option<usize>, evidence: impl Into<String>) -> CheckResult {
        CheckResult {
            id: def.id,
            severity: def.severity,
            rule: def.rule,
            step,
            passed: false,
            evidence: evidence.into(),
            content: None,
        }
    }

    /// A missing answer to a frame the harness itself ended with `0x1C` and no `0x0D`
    /// (`missing_trailer_cr`) is a warning, not an error: MLLP release 1 ends a block with
    /// <EB><CR>, so that frame never ended, and the standard does not require a receiver to
    /// resynchronise at the next <SB> (the frame after it may be swallowed too). Robust
    /// receivers do, so it is still reported.
    pub fn after_harness_framing_violation(
        self,
        exchange: &crate::observation::Exchange,
    ) -> CheckResult {
        if self.passed || !exchange.faults.iter().any(|f| f == "missing_trailer_cr") {
            return self;
        }
        let evidence = format!(
            "{}; the harness ended the frame(s) with 0x1C and no 0x0D (MLLP release 1 block: \
             <SB>data<EB><CR>), so not answering is permitted, though a robust receiver \
             resynchronises at the next <SB>",
            self.evidence
        );
        CheckResult { evidence, ..self.with_severity(Severity::Warning) }
    }

    /// A failure with a different severity than the catalogue's (e.g. plain `ACK` in MSH-9
    /// before v2.4 is only a warning).
    pub fn with_severity(mut self, severity: Severity) -> CheckResult {
        self.severity = severity;
        self
    }

    /// The result carrying `sender.content`'s findings as data.
    pub fn with_content(mut self, content: super::ContentFindings) -> CheckResult {
        self.content = Some(Box::new(content));
        self
    }

    pub fn is_error(&self) -> bool {
        !self.passed && self.severity == Severity::Error
    }
}
