//! The base standard's definitions for v2.3 to v2.8: message structures (segment grammars),
//! trigger events, segment fields (data type, cardinality, length, table), composite data
//! types and their components, and the coded tables.
//!
//! The data are generated files of our own (`grammars.txt`, `events.txt`, `segments.txt`,
//! `datatypes.txt`, `tables.txt`), written by `cargo xtask gen-tables` from the public
//! machine-readable definitions in `../shared/hl7-structures` (sources and licences in each
//! file's header) and checked in; a test in xtask fails when they are stale. They are embedded
//! in the binary and read once at first use. Lengths exist for v2.3 to v2.6 only. The grammars
//! and events are read by [`super::structures`]; this module owns the rest and does no I/O.

mod defs;
mod lines;
mod load;

pub use defs::{
    ComponentDef, CompositeDef, FieldDef, SegmentDef, TableDef, TableKind, TableSource,
};
pub(crate) use lines::data_lines;
pub use load::{data_errors, datatype, field, segment, segment_ids, table};
pub(crate) use load::{EVENTS, GRAMMARS};
// The message structures, compiled by `structures`, under the same roof for callers.
pub use super::structures::{structure, structure_for_event, Structure, Version};
