//! `cargo xtask bench run`: `hl7-harness run scenarios/` against the built-in endpoint, its
//! wall time beside the waits its cases require (issue 18: within 1.5×).
//!
//! A required wait is time no harness could save. results.json names them: an ACK timeout
//! that had to expire (an exchange that ended in `read-timeout` waited its whole
//! `ack_timeout_ms`), and every entry of a case's and an exchange's `waits` (a step's pause, a
//! fault's delays, an idle connection, an unterminated frame's silence, a blackhole's outage,
//! an answer held back, a quiet period, a peer's own timeout the case made expire). The run's
//! required time is their sum divided over `--jobs`; the ratio is wall time over that. No
//! schedule can end before its longest case's own required waits either, so the ratio to the
//! larger of the two (the bound) is printed beside it. The cases whose duration most exceeds
//! their own required waits are listed, where unneeded waits (fixed quiet periods, lingers,
//! polling sleeps) are to be looked for.

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
    /// Required waits other than expired ACK timeouts, by kind (`quiet`, `fault-delay`…).
    waits: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
struct RunTimes {
    jobs: usize,
    exit_code: i32,
    cases: usize,
    wall_seconds: f64,
    /// Sum of every case's duration.
    case_seconds: f64,
    /// Sum of the required waits: ACK timeouts that expired, and the cases' `waits`.
    required_seconds: f64,
    /// The part of `required_seconds` that is expired ACK timeouts.
    timeouts_seconds: f64,
    /// The rest, by kind.
    waits_seconds: std::collections::BTreeMap<String, f64>,
    /// `required_seconds / jobs`.
    required_over_jobs_seconds: f64,
    /// The longest one case's required waits: no schedule ends before them.
    longest_case_required_seconds: f64,
    /// `wall_seconds / required_over_jobs_seconds` (the goal's ratio).
    ratio: f64,
    /// `wall_seconds` over the larger of `required_over_jobs_seconds` and
    /// `longest_case_required_seconds`.
    ratio_to_bound: f64,
    goal: f64,
    /// The cases with the most time beyond their required waits.
    most_beyond_required: Vec<CaseTime>,
}

