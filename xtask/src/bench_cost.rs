//! `cargo xtask bench cost`: what one message costs the reference endpoint's own code, beside
//! what it costs the `mllp`-crate receiver's, each in its own process, with nothing of the
//! network, the kernel or the scheduler in the figure.
//!
//! `bench net` measures round trips, where a message's handling is a few microseconds of a
//! round trip the machine's wake-ups make ten or more times longer. There the two receivers'
//! rates at one connection differ by a few percent, inside the spread of a shared virtual
//! machine, and the figure cannot say whether the handling is the cause. This suite measures
//! the handling alone, three ways:
//! - **warm**: one message after another, as on a busy connection: code and data in the caches;
//! - **L2 flushed**: 4 times the per-core L2 written between two messages, as when the serving
//!   core ran something else (the client, the kernel, another tenant) while the thread slept;
//! - **all caches flushed**: twice the last-level cache written between two messages: every
//!   line of code and data the message touches comes from memory.
//!
//! Each side answers the same framed ADT^A01 (`bench net`'s message, its MSH-10 unique per
//! message so the endpoint applies each one), from the frame's bytes to the framed answer: for
//! the endpoint the MLLP codec, `Endpoint::handle` (parse, validate, decide, apply, receipt,
//! ACK) with its stores filled first, and the ACK's framing; for the crate receiver its
//! decoder, `Message::parse`, `build_ack` and `mllp::frame` (`interop-mllp --cost`). The
//! ratio is the crate's time over ours: above 1, ours costs less. Best of 3 rounds, the two
//! taking turns. Timing is never asserted.

use crate::bench_net::{frame_with_id_slot, normalise, write_id, ID_WIDTH, MESSAGE};
use anyhow::{bail, Context};
use bytes::BytesMut;
use hl7_harness::target::endpoint::Endpoint;
use hl7_harness::target::responder::ResponderConfig;
use hl7_harness::transport::mllp::{encode_frame, MllpCodec, MllpOptions};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};
use tabled::{Table, Tabled};
use tokio_util::codec::Decoder;

/// Messages answered before any is timed: enough for the endpoint's kept stores (receipts,
/// applied ids, resend keys) to be full, so each message also lets an old entry go, as on a
/// long run.
const WARM: usize = 110_000;
/// Messages timed per state.
const MEASURED: usize = 2_000;
/// Rounds; the best of each side counts.
const ROUNDS: usize = 3;
/// What is written between two messages when the machine does not say its cache sizes.
const FALLBACK_L2: usize = 1 << 20;
const FALLBACK_LLC: usize = 32 << 20;

/// One state of the caches a message is handled in.
#[derive(Debug, Clone, Copy, Serialize)]
struct State {
    name: &'static str,
    /// Bytes written between two messages (0: none).
    evicted_bytes: usize,
}

#[derive(Debug, Serialize)]
struct Row {
    state: State,
    endpoint_nanos: f64,
    crate_nanos: f64,
    /// The crate receiver's time over the endpoint's: above 1, the endpoint costs less.
    ratio: f64,
}

