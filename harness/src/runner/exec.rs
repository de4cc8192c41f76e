//! Executes one case against a resolved target and records what happened. Every wait on the
//! target is bounded: connects and writes by the transport's timeouts, ACKs by the scenario's
//! `ack_timeout`, the look for extra frames by `linger`, probes by their own timeout.

use super::liveness::{canary_message, during, has_faults, send_canary, storm};
use super::target::TargetUrl;
use super::wire::write_plan;
use crate::checks::CasePlan;
use crate::faults::{plan, shape_payload, writes_outside_before, NetworkFault, WireEnd, WirePlan};
use crate::generator::{apply_all, Intent, Mutation};
use crate::hl7::edit::MessageBuf;
use crate::hl7::{Message, Path};
use crate::netlab::{Cut, Direction, Lab, LabError};
use crate::observation::*;
use crate::scenario::{Case, FieldPath, Pattern, Placeholders, Resend, Step, TemplateMessage};
use crate::transport::connection::{MllpConnection, Timeouts, TransportError};
use crate::transport::http_client::{post_message_tls, HttpTarget};
use crate::transport::mllp::{Frame, FrameKind, MllpOptions};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The value of `{unique}` in a case with seed `seed`: 8 hex digits, so ids made with it fit
/// the fields they go into. Reports redact it (it changes with the run's seed).
pub fn unique_token(seed: u64) -> String {
    format!("{:08x}", (seed ^ (seed >> 32)) as u32)
}

/// What a case runs against, shared by the cases of one scenario file.
pub struct Context {
    pub url: TargetUrl,
    /// What `{state}` stands for in probes.
    pub state: Option<String>,
    /// How the target's effects are read (its profile's `state:` mapping).
    pub effects: super::probe::Effects,
    pub timeouts: Timeouts,
    pub ack_timeout: Duration,
    pub linger: Duration,
    pub basic: Option<(String, String)>,
    /// For `mllps://` and `https://`.
    pub tls: Option<tokio_rustls::TlsConnector>,
    /// For `hllp://`: the scenario's block settings.
    pub hllp: crate::transport::hllp::HllpOptions,
    pub templates: BTreeMap<String, Vec<TemplateMessage>>,
    /// The packet-level lab, for files with faults that need it: every MLLP connection of the
    /// file then starts inside its network namespace.
    pub lab: Option<Arc<Lab>>,
}

/// One case as it will run: the scenario's case plus the variant picked by expansion.
#[derive(Debug, Clone)]
pub struct CaseRun {
    /// Position in the scenario file's run list; part of every control id.
    pub index: usize,
    pub name: String,
    pub case: Case,
    /// Which message of a multi-message template.
    pub pick: usize,
    /// From `vary: { mutation: … }`.
    pub extra_mutation: Option<Mutation>,
    /// From `vary: { values: … }`.
    pub vary_value: Option<(FieldPath, String)>,
    pub seed: u64,
    pub run_seed: u64,
    /// Which scenario file of the run (0-based): part of every control id, so that files
    /// sharing one target never reuse an MSH-10.
    pub file: usize,
}

impl CaseRun {
    /// The case's steps; a single-step case becomes one step.
    pub fn steps(&self) -> Vec<Step> {
        if !self.case.steps.is_empty() {
            return self.case.steps.clone();
        }
        vec![Step {
            send: self.case.send.clone(),
            set: self.case.set.clone(),
            mutate: self.case.mutate.clone(),
            resend: None,
            network: Vec::new(),
            expect: self.case.expect.clone(),
            probe: self.case.probe.clone(),
            wait: None,
        }]
    }

    fn unique(&self) -> String {
        unique_token(self.seed)
    }

    fn control_id(&self, step: usize, connection: usize) -> String {
        // At most 16 characters (MSH-10 is 20 in v2.3): H, seed, file, case, step, connection.
        format!(
            "H{:04X}{:02}{:04}{:02}{}",
            self.run_seed & 0xFFFF,
            self.file % 100,
            self.index % 10_000,
            step % 100,
            connection % 10
        )
    }
}

/// A message built for a step.
#[derive(Clone)]
pub(super) struct Built {
    pub(super) bytes: Vec<u8>,
    pub(super) raw: bool,
    pub(super) description: String,
    /// What the mutations made of the message; `None` without mutations.
    intent: Option<Intent>,
}

struct Values<'a> {
    sent: Option<&'a [u8]>,
    state: Option<&'a str>,
    unique: String,
}

impl Placeholders for Values<'_> {
    fn field(&self, path: &FieldPath) -> Option<String> {
        let message = Message::parse(self.sent?).ok()?;
        let value = message.get(&path.path)?;
        Some(message.text(&value).into_owned())
    }
    fn state(&self) -> Option<String> {
        self.state.map(str::to_string)
    }
    fn unique(&self) -> String {
        self.unique.clone()
    }
}

pub(super) fn build(
    run: &CaseRun,
    ctx: &Context,
    step: &Step,
    step_no: usize,
    connection: usize,
) -> Result<Built, String> {
    let name = step.send.as_deref().ok_or("the step sends nothing")?;
    let messages = ctx.templates.get(name).ok_or_else(|| format!("no template {name:?}"))?;
    let template = &messages[run.pick % messages.len()];
    if template.raw {
        return Ok(Built {
            bytes: template.bytes.clone(),
            raw: true,
            description: format!("{} (raw)", template.label),
            intent: None,
        });
    }
    let mut buf =
        MessageBuf::new(template.bytes.clone()).map_err(|e| format!("{}: {e}", template.label))?;
    let msh10 = Path::parse("MSH-10").map_err(|e| e.to_string())?;
    buf.set(&msh10, &run.control_id(step_no, connection)).map_err(|e| format!("MSH-10: {e}"))?;
    let values =
        Values { sent: Some(&template.bytes), state: ctx.state.as_deref(), unique: run.unique() };
    let mut sets: Vec<(&FieldPath, String)> = Vec::new();
    for (path, pattern) in &step.set {
        sets.push((path, render(pattern, &values)?));
    }
    let vary = run.vary_value.as_ref().filter(|_| step_no == 1).map(|(p, v)| (p, v.clone()));
    for (path, text) in sets.into_iter().chain(vary) {
        buf.set(&path.path, &text).map_err(|e| format!("set {path}: {e}"))?;
    }
    let mut mutations = step.mutate.clone();
    if step_no == 1 {
        mutations.extend(run.extra_mutation.clone());
    }
    let mut description = template.label.clone();
    let mut intent = None;
    let bytes = if mutations.is_empty() {
        buf.into_bytes()
    } else {
        let mutated = apply_all(buf.as_bytes(), &mutations, run.seed.wrapping_add(step_no as u64))
            .map_err(|e| e.to_string())?;
        description =
            format!("{description}; {} (intent: {:?})", mutated.description, mutated.intent);
        intent = Some(mutated.intent);
        mutated.bytes
    };
    Ok(Built { bytes, raw: false, description, intent })
}

