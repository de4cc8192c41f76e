//! `cargo xtask bench net`: MLLP round trips on loopback, every path of issue 18's table
//! measured interleaved in one run (one process tree), each beside its peer:
//!
//! | row | peer |
//! |---|---|
//! | raw client → raw echo server (the ceiling) | itself |
//! | `hl7-harness load` engine → echo | the ceiling |
//! | raw client → `serve` (no journal; journal on tmpfs; on disk with group commit; on disk with a sync per message) | the `mllp`-crate receiver |
//! | raw client → `serve --connection-threads 0` (every connection on the async loop) | the `mllp`-crate receiver |
//! | raw client → the `mllp`-crate receiver (xtask/interop-mllp) | the ceiling |
//! | raw client → `proxy` (no rule) → echo | socat |
//! | raw client → socat (fork, nodelay) → echo | the ceiling |
//!
//! The ceiling pair is a few lines of std threads (one per connection, blocking reads into one
//! reusable buffer), independent of the harness's code, so it measures what loopback and this
//! machine allow. The raw client sends one ADT^A01 per round trip and waits for the answer's
//! end block (closed loop, no pipelining); its MSH-10 is unique per message (a fixed-width
//! counter written in place), so the reference endpoint journals, decides and applies each one
//! instead of recognising a resend. The echo answers an ACK whose MSA-2 is the MSH-10, so the
//! load engine can match it.
//!
//! `serve` and `proxy` run in this process on a tokio runtime of their own (as the commands do:
//! the endpoint's plain connections on a thread each, `target::threaded`; the proxy's
//! connections on a current-thread runtime per core, its lanes), the load engine on another
//! (as `load` spreads them: each plain connection on a blocking thread of its own). On
//! 2026-12-04's second machine, at 16 connections, the blocking threads measured 0.70–0.80× the
//! ceiling where a current-thread runtime per core gave 0.52–0.63× and one per connection
//! 0.68–0.76× (on the first machine that day a runtime per core had beaten one per
//! connection, 0.82–0.93× against 0.73–0.75×).
//! `BENCH_LOAD_THREADS` (runtimes, no blocking threads) and `BENCH_PROXY_LANES` set those
//! counts (0: the connections as tasks of the multi-thread runtime, as before). On the 2 shared cores of 2026-12-03 (load average
//! 2–15), four runs each way: at 16 connections the proxy with lanes 1.09–1.33× socat (median
//! 1.15) against 0.69–1.10× (0.95) without, the spread load engine 0.61–0.92× the ceiling
//! (0.74) against 0.53–0.73× (0.64); at 1 connection both within the noise either way (syscalls per message were already at their floor: the load engine one write, one read
//! and one epoll_wait per message at 1 connection, about 2.1 at 16; the proxy two of each per
//! round trip, six in all, where socat made about twenty: 2.6 pselect6, 2 read, 2 write and 13
//! recvfrom). `serve` with a journal is measured three times: on tmpfs
//! (`/dev/shm`, where fsync costs nothing: the journal's write path alone), on the repository's
//! disk with group commit (as `serve --journal` runs: records that arrive while a sync runs share
//! the next one) and on the same disk with a write and an fsync per message (the journal before
//! group commit); and playing a target profile (`serve --profile`: the e-health platform's,
//! judged against its message profiles), sent a v2.6 ADT^A01. Without a journal it is also
//! measured with every connection on the async loop (`--connection-threads 0`), as it served
//! before its plain connections got a thread each: what the threads gain. (Other schedulers
//! for the async loop, one current-thread runtime or one per core, measured level with the
//! multi-thread runtime on 2 shared cores on 2026-12-03 and are no longer rows.)
//!
//! `BENCH_NET_ONLY=serve` (words, comma-separated) runs only the rows whose name holds one,
//! with their peers and the ceiling.
//!
//! Each cell is the best of `rounds` (5; 1 with `--quick`) runs of 2 s, the rows
//! taking turns in every round, so a slow moment of the machine hits every row alike. Beside
//! the ratio of the best rounds, a cell shows the median of its rounds' ratios to the peer's
//! in the same round ("per round"): the best rounds of two rows may fall in different turns,
//! and the median of the pairs is less swayed by one quiet or one slow turn. Timing is never
//! asserted: the ratios are printed and written to reports/bench/.

