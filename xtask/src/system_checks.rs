//! `cargo xtask system-checks`: the checks that need a system package, kept out of
//! `cargo test --workspace` (which needs nothing but Rust) and run by `cargo xtask ci`. A
//! missing package is installed with apt-get; when it cannot be, the check fails, never skips,
//! because a check that silently did not run would look like a pass.
//!
//! - `junit.xml` against the JUnit schema (`xtask/junit.xsd`), validated by libxml2's `xmllint`
//!   (Debian `libxml2-utils`): the reports of a passing run, of a failing run of the whole
//!   ack-protocol pack (raw frames and mutated messages put control characters and markup into
//!   the evidence), of a run with baseline regressions and of a run with a skipped file; then
//!   five broken documents, each of which must be rejected with the diagnostic that names its
//!   fault, so the check is known to be able to fail. That the counts add up (which XSD 1.0
//!   cannot say) is checked in `cargo test` (harness/tests/integration/junit_counts.rs).
//! - The case progress bar on a terminal: `hl7-harness run` under util-linux's `script`
//!   (Debian `bsdutils`), which gives it a pseudo-terminal, shows `N/13 cases`. That it stays
//!   out of piped output is checked in `cargo test`.

use crate::interop::output_within;
use crate::process::{apt_install, Command};
use anyhow::{bail, ensure, Context};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Longest one `hl7-harness run` (or one xmllint run) may take.
const RUN_LIMIT: Duration = Duration::from_secs(180);
const SCENARIO: &str = "scenarios/conformance-core/ack-protocol.yaml";

pub fn run(root: &Path) -> anyhow::Result<()> {
    let start = Instant::now();
    ensure_program("xmllint", "libxml2-utils")?;
    ensure_program("script", "bsdutils")?;
    Command::new("system-checks build", "cargo")
        .args(["build", "--quiet", "-p", "hl7-harness"])
        .current_dir(root)
        .run()?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| if dir.is_absolute() { dir } else { root.join(dir) })
        .unwrap_or_else(|| root.join("target"));
    let harness = target.join("debug").join("hl7-harness");
    let work = target.join("xtask").join("system-checks");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let checker = Checker { root, harness: &harness, work: &work };
    checker.junit_schema().context("the JUnit schema check")?;
    checker.progress_bar().context("the progress bar on a terminal")?;
    eprintln!("system-checks passed in {}", crate::process::seconds(start.elapsed()));
    Ok(())
}

/// `program` on the PATH, installing Debian's `package` when it is not.
fn ensure_program(program: &str, package: &str) -> anyhow::Result<()> {
    if on_path(program) {
        return Ok(());
    }
    apt_install(&[package]).with_context(|| format!("installing {package} for {program}"))?;
    ensure!(on_path(program), "{program} still missing after installing {package}");
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

struct Checker<'a> {
    root: &'a Path,
    harness: &'a Path,
    work: &'a Path,
}