/// The messages a case's steps have sent, for `resend:` and for probe placeholders.
#[derive(Default)]
pub(super) struct Sent {
    by_step: Vec<Option<Built>>,
    last: Option<Built>,
}

impl Sent {
    /// The message step `step_no` sends: built from its template, or an earlier one again.
    pub(super) fn next(
        &self,
        run: &CaseRun,
        ctx: &Context,
        step: &Step,
        step_no: usize,
        connection: usize,
    ) -> Result<Built, String> {
        let original = match step.resend {
            None => return build(run, ctx, step, step_no, connection),
            Some(Resend::Previous) => self.last.clone(),
            Some(Resend::Step(n)) => self.by_step.get(n - 1).cloned().flatten(),
        };
        original
            .map(|p| Built { description: format!("{} (resent)", p.description), ..p })
            .ok_or_else(|| "resend: that step sent nothing".to_string())
    }

    pub(super) fn record(&mut self, step_no: usize, built: Built) {
        self.by_step.resize(step_no, None);
        self.by_step[step_no - 1] = Some(built.clone());
        self.last = Some(built);
    }

    pub(super) fn last_bytes(&self) -> Option<&[u8]> {
        self.last.as_ref().map(|b| b.bytes.as_slice())
    }
}

fn render(pattern: &Pattern, values: &Values) -> Result<String, String> {
    pattern.render(values)
}

pub(super) fn event(err: &TransportError) -> TransportEvent {
    TransportEvent { code: err.code().to_string(), detail: err.to_string() }
}

fn control_id_of(payload: &[u8]) -> Option<String> {
    Message::parse(payload).ok()?.control_id().map(str::to_string)
}

fn msa2_of(payload: &[u8]) -> Option<String> {
    let message = Message::parse(payload).ok()?;
    let value = message.get(&Path::parse("MSA-2").ok()?)?;
    Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// An exchange in flight on one connection.
struct Pending {
    exchange: Exchange,
    sent_at: Instant,
    control_id: Option<String>,
    /// The MLLP release 2 commit acknowledgement block read for the current attempt.
    commit: Option<Commit>,
}

impl Pending {
    fn new(exchange: Exchange, control_id: Option<String>) -> Pending {
        Pending { exchange, sent_at: Instant::now(), control_id, commit: None }
    }

    /// Nothing more will come for the current attempt: its ACK, or a commit NAK (MLLP release
    /// 2: the receiver did not commit the message, so no application ACK follows).
    fn settled(&self) -> bool {
        !self.exchange.replies.is_empty() || self.commit == Some(Commit::Nak)
    }
}

/// How many times a message refused with an MLLP release 2 commit NAK is sent again on the
/// same connection (same MSH-10) before it is given up: "If the Source system receives a
/// negative commit acknowledgement ... it shall resend the message" (HL7 Version 3 Standard:
/// Transport Specification - MLLP, Release 2, 1.2.1 Content exchange model; the bound is the
/// harness's, as the specification sets none).
pub(super) const COMMIT_NAK_RESENDS: usize = 3;

/// Which pending exchange a commit acknowledgement block answers: the one being waited for,
/// else the first with neither an ACK nor a commit block yet (MLLP release 2 is synchronous:
/// commit blocks come in the order of the messages).
fn commit_owner(pending: &[Pending], preferred: Option<usize>) -> Option<usize> {
    let open = |p: &Pending| p.exchange.replies.is_empty() && p.commit.is_none();
    preferred.filter(|&i| open(&pending[i])).or_else(|| pending.iter().position(open))
}

/// Which pending exchange a frame answers: by MSA-2, else the preferred one if it has no reply
/// yet, else the first without a reply; `None`: a stray frame.
fn attribute(pending: &[Pending], payload: &[u8], preferred: Option<usize>) -> Option<usize> {
    if let Some(id) = msa2_of(payload) {
        let matching = |p: &&Pending| p.control_id.as_deref() == Some(id.as_str());
        let first_open = pending.iter().position(|p| matching(&p) && p.exchange.replies.is_empty());
        if let Some(i) = first_open.or_else(|| pending.iter().position(|p| matching(&p))) {
            return Some(i);
        }
    }
    if let Some(i) = preferred.filter(|&i| pending[i].exchange.replies.is_empty()) {
        return Some(i);
    }
    pending.iter().position(|p| p.exchange.replies.is_empty())
}

/// What reading frames on one connection needs beside the connection: the messages in
/// flight, where unattributable frames go, and which exchange the last frame answered (bytes
/// the target sends after an answer are that exchange's, not the next one's).
struct Reading<'a> {
    pending: &'a mut [Pending],
    stray: &'a mut Vec<Reply>,
    /// Index into `pending` of the exchange the connection's last frame was attributed to.
    last: &'a mut Option<usize>,
}

