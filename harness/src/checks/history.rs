//! The checks over a case's whole history of sends, after its faults: every send is an
//! operation whose outcome is ok (its own accept ACK), fail (its own AE/AR) or indeterminate
//! (a timeout, a close or reset before the ACK, or an ACK naming another message). Nothing may
//! be lost, nothing counted delivered on another message's ACK, retransmissions must be
//! answered, and a canary on a fresh connection must be served during and after the faults.

use super::ack::{ack_due, AckDue};
use super::*;
use crate::hl7::ack::{msa_raw, AckCode};
use crate::hl7::Message;
use crate::observation::{CanaryWhen, CaseObservation, Exchange, Outcome};
use crate::scenario::AckOutcome;
use std::collections::BTreeMap;

/// MSA-1 and MSA-2 of a reply, when it parses.
fn msa(ack: &[u8]) -> Option<(String, String)> {
    let ack = Message::parse(ack).ok()?;
    Some((msa_raw(&ack, 1).unwrap_or_default(), msa_raw(&ack, 2).unwrap_or_default()))
}

/// `history.no-false-success`: a reply whose accepting code (AA, CA) names, in MSA-2, a message
/// other than the one sent. Only an accept can make a sender that pairs ACKs by arrival count
/// its message delivered; an AE/AR names no success, and an empty MSA-2 names no other message
/// (it is the only echo possible of a frame without MSH-10; `ack.msa2-echo` judges the echo).
fn no_false_success(exchange: &Exchange) -> CheckResult {
    let step = Some(exchange.step);
    let own = control_id(&exchange.sent);
    let foreign = exchange.replies.iter().find_map(|r| {
        let (code, named) = msa(&r.payload)?;
        let accepting = AckCode::parse(&code).is_some_and(AckCode::is_accept);
        (accepting && !named.is_empty() && Some(&named) != own.as_ref()).then_some((code, named))
    });
    let Some((code, named)) = foreign else {
        return CheckResult::pass(HISTORY_NO_FALSE_SUCCESS, step);
    };
    let what = match own {
        Some(own) => format!("the answer to MSH-10 {own:?}"),
        None => "the answer to a frame without MSH-10".to_string(),
    };
    CheckResult::fail(
        HISTORY_NO_FALSE_SUCCESS,
        step,
        format!(
            "{what} is an {code} acknowledging {named:?}: a sender pairing ACKs by arrival would \
             count its message delivered"
        ),
    )
}

pub(super) fn control_id(sent: &[u8]) -> Option<String> {
    Message::parse(sent).ok()?.control_id().map(str::to_string)
}

/// Whether the case expects this message to be answered (not raw, acknowledgment due, and
/// "no ACK" not among the outcomes the step allows).
fn delivery_expected(plan: &CasePlan, exchange: &Exchange) -> bool {
    let due = Message::parse(&exchange.sent).is_ok_and(|m| ack_due(&m) == AckDue::Always);
    let none_allowed =
        plan.expectation(exchange).ack.is_some_and(|e| e.codes.contains(&AckOutcome::None));
    !exchange.raw && due && !none_allowed
}

/// The outcome the message finally has: the best over every reply it got.
pub(super) fn final_outcome(exchange: &Exchange) -> Outcome {
    let outcomes = exchange.replies.iter().map(|r| Outcome::of(&exchange.sent, Some(&r.payload)));
    outcomes.fold(Outcome::Indeterminate, |best, o| match (best, o) {
        (Outcome::Ok, _) | (_, Outcome::Ok) => Outcome::Ok,
        (Outcome::Fail, _) | (_, Outcome::Fail) => Outcome::Fail,
        _ => Outcome::Indeterminate,
    })
}

fn events(exchange: &Exchange) -> String {
    let events: Vec<&str> = exchange.attempts.iter().filter_map(|a| a.event.as_deref()).collect();
    if events.is_empty() {
        "no event recorded".into()
    } else {
        events.join(", ")
    }
}

