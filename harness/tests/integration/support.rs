//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (the folder holding `corpus/`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness sits in the workspace")
        .to_path_buf()
}

/// The built-in endpoint's own target profile (`scenarios/builtin.profile.yaml`).
pub fn builtin_profile() -> PathBuf {
    workspace().join("scenarios").join("builtin.profile.yaml")
}

/// `../shared/<sub>` beside the workspace, when this machine has it (CI does).
pub fn shared(sub: &str) -> Option<PathBuf> {
    let path = workspace().join("..").join("shared").join(sub);
    path.is_dir().then_some(path)
}

/// Runs `hl7-harness` with `args` from the workspace root.
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hl7-harness"))
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("the hl7-harness binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every file under `dir` with the extension `ext`, sorted, recursively.
pub fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A path relative to the workspace, with `/` separators, for stable snapshot names.
pub fn relative(path: &Path) -> String {
    path.strip_prefix(workspace()).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

/// A temporary file with `bytes`, removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(name: &str, bytes: &[u8]) -> TempFile {
        let dir = std::env::temp_dir().join(format!("hl7-harness-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("temp file");
        TempFile(path)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The ids of the checks of `severity` that failed anywhere in a run.
pub fn failed_ids(
    outcome: &hl7_harness::runner::RunOutcome,
    severity: hl7_harness::checks::Severity,
) -> std::collections::BTreeSet<&'static str> {
    outcome
        .cases()
        .flat_map(|c| c.results.iter())
        .filter(|r| !r.passed && r.severity == severity)
        .map(|r| r.id.as_str())
        .collect()
}

/// Whether this machine lets the harness create its packet-level lab (a network namespace:
/// root, iproute2, nftables). Where it does not, the caller skips and says so on stderr, unless
/// HL7H_REQUIRE_NETLAB=1 (set by `.ci/run` once it has checked the privilege), which makes it
/// a failure: a CI that could run these tests must not skip them quietly.
pub fn lab_available() -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    match runtime.block_on(hl7_harness::netlab::Lab::create()) {
        Ok(_) => true,
        Err(err) if std::env::var("HL7H_REQUIRE_NETLAB").as_deref() == Ok("1") => {
            panic!("HL7H_REQUIRE_NETLAB=1 but {err}")
        }
        Err(err) => {
            eprintln!("SKIPPED (packet-level tier): {err}");
            false
        }
    }
}

/// The failed error-severity check ids of the cases that ran, from `run --json` output.
pub fn failed_error_ids(output: &Output) -> Vec<String> {
    let mut ids = Vec::new();
    for line in stdout(output).lines() {
        let case: serde_json::Value = serde_json::from_str(line).expect("one JSON object a line");
        for failure in case["failures"].as_array().into_iter().flatten() {
            if failure["severity"] == "error" {
                ids.push(failure["id"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    ids
}

/// Runs `hl7-harness` with `args` from the workspace root, killed after `limit`: `None` when it
/// had not ended by then (the test then fails on that, not on how long it took).
pub fn run_within(args: &[&str], limit: std::time::Duration) -> Option<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hl7-harness"))
        .args(args)
        .current_dir(workspace())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the hl7-harness binary runs");
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        if child.try_wait().expect("the child can be waited for").is_some() {
            return Some(child.wait_with_output().expect("its output can be read"));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Runs `hl7-harness` with `args` and samples its peak resident memory (VmHWM, a high-water
/// mark kept by the kernel) from /proc until it exits; returns the output and the peak in KiB.
/// Killed after `limit` (the output is then `None`).
pub fn run_measured(args: &[&str], limit: std::time::Duration) -> (Option<Output>, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hl7-harness"))
        .args(args)
        .current_dir(workspace())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the hl7-harness binary runs");
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let end = std::time::Instant::now() + limit;
    // Pipes drained on threads so a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let mut ended = false;
    while !ended && std::time::Instant::now() < end {
        if let Ok(text) = std::fs::read_to_string(&status) {
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
            peak = peak.max(hwm.unwrap_or(0));
        }
        ended = !matches!(child.try_wait(), Ok(None));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    if !ended {
        let _ = child.kill();
    }
    let waited = child.wait();
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let finished = waited.ok().filter(|_| ended);
    (finished.map(|status| Output { status, stdout, stderr }), peak)
}
