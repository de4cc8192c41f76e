//! The reporters of `run`, fed by the runner's [`RunEvent`]s: the progress bar, `--json`
//! lines, the terminal summary, the baseline comparison and the report folder. Each matches
//! every kind of event with no `_ =>`, so a new kind is a compile error here until each
//! decides what to do with it.
//!
//! The baseline and the report folder act at [`RunEvent::RunFinished`]: a snapshot comparison
//! and a signed folder (its manifest hashes every file) are statements about the whole run.
//! With `--redact-phi` every reporter sees the finished run only redacted: [`RunReporters`]
//! redacts it once, before any of them reads it.

use super::baseline::{self, BaselineError, BaselineMeta, Comparison};
use super::record::{PackInputs, RunRecord, HARNESS_VERSION};
use super::terminal::Terminal;
use super::time::{rfc3339, run_id};
use super::{write_report, ReportError};
use crate::runner::{CaseOutcome, Reporter, RunEvent, RunOutcome, Verdict};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What `run` asked its reporters for.
#[derive(Debug)]
pub struct LiveOptions {
    /// `--json`: one JSON object per case instead of the summary.
    pub json: bool,
    /// `--verbose`: warnings of passing cases and the built-in endpoint's log.
    pub verbose: bool,
    /// `--redact-phi`.
    pub redact_phi: bool,
    /// `--baseline DIR` (and `--accept`).
    pub baseline: Option<BaselineOptions>,
    /// The report folder, unless `--no-report`.
    pub folder: Option<FolderOptions>,
}

/// Where and how the run's snapshots are compared with an accepted baseline.
#[derive(Debug)]
pub struct BaselineOptions {
    pub dir: PathBuf,
    /// The run selected every case (no `--filter`, `--exclude`, `--shard`): a snapshot missing
    /// from the run is then a difference, not a case left out.
    pub complete: bool,
    /// `--accept`: this run's snapshots become the baseline.
    pub accept: bool,
}

/// The report folder to write when the run is finished.
#[derive(Debug)]
pub struct FolderOptions {
    /// `--report-dir`; otherwise a fresh `reports/<run-id>`.
    pub dir: Option<PathBuf>,
    /// The packs run, with the hashes of their files (taken before the run).
    pub packs: Vec<PackInputs>,
    /// When the run started (the run id is made from it and the seed).
    pub started: SystemTime,
}

/// A reporter could not do its work at the end of the run.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("cannot create the report folder {}: {source}", path.display())]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the run ended without its final event")]
    Unfinished,
}

/// What the reporters made of a finished run.
#[derive(Debug)]
pub struct Finished {
    /// With `--redact-phi`: the run as the reporters saw it, redacted.
    pub redacted: Option<RunOutcome>,
    /// The summary or the deferred `--json` lines, to print.
    pub text: String,
    /// The comparison with the baseline (`--baseline`).
    pub baseline: Option<Comparison>,
    /// The report folder written.
    pub folder: Option<PathBuf>,
    /// What the baseline or the report folder could not do (the folder is not written when
    /// the baseline could not be compared).
    pub error: Option<LiveError>,
}

/// Every reporter of `run`, in the order they act on each event.
pub struct RunReporters {
    progress: Progress,
    json_lines: Option<JsonLines>,
    terminal: Option<Terminal>,
    baseline: Option<BaselineCheck>,
    folder: Option<ReportFolder>,
    redact_phi: bool,
    /// The finished run, redacted (with `--redact-phi`).
    redacted: Option<RunOutcome>,
    /// [`RunEvent::RunFinished`] came.
    run_finished: bool,
}

impl RunReporters {
    pub fn new(options: LiveOptions) -> RunReporters {
        let LiveOptions { json, verbose, redact_phi, baseline, folder } = options;
        RunReporters {
            progress: Progress { bar: progress_bar(json) },
            // With --redact-phi the lines are printed after the run, when every value is known.
            json_lines: json.then(|| JsonLines { deferred: redact_phi, text: String::new() }),
            terminal: (!json).then(|| Terminal::new(verbose)),
            baseline: baseline.map(|options| BaselineCheck {
                options,
                comparison: None,
                error: None,
            }),
            folder: folder.map(|options| ReportFolder {
                options,
                baseline: None,
                redacted: false,
                written: None,
                error: None,
            }),
            redact_phi,
            redacted: None,
            run_finished: false,
        }
    }

