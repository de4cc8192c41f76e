//! `cargo xtask bench profile`: `validate --profile` on a day's message log.
//!
//! The log is 100,000 messages of the e-health platform's interface (seed 001), the volume of a
//! large hospital's ADT feed in a day: messages generated from
//! `scenarios/ehealth-platform/ehealth-platform.profile.yaml` (`conformance::generate`, seed 1),
//! 95 valid for every 5 that break one constraint, each with its own MSH-10, written to one
//! file. Measured, best of [`RUNS`]:
//!
//! - in process, message by message as `validate` does it: `Message::parse` (the ceiling: no
//!   judge can be faster than reading), parse + the base standard's `validate` (the peer: what
//!   `validate` without a profile does), and parse + base + the profile's `Validator` (what
//!   `validate --profile` does);
//! - end to end, the release binary: `hl7-harness validate LOG` and
//!   `hl7-harness validate LOG --profile P`, output to a sink, wall time.
//!
//! Printed as messages/s and MB/s, with the profile's cost as a ratio to the peer's.

use anyhow::{bail, Context};
use hl7_harness::conformance::{generate, Validator};
use hl7_harness::hl7::edit::MessageBuf;
use hl7_harness::hl7::{self, Message};
use serde::Serialize;
use std::hint::black_box;
use std::ops::Range;
use std::path::Path;
use std::time::{Duration, Instant};
use tabled::{Table, Tabled};

/// Messages in the log: a day of a large hospital's ADT feed.
const DAY_MESSAGES: usize = 100_000;
/// Of every 100 messages, this many break one constraint.
const BROKEN_PER_100: usize = 5;
const RUNS: usize = 3;
const PROFILE: &str = "scenarios/ehealth-platform/ehealth-platform.profile.yaml";

#[derive(Debug, Serialize)]
struct Measurement {
    name: &'static str,
    best_seconds: f64,
    messages_per_second: f64,
    mb_per_second: f64,
    /// Time relative to the peer's (parse + base validation), in process or end to end.
    cost_vs_peer: f64,
}

#[derive(Tabled)]
struct Row {
    benchmark: &'static str,
    #[tabled(rename = "messages/s")]
    messages_per_second: String,
    #[tabled(rename = "MB/s")]
    mb_per_second: String,
    #[tabled(rename = "seconds (best)")]
    seconds: String,
    #[tabled(rename = "time ÷ peer")]
    ratio: String,
}

/// The day's log: its bytes and where each message is.
struct Log {
    bytes: Vec<u8>,
    messages: Vec<Range<usize>>,
}

fn day_log(root: &Path) -> anyhow::Result<(Log, hl7_harness::profile::LoadedProfile)> {
    let loaded = hl7_harness::scenario::load_profile(&root.join(PROFILE))
        .with_context(|| format!("loading {PROFILE}"))?;
    let generated = generate(&loaded.profile, 1, 40);
    let valid: Vec<&String> = generated.iter().flat_map(|g| &g.valid).collect();
    let broken: Vec<&String> =
        generated.iter().flat_map(|g| g.broken.iter().map(|b| &b.text)).collect();
    if valid.is_empty() || broken.is_empty() {
        bail!("{PROFILE}: the generator gave no valid or no broken message");
    }
    let mut bytes = Vec::new();
    let mut messages = Vec::with_capacity(DAY_MESSAGES);
    for i in 0..DAY_MESSAGES {
        let text = if i % 100 < BROKEN_PER_100 {
            broken[i % broken.len()]
        } else {
            valid[i % valid.len()]
        };
        let start = bytes.len();
        bytes.extend_from_slice(&with_control_id(text, i)?);
        if !bytes.ends_with(b"\r") {
            bytes.push(b'\r');
        }
        messages.push(start..bytes.len());
    }
    Ok((Log { bytes, messages }, loaded))
}

/// The message with MSH-10 replaced by `DAY{i}`, so no two messages of the log share one.
fn with_control_id(text: &str, i: usize) -> anyhow::Result<Vec<u8>> {
    let mut buf = MessageBuf::new(text.as_bytes().to_vec())
        .with_context(|| format!("a generated message does not parse: {text:?}"))?;
    let msh10 = hl7::Path::parse("MSH-10").context("the MSH-10 path")?;
    buf.set(&msh10, &format!("DAY{i}")).context("setting MSH-10")?;
    Ok(buf.into_bytes())
}

