//! Project automation, run as `cargo xtask <task>` (the alias lives in `.cargo/config.toml`).
//!
//! - `ci`: exactly what CI runs: format check, clippy, tests, system-checks, the user guide,
//!   the install, html-check, interop, then a short fuzz smoke.
//! - `fuzz`: installs cargo-fuzz when missing, seeds the fuzz corpora from `corpus/`, runs
//!   every fuzz target for a while and fails on any crash.
//! - `bench [parse|mllp|load|net|cost|profile|run|soak] [--quick]`: builds and runs a benchmark in release, writes `reports/bench/`.
//! - `html-check [REPORT_DIR]...`: opens report.html in headless Chromium (Debian's chromium and
//!   chromedriver, installed when missing) and checks that it renders, opens on the overview
//!   with the failures first, logs no console error, filters right and fetches nothing; without
//!   folders it makes its own reports and keeps screenshots under `target/xtask/html-check/`.
//! - `interop [through]`: the harness against third-party HL7 implementations (docs/interop.md);
//!   `through` runs only the through pack against the interface engine on python-hl7.
//! - `system-checks`: the tests that need a system package (the JUnit XSD with xmllint, the
//!   progress bar under `script`), installed with apt-get when missing; `cargo test` needs none.
//! - `book`: builds the user guide (`docs/`) with a pinned mdbook and checks its links.
//! - `install-check`: `cargo install --locked --path harness` into a temporary root, then runs
//!   the installed binary.
//! - `schema`: writes the JSON Schemas of the scenario and target profile formats to
//!   `scenarios/scenario.schema.json` and `scenarios/target-profile.schema.json`, the rulebook
//!   (the check catalogue as one table) to `docs/rulebook.md`, and the guide's other generated
//!   reference pages (commands, scenario and profile keys, defects, faults) to
//!   `docs/reference/`.
//!
//! - `gen-tables`: writes the base standard's tables (segment grammars, trigger events, fields,
//!   composite data types, coded tables for v2.3 to v2.8) into `harness/src/hl7/standard/` from
//!   `../shared/hl7-structures` (a test fails when they are stale).
//!
//! xtask only orchestrates: it shells out to cargo and never reimplements what cargo does.

mod book;
mod ci;
mod install_check;
mod interop;
// Used only by the benchmark, but kept outside the feature so that its test always runs.
#[cfg_attr(not(feature = "bench"), allow(dead_code))]
mod date;
mod fuzz;
mod gen_tables;
mod html_check;
mod process;
mod system_checks;

#[cfg(feature = "bench")]
mod bench;
#[cfg(feature = "bench")]
mod bench_cost;
#[cfg(feature = "bench")]
mod bench_load;
#[cfg(feature = "bench")]
mod bench_mllp;
#[cfg(feature = "bench")]
mod bench_net;
#[cfg(feature = "bench")]
mod bench_profile;
#[cfg(feature = "bench")]
mod bench_run;
#[cfg(feature = "bench")]
mod bench_soak;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "hl7-harness project automation",
    version
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Run what CI runs: fmt check, clippy (-D warnings), tests, system-checks, html-check,
    /// interop, then a fuzz smoke of each target. Fails fast, naming the step that failed.
    Ci {
        /// Seconds per fuzz target in the smoke run; 0 skips fuzzing.
        #[arg(long, default_value_t = 10)]
        fuzz_seconds: u64,
        /// Fail when cargo-fuzz cannot be installed, instead of skipping the fuzz smoke.
        /// `.ci/run` passes this: a CI run that silently fuzzed nothing would look green.
        #[arg(long)]
        require_fuzz: bool,
    },
    /// Run the fuzz targets (all by default) for N seconds each; fails on a crash artifact.
    Fuzz {
        /// Seconds to run each target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Targets to run (names of files in fuzz/fuzz_targets/); all when none given.
        targets: Vec<String>,
    },
    /// Interoperate with third-party MLLP implementations (python-hl7, nodehl7, the `mllp`
    /// crate): both directions with python-hl7, then conformance-core and hostile-network against
    /// each receiver with its profile, checked against docs/interop-expected.txt; then a through
    /// pack against an interface engine on python-hl7 (xtask/interop-engine/).
    Interop {
        /// `through`: only the through pack against the python-hl7 engine.
        #[arg(value_enum, default_value_t = InteropPart::All)]
        part: InteropPart,
    },
    /// Build in release and run a benchmark; prints a table, writes reports/bench/<date>.json.
    Bench {
        /// Which benchmark to run.
        #[arg(value_enum, default_value_t = Suite::All)]
        suite: Suite,
        /// Short runs (half a second, one round) of the `net` suite, a 20 s soak: a smoke run, not
        /// figures.
        #[arg(long)]
        quick: bool,
    },
    /// Open report.html in headless Chromium (through chromedriver) and check that it renders,
    /// opens on the overview with the failures first, logs no console error, that its filters
    /// (status, pack, check, search, matrix counts, "only failed and warned cases") show
    /// exactly the right cases, and that it fetches nothing; screenshots are kept under
    /// target/xtask/html-check/. Installs Debian's chromium and chromium-driver when missing.
    HtmlCheck {
        /// Report folders to check; by default two reports of
        /// scenarios/conformance-core/ack-protocol.yaml and scenarios/adt-client-feed/ (one
        /// passing, one with failures) and a broken copy that must fail.
        report_dirs: Vec<PathBuf>,
    },
    /// Run the checks that need a system package, kept out of `cargo test --workspace`:
    /// junit.xml against the JUnit schema with libxml2's xmllint, and the progress bar on a
    /// pseudo-terminal under util-linux's script. Installs libxml2-utils and bsdutils with
    /// apt-get when missing, and fails (never skips) when it cannot.
    SystemChecks,
    /// Write the JSON Schemas of the scenario and target profile formats to
    /// scenarios/scenario.schema.json and scenarios/target-profile.schema.json (editors point
    /// YAML files at them), the rulebook to docs/rulebook.md and the guide's generated reference
    /// pages to docs/reference/ (a test fails when any of them is stale).
    Schema,
    /// Generate the base standard's tables (segment grammars of every message structure,
    /// trigger events, segment fields, composite data types, coded tables; v2.3 to v2.8) from
    /// ../shared/hl7-structures into harness/src/hl7/standard/ (a test fails when they are stale).
    GenTables,
    /// Build the user guide (docs/, an mdBook) with mdbook 0.5.4, installed into a cache
    /// folder when missing, and check that every relative link and anchor resolves.
    Book,
    /// Install the harness the documented way (`cargo install --locked --path harness`) into
    /// a temporary root and run the installed binary.
    InstallCheck,
    /// The benchmark itself, in the release build that `bench` starts. Not for direct use.
    #[command(hide = true)]
    BenchRun {
        #[arg(value_enum)]
        suite: Suite,
        #[arg(long)]
        quick: bool,
    },
}

