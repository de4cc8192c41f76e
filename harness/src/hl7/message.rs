//! Zero-copy parsing of one HL7 v2 message.
//!
//! [`Message::parse`] reads the delimiters from MSH-1 and MSH-2, indexes the segments and records
//! findings; nothing else is copied. Fields, repetitions, components and subcomponents are found
//! on demand by [`Segment::field`] and [`Value`], which split the borrowed bytes as they are
//! asked, so reading a field allocates nothing. [`Message::encode`] gives back the input bytes,
//! byte-exact.

use super::charset::{self, Charset};
use super::delimiters::{Delimiters, SEGMENT_TERMINATOR};
use super::escape::unescape;
use super::finding::{Capped, Finding, Location, Severity};
use super::path::Path;
use super::scan;
pub(crate) use super::segment::nth_piece;
pub use super::segment::Segment;
use super::value::Value;
use memchr::{memchr, memchr2};
use std::borrow::Cow;
use std::ops::Range;
use thiserror::Error;

const RULE_TERMINATOR: &str = "HL7 v2.5.1 ch. 2, 2.5.4 (segment terminator is <CR>, hex 0D)";
const RULE_SEGMENT_ID: &str = "HL7 v2.5.1 ch. 2, 2.5.2 (segment ID: three characters)";
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Why a byte string could not be read as an HL7 message at all. Everything short of this is a
/// [`Finding`] on a readable message. The message text leaves the offset to the caller, which
/// prints it with the file name (`file: byte N: ...`); [`ParseError::offset`] gives it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("not an HL7 v2 message: expected \"MSH\", found {found:?}")]
    NotHl7 { offset: usize, found: String },
    #[error("the MSH segment is too short to declare its delimiters (MSH-1, MSH-2)")]
    MshTooShort { offset: usize },
    #[error("bad delimiters in MSH-1/MSH-2: {reason}")]
    BadDelimiters { offset: usize, reason: String },
    #[error("LF segment separator; segments must end with CR (strict mode)")]
    LineEnding { offset: usize },
}

impl ParseError {
    /// The stable kebab-case code, shared with findings and the corpus expectations.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::NotHl7 { .. } => "not-hl7",
            ParseError::MshTooShort { .. } => "msh-too-short",
            ParseError::BadDelimiters { .. } => "bad-delimiters",
            ParseError::LineEnding { .. } => "lf-segment-separator",
        }
    }

    /// Byte offset of the problem, relative to the start of the parsed input.
    pub fn offset(&self) -> usize {
        match self {
            ParseError::NotHl7 { offset, .. }
            | ParseError::MshTooShort { offset }
            | ParseError::BadDelimiters { offset, .. }
            | ParseError::LineEnding { offset } => *offset,
        }
    }
}

/// How tolerant the parser is. The default is lenient: LF and CRLF separators are read as
/// segment ends and reported as findings, because logs and files often arrive that way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Reject LF segment separators instead of reporting them.
    pub strict_line_endings: bool,
    /// Added to every reported offset, so a message cut from a larger file reports file offsets.
    pub origin: usize,
}

/// Where one segment sits in the input: its bytes without the terminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SegmentSpan<'a> {
    start: usize,
    end: usize,
    /// Length of the segment id (3 when well formed).
    id_len: usize,
    /// The id as text (`???` when it is not UTF-8), made once: validation and the endpoint
    /// compare segment ids dozens of times per message.
    id: &'a str,
}

/// Header fields (MSH-2 on) whose bounds [`HeaderIndex`] keeps: MSH-21, the last field of
/// v2.5.1's MSH, is MSH-2 plus 19; fields beyond are found by walking the segment.
const HEADER_PIECES: usize = 20;

/// Where the header's fields start, found in one pass at parse. The message type, control id,
/// version and character set are read many times per message (validation, the endpoint's
/// decision, the ACK), and each read would otherwise walk the header from its start.
#[derive(Debug, Clone, Copy, Default)]
struct HeaderIndex {
    /// `starts[i]`: where MSH-(i+2) starts in the header segment's bytes (after the separator
    /// that opens it). Piece 0 is MSH-2, which starts just after MSH-1.
    starts: [u32; HEADER_PIECES + 1],
    /// How many entries of `starts` are set; `HEADER_PIECES + 1` when the header may go on.
    count: u8,
}

impl HeaderIndex {
    /// Indexes a header segment's bytes, `id_len` the length of its id; empty (every lookup
    /// then walks) when the segment is too long for `u32` offsets.
    fn new(bytes: &[u8], id_len: usize, field: u8) -> HeaderIndex {
        let mut index = HeaderIndex::default();
        if bytes.len() <= id_len || u32::try_from(bytes.len()).is_err() {
            return index;
        }
        // One pass over the header's bytes: its fields are short, and a `memchr` per field
        // cost more in setting up than in searching. The length fits in `u32` (checked
        // above), so every start does.
        let start = id_len + 1;
        index.starts[0] = start as u32;
        index.count = 1;
        for (at, &byte) in bytes[start..].iter().enumerate() {
            if byte == field {
                let Some(slot) = index.starts.get_mut(usize::from(index.count)) else { break };
                *slot = (start + at + 1) as u32;
                index.count += 1;
            }
        }
        index
    }

    /// The byte range of field `n` (2 or more) in the header's bytes: `Some(None)` when the
    /// header ends before it, `None` when the index does not reach that far.
    fn range(&self, n: usize, len: usize) -> Option<Option<Range<usize>>> {
        let piece = n.checked_sub(2)?;
        let count = usize::from(self.count);
        if count == 0 || piece >= HEADER_PIECES {
            return None;
        }
        if piece >= count {
            // The walk stopped before `starts` was full, so the header has no more fields.
            return Some(None);
        }
        let start = self.starts[piece] as usize;
        let end = match self.starts.get(piece + 1) {
            Some(&next) if piece + 1 < count => next as usize - 1,
            _ if count <= HEADER_PIECES => len,
            _ => return None,
        };
        Some(Some(start..end))
    }
}

