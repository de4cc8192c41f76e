//! Cross-checks our names table (`harness/src/hl7/names.txt`) against the machine-readable HL7
//! v2.6 dictionary in the shared reference folder (fernandojsg/hl7-dictionary, MIT), when that
//! folder is present next to the workspace; skips with a message when it is not.
//!
//! Names are compared case- and punctuation-insensitively (letters and digits only), so our
//! corrections of the dictionary's typos that only touch punctuation ("Priority _ OBR" →
//! "Priority - OBR", "Set ID _ SPM", "Insured_s Birth Place") are not differences. Fails on any
//! field-count mismatch, and when more than [`TOLERATED`] names or types differ beyond the
//! accepted differences listed in [`ACCEPTED`].

use hl7_harness::hl7::names;
use serde_json::Value;
use std::path::PathBuf;

/// Differences between our table and the dictionary that we keep on purpose, as
/// `(what, ours, theirs)` where `what` is `SEG-F`, `SEG` or `type T.C`.
const ACCEPTED: &[(&str, &str, &str)] = &[
    // The dictionary misspells "Expiration" in XTN.14 and XTN.15.
    ("type XTN.14", "Expiration Date", "Exiration Date"),
    ("type XTN.15", "Expiration Reason", "Exiration Reason"),
];

/// How many unexplained name or type differences are printed but tolerated: the dictionary is
/// a third party's transcription, and a stray typo in it must not break our build.
const TOLERATED: usize = 3;

fn dictionary_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/hl7-structures/hl7-dictionary/v2.6.json")
}

fn normalize(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

#[test]
fn names_match_the_v2_6_dictionary() {
    let path = dictionary_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("skipped: no HL7 dictionary at {}", path.display());
        return;
    };
    let dictionary: Value = serde_json::from_str(&text).expect("the v2.6 dictionary is JSON");

    let mut count_mismatches = Vec::new();
    let mut differences = Vec::new();
    let mut compare = |what: String, ours: &str, theirs: &str| {
        if normalize(ours) != normalize(theirs)
            && !ACCEPTED.iter().any(|&(w, o, t)| w == what && o == ours && t == theirs)
        {
            differences.push(format!("{what}: ours {ours:?}, dictionary {theirs:?}"));
        }
    };

    let mut segments = 0;
    let mut fields = 0;
    for segment in names::segment_ids() {
        segments += 1;
        let entry = &dictionary["segments"][segment];
        let theirs = entry["fields"].as_array().map(Vec::as_slice).unwrap_or_default();
        let ours = names::field_count(segment).unwrap_or(0);
        if ours != theirs.len() {
            count_mismatches
                .push(format!("{segment}: ours {ours} fields, dictionary {}", theirs.len()));
        }
        compare(
            segment.to_owned(),
            names::segment_name(segment).unwrap_or(""),
            entry["desc"].as_str().unwrap_or(""),
        );
        for (index, field) in theirs.iter().enumerate().take(ours) {
            fields += 1;
            let position = index + 1;
            compare(
                format!("{segment}-{position}"),
                names::field_name(segment, position).unwrap_or(""),
                field["desc"].as_str().unwrap_or(""),
            );
            // The dictionary writes `VARIES` where HL7's tables write "varies".
            compare(
                format!("{segment}-{position} type"),
                names::field_type(segment, position).unwrap_or(""),
                field["datatype"].as_str().unwrap_or(""),
            );
        }
    }

    // Component names of every composite type the dictionary has and our table lists.
    let mut types = 0;
    let all_types = dictionary["fields"].as_object().into_iter().flatten();
    for (data_type, entry) in all_types {
        let Some(ours) = names::components(data_type) else { continue };
        types += 1;
        let theirs = entry["subfields"].as_array().map(Vec::as_slice).unwrap_or_default();
        if ours.len() != theirs.len() {
            count_mismatches.push(format!(
                "type {data_type}: ours {} components, dictionary {}",
                ours.len(),
                theirs.len()
            ));
        }
        for (index, (ours, theirs)) in ours.iter().zip(theirs).enumerate() {
            compare(
                format!("type {data_type}.{}", index + 1),
                ours,
                theirs["desc"].as_str().unwrap_or(""),
            );
        }
    }

    println!(
        "checked {segments} segments, {fields} fields and {types} composite types against {}",
        path.display()
    );
    for line in count_mismatches.iter().chain(&differences) {
        println!("  {line}");
    }
    assert!(count_mismatches.is_empty(), "field or component counts differ: {count_mismatches:#?}");
    assert!(
        differences.len() <= TOLERATED,
        "{} names or types differ from the dictionary (at most {TOLERATED} tolerated): \
         {differences:#?}",
        differences.len()
    );
}
