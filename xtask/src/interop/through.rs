//! The through role against a real engine on another stack: `xtask/interop-engine/engine.py`,
//! a small interface engine on python-hl7 (its asyncio MLLP server and client, its parser and
//! `create_ack`), which maps, journals, filters and forwards with retries. The pack
//! `xtask/interop-engine/through-python.yaml` holds the shipped through-engine pack's flows
//! verbatim plus cases of its own (NAK, close, wrong MSA-2, doubled ACK); its `sut.command`
//! starts the script with the interpreter named by [`PYTHON_VARIABLE`], which this task sets
//! to the interop virtual environment's python. Every case must pass: a failing case fails the
//! task (a bug of the engine script, or of the harness), never a skip.

use anyhow::{bail, ensure};
use std::path::Path;
use std::time::{Duration, Instant};

/// The pack, relative to the workspace root.
pub const PACK: &str = "xtask/interop-engine/through-python.yaml";

/// The environment variable the pack's `sut.command` reads (`${HL7_INTEROP_PYTHON}`): the
/// python with python-hl7 installed.
pub const PYTHON_VARIABLE: &str = "HL7_INTEROP_PYTHON";

/// The longest the pack may take; each case stops at its own 15 s timeout.
const LIMIT: Duration = Duration::from_secs(300);

/// Runs the pack against engine.py and fails unless every case passed.
pub fn run(root: &Path, harness: &Path, python: &Path) -> anyhow::Result<()> {
    let mut command = std::process::Command::new(harness);
    command
        .args(["run", PACK, "--seed", "1", "--jobs", "1", "--json", "--no-report"])
        .env(PYTHON_VARIABLE, python)
        .current_dir(root);
    let what = format!("{PACK} → engine.py on python-hl7");
    let started = Instant::now();
    let output = super::output_within(command, LIMIT, &what)?;
    let elapsed = started.elapsed();
    let code = output.status.code();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let cases = cases(&stdout)?;
    for case in &cases {
        let mark = if case.errors.is_empty() { "pass" } else { "FAIL" };
        eprintln!("    {mark} {} ({} checks, {} ms)", case.name, case.checks, case.millis);
        for error in &case.errors {
            let short: String = error.chars().take(400).collect();
            eprintln!("      {short}");
        }
    }
    let passed = cases.iter().filter(|c| c.errors.is_empty()).count();
    let checks: u64 = cases.iter().map(|c| c.checks).sum();
    eprintln!(
        "--- through-python-hl7 → engine.py (python-hl7): {passed} of {} cases pass ({checks} \
         checks) in {:.1}s",
        cases.len(),
        elapsed.as_secs_f64()
    );
    ensure!(!cases.is_empty(), "{what}: no case ran\n{}", String::from_utf8_lossy(&output.stderr));
    if passed != cases.len() || code != Some(0) {
        bail!(
            "{what}: {} of {} cases failed (hl7-harness exited {code:?}); a failure is a bug of \
             engine.py or of the harness, never a skip\n{}",
            cases.len() - passed,
            cases.len(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// One case of `run --json`'s output.
struct Case {
    name: String,
    millis: u64,
    /// Checks run.
    checks: u64,
    /// `check: evidence` of each failure with severity error.
    errors: Vec<String>,
}

/// The cases of `run --json`'s output: one JSON object per line.
fn cases(stdout: &str) -> anyhow::Result<Vec<Case>> {
    let mut out = Vec::new();
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let case: serde_json::Value = serde_json::from_str(line)?;
        let errors = case["failures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["severity"] == "error")
            .map(|f| {
                format!(
                    "{}: {}",
                    f["id"].as_str().unwrap_or_default(),
                    f["evidence"].as_str().unwrap_or_default()
                )
            })
            .collect();
        out.push(Case {
            name: case["case"].as_str().unwrap_or_default().to_string(),
            millis: case["millis"].as_u64().unwrap_or_default(),
            checks: case["checks"].as_u64().unwrap_or_default(),
            errors,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pack runs the shipped pack's flows unchanged: a case added to or changed in the
    /// shipped pack must be added here too (and pass against engine.py), so "the same pack
    /// pointed at a real engine" stays true.
    #[test]
    fn the_pack_holds_the_shipped_flows_verbatim() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let shipped =
            std::fs::read_to_string(root.join("scenarios/through-engine/through.yaml")).unwrap();
        let ours = std::fs::read_to_string(root.join(PACK)).unwrap();
        let flows = &shipped[shipped.find("\nflows:\n").unwrap()..];
        assert!(ours.contains(flows), "{PACK} must hold the shipped flows verbatim");
        let messages =
            |t: &str| t[t.find("\nmessages:\n").unwrap()..t.find(flows).unwrap()].to_string();
        assert_eq!(messages(&ours), messages(&shipped));
        assert!(ours.contains(&format!("${{{PYTHON_VARIABLE}}}")));
    }

    #[test]
    fn reads_cases_and_their_errors() {
        let out = "noise\n{\"case\":\"a\",\"millis\":12,\"checks\":5,\"failures\":[]}\n\
            {\"case\":\"b\",\"failures\":[{\"id\":\"through.order\",\"severity\":\"error\",\
            \"evidence\":\"x\"},{\"id\":\"w\",\"severity\":\"warning\",\"evidence\":\"y\"}]}\n";
        let cases = cases(out).unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!((cases[0].name.as_str(), cases[0].millis, cases[0].checks), ("a", 12, 5));
        assert!(cases[0].errors.is_empty());
        assert_eq!(cases[1].errors, vec!["through.order: x".to_string()]);
    }
}
