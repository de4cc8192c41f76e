//! The ACK builder: the acknowledgment a receiver returns, exactly as the standard says
//! (HL7 v2.5.1 ch. 2: message processing rules, the ACK message, the MSH, MSA and ERR segments).
//!
//! - MSH-1/MSH-2: the same delimiters as the message acknowledged.
//! - MSH-3/4 (sending application/facility) are the original MSH-5/6 and MSH-5/6 the original
//!   MSH-3/4: the receiver answers from where it was addressed.
//! - MSH-9: `ACK^<trigger>^ACK` from v2.3.1 on (MSH-9.3 message structure; required from v2.4),
//!   `ACK^<trigger>` in v2.3 and earlier, where MSH-9 has only two components.
//! - MSH-10: a new control id of the receiver's; MSA-2 carries the original MSH-10.
//! - MSH-11 and MSH-12 echo the message; MSH-18 echoes its character set.
//! - MSA-1: AA/AE/AR in original mode, CA/CE/CR for the accept acknowledgment of enhanced mode.
//! - ERR for every error or reject, in the layout of the message's version (ERR-1 ELD before
//!   v2.5; ERR-2 location, ERR-3 code from table 0357 and ERR-4 severity from v2.5 on).

use super::delimiters::{Delimiters, SEGMENT_TERMINATOR};
use super::escape::escape;
use super::message::{Message, Segment};
use super::path::Path;
use super::value::Value;
use std::borrow::Cow;
use std::fmt;

/// MSA-1 acknowledgment code (HL7 table 0008).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckCode {
    ApplicationAccept,
    ApplicationError,
    ApplicationReject,
    CommitAccept,
    CommitError,
    CommitReject,
}

impl AckCode {
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::ApplicationAccept => "AA",
            AckCode::ApplicationError => "AE",
            AckCode::ApplicationReject => "AR",
            AckCode::CommitAccept => "CA",
            AckCode::CommitError => "CE",
            AckCode::CommitReject => "CR",
        }
    }

    pub fn parse(code: &str) -> Option<AckCode> {
        Some(match code {
            "AA" => AckCode::ApplicationAccept,
            "AE" => AckCode::ApplicationError,
            "AR" => AckCode::ApplicationReject,
            "CA" => AckCode::CommitAccept,
            "CE" => AckCode::CommitError,
            "CR" => AckCode::CommitReject,
            _ => return None,
        })
    }

    /// True for AA and CA.
    pub fn is_accept(self) -> bool {
        matches!(self, AckCode::ApplicationAccept | AckCode::CommitAccept)
    }

    /// True for the enhanced-mode accept acknowledgment codes CA, CE, CR.
    pub fn is_commit(self) -> bool {
        matches!(self, AckCode::CommitAccept | AckCode::CommitError | AckCode::CommitReject)
    }
}

impl fmt::Display for AckCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which acknowledgment mode the sender asked for (ch. 2, "acknowledgments: original mode" and
/// "enhanced mode"): enhanced when MSH-15 (accept acknowledgment type) or MSH-16 (application
/// acknowledgment type) is valued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    Original,
    Enhanced,
}

impl AckMode {
    pub fn of(message: &Message<'_>) -> AckMode {
        let valued = |n| message.header_bytes(n).is_some_and(|v| !v.is_empty());
        if valued(15) || valued(16) {
            AckMode::Enhanced
        } else {
            AckMode::Original
        }
    }
}

/// A message-specific response: the message code and trigger event a message chapter names as
/// the response to a message, in place of the general acknowledgment `ACK^<trigger>^ACK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecificResponse {
    /// MSH-9.1 of the response, e.g. `MFK`.
    pub code: &'static str,
    /// MSH-9.2 of the response, e.g. `M02` for an MFN^M02, `O02` for an ORM^O01.
    pub trigger: String,
}

