//! Visiting every piece of a message in one pass: [`Segment::visit`] and [`Message::visit`].
//!
//! The nested iterators ([`Segment::fields`], [`Value::repetitions`], ...) find each level's
//! pieces on demand, which is what a caller reading a few values wants. A caller reading all of
//! them (a validator, a converter, an indexer) pays there for an iterator and a value per
//! level. The walk here reads each byte of a segment once, compares eight at a time against the
//! four separators, and reports each piece to a [`Visitor`] as soon as its end is found: the
//! pieces are the ones the iterators give, equal value for equal value (a proptest says so).
//!
//! Memory is constant whatever the input: the walk keeps one position and three start offsets.

use super::delimiters::Delimiters;
use super::message::{Message, Segment};
use super::scan::{COMPONENT, REPETITION, SUBCOMPONENT};
use super::value::{Level, Value};

/// Where a piece sits in its segment, every number 1-based, as a path spells it
/// (`PID-3[2].1.1` is field 3, repetition 2, component 1, subcomponent 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    pub field: usize,
    pub repetition: usize,
    pub component: usize,
    pub subcomponent: usize,
}

/// What [`Segment::visit`] reports. Each piece is reported once its end is found, so a piece's
/// pieces come before it: the subcomponents of a component, then the component, and so on up
/// to the field. Every method but [`Visitor::subcomponent`] does nothing unless implemented,
/// and a walk whose visitor leaves a level out does not build that level's values.
///
/// MSH-1 and MSH-2 (and those of FHS and BHS) are delimiters, never split: each is reported
/// once at every level, as the one [`Level::Opaque`] value the iterators give.
pub trait Visitor<'a> {
    /// A segment, before any of its pieces.
    fn segment(&mut self, _segment: &Segment<'a>) {}
    /// Every subcomponent, the pieces no separator splits further; `position` says which.
    fn subcomponent(&mut self, position: Position, value: Value<'a>);
    /// A component, after its subcomponents (`position.subcomponent` is the last one's).
    fn component(&mut self, _position: Position, _value: Value<'a>) {}
    /// A repetition, after its components.
    fn repetition(&mut self, _position: Position, _value: Value<'a>) {}
    /// A field, after its repetitions.
    fn field(&mut self, _position: Position, _value: Value<'a>) {}
}

impl<'a> Message<'a> {
    /// Every segment in order, each walked by [`Segment::visit`].
    pub fn visit<V: Visitor<'a>>(&self, visitor: &mut V) {
        for segment in self.segments() {
            visitor.segment(&segment);
            segment.visit(visitor);
        }
    }
}

impl<'a> Segment<'a> {
    /// Every field, repetition, component and subcomponent of the segment, in one pass over its
    /// bytes; the same pieces, with the same offsets and levels, as [`Segment::fields`] and the
    /// iterators below it.
    pub fn visit<V: Visitor<'a>>(&self, visitor: &mut V) {
        let bytes = self.as_bytes();
        let id_len = self.id_len();
        if bytes.len() <= id_len {
            return;
        }
        let delimiters = *self.delimiters();
        let mut walk = Walk::new(bytes, self.offset(), delimiters, visitor);
        let mut start = id_len + 1;
        if self.is_header() {
            // MSH-1 is the field separator itself, MSH-2 the encoding characters up to the next
            // field separator (chapter 2, MSH-1 and MSH-2): whole, at every level.
            walk.opaque(id_len..id_len + 1);
            let end = memchr::memchr(delimiters.field, &bytes[start..]).map(|i| start + i);
            walk.opaque(start..end.unwrap_or(bytes.len()));
            let Some(end) = end else { return };
            start = end + 1;
        }
        walk.run(start);
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const LOWS: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each byte of `word` that is not `byte`, exactly (no carry crosses a byte:
/// the low seven bits plus 0x7f stay below 0x100).
#[inline(always)]
fn differs(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    ((x & LOWS) + LOWS) | x
}

/// The state of one segment's walk: the position of the piece being read and where each of
/// its enclosing pieces began, with the separators each holds so far.
struct Walk<'a, 'v, V> {
    bytes: &'a [u8],
    offset: usize,
    delimiters: Delimiters,
    visitor: &'v mut V,
    /// The separators, in the order a byte is tested: field, repetition, component,
    /// subcomponent. An undeclared subcomponent separator is the field separator again, which
    /// is always tested first, so it never matches as a subcomponent separator.
    separators: [u8; 4],
    at: Position,
    field_start: usize,
    repetition_start: usize,
    component_start: usize,
    subcomponent_start: usize,
    field_held: u8,
    repetition_held: u8,
    component_held: u8,
}

impl<'a, 'v, V: Visitor<'a>> Walk<'a, 'v, V> {
    fn new(bytes: &'a [u8], offset: usize, delimiters: Delimiters, visitor: &'v mut V) -> Self {
        let d = delimiters;
        Walk {
            bytes,
            offset,
            delimiters,
            visitor,
            separators: [d.field, d.repetition, d.component, d.subcomponent.unwrap_or(d.field)],
            at: Position { field: 1, repetition: 1, component: 1, subcomponent: 1 },
            field_start: 0,
            repetition_start: 0,
            component_start: 0,
            subcomponent_start: 0,
            field_held: 0,
            repetition_held: 0,
            component_held: 0,
        }
    }

    /// MSH-1 or MSH-2: one opaque value, reported at every level, then the next field.
    fn opaque(&mut self, range: std::ops::Range<usize>) {
        let value =
            Value::opaque(&self.bytes[range.clone()], self.offset + range.start, self.delimiters);
        self.visitor.subcomponent(self.at, value);
        self.visitor.component(self.at, value);
        self.visitor.repetition(self.at, value);
        self.visitor.field(self.at, value);
        self.at.field += 1;
    }

    #[inline(always)]
    fn value(&self, start: usize, end: usize, level: Level, held: u8) -> Value<'a> {
        Value::scanned(&self.bytes[start..end], self.offset + start, self.delimiters, level, held)
    }

    /// Reads the fields from `start`, the first byte after a field separator, to the end.
    fn run(mut self, start: usize) {
        self.field_start = start;
        self.repetition_start = start;
        self.component_start = start;
        self.subcomponent_start = start;
        let [field, repetition, component, subcomponent] = self.separators;
        let bytes = self.bytes;
        let mut base = start;
        let mut chunks = bytes[start..].chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("chunks_exact yields 8 bytes"));
            let mut found = !(differs(word, field)
                & differs(word, repetition)
                & differs(word, component)
                & differs(word, subcomponent))
                & !LOWS;
            while found != 0 {
                let bit = found.trailing_zeros();
                found &= found - 1;
                let byte = (word >> (bit - 7)) as u8;
                self.separator(base + (bit / 8) as usize, byte);
            }
            base += 8;
        }
        for (i, &byte) in chunks.remainder().iter().enumerate() {
            if self.separators.contains(&byte) {
                self.separator(base + i, byte);
            }
        }
        self.end_field(bytes.len());
    }

    /// A separator at `at`: the pieces it ends are reported, the next ones begin after it.
    #[inline(always)]
    fn separator(&mut self, at: usize, byte: u8) {
        let [field, repetition, component, _] = self.separators;
        if byte == field {
            self.end_field(at);
            self.at =
                Position { field: self.at.field + 1, repetition: 1, component: 1, subcomponent: 1 };
            self.field_start = at + 1;
            self.repetition_start = at + 1;
            self.component_start = at + 1;
            self.field_held = 0;
            self.repetition_held = 0;
            self.component_held = 0;
        } else if byte == repetition {
            self.end_repetition(at);
            self.field_held |= REPETITION;
            self.at.repetition += 1;
            self.at.component = 1;
            self.at.subcomponent = 1;
            self.repetition_start = at + 1;
            self.component_start = at + 1;
            self.repetition_held = 0;
            self.component_held = 0;
        } else if byte == component {
            self.end_component(at);
            self.repetition_held |= COMPONENT;
            self.at.component += 1;
            self.at.subcomponent = 1;
            self.component_start = at + 1;
            self.component_held = 0;
        } else {
            self.end_subcomponent(at);
            self.component_held = SUBCOMPONENT;
            self.at.subcomponent += 1;
        }
        self.subcomponent_start = at + 1;
    }

    #[inline(always)]
    fn end_subcomponent(&mut self, end: usize) {
        let value = self.value(self.subcomponent_start, end, Level::Subcomponent, 0);
        self.visitor.subcomponent(self.at, value);
    }

    #[inline(always)]
    fn end_component(&mut self, end: usize) {
        self.end_subcomponent(end);
        let held = self.component_held;
        let value = self.value(self.component_start, end, Level::Component, held);
        self.visitor.component(self.at, value);
        self.repetition_held |= held;
    }

    #[inline(always)]
    fn end_repetition(&mut self, end: usize) {
        self.end_component(end);
        let held = self.repetition_held;
        let value = self.value(self.repetition_start, end, Level::Repetition, held);
        self.visitor.repetition(self.at, value);
        self.field_held |= held;
    }

    #[inline(always)]
    fn end_field(&mut self, end: usize) {
        self.end_repetition(end);
        let value = self.value(self.field_start, end, Level::Field, self.field_held);
        self.visitor.field(self.at, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One report of a walk, as the visitor saw it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Event<'a> {
        Segment(usize),
        Subcomponent(Position, Value<'a>),
        Component(Position, Value<'a>),
        Repetition(Position, Value<'a>),
        Field(Position, Value<'a>),
    }

    #[derive(Default)]
    struct Recorder<'a>(Vec<Event<'a>>);

    impl<'a> Visitor<'a> for Recorder<'a> {
        fn segment(&mut self, segment: &Segment<'a>) {
            self.0.push(Event::Segment(segment.index()));
        }
        fn subcomponent(&mut self, position: Position, value: Value<'a>) {
            self.0.push(Event::Subcomponent(position, value));
        }
        fn component(&mut self, position: Position, value: Value<'a>) {
            self.0.push(Event::Component(position, value));
        }
        fn repetition(&mut self, position: Position, value: Value<'a>) {
            self.0.push(Event::Repetition(position, value));
        }
        fn field(&mut self, position: Position, value: Value<'a>) {
            self.0.push(Event::Field(position, value));
        }
    }

    /// The same reports, from the nested iterators.
    fn by_iterators<'a>(message: &Message<'a>) -> Vec<Event<'a>> {
        let mut events = Vec::new();
        for segment in message.segments() {
            events.push(Event::Segment(segment.index()));
            for (field, value) in segment.fields() {
                let mut at = Position { field, repetition: 0, component: 0, subcomponent: 0 };
                for (repetition, rep) in (1..).zip(value.repetitions()) {
                    at.repetition = repetition;
                    for (component, comp) in (1..).zip(rep.components()) {
                        at.component = component;
                        for (subcomponent, sub) in (1..).zip(comp.subcomponents()) {
                            at.subcomponent = subcomponent;
                            events.push(Event::Subcomponent(at, sub));
                        }
                        events.push(Event::Component(at, comp));
                    }
                    events.push(Event::Repetition(at, rep));
                }
                events.push(Event::Field(at, value));
            }
        }
        events
    }

    fn walked(input: &[u8]) -> Vec<Event<'_>> {
        let message = Message::parse(input).expect("parses");
        let mut recorder = Recorder::default();
        message.visit(&mut recorder);
        recorder.0
    }

    /// The subcomponents a walk reports, as `field.repetition.component.subcomponent=bytes`.
    fn check(input: &[u8], expected: &[&str]) {
        let leaves: Vec<String> = walked(input)
            .into_iter()
            .filter_map(|event| match event {
                Event::Subcomponent(p, v) => Some(format!(
                    "{}.{}.{}.{}={}",
                    p.field,
                    p.repetition,
                    p.component,
                    p.subcomponent,
                    String::from_utf8_lossy(v.as_bytes())
                )),
                _ => None,
            })
            .collect();
        assert_eq!(leaves, expected, "{}", String::from_utf8_lossy(input));
    }

    #[test]
    fn leaves_with_their_positions() {
        check(b"MSH|^~\\&|A", &["1.1.1.1=|", "2.1.1.1=^~\\&", "3.1.1.1=A"]);
        check(b"MSH|^~\\&", &["1.1.1.1=|", "2.1.1.1=^~\\&"]);
        check(
            b"MSH|^~\\&|A\rPID|1||a^b&c~d|",
            &[
                "1.1.1.1=|",
                "2.1.1.1=^~\\&",
                "3.1.1.1=A",
                "1.1.1.1=1",
                "2.1.1.1=",
                "3.1.1.1=a",
                "3.1.2.1=b",
                "3.1.2.2=c",
                "3.2.1.1=d",
                "4.1.1.1=",
            ],
        );
        // A segment with no field separator has no fields.
        check(b"MSH|^~\\&|A\rZZZ\r", &["1.1.1.1=|", "2.1.1.1=^~\\&", "3.1.1.1=A"]);
        // No subcomponent separator declared: `&` is data.
        check(
            b"MSH|^~\\|A\rPID|a&b^c",
            &["1.1.1.1=|", "2.1.1.1=^~\\", "3.1.1.1=A", "1.1.1.1=a&b", "1.1.2.1=c"],
        );
    }

    #[test]
    fn agrees_with_the_iterators_on_long_pieces() {
        let input = b"MSH|^~\\&|SEND|FAC|RECV|FAC|20240101120000||ADT^A04^ADT_A01|MSG1|P|2.5\rPID|1||123456789012^^^HOSPITALNAME^MR~456^^^SSA^SS||Doe&van^Johnathan^Q||19800101|M\r";
        let message = Message::parse(input).expect("parses");
        assert_eq!(walked(input), by_iterators(&message));
    }

    #[test]
    fn many_delimiters_are_linear() {
        let mut input = b"MSH|^~\\&|".to_vec();
        input.extend(std::iter::repeat_n(b'~', 4_000_000));
        let message = Message::parse(&input).expect("parses");
        struct Count(usize);
        impl Visitor<'_> for Count {
            fn subcomponent(&mut self, _: Position, _: Value<'_>) {
                self.0 += 1;
            }
        }
        let mut count = Count(0);
        message.visit(&mut count);
        assert_eq!(count.0, 2 + 4_000_001);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        /// The walk reports exactly what the iterators give, in the same order: every field,
        /// repetition, component and subcomponent, equal values (bytes, offset, level and the
        /// separators held), for any bytes and four delimiter sets.
        #[test]
        fn walk_agrees_with_the_iterators(
            header in proptest::sample::select(vec![&b"MSH|^~\\&|"[..], b"MSH|^~\\|", b"MSH|^~|", b"MSH$%#!($"]),
            body in proptest::collection::vec(proptest::prop_oneof![
                3 => proptest::prelude::any::<u8>(),
                4 => proptest::sample::select(b"|^~&\\\r$%#!(".to_vec()),
            ], 0..300),
            origin in 0usize..1000,
        ) {
            let mut input = header.to_vec();
            input.extend(&body);
            let options = crate::hl7::ParseOptions { strict_line_endings: false, origin };
            let Ok(message) = Message::parse_with(&input, options) else { return Ok(()) };
            let mut recorder = Recorder::default();
            message.visit(&mut recorder);
            proptest::prop_assert_eq!(recorder.0, by_iterators(&message));
        }
    }
}
