//! Executes one case against a resolved target and records what happened. Every wait on the
//! target is bounded: connects and writes by the transport's timeouts, ACKs by the scenario's
//! `ack_timeout`, the look for extra frames by `linger`, probes by their own timeout.
pub(super) use super::build::*;
pub use super::case_run::*;
use super::http_case::*;
use super::liveness::{canary_message, has_faults, send_canary};
use super::mllp_case::*;
pub(super) use super::reading::*;
use super::target::TargetUrl;
use crate::checks::CasePlan;
use crate::faults::NetworkFault;
use crate::hl7::ack::ReceivedAck;
use crate::hl7::Message;
use crate::observation::*;
use crate::scenario::Step;
use crate::transport::connection::{MllpConnection, TransportError};
use crate::transport::mllp::MllpOptions;

pub(super) fn event(err: &TransportError) -> TransportEvent {
    TransportEvent { code: err.code(), detail: err.to_string() }
}

pub(super) fn control_id_of(payload: &[u8]) -> Option<String> {
    Message::parse(payload).ok()?.control_id().map(str::to_string)
}

/// MSA-2 of a reply (empty when it has none); `None` when the reply is not an HL7 message.
pub(super) fn msa2_of(payload: &[u8]) -> Option<String> {
    ReceivedAck::parse(payload).map(|ack| ack.msa2)
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
                code: crate::vocab::ConnectionEvent::NoTarget,
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
        waits: Vec::new(),
    }
}

/// An MLLP connection to `addr` through the one client connect (over TLS for `mllps://`; from
/// inside the lab's namespace when the file has one).
pub(super) async fn connect(addr: &str, ctx: &Context) -> Result<MllpConnection, TransportError> {
    let tls = ctx.tls.as_ref().filter(|_| ctx.lab.is_none());
    MllpConnection::open(addr, &ctx.route(), tls, MllpOptions::default(), ctx.timeouts).await
}

pub(super) fn abort_build(obs: &mut CaseObservation, why: BuildError) {
    obs.aborted = Some(TransportEvent {
        code: crate::vocab::ConnectionEvent::MessageBuildFailed,
        detail: why.to_string(),
    });
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

#[cfg(test)]
mod timing_tests;

#[cfg(test)]
mod wire_tests;

#[cfg(test)]
mod tests {
    use super::*;

    use crate::faults::plan;
    use crate::runner::wire::write_plan;
    use crate::transport::connection::Timeouts;
    use crate::vocab::Seed;

    use std::time::Duration;
    use tokio::io::AsyncReadExt;
    use tokio::time::Instant;

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
        let wire = plan(&[&[b'x'; 97][..]], &faults, Seed(1), true);
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
