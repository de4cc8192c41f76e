//! MLLP framing: `0x0B payload 0x1C 0x0D`, as a pure `tokio_util` codec.
//!
//! The block format is the Minimal Lower Layer Protocol of HL7 v2 (Appendix C, "Minimal Lower
//! Layer Protocol", 4.2 Block Format) as restated by the *HL7 Version 2 Transport Specification:
//! MLLP, Release 2*: a Start Block byte `<SB>` = `0x0B`, the data, an End Block byte `<EB>` =
//! `0x1C` and a carriage return `0x0D`. The data may hold bytes above `0x1F` and `0x0D` only.
//! Release 2 adds commit acknowledgements, frames whose whole payload is `0x06` (ACK) or `0x15`
//! (NAK).
//!
//! This module owns turning bytes into frames and frames into bytes. It does no I/O (a later
//! change runs it under `tokio_util::codec::Framed`) and it never looks inside the HL7 message.
//!
//! The reader is lenient by default and says what it tolerated: every deviation it accepts is a
//! [`FrameNote`] on the frame, each switched off by a named field of [`Tolerance`], and
//! [`MllpOptions::strict`] turns every one into an [`MllpError`]. Memory is bounded: bytes
//! outside a frame are counted and dropped at once, `0x0B` and LF bytes inside a frame are
//! counted into one note each (never a note or an index per byte), and a frame whose payload
//! grows past
//! [`MllpOptions::max_frame_bytes`] is an error before more than that is buffered.

use crate::hl7::{Finding, Location, Severity};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::fmt;
use tokio_util::codec::{Decoder, Encoder};

/// Start Block, ASCII `<VT>`.
pub const START_BLOCK: u8 = 0x0B;
/// End Block, ASCII `<FS>`.
pub const END_BLOCK: u8 = 0x1C;
/// The carriage return that follows the End Block.
pub const CARRIAGE_RETURN: u8 = 0x0D;
/// MLLP Release 2 commit acknowledgement payload, ASCII `<ACK>`.
pub const COMMIT_ACK: u8 = 0x06;
/// MLLP Release 2 negative commit acknowledgement payload, ASCII `<NAK>`.
pub const COMMIT_NAK: u8 = 0x15;

/// How many leading bytes of a run outside any frame a [`FrameNote::BytesOutsideFrame`] keeps.
pub const KEPT_OUTSIDE_BYTES: usize = 16;

const RULE_BLOCK_FORMAT: &str =
    "HL7 v2 Transport Specification: MLLP, Release 2, Block Format (<SB> dddd <EB> <CR>)";
const RULE_DATA: &str =
    "HL7 v2 Transport Specification: MLLP, Release 2, Block Format (data: bytes > 0x1F and <CR>)";

/// Deviations from the block format that the reader accepts. `true` = allowed (noted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tolerance {
    /// Bytes before, between or after frames are dropped and reported.
    pub allow_bytes_outside_frame: bool,
    /// `0x1C` followed by something other than `0x0D` (or by the end of the stream) ends the frame.
    pub allow_missing_trailer_cr: bool,
    /// A `0x0B` inside a frame is kept as a payload byte.
    pub allow_nested_start_byte: bool,
    /// LF (`0x0A`) bytes in the payload, usually segments separated by LF instead of CR.
    pub allow_lf_segment_separators: bool,
}

impl Tolerance {
    /// Everything allowed (and reported).
    pub const LENIENT: Tolerance = Tolerance {
        allow_bytes_outside_frame: true,
        allow_missing_trailer_cr: true,
        allow_nested_start_byte: true,
        allow_lf_segment_separators: true,
    };
    /// Nothing allowed: every deviation is an error.
    pub const STRICT: Tolerance = Tolerance {
        allow_bytes_outside_frame: false,
        allow_missing_trailer_cr: false,
        allow_nested_start_byte: false,
        allow_lf_segment_separators: false,
    };
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance::LENIENT
    }
}

/// Reader settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MllpOptions {
    /// Largest payload accepted, in bytes (the frame bytes `0x0B 0x1C 0x0D` not counted).
    pub max_frame_bytes: usize,
    pub tolerance: Tolerance,
}

impl MllpOptions {
    /// 16 MiB: far above any real HL7 message, small enough that a peer cannot exhaust memory.
    pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

