//! Cases against an HLLP target (`hllp://`, HL7 Appendix C blocks): one connection, steps in
//! order, each message in a `D` block and its ACK read from the `D` block that answers it. The
//! one HLLP fault is `bad_checksum`: the block goes first with a wrong checksum, which the
//! receiver must refuse with an `N` block, then as it should be. Other network faults are
//! MLLP's: a file for an HLLP target that names one is refused when loaded (`faults::Host`).
//! Blocks use the scenario's `target.hllp` settings. As on MLLP, canaries on fresh HLLP
//! connections show the receiver still serves: one while the first damaged block awaits its
//! answer, one after the case.

use super::exec::{abort_build, event, new_exchange, probe_step, CaseRun, Context, Sent};
use super::liveness::{canary_message, during, send_canary};
use crate::faults::{damage_checksum, NetworkFault};
use crate::observation::*;
use crate::transport::client::{await_hllp_answer, AckWait, HllpBlocks, HllpEnd, Takes};
use crate::transport::connection::TransportError;
use crate::transport::hllp::{HllpBlock, HllpCodec, NakReason, Outgoing};
use crate::transport::hllp_connection::HllpConnection;
use bytes::BytesMut;
use std::ops::ControlFlow;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::codec::Encoder;

/// What the receiver answered to one block.
enum Answer {
    /// An `N` block, with the reason it gave.
    Refused(Option<NakReason>),
    Block(HllpBlock, Duration),
    Gone(TransportError),
}

/// The wait for the block that answers one: the first block whatever it holds (an `N` block
/// is a refusal), within `wait`. What came is recorded; the checks judge it.
fn first_block(wait: Duration) -> AckWait<'static> {
    AckWait { control_id: "", takes: Takes::AnyMessage, stop_on_commit_nak: false, wait }
}

async fn answer(conn: &mut HllpConnection, ctx: &Context, started: Instant) -> Answer {
    let wait = first_block(ctx.ack_timeout);
    match await_hllp_answer(conn, wait, HllpBlocks::AsTheyCome, |_| {}).await {
        Ok(HllpEnd::Negative { reason }) => Answer::Refused(reason),
        Ok(HllpEnd::Answered(answered)) => Answer::Block(answered.frame, started.elapsed()),
        Err(err) => Answer::Gone(err),
    }
}

fn reply(block: &HllpBlock, elapsed: Duration) -> Reply {
    Reply {
        payload: block.data.to_vec(),
        notes: block.notes.iter().map(|n| (n.code().to_string(), n.offset())).collect(),
        elapsed,
    }
}

/// Sends the message of `exchange` in a block with a wrong checksum and records what came back
/// as the first attempt: `hllp-nak` when refused as it must be.
async fn send_damaged(
    conn: &mut HllpConnection,
    ctx: &Context,
    exchange: &mut Exchange,
) -> Result<(), TransportError> {
    let mut block = BytesMut::new();
    if HllpCodec::new(ctx.hllp).encode(Outgoing::Data(&exchange.sent), &mut block).is_err() {
        return Ok(()); // Unframeable data: the good block reports it.
    }
    damage_checksum(&mut block);
    let started = Instant::now();
    conn.write_raw(&block).await?;
    let (outcome, what) = match answer(conn, ctx, started).await {
        Answer::Refused(_) => (Outcome::Indeterminate, "hllp-nak".to_string()),
        Answer::Block(block, elapsed) => {
            let answered = reply(&block, elapsed);
            let outcome = Outcome::of(&exchange.sent, Some(&answered.payload));
            exchange.replies.push(answered);
            (outcome, "hllp-damaged-block-answered".to_string())
        }
        Answer::Gone(err) if err.is_fatal_for_connection() => return Err(err),
        Answer::Gone(err) => (Outcome::Indeterminate, err.code().to_string()),
    };
    exchange.attempts.push(Attempt { outcome, event: Some(what), commit: None });
    Ok(())
}

/// Sends the good block and reads its answer.
async fn send_good(
    conn: &mut HllpConnection,
    ctx: &Context,
    exchange: &mut Exchange,
) -> Result<(), TransportError> {
    let started = Instant::now();
    conn.send_data(&exchange.sent).await?;
    let before = exchange.replies.len();
    let result = match answer(conn, ctx, started).await {
        Answer::Refused(reason) => {
            exchange.event = Some(TransportEvent {
                code: crate::vocab::ConnectionEvent::HllpNak,
                detail: format!("the receiver refused a good block: {reason:?}"),
            });
            Ok(())
        }
        Answer::Block(block, elapsed) => {
            exchange.replies.push(reply(&block, elapsed));
            Ok(())
        }
        Answer::Gone(err) => {
            exchange.event = Some(event(&err));
            if err.is_fatal_for_connection() {
                Err(err)
            } else {
                Ok(())
            }
        }
    };
    let first = exchange.replies.get(before).map(|r| r.payload.as_slice());
    let outcome = Outcome::of(&exchange.sent, first);
    let why = (outcome == Outcome::Indeterminate)
        .then(|| exchange.event.as_ref().map(|e| e.code.to_string()).unwrap_or("no-ack".into()));
    exchange.attempts.push(Attempt { outcome, event: why, commit: None });
    result
}

