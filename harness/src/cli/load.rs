//! `hl7-harness load`: drives a target with a testing load, open loop (`--rate`) or closed loop,
//! shows live progress on a terminal, prints the account and writes the report folder (a load
//! section in summary.md, report.html with the latency-over-time chart, results.json).

use super::exit;
use super::generate::parse_mutation;
use super::hllp_args::HllpArgs;
use super::input::{expand, InputFile};
use super::seed::seed_or_clock;
use crate::generator::Mutation;
use crate::load::{
    self, Client, LoadPhase, LoadTarget, MessageSource, Mode, Plan, SourceOptions, Threshold,
};
use crate::observation::CaseObservation;
use crate::report::record::{sha256_hex, InputFile as ReportInput, PackInputs};
use crate::report::time::run_id;
use crate::report::{hash_inputs, write_report, RunRecord};
use crate::runner::{Builtin, CaseOutcome, PackOutcome, RunOutcome};
use crate::scenario::{load_file, Pack};
use crate::target::defect::{parse_defect, Defect, Defects};
use crate::transport::connection::Timeouts;
use crate::transport::userinfo::redact;
use crate::vocab::{parse_duration, Seed};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Message files or directories (their *.hl7 files, e.g. corpus/); the messages are sent in
    /// turn, each with a fresh MSH-10.
    pub files: Vec<PathBuf>,
    /// Where to send: mllp://HOST:PORT, mllps://HOST:PORT, hllp://HOST:PORT,
    /// http(s)://HOST:PORT/PATH, or builtin (the reference endpoint, started in-process).
    /// http(s)://USER:PASSWORD@HOST… sends HTTP Basic credentials, never printed or written
    /// into the report; MLLP and HLLP have no authentication, so a user or password in their
    /// URL is refused.
    #[arg(long, value_name = "URL")]
    pub target: String,
    /// Also (or instead) send the message templates of this scenario file.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// With --scenario: only these templates (repeatable) [default: all].
    #[arg(long = "template", value_name = "NAME", requires = "scenario")]
    pub templates: Vec<String>,
    /// Let the --scenario file read files outside its folder and the nearest corpus/ folder
    /// above it (as `run --allow-files-outside-pack`).
    #[arg(long, requires = "scenario")]
    pub allow_files_outside_pack: bool,
    /// Open loop: messages per second, sent on schedule whether or not the target keeps up
    /// (latency counts from when each was due). Without it: closed loop.
    #[arg(long, value_name = "N[/s]", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Connections. Closed loop: each sends its next message after the ACK. Open loop: the
    /// pool the schedule's messages go out on, one at a time per connection.
    #[arg(long, value_name = "C", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connections: u32,
    /// How long to send after the warmup (e.g. 30s, 1h) [default: 10s unless --count]. Nothing
    /// is sent after it; messages still out get at most --ack-timeout more. Open loop: messages
    /// due before the end that no connection was free to send are counted as behind schedule.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop after this many messages (warmup included).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Send for this long first: accounted, but kept out of latency and throughput.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// How long to wait for each ACK; a message without one by then is lost.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub ack_timeout: Duration,
    /// How long to wait for a connection.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Patient ids (PID-3.1) cycle through this many values; 0 keeps the templates' ids.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub patients: u64,
    /// A generator mutation applied to every template once (repeatable): a name or JSON, as in
    /// `generate --mutation`.
    #[arg(long = "mutation", value_name = "NAME|JSON", value_parser = parse_mutation)]
    pub mutations: Vec<Mutation>,
    /// Seed of the MSH-10 prefix, patient ids and mutations (default: from the clock).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// A threshold judged as a check (repeatable): `p99 < 200ms`, `lost == 0`,
    /// `throughput >= 50/s`; `lost == 0` applies unless a lost threshold is given.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<Threshold>,
    /// Length of each point of the throughput and latency timeline.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    /// With --target builtin: switch on a defect of the reference endpoint (repeatable).
    #[arg(long = "target-defect", value_name = "NAME", value_parser = parse_defect)]
    pub target_defects: Vec<Defect>,
    #[command(flatten)]
    pub tls: super::client_args::TlsClientArgs,
    #[command(flatten)]
    pub http_auth: super::client_args::HttpAuthArgs,
    #[command(flatten)]
    pub hllp: HllpArgs,
    /// Folder for the report [default: reports/<run-id>].
    #[arg(long, value_name = "DIR", conflicts_with = "no_report")]
    pub report_dir: Option<PathBuf>,
    /// Write no report folder.
    #[arg(long)]
    pub no_report: bool,
    /// Print the result as one JSON object (the load section of results.json).
    #[arg(long)]
    pub json: bool,
}

