//! One segment of a parsed [`Message`](super::Message): its id and its fields, found on demand
//! in the message's bytes (a field separator at a time), never copied.

use super::delimiters::Delimiters;
use super::scan;
use super::value::{Level, Value};
use std::ops::Range;

/// One segment of a parsed message.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub(super) bytes: &'a [u8],
    /// The id as [`id`](Self::id) gives it, sliced out of the message's text once.
    pub(super) id: &'a str,
    pub(super) id_len: usize,
    pub(super) offset: usize,
    pub(super) index: usize,
    pub(super) delimiters: Delimiters,
}

impl<'a> Segment<'a> {
    /// The segment id, e.g. `PID`; the bytes before the first field separator, lossily as text
    /// only when they are not UTF-8 (an invalid id is already a finding).
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// The segment's bytes without its terminator.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Byte offset of the segment in the file or stream.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// 1-based position of the segment in its message.
    pub fn index(&self) -> usize {
        self.index
    }

    pub fn delimiters(&self) -> &Delimiters {
        &self.delimiters
    }

    /// MSH, FHS or BHS: fields 1 and 2 are the delimiters, never split.
    pub(crate) fn is_header(&self) -> bool {
        matches!(&self.bytes[..self.id_len], b"MSH" | b"FHS" | b"BHS")
    }

    /// Length of the segment id: the bytes before the first field separator.
    pub(crate) fn id_len(&self) -> usize {
        self.id_len
    }

    /// Number of fields present (trailing empty fields included as written).
    pub fn field_count(&self) -> usize {
        if self.bytes.len() <= self.id_len {
            return 0;
        }
        let content = &self.bytes[self.id_len + 1..];
        let pieces = memchr::memchr_iter(self.delimiters.field, content).count() + 1;
        if self.is_header() {
            pieces + 1
        } else {
            pieces
        }
    }

    /// Field `n` (1-based), or `None` when the segment ends before it (absent, not empty).
    ///
    /// In MSH (and FHS/BHS), field 1 is the field separator itself and field 2 the encoding
    /// characters, which are returned whole and never split (chapter 2, MSH-1 and MSH-2).
    pub fn field(&self, n: usize) -> Option<Value<'a>> {
        if n == 0 || self.bytes.len() <= self.id_len {
            return None;
        }
        let header = self.is_header();
        let piece_index = if header {
            if n == 1 {
                let range = self.id_len..self.id_len + 1;
                return Some(self.opaque_value(range));
            }
            n - 2
        } else {
            n - 1
        };
        let separator = self.delimiters.field;
        let mut start = self.id_len + 1;
        for _ in 0..piece_index {
            start += scan::find(separator, &self.bytes[start..])? + 1;
        }
        let rest = &self.bytes[start..];
        let (end, held) = scan::piece(rest, Level::Field, &self.delimiters);
        let end = start + end.unwrap_or(rest.len());
        if header && n == 2 {
            return Some(self.opaque_value(start..end));
        }
        let offset = self.offset + start;
        Some(Value::scanned(&self.bytes[start..end], offset, self.delimiters, Level::Field, held))
    }

    /// Fields `numbers` (1-based, ascending), as [`field`](Self::field) reads each, found in
    /// one pass over the segment's field separators: a value is built only for the fields
    /// asked for. (Walking [`fields`](Self::fields) to pick a few copies every field's value
    /// out of the iterator, which cost more than finding them.) A number out of order, and
    /// any field of a header segment, is read on its own.
    pub fn fields_at<const N: usize>(&self, numbers: [usize; N]) -> [Option<Value<'a>>; N] {
        self.pieces_at(
            numbers,
            |n| self.field(n),
            |start| {
                let rest = &self.bytes[start..];
                let (end, held) = scan::piece(rest, Level::Field, &self.delimiters);
                let bytes = &rest[..end.unwrap_or(rest.len())];
                Value::scanned(bytes, self.offset + start, self.delimiters, Level::Field, held)
            },
        )
    }

    /// The bytes of fields `numbers`, as [`fields_at`](Self::fields_at) gives them, without
    /// the scan that notes which separators each holds: for a reader that splits them itself.
    pub fn field_bytes_at<const N: usize>(&self, numbers: [usize; N]) -> [Option<&'a [u8]>; N] {
        let alone = |n| self.field(n).map(|value| value.as_bytes());
        self.pieces_at(numbers, alone, |start| {
            let rest = &self.bytes[start..];
            &rest[..scan::find(self.delimiters.field, rest).unwrap_or(rest.len())]
        })
    }

    /// Fields `numbers` in one pass: `at(start)` makes field n from where it starts; a number
    /// out of order, and any field of a header segment, is `alone(n)`.
    fn pieces_at<T: Copy, const N: usize>(
        &self,
        numbers: [usize; N],
        alone: impl Fn(usize) -> Option<T>,
        at: impl Fn(usize) -> T,
    ) -> [Option<T>; N] {
        if self.bytes.len() <= self.id_len || self.is_header() {
            return numbers.map(alone);
        }
        let mut found = [None; N];
        let separator = self.delimiters.field;
        let (mut start, mut number) = (self.id_len + 1, 1);
        for (slot, &n) in found.iter_mut().zip(&numbers) {
            if n < number || n == 0 {
                *slot = alone(n);
                continue;
            }
            while number < n {
                match scan::find(separator, &self.bytes[start..]) {
                    Some(at) => start += at + 1,
                    // Past the last field: the ones after are absent, the ones before read
                    // on their own.
                    None => {
                        number = usize::MAX;
                        break;
                    }
                }
                number += 1;
            }
            if number == n {
                *slot = Some(at(start));
            }
        }
        found
    }

    /// Field `n` (2 or more) of a header segment, whose bytes are `range` (found beforehand).
    pub(super) fn field_in(&self, n: usize, range: Range<usize>) -> Option<Value<'a>> {
        if n == 2 {
            return Some(self.opaque_value(range));
        }
        let bytes = self.bytes.get(range.clone())?;
        let (_, held) = scan::piece(bytes, Level::Field, &self.delimiters);
        Some(Value::scanned(bytes, self.offset + range.start, self.delimiters, Level::Field, held))
    }

    fn opaque_value(&self, range: Range<usize>) -> Value<'a> {
        Value::opaque(&self.bytes[range.clone()], self.offset + range.start, self.delimiters)
    }

    /// Every field with its 1-based number, in order, in one pass over the segment: each
    /// field separator is found once, and each field notes which lower separators it holds.
    pub fn fields(&self) -> impl Iterator<Item = (usize, Value<'a>)> + 'a {
        let has_content = self.bytes.len() > self.id_len;
        let header = has_content && self.is_header();
        let start = (self.id_len + 1).min(self.bytes.len());
        Fields {
            segment: *self,
            rest: has_content.then(|| &self.bytes[start..]),
            offset: self.offset + start,
            next: 1,
            header,
        }
    }
}

