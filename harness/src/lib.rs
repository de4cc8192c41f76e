//! hl7-harness: a conformance test harness and hostile-network simulator for HL7 v2 interfaces.
//!
//! Data flows one way: `cli` → `scenario` → `runner` → observations → `checks` → `report`.
//! The `hl7` module is the message model everything else stands on; it does no I/O.
#![forbid(unsafe_code)]

pub mod checks;
pub mod cli;
pub mod conformance;
pub mod faults;
pub mod generator;
pub mod hl7;
pub mod load;
pub mod netlab;
pub mod observation;
pub mod profile;
pub mod profile_import;
pub mod proxy;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod target;
pub mod transport;
pub mod utc;
pub mod vocab;
