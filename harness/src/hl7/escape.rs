//! HL7 v2 escape sequences (HL7 v2.5.1 chapter 2, section 2.7 "Use of escape sequences in text
//! fields"): decoding them out of a value and encoding delimiters back into them.
//!
//! This module owns the escape grammar only. It works on one leaf value (a component or
//! subcomponent) that the parser has already split out, and never splits on delimiters itself.
//! The escape character is whatever MSH-2 declared ([`Delimiters::escape`]); nothing here
//! assumes `\`. It does not interpret formatting, highlighting or character-set switches: those
//! pass through unchanged for the layer that renders text (or switches charsets) to handle.
//!
//! Broken input never fails: a malformed sequence is kept literally and reported as an
//! [`EscapeIssue`], so a reader gets the best-effort value plus the list of problems.

use std::borrow::Cow;
use std::fmt;

use memchr::memchr;

use super::delimiters::{Delimiters, SEGMENT_TERMINATOR};
use super::finding::{Finding, Location, Severity};

/// The rule every escape finding cites.
pub const ESCAPE_RULE: &str = "HL7 v2.5.1 ch. 2, 2.7 (escape sequences)";

/// Line feed: not a delimiter, but a bare LF inside a value is read as a segment break by many
/// receivers, so [`escape`] writes it as hex data like CR.
const LINE_FEED: u8 = b'\n';

/// Longest excerpt of a malformed sequence kept in [`EscapeIssue::text`], so that one hostile
/// value with an unterminated escape cannot produce a megabyte-long finding message.
const MAX_ISSUE_TEXT: usize = 40;

/// The result of [`unescape`]: the decoded bytes and whatever was wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unescaped<'a> {
    /// The decoded value. Borrowed from the input when it holds no escape character.
    pub bytes: Cow<'a, [u8]>,
    /// Malformed sequences, in input order. Each was copied to `bytes` literally.
    pub issues: Vec<EscapeIssue>,
}

impl<'a> Unescaped<'a> {
    fn borrowed(raw: &'a [u8]) -> Self {
        Unescaped { bytes: Cow::Borrowed(raw), issues: Vec::new() }
    }

    /// True when every escape sequence in the input was well formed.
    pub fn is_clean(&self) -> bool {
        self.issues.is_empty()
    }

    /// The issues as findings, with `base_offset` the position of the value in the message.
    pub fn findings(&self, base_offset: usize) -> Vec<Finding> {
        self.issues.iter().map(|issue| issue.to_finding(base_offset)).collect()
    }
}

/// A malformed escape sequence found by [`unescape`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscapeIssue {
    /// Byte offset of the opening escape character within the value passed to [`unescape`].
    pub offset: usize,
    pub kind: EscapeIssueKind,
    /// The offending bytes as written (lossy UTF-8, shortened when very long).
    pub text: String,
}

/// What was wrong with an escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EscapeIssueKind {
    /// An escape character with no closing escape character before the end of the value or the
    /// next delimiter: a sequence cannot span delimiters, so the escape character is literal.
    Unterminated,
    /// Two escape characters with nothing between them.
    Empty,
    /// `\X..\` with no hex digits, an odd number of them, or a non-hex character.
    InvalidHex,
    /// `\C..\` or `\M..\` whose argument is not 4 (or, for `\M`, 6) hex digits.
    InvalidCharsetSwitch,
    /// `\T\` or `\P\` when MSH-2 declares no subcomponent or truncation character to decode to.
    UndeclaredCharacter,
    /// Anything else between two escape characters, e.g. `\Q\`.
    Unknown,
}

impl fmt::Display for EscapeIssueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EscapeIssueKind::Unterminated => "unterminated escape sequence",
            EscapeIssueKind::Empty => "empty escape sequence",
            EscapeIssueKind::InvalidHex => {
                "hex data escape needs an even, non-zero number of hex digits"
            }
            EscapeIssueKind::InvalidCharsetSwitch => {
                "character set escape needs 4 hex digits (\\C) or 4 or 6 hex digits (\\M)"
            }
            EscapeIssueKind::UndeclaredCharacter => {
                "escape for a delimiter that MSH-2 does not declare"
            }
            EscapeIssueKind::Unknown => "unknown escape sequence",
        })
    }
}

