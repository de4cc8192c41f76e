//! `parse_spec` on arbitrary text never panics; an error's column lies within the spec (or just
//! past its end); a spec it accepts prints in a canonical form that parses back to the same
//! spec and prints the same again.
#![no_main]

use hl7_harness::proxy::parse_spec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let spec = match parse_spec(text) {
        Ok(spec) => spec,
        Err(err) => {
            let chars = text.trim().chars().count();
            assert!(err.column >= 1 && err.column <= chars + 1, "{text:?}: {err}");
            return;
        }
    };
    let shown = spec.to_string();
    let again = parse_spec(&shown)
        .unwrap_or_else(|e| panic!("{text:?} parsed, but its display {shown:?} did not: {e}"));
    assert_eq!(again, spec, "{text:?} displays as {shown:?}, which parses differently");
    assert_eq!(again.to_string(), shown, "display is not canonical");
});
