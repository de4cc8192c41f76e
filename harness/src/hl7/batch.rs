//! Splitting files into messages: HL7 batch files (FHS/BHS … BTS/FTS, HL7 v2.5.1 ch. 2, "HL7
//! batch protocol") and plain files holding several messages back to back.
//!
//! Only the boundaries are found here; each message is then parsed on its own with
//! [`super::Message::parse_with`] and an origin, so every offset it reports is a file offset.

use super::finding::{Finding, Location, Severity};
use super::message::{lines, parse_delimiters, Line, LineEnd, ParseError};
use memchr::memchr;
use std::ops::Range;

const RULE_BATCH: &str = "HL7 v2.5.1 ch. 2, HL7 batch protocol (FHS/BHS/BTS/FTS)";

/// A batch envelope segment (FHS, BHS, BTS or FTS) and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSegment {
    pub id: String,
    pub range: Range<usize>,
}

/// The messages of a file, as byte ranges, with the envelope around them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Each message from its `MSH` to the end of its last segment's terminator.
    pub messages: Vec<Range<usize>>,
    pub envelope: Vec<EnvelopeSegment>,
    /// Problems with the envelope: counts that do not match, segments outside any message.
    pub findings: Vec<Finding>,
}

impl Batch {
    pub fn is_batch(&self) -> bool {
        !self.envelope.is_empty()
    }
}

const ENVELOPE: [&[u8]; 4] = [b"FHS", b"BHS", b"BTS", b"FTS"];

/// Finds the messages in `bytes`. Fails only when the first segment is neither MSH nor a batch
/// header: a file that is not HL7 at all.
pub fn split_batch(bytes: &[u8]) -> Result<Batch, ParseError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(bytes);
    let start = bytes.len() - body.len();
    let first = lines(bytes, start).find(|l| !l.range.is_empty());
    let Some(first) = first else {
        return Err(ParseError::NotHl7 { offset: start, found: String::new() });
    };
    // The envelope and the messages share the delimiters of the first header.
    let delimiters = parse_delimiters(&bytes[first.range.start..], first.range.start)?;
    let mut batch = Batch::default();
    let mut current: Option<Range<usize>> = None;
    let mut stray_reported = false;
    for line in lines(bytes, first.range.start) {
        let text = &bytes[line.range.clone()];
        if text.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let id = &text[..text.len().min(3)];
        // A segment id is exactly three characters (ch. 2, segment ID): "BTSTQ1|…" is a bad
        // segment inside the current message, not a batch trailer.
        let exact = text.len() == 3 || text.get(3) == Some(&delimiters.field);
        let line_end = next_line_start(bytes, &line);
        if exact && ENVELOPE.contains(&id) {
            batch.messages.extend(current.take());
            let id = String::from_utf8_lossy(id).into_owned();
            batch.envelope.push(EnvelopeSegment { id, range: line.range.clone() });
        } else if exact && id == b"MSH" {
            batch.messages.extend(current.take());
            current = Some(line.range.start..line_end);
        } else if let Some(message) = current.as_mut() {
            message.end = line_end;
        } else if !stray_reported {
            stray_reported = true;
            batch.findings.push(Finding::new(
                "segment-outside-message",
                Severity::Error,
                Location::at_offset(line.range.start),
                format!("segment {:?} is not inside a message (no MSH before it)", lossy(id)),
                RULE_BATCH,
            ));
        }
    }
    batch.messages.extend(current);
    // A byte-order mark belongs to the first message, whose parse reports it.
    if let Some(first) = batch.messages.first_mut() {
        if first.start == start && start > 0 {
            first.start = 0;
        }
    }
    // Line endings are not reported here: each message's own parse reports them.
    let count_findings = check_counts(bytes, &batch, delimiters.field);
    batch.findings.extend(count_findings);
    Ok(batch)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Offset just after the line's terminator.
fn next_line_start(bytes: &[u8], line: &Line) -> usize {
    let end = line.range.end;
    match line.end {
        LineEnd::Cr | LineEnd::Lf => end + 1,
        LineEnd::CrLf => end + 2,
        LineEnd::Eof => bytes.len().min(end),
    }
}

