//! Faults the harness injects on purpose, in one place: the client side's `network:` faults
//! (the harness as a misbehaving sender), the receiver role's answers and the proxy's rules.
//! Each vocabulary parses to value types here; the runner, the receiver role and the proxy
//! host them. Defects of the reference peers are bugs, not faults, and live with those peers.
//! Pure: no I/O except the shaper's writes; every random choice comes from one seed.

mod answer;
mod checksum;
mod engine;
mod frame_ids;
mod network;
mod rule;
mod shape;
pub mod spec;
mod storm;
mod wire;

pub use answer::{Answer, AnswerRules, ArrivalMatch, NakCode};
pub use checksum::damage_checksum;
pub use engine::{Applied, Decision, Engine, Rule, Trigger, Verdict};
pub use frame_ids::{corrupt_byte, frame_ids, last_byte_of, type_matches, FrameIds};
pub use network::{
    NetworkFault, OVERSIZED_DEFAULT, OVERSIZED_MAX, STORM_MAX, UNTERMINATED_SILENCE,
};
pub use rule::{CorruptTarget, Direction, Directions, FaultKind, FaultSpec, TriggerPoint};
pub use shape::{cut_into_writes, pace, play, write_shaped, Shaping, Write, WriteSink};
pub use spec::{parse_spec, SpecError};
pub use storm::storm_plan;
pub use wire::{
    ack_trigger, between_frames, plan, shape_payload, writes_outside_before, WireEnd, WirePlan,
};
