//! Issue 17, a destination the harness reads rather than listens as: the reference engine
//! writes each output into a folder (`file:` destination, one file per output, written
//! atomically), and the through role reads the folder (`read: { dir: … }`) or a command that
//! lists it (`read: { command: … }`). The correct engine passes; a dropped message fails
//! `through.delivered`, a changed mapping `through.content`; a read command that fails is
//! reported by `through.destination-read`, within the case's bounds. Real binary, real files.

use super::support::{failed_error_ids, run_within, stderr, stdout};
use std::path::PathBuf;
use std::time::Duration;

/// The message sent: an A04 the route maps MSH-5 of.
const MESSAGE: &str = "MSH|^~\\\\&|S|SF|R|RF|20240101||ADT^A04^ADT_A01|X|P|2.5\\rPID|1||P1";

/// How the harness reads destination `files` (the YAML of its `read:`).
const BY_DIR: &str = "{ dir: \"{workdir}/out\", every: 50ms }";
/// The shell's glob sorts the zero-padded names the engine writes, so outputs come in the
/// order accepted; a newline after each file ends its last segment (the engine writes the
/// message as it got it, here without a final CR); no file yet prints nothing.
const BY_COMMAND: &str = "{ command: [sh, -c, \"for f in {workdir}/out/*.hl7; do [ -f \\\"$f\\\" ] && cat \\\"$f\\\" && echo; done; true\"], every: 50ms }";

/// A folder with a route file whose one destination is a folder and a through scenario with
/// three inputs (removed when dropped). `mapped` is the value the engine writes into MSH-5;
/// the case expects `FILES`.
struct ReadPack(PathBuf);

impl ReadPack {
    fn new(name: &str, read: &str, mapped: &str) -> ReadPack {
        let dir = std::env::temp_dir()
            .join(format!("hl7-harness-through-read-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("read.routes.yaml"),
            format!(
                "listen: mllp://127.0.0.1:0\njournal: journal\ndestinations:\n  files:\n    \
                 file: out\nroutes:\n  - name: all\n    to: [files]\n    mappings:\n      \
                 - set: {{path: MSH-5, value: {mapped}}}\n"
            ),
        )
        .unwrap();
        let input = "      - message: m\n        expect: [{ to: files, set: { MSH-5: FILES } }]\n";
        std::fs::write(
            dir.join("read.yaml"),
            format!(
                "role: through\nthrough:\n  destinations:\n    files: {{ read: {read} }}\n  sut:\n    \
                 command: [\"{{harness}}\", engine, \"{{scenario_dir}}/read.routes.yaml\", \
                 --listen, \"{{input}}\", --journal, \"{{workdir}}/journal\", --destination, \
                 \"files=file:{{workdir}}/out\", \"{{defects}}\"]\n  timeout: 5s\n  quiet: 300ms\n\
                 messages:\n  m: {{ text: \"{MESSAGE}\" }}\nflows:\n  - name: three inputs written \
                 to files\n    send:\n{input}{input}{input}"
            ),
        )
        .unwrap();
        ReadPack(dir)
    }

    fn file(&self) -> String {
        self.0.join("read.yaml").display().to_string()
    }
}

impl Drop for ReadPack {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The run's output (within 60s), its failed error ids deduplicated.
fn run(pack: &ReadPack, defect: Option<&str>) -> (std::process::Output, Vec<String>) {
    let file = pack.file();
    let mut args = vec!["run", file.as_str(), "--json", "--no-report"];
    if let Some(defect) = defect {
        args.extend(["--sut-defect", defect]);
    }
    let output = run_within(&args, Duration::from_secs(60)).expect("the run ends within 60s");
    assert!(!stdout(&output).is_empty(), "no case ran: {}", stderr(&output));
    let mut ids = failed_error_ids(&output);
    ids.dedup();
    (output, ids)
}

#[test]
fn a_folder_read_by_dir_or_by_command_passes_against_the_correct_engine() {
    for (name, read) in [("dir", BY_DIR), ("command", BY_COMMAND)] {
        let pack = ReadPack::new(&format!("pass-{name}"), read, "FILES");
        let (output, failed) = run(&pack, None);
        assert!(failed.is_empty(), "{name}: {failed:?}\n{}", stdout(&output));
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let line = stdout(&output);
        // engine-ran, destination-read, delivered, content, unexpected, order, input-ack.
        assert!(line.contains("\"checks\":7"), "{name}: through.destination-read judged: {line}");
    }
}

/// aa-then-drop: the third input is answered AA and never written.
#[test]
fn a_dropped_message_fails_through_delivered() {
    for (name, read) in [("dir", BY_DIR), ("command", BY_COMMAND)] {
        let pack = ReadPack::new(&format!("drop-{name}"), read, "FILES");
        let (output, failed) = run(&pack, Some("aa-then-drop"));
        assert_eq!(
            failed,
            ["through.delivered", "through.input-ack"],
            "{name}: {}",
            stdout(&output)
        );
    }
}

/// The engine's mapping writes another MSH-5 than the case expects.
#[test]
fn a_changed_mapping_fails_through_content() {
    for (name, read) in [("dir", BY_DIR), ("command", BY_COMMAND)] {
        let pack = ReadPack::new(&format!("map-{name}"), read, "ELSEWHERE");
        let (output, failed) = run(&pack, None);
        assert_eq!(failed, ["through.content"], "{name}: {}", stdout(&output));
        assert!(stdout(&output).contains("ELSEWHERE"), "the field diff is the evidence");
    }
}

/// A read command that fails every time is reported with its reason, the case ends within its
/// timeout, and what it could not read is missing.
#[test]
fn a_failing_read_command_is_reported_not_hung() {
    let read = "{ command: [sh, -c, \"echo store down >&2; exit 2\"], every: 50ms, timeout: 1s }";
    let pack = ReadPack::new("broken", read, "FILES");
    let started = std::time::Instant::now();
    let (output, failed) = run(&pack, None);
    assert!(started.elapsed() < Duration::from_secs(30), "bounded by the case timeout");
    assert_eq!(
        failed,
        ["through.destination-read", "through.delivered", "through.input-ack"],
        "{}",
        stdout(&output)
    );
    let line = stdout(&output);
    assert!(line.contains("exited with code 2: store down"), "{line}");
}
