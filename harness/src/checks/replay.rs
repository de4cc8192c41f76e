//! `replay.reply`: the reply to a step against the exact reply the case expects
//! (`expect: { reply: … }`), as a pack recorded by `proxy --record` states it. Pure: the
//! expected message was read when the scenario was resolved.

use super::*;
use crate::hl7::diff::{diff_each, Difference};
use crate::hl7::{Message, Path};
use crate::observation::Exchange;
use crate::scenario::ReplyExpectation;

/// Most differences the evidence lists; the rest are counted.
const MAX_SHOWN: usize = 20;

/// Paths every comparison leaves out: the delimiters (MSH-1, MSH-2: values are compared
/// decoded, so the same reply written with other delimiters is the same reply) and the reply's
/// own timestamp and control id, which a new answer never repeats (HL7 v2.5.1 ch. 2, MSH-7 and
/// MSH-10).
const ALWAYS_IGNORED: [&str; 4] = ["MSH-1", "MSH-2", "MSH-7", "MSH-10"];

pub(super) fn reply(exchange: &Exchange, expected: &ReplyExpectation, out: &mut Vec<CheckResult>) {
    let step = Some(exchange.step);
    let Ok(want) = Message::parse(&expected.message) else {
        // Resolution refuses a reply file that does not parse; an empty one means the
        // expectation was built by hand without reading its file.
        out.push(CheckResult::fail(
            REPLAY_REPLY,
            step,
            format!("the expected reply {} is not an HL7 message", expected.file.written),
        ));
        return;
    };
    let want_code = msa1(&want);
    let Some(reply) = exchange.replies.first() else {
        let why = exchange.event.as_ref().map(|e| format!(" ({})", e.code)).unwrap_or_default();
        out.push(CheckResult::fail(
            REPLAY_REPLY,
            step,
            format!(
                "no reply{why}; expected {} with MSA-1 {}",
                expected.file.written,
                want_code.as_deref().unwrap_or("(none)")
            ),
        ));
        return;
    };
    let Ok(got) = Message::parse(&reply.payload) else {
        out.push(CheckResult::fail(
            REPLAY_REPLY,
            step,
            format!("the reply is not an HL7 message: {}", show_bytes(&reply.payload, 120)),
        ));
        return;
    };
    let mut ignore: Vec<Path> = ALWAYS_IGNORED.iter().filter_map(|p| Path::parse(p).ok()).collect();
    ignore.extend(expected.ignore.iter().map(|p| p.path.clone()));
    let (shown, count) = differences(&want, &got, &ignore);
    if count == 0 {
        out.push(CheckResult::pass(REPLAY_REPLY, step));
        return;
    }
    let got_code = msa1(&got);
    let mut evidence = format!("{count} field(s) differ from {}: ", expected.file.written);
    evidence.push_str(&shown.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "));
    if count > shown.len() {
        evidence.push_str(&format!("; … {} more", count - shown.len()));
    }
    let failed = CheckResult::fail(REPLAY_REPLY, step, evidence);
    out.push(if got_code == want_code { failed.with_severity(Severity::Warning) } else { failed });
}

/// The first [`MAX_SHOWN`] differences (expected → got) and how many there are in all.
fn differences(want: &Message, got: &Message, ignore: &[Path]) -> (Vec<Difference>, usize) {
    let mut shown = Vec::new();
    let mut count = 0;
    diff_each(want, got, ignore, &mut |d| {
        count += 1;
        if shown.len() < MAX_SHOWN {
            shown.push(d);
        }
    });
    (shown, count)
}

fn msa1(message: &Message) -> Option<String> {
    crate::hl7::ack::msa_raw(message, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::Reply;
    use crate::scenario::{FieldPath, FileRef};

    const RECORDED: &[u8] = b"MSH|^~\\&|R|F|S|F|20261203101500||ACK^A04^ACK|A1|P|2.5\rMSA|AA|M1\r";

    /// The result of `replay.reply` for a reply (`None`: none came) against [`RECORDED`].
    fn check(got: Option<&[u8]>, ignore: &[&str]) -> (bool, Severity, String) {
        let expected = ReplyExpectation {
            file: FileRef { written: "acks/0001.hl7".into(), resolved: Default::default() },
            ignore: ignore.iter().map(|p| FieldPath::parse(p).unwrap()).collect(),
            message: RECORDED.to_vec(),
        };
        let mut exchange = Exchange { step: 1, ..Exchange::default() };
        if let Some(bytes) = got {
            exchange.replies.push(Reply {
                payload: bytes.to_vec(),
                notes: Vec::new(),
                elapsed: Default::default(),
            });
        }
        let mut out = Vec::new();
        reply(&exchange, &expected, &mut out);
        let [result] = out.as_slice() else { panic!("one result: {out:?}") };
        (result.passed, result.severity, result.evidence.clone())
    }

    #[test]
    fn the_same_reply_with_a_new_timestamp_control_id_and_delimiters_passes() {
        let got = b"MSH#$~\\&#R#F#S#F#20261203120000##ACK$A04$ACK#Z9#P#2.5\rMSA#AA#M1\r";
        let (passed, _, evidence) = check(Some(got), &[]);
        assert!(passed, "{evidence}");
    }

    #[test]
    fn another_code_or_no_reply_is_an_error_naming_the_field() {
        let got = b"MSH|^~\\&|R|F|S|F|20261203101500||ACK^A04^ACK|A1|P|2.5\rMSA|AE|M1\r";
        let (passed, severity, evidence) = check(Some(got), &[]);
        assert!(!passed && severity == Severity::Error);
        assert!(evidence.contains("MSA-1: \"AA\" → \"AE\""), "{evidence}");
        let (passed, severity, evidence) = check(None, &[]);
        assert!(!passed && severity == Severity::Error);
        assert!(evidence.contains("no reply") && evidence.contains("MSA-1 AA"), "{evidence}");
    }

    #[test]
    fn another_field_with_the_same_code_is_a_warning_unless_ignored() {
        let got = b"MSH|^~\\&|NEW|F|S|F|20261203101500||ACK^A04^ACK|A1|P|2.5\rMSA|AA|M1\r";
        let (passed, severity, evidence) = check(Some(got), &[]);
        assert!(!passed && severity == Severity::Warning);
        assert!(evidence.contains("MSH-3: \"R\" → \"NEW\""), "{evidence}");
        assert!(check(Some(got), &["MSH-3"]).0);
    }

    #[test]
    fn a_reply_that_is_not_hl7_fails() {
        assert!(!check(Some(b"garbage"), &[]).0);
    }
}
