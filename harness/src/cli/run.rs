//! `hl7-harness run`: loads scenario packs, runs them against the target (the built-in
//! reference endpoint by default) and prints the summary.

use super::exit;
use super::seed::seed_or_clock;
use crate::checks::{generic_ids, CATALOGUE};
use crate::report::hash_inputs;
use crate::report::live::{BaselineOptions, FolderOptions, LiveOptions, RunReporters};
use crate::runner::{run as run_packs, Reporter, RunEvent, RunOptions};
use crate::scenario::{load_packs_for, LoadOptions};
use crate::target::defect::{parse_defect, Defects};
use crate::vocab::Seed;
use std::io::Write;
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
    /// Cases run at once, over all the scenario files that run side by side, the longest first
    /// by their declared waits (a file's serial cases run one by one; files that measure
    /// load, a receiver file on a fixed port and a through file whose cases share an engine
    /// or an address run alone, afterwards; a file that needs the packet-level lab has a lab
    /// of its own and runs beside the others). A target other than the built-in endpoint gets
    /// one connection at a time unless its profile declares `concurrent_connections: true` (MLLP
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
    /// Let scenario files read files (file:, glob:, TLS files, a through destination's read
    /// dir:) outside their pack's folder and the nearest corpus/ folder above it. Off by default: a pack is trusted like code (it runs
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
    /// Compare every case's snapshot with the accepted ones in DIR/<pack>/*.snap (a through
    /// case's holds every output of the engine, field by field): new, changed and missing
    /// snapshots are listed with a diff and fail the run (exit 1) unless --accept.
    /// Uses the seed the baseline was accepted with unless --seed is given. `--baseline` alone
    /// means reports/baseline (put it after the scenario paths).
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "reports/baseline")]
    pub baseline: Option<PathBuf>,
    /// With --baseline: write this run's snapshots as the accepted baseline (and its seed).
    #[arg(long, requires = "baseline")]
    pub accept: bool,
    /// Record a through pack into DIR/<pack>/: per through case, the inputs as sent and every
    /// output as it arrived, as flows that expect exactly those outputs (MSH-7, MSH-10 and the
    /// case's ignore:/matches: paths ignored). Run it against a new engine version to see
    /// every field that changed.
    #[arg(long, value_name = "DIR")]
    pub record_through: Option<PathBuf>,
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
            .map(|s| crate::runner::expand(s, Seed(0), 0).len() + s.file.receive.len())
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
        Some(dir) => crate::report::baseline::read_meta(dir)?.map(|meta| meta.seed.0),
        None => None,
    };
    let seed = seed_or_clock(args.seed.or(baseline_seed));
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
    // Hashed before the run: the report names the files as they were when the run read them.
    let folder = if args.no_report {
        None
    } else {
        Some(FolderOptions {
            dir: args.report_dir.clone(),
            packs: hash_inputs(&packs)?,
            started: std::time::SystemTime::now(),
        })
    };
    let baseline = args.baseline.as_ref().map(|dir| BaselineOptions {
        dir: dir.clone(),
        complete: args.filter.is_none() && args.exclude.is_empty() && args.shard.is_none(),
        accept: args.accept,
    });
    let reporters = std::sync::Mutex::new(RunReporters::new(LiveOptions {
        json: args.json,
        verbose: args.verbose,
        redact_phi: args.redact_phi,
        baseline,
        folder,
    }));
    let sink = |event: &RunEvent<'_>| {
        reporters.lock().unwrap_or_else(std::sync::PoisonError::into_inner).report(event)
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let outcome = runtime.block_on(run_packs(&packs, &options, &sink));
    let finished =
        reporters.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner).finish();
    let outcome = outcome?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    let outcome = finished.redacted.unwrap_or(outcome);
    write!(out, "{}", finished.text)?;
    if let Some(dir) = &args.record_through {
        for file in crate::report::through_pack::write(dir, &packs, &outcome)? {
            // `--json` keeps its output one case per line.
            if !args.json {
                writeln!(out, "recorded through pack: {}", file.display())?;
            }
        }
    }
    if let Some(error) = finished.error {
        return Err(error.into());
    }
    if let Some(comparison) = finished.baseline.as_ref().filter(|_| !args.json) {
        write!(out, "{}", crate::report::terminal::baseline(comparison))?;
    }
    if let Some(dir) = finished.folder.as_ref().filter(|_| !args.json) {
        writeln!(out, "report: {}", dir.display())?;
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
    let regressed = finished.baseline.as_ref().is_some_and(|b| b.differs() && !b.accepted);
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