impl EscapeIssue {
    fn new(offset: usize, kind: EscapeIssueKind, bytes: &[u8]) -> Self {
        let shown = &bytes[..bytes.len().min(MAX_ISSUE_TEXT)];
        let mut text = String::from_utf8_lossy(shown).into_owned();
        if bytes.len() > MAX_ISSUE_TEXT {
            text.push('…');
        }
        EscapeIssue { offset, kind, text }
    }

    /// This issue as a finding; `base_offset` is the offset of the value within the message, so
    /// the finding points at the absolute byte of the opening escape character.
    pub fn to_finding(&self, base_offset: usize) -> Finding {
        Finding::new(
            "bad-escape-sequence",
            Severity::Warning,
            Location::at_offset(base_offset + self.offset),
            format!("{} `{}`; kept literally", self.kind, self.text),
            ESCAPE_RULE,
        )
    }
}

/// Why [`escape`] could not escape a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscapeError {
    #[error(
        "byte 0x{byte:02X} at offset {offset} is a delimiter and must be escaped, \
         but MSH-2 declares no escape character"
    )]
    NoEscapeCharacter { byte: u8, offset: usize },
    #[error(
        "delimiter byte 0x{byte:02X} is not ASCII; escaping it inside UTF-8 text could split a \
         character"
    )]
    NonAsciiDelimiter { byte: u8 },
}

/// True when `raw` contains the declared escape character, i.e. when [`unescape`] has work to
/// do. A message whose MSH-2 declares no escape character has no escape sequences.
pub fn has_escapes(raw: &[u8], delimiters: &Delimiters) -> bool {
    delimiters.escape.is_some_and(|escape| memchr(escape, raw).is_some())
}

/// Decodes the escape sequences in one value (chapter 2, 2.7).
///
/// Delimiter escapes (`\F\ \S\ \T\ \R\ \E\`, and `\P\` when MSH-2 declares a v2.7 truncation
/// character) become the declared delimiter bytes, and hex data `\Xhh..\` becomes raw bytes.
/// Highlighting (`\H\ \N\`), formatting (`\.br\` etc.), character-set switches
/// (`\Cxxyy\`, `\Mxxyy\`, `\Mxxyyzz\`) and locally defined `\Z..\` sequences are
/// kept whole, escape characters included, because their meaning belongs to the text renderer
/// or charset layer, not to the value.
///
/// Malformed sequences are kept literally and listed in [`Unescaped::issues`]. A terminated but
/// unrecognised sequence (`\Q\`) is kept whole and decoding resumes after it; an escape
/// character with no closer before the next delimiter is kept alone and decoding resumes right
/// after it, so `a\b^c\F\` still decodes its `\F\`.
///
/// Borrows and allocates nothing when the value holds no escape character, the common case.
pub fn unescape<'a>(raw: &'a [u8], delimiters: &Delimiters) -> Unescaped<'a> {
    let Some(escape) = delimiters.escape else {
        return Unescaped::borrowed(raw);
    };
    let Some(first) = memchr(escape, raw) else {
        return Unescaped::borrowed(raw);
    };

    let mut out = Vec::with_capacity(raw.len());
    let mut issues = Vec::new();
    // Everything before `pos` has been copied or decoded into `out`.
    let mut pos = 0;
    let mut next = Some(first);
    while let Some(start) = next {
        out.extend_from_slice(&raw[pos..start]);
        let content_start = start + 1;
        let Some(len) = memchr(escape, &raw[content_start..]) else {
            issues.push(EscapeIssue::new(start, EscapeIssueKind::Unterminated, &raw[start..]));
            out.extend_from_slice(&raw[start..]);
            pos = raw.len();
            break;
        };
        let end = content_start + len;
        let content = &raw[content_start..end];

        if let Some(boundary) = content.iter().position(|&b| is_boundary(b, delimiters)) {
            // A sequence never spans a delimiter or line break (2.7: sequences are within one
            // text value), so this escape character is a stray, not an opener.
            let text = &raw[start..content_start + boundary];
            issues.push(EscapeIssue::new(start, EscapeIssueKind::Unterminated, text));
            out.push(escape);
            pos = content_start;
        } else {
            let whole = &raw[start..=end];
            match classify(content, delimiters) {
                Ok(Sequence::Character(b)) => out.push(b),
                Ok(Sequence::Hex(digits)) => out.extend(
                    digits
                        .chunks_exact(2)
                        .filter_map(|pair| Some(hex_value(pair[0])? << 4 | hex_value(pair[1])?)),
                ),
                Ok(Sequence::PassThrough) => out.extend_from_slice(whole),
                Err(kind) => {
                    issues.push(EscapeIssue::new(start, kind, whole));
                    out.extend_from_slice(whole);
                }
            }
            pos = end + 1;
        }
        next = memchr(escape, &raw[pos..]).map(|n| pos + n);
    }
    out.extend_from_slice(&raw[pos..]);

    Unescaped { bytes: Cow::Owned(out), issues }
}

