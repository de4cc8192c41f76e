//! The parser benchmark (`cargo xtask bench parse`), run in a release build, and the bench
//! report file every suite writes into.
//!
//! Input: every message of `corpus/**/*.hl7` and the shared public corpus, repeated until the
//! set reaches [`TARGET_BYTES`]. Each measurement is the best of [`RUNS`] passes over it:
//!
//! - `scan`: split the bytes into segments at CR with memchr and nothing else. No parser can
//!   read a message faster than it can find its segments, so this is the ceiling.
//! - `parse`: `Message::parse` of each message.
//! - `parse+validate`: the same, then `validate` (structure and required fields).
//!
//! Measured with `Instant` rather than a benchmark framework: the numbers are throughput over
//! tens of megabytes, where timer resolution and warm-up are noise, and `std::hint::black_box`
//! keeps the optimiser from skipping the work.

use anyhow::{bail, Context};
use hl7_harness::hl7::{self, Message};
use serde::Serialize;
use std::hint::black_box;
use std::ops::Range;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tabled::{Table, Tabled};

/// Bytes of input per pass: large enough that a pass takes tens of milliseconds or more.
const TARGET_BYTES: usize = 50 * 1024 * 1024;
/// Passes per measurement; the fastest is reported, as the one least disturbed by the machine.
const RUNS: usize = 5;

/// The messages to measure, back to back in one buffer.
struct Workload {
    bytes: Vec<u8>,
    messages: Vec<Range<usize>>,
    files: usize,
    /// Files `split_batch` rejected and messages `Message::parse` rejected: not measured.
    skipped_files: usize,
    skipped_messages: usize,
    /// Distinct messages, before repeating.
    distinct_messages: usize,
    distinct_bytes: usize,
    repeats: usize,
}

#[derive(Debug, Serialize)]
struct Measurement {
    name: &'static str,
    best_seconds: f64,
    mb_per_second: f64,
    messages_per_second: f64,
    /// Throughput as a fraction of the scan's: 1.0 would be a parser as fast as finding CRs.
    fraction_of_scan: f64,
}

#[derive(Tabled)]
struct Row {
    benchmark: &'static str,
    #[tabled(rename = "MB/s")]
    mb_per_second: String,
    #[tabled(rename = "messages/s")]
    messages_per_second: String,
    #[tabled(rename = "best of 5")]
    best: String,
    #[tabled(rename = "vs scan")]
    fraction_of_scan: String,
}

#[derive(Serialize)]
struct Report<'a> {
    suite: &'static str,
    date: String,
    unix_time: u64,
    commit: Option<String>,
    input: Input,
    runs: usize,
    results: &'a [Measurement],
}

#[derive(Serialize)]
struct Input {
    files: usize,
    skipped_files: usize,
    skipped_messages: usize,
    distinct_messages: usize,
    distinct_bytes: usize,
    repeats: usize,
    messages: usize,
    bytes: usize,
}

pub fn parse(root: &Path) -> anyhow::Result<serde_json::Value> {
    let workload = load(root)?;
    eprintln!(
        "bench parse: {} messages from {} files ({} bytes), repeated {}x = {:.1} MB, best of {RUNS}",
        workload.distinct_messages,
        workload.files,
        workload.distinct_bytes,
        workload.repeats,
        workload.bytes.len() as f64 / 1e6,
    );

    let scan = best_of(|| scan_segments(&workload));
    let parse = best_of(|| parse_messages(&workload));
    let validate = best_of(|| parse_and_validate(&workload));

    let measure = |name, best: Duration| {
        let seconds = best.as_secs_f64();
        Measurement {
            name,
            best_seconds: seconds,
            mb_per_second: workload.bytes.len() as f64 / seconds / 1e6,
            messages_per_second: workload.messages.len() as f64 / seconds,
            fraction_of_scan: scan.as_secs_f64() / seconds,
        }
    };
    let results = [
        measure("scan (CR split, ceiling)", scan),
        measure("parse", parse),
        measure("parse+validate", validate),
    ];

    let rows = results.iter().map(|m| Row {
        benchmark: m.name,
        mb_per_second: format!("{:.1}", m.mb_per_second),
        messages_per_second: format!("{:.0}", m.messages_per_second),
        best: format!("{:.1} ms", m.best_seconds * 1e3),
        fraction_of_scan: format!("{:.1}%", m.fraction_of_scan * 100.0),
    });
    println!("{}", Table::new(rows));

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let report = Report {
        suite: "parse",
        date: crate::date::civil_date(now),
        unix_time: now,
        commit: git_commit(root),
        input: Input {
            files: workload.files,
            skipped_files: workload.skipped_files,
            skipped_messages: workload.skipped_messages,
            distinct_messages: workload.distinct_messages,
            distinct_bytes: workload.distinct_bytes,
            repeats: workload.repeats,
            messages: workload.messages.len(),
            bytes: workload.bytes.len(),
        },
        runs: RUNS,
        results: &results,
    };
    Ok(serde_json::to_value(&report)?)
}

