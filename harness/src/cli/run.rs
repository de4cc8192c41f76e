//! `hl7-harness run`: loads scenario packs, runs them against the target (the built-in
//! reference endpoint by default) and prints the summary.

use super::exit;
use crate::checks::{generic_ids, CATALOGUE};
use crate::report::terminal::Terminal;
use crate::report::time::run_id;
use crate::report::{hash_inputs, write_report, RunRecord};
use crate::runner::{run as run_packs, CaseOutcome, Reporter, RunEvent, RunOptions, Verdict};
use crate::scenario::{load_packs_for, LoadOptions};
use crate::target::defect::{parse_defect, Defects};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Scenario files, pack directories (holding *.yaml) or directories of packs
    /// [default: scenarios]. A scenario file is at most 8 MiB, nests at most 64 levels and
    /// expands (aliases included) to at most 1,000,000 values and 32 MiB of text. A pack runs
    /// commands (command: probes, sut.command): run only packs you trust as you trust code.
    pub paths: Vec<PathBuf>,
    /// The target for every scenario: builtin, mllp://HOST:PORT, hllp://HOST:PORT or
    /// http://HOST:PORT/PATH (default: each scenario's target.url, else builtin). HLLP block
    /// settings come from the scenario's target.hllp (checksum: xor-decimal|sum-mod256, span:
    /// data|start-block-to-data, max_block_bytes), for both the harness and the built-in
    /// endpoint. http://USER:PASSWORD@HOST:PORT/PATH sends HTTP Basic credentials (over the
    /// scenario's auth.basic); they are never printed or written into the report. MLLP and
    /// HLLP have no authentication: a user or password in their URL is refused.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// The target profile: what the system under test declares (versions, message types,
    /// processing ids, acknowledgment modes, MLLP release, concurrency, duplicates, state API).
    /// Grading is HL7 v2 ∩ this profile; without one (and without a scenario's
    /// target.profile), every answer the standard lets a receiver choose passes. Reports name
    /// it with its sha256. `hl7-harness schema --profile` prints its JSON Schema.
    #[arg(long = "target-profile", value_name = "FILE")]
    pub target_profile: Option<PathBuf>,
    /// Switch on a defect of the built-in endpoint (repeatable), to see which check catches it;
    /// `serve --list-defects` lists them.
    #[arg(long = "target-defect", value_name = "NAME", value_parser = parse_defect)]
    pub target_defects: Vec<crate::target::defect::Defect>,
    /// Seed of every generated message and control id (default: from the clock, printed).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Cases run at once, over all the scenario files that run side by side (a file's serial
    /// cases run one by one; files that need the packet-level lab, measure load or play the
    /// receiver run alone, afterwards). A target other than the built-in endpoint gets one
    /// connection at a time unless its profile declares `concurrent_connections: true` (MLLP
    /// lets a receiver serve one connection at a time).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub jobs: usize,
    /// Base URL of the target's JSON state endpoint for effect probes (`{state}` in probes),
    /// e.g. the one `serve --state` offers; overrides the target profile's state.url and the
    /// scenarios' target.state. Where records are under it is the profile's state: mapping.
    #[arg(long, value_name = "URL")]
    pub state: Option<String>,
    /// Only cases whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Leave out cases whose name contains this text (repeatable; applied after --filter).
    #[arg(long, value_name = "TEXT")]
    pub exclude: Vec<String>,
    /// Load and check the scenarios without connecting to anything. The run's environment
    /// variables need not be set: `${VAR}` without a default reads as `unset-variable`, and the
    /// variables the run needs are listed (set, defaulted, or not set).
    #[arg(long)]
    pub check: bool,
    /// Let scenario files read files (file:, glob:, TLS files) outside their pack's folder and
    /// the nearest corpus/ folder above it. Off by default: a pack is trusted like code (it runs
    /// command: probes and sut.command), but it must not copy other files of this machine into
    /// a report unless you say so.
    #[arg(long)]
    pub allow_files_outside_pack: bool,
    /// Print every case's results as one JSON object per line instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Also list the warnings of cases that passed, and what the built-in endpoint logged.
    #[arg(long)]
    pub verbose: bool,
    /// List the conformance checks (id, severity, HL7 versions, rule) and exit.
    #[arg(long)]
    pub list_checks: bool,
    /// With --list-checks: print the rulebook as Markdown (docs/rulebook.md).
    #[arg(long, requires = "list_checks")]
    pub markdown: bool,
    /// Folder for the report (results.json, junit.xml, summary.md, report.html, manifest.json)
    /// [default: reports/<run-id>, run-id = YYYYMMDD-HHMMSS-<seed> in UTC].
    #[arg(long, value_name = "DIR", conflicts_with = "no_report")]
    pub report_dir: Option<PathBuf>,
    /// Write no report folder (the terminal summary only).
    #[arg(long)]
    pub no_report: bool,
    /// Replace patient data (PID, NK1, PV1 identifiers, names, birth date, address, phone) with
    /// stable placeholders such as [name-1] in the report files and the output.
    #[arg(long)]
    pub redact_phi: bool,
    /// Compare every case's snapshot with the accepted ones in DIR/<pack>/*.snap: new, changed
    /// and missing snapshots are listed with a diff and fail the run (exit 1) unless --accept.
    /// Uses the seed the baseline was accepted with unless --seed is given. `--baseline` alone
    /// means reports/baseline (put it after the scenario paths).
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "reports/baseline")]
    pub baseline: Option<PathBuf>,
    /// With --baseline: write this run's snapshots as the accepted baseline (and its seed).
    #[arg(long, requires = "baseline")]
    pub accept: bool,
    /// Switch on a defect of the sender under test in receiver-role scenarios (repeatable), to
    /// see which check catches it. Every SUT command gets the names, comma separated, in the
    /// environment variable HL7H_SUT_DEFECTS (empty without any), and `--defect NAME` per name
    /// where its sut.command says `{defects}`: so an external sender can switch on bugs of its
    /// own, of any name. For the reference sender (`{harness} send … {defects}`) the names must
    /// be its defects: `send --list-defects` lists them.
    #[arg(long = "sut-defect", value_name = "NAME", value_parser = parse_sut_defect)]
    pub sut_defects: Vec<String>,
    /// Run only the K-th of N disjoint parts of the cases (e.g. 2/4), for a CI matrix; join the
    /// shard reports with `report merge`.
    #[arg(long, value_name = "K/N", value_parser = crate::runner::Shard::parse)]
    pub shard: Option<crate::runner::Shard>,
}

