//! `proxy --record DIR` and the replay of its pack (issue 17, "Record and replay"): real
//! processes on loopback. Traffic recorded in front of `serve` replays byte for byte against
//! the same `serve` and passes; against a changed one (a defect that changes an ACK field or
//! code) `replay.reply` fails naming the field; `--redact-phi` leaves no patient data in the
//! pack.

use crate::proxy::{send, serve, Proxy};
use crate::support::{run, stderr, stdout, workspace};
use std::path::{Path, PathBuf};

/// MSH-10 `MSG-ADT-0001`; PID-3 `CL-10001`, PID-5 `Proefpersoon^Annika`, born 19850214.
const A01: &str = "corpus/adt/adt_a01_v23.hl7";
/// Non-ASCII text in UTF-8, which `serve --defect ae-on-non-ascii` answers with AE.
const LATIN: &str = "corpus/adt/adt_a04_v26_utf8_latin.hl7";

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("hl7-record-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a proxy recording into `dir` in front of `upstream`, sends `files` through it one
/// `send` each, stops it and returns its last lines.
fn record(upstream: &str, dir: &TempDir, files: &[&str], extra: &[&str]) -> Vec<String> {
    let mut args = vec!["--record", dir.path()];
    args.extend_from_slice(extra);
    let proxy = Proxy::start(upstream, &args);
    for file in files {
        let output = send(&proxy.url(), &[file], &[]);
        assert!(output.status.code().is_some(), "send ran: {}", stderr(&output));
    }
    proxy.interrupt()
}

fn read(dir: &Path, relative: &str) -> Vec<u8> {
    std::fs::read(dir.join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn replay(dir: &TempDir, target: &str) -> std::process::Output {
    run(&["run", dir.path(), "--target", target, "--no-report"])
}

#[test]
fn a_recorded_pack_replays_byte_exact_and_names_the_field_a_changed_system_answers() {
    let server = serve(&[]);
    let dir = TempDir::new("pack");
    let lines = record(&server.url, &dir, &[A01, LATIN], &[]);
    let last = lines.join("\n");
    assert!(last.contains("recorded 2 message(s), 2 reply(ies) on 2 connection(s)"), "{last}");
    let sent = std::fs::read(workspace().join(A01)).unwrap();
    assert_eq!(read(&dir.0, "messages/0001.hl7"), sent, "the message as the client sent it");
    let yaml = String::from_utf8(read(&dir.0, "recorded.yaml")).unwrap();
    assert!(yaml.starts_with("# yaml-language-server: $schema=scenario.schema.json\n"), "{yaml}");
    assert!(yaml.contains("NOT redacted"), "{yaml}");
    assert!(dir.0.join("scenario.schema.json").is_file());

    // The replay through a second recording proxy: what it sends is what was recorded.
    let again = TempDir::new("again");
    let proxy = Proxy::start(&server.url, &["--record", again.path()]);
    let output = replay(&dir, &proxy.url());
    assert_eq!(output.status.code(), Some(0), "{}\n{}", stdout(&output), stderr(&output));
    proxy.interrupt();
    for file in ["messages/0001.hl7", "messages/0002.hl7"] {
        assert_eq!(read(&again.0, file), read(&dir.0, file), "{file} replayed byte for byte");
    }

    // The same pack against changed systems: another MSA-1 code, another MSH-9.
    for (defect, field) in [("ae-on-non-ascii", "MSA-1: \"AA\" → \"AE\""), ("wrong-msh9", "MSH-9")]
    {
        let changed = serve(&["--defect", defect]);
        let output = replay(&dir, &changed.url);
        let shown = stdout(&output);
        assert_eq!(output.status.code(), Some(1), "{defect}: {shown}\n{}", stderr(&output));
        let line = shown
            .lines()
            .find(|l| l.contains("replay.reply") && l.contains(field))
            .unwrap_or_else(|| panic!("{defect}: no replay.reply naming {field}: {shown}"));
        assert!(line.contains("differ from acks/"), "{line}");
    }
}

#[test]
fn redact_phi_records_no_patient_data_and_replies_still_pair() {
    let server = serve(&[]);
    let dir = TempDir::new("redacted");
    let lines = record(&server.url, &dir, &[A01], &["--redact-phi", "--record-limit", "5,1MB"]);
    assert!(lines.join("\n").contains("recorded 1 message(s), 1 reply(ies)"), "{lines:?}");
    let mut files = vec!["recorded.yaml", "messages/0001.hl7", "acks/0001.hl7"];
    files.sort();
    for file in files {
        let text = String::from_utf8_lossy(&read(&dir.0, file)).into_owned();
        for phi in ["Proefpersoon", "Annika", "CL-10001", "19850214", "Teststraat", "Testdokter"] {
            assert!(!text.contains(phi), "{file} holds {phi:?}: {text}");
        }
    }
    let message = String::from_utf8(read(&dir.0, "messages/0001.hl7")).unwrap();
    assert!(message.contains("[name-1]"), "{message}");
    let ack = String::from_utf8(read(&dir.0, "acks/0001.hl7")).unwrap();
    assert!(ack.contains("|MSG-ADT-0001"), "MSA-2 still names the message's MSH-10: {ack}");
    let yaml = String::from_utf8(read(&dir.0, "recorded.yaml")).unwrap();
    assert!(yaml.contains("--redact-phi --record-limit 5,1MB"), "{yaml}");
    let output = replay(&dir, &server.url);
    assert_eq!(output.status.code(), Some(0), "{}\n{}", stdout(&output), stderr(&output));
}

#[test]
fn record_needs_an_empty_folder_and_a_valid_limit() {
    let dir = TempDir::new("busy");
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(dir.0.join("keep.txt"), b"x").unwrap();
    let output = run(&["proxy", "--listen", "127.0.0.1:0", "--upstream", "mllp://127.0.0.1:9"]
        .into_iter()
        .chain(["--record", dir.path(), "--duration", "1s"])
        .collect::<Vec<_>>());
    assert_ne!(output.status.code(), Some(0));
    assert!(stderr(&output).contains("not empty"), "{}", stderr(&output));
    let output = run(&["proxy", "--listen", "127.0.0.1:0", "--upstream", "mllp://127.0.0.1:9"]
        .into_iter()
        .chain(["--record", dir.path(), "--record-limit", "0"])
        .collect::<Vec<_>>());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}
