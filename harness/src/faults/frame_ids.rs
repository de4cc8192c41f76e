//! What a fault rule can see of a frame and where it can strike: the ids of a payload
//! (MSH-9, MSH-10, MSA-1, MSA-2), whether MSH-9 matches a rule's `type=`, and the bytes a
//! `corrupt` changes. Pure: no I/O.

use crate::hl7::ack::msa_field;
use crate::hl7::Message;

/// What the log says about a frame: its control ids and type, never message text.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FrameIds {
    /// MSH-9 as `CODE^TRIGGER^STRUCTURE` (components joined with `^` whatever the message's
    /// component separator).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msh9: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msh10: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msa1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msa2: Option<String>,
}

/// Longest id kept: ids are for reading a log, and a hostile frame must not fill it.
const MAX_ID: usize = 64;

fn short(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_ID)]).trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// Reads MSH-9, MSH-10, MSA-1 and MSA-2 of a payload; what is not there stays `None`.
pub fn frame_ids(payload: &[u8]) -> FrameIds {
    let Ok(message) = Message::parse(payload) else { return FrameIds::default() };
    let header = message.header();
    let msh9 = header.field(9).map(|f| {
        let parts: Vec<String> =
            f.components().map(|c| String::from_utf8_lossy(c.as_bytes()).into_owned()).collect();
        parts.join("^")
    });
    // As the bytes have them (escapes kept): ids are for finding the frame in a capture.
    let msa = |n| msa_field(&message, n).and_then(|v| short(v.as_bytes()));
    FrameIds {
        msh9: msh9.and_then(|t| short(t.as_bytes())),
        msh10: header.field(10).and_then(|v| short(v.as_bytes())),
        msa1: msa(1),
        msa2: msa(2),
    }
}

/// Whether MSH-9 (as in [`FrameIds::msh9`]) starts with the components of `wanted`
/// (`ADT^A08` matches `ADT^A08^ADT_A01`; `ACK` matches every ACK).
pub fn type_matches(msh9: Option<&str>, wanted: &str) -> bool {
    let Some(msh9) = msh9 else { return false };
    let have: Vec<&str> = msh9.split('^').collect();
    let want: Vec<&str> = wanted.split('^').collect();
    want.len() <= have.len() && want.iter().zip(&have).all(|(w, h)| w == h)
}

/// Payload index of the last byte of MSH-10 (`msh10`) or MSA-2 (otherwise), when present.
pub fn last_byte_of(payload: &[u8], msh10: bool) -> Option<usize> {
    let message = Message::parse(payload).ok()?;
    let value = if msh10 { message.header().field(10)? } else { msa_field(&message, 2)? };
    let len = value.as_bytes().len();
    (len > 0).then(|| value.offset() + len - 1)
}

/// The byte `corrupt` writes in place of `byte`: a digit becomes the next digit, a letter the
/// next letter, anything else `?` (or `!` for `?`). Always different, never a framing byte, so
/// a corrupted frame is still one frame.
pub fn corrupt_byte(byte: u8) -> u8 {
    match byte {
        b'9' => b'0',
        b'0'..=b'8' => byte + 1,
        b'z' => b'a',
        b'Z' => b'A',
        b'a'..=b'y' | b'A'..=b'Y' => byte + 1,
        b'?' => b'!',
        _ => b'?',
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::mllp::{CARRIAGE_RETURN, END_BLOCK, START_BLOCK};

    const A04: &[u8] = b"MSH|^~\\&|S|F|R|F|20260101||ADT^A04^ADT_A01|MSG1|P|2.5\rPID|1||7\r";
    const ACK: &[u8] = b"MSH|^~\\&|R|F|S|F|20260101||ACK^A04^ACK|A1|P|2.5\rMSA|AA|MSG1\r";

    #[test]
    fn ids_and_types() {
        let ids = frame_ids(ACK);
        assert_eq!(ids.msh9.as_deref(), Some("ACK^A04^ACK"));
        assert_eq!(ids.msh10.as_deref(), Some("A1"));
        assert_eq!((ids.msa1.as_deref(), ids.msa2.as_deref()), (Some("AA"), Some("MSG1")));
        assert_eq!(frame_ids(b"not hl7"), FrameIds::default());
        assert!(type_matches(Some("ADT^A08^ADT_A01"), "ADT^A08"));
        assert!(type_matches(Some("ACK^A04^ACK"), "ACK"));
        assert!(!type_matches(Some("ADT^A04"), "ADT^A08"));
        assert!(!type_matches(Some("ADT"), "ADT^A08"));
        assert!(!type_matches(None, "ADT"));
        let other_separator = b"MSH#*~\\&#S#F#R#F#2026##ADT*A08#X1#P#2.5\r";
        assert_eq!(frame_ids(other_separator).msh9.as_deref(), Some("ADT^A08"));
    }

    #[test]
    fn corruption_targets() {
        let at = last_byte_of(ACK, false).unwrap();
        assert_eq!(&ACK[at - 3..=at], b"MSG1");
        let at = last_byte_of(A04, true).unwrap();
        assert_eq!(&A04[at - 3..=at], b"MSG1");
        assert_eq!(last_byte_of(A04, false), None);
        for b in 0..=255u8 {
            let c = corrupt_byte(b);
            assert_ne!(c, b);
            assert!(![START_BLOCK, END_BLOCK, CARRIAGE_RETURN].contains(&c));
        }
    }

    /// The ids are the bytes as sent (escapes kept): they find the frame in a capture.
    #[test]
    fn msa_ids_keep_escapes_and_strike_msa2_as_it_stands() {
        let ack = b"MSH|^~\\&|R|F|S|F|2026||ACK|A1|P|2.5\rMSA|AA|M\\F\\1\r";
        assert_eq!(frame_ids(ack).msa2.as_deref(), Some("M\\F\\1"));
        let at = last_byte_of(ack, false).unwrap();
        assert_eq!(&ack[at - 4..=at], b"M\\F\\1");
    }
}