/// Exit 0 when no error-severity check failed, 1 when one did, 2 for scenario errors, 3 when the
/// target could not be reached at all.
pub fn run(args: &RunArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    if args.list_checks {
        if args.markdown {
            write!(out, "{}", crate::checks::rulebook::document())?;
            return Ok(exit::OK);
        }
        for check in CATALOGUE {
            writeln!(out, "{:<26} {:<8} {}", check.id, check.severity.to_string(), check.summary)?;
            writeln!(out, "{:<35} versions: {}", "", check.versions)?;
            writeln!(out, "{:<35} rule: {}", "", check.rule)?;
            if !check.note.is_empty() {
                writeln!(out, "{:<35} note: {}", "", check.note)?;
            }
        }
        return Ok(exit::OK);
    }
    let paths =
        if args.paths.is_empty() { vec![PathBuf::from("scenarios")] } else { args.paths.clone() };
    let known = generic_ids();
    let access = if args.allow_files_outside_pack {
        crate::scenario::FileAccess::Anywhere
    } else {
        crate::scenario::FileAccess::PackOnly
    };
    let load = || -> Result<_, ()> {
        let profile = match &args.target_profile {
            Some(path) => match crate::scenario::load_profile(path) {
                Ok(profile) => Some(profile),
                Err(error) => {
                    eprintln!("hl7-harness: error: --target-profile {error}");
                    return Err(());
                }
            },
            None => None,
        };
        // --check runs nothing, so it needs none of the run's secrets: variables that are not
        // set are listed instead of refused.
        let options = LoadOptions { profile: profile.as_ref(), unset_allowed: args.check };
        match load_packs_for(&paths, &known, access, options) {
            Ok(packs) => Ok((profile, packs)),
            Err(errors) => {
                for error in &errors {
                    eprintln!("hl7-harness: error: {error}");
                }
                eprintln!("hl7-harness: {} scenario error(s); nothing was run", errors.len());
                Err(())
            }
        }
    };
    let Ok((profile, packs)) = load() else { return Ok(exit::USAGE) };
    if let Err(error) = check_sut_defects(&packs, &args.sut_defects) {
        eprintln!("hl7-harness: error: {error}");
        return Ok(exit::USAGE);
    }
    if args.check {
        let files: usize = packs.iter().map(|p| p.scenarios.len()).sum();
        let cases: usize = packs
            .iter()
            .flat_map(|p| &p.scenarios)
            .map(|s| crate::runner::expand(s, 0, 0).len() + s.file.receive.len())
            .sum();
        writeln!(out, "ok: {} pack(s), {files} scenario file(s), {cases} case(s)", packs.len())?;
        let mut unset: Vec<String> =
            packs.iter().flat_map(|p| &p.scenarios).flat_map(|s| s.unset.clone()).collect();
        unset.sort();
        unset.dedup();
        write!(out, "{}", environment_needed(&packs, &unset))?;
        return Ok(exit::OK);
    }
    // Checked before the run: writing over a report (perhaps a signed one) would leave a folder
    // whose files no longer match what was signed.
    if let Some(dir) = args.report_dir.as_ref().filter(|_| !args.no_report) {
        if dir.join(crate::report::manifest::FILE).exists() {
            anyhow::bail!(
                "--report-dir {} holds a report already; choose another folder or remove it",
                dir.display()
            );
        }
    }
    if let Some(target) = &args.target {
        crate::runner::TargetUrl::parse_with_credentials(target)
            .map_err(|e| anyhow::anyhow!("--target {e}"))?;
    }
    // A baseline's snapshots hold generated values, so a comparison needs the seed it was
    // accepted with; an explicit --seed still wins (and the differences will show it).
    let baseline_seed = match &args.baseline {
        Some(dir) => crate::report::baseline::read_meta(dir)?.map(|meta| meta.seed),
        None => None,
    };
    let seed = args.seed.or(baseline_seed).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64 % 1_000_000_000)
            .unwrap_or(0)
    });
    let options = RunOptions {
        profile,
        target: args.target.clone(),
        defects: Defects::of(args.target_defects.iter().copied()),
        seed,
        jobs: args.jobs.max(1),
        filter: args.filter.clone(),
        exclude: args.exclude.clone(),
        state: args.state.clone(),
        shard: args.shard,
        sut_defects: args.sut_defects.clone(),
        harness: None,
    };
    let json = args.json;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let redact_phi = args.redact_phi;
    let reporters = std::sync::Mutex::new(Reporters {
        progress: Progress { bar: progress_bar(json) },
        // With --redact-phi the lines are printed after the run, when every value is known.
        json_lines: json.then(|| JsonLines { deferred: redact_phi, text: String::new() }),
        terminal: (!json).then(|| Terminal::new(args.verbose)),
        redact_phi,
        redacted: None,
    });
    let sink = |event: &RunEvent<'_>| {
        reporters.lock().unwrap_or_else(std::sync::PoisonError::into_inner).report(event)
    };
    let started = std::time::SystemTime::now();
    let outcome = runtime.block_on(run_packs(&packs, &options, &sink));
    let finished = std::time::SystemTime::now();
    let reporters = reporters.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    reporters.progress.bar.finish_and_clear();
    let outcome = outcome?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    let outcome = reporters.redacted.unwrap_or(outcome);
    if let Some(lines) = &reporters.json_lines {
        write!(out, "{}", lines.text)?;
    }
    if let Some(terminal) = &reporters.terminal {
        write!(out, "{}", terminal.text)?;
    }
    let baseline = match &args.baseline {
        Some(dir) => Some(compare_baseline(dir, &outcome, args, finished)?),
        None => None,
    };
    if let Some(comparison) = baseline.as_ref().filter(|_| !json) {
        write!(out, "{}", crate::report::terminal::baseline(comparison))?;
    }
    if !args.no_report {
        let record = RunRecord {
            outcome: &outcome,
            run_id: run_id(started, seed),
            started,
            finished,
            packs: hash_inputs(&packs)?,
            phi_redacted: redact_phi,
            baseline: baseline.clone(),
        };
        let dir = match &args.report_dir {
            Some(dir) => dir.clone(),
            None => fresh_dir(&record.run_id)?,
        };
        write_report(&dir, &record)?;
        if !json {
            writeln!(out, "report: {}", dir.display())?;
        }
    }
    if outcome.unreachable {
        eprintln!("hl7-harness: the target could not be reached by any case");
        return Ok(exit::UNREACHABLE);
    }
    if outcome.cases().next().is_none() {
        if outcome.skipped.is_empty() {
            eprintln!("hl7-harness: no case matched (check --filter and --exclude)");
        } else {
            // Nothing ran, so nothing passed: a gate must not read this as success.
            eprintln!("hl7-harness: no case ran: every selected file was skipped (see above)");
        }
        return Ok(exit::USAGE);
    }
    let regressed = baseline.as_ref().is_some_and(|b| b.differs() && !b.accepted);
    Ok(if outcome.failed() || regressed { exit::FINDINGS } else { exit::OK })
}