/// Order messages and their responses, (message, trigger, response, response trigger): HL7 v2.5.1
/// ch. 4 (ORM^O01 → ORR^O02, v2.2–v2.5.1; OML^O21 → ORL^O22 from v2.4, OML^O33/O35 → ORL^O34/O36
/// from v2.5; OMG, OMD, OMS, OMN, OMP, OMI, OMB) and ch. 4A (RDE^O11 → RRE^O12 from v2.4, RDE^O01
/// → RRE^O02 in v2.3/v2.3.1, RDE^O25 → RRE^O26, RDS, RGV, RAS), as the event maps of the
/// standard's database list them.
const ORDER_RESPONSES: &[(&str, &str, &str, &str)] = &[
    ("ORM", "O01", "ORR", "O02"),
    ("OML", "O21", "ORL", "O22"),
    ("OML", "O33", "ORL", "O34"),
    ("OML", "O35", "ORL", "O36"),
    ("OMD", "O03", "ORD", "O04"),
    ("OMS", "O05", "ORS", "O06"),
    ("OMN", "O07", "ORN", "O08"),
    ("OMP", "O09", "ORP", "O10"),
    ("OMG", "O19", "ORG", "O20"),
    ("OMI", "O23", "ORI", "O24"),
    ("OMB", "O27", "ORB", "O28"),
    ("RDE", "O01", "RRE", "O02"),
    ("RDE", "O11", "RRE", "O12"),
    ("RDE", "O25", "RRE", "O26"),
    ("RDS", "O13", "RRD", "O14"),
    ("RGV", "O15", "RRG", "O16"),
    ("RAS", "O17", "RRA", "O18"),
];

/// The message-specific response the standard names for a message of `code` and `trigger`, if
/// any: master files (ch. 8: MFN^Mnn is answered by MFK^Mnn, structure MFK_M01), queries by
/// parameter (ch. 5 and the query's conformance statement in ch. 3: QBP^Qnn is answered by
/// RSP^Knn, e.g. QBP^Q22 → RSP^K22), and the orders of [`ORDER_RESPONSES`]. The general
/// acknowledgment is allowed besides (ch. 2: ACK for accept acknowledgments and where an error
/// precludes processing).
pub fn specific_response(code: &str, trigger: &str) -> Option<SpecificResponse> {
    let numbered = |prefix: char| {
        let digits = trigger.strip_prefix(prefix)?;
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
    };
    match code {
        "MFN" => numbered('M').map(|_| SpecificResponse { code: "MFK", trigger: trigger.into() }),
        "QBP" => numbered('Q')
            .map(|digits| SpecificResponse { code: "RSP", trigger: format!("K{digits}") }),
        _ => ORDER_RESPONSES.iter().find(|(c, t, _, _)| *c == code && *t == trigger).map(
            |(_, _, response, trigger)| SpecificResponse {
                code: response,
                trigger: (*trigger).to_string(),
            },
        ),
    }
}

/// HL7 table 0357, message error condition codes, as used in ERR-3 (ERR-1.4 before v2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCondition {
    SegmentSequenceError,
    RequiredFieldMissing,
    DataTypeError,
    TableValueNotFound,
    UnsupportedMessageType,
    UnsupportedEventCode,
    UnsupportedProcessingId,
    UnsupportedVersionId,
    UnknownKeyIdentifier,
    DuplicateKeyIdentifier,
    ApplicationRecordLocked,
    ApplicationInternalError,
}

