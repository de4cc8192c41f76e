//! HL7-aware diff: two messages compared value by value, reported as
//! `PID-5.1: "Doe" → "Dø"`, with paths to ignore (MSH-7, MSH-10, …).
//!
//! Values are compared decoded (escapes resolved, character set applied), so the same text
//! written with other delimiters, other escapes or another character set is equal. Where a
//! value does not decode (bytes invalid in its character set, which decoding would turn into
//! U+FFFD on both sides alike), its unescaped bytes are compared instead and shown as bytes.
//! Segments are paired by id and occurrence (the second OBX with the second OBX), which is what
//! a reader of two versions of a message expects; an inserted segment shows as a change of every
//! later occurrence of that id only, never of the whole message.
//!
//! The comparison walks both messages once, segment pair by segment pair and field by field,
//! with no table of every value: memory stays that of the two parsed messages however many
//! segments and repetitions they hold (a table took 2.6 GB for a million segments, issue 14).

use super::escape::unescape;
use super::message::{Message, Segment};
use super::path::Path;
use super::value::{Level, Value};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// One difference. `None` means absent on that side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub path: String,
    pub left: Option<Shown>,
    pub right: Option<Shown>,
}

/// A value as the diff shows it: decoded text, or its bytes when they do not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    Text(String),
    /// Unescaped bytes that are not valid in the message's character set.
    Bytes(Vec<u8>),
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shown::Text(text) => write!(f, "{text:?}"),
            Shown::Bytes(bytes) => {
                write!(f, "b\"{}\" (not valid in its character set)", bytes.escape_ascii())
            }
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<Shown>| match v {
            Some(shown) => shown.to_string(),
            None => "(absent)".to_string(),
        };
        write!(f, "{}: {} → {}", self.path, show(&self.left), show(&self.right))
    }
}

/// One leaf value: its decoded text, and its unescaped bytes when the text lost some.
struct Leaf<'a> {
    text: Cow<'a, str>,
    /// Set when decoding replaced bytes by U+FFFD: then the bytes are what is compared.
    undecodable: Option<Cow<'a, [u8]>>,
}

impl Leaf<'_> {
    fn same(&self, other: &Leaf<'_>) -> bool {
        match (&self.undecodable, &other.undecodable) {
            (None, None) => self.text == other.text,
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }

    fn shown(&self) -> Shown {
        match &self.undecodable {
            Some(bytes) => Shown::Bytes(bytes.to_vec()),
            None => Shown::Text(self.text.clone().into_owned()),
        }
    }
}

fn leaf<'a>(message: &Message<'a>, value: &Value<'a>) -> Leaf<'a> {
    let text = message.text(value);
    // Decoding puts U+FFFD where bytes are invalid in the character set: 0xFF and 0xFE both
    // become it. Such a value is compared by its bytes. (A U+FFFD written in the message
    // itself is compared by bytes too, which gives the same answer within one character set.)
    if !text.contains('\u{FFFD}') {
        return Leaf { text, undecodable: None };
    }
    let bytes = if value.level() == Level::Opaque {
        Cow::Borrowed(value.as_bytes())
    } else {
        unescape(value.as_bytes(), message.delimiters()).bytes
    };
    Leaf { text, undecodable: Some(bytes) }
}

/// Compares two messages; paths in `ignore` (and everything below them) are left out.
pub fn diff(left: &Message<'_>, right: &Message<'_>, ignore: &[Path]) -> Vec<Difference> {
    let mut out = Vec::new();
    diff_each(left, right, ignore, &mut |d| out.push(d));
    out
}

