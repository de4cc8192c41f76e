//! [`MessageBuf`]: an owned message that can be changed by path.
//!
//! Edits splice bytes: the segment is located, missing fields, repetitions, components and
//! subcomponents are padded with their delimiters, and only the target range is replaced. Every
//! other byte stays as it was, so an edit never reformats the rest of the message.

use super::delimiters::{Delimiters, SEGMENT_TERMINATOR};
use super::message::{nth_piece, Message, ParseError};
use super::path::Path;
use std::ops::Range;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EditError {
    #[error("{path}: MSH-1 and MSH-2 hold the delimiters; re-encode the message to change them")]
    Delimiters { path: String },
    #[error("{path}: name a field (e.g. {path}-1); only remove works on whole segments")]
    NoField { path: String },
    #[error("{path}: the message has {count} {segment} segment(s), so occurrence {wanted} cannot be created")]
    NoSuchSegment { path: String, segment: String, count: usize, wanted: usize },
    #[error("{path}: the message declares no subcomponent separator in MSH-2")]
    NoSubcomponentSeparator { path: String },
    #[error("{path}: {source}")]
    Escape {
        path: String,
        #[source]
        source: super::escape::EscapeError,
    },
    #[error("{path}: {text:?} cannot be written in the message's character set {charset}")]
    Unmappable { path: String, text: String, charset: String },
    #[error("the edited message no longer parses: {0}")]
    Broken(#[from] ParseError),
}

/// An owned, editable message. Reading goes through [`MessageBuf::message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBuf {
    bytes: Vec<u8>,
}

impl MessageBuf {
    /// Takes ownership of a message's bytes; fails when they are not a message.
    pub fn new(bytes: Vec<u8>) -> Result<MessageBuf, ParseError> {
        Message::parse(&bytes)?;
        Ok(MessageBuf { bytes })
    }

    pub fn from_message(message: &Message<'_>) -> MessageBuf {
        MessageBuf { bytes: message.encode() }
    }

    /// A parsed view of the current bytes.
    pub fn message(&self) -> Message<'_> {
        // Construction parses, and edits never touch MSH-1/MSH-2 or the leading "MSH", which are
        // all a parse can fail on.
        Message::parse(&self.bytes).expect("an edited message keeps a readable MSH header")
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub fn delimiters(&self) -> Delimiters {
        *self.message().delimiters()
    }

    /// Sets the value at `path` to `text`: encoded in the message's character set (MSH-18) and
    /// escaped (HL7 v2.5.1 ch. 2, 2.7), so that reading it back gives `text` again.
    pub fn set(&mut self, path: &Path, text: &str) -> Result<(), EditError> {
        let message = self.message();
        let charset = message.charset();
        let delimiters = *message.delimiters();
        let encoded = super::charset::encode(text, charset).map_err(|_| EditError::Unmappable {
            path: path.to_string(),
            text: text.to_string(),
            charset: charset.code().to_string(),
        })?;
        let escaped = super::escape::escape(&encoded, &delimiters)
            .map_err(|source| EditError::Escape { path: path.to_string(), source })?;
        let escaped = escaped.into_owned();
        self.set_raw(path, &escaped)
    }

    /// Sets the bytes at `path` exactly as given, delimiters and all: the way to build a
    /// deliberately broken message.
    pub fn set_raw(&mut self, path: &Path, raw: &[u8]) -> Result<(), EditError> {
        if path.is_delimiter_field() {
            return Err(EditError::Delimiters { path: path.to_string() });
        }
        let Some(field) = path.field else {
            return Err(EditError::NoField { path: path.to_string() });
        };
        let segment = self.segment_range_or_append(path)?;
        let delimiters = self.delimiters();
        let mut buf = self.bytes[segment.clone()].to_vec();
        let target = locate(&mut buf, &delimiters, path, field)?;
        buf.splice(target, raw.iter().copied());
        self.bytes.splice(segment, buf);
        Ok(())
    }

    /// Removes a whole segment (path without a field) or empties a value. Returns whether there
    /// was anything to remove.
    pub fn remove(&mut self, path: &Path) -> Result<bool, EditError> {
        if path.is_delimiter_field() {
            return Err(EditError::Delimiters { path: path.to_string() });
        }
        if path.field.is_none() {
            let Some(range) = self.segment_range(path) else { return Ok(false) };
            if range.start == self.message().header().offset() {
                return Err(EditError::Delimiters { path: path.to_string() });
            }
            let end = self.bytes[range.end..]
                .iter()
                .take(2)
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            self.bytes.drain(range.start..range.end + end);
            return Ok(true);
        }
        let present = self.message().get(path).is_some_and(|v| !v.is_empty());
        if present {
            self.set_raw(path, b"")?;
        }
        Ok(present)
    }

    /// The bytes of the segment a path names, without its terminator.
    fn segment_range(&self, path: &Path) -> Option<Range<usize>> {
        let message = self.message();
        let segment = message.find_segment(path.segment_id(), path.occurrence_or_first())?;
        Some(segment.offset()..segment.offset() + segment.as_bytes().len())
    }