/// Escapes a value for writing into a message (chapter 2, 2.7, delimiter and hexadecimal escapes): the field,
/// component, subcomponent, repetition and escape characters become `\F\ \S\ \T\ \R\ \E\`, the
/// v2.7 truncation character (when declared) becomes `\P\`, and CR and LF become the hex data
/// escapes `\X0D\` and `\X0A\` so that they cannot end the segment.
///
/// Borrows when nothing needs escaping. Fails only when something does and MSH-2 declares no
/// escape character to do it with.
///
/// Escape sequence names are letters and digits, so delimiters must not be letters or digits
/// for the output to read back unambiguously; the standard's delimiters never are.
pub fn escape<'a>(value: &'a [u8], delimiters: &Delimiters) -> Result<Cow<'a, [u8]>, EscapeError> {
    let Some(first) = value.iter().position(|&b| sequence_for(b, delimiters).is_some()) else {
        return Ok(Cow::Borrowed(value));
    };
    let Some(escape) = delimiters.escape else {
        return Err(EscapeError::NoEscapeCharacter { byte: value[first], offset: first });
    };

    let mut out = Vec::with_capacity(value.len() + 8);
    out.extend_from_slice(&value[..first]);
    for &b in &value[first..] {
        match sequence_for(b, delimiters) {
            Some(name) => {
                out.push(escape);
                out.extend_from_slice(name);
                out.push(escape);
            }
            None => out.push(b),
        }
    }
    Ok(Cow::Owned(out))
}

/// [`escape`] for text. Fails with [`EscapeError::NonAsciiDelimiter`] when a declared
/// delimiter is not ASCII, because replacing such a byte could cut a UTF-8 character in two.
pub fn escape_str<'a>(text: &'a str, delimiters: &Delimiters) -> Result<Cow<'a, str>, EscapeError> {
    let declared = [
        Some(delimiters.field),
        Some(delimiters.component),
        Some(delimiters.repetition),
        delimiters.escape,
        delimiters.subcomponent,
        delimiters.truncation,
    ];
    if let Some(byte) = declared.into_iter().flatten().find(|b| !b.is_ascii()) {
        return Err(EscapeError::NonAsciiDelimiter { byte });
    }
    Ok(match escape(text.as_bytes(), delimiters)? {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        // Only ASCII bytes were replaced by ASCII sequences, so the result is still UTF-8; the
        // lossy fallback is never taken but keeps this free of a panic path.
        Cow::Owned(bytes) => Cow::Owned(
            String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        ),
    })
}

