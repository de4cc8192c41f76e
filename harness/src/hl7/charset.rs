//! Character sets as declared by MSH-18 (HL7 v2.5.1 chapter 2, MSH-18 "Character Set", HL7
//! table 0211): naming them, decoding and encoding text, and finding bytes that the declared
//! character set does not allow.
//!
//! This module owns the byte ↔ text mapping only. It knows nothing of delimiters or escape
//! sequences, and it does not split MSH-18 into repetitions: when MSH-18 repeats (ISO 2022 code
//! extension with the `\C..\`/`\M..\` escapes of chapter 2, 2.7), the caller passes the first
//! repetition as the default character set and handles the switches itself.
//!
//! Decoding uses `encoding_rs` where its WHATWG encodings match the ISO standard the table
//! names, and small exact tables where they do not. Where no exact codec exists the choice is
//! documented on the variant and returned by [`Charset::note`].

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use encoding_rs::{DecoderResult, EncoderResult, Encoding};

use super::finding::{Finding, Location, Severity};

/// The rule every charset finding cites.
pub const CHARSET_RULE: &str = "HL7 v2.5.1 ch. 2, MSH-18 (table 0211 character set)";

/// Per-run findings listed before the rest are summarised in one finding, so a binary blob
/// declared as ASCII yields a readable report rather than thousands of lines.
pub const MAX_INVALID_BYTE_FINDINGS: usize = 20;

/// The UTF-8 encoding of U+FEFF, which editors and some engines put before `MSH`.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Bytes shown in a finding message before the rest of a run is elided.
const MAX_BYTES_SHOWN: usize = 8;

/// A character set from HL7 table 0211, as MSH-18 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Charset {
    /// `ASCII`: 7-bit US-ASCII, the default when MSH-18 is not valued. Every byte >= 0x80 is
    /// invalid.
    Ascii,
    /// `8859/1`: Latin-1. Decoded exactly (each byte is the code point of the same value), not
    /// with `encoding_rs`, whose WHATWG "ISO-8859-1" is really windows-1252.
    Iso8859_1,
    /// `8859/2`: Latin-2, central European.
    Iso8859_2,
    /// `8859/3`: Latin-3, south European.
    Iso8859_3,
    /// `8859/4`: Latin-4, north European.
    Iso8859_4,
    /// `8859/5`: Cyrillic.
    Iso8859_5,
    /// `8859/6`: Arabic.
    Iso8859_6,
    /// `8859/7`: Greek.
    Iso8859_7,
    /// `8859/8`: Hebrew (visual order, as ISO 8859-8 defines it).
    Iso8859_8,
    /// `8859/9`: Latin-5, Turkish. Decoded exactly (Latin-1 with six Turkish letters), not with
    /// `encoding_rs`, whose WHATWG "ISO-8859-9" is really windows-1254.
    Iso8859_9,
    /// `8859/15`: Latin-9 (Latin-1 with the euro sign).
    Iso8859_15,
    /// `ISO IR6`: ISO 646, the international reference version; the same bytes as ASCII.
    IsoIr6,
    /// `ISO IR14`: JIS X 0201 (one byte). Bytes below 0x80 decode as ASCII rather than the
    /// JIS-Roman yen sign and overline, because `\` is the HL7 escape character in practice;
    /// 0xA1–0xDF are the half-width katakana.
    IsoIr14,
    /// `ISO IR87`: JIS X 0208 (two byte). Decoded as ISO-2022-JP, the 7-bit ISO 2022 form
    /// (`ESC $ B`) that HL7 Japanese implementations use with this code.
    IsoIr87,
    /// `ISO IR159`: JIS X 0212 supplementary kanji. `encoding_rs` has JIS X 0212 only inside
    /// EUC-JP (decode only), so this decodes as EUC-JP; the ISO 2022 form (`ESC $ ( D`) is not
    /// supported, and encoding covers JIS X 0208 characters only.
    IsoIr159,
    /// `GB 18030-2000`: decoded with `encoding_rs` GB18030 (the 2005 mapping, a superset).
    Gb18030,
    /// `KS X 1001`: Korean, as EUC-KR. `encoding_rs` EUC-KR also accepts the windows-949
    /// (Unified Hangul Code) extension bytes, so those are not reported as invalid.
    KsX1001,
    /// `CNS 11643-1992`: Traditional Chinese. No codec is available, so only ASCII is decoded;
    /// other bytes decode to U+FFFD and cannot be checked.
    Cns11643,
    /// `BIG-5`: decoded with `encoding_rs` Big5, which includes the HKSCS extension.
    Big5,
    /// `UNICODE`: ISO/IEC 10646 without an encoding form. Treated as UTF-8, the only form in
    /// which HL7's single-byte delimiters work.
    Unicode,
    /// `UNICODE UTF-8`.
    UnicodeUtf8,
}