/// Like [`diff`], handing each difference to `emit` as it is found, in message order: the
/// caller can print them without holding them all.
pub fn diff_each<'a>(
    left: &Message<'a>,
    right: &Message<'a>,
    ignore: &[Path],
    emit: &mut dyn FnMut(Difference),
) {
    // Segment ids ordered by where they first appear in either message; each message's
    // segments listed in that order (occurrences in message order), as positions only.
    let mut first: BTreeMap<&'a str, usize> = BTreeMap::new();
    for message in [left, right] {
        for segment in message.segments() {
            let at = first.entry(segment.id()).or_insert(usize::MAX);
            *at = (*at).min(segment.index());
        }
    }
    let occurrences = |message: &Message<'a>| {
        let mut counts: BTreeMap<&'a str, usize> = BTreeMap::new();
        for segment in message.segments() {
            *counts.entry(segment.id()).or_default() += 1;
        }
        counts
    };
    let (left_counts, right_counts) = (occurrences(left), occurrences(right));
    let repeated = |id: &str| {
        left_counts.get(id).copied().unwrap_or(0).max(right_counts.get(id).copied().unwrap_or(0))
            > 1
    };
    // (where the id first appears, the id, the segment's 0-based position): two ids can first
    // appear at the same position, one in each message.
    let ordered = |message: &Message<'a>| {
        let mut positions: Vec<((usize, &'a str), usize)> =
            message.segments().map(|s| ((first[s.id()], s.id()), s.index() - 1)).collect();
        positions.sort();
        positions
    };
    let (lefts, rights) = (ordered(left), ordered(right));
    let (mut l, mut r) = (0, 0);
    let mut occurrence = 0;
    let mut last = None;
    while l < lefts.len() || r < rights.len() {
        let key = match (lefts.get(l), rights.get(r)) {
            (Some(a), Some(b)) => a.0.min(b.0),
            (Some(a), None) => a.0,
            (None, Some(b)) => b.0,
            (None, None) => break,
        };
        occurrence = if last == Some(key) { occurrence + 1 } else { 1 };
        last = Some(key);
        let take = |list: &[((usize, &'a str), usize)], i: &mut usize, message| {
            let hit = list.get(*i).filter(|p| p.0 == key)?;
            *i += 1;
            message_segment(message, hit.1)
        };
        let left_segment = take(&lefts, &mut l, left);
        let right_segment = take(&rights, &mut r, right);
        let Some(id) = left_segment.or(right_segment).map(|(_, s)| s.id()) else { break };
        let pair = SegmentPair {
            id,
            occurrence,
            repeated: repeated(id),
            left: left_segment,
            right: right_segment,
        };
        pair.compare(ignore, emit);
    }
}

fn message_segment<'m, 'a>(
    message: &'m Message<'a>,
    position: usize,
) -> Option<(&'m Message<'a>, Segment<'a>)> {
    message.segment(position).map(|s| (message, s))
}

/// The same segment id and occurrence in both messages (either may be absent).
struct SegmentPair<'m, 'a> {
    id: &'m str,
    occurrence: usize,
    /// The id occurs more than once in either message: paths show the occurrence.
    repeated: bool,
    left: Option<(&'m Message<'a>, Segment<'a>)>,
    right: Option<(&'m Message<'a>, Segment<'a>)>,
}

/// Position of a leaf inside its field: repetition, component, subcomponent (1-based).
type At = (usize, usize, usize);

impl<'m, 'a> SegmentPair<'m, 'a> {
    fn compare(&self, ignore: &[Path], emit: &mut dyn FnMut(Difference)) {
        let fields = |side: Option<(&'m Message<'a>, Segment<'a>)>| {
            side.into_iter().flat_map(|(m, s)| s.fields().map(move |(n, f)| (n, (m, f))))
        };
        let mut lefts = fields(self.left).peekable();
        let mut rights = fields(self.right).peekable();
        loop {
            let n = match (lefts.peek(), rights.peek()) {
                (None, None) => return,
                (Some((l, _)), Some((r, _))) => (*l).min(*r),
                (Some((l, _)), None) => *l,
                (None, Some((r, _))) => *r,
            };
            let l = lefts.next_if(|(m, _)| *m == n).map(|(_, f)| f);
            let r = rights.next_if(|(m, _)| *m == n).map(|(_, f)| f);
            self.compare_field(n, l, r, ignore, emit);
        }
    }

    fn compare_field(
        &self,
        n: usize,
        left: Option<(&'m Message<'a>, Value<'a>)>,
        right: Option<(&'m Message<'a>, Value<'a>)>,
        ignore: &[Path],
        emit: &mut dyn FnMut(Difference),
    ) {
        // The field's shape in either message, so paths show a repetition or component number
        // only where the field has them (`PID-5.1`, but `PID-8`).
        let mut repeated = false;
        let mut composite = false;
        let mut composite_components = HashSet::new();
        for (_, value) in [left, right].into_iter().flatten() {
            for ((r, c, s), _) in leaves(value) {
                repeated |= r > 1;
                composite |= c > 1 || s > 1;
                if s > 1 {
                    composite_components.insert(c);
                }
            }
        }
        let path = |(r, c, s): At| {
            let mut out = self.id.to_string();
            if self.repeated {
                out.push_str(&format!("[{}]", self.occurrence));
            }
            out.push_str(&format!("-{n}"));
            if repeated {
                out.push_str(&format!("[{r}]"));
            }
            if composite {
                out.push_str(&format!(".{c}"));
                if composite_components.contains(&c) {
                    out.push_str(&format!(".{s}"));
                }
            }
            out
        };
        let side = |v: Option<(&'m Message<'a>, Value<'a>)>| {
            v.into_iter().flat_map(|(m, f)| leaves(f).map(move |(at, v)| (at, leaf(m, &v))))
        };
        let mut lefts = side(left).peekable();
        let mut rights = side(right).peekable();
        loop {
            let at = match (lefts.peek(), rights.peek()) {
                (None, None) => return,
                (Some((l, _)), Some((r, _))) => (*l).min(*r),
                (Some((l, _)), None) => *l,
                (None, Some((r, _))) => *r,
            };
            let l = lefts.next_if(|(a, _)| *a == at).map(|(_, v)| v);
            let r = rights.next_if(|(a, _)| *a == at).map(|(_, v)| v);
            let same = match (&l, &r) {
                (Some(l), Some(r)) => l.same(r),
                _ => false,
            };
            if same || ignore.iter().any(|p| self.covers(p, n, at)) {
                continue;
            }
            emit(Difference {
                path: path(at),
                left: l.map(|v| v.shown()),
                right: r.map(|v| v.shown()),
            });
        }
    }

    /// True when `path` names this leaf or a value above it.
    fn covers(&self, path: &Path, field: usize, (r, c, s): At) -> bool {
        let matches = |wanted: Option<usize>, actual: usize| wanted.is_none_or(|w| w == actual);
        path.segment_id() == self.id
            && matches(path.occurrence, self.occurrence)
            && matches(path.field, field)
            && matches(path.repetition, r)
            && matches(path.component, c)
            && matches(path.subcomponent, s)
    }
}

/// Every non-empty leaf of a field with its position, in ascending order.
fn leaves<'a>(field: Value<'a>) -> impl Iterator<Item = (At, Value<'a>)> + 'a {
    let opaque = field.level() == Level::Opaque;
    let whole = opaque.then_some(((1, 1, 1), field));
    let parts = (!opaque).then(move || {
        field.repetitions().enumerate().flat_map(|(r, repetition)| {
            repetition.components().enumerate().flat_map(move |(c, component)| {
                component
                    .subcomponents()
                    .enumerate()
                    .map(move |(s, sub)| ((r + 1, c + 1, s + 1), sub))
            })
        })
    });
    whole.into_iter().chain(parts.into_iter().flatten()).filter(|(_, v)| !v.is_empty())
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