    /// Ends the progress bar (also when the run stopped with an error) and hands over what the
    /// reporters made of the run.
    pub fn finish(self) -> Finished {
        self.progress.bar.finish_and_clear();
        let (mut comparison, mut baseline_error) = match self.baseline {
            Some(check) => (check.comparison, check.error),
            None => (None, None),
        };
        let (folder, folder_error) = match self.folder {
            Some(folder) => (folder.written, folder.error),
            None => (None, None),
        };
        let unfinished = (!self.run_finished).then_some(LiveError::Unfinished);
        let error = baseline_error.take().or(folder_error).or(unfinished);
        let text = match (&self.json_lines, &self.terminal) {
            (Some(lines), _) => lines.text.clone(),
            (None, Some(terminal)) => terminal.text.clone(),
            (None, None) => String::new(),
        };
        Finished { redacted: self.redacted, text, baseline: comparison.take(), folder, error }
    }

    fn forward(&mut self, event: &RunEvent<'_>) {
        self.progress.report(event);
        if let Some(lines) = &mut self.json_lines {
            lines.report(event);
        }
        if let Some(terminal) = &mut self.terminal {
            terminal.report(event);
        }
        if let Some(baseline) = &mut self.baseline {
            baseline.report(event);
        }
        // A report must not claim a baseline comparison that failed.
        let baseline_failed = self.baseline.as_ref().is_some_and(|b| b.error.is_some());
        if let Some(folder) = self.folder.as_mut().filter(|_| !baseline_failed) {
            folder.baseline = self.baseline.as_ref().and_then(|b| b.comparison.clone());
            folder.redacted = self.redact_phi;
            folder.report(event);
        }
        if let RunEvent::RunFinished(_) = event {
            self.run_finished = true;
        }
    }
}

impl Reporter for RunReporters {
    fn report(&mut self, event: &RunEvent<'_>) {
        match event {
            RunEvent::RunFinished(outcome) if self.redact_phi => {
                let redacted = super::redact::redact(outcome);
                self.forward(&RunEvent::RunFinished(&redacted));
                self.redacted = Some(redacted);
            }
            // The endpoint's lines may quote the messages it read: not shown when redacting.
            RunEvent::EndpointLog { .. } if self.redact_phi => {}
            RunEvent::RunStarted { .. }
            | RunEvent::FileStarted { .. }
            | RunEvent::FileSkipped { .. }
            | RunEvent::CaseStarted { .. }
            | RunEvent::CaseFinished(_)
            | RunEvent::LoadPhaseFinished { .. }
            | RunEvent::EndpointLog { .. }
            | RunEvent::FileFinished { .. }
            | RunEvent::RunFinished(_) => self.forward(event),
        }
    }
}

/// Whether live progress goes to stderr: only on a terminal, never in CI (`CI` set) or with
/// `--json`, so logs and machine output stay clean.
pub fn show_progress(json: bool) -> bool {
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    !json && !in_ci && std::io::stderr().is_terminal()
}

/// Case progress on stderr when it is a terminal; hidden in CI (`CI` set), with `--json`, or
/// when stderr is piped. Its length is set when the run starts and says how many cases it
/// selected.
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