pub(super) async fn run_hllp(
    run: &CaseRun,
    ctx: &Context,
    addr: &str,
    obs: &mut CaseObservation,
    described: &mut Vec<String>,
) {
    let mut conn =
        match HllpConnection::open(addr, &ctx.route(), None, ctx.hllp, ctx.timeouts).await {
            Ok(conn) => conn,
            Err(err) => {
                obs.aborted = Some(event(&err));
                return;
            }
        };
    let mut after = ConnectionAfter::Unknown;
    let mut gone = false;
    let mut sent = Sent::default();
    let mut canary = canary_message(run, ctx, CanaryWhen::During);
    let rules = run.faults();
    for (s, step) in run.steps().iter().enumerate() {
        let step_no = s + 1;
        if let Some(wait) = step.wait {
            tokio::time::sleep(wait.0).await;
            obs.waits.extend(Wait::of_step(WaitKind::Pause, step_no, wait.0));
        }
        if step.send.is_some() || step.resend.is_some() {
            let built = match sent.next(run, ctx, step, step_no, 1) {
                Ok(built) => built,
                Err(why) => return abort_build(obs, why),
            };
            described.push(built.description.clone());
            let faults = rules.for_step(step_no);
            let mut exchange = new_exchange(step_no, 1, &built, step, ctx, &faults);
            if gone {
                exchange.event = Some(TransportEvent {
                    code: crate::vocab::ConnectionEvent::PeerClosed,
                    detail: "the connection ended earlier in the case".into(),
                });
            } else {
                let mut result = Ok(());
                if faults.contains(&NetworkFault::BadChecksum) {
                    let damaged = send_damaged(&mut conn, ctx, &mut exchange);
                    let (sent, during_fault) = during(addr, ctx, canary.take(), damaged).await;
                    obs.canaries.extend(during_fault);
                    result = sent;
                }
                if result.is_ok() {
                    result = send_good(&mut conn, ctx, &mut exchange).await;
                }
                if let Err(err) = result {
                    exchange.event.get_or_insert_with(|| event(&err));
                    after = match err.code() {
                        crate::vocab::ConnectionEvent::PeerReset => ConnectionAfter::Reset,
                        _ => ConnectionAfter::Closed,
                    };
                    gone = true;
                }
            }
            obs.exchanges.push(exchange);
            sent.record(step_no, built);
        }
        if let Some(probe) = &step.probe {
            probe_step(run, ctx, probe, step_no, sent.last_bytes(), obs).await;
        }
    }
    if !gone {
        // Extra blocks in the linger time answer nothing sent: strays.
        let began = Instant::now();
        let deadline = began + ctx.linger;
        let strays = conn.receive_until(deadline, |block| {
            obs.stray.push(reply(&block, Duration::ZERO));
            ControlFlow::<()>::Continue(())
        });
        after = match strays.await {
            Err(TransportError::ReadTimeout { .. }) | Ok(()) => ConnectionAfter::Open,
            Err(TransportError::Reset { .. }) => ConnectionAfter::Reset,
            Err(_) => ConnectionAfter::Closed,
        };
        let lingered = began.elapsed().min(ctx.linger);
        obs.waits.extend(Wait::of_case(WaitKind::Linger, lingered));
    }
    obs.connections_after = vec![after];
    // The case's connection goes first: a receiver may serve one connection at a time, and the
    // canary asks whether the next connection is served, not whether two are at once.
    drop(conn);
    // After the faults (only cases with one have a canary message).
    if let Some(message) = canary_message(run, ctx, CanaryWhen::After) {
        obs.canaries.push(send_canary(addr, ctx, &message, CanaryWhen::After).await);
    }
}

/// A canary's exchange over HLLP: `message` in a `D` block on a new connection, answered by a
/// `D` block before `deadline`. An `N` block refusing the good block is a failed canary.
pub(super) async fn canary_exchange(
    addr: &str,
    ctx: &Context,
    message: &[u8],
    deadline: Instant,
) -> Result<Reply, TransportError> {
    let started = Instant::now();
    let mut conn = HllpConnection::open(addr, &ctx.route(), None, ctx.hllp, ctx.timeouts).await?;
    conn.send_data(message).await?;
    let wait = first_block(deadline.saturating_duration_since(Instant::now()));
    match await_hllp_answer(&mut conn, wait, HllpBlocks::AsTheyCome, |_| {}).await? {
        HllpEnd::Negative { reason } => {
            let detail = format!("hllp-nak: the canary's good block was refused ({reason:?})");
            Err(TransportError::Io { peer: conn.peer(), source: std::io::Error::other(detail) })
        }
        HllpEnd::Answered(answered) => Ok(reply(&answered.frame, started.elapsed())),
    }
}
