//! The generic checks on one message's acknowledgment.

use super::version::VersionRank;
use super::*;
use crate::hl7::ack::{msa_raw, msa_segment, specific_response, AckCode, AckMode};
use crate::hl7::{Message, Path};
use crate::observation::{Exchange, Reply};
use crate::scenario::Expect;

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
pub(super) fn exchange(exchange: &Exchange, expect: &Expect, out: &mut Vec<CheckResult>) {
    if exchange.raw {
        return;
    }
    let Ok(sent) = Message::parse(&exchange.sent) else { return };
    let step = Some(exchange.step);
    let due = ack_due(&sent);
    let no_ack_expected =
        expect.ack.as_ref().is_some_and(|e| e.codes.contains(&crate::scenario::AckOutcome::None));
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
    let judged = one_per_message(&sent, &exchange.replies, step, out);
    for reply in &exchange.replies[..judged] {
        self::reply(&sent, reply, exchange.http.is_some(), step, out);
    }
}

/// MSA-1 of a reply, when it has one that table 0008 knows.
fn code_of(reply: &Reply) -> Option<AckCode> {
    let ack = Message::parse(&reply.payload).ok()?;
    AckCode::parse(&msa_raw(&ack, 1).unwrap_or_default())
}

/// `ack.one-per-message`; returns how many of the replies are acknowledgments to judge one by
/// one (both of an enhanced-mode pair, else the first).
///
/// HL7 v2.5.1 ch. 2, 2.9.3: in enhanced mode "the accept acknowledgment" (CA, CE, CR) is sent
/// once the message is safely stored, and "the application acknowledgment" (AA, AE, AR) after
/// processing, each as MSH-15/MSH-16 (table 0155: AL, NE, ER, SU) ask; both may come back on the
/// connection the message came in on. So one accept and one application acknowledgment are
/// correct; two of the same kind are not. In original mode (2.9.2) there is exactly one.
fn one_per_message(
    sent: &Message<'_>,
    replies: &[Reply],
    step: Option<usize>,
    out: &mut Vec<CheckResult>,
) -> usize {
    if replies.len() <= 1 {
        out.push(CheckResult::pass(ACK_ONE_PER_MESSAGE, step));
        return replies.len();
    }
    let codes: Vec<Option<AckCode>> = replies.iter().map(code_of).collect();
    let enhanced = AckMode::of(sent) == AckMode::Enhanced;
    if let [Some(a), Some(b)] = codes[..] {
        if enhanced && a.is_commit() != b.is_commit() {
            out.push(CheckResult::pass(ACK_ONE_PER_MESSAGE, step));
            return 2;
        }
    }
    let shown: Vec<String> = replies
        .iter()
        .zip(&codes)
        .map(|(r, c)| {
            let code = c.map_or("no table 0008 code", AckCode::as_str);
            format!("{code} at {}ms", r.elapsed.as_millis())
        })
        .collect();
    let allowed = if enhanced {
        "enhanced mode (MSH-15/16) allows one accept acknowledgment (CA/CE/CR) and one \
         application acknowledgment (AA/AE/AR)"
    } else {
        "original mode allows one"
    };
    out.push(CheckResult::fail(
        ACK_ONE_PER_MESSAGE,
        step,
        format!(
            "{} acknowledgments for one message ({}); {allowed}",
            replies.len(),
            shown.join(", ")
        ),
    ));
    1
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
        Ok(ack) if msa_segment(&ack).is_some() => ack,
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

    out.push(msh_swap(sent, &ack, step));
    out.push(msh9(sent, &ack, step));
    out.push(msh10(sent, &ack, step));
    out.push(msh7(sent, &ack, step));

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

    let code_text = msa_raw(&ack, 1).unwrap_or_default();
    let code = AckCode::parse(&code_text);
    let mode = AckMode::of(sent);
    // A receiver that honours MSH-15/16 answers CA/CE/CR (accept) and AA/AE/AR (application);
    // one that ignores them answers in original mode, which ch. 2 leaves it free to do.
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

    let echo = msa_raw(&ack, 2).unwrap_or_default();
    let sent_id = sent.control_id().unwrap_or("").to_string();
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

/// `ack.msh-swap`: chapter 2 defines MSH-3/4 as the sending and MSH-5/6 as the receiving
/// application and facility of every message, and states no rule that an acknowledgment copies
/// the message's MSH-5/6 into its MSH-3/4 (HAPI's `fillResponseHeader` does, "revert sender and
/// receiver"). So a receiver naming itself by another name than the message's MSH-5/6 passes;
/// an ACK addressed to someone other than the message's sender, or claiming the message's sender
/// as its own, is reported as a warning (the catalogue's severity).
fn msh_swap(sent: &Message<'_>, ack: &Message<'_>, step: Option<usize>) -> CheckResult {
    let pair = |m: &Message<'_>, a: &str, b: &str| (field(m, a), field(m, b));
    let sender = pair(sent, "MSH-3", "MSH-4");
    let receiver = pair(sent, "MSH-5", "MSH-6");
    let (ack_from, ack_to) = (pair(ack, "MSH-3", "MSH-4"), pair(ack, "MSH-5", "MSH-6"));
    let mut wrong = Vec::new();
    let named = |p: &(String, String)| !p.0.is_empty() || !p.1.is_empty();
    if named(&sender) && ack_to != sender {
        wrong.push(format!(
            "ACK MSH-5/6 {:?}/{:?} do not name the message's sender (MSH-3/4 {:?}/{:?})",
            ack_to.0, ack_to.1, sender.0, sender.1
        ));
    }
    if named(&sender) && ack_from == sender && sender != receiver {
        wrong.push(format!(
            "ACK MSH-3/4 {:?}/{:?} name the message's sender as the ACK's own",
            ack_from.0, ack_from.1
        ));
    }
    if wrong.is_empty() {
        CheckResult::pass(ACK_MSH_SWAP, step)
    } else {
        CheckResult::fail(ACK_MSH_SWAP, step, wrong.join("; "))
    }
}

/// `ack.msh9`: the general acknowledgment `ACK^<trigger>^ACK` or the message-specific response
/// the message's chapter names ([`specific_response`]), judged by the message's version (MSH-12).
/// MSG has two components in v2.1–v2.3 and three from v2.3.1 (structure optional there); the
/// data type table leaves them optional in v2.4–v2.5.1 while ch. 2 shows ACK^varies^ACK; MSG.1–3
/// are required (usage R) from v2.6. HAPI's ACK fills MSH-9.3 only from v2.5.
fn msh9(sent: &Message<'_>, ack: &Message<'_>, step: Option<usize>) -> CheckResult {
    let (code, trigger, structure) =
        (field(ack, "MSH-9.1"), field(ack, "MSH-9.2"), field(ack, "MSH-9.3"));
    let shown = field(ack, "MSH-9");
    let version = VersionRank::of(sent);
    let sent_code = sent.message_code().unwrap_or("");
    let sent_trigger = sent.trigger_event().unwrap_or("");
    let specific = specific_response(sent_code, sent_trigger);
    let (expected_trigger, expected_structure) = match &specific {
        _ if code == "ACK" => (sent_trigger.to_string(), "ACK".to_string()),
        Some(r) if r.code == code => (r.trigger.clone(), format!("{}_", r.code)),
        _ => {
            let also =
                specific.map(|r| format!(" or {}^{}", r.code, r.trigger)).unwrap_or_default();
            return CheckResult::fail(
                ACK_MSH9,
                step,
                format!("MSH-9 {shown:?}: the message code must be ACK{also}"),
            );
        }
    };
    let structure_ok = if code == "ACK" {
        structure == expected_structure
    } else {
        structure.starts_with(&expected_structure)
    };
    let expected = if code == "ACK" {
        format!("ACK^{expected_trigger}^ACK")
    } else {
        format!("{code}^{expected_trigger}^{expected_structure}…")
    };
    let evidence = format!("MSH-9 {shown:?}, expected {expected} (message version {version})");
    if (!trigger.is_empty() && trigger != expected_trigger)
        || (!structure.is_empty() && !structure_ok)
    {
        return CheckResult::fail(ACK_MSH9, step, evidence);
    }
    let missing = (trigger.is_empty() && !expected_trigger.is_empty()) || structure.is_empty();
    if !missing || version < VersionRank::V2_4 {
        CheckResult::pass(ACK_MSH9, step)
    } else if version < VersionRank::V2_6 || !version.is_hl7_v2() {
        // v2.4–v2.5.1: the components are optional; a message in no HL7 v2 version (MSH-12
        // `9.9`) has no rule to hold the answer to.
        CheckResult::fail(ACK_MSH9, step, evidence).with_severity(Severity::Warning)
    } else {
        CheckResult::fail(ACK_MSH9, step, evidence)
    }
}

/// `ack.msh10`: MSH-10 is required, and "uniquely identifies the message" among the sending
/// system's messages (ch. 2, MSH-10). An ACK repeating the acknowledged message's MSH-10 does
/// not identify itself; as its sender is another system, uniqueness is not broken by the letter,
/// so that is a warning.
fn msh10(sent: &Message<'_>, ack: &Message<'_>, step: Option<usize>) -> CheckResult {
    let control_id = field(ack, "MSH-10");
    let sent_id = sent.control_id().unwrap_or("");
    if control_id.is_empty() {
        CheckResult::fail(ACK_MSH10, step, "MSH-10 is empty")
    } else if control_id == sent_id {
        CheckResult::fail(
            ACK_MSH10,
            step,
            format!(
                "MSH-10 {control_id:?} repeats the acknowledged message's MSH-10 instead of \
                 identifying the ACK"
            ),
        )
        .with_severity(Severity::Warning)
    } else {
        CheckResult::pass(ACK_MSH10, step)
    }
}

/// `ack.msh7`: MSH-7 is optional in v2.1–v2.3.1 (the MSH attribute tables mark it O) and
/// required from v2.4 (R); when valued it must be a TS/DTM in every version.
fn msh7(sent: &Message<'_>, ack: &Message<'_>, step: Option<usize>) -> CheckResult {
    let time = field(ack, "MSH-7.1");
    let version = VersionRank::of(sent);
    if time.is_empty() && version < VersionRank::V2_4 {
        return CheckResult::pass(ACK_MSH7, step);
    }
    if is_timestamp(&time) {
        CheckResult::pass(ACK_MSH7, step)
    } else if time.is_empty() && !version.is_hl7_v2() {
        // No HL7 v2 version says whether MSH-7 is required in an answer to this message.
        CheckResult::fail(
            ACK_MSH7,
            step,
            format!(
                "MSH-7 is empty; the message's version {:?} is not an HL7 v2 version, so \
                 whether it is required is unclear",
                sent.version().unwrap_or("")
            ),
        )
        .with_severity(Severity::Warning)
    } else if time.is_empty() {
        CheckResult::fail(
            ACK_MSH7,
            step,
            format!("MSH-7 is empty; it is required from v2.4 (message version {version})"),
        )
    } else {
        CheckResult::fail(ACK_MSH7, step, format!("MSH-7 {time:?} is not a timestamp"))
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
