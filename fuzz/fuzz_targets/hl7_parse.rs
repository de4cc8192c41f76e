//! `Message::parse` on arbitrary bytes: never panics, and a message it accepts keeps its
//! promises: it re-encodes byte-exact, every segment id is three bytes or reported, every
//! finding and every value points inside the input.
#![no_main]

use hl7_harness::hl7::{Message, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(message) = Message::parse(input) else {
        return;
    };
    assert_eq!(message.encode(), input, "an unmodified message must re-encode byte-exact");

    let findings = message.findings();
    for finding in findings {
        if let Some(offset) = finding.location.offset {
            // `<=`: a finding about a missing byte at the end points just past the input.
            assert!(offset <= input.len(), "finding offset {offset} past input end: {finding}");
        }
    }

    let field_separator = message.delimiters().field;
    for segment in message.segments() {
        let raw = segment.as_bytes();
        let raw_id = raw.split(|b| *b == field_separator).next().unwrap_or_default();
        // Past the first MAX_FINDINGS_PER_KIND, bad ids are counted in one summary finding of
        // the same code with no location (hostile input costs a counter, not a finding each).
        let reported = findings.iter().any(|f| {
            f.code == "invalid-segment-id"
                && (f.location.segment_index == Some(segment.index())
                    || f.location.segment_index.is_none())
        });
        // Ch. 2, 2.5.2: a segment id is three characters. The lenient parser keeps a segment
        // with a bad id, but only with a finding for it (or counted in the summary).
        assert!(
            (raw_id.len() == 3 && segment.id().len() == 3) || reported,
            "segment {} has id {raw_id:?} and no invalid-segment-id finding",
            segment.index()
        );
        assert_eq!(&input[segment.offset()..][..raw.len()], raw, "segment offset is wrong");
        for (_, field) in segment.fields() {
            check_value(input, field);
            for repetition in field.repetitions() {
                check_value(input, repetition);
                for component in repetition.components() {
                    check_value(input, component);
                    for subcomponent in component.subcomponents() {
                        check_value(input, subcomponent);
                    }
                }
            }
        }
    }
});

/// A value's offset locates its bytes in the input.
fn check_value(input: &[u8], value: Value<'_>) {
    let bytes = value.as_bytes();
    let at = input.get(value.offset()..value.offset() + bytes.len());
    assert_eq!(at, Some(bytes), "value at offset {} is not where it says", value.offset());
}