    /// Every tolerance off.
    pub fn strict() -> Self {
        MllpOptions { tolerance: Tolerance::STRICT, ..MllpOptions::default() }
    }
}

impl Default for MllpOptions {
    fn default() -> Self {
        MllpOptions {
            max_frame_bytes: Self::DEFAULT_MAX_FRAME_BYTES,
            tolerance: Tolerance::LENIENT,
        }
    }
}

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// An HL7 message (or anything else that is not a commit acknowledgement).
    Message,
    /// MLLP Release 2 commit acknowledgement: payload exactly `0x06`.
    CommitAck,
    /// MLLP Release 2 negative commit acknowledgement: payload exactly `0x15`.
    CommitNak,
}

/// Something the reader tolerated. Offsets are stream offsets (bytes since the codec started).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameNote {
    /// `len` bytes outside any frame starting at `offset`; `first_bytes` keeps the first
    /// [`KEPT_OUTSIDE_BYTES`] of them.
    BytesOutsideFrame { offset: u64, len: u64, first_bytes: Vec<u8> },
    /// The `0x1C` at `offset - 1` was not followed by `0x0D` (`offset` is where it should be).
    MissingTrailerCr { offset: u64 },
    /// LF bytes in the payload; `count` of them, the first at stream offset `first_offset`.
    LfSegmentSeparators { count: usize, first_offset: u64 },
    /// `count` `0x0B` bytes inside a frame, the first at `offset`: one note per frame however
    /// many there are, so a frame of millions of them costs a counter, not a note each.
    NestedStartByte { offset: u64, count: u64 },
}

impl FrameNote {
    /// Stable kebab-case id, used verbatim in reports.
    pub fn code(&self) -> &'static str {
        match self {
            FrameNote::BytesOutsideFrame { .. } => "mllp-bytes-outside-frame",
            FrameNote::MissingTrailerCr { .. } => "mllp-missing-trailer-cr",
            FrameNote::LfSegmentSeparators { .. } => "mllp-lf-segment-separators",
            FrameNote::NestedStartByte { .. } => "mllp-nested-start-byte",
        }
    }

    /// Stream offset the note is about.
    pub fn offset(&self) -> u64 {
        match self {
            FrameNote::BytesOutsideFrame { offset, .. }
            | FrameNote::MissingTrailerCr { offset }
            | FrameNote::NestedStartByte { offset, .. } => *offset,
            FrameNote::LfSegmentSeparators { first_offset, .. } => *first_offset,
        }
    }

    /// The note as a finding. Framing violations (bytes outside a frame, a missing `0x0D`, a
    /// `0x0B` inside a frame) are errors: the block format allows none of them. LF separators
    /// are a warning: the frame is intact and many receivers accept them.
    pub fn to_finding(&self) -> Finding {
        let location = Location::at_offset(usize::try_from(self.offset()).unwrap_or(usize::MAX));
        let (severity, message, rule) = match self {
            FrameNote::BytesOutsideFrame { len, first_bytes, .. } => (
                Severity::Error,
                format!("{len} byte(s) outside any MLLP frame, starting {}", Escaped(first_bytes)),
                RULE_BLOCK_FORMAT,
            ),
            FrameNote::MissingTrailerCr { .. } => (
                Severity::Error,
                "End Block 0x1C not followed by carriage return 0x0D".to_string(),
                RULE_BLOCK_FORMAT,
            ),
            FrameNote::LfSegmentSeparators { count, .. } => (
                Severity::Warning,
                format!("{count} LF byte(s) in the frame payload; segments end with CR"),
                RULE_DATA,
            ),
            FrameNote::NestedStartByte { count: 1, .. } => {
                (Severity::Error, "Start Block 0x0B inside a frame".to_string(), RULE_DATA)
            }
            FrameNote::NestedStartByte { count, .. } => (
                Severity::Error,
                format!("{count} Start Block 0x0B bytes inside a frame"),
                RULE_DATA,
            ),
        };
        Finding::new(self.code(), severity, location, message, rule)
    }
}

