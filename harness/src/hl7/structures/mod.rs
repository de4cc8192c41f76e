//! Message structures: the standard's segment grammars and trigger-event → structure map
//! (generated data of [`crate::hl7::standard`]) compiled for matching, and the required fields
//! of the standard's segment definitions.
//!
//! Covers every message structure of v2.3, 2.3.1, 2.4, 2.5, 2.5.1, 2.6, 2.7 and 2.8 that the
//! sources define (the few that allow "any segment" are left out; `grammars.txt` lists them).

pub mod grammar;
pub mod matcher;
mod tables;

pub use tables::*;