/// How a character set is decoded.
#[derive(Clone, Copy)]
enum Codec {
    /// Strict 7-bit ASCII.
    Ascii,
    /// ISO 8859-1: byte value = code point.
    Latin1,
    /// ISO 8859-9: Latin-1 with six substitutions.
    Latin5,
    /// JIS X 0201: ASCII plus half-width katakana at 0xA1–0xDF.
    JisX0201,
    Utf8,
    Whatwg(&'static Encoding),
    /// No codec: ASCII is decoded, everything else is U+FFFD and unverified.
    AsciiOnly,
}

/// ISO 8859-9 code points that differ from ISO 8859-1, as (byte, char).
const LATIN5_DIFFERENCES: [(u8, char); 6] =
    [(0xD0, 'Ğ'), (0xDD, 'İ'), (0xDE, 'Ş'), (0xF0, 'ğ'), (0xFD, 'ı'), (0xFE, 'ş')];

impl Charset {
    /// Every character set in table 0211 that can carry HL7's byte-oriented encoding.
    pub const ALL: [Charset; 21] = [
        Charset::Ascii,
        Charset::Iso8859_1,
        Charset::Iso8859_2,
        Charset::Iso8859_3,
        Charset::Iso8859_4,
        Charset::Iso8859_5,
        Charset::Iso8859_6,
        Charset::Iso8859_7,
        Charset::Iso8859_8,
        Charset::Iso8859_9,
        Charset::Iso8859_15,
        Charset::IsoIr6,
        Charset::IsoIr14,
        Charset::IsoIr87,
        Charset::IsoIr159,
        Charset::Gb18030,
        Charset::KsX1001,
        Charset::Cns11643,
        Charset::Big5,
        Charset::Unicode,
        Charset::UnicodeUtf8,
    ];

    /// The IANA charset name for a table 0211 character set; `None` when IANA registers none that
    /// matches (CNS 11643 has no registered byte encoding).
    pub fn iana_name(self) -> Option<&'static str> {
        Some(match self {
            Charset::Ascii | Charset::IsoIr6 => "US-ASCII",
            Charset::Iso8859_1 => "ISO-8859-1",
            Charset::Iso8859_2 => "ISO-8859-2",
            Charset::Iso8859_3 => "ISO-8859-3",
            Charset::Iso8859_4 => "ISO-8859-4",
            Charset::Iso8859_5 => "ISO-8859-5",
            Charset::Iso8859_6 => "ISO-8859-6",
            Charset::Iso8859_7 => "ISO-8859-7",
            Charset::Iso8859_8 => "ISO-8859-8",
            Charset::Iso8859_9 => "ISO-8859-9",
            Charset::Iso8859_15 => "ISO-8859-15",
            Charset::IsoIr14 => "JIS_X0201",
            Charset::IsoIr87 => "ISO-2022-JP",
            Charset::IsoIr159 => "JIS_X0212-1990",
            Charset::Gb18030 => "GB18030",
            Charset::KsX1001 => "EUC-KR",
            Charset::Cns11643 => return None,
            Charset::Big5 => "Big5",
            Charset::Unicode | Charset::UnicodeUtf8 => "UTF-8",
        })
    }

