//! The runner: expands each scenario file's cases (templates with several messages, `vary:`),
//! resolves the target (starting the built-in endpoint when asked), runs serial cases in order
//! and the rest concurrently (`--jobs`), and turns observations into check results.

mod build;
mod case_run;
mod exec;
mod hllp;
mod http_case;
mod lab;
mod lane;
mod liveness;
mod load_phase;
mod mllp_case;
mod order;
mod probe;
mod reading;
mod receiver;
mod target;
mod wire;

pub use exec::{unique_token, CaseRun, Context};
pub use probe::{first_difference, http_get};
pub use receiver::{ReceiverContext, ReceiverRun};
pub use target::{Builtin, TargetUrl};

use crate::checks::{evaluate, CheckResult, Severity};
use crate::observation::{self, CaseObservation};
use crate::scenario::{HllpSpec, LoadedScenario, Pack, Transport, Vary};
use crate::target::defect::Defects;
use crate::transport::connection::Timeouts;
use crate::transport::tls::ClientTls;
use crate::transport::userinfo::{redact, Credentials};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a run is done (the `run` command's flags). The default runs everything against the
/// built-in endpoint with seed 0, 8 cases at a time.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Overrides every scenario's `target.url`.
    pub target: Option<String>,
    /// Defects of the built-in endpoint (self-tests of the harness).
    pub defects: Defects,
    pub seed: u64,
    pub jobs: usize,
    /// Only cases whose full name contains this text.
    pub filter: Option<String>,
    /// Leave out cases whose full name contains any of these texts (`--exclude`).
    pub exclude: Vec<String>,
    /// Overrides every scenario's `target.state` (the base URL probes read).
    pub state: Option<String>,
    /// Run only this shard's share of the cases (`--shard K/N`).
    pub shard: Option<Shard>,
    /// Defects of the reference sender for receiver-role scenarios (`{defects}` in a SUT
    /// command, `--sut-defect`).
    pub sut_defects: Vec<String>,
    /// The target profile given on the command line (`--target-profile`): it overrides every
    /// scenario's `target.profile`.
    pub profile: Option<crate::profile::LoadedProfile>,
    /// The hl7-harness binary `{harness}` stands for in a SUT command (default: this
    /// executable; tests running the runner in-process name the real binary).
    pub harness: Option<PathBuf>,
}

/// `--shard K/N`: the K-th of N disjoint parts of a run's cases (1-based), so a CI matrix can
/// split a large pack over N machines and `report merge` can join the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl RunOptions {
    /// Whether the case (or load phase) named `name` runs: it matches `--filter` and no
    /// `--exclude`.
    pub fn wants(&self, name: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| name.contains(f))
            && !self.exclude.iter().any(|x| name.contains(x.as_str()))
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            target: None,
            defects: Defects::default(),
            seed: 0,
            jobs: 8,
            filter: None,
            exclude: Vec::new(),
            state: None,
            shard: None,
            sut_defects: Vec::new(),
            profile: None,
            harness: None,
        }
    }
}

