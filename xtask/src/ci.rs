//! `cargo xtask ci`: the checks CI runs, in order, stopping at the first failure: fmt, clippy,
//! tests (which need nothing but Rust), the checks that need system packages (system-checks:
//! the JUnit XSD with xmllint, the progress bar under `script`), the user guide (built, links
//! checked), the documented install, report.html in headless Chromium, interop, fuzz. Each
//! step that needs a package installs it and fails when it cannot.
//!
//! `.ci/run` calls this task, so this list is the one definition of CI.

use crate::process::{seconds, Command};
use std::path::Path;
use std::time::{Duration, Instant};

pub fn run(root: &Path, fuzz_seconds: u64, require_fuzz: bool) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut timings: Vec<(&str, Duration)> = Vec::new();

    let steps: [(&str, &[&str]); 3] = [
        ("fmt", &["fmt", "--all", "--", "--check"]),
        // --all-features so that feature-gated code (xtask's benchmark) is linted too.
        (
            "clippy",
            &["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"],
        ),
        // The README's test command.
        ("test", &["test", "--workspace"]),
    ];
    for (step, args) in steps {
        let elapsed = Command::new(step, "cargo").args(args).current_dir(root).run_timed()?;
        timings.push((step, elapsed));
    }

    let system_start = Instant::now();
    crate::system_checks::run(root).map_err(|e| e.context("step `system-checks`"))?;
    timings.push(("system", system_start.elapsed()));

    let book_start = Instant::now();
    crate::book::run(root).map_err(|e| e.context("step `book`"))?;
    timings.push(("book", book_start.elapsed()));

    let install_start = Instant::now();
    crate::install_check::run(root).map_err(|e| e.context("step `install-check`"))?;
    timings.push(("install", install_start.elapsed()));

    let html_start = Instant::now();
    crate::html_check::run(root, &[]).map_err(|e| e.context("step `html-check`"))?;
    timings.push(("html", html_start.elapsed()));

    let interop_start = Instant::now();
    crate::interop::run(root).map_err(|e| e.context("step `interop`"))?;
    timings.push(("interop", interop_start.elapsed()));

    if fuzz_seconds == 0 {
        eprintln!("--- fuzz smoke skipped (--fuzz-seconds 0)");
    } else {
        let fuzz_start = Instant::now();
        match crate::fuzz::ensure_cargo_fuzz(root) {
            Ok(()) => {
                crate::fuzz::run(root, fuzz_seconds, &[]).map_err(|e| e.context("step `fuzz`"))?;
                timings.push(("fuzz", fuzz_start.elapsed()));
            }
            Err(e) if !require_fuzz => {
                eprintln!("--- WARNING: fuzz smoke skipped: {e:#}");
            }
            Err(e) => return Err(e.context("step `fuzz`: cargo-fuzz is required (--require-fuzz)")),
        }
    }

    eprintln!("\nci passed in {}", seconds(start.elapsed()));
    for (name, elapsed) in timings {
        eprintln!("  {name:<8} {:>8}", seconds(elapsed));
    }
    Ok(())
}
