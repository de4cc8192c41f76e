//! The commands as a user runs them: exit codes, one-line errors, output.

use crate::support::{run, stderr, stdout, TempFile};

const ADT: &[u8] = b"MSH|^~\\&|SEND|FAC|RECV|FAC|20240101120000||ADT^A04^ADT_A01|MSG1|P|2.5||||||UNICODE UTF-8\rEVN|A04|20240101120000\rPID|1||123^^^HOSP^MR~456^^^SSA^SS||D\\S\\oe^J\xC3\xB8hn||19800101|M\rPV1|1|O\r";

#[test]
fn inspect_path_prints_the_decoded_value() {
    let file = TempFile::new("inspect-path.hl7", ADT);
    let output = run(&["inspect", file.path(), "--path", "PID-5.1"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "D^oe\n");
    let output = run(&["inspect", file.path(), "--path", "PID-5.2"]);
    assert_eq!(stdout(&output), "Jøhn\n");
    let output = run(&["inspect", file.path(), "--path", "PID-3[2].1"]);
    assert_eq!(stdout(&output), "456\n");
    let output = run(&["inspect", file.path(), "--path", "PID-30"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("PID-30 is not present"), "{}", stderr(&output));
}

#[test]
fn inspect_bad_path_is_a_usage_error() {
    let file = TempFile::new("inspect-bad-path.hl7", ADT);
    let output = run(&["inspect", file.path(), "--path", "pid-5"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("column 1") && err.contains("did you mean PID?"), "{err}");
    assert_eq!(err.lines().count(), 1, "one-line error: {err}");
}

#[test]
fn inspect_json_is_valid_json() {
    let file = TempFile::new("inspect-json.hl7", ADT);
    let output = run(&["inspect", file.path(), "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let pid = &doc["messages"][0]["segments"][2];
    assert_eq!(pid["id"], "PID");
    assert_eq!(pid["fields"][2]["position"], 5);
    assert_eq!(pid["fields"][2]["repetitions"][0]["components"][0]["text"], "D^oe");
}

#[test]
fn unreadable_input_names_file_and_offset() {
    let file = TempFile::new("not-hl7.hl7", b"hello world\r");
    for command in ["inspect", "validate"] {
        let output = run(&[command, file.path()]);
        assert_eq!(output.status.code(), Some(2), "{command}");
        let err = stderr(&output);
        assert!(err.contains("not-hl7.hl7: byte 0: not an HL7 v2 message"), "{command}: {err}");
        assert!(!err.contains("panicked") && !err.contains("Error {"), "{err}");
    }
    let output = run(&["validate", "no/such/file.hl7"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no/such/file.hl7: cannot read"), "{}", stderr(&output));
}

#[test]
fn validate_exit_codes() {
    let clean = TempFile::new("validate-clean.hl7", ADT);
    let output = run(&["validate", clean.path()]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(stdout(&output), "");

    let no_pid: Vec<u8> = String::from_utf8_lossy(ADT)
        .split('\r')
        .filter(|s| !s.starts_with("PID"))
        .collect::<Vec<_>>()
        .join("\r")
        .into_bytes();
    let broken = TempFile::new("validate-no-pid.hl7", &no_pid);
    let output = run(&["validate", broken.path()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("message 1: error: missing-required-segment"), "{text}");
    assert!(text.contains("PID"), "{text}");

    let output = run(&["validate", clean.path(), "--structure", "ADT_A09"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let output = run(&["validate", clean.path(), "--structure", "adt_a01"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("did you mean ADT_A01?"), "{}", stderr(&output));
    let output = run(&["validate", clean.path(), "--version", "9.9"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn strict_mode_rejects_lf_separators() {
    let output = run(&["validate", "corpus/edge/adt_a04_v25-lf.hl7"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("error: lf-segment-separator"), "{}", stdout(&output));
    let output = run(&["validate", "--strict", "corpus/edge/adt_a04_v25-lf.hl7"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("adt_a04_v25-lf.hl7: byte ") && err.contains("LF segment separator"),
        "{err}"
    );
}

#[test]
fn diff_reports_field_changes() {
    let a = TempFile::new("diff-a.hl7", ADT);
    let changed = String::from_utf8_lossy(ADT).replace("|M\r", "|F\r").replace("MSG1", "MSG2");
    let b = TempFile::new("diff-b.hl7", changed.as_bytes());
    let output = run(&["diff", a.path(), a.path()]);
    assert_eq!((output.status.code(), stdout(&output).as_str()), (Some(0), ""));
    let output = run(&["diff", a.path(), b.path()]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "MSH-10: \"MSG1\" → \"MSG2\"\nPID-8: \"M\" → \"F\"\n");
    let output = run(&["diff", a.path(), b.path(), "--ignore", "MSH-10"]);
    assert_eq!(stdout(&output), "PID-8: \"M\" → \"F\"\n");
}

#[test]
fn help_lists_the_commands() {
    let output = run(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    insta::assert_snapshot!("help", stdout(&output));
    for command in [
        "inspect", "validate", "diff", "send", "serve", "proxy", "run", "generate", "keygen",
        "load", "engine",
    ] {
        let output = run(&[command, "--help"]);
        assert_eq!(output.status.code(), Some(0));
        insta::assert_snapshot!(format!("help-{command}"), stdout(&output));
    }
    for command in ["sign", "verify", "merge"] {
        let output = run(&["report", command, "--help"]);
        assert_eq!(output.status.code(), Some(0));
        insta::assert_snapshot!(format!("help-report-{command}"), stdout(&output));
    }
    for command in ["import", "show"] {
        let output = run(&["profile", command, "--help"]);
        assert_eq!(output.status.code(), Some(0));
        insta::assert_snapshot!(format!("help-profile-{command}"), stdout(&output));
    }
}