impl ErrorCondition {
    pub fn code(self) -> &'static str {
        match self {
            ErrorCondition::SegmentSequenceError => "100",
            ErrorCondition::RequiredFieldMissing => "101",
            ErrorCondition::DataTypeError => "102",
            ErrorCondition::TableValueNotFound => "103",
            ErrorCondition::UnsupportedMessageType => "200",
            ErrorCondition::UnsupportedEventCode => "201",
            ErrorCondition::UnsupportedProcessingId => "202",
            ErrorCondition::UnsupportedVersionId => "203",
            ErrorCondition::UnknownKeyIdentifier => "204",
            ErrorCondition::DuplicateKeyIdentifier => "205",
            ErrorCondition::ApplicationRecordLocked => "206",
            ErrorCondition::ApplicationInternalError => "207",
        }
    }

    /// The table's own description of the code.
    pub fn text(self) -> &'static str {
        match self {
            ErrorCondition::SegmentSequenceError => "Segment sequence error",
            ErrorCondition::RequiredFieldMissing => "Required field missing",
            ErrorCondition::DataTypeError => "Data type error",
            ErrorCondition::TableValueNotFound => "Table value not found",
            ErrorCondition::UnsupportedMessageType => "Unsupported message type",
            ErrorCondition::UnsupportedEventCode => "Unsupported event code",
            ErrorCondition::UnsupportedProcessingId => "Unsupported processing id",
            ErrorCondition::UnsupportedVersionId => "Unsupported version id",
            ErrorCondition::UnknownKeyIdentifier => "Unknown key identifier",
            ErrorCondition::DuplicateKeyIdentifier => "Duplicate key identifier",
            ErrorCondition::ApplicationRecordLocked => "Application record locked",
            ErrorCondition::ApplicationInternalError => "Application internal error",
        }
    }

    pub fn parse(code: &str) -> Option<ErrorCondition> {
        ErrorCondition::ALL.into_iter().find(|c| c.code() == code)
    }

    /// Every condition of table 0357 that the builder knows.
    pub const ALL: [ErrorCondition; 12] = [
        ErrorCondition::SegmentSequenceError,
        ErrorCondition::RequiredFieldMissing,
        ErrorCondition::DataTypeError,
        ErrorCondition::TableValueNotFound,
        ErrorCondition::UnsupportedMessageType,
        ErrorCondition::UnsupportedEventCode,
        ErrorCondition::UnsupportedProcessingId,
        ErrorCondition::UnsupportedVersionId,
        ErrorCondition::UnknownKeyIdentifier,
        ErrorCondition::DuplicateKeyIdentifier,
        ErrorCondition::ApplicationRecordLocked,
        ErrorCondition::ApplicationInternalError,
    ];
}

/// One error to report in an ERR segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    pub condition: ErrorCondition,
    /// Where the error is, e.g. `PID-3`; `None` for message-level errors.
    pub location: Option<Path>,
    /// 1-based position of the segment in the message (ERR-2.2 segment sequence).
    pub segment_sequence: Option<usize>,
    /// Free text for a human (ERR-8 user message from v2.5; ERR-1.4.2 before).
    pub text: Option<String>,
}

impl AckError {
    pub fn new(condition: ErrorCondition) -> Self {
        AckError { condition, location: None, segment_sequence: None, text: None }
    }

    pub fn at(mut self, location: Path, segment_sequence: Option<usize>) -> Self {
        self.location = Some(location);
        self.segment_sequence = segment_sequence;
        self
    }

    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }
}

/// Builds the acknowledgment of one message. The clock and the control-id source are the
/// caller's, so the same inputs always give the same bytes.
#[derive(Debug, Clone)]
pub struct AckBuilder<'m, 'a> {
    original: &'m Message<'a>,
    code: AckCode,
    control_id: Cow<'m, str>,
    timestamp: Cow<'m, str>,
    errors: Vec<AckError>,
    text: Option<String>,
}

impl<'m, 'a> AckBuilder<'m, 'a> {
    /// `control_id` becomes the ACK's MSH-10; `timestamp` its MSH-7 (`YYYYMMDDHHMMSS[+ZZZZ]`).
    pub fn new(
        original: &'m Message<'a>,
        code: AckCode,
        control_id: impl Into<Cow<'m, str>>,
        timestamp: impl Into<Cow<'m, str>>,
    ) -> Self {
        AckBuilder {
            original,
            code,
            control_id: control_id.into(),
            timestamp: timestamp.into(),
            errors: Vec::new(),
            text: None,
        }
    }

    pub fn error(mut self, error: AckError) -> Self {
        self.errors.push(error);
        self
    }

