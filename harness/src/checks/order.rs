//! `history.order`: the receiver keeps the order of the messages it is sent.
//!
//! What order means for a receiver under test. A sender in original acknowledgment mode sends
//! one message at a time and the next only once the previous one is acknowledged (HL7 v2.5.1
//! ch. 2, message processing rules, original acknowledgment mode; MLLP release 2, the HL7 v2
//! transport specification, reliable delivery: no new message before the previous one's
//! acknowledgment). That is what makes a feed ordered: an A08 update written after the A04
//! registration was acknowledged must not be applied before it. So, on one connection:
//!
//! - messages sent one at a time, each after the previous one's accept ACK, must be applied in
//!   the order sent (an error otherwise); the check reads the order the target applied them in
//!   from the applied log its target profile names (`state.applied`; the built-in endpoint
//!   serves `{state}/applied`). A target that declares none is not judged: the check says so
//!   as an info, neither passing nor failing it (keeping order is required of every receiver,
//!   but the harness can only see it where the system shows it); a declared log that cannot be
//!   read is a warning;
//! - every accepted message must appear in that log (accepted and never applied is an error);
//! - each ACK answers the oldest message not yet answered (MSA-2 in the order of the MSH-10s).
//!   A sender that waits for each ACK can only see that order; it can differ only when the
//!   harness pipelines (`pipeline`, `coalesce`), which MLLP does not let a sender do, so ACKs out
//!   of order then, and messages applied out of order then, are at most warnings.
//!
//! Messages on different connections have no order between them, retransmissions count once
//! (their first send), and rejected or unanswered messages are not applied, so they are left
//! out (`history.nothing-lost` judges those). `expect: { order: any }` on a case turns the
//! check off for a site whose messages are independent of each other.

use super::history::{control_id, final_outcome};
use super::*;
use crate::observation::{
    AppliedCount, AppliedOrder, CaseObservation, Exchange, Outcome, ProbeResult,
};
use crate::profile::DuplicatePolicy;
use crate::scenario::Order;
use std::collections::{BTreeMap, BTreeSet};

/// Whether the harness wrote the message without waiting for the ACKs of the ones before it.
fn pipelined(exchange: &Exchange) -> bool {
    exchange.faults.iter().any(|f| f == "pipeline" || f == "coalesce")
}

/// What the check found: evidence for errors and for warnings, what could not be judged, and
/// whether anything was judged.
#[derive(Default)]
struct Findings {
    errors: Vec<String>,
    warnings: Vec<String>,
    not_judged: Vec<String>,
    judged: bool,
}

impl Findings {
    fn push(&mut self, strict: bool, text: String) {
        if strict {
            self.errors.push(text)
        } else {
            self.warnings.push(text)
        }
    }
}

pub(super) fn order(plan: &CasePlan, case: &CaseObservation, out: &mut Vec<CheckResult>) {
    if plan.order == Order::Any {
        return;
    }
    let mut lanes: BTreeMap<usize, Vec<&Exchange>> = BTreeMap::new();
    for exchange in case.exchanges.iter().filter(|e| !e.attempts.is_empty()) {
        lanes.entry(exchange.connection).or_default().push(exchange);
    }
    let mut found = Findings::default();
    for (connection, lane) in &lanes {
        ack_order(*connection, lane, &mut found);
        applied_order(*connection, lane, &case.applied, &mut found);
    }
    out.push(if !found.errors.is_empty() {
        found.errors.extend(found.warnings);
        CheckResult::fail(HISTORY_ORDER, None, found.errors.join("; "))
    } else if !found.warnings.is_empty() {
        CheckResult::fail(HISTORY_ORDER, None, found.warnings.join("; "))
            .with_severity(Severity::Warning)
    } else if !found.not_judged.is_empty() {
        // Not a pass either: the ACK order may be fine while the applied order went unseen.
        CheckResult::fail(HISTORY_ORDER, None, found.not_judged.join("; "))
            .with_severity(Severity::Info)
    } else if found.judged {
        CheckResult::pass(HISTORY_ORDER, None)
    } else {
        return;
    });
}

/// Each ACK read on the connection answers the oldest message not yet answered.
fn ack_order(connection: usize, lane: &[&Exchange], found: &mut Findings) {
    let answered: Vec<(&Exchange, usize)> = lane
        .iter()
        .filter_map(|e| {
            let first = e.replies.first()?;
            let own = Outcome::of(&e.sent, Some(&first.payload)) != Outcome::Indeterminate;
            own.then_some((*e, *e.reply_order.first()?))
        })
        .collect();
    for pair in answered.windows(2) {
        let ((earlier, before), (later, after)) = (pair[0], pair[1]);
        found.judged = true;
        if after < before {
            let text = format!(
                "on connection {connection} the ACK of MSH-10 {:?} (step {}) came before the ACK \
                 of MSH-10 {:?} (step {}), sent earlier{}",
                control_id(&later.sent).unwrap_or_default(),
                later.step,
                control_id(&earlier.sent).unwrap_or_default(),
                earlier.step,
                if pipelined(later) { PIPELINED } else { "" }
            );
            found.push(!pipelined(later), text);
        }
    }
}

