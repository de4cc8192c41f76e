//! Runs the cases of the through role: the harness listens as each of the engine's
//! destinations (the receiver role's answering server, answering as the case says), starts the
//! engine (the scenario's `sut.command`) or finds it running, sends the case's inputs into it
//! one after another over the one wire client, each awaiting its ACK, and records what arrives
//! where until every expected output was accepted (then a quiet period) or the case times out.
//! The through checks judge the record afterwards.
//!
//! Every wait is bounded by the case timeout; the engine is killed when the case ends.

use super::receiver::destination::{Destination, Speaks};
use crate::checks::{CasePlan, ExpectedOutput, ThroughExpectation, ThroughInputPlan};
use crate::hl7::edit::MessageBuf;
use crate::hl7::Path;
use crate::observation::{
    peer_timeouts, CaseObservation, SutRun, ThroughArrival, ThroughInput, ThroughObservation,
    TransportEvent, Wait, WaitKind,
};
use crate::scenario::{ThroughCase, ThroughSetup};
use crate::transport::client::{
    await_hllp_answer, connect_mllp, post_hl7, send_and_await_mllp_answer, AckWait, HllpBlocks,
    HllpEnd, MllpEnd, Takes,
};
use crate::transport::connection::{MllpConnection, Timeouts};
use crate::transport::dial::{connect_tcp, Route};
use crate::transport::hllp::HllpOptions;
use crate::transport::hllp_connection::HllpConnection;
use crate::transport::http_client::HttpTarget;
use crate::transport::mllp::MllpOptions;
use crate::transport::target_url::TargetUrl;
use crate::vocab::{ConnectionEvent, Seed};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// What the through cases of one scenario file share.
pub struct ThroughContext {
    pub setup: ThroughSetup,
    pub templates: BTreeMap<String, Vec<crate::scenario::TemplateMessage>>,
    /// What `{harness}` stands for.
    pub harness: PathBuf,
    /// `{scenario_dir}`: the scenario file's folder.
    pub scenario_dir: PathBuf,
    /// `--sut-defect` names, for `{defects}`.
    pub defects: Vec<String>,
    /// Values never to show in the engine's command line and output.
    pub secrets: crate::transport::userinfo::Secrets,
}

/// One through case as it will run.
#[derive(Debug, Clone)]
pub struct ThroughRun {
    pub index: usize,
    pub name: String,
    pub case: ThroughCase,
    pub seed: Seed,
    pub file: usize,
}

impl ThroughRun {
    /// At most 14 characters: T, 6 hex digits of the seed, file, case, input.
    fn control_id(&self, input: usize) -> String {
        let unique = super::unique_token(self.seed);
        format!("T{}{:02}{:02}{:02}", &unique[..6], self.file % 100, self.index % 100, input % 100)
    }
}

/// Why a case could not be set up.
#[derive(Debug, thiserror::Error)]
enum SetupError {
    #[error("no message template named {0:?}")]
    NoTemplate(String),
    #[error("template {0:?} is not HL7 ({1})")]
    NotHl7(String, crate::hl7::ParseError),
    #[error("{what}: set {path}: {source}")]
    Set {
        what: String,
        path: String,
        #[source]
        source: crate::hl7::edit::EditError,
    },
}

/// The first message of template `name`, as an editable message.
fn template(ctx: &ThroughContext, name: &str) -> Result<MessageBuf, SetupError> {
    let first = ctx
        .templates
        .get(name)
        .and_then(|m| m.first())
        .ok_or_else(|| SetupError::NoTemplate(name.to_string()))?;
    MessageBuf::new(first.bytes.clone()).map_err(|e| SetupError::NotHl7(name.to_string(), e))
}

fn set_all<'a>(
    buf: &mut MessageBuf,
    values: impl IntoIterator<Item = (&'a Path, &'a str)>,
    what: &str,
) -> Result<(), SetupError> {
    for (path, text) in values {
        buf.set(path, text).map_err(|source| SetupError::Set {
            what: what.to_string(),
            path: path.to_string(),
            source,
        })?;
    }
    Ok(())
}