/// Bytes shown as `"ab\x0d"`.
struct Escaped<'a>(&'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for &b in self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str("\"")
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub payload: Bytes,
    pub kind: FrameKind,
    /// What was tolerated on the way to this frame, in stream order (including bytes outside
    /// any frame seen since the previous frame).
    pub notes: Vec<FrameNote>,
    /// Stream offset of the frame's `0x0B`.
    pub offset: u64,
}

/// Why the reader or the writer gave up. Offsets are stream offsets.
#[derive(Debug, thiserror::Error)]
pub enum MllpError {
    #[error("MLLP frame starting at byte {offset} exceeds the {limit}-byte payload limit")]
    FrameTooLarge { offset: u64, limit: usize },
    #[error("byte 0x{byte:02x} outside any MLLP frame at byte {offset} (expected 0x0B)")]
    BytesOutsideFrame { offset: u64, byte: u8 },
    #[error("MLLP End Block 0x1C not followed by carriage return 0x0D at byte {offset}")]
    MissingTrailer { offset: u64 },
    #[error("MLLP Start Block 0x0B inside a frame at byte {offset}")]
    NestedStartByte { offset: u64 },
    #[error("LF byte inside an MLLP frame payload at byte {offset}")]
    LfInPayload { offset: u64 },
    #[error(
        "stream ended inside the MLLP frame starting at byte {offset} ({buffered} bytes buffered)"
    )]
    UnexpectedEof { offset: u64, buffered: usize },
    #[error("payload byte {index} is 0x{byte:02x}, which MLLP cannot frame")]
    UnframeablePayload { index: usize, byte: u8 },
    #[error("MLLP transport I/O failed")]
    Io(#[from] std::io::Error),
}

/// Bytes outside frames seen so far, not yet attached to a frame.
#[derive(Debug, Default)]
struct Outside {
    offset: u64,
    len: u64,
    first_bytes: Vec<u8>,
}

/// Decoder and encoder for MLLP frames.
#[derive(Debug, Default)]
pub struct MllpCodec {
    options: MllpOptions,
    /// Stream offset of `buf[0]`.
    consumed: u64,
    /// While inside a frame (`buf[0]` is its `0x0B`): how far `buf` has been searched.
    scanned: Option<usize>,
    /// Notes for the frame being read, in stream order.
    notes: Vec<FrameNote>,
    outside: Option<Outside>,
}

impl MllpCodec {
    pub fn new(options: MllpOptions) -> Self {
        MllpCodec { options, ..MllpCodec::default() }
    }

    pub fn strict() -> Self {
        MllpCodec::new(MllpOptions::strict())
    }

    pub fn options(&self) -> &MllpOptions {
        &self.options
    }

    /// Notes not yet attached to a frame: bytes after the last frame. Call at end of stream.
    pub fn take_pending_notes(&mut self) -> Vec<FrameNote> {
        self.flush_outside();
        std::mem::take(&mut self.notes)
    }

    fn flush_outside(&mut self) {
        if let Some(Outside { offset, len, first_bytes }) = self.outside.take() {
            self.notes.push(FrameNote::BytesOutsideFrame { offset, len, first_bytes });
        }
    }

    /// Drops `n` bytes outside any frame from the front of `buf`, remembering them for the note.
    fn skip_outside(&mut self, buf: &mut BytesMut, n: usize) -> Result<(), MllpError> {
        if n == 0 {
            return Ok(());
        }
        if !self.options.tolerance.allow_bytes_outside_frame {
            return Err(MllpError::BytesOutsideFrame { offset: self.consumed, byte: buf[0] });
        }
        let outside = self.outside.get_or_insert_with(|| Outside {
            offset: self.consumed,
            len: 0,
            first_bytes: Vec::new(),
        });
        let keep = (KEPT_OUTSIDE_BYTES - outside.first_bytes.len()).min(n);
        outside.first_bytes.extend_from_slice(&buf[..keep]);
        outside.len += n as u64;
        buf.advance(n);
        self.consumed += n as u64;
        Ok(())
    }