/// What `run --check` says about the environment: every variable the packs read through
/// `${VAR}`, whether it is set, and the ones the run needs that are not.
fn environment_needed(packs: &[crate::scenario::Pack], unset: &[String]) -> String {
    let mut read: Vec<&str> = packs
        .iter()
        .flat_map(|p| &p.scenarios)
        .flat_map(|s| &s.environment)
        .map(|r| r.name.as_str())
        .filter(|name| !unset.iter().any(|u| u == name))
        .collect();
    read.sort();
    read.dedup();
    let mut out = String::new();
    if !read.is_empty() {
        let described: Vec<String> = read
            .iter()
            .map(|name| match std::env::var_os(name) {
                Some(_) => format!("{name} (set)"),
                None => format!("{name} (not set: its default is used)"),
            })
            .collect();
        out.push_str(&format!("environment read: {}\n", described.join(", ")));
    }
    if !unset.is_empty() {
        out.push_str(&format!(
            "environment the run needs, not set here: {} (run refuses to start without them)\n",
            unset.join(", ")
        ));
    }
    out
}

/// A `--sut-defect` name: letters, digits, `-`, `_` and `.`, so that it passes unchanged as one
/// argument and inside a comma-separated variable.
fn parse_sut_defect(name: &str) -> Result<String, String> {
    let fits = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if name.is_empty() || !name.chars().all(fits) {
        return Err(format!("{name:?}: a defect name is letters, digits, '-', '_' and '.'"));
    }
    Ok(name.to_string())
}