pub fn cost(root: &Path, quick: bool) -> anyhow::Result<serde_json::Value> {
    let (warm, measured) = if quick { (20_000, 500) } else { (WARM, MEASURED) };
    let frames = frames(root, warm + measured)?;
    let file = root.join("target").join("xtask").join("bench-cost-frames.mllp");
    std::fs::write(&file, frames.concat())
        .with_context(|| format!("writing {}", file.display()))?;
    let receiver = crate::interop::mllp_crate_binary(root)?;
    let states = states(
        cache_bytes("/sys/devices/system/cpu/cpu0/cache/index2/size").unwrap_or(FALLBACK_L2),
        cache_bytes("/sys/devices/system/cpu/cpu0/cache/index3/size").unwrap_or(FALLBACK_LLC),
    );
    let evictions: Vec<usize> = states.iter().map(|s| s.evicted_bytes).collect();
    let (mut ours, mut theirs) = (vec![f64::MAX; states.len()], vec![f64::MAX; states.len()]);
    for _ in 0..ROUNDS {
        for (best, nanos) in ours.iter_mut().zip(endpoint_cost(&frames, warm, &evictions)?) {
            *best = best.min(nanos);
        }
        for (best, nanos) in theirs.iter_mut().zip(crate_cost(&receiver, &file, warm, &evictions)?)
        {
            *best = best.min(nanos);
        }
    }
    let _ = std::fs::remove_file(&file);
    let rows: Vec<Row> = states
        .iter()
        .zip(ours.iter().zip(&theirs))
        .map(|(&state, (&endpoint_nanos, &crate_nanos))| Row {
            state,
            endpoint_nanos,
            crate_nanos,
            ratio: crate_nanos / endpoint_nanos,
        })
        .collect();
    print_table(&rows);
    Ok(serde_json::json!({ "warm_messages": warm, "measured_messages": measured, "rows": rows }))
}

/// The three states: warm, L2 flushed (4 × `l2`), everything flushed (2 × `llc`).
fn states(l2: usize, llc: usize) -> [State; 3] {
    [
        State { name: "warm", evicted_bytes: 0 },
        State { name: "L2 flushed", evicted_bytes: 4 * l2 },
        State { name: "all caches flushed", evicted_bytes: 2 * llc },
    ]
}

/// A cache's size as sysfs writes it (`1024K`, `32M`, `512`).
fn cache_bytes(path: &str) -> Option<usize> {
    parse_cache_size(&std::fs::read_to_string(path).ok()?)
}

fn parse_cache_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let (digits, unit) = if let Some(digits) = text.strip_suffix('K') {
        (digits, 1 << 10)
    } else if let Some(digits) = text.strip_suffix('M') {
        (digits, 1 << 20)
    } else {
        (text, 1)
    };
    digits.parse::<usize>().ok()?.checked_mul(unit).filter(|&bytes| bytes > 0)
}

/// `count` framed copies of [`MESSAGE`], each with its own MSH-10.
fn frames(root: &Path, count: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    let path = root.join(MESSAGE);
    let payload = normalise(&std::fs::read(&path).with_context(|| path.display().to_string())?);
    let (template, slot) = frame_with_id_slot(&payload)?;
    Ok((0..count)
        .map(|n| {
            let mut frame = template.clone();
            write_id(&mut frame[slot..slot + ID_WIDTH], n as u64 + 1);
            frame
        })
        .collect())
}

/// The endpoint's nanoseconds per message in each eviction state, in this process: a fresh
/// endpoint warmed with the first `warm` frames, then the rest timed once per state.
fn endpoint_cost(frames: &[Vec<u8>], warm: usize, evictions: &[usize]) -> anyhow::Result<Vec<f64>> {
    let endpoint = Endpoint::new(ResponderConfig::default());
    let mut codec = MllpCodec::new(MllpOptions::default());
    let (mut input, mut output) = (BytesMut::new(), BytesMut::new());
    let mut answer = |frame: &[u8]| -> anyhow::Result<usize> {
        input.extend_from_slice(frame);
        let Some(decoded) = codec.decode(&mut input)? else { bail!("a frame did not decode") };
        let ack = endpoint.handle(&decoded.payload)?.ack.context("the endpoint did not answer")?;
        output.clear();
        encode_frame(&ack, &mut output)?;
        Ok(output.len())
    };
    for frame in &frames[..warm] {
        std::hint::black_box(answer(frame)?);
    }
    evictions
        .iter()
        .map(|&bytes| {
            let mut junk = vec![0u8; bytes];
            let mut spent = Duration::ZERO;
            for (n, frame) in frames[warm..].iter().enumerate() {
                evict(&mut junk, n);
                let started = Instant::now();
                std::hint::black_box(answer(frame)?);
                spent += started.elapsed();
            }
            Ok(spent.as_nanos() as f64 / (frames.len() - warm) as f64)
        })
        .collect()
}

