//! Finding separators in one pass: a scan stops at the separator that ends a piece and notes, on
//! the way, which lower-level separators the piece holds. A [`Value`](super::Value) keeps that
//! note, so a level is split only where it has something to split: a plain field is read once,
//! when its segment is split, and never again on the way down to its subcomponents.
//!
//! Eight bytes at a time (SWAR: one `u64` compared against every separator at once). Pieces of
//! HL7 are short — a few bytes between separators — where memchr's vector setup does not pay,
//! and `unsafe` (and so explicit SIMD) is forbidden in this crate.

use super::delimiters::Delimiters;
use super::value::Level;

/// Bits of [`Held`]: which separators a piece holds.
pub(crate) const REPETITION: u8 = 1;
pub(crate) const COMPONENT: u8 = 2;
pub(crate) const SUBCOMPONENT: u8 = 4;

/// Which of the repetition, component and subcomponent separators a piece holds; exact (a
/// clear bit means there is none, a set bit that there is at least one).
pub(crate) type Held = u8;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of every byte of `word` equal to `byte`. The lowest set bit is always a true
/// match; bits above a true match may be false (the carry of the subtraction), never below it.
#[inline(always)]
fn matches(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Scans for the first `stop`: its position (`None` when the piece runs to the end of `bytes`)
/// and bit `1 << k` for every `watch[k]` that occurs before it. A `watch` entry equal to `stop`
/// never sets its bit, which is how an absent separator is watched for.
#[inline(always)]
fn scan<const N: usize>(bytes: &[u8], stop: u8, watch: [u8; N]) -> (Option<usize>, u8) {
    let mut seen = 0u8;
    let mut chunks = bytes.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunks_exact yields 8 bytes"));
        let stops = matches(word, stop);
        if stops != 0 {
            // Every bit below the first stop's; a watched match there is a true one (a false
            // positive sits above a true match, which would then be below the stop as well).
            let below = (stops & stops.wrapping_neg()) - 1;
            for (k, &w) in watch.iter().enumerate() {
                if matches(word, w) & below != 0 {
                    seen |= 1 << k;
                }
            }
            return (Some(base + (stops.trailing_zeros() / 8) as usize), seen);
        }
        for (k, &w) in watch.iter().enumerate() {
            if matches(word, w) != 0 {
                seen |= 1 << k;
            }
        }
        base += 8;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        if b == stop {
            return (Some(base + i), seen);
        }
        for (k, &w) in watch.iter().enumerate() {
            if b == w {
                seen |= 1 << k;
            }
        }
    }
    (None, seen)
}

/// The end of the piece at `level` that starts `bytes` (the position of the separator that
/// ends it, `None` when it runs to the end) and the separators below `level` it holds.
/// Fields end at the field separator; a level without a separator (no subcomponent character
/// declared) is never split, so its piece is all of `bytes`.
#[inline]
pub(crate) fn piece(bytes: &[u8], level: Level, d: &Delimiters) -> (Option<usize>, Held) {
    match level {
        Level::Field => {
            let sub = d.subcomponent.unwrap_or(d.field);
            scan(bytes, d.field, [d.repetition, d.component, sub])
        }
        Level::Repetition => {
            let sub = d.subcomponent.unwrap_or(d.repetition);
            let (end, seen) = scan(bytes, d.repetition, [d.component, sub]);
            (end, seen << 1)
        }
        Level::Component => match d.subcomponent {
            Some(sub) => {
                let (end, seen) = scan(bytes, d.component, [sub]);
                (end, seen << 2)
            }
            None => (scan(bytes, d.component, []).0, 0),
        },
        Level::Subcomponent => match d.subcomponent {
            Some(sub) => (scan(bytes, sub, []).0, 0),
            None => (None, 0),
        },
        Level::Opaque => (None, 0),
    }
}

/// Bytes [`find`] looks at one by one before it hands the rest to `memchr`.
const NEAR: usize = 16;

/// The position of the first `byte` in `bytes`. HL7's pieces are short, and `memchr`'s set-up
/// costs more than a plain loop over a few bytes, so the first [`NEAR`] bytes are looked at
/// one by one and only the rest (a long piece, or hostile input) is searched by `memchr`.
#[inline]
pub(crate) fn find(byte: u8, bytes: &[u8]) -> Option<usize> {
    let near = &bytes[..bytes.len().min(NEAR)];
    match near.iter().position(|&b| b == byte) {
        Some(at) => Some(at),
        None if bytes.len() > NEAR => memchr::memchr(byte, &bytes[NEAR..]).map(|at| at + NEAR),
        None => None,
    }
}

