//! Running the selected cases: scenario files side by side where they may be, the serial cases
//! of a file in order and the others concurrently (`--jobs` over the whole run), every case
//! judged as it finishes, and every step told to the caller's event sink.

use super::event::{EventSink, RunEvent};
use super::lab::LabSkip;
use super::options::RunOptions;
use super::outcome::{CaseOutcome, PackOutcome, RunError, RunOutcome};
use super::reproduce::reproduce;
use super::select::{part_seed, select, FileRuns};
use super::setup::{self, Prepared, Setup};
use super::slots::Slots;
use super::{estimate, exec, lab, load_phase, receiver, CaseRun, ReceiverContext, ReceiverRun};
use super::{ThroughContext, ThroughRun};
use crate::checks::evaluate;
use crate::observation::{self, CaseObservation};
use crate::scenario::{LoadedScenario, Pack};
use crate::transport::userinfo::redact;
use crate::vocab::Seed;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The observation of a case whose task panicked or was cancelled: it did not run to the end.
fn crashed(err: &tokio::task::JoinError) -> CaseObservation {
    CaseObservation {
        exchanges: Vec::new(),
        connections_after: Vec::new(),
        stray: Vec::new(),
        probes: Vec::new(),
        aborted: Some(observation::TransportEvent {
            code: crate::vocab::ConnectionEvent::CaseCrashed,
            detail: format!("the harness failed while running the case: {err}"),
        }),
        ..CaseObservation::default()
    }
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
    (name, seed, position): (&str, Seed, (usize, usize)),
    vary: Option<(String, String)>,
    judged: Judged,
) -> CaseOutcome {
    let observation = judged.observation;
    let mut plan = judged.plan;
    let output_redaction = plan.through.as_ref().map(crate::checks::ThroughExpectation::redaction);
    plan.profile = setup::profile_of(scenario, options).map(|p| Arc::clone(&p.profile));
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
        output_redaction,
    }
}

/// Tells the sink a case started: the name of a case whose task got its permit.
fn case_started(events: EventSink<'_>, pack: &Pack, scenario: &LoadedScenario, name: &str) {
    events(&RunEvent::CaseStarted { pack: &pack.name, file: &scenario.path, name });
}

/// Waits for the next of `tasks` to end, telling the sink about every case that started
/// meanwhile (each task sends its case's name on `started` once it holds its permit). `None`
/// when every task has ended.
async fn next_finished<T: 'static>(
    tasks: &mut tokio::task::JoinSet<T>,
    started: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    mut tell: impl FnMut(&str),
) -> Option<Result<(tokio::task::Id, T), tokio::task::JoinError>> {
    loop {
        tokio::select! {
            // Started before finished: a case's start is always told before its end.
            biased;
            Some(name) = started.recv() => tell(&name),
            joined = tasks.join_next_with_id() => return joined,
        }
    }
}