/// The iterator of [`Segment::fields`].
struct Fields<'a> {
    segment: Segment<'a>,
    /// The bytes not yet split, from the next field on; `None` once the last field is out.
    rest: Option<&'a [u8]>,
    /// Offset of `rest` in the file or stream.
    offset: usize,
    /// The number of the next field.
    next: usize,
    /// MSH, FHS or BHS: fields 1 and 2 are the delimiters, not split.
    header: bool,
}

impl<'a> Iterator for Fields<'a> {
    type Item = (usize, Value<'a>);

    #[inline]
    fn next(&mut self) -> Option<(usize, Value<'a>)> {
        let number = self.next;
        if self.header && number == 1 {
            self.next = 2;
            return self.segment.field(1).map(|value| (1, value));
        }
        let bytes = self.rest.take()?;
        let delimiters = self.segment.delimiters;
        let (end, held) = scan::piece(bytes, Level::Field, &delimiters);
        let len = end.unwrap_or(bytes.len());
        let value = if self.header && number == 2 {
            Value::opaque(&bytes[..len], self.offset, delimiters)
        } else {
            Value::scanned(&bytes[..len], self.offset, delimiters, Level::Field, held)
        };
        if end.is_some() {
            self.rest = Some(&bytes[len + 1..]);
            self.offset += len + 1;
        }
        self.next += 1;
        Some((number, value))
    }
}

/// The range of the `n`-th (0-based) piece of `bytes` split at `delimiter`.
pub(crate) fn nth_piece(bytes: &[u8], delimiter: u8, n: usize) -> Option<Range<usize>> {
    let mut start = 0;
    for _ in 0..n {
        start += scan::find(delimiter, &bytes[start..])? + 1;
    }
    let end = scan::find(delimiter, &bytes[start..]).map_or(bytes.len(), |i| start + i);
    Some(start..end)
}
