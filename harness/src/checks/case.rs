//! The case-level checks: the scenario's expectations, the connection after the case, the
//! effect probes, and the HL7-over-HTTP status mapping.

use super::*;
use crate::hl7::ack::{msa_raw, AckCode};
use crate::hl7::Message;
use crate::observation::{CaseObservation, ConnectionAfter, Exchange, HttpObservation};
use crate::scenario::AckOutcome;

fn msa1(payload: &[u8]) -> Option<String> {
    msa_raw(&Message::parse(payload).ok()?, 1)
}

/// The expectations of one exchange's step; `ack: declared` is decided from the standard and
/// what `profile` declares.
pub(super) fn expectations(
    exchange: &Exchange,
    expect: &crate::scenario::Expect,
    profile: Option<&crate::profile::TargetProfile>,
    resent: bool,
    out: &mut Vec<CheckResult>,
) {
    let step = Some(exchange.step);
    let first = exchange.replies.first();
    let code = first.and_then(|r| msa1(&r.payload));
    let declared = match &expect.ack {
        Some(expected) if expected.declared => Message::parse(&exchange.sent)
            .ok()
            .map(|sent| super::declared::allowed_answers(&sent, profile, resent)),
        _ => None,
    };
    let declared_expectation = declared.as_ref().map(|allowed| crate::scenario::AckExpectation {
        codes: allowed.outcomes.clone(),
        declared: false,
    });
    // A `declared` expectation of a message that does not parse has nothing to decide from.
    let written = expect.ack.as_ref().filter(|e| !e.declared);
    if let Some(expected) = declared_expectation.as_ref().or(written) {
        let outcome = match (&first, &code) {
            (None, _) => Some(AckOutcome::None),
            (Some(_), Some(text)) => AckCode::parse(text).map(AckOutcome::Code),
            (Some(_), None) => None,
        };
        let shown = match (&first, &code) {
            (None, _) => match &exchange.event {
                Some(event) => format!("no acknowledgment ({})", event.code),
                None => "no acknowledgment".to_string(),
            },
            (Some(_), Some(text)) => format!("MSA-1 {text:?}"),
            (Some(r), None) => format!("a reply without MSA-1: {}", show_bytes(&r.payload, 120)),
        };
        let because = declared.as_ref().map(|a| format!(" ({})", a.why)).unwrap_or_default();
        out.push(match outcome {
            Some(o) if expected.codes.contains(&o) => CheckResult::pass(EXPECT_ACK, step),
            _ => {
                let failed = CheckResult::fail(
                    EXPECT_ACK,
                    step,
                    format!("expected {expected}, got {shown}{because}"),
                );
                // The standard's answer cannot require an answer to a frame that never ended;
                // a scenario's own written expectation still can.
                if declared.is_some() && first.is_none() {
                    failed.after_harness_framing_violation(exchange)
                } else {
                    failed
                }
            }
        });
    }
    if let (Some(want), Some(reply)) = (expect.err, first) {
        let has = Message::parse(&reply.payload).is_ok_and(|m| m.find_segment("ERR", 1).is_some());
        out.push(if has == want {
            CheckResult::pass(EXPECT_ERR, step)
        } else {
            let what =
                if want { "an ERR segment, found none" } else { "no ERR segment, found one" };
            CheckResult::fail(EXPECT_ERR, step, format!("expected {what}"))
        });
    }
    if let Some(limit) = expect.max_ack_time {
        out.push(match first {
            Some(reply) if reply.elapsed <= limit.0 => CheckResult::pass(EXPECT_ACK_TIME, step),
            Some(reply) => CheckResult::fail(
                EXPECT_ACK_TIME,
                step,
                format!(
                    "ACK after {}ms, limit {}ms",
                    reply.elapsed.as_millis(),
                    limit.0.as_millis()
                ),
            ),
            None => CheckResult::fail(EXPECT_ACK_TIME, step, "no acknowledgment"),
        });
    }
    let Some(http) = &exchange.http else { return };
    if let Some(want) = expect.http_status {
        out.push(if http.status == want {
            CheckResult::pass(EXPECT_HTTP_STATUS, step)
        } else {
            CheckResult::fail(
                EXPECT_HTTP_STATUS,
                step,
                format!("expected HTTP {want}, got {}", http.status),
            )
        });
    }
    out.push(http_status(http, first.map(|r| r.payload.as_slice()), step));
    if code.as_deref().and_then(AckCode::parse).is_some() {
        let media = http.content_type.as_deref().unwrap_or("");
        let wrong = match crate::transport::media_type::parse_content_type(media) {
            Some(parsed) if parsed.charset.is_some() => None,
            Some(_) => Some("has no charset, which the response SHALL include"),
            None if media.is_empty() => Some("is missing; an HL7 response SHALL have one"),
            None => Some("is not an HL7 v2 content type (application/hl7-v2 for ER7)"),
        };
        out.push(match wrong {
            None => CheckResult::pass(HTTP_CONTENT_TYPE, step),
            Some(why) => {
                CheckResult::fail(HTTP_CONTENT_TYPE, step, format!("Content-Type {media:?} {why}"))
            }
        });
    }
}

/// Whether a Content-Type names an HL7 payload type (`application/hl7-v2`, `+er7`, `+xml`, the
/// older `x-application/…`), with or without parameters.
fn is_hl7_media(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    media.starts_with("application/hl7") || media.starts_with("x-application/hl7")
}