/// Reads every case of a results.json: its duration, the ACK timeouts that expired in it, and
/// its required waits (the case's `waits` and its exchanges').
fn case_times(results: &serde_json::Value) -> Vec<CaseTime> {
    let empty = Vec::new();
    let list = |v: &serde_json::Value, key: &str| {
        v.get(key).and_then(|l| l.as_array()).unwrap_or(&empty).clone()
    };
    let mut cases = Vec::new();
    for pack in list(results, "packs") {
        for case in list(&pack, "cases") {
            let text = |key: &str| case.get(key).and_then(|v| v.as_str()).unwrap_or("").to_string();
            let exchanges = list(&case, "exchanges");
            let timed_out: Vec<u64> = exchanges
                .iter()
                .filter(|e| {
                    e.pointer("/event/code").and_then(|c| c.as_str()) == Some("read-timeout")
                })
                .filter_map(|e| e.get("ack_timeout_ms").and_then(|t| t.as_u64()))
                .collect();
            let mut waits = std::collections::BTreeMap::new();
            let held = list(&case, "waits")
                .into_iter()
                .chain(exchanges.iter().flat_map(|e| list(e, "waits")));
            for wait in held {
                let kind = wait.get("kind").and_then(|k| k.as_str()).unwrap_or("?").to_string();
                *waits.entry(kind).or_default() +=
                    wait.get("ms").and_then(|m| m.as_u64()).unwrap_or(0);
            }
            cases.push(CaseTime {
                file: text("file"),
                name: text("name"),
                duration_ms: case.get("duration_ms").and_then(|d| d.as_u64()).unwrap_or(0),
                required_ms: timed_out.iter().sum::<u64>() + waits.values().sum::<u64>(),
                timeouts: timed_out.len(),
                waits,
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
    let mut waits_seconds = std::collections::BTreeMap::<String, f64>::new();
    for (kind, ms) in cases.iter().flat_map(|c| c.waits.iter()) {
        *waits_seconds.entry(kind.clone()).or_default() += seconds(*ms);
    }
    let timeouts_seconds = required_seconds - waits_seconds.values().sum::<f64>();
    let required_over_jobs_seconds = required_seconds / JOBS as f64;
    let longest_case_required_seconds =
        seconds(cases.iter().map(|c| c.required_ms).max().unwrap_or(0));
    let over = |required: f64| if required > 0.0 { wall_seconds / required } else { f64::INFINITY };
    let ratio = over(required_over_jobs_seconds);
    let ratio_to_bound = over(required_over_jobs_seconds.max(longest_case_required_seconds));
    let count = cases.len();
    cases.sort_by_key(|c| std::cmp::Reverse(c.duration_ms.saturating_sub(c.required_ms)));
    cases.truncate(LISTED);
    let by_kind: Vec<String> =
        waits_seconds.iter().map(|(kind, s)| format!("{kind} {s:.1} s")).collect();
    println!(
        "run scenarios/ --jobs {JOBS}: {count} cases, wall {wall_seconds:.1} s; required waits \
         {required_seconds:.1} s (expired ACK timeouts {timeouts_seconds:.1} s; {}) / {JOBS} jobs \
         = {required_over_jobs_seconds:.1} s; ratio {ratio:.2}× (goal ≤ {GOAL}×); the longest \
         case alone requires {longest_case_required_seconds:.1} s, ratio to the larger bound \
         {ratio_to_bound:.2}×; the cases' durations add up to {case_seconds:.1} s",
        by_kind.join(", ")
    );
    let rows = cases.iter().map(|c| Row {
        case: format!("{}: {}", c.file, c.name),
        took: format!("{:.2} s", seconds(c.duration_ms)),
        required: format!(
            "{:.2} s ({} timeouts{})",
            seconds(c.required_ms),
            c.timeouts,
            c.waits
                .iter()
                .map(|(k, ms)| format!(", {k} {:.2} s", seconds(*ms)))
                .collect::<String>()
        ),
    });
    println!("{}", Table::new(rows));
    let times = RunTimes {
        jobs: JOBS,
        exit_code: status.code().unwrap_or(-1),
        cases: count,
        wall_seconds,
        case_seconds,
        required_seconds,
        timeouts_seconds,
        waits_seconds,
        required_over_jobs_seconds,
        longest_case_required_seconds,
        ratio,
        ratio_to_bound,
        goal: GOAL,
        most_beyond_required: cases,
    };
    Ok(serde_json::json!({ "suite": "run", "results": times }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_ack_timeouts_and_held_waits_are_required() {
        let results = serde_json::json!({ "packs": [{ "cases": [{
            "file": "a.yaml", "name": "x", "duration_ms": 2500,
            "exchanges": [
                { "ack_timeout_ms": 2000, "event": { "code": "read-timeout", "detail": "" } },
                { "ack_timeout_ms": 2000, "event": null,
                  "waits": [{ "kind": "fault-delay", "step": 2, "ms": 300 }] },
                { "ack_timeout_ms": 2000, "event": { "code": "peer-closed", "detail": "" } }
            ],
            "waits": [{ "kind": "quiet", "ms": 200 }, { "kind": "pause", "step": 1, "ms": 50 }]
        }]}]});
        let cases = case_times(&results);
        assert_eq!(
            (cases[0].required_ms, cases[0].timeouts, cases[0].duration_ms),
            (2550, 1, 2500)
        );
        let kinds: Vec<(&str, u64)> =
            cases[0].waits.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(kinds, [("fault-delay", 300), ("pause", 50), ("quiet", 200)]);
    }

    /// A results.json written before `waits` existed reads as before: only ACK timeouts.
    #[test]
    fn a_report_without_waits_counts_only_expired_ack_timeouts() {
        let results = serde_json::json!({ "packs": [{ "cases": [{
            "file": "a.yaml", "name": "x", "duration_ms": 2500,
            "exchanges": [
                { "ack_timeout_ms": 2000, "event": { "code": "read-timeout", "detail": "" } },
                { "ack_timeout_ms": 2000, "event": null }
            ]
        }]}]});
        let cases = case_times(&results);
        assert_eq!((cases[0].required_ms, cases[0].waits.len()), (2000, 0));
    }
}
