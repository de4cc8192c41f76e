//! Liveness around faults, with the harness as a misbehaving client: the reconnect storm, and
//! the canary (a plain message on a fresh connection, during and after a fault) that shows the
//! receiver still serves. Every wait is bounded by the scenario's timeouts.

use super::exec::{build, connect, reply_of, CaseRun, Context, COMMIT_NAK_RESENDS};
use super::target::TargetUrl;
use crate::faults::storm_plan;
use crate::observation::{Canary, CanaryWhen, TransportEvent};
use crate::scenario::Step;
use crate::transport::client::{await_mllp_answer, AckWait, MllpEnd, Takes};
use crate::transport::connection::TransportError;
use crate::vocab::Seed;
use tokio::time::Instant;

/// Whether the case applies any network fault (then canaries run).
pub(super) fn has_faults(run: &CaseRun) -> bool {
    run.case.network_faults().next().is_some()
}

/// The canary's message: the case's first template, without its mutations, settings or
/// faults, under a control id of its own (step 98 during a fault, 99 after). `None` for raw
/// templates (no MSA-2 to check) and for cases without faults.
pub(super) fn canary_message(run: &CaseRun, ctx: &Context, when: CanaryWhen) -> Option<Vec<u8>> {
    if !has_faults(run) {
        return None;
    }
    let send = run.case.first_send().map(str::to_string);
    let step = Step { send, ..Step::default() };
    let number = match when {
        CanaryWhen::During => 98,
        CanaryWhen::After => 99,
    };
    let plain = CaseRun { vary_value: None, extra_mutation: None, ..run.clone() };
    build(&plain, ctx, &step, number, 0).ok().filter(|b| !b.raw).map(|b| b.bytes)
}

/// How many connections a canary may use: a receiver may close a connection that stays idle
/// (it does not know the canary is about to be written; chapter 2 leaves the connection's life
/// to the sites), so a close or reset before any answer is retried on a new connection, as a
/// sender reconnects. A receiver that stopped serving closes every one of them.
const CANARY_CONNECTIONS: usize = 3;

/// Sends `message` on a new connection over the target's transport (an MLLP frame, or an HLLP
/// `D` block on `hllp://`) and waits (at most the ACK timeout in all) for a frame or data
/// block; a connection closed or reset before it is retried (at most [`CANARY_CONNECTIONS`]).
pub(super) async fn send_canary(
    addr: &str,
    ctx: &Context,
    message: &[u8],
    when: CanaryWhen,
) -> Canary {
    let mut canary = Canary { when, sent: message.to_vec(), reply: None, event: None };
    let started = Instant::now();
    let deadline = started + ctx.ack_timeout;
    let mut closed = Vec::new();
    for attempt in 1..=CANARY_CONNECTIONS {
        match canary_attempt(addr, ctx, message, started, deadline).await {
            Ok(reply) => {
                canary.reply = Some(reply);
                canary.event = None;
                break;
            }
            Err(err) => {
                let retry =
                    matches!(err, TransportError::PeerClosed { .. } | TransportError::Reset { .. })
                        && attempt < CANARY_CONNECTIONS
                        && Instant::now() < deadline;
                let mut detail = err.to_string();
                if !closed.is_empty() {
                    detail =
                        format!("{detail} (connection {attempt}; before: {})", closed.join("; "));
                }
                canary.event = Some(TransportEvent { code: err.code(), detail });
                if !retry {
                    break;
                }
                closed.push(err.to_string());
            }
        }
    }
    canary
}

/// One connection's try at the canary: the first HL7 frame (or HLLP data block) is its answer.
async fn canary_attempt(
    addr: &str,
    ctx: &Context,
    message: &[u8],
    started: Instant,
    deadline: Instant,
) -> Result<crate::observation::Reply, TransportError> {
    if let TargetUrl::Hllp(_) = ctx.url {
        return super::hllp::canary_exchange(addr, ctx, message, deadline).await;
    }
    let mut conn = connect(addr, ctx).await?;
    // The first HL7 frame is the canary's answer, whatever it holds (the check judges it).
    // MLLP release 2: a commit NAK is a failed attempt, and the message goes again (at most
    // COMMIT_NAK_RESENDS times; later commit NAKs are passed over).
    let mut resends = 0;
    conn.send(message).await?;
    loop {
        let wait = AckWait {
            control_id: "",
            takes: Takes::AnyMessage,
            stop_on_commit_nak: resends < COMMIT_NAK_RESENDS,
            wait: deadline.saturating_duration_since(Instant::now()),
        };
        match await_mllp_answer(&mut conn, wait, |_| {}).await? {
            MllpEnd::Answered(answered) => return Ok(reply_of(&answered.frame, started.elapsed())),
            MllpEnd::CommitNak => {
                resends += 1;
                conn.send(message).await?;
            }
        }
    }
}

/// Runs `work` while a canary (when `message` is given) checks that a new connection is served
/// meanwhile: the canary "during" a fault.
pub(super) async fn during<T>(
    addr: &str,
    ctx: &Context,
    message: Option<Vec<u8>>,
    work: impl std::future::Future<Output = T>,
) -> (T, Option<Canary>) {
    let canary = async {
        match &message {
            Some(message) => Some(send_canary(addr, ctx, message, CanaryWhen::During).await),
            None => None,
        }
    };
    tokio::join!(work, canary)
}

/// Opens `connections` connections one after another and ends each at once, with a close or a
/// reset as the seed decides. Refused connections are not an error here: the canary judges.
pub(super) async fn storm(addr: &str, ctx: &Context, connections: u32, seed: Seed) {
    for reset in storm_plan(connections, seed) {
        if let Ok(conn) = connect(addr, ctx).await {
            if reset {
                conn.reset();
            }
        }
    }
}