impl Reading<'_> {
    /// Records one frame: a commit block on the attempt it answers, an HL7 frame as a reply of
    /// the exchange [`attribute`] picks. With `follow`, a frame no exchange claims is an extra
    /// reply of the exchange whose answer it followed (it came before the next message went).
    fn take(&mut self, frame: Frame, preferred: Option<usize>, follow: bool) {
        let commit = match frame.kind {
            FrameKind::Message => None,
            FrameKind::CommitAck => Some(Commit::Ack),
            FrameKind::CommitNak => Some(Commit::Nak),
        };
        if let Some(commit) = commit {
            // A commit block no message waits for (after its ACK) is not an acknowledgment.
            if let Some(i) = commit_owner(self.pending, preferred) {
                self.pending[i].commit = Some(commit);
            }
            return;
        }
        let notes = frame.notes.iter().map(|n| (n.code().to_string(), n.offset())).collect();
        let now = Instant::now();
        let owner = attribute(self.pending, &frame.payload, preferred)
            .or_else(|| self.last.filter(|_| follow));
        match owner {
            Some(i) => {
                let elapsed = now.duration_since(self.pending[i].sent_at);
                let place = self.pending.iter().map(|p| p.exchange.replies.len()).sum();
                self.pending[i].exchange.reply_order.push(place);
                self.pending[i].exchange.replies.push(Reply {
                    payload: frame.payload.to_vec(),
                    notes,
                    elapsed,
                });
                *self.last = Some(i);
            }
            None => {
                self.stray.push(Reply {
                    payload: frame.payload.to_vec(),
                    notes,
                    elapsed: Duration::ZERO,
                });
                *self.last = None;
            }
        }
    }

    /// Bytes outside any frame that the target sent after the last frame (garbage after an
    /// ACK): a framing note on the reply they followed, so `ack.framing` fails on that step
    /// and not on the next one. Without an earlier reply they stay for the next frame.
    fn attach_trailing(&mut self, conn: &mut MllpConnection) {
        let Some(reply) = self
            .last
            .and_then(|i| self.pending.get_mut(i))
            .and_then(|p| p.exchange.replies.last_mut())
        else {
            return;
        };
        for note in conn.take_outside_notes() {
            reply.notes.push((note.code().to_string(), note.offset()));
        }
    }
}

/// Reads frames until `done` holds, the deadline passes or the connection fails; returns the
/// transport event that ended reading, if any (a timeout is not returned when `done` held).
async fn read_until(
    conn: &mut MllpConnection,
    reading: &mut Reading<'_>,
    preferred: Option<usize>,
    deadline: Instant,
    done: impl Fn(&[Pending]) -> bool,
) -> Option<TransportError> {
    while !done(reading.pending) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        match conn.receive(Some(left)).await {
            Ok(frame) => reading.take(frame, preferred, false),
            Err(TransportError::ReadTimeout { .. }) => return None,
            Err(err) => return Some(err),
        }
    }
    None
}

/// Takes what the target has already sent (frames read, bytes outside frames) without waiting:
/// it came after the last answer and before the next message, so it belongs to the exchanges
/// sent so far.
async fn take_ready(conn: &mut MllpConnection, reading: &mut Reading<'_>) {
    // Bounded: a read that would wait ends the loop, and a target that streams frames without
    // pause is cut off after a few (the next message's reading takes the rest).
    for _ in 0..TAKE_READY_FRAMES {
        match conn.receive(Some(Duration::ZERO)).await {
            Ok(frame) => reading.take(frame, None, true),
            Err(_) => break,
        }
    }
    reading.attach_trailing(conn);
}

/// At most this many frames are taken by [`take_ready`] at once.
const TAKE_READY_FRAMES: usize = 64;

fn after_from(err: &TransportError) -> ConnectionAfter {
    match err.code() {
        "peer-closed" => ConnectionAfter::Closed,
        "peer-reset" => ConnectionAfter::Reset,
        _ => ConnectionAfter::Unknown,
    }
}

/// Runs one case; returns the observations and one description per message sent.
pub async fn run_case(run: &CaseRun, ctx: &Context) -> (CaseObservation, CasePlan, Vec<String>) {
    let plan = CasePlan::for_case(&run.case, &run.steps());
    let mut observation = CaseObservation {
        exchanges: Vec::new(),
        connections_after: Vec::new(),
        stray: Vec::new(),
        probes: Vec::new(),
        aborted: None,
        ..CaseObservation::default()
    };
    let mut described = Vec::new();
    match &ctx.url {
        TargetUrl::Mllp(addr) | TargetUrl::Mllps(addr) => {
            run_mllp(run, ctx, addr, &mut observation, &mut described).await;
            if observation.aborted.is_none() && has_faults(run) {
                if let Some(message) = canary_message(run, ctx, CanaryWhen::After) {
                    let canary = send_canary(addr, ctx, &message, CanaryWhen::After).await;
                    observation.canaries.push(canary);
                }
            }
        }
        TargetUrl::Http(url) | TargetUrl::Https(url) => {
            run_http(run, ctx, url, &mut observation, &mut described).await
        }
        TargetUrl::Hllp(addr) => {
            super::hllp::run_hllp(run, ctx, addr, &mut observation, &mut described).await
        }
        TargetUrl::Builtin => {
            observation.aborted = Some(TransportEvent {
                code: "no-target".into(),
                detail: "the built-in target was not started".into(),
            })
        }
    }
    if observation.aborted.is_none() {
        super::order::read_applied(ctx, plan.order, &mut observation).await;
    }
    (observation, plan, described)
}

pub(super) fn new_exchange(
    step_no: usize,
    connection: usize,
    built: &Built,
    _step: &Step,
    ctx: &Context,
    faults: &[NetworkFault],
) -> Exchange {
    Exchange {
        step: step_no,
        connection,
        sent: built.bytes.clone(),
        raw: built.raw,
        replies: Vec::new(),
        ack_timeout: ctx.ack_timeout,
        event: None,
        http: None,
        intent: built.intent,
        faults: faults.iter().map(|f| f.name().to_string()).collect(),
        attempts: Vec::new(),
        reply_order: Vec::new(),
        after_outside_bytes: false,
    }
}

/// One connection of a case and the messages sent on it.
struct Lane<'a> {
    addr: &'a str,
    ctx: &'a Context,
    /// 1-based, as reported.
    number: usize,
    conn: MllpConnection,
    pending: Vec<Pending>,
    /// Why the connection can no longer be used, when it cannot.
    dead: Option<TransportEvent>,
    after: ConnectionAfter,
    /// The target closed a connection of this lane during the case (and a new one was opened).
    closed_once: Option<ConnectionAfter>,
    /// The message a canary sends while a fault holds this lane (an unterminated frame's
    /// silence), and the canaries sent.
    canary: Option<Vec<u8>>,
    canaries: Vec<Canary>,
    /// Drives the faults' random choices.
    seed: u64,
    /// When the lane's first connection was opened.
    opened: Instant,
    /// A `reset: { after_acks: N }` has fired on this lane (it fires once).
    ack_reset: bool,
    /// Index into `pending` of the exchange the current connection's last frame answered.
    last: Option<usize>,
}

