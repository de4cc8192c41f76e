//! HL7-aware diff: two messages compared value by value, reported as
//! `PID-5.1: "Doe" → "Dø"`, with paths to ignore (MSH-7, MSH-10, …).
//!
//! Values are compared decoded (escapes resolved, character set applied), so the same text
//! written with other delimiters, other escapes or another character set is equal. Segments are
//! paired by id and occurrence (the second OBX with the second OBX), which is what a reader of
//! two versions of a message expects; an inserted segment shows as a change of every later
//! occurrence of that id only, never of the whole message.

use super::message::{Message, Segment};
use super::path::Path;
use super::value::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// One difference. `None` means absent on that side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub path: String,
    pub left: Option<String>,
    pub right: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| match v {
            Some(text) => format!("{text:?}"),
            None => "(absent)".to_string(),
        };
        write!(f, "{}: {} → {}", self.path, show(&self.left), show(&self.right))
    }
}

/// Where a leaf value sits: segment id, occurrence, field, repetition, component, subcomponent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct LeafKey {
    segment: String,
    occurrence: usize,
    field: usize,
    repetition: usize,
    component: usize,
    subcomponent: usize,
}

/// Every non-empty leaf of a message with its decoded text and the position of the first
/// segment with that id, which orders the output like the message.
#[derive(Default)]
struct Leaves {
    values: HashMap<LeafKey, (usize, String)>,
}

/// Compares two messages; paths in `ignore` (and everything below them) are left out.
pub fn diff(left: &Message<'_>, right: &Message<'_>, ignore: &[Path]) -> Vec<Difference> {
    let left_leaves = leaves(left);
    let right_leaves = leaves(right);
    let mut keys: Vec<(usize, &LeafKey)> = Vec::new();
    for (key, (position, _)) in left_leaves.values.iter().chain(right_leaves.values.iter()) {
        keys.push((*position, key));
    }
    keys.sort();
    keys.dedup_by(|a, b| a.1 == b.1);
    let shape = CompositeShape::of(&left_leaves, &right_leaves);
    let mut out = Vec::new();
    for (_, key) in keys {
        let l = left_leaves.values.get(key).map(|(_, text)| text);
        let r = right_leaves.values.get(key).map(|(_, text)| text);
        if l == r || ignore.iter().any(|p| covers(p, key)) {
            continue;
        }
        out.push(Difference { path: shape.path(key), left: l.cloned(), right: r.cloned() });
    }
    out
}

/// True when `path` names this leaf or a value above it.
fn covers(path: &Path, key: &LeafKey) -> bool {
    let matches = |wanted: Option<usize>, actual: usize| wanted.is_none_or(|w| w == actual);
    path.segment_id() == key.segment
        && matches(path.occurrence, key.occurrence)
        && matches(path.field, key.field)
        && matches(path.repetition, key.repetition)
        && matches(path.component, key.component)
        && matches(path.subcomponent, key.subcomponent)
}

/// Every non-empty leaf of a message, decoded. The segment position is the position of the
/// first segment with that id, so both messages order their segments alike.
fn leaves(message: &Message<'_>) -> Leaves {
    let mut out = Leaves::default();
    let mut seen: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for segment in message.segments() {
        let id = segment.id().to_string();
        let entry = seen.entry(id.clone()).or_insert((segment.index(), 0));
        entry.1 += 1;
        let (position, occurrence) = *entry;
        add_segment(message, &segment, &id, position, occurrence, &mut out);
    }
    out
}

fn add_segment(
    message: &Message<'_>,
    segment: &Segment<'_>,
    id: &str,
    position: usize,
    occurrence: usize,
    out: &mut Leaves,
) {
    for (field_number, field) in segment.fields() {
        let mut add = |repetition, component, subcomponent, value: Value<'_>| {
            if value.is_empty() {
                return;
            }
            let key = LeafKey {
                segment: id.to_string(),
                occurrence,
                field: field_number,
                repetition,
                component,
                subcomponent,
            };
            out.values.insert(key, (position, message.text(&value).into_owned()));
        };
        if matches!(field.level(), super::value::Level::Opaque) {
            add(1, 1, 1, field);
            continue;
        }
        for (r, repetition) in field.repetitions().enumerate() {
            for (c, component) in repetition.components().enumerate() {
                for (s, subcomponent) in component.subcomponents().enumerate() {
                    add(r + 1, c + 1, s + 1, subcomponent);
                }
            }
        }
    }
}