/// One parsed HL7 v2 message, borrowing its input.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    bytes: &'a [u8],
    delimiters: Delimiters,
    segments: Vec<SegmentSpan<'a>>,
    findings: Vec<Finding>,
    origin: usize,
    charset: Charset,
    header_index: HeaderIndex,
    /// Where the header's codes lie, found once on first use: the reference endpoint reads each
    /// of them several times per message (its decision, validation, its application, the ACK).
    /// Offsets, not `&'a str`, so that `Message` stays covariant in `'a`.
    codes: std::sync::OnceLock<HeaderCodes>,
    /// The whole input as text when it is valid UTF-8, checked once at parse: a piece of it
    /// (a segment id, a header code, a value) is then sliced out of it, two boundary checks
    /// instead of a check of every byte of every piece each time it is read.
    utf8: Option<&'a str>,
    /// Whether a piece of `utf8` is also what [`charset::decode`] makes of the piece's bytes
    /// in the message's character set (see [`charset::decodes_unchanged`]).
    utf8_is_text: bool,
}

/// The byte ranges (in the message's bytes) of MSH-9.1, 9.2, 9.3, 10, 11.1 and 12.1 as
/// [`Message::header_text`] reads them: `None` when that reads nothing.
type HeaderCodes = [Option<(u32, u32)>; 6];

impl<'a> Message<'a> {
    /// Parses with the default, lenient options.
    pub fn parse(bytes: &'a [u8]) -> Result<Message<'a>, ParseError> {
        Message::parse_with(bytes, ParseOptions::default())
    }

    pub fn parse_with(bytes: &'a [u8], options: ParseOptions) -> Result<Message<'a>, ParseError> {
        let origin = options.origin;
        let mut findings = Vec::new();
        let mut start = 0;
        if bytes.starts_with(UTF8_BOM) {
            findings.push(charset::byte_order_mark(origin));
            start = UTF8_BOM.len();
        }
        let delimiters = parse_delimiters(&bytes[start..], start + origin)?;
        let utf8 = std::str::from_utf8(bytes).ok();
        let segments = index_segments(bytes, utf8, start, &delimiters, options, &mut findings)?;
        let header_index = segments.first().map_or_else(HeaderIndex::default, |span| {
            HeaderIndex::new(&bytes[span.start..span.end], span.id_len, delimiters.field)
        });
        let mut message = Message {
            bytes,
            delimiters,
            segments,
            findings,
            origin,
            charset: Charset::Ascii,
            header_index,
            codes: std::sync::OnceLock::new(),
            utf8,
            utf8_is_text: false,
        };
        message.charset = message.read_charset(start);
        message.utf8_is_text = message.utf8.is_some()
            && charset::decodes_unchanged(message.charset, || bytes.is_ascii());
        Ok(message)
    }

    /// Reads MSH-18 (table 0211) and checks every byte against it. An unknown character set is
    /// a finding and the message is then read as UTF-8, the most common undeclared encoding;
    /// its bytes are not checked, since nothing says what they should be.
    fn read_charset(&mut self, body_start: usize) -> Charset {
        let field = self.header_field(18).and_then(|f| f.repetition(1));
        let (declared, offset) = match field {
            Some(v) if !v.is_empty() => (v.as_bytes(), v.offset()),
            _ => (&b""[..], self.origin + body_start),
        };
        let charset = match Charset::parse_msh18(declared) {
            Ok(parsed) => {
                self.findings.extend(parsed.finding(offset));
                parsed.charset
            }
            Err(err) => {
                self.findings.push(Finding::new(
                    "unknown-charset",
                    Severity::Error,
                    Location::segment(1, "MSH").with_field(18).with_offset(offset),
                    format!("{err}; the message is read as UTF-8"),
                    charset::CHARSET_RULE,
                ));
                return Charset::UnicodeUtf8;
            }
        };
        let body = &self.bytes[body_start..];
        self.findings.extend(charset::check_bytes(body, charset, self.origin + body_start));
        charset
    }

    /// The character set the message declares in MSH-18 (ASCII when not valued).
    pub fn charset(&self) -> Charset {
        self.charset
    }

    /// A value as text: escape sequences resolved with the message's escape character, then
    /// decoded from the message's character set. Borrowed when there is nothing to resolve.
    /// MSH-1 and MSH-2 are returned as written: they are delimiters, not text.
    pub fn text(&self, value: &Value<'a>) -> Cow<'a, str> {
        if value.level() == super::value::Level::Opaque {
            return String::from_utf8_lossy(value.as_bytes());
        }
        self.text_of(value.as_bytes())
    }

    /// The bytes of a value of this message that is not MSH-1 or MSH-2 (the bytes of
    /// [`header_bytes`](Self::header_bytes) for fields 3 on) as text, as [`text`](Self::text)
    /// reads the value: no value need be built to read a header field.
    pub fn text_of(&self, bytes: &'a [u8]) -> Cow<'a, str> {
        match unescape(bytes, &self.delimiters).bytes {
            Cow::Borrowed(bytes) => match self.utf8_piece(bytes).filter(|_| self.utf8_is_text) {
                Some(text) => Cow::Borrowed(text),
                None => charset::decode(bytes, self.charset),
            },
            Cow::Owned(bytes) => Cow::Owned(charset::decode(&bytes, self.charset).into_owned()),
        }
    }

    /// The input bytes: an unmodified message encodes byte-exact.
    pub fn encode(&self) -> Vec<u8> {
        self.bytes.to_vec()
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn delimiters(&self) -> &Delimiters {
        &self.delimiters
    }

    /// Offset of this message's first byte in the file or stream it came from.
    pub fn origin(&self) -> usize {
        self.origin
    }

    /// Findings of the parse: line endings, empty segments, bad segment ids, bad bytes.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The segment at a 0-based position.
    pub fn segment(&self, position: usize) -> Option<Segment<'a>> {
        self.segments.get(position).map(|span| self.view(position, span))
    }

    pub fn segments(&self) -> impl ExactSizeIterator<Item = Segment<'a>> + '_ {
        self.segments.iter().enumerate().map(|(position, span)| self.view(position, span))
    }

    /// `piece`, bytes of this message, as text sliced out of the message's text: `None` when
    /// the message is not UTF-8, the piece cuts a character or is not this message's bytes.
    fn utf8_piece(&self, piece: &[u8]) -> Option<&'a str> {
        if piece.is_empty() {
            return Some("");
        }
        let start = (piece.as_ptr() as usize).checked_sub(self.bytes.as_ptr() as usize)?;
        self.utf8?.get(start..start.checked_add(piece.len())?)
    }

    /// `piece`, bytes of this message, as UTF-8 text when it is.
    fn piece_as_str(&self, piece: &'a [u8]) -> Option<&'a str> {
        self.utf8_piece(piece).or_else(|| std::str::from_utf8(piece).ok())
    }

    /// `piece`, bytes of this message, as text, invalid UTF-8 replaced (as
    /// `String::from_utf8_lossy` gives it).
    pub(crate) fn lossy_piece(&self, piece: &'a [u8]) -> Cow<'a, str> {
        match self.utf8_piece(piece) {
            Some(text) => Cow::Borrowed(text),
            None => String::from_utf8_lossy(piece),
        }
    }

    fn view(&self, position: usize, span: &SegmentSpan<'a>) -> Segment<'a> {
        Segment {
            bytes: &self.bytes[span.start..span.end],
            id: span.id,
            id_len: span.id_len,
            offset: self.origin + span.start,
            index: position + 1,
            delimiters: self.delimiters,
        }
    }

    /// The `occurrence`-th (1-based) segment with this id, e.g. the third OBX.
    pub fn find_segment(&self, id: &str, occurrence: usize) -> Option<Segment<'a>> {
        self.segments().filter(|s| s.id() == id).nth(occurrence.checked_sub(1)?)
    }

    /// The MSH segment: always the first one (parsing fails otherwise).
    pub fn header(&self) -> Segment<'a> {
        // `parse_with` only succeeds after reading MSH-1/MSH-2 from a first segment.
        self.segment(0).expect("a parsed message always has its MSH segment")
    }

    /// The value a path names, or `None` when the message has nothing there (absent).
    /// A path without a field names no value: use [`Message::find_segment`] for segments.
    pub fn get(&self, path: &Path) -> Option<Value<'a>> {
        let segment = self.find_segment(path.segment_id(), path.occurrence_or_first())?;
        let field = segment.field(path.field?)?;
        let mut value = match path.repetition {
            Some(n) => field.repetition(n)?,
            None => field,
        };
        if let Some(n) = path.component {
            value = value.component(n)?;
        }
        if let Some(n) = path.subcomponent {
            value = value.subcomponent(n)?;
        }
        Some(value)
    }

    /// MSH-9.1 message code, e.g. `ADT`.
    pub fn message_code(&self) -> Option<&'a str> {
        self.code(0)
    }

    /// MSH-9.2 trigger event, e.g. `A04`.
    pub fn trigger_event(&self) -> Option<&'a str> {
        self.code(1)
    }

    /// MSH-9.3 message structure, e.g. `ADT_A01` (v2.3.1 and later).
    pub fn message_structure(&self) -> Option<&'a str> {
        self.code(2)
    }