impl Lane<'_> {
    fn fail(&mut self, err: &TransportError) -> TransportEvent {
        self.after = after_from(err);
        let gone = event(err);
        self.dead = Some(gone.clone());
        gone
    }

    /// A new connection in place of one the target closed; false when none could be opened.
    async fn reconnect(&mut self) -> bool {
        self.attach_trailing();
        match connect(self.addr, self.ctx).await {
            Ok(fresh) => {
                self.conn = fresh;
                self.last = None;
                self.dead = None;
                self.closed_once = self.closed_once.or(Some(self.after));
                true
            }
            Err(err) => {
                self.dead = Some(event(&err));
                false
            }
        }
    }

    /// Bytes outside frames read after the current connection's last frame: a framing note on
    /// the reply they followed.
    fn attach_trailing(&mut self) {
        let mut nowhere = Vec::new();
        let mut reading =
            Reading { pending: &mut self.pending, stray: &mut nowhere, last: &mut self.last };
        reading.attach_trailing(&mut self.conn);
    }

    /// Writes `wire`, then reads until `pending[index]` has a reply, the ACK timeout passes or
    /// the connection fails (which marks the lane dead). A message the harness's own fault left
    /// without its ACK goes again, unchanged (same MSH-10) and without the fault, on a new
    /// connection, as a correct sender resends after an indeterminate outcome: after a close or
    /// reset before the ACK, a blackhole, a half-close, and a close by the target between two
    /// messages (a receiver may close after an ACK; the harness may have written the next
    /// message before it saw the close), and a close on bytes the harness wrote outside a
    /// block (MLLP release 1 leaves that to the receiver). The message is lost only if that
    /// resend goes
    /// unanswered too. A commit NAK (MLLP release 2) is a failed attempt: the message is sent
    /// again on the same connection, at most [`COMMIT_NAK_RESENDS`] times.
    async fn send_and_wait(&mut self, wire: &WirePlan, index: usize, stray: &mut Vec<Reply>) {
        let answered_before = self.last.is_some();
        if self.pending[index].exchange.attempts.is_empty() {
            self.pending[index].exchange.after_outside_bytes = wire.outside_blocks;
        }
        self.attempt(wire, index, stray).await;
        let again = plan(&[self.pending[index].exchange.sent.as_slice()], &[], self.seed, true);
        let unanswered = |lane: &Self| lane.pending[index].exchange.replies.is_empty();
        let nak = |lane: &Self| lane.pending[index].commit == Some(Commit::Nak);
        let cut = matches!(wire.end, WireEnd::Close | WireEnd::Reset | WireEnd::Blackhole);
        if cut && self.dead.is_none() {
            self.attempt(&again, index, stray).await;
        } else if unanswered(self) && !nak(self) {
            let closed = self
                .dead
                .as_ref()
                .is_some_and(|e| e.code == "peer-closed" || e.code == "peer-reset");
            let closed_between = wire.end == WireEnd::Read && answered_before && closed;
            // MLLP release 1 says nothing of bytes outside blocks: a receiver may close on the
            // ones the harness wrote, and the message then goes again without them.
            let closed_on_outside = wire.outside_blocks && closed;
            if wire.end == WireEnd::HalfClose || closed_between || closed_on_outside {
                // After a half-close this end cannot write again: a new connection either way.
                let fresh = if self.dead.is_some() {
                    self.reconnect().await
                } else {
                    self.replace_connection(true).await;
                    self.dead.is_none()
                };
                if fresh {
                    self.attempt(&again, index, stray).await;
                }
            }
        }
        let mut resends = 0;
        while resends < COMMIT_NAK_RESENDS && self.dead.is_none() && unanswered(self) && nak(self) {
            resends += 1;
            self.attempt(&again, index, stray).await;
        }
    }

    /// One write of a message and what came of it, recorded as an [`Attempt`].
    async fn attempt(&mut self, wire: &WirePlan, index: usize, stray: &mut Vec<Reply>) {
        let before = self.pending[index].exchange.replies.len();
        self.pending[index].sent_at = Instant::now();
        self.pending[index].commit = None;
        let failure = if wire.end == WireEnd::Blackhole {
            self.vanish(wire, index, stray).await
        } else {
            self.write_and_end(wire, index, stray).await
        };
        let refused = self.pending[index].commit == Some(Commit::Nak)
            && self.pending[index].exchange.replies.len() == before;
        if let Some(err) = failure {
            let gone = self.fail(&err);
            self.pending[index].exchange.event = Some(gone);
        } else if refused {
            self.pending[index].exchange.event = Some(TransportEvent {
                code: "commit-nak".into(),
                detail: "the receiver refused to commit the message (MLLP release 2 negative \
                         commit acknowledgement)"
                    .into(),
            });
        } else if self.pending[index].exchange.replies.is_empty()
            && self.pending[index].exchange.event.is_none()
        {
            self.pending[index].exchange.event = Some(TransportEvent {
                code: "read-timeout".into(),
                detail: format!("no reply within {}ms", self.ctx.ack_timeout.as_millis()),
            });
        }
        record_attempt(&mut self.pending[index], before);
    }

    /// Writes the plan and ends the attempt as it says; the error that ended the connection,
    /// if one did.
    async fn write_and_end(
        &mut self,
        wire: &WirePlan,
        index: usize,
        stray: &mut Vec<Reply>,
    ) -> Option<TransportError> {
        let written = write_plan(&mut self.conn, wire).await;
        // The ACK timer starts once the frame is out: a slow or fragmented write is the
        // harness's own pace, and on a busy machine its sleeps run long.
        self.pending[index].sent_at = Instant::now();
        match written {
            Err(err) => Some(err),
            Ok(()) => match wire.end {
                WireEnd::Close | WireEnd::Reset => {
                    self.cut(wire.end == WireEnd::Reset, index).await;
                    None
                }
                WireEnd::Silence(silence) => {
                    self.silence(silence, index, stray).await;
                    None
                }
                // Planned by `vanish`, which cuts the way back before writing.
                WireEnd::Blackhole => None,
                WireEnd::Read | WireEnd::HalfClose | WireEnd::ResetAfterAcks(_) => {
                    let deadline = Instant::now() + self.ctx.ack_timeout;
                    let done = move |p: &[Pending]| p[index].settled();
                    let mut reading =
                        Reading { pending: &mut self.pending, stray, last: &mut self.last };
                    read_until(&mut self.conn, &mut reading, Some(index), deadline, done).await
                }
            },
        }
    }

    /// The harness's host vanishes (packet level, in the lab): the way back is cut before the
    /// frame goes, so not even a fast ACK gets through; once the frame's packets have crossed,
    /// the way out is cut too, and the receiver sees neither a FIN nor a RST. The harness waits
    /// out [`BLACKHOLE_OUTAGE`] (at most the ACK timeout) while a canary checks that other
    /// connections are served, then gives the connection up (its reset is dropped too) and lets
    /// the port's packets through again.
    async fn vanish(
        &mut self,
        wire: &WirePlan,
        index: usize,
        stray: &mut Vec<Reply>,
    ) -> Option<TransportError> {
        let Some(lab) = self.ctx.lab.clone() else {
            self.pending[index].exchange.event = Some(TransportEvent {
                code: "no-lab".into(),
                detail: "blackhole needs the packet-level lab, which this run does not have".into(),
            });
            return None;
        };
        let ports = self.conn.local_addr().map(|local| Cut::Connection {
            harness_port: local.port(),
            peer_port: self.conn.peer().port(),
        });
        let cut = match ports {
            Ok(cut) => lab.drop_packets(cut, Direction::ToHarness).await.map(|()| cut),
            Err(err) => Err(LabError::Socket(err)),
        };
        let cut = match cut {
            Ok(cut) => cut,
            Err(err) => {
                self.pending[index].exchange.event =
                    Some(TransportEvent { code: "lab-failed".into(), detail: err.to_string() });
                return None;
            }
        };
        let written = write_plan(&mut self.conn, wire).await;
        tokio::time::sleep(CROSSING).await;
        let way_out = lab.drop_packets(cut, Direction::FromHarness).await;
        if let Err(err) = written {
            let _ = lab.restore(cut, Direction::Both).await;
            return Some(err);
        }
        let outage = self.ctx.ack_timeout.min(BLACKHOLE_OUTAGE);
        self.listen_with_canary(outage, index, stray).await;
        let sent = wire.bytes().len();
        let detail = match way_out {
            Ok(()) => format!(
                "the harness's host vanished after {sent} bytes: every packet of the connection \
                 dropped both ways (no FIN, no RST) for {}ms",
                outage.as_millis()
            ),
            Err(err) => format!("the way back was cut after {sent} bytes, the way out not: {err}"),
        };
        self.pending[index].exchange.event =
            Some(TransportEvent { code: "blackholed".into(), detail });
        self.replace_connection(true).await;
        let _ = lab.restore(cut, Direction::Both).await;
        None
    }

    /// Ends the connection on purpose before any ACK could be read: the attempt is
    /// indeterminate, and the lane goes on with a new connection.
    async fn cut(&mut self, reset: bool, index: usize) {
        let (code, detail) = if reset {
            ("reset-by-harness", "the harness reset the connection (SO_LINGER 0) before the ACK")
        } else {
            ("closed-before-ack", "the harness closed the connection before the ACK")
        };
        self.pending[index].exchange.event =
            Some(TransportEvent { code: code.into(), detail: detail.into() });
        self.replace_connection(reset).await;
    }

    /// Gives up the current connection (closed, or reset with SO_LINGER 0) for a new one; the
    /// lane is dead when none can be opened. Not a close by the target: `connection.open`
    /// does not count it.
    async fn replace_connection(&mut self, reset: bool) {
        // A close: the peer reads end-of-stream now; the harness waits (at most the ACK
        // timeout) until the peer is done with the connection, reading nothing it sends as an
        // answer, so a resend never overtakes the message on the connection given up. A reset
        // goes out on drop.
        self.attach_trailing();
        if !reset && self.conn.shutdown_write().await.is_ok() {
            let deadline = Instant::now() + self.ctx.ack_timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || self.conn.receive(Some(left)).await.is_err() {
                    break;
                }
            }
        }
        match connect(self.addr, self.ctx).await {
            Ok(fresh) => {
                let old = std::mem::replace(&mut self.conn, fresh);
                if reset {
                    old.reset();
                }
                self.last = None;
                self.dead = None;
            }
            Err(err) => self.dead = Some(event(&err)),
        }
    }

    /// Reads whatever comes for `silence` (nothing should: the frame never ended) while a
    /// canary checks that other connections are served meanwhile; the connection is given up
    /// only once the canary is done, so a receiver serving one connection at a time shows.
    async fn silence(&mut self, silence: Duration, index: usize, stray: &mut Vec<Reply>) {
        let ended = self.listen_with_canary(silence, index, stray).await;
        let gone = TransportEvent {
            code: "unterminated".into(),
            detail: format!(
                "the frame was left without its end block; {}ms of silence, then closed{}",
                silence.as_millis(),
                ended.map(|e| format!(" ({} first)", e.code())).unwrap_or_default()
            ),
        };
        self.pending[index].exchange.event = Some(gone);
        self.replace_connection(false).await;
    }

    /// How a message sent one at a time ends under `reset: { after_acks }`: reset before its
    /// ACK when `acks` ACKs have been read on the lane (once), otherwise read as usual.
    fn ack_trigger(&mut self, acks: u32) -> WireEnd {
        let read = self.pending.iter().filter(|p| !p.exchange.replies.is_empty()).count();
        if !self.ack_reset && read >= acks as usize {
            self.ack_reset = true;
            WireEnd::Reset
        } else {
            WireEnd::Read
        }
    }

    /// Records whatever arrives on the connection for `wait` (nothing should) while the lane's
    /// canary, if it still has one, checks that other connections are served; the error that
    /// ended the connection meanwhile, if one did.
    async fn listen_with_canary(
        &mut self,
        wait: Duration,
        index: usize,
        stray: &mut Vec<Reply>,
    ) -> Option<TransportError> {
        let deadline = Instant::now() + wait;
        let never = |_: &[Pending]| false;
        let (addr, ctx, message) = (self.addr, self.ctx, self.canary.take());
        let mut reading = Reading { pending: &mut self.pending, stray, last: &mut self.last };
        let listen = read_until(&mut self.conn, &mut reading, Some(index), deadline, never);
        let (ended, canary) = during(addr, ctx, message, listen).await;
        self.canaries.extend(canary);
        ended
    }

    /// Listens a little longer for duplicate or late ACKs, or the target closing; records how
    /// the connection ended.
    async fn finish(&mut self, stray: &mut Vec<Reply>) {
        if self.dead.is_none() {
            let deadline = Instant::now() + self.ctx.linger;
            let never = |_: &[Pending]| false;
            let mut reading = Reading { pending: &mut self.pending, stray, last: &mut self.last };
            self.after = match read_until(&mut self.conn, &mut reading, None, deadline, never).await
            {
                None => ConnectionAfter::Open,
                Some(err) => after_from(&err),
            };
        }
        self.attach_trailing();
        // A close during the case shows even when the last connection stayed open.
        if let (Some(earlier), ConnectionAfter::Open) = (self.closed_once, self.after) {
            self.after = earlier;
        }
    }
}