use anyhow::{bail, Context};
use hl7_harness::load::{self, Client, LoadTarget, MessageSource, Mode, Plan, SourceOptions};
use hl7_harness::proxy::event::EventLog;
use hl7_harness::proxy::server::{Proxy, ProxyOptions, Upstream};
use hl7_harness::proxy::Engine;
use hl7_harness::target::endpoint::{Endpoint, SyncMode};
use hl7_harness::target::responder::ResponderConfig;
use hl7_harness::target::server::{serve_mllp, ServerOptions};
use hl7_harness::target::threaded::{DEFAULT_CONNECTION_THREADS, DEFAULT_READ_SPIN};
use hl7_harness::transport::connection::Timeouts;
use hl7_harness::transport::hllp::HllpOptions;
use hl7_harness::transport::mllp::MllpOptions;
use serde::Serialize;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use tabled::{Table, Tabled};

/// The message sent: an ADT^A01 of the repository's corpus, as issue 18 measured.
pub(crate) const MESSAGE: &str = "corpus/adt/adt_a01_v23.hl7";
/// `serve --profile` plays this target profile (v2.6 ADT and MFN, with message profiles)...
const PROFILE: &str = "scenarios/ehealth-platform/ehealth-platform.profile.yaml";
/// ...and is sent a v2.6 ADT^A01, which the profile declares.
const PROFILE_MESSAGE: &str = "corpus/adt/adt_a01_v26_zpd.hl7";
/// An environment variable: when set, only the rows whose name holds one of its
/// comma-separated words run (with their peers and the ceiling), e.g. `serve` while profiling
/// the reference endpoint; a word after `=` is a whole row name.
const ONLY: &str = "BENCH_NET_ONLY";
/// An environment variable: how many current-thread runtimes the load engine's connections
/// run on, none on a blocking thread (0: as tasks of its multi-thread runtime); unset, as
/// `load` spreads them.
const LOAD_THREADS: &str = "BENCH_LOAD_THREADS";
/// An environment variable: how many lanes (current-thread runtimes) the proxy's connections
/// run on; one per core when unset, as `proxy` does (0: as tasks of the servers' multi-thread
/// runtime, as before the lanes).
const PROXY_LANES: &str = "BENCH_PROXY_LANES";
/// An environment variable: how many connections at once get a lane of their own in the proxy
/// (0: none, every connection on the per-core lanes); as `proxy` when unset.
const PROXY_OWN_LANES: &str = "BENCH_PROXY_OWN_LANES";
/// Width of the per-message MSH-10 the raw client writes in place.
pub(crate) const ID_WIDTH: usize = 16;
const ACK_HEAD: &[u8] = b"\x0bMSH|^~\\&|R|R|S|S|20240101||ACK^A01^ACK|1|P|2.3\rMSA|AA|";
/// Longest the raw client waits for one answer before the run fails.
const ANSWER_LIMIT: Duration = Duration::from_secs(10);
/// Largest answer the raw client and the echo take (ours are a few hundred bytes).
const MAX_FRAME: usize = 1 << 20;

/// How long each cell runs and how often the rows take turns.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Settings {
    pub run_seconds: f64,
    pub rounds: usize,
}

impl Settings {
    pub fn new(quick: bool) -> Settings {
        if quick {
            Settings { run_seconds: 0.5, rounds: 1 }
        } else {
            // Five turns of 2 s rather than three of 3 s, in about the same time: this machine's
            // slow spells last seconds (a row's rounds ranged 13–16k/s on 2026-12-05), so more,
            // shorter turns give every row more chances at a quiet moment.
            Settings { run_seconds: 2.0, rounds: 5 }
        }
    }

    fn run_for(self) -> Duration {
        Duration::from_secs_f64(self.run_seconds)
    }
}

/// The paths measured; `peer` names the row each is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Ceiling,
    Load,
    Serve,
    ServeNoSpin,
    ServeAsyncOnly,
    ServeJournalTmpfs,
    ServeJournalGroup,
    ServeJournalDisk,
    ServeProfile,
    MllpCrate,
    Proxy,
    Socat,
}

impl Route {
    const ALL: [Route; 12] = [
        Route::Ceiling,
        Route::Load,
        Route::Serve,
        Route::ServeNoSpin,
        Route::ServeAsyncOnly,
        Route::ServeJournalTmpfs,
        Route::ServeJournalGroup,
        Route::ServeJournalDisk,
        Route::ServeProfile,
        Route::MllpCrate,
        Route::Proxy,
        Route::Socat,
    ];