impl Checker<'_> {
    /// Runs `hl7-harness` with `args` in the workspace; fails unless it exits with `exit`.
    fn harness(&self, args: &[&str], env: &[(&str, &str)], exit: i32) -> anyhow::Result<String> {
        let mut command = std::process::Command::new(self.harness);
        command.args(args).current_dir(self.root);
        for (key, value) in env {
            command.env(key, value);
        }
        eprintln!("==> [system-checks] hl7-harness {}", args.join(" "));
        let output = output_within(command, RUN_LIMIT, "hl7-harness run")?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        ensure!(
            output.status.code() == Some(exit),
            "hl7-harness {} exited with {} (expected {exit}):\n{text}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(text)
    }

    /// The junit.xml of a run of `paths` with `extra` flags.
    fn junit(
        &self,
        name: &str,
        paths: &[&str],
        extra: &[&str],
        exit: i32,
    ) -> anyhow::Result<String> {
        self.junit_env(name, paths, extra, &[], exit)
    }

    fn junit_env(
        &self,
        name: &str,
        paths: &[&str],
        extra: &[&str],
        env: &[(&str, &str)],
        exit: i32,
    ) -> anyhow::Result<String> {
        let dir = self.work.join(name);
        let dir_text = dir.display().to_string();
        let mut args = vec!["run"];
        args.extend_from_slice(paths);
        args.extend_from_slice(&["--seed", "7", "--report-dir", &dir_text]);
        args.extend_from_slice(extra);
        self.harness(&args, env, exit)?;
        std::fs::read_to_string(dir.join("junit.xml")).context("reading junit.xml")
    }

    /// `Ok(None)` when `document` is valid against the schema, `Ok(Some(diagnostics))` when
    /// it is not; an error when xmllint could not judge it.
    fn validate(&self, document: &str, name: &str) -> anyhow::Result<Option<String>> {
        let file = self.work.join(name);
        std::fs::write(&file, document)?;
        let schema = self.root.join("xtask").join("junit.xsd");
        let mut command = std::process::Command::new("xmllint");
        command.args(["--noout", "--nonet", "--schema"]).arg(&schema).arg(&file);
        let output = output_within(command, RUN_LIMIT, "xmllint")?;
        let diagnostics = String::from_utf8_lossy(&output.stderr).into_owned();
        match output.status.code() {
            Some(0) => Ok(None),
            // 3: well-formed but not valid; 1: not even well-formed XML. Anything else (5: the
            // schema does not compile, 4: a file unreadable) is this check's fault.
            Some(1 | 3) => Ok(Some(diagnostics)),
            _ => bail!("xmllint could not validate {name} ({}): {diagnostics}", output.status),
        }
    }

    fn valid(&self, document: &str, name: &str) -> anyhow::Result<()> {
        match self.validate(document, name)? {
            None => {
                eprintln!("    {name}: valid");
                Ok(())
            }
            Some(diagnostics) => bail!("{name} is not valid against junit.xsd:\n{diagnostics}"),
        }
    }

    fn junit_schema(&self) -> anyhow::Result<()> {
        let passing = self.junit("pass", &[SCENARIO], &["--filter", "v2.4"], 0)?;
        self.valid(&passing, "pass-junit.xml")?;
        let failing = self.junit("fail", &[SCENARIO], &["--target-defect", "wrong-msa2"], 1)?;
        ensure!(failing.contains("<failure type=\"ack.msa2-echo\""), "no failure in {failing}");
        self.valid(&failing, "fail-junit.xml")?;

        let baseline = self.work.join("baseline").display().to_string();
        let accept = ["run", SCENARIO, "--seed", "7", "--no-report", "--baseline", &baseline];
        self.harness(&[&accept[..], &["--accept"]].concat(), &[], 0)?;
        let changed = ["--baseline", baseline.as_str(), "--target-defect", "closes-after-ack"];
        let regressed = self.junit("regression", &[SCENARIO], &changed, 1)?;
        ensure!(regressed.contains("<failure type=\"regression\""), "no regression: {regressed}");
        self.valid(&regressed, "baseline-junit.xml")?;

        // The dead-peer file is skipped without `ip` and `nft` on the PATH.
        let paths = [SCENARIO, "scenarios/hostile-network/dead-peer.yaml"];
        let skipped = self.junit_env("skipped", &paths, &[], &[("PATH", "/nonexistent")], 0)?;
        ensure!(skipped.contains("<skipped message="), "nothing skipped: {skipped}");
        self.valid(&skipped, "skipped-junit.xml")?;

        self.rejects_broken(&failing)
    }

    /// Five faults a JUnit reader chokes on, each rejected with its own diagnostic.
    fn rejects_broken(&self, junit: &str) -> anyhow::Result<()> {
        let first_case = junit.find("<testcase ").context("a testcase")?;
        let name_at = first_case + junit[first_case..].find(" name=\"").context("a name")?;
        let name_end = name_at + 7 + junit[name_at + 7..].find('"').context("the name ends")?;
        let nameless = format!("{}{}", &junit[..name_at], &junit[name_end + 1..]);
        let stray_failure = junit.replacen(
            "</properties>",
            "</properties>\n    <failure message=\"outside\">not in a testcase</failure>",
            1,
        );
        let bad_count = junit.replacen(
            "<testsuite name=\"conformance-core\" tests=\"",
            "<testsuite name=\"conformance-core\" tests=\"many",
            1,
        );
        let bare_case = "<testcase name=\"alone\"/>\n".to_string();
        let failure_in_failure = junit.replacen("</failure>", "<failure/></failure>", 1);
        for (what, broken, expected) in [
            ("a testcase without a name", nameless, "'name' is required"),
            (
                "a failure outside a testcase",
                stray_failure,
                "'failure': This element is not expected",
            ),
            ("a test count that is not a number", bad_count, "'tests'"),
            ("a testcase as the root", bare_case, "No matching global declaration"),
            ("markup inside a failure", failure_in_failure, "'failure'"),
        ] {
            ensure!(broken != junit, "{what}: the document was not changed");
            match self.validate(&broken, "broken-junit.xml")? {
                None => bail!("{what}: accepted by the schema"),
                Some(diagnostics) => {
                    ensure!(diagnostics.contains(expected), "{what}: {diagnostics}");
                    eprintln!("    broken ({what}): rejected");
                }
            }
        }
        Ok(())
    }

    /// On a pseudo-terminal (`script -qc`), `run` shows the case progress bar.
    fn progress_bar(&self) -> anyhow::Result<()> {
        let line = format!("{} run {SCENARIO} --seed 1 --no-report", self.harness.display());
        let mut command = std::process::Command::new("script");
        command.args(["-qc", &line, "/dev/null"]).env_remove("CI").current_dir(self.root);
        eprintln!("==> [system-checks] script -qc '{line}' /dev/null");
        let output = output_within(command, RUN_LIMIT, "script")?;
        let shown = String::from_utf8_lossy(&output.stdout);
        ensure!(shown.contains("/13 cases"), "no progress bar on a terminal:\n{shown}");
        eprintln!("    progress bar on a terminal: shown");
        Ok(())
    }
}
