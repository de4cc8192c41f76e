//! Load and soak: drive a target at a fixed rate (open loop) or as fast as it answers (closed
//! loop) over any transport, account for every message (acknowledged, rejected with a code, or
//! lost), and measure latency with HDR histograms so memory stays flat over long runs.
//!
//! It uses `transport` and `generator`; it must not know about reports or the command line.

pub mod client;
pub mod engine;
pub mod phase;
pub mod source;
pub mod stats;
pub mod tally;
pub mod threshold;

pub use client::{Client, Exchange, LoadTarget};
pub use engine::{run, run_spread, Finished, Mode, Plan, Progress, Spread};
pub use phase::LoadPhase;
pub use source::{MessageSource, SourceError, SourceOptions};
pub use stats::{Account, Ending, LostMessage, Percentiles};
pub use threshold::{Threshold, ThresholdError};