async fn run_mllp(
    run: &CaseRun,
    ctx: &Context,
    addr: &str,
    obs: &mut CaseObservation,
    described: &mut Vec<String>,
) {
    let count = run.case.connections.unwrap_or(1).max(1) as usize;
    for fault in &run.case.network {
        if let NetworkFault::Storm { connections } = fault {
            storm(addr, ctx, *connections, run.seed).await;
        }
    }
    let during = canary_message(run, ctx, CanaryWhen::During);
    let mut lanes = Vec::with_capacity(count);
    for number in 1..=count {
        match connect(addr, ctx).await {
            Ok(conn) => lanes.push(Lane {
                addr,
                ctx,
                number,
                conn,
                pending: Vec::new(),
                dead: None,
                after: ConnectionAfter::Unknown,
                closed_once: None,
                canary: during.clone(),
                canaries: Vec::new(),
                seed: run.seed ^ ((number as u64) << 32),
                opened: Instant::now(),
                ack_reset: false,
                last: None,
            }),
            Err(err) => {
                obs.aborted = Some(event(&err));
                return;
            }
        }
    }
    let idle = run.case.network.iter().find_map(|f| match f {
        NetworkFault::Idle(span) => Some(span.0),
        _ => None,
    });
    if let Some(idle) = idle {
        keep_idle(&mut lanes, idle, during.as_deref(), &mut obs.canaries).await;
    }
    let coalesce = run.case.network.contains(&NetworkFault::Coalesce)
        || run.case.network.contains(&NetworkFault::Pipeline);
    // The last opened connection goes first: a receiver that serves one connection at a time
    // would leave it waiting.
    for lane in lanes.iter_mut().rev() {
        let result = if coalesce {
            run_coalesced(run, lane, obs, described).await
        } else {
            run_sequential(run, lane, obs, described).await
        };
        if let Err(why) = result {
            return abort_build(obs, why);
        }
        lane.finish(&mut obs.stray).await;
    }
    for lane in &mut lanes {
        obs.exchanges.extend(lane.pending.drain(..).map(|p| p.exchange));
        obs.canaries.append(&mut lane.canaries);
    }
    obs.exchanges.sort_by_key(|e| (e.step, e.connection));
    obs.connections_after = lanes.iter().map(|l| l.after).collect();
}

