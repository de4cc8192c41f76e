//! The grammar notation parser (scenarios will carry grammar lines of their own) and the
//! matcher: parsing never panics; a grammar that parses prints back to text that parses to the
//! same tree; matching any sequence of segment ids against it terminates with in-range findings.
#![no_main]

use hl7_harness::hl7::structures::grammar::{display_items, parse_grammar};
use hl7_harness::hl7::structures::matcher::{match_segments, Automaton, ZSegments};
use hl7_harness::hl7::structures::Version;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    // Grammar text up to the first NUL, then the bytes that pick segment ids: plain-text seeds
    // (grammar lines) stay meaningful.
    let (text, picks) = match input.iter().position(|&b| b == 0) {
        Some(at) => (&input[..at], &input[at + 1..]),
        None => (input, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(items) = parse_grammar(text) else {
        return;
    };
    let shown = display_items(&items);
    let again = parse_grammar(&shown).expect("a printed grammar parses");
    assert_eq!(again, items, "display/parse round trip of {shown:?}");

    // Segment ids drawn from the grammar's own text, so the matcher sees hits and misses.
    let words: Vec<&str> = shown
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() == 3)
        .chain(["ZZZ", "PID", "MSH"])
        .collect();
    let ids: Vec<&str> = picks.iter().take(512).map(|&b| words[usize::from(b) % words.len()]).collect();
    let automaton = Automaton::new(&items);
    let findings = match_segments(&ids, &automaton, "FUZZ", Version::V2_5, ZSegments::AsWritten);
    for finding in &findings {
        if let Some(index) = finding.location.segment_index {
            assert!(index >= 1 && index <= ids.len(), "segment index {index} out of range");
        }
    }
});
