//! A violation of a message profile: where in the message, which rule, and where the rule
//! stands in the profile, so a tester can find both ends.

use crate::hl7::ack::{AckError, ErrorCondition};
use crate::hl7::path::Path;
use crate::hl7::Severity;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of rule broken, as reports group them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// A segment out of the profile's grammar (unexpected, out of order).
    Structure,
    /// R missing, X present, RE empty (warning).
    Usage,
    /// More (or fewer) occurrences or repetitions than allowed.
    Cardinality,
    Length,
    Datatype,
    ValueSet,
    Fixed,
    Pattern,
    /// A conformance statement that does not hold.
    Statement,
    /// A value a `unique` statement says no two messages may share.
    Unique,
    /// No message profile covers the message: its content is not judged.
    NoProfile,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Structure => "structure",
            Rule::Usage => "usage",
            Rule::Cardinality => "cardinality",
            Rule::Length => "length",
            Rule::Datatype => "datatype",
            Rule::ValueSet => "value-set",
            Rule::Fixed => "fixed",
            Rule::Pattern => "pattern",
            Rule::Statement => "statement",
            Rule::Unique => "unique",
            Rule::NoProfile => "no-profile",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing a message does that its profile does not allow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub severity: Severity,
    pub rule: Rule,
    /// Where in the message: `PID[1]-5.1`, `PID[2]`, `OBX[3]-5[2]`, `group INSURANCE`.
    pub path: String,
    /// 1-based index of the segment in the message, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_index: Option<usize>,
    /// What is wrong, with the values involved.
    pub message: String,
    /// Which message profile judged it (its id) …
    pub profile: String,
    /// … and where the rule stands in it, e.g. `segments[2] PID, field 5` or
    /// `constraints PID-8`.
    pub place: String,
}

impl fmt::Display for Violation {
    /// `error usage PID[1]-5.1 (segment 3): required but not valued [adt-a04: constraints PID-5.1]`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.severity, self.rule, self.path)?;
        if let Some(index) = self.segment_index {
            write!(f, " (segment {index})")?;
        }
        write!(f, ": {} [{}: {}]", self.message, self.profile, self.place)
    }
}

impl Violation {
    /// The ERR an endpoint applying the profile would send: the condition of HL7 table 0357
    /// that fits the rule (101 required field missing, 102 data type error, 103 table value
    /// not found, 100 segment sequence error, else 207 application internal error), the
    /// location when the path names one, and the finding as the user message.
    pub fn ack_error(&self) -> AckError {
        let condition = match self.rule {
            Rule::Usage if self.message.contains("required") => {
                ErrorCondition::RequiredFieldMissing
            }
            Rule::Datatype | Rule::Length => ErrorCondition::DataTypeError,
            Rule::ValueSet => ErrorCondition::TableValueNotFound,
            Rule::Structure | Rule::Cardinality => ErrorCondition::SegmentSequenceError,
            Rule::Unique => ErrorCondition::DuplicateKeyIdentifier,
            _ => ErrorCondition::ApplicationInternalError,
        };
        let error = AckError::new(condition).with_text(format!("{} {}", self.path, self.message));
        match Path::parse(&self.path) {
            Ok(location) => error.at(location, self.segment_index),
            Err(_) => error,
        }
    }
}
