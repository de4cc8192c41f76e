//! What a run tells as it goes. The runner never prints: it emits [`RunEvent`]s to a sink the
//! caller chooses, and reporters (the terminal summary, the progress bar, `--json` lines, the
//! report folder) consume them. A reporter matches every kind with no `_ =>`, so a new kind
//! is a compile error in each reporter until it decides what to do with it.

use super::options::Shard;
use super::outcome::{CaseOutcome, RunOutcome};
use crate::load::LoadPhase;
use crate::target::log::Kept;
use crate::vocab::Seed;
use std::path::Path;

/// One thing that happened in a run, in the order it happened. Cases of files that run at the
/// same time interleave; `CaseFinished` comes once per case, `RunFinished` last.
#[derive(Debug, Clone, Copy)]
pub enum RunEvent<'a> {
    /// The run begins: the cases (and load phases) selected after `--filter`, `--exclude` and
    /// `--shard`, the seed every case's seed derives from, and the target as shown.
    RunStarted { seed: Seed, target: &'a str, cases: usize, shard: Option<Shard> },
    /// A scenario file begins, with the number of its cases (and load phase) this run runs.
    FileStarted { pack: &'a str, file: &'a Path, cases: usize },
    /// A scenario file is not run, and why (e.g. an HTTP scenario and an MLLP `--target`).
    FileSkipped { pack: &'a str, file: &'a Path, reason: &'a str },
    /// A case begins: it holds its permit (`--jobs`) and is about to connect.
    CaseStarted { pack: &'a str, file: &'a Path, name: &'a str },
    /// A case ran and was judged.
    CaseFinished(&'a CaseOutcome),
    /// A file's `load:` phase ran: the case carrying its threshold checks, and its account.
    LoadPhaseFinished { case: &'a CaseOutcome, phase: &'a LoadPhase },
    /// What the built-in endpoint started for a file logged (tolerated bytes, refused
    /// frames, what its defects did), told once the file is done and only when it logged:
    /// the first lines, and how many more there were.
    EndpointLog { pack: &'a str, file: &'a Path, log: &'a Kept },
    /// A scenario file is done (its built-in endpoint, if any, stopped).
    FileFinished { pack: &'a str, file: &'a Path },
    /// The run is over: every case, in run order.
    RunFinished(&'a RunOutcome),
}

/// Where the runner sends its events. Cases run on several tasks at once, so the sink is
/// shared (`Sync`); a reporter that keeps state puts it behind a lock.
pub type EventSink<'s> = &'s (dyn Fn(&RunEvent<'_>) + Sync);

/// Something that consumes a run's events (the terminal summary, the progress bar, …).
pub trait Reporter {
    fn report(&mut self, event: &RunEvent<'_>);
}