/// One input as sent: its label and bytes.
type Input = (String, Vec<u8>);

/// The inputs as sent (each with its own MSH-10) and the plan of what each must give.
fn prepare(
    run: &ThroughRun,
    ctx: &ThroughContext,
) -> Result<(Vec<Input>, ThroughExpectation), SetupError> {
    let msh10 = Path::parse("MSH-10").expect("MSH-10 is a path");
    let mut inputs = Vec::new();
    let mut plans = Vec::new();
    for (n, spec) in run.case.send.iter().enumerate() {
        let label = format!("input {} ({})", n + 1, spec.message);
        let mut buf = template(ctx, &spec.message)?;
        buf.set(&msh10, &run.control_id(n + 1)).map_err(|source| SetupError::Set {
            what: label.clone(),
            path: "MSH-10".into(),
            source,
        })?;
        set_all(&mut buf, spec.set.iter().map(|(p, t)| (&p.path, t.0.as_str())), &label)?;
        let input = buf.into_bytes();
        let mut outputs = Vec::new();
        for want in &spec.expect {
            let mut expected = match &want.output {
                Some(name) => template(ctx, name)?,
                None => MessageBuf::new(input.clone())
                    .map_err(|e| SetupError::NotHl7(spec.message.clone(), e))?,
            };
            let what = format!("{label} at {}", want.to);
            set_all(&mut expected, want.set.iter().map(|(p, t)| (&p.path, t.0.as_str())), &what)?;
            outputs.push(ExpectedOutput {
                destination: want.to.clone(),
                message: expected.into_bytes(),
                ignore: want.ignore.iter().map(|p| p.path.clone()).collect(),
                patterns: want.matches.iter().map(|(p, t)| (p.path.clone(), t.0.clone())).collect(),
                count: want.count.unwrap_or(1),
                within: want.within.map(|s| s.0),
            });
        }
        plans.push(ThroughInputPlan { label: label.clone(), filtered: spec.filtered, outputs });
        inputs.push((label, input));
    }
    let expect = ThroughExpectation {
        inputs: plans,
        key: ctx.setup.key.clone(),
        allow_reorder: run.case.allow_reorder,
    };
    Ok((inputs, expect))
}

fn aborted(code: ConnectionEvent, detail: String) -> (CaseObservation, CasePlan, Vec<String>) {
    let observation =
        CaseObservation { aborted: Some(TransportEvent { code, detail }), ..Default::default() };
    (observation, CasePlan::default(), Vec::new())
}

/// The command line with its placeholders filled.
fn command_line(
    command: &[String],
    ctx: &ThroughContext,
    input: &str,
    destinations: &BTreeMap<String, String>,
    workdir: &std::path::Path,
) -> Vec<String> {
    let mut out = Vec::new();
    for arg in command {
        if arg == "{defects}" {
            for defect in &ctx.defects {
                out.extend(["--defect".to_string(), defect.clone()]);
            }
            continue;
        }
        let mut filled = arg
            .replace("{harness}", &ctx.harness.display().to_string())
            .replace("{input}", input)
            .replace("{workdir}", &workdir.display().to_string())
            .replace("{scenario_dir}", &ctx.scenario_dir.display().to_string());
        for (name, addr) in destinations {
            filled = filled.replace(&format!("{{destination.{name}}}"), addr);
        }
        out.push(filled);
    }
    out
}

/// The engine's input, as the through role reaches it.
enum InputUrl {
    /// `HOST:PORT`.
    Mllp(String),
    /// `HOST:PORT`.
    Hllp(String),
    Http(HttpTarget),
}

impl InputUrl {
    fn shown(&self) -> String {
        match self {
            InputUrl::Mllp(addr) => format!("mllp://{addr}"),
            InputUrl::Hllp(addr) => format!("hllp://{addr}"),
            InputUrl::Http(target) => format!("http://{}{}", target.authority, target.path),
        }
    }
}

/// An open connection to the engine's input. HTTP opens one per post: `Http` only says the
/// engine listened once, so an input's send time does not include the engine's start.
enum Link {
    Mllp(MllpConnection),
    Hllp(HllpConnection),
    Http(HttpTarget),
}