/// `http.status-mapping`, by the HL7-over-HTTP specification (hapi-hl7overhttp), 2.6 HTTP
/// Response Codes. "Application Error Conditions": when a receiving application "produces an HL7
/// response payload containing one of these status codes [AR, AE, CR, CE], this is considered a
/// successful interaction at the transport layer, and response code of "HTTP/1.1 2xx" MUST be
/// used". "Content Type for Error Conditions": "If the response status is not HTTP 2xx, the
/// content type MUST NOT be an HL7 payload type." The earlier draft's AR → 400 / AE → 500 is
/// superseded (HAPI's `ResponseCode`: "all HL7 response codes now map to HTTP 200"). A non-2xx
/// answer without an HL7 payload (401, 415, a 500 text page) is a transport error condition,
/// which the specification allows.
fn http_status(http: &HttpObservation, body: Option<&[u8]>, step: Option<usize>) -> CheckResult {
    let success = (200..300).contains(&http.status);
    let media = http.content_type.as_deref().unwrap_or("");
    let hl7_body = body.is_some_and(|b| Message::parse(b).is_ok());
    if success {
        return CheckResult::pass(HTTP_STATUS_MAPPING, step);
    }
    let mut wrong = Vec::new();
    if hl7_body {
        let code = body.and_then(msa1).map(|c| format!(" (MSA-1 {c:?})")).unwrap_or_default();
        wrong.push(format!(
            "an HL7 response{code} with HTTP {}: every HL7 response, AR/AE/CR/CE included, MUST \
             have a 2xx status",
            http.status
        ));
    }
    if is_hl7_media(media) {
        wrong.push(format!(
            "HTTP {} with Content-Type {media:?}: a non-2xx response MUST NOT have an HL7 \
             content type",
            http.status
        ));
    }
    if wrong.is_empty() {
        CheckResult::pass(HTTP_STATUS_MAPPING, step)
    } else {
        CheckResult::fail(HTTP_STATUS_MAPPING, step, wrong.join("; "))
    }
}

/// A message whose block followed bytes the harness wrote outside any block: a receiver that
/// declares `bytes_outside_blocks: skip` must answer it on the same connection; one that
/// declares `close`, or nothing, may close instead (the runner then resends the message on a
/// clean connection, judged by `ack.received` and `history.nothing-lost`).
pub(super) fn bytes_outside_blocks(
    exchange: &Exchange,
    profile: Option<&crate::profile::TargetProfile>,
    out: &mut Vec<CheckResult>,
) {
    use crate::profile::BytesOutsideBlocks;
    if !exchange.after_outside_bytes {
        return;
    }
    let step = Some(exchange.step);
    let first = exchange.attempts.first().and_then(|a| a.event.as_deref());
    let closed = matches!(first, Some("peer-closed" | "peer-reset"));
    let declared = profile.and_then(|p| p.bytes_outside_blocks);
    if closed && declared == Some(BytesOutsideBlocks::Skip) {
        out.push(CheckResult::fail(
            CONNECTION_BYTES_OUTSIDE_BLOCKS,
            step,
            format!(
                "the connection ended ({}) on the bytes the harness wrote outside a block \
                 before this message, but the target profile declares \
                 `bytes_outside_blocks: skip`",
                first.unwrap_or_default()
            ),
        ));
    } else {
        out.push(CheckResult::pass(CONNECTION_BYTES_OUTSIDE_BLOCKS, step));
    }
}

/// The checks on the case as a whole.
pub(super) fn case_level(plan: &CasePlan, case: &CaseObservation, out: &mut Vec<CheckResult>) {
    for (i, after) in case.connections_after.iter().enumerate() {
        let closed = matches!(after, ConnectionAfter::Closed | ConnectionAfter::Reset);
        let shown = format!(
            "connection {} {}",
            i + 1,
            match after {
                ConnectionAfter::Closed => "was closed by the target",
                ConnectionAfter::Reset => "was reset by the target",
                ConnectionAfter::Open => "is open",
                ConnectionAfter::Unknown => "was not observed",
            }
        );
        match plan.expect_connection_open {
            Some(want) if *after != ConnectionAfter::Unknown => out.push(if want != closed {
                CheckResult::pass(EXPECT_CONNECTION_OPEN, None)
            } else {
                CheckResult::fail(EXPECT_CONNECTION_OPEN, None, shown)
            }),
            Some(_) => {}
            None if closed => out.push(CheckResult::fail(CONNECTION_OPEN, None, shown)),
            None if *after == ConnectionAfter::Open => {
                out.push(CheckResult::pass(CONNECTION_OPEN, None))
            }
            None => {}
        }
    }
    for probe in &case.probes {
        if let (None, Some(count)) = (&probe.failure, &probe.applied) {
            out.push(super::order::applied_times(case, probe, count));
            continue;
        }
        out.push(match &probe.failure {
            Some(why) if probe.unavailable => CheckResult::fail(
                PROBE_UNAVAILABLE,
                Some(probe.step),
                format!("{}: {why}", probe.what),
            ),
            None => CheckResult::pass(PROBE, Some(probe.step)),
            Some(why) => {
                CheckResult::fail(PROBE, Some(probe.step), format!("{}: {why}", probe.what))
            }
        });
    }
    if !case.stray.is_empty() {
        let shown: Vec<String> = case.stray.iter().map(|r| show_bytes(&r.payload, 80)).collect();
        out.push(CheckResult::fail(
            ACK_ONE_PER_MESSAGE,
            None,
            format!(
                "{} frame(s) answering no message sent: {}",
                case.stray.len(),
                shown.join(" | ")
            ),
        ));
    }
}
