//! `Path::parse` on arbitrary text never panics, and a path it accepts prints in a form that
//! parses back to the same path (and prints the same again).
#![no_main]

use hl7_harness::hl7::Path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(path) = Path::parse(text) else {
        return;
    };
    let shown = path.to_string();
    let again = Path::parse(&shown)
        .unwrap_or_else(|e| panic!("{text:?} parsed, but its display {shown:?} did not: {e}"));
    assert_eq!(again, path, "{text:?} displays as {shown:?}, which parses differently");
    assert_eq!(again.to_string(), shown, "display is not canonical");
});
