//! Every check over one case: the generic checks on each exchange, then the case-level ones,
//! minus what the case opted out of, graded by what the target declares.

use super::*;

/// Every check over one case's observations, judged against its plan, minus the ones the case
/// opted out of.
pub fn evaluate(plan: &CasePlan, case: &crate::observation::CaseObservation) -> Vec<CheckResult> {
    let mut results = Vec::new();
    if let Some(event) = &case.aborted {
        results.push(CheckResult::fail(
            CASE_RAN,
            None,
            format!("{}: {}", event.code, event.detail),
        ));
        return results;
    }
    let profile = plan.profile.as_deref();
    for (i, exchange) in case.exchanges.iter().enumerate() {
        let expect = plan.expectation(exchange);
        ack::exchange(exchange, &expect, &mut results);
        let id = control_id(&exchange.sent);
        let resent = id.is_some() && case.exchanges[..i].iter().any(|e| control_id(&e.sent) == id);
        case::expectations(exchange, &expect, profile, resent, &mut results);
        case::bytes_outside_blocks(exchange, profile, &mut results);
        if let Some(reply) = &expect.reply {
            replay::reply(exchange, reply, &mut results);
        }
    }
    case::case_level(plan, case, &mut results);
    sender::receiver_case(plan, case, &mut results);
    through::through_case(plan, case, &mut results);
    history::history(plan, case, &mut results);
    order::order(plan, case, &mut results);
    results.retain(|r| !plan.skip_checks.iter().any(|s| r.id == s.as_str()));
    declared::grade(plan, case, &mut results);
    results
}

/// MSH-10 of a sent payload, when it parses.
fn control_id(payload: &[u8]) -> Option<String> {
    crate::hl7::Message::parse(payload).ok()?.control_id().map(str::to_string)
}

/// Shows bytes for evidence: printable ASCII kept, CR as `\r`, others as `\xNN`; cut at `max`.
pub fn show_bytes(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    for &b in bytes.iter().take(max) {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02X}")),
        }
    }
    if bytes.len() > max {
        out.push_str(&format!("… ({} bytes)", bytes.len()));
    }
    out
}