    /// MSA-3 text message (kept for versions before v2.5, where ERR-8 does not exist yet).
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// The ACK's bytes, segments ending with CR. MSH and MSA are written straight into the
    /// output (the reference endpoint builds one per message it receives).
    pub fn build(&self) -> Vec<u8> {
        let original = self.original;
        let d = *original.delimiters();
        let raw = |n: usize| original.header_bytes(n).unwrap_or_default();
        let version = original.version().unwrap_or("");
        let version_rank = version_rank(version);

        let mut out = Vec::with_capacity(256);
        let mut msh = SegmentWriter::start(&mut out, b"MSH", d.field);
        msh.field(d.encoding_characters_array().as_slice());
        // MSH-3..6: swapped (ch. 2, MSH-3..6; the receiver answers from where it was addressed).
        msh.field(raw(5));
        msh.field(raw(6));
        msh.field(raw(3));
        msh.field(raw(4));
        msh.field(&timestamp(&self.timestamp, &d));
        msh.field(b""); // MSH-8 security
        msh.field_with(|out| self.message_type(&d, version_rank, out));
        msh.field(&text(&self.control_id, &d));
        msh.field(raw(11));
        msh.field(raw(12));
        let charset = raw(18);
        if !charset.is_empty() {
            for _ in 13..=17 {
                msh.field(b"");
            }
            msh.field(charset);
        }
        msh.end();

        out.push(SEGMENT_TERMINATOR);
        let mut msa = SegmentWriter::start(&mut out, b"MSA", d.field);
        msa.field(self.code.as_str().as_bytes());
        msa.field(raw(10));
        let msa_text = self.text.as_deref().or_else(|| {
            // Before v2.5 MSA-3 is the usual place for the reason; from v2.5 ERR-8 carries it.
            (version_rank < V2_5).then(|| self.errors.first()?.text.as_deref()).flatten()
        });
        if let Some(t) = msa_text {
            msa.field(&text(t, &d));
        }
        msa.end();
        for segment in self.err_segments(&d, version_rank) {
            out.push(SEGMENT_TERMINATOR);
            out.extend(join(&segment[0], &segment[1..], d.field));
        }
        out.push(SEGMENT_TERMINATOR);
        out
    }

    /// MSH-9 of the ACK: `ACK^<trigger>^ACK` (v2.3.1 and later) or `ACK^<trigger>` (v2.3).
    fn message_type(&self, d: &Delimiters, version_rank: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(b"ACK");
        let trigger = self.original.trigger_event().unwrap_or("");
        if version_rank >= V2_3_1 {
            out.push(d.component);
            out.extend_from_slice(&text(trigger, d));
            out.push(d.component);
            out.extend_from_slice(b"ACK");
        } else if !trigger.is_empty() {
            out.push(d.component);
            out.extend_from_slice(&text(trigger, d));
        }
    }

    /// ERR segments for every error, in the layout of the acknowledged message's version. An
    /// AE/AR/CE/CR built without an explicit error still gets one ERR (ch. 2: ERR accompanies
    /// every error or reject), with code 207 as the most general condition.
    fn err_segments(&self, d: &Delimiters, version_rank: u32) -> Vec<Vec<Vec<u8>>> {
        let fallback;
        let errors: &[AckError] = if self.errors.is_empty() && !self.code.is_accept() {
            fallback = [AckError::new(ErrorCondition::ApplicationInternalError)];
            &fallback
        } else {
            &self.errors
        };
        errors.iter().map(|e| err_segment(e, d, version_rank)).collect()
    }
}

