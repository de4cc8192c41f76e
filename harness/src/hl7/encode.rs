//! Encoding messages from an owned tree of text values, and decoding a parsed message into one.
//!
//! The tree holds decoded text (no escapes); encoding escapes every value for the delimiters it
//! is given (HL7 v2.5.1 ch. 2, 2.7), so `parse(encode(tree))` decodes back to the same tree
//! whatever the delimiters. Unmodified messages never go through here: [`Message::encode`]
//! returns their bytes as received.

use super::delimiters::{Delimiters, SEGMENT_TERMINATOR};
use super::escape::{escape, EscapeError};
use super::message::Message;
use super::value::Level;

/// A field: repetitions of components of subcomponents of text.
pub type FieldTree = Vec<Vec<Vec<String>>>;

/// One segment as text. For MSH (and FHS/BHS) `fields[0]` and `fields[1]` stand for MSH-1 and
/// MSH-2; they are written from the delimiters, never from the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentTree {
    pub id: String,
    pub fields: Vec<FieldTree>,
}

fn is_header(id: &str) -> bool {
    matches!(id, "MSH" | "FHS" | "BHS")
}

/// Encodes segments with `delimiters`, each ending with CR.
pub fn encode_segments(
    delimiters: &Delimiters,
    segments: &[SegmentTree],
) -> Result<Vec<u8>, EscapeError> {
    let mut out = Vec::new();
    for segment in segments {
        out.extend_from_slice(segment.id.as_bytes());
        let fields = if is_header(&segment.id) {
            out.extend(delimiters.header_bytes());
            segment.fields.get(2..).unwrap_or_default()
        } else {
            &segment.fields[..]
        };
        for field in fields {
            out.push(delimiters.field);
            encode_field(delimiters, field, &mut out)?;
        }
        out.push(SEGMENT_TERMINATOR);
    }
    Ok(out)
}

fn encode_field(d: &Delimiters, field: &FieldTree, out: &mut Vec<u8>) -> Result<(), EscapeError> {
    for (r, repetition) in field.iter().enumerate() {
        if r > 0 {
            out.push(d.repetition);
        }
        for (c, component) in repetition.iter().enumerate() {
            if c > 0 {
                out.push(d.component);
            }
            for (s, subcomponent) in component.iter().enumerate() {
                if s > 0 {
                    // Without a declared subcomponent separator there is one subcomponent only;
                    // the component separator keeps the others apart rather than losing them.
                    out.push(d.subcomponent.unwrap_or(d.component));
                }
                out.extend_from_slice(&escape(subcomponent.as_bytes(), d)?);
            }
        }
    }
    Ok(())
}

/// The message as a tree of decoded text (escapes resolved, character set applied).
pub fn decode_segments(message: &Message<'_>) -> Vec<SegmentTree> {
    message
        .segments()
        .map(|segment| {
            let fields = segment
                .fields()
                .map(|(_, field)| {
                    if field.level() == Level::Opaque {
                        return vec![vec![vec![message.text(&field).into_owned()]]];
                    }
                    field
                        .repetitions()
                        .map(|r| {
                            r.components()
                                .map(|c| {
                                    c.subcomponents()
                                        .map(|s| message.text(&s).into_owned())
                                        .collect()
                                })
                                .collect()
                        })
                        .collect()
                })
                .collect();
            SegmentTree { id: segment.id().to_string(), fields }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(id: &str, fields: &[&[&[&str]]]) -> SegmentTree {
        SegmentTree {
            id: id.into(),
            fields: fields
                .iter()
                .map(|f| {
                    f.iter().map(|r| r.iter().map(|c| vec![c.to_string()]).collect()).collect()
                })
                .collect(),
        }
    }

    #[test]
    fn encode_escapes_and_round_trips() {
        let segments = vec![
            tree("MSH", &[&[&["|"]], &[&["^~\\&"]], &[&["APP"]], &[&["a|b", "c^d"]]]),
            tree("PID", &[&[&["1"]], &[], &[&["x~y"], &["z"]]]),
        ];
        let d = Delimiters::default();
        let bytes = encode_segments(&d, &segments).unwrap();
        assert_eq!(bytes, b"MSH|^~\\&|APP|a\\F\\b^c\\S\\d\rPID|1||x\\R\\y~z\r");
        let message = Message::parse(&bytes).unwrap();
        let mut back = decode_segments(&message);
        // An empty field decodes as one empty value.
        back[1].fields[1] = vec![];
        assert_eq!(back[1], segments[1]);
        assert_eq!(back[0].fields[2..], segments[0].fields[2..]);
    }
}