const PIPELINED: &str = " (the harness pipelined them, which MLLP does not let a sender \
                         do: a warning)";

/// The messages accepted on the connection, applied in the order they were sent.
fn applied_order(
    connection: usize,
    lane: &[&Exchange],
    applied: &AppliedOrder,
    found: &mut Findings,
) {
    let mut seen = BTreeSet::new();
    let accepted: Vec<(&Exchange, String)> = lane
        .iter()
        .filter(|e| final_outcome(e) == Outcome::Ok)
        .filter_map(|e| Some((*e, control_id(&e.sent)?)))
        .filter(|(_, id)| seen.insert(id.clone()))
        .collect();
    if accepted.len() < 2 {
        return;
    }
    let log = match applied {
        AppliedOrder::Log(log) => log,
        AppliedOrder::Undeclared(why) => {
            found.not_judged.push(format!(
                "not judged: the order {} messages accepted on connection {connection} were \
                 applied in: {why}",
                accepted.len()
            ));
            return;
        }
        AppliedOrder::Unavailable(why) => {
            found.warnings.push(format!(
                "could not judge the order {} messages accepted on connection {connection} were \
                 applied in: {why}",
                accepted.len()
            ));
            return;
        }
        AppliedOrder::NotRead => {
            found.warnings.push(format!(
                "could not judge the order {} messages accepted on connection {connection} were \
                 applied in: the target's applied log was not read",
                accepted.len()
            ));
            return;
        }
    };
    found.judged = true;
    let place = |id: &String| log.iter().position(|l| l == id);
    for (exchange, id) in &accepted {
        if place(id).is_none() {
            found.errors.push(format!(
                "MSH-10 {id:?} (step {}) was accepted but is not in the target's applied log",
                exchange.step
            ));
        }
    }
    let present: Vec<&(&Exchange, String)> =
        accepted.iter().filter(|(_, id)| place(id).is_some()).collect();
    for pair in present.windows(2) {
        let ((earlier, first), (later, second)) = (pair[0], pair[1]);
        if place(second) < place(first) {
            let text = format!(
                "on connection {connection} MSH-10 {second:?} (step {}) was applied before MSH-10 \
                 {first:?} (step {}), {}",
                later.step,
                earlier.step,
                if pipelined(later) {
                    format!("though sent after it{PIPELINED}")
                } else {
                    "though sent only after that one's accept ACK".to_string()
                }
            );
            found.push(!pipelined(later), text);
        }
    }
}

/// An `applied:` probe: the applied log lists the message as often as the profile's
/// `duplicates:` declares. A resend carries the same MSH-10 (HL7 v2.5.1 ch. 2, MSH-10), so a
/// receiver can tell it apart: `apply-once` and `reject` apply it once; `apply-each` (and a
/// receiver that declares nothing) at most once per write that reached it. Accepted and never
/// applied is an error whatever is declared (an AA that is a false success); a message never
/// accepted is not judged.
pub(super) fn applied_times(
    case: &CaseObservation,
    probe: &ProbeResult,
    count: &AppliedCount,
) -> CheckResult {
    let own = case.exchanges.iter().filter(|e| control_id(&e.sent).as_deref() == Some(&count.id));
    let (mut writes, mut accepted) = (0usize, false);
    for exchange in own {
        writes += exchange.attempts.len();
        accepted |= exchange.attempts.iter().any(|a| a.outcome == Outcome::Ok);
    }
    let (id, times, step) = (&count.id, count.times, Some(probe.step));
    if !accepted {
        return CheckResult::fail(
            PROBE_UNAVAILABLE,
            step,
            format!(
                "{}: not judged: MSH-10 {id:?} was never accepted, so nothing says it was applied",
                probe.what
            ),
        );
    }
    let (high, by) = match count.duplicates {
        Some(DuplicatePolicy::ApplyOnce) => (1, "`duplicates: apply-once`"),
        Some(DuplicatePolicy::Reject) => (1, "`duplicates: reject`"),
        Some(DuplicatePolicy::ApplyEach) => (writes.max(1), "`duplicates: apply-each`"),
        None => (writes.max(1), "no `duplicates:` declaration (at most once per write)"),
    };
    if times == 0 {
        return CheckResult::fail(
            PROBE,
            step,
            format!("{}: MSH-10 {id:?} was accepted but is not in the applied log", probe.what),
        );
    }
    if times > high {
        let allowed = if high == 1 { "1".to_string() } else { format!("1 to {high}") };
        return CheckResult::fail(
            PROBE,
            step,
            format!(
                "{}: MSH-10 {id:?} is applied {times} time(s) after {writes} write(s); {by} \
                 allows {allowed}",
                probe.what
            ),
        );
    }
    CheckResult::pass(PROBE, step)
}