/// Writes `reports/bench/<date>.json` (every suite) or `<date>-<suite>.json` (one suite), for
/// comparison across versions.
pub fn write(root: &Path, suite: Option<&str>, suites: serde_json::Value) -> anyhow::Result<()> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let date = crate::date::civil_date(now);
    let name = match suite {
        Some(suite) => format!("{date}-{suite}.json"),
        None => format!("{date}.json"),
    };
    let report = serde_json::json!({
        "date": date,
        "unix_time": now,
        "commit": git_commit(root),
        "machine_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "suites": suites,
    });
    let dir = root.join("reports").join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(name);
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(&path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn load(root: &Path) -> anyhow::Result<Workload> {
    let mut set = Vec::new();
    let mut ranges = Vec::new();
    let (mut files, mut skipped_files, mut skipped_messages) = (0, 0, 0);
    for path in crate::corpus_files(root)? {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        files += 1;
        let Ok(batch) = hl7::split_batch(&bytes) else {
            skipped_files += 1;
            continue;
        };
        for range in batch.messages {
            let message = &bytes[range];
            // Measure the parser on what it accepts; rejected inputs stop at the header.
            if Message::parse(message).is_err() {
                skipped_messages += 1;
                continue;
            }
            ranges.push(set.len()..set.len() + message.len());
            set.extend_from_slice(message);
        }
    }
    if set.is_empty() {
        bail!("no parseable messages in corpus/ or the shared public corpus");
    }
    let repeats = TARGET_BYTES.div_ceil(set.len());
    let mut bytes = Vec::with_capacity(set.len() * repeats);
    let mut messages = Vec::with_capacity(ranges.len() * repeats);
    for _ in 0..repeats {
        let base = bytes.len();
        messages.extend(ranges.iter().map(|r| base + r.start..base + r.end));
        bytes.extend_from_slice(&set);
    }
    Ok(Workload {
        distinct_messages: ranges.len(),
        distinct_bytes: set.len(),
        bytes,
        messages,
        files,
        skipped_files,
        skipped_messages,
        repeats,
    })
}

fn best_of(mut pass: impl FnMut() -> usize) -> Duration {
    (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            black_box(pass());
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// The ceiling: count segments by finding CRs, message by message like the parser.
fn scan_segments(workload: &Workload) -> usize {
    workload
        .messages
        .iter()
        .map(|r| memchr::memchr_iter(b'\r', black_box(&workload.bytes[r.clone()])).count())
        .sum()
}

fn parse_messages(workload: &Workload) -> usize {
    workload
        .messages
        .iter()
        .filter_map(|r| Message::parse(black_box(&workload.bytes[r.clone()])).ok())
        .map(|message| message.segment_count())
        .sum()
}

fn parse_and_validate(workload: &Workload) -> usize {
    let options = hl7::validate::ValidateOptions::default();
    workload
        .messages
        .iter()
        .filter_map(|r| Message::parse(black_box(&workload.bytes[r.clone()])).ok())
        .map(|message| hl7::validate::validate(&message, &options).len() + message.segment_count())
        .sum()
}

fn git_commit(root: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root)
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
