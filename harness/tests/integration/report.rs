//! Report folders written by `hl7-harness run`: `summary.md` and `results.json` snapshots (with
//! times, durations, run id, ports and ACK MSH-7 redacted), a well-formed `junit.xml`, a manifest
//! that hashes every report file.

use super::support::{run, stderr, stdout};
use std::path::{Path, PathBuf};

/// A temporary folder, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("hl7-harness-report-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.join(name)).expect("report file")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the v2.4 case of `ack-protocol` with `extra` flags, writing the report into `dir`.
pub fn report_run(dir: &TempDir, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run",
        "scenarios/conformance-core/ack-protocol.yaml",
        "--seed",
        "7",
        "--filter",
        "v2.4",
        "--report-dir",
        dir.path(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// `127.0.0.1:PORT` → `127.0.0.1:[port]`.
fn redact_ports(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("127.0.0.1:") {
        let (head, tail) = rest.split_at(at + "127.0.0.1:".len());
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(if digits > 0 { "[port]" } else { "" });
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// Every run of 64 hex digits (a sha256) → `[sha256]`.
fn redact_hashes(text: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() {
            run.push(c);
            continue;
        }
        out.push_str(if run.len() == 64 { "[sha256]" } else { &run });
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

/// MSH-7 of every MSH segment in `text` (an HL7 message) → `[MSH-7]`.
fn redact_msh7(text: &str) -> String {
    text.split('\r')
        .map(|segment| {
            if !segment.starts_with("MSH") || segment.len() < 4 {
                return segment.to_string();
            }
            let separator = &segment[3..4];
            let mut fields: Vec<&str> = segment.split(separator).collect();
            if fields.len() > 6 {
                fields[6] = "[MSH-7]";
            }
            fields.join(separator)
        })
        .collect::<Vec<_>>()
        .join("\r")
}

/// The volatile values of `results.json` replaced, recursively.
fn redact_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            // The linger is recorded as the time the harness listened after the last exchange,
            // and none when the connection had already ended: whether it had depends on timing
            // (seen both ways for this case under load), like `duration_ms`.
            if let Some(Value::Array(waits)) = map.get_mut("waits") {
                waits.retain(|w| w["kind"] != "linger");
                if waits.is_empty() {
                    map.remove("waits");
                }
            }
            for (key, value) in map.iter_mut() {
                match key.as_str() {
                    // Content hashes change whenever a scenario or corpus file is edited; the
                    // manifest test checks them.
                    "run_id" | "started" | "finished" | "duration_ms" | "elapsed_ms" | "sha256" => {
                        *value = Value::String(format!("[{key}]"));
                    }
                    _ => redact_json(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::String(text) => *text = redact_ports(&redact_msh7(text)),
        Value::Bool(_) | Value::Null | Value::Number(_) => {}
    }
}

/// `summary.md` with the run id and times redacted.
fn redact_summary(text: &str) -> String {
    text.lines()
        .map(|line| {
            for key in ["| Run |", "| Started |", "| Finished |"] {
                if line.starts_with(key) {
                    return format!("{key} [redacted] |");
                }
            }
            redact_hashes(&redact_ports(line))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks that `text` is well-formed XML (quick-xml reads it to the end without an error,
/// every start tag closed) and returns the names of the elements in document order.
pub fn xml_elements(text: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut names = Vec::new();
    let mut depth = 0i32;
    loop {
        match reader.read_event().expect("junit.xml is well-formed XML") {
            Event::Start(tag) => {
                depth += 1;
                names.push(String::from_utf8_lossy(tag.name().as_ref()).into_owned());
            }
            Event::Empty(tag) => {
                names.push(String::from_utf8_lossy(tag.name().as_ref()).into_owned());
            }
            Event::End(_) => depth -= 1,
            Event::Text(text) => {
                text.decode().expect("text decodes");
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "every element is closed");
    names
}

#[test]
fn a_failing_run_writes_every_report_file() {
    let dir = TempDir::new("failing");
    let output = report_run(&dir, &["--target-defect", "wrong-msa2"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stdout(&output).contains(&format!("report: {}", dir.path())), "{}", stdout(&output));
    insta::assert_snapshot!("report-summary-wrong-msa2", redact_summary(&dir.read("summary.md")));
    let mut results: serde_json::Value =
        serde_json::from_str(&dir.read("results.json")).expect("results.json is JSON");
    redact_json(&mut results);
    insta::assert_json_snapshot!("report-results-wrong-msa2", results);
}

#[test]
fn junit_is_well_formed_with_one_testcase_per_case_and_check() {
    let dir = TempDir::new("junit");
    report_run(&dir, &["--target-defect", "wrong-msa2"]);
    let junit = dir.read("junit.xml");
    let names = xml_elements(&junit);
    assert_eq!(names.iter().filter(|n| *n == "testsuite").count(), 1);
    let results: serde_json::Value = serde_json::from_str(&dir.read("results.json")).unwrap();
    let checks = results["counts"]["checks"].as_u64().unwrap() as usize;
    assert_eq!(names.iter().filter(|n| *n == "testcase").count(), 1 + checks);
    // The failed case and its failed error checks: the wrong MSA-2, and in the history the
    // message never acknowledged by an ACK of its own, answered by another message's ACK.
    assert_eq!(names.iter().filter(|n| *n == "failure").count(), 4);
    assert!(junit.contains("ack.msa2-echo"), "{junit}");
}

#[test]
fn junit_escapes_control_characters_and_markup() {
    // The whole pack, with a raw non-HL7 frame and mutated messages: the XML stays valid.
    let dir = TempDir::new("escape");
    let output = run(&[
        "run",
        "scenarios/conformance-core/ack-protocol.yaml",
        "--seed",
        "3",
        "--report-dir",
        dir.path(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    xml_elements(&dir.read("junit.xml"));
}

#[test]
fn the_manifest_hashes_every_report_file() {
    let dir = TempDir::new("manifest");
    report_run(&dir, &[]);
    let manifest: serde_json::Value = serde_json::from_str(&dir.read("manifest.json")).unwrap();
    assert_eq!(manifest["schema"], "hl7-harness/manifest/1");
    assert_eq!(manifest["verdict"], "conformant");
    let files: Vec<&str> =
        manifest["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(files[..4], ["results.json", "junit.xml", "summary.md", "report.html"]);
    assert_eq!(
        files[4..],
        ["snapshots/conformance-core/ack-protocol__a-v2-4-message-is-acknowledged-in-v2-4.snap"]
    );
    for file in manifest["files"].as_array().unwrap() {
        let bytes =
            std::fs::read(Path::new(dir.path()).join(file["path"].as_str().unwrap())).unwrap();
        assert_eq!(file["sha256"], hl7_harness::report::record::sha256_hex(&bytes));
    }
    let inputs: Vec<&str> = manifest["packs"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(inputs.contains(&"scenarios/conformance-core/ack-protocol.yaml"), "{inputs:?}");
    assert!(inputs.contains(&"corpus/adt/adt_a04_v24_minimal.hl7"), "{inputs:?}");
    for file in manifest["packs"][0]["files"].as_array().unwrap() {
        let bytes = std::fs::read(super::support::workspace().join(file["path"].as_str().unwrap()));
        assert_eq!(file["sha256"], hl7_harness::report::record::sha256_hex(&bytes.unwrap()));
    }
}

#[test]
fn no_report_writes_nothing() {
    let dir = TempDir::new("none");
    let output = run(&[
        "run",
        "scenarios/conformance-core/ack-protocol.yaml",
        "--seed",
        "7",
        "--filter",
        "v2.4",
        "--no-report",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!stdout(&output).contains("report:"));
    assert!(!dir.0.exists());
}

/// A signed report of the v2.4 case (passing unless `extra` switches a defect on), with the key
/// pair in `keys`.
fn signed_report(dir: &TempDir, keys: &TempDir, extra: &[&str]) {
    report_run(dir, extra);
    let output = run(&["keygen", "--out", keys.path()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let key = format!("{}/signing.key", keys.path());
    let output =
        run(&["report", "sign", dir.path(), "--key", &key, "--signer", "Ann Tester, MailCo"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

fn verify(dir: &TempDir, keys: &TempDir) -> std::process::Output {
    run(&["report", "verify", dir.path(), "--public-key", &format!("{}/signing.pub", keys.path())])
}

#[test]
fn sign_then_verify_passes_and_lists_the_packs() {
    let (dir, keys) = (TempDir::new("sign-ok"), TempDir::new("sign-ok-keys"));
    signed_report(&dir, &keys, &[]);
    let output = verify(&dir, &keys);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(text.contains("signature: valid; signed by Ann Tester, MailCo"), "{text}");
    assert!(text.contains("as \"conformant\""), "{text}");
    assert!(text.contains("conformance-core sha256 "), "{text}");
    assert!(
        text.contains("scenario scenarios/conformance-core/ack-protocol.yaml sha256 "),
        "{text}"
    );
    assert!(text.ends_with("VERIFIED\n") && !text.contains("NOT VERIFIED"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.0.join("signing.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn verify_names_every_changed_removed_or_added_file() {
    let (dir, keys) = (TempDir::new("tamper"), TempDir::new("tamper-keys"));
    signed_report(&dir, &keys, &[]);
    let pristine: Vec<(String, Vec<u8>)> = [
        "results.json",
        "junit.xml",
        "summary.md",
        "report.html",
        "manifest.json",
        "signature.json",
    ]
    .iter()
    .map(|name| (name.to_string(), std::fs::read(dir.0.join(name)).unwrap()))
    .collect();
    let restore = || {
        for (name, bytes) in &pristine {
            std::fs::write(dir.0.join(name), bytes).unwrap();
        }
        let _ = std::fs::remove_file(dir.0.join("extra.txt"));
    };
    for (name, bytes) in &pristine {
        // One byte changed, in the middle of the file.
        let mut changed = bytes.clone();
        let middle = changed.len() / 2;
        changed[middle] ^= 0x01;
        std::fs::write(dir.0.join(name), &changed).unwrap();
        let output = verify(&dir, &keys);
        let text = stdout(&output);
        assert_eq!(output.status.code(), Some(1), "{name}: {text}{}", stderr(&output));
        let named = text.contains(&format!("changed: {name}"))
            || text.contains(&format!("{name} (no longer a manifest"))
            || (name == "signature.json" && text.contains("signature: INVALID"));
        assert!(named, "{name}: {text}{}", stderr(&output));
        restore();

        std::fs::remove_file(dir.0.join(name)).unwrap();
        let output = verify(&dir, &keys);
        let text = stdout(&output);
        let code = output.status.code();
        match name.as_str() {
            // Without a manifest there is nothing to verify against: an error naming it.
            "manifest.json" => {
                assert_eq!(code, Some(2));
                assert!(stderr(&output).contains("manifest.json"), "{}", stderr(&output));
            }
            "signature.json" => {
                assert_eq!(code, Some(1));
                assert!(text.contains("signature: missing"), "{text}");
            }
            _ => {
                assert_eq!(code, Some(1));
                assert!(text.contains(&format!("removed: {name}")), "{text}");
            }
        }
        restore();
    }
    std::fs::write(dir.0.join("extra.txt"), "added").unwrap();
    let output = verify(&dir, &keys);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("added: extra.txt"), "{}", stdout(&output));
    restore();
    assert_eq!(verify(&dir, &keys).status.code(), Some(0));
}

#[test]
fn verify_with_another_key_fails() {
    let (dir, keys) = (TempDir::new("wrong-key"), TempDir::new("wrong-key-keys"));
    signed_report(&dir, &keys, &[]);
    let other = TempDir::new("wrong-key-other");
    run(&["keygen", "--out", other.path()]);
    let output = verify(&dir, &other);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("signature: INVALID: not signed with the key given"),
        "{}",
        stdout(&output)
    );
}

/// Issue 14: `report verify` trusts the key given on the command line only, and names the file
/// that really changed. Each edit is made to a freshly signed report and undone after.
#[test]
fn issue14_verify_uses_the_given_key_only_and_names_the_file_that_changed() {
    let (dir, keys) = (TempDir::new("verify-blame"), TempDir::new("verify-blame-keys"));
    signed_report(&dir, &keys, &[]);
    let other = TempDir::new("verify-blame-other");
    assert_eq!(run(&["keygen", "--out", other.path()]).status.code(), Some(0));
    let other_hex = std::fs::read_to_string(other.0.join("signing.pub")).unwrap();
    let other_hex = other_hex.lines().nth(1).unwrap().trim().to_string();
    let read = |name: &str| dir.read(name);
    let (manifest, signature) = (read("manifest.json"), read("signature.json"));
    let results_hash = {
        let parsed: serde_json::Value = serde_json::from_str(&manifest).unwrap();
        let files = parsed["files"].as_array().unwrap();
        let entry = files.iter().find(|f| f["path"] == "results.json").unwrap();
        entry["sha256"].as_str().unwrap().to_string()
    };
    let signed: serde_json::Value = serde_json::from_str(&signature).unwrap();
    let (own_key, manifest_hash) = (
        signed["public_key"].as_str().unwrap().to_string(),
        signed["manifest_sha256"].as_str().unwrap().to_string(),
    );
    // Another valid-looking hash: the last hex digit changed.
    let flip = |hash: &str| {
        let last = if hash.ends_with('0') { "1" } else { "0" };
        format!("{}{last}", &hash[..hash.len() - 1])
    };
    let cases: [(&str, String, &str, &[&str]); 4] = [
        // The embedded public key replaced: the signature still verifies with the given key,
        // but the file says otherwise, so the report fails and signature.json is named.
        (
            "signature.json",
            signature.replace(&own_key, &other_hex),
            "signature.json names public key",
            &["changed: signature.json"],
        ),
        // The manifest's recorded hash of results.json edited: manifest.json changed, not
        // results.json.
        (
            "manifest.json",
            manifest.replace(&results_hash, &flip(&results_hash)),
            "manifest.json is not the manifest that was signed",
            &["changed: manifest.json"],
        ),
        // signature.json's hash of the manifest edited: signature.json changed.
        (
            "signature.json",
            signature.replace(&manifest_hash, &flip(&manifest_hash)),
            "manifest_sha256 was edited",
            &["changed: signature.json"],
        ),
        // A report file edited: that file.
        (
            "results.json",
            read("results.json").replacen("\"seed\"", "\"seed\" ", 1),
            "signature: valid",
            &["changed: results.json"],
        ),
    ];
    let all = ["changed: manifest.json", "changed: signature.json", "changed: results.json"];
    for (file, edited, says, named) in cases {
        let pristine = read(file);
        assert_ne!(edited, pristine, "{file}: the edit must change the file");
        std::fs::write(dir.0.join(file), &edited).unwrap();
        let output = verify(&dir, &keys);
        let text = stdout(&output);
        assert_eq!(output.status.code(), Some(1), "{file}: {text}{}", stderr(&output));
        assert!(text.contains(says), "{file}: {text}");
        assert!(text.ends_with("NOT VERIFIED\n"), "{file}: {text}");
        for line in all {
            assert_eq!(text.contains(line), named.contains(&line), "{file}: {line}?\n{text}");
        }
        std::fs::write(dir.0.join(file), pristine).unwrap();
    }
    assert_eq!(verify(&dir, &keys).status.code(), Some(0), "restored");
    // Verified with the other key, whose hex signature.json was edited to name: the
    // signature is checked with that key, not taken on the file's word.
    std::fs::write(dir.0.join("signature.json"), signature.replace(&own_key, &other_hex)).unwrap();
    let output = verify(&dir, &other);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("does not verify with the key given"), "{text}");
    assert!(text.contains("changed: signature.json"), "{text}");
}

#[test]
fn a_report_with_failures_cannot_be_signed_as_conformant() {
    let (dir, keys) = (TempDir::new("not-conformant"), TempDir::new("not-conformant-keys"));
    report_run(&dir, &["--target-defect", "wrong-msa2"]);
    run(&["keygen", "--out", keys.path()]);
    let key = format!("{}/signing.key", keys.path());
    let sign = |extra: &[&str]| {
        let mut args =
            vec!["report", "sign", dir.path(), "--key", &key, "--signer", "Ann Tester, MailCo"];
        args.extend_from_slice(extra);
        run(&args)
    };
    let output = sign(&["--verdict", "conformant"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("can only be signed as \"not conformant\""),
        "{}",
        stderr(&output)
    );
    assert!(!dir.0.join("signature.json").exists());
    let output = sign(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = verify(&dir, &keys);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("as \"not conformant\""), "{}", stdout(&output));
}

#[test]
fn keygen_never_overwrites_a_key() {
    let keys = TempDir::new("keygen-twice");
    assert_eq!(run(&["keygen", "--out", keys.path()]).status.code(), Some(0));
    let before = std::fs::read(keys.0.join("signing.key")).unwrap();
    assert_eq!(run(&["keygen", "--out", keys.path()]).status.code(), Some(2));
    assert_eq!(std::fs::read(keys.0.join("signing.key")).unwrap(), before);
}

#[test]
fn redact_phi_leaves_no_patient_data_in_any_report_file() {
    let dir = TempDir::new("redact");
    let output = report_run(&dir, &["--redact-phi", "--target-defect", "wrong-msa2"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    // adt_a04_v24_minimal.hl7: PID|1||CL-10003^^^SYNTH_EHR^PI||Voorbeeld^Daan^^^^^L||20010303|M
    for name in ["results.json", "junit.xml", "summary.md", "report.html", "manifest.json"] {
        let text = dir.read(name);
        for phi in ["CL-10003", "Voorbeeld", "Daan", "20010303"] {
            assert!(!text.contains(phi), "{name} holds {phi}");
        }
    }
    for phi in ["CL-10003", "Voorbeeld"] {
        assert!(!stdout(&output).contains(phi), "{}", stdout(&output));
    }
    let results = dir.read("results.json");
    // EVN-5, the operator (an XCN, a person), comes first and is redacted too (issue 14).
    assert!(results.contains("EVN|A04|20240312101500|||[id-1]^[name-1]^[name-2]^"), "{results}");
    assert!(results.contains("PID|1||[id-2]^^^SYNTH_EHR^PI||[name-3]^[name-4]^^^^^L||[dob-1]|M"));
    let manifest: serde_json::Value = serde_json::from_str(&dir.read("manifest.json")).unwrap();
    assert_eq!(manifest["phi_redacted"], true);
    assert!(dir.read("summary.md").contains("| Patient data | redacted"));
}

#[test]
fn html_is_self_contained_with_a_failure_filter() {
    let dir = TempDir::new("html");
    let output = run(&[
        "run",
        "scenarios/conformance-core/ack-protocol.yaml",
        "--seed",
        "7",
        "--target-defect",
        "wrong-msa2",
        "--report-dir",
        dir.path(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let html = dir.read("report.html");
    for external in ["src=", "<link", "@import", "url("] {
        assert!(!html.contains(external), "report.html refers to an outside asset: {external}");
    }
    // Links only within the page (the rules table, the cases).
    assert_eq!(html.matches("href=").count(), html.matches("href=\"#").count());
    let results: serde_json::Value = serde_json::from_str(&dir.read("results.json")).unwrap();
    let cases = results["counts"]["cases"].as_u64().unwrap() as usize;
    assert_eq!(html.matches("<div class=\"case\" data-verdict=").count(), cases);
    let failed = results["counts"]["failed"].as_u64().unwrap() as usize;
    assert_eq!(html.matches("<div class=\"case\" data-verdict=\"failed\"").count(), failed);
    // The overview lists the failed cases before the cases themselves.
    assert_eq!(html.matches("<div class=\"failure\" data-verdict=\"failed\"").count(), failed);
    assert!(html.find("id=\"failures\"") < html.find("id=\"cases\""));
    assert!(html.contains("id=\"only-failures\"") && html.contains("'only-failures'"));
    assert_eq!(html.matches("<div").count(), html.matches("</div>").count());
    assert_eq!(html.matches("<table").count(), html.matches("</table>").count());
    assert!(html.trim_end().ends_with("</html>"));
}

#[test]
fn a_report_is_never_written_over() {
    let dir = TempDir::new("twice");
    assert_eq!(report_run(&dir, &[]).status.code(), Some(0));
    let before = dir.read("manifest.json");
    let output = report_run(&dir, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("holds a report already"), "{}", stderr(&output));
    assert_eq!(dir.read("manifest.json"), before);
}

#[test]
fn passwords_never_appear_in_a_report() {
    // credentials.yaml sends with a wrong password to a built-in endpoint that has another one.
    let dir = TempDir::new("passwords");
    let output =
        run(&["run", "scenarios/http-partner/", "--seed", "5", "--report-dir", dir.path()]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    for name in ["results.json", "junit.xml", "summary.md", "report.html", "manifest.json"] {
        let text = dir.read(name);
        for password in ["harness-demo-password", "not-the-password"] {
            assert!(!text.contains(password), "{name} holds a password");
        }
    }
}
