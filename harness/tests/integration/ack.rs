//! The ACK builder over the whole corpus: every acknowledgment it builds is itself a valid ACK
//! (grammar and required fields of its version), answers the right message and swaps the
//! addresses (HL7 v2.5.1 ch. 2, 2.9 and 2.14.1; MSH-3..6, MSA-2).

use crate::support::{files, relative, workspace};
use hl7_harness::hl7::ack::{AckBuilder, AckCode, AckError, ErrorCondition};
use hl7_harness::hl7::validate::{validate, ValidateOptions};
use hl7_harness::hl7::{split_batch, Message, ParseOptions, Path, Severity};

fn get(message: &Message<'_>, path: &str) -> String {
    let path = Path::parse(path).unwrap();
    message
        .get(&path)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

#[test]
fn acks_for_every_corpus_message_are_valid_acks() {
    let mut checked = 0;
    for path in files(&workspace().join("corpus"), "hl7") {
        let name = relative(&path);
        if name.contains("malformed/") || name.contains("/ack/") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let batch = split_batch(&bytes).unwrap();
        for range in &batch.messages {
            let options = ParseOptions { origin: range.start, ..ParseOptions::default() };
            let original = Message::parse_with(&bytes[range.clone()], options).unwrap();
            let version = original.version().unwrap_or("");
            if !["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6"].contains(&version) {
                continue;
            }
            for code in [AckCode::ApplicationAccept, AckCode::ApplicationError] {
                let mut builder = AckBuilder::new(&original, code, "ACK-1", "20240101120000");
                if code == AckCode::ApplicationError {
                    builder = builder.error(
                        AckError::new(ErrorCondition::RequiredFieldMissing)
                            .at(Path::parse("PID-3").unwrap(), Some(3))
                            .with_text("PID-3 | is ^ empty"),
                    );
                }
                let bytes = builder.build();
                let ack = Message::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
                let findings: Vec<_> = ack
                    .findings()
                    .iter()
                    .cloned()
                    .chain(validate(&ack, &ValidateOptions::default()))
                    .filter(|f| f.severity >= Severity::Warning)
                    .collect();
                assert!(
                    findings.is_empty(),
                    "{name} {code}: {findings:#?}\n{}",
                    String::from_utf8_lossy(&bytes)
                );
                assert_eq!(ack.delimiters(), original.delimiters(), "{name}");
                assert_eq!(get(&ack, "MSA-1"), code.as_str());
                assert_eq!(get(&ack, "MSA-2"), get(&original, "MSH-10"), "{name}");
                for (a, o) in
                    [("MSH-3", "MSH-5"), ("MSH-4", "MSH-6"), ("MSH-5", "MSH-3"), ("MSH-6", "MSH-4")]
                {
                    assert_eq!(get(&ack, a), get(&original, o), "{name}: {a}");
                }
                for echoed in ["MSH-11", "MSH-12", "MSH-18"] {
                    assert_eq!(get(&ack, echoed), get(&original, echoed), "{name}: {echoed}");
                }
                assert_eq!(ack.message_code(), Some("ACK"));
                assert_eq!(ack.trigger_event(), original.trigger_event(), "{name}");
                let structure = if version == "2.3" { None } else { Some("ACK") };
                assert_eq!(ack.message_structure(), structure, "{name}: MSH-9.3");
                let has_err = ack.find_segment("ERR", 1).is_some();
                assert_eq!(has_err, code == AckCode::ApplicationError, "{name}");
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} ACKs checked");
}
