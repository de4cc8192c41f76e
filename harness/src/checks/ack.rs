//! The generic checks on one message's acknowledgment.

use super::*;
use crate::hl7::ack::{AckCode, AckMode};
use crate::hl7::{Message, Path};
use crate::runner::observation::{Exchange, Reply};

/// Whether MSH-15 (table 0155) lets the receiver stay silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckDue {
    Always,
    Never,
    /// ER or SU: only for some outcomes.
    Sometimes,
}

pub(crate) fn ack_due(message: &Message<'_>) -> AckDue {
    if AckMode::of(message) == AckMode::Original {
        return AckDue::Always;
    }
    match message.header().field(15).map(|v| v.as_bytes()).unwrap_or_default() {
        b"NE" => AckDue::Never,
        b"ER" | b"SU" => AckDue::Sometimes,
        _ => AckDue::Always,
    }
}

fn field(message: &Message<'_>, path: &str) -> String {
    Path::parse(path)
        .ok()
        .and_then(|p| message.get(&p))
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

/// The checks on the acknowledgment(s) of one exchange.
pub(super) fn exchange(exchange: &Exchange, out: &mut Vec<CheckResult>) {
    if exchange.raw {
        return;
    }
    let Ok(sent) = Message::parse(&exchange.sent) else { return };
    let step = Some(exchange.step);
    let due = ack_due(&sent);
    let no_ack_expected = exchange
        .expect
        .ack
        .as_ref()
        .is_some_and(|e| e.codes.contains(&crate::scenario::AckOutcome::None));
    match exchange.replies.first() {
        None if due == AckDue::Always && !no_ack_expected => {
            let why = exchange
                .event
                .as_ref()
                .map(|e| format!("{} ({})", e.code, e.detail))
                .unwrap_or_else(|| "nothing arrived".into());
            out.push(
                CheckResult::fail(
                    ACK_RECEIVED,
                    step,
                    format!(
                        "no acknowledgment for MSH-10 {:?} within {:?}: {why}",
                        sent.control_id().unwrap_or(""),
                        exchange.ack_timeout
                    ),
                )
                .after_harness_framing_violation(exchange),
            );
            return;
        }
        None => return,
        Some(first) if first.elapsed > exchange.ack_timeout && due == AckDue::Always => {
            out.push(CheckResult::fail(
                ACK_RECEIVED,
                step,
                format!(
                    "the acknowledgment arrived after {}ms, past the {}ms timeout",
                    first.elapsed.as_millis(),
                    exchange.ack_timeout.as_millis()
                ),
            ));
        }
        Some(_) => {
            if due == AckDue::Always {
                out.push(CheckResult::pass(ACK_RECEIVED, step));
            }
        }
    }
    if exchange.replies.len() > 1 {
        let times: Vec<String> =
            exchange.replies.iter().map(|r| format!("{}ms", r.elapsed.as_millis())).collect();
        out.push(CheckResult::fail(
            ACK_ONE_PER_MESSAGE,
            step,
            format!(
                "{} acknowledgments for one message (at {})",
                exchange.replies.len(),
                times.join(", ")
            ),
        ));
    } else {
        out.push(CheckResult::pass(ACK_ONE_PER_MESSAGE, step));
    }
    reply(&sent, &exchange.replies[0], exchange.http.is_some(), step, out);
}

/// The checks on one acknowledgment of `sent`.
fn reply(
    sent: &Message<'_>,
    reply: &Reply,
    over_http: bool,
    step: Option<usize>,
    out: &mut Vec<CheckResult>,
) {
    if !over_http {
        let framing: Vec<String> = reply
            .notes
            .iter()
            .filter(|(code, _)| code != "mllp-lf-segment-separators")
            .map(|(code, offset)| format!("{code} at stream offset {offset}"))
            .collect();
        out.push(if framing.is_empty() {
            CheckResult::pass(ACK_FRAMING, step)
        } else {
            CheckResult::fail(ACK_FRAMING, step, framing.join("; "))
        });
    }
    let ack = match Message::parse(&reply.payload) {
        Ok(ack) if ack.find_segment("MSA", 1).is_some() => ack,
        Ok(_) => {
            out.push(CheckResult::fail(
                ACK_PARSE,
                step,
                format!("no MSA segment in {}", show_bytes(&reply.payload, 200)),
            ));
            return;
        }
        Err(err) => {
            out.push(CheckResult::fail(
                ACK_PARSE,
                step,
                format!("{err}: {}", show_bytes(&reply.payload, 200)),
            ));
            return;
        }
    };
    out.push(CheckResult::pass(ACK_PARSE, step));

    let separators: Vec<&str> = ack
        .findings()
        .iter()
        .filter(|f| f.code.ends_with("segment-separator"))
        .map(|f| f.code)
        .collect();
    out.push(if separators.is_empty() {
        CheckResult::pass(ACK_SEGMENT_TERMINATOR, step)
    } else {
        CheckResult::fail(ACK_SEGMENT_TERMINATOR, step, separators.join(", "))
    });

    let swapped = [("MSH-3", "MSH-5"), ("MSH-4", "MSH-6"), ("MSH-5", "MSH-3"), ("MSH-6", "MSH-4")];
    let wrong: Vec<String> = swapped
        .iter()
        .filter(|(a, s)| field(&ack, a) != field(sent, s))
        .map(|(a, s)| format!("ACK {a} {:?} ≠ message {s} {:?}", field(&ack, a), field(sent, s)))
        .collect();
    out.push(if wrong.is_empty() {
        CheckResult::pass(ACK_MSH_SWAP, step)
    } else {
        CheckResult::fail(ACK_MSH_SWAP, step, wrong.join("; "))
    });

    out.push(msh9(sent, &ack, step));

    let control_id = field(&ack, "MSH-10");
    out.push(if control_id.is_empty() {
        CheckResult::fail(ACK_MSH10, step, "MSH-10 is empty")
    } else {
        CheckResult::pass(ACK_MSH10, step)
    });

    let time = field(&ack, "MSH-7.1");
    out.push(if is_timestamp(&time) {
        CheckResult::pass(ACK_MSH7, step)
    } else {
        CheckResult::fail(ACK_MSH7, step, format!("MSH-7 {time:?} is not a timestamp"))
    });

    for (def, path) in [(ACK_MSH11_ECHO, "MSH-11"), (ACK_MSH12_ECHO, "MSH-12")] {
        let (theirs, ours) = (field(&ack, path), field(sent, path));
        out.push(if theirs == ours {
            CheckResult::pass(def, step)
        } else {
            CheckResult::fail(def, step, format!("ACK {path} {theirs:?}, message {path} {ours:?}"))
        });
    }

    let (theirs, ours) = (ack.delimiters(), sent.delimiters());
    out.push(if theirs == ours {
        CheckResult::pass(ACK_ENCODING_CHARACTERS, step)
    } else {
        CheckResult::fail(
            ACK_ENCODING_CHARACTERS,
            step,
            format!(
                "ACK MSH-1/2 {:?}, message {:?}",
                show_bytes(&ack.as_bytes()[3..ack.as_bytes().len().min(8)], 8),
                show_bytes(&sent.as_bytes()[3..sent.as_bytes().len().min(8)], 8)
            ),
        )
    });

    let code_text = field(&ack, "MSA-1");
    let code = AckCode::parse(&code_text);
    let mode = AckMode::of(sent);
    let valid = match (code, mode) {
        (Some(c), AckMode::Original) => !c.is_commit(),
        (Some(_), AckMode::Enhanced) => true,
        (None, _) => false,
    };
    out.push(if valid {
        CheckResult::pass(ACK_MSA1_VALID, step)
    } else {
        let allowed = if mode == AckMode::Original {
            "AA, AE, AR (original mode)"
        } else {
            "AA, AE, AR, CA, CE, CR"
        };
        CheckResult::fail(ACK_MSA1_VALID, step, format!("MSA-1 {code_text:?}; allowed: {allowed}"))
    });

    let (echo, sent_id) = (field(&ack, "MSA-2"), sent.control_id().unwrap_or("").to_string());
    out.push(if echo == sent_id {
        CheckResult::pass(ACK_MSA2_ECHO, step)
    } else {
        CheckResult::fail(ACK_MSA2_ECHO, step, format!("MSA-2 {echo:?}, sent MSH-10 {sent_id:?}"))
    });

    if let Some(code) = code.filter(|c| !c.is_accept()) {
        out.push(if ack.find_segment("ERR", 1).is_some() {
            CheckResult::pass(ACK_ERR_PRESENT, step)
        } else {
            CheckResult::fail(ACK_ERR_PRESENT, step, format!("{code} without an ERR segment"))
        });
    }
}

fn msh9(sent: &Message<'_>, ack: &Message<'_>, step: Option<usize>) -> CheckResult {
    let (code, trigger, structure) =
        (field(ack, "MSH-9.1"), field(ack, "MSH-9.2"), field(ack, "MSH-9.3"));
    let shown = field(ack, "MSH-9");
    if code != "ACK" {
        return CheckResult::fail(
            ACK_MSH9,
            step,
            format!("MSH-9 {shown:?}: the message code must be ACK"),
        );
    }
    if !structure.is_empty() && structure != "ACK" {
        return CheckResult::fail(
            ACK_MSH9,
            step,
            format!("MSH-9 {shown:?}: the structure must be ACK"),
        );
    }
    let expected_trigger = sent.trigger_event().unwrap_or("");
    if trigger == expected_trigger || expected_trigger.is_empty() {
        return CheckResult::pass(ACK_MSH9, step);
    }
    let version = sent.version().unwrap_or("");
    let before_24 = matches!(version, "2.1" | "2.2" | "2.3" | "2.3.1");
    let evidence =
        format!("MSH-9 {shown:?}, expected ACK^{expected_trigger}^ACK (message version {version})");
    if trigger.is_empty() && before_24 {
        CheckResult::fail(ACK_MSH9, step, evidence).with_severity(Severity::Warning)
    } else {
        CheckResult::fail(ACK_MSH9, step, evidence)
    }
}

/// TS/DTM: `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`.
pub(crate) fn is_timestamp(text: &str) -> bool {
    let (body, zone) = match text.find(['+', '-']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    if let Some(zone) = zone {
        if zone.len() != 4 || !zone.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    let (digits, fraction) = match body.split_once('.') {
        Some((d, f)) => (d, Some(f)),
        None => (body, None),
    };
    let digits_ok = matches!(digits.len(), 4 | 6 | 8 | 10 | 12 | 14)
        && digits.bytes().all(|b| b.is_ascii_digit());
    let fraction_ok = match fraction {
        None => true,
        Some(f) => {
            digits.len() == 14
                && (1..=4).contains(&f.len())
                && f.bytes().all(|b| b.is_ascii_digit())
        }
    };
    digits_ok && fraction_ok && in_range(digits)
}

/// Month 01–12, day 01–31, hour 00–23, minute and second 00–59.
fn in_range(digits: &str) -> bool {
    let part = |at: usize| digits.get(at..at + 2).map(|p| p.parse::<u32>().unwrap_or(99));
    let ok = |v: Option<u32>, lo: u32, hi: u32| v.is_none_or(|v| (lo..=hi).contains(&v));
    ok(part(4), 1, 12)
        && ok(part(6), 1, 31)
        && ok(part(8), 0, 23)
        && ok(part(10), 0, 59)
        && ok(part(12), 0, 59)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        for good in [
            "2026",
            "202611",
            "20261121",
            "2026112101",
            "202611210130",
            "20261121013059",
            "20261121013059.1234",
            "20261121013059+0100",
            "20261121-0500",
        ] {
            assert!(is_timestamp(good), "{good}");
        }
        for bad in [
            "",
            "26",
            "20261",
            "20261321",
            "20261121256000",
            "2026112101305.1",
            "20261121+01",
            "2026-11-21",
            "x",
        ] {
            assert!(!is_timestamp(bad), "{bad}");
        }
    }
}