    fn name(self) -> &'static str {
        match self {
            Route::Ceiling => "raw client → raw echo (ceiling)",
            Route::Load => "hl7-harness load → echo",
            Route::Serve => "raw client → serve",
            Route::ServeNoSpin => "raw client → serve --read-spin 0 (reads sleep at once)",
            Route::ServeAsyncOnly => "raw client → serve --connection-threads 0 (async loop only)",
            Route::ServeJournalTmpfs => "raw client → serve, journal on tmpfs (no fsync cost)",
            Route::ServeJournalGroup => "raw client → serve, journal on disk (group commit)",
            Route::ServeJournalDisk => "raw client → serve, journal on disk (fsync per message)",
            Route::ServeProfile => "raw client → serve --profile (e-health, ADT^A01 v2.6)",
            Route::MllpCrate => "raw client → mllp-crate receiver",
            Route::Proxy => "raw client → proxy (no rule) → echo",
            Route::Socat => "raw client → socat (fork, nodelay) → echo",
        }
    }

    fn peer(self, socat: bool) -> Option<Route> {
        match self {
            Route::Ceiling => None,
            Route::Serve
            | Route::ServeNoSpin
            | Route::ServeAsyncOnly
            | Route::ServeJournalTmpfs
            | Route::ServeJournalGroup
            | Route::ServeJournalDisk
            | Route::ServeProfile => Some(Route::MllpCrate),
            Route::Proxy if socat => Some(Route::Socat),
            Route::Load | Route::MllpCrate | Route::Proxy | Route::Socat => Some(Route::Ceiling),
        }
    }

    fn peer_name(self) -> &'static str {
        match self {
            Route::Ceiling => "ceiling",
            Route::MllpCrate => "mllp crate",
            Route::Socat => "socat",
            _ => "?",
        }
    }
}

#[derive(Debug, Serialize)]
struct Cell {
    path: &'static str,
    connections: usize,
    /// Round trips per second, best of the rounds.
    per_second: f64,
    /// Every round's figure, in order.
    rounds: Vec<f64>,
    /// Answers that were not AA (or CA) in the best round; 0 for a correct run.
    not_accepted: u64,
    peer: Option<&'static str>,
    /// `per_second` over the peer's.
    ratio_to_peer: Option<f64>,
    /// Each round's figure over the peer's in the same round (the same turn of all rows, tens
    /// of seconds apart at most), and their median: the best rounds of the two may have
    /// fallen in different turns, one quiet and one not, and the median of the pairs is less
    /// swayed by that single turn.
    ratio_to_peer_per_round: Vec<f64>,
    median_ratio_to_peer: Option<f64>,
    ratio_to_ceiling: f64,
}

/// What one measured run produced.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    per_second: f64,
    not_accepted: u64,
}

/// Where each path listens.
struct Addresses {
    echo: SocketAddr,
    serve: SocketAddr,
    serve_no_spin: SocketAddr,
    serve_async_only: SocketAddr,
    serve_tmpfs: SocketAddr,
    serve_group: SocketAddr,
    serve_disk: SocketAddr,
    serve_profile: SocketAddr,
    mllp_crate: SocketAddr,
    proxy: SocketAddr,
    socat: Option<SocketAddr>,
}