/// Connects to the engine's input, again and again until it listens or `until` passes.
async fn connect_input(
    input: &InputUrl,
    timeouts: Timeouts,
    until: Instant,
) -> Result<Link, String> {
    loop {
        let opened = match input {
            InputUrl::Mllp(addr) => {
                connect_mllp(addr, None, MllpOptions::default(), timeouts).await.map(Link::Mllp)
            }
            InputUrl::Hllp(addr) => HllpConnection::connect(addr, HllpOptions::default(), timeouts)
                .await
                .map(Link::Hllp),
            // A connect that is dropped: each input is its own request.
            InputUrl::Http(target) => {
                connect_tcp(&target.authority, &Route::Direct, timeouts.connect)
                    .await
                    .map(|_| Link::Http(target.clone()))
            }
        };
        match opened {
            Ok(link) => return Ok(link),
            Err(e) if Instant::now() >= until => return Err(e.to_string()),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Posts one input and reads the whole reply. A status other than 2xx carries no HL7 answer
/// (HL7 over HTTP: every HL7 answer, AE and AR included, is a successful exchange), so it is
/// the event, not the ACK.
async fn post_input(
    target: &HttpTarget,
    payload: &[u8],
    timeouts: Timeouts,
) -> Result<Vec<u8>, String> {
    let reply = post_hl7(target, None, payload, timeouts).await.map_err(|e| e.to_string())?;
    if (200..300).contains(&reply.status) {
        Ok(reply.body)
    } else {
        Err(format!("HTTP status {} from the engine: no HL7 answer", reply.status))
    }
}

/// Sends one input on an open link and reads the block or frame that answers it; the link
/// comes back when it can carry the next input.
async fn send_on(
    mut link: Link,
    payload: &[u8],
    wait: AckWait<'_>,
    timeouts: Timeouts,
) -> (Option<Link>, Result<Vec<u8>, String>) {
    match &mut link {
        Link::Http(target) => {
            let answer = post_input(target, payload, timeouts).await;
            (Some(link), answer)
        }
        Link::Mllp(open) => match send_and_await_mllp_answer(open, payload, wait, |_| {}).await {
            Ok(MllpEnd::Answered(answered)) => (Some(link), Ok(answered.frame.payload.to_vec())),
            Ok(MllpEnd::CommitNak) => (None, Err("commit NAK".into())),
            Err(e) => (None, Err(e.to_string())),
        },
        Link::Hllp(open) => {
            if let Err(e) = open.send_data(payload).await {
                return (None, Err(e.to_string()));
            }
            match await_hllp_answer(open, wait, HllpBlocks::AsTheyCome, |_| {}).await {
                Ok(HllpEnd::Answered(answered)) => (Some(link), Ok(answered.frame.data.to_vec())),
                Ok(HllpEnd::Negative { reason }) => {
                    let why = reason.map_or_else(
                        || "an N block".to_string(),
                        |r| format!("an N block ({r:?})"),
                    );
                    (None, Err(why))
                }
                Err(e) => (None, Err(e.to_string())),
            }
        }
    }
}

/// A started engine: the process and the tasks keeping the end of its output.
type Started = (
    tokio::process::Child,
    Option<tokio::task::JoinHandle<Vec<u8>>>,
    Option<tokio::task::JoinHandle<Vec<u8>>>,
);

/// Whether the cases of a through file may run side by side: only when nothing of theirs is
/// shared, that is when each case starts its own engine (`sut.command`) on a fresh input port
/// (`{input}`) with a work folder of its own, and every destination listens on a fresh port.
/// A destination read rather than listened as is the case's own only when the store it
/// reads lies in the case's work folder (`{workdir}` in its `dir:` or its command).
/// An engine found running, an address the file fixes, or a store the cases share takes one
/// case at a time, since one case's outputs would arrive at another's destinations.
pub fn side_by_side(setup: &ThroughSetup) -> bool {
    let own = |d: &crate::scenario::DestinationSetup| match &d.read {
        None => d.listen.ends_with(":0"),
        Some(read) => match &read.source {
            crate::scenario::ReadSource::Dir(dir) => dir.contains("{workdir}"),
            crate::scenario::ReadSource::Command(line) => {
                line.iter().any(|a| a.contains("{workdir}"))
            }
        },
    };
    setup.command.is_some()
        && setup.input.contains("{input}")
        && setup.destinations.values().all(own)
}

/// Runs one through case; returns the observations, the plan and what was sent.
pub async fn run_case(
    run: &ThroughRun,
    ctx: &ThroughContext,
) -> (CaseObservation, CasePlan, Vec<String>) {
    let (inputs, expect) = match prepare(run, ctx) {
        Ok(prepared) => prepared,
        Err(why) => return aborted(ConnectionEvent::CaseSetup, why.to_string()),
    };
    let described: Vec<String> = inputs.iter().map(|(label, _)| label.clone()).collect();
    let started = Instant::now();
    let deadline = started + ctx.setup.timeout;
    // The destinations listen before the engine starts, so nothing it forwards is refused.
    let mut destinations = BTreeMap::new();
    let mut addresses = BTreeMap::new();
    for (name, setup) in &ctx.setup.destinations {
        if setup.read.is_some() {
            continue;
        }
        let listen = &setup.listen;
        let listener = match TcpListener::bind(listen).await {
            Ok(listener) => listener,
            Err(e) => {
                let detail = format!("destination {name}: cannot listen on {listen}: {e}");
                return aborted(ConnectionEvent::ListenFailed, detail);
            }
        };
        let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let answers = run.case.answers.get(name).map(Vec::as_slice).unwrap_or(&[]);
        let speaks = Speaks::of(setup.http.as_ref(), setup.hllp);
        let destination =
            Destination::answer_speaking(listener, answers, speaks, (started, deadline));
        destinations.insert(name.clone(), destination);
        addresses.insert(name.clone(), address);
    }
    let input_addr = if ctx.setup.input.contains("{input}") {
        match super::input_port::free_input_address().await {
            Ok(addr) => addr,
            Err(e) => return aborted(ConnectionEvent::ListenFailed, format!("no free port: {e}")),
        }
    } else {
        String::new()
    };
    let input_url = ctx.setup.input.replace("{input}", &input_addr);
    let input = match TargetUrl::parse(&input_url) {
        Ok(TargetUrl::Mllp(addr)) => InputUrl::Mllp(addr),
        Ok(TargetUrl::Hllp(addr)) => InputUrl::Hllp(addr),
        Ok(TargetUrl::Http(url)) => match HttpTarget::parse(&url) {
            Some(target) => InputUrl::Http(target),
            None => {
                let detail = format!("through.input {input_url}: expected http://HOST:PORT/PATH");
                return aborted(ConnectionEvent::CaseSetup, detail);
            }
        },
        Ok(_) => {
            let detail = format!(
                "through.input {input_url}: the through role sends over mllp://, hllp:// or http://"
            );
            return aborted(ConnectionEvent::CaseSetup, detail);
        }
        Err(e) => return aborted(ConnectionEvent::CaseSetup, format!("through.input: {e}")),
    };
    let workdir = std::env::temp_dir().join(format!(
        "hl7-harness-through-{}-{:x}-{}",
        std::process::id(),
        run.seed.0,
        run.index
    ));
    let (mut sut, mut child) = (None, None);
    if ctx.setup.command.is_some() {
        let _ = std::fs::remove_dir_all(&workdir);
        if let Err(e) = std::fs::create_dir_all(&workdir) {
            let detail = format!("cannot create {}: {e}", workdir.display());
            return aborted(ConnectionEvent::CaseSetup, detail);
        }
    }
    // The destinations read rather than listened as: their stores as before the engine starts.
    let mut readers =
        match super::through_read::prepare_all(ctx, &workdir, &mut addresses, started).await {
            Ok(readers) => readers,
            Err(detail) => {
                let _ = std::fs::remove_dir_all(&workdir);
                return aborted(ConnectionEvent::ListenFailed, detail);
            }
        };
    if let Some(command) = &ctx.setup.command {
        let line = command_line(command, ctx, &input_addr, &addresses, &workdir);
        (sut, child) = start(&line, ctx);
    }

    let timeouts = Timeouts {
        connect: ctx.setup.ack_timeout,
        read: ctx.setup.ack_timeout,
        write: ctx.setup.ack_timeout,
    };
    let sent = send_inputs(&inputs, &input, timeouts, (started, deadline)).await;
    readers.values_mut().for_each(super::through_read::ReadDestination::start);

    // Every expected output accepted at its destination (counted per destination), then a
    // quiet period for anything more; or the deadline.
    let mut wanted: BTreeMap<&str, usize> = BTreeMap::new();
    for output in expect.inputs.iter().flat_map(|p| p.outputs.iter()) {
        *wanted.entry(output.destination.as_str()).or_default() += output.count.max(1);
    }
    let settled = || {
        let want = |name: &String| wanted.get(name.as_str()).copied().unwrap_or(0);
        destinations.iter().all(|(name, d)| d.accepted() >= want(name))
            && readers.iter().all(|(name, r)| r.accepted() >= want(name))
    };
    while Instant::now() < deadline && !settled() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let quiet = ctx.setup.quiet.min(deadline.saturating_duration_since(Instant::now()));
    tokio::time::sleep(quiet).await;
    let mut waits: Vec<Wait> = Wait::of_case(WaitKind::Quiet, quiet).into_iter().collect();
    let (mut arrivals, reads) = super::through_read::stop_all(readers, &ctx.secrets).await;

    if let (Some(started), Some(record)) = (child.take(), sut.as_mut()) {
        stop(started, record, ctx).await;
    }
    // Removed whether the engine or a read folder made it.
    let _ = std::fs::remove_dir_all(&workdir);
    for (name, destination) in destinations {
        waits.extend(destination.held());
        let received = destination.stop().await;
        // Each destination is its own peer of the engine: its resends are timed per
        // destination.
        waits.extend(peer_timeouts(&received));
        for arrival in received {
            arrivals.push(ThroughArrival { destination: name.clone(), arrival });
        }
    }
    arrivals.sort_by_key(|a| a.arrival.received);
    let observation = CaseObservation {
        through: Some(ThroughObservation { inputs: sent, arrivals, reads }),
        sut,
        waits,
        ..CaseObservation::default()
    };
    let plan = CasePlan {
        through: Some(expect),
        skip_checks: run.case.skip_checks.clone(),
        ..CasePlan::default()
    };
    (observation, plan, described)
}

/// Starts the engine; the record says why not when it could not.
fn start(line: &[String], ctx: &ThroughContext) -> (Option<SutRun>, Option<Started>) {
    let shown = ctx.secrets.hide(&line.join(" "));
    let mut record = SutRun {
        command: shown,
        exit: None,
        killed: false,
        error: None,
        output: String::new(),
        stderr: String::new(),
    };
    let Some(program) = line.first() else {
        record.error = Some("sut.command is empty".into());
        return (Some(record), None);
    };
    let mut process = tokio::process::Command::new(program);
    process
        .args(&line[1..])
        .env(super::receiver::DEFECTS_VARIABLE, ctx.defects.join(","))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    match process.spawn() {
        Ok(mut spawned) => {
            let out = spawned.stdout.take().map(|s| tokio::spawn(super::receiver::tail(s)));
            let err = spawned.stderr.take().map(|s| tokio::spawn(super::receiver::tail(s)));
            (Some(record), Some((spawned, out, err)))
        }
        Err(e) => {
            record.error = Some(ctx.secrets.hide(&e.to_string()));
            (Some(record), None)
        }
    }
}

/// Stops the engine (it is a server: it runs until stopped) and keeps the end of its output.
async fn stop((mut process, out, err): Started, record: &mut SutRun, ctx: &ThroughContext) {
    match process.try_wait() {
        Ok(Some(status)) => record.exit = status.code(),
        _ => {
            let _ = process.kill().await;
            record.killed = true;
        }
    }
    let mut output = Vec::new();
    for (task, is_stderr) in [(out, false), (err, true)] {
        let Some(task) = task else { continue };
        if let Ok(Ok(bytes)) = tokio::time::timeout(Duration::from_secs(1), task).await {
            if is_stderr {
                record.stderr = ctx.secrets.hide(&String::from_utf8_lossy(&bytes));
            }
            output.extend(bytes);
        }
    }
    record.output = ctx.secrets.hide(&String::from_utf8_lossy(&output));
}

/// Sends each input and awaits the ACK whose MSA-2 is its MSH-10; a broken connection is
/// opened again for the next input. Over HTTP each input is one post, its response the ACK.
async fn send_inputs(
    inputs: &[Input],
    input: &InputUrl,
    timeouts: Timeouts,
    (started, deadline): (Instant, Instant),
) -> Vec<ThroughInput> {
    let mut link: Option<Link> = None;
    let mut sent = Vec::new();
    for (label, payload) in inputs {
        let control_id = crate::hl7::Message::parse(payload)
            .ok()
            .and_then(|m| m.control_id().map(str::to_string))
            .unwrap_or_default();
        let mut record = ThroughInput {
            label: label.clone(),
            payload: payload.clone(),
            sent: started.elapsed(),
            ack: None,
            event: None,
        };
        let until = (Instant::now() + timeouts.connect).min(deadline);
        let open = match link.take() {
            Some(open) => Ok(open),
            None => connect_input(input, timeouts, until).await,
        };
        let answer = match open {
            Ok(open) => {
                record.sent = started.elapsed();
                let wait = AckWait {
                    control_id: &control_id,
                    takes: Takes::Echo,
                    stop_on_commit_nak: true,
                    wait: timeouts.read,
                };
                let (kept, answer) = send_on(open, payload, wait, timeouts).await;
                link = kept;
                answer
            }
            Err(why) => {
                let shown = input.shown();
                Err(format!("cannot connect to the engine at {shown}: {why}"))
            }
        };
        match answer {
            Ok(ack) => record.ack = Some(ack),
            Err(why) => record.event = Some(why),
        }
        sent.push(record);
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::DestinationSetup;

    fn setup(input: &str, command: bool, listens: &[&str]) -> ThroughSetup {
        ThroughSetup {
            input: input.into(),
            destinations: listens
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let listen = (*l).into();
                    (
                        format!("d{i}"),
                        DestinationSetup { listen, http: None, hllp: None, read: None },
                    )
                })
                .collect(),
            command: command.then(|| vec!["engine".to_string()]),
            key: crate::hl7::Path::parse("MSH-10").unwrap(),
            ack_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            quiet: Duration::from_millis(100),
        }
    }

    /// Cases run side by side only when each has an engine, an input and destinations of its
    /// own; an engine found running, any fixed address or a shared store is one case at a time.
    #[test]
    fn only_cases_that_share_nothing_run_side_by_side() {
        let fresh = ["127.0.0.1:0", "127.0.0.1:0"];
        assert!(side_by_side(&setup("mllp://{input}", true, &fresh)));
        assert!(!side_by_side(&setup("mllp://{input}", false, &fresh)));
        assert!(!side_by_side(&setup("mllp://127.0.0.1:2600", true, &fresh)));
        assert!(!side_by_side(&setup("mllp://{input}", true, &["127.0.0.1:0", "127.0.0.1:2601"])));
        // A read destination is the case's own only when its store is in the case's folder.
        let read = |source: crate::scenario::ReadSource| {
            let mut with = setup("mllp://{input}", true, &fresh);
            with.destinations.get_mut("d1").expect("d1").read = Some(crate::scenario::ReadSetup {
                source,
                every: Duration::from_millis(50),
                timeout: Duration::from_secs(1),
                max_bytes: 1024,
                max_messages: 10,
            });
            side_by_side(&with)
        };
        use crate::scenario::ReadSource::{Command, Dir};
        assert!(read(Dir("{workdir}/out".into())));
        assert!(!read(Dir("/var/engine/out".into())));
        assert!(read(Command(vec!["sh".into(), "-c".into(), "cat {workdir}/out/*".into()])));
        assert!(!read(Command(vec!["psql".into(), "-c".into(), "select msg from out".into()])));
    }
}