    /// Like [`Self::segment_range`], appending the segment when the path names the next
    /// occurrence that does not exist yet.
    fn segment_range_or_append(&mut self, path: &Path) -> Result<Range<usize>, EditError> {
        if let Some(range) = self.segment_range(path) {
            return Ok(range);
        }
        let count = self.message().segments().filter(|s| s.id() == path.segment_id()).count();
        let wanted = path.occurrence_or_first();
        if wanted != count + 1 {
            return Err(EditError::NoSuchSegment {
                path: path.to_string(),
                segment: path.segment_id().to_string(),
                count,
                wanted,
            });
        }
        if !self.bytes.ends_with(b"\r") && !self.bytes.ends_with(b"\n") {
            self.bytes.push(SEGMENT_TERMINATOR);
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(path.segment_id().as_bytes());
        let end = self.bytes.len();
        self.bytes.push(SEGMENT_TERMINATOR);
        Ok(start..end)
    }
}

/// Finds (padding as needed) the range in `segment` that `path` names.
fn locate(
    segment: &mut Vec<u8>,
    delimiters: &Delimiters,
    path: &Path,
    field: usize,
) -> Result<Range<usize>, EditError> {
    let id_len = 3.min(segment.len());
    if segment.len() == id_len {
        segment.push(delimiters.field);
    }
    let content = id_len + 1..segment.len();
    // MSH-1 is the separator after "MSH", so MSH-3 is the second piece after it.
    let is_header = matches!(&segment[..id_len], b"MSH" | b"FHS" | b"BHS");
    let piece = if is_header { field - 2 } else { field - 1 };
    let mut range = ensure_piece(segment, content, delimiters.field, piece);
    if path.repetition.is_some() || path.component.is_some() {
        let repetition = path.repetition.unwrap_or(1);
        range = ensure_piece(segment, range, delimiters.repetition, repetition - 1);
    }
    if let Some(component) = path.component {
        range = ensure_piece(segment, range, delimiters.component, component - 1);
    }
    if let Some(subcomponent) = path.subcomponent {
        match delimiters.subcomponent {
            Some(d) => range = ensure_piece(segment, range, d, subcomponent - 1),
            None if subcomponent == 1 => {}
            None => {
                return Err(EditError::NoSubcomponentSeparator { path: path.to_string() });
            }
        }
    }
    Ok(range)
}

/// The range of piece `index` (0-based) of `buf[within]` split at `delimiter`, after appending
/// delimiters at the end of `within` until that piece exists.
fn ensure_piece(
    buf: &mut Vec<u8>,
    within: Range<usize>,
    delimiter: u8,
    index: usize,
) -> Range<usize> {
    let pieces = memchr::memchr_iter(delimiter, &buf[within.clone()]).count() + 1;
    let mut end = within.end;
    if index >= pieces {
        let missing = index + 1 - pieces;
        buf.splice(end..end, std::iter::repeat_n(delimiter, missing));
        end += missing;
    }
    let piece = nth_piece(&buf[within.start..end], delimiter, index)
        .unwrap_or(end - within.start..end - within.start);
    piece.start + within.start..piece.end + within.start
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &[u8] =
        b"MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\rPID|1||123||Doe^John\rPV1|1|O\r";

    fn check(edit: impl FnOnce(&mut MessageBuf) -> Result<(), EditError>, expected: &[u8]) {
        let mut buf = MessageBuf::new(BASE.to_vec()).unwrap();
        edit(&mut buf).unwrap();
        assert_eq!(String::from_utf8_lossy(buf.as_bytes()), String::from_utf8_lossy(expected));
    }

    fn p(text: &str) -> Path {
        Path::parse(text).unwrap()
    }

    #[test]
    fn set_raw_pads_and_splices() {
        check(
            |m| m.set_raw(&p("PID-5.2"), b"Jane"),
            b"MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\rPID|1||123||Doe^Jane\rPV1|1|O\r",
        );
        check(
            |m| m.set_raw(&p("PID-8"), b"M"),
            b"MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\rPID|1||123||Doe^John|||M\rPV1|1|O\r",
        );
        check(
            |m| m.set_raw(&p("PID-3[3].4.2"), b"X"),
            b"MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\rPID|1||123~~^^^&X||Doe^John\rPV1|1|O\r",
        );
        check(
            |m| m.set_raw(&p("MSH-3"), b"Z"),
            b"MSH|^~\\&|Z|B|C|D|20240101||ADT^A04|1|P|2.5\rPID|1||123||Doe^John\rPV1|1|O\r",
        );
        check(
            |m| m.set_raw(&p("MSH-13"), b"9"),
            b"MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5|9\rPID|1||123||Doe^John\rPV1|1|O\r",
        );
        check(
            |m| m.set_raw(&p("ZPD-2"), b"z"),
            b"MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\rPID|1||123||Doe^John\rPV1|1|O\rZPD||z\r",
        );
        check(
            |m| m.set_raw(&p("PV1[2]-1"), b"2"),
            b"MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\rPID|1||123||Doe^John\rPV1|1|O\rPV1|2\r",
        );
    }

    #[test]
    fn remove() {
        check(
            |m| m.remove(&p("PID")).map(drop),
            b"MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\rPV1|1|O\r",
        );
        check(
            |m| m.remove(&p("PID-5.1")).map(drop),
            b"MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\rPID|1||123||^John\rPV1|1|O\r",
        );
        check(|m| m.remove(&p("NK1")).map(drop), BASE);
    }

    #[test]
    fn refusals() {
        let mut buf = MessageBuf::new(BASE.to_vec()).unwrap();
        assert!(matches!(buf.set_raw(&p("MSH-2"), b"x"), Err(EditError::Delimiters { .. })));
        assert!(matches!(buf.set_raw(&p("PID"), b"x"), Err(EditError::NoField { .. })));
        assert!(matches!(buf.set_raw(&p("OBX[3]-5"), b"x"), Err(EditError::NoSuchSegment { .. })));
        assert!(matches!(buf.remove(&p("MSH")), Err(EditError::Delimiters { .. })));
        assert_eq!(buf.as_bytes(), BASE);
    }
}