/// What a well-formed sequence decodes to.
enum Sequence<'a> {
    /// A delimiter escape: one byte.
    Character(u8),
    /// Hex data: validated, even-length hex digits.
    Hex(&'a [u8]),
    /// A sequence kept as written.
    PassThrough,
}

/// Reads the text between two escape characters.
fn classify<'a>(content: &'a [u8], d: &Delimiters) -> Result<Sequence<'a>, EscapeIssueKind> {
    let Some((&name, argument)) = content.split_first() else {
        return Err(EscapeIssueKind::Empty);
    };
    match (name, argument) {
        // Ch. 2, 2.7: delimiter escapes.
        (b'F', []) => Ok(Sequence::Character(d.field)),
        (b'S', []) => Ok(Sequence::Character(d.component)),
        (b'R', []) => Ok(Sequence::Character(d.repetition)),
        (b'E', []) => d.escape.map(Sequence::Character).ok_or(EscapeIssueKind::UndeclaredCharacter),
        (b'T', []) => {
            d.subcomponent.map(Sequence::Character).ok_or(EscapeIssueKind::UndeclaredCharacter)
        }
        // v2.7 ch. 2, 2.7: `\P\` is the truncation character; before v2.7 (or when MSH-2
        // has no fifth character) it has nothing to decode to.
        (b'P', []) => {
            d.truncation.map(Sequence::Character).ok_or(EscapeIssueKind::UndeclaredCharacter)
        }
        // Ch. 2, 2.7: highlighting.
        (b'H' | b'N', []) => Ok(Sequence::PassThrough),
        // Ch. 2, 2.7: hexadecimal data, pairs of hex digits (upper or lower case).
        (b'X', digits) => {
            if !digits.is_empty()
                && digits.len() % 2 == 0
                && digits.iter().all(u8::is_ascii_hexdigit)
            {
                Ok(Sequence::Hex(digits))
            } else {
                Err(EscapeIssueKind::InvalidHex)
            }
        }
        // Ch. 2, 2.7: single-byte (`\Cxxyy\`) and multi-byte (`\Mxxyy\`, `\Mxxyyzz\`) character
        // set switches: ISO 2022 escape sequences written as hex.
        (b'C', digits) => charset_switch(digits, &[4]),
        (b'M', digits) => charset_switch(digits, &[4, 6]),
        // Ch. 2, 2.7: locally defined escape sequences: any content is the sender's business.
        (b'Z', _) => Ok(Sequence::PassThrough),
        // Ch. 2, 2.7: formatted text commands (meaningful in FT fields).
        (b'.', command) if is_formatting(command) => Ok(Sequence::PassThrough),
        _ => Err(EscapeIssueKind::Unknown),
    }
}

fn charset_switch<'a>(digits: &[u8], lengths: &[usize]) -> Result<Sequence<'a>, EscapeIssueKind> {
    if lengths.contains(&digits.len()) && digits.iter().all(u8::is_ascii_hexdigit) {
        Ok(Sequence::PassThrough)
    } else {
        Err(EscapeIssueKind::InvalidCharsetSwitch)
    }
}

/// The formatted text commands of ch. 2, 2.7, after the leading `.`: `br fi nf ce` take no argument,
/// `sp sk` an optional count, `in ti` an optional signed count (indents may be negative).
fn is_formatting(command: &[u8]) -> bool {
    let (name, argument) = command.split_at(command.len().min(2));
    match name {
        b"br" | b"fi" | b"nf" | b"ce" => argument.is_empty(),
        b"sp" | b"sk" => argument.iter().all(u8::is_ascii_digit),
        b"in" | b"ti" => {
            let digits = argument.strip_prefix(b"+").or(argument.strip_prefix(b"-"));
            match digits {
                Some(digits) => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
                None => argument.iter().all(u8::is_ascii_digit),
            }
        }
        _ => false,
    }
}

/// Bytes that cannot occur inside an escape sequence: the separators and line breaks.
fn is_boundary(b: u8, d: &Delimiters) -> bool {
    b == SEGMENT_TERMINATOR
        || b == LINE_FEED
        || b == d.field
        || b == d.component
        || b == d.repetition
        || Some(b) == d.subcomponent
}

