//! Runs the cases of the receiver role: the harness listens, the sender under test connects
//! (started by the scenario's `sut.command`, or on its own) and sends, and each arrival is
//! answered as the case says (no ACK, late, duplicate, wrong MSA-2, NAK, close, reset) while
//! connections may be refused, never read or read slowly. Everything that arrives is recorded
//! with its timing and the answer given; the sender checks judge it afterwards.
//!
//! Every wait is bounded by the case timeout; the SUT is killed when it outlives it.

use crate::checks::{content_key, CasePlan, ExpectedMessage, ReceiverExpectation};
use crate::conformance::Validator;
use crate::faults::{write_shaped, AckToBuild, AfterAnswer, Answer, AnswerRules, Shaping, Verdict};
use crate::hl7::ack::{AckCode, AckError};
use crate::hl7::Message;
use crate::netlab::{Cut, Direction, Lab, LabError};
use crate::observation::{peer_timeouts, Arrival, CaseObservation, SutRun, TransportEvent};
use crate::observation::{Wait, WaitKind};
use crate::scenario::{ConnectionBehaviour, ReceiverCase, TemplateMessage};
use crate::transport::mllp::{encode_frame, FrameKind, MllpCodec, MllpOptions};
use crate::vocab::Seed;
use bytes::BytesMut;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::codec::Decoder;

/// The environment variable that gives the SUT command the `--sut-defect` names, comma
/// separated (empty without any), so an external sender can switch on bugs of its own.
pub const DEFECTS_VARIABLE: &str = "HL7H_SUT_DEFECTS";

/// The environment variable that gives the SUT command the password of `receiver.http.basic`,
/// so the command line never holds it (`{harness} send --http-user USER --http-password-env
/// HL7H_HTTP_PASSWORD`).
pub const PASSWORD_VARIABLE: &str = "HL7H_HTTP_PASSWORD";

pub(super) mod destination;
mod hllp;
mod http;
mod messages;
mod sut;
use messages::{ack, messages};
pub use sut::secret_values;
pub(super) use sut::tail;
use sut::{command_line, remove_message_files, write_message_files, Placeholders};

/// Arrivals kept per case; a sender in a retry storm cannot fill memory.
const MAX_ARRIVALS: usize = 10_000;
/// What the receiver cases of one scenario file share.
pub struct ReceiverContext {
    /// `HOST:PORT`; port 0 picks a free port per case.
    pub listen: String,
    /// The SUT command, placeholders not yet filled.
    pub command: Option<Vec<String>>,
    pub timeout: Duration,
    pub quiet: Duration,
    pub templates: BTreeMap<String, Vec<TemplateMessage>>,
    /// `--sut-defect` names, for `{defects}` and [`DEFECTS_VARIABLE`].
    pub defects: Vec<String>,
    /// Values never to show: the secrets the scenario read (see [`secret_values`]); replaced
    /// by `***` in the command line and the output kept of the SUT.
    pub secrets: crate::transport::userinfo::Secrets,
    /// What `{harness}` stands for.
    pub harness: PathBuf,
    /// The packet-level lab, for files with answers that need it: the harness then listens
    /// inside its namespace, at the lab's address.
    pub lab: Option<Arc<Lab>>,
    /// The target profile the file's cases are graded by: `as_specified` answers judge each
    /// arrival against its `message_profiles`.
    pub profile: Option<Arc<crate::profile::TargetProfile>>,
    /// `receiver.http`: listen for HL7 over HTTP instead of MLLP.
    pub http: Option<Arc<crate::scenario::HttpListening>>,
}

/// One receiver case as it will run.
#[derive(Debug, Clone)]
pub struct ReceiverRun {
    pub index: usize,
    pub name: String,
    pub case: ReceiverCase,
    pub seed: Seed,
    pub file: usize,
}

impl ReceiverRun {
    /// At most 14 characters: R, 6 hex digits of the seed, file, case, message.
    fn control_id(&self, message: usize) -> String {
        let unique = super::unique_token(self.seed);
        format!(
            "R{}{:02}{:02}{:02}",
            &unique[..6],
            self.file % 100,
            self.index % 100,
            message % 100
        )
    }
}

/// Why an answer could not silence a connection or cut a port off.
#[derive(Debug, thiserror::Error)]
enum SilenceError {
    #[error("this answer needs the packet-level lab, which the run does not have")]
    NoLab,
    #[error(transparent)]
    Lab(LabError),
}

/// Shared by the connection handlers of one case.
struct CaseState {
    started: Instant,
    arrivals: Mutex<Vec<(usize, Arrival)>>,
    next_arrival: Mutex<usize>,
    next_connection: Mutex<usize>,
    /// The case's answers as ordered rules (first match wins, AA by default).
    answers: AnswerRules,
    behaviours: Vec<ConnectionBehaviour>,
    lab: Option<Arc<Lab>>,
    /// The port the harness listens on.
    port: u16,
    /// What the lab drops for this case; all let through again when the case ends.
    cuts: Mutex<Vec<Cut>>,
    /// The profile's judge for `as_specified` answers (one per case: `unique` statements
    /// remember what the case's sender sent); `None` without message profiles.
    judge: Option<Mutex<Validator>>,
    /// Answers held back on purpose (`late_ack`), for the case's required waits.
    held: Mutex<Vec<Wait>>,
}