/// BTS-1 (batch message count) and FTS-1 (file batch count) must match what the file holds.
fn check_counts(bytes: &[u8], batch: &Batch, field: u8) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut messages_in_batch = 0usize;
    let mut batches = 0usize;
    let mut message_iter = batch.messages.iter().peekable();
    for segment in &batch.envelope {
        while message_iter.peek().is_some_and(|m| m.start < segment.range.start) {
            message_iter.next();
            messages_in_batch += 1;
        }
        let (expected, what) = match segment.id.as_str() {
            "BHS" => {
                messages_in_batch = 0;
                continue;
            }
            "BTS" => {
                batches += 1;
                (messages_in_batch, "BTS-1 batch message count")
            }
            "FTS" => (batches, "FTS-1 file batch count"),
            _ => continue,
        };
        let text = &bytes[segment.range.clone()];
        let Some(count) = first_field(text, field) else { continue };
        let Ok(declared) = std::str::from_utf8(count).unwrap_or("").trim().parse::<usize>() else {
            continue;
        };
        if declared != expected {
            findings.push(Finding::new(
                "batch-count-mismatch",
                Severity::Error,
                Location::at_offset(segment.range.start),
                format!("{what} says {declared} but the file holds {expected}"),
                RULE_BATCH,
            ));
        }
    }
    findings
}

/// Field 1 of a non-header segment, when valued.
fn first_field(segment: &[u8], field: u8) -> Option<&[u8]> {
    let rest = segment.get(4..)?;
    let end = memchr(field, rest).unwrap_or(rest.len());
    let value = &rest[..end];
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(input: &[u8]) -> Vec<&[u8]> {
        let batch = split_batch(input).unwrap();
        batch.messages.iter().map(|r| &input[r.clone()]).collect()
    }

    fn codes(input: &[u8]) -> Vec<&'static str> {
        split_batch(input).unwrap().findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn splits() {
        assert_eq!(messages(b"MSH|^~\\&|A\rPID|1\r"), vec![b"MSH|^~\\&|A\rPID|1\r".as_slice()]);
        assert_eq!(
            messages(b"MSH|^~\\&|A\rMSH|^~\\&|B"),
            vec![b"MSH|^~\\&|A\r".as_slice(), b"MSH|^~\\&|B"]
        );
        let file = b"FHS|^~\\&\rBHS|^~\\&\rMSH|^~\\&|A\rPID|1\rMSH|^~\\&|B\rBTS|2\rFTS|1\r";
        assert_eq!(messages(file), vec![b"MSH|^~\\&|A\rPID|1\r".as_slice(), b"MSH|^~\\&|B\r"]);
        assert!(codes(file).is_empty());
        assert!(split_batch(file).unwrap().is_batch());
        assert_eq!(
            messages(b"MSH|^~\\&|A\n\nMSH|^~\\&|B\n"),
            vec![b"MSH|^~\\&|A\n".as_slice(), b"MSH|^~\\&|B\n"]
        );
    }

    #[test]
    fn byte_order_mark_stays_with_the_first_message() {
        let file = b"\xEF\xBB\xBFMSH|^~\\&|A\rMSH|^~\\&|B\r";
        let batch = split_batch(file).unwrap();
        assert_eq!(batch.messages, vec![0..14, 14..25]);
    }

    #[test]
    fn envelope_findings() {
        assert_eq!(codes(b"BHS|^~\\&\rMSH|^~\\&|A\rBTS|3\r"), vec!["batch-count-mismatch"]);
        // Only an exact three-character id is an envelope segment (found by fuzzing).
        assert_eq!(codes(b"BHS|^~\\&\rMSH|^~\\&|A\rBTSTQ1|1\rBTS|1\r"), Vec::<&str>::new());
        assert_eq!(codes(b"FHS|^~\\&\rBHS|^~\\&\rBTS|0\rFTS|2\r"), vec!["batch-count-mismatch"]);
        assert_eq!(
            codes(b"BHS|^~\\&\rPID|1\rMSH|^~\\&|A\rBTS|1\r"),
            vec!["segment-outside-message"]
        );
        assert_eq!(split_batch(b"PID|1\r").unwrap_err().code(), "not-hl7");
        assert_eq!(split_batch(b"\r\n").unwrap_err().code(), "not-hl7");
    }
}