    /// The value as table 0211 spells it.
    pub fn code(self) -> &'static str {
        match self {
            Charset::Ascii => "ASCII",
            Charset::Iso8859_1 => "8859/1",
            Charset::Iso8859_2 => "8859/2",
            Charset::Iso8859_3 => "8859/3",
            Charset::Iso8859_4 => "8859/4",
            Charset::Iso8859_5 => "8859/5",
            Charset::Iso8859_6 => "8859/6",
            Charset::Iso8859_7 => "8859/7",
            Charset::Iso8859_8 => "8859/8",
            Charset::Iso8859_9 => "8859/9",
            Charset::Iso8859_15 => "8859/15",
            Charset::IsoIr6 => "ISO IR6",
            Charset::IsoIr14 => "ISO IR14",
            Charset::IsoIr87 => "ISO IR87",
            Charset::IsoIr159 => "ISO IR159",
            Charset::Gb18030 => "GB 18030-2000",
            Charset::KsX1001 => "KS X 1001",
            Charset::Cns11643 => "CNS 11643-1992",
            Charset::Big5 => "BIG-5",
            Charset::Unicode => "UNICODE",
            Charset::UnicodeUtf8 => "UNICODE UTF-8",
        }
    }

    /// Where this implementation only approximates the character set, why; `None` when the
    /// codec is exact.
    pub fn note(self) -> Option<&'static str> {
        match self {
            Charset::IsoIr14 => Some("bytes below 0x80 are read as ASCII, not JIS-Roman"),
            Charset::IsoIr87 => Some("decoded as ISO-2022-JP"),
            Charset::IsoIr159 => {
                Some("decoded as EUC-JP; the ISO 2022 form of JIS X 0212 is not supported")
            }
            Charset::KsX1001 => Some("decoded as EUC-KR, which also accepts windows-949 bytes"),
            Charset::Big5 => Some("decoded as Big5 with the HKSCS extension"),
            Charset::Cns11643 => {
                Some("no codec available: non-ASCII bytes decode to U+FFFD and are not checked")
            }
            Charset::Unicode => Some("no encoding form named; treated as UTF-8"),
            Charset::Gb18030 => Some("decoded with the GB 18030-2005 mapping"),
            _ => None,
        }
    }

    /// Reads MSH-18 (one repetition). Spaces around the value are ignored; an empty value is
    /// ASCII, the standard's default when MSH-18 is not valued. Case and common spellings such
    /// as `UTF-8` or `ISO-8859-1` are accepted; use [`Charset::parse_msh18`] to learn whether
    /// the value was a table 0211 code as written.
    pub fn from_msh18(value: &[u8]) -> Result<Charset, UnknownCharset> {
        Charset::parse_msh18(value).map(|parsed| parsed.charset)
    }

    /// Like [`Charset::from_msh18`], but also says whether the value was spelled exactly as
    /// table 0211 spells it.
    pub fn parse_msh18(value: &[u8]) -> Result<ParsedCharset, UnknownCharset> {
        let trimmed = value.trim_ascii();
        let Ok(text) = std::str::from_utf8(trimmed) else {
            return Err(UnknownCharset::NotInTable0211 {
                value: String::from_utf8_lossy(trimmed).into_owned(),
            });
        };
        if text.is_empty() {
            // Chapter 2, MSH-18: when the field is not valued, ASCII is assumed.
            return Ok(ParsedCharset { charset: Charset::Ascii, standard_spelling: true });
        }
        if let Some(charset) = Charset::ALL.into_iter().find(|c| c.code() == text) {
            return Ok(ParsedCharset { charset, standard_spelling: true });
        }
        let key = normalize(text);
        let key = match key.strip_prefix("ISO8859") {
            Some(part) => format!("8859{part}"),
            None => key,
        };
        let alias = match key.as_str() {
            "USASCII" => Some(Charset::Ascii),
            "UTF8" => Some(Charset::UnicodeUtf8),
            "GB18030" => Some(Charset::Gb18030),
            "EUCKR" => Some(Charset::KsX1001),
            "CNS11643" => Some(Charset::Cns11643),
            _ => None,
        };
        let charset =
            alias.or_else(|| Charset::ALL.into_iter().find(|c| normalize(c.code()) == key));
        match charset {
            Some(charset) => Ok(ParsedCharset { charset, standard_spelling: false }),
            None if key.contains("UTF16") || key.contains("UTF32") => {
                Err(UnknownCharset::NotByteOriented { value: text.to_string() })
            }
            None => Err(UnknownCharset::NotInTable0211 { value: text.to_string() }),
        }
    }

    fn codec(self) -> Codec {
        match self {
            Charset::Ascii | Charset::IsoIr6 => Codec::Ascii,
            Charset::Iso8859_1 => Codec::Latin1,
            Charset::Iso8859_2 => Codec::Whatwg(encoding_rs::ISO_8859_2),
            Charset::Iso8859_3 => Codec::Whatwg(encoding_rs::ISO_8859_3),
            Charset::Iso8859_4 => Codec::Whatwg(encoding_rs::ISO_8859_4),
            Charset::Iso8859_5 => Codec::Whatwg(encoding_rs::ISO_8859_5),
            Charset::Iso8859_6 => Codec::Whatwg(encoding_rs::ISO_8859_6),
            Charset::Iso8859_7 => Codec::Whatwg(encoding_rs::ISO_8859_7),
            Charset::Iso8859_8 => Codec::Whatwg(encoding_rs::ISO_8859_8),
            Charset::Iso8859_9 => Codec::Latin5,
            Charset::Iso8859_15 => Codec::Whatwg(encoding_rs::ISO_8859_15),
            Charset::IsoIr14 => Codec::JisX0201,
            Charset::IsoIr87 => Codec::Whatwg(encoding_rs::ISO_2022_JP),
            Charset::IsoIr159 => Codec::Whatwg(encoding_rs::EUC_JP),
            Charset::Gb18030 => Codec::Whatwg(encoding_rs::GB18030),
            Charset::KsX1001 => Codec::Whatwg(encoding_rs::EUC_KR),
            Charset::Cns11643 => Codec::AsciiOnly,
            Charset::Big5 => Codec::Whatwg(encoding_rs::BIG5),
            Charset::Unicode | Charset::UnicodeUtf8 => Codec::Utf8,
        }
    }
}

impl fmt::Display for Charset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Uppercase with spaces, hyphens, underscores, slashes and dots removed, so that `iso-8859/1`
/// and `ISO 8859-1` compare equal.
fn normalize(value: &str) -> String {
    value
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_' | '/' | '.'))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A character set read from MSH-18, with whether it was spelled as table 0211 spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedCharset {
    pub charset: Charset,
    /// False for accepted spellings that are not table 0211 codes, e.g. `UTF-8`, `iso-8859-1`.
    pub standard_spelling: bool,
}

impl ParsedCharset {
    /// A `nonstandard-charset-name` finding when the value was not a table 0211 code as
    /// written; `offset` is where MSH-18 starts in the message.
    pub fn finding(&self, offset: usize) -> Option<Finding> {
        (!self.standard_spelling).then(|| {
            Finding::new(
                "nonstandard-charset-name",
                Severity::Error,
                Location::at_offset(offset),
                format!(
                    "MSH-18 is not a table 0211 code; read as `{}`, which is how table 0211 \
                     spells it",
                    self.charset
                ),
                CHARSET_RULE,
            )
        })
    }
}

/// An MSH-18 value this module cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownCharset {
    #[error("MSH-18 value `{value}` is not a character set in HL7 table 0211")]
    NotInTable0211 { value: String },
    /// UTF-16 and UTF-32 are in table 0211 but cannot carry the standard encoding rules, whose
    /// delimiters are single bytes (chapter 2, 2.5.4 message delimiters).
    #[error(
        "MSH-18 value `{value}` names a 16- or 32-bit Unicode form, which the HL7 byte-oriented \
         encoding rules cannot carry"
    )]
    NotByteOriented { value: String },
}