/// Every step's message in one write, then the ACKs; messages a close left unanswered are sent
/// again one at a time on a new connection, as a correct sender would.
async fn run_coalesced(
    run: &CaseRun,
    lane: &mut Lane<'_>,
    obs: &mut CaseObservation,
    described: &mut Vec<String>,
) -> Result<(), String> {
    let ctx = lane.ctx;
    let steps = run.steps();
    let mut payloads = Vec::new();
    for (s, step) in steps.iter().enumerate() {
        let built = build(run, ctx, step, s + 1, lane.number)?;
        described.push(built.description.clone());
        let faults: Vec<NetworkFault> =
            run.case.network.iter().chain(&step.network).cloned().collect();
        let exchange = new_exchange(s + 1, lane.number, &built, step, ctx, &faults);
        lane.pending.push(Pending::new(exchange, control_id_of(&built.bytes)));
        payloads.push(built.bytes);
    }
    let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    let wire = plan(&refs, &run.case.network, lane.seed, true);
    for (i, pending) in lane.pending.iter_mut().enumerate() {
        pending.exchange.after_outside_bytes = writes_outside_before(&run.case.network, i == 0);
    }
    let (addr, message) = (lane.addr, lane.canary.take());
    let stray = &mut obs.stray;
    // Under `reset: { after_acks: N }` reading stops at the Nth ACK (an event, not a time).
    let trigger = match wire.end {
        WireEnd::ResetAfterAcks(acks) => Some(acks as usize),
        _ => None,
    };
    let work = async {
        let written = write_plan(&mut lane.conn, &wire).await;
        // The ACK timer starts once the frames are out (the harness's own pace is not the
        // receiver's).
        let now = Instant::now();
        lane.pending.iter_mut().for_each(|p| p.sent_at = now);
        match written {
            Err(err) => Some(err),
            Ok(()) => {
                let deadline = now + ctx.ack_timeout;
                let done = |p: &[Pending]| {
                    let read = p.iter().filter(|p| !p.exchange.replies.is_empty()).count();
                    p.iter().all(Pending::settled) || trigger.is_some_and(|acks| read >= acks)
                };
                let mut reading =
                    Reading { pending: &mut lane.pending, stray, last: &mut lane.last };
                read_until(&mut lane.conn, &mut reading, None, deadline, done).await
            }
        }
    };
    let (failure, canary) = during(addr, ctx, message, work).await;
    lane.canaries.extend(canary);
    if let Some(err) = failure {
        lane.fail(&err);
    }
    let unanswered: Vec<usize> =
        (0..lane.pending.len()).filter(|&i| lane.pending[i].exchange.replies.is_empty()).collect();
    let read = lane.pending.len() - unanswered.len();
    let reset =
        lane.dead.is_none() && !unanswered.is_empty() && trigger.is_some_and(|acks| read >= acks);
    if reset {
        for &i in &unanswered {
            lane.pending[i].exchange.event = Some(TransportEvent {
                code: "reset-by-harness".into(),
                detail: format!(
                    "the harness reset the connection (SO_LINGER 0) after {read} ACK(s), with \
                     {} frame(s) unanswered",
                    unanswered.len()
                ),
            });
        }
        lane.ack_reset = true;
        lane.replace_connection(true).await;
    }
    for pending in &mut lane.pending {
        if pending.commit == Some(Commit::Nak) && pending.exchange.replies.is_empty() {
            pending.exchange.event = Some(TransportEvent {
                code: "commit-nak".into(),
                detail: "the receiver refused to commit the message (MLLP release 2 negative \
                         commit acknowledgement)"
                    .into(),
            });
        }
        record_attempt(pending, 0);
    }
    // Messages refused with a commit NAK go again, one at a time, on the same connection.
    for &i in &unanswered {
        if lane.dead.is_none() && !reset && lane.pending[i].commit == Some(Commit::Nak) {
            let wire = plan(&[lane.pending[i].exchange.sent.as_slice()], &[], lane.seed, true);
            lane.send_and_wait(&wire, i, &mut obs.stray).await;
        }
    }
    let closed = lane.dead.as_ref().is_some_and(|e| e.code == "peer-closed");
    if (closed || reset) && !unanswered.is_empty() {
        for i in unanswered {
            if !lane.pending[i].exchange.replies.is_empty() {
                continue;
            }
            // A receiver that closes after each ACK gets each message on a new connection.
            let gone = lane.dead.is_some() || lane.conn.peer_closed_within(CLOSE_LOOK).await;
            if gone && !lane.reconnect().await {
                break;
            }
            let wire = plan(&[lane.pending[i].exchange.sent.as_slice()], &[], lane.seed, true);
            lane.send_and_wait(&wire, i, &mut obs.stray).await;
        }
    }
    let dead = lane.dead.clone();
    for unanswered in lane.pending.iter_mut().filter(|p| p.exchange.replies.is_empty()) {
        unanswered.exchange.event = unanswered.exchange.event.take().or_else(|| dead.clone());
    }
    for (s, step) in steps.iter().enumerate() {
        if let Some(probe) = &step.probe {
            let sent = lane.pending.get(s).map(|p| p.exchange.sent.clone());
            probe_step(run, ctx, probe, s + 1, sent.as_deref(), obs).await;
        }
    }
    Ok(())
}

