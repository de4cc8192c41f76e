//! `hl7-harness proxy`: the MLLP-aware proxy between two real systems, with fault rules from
//! `--fault`, an optional control interface, an event log and a report folder.

use super::exit;
use super::seed::seed_or_clock;
use crate::proxy::control::{loopback, serve_control, ControlAccess};
use crate::proxy::record::{
    parse_limit, start, RecordLimit, RecordOptions, Recording, Redact, QUEUE, QUEUE_BYTES,
};
use crate::proxy::{
    lanes::OWN_LANES, parse_spec, serve_on_threads, Engine, EventLog, FaultSpec, Proxy,
    ProxyOptions, Upstream,
};
use crate::report::proxy::{summary, RunInfo, EVENTS_FILE, SUMMARY_FILE};
use crate::report::redact::Redactor;
use crate::report::time::rfc3339;
use crate::runner::TargetUrl;
use crate::transport::mllp::MllpOptions;
use crate::vocab::parse_duration;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// Address the downstream system connects to (plain MLLP over TCP; port 0 picks a free
    /// port, and the address is printed).
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// The system to forward to: mllp://HOST:PORT or mllps://HOST:PORT. MLLP has no
    /// authentication: a user or password in the URL is refused (and never repeated).
    #[arg(long, value_name = "URL")]
    pub upstream: String,
    /// A fault rule, e.g. drop:dir=down,frame=2 or latency:ms=50 (repeatable; in order, the
    /// first matching frame rule wins). The grammar is in the user guide (docs/howto/proxy.md,
    /// "Fault rules").
    #[arg(long = "fault", value_name = "SPEC", value_parser = parse_fault)]
    pub faults: Vec<FaultSpec>,
    /// Seed of every random decision (p=, byte=random); printed at start [default: from the
    /// clock].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Serve the control interface (HTTP) on this loopback address: GET/POST/DELETE /faults,
    /// GET /events. Every request needs `Authorization: Bearer TOKEN` with the token printed on
    /// stderr at start (`control token: …`) and Host naming this address; a POST needs
    /// `Content-Type: application/json`; a request with another site's Origin is refused.
    #[arg(long, value_name = "ADDR")]
    pub control: Option<String>,
    /// Append every event to FILE as a JSON line.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Write faults.jsonl (while running) and summary.md (at the end) into DIR, which must not
    /// hold a report already.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Stop after this long [default: run until Ctrl-C].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Largest frame handled as a frame; a longer one is passed on unframed (and logged).
    #[arg(long, value_name = "BYTES", default_value_t = MllpOptions::default().max_frame_bytes)]
    pub max_frame_bytes: usize,
    /// Give up connecting (and the TLS handshake) to the upstream after this long.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Close a connection on which neither side sends anything for this long (also the
    /// longest wait for a peer to take bytes).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Record what crosses the proxy into DIR (new or empty) as a pack `hl7-harness run DIR
    /// --target URL` replays: each message a client sent (messages/0001.hl7, …, byte for
    /// byte as it arrived, before any fault), the reply the upstream gave to it (acks/…), and
    /// recorded.yaml, one serial case per connection whose steps send the messages with the
    /// recorded pauses and expect the recorded replies (`replay.reply`). Recording never slows
    /// the proxy: if the writer falls behind, frames are dropped from the recording, counted,
    /// and the pack says so.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// How much --record may write: N messages, a SIZE of messages and replies (500KB, 50MB,
    /// 1GB) or both (N,SIZE). Reaching it stops the recording, says so on stderr and in the
    /// pack; the proxy goes on [default: 10000,100MB].
    #[arg(long, value_name = "LIMIT", value_parser = parse_record_limit, requires = "record")]
    pub record_limit: Option<RecordLimit>,
    /// Redact patient data in what --record writes, as `run --redact-phi` does in reports
    /// (names, identifiers, birth dates, addresses, phones → `[name-1]`, …, the same value
    /// the same placeholder across the recording; MSH-10 and MSA-2 kept, so replies still
    /// pair with their messages).
    #[arg(long, requires = "record")]
    pub redact_phi: bool,
    #[command(flatten)]
    pub tls: super::client_args::TlsClientArgs,
}