/// A character that the target character set cannot represent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("character {ch:?} (U+{code:04X}) at byte {index} cannot be encoded in {charset}", code = u32::from(*ch))]
pub struct Unmappable {
    pub ch: char,
    /// Byte offset of the character in the text passed to [`encode`].
    pub index: usize,
    pub charset: Charset,
}

/// Decodes bytes in the given character set, replacing invalid bytes with U+FFFD. Borrows when
/// the bytes are already valid text unchanged: ASCII in any ASCII-compatible set, or valid
/// UTF-8 when the set is UTF-8. A byte order mark is kept as U+FEFF; [`check_bytes`] reports it.
pub fn decode(bytes: &[u8], charset: Charset) -> Cow<'_, str> {
    match charset.codec() {
        Codec::Utf8 => String::from_utf8_lossy(bytes),
        Codec::Whatwg(encoding) => encoding.decode_without_bom_handling(bytes).0,
        codec => match ascii_str(bytes) {
            Some(text) => Cow::Borrowed(text),
            None => Cow::Owned(bytes.iter().map(|&b| decode_byte(codec, b)).collect()),
        },
    }
}

/// Whether [`decode`] gives back unchanged every piece of a message that is valid UTF-8, and
/// all ASCII when `all_ascii` says so: then a piece of that message is its own text, and
/// [`Message::text`](super::Message::text) takes it from the message's text, checked once at
/// parse. Never for the WHATWG codecs: some of them (ISO-2022-JP) read ASCII bytes as shifts.
pub(crate) fn decodes_unchanged(charset: Charset, all_ascii: impl FnOnce() -> bool) -> bool {
    match charset.codec() {
        Codec::Utf8 => true,
        Codec::Whatwg(_) => false,
        Codec::Ascii | Codec::Latin1 | Codec::Latin5 | Codec::JisX0201 | Codec::AsciiOnly => {
            all_ascii()
        }
    }
}

/// The character of one byte in a single-byte codec.
fn decode_byte(codec: Codec, b: u8) -> char {
    match codec {
        _ if b.is_ascii() => char::from(b),
        Codec::Latin1 => char::from(b),
        Codec::Latin5 => LATIN5_DIFFERENCES
            .iter()
            .find(|(byte, _)| *byte == b)
            .map_or(char::from(b), |(_, ch)| *ch),
        Codec::JisX0201 if (0xA1..=0xDF).contains(&b) => {
            char::from_u32(0xFF61 + u32::from(b - 0xA1)).unwrap_or(char::REPLACEMENT_CHARACTER)
        }
        _ => char::REPLACEMENT_CHARACTER,
    }
}

fn ascii_str(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// Finds the bytes that the declared character set does not allow (chapter 2, MSH-18): one
/// `charset-invalid-byte` finding per run of consecutive invalid bytes, at absolute offset
/// `base_offset + i`, at most [`MAX_INVALID_BYTE_FINDINGS`] of them and then one summary. A UTF-8
/// byte order mark at the start of `bytes` gets a `byte-order-mark` error instead, whatever
/// the declared set: a message must start with `MSH`.
///
/// For `CNS 11643-1992` no codec exists, so non-ASCII bytes are not checked and one
/// `charset-unverified` info finding says so.
/// The finding for a UTF-8 byte-order mark at `offset`: a message begins with `MSH` (ch. 2,
/// 2.5.2), whatever its character set, so the mark is not part of an HL7 message.
pub fn byte_order_mark(offset: usize) -> Finding {
    Finding::new(
        "byte-order-mark",
        Severity::Error,
        Location::at_offset(offset),
        "message starts with a UTF-8 byte order mark (0xEF 0xBB 0xBF) before MSH",
        "HL7 v2.5.1 ch. 2, 2.5.2 (a message begins with the MSH segment)",
    )
}

pub fn check_bytes(bytes: &[u8], charset: Charset, base_offset: usize) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut start = 0;
    if bytes.starts_with(UTF8_BOM) {
        findings.push(byte_order_mark(base_offset));
        start = UTF8_BOM.len();
    }
    let body = &bytes[start..];

    if matches!(charset.codec(), Codec::AsciiOnly) && !body.is_ascii() {
        findings.push(Finding::new(
            "charset-unverified",
            Severity::Info,
            Location::at_offset(base_offset + start),
            format!("non-ASCII bytes in {charset} cannot be checked: no codec is available"),
            CHARSET_RULE,
        ));
    }

    let runs = invalid_runs(body, charset.codec());
    for run in runs.iter().take(MAX_INVALID_BYTE_FINDINGS) {
        let offset = base_offset + start + run.start;
        let shown = describe_bytes(&body[run.clone()]);
        let message = match run.len() {
            1 => format!(
                "invalid byte {shown} at offset {offset} for MSH-18 character set {charset}"
            ),
            n => format!(
                "{n} invalid bytes {shown} at offset {offset} for MSH-18 character set {charset}"
            ),
        };
        findings.push(Finding::new(
            "charset-invalid-byte",
            Severity::Error,
            Location::at_offset(offset),
            message,
            CHARSET_RULE,
        ));
    }
    if let Some(first_omitted) = runs.get(MAX_INVALID_BYTE_FINDINGS) {
        let omitted = &runs[MAX_INVALID_BYTE_FINDINGS..];
        let bytes_omitted: usize = omitted.iter().map(|run| run.len()).sum();
        let offset = base_offset + start + first_omitted.start;
        findings.push(Finding::new(
            "charset-invalid-byte",
            Severity::Error,
            Location::at_offset(offset),
            format!(
                "{} more runs of invalid bytes ({bytes_omitted} bytes) for MSH-18 character set \
                 {charset}, the first at offset {offset}; not listed individually",
                omitted.len()
            ),
            CHARSET_RULE,
        ));
    }
    findings
}

