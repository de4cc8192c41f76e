//! The steps of a case against an HL7-over-HTTP target.

use super::case_run::*;
use super::exec::*;
use crate::hl7::Message;
use crate::observation::*;
use crate::transport::connection::Timeouts;
use crate::transport::http_client::{post_message_tls, HttpTarget};
use tokio::time::Instant;

pub(super) async fn run_http(
    run: &CaseRun,
    ctx: &Context,
    url: &str,
    obs: &mut CaseObservation,
    described: &mut Vec<String>,
) {
    let Some(mut target) = HttpTarget::parse(url).or_else(|| HttpTarget::parse_https(url)) else {
        obs.aborted = Some(TransportEvent {
            code: crate::vocab::ConnectionEvent::BadTarget,
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
            obs.waits.extend(Wait::of_step(WaitKind::Pause, step_no, wait.0));
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
                            code: crate::vocab::ConnectionEvent::Http(reply.status),
                            detail: text,
                        });
                    }
                }
                Err(err) => {
                    if step_no == 1 && err.code().is_unreachable() {
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