pub(super) fn history(plan: &CasePlan, case: &CaseObservation, out: &mut Vec<CheckResult>) {
    // Only exchanges the MLLP runner recorded attempts for: HTTP has its own status checks.
    let sends: Vec<&Exchange> = case.exchanges.iter().filter(|e| !e.attempts.is_empty()).collect();
    for exchange in sends.iter().filter(|e| delivery_expected(plan, e)) {
        let step = Some(exchange.step);
        out.push(match final_outcome(exchange) {
            Outcome::Ok | Outcome::Fail => CheckResult::pass(HISTORY_NOTHING_LOST, step),
            Outcome::Indeterminate => CheckResult::fail(
                HISTORY_NOTHING_LOST,
                step,
                format!(
                    "MSH-10 {:?} on connection {}: sent {} time(s), never acknowledged by an ACK \
                     of its own ({})",
                    control_id(&exchange.sent).unwrap_or_default(),
                    exchange.connection,
                    exchange.attempts.len(),
                    events(exchange)
                ),
            )
            .after_harness_framing_violation(exchange),
        });
    }
    for exchange in &sends {
        out.push(no_false_success(exchange));
    }
    duplicates(plan, &sends, out);
    for exchange in sends.iter().filter(|e| e.faults.iter().any(|f| f == "bad_checksum")) {
        let first = exchange.attempts.first().and_then(|a| a.event.as_deref());
        out.push(if first == Some("hllp-nak") {
            CheckResult::pass(HLLP_DAMAGED_BLOCK_REFUSED, Some(exchange.step))
        } else {
            CheckResult::fail(
                HLLP_DAMAGED_BLOCK_REFUSED,
                Some(exchange.step),
                format!(
                    "the block of MSH-10 {:?} with a wrong checksum got {} instead of an N block",
                    control_id(&exchange.sent).unwrap_or_default(),
                    first.unwrap_or("nothing")
                ),
            )
        });
    }
    for canary in &case.canaries {
        let outcome =
            Outcome::of(&canary.sent, canary.reply.as_ref().map(|r| r.payload.as_slice()));
        let when = match canary.when {
            CanaryWhen::During => CANARY_DURING,
            CanaryWhen::After => "after the faults",
        };
        out.push(if outcome == Outcome::Indeterminate {
            let why = match (&canary.reply, &canary.event) {
                (Some(reply), _) => format!("answered with {}", show_bytes(&reply.payload, 120)),
                (None, Some(event)) => format!("{} ({})", event.code, event.detail),
                (None, None) => "no answer".into(),
            };
            CheckResult::fail(
                LIVENESS_CANARY,
                None,
                format!(
                    "a plain message (MSH-10 {:?}) on a new connection {when} got no ACK of its \
                     own: {why}",
                    control_id(&canary.sent).unwrap_or_default()
                ),
            )
        } else {
            CheckResult::pass(LIVENESS_CANARY, None)
        });
    }
}

/// How a canary sent while a fault held another connection is named in evidence (the
/// declared grading recognises it: serving it needs concurrent connections).
pub(super) const CANARY_DURING: &str = "during the fault";

/// Messages sent more than once (retransmitted after an indeterminate attempt, or resent by
/// a step): only indeterminate attempts may be retried, and the last send must be answered.
fn duplicates(plan: &CasePlan, sends: &[&Exchange], out: &mut Vec<CheckResult>) {
    let mut by_id: BTreeMap<String, Vec<&Exchange>> = BTreeMap::new();
    for exchange in sends {
        if let Some(id) = control_id(&exchange.sent) {
            by_id.entry(id).or_default().push(exchange);
        }
    }
    for (id, group) in by_id {
        let count: usize = group.iter().map(|e| e.attempts.len()).sum();
        if count < 2 {
            continue;
        }
        let Some(last) = group.last() else { continue };
        let step = Some(last.step);
        let retried_after_answer = group.iter().find_map(|e| {
            e.attempts
                .iter()
                .rev()
                .skip(1)
                .find(|a| a.outcome != Outcome::Indeterminate)
                .map(|_| e.step)
        });
        let answered = last.attempts.last().is_some_and(|a| a.outcome != Outcome::Indeterminate)
            || final_outcome(last) != Outcome::Indeterminate;
        out.push(match (retried_after_answer, answered) {
            (Some(s), _) => CheckResult::fail(
                HISTORY_DUPLICATES,
                step,
                format!("MSH-10 {id:?} was sent again in step {s} after its outcome was known"),
            ),
            (None, false) if delivery_expected(plan, last) => CheckResult::fail(
                HISTORY_DUPLICATES,
                step,
                format!(
                    "MSH-10 {id:?} sent {count} times; the last send was not answered ({})",
                    events(last)
                ),
            ),
            _ => CheckResult::pass(HISTORY_DUPLICATES, step),
        });
    }
}