pub fn net(root: &Path, settings: Settings) -> anyhow::Result<serde_json::Value> {
    let payload =
        std::fs::read(root.join(MESSAGE)).with_context(|| format!("reading {MESSAGE}"))?;
    let payload = normalise(&payload);
    let profile_payload = std::fs::read(root.join(PROFILE_MESSAGE))
        .with_context(|| format!("reading {PROFILE_MESSAGE}"))?;
    let profile_payload = normalise(&profile_payload);
    let played = hl7_harness::scenario::load_profile(&root.join(PROFILE))?.profile;
    let echo = start_echo()?;
    // The mllp-crate receiver is built and started the way `cargo xtask interop` does it.
    let (mllp_running, mllp_port) = crate::interop::mllp_crate_receiver(root)?;
    let socat = start_socat(echo)?;
    let journals = Journals::new(root)?;
    let servers = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (
        serve,
        serve_async_only,
        serve_tmpfs,
        serve_group,
        serve_disk,
        serve_profile,
        proxy,
        serve_no_spin,
    ) = servers.block_on(async {
        let serve = start_serve(Endpoint::new(ResponderConfig::default()), &stopped).await?;
        let async_only = Endpoint::new(ResponderConfig::default());
        let serve_async_only = start_serve_with(async_only, 0, DEFAULT_READ_SPIN, &stopped).await?;
        let no_spin = Endpoint::new(ResponderConfig::default());
        let serve_no_spin =
            start_serve_with(no_spin, DEFAULT_CONNECTION_THREADS, Duration::ZERO, &stopped).await?;
        let tmpfs = Endpoint::with_journal(ResponderConfig::default(), &journals.tmpfs)?;
        let serve_tmpfs = start_serve(tmpfs, &stopped).await?;
        let group = Endpoint::with_journal(ResponderConfig::default(), &journals.group)?;
        let serve_group = start_serve(group, &stopped).await?;
        let disk = Endpoint::with_journal_syncing(
            ResponderConfig::default(),
            &journals.disk,
            SyncMode::EachRecord,
        )?;
        let serve_disk = start_serve(disk, &stopped).await?;
        let serve_profile = start_serve(Endpoint::playing(&played), &stopped).await?;
        let proxy = start_proxy(echo, &stopped).await?;
        let serves = (serve, serve_async_only, serve_tmpfs, serve_group, serve_disk);
        let rest = (serve_profile, proxy, serve_no_spin);
        anyhow::Ok((serves.0, serves.1, serves.2, serves.3, serves.4, rest.0, rest.1, rest.2))
    })?;
    let addresses = Addresses {
        echo,
        serve,
        serve_no_spin,
        serve_async_only,
        serve_tmpfs,
        serve_group,
        serve_disk,
        serve_profile,
        mllp_crate: SocketAddr::from(([127, 0, 0, 1], mllp_port)),
        proxy,
        socat: socat.as_ref().map(|(_, addr)| *addr),
    };
    let source = {
        let options = SourceOptions {
            seed: hl7_harness::vocab::Seed(18),
            patients: 1000,
            mutations: Vec::new(),
        };
        Arc::new(MessageSource::new(&[(MESSAGE.to_string(), payload.clone())], &options)?)
    };
    let only = std::env::var(ONLY).ok();
    let chosen = |path: Route| match &only {
        None => true,
        Some(words) => {
            let named = |p: Route| {
                words.split(',').any(|w| match w.strip_prefix('=') {
                    Some(exact) => p.name() == exact,
                    None => !w.is_empty() && p.name().contains(w),
                })
            };
            named(path)
                || path == Route::Ceiling
                || Route::ALL.iter().any(|r| named(*r) && r.peer(socat.is_some()) == Some(path))
        }
    };
    let paths: Vec<Route> = Route::ALL
        .into_iter()
        .filter(|p| *p != Route::Socat || socat.is_some())
        .filter(|p| chosen(*p))
        .collect();
    let mut best: Vec<(Route, usize, Vec<Run>)> = Vec::new();
    for connections in [1usize, 16] {
        for path in &paths {
            best.push((*path, connections, Vec::new()));
        }
    }
    for round in 0..settings.rounds {
        for (path, connections, runs) in &mut best {
            eprintln!(
                "bench net: round {}/{}: {} × {connections}",
                round + 1,
                settings.rounds,
                path.name()
            );
            let run = match path {
                Route::Load => run_load(addresses.echo, *connections, settings, &source)?,
                _ => {
                    let addr = address_of(&addresses, *path)?;
                    let sent =
                        if *path == Route::ServeProfile { &profile_payload } else { &payload };
                    raw_client(addr, *connections, settings.run_for(), sent)?
                }
            };
            runs.push(run);
        }
    }
    let _ = stop.send(true);
    servers.shutdown_timeout(Duration::from_secs(2));
    drop(mllp_running);
    drop(socat);
    drop(journals);
    let cells = summarise(&best, socat_installed(&addresses));
    print_table(&cells, &paths);
    Ok(serde_json::json!({ "suite": "net", "settings": settings, "results": cells }))
}

fn socat_installed(addresses: &Addresses) -> bool {
    addresses.socat.is_some()
}