/// Which part of `cargo xtask interop` to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum InteropPart {
    /// Everything (what CI runs).
    All,
    /// Only the through pack against the interface engine on python-hl7.
    Through,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Suite {
    /// Parse, parse+validate, and a CR-splitting scan as the ceiling, over the corpus.
    Parse,
    /// MLLP round trips: harness client → reference endpoint, and a raw tokio client → echo
    /// server as the loopback ceiling; 1 and 16 connections; harness client → python-hl7.
    Mllp,
    /// Every path of issue 18 interleaved in one run, each with the ratio to its peer: raw
    /// std client → raw std echo (the ceiling), the load engine → echo, → serve (without and
    /// with its journal), → the `mllp`-crate receiver, → proxy → echo, → socat → echo.
    Net,
    /// What one message costs the reference endpoint's code beside the `mllp`-crate
    /// receiver's, each in its own process, warm and with the caches flushed between messages.
    Cost,
    /// The load generator: its CPU per 10,000 messages at a fixed rate, its maximum, and open
    /// and closed loop against the reference endpoint.
    Load,
    /// `validate --profile` on a day's message log (100,000 messages of the e-health
    /// interface), in process and end to end, against `validate` without a profile.
    Profile,
    /// Memory of `serve`: resident set per idle connection, and over a soak at a constant
    /// rate (10 minutes; 20 s with --quick), sampled every few seconds.
    Soak,
    /// `run scenarios/` against the built-in endpoint: wall time over the waits its cases
    /// require (ACK timeouts that must expire) divided over --jobs.
    Run,
    /// Every suite, into one reports/bench/<date>.json.
    All,
}