    /// MSH-10 message control id.
    pub fn control_id(&self) -> Option<&'a str> {
        self.code(3)
    }

    /// MSH-11.1 processing id (P, T, D).
    pub fn processing_id(&self) -> Option<&'a str> {
        self.code(4)
    }

    /// MSH-12.1 version id, e.g. `2.5.1`.
    pub fn version(&self) -> Option<&'a str> {
        self.code(5)
    }

    /// MSH-18, first repetition: the character set of the message (table 0211).
    pub fn character_set(&self) -> Option<&'a [u8]> {
        let field = self.header_field(18)?;
        let first = field.repetition(1)?;
        (!first.is_empty()).then(|| first.as_bytes())
    }

    /// Field `n` of the header, as [`Segment::field`] on [`Message::header`] gives it, found
    /// through the bounds noted at parse instead of a walk from the header's start.
    pub fn header_field(&self, n: usize) -> Option<Value<'a>> {
        let header = self.header();
        match self.header_index.range(n, header.bytes.len()) {
            Some(range) => header.field_in(n, range?),
            None => header.field(n),
        }
    }

    /// The bytes of field `n` of the header, as [`header_field`](Self::header_field) gives
    /// them, without the scan that notes which separators the field holds: what a writer that
    /// copies the field (an ACK swapping MSH-3..6) needs.
    pub fn header_bytes(&self, n: usize) -> Option<&'a [u8]> {
        let header = self.header();
        match self.header_index.range(n, header.bytes.len()) {
            Some(range) => header.bytes.get(range?),
            None => header.field(n).map(|value| value.as_bytes()),
        }
    }

    /// Header code number `i` of [`HeaderCodes`], located on the first call.
    fn code(&self, i: usize) -> Option<&'a str> {
        let codes = self.codes.get_or_init(|| {
            let base = self.bytes.as_ptr() as usize;
            let at = |piece: Option<&'a [u8]>| {
                let text = self.header_code(piece?)?;
                // Every code is read out of `self.bytes`, so it lies at or after `base`.
                let start = (text.as_ptr() as usize).checked_sub(base)?;
                let start = u32::try_from(start).ok()?;
                Some((start, u32::try_from(text.len()).ok()?))
            };
            // Each code is a component of its field's first repetition, as
            // `header_field(n)?.component(k)` reads it; split here without the scans that
            // note what every piece holds (subcomponent separators stay in the component).
            let d = self.delimiters;
            let first_repetition =
                |n| self.header_bytes(n).and_then(|f| f.split(|&b| b == d.repetition).next());
            let components = |n| first_repetition(n).map(|r| r.split(move |&b| b == d.component));
            let mut message_type = components(9);
            let mut next_type = || at(message_type.as_mut()?.next());
            let [code, trigger, structure] = [(); 3].map(|()| next_type());
            let first = |n| at(components(n)?.next());
            [code, trigger, structure, first(10), first(11), first(12)]
        });
        let (start, len) = codes[i]?;
        let bytes = self.bytes.get(start as usize..)?.get(..len as usize)?;
        self.piece_as_str(bytes)
    }

    /// A header component as text, when present, non-empty and ASCII-clean (MSH codes are
    /// ASCII), read through [`Value`]: what [`code`](Self::code) is checked against.
    #[cfg(test)]
    fn header_text(&self, field: usize, component: usize) -> Option<&'a str> {
        self.header_code(self.header_field(field)?.component(component)?.as_bytes())
    }

    /// A header component's bytes as text, when non-empty and UTF-8.
    fn header_code(&self, bytes: &'a [u8]) -> Option<&'a str> {
        let text = scan::trim(self.piece_as_str(bytes)?);
        (!text.is_empty()).then_some(text)
    }
}