/// The names given to the reference sender (a sut.command `{harness} send … {defects}`) must
/// be its defects: an unknown one would only make every case fail with the sender's usage
/// error. Other senders take any name.
fn check_sut_defects(packs: &[crate::scenario::Pack], names: &[String]) -> Result<(), String> {
    let reference = packs.iter().flat_map(|p| &p.scenarios).any(|scenario| {
        scenario.file.receiver.sut_command.as_ref().is_some_and(|command| {
            let words: Vec<&str> = command.iter().map(String::as_str).collect();
            words.first() == Some(&"{harness}")
                && words.get(1) == Some(&"send")
                && words.contains(&"{defects}")
        })
    });
    if !reference {
        return Ok(());
    }
    for name in names {
        crate::target::sender_defect::parse_sender_defect(name)
            .map_err(|e| format!("--sut-defect: {e} (the reference sender gets it)"))?;
    }
    Ok(())
}

/// Compares the run's snapshots with the baseline in `dir`; with `--accept` makes them the
/// baseline, otherwise leaves the differing ones as `.snap.new` for `cargo insta review`.
fn compare_baseline(
    dir: &std::path::Path,
    outcome: &crate::runner::RunOutcome,
    args: &RunArgs,
    finished: std::time::SystemTime,
) -> anyhow::Result<crate::report::baseline::Comparison> {
    use crate::report::baseline;
    let snapshots = crate::report::snapshot::snapshots(outcome);
    let complete = args.filter.is_none() && args.exclude.is_empty() && args.shard.is_none();
    let mut comparison = baseline::compare(dir, &snapshots, complete)?;
    if args.accept {
        let meta = baseline::BaselineMeta {
            schema: baseline::META_SCHEMA.into(),
            seed: outcome.seed,
            harness_version: crate::report::record::HARNESS_VERSION.into(),
            target: outcome.target.clone(),
            accepted: crate::report::time::rfc3339(finished),
        };
        baseline::accept(dir, &snapshots, &mut comparison, &meta)?;
    } else {
        baseline::write_pending(dir, &snapshots, &comparison)?;
    }
    Ok(comparison)
}

