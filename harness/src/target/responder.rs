//! What the reference endpoint answers to a message, by the standard's processing rules
//! (HL7 v2.5.1 ch. 2, message processing rules; MSA-1 table 0008; ERR-3 table 0357):
//!
//! - **AR** (reject) when the receiver cannot process this kind of message at all: a version it
//!   does not support (MSH-12, error 203), a message type or trigger event it does not handle
//!   (MSH-9, errors 200/201), a processing id it does not accept (MSH-11, error 202).
//! - **AE** (error) with one ERR per problem when the message is of a kind the receiver handles
//!   but its content breaks the standard: a missing required segment (100) or field (101), bytes
//!   not valid in the declared character set (102), an empty MSH-10.
//! - **AA** otherwise. Segments and fields the receiver does not expect are ignored (ch. 2,
//!   2.6.2), so warnings never turn an AA into an AE.
//!
//! In enhanced mode (MSH-15/MSH-16 valued) the same outcomes are the commit codes CA/CE/CR, and
//! MSH-15 decides whether an accept acknowledgment is sent at all (table 0155: AL always, NE
//! never, ER only on error or reject, SU only on success; empty means AL).
//!
//! Pure: the caller parses, supplies the clock and control ids, and sends the bytes.

use crate::hl7::ack::{AckBuilder, AckCode, AckError, AckMode, ErrorCondition};
use crate::hl7::structures::Version;
use crate::hl7::validate::{validate, ValidateOptions};
use crate::hl7::{Finding, Message, Path, Severity};

/// What the endpoint accepts. The default is the built-in endpoint's: v2.3 to v2.6, the ADT
/// client-feed events of the e-health interface, MFN^M02, processing ids P, T and D, and an
/// error for a missing required field or segment. Each choice is one the standard leaves to the
/// receiver (HL7 v2.5.1 ch. 2, 2.9.2.1 step 1: the receiver decides what it accepts), and the
/// endpoint's target profile ([`super::profile`]) declares them.
#[derive(Debug, Clone)]
pub struct ResponderConfig {
    /// `None`: every version is processed.
    pub versions: Option<Vec<Version>>,
    /// `CODE^TRIGGER` pairs, e.g. `ADT^A04`, or `CODE^*` for every trigger event of a type;
    /// `None`: every message type and trigger event.
    pub events: Option<Vec<String>>,
    /// Table 0103 values accepted in MSH-11.1; `None`: every processing id.
    pub processing_ids: Option<Vec<String>>,
    /// A message missing a required field or segment is accepted (AA) instead of answered with
    /// AE: for a field of usage R, HL7 v2 ch. 2 lets a receiver raise an error, not obliges it.
    pub accept_missing_required: bool,
}

impl Default for ResponderConfig {
    fn default() -> Self {
        let adt = ["A01", "A03", "A04", "A05", "A08", "A14", "A18", "A28", "A31", "A40", "A54"];
        let mut events: Vec<String> = adt.iter().map(|t| format!("ADT^{t}")).collect();
        events.push("MFN^M02".into());
        ResponderConfig {
            // The versions it has always declared (its committed profile and the packs rely
            // on them), though the standard's tables now reach 2.8.
            versions: Some(Version::ALL.into_iter().filter(|v| *v <= Version::V2_6).collect()),
            events: Some(events),
            processing_ids: Some(vec!["P".into(), "T".into(), "D".into()]),
            accept_missing_required: false,
        }
    }
}

impl ResponderConfig {
    /// Every well-formed message processed: any version, message type, trigger event and
    /// processing id.
    pub fn accepting_everything(self) -> ResponderConfig {
        ResponderConfig { versions: None, events: None, processing_ids: None, ..self }
    }
}

/// The outcome before it is written as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Accept,
    Error(Vec<AckError>),
    Reject(Vec<AckError>),
}

