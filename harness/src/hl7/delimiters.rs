//! The message delimiters, as declared by MSH-1 and MSH-2 (HL7 v2.5.1 chapter 2, section 2.5.4
//! "Message delimiters"; MSH-1 field separator, MSH-2 encoding characters).

use std::fmt;

/// The segment terminator: always a carriage return (chapter 2, 2.5.4: "<cr>, hex 0D").
pub const SEGMENT_TERMINATOR: u8 = b'\r';

/// The five delimiters a message declares in MSH-1 and MSH-2, plus the v2.7 truncation
/// character when MSH-2 has a fifth character.
///
/// The component and repetition separators are required by the standard; the escape and
/// subcomponent characters may be absent from MSH-2 in messages that never use them, so they are
/// `Option`s: a message that declares no escape character has no escape sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delimiters {
    pub field: u8,
    pub component: u8,
    pub repetition: u8,
    pub escape: Option<u8>,
    pub subcomponent: Option<u8>,
    /// v2.7 adds a truncation character (`#`) as the fifth encoding character.
    pub truncation: Option<u8>,
}

impl Default for Delimiters {
    /// The recommended delimiters `|^~\&` (chapter 2, 2.5.4).
    fn default() -> Self {
        Delimiters {
            field: b'|',
            component: b'^',
            repetition: b'~',
            escape: Some(b'\\'),
            subcomponent: Some(b'&'),
            truncation: None,
        }
    }
}

impl Delimiters {
    /// The encoding characters as written in MSH-2 (component, repetition, escape,
    /// subcomponent, truncation), in that order, stopping at the first absent one.
    /// [`encoding_characters`](Self::encoding_characters) without an allocation.
    pub fn encoding_characters_array(&self) -> EncodingCharacters {
        let mut chars = EncodingCharacters { bytes: [0; 5], len: 2 };
        chars.bytes[..2].copy_from_slice(&[self.component, self.repetition]);
        for c in [self.escape, self.subcomponent, self.truncation] {
            match c {
                Some(c) => {
                    chars.bytes[chars.len] = c;
                    chars.len += 1;
                }
                None => break,
            }
        }
        chars
    }

    pub fn encoding_characters(&self) -> Vec<u8> {
        self.encoding_characters_array().as_slice().to_vec()
    }

    /// True when `b` is one of the declared delimiters (field, component, repetition, escape,
    /// subcomponent) or the segment terminator: a byte that must be escaped inside a value.
    pub fn is_special(&self, b: u8) -> bool {
        b == SEGMENT_TERMINATOR
            || b == self.field
            || b == self.component
            || b == self.repetition
            || Some(b) == self.escape
            || Some(b) == self.subcomponent
    }

    /// MSH-1 and MSH-2 as they appear on the wire after `MSH`, e.g. `|^~\&`.
    pub fn header_bytes(&self) -> Vec<u8> {
        let mut out = vec![self.field];
        out.extend(self.encoding_characters());
        out
    }
}

impl fmt::Display for Delimiters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.header_bytes()))
    }
}

/// MSH-2 as [`Delimiters::encoding_characters_array`] writes it: two to five bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodingCharacters {
    bytes: [u8; 5],
    len: usize,
}

impl EncodingCharacters {
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}
