//! The public sample corpus in `../shared/corpus-public` (present on CI and dev machines, never
//! copied into the project): nothing may panic, every parsed message re-encodes byte-exact, and
//! what the validator flags is summarised in the test output.

use crate::support::{files, shared};
use hl7_harness::hl7::validate::{validate, ValidateOptions};
use hl7_harness::hl7::{split_batch, Message, ParseOptions, Severity};
use std::collections::BTreeMap;

#[test]
fn public_corpus_parses_and_validates_without_panic() {
    let Some(dir) = shared("corpus-public") else {
        eprintln!("../shared/corpus-public not present: skipped");
        return;
    };
    let all = files(&dir, "hl7");
    assert!(!all.is_empty(), "{dir:?} holds no .hl7 files");
    let mut by_code: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut messages = 0;
    for path in &all {
        let name = path.strip_prefix(&dir).unwrap().display().to_string();
        let bytes = std::fs::read(path).unwrap();
        let batch = match split_batch(&bytes) {
            Ok(batch) => batch,
            Err(err) => {
                by_code.entry(err.code().to_string()).or_default().push(name);
                continue;
            }
        };
        for range in &batch.messages {
            let options = ParseOptions { origin: range.start, ..ParseOptions::default() };
            match Message::parse_with(&bytes[range.clone()], options) {
                Ok(message) => {
                    messages += 1;
                    assert_eq!(message.encode(), &bytes[range.clone()], "{name}: re-encode");
                    let findings = validate(&message, &ValidateOptions::default());
                    for f in message.findings().iter().chain(&findings) {
                        if f.severity >= Severity::Warning {
                            by_code.entry(f.code.to_string()).or_default().push(name.clone());
                        }
                    }
                }
                Err(err) => by_code.entry(err.code().to_string()).or_default().push(name.clone()),
            }
        }
    }
    eprintln!("public corpus: {} files, {messages} messages parsed", all.len());
    for (code, names) in &mut by_code {
        names.dedup();
        eprintln!(
            "  {code}: {} file(s), e.g. {}",
            names.len(),
            names.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
        );
    }
    assert!(messages > 200, "only {messages} messages parsed");
}
