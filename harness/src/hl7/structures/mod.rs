//! Message structures: the standard's segment grammars, trigger-event → structure map and
//! required fields, as compact data of our own (`grammars.txt`, `events.txt`, `required.txt`)
//! embedded in the binary and read once at first use.
//!
//! Covers ACK, ADT_A01, ADT_A03, ADT_A05, ADT_A09, ADT_A18, ADT_A30, ADT_A39, ADT_A54, ORU_R01,
//! ORM_O01, OML_O21, MDM_T02, SIU_S12 and MFN_M02 in v2.3, 2.3.1, 2.4, 2.5, 2.5.1 and 2.6.

pub mod grammar;
pub mod matcher;
mod tables;

pub use tables::*;