/// The judge of `as_specified` answers, when the profile has message profiles.
fn judge_for(profile: Option<&crate::profile::TargetProfile>) -> Option<Mutex<Validator>> {
    let profile = profile.filter(|p| !p.message_profiles.is_empty())?;
    Some(Mutex::new(Validator::new(profile)))
}

impl CaseState {
    /// The `as_specified` answer to a payload: AE with an ERR at the first error the profile
    /// finds, else AA; the label says which and why.
    fn as_specified(&self, payload: &[u8]) -> (AckCode, Option<AckError>, String) {
        let accept = AckCode::ApplicationAccept;
        let Some(judge) = &self.judge else {
            return (accept, None, "AA (no message profiles to judge by)".into());
        };
        let Ok(message) = Message::parse(payload) else {
            return (accept, None, "AA (not readable as HL7)".into());
        };
        let found = match judge.lock() {
            Ok(mut validator) => validator.validate(&message),
            Err(poisoned) => poisoned.into_inner().validate(&message),
        };
        match found.iter().find(|v| v.severity == crate::hl7::Severity::Error) {
            Some(first) => (
                AckCode::ApplicationError,
                Some(first.ack_error()),
                format!("AE as specified: {} {} {}", first.rule, first.path, first.message),
            ),
            None => (accept, None, "AA (meets the profile)".into()),
        }
    }

    /// Drops the packets of `cut` both ways (until healed, or the end of the case); why not,
    /// when it could not.
    async fn drop_packets(&self, cut: Cut) -> Result<(), SilenceError> {
        let Some(lab) = &self.lab else {
            return Err(SilenceError::NoLab);
        };
        self.cuts.lock().unwrap_or_else(|e| e.into_inner()).push(cut);
        lab.drop_packets(cut, Direction::Both).await.map_err(SilenceError::Lab)
    }

    /// Lets `cut` through again after `period`, in the background.
    fn heal_after(self: &Arc<Self>, cut: Cut, period: Duration) {
        let state = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(period).await;
            if let Some(lab) = &state.lab {
                let _ = lab.restore(cut, Direction::Both).await;
            }
            state.cuts.lock().unwrap_or_else(|e| e.into_inner()).retain(|c| *c != cut);
        });
    }

    /// Lets everything through again (the case is over).
    async fn heal_all(&self) {
        let cuts = std::mem::take(&mut *self.cuts.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(lab) = &self.lab {
            for cut in cuts {
                let _ = lab.restore(cut, Direction::Both).await;
            }
        }
    }

    /// The next 1-based connection number, in accept order.
    fn take_connection_number(&self) -> usize {
        let mut next = self.next_connection.lock().unwrap_or_else(|e| e.into_inner());
        *next += 1;
        *next
    }

    fn take_arrival_number(&self) -> usize {
        let mut next = self.next_arrival.lock().unwrap_or_else(|e| e.into_inner());
        *next += 1;
        *next - 1
    }

    fn record(&self, number: usize, arrival: Arrival) {
        let mut arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        if arrivals.len() < MAX_ARRIVALS {
            arrivals.push((number, arrival));
        }
    }

    /// Records an answer held back for `delay`.
    fn hold(&self, delay: Duration) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.len() < MAX_ARRIVALS {
            held.extend(Wait::of_case(WaitKind::AnswerDelay, delay));
        }
    }

    /// The answers held back so far.
    fn held(&self) -> Vec<Wait> {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records whether a late answer was written after all.
    fn mark_accepted(&self, number: usize, accepted: bool) {
        let mut arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, arrival)) = arrivals.iter_mut().find(|(n, _)| *n == number) {
            arrival.accepted = accepted;
        }
    }

    /// `wanted` distinct messages (of `expected`, when it names any) ended accepted or
    /// rejected; without `wanted`, every expected message did.
    fn settled(&self, expected: &[ExpectedMessage], wanted: Option<usize>) -> bool {
        let arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        let mut keys: Vec<Vec<u8>> = arrivals
            .iter()
            .filter(|(_, a)| a.accepted || a.rejected)
            .map(|(_, a)| content_key(&a.payload))
            .filter(|k| expected.is_empty() || expected.iter().any(|m| m.key == *k))
            .collect();
        keys.sort();
        keys.dedup();
        match wanted {
            Some(wanted) => keys.len() >= wanted,
            None => expected.iter().all(|m| keys.contains(&m.key)),
        }
    }
}

