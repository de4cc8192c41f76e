//! Writes a report folder: `results.json`, `junit.xml`, `summary.md`, `report.html`, the case
//! snapshots under `snapshots/`, then `manifest.json` with the hashes of the bytes just written.

use super::manifest::{entry, Manifest, FILE};
use super::record::RunRecord;
use std::path::{Path, PathBuf};

/// A report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write the report {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), ReportError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|source| ReportError::Write { path, source })
}

/// The folder of a report that holds the run's case snapshots, `<pack>/<name>.snap`.
pub const SNAPSHOTS: &str = "snapshots";

/// Writes the report of `record` into `dir` (created when missing) and returns its manifest.
pub fn write_report(dir: &Path, record: &RunRecord) -> Result<Manifest, ReportError> {
    std::fs::create_dir_all(dir)
        .map_err(|source| ReportError::Write { path: dir.to_path_buf(), source })?;
    // results.json, summary.md and report.html each carry the load section themselves (only
    // runs with a load phase have one, so other reports stay as they were).
    let results = super::json::results(record);
    let summary = super::markdown::summary(record);
    let html = super::html::html(record);
    let mut results = serde_json::to_string_pretty(&results).expect("results serialize");
    results.push('\n');
    let files = [
        ("results.json", results),
        ("junit.xml", super::junit::junit(record)),
        ("summary.md", summary),
        ("report.html", html),
    ];
    let mut entries = Vec::new();
    for (name, text) in &files {
        write(dir, name, text.as_bytes())?;
        entries.push(entry(name, text.as_bytes()));
    }
    for snapshot in super::snapshot::snapshots(record.outcome) {
        let name = format!("{SNAPSHOTS}/{}", snapshot.path());
        let text = snapshot.file_text();
        if let Some(parent) = dir.join(&name).parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| ReportError::Write { path: parent.to_path_buf(), source })?;
        }
        write(dir, &name, text.as_bytes())?;
        entries.push(entry(&name, text.as_bytes()));
    }
    let manifest = Manifest::new(record, entries, record.phi_redacted);
    write(dir, FILE, &manifest.to_bytes())?;
    Ok(manifest)
}
