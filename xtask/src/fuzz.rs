//! `cargo xtask fuzz`: run the cargo-fuzz targets of `fuzz/` for a fixed time each.
//!
//! Each target's corpus (`fuzz/corpus/<target>/`, ignored by git) is seeded first from the
//! repository's `corpus/**/*.hl7`, the shared public corpus beside the repository when present,
//! and the committed `fuzz/seeds/<target>/` files. The shared corpus is only read, never written.
//!
//! Only a stable toolchain is guaranteed. cargo-fuzz needs nightly flags (`-Zsanitizer`), so
//! every cargo-fuzz command runs with `RUSTC_BOOTSTRAP=1`, which lets stable accept them.

use crate::process::{seconds, Command};
use anyhow::{bail, Context};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// libFuzzer's prefixes for inputs that found a bug (crash, leak, timeout, out of memory).
const FAILURE_ARTIFACTS: [&str; 4] = ["crash-", "leak-", "timeout-", "oom-"];

/// Seconds one input may run before libFuzzer reports it as a timeout. The parsers work on
/// short inputs in microseconds; anything this slow is a hang, and the default (20 minutes)
/// would outlast the whole run.
const INPUT_TIMEOUT_SECONDS: u64 = 10;

/// Installs cargo-fuzz with `cargo install --locked` unless `cargo fuzz` already runs.
pub fn ensure_cargo_fuzz(root: &Path) -> anyhow::Result<()> {
    if Command::new("probe", "cargo").args(["fuzz", "--version"]).current_dir(root).succeeds() {
        return Ok(());
    }
    Command::new("install cargo-fuzz", "cargo")
        .args(["install", "cargo-fuzz", "--locked"])
        .current_dir(root)
        .run()
}

/// What one target's run produced.
struct Outcome {
    target: String,
    runs: Option<u64>,
    new_artifacts: Vec<PathBuf>,
    passed: bool,
}

pub fn run(root: &Path, seconds_each: u64, requested: &[String]) -> anyhow::Result<()> {
    let fuzz_dir = root.join("fuzz");
    let available = targets(&fuzz_dir)?;
    let selected: Vec<String> = if requested.is_empty() {
        available.clone()
    } else {
        for name in requested {
            if !available.contains(name) {
                bail!("no fuzz target {name:?}; targets: {}", available.join(", "));
            }
        }
        requested.to_vec()
    };
    ensure_cargo_fuzz(root)?;

    let seeds = seed_files(root)?;
    for target in &selected {
        let count = seed_corpus(&fuzz_dir, target, &seeds)?;
        eprintln!("--- seeded fuzz/corpus/{target}/ with {count} files");
    }

    // One build for every target, so each run below starts fuzzing at once.
    cargo_fuzz("fuzz build").args(["build"]).current_dir(root).run()?;

    let log_dir = root.join("target").join("xtask").join("fuzz");
    fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
    let mut outcomes = Vec::new();
    for target in &selected {
        outcomes.push(run_target(root, &log_dir, target, seconds_each)?);
    }

    eprintln!("\n{:<16} {:>14}  result", "target", "runs");
    for outcome in &outcomes {
        let runs = outcome.runs.map_or_else(|| "?".to_string(), |n| n.to_string());
        let result = match (outcome.passed, outcome.new_artifacts.is_empty()) {
            (true, true) => "ok".to_string(),
            (_, false) => format!("CRASH: {}", join_paths(&outcome.new_artifacts)),
            (false, true) => "FAILED (see log)".to_string(),
        };
        eprintln!("{:<16} {:>14}  {result}", outcome.target, runs);
    }
    let failed: Vec<&str> =
        outcomes.iter().filter(|o| !o.passed).map(|o| o.target.as_str()).collect();
    if !failed.is_empty() {
        bail!("fuzzing failed for: {}", failed.join(", "));
    }
    Ok(())
}

