//! The MLLP-aware proxy (`hl7-harness proxy`): sits between two real systems and misbehaves at
//! frame boundaries (drop, delay, duplicate, corrupt a chosen frame or ACK) and at the byte level
//! (latency, bandwidth, slicing, half-close, reset, outage), by ordered rules decided from one
//! seed, and logs every fault it injects with the frame it touched.
//!
//! The rules, their `--fault SPEC` text, the engine that decides (pure, seeded) and the shaper
//! that writes bytes live in `faults/`, shared with the runner and the receiver role; here
//! `frame` cuts streams into frames, `server` owns the sockets and hosts the engine, `control`
//! is the HTTP control interface, `event` the log and `record` the `--record` pack writer
//! (`report::proxy` writes the report folder). Independent of `runner/`.

pub mod control;
pub mod event;
pub mod frame;
pub mod lanes;
pub mod record;
pub mod server;

/// The rules, their text form and the engine live in `faults`; named here for the proxy's users.
pub use crate::faults::{
    parse_spec, Decision, Direction, Engine, FaultSpec, Shaping, SpecError, Trigger, Verdict,
};
pub use event::{Event, EventLog};
pub use lanes::serve_on_threads;
pub use server::{serve, Proxy, ProxyOptions, Upstream};
