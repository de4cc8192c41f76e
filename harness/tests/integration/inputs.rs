//! Hostile input files (issue 14): a scenario pack reads only its own folder and the corpus
//! beside it unless told otherwise, and its errors never show a file's bytes; scenario YAML is
//! bounded in size, nesting and alias expansion; `inspect --json` and `diff` stay small on
//! large inputs and `diff` refuses files past its limit; `diff` compares undecodable bytes.
//! Peak memory is read from the child process (VmHWM) and printed, bounded only loosely.

use super::support::{run, run_measured, run_within, stderr, stdout};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A fresh folder for one test, removed on drop.
struct Folder(PathBuf);

impl Folder {
    fn new(name: &str) -> Folder {
        let dir = std::env::temp_dir().join(format!("hl7h-inputs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Folder(dir)
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

const A04: &str = "MSH|^~\\&|EHR|HOSP|HARNESS|FAC|20240101||ADT^A04^ADT_A01|M1|P|2.6\rEVN|A04|20240101\rPID|1||C1^^^EHR^PI||Doe^Jo\rPV1|1|O\r";

fn scenario(file: &str) -> String {
    format!("messages:\n  m: {{ file: {file} }}\ncases:\n  - name: x\n    send: m\n")
}

#[test]
fn scenario_files_outside_the_pack_need_the_opt_in() {
    let folder = Folder::new("outside");
    let secret = folder.write("private/records.hl7", A04);
    let pack = folder.0.join("packs/p");
    let relative = folder.write("packs/p/relative.yaml", scenario("../../private/records.hl7"));
    let absolute = folder.write("packs/p/absolute.yaml", scenario(text(&secret)));
    std::fs::create_dir_all(&pack).unwrap();
    std::os::unix::fs::symlink(&secret, pack.join("link.hl7")).unwrap();
    let linked = folder.write("packs/p/linked.yaml", scenario("link.hl7"));
    for file in [&relative, &absolute, &linked] {
        let output = run(&["run", "--check", text(file)]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{}: {err}", file.display());
        assert!(err.contains("outside the pack"), "{err}");
        assert!(err.contains("--allow-files-outside-pack"), "{err}");
        assert!(err.contains(text(file)), "the error names the scenario file: {err}");
        let output = run(&["run", "--check", "--allow-files-outside-pack", text(file)]);
        assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    }
    // The shipped layout, scenarios/<pack>/ beside corpus/, needs no flag.
    let output = run(&["run", "--check", "scenarios"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn scenario_file_errors_never_show_the_files_bytes() {
    let folder = Folder::new("bytes");
    folder.write("p/secret.txt", "root:TOPSECRET-HASH:19000:0:99999:7:::\n");
    let file = folder.write("p/s.yaml", scenario("secret.txt"));
    let glob = folder.write(
        "p/g.yaml",
        "messages:\n  m: { glob: \"*.txt\" }\ncases:\n  - name: x\n    send: m\n",
    );
    for file in [&file, &glob] {
        let output = run(&["run", "--check", text(file)]);
        let all = format!("{}{}", stdout(&output), stderr(&output));
        assert_eq!(output.status.code(), Some(2), "{all}");
        assert!(all.contains("secret.txt") && all.contains("byte 0"), "path and offset: {all}");
        assert!(!all.contains("TOPSECRET") && !all.contains("root:"), "bytes shown: {all}");
    }
}

/// A scenario whose probe JSON holds an alias bomb: 3.3 KB of YAML that expands to about two
/// million values (kept below serde_yaml's own alias-repetition limit).
fn alias_bomb() -> String {
    let a = vec!["x"; 1000].join(", ");
    let b = vec!["*a"; 50].join(", ");
    let c = vec!["*b"; 40].join(", ");
    format!(
        "messages:\n  m: {{ text: \"MSH|^~\\\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\" }}\ncases:\n  - \
         name: x\n    send: m\n    probe: {{ http_get: \"http://127.0.0.1:9/x\", json: {{ a: &a \
         [{a}], b: &b [{b}], c: [{c}] }} }}\n"
    )
}

#[test]
fn yaml_alias_bomb_is_refused_naming_the_file() {
    let folder = Folder::new("bomb");
    let file = folder.write("bomb.yaml", alias_bomb());
    let (output, peak_kib) =
        run_measured(&["run", "--check", text(&file)], Duration::from_secs(60));
    let output = output.expect("run --check ended");
    eprintln!("alias bomb ({} bytes): peak RSS {peak_kib} KiB", alias_bomb().len());
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains(text(&file)) && err.contains("aliases"), "{err}");
    assert!(peak_kib < 256 * 1024, "peak RSS {peak_kib} KiB");
}

#[test]
fn yaml_nesting_and_size_are_refused_naming_the_file() {
    let folder = Folder::new("nesting");
    let flow = folder
        .write("flow.yaml", format!("name: {}x{}\n", "[".repeat(100_000), "]".repeat(100_000)));
    let block = folder.write("block.yaml", format!("cases:\n  {}x\n", "- ".repeat(100_000)));
    for file in [&flow, &block] {
        let output = run_within(&["run", "--check", text(file)], Duration::from_secs(60))
            .expect("run --check ended");
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{err}");
        assert!(err.contains(text(file)) && err.contains("nested more than 64 levels"), "{err}");
    }
    // Past 8 MiB the file is refused before it is read.
    let large = folder.write("large.yaml", "#".repeat(8 * 1024 * 1024 + 1));
    let output = run(&["run", "--check", text(&large)]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains(text(&large)) && err.contains("8388608-byte limit"), "{err}");
}

#[test]
fn inspect_json_of_many_empty_repetitions_stays_small() {
    let folder = Folder::new("inspect");
    // 300,000 empty repetitions in one field.
    let message =
        format!("MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\rPID|1||{}\r", "~".repeat(300_000));
    let file = folder.write("reps.hl7", message);
    let (output, peak_kib) =
        run_measured(&["inspect", "--json", text(&file)], Duration::from_secs(120));
    let output = output.expect("inspect ended");
    eprintln!("inspect --json of 300,000 empty repetitions: peak RSS {peak_kib} KiB");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    let pid = &json["messages"][0]["segments"][1]["fields"];
    let repetitions = pid.as_array().unwrap().iter().find(|f| f["position"] == 3).unwrap();
    assert_eq!(repetitions["repetitions"].as_array().unwrap().len(), 300_001);
    assert!(peak_kib < 256 * 1024, "peak RSS {peak_kib} KiB");
}

#[test]
fn diff_of_many_segments_stays_small_and_refuses_past_its_limit() {
    let folder = Folder::new("diff");
    let header = "MSH|^~\\&|A|B|C|D|20240101||ORU^R01|1|P|2.5\r";
    let body = |last: &str| {
        let mut text = String::from(header);
        for n in 0..100_000 {
            text.push_str(&format!("OBX|{n}|ST|C^Code||v{n}^x\r"));
        }
        text.push_str(&format!("NTE|1||{last}\r"));
        text
    };
    let a = folder.write("a.hl7", body("old"));
    let b = folder.write("b.hl7", body("new"));
    let (output, peak_kib) = run_measured(&["diff", text(&a), text(&b)], Duration::from_secs(120));
    let output = output.expect("diff ended");
    eprintln!("diff of 100,001 segments: peak RSS {peak_kib} KiB");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stdout(&output), "NTE-3: \"old\" → \"new\"\n");
    assert!(peak_kib < 256 * 1024, "peak RSS {peak_kib} KiB");
    // Past 64 MiB a file is refused, named, with the limit (a sparse file: nothing is read).
    let large = folder.0.join("large.hl7");
    std::fs::File::create(&large).unwrap().set_len(64 * 1024 * 1024 + 1).unwrap();
    let output = run(&["diff", text(&a), text(&large)]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains(text(&large)) && err.contains("67108864-byte limit"), "{err}");
}

/// 0xFF and 0xFE are both invalid UTF-8: decoded, both are U+FFFD, but the messages differ.
#[test]
fn diff_compares_bytes_that_do_not_decode() {
    let folder = Folder::new("bytes-diff");
    let message = |b: u8| {
        let mut m =
            b"MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5||||||UNICODE UTF-8\rPID|1||1||Doe"
                .to_vec();
        m.push(b);
        m.push(b'\r');
        m
    };
    let a = folder.write("a.hl7", message(0xFF));
    let b = folder.write("b.hl7", message(0xFE));
    let output = run(&["diff", text(&a), text(&b)]);
    assert_eq!(output.status.code(), Some(1), "{}{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains(r"PID-5: b"), "{}", stdout(&output));
    assert!(
        stdout(&output).contains(r"\xff") && stdout(&output).contains(r"\xfe"),
        "{}",
        stdout(&output)
    );
    let same = folder.write("c.hl7", message(0xFF));
    let output = run(&["diff", text(&a), text(&same)]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}
