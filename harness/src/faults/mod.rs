//! Faults the harness injects on purpose, in one place: the client side's `network:` faults
//! (the harness as a misbehaving sender), the receiver role's `answers:` and the proxy's rules
//! (`--fault SPEC`). Each vocabulary parses to value types here; the runner's connections, the
//! receiver role's answering server and the proxy host them. Rules are ordered and the first
//! that matches decides; every random choice comes from one seed (ChaCha8). Defects of the
//! reference peers are bugs, not faults, and live with those peers (`target`).
//!
//! - `network`: the `network:` vocabulary; `client` a case's list of it as ordered rules
//!   (the case's for every frame, a step's for its frame); `wire` turns the faults a frame is
//!   written with into the writes of one attempt; `checksum` and `storm` hold the byte change and the seeded choices of two of them.
//! - `answer`: the `answers:` vocabulary as ordered rules per arrival.
//! - `fault`: one [`Fault`] value whichever syntax wrote it (YAML or `--fault` text), and the
//!   [`Host`]s that apply faults, each refusing by name the faults it cannot apply; `text` the
//!   text form of the client faults and the answers (the YAML's own words).
//! - `rule`: the proxy's rules as values; `spec` their `--fault` text; `engine` the decisions
//!   (pure, seeded per rule, direction and frame); `select` whether a rule selects a frame,
//!   shared by the engine and the client's rules; `frame_ids` what a rule can see of a frame.
//! - `shape`: the one byte shaper (slicing, pauses, bandwidth, latency) and the one loop that
//!   plays a schedule of writes, used by the proxy, the runner and the receiver role.
//!
//! Pure but for the shaper's writes. Imports `transport`, `hl7` and `vocab` only.

mod answer;
mod checksum;
mod client;
mod engine;
mod fault;
mod frame_ids;
mod network;
mod rule;
mod select;
mod shape;
mod spec;
mod storm;
mod table;
mod text;
mod wire;

pub use answer::{
    AckToBuild, AfterAnswer, Answer, AnswerAction, AnswerRules, ArrivalMatch, NakCode,
};
pub use checksum::damage_checksum;
pub use client::ClientFaults;
pub use engine::{Applied, Decision, Engine, Rule, Trigger, Verdict};
pub use fault::{foreign_word_hint, parse_fault, parse_for, Family, Fault, Host, HostError};
pub use frame_ids::{corrupt_byte, frame_ids, last_byte_of, type_matches, FrameIds};
pub use network::{
    NetworkFault, OVERSIZED_DEFAULT, OVERSIZED_MAX, STORM_MAX, UNTERMINATED_SILENCE,
};
pub use rule::{CorruptTarget, Direction, Directions, FaultKind, FaultSpec, TriggerPoint};
pub use select::{selects, stream, Filter};
pub use shape::{cut_into_writes, pace, play, write_shaped, Shaping, Write, WriteSink};
pub use spec::{parse_spec, SpecError};
pub use storm::storm_plan;
pub use table::{fault_table, FaultRow};
pub use wire::{
    ack_trigger, between_frames, plan, shape_payload, writes_outside_before, WireEnd, WirePlan,
};