/// `text.trim()`, without a look at its characters when it is empty or starts and ends with a
/// visible ASCII character (`!`..=`~`), as nearly every HL7 value does: such a text has no
/// white space to trim at either end. Anything else (white space, non-ASCII at an end) is
/// trimmed by `str::trim`.
#[inline]
pub(crate) fn trim(text: &str) -> &str {
    let bytes = text.as_bytes();
    if bytes.first().is_none_or(u8::is_ascii_graphic)
        && bytes.last().is_none_or(u8::is_ascii_graphic)
    {
        text
    } else {
        text.trim()
    }
}

/// The separator bit that splits a value into pieces at `level`.
pub(crate) fn bit(level: Level) -> Held {
    match level {
        Level::Repetition => REPETITION,
        Level::Component => COMPONENT,
        Level::Subcomponent => SUBCOMPONENT,
        Level::Field | Level::Opaque => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The same answer, one byte at a time.
    fn reference<const N: usize>(bytes: &[u8], stop: u8, watch: [u8; N]) -> (Option<usize>, u8) {
        let end = bytes.iter().position(|&b| b == stop);
        let before = &bytes[..end.unwrap_or(bytes.len())];
        let mut seen = 0;
        for (k, &w) in watch.iter().enumerate() {
            if w != stop && before.contains(&w) {
                seen |= 1 << k;
            }
        }
        (end, seen)
    }

    #[test]
    fn scan_finds_the_first_stop_and_what_precedes_it() {
        let check = |input: &[u8], expected: (Option<usize>, u8)| {
            assert_eq!(scan(input, b'|', [b'~', b'^', b'&']), expected, "{input:?}");
            assert_eq!(reference(input, b'|', [b'~', b'^', b'&']), expected, "{input:?}");
        };
        check(b"", (None, 0));
        check(b"abc", (None, 0));
        check(b"a^b|c~d", (Some(3), 2));
        check(b"0123456789^&|~", (Some(12), 6));
        check(b"01234567~|", (Some(9), 1));
        check(b"|~~~~~~~~~~~~~", (Some(0), 0));
        check(b"\x80\x81\xff\x00^\x7f\x01\x02|", (Some(8), 2));
    }

    proptest! {
        /// `find` finds the first occurrence, near the start, far from it or nowhere.
        #[test]
        fn find_finds_the_first_occurrence(
            bytes in proptest::collection::vec(prop_oneof![20 => any::<u8>(), 1 => Just(b'|')], 0..80),
        ) {
            prop_assert_eq!(find(b'|', &bytes), bytes.iter().position(|&b| b == b'|'));
        }

        /// `trim` is `str::trim`, with white space of every kind (ASCII, NBSP, ideographic
        /// space) and non-ASCII letters at either end or none.
        #[test]
        fn trim_is_str_trim(
            text in proptest::collection::vec(prop_oneof![
                4 => proptest::char::range('!', '~'),
                1 => prop_oneof![
                    Just(' '), Just('\t'), Just('\r'), Just('\u{a0}'), Just('\u{3000}'),
                    Just('é'), Just('\u{1}'), Just('\u{7f}'),
                ],
            ], 0..12).prop_map(|chars| chars.into_iter().collect::<String>()),
        ) {
            prop_assert_eq!(trim(&text), text.trim());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn scan_agrees_with_a_byte_at_a_time_reference(
            bytes in proptest::collection::vec(prop_oneof![
                4 => any::<u8>(),
                1 => prop_oneof![Just(b'|'), Just(b'^'), Just(b'~'), Just(b'&')],
            ], 0..80),
            stop in any::<u8>(),
            watch in any::<[u8; 3]>(),
        ) {
            prop_assert_eq!(scan(&bytes, stop, watch), reference(&bytes, stop, watch));
            prop_assert_eq!(scan(&bytes, b'|', [b'~', b'^', b'|']),
                reference(&bytes, b'|', [b'~', b'^', b'|']));
        }
    }
}