impl Decision {
    /// MSA-1 for the acknowledgment mode the message asked for.
    pub fn code(&self, mode: AckMode) -> AckCode {
        match (self, mode) {
            (Decision::Accept, AckMode::Original) => AckCode::ApplicationAccept,
            (Decision::Error(_), AckMode::Original) => AckCode::ApplicationError,
            (Decision::Reject(_), AckMode::Original) => AckCode::ApplicationReject,
            (Decision::Accept, AckMode::Enhanced) => AckCode::CommitAccept,
            (Decision::Error(_), AckMode::Enhanced) => AckCode::CommitError,
            (Decision::Reject(_), AckMode::Enhanced) => AckCode::CommitReject,
        }
    }

    /// True when the message may be applied (stored, acted on).
    pub fn is_accept(&self) -> bool {
        matches!(self, Decision::Accept)
    }
}

/// Decides the answer to a parsed message.
pub fn decide(message: &Message<'_>, config: &ResponderConfig) -> Decision {
    let mut rejects = Vec::new();
    let header = |field: usize| Path::parse(&format!("MSH-{field}")).ok();
    let at_header = |error: AckError, field: usize| match header(field) {
        Some(path) => error.at(path, Some(1)),
        None => error,
    };

    let version = message.version().and_then(Version::parse);
    let version = match (version, &config.versions) {
        (version, None) => version,
        (Some(v), Some(versions)) if versions.contains(&v) => Some(v),
        _ => {
            let shown = message.version().unwrap_or("(empty)");
            rejects.push(at_header(
                AckError::new(ErrorCondition::UnsupportedVersionId)
                    .with_text(format!("version {shown} is not supported")),
                12,
            ));
            None
        }
    };
    let code = message.message_code().unwrap_or("");
    let trigger = message.trigger_event().unwrap_or("");
    // `CODE^TRIGGER` compared in place: no string is built for a message that is listed.
    let listed = |e: &String| {
        e.strip_suffix("^*") == Some(code)
            || e.strip_prefix(code).and_then(|rest| rest.strip_prefix('^')) == Some(trigger)
    };
    if let Some(events) = config.events.as_ref().filter(|events| !events.iter().any(listed)) {
        let event = format!("{code}^{trigger}");
        let known_code = events.iter().any(|e| e.split('^').next() == Some(code));
        let condition = if known_code {
            ErrorCondition::UnsupportedEventCode
        } else {
            ErrorCondition::UnsupportedMessageType
        };
        rejects.push(at_header(
            AckError::new(condition).with_text(format!("{event} is not handled here")),
            9,
        ));
    }
    let processing = message.processing_id().unwrap_or("");
    if config.processing_ids.as_ref().is_some_and(|ids| !ids.iter().any(|p| p == processing)) {
        rejects.push(at_header(
            AckError::new(ErrorCondition::UnsupportedProcessingId)
                .with_text(format!("processing id {processing:?} is not accepted")),
            11,
        ));
    }
    if !rejects.is_empty() {
        return Decision::Reject(rejects);
    }

    let options = ValidateOptions { structure: None, version };
    let findings = message.findings().iter().cloned().chain(validate(message, &options));
    let errors = cap_errors(
        findings
            .filter(|f| f.severity == Severity::Error)
            .filter(|f| !(config.accept_missing_required && is_missing_required(f)))
            .filter_map(|f| ack_error(&f)),
    );
    if errors.is_empty() {
        Decision::Accept
    } else {
        Decision::Error(errors)
    }
}

/// A required field or segment left out (usage R).
fn is_missing_required(finding: &Finding) -> bool {
    matches!(finding.code, "missing-required-field" | "missing-required-segment")
}

/// Most ERR segments an acknowledgment lists one by one. Chapter 2 puts no number on them
/// (ERR repeats, one per error); a frame of a million broken segments must not turn into an ACK
/// of a million ERR segments that takes gigabytes to build and that no sender reads.
pub const MAX_ACK_ERRORS: usize = 20;

