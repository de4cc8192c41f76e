//! What a run gives: each case judged (`CaseOutcome`), per pack, and the run as a whole;
//! and why a run could not start (`RunError`).

use super::options::Shard;
use crate::checks::{CheckResult, Severity};
use crate::observation::CaseObservation;
use crate::vocab::Seed;
use std::path::PathBuf;
use std::time::Duration;

/// A case's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Passed,
    /// Only warning-severity checks failed.
    Warned,
    Failed,
}

/// One case run and judged.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    pub pack: String,
    pub scenario: String,
    pub file: PathBuf,
    pub name: String,
    pub seed: Seed,
    /// What was sent, per message: template and mutations.
    pub sent: Vec<String>,
    pub results: Vec<CheckResult>,
    pub observation: CaseObservation,
    pub duration: Duration,
    /// One command line that runs this case again with the same bytes.
    pub reproduce: String,
    /// Where the case stands in the run: the scenario file's number (over all packs) and the
    /// case's place in that file's expanded list, so shard reports merge back into run order.
    pub position: (usize, usize),
    /// The `vary: { values: … }` choice of this case, `(field path, value)`: part of its name,
    /// and patient data when the field is (`--redact-phi` replaces it even when the value
    /// could not be written into the message).
    pub vary: Option<(String, String)>,
    /// Through role: which output fields a snapshot redacts (the case's `ignore:` and
    /// `matches:` paths per destination) and the key that ties an output to its input.
    pub output_redaction: Option<crate::checks::OutputRedaction>,
}

impl CaseOutcome {
    pub fn verdict(&self) -> Verdict {
        let failed = |severity| self.results.iter().any(|r| !r.passed && r.severity == severity);
        if failed(Severity::Error) {
            Verdict::Failed
        } else if failed(Severity::Warning) {
            Verdict::Warned
        } else {
            Verdict::Passed
        }
    }

    pub fn failures(&self) -> impl Iterator<Item = &CheckResult> {
        self.results.iter().filter(|r| !r.passed)
    }
}

#[derive(Debug, Clone)]
pub struct PackOutcome {
    pub name: String,
    pub cases: Vec<CaseOutcome>,
}

#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub packs: Vec<PackOutcome>,
    pub seed: Seed,
    /// The target as shown to the user.
    pub target: String,
    /// Every case failed to reach its (external) target.
    pub unreachable: bool,
    /// Scenario files not run, with the reason (e.g. an HTTP scenario and an MLLP `--target`).
    pub skipped: Vec<(PathBuf, String)>,
    /// The part of the cases this run ran (`--shard K/N`); `None`: all of them.
    pub shard: Option<Shard>,
    /// The `load:` phases run, with their accounts (their checks are on cases named `load: …`).
    pub load: Vec<crate::load::LoadPhase>,
    /// The target profiles the cases were graded by (none: the standard's most permissive
    /// reading), so a signed report certifies a system against what it declared.
    pub profiles: Vec<crate::profile::ProfileUsed>,
}

impl RunOutcome {
    pub fn cases(&self) -> impl Iterator<Item = &CaseOutcome> {
        self.packs.iter().flat_map(|p| p.cases.iter())
    }

    pub fn failed(&self) -> bool {
        self.cases().any(|c| c.verdict() == Verdict::Failed)
    }
}

/// A run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{file}: {message}")]
    Target { file: String, message: String },
    #[error("cannot start the built-in endpoint: {0}")]
    Builtin(#[source] std::io::Error),
}
