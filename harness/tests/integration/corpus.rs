//! The project corpus (`corpus/`): every message parses, the valid ones validate clean, every
//! malformed one produces exactly the findings its `.expect` file lists, every message
//! re-encodes byte-exact; `inspect` and `validate` output is snapshotted per file.

use crate::support::{files, relative, run, stdout, workspace};
use hl7_harness::hl7::validate::{validate, ValidateOptions};
use hl7_harness::hl7::{split_batch, Finding, Message, ParseOptions, Severity};
use std::path::Path;

/// One line of a `.expect` file: `code [segment=N] [field=SEG-N] [offset=N]`.
#[derive(Debug)]
struct Expected {
    code: String,
    segment: Option<usize>,
    field: Option<(String, usize)>,
    offset: Option<usize>,
}

fn parse_expect(path: &Path) -> Vec<Expected> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let mut parts = line.split_whitespace();
            let mut expected = Expected {
                code: parts.next().unwrap().to_string(),
                segment: None,
                field: None,
                offset: None,
            };
            for part in parts {
                let (key, value) =
                    part.split_once('=').unwrap_or_else(|| panic!("{path:?}: {line}"));
                match key {
                    "segment" => expected.segment = Some(value.parse().unwrap()),
                    "offset" => expected.offset = Some(value.parse().unwrap()),
                    "field" => {
                        let (seg, n) = value.split_once('-').unwrap();
                        expected.field = Some((seg.to_string(), n.parse().unwrap()));
                    }
                    _ => panic!("{path:?}: unknown key {key} in {line:?}"),
                }
            }
            expected
        })
        .collect()
}

fn matches(expected: &Expected, finding: &Finding) -> bool {
    let l = &finding.location;
    expected.code == finding.code
        && expected.segment.is_none_or(|s| l.segment_index == Some(s))
        && expected.offset.is_none_or(|o| l.offset == Some(o))
        && expected.field.as_ref().is_none_or(|(seg, n)| {
            l.segment.as_deref() == Some(seg.as_str()) && l.field == Some(*n)
        })
}

/// Every finding (warning or worse) a file produces, or the parse error's code.
fn outcome(bytes: &[u8]) -> Result<Vec<Finding>, &'static str> {
    let batch = split_batch(bytes).map_err(|e| e.code())?;
    let mut findings = batch.findings.clone();
    for range in &batch.messages {
        let options = ParseOptions { origin: range.start, ..ParseOptions::default() };
        let message = Message::parse_with(&bytes[range.clone()], options).map_err(|e| e.code())?;
        assert_eq!(message.encode(), &bytes[range.clone()], "byte-exact re-encode");
        findings.extend(message.findings().iter().cloned());
        findings.extend(validate(&message, &ValidateOptions::default()));
    }
    findings.retain(|f| f.severity >= Severity::Warning);
    Ok(findings)
}

#[test]
fn corpus_findings_match_expectations() {
    let corpus = workspace().join("corpus");
    let all = files(&corpus, "hl7");
    assert!(all.len() >= 40, "the corpus holds {} messages files", all.len());
    let mut failures = Vec::new();
    for path in &all {
        let bytes = std::fs::read(path).unwrap();
        let expect_path = path.with_extension("hl7.expect");
        let expect_path =
            if expect_path.exists() { expect_path } else { path.with_extension("expect") };
        let expected = if expect_path.exists() { parse_expect(&expect_path) } else { Vec::new() };
        let name = relative(path);
        match outcome(&bytes) {
            Err(code) => {
                if !(expected.len() == 1 && expected[0].code == code) {
                    failures.push(format!("{name}: parse error {code}, expected {expected:?}"));
                }
            }
            Ok(findings) => {
                for e in &expected {
                    if !findings.iter().any(|f| matches(e, f)) {
                        failures.push(format!("{name}: expected {e:?}, got {findings:#?}"));
                    }
                }
                for f in &findings {
                    if !expected.iter().any(|e| matches(e, f)) {
                        failures.push(format!("{name}: unexpected finding: {f}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} problem(s):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_expect_file_has_its_message() {
    for path in files(&workspace().join("corpus"), "expect") {
        let stem = path.with_extension("");
        let hl7 = if stem.extension().is_some_and(|e| e == "hl7") {
            stem
        } else {
            path.with_extension("hl7")
        };
        assert!(hl7.exists(), "{} has no message file", relative(&path));
    }
}

#[test]
fn inspect_and_validate_snapshots() {
    let corpus = workspace().join("corpus");
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path("snapshots/corpus");
    settings.bind(|| {
        for path in files(&corpus, "hl7") {
            let name = relative(&path);
            let inspect = run(&["inspect", &name]);
            let validate = run(&["validate", &name]);
            let shown = format!(
                "$ hl7-harness inspect {name}  (exit {})\n{}{}\n$ hl7-harness validate {name}  (exit {})\n{}{}",
                inspect.status.code().unwrap_or(-1),
                stdout(&inspect),
                crate::support::stderr(&inspect),
                validate.status.code().unwrap_or(-1),
                stdout(&validate),
                crate::support::stderr(&validate),
            );
            let snapshot = name.trim_start_matches("corpus/").replace(['/', '.'], "__");
            insta::assert_snapshot!(snapshot, shown);
        }
    });
}
