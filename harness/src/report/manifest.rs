//! `manifest.json`: the sha256 of every report file and of every scenario and message file the
//! run read, with harness version, target, seed, times and verdict. It is what `report sign`
//! signs and what `report verify` checks the folder against. Schema `hl7-harness/manifest/1`.

use super::record::{sha256_hex, PackInputs, RunRecord, HARNESS_VERSION};
use crate::vocab::Seed;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

pub const SCHEMA: &str = "hl7-harness/manifest/1";
/// The manifest's file name in a report folder.
pub const FILE: &str = "manifest.json";
/// The signature's file name (written by `report sign`).
pub const SIGNATURE_FILE: &str = "signature.json";

/// One report file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportFile {
    /// Relative to the report folder, `/` separators.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// One input file as recorded (read back from a manifest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedInput {
    pub kind: String,
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedPack {
    pub name: String,
    pub sha256: String,
    pub files: Vec<RecordedInput>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    pub run_id: String,
    pub harness_version: String,
    pub target: String,
    pub seed: Seed,
    /// The target profiles the run graded by, with their sha256 (none: no profile).
    #[serde(default)]
    pub profiles: Vec<crate::profile::ProfileUsed>,
    pub started: String,
    pub finished: String,
    /// `conformant` or `not conformant`.
    pub verdict: String,
    /// Error-severity checks that failed.
    pub error_failures: usize,
    /// The PHI of the messages was replaced by placeholders (`--redact-phi`).
    #[serde(default)]
    pub phi_redacted: bool,
    pub files: Vec<ReportFile>,
    pub packs: Vec<RecordedPack>,
}

impl Manifest {
    pub fn new(record: &RunRecord, files: Vec<ReportFile>, phi_redacted: bool) -> Manifest {
        let outcome = record.outcome;
        let error_failures = outcome
            .cases()
            .flat_map(|c| c.failures())
            .filter(|r| r.severity == crate::checks::Severity::Error)
            .count();
        Manifest {
            schema: SCHEMA.into(),
            run_id: record.run_id.clone(),
            harness_version: HARNESS_VERSION.into(),
            target: outcome.target.clone(),
            seed: outcome.seed,
            profiles: outcome.profiles.clone(),
            started: super::time::rfc3339(record.started),
            finished: super::time::rfc3339(record.finished),
            verdict: record.verdict().into(),
            error_failures,
            phi_redacted,
            files,
            packs: record.packs.iter().map(recorded).collect(),
        }
    }

    /// The manifest as written: pretty JSON with a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = serde_json::to_string_pretty(self).expect("a manifest serializes");
        text.push('\n');
        text.into_bytes()
    }
}

fn recorded(pack: &PackInputs) -> RecordedPack {
    RecordedPack {
        name: pack.name.clone(),
        sha256: pack.sha256.clone(),
        files: pack
            .files
            .iter()
            .map(|f| RecordedInput {
                kind: f.kind.into(),
                path: f.path.clone(),
                sha256: f.sha256.clone(),
            })
            .collect(),
    }
}

/// The entry of a report file written with `bytes`.
pub fn entry(path: &str, bytes: &[u8]) -> ReportFile {
    ReportFile { path: path.into(), sha256: sha256_hex(bytes), bytes: bytes.len() as u64 }
}

/// How a report folder differs from its manifest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// Listed, present, different bytes.
    Changed(String),
    /// Listed, missing.
    Removed(String),
    /// Present, not listed.
    Added(String),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Changed(path) => write!(f, "changed: {path}"),
            Change::Removed(path) => write!(f, "removed: {path}"),
            Change::Added(path) => write!(f, "added: {path}"),
        }
    }
}

/// Every file under `dir`, relative, `/` separators, sorted.
fn files_under(dir: &Path) -> std::io::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap_or(&path);
                out.insert(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(out)
}

/// Compares the folder `dir` with `manifest`: every listed file's hash, and files not listed
/// (besides the manifest and the signature themselves).
pub fn compare(dir: &Path, manifest: &Manifest) -> std::io::Result<Vec<Change>> {
    let mut present = files_under(dir)?;
    present.remove(FILE);
    present.remove(SIGNATURE_FILE);
    let mut changes = Vec::new();
    for file in &manifest.files {
        if !present.remove(&file.path) {
            changes.push(Change::Removed(file.path.clone()));
            continue;
        }
        let bytes = std::fs::read(dir.join(&file.path))?;
        if sha256_hex(&bytes) != file.sha256 {
            changes.push(Change::Changed(file.path.clone()));
        }
    }
    changes.extend(present.into_iter().map(Change::Added));
    changes.sort();
    Ok(changes)
}
