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
//! outside a frame are counted and dropped at once, and a frame whose payload grows past
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
    /// A `0x0B` inside a frame, at `offset`.
    NestedStartByte { offset: u64 },
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
            | FrameNote::NestedStartByte { offset } => *offset,
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
            FrameNote::NestedStartByte { .. } => {
                (Severity::Error, "Start Block 0x0B inside a frame".to_string(), RULE_DATA)
            }
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
                self.notes.push(FrameNote::NestedStartByte { offset });
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
            let lf: Vec<usize> = memchr::memchr_iter(b'\n', &buf[1..at]).collect();
            if let Some(&first) = lf.first() {
                let first_offset = payload_start + first as u64;
                if !tolerance.allow_lf_segment_separators {
                    return Err(MllpError::LfInPayload { offset: first_offset });
                }
                // Keep notes in stream order: the LF note goes before any trailer note.
                let note = FrameNote::LfSegmentSeparators { count: lf.len(), first_offset };
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
