//! Conformance to a message profile: every message judged against what the target profile's
//! `message_profiles` say it must contain (usage, cardinality, length, data type, value sets,
//! fixed values, patterns, predicates, conformance statements).
//!
//! Pure: messages and a profile in, violations out. `validate --profile` and the receiver
//! role's `sender.content` check use it; the format itself is `profile::message`.

mod base;
mod breaks;
mod draft;
mod eval;
mod generate;
#[cfg(test)]
mod generate_tests;
mod plan;
mod tree;
mod validator;
mod values;
mod violation;

pub use generate::{generate, Broken, Generated};
pub use validator::{Coverage, Judged, Memory, ProfileJudge, Validator};
pub use violation::{Rule, Violation};
