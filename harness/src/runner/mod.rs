//! The runner: expands each scenario file's cases (templates with several messages, `vary:`),
//! resolves the target (starting the built-in endpoint when asked), runs serial cases in order
//! and the rest concurrently (`--jobs`), turns observations into check results, and tells the
//! caller what happens through [`RunEvent`]s. It never prints.

mod build;
mod case_run;
mod estimate;
pub mod event;
mod exec;
mod hllp;
mod http_case;
mod input_port;
mod lab;
mod lane;
mod liveness;
mod load_phase;
mod mllp_case;
mod options;
mod order;
mod outcome;
mod probe;
mod reading;
mod receiver;
mod reproduce;
mod run;
mod select;
mod setup;
mod slots;
mod target;
mod through;
mod through_read;
mod wire;

pub use event::{EventSink, Reporter, RunEvent};
pub use exec::{unique_token, CaseRun, Context};
pub use options::{RunOptions, Shard, ShardError};
pub use outcome::{CaseOutcome, PackOutcome, RunError, RunOutcome, Verdict};
pub use probe::{first_difference, http_get};
pub use receiver::{ReceiverContext, ReceiverRun};
pub use reproduce::shell_quote;
pub use run::run;
pub use select::{expand, expand_receiver, select, FileRuns};
pub use target::{Builtin, TargetUrl};
pub use through::{ThroughContext, ThroughRun};