fn parse_record_limit(text: &str) -> Result<RecordLimit, String> {
    parse_limit(text).map_err(|e| e.to_string())
}

/// The header of the recorded pack: where, when and with which options it was recorded.
fn record_header(args: &ProxyArgs, listen: &str, upstream: &str, seed: u64) -> Vec<String> {
    let mut options = Vec::new();
    if args.redact_phi {
        options.push("--redact-phi".to_string());
    }
    options.push(format!("--record-limit {}", args.record_limit.unwrap_or_default()));
    for spec in &args.faults {
        options.push(format!("--fault {spec}"));
    }
    options.push(format!("--seed {seed}"));
    vec![
        format!("Recorded by hl7-harness proxy --record: clients on mllp://{listen}, upstream {upstream}."),
        format!("Started {}.", rfc3339(SystemTime::now())),
        format!("Options: {}.", options.join(" ")),
        "Messages are recorded as the clients sent them, replies as the upstream gave them \
         (before any fault rule acted)."
            .to_string(),
        if args.redact_phi {
            "Patient data redacted (--redact-phi): the files carry placeholders, not the values \
             that crossed."
                .to_string()
        } else {
            "NOT redacted: the files hold the messages as they crossed, patient data included."
                .to_string()
        },
    ]
}

/// Starts `--record`: the recording folder, the writer thread, and its tap on the proxy.
fn start_recording(
    args: &ProxyArgs,
    dir: &std::path::Path,
    listen: &str,
    upstream: &Upstream,
    seed: u64,
) -> anyhow::Result<Recording> {
    let redact: Option<Redact> = args.redact_phi.then(|| {
        let mut redactor = Redactor::default();
        Box::new(move |message: &[u8]| redactor.message(message)) as Redact
    });
    let schema = serde_json::to_string_pretty(&crate::scenario::json_schema()).ok();
    let options = RecordOptions {
        dir: dir.to_path_buf(),
        limit: args.record_limit.unwrap_or_default(),
        redact,
        header: record_header(args, listen, &upstream.url(), seed),
        // A TLS upstream needs the pack's target.tls, which the recording cannot write.
        target: upstream.tls.is_none().then(|| upstream.url()),
        schema,
        queue: QUEUE,
        queue_bytes: QUEUE_BYTES,
    };
    let notify = Box::new(|note: String| eprintln!("hl7-harness proxy: {note}"));
    start(options, notify).map_err(|e| anyhow::anyhow!("--record {}: {e}", dir.display()))
}

fn parse_fault(text: &str) -> Result<FaultSpec, String> {
    parse_spec(text).map_err(|e| e.to_string())
}

fn upstream(args: &ProxyArgs) -> anyhow::Result<Upstream> {
    let url = TargetUrl::parse(&args.upstream).map_err(|e| anyhow::anyhow!("--upstream {e}"))?;
    match url {
        TargetUrl::Mllp(addr) => Ok(Upstream { addr, tls: None }),
        TargetUrl::Mllps(addr) => {
            let tls = args.tls.client_tls();
            Ok(Upstream { addr, tls: Some(tls.connector()?) })
        }
        other => anyhow::bail!(
            "--upstream {:?}: expected mllp://HOST:PORT or mllps://HOST:PORT",
            other.to_string()
        ),
    }
}

