//! Escapes (ch. 2, 2.7): for any value and any valid delimiter set, `unescape(escape(v)) == v`
//! and the escaped form holds no bare delimiter; `unescape` of arbitrary bytes never panics and
//! every issue points inside its input.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use hl7_harness::hl7::escape::{escape, unescape};
use hl7_harness::hl7::Delimiters;
use libfuzzer_sys::fuzz_target;

/// Bytes a sender may declare as delimiters in this target: ASCII punctuation. Escape sequence
/// names are letters and digits, so delimiters that are letters or digits could not read back
/// unambiguously (see `escape`'s docs); the standard's delimiters never are.
const CANDIDATES: &[u8] = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

#[derive(Debug)]
struct Input<'a> {
    delimiters: Delimiters,
    value: &'a [u8],
    raw: &'a [u8],
}

impl<'a> Arbitrary<'a> for Input<'a> {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        // Draw distinct delimiters without replacement. MSH-2 declares 2 to 5 encoding
        // characters, in order: component, repetition, escape, subcomponent, truncation.
        let mut pool = CANDIDATES.to_vec();
        let mut draw = |u: &mut Unstructured<'a>| -> arbitrary::Result<u8> {
            let i = u.choose_index(pool.len())?;
            Ok(pool.swap_remove(i))
        };
        let field = draw(u)?;
        let component = draw(u)?;
        let repetition = draw(u)?;
        let declared = u.int_in_range(2..=5)?;
        let escape = if declared >= 3 { Some(draw(u)?) } else { None };
        let subcomponent = if declared >= 4 { Some(draw(u)?) } else { None };
        let truncation = if declared >= 5 { Some(draw(u)?) } else { None };
        let delimiters =
            Delimiters { field, component, repetition, escape, subcomponent, truncation };
        Ok(Input { delimiters, value: u.arbitrary()?, raw: u.bytes(u.len())? })
    }
}

fuzz_target!(|input: Input<'_>| {
    let d = &input.delimiters;

    match escape(input.value, d) {
        Ok(escaped) => {
            let bare = escaped.iter().position(|&b| {
                (d.is_special(b) && Some(b) != d.escape) || b == b'\n' || Some(b) == d.truncation
            });
            assert_eq!(bare, None, "escaped value {escaped:?} still holds a bare delimiter");
            let back = unescape(&escaped, d);
            assert!(back.is_clean(), "escape wrote a sequence unescape rejects: {:?}", back.issues);
            assert_eq!(back.bytes.as_ref(), input.value, "unescape(escape(v)) != v");
        }
        // Only legitimate when there is no escape character to escape with.
        Err(e) => assert!(d.escape.is_none(), "escape failed with an escape character: {e}"),
    }

    let unescaped = unescape(input.raw, d);
    for issue in &unescaped.issues {
        assert!(issue.offset < input.raw.len(), "issue offset past input end: {issue:?}");
    }
    // Without an escape character in it, a value is its own decoding.
    if d.escape.is_none_or(|e| !input.raw.contains(&e)) {
        assert!(unescaped.is_clean(), "issues without an escape character: {unescaped:?}");
        assert_eq!(unescaped.bytes.as_ref(), input.raw, "unescape changed a value with no escapes");
    }
});
