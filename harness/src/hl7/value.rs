//! [`Value`]: a borrowed view of a field, a repetition, a component or a subcomponent.
//!
//! Splitting is done on demand over the borrowed bytes, so walking a message allocates nothing.
//! A path like `PID-5.1` is read as: field 5, first repetition, component 1 (chapter 2, 2.5.3).

use super::delimiters::Delimiters;
use super::scan::{self, Held};

/// The level of a value in the field → repetition → component → subcomponent hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Field,
    Repetition,
    Component,
    Subcomponent,
    /// MSH-1 and MSH-2: delimiter characters, never split.
    Opaque,
}

/// How a value is present, the distinction chapter 2 draws between "not present" (absent or
/// empty: no change) and "present but null" (`""`: delete the value at the receiver).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Nothing between the delimiters.
    Empty,
    /// Exactly two double quotes: the sender says the value is null (chapter 2, 2.5.3 "Null").
    Null,
    Valued,
}

/// A borrowed value at some level of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Value<'a> {
    bytes: &'a [u8],
    offset: usize,
    delimiters: Delimiters,
    level: Level,
    /// Which separators below `level` the bytes hold, noted by the scan that found the value's
    /// end (exact, so equal values have equal notes): a level whose separator is not held is
    /// the value itself, found without reading the bytes again.
    held: Held,
}

/// How [`Value::split_parent`] splits a value at a lower level.
enum Split<'a> {
    /// Its only piece at that level: the value itself.
    Whole(Value<'a>),
    /// The value to split at that level's separator, which it holds.
    Pieces(Value<'a>),
}

/// The separator bits that can sit inside a value at `level`.
fn below(level: Level) -> Held {
    match level {
        Level::Field => scan::REPETITION | scan::COMPONENT | scan::SUBCOMPONENT,
        Level::Repetition => scan::COMPONENT | scan::SUBCOMPONENT,
        Level::Component => scan::SUBCOMPONENT,
        Level::Subcomponent | Level::Opaque => 0,
    }
}

impl<'a> Value<'a> {
    /// A value whose end a scan found (see [`scan::piece`]), with what it holds.
    pub(crate) fn scanned(
        bytes: &'a [u8],
        offset: usize,
        delimiters: Delimiters,
        level: Level,
        held: Held,
    ) -> Self {
        Value { bytes, offset, delimiters, level, held }
    }

    pub(crate) fn opaque(bytes: &'a [u8], offset: usize, delimiters: Delimiters) -> Self {
        Value { bytes, offset, delimiters, level: Level::Opaque, held: 0 }
    }

    /// The raw bytes as on the wire, escapes not resolved.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Byte offset in the file or stream the message came from.
    pub fn offset(&self) -> usize {
        self.offset
    }

    pub fn level(&self) -> Level {
        self.level
    }

    pub fn delimiters(&self) -> &Delimiters {
        &self.delimiters
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// True for the present-but-null value `""`.
    pub fn is_null(&self) -> bool {
        self.bytes == b"\"\""
    }

    pub fn presence(&self) -> Presence {
        if self.is_empty() {
            Presence::Empty
        } else if self.is_null() {
            Presence::Null
        } else {
            Presence::Valued
        }
    }

    /// How to reach `child` level. A value at a higher level is first narrowed to its first
    /// piece at the intermediate levels, so `field.component(2)` is component 2 of the first
    /// repetition. A value at or below `child` level (or opaque) is its own only child, as is
    /// one that holds no separator of that level (or whose message declares none).
    fn split_parent(&self, child: Level) -> Option<Split<'a>> {
        if self.level == Level::Opaque || self.level >= child {
            return Some(Split::Whole(*self));
        }
        let parent = match child {
            Level::Component if self.level < Level::Repetition => {
                self.child(Level::Repetition, 1)?
            }
            Level::Subcomponent if self.level < Level::Component => {
                self.child(Level::Component, 1)?
            }
            _ => *self,
        };
        if parent.held & scan::bit(child) == 0 {
            let held = parent.held & below(child);
            return Some(Split::Whole(Value { level: child, held, ..parent }));
        }
        Some(Split::Pieces(parent))
    }

    /// The `n`-th (1-based) piece at `child` level: the pieces before it skipped by [`scan::find`],
    /// its own end found by the scan that notes what it holds.
    fn child(&self, child: Level, n: usize) -> Option<Value<'a>> {
        let parent = match self.split_parent(child)? {
            Split::Whole(value) => return (n == 1).then_some(value),
            Split::Pieces(parent) => parent,
        };
        let separator = match child {
            Level::Repetition => self.delimiters.repetition,
            Level::Component => self.delimiters.component,
            // `Pieces` only when the value holds a subcomponent separator, so one is declared.
            Level::Subcomponent => self.delimiters.subcomponent?,
            Level::Field | Level::Opaque => return None,
        };
        let mut start = 0;
        for _ in 0..n.checked_sub(1)? {
            start += scan::find(separator, &parent.bytes[start..])? + 1;
        }
        let rest = &parent.bytes[start..];
        let (end, held) = scan::piece(rest, child, &self.delimiters);
        Some(Value {
            bytes: &rest[..end.unwrap_or(rest.len())],
            offset: parent.offset + start,
            delimiters: self.delimiters,
            level: child,
            held,
        })
    }

    /// Every piece at `child` level, in one pass over the bytes (hostile input may hold
    /// millions of delimiters; indexing each piece anew would be quadratic).
    fn children(&self, child: Level) -> impl Iterator<Item = Value<'a>> + 'a {
        match self.split_parent(child) {
            Some(Split::Whole(value)) => Pieces::Single(Some(value)),
            Some(Split::Pieces(parent)) => Pieces::Split {
                rest: Some(parent.bytes),
                offset: parent.offset,
                delimiters: self.delimiters,
                level: child,
            },
            None => Pieces::Single(None),
        }
    }

    /// Repetition `n` (1-based) of a field.
    pub fn repetition(&self, n: usize) -> Option<Value<'a>> {
        self.child(Level::Repetition, n)
    }

    /// Component `n` (1-based); of the first repetition when called on a field.
    pub fn component(&self, n: usize) -> Option<Value<'a>> {
        self.child(Level::Component, n)
    }

    /// Subcomponent `n` (1-based); of the first component when called above that level.
    pub fn subcomponent(&self, n: usize) -> Option<Value<'a>> {
        self.child(Level::Subcomponent, n)
    }

    pub fn repetitions(&self) -> impl Iterator<Item = Value<'a>> + 'a {
        self.children(Level::Repetition)
    }

    pub fn components(&self) -> impl Iterator<Item = Value<'a>> + 'a {
        self.children(Level::Component)
    }

    pub fn subcomponents(&self) -> impl Iterator<Item = Value<'a>> + 'a {
        self.children(Level::Subcomponent)
    }

    /// True when this value holds more structure than one plain string.
    pub fn is_composite(&self) -> bool {
        self.held & below(self.level) != 0
    }
}