/// One step after the other, each waiting for its ACK; after a close by the target the next
/// message goes on a new connection.
async fn run_sequential(
    run: &CaseRun,
    lane: &mut Lane<'_>,
    obs: &mut CaseObservation,
    described: &mut Vec<String>,
) -> Result<(), String> {
    let ctx = lane.ctx;
    let mut sent = Sent::default();
    for (s, step) in run.steps().iter().enumerate() {
        let step_no = s + 1;
        if let Some(wait) = step.wait {
            tokio::time::sleep(wait.0).await;
        }
        if step.send.is_some() || step.resend.is_some() {
            let mut built = sent.next(run, ctx, step, step_no, lane.number)?;
            described.push(built.description.clone());
            let faults: Vec<NetworkFault> =
                run.case.network.iter().chain(&step.network).cloned().collect();
            built.bytes = shape_payload(&built.bytes, &faults);
            let exchange = new_exchange(step_no, lane.number, &built, step, ctx, &faults);
            // A receiver may close after an ACK (the standard allows it): notice, and send the
            // next message on a new connection as a sender would.
            // The first message too, when the connection waited for other lanes first.
            let waited = step_no > 1 || lane.opened.elapsed() > CLOSE_LOOK;
            if lane.dead.is_none() && waited && lane.conn.peer_closed_within(CLOSE_LOOK).await {
                lane.after = ConnectionAfter::Closed;
                lane.dead = Some(TransportEvent {
                    code: "peer-closed".into(),
                    detail: "the target closed the connection after the previous ACK".into(),
                });
            }
            // What came after the previous answer and before this message (garbage, an extra
            // frame) is judged with the exchange it followed, not with this one.
            if !lane.pending.is_empty() {
                let mut reading = Reading {
                    pending: &mut lane.pending,
                    stray: &mut obs.stray,
                    last: &mut lane.last,
                };
                take_ready(&mut lane.conn, &mut reading).await;
            }
            if lane.dead.is_some() {
                lane.reconnect().await;
            }
            let index = lane.pending.len();
            lane.pending.push(Pending::new(exchange, control_id_of(&built.bytes)));
            match lane.dead.clone() {
                Some(gone) => lane.pending[index].exchange.event = Some(gone),
                None => {
                    let seed = lane.seed.wrapping_add(step_no as u64);
                    let mut wire = plan(&[built.bytes.as_slice()], &faults, seed, index == 0);
                    if let WireEnd::ResetAfterAcks(acks) = wire.end {
                        wire.end = lane.ack_trigger(acks);
                    }
                    // The first faulted send of the lane has a canary running meanwhile (an
                    // unterminated frame's runs in its silence, before the connection goes).
                    let silent = matches!(wire.end, WireEnd::Silence(_));
                    let faulted = !faults.is_empty() && !silent;
                    let message = if faulted { lane.canary.take() } else { None };
                    let (addr, ctx) = (lane.addr, lane.ctx);
                    let send = lane.send_and_wait(&wire, index, &mut obs.stray);
                    let ((), canary) = during(addr, ctx, message, send).await;
                    lane.canaries.extend(canary);
                }
            }
            sent.record(step_no, built);
        }
        if let Some(probe) = &step.probe {
            probe_step(run, ctx, probe, step_no, sent.last_bytes(), obs).await;
        }
    }
    Ok(())
}

