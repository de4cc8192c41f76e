//! The MLLP step loops of a case: one message at a time, several coalesced into one write, and
//! the idle connections a case keeps open beside its own.

use super::build::*;
use super::case_run::*;
use super::exec::*;
use super::lane::*;
use super::liveness::{canary_message, during, storm};
use super::wire::write_plan;
use crate::faults::{plan, shape_payload, writes_outside_before, ClientFaults, WireEnd};
use crate::observation::*;
use std::time::Duration;
use tokio::time::Instant;

pub(super) async fn run_mllp(
    run: &CaseRun,
    ctx: &Context,
    addr: &str,
    obs: &mut CaseObservation,
    described: &mut Vec<String>,
) {
    let count = run.case.connections.unwrap_or(1).max(1) as usize;
    let faults = run.faults();
    for connections in faults.storms() {
        storm(addr, ctx, connections, faults.seed()).await;
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
                seed: faults.connection_seed(number),
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
    if let Some(idle) = faults.idle() {
        keep_idle(&mut lanes, idle, during.as_deref(), &mut obs.canaries).await;
        obs.waits.extend(Wait::of_case(WaitKind::Idle, idle));
    }
    let coalesce = faults.together();
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
        let lingered = lane.finish(&mut obs.stray).await;
        obs.waits.extend(Wait::of_case(WaitKind::Linger, lingered));
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
pub(super) async fn run_coalesced(
    run: &CaseRun,
    lane: &mut Lane<'_>,
    obs: &mut CaseObservation,
    described: &mut Vec<String>,
) -> Result<(), BuildError> {
    let ctx = lane.ctx;
    let steps = run.steps();
    let rules = run.faults();
    let mut payloads = Vec::new();
    for (s, step) in steps.iter().enumerate() {
        let built = build(run, ctx, step, s + 1, lane.number)?;
        described.push(built.description.clone());
        let faults = rules.for_step(s + 1);
        let exchange = new_exchange(s + 1, lane.number, &built, step, ctx, &faults);
        lane.pending.push(Pending::new(exchange, control_id_of(&built.bytes)));
        payloads.push(built.bytes);
    }
    let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    let case_wide = rules.case_wide();
    let wire = plan(&refs, &case_wide, lane.seed, true);
    for (i, pending) in lane.pending.iter_mut().enumerate() {
        pending.exchange.after_outside_bytes = writes_outside_before(&case_wide, i == 0);
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
                code: crate::vocab::ConnectionEvent::ResetByHarness,
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
                code: crate::vocab::ConnectionEvent::CommitNak,
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
    // Closed or reset by the target: a receiver that closes after its ACK while later frames
    // wait unread in its socket makes the kernel answer with a reset rather than a close
    // (which of the two depends on whether those frames had arrived), and either way the
    // unanswered messages are indeterminate and go again on a new connection.
    let closed = lane.dead.as_ref().is_some_and(|e| {
        matches!(
            e.code,
            crate::vocab::ConnectionEvent::PeerClosed | crate::vocab::ConnectionEvent::PeerReset
        )
    });
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
pub(super) async fn run_sequential(
    run: &CaseRun,
    lane: &mut Lane<'_>,
    obs: &mut CaseObservation,
    described: &mut Vec<String>,
) -> Result<(), BuildError> {
    let ctx = lane.ctx;
    let mut sent = Sent::default();
    let rules = run.faults();
    for (s, step) in run.steps().iter().enumerate() {
        let step_no = s + 1;
        if let Some(wait) = step.wait {
            tokio::time::sleep(wait.0).await;
            obs.waits.extend(Wait::of_step(WaitKind::Pause, step_no, wait.0));
        }
        if step.send.is_some() || step.resend.is_some() {
            let mut built = sent.next(run, ctx, step, step_no, lane.number)?;
            described.push(built.description.clone());
            let faults = rules.for_step(step_no);
            built.bytes = shape_payload(&built.bytes, &faults);
            let exchange = new_exchange(step_no, lane.number, &built, step, ctx, &faults);
            // A receiver may close after an ACK (the standard allows it): notice, and send the
            // next message on a new connection as a sender would.
            // The first message too, when the connection waited for other lanes first.
            let waited = step_no > 1 || lane.opened.elapsed() > CLOSE_LOOK;
            if lane.dead.is_none() && waited && lane.conn.peer_closed_within(CLOSE_LOOK).await {
                lane.after = ConnectionAfter::Closed;
                lane.dead = Some(TransportEvent {
                    code: crate::vocab::ConnectionEvent::PeerClosed,
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
                    let seed = ClientFaults::step_seed(lane.seed, step_no);
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
pub(super) async fn keep_idle(
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
                code: crate::vocab::ConnectionEvent::PeerClosed,
                detail: "the target closed the idle connection".into(),
            });
            lane.reconnect().await;
        }
    }
}

/// How long a blackholed frame's packets get to cross to the receiver before the way out of
/// the lab is cut too (a veth delivers at once; this is a margin, not a guess at a peer).
pub(super) const CROSSING: Duration = Duration::from_millis(50);

/// How long the harness's host stays vanished under `blackhole` (at most the ACK timeout).
/// Nothing can arrive meanwhile (every packet is dropped), so the length decides no verdict;
/// the canary during the outage waits for its own ACK as long as it needs.
pub(super) const BLACKHOLE_OUTAGE: Duration = Duration::from_secs(1);

/// How long to look for a close by the target before sending the next message of a case.
pub(super) const CLOSE_LOOK: Duration = Duration::from_millis(20);
