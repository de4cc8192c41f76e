//! The parser benchmark (`cargo xtask bench parse`), run in a release build, and the bench
//! report file every suite writes into.
//!
//! Input: every message of `corpus/**/*.hl7` and the shared public corpus, repeated until the
//! set reaches [`TARGET_BYTES`]. Every row runs once per round, the rows interleaved, for
//! [`RUNS`] rounds; each row reports its fastest round, the one least disturbed by the machine:
//!
//! - `CR scan`: count the segments by finding CRs with memchr and nothing else. No parser can
//!   read a message faster than it can find its segments, so this is the ceiling.
//! - `segment index`: `Message::parse` (delimiters, segment index, charset check, findings).
//! - `parse + visit`: `Message::parse`, then every field, repetition, component and
//!   subcomponent through the public API a caller reading the whole message uses
//!   (`Message::visit`, one pass per segment), counting each piece at every level and summing
//!   the subcomponents' lengths.
//! - `parse + visit, nested iterators`: the same pieces through the iterators a caller reading
//!   some values uses (`fields`, `repetitions`, `components`, `subcomponents`).
//! - `parse + validate`: `Message::parse`, then `validate` (escapes, required fields, structure).
//! - `naive split`: split at CR, then at each delimiter in turn, with `slice::split` — written
//!   here, independent of the harness, as the floor a real parser must beat.
//! - `hl7-parser 0.3` and `rust-hl7 0.5`: third-party parsers (crates.io) on the same bytes,
//!   parsing and visiting the same four levels. They take `&str`, so the UTF-8 check is part
//!   of their time, and messages either rejects (not UTF-8, or refused) are left out of their
//!   rows; the count is printed.
//!
//! The goals of issue 18 are printed as ratios measured in the same run: parse + visit ≥ 1.0×
//! the naive split and ≥ 10× hl7-parser; parse + validate ≥ 300 MB/s. They are never timing
//! assertions in tests.
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
/// Rounds; each row reports its fastest, as the one least disturbed by the machine.
const RUNS: usize = 5;
/// Issue 18's goals, as ratios of rows measured in the same run.
const GOAL_VISIT_VS_NAIVE: f64 = 1.0;
const GOAL_VISIT_VS_HL7_PARSER: f64 = 10.0;
const GOAL_VALIDATE_MB_PER_SECOND: f64 = 300.0;

/// The messages to measure, back to back in one buffer.
struct Workload {
    bytes: Vec<u8>,
    messages: Vec<Range<usize>>,
    /// The messages both third-party parsers accept (UTF-8, parsed without error or panic).
    peer_messages: Vec<Range<usize>>,
    files: usize,
    /// Files `split_batch` rejected and messages `Message::parse` rejected: not measured.
    skipped_files: usize,
    skipped_messages: usize,
    /// Distinct messages, before repeating.
    distinct_messages: usize,
    distinct_peer_messages: usize,
    distinct_bytes: usize,
    repeats: usize,
}

impl Workload {
    fn bytes_of(&self, messages: &[Range<usize>]) -> usize {
        messages.iter().map(|r| r.len()).sum()
    }
}

#[derive(Debug, Serialize)]
struct Measurement {
    name: &'static str,
    best_seconds: f64,
    bytes: usize,
    messages: usize,
    mb_per_second: f64,
    messages_per_second: f64,
    /// Throughput as a fraction of the CR scan's: 1.0 would be a parser as fast as finding CRs.
    fraction_of_scan: f64,
}

#[derive(Debug, Serialize)]
struct Goal {
    name: &'static str,
    measured: f64,
    goal: f64,
    met: bool,
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
    #[tabled(rename = "vs CR scan")]
    fraction_of_scan: String,
}

#[derive(Tabled)]
struct GoalRow {
    goal: &'static str,
    measured: String,
    target: String,
    met: &'static str,
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
    goals: &'a [Goal],
}

#[derive(Serialize)]
struct Input {
    files: usize,
    skipped_files: usize,
    skipped_messages: usize,
    distinct_messages: usize,
    distinct_peer_messages: usize,
    distinct_bytes: usize,
    repeats: usize,
    messages: usize,
    bytes: usize,
}

/// One row: its name, whether it reads the peers' subset, and one pass over the workload.
type Pass = fn(&Workload) -> usize;
const ROWS: [(&str, bool, Pass); 8] = [
    ("CR scan (ceiling)", false, scan_segments),
    ("segment index (Message::parse)", false, parse_messages),
    ("parse + visit every component", false, parse_and_visit),
    ("parse + validate", false, parse_and_validate),
    ("naive split (CR, then each delimiter)", false, naive_split),
    ("hl7-parser 0.3 parse + visit", true, hl7_parser_visit),
    ("rust-hl7 0.5 parse + visit", true, rust_hl7_visit),
    // Last, so that the goals' row numbers above stay as they were.
    ("parse + visit, nested iterators", false, parse_and_iterate),
];

