//! Cutting one direction of a connection into units the proxy can misbehave on: whole MLLP
//! frames (through the project's codec, so framing tolerances are the same everywhere) and the
//! bytes no frame holds, which are forwarded too, never lost. Pure: no I/O.
//!
//! Memory is bounded: bytes outside a frame are handed on at once, and a frame whose payload
//! grows past the limit is handed on unframed, after which the direction passes through as raw
//! bytes (the codec cannot find a frame boundary in it any more).

/// The frame ids and rule targets moved to `faults` (the engine matches rules on them); named
/// here too for the proxy's log.
pub use crate::faults::{corrupt_byte, frame_ids, last_byte_of, type_matches, FrameIds};
use crate::transport::mllp::{
    FrameKind, FrameNote, MllpCodec, MllpOptions, CARRIAGE_RETURN, END_BLOCK, START_BLOCK,
};
use bytes::{Bytes, BytesMut};
use tokio_util::codec::Decoder;

/// Why bytes were forwarded without a frame around them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unframed {
    /// Bytes before a Start Block (MLLP allows none: the receiver decides what to do).
    Outside,
    /// A frame grew past the frame limit; the direction passes through raw from here on.
    TooLarge,
    /// Raw bytes after a frame that was too large.
    PassThrough,
    /// The stream ended inside a frame.
    EndOfStream,
    /// A `bytes=N` trigger cut the stream inside a frame: the bytes of it read so far.
    Cut,
    /// The `0x0D` after a frame's `0x1C` that came in a later read than the `0x1C` (the frame
    /// was passed on without waiting for it).
    LateTrailerCr,
}

impl Unframed {
    pub fn code(self) -> &'static str {
        match self {
            Unframed::Outside => "unframed-bytes",
            Unframed::TooLarge => "frame-too-large",
            Unframed::PassThrough => "pass-through",
            Unframed::EndOfStream => "eof-inside-frame",
            Unframed::Cut => "cut-inside-frame",
            Unframed::LateTrailerCr => "late-trailer-cr",
        }
    }
}

/// One unit of a direction's byte stream, with the exact bytes read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    /// A whole frame: `bytes` is `0x0B payload 0x1C 0x0D` as read (the `0x0D` may be missing).
    Frame { bytes: Bytes, kind: FrameKind, offset: u64 },
    /// Bytes outside any frame, starting at stream offset `offset`.
    Unframed { bytes: Bytes, why: Unframed, offset: u64 },
}

impl Unit {
    pub fn bytes(&self) -> &Bytes {
        match self {
            Unit::Frame { bytes, .. } | Unit::Unframed { bytes, .. } => bytes,
        }
    }
}

/// The payload of a frame's wire bytes (between `0x0B` and `0x1C`).
pub fn payload(frame: &[u8]) -> &[u8] {
    let end =
        if frame.last() == Some(&CARRIAGE_RETURN) { frame.len() - 2 } else { frame.len() - 1 };
    frame.get(1..end).unwrap_or_default()
}

/// Splits one direction's stream into [`Unit`]s.
#[derive(Debug)]
pub struct Splitter {
    codec: MllpCodec,
    buf: BytesMut,
    /// `buf[0]` is a Start Block the codec is reading a frame from.
    in_frame: bool,
    pass_through: bool,
    /// Stream offset of `buf[0]`.
    offset: u64,
    /// The last frame was passed on at its `0x1C`, before its `0x0D` arrived.
    cr_may_follow: bool,
}

impl Splitter {
    pub fn new(max_frame_bytes: usize) -> Splitter {
        let options = MllpOptions { max_frame_bytes, ..MllpOptions::default() };
        Splitter {
            codec: MllpCodec::new(options),
            buf: BytesMut::new(),
            in_frame: false,
            pass_through: false,
            offset: 0,
            cr_may_follow: false,
        }
    }