fn best_of(mut pass: impl FnMut() -> anyhow::Result<usize>) -> anyhow::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        let start = Instant::now();
        black_box(pass()?);
        best = best.min(start.elapsed());
    }
    Ok(best)
}

pub fn profile(root: &Path) -> anyhow::Result<serde_json::Value> {
    let (log, loaded) = day_log(root)?;
    let megabytes = log.bytes.len() as f64 / 1e6;
    eprintln!(
        "bench profile: a day's log of {DAY_MESSAGES} messages ({megabytes:.1} MB) from {PROFILE}"
    );
    let parsed = |r: &Range<usize>| Message::parse(black_box(&log.bytes[r.clone()])).ok();
    let options = hl7::validate::ValidateOptions::default();
    let parse = best_of(|| Ok(log.messages.iter().filter_map(parsed).count()))?;
    let base = best_of(|| {
        Ok(log
            .messages
            .iter()
            .filter_map(parsed)
            .map(|m| hl7::validate::validate(&m, &options).len())
            .sum())
    })?;
    let mut with_profile_errors = 0;
    let judged = best_of(|| {
        let mut validator = Validator::new(&loaded.profile);
        let mut found = 0;
        for message in log.messages.iter().filter_map(parsed) {
            found += hl7::validate::validate(&message, &options).len();
            found += validator.validate(&message).len();
        }
        with_profile_errors = found;
        Ok(found)
    })?;
    if with_profile_errors == 0 {
        bail!("the profile found nothing in a log with broken messages: the judge did not run");
    }

    let file = std::env::temp_dir().join(format!("hl7h-bench-day-{}.hl7", std::process::id()));
    std::fs::write(&file, &log.bytes).with_context(|| format!("writing {}", file.display()))?;
    let binary = release_binary(root)?;
    let run = |with_profile: bool| -> anyhow::Result<usize> {
        let mut command = std::process::Command::new(&binary);
        command.arg("validate").arg(&file);
        if with_profile {
            command.arg("--profile").arg(root.join(PROFILE));
        }
        let status = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .with_context(|| format!("running {}", binary.display()))?;
        // 1: findings (the log has broken messages); anything else is a failure to validate.
        match status.code() {
            Some(0 | 1) => Ok(0),
            other => bail!("validate exited with {other:?}"),
        }
    };
    let command_base = best_of(|| run(false))?;
    let command_profile = best_of(|| run(true))?;
    let _ = std::fs::remove_file(&file);

    let measure = |name, took: Duration, peer: Duration| Measurement {
        name,
        best_seconds: took.as_secs_f64(),
        messages_per_second: DAY_MESSAGES as f64 / took.as_secs_f64(),
        mb_per_second: megabytes / took.as_secs_f64(),
        cost_vs_peer: took.as_secs_f64() / peer.as_secs_f64(),
    };
    let results = vec![
        measure("parse (ceiling)", parse, base),
        measure("parse + validate (peer)", base, base),
        measure("parse + validate + profile", judged, base),
        measure("`validate LOG` (peer, end to end)", command_base, command_base),
        measure("`validate LOG --profile` (end to end)", command_profile, command_base),
    ];
    let rows = results.iter().map(|m| Row {
        benchmark: m.name,
        messages_per_second: format!("{:.0}", m.messages_per_second),
        mb_per_second: format!("{:.1}", m.mb_per_second),
        seconds: format!("{:.3}", m.best_seconds),
        ratio: format!("{:.2}×", m.cost_vs_peer),
    });
    println!("{}", Table::new(rows));
    Ok(serde_json::json!({
        "suite": "profile",
        "profile": PROFILE,
        "messages": DAY_MESSAGES,
        "bytes": log.bytes.len(),
        "broken_per_100": BROKEN_PER_100,
        "results": results,
    }))
}

/// `target/release/hl7-harness`, built now (cargo builds nothing when it is fresh).
pub(crate) fn release_binary(root: &Path) -> anyhow::Result<std::path::PathBuf> {
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args(["build", "--release", "--quiet", "--package", "hl7-harness", "--bin", "hl7-harness"])
        .current_dir(root)
        .status()
        .context("building the release binary")?;
    if !status.success() {
        bail!("cargo build --release -p hl7-harness failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target.join("release").join("hl7-harness"))
}