/// `0xE4` or `0xE4 0x80 …` for a finding message.
fn describe_bytes(bytes: &[u8]) -> String {
    let mut parts: Vec<String> =
        bytes.iter().take(MAX_BYTES_SHOWN).map(|b| format!("0x{b:02X}")).collect();
    if bytes.len() > MAX_BYTES_SHOWN {
        parts.push("…".to_string());
    }
    parts.join(" ")
}

/// The ranges of invalid bytes, merged where they touch.
fn invalid_runs(bytes: &[u8], codec: Codec) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    match codec {
        Codec::Utf8 => {
            let mut pos = 0;
            while let Some(rest) = bytes.get(pos..).filter(|rest| !rest.is_empty()) {
                match std::str::from_utf8(rest) {
                    Ok(_) => break,
                    Err(e) => {
                        let bad_start = pos + e.valid_up_to();
                        // `error_len` is None for a sequence cut off by the end of the input.
                        let bad_end = e.error_len().map_or(bytes.len(), |len| bad_start + len);
                        push_run(&mut runs, bad_start..bad_end);
                        pos = bad_end;
                    }
                }
            }
        }
        Codec::Whatwg(encoding) => {
            let mut decoder = encoding.new_decoder_without_bom_handling();
            let mut scratch = [0u8; 1024];
            let mut pos = 0;
            loop {
                let rest = bytes.get(pos..).unwrap_or_default();
                let (result, read, _) =
                    decoder.decode_to_utf8_without_replacement(rest, &mut scratch, true);
                pos += read;
                match result {
                    DecoderResult::InputEmpty => break,
                    DecoderResult::OutputFull => {}
                    DecoderResult::Malformed(bad, after) => {
                        let end = pos.saturating_sub(usize::from(after));
                        let start = end.saturating_sub(usize::from(bad));
                        push_run(&mut runs, start..end);
                    }
                }
            }
        }
        // Most messages are plain ASCII: one vectorised check instead of a lookup per byte.
        Codec::Ascii if bytes.is_ascii() => {}
        Codec::Ascii | Codec::JisX0201 => {
            for (i, &b) in bytes.iter().enumerate() {
                if decode_byte(codec, b) == char::REPLACEMENT_CHARACTER {
                    push_run(&mut runs, i..i + 1);
                }
            }
        }
        // Every byte is a character in Latin-1 and Latin-5 (0x80–0x9F are the C1 controls);
        // with no codec, nothing beyond ASCII can be judged.
        Codec::Latin1 | Codec::Latin5 | Codec::AsciiOnly => {}
    }
    runs
}

fn push_run(runs: &mut Vec<Range<usize>>, run: Range<usize>) {
    if run.is_empty() {
        return;
    }
    match runs.last_mut() {
        Some(last) if last.end >= run.start => last.end = last.end.max(run.end),
        _ => runs.push(run),
    }
}

/// Encodes text in the given character set, failing at the first character it cannot
/// represent. Borrows when the bytes are the text's own: UTF-8, or ASCII text in an
/// ASCII-compatible set.
pub fn encode(text: &str, charset: Charset) -> Result<Cow<'_, [u8]>, Unmappable> {
    let codec = charset.codec();
    if matches!(codec, Codec::Utf8) {
        return Ok(Cow::Borrowed(text.as_bytes()));
    }
    // ISO-2022-JP reserves ESC, SO and SI for its own shifts, so text holding them must go
    // through the encoder, which rejects them.
    let shifts_reserved = matches!(codec, Codec::Whatwg(e) if e == encoding_rs::ISO_2022_JP);
    if text.is_ascii()
        && !(shifts_reserved && text.bytes().any(|b| matches!(b, 0x0E | 0x0F | 0x1B)))
    {
        return Ok(Cow::Borrowed(text.as_bytes()));
    }
    match codec {
        Codec::Whatwg(encoding) => encode_whatwg(text, encoding, charset).map(Cow::Owned),
        _ => {
            let mut out = Vec::with_capacity(text.len());
            for (index, ch) in text.char_indices() {
                match encode_char(codec, ch) {
                    Some(b) => out.push(b),
                    None => return Err(Unmappable { ch, index, charset }),
                }
            }
            Ok(Cow::Owned(out))
        }
    }
}

