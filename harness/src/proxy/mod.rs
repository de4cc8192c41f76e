//! The MLLP-aware proxy (`hl7-harness proxy`): sits between two real systems and misbehaves at
//! frame boundaries (drop, delay, duplicate, corrupt a chosen frame or ACK) and at the byte level
//! (latency, bandwidth, slicing, half-close, reset, outage), by ordered rules decided from one
//! seed, and logs every fault it injects with the frame it touched.
//!
//! `spec` parses rules, `engine` decides (pure, seeded), `frame` cuts streams into frames,
//! `shape` writes bytes shaped, `server` owns the sockets, `control` is the HTTP control
//! interface and `event` the log (`report::proxy` writes the report folder). Independent of `faults/` (the
//! runner's client-side primitives) and `runner/`.

pub mod control;
pub mod engine;
pub mod event;
pub mod frame;
pub mod server;
pub mod shape;
pub mod spec;

pub use engine::{Decision, Engine, Shaping, Trigger, Verdict};
pub use event::{Event, EventLog};
pub use server::{serve, Proxy, ProxyOptions, Upstream};
pub use spec::{parse_spec, Direction, FaultSpec, SpecError};
