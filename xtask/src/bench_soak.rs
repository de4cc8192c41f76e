//! `cargo xtask bench soak`: the memory of `hl7-harness serve` (issue 18), as a child process
//! whose resident set (`VmRSS` of /proc/PID/status) is read from outside:
//!
//! - per idle connection: [`IDLE_CONNECTIONS`] connections opened and left silent; the growth
//!   of the resident set divided by their number. The file-descriptor limit is raised first
//!   (soft up to hard) so both ends fit, and said when it cannot be;
//! - a soak: the load engine sends at a constant rate for 10 minutes (20 s with `--quick`),
//!   the resident set sampled every few seconds; first, last, largest and the slope of a
//!   least-squares line through the samples (KiB per minute) are printed, and the slope once
//!   the stores the endpoint keeps per message are full (after 100,000 messages and a margin).
//!   A flat line from then on is the goal: whatever the endpoint keeps per message is bounded.
//!
//! Also the process-accounting helper other suites use for a child's CPU time.

use anyhow::{bail, Context};
use hl7_harness::load::{self, Client, LoadTarget, MessageSource, Mode, Plan, SourceOptions};
use hl7_harness::transport::connection::Timeouts;
use hl7_harness::transport::hllp::HllpOptions;
use serde::Serialize;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tabled::{Table, Tabled};

/// Idle connections opened to measure the memory of one.
const IDLE_CONNECTIONS: usize = 1000;
/// The message the soak sends.
const MESSAGE: &str = "corpus/adt/adt_a01_v23.hl7";
/// The soak's rate and connections: a steady load well under serve's maximum.
const SOAK_RATE: f64 = 1000.0;
const SOAK_CONNECTIONS: usize = 4;

/// User and system CPU seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub user: f64,
    pub sys: f64,
}

fn children_usage() -> anyhow::Result<Usage> {
    // SAFETY: getrusage writes one `rusage` into the zeroed value it is given, nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let done = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    if done != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Usage { user: seconds(usage.ru_utime), sys: seconds(usage.ru_stime) })
}

/// Waits for `child` (reading its stdout meanwhile) and returns its exit code, its CPU time
/// (every thread, from the kernel's account of waited-for children: the difference across
/// this wait, so no other child may be waited for meanwhile) and what it printed.
pub fn wait_with_usage(mut child: Child) -> anyhow::Result<(i32, Usage, Vec<u8>)> {
    let before = children_usage()?;
    let mut stdout = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut stdout)?;
    }
    let status = child.wait()?;
    let after = children_usage()?;
    let usage = Usage { user: after.user - before.user, sys: after.sys - before.sys };
    Ok((status.code().unwrap_or(-1), usage, stdout))
}

/// `VmRSS` of process `pid` in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS in /proc/PID/status")
}

/// Open file descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// Raises this process's soft RLIMIT_NOFILE to at least `needed` (up to the hard limit);
/// children started afterwards inherit it. Returns the soft limit now in force.
fn raise_fd_limit(needed: u64) -> anyhow::Result<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read or write the one `rlimit` they are given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    if limit.rlim_cur >= needed {
        return Ok(limit.rlim_cur);
    }
    let raised = libc::rlimit { rlim_cur: needed.min(limit.rlim_max), rlim_max: limit.rlim_max };
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(raised.rlim_cur)
}

/// `hl7-harness serve` on a free port, killed when dropped.
struct Serve {
    child: Child,
    addr: String,
}