/// `200`, `200/s` or `12.5/s`.
fn parse_rate(text: &str) -> Result<f64, String> {
    let number = text.trim().strip_suffix("/s").unwrap_or(text.trim());
    number
        .parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r > 0.0)
        .ok_or_else(|| format!("{text:?}: expected messages per second, e.g. 200 or 200/s"))
}

/// Template messages: (label, bytes).
type Templates = Vec<(String, Vec<u8>)>;

/// The templates and the packs they came from (for the report's hashes).
fn templates(args: &LoadArgs) -> anyhow::Result<(Templates, Vec<PackInputs>)> {
    let mut templates = Vec::new();
    let mut packs = Vec::new();
    let mut files = Vec::new();
    for path in expand(&args.files)? {
        let file = InputFile::read(&path)?;
        files.push(ReportInput {
            kind: crate::report::record::InputKind::Message,
            path: file.path.clone(),
            sha256: sha256_hex(&file.bytes),
        });
        for index in 0..file.messages.len() {
            let message = file.message(index)?;
            templates.push((format!("{}#{}", file.path, index + 1), message.as_bytes().to_vec()));
        }
    }
    if !files.is_empty() {
        let lines: String = files.iter().map(|f| format!("{}  {}\n", f.sha256, f.path)).collect();
        packs.push(PackInputs { name: "load".into(), sha256: sha256_hex(lines.as_bytes()), files });
    }
    if let Some(path) = &args.scenario {
        let access = if args.allow_files_outside_pack {
            crate::scenario::FileAccess::Anywhere
        } else {
            crate::scenario::FileAccess::PackOnly
        };
        let scenario =
            load_file(path, &crate::checks::generic_ids(), access).map_err(|errors| {
                let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                anyhow::anyhow!("{}", lines.join("\n"))
            })?;
        for name in &args.templates {
            if !scenario.file.templates.contains_key(name) {
                let known: Vec<&String> = scenario.file.templates.keys().collect();
                anyhow::bail!("--template {name:?}: not in {} (it has {known:?})", path.display());
            }
        }
        for (name, messages) in &scenario.file.templates {
            if args.templates.is_empty() || args.templates.contains(name) {
                templates.extend(
                    messages.iter().filter(|m| !m.raw).map(|m| (m.label.clone(), m.bytes.clone())),
                );
            }
        }
        let dir = path.parent().map(PathBuf::from).unwrap_or_default();
        let pack = Pack { name: scenario.name.clone(), dir, scenarios: vec![scenario] };
        packs.extend(hash_inputs(&[pack])?);
    }
    if templates.is_empty() {
        anyhow::bail!("no messages to send: give message files or directories, or --scenario");
    }
    Ok((templates, packs))
}