/// Keeps the new connections idle for `idle` while a canary checks that other connections are
/// served; a connection the target closed meanwhile is replaced (the standard lets a receiver
/// close idle connections; `connection.open` warns).
async fn keep_idle(
    lanes: &mut [Lane<'_>],
    idle: Duration,
    canary: Option<&[u8]>,
    canaries: &mut Vec<Canary>,
) {
    let Some(first) = lanes.first() else { return };
    let (addr, ctx) = (first.addr, first.ctx);
    let message = canary.map(<[u8]>::to_vec);
    let ((), canary) = during(addr, ctx, message, tokio::time::sleep(idle)).await;
    canaries.extend(canary);
    for lane in lanes.iter_mut() {
        if lane.conn.peer_closed_within(CLOSE_LOOK).await {
            lane.after = ConnectionAfter::Closed;
            lane.dead = Some(TransportEvent {
                code: "peer-closed".into(),
                detail: "the target closed the idle connection".into(),
            });
            lane.reconnect().await;
        }
    }
}

/// How long a blackholed frame's packets get to cross to the receiver before the way out of
/// the lab is cut too (a veth delivers at once; this is a margin, not a guess at a peer).
const CROSSING: Duration = Duration::from_millis(50);

/// How long the harness's host stays vanished under `blackhole` (at most the ACK timeout).
/// Nothing can arrive meanwhile (every packet is dropped), so the length decides no verdict;
/// the canary during the outage waits for its own ACK as long as it needs.
const BLACKHOLE_OUTAGE: Duration = Duration::from_secs(1);

/// How long to look for a close by the target before sending the next message of a case.
const CLOSE_LOOK: Duration = Duration::from_millis(20);

pub(super) async fn connect(addr: &str, ctx: &Context) -> Result<MllpConnection, TransportError> {
    if let Some(lab) = &ctx.lab {
        return connect_from_lab(lab, addr, ctx).await;
    }
    match &ctx.tls {
        Some(tls) => {
            MllpConnection::connect_tls(addr, tls, MllpOptions::default(), ctx.timeouts).await
        }
        None => MllpConnection::connect(addr, MllpOptions::default(), ctx.timeouts).await,
    }
}

/// A plain MLLP connection that starts inside the lab's namespace.
async fn connect_from_lab(
    lab: &Lab,
    addr: &str,
    ctx: &Context,
) -> Result<MllpConnection, TransportError> {
    let failed = |detail: String| TransportError::Connect {
        addr: addr.to_string(),
        source: std::io::Error::other(detail),
    };
    let target: std::net::SocketAddr =
        addr.parse().map_err(|_| failed("the lab connects to an IP address and port".into()))?;
    match lab.connect(target, ctx.timeouts.connect).await {
        Ok(stream) => MllpConnection::from_stream(stream, MllpOptions::default(), ctx.timeouts)
            .map_err(|e| failed(e.to_string())),
        Err(LabError::Socket(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
            Err(TransportError::ConnectTimeout {
                addr: addr.to_string(),
                after: ctx.timeouts.connect,
            })
        }
        Err(err) => Err(failed(err.to_string())),
    }
}

pub(super) fn abort_build(obs: &mut CaseObservation, why: String) {
    obs.aborted = Some(TransportEvent { code: "message-build-failed".into(), detail: why });
}

pub(super) async fn probe_step(
    run: &CaseRun,
    ctx: &Context,
    probe: &crate::scenario::Probe,
    step: usize,
    sent: Option<&[u8]>,
    obs: &mut CaseObservation,
) {
    let values = Values { sent, state: ctx.state.as_deref(), unique: run.unique() };
    let state = ctx.state.as_deref();
    let result = super::probe::probe(probe, &values, &ctx.effects, state, step).await;
    obs.probes.push(result);
}

async fn run_http(
    run: &CaseRun,
    ctx: &Context,
    url: &str,
    obs: &mut CaseObservation,
    described: &mut Vec<String>,
) {
    let Some(mut target) = HttpTarget::parse(url).or_else(|| HttpTarget::parse_https(url)) else {
        obs.aborted = Some(TransportEvent {
            code: "bad-target".into(),
            detail: format!("{url:?} is not an http(s):// URL"),
        });
        return;
    };
    target.basic = ctx.basic.clone();
    let timeouts = Timeouts { read: ctx.ack_timeout, ..ctx.timeouts };
    let mut sent = Sent::default();
    for (s, step) in run.steps().iter().enumerate() {
        let step_no = s + 1;
        if let Some(wait) = step.wait {
            tokio::time::sleep(wait.0).await;
        }
        if step.send.is_some() || step.resend.is_some() {
            let built = match sent.next(run, ctx, step, step_no, 1) {
                Ok(built) => built,
                Err(why) => return abort_build(obs, why),
            };
            described.push(built.description.clone());
            let mut exchange = new_exchange(step_no, 1, &built, step, ctx, &[]);
            let charset = Message::parse(&built.bytes)
                .ok()
                .and_then(|m| m.charset().iana_name())
                .unwrap_or("US-ASCII");
            let started = Instant::now();
            match post_message_tls(&target, ctx.tls.as_ref(), &built.bytes, charset, timeouts).await
            {
                Ok(reply) => {
                    exchange.http = Some(HttpObservation {
                        status: reply.status,
                        content_type: reply.content_type,
                    });
                    // A body that is not an HL7 message (a 401 page) is not an acknowledgment.
                    if reply.body.starts_with(b"MSH") {
                        exchange.replies.push(Reply {
                            payload: reply.body,
                            notes: Vec::new(),
                            elapsed: started.elapsed(),
                        });
                    } else {
                        let text =
                            String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)])
                                .trim()
                                .to_string();
                        exchange.event = Some(TransportEvent {
                            code: format!("http-{}", reply.status),
                            detail: text,
                        });
                    }
                }
                Err(err) => {
                    if step_no == 1 && matches!(err.code(), "connect-failed" | "connect-timeout") {
                        obs.aborted = Some(event(&err));
                        return;
                    }
                    exchange.event = Some(event(&err));
                }
            }
            obs.exchanges.push(exchange);
            sent.record(step_no, built);
        }
        if let Some(probe) = &step.probe {
            probe_step(run, ctx, probe, step_no, sent.last_bytes(), obs).await;
        }
    }
}

/// Records the attempt that started when `pending` had `before` replies.
fn record_attempt(pending: &mut Pending, before: usize) {
    let commit = pending.commit;
    let exchange = &mut pending.exchange;
    let reply = exchange.replies.get(before).map(|r| r.payload.as_slice());
    let outcome = Outcome::of(&exchange.sent, reply);
    let event = match outcome {
        Outcome::Indeterminate => Some(match (&exchange.event, reply) {
            (_, Some(_)) => "ack-of-another-message".to_string(),
            (Some(event), None) => event.code.clone(),
            (None, None) => "no-ack".to_string(),
        }),
        _ => None,
    };
    exchange.attempts.push(Attempt { outcome, event, commit });
}

#[cfg(test)]
mod timing_tests;

#[cfg(test)]
mod wire_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// The pauses of a slow plan are waited for exactly: in paused time a 100-byte frame at
    /// 500 bytes per second takes 200 ms (plus timer rounding), whatever the machine's load.
    #[tokio::test]
    async fn slow_writes_take_exactly_their_time_in_paused_time() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (conn, accepted) = tokio::join!(
            MllpConnection::connect(&addr, MllpOptions::default(), Timeouts::default()),
            listener.accept()
        );
        let (mut conn, mut server) = (conn.unwrap(), accepted.unwrap().0);
        let faults = [NetworkFault::Slow { bytes_per_second: 500 }];
        let wire = plan(&[&[b'x'; 97][..]], &faults, 1, true);
        assert_eq!(wire.writes.len(), 10);
        tokio::time::pause();
        let started = Instant::now();
        write_plan(&mut conn, &wire).await.unwrap();
        // Tokio's timer rounds each sleep up to its next millisecond tick.
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
        assert!(elapsed <= Duration::from_millis(200 + 10), "{elapsed:?}");
        tokio::time::resume();
        drop(conn);
        let mut received = Vec::new();
        server.read_to_end(&mut received).await.unwrap();
        assert_eq!(received, wire.bytes());
    }
}