impl Suite {
    fn name(self) -> &'static str {
        match self {
            Suite::Parse => "parse",
            Suite::Mllp => "mllp",
            Suite::Load => "load",
            Suite::Profile => "profile",
            Suite::Net => "net",
            Suite::Cost => "cost",
            Suite::Soak => "soak",
            Suite::Run => "run",
            Suite::All => "all",
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let root = workspace_root();
    match cli.task {
        Task::Ci { fuzz_seconds, require_fuzz } => ci::run(&root, fuzz_seconds, require_fuzz),
        Task::Fuzz { seconds, targets } => fuzz::run(&root, seconds, &targets),
        Task::Interop { part: InteropPart::All } => interop::run(&root),
        Task::Interop { part: InteropPart::Through } => interop::run_through(&root),
        Task::SystemChecks => system_checks::run(&root),
        Task::HtmlCheck { report_dirs } => html_check::run(&root, &report_dirs),
        Task::Book => book::run(&root),
        Task::GenTables => gen_tables::run(&root),
        Task::InstallCheck => install_check::run(&root),
        Task::Bench { suite, quick } => {
            // The cargo alias builds xtask in debug; the benchmark must be optimised, so it runs
            // in a release build of this same binary, with the library linked in.
            process::Command::new("bench", "cargo")
                .args(["run", "--release", "--quiet", "--package", "xtask", "--features"])
                .args(["bench", "--", "bench-run", suite.name()])
                .args(quick.then_some("--quick"))
                .current_dir(&root)
                .run()
        }
        Task::BenchRun { suite, quick } => bench_run(&root, suite, quick),
        Task::Schema => {
            for (name, extra) in
                [("scenario.schema.json", None), ("target-profile.schema.json", Some("--profile"))]
            {
                let path = root.join("scenarios").join(name);
                let file = std::fs::File::create(&path)?;
                let mut args = vec!["run", "--quiet", "--package", "hl7-harness", "--", "schema"];
                args.extend(extra);
                process::Command::new("schema", "cargo")
                    .args(args)
                    .current_dir(&root)
                    .stdout(file)
                    .run()?;
                println!("wrote {}", path.display());
            }
            rulebook(&root)?;
            reference_pages(&root)
        }
    }
}

/// Writes docs/rulebook.md from `hl7-harness run --list-checks --markdown`.
fn rulebook(root: &std::path::Path) -> anyhow::Result<()> {
    let path = root.join("docs").join("rulebook.md");
    let file = std::fs::File::create(&path)?;
    process::Command::new("rulebook", "cargo")
        .args(["run", "--quiet", "--package", "hl7-harness", "--"])
        .args(["run", "--list-checks", "--markdown"])
        .current_dir(root)
        .stdout(file)
        .run()?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Writes each generated page of the user guide (`hl7-harness reference --list`) into
/// docs/reference/.
fn reference_pages(root: &std::path::Path) -> anyhow::Result<()> {
    let harness = |args: &[&str], stdout: std::fs::File| {
        process::Command::new("reference", "cargo")
            .args(["run", "--quiet", "--package", "hl7-harness", "--", "reference"])
            .args(args)
            .current_dir(root)
            .stdout(stdout)
            .run()
    };
    let dir = root.join("docs").join("reference");
    std::fs::create_dir_all(&dir)?;
    // The page names, kept out of docs/ (whose files the stale test compares with the list).
    let scratch = root.join("target").join("xtask");
    std::fs::create_dir_all(&scratch)?;
    let list = scratch.join("reference-pages.txt");
    harness(&["--list"], std::fs::File::create(&list)?)?;
    let names = std::fs::read_to_string(&list)?;
    std::fs::remove_file(&list)?;
    for name in names.lines().filter(|l| !l.is_empty()) {
        let path = dir.join(name);
        harness(&[name], std::fs::File::create(&path)?)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

#[cfg(feature = "bench")]
fn bench_run(root: &std::path::Path, suite: Suite, quick: bool) -> anyhow::Result<()> {
    let run = |suite| match suite {
        Suite::Net => bench_net::net(root, bench_net::Settings::new(quick)),
        Suite::Cost => bench_cost::cost(root, quick),
        Suite::Parse => bench::parse(root),
        Suite::Mllp => bench_mllp::mllp(root),
        Suite::Load => bench_load::load(root),
        Suite::Profile => bench_profile::profile(root),
        Suite::Soak => bench_soak::run(root, quick),
        Suite::Run => bench_run::run(root),
        Suite::All => anyhow::bail!("`all` is not one suite"),
    };
    if suite == Suite::All {
        let mut suites = serde_json::Map::new();
        let every = [
            Suite::Parse,
            Suite::Mllp,
            Suite::Load,
            Suite::Net,
            Suite::Cost,
            Suite::Profile,
            Suite::Run,
            Suite::Soak,
        ];
        for one in every {
            suites.insert(one.name().to_string(), run(one)?);
        }
        return bench::write(root, None, serde_json::Value::Object(suites));
    }
    let value = run(suite)?;
    bench::write(root, Some(suite.name()), serde_json::json!({ suite.name(): value }))
}

#[cfg(not(feature = "bench"))]
fn bench_run(_root: &std::path::Path, _suite: Suite, _quick: bool) -> anyhow::Result<()> {
    anyhow::bail!("bench-run needs the `bench` feature; run `cargo xtask bench` instead")
}

/// The workspace root: xtask's manifest sits one level below it.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(PathBuf::from).unwrap_or(manifest_dir)
}

/// `../shared/corpus-public` beside the repository: public sample messages, read-only, present
/// on the project's machines but not part of the repository.
fn shared_public_corpus(root: &std::path::Path) -> Option<PathBuf> {
    let dir = root.parent()?.join("shared").join("corpus-public");
    dir.is_dir().then_some(dir)
}

/// Every `*.hl7` file under `dir`, recursively, sorted so that runs are repeatable.
fn hl7_files(dir: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("reading {}", dir.display())))
            }
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "hl7") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The corpus files every task reads: the repository's `corpus/`, then the shared public one.
fn corpus_files(root: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = hl7_files(&root.join("corpus"))?;
    if let Some(public) = shared_public_corpus(root) {
        files.extend(hl7_files(&public)?);
    }
    Ok(files)
}
