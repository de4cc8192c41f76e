//! `cargo xtask bench run`: `hl7-harness run scenarios/` against the built-in endpoint, its
//! wall time beside the waits its cases require (issue 18: within 1.5×).
//!
//! A required wait is time no harness could save: an ACK timeout that had to expire (an
//! exchange that ended in `read-timeout` waited its whole `ack_timeout_ms`). The run's required
//! time is their sum divided over `--jobs`; the ratio is wall time over that. Delays a fault
//! holds a frame for are required too, but results.json names faults without their length, so
//! they are not counted here: the ratio is an upper bound. The cases whose duration most exceeds
//! their own required waits are listed, where unneeded waits (fixed quiet periods, lingers)
//! are to be looked for.

use anyhow::Context;
use serde::Serialize;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;
use tabled::{Table, Tabled};

/// Cases at once, as `run`'s default.
const JOBS: usize = 8;
/// The goal of issue 18.
const GOAL: f64 = 1.5;
/// Cases listed with the most time beyond their required waits.
const LISTED: usize = 8;

#[derive(Debug, Serialize)]
struct CaseTime {
    file: String,
    name: String,
    duration_ms: u64,
    required_ms: u64,
    timeouts: usize,
}

#[derive(Debug, Serialize)]
struct RunTimes {
    jobs: usize,
    exit_code: i32,
    cases: usize,
    wall_seconds: f64,
    /// Sum of every case's duration.
    case_seconds: f64,
    /// Sum of the ACK timeouts that expired.
    required_seconds: f64,
    /// `required_seconds / jobs`.
    required_over_jobs_seconds: f64,
    ratio: f64,
    goal: f64,
    /// The cases with the most time beyond their required waits.
    most_beyond_required: Vec<CaseTime>,
}

/// Reads every case of a results.json: its duration and the ACK timeouts that expired in it.
fn case_times(results: &serde_json::Value) -> Vec<CaseTime> {
    let empty = Vec::new();
    let list = |v: &serde_json::Value, key: &str| {
        v.get(key).and_then(|l| l.as_array()).unwrap_or(&empty).clone()
    };
    let mut cases = Vec::new();
    for pack in list(results, "packs") {
        for case in list(&pack, "cases") {
            let text = |key: &str| case.get(key).and_then(|v| v.as_str()).unwrap_or("").to_string();
            let timed_out: Vec<u64> = list(&case, "exchanges")
                .iter()
                .filter(|e| {
                    e.pointer("/event/code").and_then(|c| c.as_str()) == Some("read-timeout")
                })
                .filter_map(|e| e.get("ack_timeout_ms").and_then(|t| t.as_u64()))
                .collect();
            cases.push(CaseTime {
                file: text("file"),
                name: text("name"),
                duration_ms: case.get("duration_ms").and_then(|d| d.as_u64()).unwrap_or(0),
                required_ms: timed_out.iter().sum(),
                timeouts: timed_out.len(),
            });
        }
    }
    cases
}

#[derive(Tabled)]
struct Row {
    #[tabled(rename = "case (most time beyond its required waits)")]
    case: String,
    took: String,
    required: String,
}

pub fn run(root: &Path) -> anyhow::Result<serde_json::Value> {
    let binary = crate::bench_profile::release_binary(root)?;
    let report =
        root.join("target").join("xtask").join(format!("bench-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&report);
    eprintln!("bench run: hl7-harness run scenarios/ --jobs {JOBS}");
    let started = Instant::now();
    let status = Command::new(&binary)
        .arg("run")
        .arg(root.join("scenarios"))
        .args(["--seed", "1", "--jobs", &JOBS.to_string()])
        .arg("--report-dir")
        .arg(&report)
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running hl7-harness run scenarios/")?;
    let wall_seconds = started.elapsed().as_secs_f64();
    let results: serde_json::Value = serde_json::from_slice(
        &std::fs::read(report.join("results.json")).context("reading the run's results.json")?,
    )?;
    let _ = std::fs::remove_dir_all(&report);
    let mut cases = case_times(&results);
    let seconds = |ms: u64| ms as f64 / 1000.0;
    let required_seconds = seconds(cases.iter().map(|c| c.required_ms).sum());
    let case_seconds = seconds(cases.iter().map(|c| c.duration_ms).sum());
    let required_over_jobs_seconds = required_seconds / JOBS as f64;
    let ratio = if required_over_jobs_seconds > 0.0 {
        wall_seconds / required_over_jobs_seconds
    } else {
        f64::INFINITY
    };
    let count = cases.len();
    cases.sort_by_key(|c| std::cmp::Reverse(c.duration_ms.saturating_sub(c.required_ms)));
    cases.truncate(LISTED);
    println!(
        "run scenarios/ --jobs {JOBS}: {count} cases, wall {wall_seconds:.1} s; required waits \
         {required_seconds:.1} s (ACK timeouts that expired) / {JOBS} jobs = \
         {required_over_jobs_seconds:.1} s; ratio {ratio:.2}× (goal ≤ {GOAL}×); the cases' \
         durations add up to {case_seconds:.1} s"
    );
    let rows = cases.iter().map(|c| Row {
        case: format!("{}: {}", c.file, c.name),
        took: format!("{:.2} s", seconds(c.duration_ms)),
        required: format!("{:.2} s ({} timeouts)", seconds(c.required_ms), c.timeouts),
    });
    println!("{}", Table::new(rows));
    let times = RunTimes {
        jobs: JOBS,
        exit_code: status.code().unwrap_or(-1),
        cases: count,
        wall_seconds,
        case_seconds,
        required_seconds,
        required_over_jobs_seconds,
        ratio,
        goal: GOAL,
        most_beyond_required: cases,
    };
    Ok(serde_json::json!({ "suite": "run", "results": times }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_expired_ack_timeouts_are_required() {
        let results = serde_json::json!({ "packs": [{ "cases": [{
            "file": "a.yaml", "name": "x", "duration_ms": 2500,
            "exchanges": [
                { "ack_timeout_ms": 2000, "event": { "code": "read-timeout", "detail": "" } },
                { "ack_timeout_ms": 2000, "event": null },
                { "ack_timeout_ms": 2000, "event": { "code": "peer-closed", "detail": "" } }
            ]
        }]}]});
        let cases = case_times(&results);
        assert_eq!(
            (cases[0].required_ms, cases[0].timeouts, cases[0].duration_ms),
            (2000, 1, 2500)
        );
    }
}