/// The escape sequence name that stands for `b`, when `b` must be escaped. The escape character
/// comes first so that a message whose delimiters collide still round-trips it.
fn sequence_for(b: u8, d: &Delimiters) -> Option<&'static [u8]> {
    if Some(b) == d.escape {
        Some(b"E")
    } else if b == d.field {
        Some(b"F")
    } else if b == d.component {
        Some(b"S")
    } else if Some(b) == d.subcomponent {
        Some(b"T")
    } else if b == d.repetition {
        Some(b"R")
    } else if Some(b) == d.truncation {
        Some(b"P")
    } else if b == SEGMENT_TERMINATOR {
        Some(b"X0D")
    } else if b == LINE_FEED {
        Some(b"X0A")
    } else {
        None
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `$%#!(`: field `$`, component `%`, repetition `#`, escape `!`, subcomponent `(`.
    fn custom() -> Delimiters {
        Delimiters {
            field: b'$',
            component: b'%',
            repetition: b'#',
            escape: Some(b'!'),
            subcomponent: Some(b'('),
            truncation: None,
        }
    }

    fn v27() -> Delimiters {
        Delimiters { truncation: Some(b'#'), ..Delimiters::default() }
    }

    /// Unescaping `input` with `delimiters` gives `expected` and reports nothing.
    fn check_with(delimiters: Delimiters, input: &str, expected: &[u8]) {
        let got = unescape(input.as_bytes(), &delimiters);
        assert_eq!(got.bytes.as_ref(), expected, "unescape {input:?}");
        assert_eq!(got.issues, vec![], "unescape {input:?}");
    }

    fn check(input: &str, expected: &str) {
        check_with(Delimiters::default(), input, expected.as_bytes());
    }

    /// Unescaping `input` keeps it literally and reports `kind` at `offset`.
    fn check_issue(input: &str, expected: &str, offset: usize, kind: EscapeIssueKind) {
        let got = unescape(input.as_bytes(), &Delimiters::default());
        assert_eq!(got.bytes.as_ref(), expected.as_bytes(), "unescape {input:?}");
        let found: Vec<_> = got.issues.iter().map(|i| (i.offset, i.kind)).collect();
        assert_eq!(found, vec![(offset, kind)], "issues for {input:?}");
    }

    fn check_escape(delimiters: Delimiters, input: &[u8], expected: &str) {
        let got = escape(input, &delimiters);
        assert_eq!(got.as_deref(), Ok(expected.as_bytes()), "escape {input:?}");
    }

    #[test]
    fn delimiter_escapes() {
        check(r"a\F\b", "a|b");
        check(r"\S\\T\\R\\E\", r"^&~\");
        check(r"Smith\S\John", "Smith^John");
        check(r"\E\\E\", r"\\");
        check(r"end\F\", "end|");
        check_with(v27(), r"a\P\b", b"a#b");
    }

    #[test]
    fn custom_delimiters() {
        check_with(custom(), "a!F!b!S!c!T!d!R!e!E!f", b"a$b%c(d#e!f");
        check_with(custom(), r"a\F\b", br"a\F\b");
        check_with(custom(), "!X0D0A!", b"\r\n");
        check_with(custom(), "!H!bold!N!", b"!H!bold!N!");
    }

    #[test]
    fn hex_data() {
        check_with(Delimiters::default(), r"\X0D\", b"\r");
        check_with(Delimiters::default(), r"a\X0d0A\b", b"a\r\nb");
        check_with(Delimiters::default(), r"\XC3A4\", "ä".as_bytes());
        check_with(Delimiters::default(), r"\X00FF\", b"\x00\xFF");
    }

    #[test]
    fn pass_through_sequences() {
        check(r"\H\bold\N\", r"\H\bold\N\");
        check(r"a\.br\b", r"a\.br\b");
        for seq in [r"\.sp\", r"\.sp2\", r"\.in-4\", r"\.ti+2\", r"\.sk3\", r"\.ce\", r"\.fi\"] {
            check(seq, seq);
        }
        check(r"\.nf\", r"\.nf\");
        check(r"\C2842\", r"\C2842\");
        check(r"\M2442\", r"\M2442\");
        check(r"\M242842\", r"\M242842\");
        check(r"\Zlocal\", r"\Zlocal\");
        check(r"\Z\", r"\Z\");
    }

    #[test]
    fn no_escape_character_declared() {
        let none = Delimiters { escape: None, subcomponent: None, ..Delimiters::default() };
        check_with(none, r"C:\F\x", br"C:\F\x");
        assert!(!has_escapes(br"C:\F\x", &none));
        assert!(has_escapes(br"C:\F\x", &Delimiters::default()));
        assert!(!has_escapes(b"plain", &Delimiters::default()));
    }

    #[test]
    fn borrowed_without_escapes() {
        assert!(matches!(unescape(b"plain text", &Delimiters::default()).bytes, Cow::Borrowed(_)));
        assert!(matches!(escape(b"plain text", &Delimiters::default()), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn malformed_sequences_are_kept_and_reported() {
        use EscapeIssueKind::*;
        check_issue(r"abc\F", r"abc\F", 3, Unterminated);
        check_issue(r"\Q\", r"\Q\", 0, Unknown);
        check_issue(r"x\X1\", r"x\X1\", 1, InvalidHex);
        check_issue(r"\XG0\", r"\XG0\", 0, InvalidHex);
        check_issue(r"\X\", r"\X\", 0, InvalidHex);
        check_issue(r"a\\b", r"a\\b", 1, Empty);
        check_issue(r"\C28\", r"\C28\", 0, InvalidCharsetSwitch);
        check_issue(r"\M24284\", r"\M24284\", 0, InvalidCharsetSwitch);
        check_issue(r"\P\", r"\P\", 0, UndeclaredCharacter);
        check_issue(r"\.xx\", r"\.xx\", 0, Unknown);
        check_issue(r"\.br2\", r"\.br2\", 0, Unknown);
        check_issue(r"\.in-\", r"\.in-\", 0, Unknown);
        check_issue(r"\f\", r"\f\", 0, Unknown);
        // A stray escape before a delimiter does not swallow the real sequence after it.
        check_issue(r"a\b^c\F\", r"a\b^c|", 1, Unterminated);
    }

    #[test]
    fn subcomponent_escape_needs_a_declared_subcomponent() {
        let d = Delimiters { subcomponent: None, ..Delimiters::default() };
        let got = unescape(br"\T\", &d);
        assert_eq!(got.bytes.as_ref(), br"\T\");
        assert_eq!(got.issues[0].kind, EscapeIssueKind::UndeclaredCharacter);
    }

    #[test]
    fn issue_becomes_a_finding_at_the_absolute_offset() {
        let got = unescape(br"ab\Q\", &Delimiters::default());
        let finding = got.issues[0].to_finding(100);
        assert_eq!(finding.code, "bad-escape-sequence");
        assert_eq!(finding.severity, Severity::Warning);
        assert_eq!(finding.location.offset, Some(102));
        assert_eq!(finding.rule, ESCAPE_RULE);
        assert_eq!(finding.message, r"unknown escape sequence `\Q\`; kept literally");
    }

    #[test]
    fn long_unterminated_text_is_shortened() {
        let input = format!(r"\{}", "a".repeat(1000));
        let got = unescape(input.as_bytes(), &Delimiters::default());
        assert_eq!(got.bytes.as_ref(), input.as_bytes());
        assert_eq!(got.issues[0].text.chars().count(), MAX_ISSUE_TEXT + 1);
    }

    #[test]
    fn escaping() {
        let d = Delimiters::default();
        check_escape(d, b"Smith^John", r"Smith\S\John");
        check_escape(d, br"a|b~c&d\e", r"a\F\b\R\c\T\d\E\e");
        check_escape(d, b"line1\r\nline2", r"line1\X0D\\X0A\line2");
        check_escape(d, b"#", "#");
        check_escape(v27(), b"a#b", r"a\P\b");
        check_escape(custom(), b"a$b%c#d!e(f\\g", r"a!F!b!S!c!R!d!E!e!T!f\g");
    }

    #[test]
    fn escaping_without_an_escape_character() {
        let none = Delimiters { escape: None, subcomponent: None, ..Delimiters::default() };
        assert_eq!(escape(b"plain", &none), Ok(Cow::Borrowed(&b"plain"[..])));
        let err = escape(b"ab^c", &none);
        assert_eq!(err, Err(EscapeError::NoEscapeCharacter { byte: b'^', offset: 2 }));
        assert_eq!(
            EscapeError::NoEscapeCharacter { byte: b'^', offset: 2 }.to_string(),
            "byte 0x5E at offset 2 is a delimiter and must be escaped, but MSH-2 declares no \
             escape character"
        );
    }

    #[test]
    fn escaping_text() {
        let d = Delimiters::default();
        assert_eq!(escape_str("Müller^Jürgen", &d).as_deref(), Ok(r"Müller\S\Jürgen"));
        assert!(matches!(escape_str("Müller", &d), Ok(Cow::Borrowed(_))));
        let latin = Delimiters { component: 0xA6, ..d };
        assert_eq!(escape_str("x", &latin), Err(EscapeError::NonAsciiDelimiter { byte: 0xA6 }));
    }

    /// Any six distinct ASCII punctuation delimiters, with the subcomponent and truncation
    /// characters sometimes undeclared. Letters and digits are excluded: they name sequences.
    fn delimiters() -> impl Strategy<Value = Delimiters> {
        let pool: Vec<u8> = (0x21u8..0x7F).filter(u8::is_ascii_punctuation).collect();
        (prop::sample::subsequence(pool, 6).prop_shuffle(), any::<bool>(), any::<bool>()).prop_map(
            |(d, has_sub, has_trunc)| Delimiters {
                field: d[0],
                component: d[1],
                repetition: d[2],
                escape: Some(d[3]),
                subcomponent: has_sub.then_some(d[4]),
                truncation: has_trunc.then_some(d[5]),
            },
        )
    }

    /// Bytes biased toward delimiters, escape-sequence letters and line breaks.
    fn value() -> impl Strategy<Value = Vec<u8>> {
        let interesting = prop::sample::select(b"|^~\\&#$%!(FSTREPXZHN.0A\r\n".to_vec());
        prop::collection::vec(prop_oneof![any::<u8>(), interesting], 0..64)
    }

    proptest! {
        #[test]
        fn unescape_inverts_escape(s in value(), d in delimiters()) {
            let escaped = escape(&s, &d).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back = unescape(&escaped, &d);
            prop_assert_eq!(back.issues, vec![]);
            prop_assert_eq!(back.bytes.as_ref(), s.as_slice());
        }

        #[test]
        fn escaped_values_hold_no_delimiters(s in value(), d in delimiters()) {
            let escaped = escape(&s, &d).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(!escaped.iter().any(|&b| is_boundary(b, &d) || Some(b) == d.truncation));
        }

        #[test]
        fn unescape_never_panics_and_reports_in_bounds(s in value(), d in delimiters()) {
            let got = unescape(&s, &d);
            let escape_char = d.escape.unwrap_or_default();
            for issue in &got.issues {
                prop_assert_eq!(s.get(issue.offset), Some(&escape_char));
            }
            if !has_escapes(&s, &d) {
                prop_assert!(matches!(got.bytes, Cow::Borrowed(_)));
            }
        }

        #[test]
        fn unescape_arbitrary_bytes(s in any::<Vec<u8>>()) {
            let got = unescape(&s, &Delimiters::default());
            prop_assert!(got.bytes.len() <= s.len());
        }
    }
}
