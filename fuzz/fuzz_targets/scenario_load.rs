//! Loading arbitrary text as a scenario file gives a scenario or errors that name a line and
//! column inside the text, never a panic.
#![no_main]

use hl7_harness::scenario::{load_text, FileAccess, Pattern};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|text: &str| {
    let known = hl7_harness::checks::generic_ids();
    if let Err(errors) = load_text(Path::new("fuzz/scenario.yaml"), text, &known, FileAccess::PackOnly) {
        assert!(!errors.is_empty());
        // YAML breaks lines at LF, CR LF and CR alike.
        let lines = text.replace("\r\n", "\n").replace('\r', "\n").matches('\n').count() + 1;
        for error in errors {
            // The end-of-stream mark may sit on the line after the last one.
            assert!(error.line <= lines + 1, "{error} points past the end ({lines} lines)");
        }
    }
    let _ = Pattern::parse(text);
});