/// The write side of an accepted connection; generic so the answering schedule is tested over
/// an in-memory stream in paused time.
trait AnswerWriter: AsyncWrite + Unpin + Send + 'static {
    /// Makes the close that follows a reset (SO_LINGER 0).
    fn reset_on_close(&self);

    /// Frames one answer for the wire: an MLLP frame, unless the connection speaks another
    /// framing (an HLLP destination's `D` block, `hllp::HllpWriter`). False when it cannot.
    fn frame(&self, payload: &[u8], out: &mut BytesMut) -> bool {
        encode_frame(payload, out).is_ok()
    }
}

impl AnswerWriter for OwnedWriteHalf {
    fn reset_on_close(&self) {
        let _ = socket2::SockRef::from(self.as_ref()).set_linger(Some(Duration::ZERO));
    }
}

async fn write_frame<W: AnswerWriter>(writer: &tokio::sync::Mutex<W>, payload: &[u8]) -> bool {
    let mut framed = BytesMut::new();
    let mut writer = writer.lock().await;
    if !writer.frame(payload, &mut framed) {
        return false;
    }
    // Unshaped, through the faults' one shaper: a single write that must finish in 5 s.
    let written = write_shaped(&mut *writer, &framed, Shaping::default(), ANSWER_WRITE_TIMEOUT);
    written.await.is_ok()
}

/// How long one answer's write may take before the sender counts as not reading.
const ANSWER_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What to do with the connection after an answer.
enum After {
    KeepReading,
    Close,
    Reset,
    /// Hold the connection, unread, until the case ends (its packets are dropped anyway).
    Hold,
}

/// Answers one arrival as the case says; records it.
async fn answer<W: AnswerWriter>(
    state: &Arc<CaseState>,
    writer: &Arc<tokio::sync::Mutex<W>>,
    (connection, cut): (usize, Cut),
    payload: Vec<u8>,
    notes: Vec<(String, u64)>,
    received: Duration,
) -> After {
    let number = state.take_arrival_number();
    let plan = state.answers.answer(number);
    let control_id = Message::parse(&payload).ok().and_then(|m| m.control_id().map(str::to_string));
    let hl7 = control_id.is_some();
    let now = || state.started.elapsed();
    let mut arrival = Arrival::unanswered(connection, payload.clone(), notes, received);
    let mut after = After::KeepReading;
    if !hl7 {
        arrival.answer = "not HL7, no ACK".into();
        state.record(number, arrival);
        return after;
    }
    let mut action = plan.action();
    let mut error = None;
    if matches!(plan, Answer::AsSpecified) {
        (action.ack.code, error, action.label) = state.as_specified(&payload);
    }
    arrival.answer = action.label;
    let AckToBuild { code, wrong_msa2 } = action.ack;
    // What a written ACK counts as: delivery (AA), a rejection (AE, AR), or neither (an AA
    // answering another control id).
    let counts = |arrival: &mut Arrival, written: bool| {
        if wrong_msa2 {
        } else if code.is_accept() {
            arrival.accepted = written;
        } else {
            arrival.rejected = written;
        }
    };
    let bytes = || ack(&payload, code, wrong_msa2, number + 1, error.clone());
    match action.verdict {
        Verdict::Drop => {}
        // Answers never corrupt their ACK; a corrupt verdict is written as it is.
        Verdict::Forward | Verdict::Corrupt(_) => {
            if let Some(bytes) = bytes() {
                let written = write_frame(writer, &bytes).await;
                counts(&mut arrival, written);
                arrival.answered = Some(now());
            }
        }
        Verdict::Duplicate => {
            if let Some(bytes) = bytes() {
                let first = write_frame(writer, &bytes).await;
                let written = first && write_frame(writer, &bytes).await;
                counts(&mut arrival, written);
                arrival.answered = Some(now());
            }
        }
        Verdict::Delay(delay) => {
            arrival.answered = Some(now() + delay);
            state.hold(delay);
            // Accepted once the late ACK is written (the sender may have gone by then).
            if let Some(bytes) = bytes() {
                let (writer, state) = (Arc::clone(writer), Arc::clone(state));
                let delivery = code.is_accept() && !wrong_msa2;
                tokio::spawn(async move {
                    // At least a tick, so the arrival is recorded before it is marked.
                    tokio::time::sleep(delay.max(Duration::from_millis(1))).await;
                    let written = write_frame(&writer, &bytes).await;
                    if delivery {
                        state.mark_accepted(number, written);
                    }
                });
            }
        }
    }
    match action.then {
        AfterAnswer::KeepReading => {}
        AfterAnswer::Close => after = After::Close,
        AfterAnswer::Reset => after = After::Reset,
        AfterAnswer::SilentPeer => {
            if let Err(why) = state.drop_packets(cut).await {
                arrival.answer = format!("no ACK; the connection could not be silenced: {why}");
            }
            after = After::Hold;
        }
        AfterAnswer::Blackhole(period) => {
            let port = Cut::Port(state.port);
            if let Err(why) = state.drop_packets(port).await {
                arrival.answer = format!("no ACK; the port could not be cut off: {why}");
            }
            state.heal_after(port, period);
        }
    }
    state.record(number, arrival);
    after
}

