//! Findings: what the parser, the charset decoder and the validator noticed about a message.
//!
//! A finding is data, not an error: a message with findings is still readable. Each finding
//! names where it is (byte offset, segment, field) and the rule of the standard it refers to.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How serious a finding is. `Error` is a violation of the standard; `Warning` is behaviour the
/// standard permits but that commonly breaks interfaces; `Info` is worth knowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// Where in a message a finding applies. Every part is optional because a finding about a byte
/// (a stray LF) has no field, and one about a missing segment has no byte offset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Location {
    /// Byte offset from the start of the message (or file, for file-level findings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// 1-based index of the segment in the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_index: Option<usize>,
    /// Segment id, e.g. `PID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// 1-based field position (MSH-1 is the field separator).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<usize>,
}

impl Location {
    pub fn at_offset(offset: usize) -> Self {
        Location { offset: Some(offset), ..Location::default() }
    }

    pub fn segment(index: usize, id: &str) -> Self {
        Location {
            segment_index: Some(index),
            segment: Some(id.to_string()),
            ..Location::default()
        }
    }

    pub fn with_field(mut self, field: usize) -> Self {
        self.field = Some(field);
        self
    }

    pub fn with_segment(mut self, index: usize, id: &str) -> Self {
        self.segment_index = Some(index);
        self.segment = Some(id.to_string());
        self
    }

    pub fn with_offset(mut self, offset: usize) -> Self {
        self.offset = Some(offset);
        self
    }
}

impl fmt::Display for Location {
    /// e.g. `segment 3 (PID), field 5, byte 120`, or `byte 17`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        match (&self.segment_index, &self.segment) {
            (Some(i), Some(id)) => parts.push(format!("segment {i} ({id})")),
            (Some(i), None) => parts.push(format!("segment {i}")),
            (None, Some(id)) => parts.push(format!("segment {id}")),
            (None, None) => {}
        }
        if let Some(field) = self.field {
            let id = self.segment.as_deref().unwrap_or("field");
            parts.push(format!("{id}-{field}"));
        }
        if let Some(offset) = self.offset {
            parts.push(format!("byte {offset}"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// One thing noticed about a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable kebab-case id, e.g. `lf-segment-separator`, `missing-required-segment`.
    pub code: &'static str,
    pub severity: Severity,
    pub location: Location,
    /// One sentence for a human, naming the values involved.
    pub message: String,
    /// The rule of the standard, e.g. `HL7 v2.5.1 ch. 2, 2.5.4 (segment terminator)`.
    pub rule: &'static str,
}

impl Finding {
    pub fn new(
        code: &'static str,
        severity: Severity,
        location: Location,
        message: impl Into<String>,
        rule: &'static str,
    ) -> Self {
        Finding { code, severity, location, message: message.into(), rule }
    }
}

/// Most findings of one kind a message reports one by one; the rest are counted in one
/// summary finding of the same kind (code and severity), so hostile input (a frame of a million empty segments) costs
/// a counter, not a million findings (the character-set check stops at the same number).
pub const MAX_FINDINGS_PER_KIND: usize = 20;

/// Counts the findings of one kind and says which to keep: the first
/// [`MAX_FINDINGS_PER_KIND`], then only a count for [`Capped::summary`].
#[derive(Debug, Default)]
pub(crate) struct Capped {
    seen: usize,
}

impl Capped {
    /// Counts one more finding; true when it is to be kept.
    pub fn keep(&mut self) -> bool {
        self.seen += 1;
        self.seen <= MAX_FINDINGS_PER_KIND
    }

    /// One finding of the kind (`code`, `severity`) for those not kept, e.g. `"empty
    /// segments"`.
    pub fn summary(
        &self,
        code: &'static str,
        severity: Severity,
        what: &str,
        rule: &'static str,
    ) -> Option<Finding> {
        let more = self.seen.checked_sub(MAX_FINDINGS_PER_KIND).filter(|&n| n > 0)?;
        Some(Finding::new(
            code,
            severity,
            Location::default(),
            format!("{more} more {what} not listed ({} in all)", self.seen),
            rule,
        ))
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.code)?;
        let location = self.location.to_string();
        if !location.is_empty() {
            write!(f, " at {location}")?;
        }
        write!(f, ": {} [{}]", self.message, self.rule)
    }
}