fn address_of(addresses: &Addresses, path: Route) -> anyhow::Result<SocketAddr> {
    Ok(match path {
        Route::Ceiling | Route::Load => addresses.echo,
        Route::Serve => addresses.serve,
        Route::ServeNoSpin => addresses.serve_no_spin,
        Route::ServeAsyncOnly => addresses.serve_async_only,
        Route::ServeJournalTmpfs => addresses.serve_tmpfs,
        Route::ServeJournalGroup => addresses.serve_group,
        Route::ServeJournalDisk => addresses.serve_disk,
        Route::ServeProfile => addresses.serve_profile,
        Route::MllpCrate => addresses.mllp_crate,
        Route::Proxy => addresses.proxy,
        Route::Socat => addresses.socat.context("socat is not running")?,
    })
}

fn summarise(best: &[(Route, usize, Vec<Run>)], socat: bool) -> Vec<Cell> {
    let top = |runs: &[Run]| {
        runs.iter()
            .copied()
            .max_by(|a, b| a.per_second.total_cmp(&b.per_second))
            .unwrap_or_default()
    };
    let runs_of = |path: Route, connections: usize| {
        best.iter().find(|(p, c, _)| *p == path && *c == connections).map(|(_, _, runs)| runs)
    };
    let rate_of = |path: Route, connections: usize| {
        runs_of(path, connections).map(|runs| top(runs).per_second)
    };
    best.iter()
        .map(|(path, connections, runs)| {
            let run = top(runs);
            let ratio = |other: Option<f64>| match other {
                Some(rate) if rate > 0.0 => Some(run.per_second / rate),
                _ => None,
            };
            let peer = path.peer(socat);
            let per_round: Vec<f64> = peer
                .and_then(|p| runs_of(p, *connections))
                .map(|peer_runs| {
                    runs.iter()
                        .zip(peer_runs)
                        .filter(|(_, theirs)| theirs.per_second > 0.0)
                        .map(|(ours, theirs)| ours.per_second / theirs.per_second)
                        .collect()
                })
                .unwrap_or_default();
            Cell {
                path: path.name(),
                connections: *connections,
                per_second: run.per_second,
                rounds: runs.iter().map(|r| r.per_second).collect(),
                not_accepted: run.not_accepted,
                peer: peer.map(Route::peer_name),
                ratio_to_peer: peer.and_then(|p| ratio(rate_of(p, *connections))),
                median_ratio_to_peer: median(&per_round),
                ratio_to_peer_per_round: per_round,
                ratio_to_ceiling: ratio(rate_of(Route::Ceiling, *connections)).unwrap_or(0.0),
            }
        })
        .collect()
}

/// The middle value (the mean of the two middle ones for an even count); `None` when empty.
fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => sorted.get(middle).copied(),
        _ => Some((sorted.get(middle - 1)? + sorted.get(middle)?) / 2.0),
    }
}

#[derive(Tabled)]
struct Row {
    path: &'static str,
    #[tabled(rename = "1 connection")]
    one: String,
    #[tabled(rename = "16 connections")]
    sixteen: String,
}

fn print_table(cells: &[Cell], paths: &[Route]) {
    let show = |path: Route, connections: usize| {
        let Some(cell) =
            cells.iter().find(|c| c.path == path.name() && c.connections == connections)
        else {
            return "-".to_string();
        };
        let mut text = format!("{:.1}k/s", cell.per_second / 1000.0);
        if let (Some(peer), Some(ratio)) = (cell.peer, cell.ratio_to_peer) {
            text.push_str(&format!(" ({ratio:.2}× {peer}"));
            match cell.median_ratio_to_peer {
                Some(median) if cell.ratio_to_peer_per_round.len() > 1 => {
                    text.push_str(&format!("; per round {median:.2}×)"))
                }
                _ => text.push(')'),
            }
        }
        if cell.not_accepted > 0 {
            text.push_str(&format!(" [{} not AA]", cell.not_accepted));
        }
        text
    };
    let rows = paths.iter().map(|path| Row {
        path: path.name(),
        one: show(*path, 1),
        sixteen: show(*path, 16),
    });
    println!("{}", Table::new(rows));
}

/// Segments separated by CR alone, without a trailing line end: as a sender frames them.
pub(crate) fn normalise(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes).replace("\r\n", "\r").replace('\n', "\r");
    text.trim_end_matches('\r').as_bytes().to_vec()
}