/// Runs the receiver cases of one scenario file: concurrently (each holding a slot of the
/// run's `--jobs`) when each case listens on a port of its own, one after another when the
/// scenario fixes the port.
async fn run_receiver_file(
    pack: &Pack,
    scenario: &LoadedScenario,
    runs: Vec<ReceiverRun>,
    options: &RunOptions,
    events: EventSink<'_>,
    slots: &Arc<Slots>,
) -> Result<Vec<CaseOutcome>, LabSkip> {
    let spec = scenario.file.receiver.clone();
    let listen = spec.listen;
    let serial = !listen.ends_with(":0");
    let lab = lab::for_file(&scenario.file).await?;
    let profile = setup::profile_of(scenario, options).map(|p| Arc::clone(&p.profile));
    // The Basic password is hidden wherever the SUT's command line or output shows it, even
    // when it came from a default rather than the environment.
    let mut secrets = receiver::secret_values(&scenario.environment);
    if let Some(basic) = spec.http.as_ref().and_then(|h| h.basic.as_ref()) {
        let mut values = secrets.values().to_vec();
        values.push(basic.password.clone());
        secrets = crate::transport::userinfo::Secrets::of_values(values);
    }
    let ctx = Arc::new(ReceiverContext {
        http: spec.http.map(Arc::new),
        lab,
        profile,
        listen,
        command: spec.sut_command,
        timeout: spec.timeout,
        quiet: spec.quiet,
        templates: scenario.file.templates.clone(),
        defects: options.sut_defects.clone(),
        secrets,
        harness: options
            .harness
            .clone()
            .or_else(|| std::env::current_exe().ok())
            .unwrap_or_else(|| PathBuf::from("hl7-harness")),
    });
    let estimates: Vec<Duration> =
        runs.iter().map(|run| estimate::receiver_case(run, ctx.quiet)).collect();
    let mut queue = FileQueue::new(serial, estimates, slots);
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = tokio::task::JoinSet::new();
    let mut in_flight = std::collections::HashMap::new();
    for run in runs {
        let (ctx, task_run, turn) = (Arc::clone(&ctx), run.clone(), queue.turn());
        let started_tx = started_tx.clone();
        let handle = tasks.spawn(async move {
            let _slot = turn.take().await;
            let _ = started_tx.send(task_run.name.clone());
            let started = Instant::now();
            let (observation, plan, sent) = receiver::run_case(&task_run, &ctx).await;
            (observation, plan, sent, started.elapsed())
        });
        in_flight.insert(handle.id(), run);
    }
    drop(started_tx);
    let mut finished = Vec::new();
    let tell = |name: &str| case_started(events, pack, scenario, name);
    while let Some(joined) = next_finished(&mut tasks, &mut started, tell).await {
        let (id, (observation, plan, sent, duration)) = match joined {
            Ok(done) => done,
            Err(err) => (err.id(), (crashed(&err), Default::default(), Vec::new(), Duration::ZERO)),
        };
        let Some(run) = in_flight.remove(&id) else { continue };
        let judged = Judged { observation, plan, sent, duration };
        let at = (&run.name[..], run.seed, (run.file, run.index));
        let outcome = judge(pack, scenario, options, at, None, judged);
        events(&RunEvent::CaseFinished(&outcome));
        finished.push(outcome);
    }
    finished.sort_by_key(|c| c.position);
    Ok(finished)
}

/// Runs the through cases of one scenario file one after another: each starts its own engine,
/// and an engine's timing (retries, queues) is judged, so cases do not share the machine.
async fn run_through_file(
    pack: &Pack,
    scenario: &LoadedScenario,
    runs: Vec<ThroughRun>,
    options: &RunOptions,
    events: EventSink<'_>,
    slots: &Arc<Slots>,
) -> Vec<CaseOutcome> {
    let Some(setup) = scenario.file.through.clone() else { return Vec::new() };
    let side_by_side = super::through::side_by_side(&setup);
    let ctx = Arc::new(ThroughContext {
        setup,
        templates: scenario.file.templates.clone(),
        harness: options
            .harness
            .clone()
            .or_else(|| std::env::current_exe().ok())
            .unwrap_or_else(|| PathBuf::from("hl7-harness")),
        scenario_dir: scenario_dir(&scenario.path),
        defects: options.sut_defects.clone(),
        secrets: receiver::secret_values(&scenario.environment),
    });
    let estimates: Vec<Duration> =
        runs.iter().map(|run| estimate::through_case(run, &ctx.setup)).collect();
    let mut queue = FileQueue::new(!side_by_side, estimates, slots);
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = tokio::task::JoinSet::new();
    let mut in_flight = std::collections::HashMap::new();
    for run in runs {
        let (ctx, started_tx, turn) = (Arc::clone(&ctx), started_tx.clone(), queue.turn());
        let task_run = run.clone();
        let handle = tasks.spawn(async move {
            let _slot = turn.take().await;
            let _ = started_tx.send(task_run.name.clone());
            let started = Instant::now();
            let ran = super::through::run_case(&task_run, &ctx).await;
            (ran, started.elapsed())
        });
        in_flight.insert(handle.id(), run);
    }
    drop(started_tx);
    let mut finished = Vec::new();
    let tell = |name: &str| case_started(events, pack, scenario, name);
    while let Some(joined) = next_finished(&mut tasks, &mut started, tell).await {
        // A case that panicked is reported as failed, never dropped.
        let (id, ((observation, plan, sent), duration)) = match joined {
            Ok(done) => done,
            Err(err) => {
                (err.id(), ((crashed(&err), Default::default(), Vec::new()), Duration::ZERO))
            }
        };
        let Some(run) = in_flight.remove(&id) else { continue };
        let judged = Judged { observation, plan, sent, duration };
        let at = (&run.name[..], run.seed, (run.file, run.index));
        let outcome = judge(pack, scenario, options, at, None, judged);
        events(&RunEvent::CaseFinished(&outcome));
        finished.push((run.index, outcome));
    }
    finished.sort_by_key(|(i, _)| *i);
    finished.into_iter().map(|(_, outcome)| outcome).collect()
}