pub fn parse(root: &Path) -> anyhow::Result<serde_json::Value> {
    let workload = load(root)?;
    eprintln!(
        "bench parse: {} messages from {} files ({} bytes), repeated {}x = {:.1} MB, best of {RUNS}; \
         the third-party parsers read {} of the {} messages",
        workload.distinct_messages,
        workload.files,
        workload.distinct_bytes,
        workload.repeats,
        workload.bytes.len() as f64 / 1e6,
        workload.distinct_peer_messages,
        workload.distinct_messages,
    );

    let best = interleaved_best_of(&workload);
    let scan = best[0];
    let results: Vec<Measurement> = ROWS
        .iter()
        .zip(&best)
        .map(|(&(name, peers, _), &best)| {
            let messages = if peers { &workload.peer_messages } else { &workload.messages };
            let bytes = workload.bytes_of(messages);
            // A row left out by `BENCH_PARSE_ROWS` has no time: NaN, shown as "-".
            let seconds = if best == Duration::MAX { f64::NAN } else { best.as_secs_f64() };
            Measurement {
                name,
                best_seconds: seconds,
                bytes,
                messages: messages.len(),
                mb_per_second: bytes as f64 / seconds / 1e6,
                messages_per_second: messages.len() as f64 / seconds,
                fraction_of_scan: (bytes as f64 / seconds)
                    / (workload.bytes.len() as f64 / scan.as_secs_f64()),
            }
        })
        .collect();

    let shown = |value: f64, text: String| if value.is_nan() { "-".to_string() } else { text };
    let rows = results.iter().map(|m| Row {
        benchmark: m.name,
        mb_per_second: shown(m.mb_per_second, format!("{:.1}", m.mb_per_second)),
        messages_per_second: shown(m.mb_per_second, format!("{:.0}", m.messages_per_second)),
        best: shown(m.best_seconds, format!("{:.1} ms", m.best_seconds * 1e3)),
        fraction_of_scan: shown(m.fraction_of_scan, format!("{:.1}%", m.fraction_of_scan * 100.0)),
    });
    println!("{}", Table::new(rows));

    let rate = |i: usize| results[i].mb_per_second;
    let goals = [
        goal("parse + visit vs naive split", rate(2) / rate(4), GOAL_VISIT_VS_NAIVE),
        goal("parse + visit vs hl7-parser 0.3", rate(2) / rate(5), GOAL_VISIT_VS_HL7_PARSER),
        goal("parse + visit vs rust-hl7 0.5", rate(2) / rate(6), GOAL_VISIT_VS_HL7_PARSER),
        goal("parse + validate vs 300 MB/s", rate(3) / GOAL_VALIDATE_MB_PER_SECOND, 1.0),
    ];
    let goal_rows = goals.iter().map(|g| GoalRow {
        goal: g.name,
        measured: shown(g.measured, format!("{:.2}x", g.measured)),
        target: format!(">= {:.1}x", g.goal),
        met: if g.met { "yes" } else { "no" },
    });
    println!("{}", Table::new(goal_rows));

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
            distinct_peer_messages: workload.distinct_peer_messages,
            distinct_bytes: workload.distinct_bytes,
            repeats: workload.repeats,
            messages: workload.messages.len(),
            bytes: workload.bytes.len(),
        },
        runs: RUNS,
        results: &results,
        goals: &goals,
    };
    Ok(serde_json::to_value(&report)?)
}

fn goal(name: &'static str, measured: f64, goal: f64) -> Goal {
    Goal { name, measured, goal, met: measured >= goal }
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
    let mut peer_ranges = Vec::new();
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
            let range = set.len()..set.len() + message.len();
            if peers_accept(message) {
                peer_ranges.push(range.clone());
            }
            ranges.push(range);
            set.extend_from_slice(message);
        }
    }
    if set.is_empty() {
        bail!("no parseable messages in corpus/ or the shared public corpus");
    }
    let repeats = TARGET_BYTES.div_ceil(set.len());
    let mut bytes = Vec::with_capacity(set.len() * repeats);
    let mut messages = Vec::with_capacity(ranges.len() * repeats);
    let mut peer_messages = Vec::with_capacity(peer_ranges.len() * repeats);
    for _ in 0..repeats {
        let base = bytes.len();
        messages.extend(ranges.iter().map(|r| base + r.start..base + r.end));
        peer_messages.extend(peer_ranges.iter().map(|r| base + r.start..base + r.end));
        bytes.extend_from_slice(&set);
    }
    Ok(Workload {
        distinct_messages: ranges.len(),
        distinct_peer_messages: peer_ranges.len(),
        distinct_bytes: set.len(),
        bytes,
        messages,
        peer_messages,
        files,
        skipped_files,
        skipped_messages,
        repeats,
    })
}

/// True when both third-party parsers read the message: UTF-8, no error and no panic
/// (rust-hl7 0.5 unwraps while reading MSH-2). The panic hook is silenced meanwhile.
fn peers_accept(message: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(message) else { return false };
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let accepted = std::panic::catch_unwind(|| {
        hl7_parser::parse_message_with_lenient_newlines(text).is_ok()
            && rusthl7::message::Message::try_from(text).is_ok()
    });
    std::panic::set_hook(hook);
    accepted.unwrap_or(false)
}