/// Reads MSH-1 and MSH-2. `bytes` starts at the `MSH` of the message; `offset` is its position.
pub(crate) fn parse_delimiters(bytes: &[u8], offset: usize) -> Result<Delimiters, ParseError> {
    let header_id = bytes.get(..3).unwrap_or(bytes);
    if !matches!(header_id, b"MSH" | b"FHS" | b"BHS") {
        let shown = &bytes[..bytes.len().min(16)];
        return Err(ParseError::NotHl7 { offset, found: String::from_utf8_lossy(shown).into() });
    }
    // "MSH" then the end of the segment: the header declares no delimiters at all.
    let field = match bytes.get(3) {
        None | Some(b'\r' | b'\n') => return Err(ParseError::MshTooShort { offset }),
        Some(&b) => b,
    };
    let bad = |at: usize, reason: String| ParseError::BadDelimiters { offset: offset + at, reason };
    if field.is_ascii_alphanumeric() || field.is_ascii_whitespace() || field == 0 {
        return Err(bad(
            3,
            format!("MSH-1 field separator {:?} is not a delimiter", field as char),
        ));
    }
    let rest = &bytes[4..];
    let encoding = &rest[..msh2_end(rest, field)];
    if encoding.len() < 2 {
        return Err(ParseError::MshTooShort { offset });
    }
    if encoding.len() > 5 {
        let shown = String::from_utf8_lossy(encoding);
        return Err(bad(
            4,
            format!("MSH-2 {shown:?} has more than 4 encoding characters (5 in v2.7)"),
        ));
    }
    // MSH-1 and at most five encoding characters: no allocation per message.
    let mut seen = [field; 6];
    for (i, &c) in encoding.iter().enumerate() {
        if c.is_ascii_alphanumeric() || c.is_ascii_whitespace() || c == 0 || c >= 0x80 {
            return Err(bad(
                4 + i,
                format!("MSH-2 character {:?} cannot be a delimiter", c as char),
            ));
        }
        if seen[..=i].contains(&c) {
            return Err(bad(4 + i, format!("MSH-2 declares {:?} twice", c as char)));
        }
        seen[i + 1] = c;
    }
    Ok(Delimiters {
        field,
        component: encoding[0],
        repetition: encoding[1],
        escape: encoding.get(2).copied(),
        subcomponent: encoding.get(3).copied(),
        truncation: encoding.get(4).copied(),
    })
}

/// Where MSH-2 ends in `rest` (the bytes after MSH-1): at the field separator `field`, a CR or
/// an LF, or the end. Within six bytes when it is well formed, found there without a
/// `memchr` set up for a few bytes; further on otherwise.
fn msh2_end(rest: &[u8], field: u8) -> usize {
    let ends_msh2 = |b: &u8| *b == field || *b == SEGMENT_TERMINATOR || *b == b'\n';
    match rest.iter().take(6).position(ends_msh2) {
        Some(end) => end,
        None => {
            let end = memchr2(field, SEGMENT_TERMINATOR, rest).unwrap_or(rest.len());
            memchr(b'\n', &rest[..end]).unwrap_or(end)
        }
    }
}

/// How a line ended, as the splitter saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineEnd {
    Cr,
    Lf,
    CrLf,
    /// The input ended without a terminator.
    Eof,
}

/// One line of input: a segment candidate and the terminator after it.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub range: Range<usize>,
    pub end: LineEnd,
}

/// Splits `bytes[start..]` into lines at CR, LF or CRLF. Pure and allocation-light: the caller
/// decides which line endings are acceptable.
pub(crate) fn lines(bytes: &[u8], start: usize) -> impl Iterator<Item = Line> + '_ {
    let mut pos = start;
    std::iter::from_fn(move || {
        if pos >= bytes.len() {
            return None;
        }
        let line_start = pos;
        match memchr2(b'\r', b'\n', &bytes[pos..]) {
            None => {
                pos = bytes.len();
                Some(Line { range: line_start..bytes.len(), end: LineEnd::Eof })
            }
            Some(i) => {
                let at = pos + i;
                let end = if bytes[at] == b'\n' {
                    pos = at + 1;
                    LineEnd::Lf
                } else if bytes.get(at + 1) == Some(&b'\n') {
                    pos = at + 2;
                    LineEnd::CrLf
                } else {
                    pos = at + 1;
                    LineEnd::Cr
                };
                Some(Line { range: line_start..at, end })
            }
        }
    })
}

/// Counts the line endings that are not plain CR and reports each kind once, with the offset of
/// its first occurrence and the total, so a LF-separated file gives one finding, not hundreds.
#[derive(Default)]
pub(crate) struct LineEndingTally {
    first_lf: Option<usize>,
    lf: usize,
    first_crlf: Option<usize>,
    crlf: usize,
}

impl LineEndingTally {
    pub fn record(&mut self, line: &Line) {
        match line.end {
            LineEnd::Lf => {
                self.first_lf.get_or_insert(line.range.end);
                self.lf += 1;
            }
            LineEnd::CrLf => {
                self.first_crlf.get_or_insert(line.range.end);
                self.crlf += 1;
            }
            LineEnd::Cr | LineEnd::Eof => {}
        }
    }

    pub fn findings(&self, origin: usize, out: &mut Vec<Finding>) {
        if let Some(first) = self.first_lf {
            out.push(Finding::new(
                "lf-segment-separator",
                Severity::Error,
                Location::at_offset(origin + first),
                format!("{} segment(s) end with LF (0x0A) instead of CR (0x0D)", self.lf),
                RULE_TERMINATOR,
            ));
        }
        if let Some(first) = self.first_crlf {
            out.push(Finding::new(
                "crlf-segment-separator",
                Severity::Error,
                Location::at_offset(origin + first),
                format!("{} segment(s) end with CR LF instead of CR alone", self.crlf),
                RULE_TERMINATOR,
            ));
        }
    }
}