/// The turns of a receiver or through file's cases: one case at a time when `one_at_a_time`
/// (each then asks for a run slot only once its turn came, for the file's remaining path),
/// else each asks at once, in file order.
struct FileQueue<'s> {
    slots: &'s Arc<Slots>,
    /// One case at a time: the file's own gate.
    gate: Option<Arc<tokio::sync::Semaphore>>,
    /// What each case asks its slot for: its own estimate, or in a one-at-a-time file the
    /// estimates of the cases from it to the end.
    estimates: std::vec::IntoIter<Duration>,
}

/// One case's way to its slot.
enum Turn {
    Asked(super::slots::Ticket),
    Gated(tokio::sync::OwnedSemaphorePermit, Arc<Slots>, Duration),
    Queued(Arc<tokio::sync::Semaphore>, Arc<Slots>, Duration),
}

/// A slot, with the file's gate held too when the file runs one case at a time.
struct Held {
    _slot: super::slots::Slot,
    _gate: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl<'s> FileQueue<'s> {
    fn new(one_at_a_time: bool, estimates: Vec<Duration>, slots: &'s Arc<Slots>) -> Self {
        let (gate, estimates) = if one_at_a_time {
            (
                Some(Arc::new(tokio::sync::Semaphore::new(1))),
                estimate::chains(&estimates, Duration::ZERO),
            )
        } else {
            (None, estimates)
        };
        FileQueue { slots, gate, estimates: estimates.into_iter() }
    }

    /// The next case's turn (call once per case, in file order).
    fn turn(&mut self) -> Turn {
        let estimate = self.estimates.next().unwrap_or_default();
        match &self.gate {
            None => Turn::Asked(self.slots.ticket(estimate)),
            Some(gate) => match Arc::clone(gate).try_acquire_owned() {
                Ok(permit) => Turn::Gated(permit, Arc::clone(self.slots), estimate),
                Err(_) => Turn::Queued(Arc::clone(gate), Arc::clone(self.slots), estimate),
            },
        }
    }
}

impl Turn {
    /// Waits for the case's turn in its file, then for its run slot.
    async fn take(self) -> Held {
        match self {
            Turn::Asked(ticket) => Held { _slot: ticket.slot().await, _gate: None },
            Turn::Gated(permit, slots, estimate) => {
                Held { _slot: slots.acquire(estimate).await, _gate: Some(permit) }
            }
            Turn::Queued(gate, slots, estimate) => {
                let permit = gate.acquire_owned().await.ok();
                Held { _slot: slots.acquire(estimate).await, _gate: permit }
            }
        }
    }
}

/// What running one scenario file gave.
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
/// the serial cases in file order, then the others concurrently; every case holds a slot of
/// the run's `--jobs`, shared by the files that run at once, while it runs.
async fn run_sender_file(
    (file_number, pack, scenario): (usize, &Pack, &LoadedScenario),
    (runs, load_here): (Vec<CaseRun>, bool),
    options: &RunOptions,
    events: EventSink<'_>,
    slots: &Arc<Slots>,
) -> Result<FileDone, RunError> {
    let target = setup::target(scenario, options)?;
    let skip = |reason: String| FileDone {
        skipped: Some((scenario.path.clone(), reason)),
        ..FileDone::default()
    };
    if let Some(reason) = setup::mismatch(&target.0, scenario.file.target.transport) {
        return Ok(skip(reason));
    }
    if let Some(reason) = setup::unapplied_fault(&target.0, scenario) {
        return Ok(skip(reason));
    }
    if runs.is_empty() && !load_here {
        // Filtered out or another shard's: no endpoint to start, nothing to connect to.
        return Ok(FileDone::default());
    }
    let Prepared { ctx, builtin, external } =
        match setup::prepare(scenario, options, target).await? {
            Setup::Ready(prepared) => prepared,
            Setup::Skipped(reason) => return Ok(skip(reason)),
        };
    let mut done = FileDone { external, ..FileDone::default() };
    // A target that may serve one connection at a time gets one case at a time.
    let side_by_side = setup::serves_side_by_side(scenario, options);
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
    let estimate = |run: &CaseRun| {
        let outage = super::mllp_case::BLACKHOLE_OUTAGE;
        estimate::sender_case(run, ctx.ack_timeout, ctx.linger, outage)
    };
    let concurrent_estimates: Vec<Duration> = concurrent.iter().map(estimate).collect();
    let serial_estimates: Vec<Duration> = serial.iter().map(estimate).collect();
    // The serial cases head the file's longest path: each of them, the serial cases after it,
    // then the longest of the concurrent ones.
    let after_serial = concurrent_estimates.iter().max().copied().unwrap_or_default();
    let serial_paths = estimate::chains(&serial_estimates, after_serial);
    let mut finished = Vec::new();
    for (run, path) in serial.iter().zip(serial_paths) {
        // Waiting for a slot is not part of the case's duration.
        let _slot = slots.acquire(path).await;
        case_started(events, pack, scenario, &run.name);
        let started = Instant::now();
        let ran = exec::run_case(run, &ctx).await;
        let outcome = finish(run, ran, started.elapsed());
        events(&RunEvent::CaseFinished(&outcome));
        finished.push((run.index, outcome));
    }
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = tokio::task::JoinSet::new();
    let mut in_flight = std::collections::HashMap::new();
    for (run, estimate) in concurrent.into_iter().zip(concurrent_estimates) {
        // Asked for now, in file order, so the order slots go in does not depend on when each
        // task is first polled.
        let ticket = slots.ticket(estimate);
        let ctx = Arc::clone(&ctx);
        let task_run = run.clone();
        let started_tx = started_tx.clone();
        let handle = tasks.spawn(async move {
            let _slot = ticket.slot().await;
            let _ = started_tx.send(task_run.name.clone());
            let started = Instant::now();
            let ran = exec::run_case(&task_run, &ctx).await;
            (ran, started.elapsed())
        });
        in_flight.insert(handle.id(), run);
    }
    drop(started_tx);
    let tell = |name: &str| case_started(events, pack, scenario, name);
    while let Some(joined) = next_finished(&mut tasks, &mut started, tell).await {
        // A case that panicked is reported as failed, never dropped.
        let (id, (ran, duration)) = match joined {
            Ok(done) => done,
            Err(err) => {
                (err.id(), ((crashed(&err), Default::default(), Vec::new()), Duration::ZERO))
            }
        };
        let Some(run) = in_flight.remove(&id) else { continue };
        let outcome = finish(&run, ran, duration);
        events(&RunEvent::CaseFinished(&outcome));
        finished.push((run.index, outcome));
    }
    finished.sort_by_key(|(i, _)| *i);
    for (_, outcome) in finished {
        let unreachable =
            outcome.observation.aborted.as_ref().is_some_and(|e| e.code.is_unreachable());
        done.reached |= !unreachable;
        done.cases.push(outcome);
    }
    if let Some(spec) = scenario.file.load.as_ref().filter(|_| load_here) {
        let name = format!("load: {}", load_phase::describe_short(&spec.plan));
        if options.wants(&name) {
            let seed = part_seed(options.seed, &scenario.name, "load");
            let again = reproduce(scenario, &name, options);
            case_started(events, pack, scenario, &name);
            let (outcome, phase) =
                load_phase::run_load_phase(&pack.name, scenario, spec, &ctx, seed, again).await;
            let mut outcome = outcome;
            outcome.position = (file_number, usize::MAX);
            events(&RunEvent::LoadPhaseFinished { case: &outcome, phase: &phase });
            done.reached |= outcome.observation.aborted.is_none();
            done.cases.push(outcome);
            done.load = Some(phase);
        }
    }
    if let Some(builtin) = builtin {
        let log = builtin.log.clone();
        builtin.stop().await;
        let kept = log.take();
        if !kept.lines.is_empty() {
            events(&RunEvent::EndpointLog { pack: &pack.name, file: &scenario.path, log: &kept });
        }
    }
    Ok(done)
}

/// Runs one scenario file of either role; gives its number back with what it gave.
async fn run_file(
    (file_number, pack, scenario, runs): (usize, &Pack, &LoadedScenario, FileRuns),
    options: &RunOptions,
    events: EventSink<'_>,
    slots: &Arc<Slots>,
) -> (usize, Result<FileDone, RunError>) {
    let file = &scenario.path;
    events(&RunEvent::FileStarted { pack: &pack.name, file, cases: runs.len() });
    let done = match runs {
        FileRuns::Sender(runs, load) => {
            let at = (file_number, pack, scenario);
            run_sender_file(at, (runs, load), options, events, slots).await
        }
        FileRuns::Through(runs) => {
            let cases = run_through_file(pack, scenario, runs, options, events, slots).await;
            Ok(FileDone { reached: !cases.is_empty(), cases, ..FileDone::default() })
        }
        FileRuns::Receiver(runs) => {
            Ok(match run_receiver_file(pack, scenario, runs, options, events, slots).await {
                Ok(cases) => FileDone { reached: !cases.is_empty(), cases, ..FileDone::default() },
                Err(reason) => FileDone {
                    skipped: Some((scenario.path.clone(), reason.to_string())),
                    ..FileDone::default()
                },
            })
        }
    };
    if let Ok(FileDone { skipped: Some((_, reason)), .. }) = &done {
        events(&RunEvent::FileSkipped { pack: &pack.name, file, reason });
    }
    events(&RunEvent::FileFinished { pack: &pack.name, file });
    (file_number, done)
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

/// Runs the packs, telling `events` what happens as it happens (the last event is
/// [`RunEvent::RunFinished`] with the outcome also returned). Scenario files run at the same
/// time (each against its own built-in endpoint, or the one target with control ids of their
/// own), `options.jobs` cases at once over all of them, the longest first (by each case's
/// declared waits: [`estimate`]), so that no long case starts last and holds the run open
/// alone; files that must run alone ([`setup::runs_alongside`]) run afterwards, one by one.
pub async fn run(
    packs: &[Pack],
    options: &RunOptions,
    events: EventSink<'_>,
) -> Result<RunOutcome, RunError> {
    let slots = Slots::new(options.jobs);
    let files: Vec<(&Pack, &LoadedScenario)> =
        packs.iter().flat_map(|p| p.scenarios.iter().map(move |s| (p, s))).collect();
    let selected = select(packs, options);
    let target = options
        .target
        .as_deref()
        .map(redact)
        .unwrap_or_else(|| "builtin (per scenario unless it names a target)".into());
    events(&RunEvent::RunStarted {
        seed: options.seed,
        target: &target,
        cases: selected.iter().map(FileRuns::len).sum(),
        shard: options.shard,
    });
    let mut together = Vec::new();
    let mut alone = Vec::new();
    for (file_number, ((pack, scenario), runs)) in files.iter().zip(selected).enumerate() {
        if setup::runs_alongside(scenario, &runs, options) {
            together.push((file_number, *pack, *scenario, runs));
        } else {
            alone.push((file_number, *pack, *scenario, runs));
        }
    }
    let run = |file| run_file(file, options, events, &slots);
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
    let outcome = RunOutcome {
        packs: outcomes,
        seed: options.seed,
        target,
        unreachable: external && any_case && !reached_any,
        skipped,
        shard: options.shard,
        load: load_phases,
        profiles: setup::profiles_used(packs, options),
    };
    events(&RunEvent::RunFinished(&outcome));
    Ok(outcome)
}

/// `{scenario_dir}`: the scenario file's folder, `.` for a file named without one
/// (`run through.yaml`), so `{scenario_dir}/engine.py` stays relative instead of `/engine.py`.
fn scenario_dir(path: &std::path::Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{load_text, FileAccess};
    use std::sync::Mutex;

    const SCENARIO: &str = "
name: events
messages:
  m: { text: \"MSH|^~\\\\&|S|SF|R|RF|20240101||ADT^A04^ADT_A01|X|P|2.5\\rEVN|A04|20240101\\rPID|1||1^^^H^MR||DOE^JANE\" }
cases:
  - name: first
    send: m
    serial: true
  - name: second
    send: m
  - name: third
    send: m
";

    /// What a reporter sees, as text: one line per event.
    fn describe(event: &RunEvent<'_>) -> String {
        match event {
            RunEvent::RunStarted { seed, cases, .. } => format!("run {seed} {cases}"),
            RunEvent::FileStarted { cases, .. } => format!("file {cases}"),
            RunEvent::FileSkipped { reason, .. } => format!("skipped {reason}"),
            RunEvent::CaseStarted { name, .. } => format!("start {name}"),
            RunEvent::CaseFinished(case) => format!("end {}", case.name),
            RunEvent::LoadPhaseFinished { case, .. } => format!("load {}", case.name),
            RunEvent::EndpointLog { .. } => "endpoint log".into(),
            RunEvent::FileFinished { .. } => "file done".into(),
            RunEvent::RunFinished(outcome) => format!("done {}", outcome.cases().count()),
        }
    }

    /// The run tells its start first and its end last, every case's start before its end,
    /// and as many case events as the run has cases.
    #[tokio::test]
    async fn every_case_starts_and_finishes_between_the_run_start_and_end() {
        let path = std::path::Path::new("events.yaml");
        let scenario = load_text(path, SCENARIO, &[], FileAccess::PackOnly).unwrap();
        let pack = Pack { name: "p".into(), dir: PathBuf::from("."), scenarios: vec![scenario] };
        let seen = Mutex::new(Vec::new());
        let sink = |event: &RunEvent<'_>| seen.lock().unwrap().push(describe(event));
        let options = RunOptions { seed: Seed(7), jobs: 2, ..RunOptions::default() };
        let outcome = run(std::slice::from_ref(&pack), &options, &sink).await.unwrap();
        let seen = seen.into_inner().unwrap();
        assert_eq!(outcome.cases().count(), 3);
        assert_eq!(seen.first().map(String::as_str), Some("run 7 3"), "{seen:?}");
        assert_eq!(seen.get(1).map(String::as_str), Some("file 3"), "{seen:?}");
        assert_eq!(seen.last().map(String::as_str), Some("done 3"), "{seen:?}");
        assert_eq!(seen[seen.len() - 2], "file done", "{seen:?}");
        // The serial case runs first, on its own.
        assert_eq!(seen[2..4], ["start first", "end first"], "{seen:?}");
        for name in ["second", "third"] {
            let at = |what: &str| seen.iter().position(|s| *s == format!("{what} {name}"));
            assert!(at("start") < at("end") && at("start").is_some(), "{seen:?}");
        }
        assert_eq!(seen.len(), 2 + 6 + 2, "{seen:?}");
    }

    /// Regression (issue 17): `run through.yaml` from the pack's own folder gave
    /// `{scenario_dir}` = "" and so an engine command of `/engine.py`.
    #[test]
    fn scenario_dir_of_a_bare_file_name_is_the_current_folder() {
        let dir = |p: &str| scenario_dir(std::path::Path::new(p)).display().to_string();
        assert_eq!(dir("through.yaml"), ".");
        assert_eq!(dir("packs/x/through.yaml"), "packs/x");
        assert_eq!(dir("/abs/through.yaml"), "/abs");
    }
}