/// Runs every row once per round, interleaved, for [`RUNS`] rounds, so that whatever else the
/// machine does weighs on all rows alike; the fastest round of each row.
/// `BENCH_PARSE_ROWS=visit,validate` runs only the rows whose names contain one of the words
/// (for `perf record`); the others report no time.
fn interleaved_best_of(workload: &Workload) -> Vec<Duration> {
    let only = std::env::var("BENCH_PARSE_ROWS").ok();
    let wanted = |name: &str| {
        only.as_deref().is_none_or(|words| words.split(',').any(|word| name.contains(word)))
    };
    let mut best = vec![Duration::MAX; ROWS.len()];
    for _ in 0..RUNS {
        for (slot, (name, _, pass)) in best.iter_mut().zip(ROWS) {
            if !wanted(name) {
                continue;
            }
            let start = Instant::now();
            black_box(pass(black_box(workload)));
            *slot = (*slot).min(start.elapsed());
        }
    }
    best
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

fn parse_and_visit(workload: &Workload) -> usize {
    workload
        .messages
        .iter()
        .filter_map(|r| Message::parse(black_box(&workload.bytes[r.clone()])).ok())
        .map(|message| {
            let mut visitor = Visit::default();
            message.visit(&mut visitor);
            visitor.total
        })
        .sum()
}

/// Every field, repetition, component and subcomponent, reported by `Message::visit`: one per
/// piece at every level, plus each subcomponent's length, so that no level can be skipped.
#[derive(Default)]
struct Visit {
    total: usize,
}

impl<'a> hl7::Visitor<'a> for Visit {
    fn subcomponent(&mut self, _: hl7::Position, value: hl7::Value<'a>) {
        self.total += 1 + value.as_bytes().len();
    }
    fn component(&mut self, _: hl7::Position, _: hl7::Value<'a>) {
        self.total += 1;
    }
    fn repetition(&mut self, _: hl7::Position, _: hl7::Value<'a>) {
        self.total += 1;
    }
    fn field(&mut self, _: hl7::Position, _: hl7::Value<'a>) {
        self.total += 1;
    }
}

fn parse_and_iterate(workload: &Workload) -> usize {
    workload
        .messages
        .iter()
        .filter_map(|r| Message::parse(black_box(&workload.bytes[r.clone()])).ok())
        .map(|message| iterate(&message))
        .sum()
}

/// Every field, repetition, component and subcomponent through the nested iterators: one per
/// subcomponent plus its length, so that no level can be skipped.
fn iterate(message: &Message<'_>) -> usize {
    let mut total = 0;
    for segment in message.segments() {
        for (_, field) in segment.fields() {
            for repetition in field.repetitions() {
                for component in repetition.components() {
                    for subcomponent in component.subcomponents() {
                        total += 1 + subcomponent.as_bytes().len();
                    }
                }
            }
        }
    }
    total
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

/// The floor: the delimiters read from where `MSH|^~\&` puts them, then split at CR and at
/// each delimiter in turn with `slice::split`; no parser of ours involved.
fn naive_split(workload: &Workload) -> usize {
    workload.messages.iter().map(|r| naive_visit(black_box(&workload.bytes[r.clone()]))).sum()
}

fn naive_visit(message: &[u8]) -> usize {
    let at = |i: usize, default: u8| message.get(i).copied().unwrap_or(default);
    let (field, component, repetition, subcomponent) =
        (at(3, b'|'), at(4, b'^'), at(5, b'~'), at(7, b'&'));
    let mut total = 0;
    for segment in message.split(|&b| b == b'\r') {
        for field in segment.split(|&b| b == field) {
            for repetition in field.split(|&b| b == repetition) {
                for component in repetition.split(|&b| b == component) {
                    for subcomponent in component.split(|&b| b == subcomponent) {
                        total += 1 + subcomponent.len();
                    }
                }
            }
        }
    }
    total
}

fn hl7_parser_visit(workload: &Workload) -> usize {
    let mut total = 0;
    for r in &workload.peer_messages {
        let Ok(text) = std::str::from_utf8(black_box(&workload.bytes[r.clone()])) else {
            continue;
        };
        let Ok(message) = hl7_parser::parse_message_with_lenient_newlines(text) else {
            continue;
        };
        for segment in message.segments() {
            for field in segment.fields() {
                for repeat in field.repeats() {
                    for component in repeat.components() {
                        for subcomponent in component.subcomponents() {
                            total += 1 + subcomponent.value.len();
                        }
                    }
                }
            }
        }
    }
    total
}

fn rust_hl7_visit(workload: &Workload) -> usize {
    let mut total = 0;
    for r in &workload.peer_messages {
        let Ok(text) = std::str::from_utf8(black_box(&workload.bytes[r.clone()])) else {
            continue;
        };
        let Ok(message) = rusthl7::message::Message::try_from(text) else { continue };
        // rust-hl7 splits every field into repeats, components and subcomponents as it parses.
        for segment in &message.segments {
            for field in &segment.fields {
                for repeat in &field.subcomponents {
                    for component in repeat {
                        for subcomponent in component {
                            total += 1 + subcomponent.len();
                        }
                    }
                }
            }
        }
    }
    total
}

fn git_commit(root: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root)
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