/// The pieces of a value split at one level's separator.
enum Pieces<'a> {
    Single(Option<Value<'a>>),
    Split {
        /// The bytes not yet split; `None` once the last piece is out.
        rest: Option<&'a [u8]>,
        offset: usize,
        delimiters: Delimiters,
        level: Level,
    },
}

impl<'a> Iterator for Pieces<'a> {
    type Item = Value<'a>;

    #[inline]
    fn next(&mut self) -> Option<Value<'a>> {
        match self {
            Pieces::Single(value) => value.take(),
            Pieces::Split { rest, offset, delimiters, level } => {
                let bytes = rest.take()?;
                let (end, held) = scan::piece(bytes, *level, delimiters);
                let len = end.unwrap_or(bytes.len());
                let value = Value {
                    bytes: &bytes[..len],
                    offset: *offset,
                    delimiters: *delimiters,
                    level: *level,
                    held,
                };
                if end.is_some() {
                    *rest = Some(&bytes[len + 1..]);
                    *offset += len + 1;
                }
                Some(value)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(bytes: &[u8]) -> Value<'_> {
        let delimiters = Delimiters::default();
        let held = scan::piece(bytes, Level::Field, &delimiters).1;
        Value::scanned(bytes, 0, delimiters, Level::Field, held)
    }

    #[test]
    fn navigation() {
        let f = field(b"a^b&c^d~e^f");
        assert_eq!(f.repetitions().count(), 2);
        assert_eq!(f.component(2).unwrap().as_bytes(), b"b&c");
        assert_eq!(f.component(2).unwrap().subcomponent(2).unwrap().as_bytes(), b"c");
        assert_eq!(f.component(2).unwrap().offset(), 2);
        assert_eq!(f.repetition(2).unwrap().component(2).unwrap().as_bytes(), b"f");
        assert_eq!(f.repetition(2).unwrap().offset(), 8);
        assert_eq!(f.subcomponent(1).unwrap().as_bytes(), b"a");
        assert!(f.component(4).is_none());
        assert!(f.repetition(0).is_none());
        assert!(f.is_composite());
        assert!(!field(b"plain").is_composite());
        let c = f.component(1).unwrap();
        assert_eq!(c.component(1).unwrap().as_bytes(), b"a");
        assert!(c.component(2).is_none());
    }

    #[test]
    fn iterators_agree_with_indexing() {
        for input in [&b"a^b&c^d~e^f"[..], b"", b"~", b"^^", b"a~~b", b"&&^"] {
            let f = field(input);
            let reps: Vec<_> = f.repetitions().collect();
            let indexed: Vec<_> = (1..).map_while(|n| f.repetition(n)).collect();
            assert_eq!(reps, indexed);
            let comps: Vec<_> = f.components().collect();
            let indexed: Vec<_> = (1..).map_while(|n| f.component(n)).collect();
            assert_eq!(comps, indexed);
            let subs: Vec<_> = f.subcomponents().collect();
            let indexed: Vec<_> = (1..).map_while(|n| f.subcomponent(n)).collect();
            assert_eq!(subs, indexed);
        }
    }

    #[test]
    fn many_delimiters_are_linear() {
        let input = vec![b'~'; 4_000_000];
        assert_eq!(field(&input).repetitions().count(), 4_000_001);
    }

    #[test]
    fn presence() {
        assert_eq!(field(b"").presence(), Presence::Empty);
        assert_eq!(field(b"\"\"").presence(), Presence::Null);
        assert_eq!(field(b"x").presence(), Presence::Valued);
        assert_eq!(field(b"\"\"^x").presence(), Presence::Valued);
    }
}
