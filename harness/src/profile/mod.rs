//! The target profile: what the system under test declares it does (versions, message types,
//! processing ids, acknowledgment modes, MLLP release, …). Grading is HL7 v2 ∩ the profile:
//! where the standard lets a receiver choose, the profile says which choice this system made;
//! with no profile (or a declaration left out) every choice the standard allows passes.
//!
//! This module owns the format and what a loaded profile carries (its file and sha256, which
//! reports print). It reads no files (`scenario::load_profile` does, beside the scenario YAML)
//! and does no judging: the checks read a [`TargetProfile`] and decide.

pub mod expr;
mod loaded;
pub mod message;
mod model;
pub mod usage;

pub use loaded::{json_schema, LoadedProfile, ProfileUsed};
pub use message::{MessageKey, MessageProfile, ProfilePath, ValueSet};
pub use model::*;