/// The byte of one character in a single-byte codec.
fn encode_char(codec: Codec, ch: char) -> Option<u8> {
    let code = u32::from(ch);
    match codec {
        _ if ch.is_ascii() => u8::try_from(code).ok(),
        Codec::Latin1 => u8::try_from(code).ok(),
        Codec::Latin5 => match LATIN5_DIFFERENCES.iter().find(|(_, c)| *c == ch) {
            Some((b, _)) => Some(*b),
            None => u8::try_from(code)
                .ok()
                .filter(|b| !LATIN5_DIFFERENCES.iter().any(|(replaced, _)| replaced == b)),
        },
        Codec::JisX0201 if (0xFF61..=0xFF9F).contains(&code) => {
            u8::try_from(code - 0xFF61 + 0xA1).ok()
        }
        _ => None,
    }
}

fn encode_whatwg(
    text: &str,
    encoding: &'static Encoding,
    charset: Charset,
) -> Result<Vec<u8>, Unmappable> {
    let mut encoder = encoding.new_encoder();
    let mut out = Vec::with_capacity(text.len() * 2);
    let mut scratch = [0u8; 1024];
    let mut pos = 0;
    loop {
        // The encoder consumes whole characters, so `pos` is always a char boundary.
        let rest = text.get(pos..).unwrap_or_default();
        let (result, read, written) =
            encoder.encode_from_utf8_without_replacement(rest, &mut scratch, true);
        pos += read;
        out.extend_from_slice(&scratch[..written]);
        match result {
            EncoderResult::InputEmpty => return Ok(out),
            EncoderResult::OutputFull => {}
            EncoderResult::Unmappable(reported) => {
                // The unmappable character is the last one consumed. Take it from the text:
                // for ESC, SO and SI the ISO-2022-JP encoder reports U+FFFD instead.
                let consumed = text.get(..pos).unwrap_or_default();
                let (index, ch) = consumed
                    .char_indices()
                    .next_back()
                    .unwrap_or((pos.saturating_sub(reported.len_utf8()), reported));
                return Err(Unmappable { ch, index, charset });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `text` encodes in `charset` to exactly `bytes`, and `bytes` decode back to `text` with no
    /// findings.
    fn check(charset: Charset, text: &str, bytes: &[u8]) {
        assert_eq!(encode(text, charset).as_deref(), Ok(bytes), "encode {text:?} in {charset}");
        assert_eq!(decode(bytes, charset), text, "decode {bytes:02X?} in {charset}");
        assert_eq!(check_bytes(bytes, charset, 0), vec![], "check {bytes:02X?} in {charset}");
    }

    /// The offsets and messages of the findings for `bytes` at `base_offset`.
    fn check_findings(
        charset: Charset,
        bytes: &[u8],
        base_offset: usize,
        expected: &[(usize, &str)],
    ) {
        let got: Vec<_> = check_bytes(bytes, charset, base_offset)
            .into_iter()
            .map(|f| (f.location.offset.unwrap_or(usize::MAX), f.message))
            .collect();
        let expected: Vec<_> = expected.iter().map(|(o, m)| (*o, m.to_string())).collect();
        assert_eq!(got, expected, "findings for {bytes:02X?} in {charset}");
    }

    fn check_msh18(value: &str, charset: Charset, standard_spelling: bool) {
        assert_eq!(
            Charset::parse_msh18(value.as_bytes()),
            Ok(ParsedCharset { charset, standard_spelling }),
            "MSH-18 {value:?}"
        );
    }

    #[test]
    fn round_trips() {
        check(Charset::Ascii, "MSH|^~\\&|", b"MSH|^~\\&|");
        check(Charset::Iso8859_1, "äñø", b"\xE4\xF1\xF8");
        check(Charset::Iso8859_1, "\u{85}", b"\x85");
        check(Charset::Iso8859_9, "Ğİşı", b"\xD0\xDD\xFE\xFD");
        check(Charset::Iso8859_15, "€", b"\xA4");
        check(Charset::Iso8859_7, "Ωα", b"\xD9\xE1");
        check(Charset::Iso8859_5, "Жя", b"\xB6\xEF");
        check(Charset::UnicodeUtf8, "中文", b"\xE4\xB8\xAD\xE6\x96\x87");
        check(Charset::UnicodeUtf8, "😀", b"\xF0\x9F\x98\x80");
        check(Charset::Unicode, "ä", b"\xC3\xA4");
        check(Charset::Gb18030, "中文", b"\xD6\xD0\xCE\xC4");
        check(Charset::Gb18030, "😀", b"\x94\x39\xFC\x36");
        check(Charset::KsX1001, "한국", b"\xC7\xD1\xB1\xB9");
        check(Charset::Big5, "中文", b"\xA4\xA4\xA4\xE5");
        check(Charset::IsoIr87, "日本", b"\x1B$BF|K\\\x1B(B");
        check(Charset::IsoIr14, "ｱｲ", b"\xB1\xB2");
        check(Charset::IsoIr159, "日本", b"\xC6\xFC\xCB\xDC");
    }

    #[test]
    fn borrowed_when_unchanged() {
        assert!(matches!(decode(b"PID|1", Charset::Iso8859_1), Cow::Borrowed(_)));
        assert!(matches!(decode(b"PID|1", Charset::Gb18030), Cow::Borrowed(_)));
        assert!(matches!(decode("ä".as_bytes(), Charset::UnicodeUtf8), Cow::Borrowed(_)));
        assert!(matches!(encode("PID|1", Charset::Big5), Ok(Cow::Borrowed(_))));
        assert!(matches!(encode("ä😀", Charset::UnicodeUtf8), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn unmappable_characters() {
        let err = encode("Müller", Charset::Ascii);
        assert_eq!(err, Err(Unmappable { ch: 'ü', index: 1, charset: Charset::Ascii }));
        assert_eq!(
            err.map_err(|e| e.to_string()),
            Err("character 'ü' (U+00FC) at byte 1 cannot be encoded in ASCII".to_string())
        );
        let err = encode("ab€", Charset::Iso8859_1);
        assert_eq!(err, Err(Unmappable { ch: '€', index: 2, charset: Charset::Iso8859_1 }));
        let err = encode("aä😀", Charset::Iso8859_7);
        assert_eq!(err, Err(Unmappable { ch: 'ä', index: 1, charset: Charset::Iso8859_7 }));
        let err = encode("x😀", Charset::KsX1001);
        assert_eq!(err, Err(Unmappable { ch: '😀', index: 1, charset: Charset::KsX1001 }));
        let err = encode("Ð", Charset::Iso8859_9);
        assert_eq!(err, Err(Unmappable { ch: 'Ð', index: 0, charset: Charset::Iso8859_9 }));
        let err = encode("a\u{1B}", Charset::IsoIr87);
        assert_eq!(err, Err(Unmappable { ch: '\u{1B}', index: 1, charset: Charset::IsoIr87 }));
        let err = encode("中", Charset::Cns11643);
        assert_eq!(err, Err(Unmappable { ch: '中', index: 0, charset: Charset::Cns11643 }));
    }

    #[test]
    fn ascii_is_strict_seven_bit() {
        check_findings(
            Charset::Ascii,
            b"PID|1||M\xE4ller",
            200,
            &[(208, "invalid byte 0xE4 at offset 208 for MSH-18 character set ASCII")],
        );
        assert_eq!(decode(b"M\xE4ller", Charset::Ascii), "M\u{FFFD}ller");
        assert_eq!(decode(b"M\xE4ller", Charset::IsoIr6), "M\u{FFFD}ller");
    }

    #[test]
    fn invalid_utf8_is_reported_per_run() {
        check_findings(
            Charset::UnicodeUtf8,
            b"ab\xFF\xFEcd\xC3",
            10,
            &[
                (
                    12,
                    "2 invalid bytes 0xFF 0xFE at offset 12 for MSH-18 character set UNICODE UTF-8",
                ),
                (16, "invalid byte 0xC3 at offset 16 for MSH-18 character set UNICODE UTF-8"),
            ],
        );
        // A lead byte followed by ASCII is one bad byte, and the ASCII is fine.
        check_findings(
            Charset::UnicodeUtf8,
            b"\xE4x",
            0,
            &[(0, "invalid byte 0xE4 at offset 0 for MSH-18 character set UNICODE UTF-8")],
        );
        assert_eq!(decode(b"a\xFFb", Charset::UnicodeUtf8), "a\u{FFFD}b");
    }

    #[test]
    fn invalid_multibyte_and_single_byte_sets() {
        check_findings(
            Charset::Iso8859_7,
            b"a\xAEb",
            0,
            &[(1, "invalid byte 0xAE at offset 1 for MSH-18 character set 8859/7")],
        );
        check_findings(
            Charset::IsoIr87,
            b"ok\xE4",
            5,
            &[(7, "invalid byte 0xE4 at offset 7 for MSH-18 character set ISO IR87")],
        );
        check_findings(
            Charset::IsoIr14,
            b"\xB1\x80",
            0,
            &[(1, "invalid byte 0x80 at offset 1 for MSH-18 character set ISO IR14")],
        );
        assert_eq!(check_bytes(&(0..=255).collect::<Vec<u8>>(), Charset::Iso8859_1, 0), vec![]);
        let findings = check_bytes(b"ab\xFF", Charset::Gb18030, 0);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].location.offset, Some(2));
    }

    #[test]
    fn findings_are_capped() {
        let bytes: Vec<u8> = (0..25).flat_map(|_| [b'a', 0x80]).collect();
        let findings = check_bytes(&bytes, Charset::Ascii, 0);
        assert_eq!(findings.len(), MAX_INVALID_BYTE_FINDINGS + 1);
        assert!(findings.iter().all(|f| f.code == "charset-invalid-byte"));
        assert!(findings.iter().all(|f| f.severity == Severity::Error && f.rule == CHARSET_RULE));
        let summary = &findings[MAX_INVALID_BYTE_FINDINGS];
        assert_eq!(summary.location.offset, Some(41));
        assert_eq!(
            summary.message,
            "5 more runs of invalid bytes (5 bytes) for MSH-18 character set ASCII, the first at \
             offset 41; not listed individually"
        );
    }

    #[test]
    fn long_runs_are_elided() {
        check_findings(
            Charset::Ascii,
            &[0xFF; 10],
            0,
            &[(
                0,
                "10 invalid bytes 0xFF 0xFF 0xFF 0xFF 0xFF 0xFF 0xFF 0xFF … at offset 0 for MSH-18 \
                 character set ASCII",
            )],
        );
    }

    #[test]
    fn byte_order_mark() {
        let findings = check_bytes(b"\xEF\xBB\xBFMSH|\xFF", Charset::UnicodeUtf8, 0);
        let codes: Vec<_> =
            findings.iter().map(|f| (f.code, f.severity, f.location.offset)).collect();
        assert_eq!(
            codes,
            vec![
                ("byte-order-mark", Severity::Error, Some(0)),
                ("charset-invalid-byte", Severity::Error, Some(7)),
            ]
        );
        // In ASCII the mark is still reported as a mark, not as three invalid bytes.
        let findings = check_bytes(b"\xEF\xBB\xBFMSH|", Charset::Ascii, 0);
        assert_eq!(findings.iter().map(|f| f.code).collect::<Vec<_>>(), vec!["byte-order-mark"]);
        assert_eq!(decode(b"\xEF\xBB\xBFM", Charset::UnicodeUtf8), "\u{FEFF}M");
    }

    #[test]
    fn unverifiable_charset() {
        let findings = check_bytes(b"a\xA4\xA4", Charset::Cns11643, 0);
        assert_eq!(findings.iter().map(|f| f.code).collect::<Vec<_>>(), vec!["charset-unverified"]);
        assert_eq!(decode(b"a\xA4", Charset::Cns11643), "a\u{FFFD}");
        assert_eq!(check_bytes(b"abc", Charset::Cns11643, 0), vec![]);
    }

    #[test]
    fn msh18_values() {
        for charset in Charset::ALL {
            check_msh18(charset.code(), charset, true);
        }
        check_msh18("", Charset::Ascii, true);
        check_msh18("  ", Charset::Ascii, true);
        check_msh18(" 8859/1 ", Charset::Iso8859_1, true);
        check_msh18("UTF-8", Charset::UnicodeUtf8, false);
        check_msh18("utf8", Charset::UnicodeUtf8, false);
        check_msh18("unicode utf-8", Charset::UnicodeUtf8, false);
        check_msh18("ISO-8859-1", Charset::Iso8859_1, false);
        check_msh18("iso_8859-15", Charset::Iso8859_15, false);
        check_msh18("8859-1", Charset::Iso8859_1, false);
        check_msh18("ascii", Charset::Ascii, false);
        check_msh18("US-ASCII", Charset::Ascii, false);
        check_msh18("ISO-IR-87", Charset::IsoIr87, false);
        check_msh18("GB18030", Charset::Gb18030, false);
        check_msh18("EUC-KR", Charset::KsX1001, false);
        check_msh18("BIG5", Charset::Big5, false);
        assert_eq!(Charset::from_msh18(b"8859/15"), Ok(Charset::Iso8859_15));
        assert_eq!(
            Charset::from_msh18(b"EBCDIC"),
            Err(UnknownCharset::NotInTable0211 { value: "EBCDIC".to_string() })
        );
        assert_eq!(
            Charset::from_msh18(b"UNICODE UTF-16"),
            Err(UnknownCharset::NotByteOriented { value: "UNICODE UTF-16".to_string() })
        );
        assert!(Charset::from_msh18(b"\xFF").is_err());
    }

    #[test]
    fn nonstandard_spelling_finding() {
        let parsed = Charset::parse_msh18(b"UTF-8").map(|p| p.finding(120));
        let finding = parsed.ok().flatten();
        assert_eq!(finding.as_ref().map(|f| f.code), Some("nonstandard-charset-name"));
        assert_eq!(finding.as_ref().and_then(|f| f.location.offset), Some(120));
        assert_eq!(Charset::parse_msh18(b"UNICODE UTF-8").map(|p| p.finding(0)), Ok(None));
    }

    /// Text mixing scripts, so that each character set can represent some strings and not
    /// others. Half-width katakana and U+2212 are left out: the WHATWG Japanese encoders map
    /// them to other characters, so they do not round-trip by design.
    fn text() -> impl Strategy<Value = String> {
        let pool: Vec<char> =
            "aZ09 |^~\\&#\r\näñøßéÐĞşİıΩαλЖяשع€Šž日本中文한국語😀".chars().collect();
        prop::collection::vec(prop::sample::select(pool), 0..24)
            .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(s in text()) {
            for charset in Charset::ALL {
                if let Ok(bytes) = encode(&s, charset) {
                    prop_assert_eq!(decode(&bytes, charset), s.as_str(), "in {}", charset);
                    prop_assert_eq!(check_bytes(&bytes, charset, 0), vec![], "in {}", charset);
                }
            }
        }

        #[test]
        fn latin1_text_always_encodes(s in "[\\x00-\\u{FF}]*") {
            let bytes = encode(&s, Charset::Iso8859_1).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(decode(&bytes, Charset::Iso8859_1), s.as_str());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in any::<Vec<u8>>(), base in 0usize..1000) {
            for charset in Charset::ALL {
                let _ = decode(&bytes, charset);
                let findings = check_bytes(&bytes, charset, base);
                prop_assert!(findings.len() <= MAX_INVALID_BYTE_FINDINGS + 3);
                for finding in findings {
                    let offset = finding.location.offset.unwrap_or(usize::MAX);
                    prop_assert!(offset >= base && offset < base + bytes.len().max(1));
                }
            }
        }
    }
}
