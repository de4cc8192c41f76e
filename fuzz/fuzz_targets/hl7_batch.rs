//! `split_batch` on arbitrary bytes never panics, and the message ranges it returns are inside
//! the input, in order and disjoint (as are the envelope segments').
#![no_main]

use hl7_harness::hl7::split_batch;
use libfuzzer_sys::fuzz_target;
use std::ops::Range;

fuzz_target!(|input: &[u8]| {
    let Ok(batch) = split_batch(input) else {
        return;
    };
    check_ranges(input, "message", batch.messages.iter().cloned());
    check_ranges(input, "envelope segment", batch.envelope.iter().map(|s| s.range.clone()));
});

fn check_ranges(input: &[u8], what: &str, ranges: impl Iterator<Item = Range<usize>>) {
    let mut previous_end = 0;
    for range in ranges {
        assert!(range.start <= range.end, "{what} range {range:?} is reversed");
        assert!(range.end <= input.len(), "{what} range {range:?} ends past {}", input.len());
        assert!(
            range.start >= previous_end,
            "{what} range {range:?} starts before the previous one ended ({previous_end})"
        );
        previous_end = range.end;
    }
}