    /// Bytes held back, waiting for the rest of a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn take(&mut self, n: usize, why: Unframed) -> Unit {
        let bytes = self.buf.split_to(n).freeze();
        let offset = self.offset;
        self.offset += n as u64;
        Unit::Unframed { bytes, why, offset }
    }

    /// Adds `bytes` as read and returns every unit now complete, in stream order.
    ///
    /// A frame is complete at its `0x1C` when that is the last byte read: a sender that leaves
    /// out the `0x0D` would otherwise wait for an ACK while the proxy waits for the `0x0D`.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Unit> {
        self.buf.extend_from_slice(bytes);
        let mut units = Vec::new();
        if std::mem::take(&mut self.cr_may_follow) && self.buf.first() == Some(&CARRIAGE_RETURN) {
            units.push(self.take(1, Unframed::LateTrailerCr));
        }
        while !self.buf.is_empty() {
            if self.pass_through {
                units.push(self.take(self.buf.len(), Unframed::PassThrough));
                break;
            }
            if !self.in_frame {
                let start = memchr::memchr(START_BLOCK, &self.buf).unwrap_or(self.buf.len());
                if start > 0 {
                    units.push(self.take(start, Unframed::Outside));
                }
                if self.buf.is_empty() {
                    break;
                }
                self.in_frame = true;
            }
            match self.codec.decode(&mut self.buf) {
                Ok(Some(frame)) => units.push(self.frame_unit(frame)),
                Ok(None) if self.buf.last() == Some(&END_BLOCK) => {
                    // The first 0x1C ends a frame, so this one does: pass it on now.
                    match self.codec.decode_eof(&mut self.buf) {
                        Ok(Some(frame)) => {
                            units.push(self.frame_unit(frame));
                            self.cr_may_follow = true;
                        }
                        _ => break,
                    }
                }
                Ok(None) => break,
                // Lenient framing tolerates everything but size: hand the bytes on raw.
                Err(_) => {
                    self.pass_through = true;
                    self.in_frame = false;
                    units.push(self.take(self.buf.len(), Unframed::TooLarge));
                }
            }
        }
        units
    }

    /// The end of the stream: a frame cut after its `0x1C`, and any bytes left.
    pub fn finish(&mut self) -> Vec<Unit> {
        let mut units = Vec::new();
        if self.in_frame && !self.pass_through {
            if let Ok(Some(frame)) = self.codec.decode_eof(&mut self.buf) {
                units.push(self.frame_unit(frame));
            }
        }
        if !self.buf.is_empty() {
            units.push(self.take(self.buf.len(), Unframed::EndOfStream));
        }
        units
    }

    /// Hands on whatever is held (part of a frame) and starts afresh, as at a new stream.
    pub fn cut(&mut self) -> Vec<Unit> {
        let held = self.buf.len();
        let units = if held > 0 { vec![self.take(held, Unframed::Cut)] } else { Vec::new() };
        self.codec = MllpCodec::new(*self.codec.options());
        self.in_frame = false;
        units
    }

    fn frame_unit(&mut self, frame: crate::transport::mllp::Frame) -> Unit {
        self.in_frame = false;
        let has_cr = !frame.notes.iter().any(|n| matches!(n, FrameNote::MissingTrailerCr { .. }));
        let mut bytes = Vec::with_capacity(frame.payload.len() + 3);
        bytes.push(START_BLOCK);
        bytes.extend_from_slice(&frame.payload);
        bytes.push(END_BLOCK);
        if has_cr {
            bytes.push(CARRIAGE_RETURN);
        }
        let offset = self.offset;
        self.offset += bytes.len() as u64;
        Unit::Frame { bytes: Bytes::from(bytes), kind: frame.kind, offset }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A04: &[u8] = b"MSH|^~\\&|S|F|R|F|20260101||ADT^A04^ADT_A01|MSG1|P|2.5\rPID|1||7\r";
    const ACK: &[u8] = b"MSH|^~\\&|R|F|S|F|20260101||ACK^A04^ACK|A1|P|2.5\rMSA|AA|MSG1\r";

    fn framed(payload: &[u8]) -> Vec<u8> {
        [&[START_BLOCK][..], payload, &[END_BLOCK, CARRIAGE_RETURN]].concat()
    }

    /// Units of `stream` when pushed in pieces of `step` bytes, then finished.
    fn units(stream: &[u8], step: usize, limit: usize) -> Vec<Unit> {
        let mut splitter = Splitter::new(limit);
        let mut out: Vec<Unit> = stream.chunks(step).flat_map(|c| splitter.push(c)).collect();
        out.extend(splitter.finish());
        out
    }

    fn joined(units: &[Unit]) -> Vec<u8> {
        units.iter().flat_map(|u| u.bytes().to_vec()).collect()
    }

    #[test]
    fn every_byte_comes_out_once_in_order_however_it_was_read() {
        let stream = [
            &b"junk"[..],
            &framed(A04),
            b"\x0bno trailer cr\x1c",
            b"x",
            &framed(ACK),
            b"\x0bcut short",
        ]
        .concat();
        let whole = units(&stream, stream.len(), 1024);
        for step in [1, 2, 3, 7, 64] {
            let split = units(&stream, step, 1024);
            assert_eq!(joined(&split), stream, "step {step}");
            let frames: Vec<&Unit> =
                split.iter().filter(|u| matches!(u, Unit::Frame { .. })).collect();
            assert_eq!(frames.len(), 3, "step {step}");
        }
        assert_eq!(joined(&whole), stream);
        assert!(matches!(whole[0], Unit::Unframed { why: Unframed::Outside, offset: 0, .. }));
        assert_eq!(whole[1].bytes().as_ref(), framed(A04).as_slice());
        assert_eq!(whole[2].bytes().as_ref(), b"\x0bno trailer cr\x1c");
        assert!(matches!(whole.last(), Some(Unit::Unframed { why: Unframed::EndOfStream, .. })));
    }

    #[test]
    fn a_frame_is_passed_on_at_its_end_block_without_waiting_for_the_cr() {
        let mut splitter = Splitter::new(1024);
        let out = splitter.push(b"\x0bABC\x1c");
        assert!(
            matches!(&out[..], [Unit::Frame { bytes, .. }] if bytes.as_ref() == b"\x0bABC\x1c")
        );
        let out = splitter.push(b"\r\x0bD\x1c\r");
        assert!(matches!(out[0], Unit::Unframed { why: Unframed::LateTrailerCr, offset: 5, .. }));
        assert!(matches!(&out[1..], [Unit::Frame { bytes, offset: 6, .. }] if bytes.len() == 4));
        // Only right after such a frame is a CR its trailer.
        assert!(matches!(
            splitter.push(b"\r")[..],
            [Unit::Unframed { why: Unframed::Outside, .. }]
        ));
    }

    #[test]
    fn a_cut_hands_on_the_part_of_a_frame_held() {
        let stream = [framed(A04), framed(ACK)].concat();
        let mut splitter = Splitter::new(1024);
        let cut_at = framed(A04).len() + 10;
        let mut out = splitter.push(&stream[..cut_at]);
        out.extend(splitter.cut());
        assert_eq!(joined(&out), &stream[..cut_at]);
        assert!(matches!(out[1], Unit::Unframed { why: Unframed::Cut, .. }));
        // Afterwards a new frame is read as at the start of a stream.
        let again = splitter.push(&framed(ACK));
        assert!(matches!(again[..], [Unit::Frame { .. }]));
    }

    #[test]
    fn a_frame_past_the_limit_passes_through_raw() {
        let stream = [&framed(&[b'x'; 40])[..], &framed(b"ok")].concat();
        let out = units(&stream, 5, 16);
        assert_eq!(joined(&out), stream);
        assert!(out.iter().all(|u| matches!(u, Unit::Unframed { .. })));
        assert!(matches!(out[0], Unit::Unframed { why: Unframed::TooLarge, .. }));
        // Buffered bytes never exceed the limit by more than a read.
        let mut splitter = Splitter::new(16);
        for chunk in stream.chunks(5) {
            splitter.push(chunk);
            assert!(splitter.buffered() <= 16 + 5);
        }
    }

    #[test]
    fn payload_is_between_the_blocks() {
        assert_eq!(payload(&framed(b"abc")), b"abc");
        assert_eq!(payload(b"\x0babc\x1c"), b"abc");
    }
}