/// One `--json` line.
pub fn case_json(case: &CaseOutcome) -> serde_json::Value {
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

/// `--baseline`: at the end of the run, compares every case's snapshot with the accepted ones;
/// with `--accept` makes them the baseline, otherwise leaves the differing ones as `.snap.new`
/// for `cargo insta review`.
struct BaselineCheck {
    options: BaselineOptions,
    comparison: Option<Comparison>,
    error: Option<LiveError>,
}

impl BaselineCheck {
    fn compare(&self, outcome: &RunOutcome) -> Result<Comparison, BaselineError> {
        let BaselineOptions { dir, complete, accept } = &self.options;
        let snapshots = super::snapshot::snapshots(outcome);
        let mut comparison = baseline::compare(dir, &snapshots, *complete)?;
        if *accept {
            let meta = BaselineMeta {
                schema: baseline::META_SCHEMA.into(),
                seed: outcome.seed,
                harness_version: HARNESS_VERSION.into(),
                target: outcome.target.clone(),
                accepted: rfc3339(SystemTime::now()),
            };
            baseline::accept(dir, &snapshots, &mut comparison, &meta)?;
        } else {
            baseline::write_pending(dir, &snapshots, &comparison)?;
        }
        Ok(comparison)
    }
}

impl Reporter for BaselineCheck {
    fn report(&mut self, event: &RunEvent<'_>) {
        match event {
            RunEvent::RunStarted { .. }
            | RunEvent::FileStarted { .. }
            | RunEvent::FileSkipped { .. }
            | RunEvent::CaseStarted { .. }
            | RunEvent::CaseFinished(_)
            | RunEvent::LoadPhaseFinished { .. }
            | RunEvent::EndpointLog { .. }
            | RunEvent::FileFinished { .. } => {}
            RunEvent::RunFinished(outcome) => match self.compare(outcome) {
                Ok(comparison) => self.comparison = Some(comparison),
                Err(error) => self.error = Some(error.into()),
            },
        }
    }
}

/// The report folder (`results.json`, `junit.xml`, `summary.md`, `report.html`, the load
/// charts, `manifest.json`), written when the run is finished.
struct ReportFolder {
    options: FolderOptions,
    /// The baseline comparison, handed over by [`RunReporters`] before the final event.
    baseline: Option<Comparison>,
    redacted: bool,
    written: Option<PathBuf>,
    error: Option<LiveError>,
}

impl ReportFolder {
    fn write(&self, outcome: &RunOutcome) -> Result<PathBuf, LiveError> {
        let record = RunRecord {
            outcome,
            run_id: run_id(self.options.started, outcome.seed),
            started: self.options.started,
            finished: SystemTime::now(),
            packs: self.options.packs.clone(),
            phi_redacted: self.redacted,
            baseline: self.baseline.clone(),
        };
        let dir = match &self.options.dir {
            Some(dir) => dir.clone(),
            None => fresh_dir(Path::new("reports"), &record.run_id)?,
        };
        write_report(&dir, &record)?;
        Ok(dir)
    }
}

impl Reporter for ReportFolder {
    fn report(&mut self, event: &RunEvent<'_>) {
        match event {
            RunEvent::RunStarted { .. }
            | RunEvent::FileStarted { .. }
            | RunEvent::FileSkipped { .. }
            | RunEvent::CaseStarted { .. }
            | RunEvent::CaseFinished(_)
            | RunEvent::LoadPhaseFinished { .. }
            | RunEvent::EndpointLog { .. }
            | RunEvent::FileFinished { .. } => {}
            RunEvent::RunFinished(outcome) => match self.write(outcome) {
                Ok(dir) => self.written = Some(dir),
                Err(error) => self.error = Some(error),
            },
        }
    }
}

/// `<parent>/<run-id>`, or `<run-id>-2`, … when two runs start in the same second with the same
/// seed: the folder is claimed with `create_dir`, so concurrent runs never share one.
pub fn fresh_dir(parent: &Path, run_id: &str) -> Result<PathBuf, LiveError> {
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LiveError::Folder { path, source }
    };
    std::fs::create_dir_all(parent).map_err(failed(parent))?;
    for n in 1u32.. {
        let name = if n == 1 { run_id.to_string() } else { format!("{run_id}-{n}") };
        let dir = parent.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(failed(&dir)(e)),
        }
    }
    Err(LiveError::Folder {
        path: parent.to_path_buf(),
        source: std::io::Error::other("every numbered report folder is taken"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Seed;

    #[test]
    fn fresh_dir_numbers_a_taken_folder() {
        let parent = std::env::temp_dir().join(format!("hl7h-live-{}", std::process::id()));
        let first = fresh_dir(&parent, "20261202-000000-7").expect("first");
        let second = fresh_dir(&parent, "20261202-000000-7").expect("second");
        assert_eq!(first.file_name().and_then(|n| n.to_str()), Some("20261202-000000-7"));
        assert_eq!(second.file_name().and_then(|n| n.to_str()), Some("20261202-000000-7-2"));
        let _ = std::fs::remove_dir_all(&parent);
    }

    #[test]
    fn a_run_without_its_final_event_is_an_error() {
        let options = LiveOptions {
            json: true,
            verbose: false,
            redact_phi: false,
            baseline: None,
            folder: None,
        };
        let mut reporters = RunReporters::new(options);
        reporters.report(&RunEvent::RunStarted {
            seed: Seed(1),
            target: "builtin",
            cases: 0,
            shard: None,
        });
        assert!(matches!(reporters.finish().error, Some(LiveError::Unfinished)));
    }
}