/// True for a well-formed segment id: three characters, an upper-case letter then upper-case
/// letters or digits (chapter 2, 2.5.2).
pub(crate) fn is_valid_segment_id(id: &[u8]) -> bool {
    id.len() == 3
        && id[0].is_ascii_uppercase()
        && id[1..].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// The segments of `bytes` from `start`; `utf8` is all of `bytes` as text, when it is UTF-8.
fn index_segments<'a>(
    bytes: &'a [u8],
    utf8: Option<&'a str>,
    start: usize,
    delimiters: &Delimiters,
    options: ParseOptions,
    findings: &mut Vec<Finding>,
) -> Result<Vec<SegmentSpan<'a>>, ParseError> {
    let origin = options.origin;
    // One span per segment terminator, so the list is allocated once (a message of LF-ended
    // lines gets its capacity from the LFs).
    let terminators = match memchr::memchr_iter(b'\r', &bytes[start..]).count() {
        0 => memchr::memchr_iter(b'\n', &bytes[start..]).count(),
        crs => crs,
    };
    let mut segments = Vec::with_capacity(terminators + 1);
    let mut tally = LineEndingTally::default();
    let (mut empty, mut invalid) = (Capped::default(), Capped::default());
    for line in lines(bytes, start) {
        if options.strict_line_endings && matches!(line.end, LineEnd::Lf | LineEnd::CrLf) {
            let at = line.range.end + usize::from(line.end == LineEnd::CrLf);
            return Err(ParseError::LineEnding { offset: origin + at });
        }
        tally.record(&line);
        let text = &bytes[line.range.clone()];
        if text.iter().all(|b| *b == b' ' || *b == b'\t') {
            // A blank line at the very end (after the last terminator) is only trailing space;
            // anywhere else it is an empty segment, which the standard does not allow.
            if line.end != LineEnd::Eof && empty.keep() {
                findings.push(Finding::new(
                    "empty-segment",
                    Severity::Error,
                    Location::at_offset(origin + line.range.start),
                    "empty line between segments (skipped)",
                    RULE_TERMINATOR,
                ));
            }
            continue;
        }
        let id_len = memchr(delimiters.field, text).unwrap_or(text.len());
        let id = &text[..id_len];
        let index = segments.len() + 1;
        if !is_valid_segment_id(id) && invalid.keep() {
            let shown = String::from_utf8_lossy(&id[..id.len().min(16)]).into_owned();
            findings.push(Finding::new(
                "invalid-segment-id",
                Severity::Error,
                Location::at_offset(origin + line.range.start).with_segment(index, &shown),
                format!("segment id {shown:?} is not three upper-case letters or digits"),
                RULE_SEGMENT_ID,
            ));
        }
        let at = line.range.start;
        let text = utf8.and_then(|text| text.get(at..at + id_len));
        let id = text.or_else(|| std::str::from_utf8(id).ok()).unwrap_or("???");
        segments.push(SegmentSpan { start: at, end: line.range.end, id_len, id });
    }
    tally.findings(origin, findings);
    let error = Severity::Error;
    findings.extend(empty.summary("empty-segment", error, "empty segments", RULE_TERMINATOR));
    let ids = "invalid segment ids";
    findings.extend(invalid.summary("invalid-segment-id", error, ids, RULE_SEGMENT_ID));
    Ok(segments)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A delimiter declared twice is named at its byte, wherever it repeats: the field
    /// separator again, or an encoding character again, up to the fifth (v2.7).
    #[test]
    fn a_delimiter_declared_twice_is_named_at_its_byte() {
        let twice = |header: &str| match parse_delimiters(header.as_bytes(), 100) {
            Err(ParseError::BadDelimiters { offset, reason }) => Some((offset, reason)),
            _ => None,
        };
        assert_eq!(twice("MSH|^~^&|A"), Some((106, "MSH-2 declares '^' twice".to_string())));
        assert_eq!(twice("MSH|^~\\&~|A"), Some((108, "MSH-2 declares '~' twice".to_string())));
        assert_eq!(twice("MSH|^~\\&^|A"), Some((108, "MSH-2 declares '^' twice".to_string())));
        assert_eq!(twice("MSH#^~\\&#"), None, "the field separator ends MSH-2");
        let five = parse_delimiters(b"MSH|^~\\&#|A", 0).expect("five distinct characters");
        assert_eq!(five.truncation, Some(b'#'));
    }

    fn codes(input: &[u8]) -> Vec<&'static str> {
        match Message::parse(input) {
            Ok(m) => m.findings().iter().map(|f| f.code).collect(),
            Err(e) => vec![e.code()],
        }
    }

    fn check(input: &[u8], expected: &[&str]) {
        assert_eq!(codes(input), expected, "input {:?}", String::from_utf8_lossy(input));
    }

    const ADT: &[u8] = b"MSH|^~\\&|SEND|FAC|RECV|FAC|20240101120000||ADT^A04^ADT_A01|MSG1|P|2.5\rEVN|A04|20240101120000\rPID|1||123^^^HOSP^MR~456^^^SSA^SS||Doe^John^Q||19800101|M\rPV1|1|O\r";

    /// Every file of the repository's corpus, after `cut_short` (inputs a test adds).
    pub(crate) fn corpus_after(cut_short: &[&[u8]]) -> Vec<Vec<u8>> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
        let mut inputs: Vec<Vec<u8>> = cut_short.iter().map(|input| input.to_vec()).collect();
        for dir in std::fs::read_dir(root).unwrap() {
            for file in std::fs::read_dir(dir.unwrap().path()).into_iter().flatten() {
                inputs.extend(std::fs::read(file.unwrap().path()));
            }
        }
        inputs
    }

    /// A header field's bytes are those of the field read whole, on every message of the
    /// corpus and on headers cut short.
    #[test]
    fn header_bytes_are_the_header_fields_bytes() {
        let inputs = corpus_after(&[b"MSH|", b"MSH|^~\\&", b"MSH|^~\\&|A|B|C|D|2024||ADT\r"]);
        let mut compared = 0;
        for input in &inputs {
            let Ok(message) = Message::parse(input) else { continue };
            for n in 0..30 {
                let whole = message.header_field(n).map(|value| value.as_bytes());
                assert_eq!(message.header_bytes(n), whole, "MSH-{n} of {input:?}");
                compared += 1;
            }
        }
        assert!(compared > 1000, "{compared}");
    }

    /// Fields read together are the fields read one by one, in every segment of the
    /// repository's corpus, numbers in order or not, present or past the end.
    #[test]
    fn fields_read_together_are_the_fields_read_one_by_one() {
        let mut compared = 0;
        for input in corpus_after(&[]) {
            let Ok(message) = Message::parse(&input) else { continue };
            for segment in message.segments() {
                for numbers in
                    [[1, 2, 3, 5, 8, 13, 30], [3, 5, 7, 8, 13, 30, 40], [5, 3, 3, 0, 9, 2, 1]]
                {
                    let alone = numbers.map(|n| segment.field(n));
                    assert_eq!(segment.fields_at(numbers), alone, "{:?}", segment.as_bytes());
                    let bytes = alone.map(|value| value.map(|v| v.as_bytes()));
                    assert_eq!(segment.field_bytes_at(numbers), bytes, "{:?}", segment.as_bytes());
                    compared += 1;
                }
            }
        }
        assert!(compared > 1000, "{compared}");
    }

    /// The header codes found once and kept answer as a fresh read of the header does, on
    /// every message of the repository's corpus and on headers cut short or oddly spaced.
    #[test]
    fn kept_header_codes_answer_as_a_fresh_read() {
        let inputs = corpus_after(&[
            b"MSH|^~\\&|A|B|C|D|2024||ADT\r",
            b"MSH|^~\\&|A|B|C|D|2024|| ADT ^ A01 ^|  |P ^x|2.5.1^^\rPID|1",
            b"MSH|^~\\&\r",
            b"MSH|^~\\&|||||||^^ADT_A01|\xff|T|2.\xc3\xa9",
            b"MSH|^~\\&|||||||ORU~ADT^R01&x~A01^ORU_R01|ID&1~2^x|~P|2.5&9^^\r",
            b"MSH|^~|||||||ADT&x^A01|1&2|P|2.5\r",
            b"MSH|^~\\&|||||||\xe9^A01|\xc3\xa9|P|2.5||||||8859/1\r",
        ]);
        let mut compared = 0;
        for input in &inputs {
            let Ok(message) = Message::parse(input) else { continue };
            let fresh = [(9, 1), (9, 2), (9, 3), (10, 1), (11, 1), (12, 1)]
                .map(|(field, component)| message.header_text(field, component));
            let kept = [
                message.message_code(),
                message.trigger_event(),
                message.message_structure(),
                message.control_id(),
                message.processing_id(),
                message.version(),
            ];
            assert_eq!(kept, fresh, "{}", String::from_utf8_lossy(input));
            compared += 1;
        }
        assert!(compared > 40, "{compared}");
    }

    /// A value's text, sliced out of the message's text checked once at parse, is what
    /// decoding its unescaped bytes in the message's character set gives: for every value of
    /// every corpus message (Latin-1, Greek, CJK, invalid bytes, a byte order mark) and of
    /// messages whose bytes do not fit the set they declare.
    #[test]
    fn text_sliced_from_the_message_is_the_decoded_value() {
        let inputs = corpus_after(&[
            b"MSH|^~\\&|||||||ADT^A01|1|P|2.5||||||8859/1\rPID|1||\xe9t\xe9^\xc3\xa9~a\\E\\b",
            b"MSH|^~\\&|||||||ADT^A01|1|P|2.5||||||UNICODE UTF-8\rPID|1||\xe9^\xc3\xa9&\xc3",
            b"MSH|^~\\&|||||||ADT^A01|1|P|2.5\rPID|1||caf\xc3\xa9^x\\F\\y",
            b"MSH|^~\\&|||||||ADT^A01|1|P|2.5||||||8859/1\rPID|1||caf\xc3\xa9^x",
            b"MSH|^~\\&|||||||ADT^A01|1|P|2.5||||||ISO IR87\rPID|1||\x1b$B8!\x1b(B^abc",
        ]);
        let (mut sliced, mut decoded) = (0, 0);
        for input in &inputs {
            let Ok(message) = Message::parse(input) else { continue };
            let mut values = Vec::new();
            for segment in message.segments() {
                for (_, field) in segment.fields() {
                    values.push(field);
                    for repetition in field.repetitions() {
                        values.push(repetition);
                        for component in repetition.components() {
                            values.push(component);
                            values.extend(component.subcomponents());
                        }
                    }
                }
            }
            for value in &values {
                let expected = match value.level() {
                    crate::hl7::value::Level::Opaque => String::from_utf8_lossy(value.as_bytes()),
                    _ => match unescape(value.as_bytes(), message.delimiters()).bytes {
                        Cow::Borrowed(bytes) => charset::decode(bytes, message.charset()),
                        Cow::Owned(bytes) => {
                            Cow::Owned(charset::decode(&bytes, message.charset()).into_owned())
                        }
                    },
                };
                assert_eq!(message.text(value), expected, "{value:?} of {input:?}");
            }
            match message.utf8_is_text {
                true => sliced += values.len(),
                false => decoded += values.len(),
            }
        }
        assert!(sliced > 5000 && decoded > 100, "sliced {sliced}, decoded {decoded}");
    }

    /// Segment ids made once at parse are the ids' bytes as UTF-8 (`???` when they are not),
    /// in messages that are UTF-8 and in messages that are not.
    #[test]
    fn segment_ids_are_their_bytes_as_text() {
        let inputs = corpus_after(&[
            b"MSH|^~\\&\r\xff\xfeX|1\rP\xc3\xa9D|1\rPID\rZ\xc3",
            b"MSH|^~\\&|\xe9\rPID|1\r\xe9\xe9|x\rOBX\r\xc3\xa9|1",
        ]);
        let mut compared = 0;
        for input in &inputs {
            let Ok(message) = Message::parse(input) else { continue };
            for segment in message.segments() {
                let bytes = &segment.as_bytes()[..segment.id_len()];
                let expected = std::str::from_utf8(bytes).unwrap_or("???");
                assert_eq!(segment.id(), expected, "{input:?}");
                compared += 1;
            }
        }
        assert!(compared > 400, "{compared}");
    }

    proptest::proptest! {
        /// MSH-2's end is the first field separator, CR or LF, as a search of all of the bytes
        /// finds it, however near or far it is.
        #[test]
        fn msh2_ends_where_a_whole_search_finds_its_end(
            rest in proptest::collection::vec(proptest::prop_oneof![
                1 => proptest::strategy::Just(b'|'),
                1 => proptest::strategy::Just(b'\r'),
                1 => proptest::strategy::Just(b'\n'),
                16 => proptest::prelude::any::<u8>(),
            ], 0..16),
        ) {
            let whole = rest.iter().position(|&b| b == b'|' || b == b'\r' || b == b'\n');
            proptest::prop_assert_eq!(msh2_end(&rest, b'|'), whole.unwrap_or(rest.len()));
        }
    }

    #[test]
    fn hostile_runs_of_segments_are_counted_not_listed() {
        use crate::hl7::finding::MAX_FINDINGS_PER_KIND;
        let mut input = b"MSH|^~\\&|A\r".to_vec();
        input.extend(std::iter::repeat_n(&b"\r"[..], 100_000).flatten());
        input.extend(std::iter::repeat_n(&b"x\r"[..], 1000).flatten());
        let message = Message::parse(&input).unwrap();
        let findings = message.findings();
        assert_eq!(findings.len(), 2 * MAX_FINDINGS_PER_KIND + 2);
        let summaries: Vec<&str> = findings
            .iter()
            .filter(|f| f.message.contains(" more "))
            .map(|f| f.message.as_str())
            .collect();
        assert_eq!(
            summaries,
            [
                "99980 more empty segments not listed (100000 in all)",
                "980 more invalid segment ids not listed (1000 in all)"
            ]
        );
    }

    #[test]
    fn parse_findings() {
        check(ADT, &[]);
        check(b"MSH|^~\\&|A\nPID|1\n", &["lf-segment-separator"]);
        check(b"MSH|^~\\&|A\r\nPID|1\r\n", &["crlf-segment-separator"]);
        check(b"MSH|^~\\&|A\r\rPID|1\r", &["empty-segment"]);
        check(b"MSH|^~\\&|A\rPI1D|1\r", &["invalid-segment-id"]);
        check(b"MSH|^~\\&|A\rpid|1\r", &["invalid-segment-id"]);
        check(b"\xEF\xBB\xBFMSH|^~\\&|A\r", &["byte-order-mark"]);
        check(b"PID|1\r", &["not-hl7"]);
        check(b"", &["not-hl7"]);
        check(b"MSH|", &["msh-too-short"]);
        check(b"MSH\rEVN|A01\r", &["msh-too-short"]);
        check(b"MSH|^\r", &["msh-too-short"]);
        check(b"MSH|^^\\&|A\r", &["bad-delimiters"]);
        check(b"MSHA^~\\&|A\r", &["bad-delimiters"]);
        check(b"MSH|^~\\&#X|A\r", &["bad-delimiters"]);
        check(b"MSH|^~\\&|A", &[]);
    }

    #[test]
    fn strict_mode_rejects_lf() {
        let options = ParseOptions { strict_line_endings: true, origin: 0 };
        let err = Message::parse_with(b"MSH|^~\\&|A\nPID|1\n", options).unwrap_err();
        assert_eq!(err, ParseError::LineEnding { offset: 10 });
    }

    #[test]
    fn fields_and_header() {
        let m = Message::parse(ADT).unwrap();
        assert_eq!(m.segment_count(), 4);
        assert_eq!(m.message_code(), Some("ADT"));
        assert_eq!(m.trigger_event(), Some("A04"));
        assert_eq!(m.message_structure(), Some("ADT_A01"));
        assert_eq!(m.control_id(), Some("MSG1"));
        assert_eq!(m.version(), Some("2.5"));
        let msh = m.header();
        assert_eq!(msh.field(1).unwrap().as_bytes(), b"|");
        assert_eq!(msh.field(2).unwrap().as_bytes(), b"^~\\&");
        assert_eq!(msh.field(2).unwrap().component(1).unwrap().as_bytes(), b"^~\\&");
        assert_eq!(msh.field(3).unwrap().as_bytes(), b"SEND");
        assert_eq!(msh.field_count(), 12);
        let pid = m.find_segment("PID", 1).unwrap();
        assert_eq!(pid.index(), 3);
        assert_eq!(pid.field(3).unwrap().repetition(2).unwrap().as_bytes(), b"456^^^SSA^SS");
        assert_eq!(pid.field(5).unwrap().component(2).unwrap().as_bytes(), b"John");
        assert!(pid.field(9).is_none());
        assert_eq!(m.encode(), ADT);
    }

    #[test]
    fn fields_iterator_agrees_with_indexing() {
        let m = Message::parse(b"MSH|^~\\&|A||B\rPID\rPV1|\rOBX|1||x|\r").unwrap();
        for segment in m.segments() {
            let iterated: Vec<_> = segment.fields().collect();
            let indexed: Vec<_> =
                (1..=segment.field_count()).map(|n| (n, segment.field(n).unwrap())).collect();
            assert_eq!(iterated, indexed, "{}", segment.id());
        }
        assert_eq!(m.segment(1).unwrap().field_count(), 0);
        assert_eq!(m.segment(2).unwrap().field_count(), 1);
        assert_eq!(m.segment(3).unwrap().field_count(), 4);
    }

    #[test]
    fn get_by_path() {
        let m = Message::parse(ADT).unwrap();
        let get = |p: &str| m.get(&Path::parse(p).unwrap()).map(|v| v.as_bytes().to_vec());
        assert_eq!(get("PID-5.1").unwrap(), b"Doe");
        assert_eq!(get("PID-5").unwrap(), b"Doe^John^Q");
        assert_eq!(get("PID-3[2].1").unwrap(), b"456");
        assert_eq!(get("PID-3.4").unwrap(), b"HOSP");
        assert_eq!(get("PID-3").unwrap(), b"123^^^HOSP^MR~456^^^SSA^SS");
        assert_eq!(get("MSH-9.3").unwrap(), b"ADT_A01");
        assert_eq!(get("MSH-2").unwrap(), b"^~\\&");
        assert_eq!(get("PID-5.1.1").unwrap(), b"Doe");
        assert_eq!(get("PID[2]-5"), None);
        assert_eq!(get("PID-30"), None);
        assert_eq!(get("PID-3[3]"), None);
        assert_eq!(get("PID"), None);
    }

    #[test]
    fn custom_delimiters() {
        let m = Message::parse(b"MSH$%#!($A$B\rPID$1$$x%y(z#w\r").unwrap();
        let d = m.delimiters();
        assert_eq!((d.field, d.component, d.repetition), (b'$', b'%', b'#'));
        assert_eq!((d.escape, d.subcomponent), (Some(b'!'), Some(b'(')));
        let f = m.segment(1).unwrap().field(3).unwrap();
        assert_eq!(f.component(2).unwrap().subcomponent(2).unwrap().as_bytes(), b"z");
        assert_eq!(f.repetition(2).unwrap().as_bytes(), b"w");
    }

    /// A segment as nested pieces: field → repetition → component → subcomponent.
    type Tree<'a> = Vec<(usize, Vec<Vec<Vec<&'a [u8]>>>)>;

    /// The same tree by `slice::split` at each separator in turn; MSH-1 and MSH-2 whole.
    fn reference_split<'a>(segment: &Segment<'a>, d: &Delimiters) -> Tree<'a> {
        let bytes = segment.as_bytes();
        let id_len = bytes.iter().position(|&b| b == d.field).unwrap_or(bytes.len());
        if bytes.len() <= id_len {
            return Vec::new();
        }
        let header = matches!(&bytes[..id_len], b"MSH" | b"FHS" | b"BHS");
        let whole = |b: &'a [u8]| vec![vec![vec![b]]];
        let split = |b: &'a [u8]| -> Vec<Vec<Vec<&'a [u8]>>> {
            b.split(|&x| x == d.repetition)
                .map(|r| {
                    r.split(|&x| x == d.component)
                        .map(|c| match d.subcomponent {
                            Some(sub) => c.split(|&x| x == sub).collect(),
                            None => vec![c],
                        })
                        .collect()
                })
                .collect()
        };
        let mut tree = Vec::new();
        let mut number = 1;
        if header {
            tree.push((1, whole(&bytes[id_len..=id_len])));
            number = 2;
        }
        for (i, field) in bytes[id_len + 1..].split(|&b| b == d.field).enumerate() {
            let pieces = if header && i == 0 { whole(field) } else { split(field) };
            tree.push((number + i, pieces));
        }
        tree
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        /// Speed never changes meaning: the one-pass scan gives the fields, repetitions,
        /// components and subcomponents a plain split gives, for any bytes, by iteration and by
        /// index, with offsets that point at the bytes.
        #[test]
        fn scan_agrees_with_a_reference_split(
            header in proptest::sample::select(vec![&b"MSH|^~\\&|"[..], b"MSH|^~\\|", b"MSH|^~|", b"MSH$%#!($"]),
            body in proptest::collection::vec(proptest::prop_oneof![
                3 => proptest::prelude::any::<u8>(),
                4 => proptest::sample::select(b"|^~&\\\r$%#!(".to_vec()),
            ], 0..200),
        ) {
            let mut input = header.to_vec();
            input.extend(&body);
            let Ok(message) = Message::parse(&input) else { return Ok(()) };
            let d = *message.delimiters();
            for n in 0..HEADER_PIECES + 6 {
                proptest::prop_assert_eq!(message.header_field(n), message.header().field(n), "MSH-{}", n);
            }
            for segment in message.segments() {
                let tree: Tree<'_> = segment
                    .fields()
                    .map(|(n, f)| {
                        let reps = f.repetitions().map(|r| {
                            r.components().map(|c| c.subcomponents().map(|s| {
                                let at = s.offset() - message.origin();
                                assert_eq!(&input[at..at + s.as_bytes().len()], s.as_bytes());
                                s.as_bytes()
                            }).collect()).collect()
                        });
                        (n, reps.collect())
                    })
                    .collect();
                proptest::prop_assert_eq!(&tree, &reference_split(&segment, &d));
                for (n, reps) in &tree {
                    let field = segment.field(*n).expect("iterated fields are indexable");
                    for k in 1..=reps[0].len() {
                        let component = field.component(k).expect("component by index");
                        let iterated = field.components().nth(k - 1).expect("component by iteration");
                        proptest::prop_assert_eq!(component, iterated);
                    }
                    for (r, _) in (1..).zip(reps) {
                        let repetition = field.repetition(r).expect("repetition by index");
                        proptest::prop_assert_eq!(Some(repetition), field.repetitions().nth(r - 1));
                    }
                }
                proptest::prop_assert_eq!(segment.field(tree.len() + 1), None);
            }
        }
    }

    #[test]
    fn header_fields_by_index_agree_with_a_walk() {
        let mut long = b"MSH|^~\\&".to_vec();
        for n in 3..40 {
            long.extend(format!("|{n}^x~y&z").bytes());
        }
        let inputs: [&[u8]; 7] = [
            ADT,
            &long,
            b"MSH|^~\\&",
            b"MSH|^~\\&|",
            b"MSH|^~\\&|A||B|\rPID|1\r",
            b"\xEF\xBB\xBFMSH|^~\\&|A|B|C|D|E||ADT^A01|1|P|2.5|||||||UNICODE UTF-8\r",
            b"MSH|^~\\&|||||||||||||||||||||||||\r",
        ];
        for input in inputs {
            let m = Message::parse(input).unwrap();
            for n in 0..50 {
                assert_eq!(m.header_field(n), m.header().field(n), "MSH-{n} of {input:?}");
            }
        }
    }

    #[test]
    fn offsets_are_absolute() {
        let options = ParseOptions { strict_line_endings: false, origin: 100 };
        let m = Message::parse_with(b"MSH|^~\\&|A\rPID|1|x\r", options).unwrap();
        let pid = m.segment(1).unwrap();
        assert_eq!(pid.offset(), 111);
        assert_eq!(pid.field(2).unwrap().offset(), 117);
    }
}