fn err_segment(error: &AckError, d: &Delimiters, version_rank: u32) -> Vec<Vec<u8>> {
    let c = d.component;
    let sub = d.subcomponent.unwrap_or(d.component);
    let location = error.location.as_ref();
    let number = |n: Option<usize>| n.map(|n| n.to_string()).unwrap_or_default();
    if version_rank < V2_5 {
        // ERR-1 ELD: segment ID ^ sequence ^ field position ^ code (CE: id & text & table).
        let mut eld = Vec::new();
        eld.extend_from_slice(&text(location.map_or("", |p| p.segment_id()), d));
        eld.push(c);
        eld.extend(number(error.segment_sequence).as_bytes());
        eld.push(c);
        eld.extend(number(location.and_then(|p| p.field)).as_bytes());
        eld.push(c);
        eld.extend(error.condition.code().as_bytes());
        eld.push(sub);
        eld.extend_from_slice(&text(error.text.as_deref().unwrap_or(error.condition.text()), d));
        eld.push(sub);
        eld.extend_from_slice(b"HL70357");
        return vec![b"ERR".to_vec(), eld];
    }
    // v2.5+: ERR-2 ERL (segment ^ sequence ^ field ^ repetition ^ component ^ subcomponent),
    // ERR-3 CWE from table 0357, ERR-4 severity (table 0516: E error), ERR-8 user message.
    let mut erl = Vec::new();
    if let Some(p) = location {
        let parts = [
            p.segment_id().to_string(),
            number(error.segment_sequence.or(Some(1))),
            number(p.field),
            number(p.field.map(|_| p.repetition.unwrap_or(1))),
            number(p.component),
            number(p.subcomponent),
        ];
        let used = parts.iter().rposition(|s| !s.is_empty()).map_or(0, |i| i + 1);
        for (i, part) in parts[..used].iter().enumerate() {
            if i > 0 {
                erl.push(c);
            }
            erl.extend(part.as_bytes());
        }
    }
    let mut code = error.condition.code().as_bytes().to_vec();
    code.push(c);
    code.extend_from_slice(&text(error.condition.text(), d));
    code.push(c);
    code.extend_from_slice(b"HL70357");
    let mut fields = vec![b"ERR".to_vec(), Vec::new(), erl, code, b"E".to_vec()];
    if let Some(t) = &error.text {
        fields.extend([Vec::new(), Vec::new(), Vec::new()]);
        fields.push(text(t, d).into_owned());
    }
    fields
}

const V2_3_1: u32 = 2_03_01;
const V2_5: u32 = 2_05_00;

/// `2.5.1` → 20501, for ordering versions; unknown or empty versions rank as the newest, so the
/// builder then uses the current layout.
fn version_rank(version: &str) -> u32 {
    let mut parts = version.trim().split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor), patch) => major * 10_000 + minor * 100 + patch.unwrap_or(0),
        _ => u32::MAX,
    }
}

/// `value` escaped for the delimiters. Text the harness writes is ASCII or already in the
/// message's character set; only the delimiters need escaping.
fn text<'v>(value: &'v str, d: &Delimiters) -> Cow<'v, [u8]> {
    match escape(value.as_bytes(), d) {
        Ok(escaped) => escaped,
        // No escape character declared: drop the bytes that would break the structure.
        Err(_) => Cow::Owned(value.bytes().filter(|b| !d.is_special(*b)).collect()),
    }
}

/// MSH-7: a timestamp cannot be escaped (escapes are for text), so when its zone sign is one of
/// the message's delimiters (e.g. `+` as escape character) the zone offset is left out, which
/// TS/DTM allows.
fn timestamp<'v>(value: &'v str, d: &Delimiters) -> Cow<'v, [u8]> {
    let clean = |v: &str| v.bytes().all(|b| !d.is_special(b));
    if clean(value) {
        return Cow::Borrowed(value.as_bytes());
    }
    let without_zone = value.split(['+', '-']).next().unwrap_or("");
    if clean(without_zone) {
        Cow::Borrowed(without_zone.as_bytes())
    } else {
        Cow::Owned(value.bytes().filter(|b| b.is_ascii_digit()).collect())
    }
}

/// Joins a segment id and its fields with the field separator, dropping trailing empty fields.
/// For MSH the first "field" is MSH-2, and the separator before it is MSH-1 itself.
/// Writes one segment's fields after its id into an output, leaving out trailing empty fields
/// as [`join`] does.
struct SegmentWriter<'o> {
    out: &'o mut Vec<u8>,
    separator: u8,
    /// Where the segment ends if no more non-empty field follows.
    keep: usize,
}