/// The framed message with MSH-10 replaced by [`ID_WIDTH`] placeholder bytes; returns the
/// frame and where the placeholder starts.
pub(crate) fn frame_with_id_slot(payload: &[u8]) -> anyhow::Result<(Vec<u8>, usize)> {
    let msh_end = payload.iter().position(|b| *b == b'\r').unwrap_or(payload.len());
    let separator = *payload.get(3).context("the message has no MSH-1")?;
    let bars: Vec<usize> = payload[..msh_end]
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == separator)
        .map(|(i, _)| i)
        .collect();
    // MSH-1 is the separator itself, so MSH-10 lies after the 9th one and before the 10th.
    let (start, end) = match (bars.get(8), bars.get(9)) {
        (Some(start), Some(end)) => (start + 1, *end),
        _ => bail!("the message has no MSH-10"),
    };
    let mut frame = vec![0x0b];
    frame.extend_from_slice(&payload[..start]);
    let slot = frame.len();
    frame.extend_from_slice(&[b'0'; ID_WIDTH]);
    frame.extend_from_slice(&payload[end..]);
    frame.extend_from_slice(b"\x1c\r");
    Ok((frame, slot))
}

/// Writes `value` as decimal digits right-aligned into `slot`, zero-filled.
pub(crate) fn write_id(slot: &mut [u8], mut value: u64) {
    for byte in slot.iter_mut().rev() {
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Reads one answer (until `0x1C 0x0D` ends what was read: peers here never pipeline) into
/// `buffer`; returns its length.
fn read_answer(stream: &mut TcpStream, buffer: &mut [u8]) -> anyhow::Result<usize> {
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buffer[filled..])?;
        anyhow::ensure!(n > 0, "the peer closed the connection");
        filled += n;
        if filled >= 2 && buffer[filled - 2..filled] == [0x1c, 0x0d] {
            return Ok(filled);
        }
        anyhow::ensure!(filled < buffer.len(), "an answer larger than {} bytes", buffer.len());
    }
}

/// `connections` std threads, each a closed loop of round trips for `run_for`.
fn raw_client(
    addr: SocketAddr,
    connections: usize,
    run_for: Duration,
    payload: &[u8],
) -> anyhow::Result<Run> {
    let (frame, slot) = frame_with_id_slot(payload)?;
    let barrier = Arc::new(Barrier::new(connections + 1));
    let threads: Vec<_> = (0..connections)
        .map(|n| {
            let (mut frame, barrier) = (frame.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || -> anyhow::Result<(u64, u64)> {
                let stream = TcpStream::connect(addr);
                barrier.wait();
                let mut stream = stream?;
                stream.set_nodelay(true)?;
                stream.set_read_timeout(Some(ANSWER_LIMIT))?;
                let mut buffer = vec![0u8; MAX_FRAME];
                let (mut done, mut not_accepted) = (0u64, 0u64);
                let end = Instant::now() + run_for;
                // A fresh range of ids per connection and run: the clock's nanoseconds.
                let base = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0)
                    .wrapping_add(n as u64 * 1_000_000_000);
                while Instant::now() < end {
                    write_id(&mut frame[slot..slot + ID_WIDTH], base.wrapping_add(done));
                    stream.write_all(&frame)?;
                    let len = read_answer(&mut stream, &mut buffer)?;
                    let answer = &buffer[..len];
                    if memchr::memmem::find(answer, b"MSA|AA").is_none()
                        && memchr::memmem::find(answer, b"MSA|CA").is_none()
                    {
                        not_accepted += 1;
                    }
                    done += 1;
                }
                Ok((done, not_accepted))
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let (mut done, mut not_accepted) = (0, 0);
    for thread in threads {
        let (d, n) = thread.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
        done += d;
        not_accepted += n;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Run { per_second: done as f64 / elapsed, not_accepted })
}

/// The ceiling's server: std threads, one per connection, answering every frame with an ACK
/// whose MSA-2 is the frame's MSH-10.
fn start_echo() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || echo_connection(stream));
        }
    });
    Ok(addr)
}