/// The first [`MAX_ACK_ERRORS`] errors, then the next one as it is when it is the last, or one
/// ERR that counts the rest (with the condition of the first one not listed, so ERR-3,
/// required from v2.5, stays meaningful).
pub(super) fn cap_errors(errors: impl Iterator<Item = AckError>) -> Vec<AckError> {
    let mut kept = Vec::new();
    let mut not_listed = None;
    let mut more = 0usize;
    for error in errors {
        if kept.len() < MAX_ACK_ERRORS {
            kept.push(error);
        } else {
            not_listed.get_or_insert(error);
            more += 1;
        }
    }
    match not_listed {
        Some(last) if more == 1 => kept.push(last),
        Some(first) => kept.push(
            AckError::new(first.condition).with_text(format!("{more} more ERR entries not listed")),
        ),
        None => {}
    }
    kept
}

/// The ERR entry for an error finding, located where the finding is.
fn ack_error(finding: &Finding) -> Option<AckError> {
    let condition = match finding.code {
        "missing-required-field" => ErrorCondition::RequiredFieldMissing,
        "missing-required-segment"
        | "out-of-order-segment"
        | "invalid-segment-id"
        | "empty-segment" => ErrorCondition::SegmentSequenceError,
        "charset-invalid-byte" | "unknown-charset" | "nonstandard-charset-name" => {
            ErrorCondition::DataTypeError
        }
        // Framing-level and file-level findings (line endings, byte-order marks, batch counts)
        // are the transport's business: the message itself was readable.
        _ => return None,
    };
    let mut error = AckError::new(condition).with_text(finding.message.clone());
    let location = &finding.location;
    if let Some(segment) = &location.segment {
        let text = match location.field {
            Some(field) => format!("{segment}-{field}"),
            None => segment.clone(),
        };
        if let Ok(path) = Path::parse(&text) {
            error = error.at(path, location.segment_index);
        }
    }
    Some(error)
}

/// Whether MSH-15 (accept acknowledgment type, table 0155) asks for an acknowledgment with this
/// outcome. Original mode always answers.
pub fn wants_ack(message: &Message<'_>, decision: &Decision) -> bool {
    if AckMode::of(message) == AckMode::Original {
        return true;
    }
    let condition = message.header_bytes(15).unwrap_or_default();
    match condition {
        b"NE" => false,
        b"ER" => !decision.is_accept(),
        b"SU" => decision.is_accept(),
        _ => true,
    }
}

/// The acknowledgment bytes for `decision`, or `None` when MSH-15 asked for none.
pub fn acknowledge(
    message: &Message<'_>,
    decision: &Decision,
    control_id: &str,
    timestamp: &str,
) -> Option<Vec<u8>> {
    if !wants_ack(message, decision) {
        return None;
    }
    Some(build(message, decision, AckMode::of(message), control_id, timestamp))
}

/// The acknowledgment of a receiver that ignores MSH-15/16 (original mode only, which HL7 v2
/// allows: a receiver declares the acknowledgment modes it supports): always one answer, with
/// AA, AE or AR.
pub fn acknowledge_original(
    message: &Message<'_>,
    decision: &Decision,
    control_id: &str,
    timestamp: &str,
) -> Vec<u8> {
    build(message, decision, AckMode::Original, control_id, timestamp)
}