fn run_target(root: &Path, log_dir: &Path, target: &str, secs: u64) -> anyhow::Result<Outcome> {
    let artifact_dir = root.join("fuzz").join("artifacts").join(target);
    let before = failure_artifacts(&artifact_dir)?;
    let log_path = log_dir.join(format!("{target}.log"));
    let log =
        fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let start = Instant::now();
    // libFuzzer's status lines go to the log; the result and the log's tail are printed here.
    let result = cargo_fuzz(&format!("fuzz {target}"))
        .args(["run", target, "--"])
        .args([format!("-max_total_time={secs}"), format!("-timeout={INPUT_TIMEOUT_SECONDS}")])
        .current_dir(root)
        .stdout(log.try_clone()?)
        .stderr(log)
        .run();
    let log_text = fs::read_to_string(&log_path).unwrap_or_default();
    let after = failure_artifacts(&artifact_dir)?;
    let new_artifacts: Vec<PathBuf> = after.difference(&before).cloned().collect();
    let runs = runs_done(&log_text);
    let passed = result.is_ok() && new_artifacts.is_empty();
    if passed {
        eprintln!(
            "--- {target}: {} runs in {}, no crash",
            runs.map_or_else(|| "?".into(), |n| n.to_string()),
            seconds(start.elapsed())
        );
    } else {
        let tail: Vec<&str> = log_text.lines().rev().take(40).collect();
        eprintln!("--- {target} FAILED; last lines of {}:", log_path.display());
        for line in tail.into_iter().rev() {
            eprintln!("    {line}");
        }
        if let Err(e) = &result {
            eprintln!("--- {e:#}");
        }
        for artifact in &new_artifacts {
            eprintln!(
                "--- reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run {target} {}",
                artifact.display()
            );
        }
    }
    Ok(Outcome { target: target.to_string(), runs, new_artifacts, passed })
}

/// A `cargo fuzz` command that works on the stable toolchain.
fn cargo_fuzz(step: &str) -> Command {
    Command::new(step, "cargo").env("RUSTC_BOOTSTRAP", "1").args(["fuzz"])
}

/// The fuzz targets: one file per target in `fuzz/fuzz_targets/`.
fn targets(fuzz_dir: &Path) -> anyhow::Result<Vec<String>> {
    let dir = fuzz_dir.join("fuzz_targets");
    let mut names = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            if let Some(stem) = path.file_stem() {
                names.push(stem.to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// A seed file and the name it gets in a fuzz corpus.
struct Seed {
    source: PathBuf,
    name: String,
}

/// The corpus files every target is seeded with, named after where they came from so that
/// seeding again overwrites rather than duplicates.
fn seed_files(root: &Path) -> anyhow::Result<Vec<Seed>> {
    let mut seeds = Vec::new();
    let public = crate::shared_public_corpus(root);
    for source in crate::corpus_files(root)? {
        let (prefix, base) = match &public {
            Some(public) if source.starts_with(public) => ("public", public.as_path()),
            _ => ("repo", root),
        };
        let relative = source.strip_prefix(base).unwrap_or(&source);
        let name = format!("seed-{prefix}-{}", flatten(relative));
        seeds.push(Seed { source, name });
    }
    Ok(seeds)
}

/// Copies the shared seeds and `fuzz/seeds/<target>/*` into `fuzz/corpus/<target>/`.
fn seed_corpus(fuzz_dir: &Path, target: &str, seeds: &[Seed]) -> anyhow::Result<usize> {
    let corpus = fuzz_dir.join("corpus").join(target);
    fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let mut count = 0;
    for seed in seeds {
        copy(&seed.source, &corpus.join(&seed.name))?;
        count += 1;
    }
    let own = fuzz_dir.join("seeds").join(target);
    if own.is_dir() {
        for entry in fs::read_dir(&own).with_context(|| format!("reading {}", own.display()))? {
            let path = entry?.path();
            if path.is_file() {
                let name = format!("seed-own-{}", flatten(path.strip_prefix(&own)?));
                copy(&path, &corpus.join(name))?;
                count += 1;
            }
        }
    }
    Ok(count)
}

fn copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::copy(from, to)
        .map(|_| ())
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))
}

/// `adt/a01.hl7` → `adt_a01.hl7`.
fn flatten(relative: &Path) -> String {
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("_")
}

fn failure_artifacts(dir: &Path) -> anyhow::Result<BTreeSet<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {}", dir.display()))),
    };
    let mut found = BTreeSet::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if FAILURE_ARTIFACTS.iter().any(|prefix| name.starts_with(prefix)) {
            found.insert(entry.path());
        }
    }
    Ok(found)
}

/// libFuzzer's closing line, `Done 123456 runs in 60 second(s)`.
fn runs_done(log: &str) -> Option<u64> {
    log.lines().rev().find_map(|line| line.strip_prefix("Done ")?.split(' ').next()?.parse().ok())
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_runs_from_libfuzzer_summary() {
        let log = "#1024 pulse cov: 12\nDone 123456 runs in 10 second(s)\nstat::x: 1\n";
        assert_eq!(runs_done(log), Some(123456));
        assert_eq!(runs_done("==1== ERROR: AddressSanitizer\n"), None);
    }

    #[test]
    fn flattens_relative_paths_into_one_file_name() {
        assert_eq!(flatten(Path::new("adt/a01.hl7")), "adt_a01.hl7");
    }
}