impl Shard {
    /// Parses `K/N` with 1 <= K <= N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (k, n) =
            text.split_once('/').ok_or_else(|| format!("{text:?}: expected K/N, e.g. 2/4"))?;
        let number = |part: &str| {
            part.trim().parse::<usize>().map_err(|_| format!("{text:?}: {part:?} is not a number"))
        };
        let (index, count) = (number(k)?, number(n)?);
        if count == 0 || index == 0 || index > count {
            return Err(format!("{text:?}: K must be between 1 and N (N at least 1)"));
        }
        Ok(Shard { index, count })
    }

    /// Whether unit `unit` (0-based, counted over the whole run) belongs to this shard.
    fn owns(&self, unit: usize) -> bool {
        unit % self.count == self.index - 1
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The cases of one scenario file as they will run.
#[derive(Debug, Clone)]
pub enum FileRuns {
    /// The cases, and whether this run does the file's `load:` phase.
    Sender(Vec<CaseRun>, bool),
    Receiver(Vec<ReceiverRun>),
}

impl FileRuns {
    pub fn len(&self) -> usize {
        match self {
            FileRuns::Sender(runs, load) => runs.len() + usize::from(*load),
            FileRuns::Receiver(runs) => runs.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The case runs of every scenario file of `packs` (indexed like the run numbers files: in
/// order, skipped files included) after `--filter` and `--shard`. Sharding deals units out in
/// turn over the whole run: the serial cases of a file are one unit (they run in order, and
/// may rely on it), every other case is a unit of its own. The same packs, filter and N always
/// give the same split, and the N shards together run every case exactly once.
pub fn select(packs: &[Pack], options: &RunOptions) -> Vec<FileRuns> {
    // Units are numbered in run order; a shard takes every N-th.
    let mut unit = 0usize;
    let mut next_unit = || {
        unit += 1;
        unit - 1
    };
    let owns = |u: usize| options.shard.is_none_or(|shard| shard.owns(u));
    let wanted = |name: &str| options.wants(name);
    let mut selected = Vec::new();
    for (file, scenario) in packs.iter().flat_map(|p| p.scenarios.iter()).enumerate() {
        if scenario.file.role == crate::scenario::Role::Receiver {
            let runs = expand_receiver(scenario, options.seed, file)
                .into_iter()
                .filter(|r| wanted(&r.name))
                .filter(|_| owns(next_unit()))
                .collect();
            selected.push(FileRuns::Receiver(runs));
            continue;
        }
        let runs: Vec<CaseRun> =
            expand(scenario, options.seed, file).into_iter().filter(|r| wanted(&r.name)).collect();
        // The serial cases are one unit, numbered where the first of them is met.
        let serial_unit = runs.iter().any(|r| r.case.serial).then(&mut next_unit);
        let runs = runs
            .into_iter()
            .filter(
                |r| if r.case.serial { serial_unit.is_some_and(owns) } else { owns(next_unit()) },
            )
            .collect();
        // A load phase is a unit of its own, dealt after the file's cases.
        let load = scenario.file.load.is_some() && owns(next_unit());
        selected.push(FileRuns::Sender(runs, load));
    }
    selected
}

/// The receiver-role case runs of one scenario file, in file order.
pub fn expand_receiver(scenario: &LoadedScenario, run_seed: u64, file: usize) -> Vec<ReceiverRun> {
    scenario
        .file
        .receive
        .iter()
        .enumerate()
        .map(|(index, case)| ReceiverRun {
            index,
            name: case.name.clone(),
            case: case.clone(),
            seed: run_seed ^ stable_hash(&format!("{}/{}", scenario.name, case.name)),
            file,
        })
        .collect()
}

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
    pub seed: u64,
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
    pub seed: u64,
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

/// Why a scenario written for one transport cannot run against `url`, if it cannot.
fn mismatch(url: &TargetUrl, declared: Option<Transport>) -> Option<String> {
    let offered = match url {
        TargetUrl::Builtin => return None,
        TargetUrl::Mllp(_) | TargetUrl::Mllps(_) => Transport::Mllp,
        TargetUrl::Http(_) | TargetUrl::Https(_) => Transport::Http,
        TargetUrl::Hllp(_) => Transport::Hllp,
    };
    // A file that names no transport is an MLLP scenario; only HLLP files run over HLLP.
    let wanted = match (declared, offered) {
        (Some(wanted), _) => wanted,
        (None, Transport::Hllp) => Transport::Mllp,
        (None, _) => return None,
    };
    (offered != wanted).then(|| {
        let (name, example) = match wanted {
            Transport::Mllp => ("MLLP", "mllp://HOST:PORT"),
            Transport::Http => ("HTTP", "http(s)://HOST:PORT/PATH"),
            Transport::Hllp => ("HLLP", "hllp://HOST:PORT"),
        };
        format!("written for an {name} target; give --target {example} to run it")
    })
}

/// The observation of a case whose task panicked or was cancelled: it did not run to the end.
fn crashed(err: &tokio::task::JoinError) -> CaseObservation {
    CaseObservation {
        exchanges: Vec::new(),
        connections_after: Vec::new(),
        stray: Vec::new(),
        probes: Vec::new(),
        aborted: Some(observation::TransportEvent {
            code: "case-crashed".into(),
            detail: format!("the harness failed while running the case: {err}"),
        }),
        ..CaseObservation::default()
    }
}

/// FNV-1a: a stable hash for per-case seeds (the same on every platform and version).
fn stable_hash(text: &str) -> u64 {
    text.bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// One `vary:` choice: an extra mutation or a field value, and its label.
type Variant = (
    Option<crate::generator::Mutation>,
    Option<(crate::scenario::FieldPath, String)>,
    Option<String>,
);

/// The case runs of one scenario file, in file order.
pub fn expand(scenario: &LoadedScenario, run_seed: u64, file: usize) -> Vec<CaseRun> {
    let mut runs = Vec::new();
    for case in &scenario.file.cases {
        let first_template =
            case.send.clone().or_else(|| case.steps.iter().find_map(|s| s.send.clone()));
        let messages = first_template
            .and_then(|t| scenario.templates.get(&t))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let picks: Vec<(usize, Option<String>)> = if messages.len() > 1 {
            messages.iter().enumerate().map(|(i, m)| (i, Some(m.label.clone()))).collect()
        } else {
            vec![(0, None)]
        };
        let variants: Vec<Variant> = match &case.vary {
            None => vec![(None, None, None)],
            // Numbered: the same mutation may appear with other parameters.
            Some(Vary::Mutation(list)) => list
                .iter()
                .enumerate()
                .map(|(i, m)| (Some(m.clone()), None, Some(format!("{} #{}", m.name(), i + 1))))
                .collect(),
            Some(Vary::Values { field, values }) => values
                .iter()
                .map(|v| (None, Some((field.clone(), v.clone())), Some(format!("{field}={v}"))))
                .collect(),
        };
        for (pick, label) in &picks {
            for (mutation, value, variant) in &variants {
                let mut name = case.name.clone();
                for part in [label, variant].into_iter().flatten() {
                    name.push_str(&format!(" [{part}]"));
                }
                let seed = run_seed ^ stable_hash(&format!("{}/{}", scenario.name, name));
                runs.push(CaseRun {
                    index: runs.len(),
                    name,
                    case: case.clone(),
                    pick: *pick,
                    extra_mutation: mutation.clone(),
                    vary_value: value.clone(),
                    seed,
                    run_seed,
                    file,
                });
            }
        }
    }
    runs
}

/// `text` as one POSIX shell word (single-quoted when it needs to be).
pub fn shell_quote(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=".contains(c)) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The command that runs one case again: the same file, case, seed, target (without
/// credentials), state endpoint, target profile, defects and exclusions, after the
/// environment variables the scenario read, with their values (a secret's only by name:
/// `NAME="$NAME"` takes it from the shell the command is pasted into).
fn reproduce(scenario: &LoadedScenario, name: &str, options: &RunOptions) -> String {
    let mut parts: Vec<String> = scenario
        .environment
        .iter()
        .map(|read| match &read.value {
            Some(value) => format!("{}={}", read.name, shell_quote(value)),
            None => format!("{0}=\"${0}\"", read.name),
        })
        .collect();
    parts.extend([
        "hl7-harness run".to_string(),
        shell_quote(&scenario.path.display().to_string()),
        "--filter".into(),
        shell_quote(name),
        "--seed".into(),
        options.seed.to_string(),
    ]);
    for text in &options.exclude {
        parts.extend(["--exclude".into(), shell_quote(text)]);
    }
    if let Some(target) = &options.target {
        // Without userinfo: a password given in the URL is never repeated (README, "Targets").
        parts.extend(["--target".into(), shell_quote(&redact(target))]);
    }
    if let Some(state) = &options.state {
        parts.extend(["--state".into(), shell_quote(&redact(state))]);
    }
    if let Some(profile) = &options.profile {
        parts.extend(["--target-profile".into(), shell_quote(&profile.path.display().to_string())]);
    }
    for defect in options.defects.iter() {
        parts.extend(["--target-defect".into(), defect.name().to_string()]);
    }
    for defect in &options.sut_defects {
        parts.extend(["--sut-defect".into(), shell_quote(defect)]);
    }
    parts.join(" ")
}

/// The profile a scenario's cases are graded by: `--target-profile`, else the file's own.
fn profile_of<'a>(
    scenario: &'a LoadedScenario,
    options: &'a RunOptions,
) -> Option<&'a crate::profile::LoadedProfile> {
    options.profile.as_ref().or(scenario.profile.as_ref())
}

/// How a file's target has its effects read. The built-in endpoint: its own mapping
/// ([`StateSpec::builtin`]) at its state URL, and `duplicates: apply-once` unless the profile
/// declares otherwise. Any other target: its profile's `state:` with `url` filled in from
/// `--state` or `target.state` when the profile leaves it out; no mapping without a profile.
///
/// [`StateSpec::builtin`]: crate::profile::StateSpec::builtin
fn effects_of(
    profile: Option<&crate::profile::LoadedProfile>,
    builtin: bool,
    state_url: &Option<String>,
) -> probe::Effects {
    use crate::profile::{DuplicatePolicy, StateSpec};
    let declared = profile.map(|p| &*p.profile);
    let mapping =
        if builtin { Some(StateSpec::builtin()) } else { declared.and_then(|p| p.state.clone()) };
    let duplicates =
        declared.and_then(|p| p.duplicates).or(builtin.then_some(DuplicatePolicy::ApplyOnce));
    probe::Effects {
        state: mapping.map(|mut spec| {
            spec.url = state_url.clone().or(spec.url);
            Arc::new(spec)
        }),
        duplicates,
    }
}

/// Every profile the selected files are graded by, once each, in file order.
fn profiles_used(packs: &[Pack], options: &RunOptions) -> Vec<crate::profile::ProfileUsed> {
    let mut used: Vec<crate::profile::ProfileUsed> = Vec::new();
    for scenario in packs.iter().flat_map(|p| p.scenarios.iter()) {
        if let Some(profile) = profile_of(scenario, options) {
            let entry = crate::profile::ProfileUsed::from(profile);
            if !used.contains(&entry) {
                used.push(entry);
            }
        }
    }
    used
}

/// What running one case gave.
struct Judged {
    observation: CaseObservation,
    plan: crate::checks::CasePlan,
    sent: Vec<String>,
    duration: Duration,
}

/// A case's outcome: its observations judged by the checks, with what reproduces it.
fn judge(
    pack: &Pack,
    scenario: &LoadedScenario,
    options: &RunOptions,
    (name, seed, position): (&str, u64, (usize, usize)),
    vary: Option<(String, String)>,
    judged: Judged,
) -> CaseOutcome {
    let observation = judged.observation;
    let mut plan = judged.plan;
    plan.profile = profile_of(scenario, options).map(|p| Arc::clone(&p.profile));
    CaseOutcome {
        pack: pack.name.clone(),
        scenario: scenario.name.clone(),
        file: scenario.path.clone(),
        name: name.to_string(),
        seed,
        sent: judged.sent,
        results: evaluate(&plan, &observation),
        observation,
        duration: judged.duration,
        reproduce: reproduce(scenario, name, options),
        position,
        vary,
    }
}

/// Runs the receiver cases of one scenario file: concurrently (`--jobs`) when each case
/// listens on a port of its own, one after another when the scenario fixes the port.
async fn run_receiver_file(
    pack: &Pack,
    scenario: &LoadedScenario,
    runs: Vec<ReceiverRun>,
    options: &RunOptions,
    progress: &(dyn Fn(&CaseOutcome) + Sync),
) -> Result<Vec<CaseOutcome>, String> {
    let spec = scenario.file.receiver.clone().unwrap_or_default();
    let listen = spec.listen.map(|t| t.0).unwrap_or_else(|| "127.0.0.1:0".into());
    let serial = !listen.ends_with(":0");
    let lab = lab::for_file(&scenario.file).await?;
    let ctx = Arc::new(ReceiverContext {
        lab,
        listen,
        command: spec.sut.map(|s| s.command.into_iter().map(|t| t.0).collect()),
        timeout: spec.timeout.map(|s| s.0).unwrap_or(Duration::from_secs(10)),
        quiet: spec.quiet.map(|s| s.0).unwrap_or(Duration::from_millis(300)),
        templates: scenario.templates.clone(),
        defects: options.sut_defects.clone(),
        secrets: receiver::secret_values(&scenario.environment),
        harness: options
            .harness
            .clone()
            .or_else(|| std::env::current_exe().ok())
            .unwrap_or_else(|| PathBuf::from("hl7-harness")),
    });
    let limit = Arc::new(tokio::sync::Semaphore::new(if serial { 1 } else { options.jobs.max(1) }));
    let mut tasks = tokio::task::JoinSet::new();
    let mut in_flight = std::collections::HashMap::new();
    for run in runs {
        let (ctx, limit, task_run) = (Arc::clone(&ctx), Arc::clone(&limit), run.clone());
        let handle = tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let started = Instant::now();
            let (observation, plan, sent) = receiver::run_case(&task_run, &ctx).await;
            (observation, plan, sent, started.elapsed())
        });
        in_flight.insert(handle.id(), run);
    }
    let mut finished = Vec::new();
    while let Some(joined) = tasks.join_next_with_id().await {
        let (id, (observation, plan, sent, duration)) = match joined {
            Ok(done) => done,
            Err(err) => (err.id(), (crashed(&err), Default::default(), Vec::new(), Duration::ZERO)),
        };
        let Some(run) = in_flight.remove(&id) else { continue };
        let judged = Judged { observation, plan, sent, duration };
        let at = (&run.name[..], run.seed, (run.file, run.index));
        let outcome = judge(pack, scenario, options, at, None, judged);
        progress(&outcome);
        finished.push(outcome);
    }
    finished.sort_by_key(|c| c.position);
    Ok(finished)
}

/// What running one sender-role scenario file gave.
#[derive(Default)]
struct FileDone {
    cases: Vec<CaseOutcome>,
    /// The file was not run, and why.
    skipped: Option<(PathBuf, String)>,
    load: Option<crate::load::LoadPhase>,
    /// Some case reached the target.
    reached: bool,
    /// The file ran against a target other than the built-in endpoint.
    external: bool,
}

/// Runs the cases of one sender-role scenario file (and its load phase when `load_here`):
/// the serial cases in file order, then the others concurrently; every case holds a permit of
/// `limit`, shared by the files that run at once, while it runs.
#[allow(clippy::too_many_arguments)]
async fn run_sender_file(
    pack: &Pack,
    scenario: &LoadedScenario,
    (runs, load_here): (Vec<CaseRun>, bool),
    file_number: usize,
    options: &RunOptions,
    progress: &(dyn Fn(&CaseOutcome) + Sync),
    limit: &Arc<tokio::sync::Semaphore>,
) -> Result<FileDone, RunError> {
    let url_text = target_text(scenario, options);
    let (url, url_credentials) =
        TargetUrl::parse_with_credentials(&url_text).map_err(|message| RunError::Target {
            file: scenario.path.display().to_string(),
            message,
        })?;
    let mut done = FileDone::default();
    let skip = |reason: String| FileDone {
        skipped: Some((scenario.path.clone(), reason)),
        ..FileDone::default()
    };
    let spec = &scenario.file.target;
    let transport = spec.transport.unwrap_or(Transport::Mllp);
    if let Some(reason) = mismatch(&url, spec.transport) {
        return Ok(skip(reason));
    }
    if runs.is_empty() && !load_here {
        // Filtered out or another shard's: no endpoint to start, nothing to connect to.
        return Ok(FileDone::default());
    }
    // Packet-level faults: a lab for the file, or the file is skipped, saying why.
    let lab = match lab::for_file(&scenario.file).await {
        Ok(lab) => lab,
        Err(reason) => return Ok(skip(reason)),
    };
    let (builtin, url, state) = match url {
        TargetUrl::Builtin => {
            let hllp = HllpSpec::options(spec.hllp.as_ref());
            let bind = lab
                .as_ref()
                .map_or(IpAddr::from(Ipv4Addr::LOCALHOST), |l| IpAddr::from(l.host_ip()));
            let builtin = Builtin::start_at(&options.defects, spec.builtin.as_ref(), hllp, bind)
                .await
                .map_err(RunError::Builtin)?;
            let url = builtin.url(transport);
            let state = Some(builtin.state_url.clone());
            (Some(builtin), url, state)
        }
        other => {
            done.external = true;
            let declared =
                profile_of(scenario, options).and_then(|p| p.profile.state.as_ref()?.url.clone());
            let state = options
                .state
                .clone()
                .or(declared)
                .or_else(|| spec.state.as_ref().map(|s| s.0.clone()));
            (None, other, state)
        }
    };
    let effects = effects_of(profile_of(scenario, options), builtin.is_some(), &state);
    let url = match &lab {
        Some(lab) => {
            let wait = spec.connect_timeout.map_or(Duration::from_secs(5), |s| s.0);
            let through = lab::through_lab(url, lab.host_ip());
            let checked = match through {
                Ok(url) if builtin.is_none() => lab::reachable(lab, &url, wait).await.map(|()| url),
                other => other,
            };
            match checked {
                Ok(url) => url,
                Err(reason) => {
                    if let Some(builtin) = builtin {
                        builtin.stop().await;
                    }
                    return Ok(skip(reason));
                }
            }
        }
        None => url,
    };
    let tls = if url.uses_tls() {
        let spec_tls = spec.tls.as_ref().ok_or_else(|| RunError::Target {
            file: scenario.path.display().to_string(),
            message: "mllps:// and https:// targets need target.tls.ca (the CA that signs the \
                      server's certificate) in the scenario"
                .into(),
        })?;
        let client = ClientTls {
            ca_file: Some(spec_tls.ca.resolved.clone()),
            client_cert: spec_tls
                .client_cert
                .as_ref()
                .zip(spec_tls.client_key.as_ref())
                .map(|(c, k)| (c.resolved.clone(), k.resolved.clone())),
        };
        Some(client.connector().map_err(|e| RunError::Target {
            file: scenario.path.display().to_string(),
            message: e.to_string(),
        })?)
    } else {
        None
    };
    let ack_timeout = spec.ack_timeout.map(|s| s.0).unwrap_or(Duration::from_secs(5));
    let connect = spec.connect_timeout.map(|s| s.0).unwrap_or(Duration::from_secs(5));
    let ctx = Arc::new(Context {
        url,
        state,
        effects,
        timeouts: Timeouts { connect, read: ack_timeout, write: Duration::from_secs(10) },
        ack_timeout,
        linger: spec.linger.map(|s| s.0).unwrap_or(Duration::from_millis(200)),
        // Credentials in the target URL win over the file's auth.basic, as the URL itself does
        // when it comes from --target.
        basic: url_credentials.map(Credentials::into_pair).or_else(|| {
            scenario
                .file
                .auth
                .as_ref()
                .map(|a| (a.basic.user.0.clone(), a.basic.password.expose().to_string()))
        }),
        templates: scenario.templates.clone(),
        tls,
        lab,
        hllp: HllpSpec::options(spec.hllp.as_ref()),
    });
    // A target that may serve one connection at a time gets one case at a time.
    let side_by_side = serves_side_by_side(scenario, options);
    let (serial, concurrent): (Vec<CaseRun>, Vec<CaseRun>) =
        runs.into_iter().partition(|r| r.case.serial || !side_by_side);
    let finish =
        |run: &CaseRun,
         (observation, plan, sent): (CaseObservation, crate::checks::CasePlan, Vec<String>),
         duration: Duration| {
            let judged = Judged { observation, plan, sent, duration };
            let vary = run.vary_value.as_ref().map(|(path, v)| (path.text.clone(), v.clone()));
            let at = (&run.name[..], run.seed, (run.file, run.index));
            judge(pack, scenario, options, at, vary, judged)
        };
    let mut finished = Vec::new();
    for run in &serial {
        // Waiting for a permit is not part of the case's duration.
        let _permit = limit.acquire().await;
        let started = Instant::now();
        let ran = exec::run_case(run, &ctx).await;
        let outcome = finish(run, ran, started.elapsed());
        progress(&outcome);
        finished.push((run.index, outcome));
    }
    let mut tasks = tokio::task::JoinSet::new();
    let mut in_flight = std::collections::HashMap::new();
    for run in concurrent {
        let (ctx, limit) = (Arc::clone(&ctx), Arc::clone(limit));
        let task_run = run.clone();
        let handle = tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let started = Instant::now();
            let ran = exec::run_case(&task_run, &ctx).await;
            (ran, started.elapsed())
        });
        in_flight.insert(handle.id(), run);
    }
    while let Some(joined) = tasks.join_next_with_id().await {
        // A case that panicked is reported as failed, never dropped.
        let (id, (ran, duration)) = match joined {
            Ok(done) => done,
            Err(err) => {
                (err.id(), ((crashed(&err), Default::default(), Vec::new()), Duration::ZERO))
            }
        };
        let Some(run) = in_flight.remove(&id) else { continue };
        let outcome = finish(&run, ran, duration);
        progress(&outcome);
        finished.push((run.index, outcome));
    }
    finished.sort_by_key(|(i, _)| *i);
    for (_, outcome) in finished {
        let unreachable = outcome
            .observation
            .aborted
            .as_ref()
            .is_some_and(|e| matches!(e.code.as_str(), "connect-failed" | "connect-timeout"));
        done.reached |= !unreachable;
        done.cases.push(outcome);
    }
    if let Some(spec) = scenario.file.load.as_ref().filter(|_| load_here) {
        let name = format!("load: {}", load_phase::describe_short(&load_phase::plan(spec)));
        if options.wants(&name) {
            let seed = options.seed ^ stable_hash(&format!("{}/load", scenario.name));
            let again = reproduce(scenario, &name, options);
            let (outcome, phase) =
                load_phase::run_load_phase(&pack.name, scenario, spec, &ctx, seed, again).await;
            let mut outcome = outcome;
            outcome.position = (file_number, usize::MAX);
            progress(&outcome);
            done.reached |= outcome.observation.aborted.is_none();
            done.cases.push(outcome);
            done.load = Some(phase);
        }
    }
    if let Some(builtin) = builtin {
        builtin.stop().await;
    }
    Ok(done)
}

/// Runs one scenario file of either role; gives its number back with what it gave.
async fn run_file(
    (file_number, pack, scenario, runs): (usize, &Pack, &LoadedScenario, FileRuns),
    options: &RunOptions,
    progress: &(dyn Fn(&CaseOutcome) + Sync),
    limit: &Arc<tokio::sync::Semaphore>,
) -> (usize, Result<FileDone, RunError>) {
    let done = match runs {
        FileRuns::Sender(runs, load) => {
            let runs = (runs, load);
            run_sender_file(pack, scenario, runs, file_number, options, progress, limit).await
        }
        FileRuns::Receiver(runs) => {
            Ok(match run_receiver_file(pack, scenario, runs, options, progress).await {
                Ok(cases) => FileDone { reached: !cases.is_empty(), cases, ..FileDone::default() },
                Err(reason) => FileDone {
                    skipped: Some((scenario.path.clone(), reason)),
                    ..FileDone::default()
                },
            })
        }
    };
    (file_number, done)
}

/// The target a sender-role file runs against, as written: `--target`, else the file's
/// `target.url`, else the built-in endpoint.
fn target_text(scenario: &LoadedScenario, options: &RunOptions) -> String {
    options
        .target
        .clone()
        .or_else(|| scenario.file.target.url.as_ref().map(|u| u.0.clone()))
        .unwrap_or_else(|| "builtin".into())
}

/// Whether the file's target may be given several connections at once. MLLP leaves it to the
/// receiver to serve one connection at a time (release 1 says nothing of concurrency), so only
/// a target whose profile declares `concurrent_connections: true` gets cases side by side,
/// and the built-in endpoint, whose behaviour the harness knows (every file starts its own,
/// which serves connections concurrently unless `one-connection-at-a-time` is switched on).
fn serves_side_by_side(scenario: &LoadedScenario, options: &RunOptions) -> bool {
    if let Some(declared) =
        profile_of(scenario, options).and_then(|p| p.profile.concurrent_connections)
    {
        return declared;
    }
    on_own_builtin(scenario, options)
        && !options.defects.has(crate::target::defect::Defect::OneConnectionAtATime)
}

/// The file runs against a built-in endpoint of its own (started for the file).
fn on_own_builtin(scenario: &LoadedScenario, options: &RunOptions) -> bool {
    matches!(
        TargetUrl::parse_with_credentials(&target_text(scenario, options)),
        Ok((TargetUrl::Builtin, _))
    )
}

/// Whether a file may run at the same time as others: not when it needs the packet-level lab
/// (one namespace and firewall per run), measures load (others would skew it), plays the
/// receiver (it starts the sender under test, whose retry timing is judged), or it shares a
/// target that may serve one connection at a time (another file's cases would hold it).
fn runs_alongside(scenario: &LoadedScenario, runs: &FileRuns, options: &RunOptions) -> bool {
    matches!(runs, FileRuns::Sender(_, false))
        && !lab::needs_lab(&scenario.file)
        && (on_own_builtin(scenario, options) || serves_side_by_side(scenario, options))
}

/// Polls every future to its end on the current task, and gives their outputs in order (the
/// files of a run, each of which spawns its cases onto the runtime).
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// Runs the packs; `progress` is called after each case. Scenario files run at the same time
/// (each against its own built-in endpoint, or the one target with control ids of their own),
/// `options.jobs` cases at once over all of them; files that must run alone run afterwards,
/// one by one.
pub async fn run(
    packs: &[Pack],
    options: &RunOptions,
    progress: &(dyn Fn(&CaseOutcome) + Sync),
) -> Result<RunOutcome, RunError> {
    let limit = Arc::new(tokio::sync::Semaphore::new(options.jobs.max(1)));
    let files: Vec<(&Pack, &LoadedScenario)> =
        packs.iter().flat_map(|p| p.scenarios.iter().map(move |s| (p, s))).collect();
    let selected = select(packs, options);
    let mut together = Vec::new();
    let mut alone = Vec::new();
    for (file_number, ((pack, scenario), runs)) in files.iter().zip(selected).enumerate() {
        if runs_alongside(scenario, &runs, options) {
            together.push((file_number, *pack, *scenario, runs));
        } else {
            alone.push((file_number, *pack, *scenario, runs));
        }
    }
    let run = |file| run_file(file, options, progress, &limit);
    let mut done = join_all(together.into_iter().map(run).collect()).await;
    for file in alone {
        done.push(run(file).await);
    }
    done.sort_by_key(|(file_number, _)| *file_number);
    let mut done = done.into_iter();
    let mut outcomes = Vec::new();
    let mut skipped = Vec::new();
    let mut load_phases = Vec::new();
    let mut reached_any = false;
    let mut external = false;
    for pack in packs {
        let mut cases = Vec::new();
        for (_, file) in done.by_ref().take(pack.scenarios.len()) {
            let file = file?;
            cases.extend(file.cases);
            skipped.extend(file.skipped);
            load_phases.extend(file.load);
            reached_any |= file.reached;
            external |= file.external;
        }
        outcomes.push(PackOutcome { name: pack.name.clone(), cases });
    }
    let any_case = outcomes.iter().any(|p| !p.cases.is_empty());
    Ok(RunOutcome {
        packs: outcomes,
        seed: options.seed,
        target: options
            .target
            .as_deref()
            .map(redact)
            .unwrap_or_else(|| "builtin (per scenario unless it names a target)".into()),
        unreachable: external && any_case && !reached_any,
        skipped,
        shard: options.shard,
        load: load_phases,
        profiles: profiles_used(packs, options),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = "
name: env
target:
  url: \"${HL7H_REPRO_TEST_URL:-http://127.0.0.1:9/hl7}\"
  state: \"${HL7H_REPRO_TEST_STATE:-http://reader:pw@127.0.0.1:9}\"
auth: { basic: { user: \"${HL7H_REPRO_TEST_USER:-u}\", password: \"${HL7H_REPRO_TEST_PW:-p}\" } }
messages:
  m: { text: \"MSH|^~\\\\&|S|SF|R|RF|20240101||ADT^A04^ADT_A01|X|P|2.5\" }
cases:
  - name: one
    send: m
";

    /// The reproduce line sets the environment the file read (a secret, or a value holding
    /// credentials, only by name), and repeats the target without its credentials, the
    /// profile and the exclusions.
    #[test]
    fn reproduce_sets_the_environment_and_never_shows_credentials() {
        let path = std::path::Path::new("env.yaml");
        let scenario =
            crate::scenario::load_text(path, SCENARIO, &[], crate::scenario::FileAccess::PackOnly)
                .unwrap();
        let options = RunOptions {
            seed: 4,
            target: Some("mllp://op:hunter2@127.0.0.1:2575".into()),
            profile: Some(crate::profile::LoadedProfile {
                path: PathBuf::from("profiles/site.yaml"),
                sha256: String::new(),
                profile: Arc::default(),
            }),
            exclude: vec!["slow one".into()],
            ..RunOptions::default()
        };
        let line = reproduce(&scenario, "one", &options);
        assert_eq!(
            line,
            "HL7H_REPRO_TEST_URL=http://127.0.0.1:9/hl7 \
             HL7H_REPRO_TEST_STATE=\"$HL7H_REPRO_TEST_STATE\" HL7H_REPRO_TEST_USER=u \
             HL7H_REPRO_TEST_PW=\"$HL7H_REPRO_TEST_PW\" hl7-harness run env.yaml --filter one \
             --seed 4 --exclude 'slow one' --target mllp://127.0.0.1:2575 \
             --target-profile profiles/site.yaml"
        );
        assert!(!line.contains("hunter2") && !line.contains(":pw@") && !line.contains("=p "));
    }

    #[test]
    fn exclude_leaves_out_cases_after_the_filter() {
        let options = RunOptions {
            filter: Some("v2".into()),
            exclude: vec!["v2.3".into(), "v2.6".into()],
            ..RunOptions::default()
        };
        let wanted: Vec<&str> =
            ["a v2.3 message", "a v2.4 message", "a v2.6 message", "an ADT message"]
                .into_iter()
                .filter(|name| options.wants(name))
                .collect();
        assert_eq!(wanted, ["a v2.4 message"]);
    }
}