    fn decode_inner(&mut self, buf: &mut BytesMut, eof: bool) -> Result<Option<Frame>, MllpError> {
        let scanned = match self.scanned {
            Some(scanned) => scanned,
            None => {
                let start = memchr::memchr(START_BLOCK, buf).unwrap_or(buf.len());
                self.skip_outside(buf, start)?;
                if buf.is_empty() {
                    return Ok(None);
                }
                self.flush_outside();
                1
            }
        };
        let tolerance = self.options.tolerance;
        let limit = self.options.max_frame_bytes;
        // The End Block of the largest allowed payload sits at index `limit + 1`; searching no
        // further keeps the outcome the same however the stream was split into reads.
        let window = buf.len().min(limit.saturating_add(2));
        let mut from = scanned;
        loop {
            let Some(i) = memchr::memchr2(START_BLOCK, END_BLOCK, &buf[from..window]) else {
                self.scanned = Some(window);
                if buf.len() > limit.saturating_add(1) {
                    return Err(self.too_large());
                }
                if eof {
                    return Err(MllpError::UnexpectedEof {
                        offset: self.consumed,
                        buffered: buf.len(),
                    });
                }
                return Ok(None);
            };
            let at = from + i;
            if buf[at] == START_BLOCK {
                if at > limit {
                    return Err(self.too_large());
                }
                let offset = self.consumed + at as u64;
                if !tolerance.allow_nested_start_byte {
                    return Err(MllpError::NestedStartByte { offset });
                }
                match self.notes.last_mut() {
                    Some(FrameNote::NestedStartByte { count, .. }) => *count += 1,
                    _ => self.notes.push(FrameNote::NestedStartByte { offset, count: 1 }),
                }
                from = at + 1;
                continue;
            }
            // End Block at `at`: the trailer CR is at `at + 1`.
            let frame_len = match buf.get(at + 1) {
                Some(&CARRIAGE_RETURN) => at + 2,
                None if !eof => {
                    self.scanned = Some(at);
                    return Ok(None);
                }
                _ => {
                    let offset = self.consumed + at as u64 + 1;
                    if !tolerance.allow_missing_trailer_cr {
                        return Err(MllpError::MissingTrailer { offset });
                    }
                    self.notes.push(FrameNote::MissingTrailerCr { offset });
                    at + 1
                }
            };
            let payload_start = self.consumed + 1;
            // Counted, not collected: a frame of LF bytes must not cost a word per byte.
            if let Some(first) = memchr::memchr(b'\n', &buf[1..at]) {
                let count = memchr::memchr_iter(b'\n', &buf[1 + first..at]).count();
                let first_offset = payload_start + first as u64;
                if !tolerance.allow_lf_segment_separators {
                    return Err(MllpError::LfInPayload { offset: first_offset });
                }
                // Keep notes in stream order: the LF note goes before any trailer note.
                let note = FrameNote::LfSegmentSeparators { count, first_offset };
                let position = self.notes.iter().position(|n| n.offset() > first_offset);
                self.notes.insert(position.unwrap_or(self.notes.len()), note);
            }
            let offset = self.consumed;
            let mut frame = buf.split_to(frame_len);
            self.consumed += frame_len as u64;
            self.scanned = None;
            frame.truncate(at);
            frame.advance(1);
            let payload = frame.freeze();
            let kind = match payload.as_ref() {
                [COMMIT_ACK] => FrameKind::CommitAck,
                [COMMIT_NAK] => FrameKind::CommitNak,
                _ => FrameKind::Message,
            };
            return Ok(Some(Frame {
                payload,
                kind,
                notes: std::mem::take(&mut self.notes),
                offset,
            }));
        }
    }

    fn too_large(&self) -> MllpError {
        MllpError::FrameTooLarge { offset: self.consumed, limit: self.options.max_frame_bytes }
    }
}

impl Decoder for MllpCodec {
    type Item = Frame;
    type Error = MllpError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, MllpError> {
        self.decode_inner(buf, false)
    }

    /// At the end of the stream a frame cut after its `0x1C` ends there (a missing-CR note) and
    /// one cut earlier is [`MllpError::UnexpectedEof`]. Bytes after the last frame are left in
    /// [`MllpCodec::take_pending_notes`].
    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, MllpError> {
        self.decode_inner(buf, true)
    }
}

/// Writes `0x0B payload 0x1C 0x0D`. A payload holding `0x0B` or `0x1C` cannot be framed.
pub fn encode_frame(payload: &[u8], dst: &mut BytesMut) -> Result<(), MllpError> {
    if let Some(index) = memchr::memchr2(START_BLOCK, END_BLOCK, payload) {
        return Err(MllpError::UnframeablePayload { index, byte: payload[index] });
    }
    dst.reserve(payload.len() + 3);
    dst.put_u8(START_BLOCK);
    dst.put_slice(payload);
    dst.put_slice(&[END_BLOCK, CARRIAGE_RETURN]);
    Ok(())
}

