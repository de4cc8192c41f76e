//! [`Value`]: a borrowed view of a field, a repetition, a component or a subcomponent.
//!
//! Splitting is done on demand over the borrowed bytes, so walking a message allocates nothing.
//! A path like `PID-5.1` is read as: field 5, first repetition, component 1 (chapter 2, 2.5.3).

use super::delimiters::Delimiters;
use super::message::nth_piece;

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
}

impl<'a> Value<'a> {
    pub(crate) fn field(bytes: &'a [u8], offset: usize, delimiters: Delimiters) -> Self {
        Value { bytes, offset, delimiters, level: Level::Field }
    }

    pub(crate) fn opaque(bytes: &'a [u8], offset: usize, delimiters: Delimiters) -> Self {
        Value { bytes, offset, delimiters, level: Level::Opaque }
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

    /// The value to split to reach `child` level, and the delimiter to split it at. A value at
    /// a higher level is first narrowed to its first piece at the intermediate levels, so
    /// `field.component(2)` is component 2 of the first repetition. `None` as delimiter means
    /// the value cannot be split further: it is its own only child.
    fn split_parent(&self, child: Level) -> Option<(Value<'a>, Option<u8>)> {
        if self.level == Level::Opaque || self.level >= child {
            return Some((*self, None));
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
        let delimiter = match child {
            Level::Repetition => Some(self.delimiters.repetition),
            Level::Component => Some(self.delimiters.component),
            Level::Subcomponent => self.delimiters.subcomponent,
            Level::Field | Level::Opaque => None,
        };
        let parent = if delimiter.is_none() { Value { level: child, ..parent } } else { parent };
        Some((parent, delimiter))
    }

    /// The `n`-th (1-based) piece at `child` level.
    fn child(&self, child: Level, n: usize) -> Option<Value<'a>> {
        let (parent, delimiter) = self.split_parent(child)?;
        let Some(delimiter) = delimiter else {
            return (n == 1).then_some(parent);
        };
        let range = nth_piece(parent.bytes, delimiter, n.checked_sub(1)?)?;
        Some(Value {
            bytes: &parent.bytes[range.clone()],
            offset: parent.offset + range.start,
            delimiters: self.delimiters,
            level: child,
        })
    }

    /// Every piece at `child` level, in one pass over the bytes (hostile input may hold
    /// millions of delimiters; indexing each piece anew would be quadratic).
    fn children(&self, child: Level) -> impl Iterator<Item = Value<'a>> + 'a {
        let split = self.split_parent(child);
        let delimiters = self.delimiters;
        let (parent, delimiter) = match split {
            Some((parent, Some(d))) => (Some(parent), d),
            Some((parent, None)) => return Pieces::Single(Some(parent)),
            None => (None, 0),
        };
        Pieces::Split { parent, delimiter, start: 0, delimiters, level: child }
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
        if self.level == Level::Opaque {
            return false;
        }
        let d = &self.delimiters;
        self.bytes.iter().any(|&b| {
            (b == d.repetition && self.level < Level::Repetition)
                || (b == d.component && self.level < Level::Component)
                || (Some(b) == d.subcomponent && self.level < Level::Subcomponent)
        })
    }
}

/// The pieces of a value split at one delimiter.
enum Pieces<'a> {
    Single(Option<Value<'a>>),
    Split {
        parent: Option<Value<'a>>,
        delimiter: u8,
        start: usize,
        delimiters: Delimiters,
        level: Level,
    },
}

impl<'a> Iterator for Pieces<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        match self {
            Pieces::Single(value) => value.take(),
            Pieces::Split { parent, delimiter, start, delimiters, level } => {
                let whole = (*parent)?;
                let rest = &whole.bytes[*start..];
                let (len, done) = match memchr::memchr(*delimiter, rest) {
                    Some(i) => (i, false),
                    None => (rest.len(), true),
                };
                let value = Value {
                    bytes: &rest[..len],
                    offset: whole.offset + *start,
                    delimiters: *delimiters,
                    level: *level,
                };
                if done {
                    *parent = None;
                } else {
                    *start += len + 1;
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
        Value::field(bytes, 0, Delimiters::default())
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