impl<'o> SegmentWriter<'o> {
    fn start(out: &'o mut Vec<u8>, id: &[u8], separator: u8) -> SegmentWriter<'o> {
        out.extend_from_slice(id);
        let keep = out.len();
        SegmentWriter { out, separator, keep }
    }

    fn field(&mut self, bytes: &[u8]) {
        self.out.push(self.separator);
        self.out.extend_from_slice(bytes);
        if !bytes.is_empty() {
            self.keep = self.out.len();
        }
    }

    /// A field that `write` appends to the output.
    fn field_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        self.out.push(self.separator);
        let before = self.out.len();
        write(self.out);
        if self.out.len() > before {
            self.keep = self.out.len();
        }
    }

    fn end(self) {
        self.out.truncate(self.keep);
    }
}

fn join(id: &[u8], fields: &[Vec<u8>], separator: u8) -> Vec<u8> {
    let mut out = id.to_vec();
    let used = fields.iter().rposition(|f| !f.is_empty()).map_or(0, |i| i + 1);
    for field in &fields[..used] {
        out.push(separator);
        out.extend_from_slice(field);
    }
    out
}

/// The MSA segment of an acknowledgment: the first one (HL7 v2.5.1 ch. 2, the message
/// acknowledgment segment; an ACK carries one). Every reader of a received ACK finds MSA here.
pub fn msa_segment<'a>(ack: &Message<'a>) -> Option<Segment<'a>> {
    ack.find_segment("MSA", 1)
}

/// MSA-`n` as it stands in the bytes, escapes not decoded: what a fault log shows and what
/// the echo checks compare byte for byte with the MSH-10 sent. [`ReceivedAck`] holds the
/// decoded text.
pub fn msa_field<'a>(ack: &Message<'a>, n: usize) -> Option<Value<'a>> {
    msa_segment(ack)?.field(n)
}

/// MSA-`n` as it stands in the bytes, shown as text (escapes kept, bytes that are not UTF-8
/// replaced); `None` without an MSA segment or that field.
pub fn msa_raw(ack: &Message<'_>, n: usize) -> Option<String> {
    msa_field(ack, n).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// What a received acknowledgment says, as a sender judges delivery by it: MSA-1, MSA-2 (the
/// MSH-10 it acknowledges) and the reason of a negative ACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedAck {
    pub msa1: String,
    pub msa2: String,
    /// MSA-3 (before v2.5), ERR-8, ERR-3.2 or ERR-1.4.2, the first one not empty.
    pub text: Option<String>,
}

/// Where an ACK's error text is when MSA-3 has none, in order: ERR-8 (user message, v2.5+),
/// ERR-3.2 (the error code's text, v2.5+), ERR-1.4.2 (v2.3–v2.4's code and location), parsed
/// once.
static ERROR_TEXT: std::sync::LazyLock<Vec<Path>> = std::sync::LazyLock::new(|| {
    ["ERR-8", "ERR-3.2", "ERR-1.4.2"].iter().filter_map(|p| Path::parse(p).ok()).collect()
});

impl ReceivedAck {
    /// Reads the fields from a parsed message; absent fields are empty.
    pub fn of(ack: &Message<'_>) -> ReceivedAck {
        let text_of =
            |value: Option<Value<'_>>| value.map(|v| ack.text(&v).into_owned()).unwrap_or_default();
        let msa = |n| text_of(msa_field(ack, n));
        // The first text there is, each place read only when the ones before it are empty.
        let text = std::iter::once_with(|| msa(3))
            .chain(ERROR_TEXT.iter().map(|path| text_of(ack.get(path))))
            .find(|t| !t.is_empty());
        ReceivedAck { msa1: msa(1), msa2: msa(2), text }
    }

    /// `None` when the bytes are not an HL7 message.
    pub fn parse(bytes: &[u8]) -> Option<ReceivedAck> {
        Message::parse(bytes).ok().map(|m| ReceivedAck::of(&m))
    }