fn echo_connection(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buffer = vec![0u8; MAX_FRAME];
    let mut answer = Vec::with_capacity(256);
    let mut filled = 0;
    loop {
        let n = match stream.read(&mut buffer[filled..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        filled += n;
        let mut start = 0;
        while let Some(end) = memchr::memmem::find(&buffer[start..filled], b"\x1c\r") {
            let frame = &buffer[start..start + end];
            let control_id = frame
                .split(|b| *b == b'\r')
                .next()
                .and_then(|msh| msh.split(|b| *b == b'|').nth(9))
                .unwrap_or_default();
            answer.clear();
            answer.extend_from_slice(ACK_HEAD);
            answer.extend_from_slice(control_id);
            answer.extend_from_slice(b"\r\x1c\r");
            if stream.write_all(&answer).is_err() {
                return;
            }
            start += end + 2;
        }
        buffer.copy_within(start..filled, 0);
        filled -= start;
        if filled == buffer.len() {
            return;
        }
    }
}

/// The reference endpoint as `hl7-harness serve` runs it (default options).
async fn start_serve(
    endpoint: Endpoint,
    stopped: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<SocketAddr> {
    start_serve_with(endpoint, DEFAULT_CONNECTION_THREADS, DEFAULT_READ_SPIN, stopped).await
}

/// [`start_serve`] with `connection_threads` and `read_spin` (`serve --connection-threads`,
/// `--read-spin`).
async fn start_serve_with(
    endpoint: Endpoint,
    connection_threads: usize,
    read_spin: Duration,
    stopped: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let options = ServerOptions {
        mllp: MllpOptions::default(),
        timeouts: Timeouts { read: Duration::from_secs(300), ..Timeouts::default() },
        tls: None,
        connection_threads,
        read_spin,
    };
    let mut stopped = stopped.clone();
    tokio::spawn(serve_mllp(listener, Arc::new(endpoint), options, async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    Ok(addr)
}

/// `hl7-harness proxy` with no fault rule, in front of the echo, with its defaults.
async fn start_proxy(
    upstream: SocketAddr,
    stopped: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let options = ProxyOptions {
        upstream: Upstream { addr: upstream.to_string(), tls: None },
        max_frame_bytes: MllpOptions::default().max_frame_bytes,
        connect_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(300),
    };
    let proxy =
        Proxy::new(Engine::new(hl7_harness::vocab::Seed(18)), EventLog::new(false), options);
    let mut stopped = stopped.clone();
    let lanes = match std::env::var(PROXY_LANES).ok().and_then(|v| v.parse().ok()) {
        Some(lanes) => lanes,
        None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };
    let shutdown = async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    if lanes == 0 {
        // The connections as tasks of this multi-thread runtime, as before the lanes.
        tokio::spawn(hl7_harness::proxy::server::serve(listener, proxy, shutdown));
    } else {
        // As the command runs it: a current-thread runtime per connection up to the bound
        // (BENCH_PROXY_OWN_LANES, 0: none), then one per core, takes the connections.
        let own = std::env::var(PROXY_OWN_LANES).ok().and_then(|v| v.parse().ok());
        let own = own.unwrap_or(hl7_harness::proxy::lanes::OWN_LANES);
        tokio::spawn(hl7_harness::proxy::serve_on_threads(listener, proxy, shutdown, lanes, own));
    }
    Ok(addr)
}

/// The load engine (`hl7-harness load --mode closed`) on a runtime of its own, as the command
/// builds it (two workers; the connections on a current-thread runtime per core).
fn run_load(
    echo: SocketAddr,
    connections: usize,
    settings: Settings,
    source: &Arc<MessageSource>,
) -> anyhow::Result<Run> {
    let target = LoadTarget::parse(&format!("mllp://{echo}"), None, None, HllpOptions::default())
        .map_err(anyhow::Error::msg)?;
    let warmup = Duration::from_millis(200);
    let plan = Plan {
        mode: Mode::Closed,
        connections,
        duration: Some(settings.run_for() + warmup),
        count: None,
        warmup,
        slice: Duration::from_secs(1),
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    // As the command spreads its connections (one current-thread runtime per core), unless
    // BENCH_LOAD_THREADS names a count (0: the runtime's own tasks).
    let spread = match std::env::var(LOAD_THREADS).ok().and_then(|v| v.parse().ok()) {
        Some(0) => load::Spread::Here,
        Some(n) => load::Spread::Threads(n),
        None => load::Spread::for_load(connections),
    };
    let finished = runtime.block_on(load::run_spread(
        &plan,
        Arc::clone(source),
        || Client::new(target.clone(), Timeouts::default()),
        stopped,
        Arc::new(|_: &load::Progress| {}),
        spread,
    ));
    runtime.shutdown_timeout(Duration::from_secs(2));
    let account = finished.account;
    Ok(Run { per_second: account.throughput_per_s, not_accepted: account.rejected + account.lost })
}

/// socat relaying to the echo (fork per connection, TCP_NODELAY both ways), when installed.
fn start_socat(echo: SocketAddr) -> anyhow::Result<Option<(crate::interop::Running, SocketAddr)>> {
    let found = std::process::Command::new("socat")
        .arg("-V")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !found.is_ok_and(|s| s.success()) {
        eprintln!(
            "bench net: socat is not installed (apt-get install socat): the socat row is left \
             out and the proxy is compared with the ceiling instead"
        );
        return Ok(None);
    }
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut command = std::process::Command::new("socat");
    command
        .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,nodelay"))
        .arg(format!("TCP:{echo},nodelay"))
        .stdout(std::process::Stdio::null());
    let running = crate::interop::Running::spawn(command).context("starting socat")?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            bail!("socat did not listen on {addr} within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Some((running, addr)))
}

/// The journal files, removed when dropped.
struct Journals {
    tmpfs: PathBuf,
    group: PathBuf,
    disk: PathBuf,
}

impl Journals {
    fn new(root: &Path) -> anyhow::Result<Journals> {
        let pid = std::process::id();
        let shm = Path::new("/dev/shm");
        let tmpfs_dir = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        if !shm.is_dir() {
            eprintln!("bench net: no /dev/shm; the tmpfs journal row uses {}", tmpfs_dir.display());
        }
        let disk_dir = root.join("target").join("xtask");
        std::fs::create_dir_all(&disk_dir)?;
        let journals = Journals {
            tmpfs: tmpfs_dir.join(format!("hl7-bench-net-{pid}.journal")),
            group: disk_dir.join(format!("bench-net-{pid}-group.journal")),
            disk: disk_dir.join(format!("bench-net-{pid}.journal")),
        };
        journals.remove();
        Ok(journals)
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.tmpfs);
        let _ = std::fs::remove_file(&self.group);
        let _ = std::fs::remove_file(&self.disk);
    }
}

impl Drop for Journals {
    fn drop(&mut self) {
        self.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_slot_replaces_msh_10_and_counts_in_place() {
        let payload = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|ID1|P|2.3\rPID|1";
        let (mut frame, slot) = frame_with_id_slot(payload).unwrap();
        write_id(&mut frame[slot..slot + ID_WIDTH], 42);
        let text = String::from_utf8(frame).unwrap();
        assert_eq!(text, "\x0bMSH|^~\\&|A|B|C|D|2024||ADT^A01|0000000000000042|P|2.3\rPID|1\x1c\r");
    }

    #[test]
    fn ratios_are_the_best_rounds_and_the_median_of_each_rounds_pair() {
        let runs = |rates: &[f64]| {
            rates.iter().map(|&per_second| Run { per_second, not_accepted: 0 }).collect()
        };
        // The best rounds fell at different moments: serve's in round 1, the crate's in round 3.
        let best = vec![
            (Route::Ceiling, 1, runs(&[20.0, 20.0, 20.0])),
            (Route::Serve, 1, runs(&[18.0, 9.0, 12.0])),
            (Route::MllpCrate, 1, runs(&[20.0, 10.0, 19.0])),
        ];
        let cells = summarise(&best, false);
        let serve = cells.iter().find(|c| c.path == Route::Serve.name()).unwrap();
        assert_eq!(serve.per_second, 18.0);
        assert_eq!(serve.ratio_to_peer, Some(18.0 / 20.0));
        let per_round: Vec<f64> = serve.ratio_to_peer_per_round.clone();
        assert_eq!(per_round, vec![0.9, 0.9, 12.0 / 19.0]);
        assert_eq!(serve.median_ratio_to_peer, Some(0.9));
        let ceiling = cells.iter().find(|c| c.path == Route::Ceiling.name()).unwrap();
        assert!(ceiling.ratio_to_peer_per_round.is_empty(), "the ceiling has no peer");
        assert_eq!(ceiling.median_ratio_to_peer, None);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
    }

    #[test]
    fn a_message_without_msh_10_is_refused() {
        assert!(frame_with_id_slot(b"MSH|^~\\&|A|B").is_err());
    }
}