pub fn run(args: &LoadArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    if let Some(dir) = args.report_dir.as_ref().filter(|_| !args.no_report) {
        if dir.join(crate::report::manifest::FILE).exists() {
            anyhow::bail!(
                "--report-dir {} holds a report already; choose another folder",
                dir.display()
            );
        }
    }
    let builtin = args.target.trim() == "builtin";
    if !builtin && !args.target_defects.is_empty() {
        anyhow::bail!(
            "--target-defect switches on defects of the built-in endpoint: use --target builtin"
        );
    }
    let (templates, packs) = templates(args)?;
    let seed = seed_or_clock(args.seed);
    let options =
        SourceOptions { seed, patients: args.patients, mutations: args.mutations.clone() };
    let source = Arc::new(MessageSource::new(&templates, &options)?);
    let tls = if args.target.starts_with("mllps://") || args.target.starts_with("https://") {
        let client = args.tls.client_tls();
        Some(client.connector()?)
    } else {
        None
    };
    let basic = args.http_auth.basic()?;
    let plan = Plan {
        mode: args.rate.map(|rate| Mode::Open { rate }).unwrap_or(Mode::Closed),
        connections: args.connections as usize,
        duration: args.duration.or(if args.count.is_none() {
            Some(Duration::from_secs(10))
        } else {
            None
        }),
        count: args.count,
        warmup: args.warmup,
        slice: args.interval.max(Duration::from_millis(100)),
    };
    let timeouts =
        Timeouts { connect: args.connect_timeout, read: args.ack_timeout, ..Timeouts::default() };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let started = std::time::SystemTime::now();
    let (phase, target_shown) = runtime.block_on(async {
        let running = if builtin {
            let defects = Defects::of(args.target_defects.iter().copied());
            Some(Builtin::start(&defects, None, args.hllp.options()).await?)
        } else {
            None
        };
        let url = match &running {
            Some(b) => format!("mllp://{}", b.mllp_addr),
            None => args.target.clone(),
        };
        let target = LoadTarget::parse(&url, tls, basic, args.hllp.options())
            .map_err(|e| anyhow::anyhow!("--target {e}"))?;
        // What is shown and written into the report: never the URL's userinfo.
        let url = redact(&url);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = stop.send(true);
            }
        });
        let bar = progress_bar(args.json);
        let shown = bar.clone();
        let progress: Arc<dyn Fn(&load::Progress) + Send + Sync> =
            Arc::new(move |p: &load::Progress| shown.set_message(progress_line(p)));
        let connect = || Client::new(target.clone(), timeouts);
        // Plain MLLP connections on a thread each, the others on current-thread runtimes of
        // their own, one per core: the progress bar, Ctrl-C and a built-in target stay on
        // this runtime.
        let spread = load::Spread::for_load(plan.connections);
        let finished = load::run_spread(&plan, source, connect, stopped, progress, spread).await;
        bar.finish_and_clear();
        if let Some(b) = running {
            b.stop().await;
        }
        let shown = if builtin { format!("builtin ({url})") } else { url.clone() };
        let phase = LoadPhase {
            pack: "load".into(),
            scenario: "load".into(),
            name: "load".into(),
            target: shown.clone(),
            plan: plan.clone(),
            thresholds: args.thresholds.clone(),
            finished,
        };
        Ok::<_, anyhow::Error>((phase, shown))
    })?;
    let finished_at = std::time::SystemTime::now();
    runtime.shutdown_timeout(Duration::from_secs(2));
    let account = &phase.finished.account;
    let unreachable = account.sent == 0 && account.not_sent > 0;
    let results = crate::checks::load::phase(&phase);
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&crate::report::load::json(&phase))?)?;
    } else {
        write!(out, "{}", crate::report::load::terminal(&phase, &results))?;
    }
    let failed = results.iter().any(|r| r.is_error());
    if !args.no_report {
        let case = CaseOutcome {
            pack: "load".into(),
            scenario: "load".into(),
            file: args.scenario.clone().unwrap_or_default(),
            name: "load".into(),
            seed,
            sent: templates.iter().map(|(label, _)| label.clone()).collect(),
            results,
            observation: CaseObservation::default(),
            duration: phase.finished.elapsed,
            reproduce: reproduce(args, seed),
            position: (0, 0),
            vary: None,
            output_redaction: None,
        };
        let outcome = RunOutcome {
            packs: vec![PackOutcome { name: "load".into(), cases: vec![case] }],
            seed,
            target: target_shown,
            unreachable,
            skipped: Vec::new(),
            shard: None,
            load: vec![phase],
            profiles: Vec::new(),
        };
        let record = RunRecord {
            outcome: &outcome,
            run_id: run_id(started, seed),
            started,
            finished: finished_at,
            packs,
            phi_redacted: false,
            baseline: None,
        };
        let dir = match &args.report_dir {
            Some(dir) => dir.clone(),
            None => {
                crate::report::live::fresh_dir(std::path::Path::new("reports"), &record.run_id)?
            }
        };
        write_report(&dir, &record)?;
        if !args.json {
            writeln!(out, "report: {}", dir.display())?;
        }
    }
    if unreachable {
        eprintln!("hl7-harness: no message could be sent to {}", redact(&args.target));
        return Ok(exit::UNREACHABLE);
    }
    Ok(if failed { exit::FINDINGS } else { exit::OK })
}

/// The command line that runs the same load again (same seed, same messages).
fn reproduce(args: &LoadArgs, seed: Seed) -> String {
    let mut parts: Vec<String> = vec!["hl7-harness load".into()];
    parts.extend(args.files.iter().map(|f| f.display().to_string()));
    parts.extend(["--target".into(), redact(&args.target), "--seed".into(), seed.to_string()]);
    if let Some(rate) = args.rate {
        parts.extend(["--rate".into(), rate.to_string()]);
    }
    parts.extend(["--connections".into(), args.connections.to_string()]);
    if let Some(d) = args.duration {
        parts.extend(["--duration".into(), format!("{}ms", d.as_millis())]);
    }
    if let Some(c) = args.count {
        parts.extend(["--count".into(), c.to_string()]);
    }
    parts.join(" ")
}

/// Live progress on stderr when it is a terminal; hidden in CI, with --json, or when piped.
fn progress_bar(json: bool) -> ProgressBar {
    if !crate::report::live::show_progress(json) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed} {msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// `sent 1200 · AA 1190 AE 2 · timeouts 1 · errors 0 · 200.0/s · p99 1.21 ms`.
fn progress_line(p: &load::Progress) -> String {
    let codes: Vec<String> = p.codes.iter().map(|(code, n)| format!("{code} {n}")).collect();
    let codes = if codes.is_empty() { "no ACK yet".to_string() } else { codes.join(" ") };
    format!(
        "sent {} · {codes} · timeouts {} · errors {} · {:.1}/s · p99 {:.2} ms",
        p.sent,
        p.timeouts,
        p.errors,
        p.rate,
        p.p99.as_secs_f64() * 1000.0
    )
}
