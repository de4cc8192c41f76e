//! Reading what a read destination's command printed (or a file holds) into messages: pure,
//! over bytes that may be anything. Two forms: MLLP frames back to back (the output starts
//! with 0x0B after optional whitespace), read by the one MLLP codec; or text where each
//! message begins at a line starting with `MSH`, segment ends CR, LF or CRLF (read as CR),
//! blank lines ignored.

use crate::transport::mllp::{FrameKind, FrameNote, MllpCodec, MllpOptions};
use bytes::BytesMut;
use tokio_util::codec::Decoder;

/// The messages in `bytes`, in order, and what was not a message (one line each).
pub fn split_messages(bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<String>) {
    let first = bytes.iter().position(|b| !b.is_ascii_whitespace());
    match first.map(|i| bytes[i]) {
        None => (Vec::new(), Vec::new()),
        Some(crate::transport::mllp::START_BLOCK) => split_frames(bytes),
        Some(_) => split_text(bytes),
    }
}

/// MLLP frames, with the codec's tolerances (bytes between frames, LF separators) noted once.
fn split_frames(bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<String>) {
    let mut codec = MllpCodec::new(MllpOptions::default());
    let mut buf = BytesMut::from(bytes);
    let (mut messages, mut found, mut error) = (Vec::new(), Vec::new(), None);
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(frame)) => {
                found.extend(frame.notes);
                if frame.kind == FrameKind::Message {
                    messages.push(normalized(&frame.payload));
                }
            }
            Ok(None) => break,
            Err(e) => {
                error = Some(format!("MLLP: {e}"));
                break;
            }
        }
    }
    found.extend(codec.take_pending_notes());
    found.extend(codec.take_outside_notes());
    // Line ends are read as CR anyway, and whitespace between frames (a newline after each,
    // as `cat` of frame files gives) says nothing; anything else outside a frame is noted.
    let harmless = |note: &FrameNote| match note {
        FrameNote::LfSegmentSeparators { .. } => true,
        FrameNote::BytesOutsideFrame { len, first_bytes, .. } => {
            *len == first_bytes.len() as u64 && first_bytes.iter().all(u8::is_ascii_whitespace)
        }
        _ => false,
    };
    let mut notes: Vec<String> = Vec::new();
    for code in found.iter().filter(|n| !harmless(n)).map(|n| n.code().to_string()) {
        if !notes.contains(&code) {
            notes.push(code);
        }
    }
    notes.extend(error);
    (messages, notes)
}

/// Text: a message starts at each line beginning `MSH`; lines before the first are counted.
fn split_text(bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<String>) {
    let (mut messages, mut notes) = (Vec::new(), Vec::new());
    let mut current: Option<Vec<u8>> = None;
    let mut stray = 0usize;
    for line in bytes.split(|&b| b == b'\r' || b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if line.starts_with(b"MSH") {
            messages.extend(current.take());
            current = Some(Vec::new());
        }
        match current.as_mut() {
            Some(message) => {
                message.extend_from_slice(line);
                message.push(b'\r');
            }
            None => stray += 1,
        }
    }
    messages.extend(current);
    if stray > 0 {
        notes.push(format!("{stray} line(s) before the first MSH, not read"));
    }
    (messages, notes)
}

/// Segment ends CRLF and LF written as CR (HL7 v2.5.1 ch. 2, 2.5.1: a segment ends with CR);
/// nothing else is touched.
pub fn normalized(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    let mut bytes = payload.iter().peekable();
    while let Some(&b) = bytes.next() {
        match b {
            b'\r' if bytes.peek() == Some(&&b'\n') => {
                bytes.next();
                out.push(b'\r');
            }
            b'\n' => out.push(b'\r'),
            _ => out.push(b),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[u8], messages: &[&str], notes: usize) {
        let (got, said) = split_messages(input);
        let got: Vec<String> =
            got.iter().map(|m| String::from_utf8_lossy(m).into_owned()).collect();
        assert_eq!(got, messages, "{input:?}");
        assert_eq!(said.len(), notes, "{said:?}");
    }

    #[test]
    fn text_splits_at_each_msh_whatever_the_line_ends() {
        check(b"MSH|^~\\&|A\rPID|1\rMSH|^~\\&|B\r", &["MSH|^~\\&|A\rPID|1\r", "MSH|^~\\&|B\r"], 0);
        check(
            b"MSH|^~\\&|A\r\nPID|1\r\n\r\nMSH|^~\\&|B\n",
            &["MSH|^~\\&|A\rPID|1\r", "MSH|^~\\&|B\r"],
            0,
        );
        check(b"", &[], 0);
        check(b" \n\r\n", &[], 0);
        check(b"garbage\nmore\nMSH|^~\\&|A", &["MSH|^~\\&|A\r"], 1);
        check(b"only garbage", &[], 1);
    }

    #[test]
    fn mllp_frames_back_to_back() {
        check(
            b"\x0bMSH|^~\\&|A\r\x1c\r\x0bMSH|^~\\&|B\r\x1c\r",
            &["MSH|^~\\&|A\r", "MSH|^~\\&|B\r"],
            0,
        );
        // Bytes between frames are noted, a cut frame is an error after what came before.
        check(b"\n\x0bMSH|A\x1c\rjunk\x0bMSH|B\x1c\r", &["MSH|A", "MSH|B"], 1);
        // A newline after each frame (`cat` of frame files) and LF segment ends are no news.
        check(b"\x0bMSH|A\nPID\x1c\r\n\x0bMSH|B\x1c\r\n", &["MSH|A\rPID", "MSH|B"], 0);
        check(b"\x0bMSH|A\x1c\r\x0bMSH|B", &["MSH|A"], 1);
        check(b"\x0b\x06\x1c\r", &[], 0);
    }

    /// Any bytes: no panic, and every message read is a line group starting with MSH or a frame.
    #[test]
    fn hostile_output_never_panics() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for round in 0..2000 {
            let len = round % 97;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    [0x0b, 0x1c, b'\r', b'\n', b'M', b'S', b'H', b'|', 0xff, 0]
                        [(state % 10) as usize]
                })
                .collect();
            let (messages, _) = split_messages(&bytes);
            assert!(messages.iter().map(Vec::len).sum::<usize>() <= bytes.len() + messages.len());
        }
    }

    #[test]
    fn line_ends_are_read_as_cr() {
        assert_eq!(normalized(b"A\r\nB\nC\rD"), b"A\rB\rC\rD");
    }
}