pub fn run(args: &ProxyArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let upstream = upstream(args)?;
    let control = args.control.as_deref().map(loopback).transpose()?;
    if let Some(dir) = &args.report_dir {
        let holds_files = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
        if holds_files {
            anyhow::bail!(
                "--report-dir {}: the folder is not empty; choose another",
                dir.display()
            );
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("--report-dir {}: {e}", dir.display()))?;
    }
    let seed = seed_or_clock(args.seed);
    let events = EventLog::new(true);
    if let Some(path) = &args.log {
        events.add_file(path).map_err(|e| anyhow::anyhow!("--log {}: {e}", path.display()))?;
    }
    if let Some(dir) = &args.report_dir {
        let path = dir.join(EVENTS_FILE);
        events.add_file(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    let mut engine = Engine::new(seed);
    for spec in &args.faults {
        engine.add(spec.clone());
    }
    let options = ProxyOptions {
        upstream,
        max_frame_bytes: args.max_frame_bytes,
        connect_timeout: args.connect_timeout,
        idle_timeout: args.idle_timeout,
    };
    let started = SystemTime::now();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
        let listen = listener.local_addr()?.to_string();
        let control_listener = match control {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?,
            ),
            None => None,
        };
        let _ = writeln!(out, "seed {seed}");
        let _ = writeln!(out, "listening on mllp://{listen}");
        let _ = writeln!(out, "upstream {}", options.upstream.url());
        let access = match &control_listener {
            Some(l) => {
                let bound = l.local_addr()?;
                let access = ControlAccess::new(bound)?;
                let _ = writeln!(out, "control on http://{bound}");
                // On stderr, apart from the status lines a CI log keeps: whoever holds it
                // controls the faults.
                eprintln!("control token: {}", access.token());
                Some(access)
            }
            None => None,
        };
        for (i, spec) in args.faults.iter().enumerate() {
            let _ = writeln!(out, "rule {}: {spec}", i + 1);
        }
        let _ = out.flush();
        let upstream_url = options.upstream.url();
        let recording = match &args.record {
            Some(dir) => {
                let recording = start_recording(args, dir, &listen, &options.upstream, seed.0)?;
                let _ = writeln!(out, "recording into {}", dir.display());
                Some(recording)
            }
            None => None,
        };
        // Created after the status lines, so an outage rule's event follows them.
        let proxy = Proxy::new(engine, events, options);
        if let Some(recording) = &recording {
            proxy.record(recording.tap());
        }
        let (stop, _) = tokio::sync::watch::channel(false);
        let stopped = |stop: &tokio::sync::watch::Sender<bool>| {
            let mut seen = stop.subscribe();
            async move {
                let _ = seen.wait_for(|s| *s).await;
            }
        };
        let control = async {
            match control_listener.zip(access) {
                Some((l, access)) => {
                    serve_control(l, Arc::clone(&proxy), access, stopped(&stop)).await.map(drop)
                }
                None => Ok(()),
            }
        };
        // Connections on current-thread runtimes: the first 64 open at once one each, the
        // others one per core (see `serve_on_threads`); this runtime accepts, serves the
        // control API and the recorder.
        let lanes = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let proxied =
            serve_on_threads(listener, Arc::clone(&proxy), stopped(&stop), lanes, OWN_LANES);
        let signal = async {
            match args.duration {
                Some(d) => tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    () = tokio::time::sleep(d) => {}
                },
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            let _ = stop.send(true);
        };
        let (proxied, control, ()) = tokio::join!(proxied, control, signal);
        proxied?;
        control?;
        let stats = proxy.stats();
        let _ = writeln!(
            out,
            "stopped: {} connection(s), {} frame(s) up, {} down",
            stats.connections, stats.frames[0], stats.frames[1]
        );
        let mut record_error = None;
        if let (Some(recording), Some(dir)) = (recording, &args.record) {
            let summary = recording.finish().await;
            let _ = writeln!(
                out,
                "recorded {} message(s), {} reply(ies) on {} connection(s) into {}{}{}",
                summary.messages,
                summary.replies,
                summary.connections,
                dir.display(),
                match summary.dropped {
                    0 => String::new(),
                    n => format!("; INCOMPLETE: {n} frame(s) dropped (the recorder fell behind)"),
                },
                match &summary.stopped {
                    Some(why) => format!("; INCOMPLETE: stopped early: {why}"),
                    None => String::new(),
                },
            );
            record_error = summary.error;
        }
        if let Some(dir) = &args.report_dir {
            let rules = proxy.installed();
            let specs: Vec<String> = args.faults.iter().map(|s| s.to_string()).collect();
            let info = RunInfo {
                listen: &listen,
                upstream: &upstream_url,
                seed,
                started: &rfc3339(started),
                finished: &rfc3339(SystemTime::now()),
                rules: &rules,
                cli_specs: &specs,
                stats,
            };
            let path = dir.join(SUMMARY_FILE);
            std::fs::write(&path, summary(&info, &proxy.events))
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            let _ = writeln!(out, "report in {}", dir.display());
        }
        if let Some(error) = record_error {
            anyhow::bail!("--record: {error}; the recording is incomplete");
        }
        Ok(exit::OK)
    })
}