impl Serve {
    fn start(binary: &Path) -> anyhow::Result<Serve> {
        let mut child = Command::new(binary)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting hl7-harness serve")?;
        let stdout = child.stdout.take().context("serve's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        // The address is the first thing serve prints; a few lines at most before it.
        for _ in 0..20 {
            let Some(line) = lines.next().transpose()? else { break };
            if let Some(addr) = line.trim().strip_prefix("listening on mllp://") {
                let addr = addr.to_string();
                // Whatever serve prints later is drained, so it never blocks on a full pipe.
                std::thread::spawn(move || lines.map_while(Result::ok).count());
                return Ok(Serve { child, addr });
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        bail!("hl7-harness serve printed no `listening on mllp://` line")
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Serialize)]
struct Idle {
    connections: usize,
    fd_limit: u64,
    rss_before_kib: u64,
    rss_after_kib: u64,
    kib_per_connection: f64,
}

fn idle_connections(binary: &Path) -> anyhow::Result<Idle> {
    // Both ends live on this machine: this process holds one descriptor per connection and
    // serve (which inherits the limit) another, plus a few dozen of their own.
    let fd_limit = raise_fd_limit(IDLE_CONNECTIONS as u64 + 256)?;
    if fd_limit < IDLE_CONNECTIONS as u64 + 64 {
        bail!("RLIMIT_NOFILE is {fd_limit} and cannot be raised to fit {IDLE_CONNECTIONS} connections");
    }
    let serve = Serve::start(binary)?;
    std::thread::sleep(Duration::from_millis(500));
    let fds_before = open_fds(serve.pid());
    let rss_before_kib = rss_kib(serve.pid())?;
    let mut open = Vec::with_capacity(IDLE_CONNECTIONS);
    for _ in 0..IDLE_CONNECTIONS {
        open.push(std::net::TcpStream::connect(&serve.addr)?);
    }
    // Wait (bounded) until serve has accepted every connection.
    let deadline = Instant::now() + Duration::from_secs(20);
    while open_fds(serve.pid()) < fds_before + IDLE_CONNECTIONS {
        if Instant::now() > deadline {
            bail!(
                "serve accepted {} of {IDLE_CONNECTIONS} connections within 20 s",
                open_fds(serve.pid()).saturating_sub(fds_before)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let rss_after_kib = rss_kib(serve.pid())?;
    drop(open);
    Ok(Idle {
        connections: IDLE_CONNECTIONS,
        fd_limit,
        rss_before_kib,
        rss_after_kib,
        kib_per_connection: (rss_after_kib as f64 - rss_before_kib as f64)
            / IDLE_CONNECTIONS as f64,
    })
}

#[derive(Debug, Serialize)]
struct Soak {
    seconds: f64,
    rate: f64,
    connections: usize,
    sent: u64,
    lost: u64,
    sample_every_s: f64,
    /// `(seconds since the start, KiB)`.
    samples: Vec<(f64, u64)>,
    first_kib: u64,
    last_kib: u64,
    max_kib: u64,
    /// Least-squares slope through the samples.
    kib_per_minute: f64,
    /// When the endpoint's stores per message are full (receipts, applied log, duplicate
    /// window: [`kept_full_after`]); `None` when the soak ends first.
    kept_full_s: Option<f64>,
    /// The slope through the samples from then on: zero when nothing else grows.
    kib_per_minute_once_full: Option<f64>,
    /// The slope through the second half of the soak: a window that owes nothing to the
    /// store sizes, and leaves the allocator's settling after they fill out of the figure.
    kib_per_minute_last_half: Option<f64>,
}

/// Seconds of the soak after which every store the endpoint keeps per message holds its most
/// (the last [`MAX_RECEIPTS`](hl7_harness::target::endpoint::MAX_RECEIPTS) receipts and applied
/// ids, the duplicate window), with a margin of 20 s for the allocator to settle. Before that
/// the resident set grows by design; after it, growth is a leak.
fn kept_full_after(rate: f64) -> f64 {
    let kept = hl7_harness::target::endpoint::MAX_RECEIPTS
        .max(hl7_harness::target::client_feed::DUPLICATE_WINDOW);
    kept as f64 / rate + 20.0
}

/// Least-squares slope of `(x, y)` points, y per unit of x.
fn slope(points: &[(f64, u64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1 as f64).sum::<f64>() / n;
    let cov: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 as f64 - mean_y)).sum();
    let var: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if var == 0.0 {
        0.0
    } else {
        cov / var
    }
}

fn soak(root: &Path, binary: &Path, run_for: Duration, every: Duration) -> anyhow::Result<Soak> {
    let serve = Serve::start(binary)?;
    let payload =
        std::fs::read(root.join(MESSAGE)).with_context(|| format!("reading {MESSAGE}"))?;
    let options =
        SourceOptions { seed: hl7_harness::vocab::Seed(6), patients: 1000, mutations: Vec::new() };
    let source = Arc::new(MessageSource::new(&[(MESSAGE.to_string(), payload)], &options)?);
    let target =
        LoadTarget::parse(&format!("mllp://{}", serve.addr), None, None, HllpOptions::default())
            .map_err(anyhow::Error::msg)?;
    let plan = Plan {
        mode: Mode::Open { rate: SOAK_RATE },
        connections: SOAK_CONNECTIONS,
        duration: Some(run_for),
        count: None,
        warmup: Duration::ZERO,
        slice: Duration::from_secs(10),
    };
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (done, pid) = (Arc::clone(&done), serve.pid());
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut samples = Vec::new();
            let mut next = start;
            // Bounded by the run: the flag is set when the load ends.
            while !done.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    if let Ok(kib) = rss_kib(pid) {
                        samples.push((start.elapsed().as_secs_f64(), kib));
                    }
                    next += every;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if let Ok(kib) = rss_kib(pid) {
                samples.push((start.elapsed().as_secs_f64(), kib));
            }
            samples
        })
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let finished = runtime.block_on(load::run(
        &plan,
        source,
        || Client::new(target.clone(), Timeouts::default()),
        stopped,
        Arc::new(|_: &load::Progress| {}),
    ));
    done.store(true, Ordering::Relaxed);
    let samples = sampler.join().map_err(|_| anyhow::anyhow!("the RSS sampler panicked"))?;
    let a = finished.account;
    Ok(Soak {
        seconds: run_for.as_secs_f64(),
        rate: SOAK_RATE,
        connections: SOAK_CONNECTIONS,
        sent: a.sent,
        lost: a.lost,
        sample_every_s: every.as_secs_f64(),
        first_kib: samples.first().map_or(0, |s| s.1),
        last_kib: samples.last().map_or(0, |s| s.1),
        max_kib: samples.iter().map(|s| s.1).max().unwrap_or(0),
        kib_per_minute: slope(&samples) * 60.0,
        kept_full_s: (kept_full_after(SOAK_RATE) < run_for.as_secs_f64())
            .then_some(kept_full_after(SOAK_RATE)),
        kib_per_minute_once_full: once_full(&samples, kept_full_after(SOAK_RATE)),
        kib_per_minute_last_half: once_full(&samples, run_for.as_secs_f64() / 2.0),
        samples,
    })
}

/// The slope (KiB per minute) of the samples taken after `full` seconds; `None` with fewer
/// than two.
fn once_full(samples: &[(f64, u64)], full: f64) -> Option<f64> {
    let after: Vec<(f64, u64)> = samples.iter().copied().filter(|s| s.0 >= full).collect();
    (after.len() >= 2).then(|| slope(&after) * 60.0)
}

#[derive(Tabled)]
struct Row {
    #[tabled(rename = "hl7-harness serve memory")]
    what: String,
    figure: String,
}

pub fn run(root: &Path, quick: bool) -> anyhow::Result<serde_json::Value> {
    let binary = crate::bench_profile::release_binary(root)?;
    eprintln!("bench soak: {IDLE_CONNECTIONS} idle connections to serve");
    let idle = idle_connections(&binary)?;
    let (run_for, every) = if quick {
        (Duration::from_secs(20), Duration::from_secs(2))
    } else {
        (Duration::from_secs(600), Duration::from_secs(10))
    };
    eprintln!("bench soak: {SOAK_RATE:.0}/s to serve for {run_for:?}, RSS every {every:?}");
    let soak = soak(root, &binary, run_for, every)?;
    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    let rows = [
        Row {
            what: format!(
                "per idle connection ({} open, fd limit {})",
                idle.connections, idle.fd_limit
            ),
            figure: format!(
                "{:.1} KiB ({} → {})",
                idle.kib_per_connection,
                mib(idle.rss_before_kib),
                mib(idle.rss_after_kib)
            ),
        },
        Row {
            what: format!(
                "soak: {:.0}/s × {:.0} s, {} sent, {} lost",
                soak.rate, soak.seconds, soak.sent, soak.lost
            ),
            figure: format!(
                "first {}, last {}, max {}, slope {:.0} KiB/min ({} samples){}",
                mib(soak.first_kib),
                mib(soak.last_kib),
                mib(soak.max_kib),
                soak.kib_per_minute,
                soak.samples.len(),
                match (soak.kept_full_s, soak.kib_per_minute_once_full) {
                    (Some(full), Some(slope)) => {
                        format!(
                            "; once the kept stores are full ({full:.0} s on): {slope:.0} KiB/min"
                        )
                    }
                    _ => String::new(),
                } + &soak
                    .kib_per_minute_last_half
                    .map(|slope| format!("; last half: {slope:.0} KiB/min"))
                    .unwrap_or_default()
            ),
        },
    ];
    println!("{}", Table::new(rows));
    Ok(serde_json::json!({ "suite": "soak", "quick": quick, "idle": idle, "soak": soak }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_and_of_a_flat_set() {
        assert_eq!(slope(&[(0.0, 10), (1.0, 12), (2.0, 14)]), 2.0);
        assert_eq!(slope(&[(0.0, 10), (1.0, 10)]), 0.0);
        assert_eq!(slope(&[(0.0, 10)]), 0.0);
        // Growth while the stores fill, then flat: only the flat part counts once full.
        let samples = [(0.0, 10), (10.0, 20), (20.0, 30), (30.0, 30), (40.0, 30)];
        assert_eq!(once_full(&samples, 20.0), Some(0.0));
        assert_eq!(once_full(&samples, 40.0), None);
    }
}