/// Writes a byte of every cache line of `junk`, so the caches hold it instead of what the last
/// message touched.
fn evict(junk: &mut [u8], n: usize) {
    for byte in junk.iter_mut().step_by(64) {
        *byte = byte.wrapping_add(n as u8);
    }
    std::hint::black_box(junk);
}

/// The crate receiver's nanoseconds per message in each eviction state, from
/// `interop-mllp --cost`.
fn crate_cost(
    receiver: &Path,
    file: &Path,
    warm: usize,
    evictions: &[usize],
) -> anyhow::Result<Vec<f64>> {
    let output = std::process::Command::new(receiver)
        .arg("--cost")
        .arg(file)
        .arg(warm.to_string())
        .args(evictions.iter().map(ToString::to_string))
        .output()
        .with_context(|| format!("running {} --cost", receiver.display()))?;
    if !output.status.success() {
        bail!(
            "{} --cost failed ({}): {}",
            receiver.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let output = String::from_utf8_lossy(&output.stdout);
    parse_cost_lines(&output, evictions)
}

/// Reads `cost EVICT_BYTES NANOSECONDS` lines, one per eviction, in order.
fn parse_cost_lines(output: &str, evictions: &[usize]) -> anyhow::Result<Vec<f64>> {
    let lines: Vec<&str> = output.lines().filter(|l| l.starts_with("cost ")).collect();
    if lines.len() != evictions.len() {
        bail!(
            "interop-mllp --cost printed {} cost lines, not {}: {output}",
            lines.len(),
            evictions.len()
        );
    }
    lines
        .iter()
        .zip(evictions)
        .map(|(line, &bytes)| match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["cost", evicted, nanos] if evicted == bytes.to_string() => {
                nanos.parse::<f64>().with_context(|| format!("not a time: {line}"))
            }
            _ => bail!("expected `cost {bytes} NANOSECONDS`, read {line:?}"),
        })
        .collect()
}

fn print_table(rows: &[Row]) {
    #[derive(Tabled)]
    struct Line {
        #[tabled(rename = "one ADT^A01, frame to framed ACK")]
        state: String,
        #[tabled(rename = "reference endpoint")]
        endpoint: String,
        #[tabled(rename = "mllp-crate receiver")]
        peer: String,
        #[tabled(rename = "crate / endpoint")]
        ratio: String,
    }
    let lines = rows.iter().map(|row| Line {
        state: format!(
            "{} ({} MiB written between)",
            row.state.name,
            row.state.evicted_bytes >> 20
        ),
        endpoint: format!("{:.2} µs", row.endpoint_nanos / 1000.0),
        peer: format!("{:.2} µs", row.crate_nanos / 1000.0),
        ratio: format!("{:.2}×", row.ratio),
    });
    println!("{}", Table::new(lines));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sizes_read_as_sysfs_writes_them() {
        assert_eq!(parse_cache_size("1024K\n"), Some(1 << 20));
        assert_eq!(parse_cache_size("32M"), Some(32 << 20));
        assert_eq!(parse_cache_size("512"), Some(512));
        assert_eq!(parse_cache_size("0K"), None, "an empty cache is not a size");
        assert_eq!(parse_cache_size("big"), None);
        assert_eq!(parse_cache_size(""), None);
        assert_eq!(states(1 << 20, 32 << 20).map(|s| s.evicted_bytes), [0, 4 << 20, 64 << 20]);
    }

    #[test]
    fn the_crates_cost_lines_are_read_in_order_and_checked() {
        let read = parse_cost_lines("cost 0 3300\ncost 4096 4100.5\n", &[0, 4096]).unwrap();
        assert_eq!(read, [3300.0, 4100.5]);
        assert!(parse_cost_lines("cost 0 3300\n", &[0, 4096]).is_err(), "a line missing");
        assert!(parse_cost_lines("cost 9 3300\n", &[0]).is_err(), "another eviction's line");
        assert!(parse_cost_lines("cost 0 fast\n", &[0]).is_err(), "not a number");
    }
}