/// Which fields and components have more than one part in either message, so paths show a
/// component number only where the field has components (`PID-5.1`, but `PID-8`).
#[derive(Default)]
struct CompositeShape {
    repeated_segments: HashSet<String>,
    repeated_fields: HashSet<(String, usize, usize)>,
    composite_fields: HashSet<(String, usize, usize)>,
    composite_components: HashSet<(String, usize, usize, usize)>,
}

impl CompositeShape {
    fn of(left: &Leaves, right: &Leaves) -> CompositeShape {
        let mut shape = CompositeShape::default();
        for key in left.values.keys().chain(right.values.keys()) {
            let field = (key.segment.clone(), key.occurrence, key.field);
            if key.occurrence > 1 {
                shape.repeated_segments.insert(key.segment.clone());
            }
            if key.repetition > 1 {
                shape.repeated_fields.insert(field.clone());
            }
            if key.component > 1 || key.subcomponent > 1 {
                shape.composite_fields.insert(field);
            }
            if key.subcomponent > 1 {
                let component = (key.segment.clone(), key.occurrence, key.field, key.component);
                shape.composite_components.insert(component);
            }
        }
        shape
    }

    fn path(&self, key: &LeafKey) -> String {
        let mut out = key.segment.clone();
        if self.repeated_segments.contains(&key.segment) {
            out.push_str(&format!("[{}]", key.occurrence));
        }
        out.push_str(&format!("-{}", key.field));
        let field = (key.segment.clone(), key.occurrence, key.field);
        if self.repeated_fields.contains(&field) {
            out.push_str(&format!("[{}]", key.repetition));
        }
        if self.composite_fields.contains(&field) {
            out.push_str(&format!(".{}", key.component));
            let component = (key.segment.clone(), key.occurrence, key.field, key.component);
            if self.composite_components.contains(&component) {
                out.push_str(&format!(".{}", key.subcomponent));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(left: &str, right: &str, ignore: &[&str], expected: &[&str]) {
        let l = Message::parse(left.as_bytes()).unwrap();
        let r = Message::parse(right.as_bytes()).unwrap();
        let ignore: Vec<Path> = ignore.iter().map(|p| Path::parse(p).unwrap()).collect();
        let got: Vec<String> = diff(&l, &r, &ignore).iter().map(|d| d.to_string()).collect();
        assert_eq!(got, expected);
    }

    const A: &str = "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5||||||UNICODE UTF-8\rPID|1||123||Doe^John||19800101|M\r";

    #[test]
    fn differences() {
        check(A, A, &[], &[]);
        let b = A.replace("Doe^John", "Dø^John");
        check(A, &b, &[], &["PID-5.1: \"Doe\" → \"Dø\""]);
        let b = A.replace("|M\r", "|F\r");
        check(A, &b, &[], &["PID-8: \"M\" → \"F\""]);
        let b = A.replace("|1|P|", "|2|P|").replace("20240101||", "20250101||");
        check(A, &b, &["MSH-7", "MSH-10"], &[]);
        check(A, &b, &["MSH-10"], &["MSH-7: \"20240101\" → \"20250101\""]);
        let b = format!("{A}ZPD|x\r");
        check(A, &b, &[], &["ZPD-1: (absent) → \"x\""]);
        let b = A.replace("123|", "123~456|");
        check(A, &b, &[], &["PID-3[2]: (absent) → \"456\""]);
        let b = A.replace("Doe^John", "Doe^John^\"\"");
        check(A, &b, &[], &["PID-5.3: (absent) → \"\\\"\\\"\""]);
    }

    #[test]
    fn escapes_and_delimiters_decode_equal() {
        let a = "MSH|^~\\&|A\rNTE|1||a\\F\\b\r";
        let b = "MSH$%#!($A\rNTE$1$$a|b\r";
        check(a, b, &["MSH-1", "MSH-2"], &[]);
        let b = "MSH|^~\\&|A\rNTE|1||a\\X7C\\b\r";
        check(a, b, &[], &[]);
    }
}