/// `reports/<run-id>`, or `reports/<run-id>-2`, … when two runs start in the same second with
/// the same seed: the folder is claimed with `create_dir`, so concurrent runs never share one.
pub(super) fn fresh_dir(run_id: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all("reports")?;
    for n in 1.. {
        let name = if n == 1 { run_id.to_string() } else { format!("{run_id}-{n}") };
        let dir = PathBuf::from("reports").join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("some numbered report folder is free")
}

/// Whether live progress goes to stderr: only on a terminal, never in CI (`CI` set) or with
/// `--json`, so logs and machine output stay clean.
pub(super) fn show_progress(json: bool) -> bool {
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    !json && !in_ci && std::io::stderr().is_terminal()
}

/// Case progress on stderr when it is a terminal; hidden in CI (`CI` set), with `--json`, or
/// when stderr is piped, so logs and machine output stay clean. Its length is set when the run
/// starts and says how many cases it selected.
fn progress_bar(json: bool) -> ProgressBar {
    if !show_progress(json) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} cases {elapsed}") {
        bar.set_style(style);
    }
    bar
}

/// The reporters of `run`, fed by the runner's events. With `--redact-phi` they see the run's
/// outcome only redacted: the finished run is redacted here, once, before any of them reads it.
struct Reporters {
    progress: Progress,
    json_lines: Option<JsonLines>,
    terminal: Option<Terminal>,
    redact_phi: bool,
    /// The outcome as the reporters saw it at the end (with `--redact-phi`).
    redacted: Option<crate::runner::RunOutcome>,
}

impl Reporters {
    fn forward(&mut self, event: &RunEvent<'_>) {
        self.progress.report(event);
        if let Some(lines) = &mut self.json_lines {
            lines.report(event);
        }
        if let Some(terminal) = &mut self.terminal {
            terminal.report(event);
        }
    }
}

impl Reporter for Reporters {
    fn report(&mut self, event: &RunEvent<'_>) {
        match event {
            RunEvent::RunFinished(outcome) if self.redact_phi => {
                let redacted = crate::report::redact::redact(outcome);
                self.forward(&RunEvent::RunFinished(&redacted));
                self.redacted = Some(redacted);
            }
            // The endpoint's lines may quote the messages it read: not shown when redacting.
            RunEvent::EndpointLog { .. } if self.redact_phi => {}
            other => self.forward(other),
        }
    }
}

/// The progress bar: one step per case (and load phase) finished.
struct Progress {
    bar: ProgressBar,
}

impl Reporter for Progress {
    fn report(&mut self, event: &RunEvent<'_>) {
        match event {
            RunEvent::RunStarted { cases, .. } => self.bar.set_length(*cases as u64),
            RunEvent::FileStarted { .. }
            | RunEvent::FileSkipped { .. }
            | RunEvent::CaseStarted { .. }
            | RunEvent::EndpointLog { .. }
            | RunEvent::FileFinished { .. } => {}
            RunEvent::CaseFinished(_) | RunEvent::LoadPhaseFinished { .. } => self.bar.inc(1),
            RunEvent::RunFinished(_) => self.bar.finish_and_clear(),
        }
    }
}

/// `--json`: one line per case on stdout as it finishes; `deferred` (with `--redact-phi`): all
/// of them in [`JsonLines::text`] when the run is finished, redacted.
struct JsonLines {
    deferred: bool,
    text: String,
}

impl Reporter for JsonLines {
    fn report(&mut self, event: &RunEvent<'_>) {
        match event {
            RunEvent::RunStarted { .. }
            | RunEvent::FileStarted { .. }
            | RunEvent::FileSkipped { .. }
            | RunEvent::CaseStarted { .. }
            // Machine output carries the cases only.
            | RunEvent::EndpointLog { .. }
            | RunEvent::FileFinished { .. } => {}
            RunEvent::CaseFinished(case) | RunEvent::LoadPhaseFinished { case, .. } => {
                if !self.deferred {
                    println!("{}", case_json(case));
                }
            }
            RunEvent::RunFinished(outcome) => {
                if self.deferred {
                    for case in outcome.cases() {
                        self.text.push_str(&format!("{}\n", case_json(case)));
                    }
                }
            }
        }
    }
}

fn case_json(case: &CaseOutcome) -> serde_json::Value {
    let verdict = match case.verdict() {
        Verdict::Passed => "passed",
        Verdict::Warned => "warned",
        Verdict::Failed => "failed",
    };
    serde_json::json!({
        "pack": case.pack,
        "scenario": case.scenario,
        "file": case.file.display().to_string(),
        "case": case.name,
        "verdict": verdict,
        "seed": case.seed,
        "sent": case.sent,
        "millis": case.duration.as_millis() as u64,
        "failures": case.failures().collect::<Vec<_>>(),
        "checks": case.results.len(),
        "reproduce": case.reproduce,
    })
}