fn build(
    message: &Message<'_>,
    decision: &Decision,
    mode: AckMode,
    control_id: &str,
    timestamp: &str,
) -> Vec<u8> {
    let mut builder = AckBuilder::new(message, decision.code(mode), control_id, timestamp);
    if let Decision::Error(errors) | Decision::Reject(errors) = decision {
        for error in errors {
            builder = builder.error(error.clone());
        }
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A04: &str = "MSH|^~\\&|EHR|HOSP|HARNESS|FAC|20240101||ADT^A04^ADT_A01|M1|P|2.5\rEVN|A04|20240101\rPID|1||C1^^^EHR^PI||Doe^John\rPV1|1|O\r";

    fn answer(input: &str) -> String {
        let message = Message::parse(input.as_bytes()).unwrap();
        let decision = decide(&message, &ResponderConfig::default());
        match acknowledge(&message, &decision, "A1", "20240102") {
            Some(bytes) => String::from_utf8(bytes).unwrap().replace('\r', "\n"),
            None => "(no ack)".into(),
        }
    }

    fn check(input: &str, expected_lines: &[&str]) {
        let got = answer(input);
        for line in expected_lines {
            assert!(got.contains(line), "expected {line:?} in\n{got}");
        }
    }

    #[test]
    fn accepts_a_good_message() {
        check(A04, &["|ACK^A04^ACK|A1|P|2.5\n", "MSA|AA|M1\n"]);
        assert!(!answer(A04).contains("ERR"));
        // Unexpected segments are ignored (ch. 2, 2.6.2): still AA.
        check(&format!("{A04}ZPD|x\rORC|NW\r"), &["MSA|AA|M1\n"]);
    }

    #[test]
    fn rejects_what_it_does_not_handle() {
        check(
            &A04.replace("|2.5\r", "|2.9\r"),
            &["MSA|AR|M1\n", "|203^Unsupported version id^HL70357|"],
        );
        check(
            &A04.replace("ADT^A04^ADT_A01", "ORU^R01^ORU_R01"),
            &["MSA|AR|M1\n", "|200^Unsupported message type^HL70357|"],
        );
        check(
            &A04.replace("ADT^A04^ADT_A01", "ADT^A02^ADT_A02"),
            &["MSA|AR|M1\n", "|201^Unsupported event code^HL70357|"],
        );
        check(&A04.replace("|M1|P|", "|M1|X|"), &["MSA|AR|M1\n", "ERR||MSH^1^11^1|202^"]);
    }

    #[test]
    fn errors_on_bad_content_with_err_locations() {
        let no_pid3 = A04.replace("PID|1||C1^^^EHR^PI||", "PID|1||||");
        check(&no_pid3, &["MSA|AE|M1\n", "ERR||PID^3^3^1|101^Required field missing^HL70357|E"]);
        let no_pv1 = A04.replace("PV1|1|O\r", "");
        check(&no_pv1, &["MSA|AE|M1\n", "|100^Segment sequence error^HL70357|E"]);
        let latin1_undeclared = A04.replace("Doe", "D\u{f8}e");
        check(&latin1_undeclared, &["MSA|AE|M1\n", "|102^Data type error^HL70357|E"]);
    }

    #[test]
    fn err_segments_are_capped() {
        // Every segment of a long run misses PID-3 and PID-5.
        let many = format!("{A04}{}", "PID|1\r".repeat(5000));
        let ack = answer(&many);
        assert!(ack.contains("MSA|AE|M1\n"), "{ack}");
        assert_eq!(ack.matches("\nERR|").count(), MAX_ACK_ERRORS + 1, "{ack}");
        assert!(ack.contains("more empty required fields not listed"), "{ack}");
    }

    #[test]
    fn enhanced_mode_follows_msh15() {
        let enhanced =
            |condition: &str| A04.replace("|M1|P|2.5\r", &format!("|M1|P|2.5|||{condition}|NE\r"));
        check(&enhanced("AL"), &["MSA|CA|M1\n"]);
        assert_eq!(answer(&enhanced("NE")), "(no ack)");
        assert_eq!(answer(&enhanced("ER")), "(no ack)");
        check(&enhanced("SU"), &["MSA|CA|M1\n"]);
        let bad = enhanced("ER").replace("ADT^A04^ADT_A01", "ORU^R01^ORU_R01");
        check(&bad, &["MSA|CR|M1\n"]);
        assert_eq!(
            answer(&enhanced("SU").replace("ADT^A04^ADT_A01", "ORU^R01^ORU_R01")),
            "(no ack)"
        );
    }

    #[test]
    fn every_valid_corpus_message_of_a_handled_kind_is_accepted() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/adt");
        let mut accepted = 0;
        for entry in std::fs::read_dir(root).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let message = Message::parse(&bytes).unwrap();
            let decision = decide(&message, &ResponderConfig::default());
            let event =
                format!("{}^{}", message.message_code().unwrap(), message.trigger_event().unwrap());
            if ResponderConfig::default().events.is_some_and(|events| events.contains(&event)) {
                assert_eq!(decision, Decision::Accept, "{event} {:?}", message.control_id());
                accepted += 1;
            }
        }
        assert!(accepted >= 15, "{accepted}");
    }
}