    /// AA or CA.
    pub fn is_accept(&self) -> bool {
        self.msa1 == "AA" || self.msa1 == "CA"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error text comes from the first place that has one: MSA-3, ERR-8, ERR-3.2,
    /// ERR-1.4.2 (all three paths read).
    #[test]
    fn error_text_from_the_first_place_that_has_one() {
        assert_eq!(ERROR_TEXT.len(), 3);
        let text = |tail: &str| {
            let ack = format!("MSH|^~\\&|R|R|S|S|1||ACK|9|P|2.5\rMSA|AE|M1{tail}");
            ReceivedAck::parse(ack.as_bytes()).and_then(|a| a.text)
        };
        assert_eq!(text("\r"), None);
        assert_eq!(
            text("|in MSA\rERR|||207^in ERR-3^HL70357|E||||in ERR-8\r").as_deref(),
            Some("in MSA")
        );
        assert_eq!(
            text("\rERR|||207^in ERR-3^HL70357|E||||in ERR-8\r").as_deref(),
            Some("in ERR-8")
        );
        assert_eq!(text("\rERR|||207^in ERR-3^HL70357|E\r").as_deref(), Some("in ERR-3"));
        assert_eq!(text("\rERR|PID^1^5^101&in ERR-1\r").as_deref(), Some("in ERR-1"));
    }

    #[test]
    fn message_specific_responses_by_chapter() {
        let response = |c, t| specific_response(c, t).map(|r| format!("{}^{}", r.code, r.trigger));
        assert_eq!(response("MFN", "M02").as_deref(), Some("MFK^M02"));
        assert_eq!(response("ORM", "O01").as_deref(), Some("ORR^O02"));
        assert_eq!(response("OML", "O21").as_deref(), Some("ORL^O22"));
        assert_eq!(response("RDE", "O11").as_deref(), Some("RRE^O12"));
        assert_eq!(response("QBP", "Q22").as_deref(), Some("RSP^K22"));
        assert_eq!(response("ADT", "A04"), None);
        assert_eq!(response("MFN", ""), None);
        assert_eq!(response("QBP", "Qx"), None);
    }

    fn ack(input: &str, code: AckCode, errors: Vec<AckError>) -> String {
        let message = Message::parse(input.as_bytes()).unwrap();
        let mut builder = AckBuilder::new(&message, code, "ACK1", "20240102030405");
        for error in errors {
            builder = builder.error(error);
        }
        String::from_utf8(builder.build()).unwrap().replace('\r', "\n")
    }

    const V25: &str = "MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20240101||ADT^A04^ADT_A01|MSG00001|P|2.5\rPID|1||123||Doe^John\r";

    #[test]
    fn accept_v25() {
        assert_eq!(
            ack(V25, AckCode::ApplicationAccept, vec![]),
            "MSH|^~\\&|RECVAPP|RECVFAC|SENDAPP|SENDFAC|20240102030405||ACK^A04^ACK|ACK1|P|2.5\nMSA|AA|MSG00001\n"
        );
    }

    #[test]
    fn timestamp_zone_left_out_when_its_sign_is_a_delimiter() {
        let input = "MSH;:/+%;A;B;C;D;2024;;ADT:A08;M1;P;2.3.1\r";
        let message = Message::parse(input.as_bytes()).unwrap();
        let built =
            AckBuilder::new(&message, AckCode::ApplicationAccept, "A1", "20240102030405+0100");
        let text = String::from_utf8(built.build()).unwrap();
        assert!(text.starts_with("MSH;:/+%;C;D;A;B;20240102030405;;ACK:A08:ACK;A1"), "{text}");
        let plain =
            AckBuilder::new(&message, AckCode::ApplicationAccept, "A1", "20240102030405-0100");
        assert!(String::from_utf8(plain.build()).unwrap().contains(";20240102030405-0100;"));
    }

    #[test]
    fn error_v25_has_err() {
        let error = AckError::new(ErrorCondition::RequiredFieldMissing)
            .at(Path::parse("PID-3").unwrap(), Some(2))
            .with_text("PID-3 is empty");
        assert_eq!(
            ack(V25, AckCode::ApplicationError, vec![error]),
            "MSH|^~\\&|RECVAPP|RECVFAC|SENDAPP|SENDFAC|20240102030405||ACK^A04^ACK|ACK1|P|2.5\nMSA|AE|MSG00001\nERR||PID^2^3^1|101^Required field missing^HL70357|E||||PID-3 is empty\n"
        );
    }

    #[test]
    fn reject_without_detail_still_has_err() {
        let got = ack(V25, AckCode::ApplicationReject, vec![]);
        assert!(
            got.ends_with("MSA|AR|MSG00001\nERR|||207^Application internal error^HL70357|E\n"),
            "{got}"
        );
    }

    #[test]
    fn v23_layout() {
        let input = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X9|T|2.3\rPID|1\r";
        let error = AckError::new(ErrorCondition::UnsupportedEventCode);
        assert_eq!(
            ack(input, AckCode::ApplicationReject, vec![error]),
            "MSH|^~\\&|C|D|A|B|20240102030405||ACK^A01|ACK1|T|2.3\nMSA|AR|X9\nERR|^^^201&Unsupported event code&HL70357\n"
        );
    }

    #[test]
    fn text_is_escaped() {
        let error = AckError::new(ErrorCondition::DataTypeError).with_text("a|b^c");
        let got = ack(V25, AckCode::ApplicationError, vec![error]);
        assert!(got.contains("|E||||a\\F\\b\\S\\c\n"), "{got}");
    }

    #[test]
    fn custom_delimiters_and_charset_echoed() {
        let input = "MSH$%#!($A$B$C$D$20240101$$ADT%A08$X1$P$2.6$$$$$$UNICODE UTF-8\rPID$1\r";
        assert_eq!(
            ack(input, AckCode::ApplicationAccept, vec![]),
            "MSH$%#!($C$D$A$B$20240102030405$$ACK%A08%ACK$ACK1$P$2.6$$$$$$UNICODE UTF-8\nMSA$AA$X1\n"
        );
    }

    #[test]
    fn modes() {
        let enhanced = Message::parse(b"MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5|||AL|NE\r").unwrap();
        assert_eq!(AckMode::of(&enhanced), AckMode::Enhanced);
        assert_eq!(AckMode::of(&Message::parse(V25.as_bytes()).unwrap()), AckMode::Original);
        assert_eq!(AckCode::parse("CE"), Some(AckCode::CommitError));
        assert!(AckCode::CommitAccept.is_commit() && AckCode::CommitAccept.is_accept());
        assert_eq!(ErrorCondition::parse("203"), Some(ErrorCondition::UnsupportedVersionId));
    }

    /// MSA is found in one place: the raw field keeps escapes (logs, the byte-for-byte echo
    /// checks), ReceivedAck decodes them, both read the first MSA; absent fields differ.
    #[test]
    fn msa_raw_and_received_read_the_same_segment() {
        let bytes = b"MSH|^~\\&|R|F|S|F|2026||ACK|A1|P|2.5\rMSA|AE|M\\F\\1|bad\rMSA|AA|X\r";
        let ack = Message::parse(bytes).unwrap();
        assert_eq!(msa_raw(&ack, 1).as_deref(), Some("AE"));
        assert_eq!(msa_raw(&ack, 2).as_deref(), Some("M\\F\\1"));
        assert_eq!(msa_field(&ack, 2).map(|v| v.offset()), Some(43));
        assert_eq!(msa_raw(&ack, 4), None);
        let received = ReceivedAck::of(&ack);
        assert_eq!((received.msa1.as_str(), received.msa2.as_str()), ("AE", "M|1"));
        assert_eq!(received.text.as_deref(), Some("bad"));
        let no_msa = Message::parse(b"MSH|^~\\&|R|F|S|F|2026||ACK|A1|P|2.5\r").unwrap();
        assert!(msa_segment(&no_msa).is_none() && msa_raw(&no_msa, 1).is_none());
        assert_eq!(ReceivedAck::of(&no_msa).msa1, "");
    }
}