/// Reads one connection as its behaviour says and answers every frame.
async fn serve_connection(state: Arc<CaseState>, stream: TcpStream, deadline: Instant) {
    let connection = state.take_connection_number();
    let behaviour =
        state.behaviours.get(connection - 1).cloned().unwrap_or(ConnectionBehaviour::Normal);
    let (read_size, pause) = match &behaviour {
        ConnectionBehaviour::NeverRead => {
            // Held open, unread, until the case ends.
            tokio::time::sleep_until(deadline).await;
            return;
        }
        ConnectionBehaviour::SlowRead { bytes, every } => {
            let _ = socket2::SockRef::from(&stream).set_recv_buffer_size((*bytes).max(256));
            (*bytes, every.0)
        }
        ConnectionBehaviour::Normal => (64 * 1024, Duration::ZERO),
    };
    let cut = match (stream.local_addr(), stream.peer_addr()) {
        (Ok(local), Ok(peer)) => {
            Cut::Connection { harness_port: local.port(), peer_port: peer.port() }
        }
        _ => Cut::Port(state.port),
    };
    let (reader, writer) = stream.into_split();
    let sizes = (read_size, pause);
    read_and_answer(&state, (connection, cut), (reader, writer), sizes, deadline).await;
}

/// Reads at most `read_size` bytes at a time, waiting `pause` after each read (a slow reader),
/// and answers every complete frame, until the peer ends or `deadline` passes. `cut` is what
/// the lab drops when the answer is a dead peer.
async fn read_and_answer<R, W>(
    state: &Arc<CaseState>,
    (connection, cut): (usize, Cut),
    (mut reader, writer): (R, W),
    (read_size, pause): (usize, Duration),
    deadline: Instant,
) where
    R: AsyncRead + Unpin,
    W: AnswerWriter,
{
    let writer = Arc::new(tokio::sync::Mutex::new(writer));
    let mut codec = MllpCodec::new(MllpOptions::default());
    let mut buffer = BytesMut::new();
    let mut chunk = vec![0u8; read_size.max(1)];
    loop {
        let read = tokio::time::timeout_at(deadline, reader.read(&mut chunk)).await;
        let n = match read {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(n)) => n,
        };
        let received = state.started.elapsed();
        buffer.extend_from_slice(&chunk[..n]);
        loop {
            let frame = match codec.decode(&mut buffer) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                // A framing error the lenient reader cannot get past: the stream is unusable.
                Err(_) => return,
            };
            if frame.kind != FrameKind::Message {
                continue;
            }
            let notes = frame.notes.iter().map(|n| (n.code().to_string(), n.offset())).collect();
            let payload = frame.payload.to_vec();
            let after = answer(state, &writer, (connection, cut), payload, notes, received).await;
            match after {
                After::KeepReading => {}
                After::Hold => {
                    tokio::time::sleep_until(deadline).await;
                    return;
                }
                After::Close => {
                    let mut writer = writer.lock().await;
                    let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
                    return;
                }
                After::Reset => {
                    writer.lock().await.reset_on_close();
                    return;
                }
            }
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
}

/// A listener on `addr`: on this host, or inside the lab (its address, the port of `addr`).
async fn listen(ctx: &ReceiverContext, addr: &str) -> std::io::Result<TcpListener> {
    let Some(lab) = &ctx.lab else { return TcpListener::bind(addr).await };
    let port = addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or(0);
    lab.listen(port).map_err(|e| std::io::Error::other(e.to_string()))
}

fn aborted(code: crate::vocab::ConnectionEvent, detail: String) -> CaseObservation {
    CaseObservation { aborted: Some(TransportEvent { code, detail }), ..CaseObservation::default() }
}

