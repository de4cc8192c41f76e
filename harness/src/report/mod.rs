//! Turning a run into something people and machines act on: the terminal summary and the
//! report folder (`results.json`, `junit.xml`, `summary.md`, `report.html`, `manifest.json`), its
//! sign-off (`sign`), `--redact-phi` (`redact`), the case snapshots (`snapshot`) and the
//! regression against an accepted baseline (`baseline`).

pub mod baseline;
pub mod html;
pub mod json;
pub mod junit;
pub mod live;
pub mod load;
pub mod manifest;
pub mod markdown;
pub mod merge;
pub mod message_profile;
pub mod message_table;
pub mod overview;
pub mod proxy;
pub mod record;
pub mod redact;
pub mod results_model;
pub mod sender_stderr;
pub mod sign;
pub mod snapshot;
mod snapshot_through;
pub mod terminal;
pub mod through_pack;
pub mod time;
mod write;

pub use record::{hash_inputs, RunRecord};
pub use write::{write_report, ReportError, SNAPSHOTS};
