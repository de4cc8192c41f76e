//! Edge-case mutations of a message, seeded and named: non-ASCII text, escapes, delimiters,
//! nulls, missing or extra fields and segments, separators, long values, header codes, batches.
//!
//! Each mutation gives new bytes, a one-line description and the [`Intent`] a conformant
//! receiver should act on (HL7 v2.5.1 chapter 2). The module edits messages through
//! [`crate::hl7`] and does no I/O; it must not know about transports, scenarios or reports.

mod apply;
mod edit_header;
mod edit_segments;
mod edit_values;
mod mutation;
mod params;

pub use apply::{apply, apply_all, GenerateError, Mutated};
pub use mutation::{
    AddSegment, BatchWrap, CustomDelimiters, DelimiterSet, DuplicateControlId, FieldParam,
    FieldsParam, Intent, LongField, ManyRepetitions, Mutation, NonAscii, OnUnmappable, Script,
    SegmentId, SegmentParam, TimestampVariant, TimestampVariants, TruncateFields,
    UnknownMessageType, UnknownTrigger, UnsupportedVersion, CATALOGUE,
};