/// Runs one receiver case; returns the observations and what the sender was to send.
pub async fn run_case(
    run: &ReceiverRun,
    ctx: &ReceiverContext,
) -> (CaseObservation, CasePlan, Vec<String>) {
    let prepared = match messages(run, ctx) {
        Ok(prepared) => prepared,
        Err(message) => {
            return (
                aborted(crate::vocab::ConnectionEvent::CaseSetup, message.to_string()),
                CasePlan::default(),
                Vec::new(),
            )
        }
    };
    let described: Vec<String> = prepared
        .iter()
        .map(|(m, _)| format!("{} (the sender sends it as MSH-10 {})", m.label, m.control_id))
        .collect();
    let listener = match listen(ctx, &ctx.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            return (
                aborted(
                    crate::vocab::ConnectionEvent::ListenFailed,
                    format!("cannot listen on {}: {e}", ctx.listen),
                ),
                CasePlan::default(),
                described,
            )
        }
    };
    let address = match listener.local_addr() {
        Ok(address) => address,
        Err(e) => {
            return (
                aborted(crate::vocab::ConnectionEvent::ListenFailed, e.to_string()),
                CasePlan::default(),
                described,
            )
        }
    };
    let started = Instant::now();
    let deadline = started + ctx.timeout;
    let state = Arc::new(CaseState {
        started,
        arrivals: Mutex::new(Vec::new()),
        next_arrival: Mutex::new(0),
        next_connection: Mutex::new(0),
        answers: AnswerRules::from_list(&run.case.answers),
        behaviours: run.case.connections.clone(),
        lab: ctx.lab.clone(),
        port: address.port(),
        cuts: Mutex::new(Vec::new()),
        judge: judge_for(ctx.profile.as_deref()),
        held: Mutex::new(Vec::new()),
    });
    // A host that is down: every packet to the port dropped for a while, connects hang.
    if let Some(period) = run.case.connect_hang {
        if let Err(why) = state.drop_packets(Cut::Port(address.port())).await {
            return (
                aborted(crate::vocab::ConnectionEvent::LabFailed, why.to_string()),
                CasePlan::default(),
                described,
            );
        }
        state.heal_after(Cut::Port(address.port()), period.0);
    }
    // Refusing: the port is closed for a while (the SUT's connects are refused), then opened
    // again on the same address.
    let listener = if run.case.refuse_for.is_some() {
        drop(listener);
        None
    } else {
        Some(listener)
    };

    let temp = std::env::temp_dir().join(format!(
        "hl7-harness-sut-{}-{:x}-{}",
        std::process::id(),
        run.seed.0,
        run.index,
    ));
    let framed_path = temp.with_extension("mllp");
    let mut sut = None;
    let mut child = None;
    if let Some(command) = &ctx.command {
        let files = match write_message_files(&prepared, &temp, &framed_path) {
            Ok(files) => files,
            Err(why) => {
                remove_message_files(&temp, &framed_path);
                return (
                    aborted(crate::vocab::ConnectionEvent::CaseSetup, why.to_string()),
                    CasePlan::default(),
                    described,
                );
            }
        };
        let values = Placeholders {
            harness: &ctx.harness,
            listen: address,
            files: &files,
            dir: &temp,
            framed: &framed_path,
            defects: &ctx.defects,
        };
        let line = command_line(command, &values);
        let Some(program) = line.first() else {
            remove_message_files(&temp, &framed_path);
            return (
                aborted(crate::vocab::ConnectionEvent::CaseSetup, "sut.command is empty".into()),
                CasePlan::default(),
                described,
            );
        };
        let shown = ctx.secrets.hide(&line.join(" "));
        let mut process = tokio::process::Command::new(program);
        process
            .args(&line[1..])
            .env(DEFECTS_VARIABLE, ctx.defects.join(","))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if let Some(basic) = ctx.http.as_ref().and_then(|h| h.basic.as_ref()) {
            process.env(PASSWORD_VARIABLE, &basic.password);
        }
        match process.spawn() {
            Ok(mut spawned) => {
                let out = spawned.stdout.take().map(|s| tokio::spawn(tail(s)));
                let err = spawned.stderr.take().map(|s| tokio::spawn(tail(s)));
                child = Some((spawned, out, err));
                sut = Some(SutRun {
                    command: shown,
                    exit: None,
                    killed: false,
                    error: None,
                    output: String::new(),
                    stderr: String::new(),
                });
            }
            Err(e) => {
                sut = Some(SutRun {
                    command: shown,
                    exit: None,
                    killed: false,
                    error: Some(ctx.secrets.hide(&e.to_string())),
                    output: String::new(),
                    stderr: String::new(),
                });
            }
        }
    }

    let mut reopen_failed = None;
    let mut waits = Vec::new();
    let listener = match (listener, run.case.refuse_for) {
        (Some(listener), _) => Some(listener),
        (None, Some(period)) => {
            tokio::time::sleep(period.0.min(ctx.timeout)).await;
            waits.extend(Wait::of_case(WaitKind::Refused, period.0.min(ctx.timeout)));
            match listen(ctx, &address.to_string()).await {
                Ok(listener) => Some(listener),
                Err(e) => {
                    reopen_failed = Some(format!("cannot listen on {address} again: {e}"));
                    None
                }
            }
        }
        (None, None) => None,
    };
    let accept_state = Arc::clone(&state);
    let over_http = ctx.http.clone();
    let acceptor = tokio::spawn(async move {
        let Some(listener) = listener else { return };
        let mut handlers = tokio::task::JoinSet::new();
        while let Ok(Ok((stream, _))) = tokio::time::timeout_at(deadline, listener.accept()).await {
            let state = Arc::clone(&accept_state);
            match &over_http {
                Some(http) => handlers.spawn(http::serve_connection(
                    state,
                    stream,
                    deadline,
                    Arc::clone(http),
                )),
                None => handlers.spawn(serve_connection(state, stream, deadline)),
            };
        }
        handlers.shutdown().await;
    });

    // The case ends when the SUT is done (or, without one, when every expected message was
    // settled), after a quiet period for anything more; or at the deadline.
    let expected: Vec<ExpectedMessage> = prepared.iter().map(|(m, _)| m.clone()).collect();
    match (&mut child, &mut sut) {
        (Some((process, out, err)), Some(record)) => {
            match tokio::time::timeout_at(deadline, process.wait()).await {
                Ok(Ok(status)) => record.exit = status.code(),
                Ok(Err(e)) => record.error = Some(e.to_string()),
                Err(_) => {
                    let _ = process.kill().await;
                    record.killed = true;
                }
            }
            let mut output = Vec::new();
            let mut stderr = Vec::new();
            for (task, is_stderr) in [(out.take(), false), (err.take(), true)] {
                let Some(task) = task else { continue };
                if let Ok(Ok(bytes)) = tokio::time::timeout(Duration::from_secs(1), task).await {
                    if is_stderr {
                        stderr.clone_from(&bytes);
                    }
                    output.extend(bytes);
                }
            }
            record.output = ctx.secrets.hide(&String::from_utf8_lossy(&output));
            record.stderr = ctx.secrets.hide(&String::from_utf8_lossy(&stderr));
            tokio::time::sleep(ctx.quiet).await;
            waits.extend(Wait::of_case(WaitKind::Quiet, ctx.quiet));
        }
        _ => {
            let wanted = run.case.expect.delivered;
            while Instant::now() < deadline {
                if state.settled(&expected, wanted) {
                    tokio::time::sleep(ctx.quiet).await;
                    waits.extend(Wait::of_case(WaitKind::Quiet, ctx.quiet));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    // Aborting the acceptor drops its handlers (a JoinSet aborts its tasks when dropped).
    acceptor.abort();
    let _ = acceptor.await;
    state.heal_all().await;
    if ctx.command.is_some() {
        remove_message_files(&temp, &framed_path);
    }
    let mut arrivals =
        std::mem::take(&mut *state.arrivals.lock().unwrap_or_else(|e| e.into_inner()));
    arrivals.sort_by_key(|(n, _)| *n);
    let expect = &run.case.expect;
    let receiver = ReceiverExpectation {
        messages: expected,
        delivered: expect.delivered,
        min_arrivals: expect.min_arrivals,
        max_arrivals: expect.max_arrivals,
        retry_min: expect.retry_interval.as_ref().and_then(|r| r.min.map(|s| s.0)),
        retry_max: expect.retry_interval.as_ref().and_then(|r| r.max.map(|s| s.0)),
        allow_reorder: expect.allow_reorder,
        sut_exit: expect.sut_exit,
    };
    let observation = CaseObservation {
        // The harness could not play its part: nothing here judges the sender.
        aborted: reopen_failed.map(|detail| TransportEvent {
            code: crate::vocab::ConnectionEvent::ListenFailed,
            detail,
        }),
        arrivals: arrivals.into_iter().map(|(_, a)| a).collect(),
        sut,
        ..CaseObservation::default()
    };
    let mut observation = observation;
    waits.extend(state.held());
    waits.extend(peer_timeouts(&observation.arrivals));
    observation.waits = waits;
    let plan = CasePlan {
        receiver: Some(receiver),
        skip_checks: run.case.skip_checks.clone(),
        ..CasePlan::default()
    };
    (observation, plan, described)
}

#[cfg(test)]
mod tests {
    //! The answering schedule in paused time over an in-memory stream: every sleep ends exactly
    //! at its deadline, so late ACKs and slow reads happen at exact virtual times.

    use super::*;
    use crate::faults::Answer;
    use crate::hl7::ack::ErrorCondition;
    use crate::scenario::Span;
    use tokio::io::{DuplexStream, WriteHalf};

    impl AnswerWriter for WriteHalf<DuplexStream> {
        fn reset_on_close(&self) {}
    }

    fn message(control_id: &str, pad: usize) -> Vec<u8> {
        let mut text =
            format!("MSH|^~\\&|S|SF|R|RF|20240101||ADT^A04^ADT_A01|{control_id}|P|2.6\rPID|1||X\r");
        text.push_str(&"Z".repeat(pad));
        let mut framed = BytesMut::new();
        encode_frame(text.as_bytes(), &mut framed).unwrap();
        framed.to_vec()
    }

    /// What the sender side saw and what the harness recorded.
    struct Run {
        /// When each ACK frame was complete (ms), with its MSA-2.
        acks: Vec<(u128, String)>,
        /// When each of the sender's writes was taken (ms).
        written: Vec<u128>,
        arrivals: Vec<Arrival>,
        /// The answers the harness held back (`late_ack`).
        held: Vec<Wait>,
    }

    /// Writes each frame at its time (ms) through a stream holding `window` bytes, to a
    /// connection read `read` bytes at a time with a pause of `every`, answered per `answers`;
    /// collects `acks` ACK frames.
    async fn run(
        answers: Vec<Answer>,
        (read, every): (usize, Duration),
        window: usize,
        frames: &[(u64, Vec<u8>)],
        acks: usize,
    ) -> Run {
        let (sender, receiver) = tokio::io::duplex(window);
        let state = Arc::new(CaseState {
            started: Instant::now(),
            arrivals: Mutex::new(Vec::new()),
            next_arrival: Mutex::new(0),
            next_connection: Mutex::new(1),
            answers: AnswerRules::from_list(&answers),
            behaviours: Vec::new(),
            lab: None,
            port: 0,
            cuts: Mutex::new(Vec::new()),
            judge: None,
            held: Mutex::new(Vec::new()),
        });
        let deadline = state.started + Duration::from_secs(10);
        let serving = tokio::spawn({
            let state = Arc::clone(&state);
            async move {
                let halves = tokio::io::split(receiver);
                let connection = (1, Cut::Port(0));
                read_and_answer(&state, connection, halves, (read, every), deadline).await;
            }
        });
        let (mut from, mut to) = tokio::io::split(sender);
        let started = state.started;
        let reading = async {
            let (mut codec, mut buffer, mut got) =
                (MllpCodec::new(MllpOptions::default()), BytesMut::new(), Vec::new());
            while got.len() < acks {
                while let Ok(Some(frame)) = codec.decode(&mut buffer) {
                    let ack = crate::hl7::ack::ReceivedAck::parse(&frame.payload).unwrap();
                    got.push((started.elapsed().as_millis(), ack.msa2));
                }
                if got.len() < acks && from.read_buf(&mut buffer).await.unwrap() == 0 {
                    break;
                }
            }
            got
        };
        let writing = async {
            let mut written = Vec::new();
            for (at, frame) in frames {
                tokio::time::sleep_until(started + Duration::from_millis(*at)).await;
                to.write_all(frame).await.unwrap();
                written.push(started.elapsed().as_millis());
            }
            written
        };
        let (acks, written) = tokio::join!(reading, writing);
        drop((from, to));
        serving.await.unwrap();
        let arrivals = state.arrivals.lock().unwrap().drain(..).map(|(_, a)| a).collect();
        Run { acks, written, arrivals, held: state.held() }
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_ack_is_written_exactly_its_delay_after_the_arrival() {
        let late = Answer::LateAck(Span(Duration::from_millis(30)));
        let frames = [(0, message("C1", 0)), (5, message("C2", 0))];
        let got =
            run(vec![late, Answer::Ack], (64 * 1024, Duration::ZERO), 1 << 16, &frames, 2).await;
        // The late ACK does not hold up the next message's: C2 at 5 ms, C1 at 30 ms.
        assert_eq!(got.acks, [(5, "C2".to_string()), (30, "C1".to_string())]);
        let times: Vec<_> = got.arrivals.iter().map(|a| (a.received, a.answered)).collect();
        let ms = Duration::from_millis;
        assert_eq!(times, [(ms(0), Some(ms(30))), (ms(5), Some(ms(5)))]);
        assert!(got.arrivals.iter().all(|a| a.accepted), "both written");
        // The delay is a wait the case required; the prompt answer is none.
        let held = Wait { kind: WaitKind::AnswerDelay, step: None, duration: ms(30) };
        assert_eq!(got.held, [held]);
        assert_eq!(peer_timeouts(&got.arrivals), []);
    }

    /// A frame left unanswered on purpose makes the sender wait out its own ACK timeout: the
    /// time until its resend is a required wait; nothing is held back by the harness.
    #[tokio::test(start_paused = true)]
    async fn an_unanswered_frame_waits_out_the_senders_timeout() {
        let frames = [(0, message("C1", 0)), (40, message("C1", 0))];
        let answers = vec![Answer::NoAck, Answer::Ack];
        let got = run(answers, (64 * 1024, Duration::ZERO), 1 << 16, &frames, 1).await;
        assert_eq!(got.acks, [(40, "C1".to_string())]);
        let waited =
            Wait { kind: WaitKind::PeerTimeout, step: None, duration: Duration::from_millis(40) };
        assert_eq!(peer_timeouts(&got.arrivals), [waited]);
        assert_eq!(got.held, []);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_takes_its_bytes_per_interval_and_holds_the_sender_back() {
        // A frame read 32 bytes every 2 ms through a 32-byte window. 128 bytes: reads at 0, 2,
        // 4 and 6 ms; the sender's last bytes are taken at 4 ms, the frame is complete and
        // answered at 6 ms. 129 bytes need a fifth read, 2 ms later.
        let every = Duration::from_millis(2);
        for (size, written, answered) in [(128, 4, 6), (129, 6, 8)] {
            let frame = message("C1", size - message("C1", 0).len());
            assert_eq!(frame.len(), size);
            let got = run(vec![], (32, every), 32, &[(0, frame)], 1).await;
            assert_eq!(got.written, [written], "{size} bytes");
            assert_eq!(got.acks, [(answered, "C1".to_string())], "{size} bytes");
            assert_eq!(got.arrivals[0].received, Duration::from_millis(answered as u64));
        }
    }

    /// `refuse_for` keeps the case's port closed, then opens it on the same address. The
    /// sender here is a loopback client in the same single-threaded runtime, so its connects
    /// and the harness's rebind happen in virtual-time order: refused 1 ms before the period
    /// ends, accepted 1 ms after, and the message answered then.
    #[tokio::test(start_paused = true)]
    async fn a_refused_port_opens_again_after_refuse_for() {
        let port = {
            let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            free.local_addr().unwrap().port()
        };
        let listen = format!("127.0.0.1:{port}");
        let text = b"MSH|^~\\&|S|SF|R|RF|20240101||ADT^A04^ADT_A01|T1|P|2.6\rPID|1||X\r".to_vec();
        let template = TemplateMessage { label: "m".into(), bytes: text, raw: false };
        let ctx = ReceiverContext {
            listen: listen.clone(),
            command: None,
            timeout: Duration::from_secs(5),
            quiet: Duration::from_millis(10),
            templates: [("m".to_string(), vec![template])].into(),
            defects: Vec::new(),
            secrets: Default::default(),
            harness: PathBuf::new(),
            lab: None,
            profile: None,
            http: None,
        };
        let yaml = "{name: refused, send: [m], refuse_for: 250ms}";
        let case: ReceiverCase = crate::scenario::from_yaml(yaml).unwrap();
        let run = ReceiverRun { index: 0, name: "refused".into(), case, seed: Seed(1), file: 0 };
        let (_, bytes) = messages(&run, &ctx).unwrap().remove(0);
        let start = Instant::now();
        let case = tokio::spawn(async move { run_case(&run, &ctx).await.0 });
        tokio::time::sleep_until(start + Duration::from_millis(249)).await;
        assert!(TcpStream::connect(&listen).await.is_err(), "refused at 249 ms");
        tokio::time::sleep_until(start + Duration::from_millis(251)).await;
        let mut sender = TcpStream::connect(&listen).await.expect("accepted at 251 ms");
        let mut framed = BytesMut::new();
        encode_frame(&bytes, &mut framed).unwrap();
        sender.write_all(&framed).await.unwrap();
        let mut answer = vec![0u8; 4096];
        let n = sender.read(&mut answer).await.unwrap();
        assert!(answer[..n].windows(6).any(|w| w == b"MSA|AA"), "answered");
        assert_eq!(start.elapsed(), Duration::from_millis(251), "answered at once");
        let observation = case.await.unwrap();
        assert_eq!(observation.aborted.map(|e| e.code), None);
        let arrival = &observation.arrivals[0];
        assert_eq!((arrival.connection, arrival.received), (1, Duration::from_millis(251)));
    }
    #[test]
    fn as_specified_answers_ae_with_an_err_at_the_first_error() {
        let profile: crate::profile::TargetProfile = crate::scenario::from_yaml(
            "message_profiles:\n- message: ADT^A04\n  constraints:\n    PID-5.2: { usage: R }\n",
        )
        .unwrap();
        let state = CaseState {
            started: Instant::now(),
            arrivals: Mutex::new(Vec::new()),
            next_arrival: Mutex::new(0),
            next_connection: Mutex::new(1),
            answers: AnswerRules::from_list(&[]),
            behaviours: Vec::new(),
            lab: None,
            port: 0,
            cuts: Mutex::new(Vec::new()),
            judge: judge_for(Some(&profile)),
            held: Mutex::new(Vec::new()),
        };
        let good = b"MSH|^~\\&|S|SF|R|RF|20240101||ADT^A04^ADT_A01|T1|P|2.6\rPID|1||X||Doe^Jo\r";
        let (code, error, label) = state.as_specified(good);
        assert_eq!(
            (code, error, label.as_str()),
            (AckCode::ApplicationAccept, None, "AA (meets the profile)")
        );
        let bad = b"MSH|^~\\&|S|SF|R|RF|20240101||ADT^A04^ADT_A01|T2|P|2.6\rPID|1||X||Doe\r";
        let (code, error, label) = state.as_specified(bad);
        assert_eq!(code, AckCode::ApplicationError);
        assert!(label.starts_with("AE as specified: usage PID[1]-5.2"), "{label}");
        let error = error.expect("an ERR");
        assert_eq!(error.condition, ErrorCondition::RequiredFieldMissing);
        let ack = ack(bad, code, false, 1, Some(error)).expect("ack");
        let text = String::from_utf8_lossy(&ack);
        assert!(text.contains("MSA|AE|T2"), "{text}");
        assert!(text.contains("ERR||PID^2^5^1^2"), "{text}");
        assert!(text.contains("101"), "{text}");
        let none = CaseState { judge: None, ..state };
        assert_eq!(none.as_specified(bad).2, "AA (no message profiles to judge by)");
    }
}