/// Writes an MLLP Release 2 commit acknowledgement (`ack`) or negative acknowledgement.
pub fn encode_commit(ack: bool, dst: &mut BytesMut) {
    let code = if ack { COMMIT_ACK } else { COMMIT_NAK };
    dst.put_slice(&[START_BLOCK, code, END_BLOCK, CARRIAGE_RETURN]);
}

impl Encoder<&[u8]> for MllpCodec {
    type Error = MllpError;

    fn encode(&mut self, payload: &[u8], dst: &mut BytesMut) -> Result<(), MllpError> {
        encode_frame(payload, dst)
    }
}

impl Encoder<Bytes> for MllpCodec {
    type Error = MllpError;

    fn encode(&mut self, payload: Bytes, dst: &mut BytesMut) -> Result<(), MllpError> {
        encode_frame(&payload, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Everything a run of the decoder produced.
    #[derive(Debug, PartialEq)]
    struct Outcome {
        frames: Vec<Frame>,
        /// Notes left after the last frame (end of stream).
        pending: Vec<FrameNote>,
        error: Option<String>,
    }

    fn ok(frames: Vec<Frame>) -> Outcome {
        Outcome { frames, pending: Vec::new(), error: None }
    }

    fn failed(frames: Vec<Frame>, error: &str) -> Outcome {
        Outcome { frames, pending: Vec::new(), error: Some(error.to_string()) }
    }

    fn frame(offset: u64, payload: &[u8], notes: Vec<FrameNote>) -> Frame {
        let kind = match payload {
            [COMMIT_ACK] => FrameKind::CommitAck,
            [COMMIT_NAK] => FrameKind::CommitNak,
            _ => FrameKind::Message,
        };
        Frame { payload: Bytes::copy_from_slice(payload), kind, notes, offset }
    }

    /// Feeds `chunks` one after the other, decoding until `Ok(None)` after each, then ends the
    /// stream. Checks the memory bound after every `Ok(None)`.
    fn run<'a>(options: MllpOptions, chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
        let mut codec = MllpCodec::new(options);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(frame)) => frames.push(frame),
                    Ok(None) => break,
                    Err(e) => return failed(frames, &e.to_string()),
                }
            }
            assert!(
                buf.len() <= options.max_frame_bytes + 2,
                "{} bytes buffered with a {}-byte limit",
                buf.len(),
                options.max_frame_bytes
            );
        }
        loop {
            match codec.decode_eof(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => return failed(frames, &e.to_string()),
            }
        }
        assert!(buf.is_empty(), "decode_eof left {buf:?}");
        Outcome { frames, pending: codec.take_pending_notes(), error: None }
    }

    /// `input` in one read, one byte per read and (for short inputs) split in two at every
    /// offset: the outcome is `expected` each time.
    fn check(options: MllpOptions, input: &[u8], expected: Outcome) {
        assert_eq!(run(options, [input]), expected, "one read");
        assert_eq!(run(options, input.chunks(1)), expected, "one byte per read");
        if input.len() <= 256 {
            for at in 0..=input.len() {
                let (a, b) = input.split_at(at);
                assert_eq!(run(options, [a, b]), expected, "split at {at}");
            }
        }
    }

    fn lenient() -> MllpOptions {
        MllpOptions::default()
    }

    fn strict() -> MllpOptions {
        MllpOptions::strict()
    }

    fn with_limit(max_frame_bytes: usize) -> MllpOptions {
        MllpOptions { max_frame_bytes, ..MllpOptions::strict() }
    }

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut dst = BytesMut::new();
        encode_frame(payload, &mut dst).expect("payload is frameable");
        dst.to_vec()
    }

    const MSG: &[u8] = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1\r";

    #[test]
    fn one_frame() {
        check(strict(), &framed(MSG), ok(vec![frame(0, MSG, vec![])]));
        check(lenient(), &framed(MSG), ok(vec![frame(0, MSG, vec![])]));
    }

    #[test]
    fn empty_stream_and_empty_payload() {
        check(strict(), b"", ok(vec![]));
        check(strict(), b"\x0b\x1c\r", ok(vec![frame(0, b"", vec![])]));
    }

    #[test]
    fn many_frames_in_one_buffer() {
        let input = [framed(b"A\r"), framed(b"BB\r"), framed(b"CCC\r")].concat();
        let expected =
            vec![frame(0, b"A\r", vec![]), frame(5, b"BB\r", vec![]), frame(11, b"CCC\r", vec![])];
        check(strict(), &input, ok(expected));
    }

    #[test]
    fn release_2_commit_frames() {
        let mut input = BytesMut::new();
        encode_commit(true, &mut input);
        encode_commit(false, &mut input);
        assert_eq!(&input[..], b"\x0b\x06\x1c\r\x0b\x15\x1c\r");
        let outcome = run(strict(), [&input[..]]);
        let kinds: Vec<FrameKind> = outcome.frames.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [FrameKind::CommitAck, FrameKind::CommitNak]);
        check(strict(), &input, ok(vec![frame(0, b"\x06", vec![]), frame(4, b"\x15", vec![])]));
        // Only the exact one-byte payload is a commit frame.
        check(strict(), b"\x0b\x06\x06\x1c\r", ok(vec![frame(0, b"\x06\x06", vec![])]));
    }

    #[test]
    fn every_prefix_of_a_frame_is_partial() {
        let input = framed(MSG);
        for end in 0..input.len() {
            let mut codec = MllpCodec::strict();
            let mut buf = BytesMut::from(&input[..end]);
            assert!(matches!(codec.decode(&mut buf), Ok(None)), "prefix of {end} bytes");
            assert_eq!(&buf[..], &input[..end], "a partial frame stays buffered");
        }
    }

    #[test]
    fn bytes_outside_frame_forbid() {
        let input = [b"\r\n".as_slice(), &framed(b"A")].concat();
        check(
            strict(),
            &input,
            failed(vec![], "byte 0x0d outside any MLLP frame at byte 0 (expected 0x0B)"),
        );
        let input = [framed(b"A"), b"xy".to_vec(), framed(b"B")].concat();
        let expected = failed(
            vec![frame(0, b"A", vec![])],
            "byte 0x78 outside any MLLP frame at byte 4 (expected 0x0B)",
        );
        check(strict(), &input, expected);
    }

    #[test]
    fn bytes_outside_frame_allow() {
        let input = [b"\r\n".as_slice(), &framed(b"A"), b"xy", &framed(b"B"), b"\n"].concat();
        let outside = |offset, bytes: &[u8]| FrameNote::BytesOutsideFrame {
            offset,
            len: bytes.len() as u64,
            first_bytes: bytes.to_vec(),
        };
        let expected = Outcome {
            frames: vec![
                frame(2, b"A", vec![outside(0, b"\r\n")]),
                frame(8, b"B", vec![outside(6, b"xy")]),
            ],
            pending: vec![outside(12, b"\n")],
            error: None,
        };
        check(lenient(), &input, expected);
    }

    #[test]
    fn bytes_outside_frame_keeps_only_the_first_16() {
        let garbage = vec![b'g'; 1000];
        let input = [garbage.as_slice(), &framed(b"A")].concat();
        let note =
            FrameNote::BytesOutsideFrame { offset: 0, len: 1000, first_bytes: vec![b'g'; 16] };
        check(lenient(), &input, ok(vec![frame(1000, b"A", vec![note])]));
        // Dropped at once, not buffered.
        let mut codec = MllpCodec::default();
        let mut buf = BytesMut::from(&garbage[..]);
        assert!(matches!(codec.decode(&mut buf), Ok(None)));
        assert!(buf.is_empty());
    }

    #[test]
    fn missing_trailer_cr_forbid() {
        let expected = "MLLP End Block 0x1C not followed by carriage return 0x0D at byte 4";
        check(strict(), b"\x0bAB\x1c\x0bC\x1c\r", failed(vec![], expected));
        check(
            strict(),
            b"\x0bA\x1c",
            failed(vec![], "MLLP End Block 0x1C not followed by carriage return 0x0D at byte 3"),
        );
    }

    #[test]
    fn missing_trailer_cr_allow() {
        let input = b"\x0bA\x1c\x0bB\x1c\r";
        let note = FrameNote::MissingTrailerCr { offset: 3 };
        check(lenient(), input, ok(vec![frame(0, b"A", vec![note]), frame(3, b"B", vec![])]));
        // At the end of the stream, right after the 0x1C.
        let note = FrameNote::MissingTrailerCr { offset: 3 };
        check(lenient(), b"\x0bA\x1c", ok(vec![frame(0, b"A", vec![note])]));
    }

    #[test]
    fn nested_start_byte_forbid() {
        check(
            strict(),
            b"\x0bA\x0bB\x1c\r",
            failed(vec![], "MLLP Start Block 0x0B inside a frame at byte 2"),
        );
    }

    #[test]
    fn nested_start_byte_allow() {
        let note = FrameNote::NestedStartByte { offset: 2, count: 1 };
        check(lenient(), b"\x0bA\x0bB\x1c\r", ok(vec![frame(0, b"A\x0bB", vec![note])]));
        // Any number of them is one note with a count, and nothing else is kept per byte.
        let mut input = vec![START_BLOCK; 100_001];
        input.extend_from_slice(b"\x1c\r");
        let note = FrameNote::NestedStartByte { offset: 1, count: 100_000 };
        check(lenient(), &input, ok(vec![frame(0, &input[1..100_001], vec![note])]));
    }

    #[test]
    fn lf_segment_separators_forbid() {
        check(
            strict(),
            b"\x0bMSH|\nPID|\n\x1c\r",
            failed(vec![], "LF byte inside an MLLP frame payload at byte 5"),
        );
    }

    #[test]
    fn lf_segment_separators_allow() {
        let lf = FrameNote::LfSegmentSeparators { count: 2, first_offset: 5 };
        check(lenient(), b"\x0bMSH|\nPID|\n\x1c\r", ok(vec![frame(0, b"MSH|\nPID|\n", vec![lf])]));
        // Notes stay in stream order.
        let notes = vec![
            FrameNote::NestedStartByte { offset: 1, count: 1 },
            FrameNote::LfSegmentSeparators { count: 1, first_offset: 2 },
            FrameNote::MissingTrailerCr { offset: 4 },
        ];
        check(lenient(), b"\x0b\x0b\n\x1c", ok(vec![frame(0, b"\x0b\n", notes)]));
    }

    #[test]
    fn frame_at_the_size_limit_is_accepted() {
        let payload = vec![b'x'; 64];
        check(with_limit(64), &framed(&payload), ok(vec![frame(0, &payload, vec![])]));
    }

    #[test]
    fn frame_over_the_size_limit_fails_at_its_offset() {
        let input = [framed(b"A"), framed(&[b'x'; 65])].concat();
        let expected = failed(
            vec![frame(0, b"A", vec![])],
            "MLLP frame starting at byte 4 exceeds the 64-byte payload limit",
        );
        check(with_limit(64), &input, expected);
    }

    #[test]
    fn unterminated_frame_fails_without_buffering_past_the_limit() {
        let mut codec = MllpCodec::new(with_limit(64));
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"\x0b");
        for fed in 1.. {
            buf.extend_from_slice(b"x");
            match codec.decode(&mut buf) {
                Ok(None) => assert!(fed <= 64, "still buffering after {fed} payload bytes"),
                Err(MllpError::FrameTooLarge { offset: 0, limit: 64 }) => {
                    assert_eq!(fed, 65);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn stream_ending_inside_a_frame() {
        let expected = "stream ended inside the MLLP frame starting at byte 4 (3 bytes buffered)";
        check(lenient(), b"\x0bA\x1c\r\x0bBC", failed(vec![frame(0, b"A", vec![])], expected));
    }

    #[test]
    fn encoder_refuses_unframeable_payloads() {
        let mut dst = BytesMut::new();
        let error = encode_frame(b"AB\x1cC", &mut dst).unwrap_err();
        assert_eq!(error.to_string(), "payload byte 2 is 0x1c, which MLLP cannot frame");
        assert!(dst.is_empty());
        let mut codec = MllpCodec::default();
        Encoder::<&[u8]>::encode(&mut codec, MSG, &mut dst).expect("frameable");
        assert_eq!(&dst[..], &framed(MSG)[..]);
    }

    #[test]
    fn notes_become_findings() {
        let outside =
            FrameNote::BytesOutsideFrame { offset: 7, len: 2, first_bytes: b"\r\n".to_vec() };
        let finding = outside.to_finding();
        assert_eq!(finding.code, "mllp-bytes-outside-frame");
        assert_eq!(finding.severity, Severity::Error);
        assert_eq!(finding.location.offset, Some(7));
        assert_eq!(finding.message, "2 byte(s) outside any MLLP frame, starting \"\\x0d\\x0a\"");
        assert_eq!(
            FrameNote::MissingTrailerCr { offset: 1 }.to_finding().severity,
            Severity::Error
        );
        assert_eq!(
            FrameNote::NestedStartByte { offset: 1, count: 1 }.to_finding().severity,
            Severity::Error
        );
        let lf = FrameNote::LfSegmentSeparators { count: 1, first_offset: 1 };
        assert_eq!(lf.to_finding().severity, Severity::Warning);
    }

    fn corpus_files() -> Vec<(std::path::PathBuf, Vec<u8>)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
        let mut files = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("corpus directory is readable") {
                let path = entry.expect("corpus entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "hl7") {
                    let bytes = std::fs::read(&path).expect("corpus file is readable");
                    files.push((path, bytes));
                }
            }
        }
        files.sort();
        assert!(!files.is_empty(), "no corpus files found");
        files
    }

    #[test]
    fn corpus_round_trips_in_one_read_and_byte_by_byte() {
        let mut frameable = Vec::new();
        for (path, bytes) in corpus_files() {
            if memchr::memchr2(START_BLOCK, END_BLOCK, &bytes).is_some() {
                continue; // Files about framing bytes themselves cannot be framed.
            }
            let input = framed(&bytes);
            let expected = ok(vec![frame(0, &bytes, lf_notes(&bytes))]);
            assert_eq!(run(lenient(), [&input[..]]), expected, "{}", path.display());
            assert_eq!(run(lenient(), input.chunks(1)), expected, "{}", path.display());
            frameable.push(bytes);
        }
        // All of them back to back in one buffer.
        let input: Vec<u8> = frameable.iter().flat_map(|b| framed(b)).collect();
        let payloads: Vec<Bytes> =
            run(lenient(), [&input[..]]).frames.into_iter().map(|f| f.payload).collect();
        assert_eq!(payloads, frameable);
    }

    #[test]
    fn corpus_split_at_every_offset() {
        let files = corpus_files();
        for (path, bytes) in files
            .iter()
            .filter(|(_, b)| memchr::memchr2(START_BLOCK, END_BLOCK, b).is_none())
            .take(3)
        {
            let input = framed(bytes);
            let expected = ok(vec![frame(0, bytes, lf_notes(bytes))]);
            for at in 0..=input.len() {
                let (a, b) = input.split_at(at);
                assert_eq!(run(lenient(), [a, b]), expected, "{} split at {at}", path.display());
            }
        }
    }

    fn lf_notes(payload: &[u8]) -> Vec<FrameNote> {
        let count = memchr::memchr_iter(b'\n', payload).count();
        match memchr::memchr(b'\n', payload) {
            Some(first) => {
                vec![FrameNote::LfSegmentSeparators { count, first_offset: 1 + first as u64 }]
            }
            None => vec![],
        }
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(
            payloads in proptest::collection::vec(
                proptest::collection::vec(any::<u8>().prop_filter("frameable", |b| *b != START_BLOCK && *b != END_BLOCK), 0..64),
                0..5,
            ),
            chunk in 1usize..16,
        ) {
            let mut codec = MllpCodec::new(MllpOptions { tolerance: Tolerance { allow_lf_segment_separators: true, ..Tolerance::STRICT }, ..MllpOptions::default() });
            let mut input = BytesMut::new();
            for payload in &payloads {
                Encoder::<&[u8]>::encode(&mut codec, payload, &mut input).expect("frameable");
            }
            let outcome = run(*codec.options(), input.chunks(chunk));
            prop_assert_eq!(outcome.error, None);
            let decoded: Vec<Vec<u8>> = outcome.frames.iter().map(|f| f.payload.to_vec()).collect();
            prop_assert_eq!(decoded, payloads);
        }
    }
}
