//! Regression against accepted snapshots (`run --baseline DIR`): which cases are new, changed
//! or missing compared with `DIR/<pack>/*.snap`, with a readable diff. A run that differs fails
//! unless `--accept` writes its snapshots as the new baseline. Without `--accept`, each new or
//! changed snapshot is also written next to the accepted one as `<name>.snap.new`, so
//! `cargo insta review --workspace-root DIR` can review and accept them one by one (the folder
//! gets a marker `Cargo.toml` for that, see [`REVIEW_MANIFEST`]).
//!
//! The baseline records the seed it was accepted with (`baseline.json`): generated messages
//! depend on the seed, so a later run reuses it unless `--seed` says otherwise.

use super::snapshot::{parse_body, Snapshot, EXTENSION};
use crate::vocab::Seed;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The file in a baseline folder that records how it was accepted.
pub const META_FILE: &str = "baseline.json";
pub const META_SCHEMA: &str = "hl7-harness/baseline/1";

/// What `baseline.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineMeta {
    pub schema: String,
    /// The seed of the accepted run; later runs use it unless `--seed` is given.
    pub seed: Seed,
    pub harness_version: String,
    pub target: String,
    /// When it was last accepted (RFC 3339, UTC).
    pub accepted: String,
}

/// A baseline folder could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("baseline {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("baseline {}: not a snapshot in insta's format (no `---` header)", path.display())]
    NotASnapshot { path: PathBuf },
    #[error("baseline {}: {message}", path.display())]
    Meta { path: PathBuf, message: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BaselineError + '_ {
    move |source| BaselineError::Io { path: path.to_path_buf(), source }
}

/// One snapshot that differs from the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    /// `<pack>/<name>.snap`.
    pub path: String,
    pub title: String,
    /// Unified diff, accepted (`-`) to this run (`+`).
    pub diff: String,
}

/// A run compared with a baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    pub dir: String,
    /// The seed of the baseline, when it records one.
    pub baseline_seed: Option<Seed>,
    pub unchanged: usize,
    /// In this run, not in the baseline.
    pub new: Vec<String>,
    pub changed: Vec<Changed>,
    /// In the baseline (for a pack this run ran), not in this run. Only judged when the run
    /// ran every case (no `--filter`, no `--shard`).
    pub missing: Vec<String>,
    /// Whether missing snapshots were looked for.
    pub complete: bool,
    /// `--accept` wrote this run's snapshots as the baseline.
    pub accepted: bool,
}

impl Comparison {
    /// Differences that fail a run unless accepted.
    pub fn differs(&self) -> bool {
        !self.new.is_empty() || !self.changed.is_empty() || !self.missing.is_empty()
    }

    /// One line: `baseline reports/baseline: 70 unchanged, 1 changed, 0 new, 0 missing`.
    pub fn headline(&self) -> String {
        let missing = if self.complete {
            format!("{} missing", self.missing.len())
        } else {
            "missing not judged (a filtered or sharded run)".into()
        };
        let state = if self.accepted { " (accepted)" } else { "" };
        format!(
            "baseline {}: {} unchanged, {} changed, {} new, {missing}{state}",
            self.dir,
            self.unchanged,
            self.changed.len(),
            self.new.len()
        )
    }
}

/// Reads `baseline.json` of `dir`, if there is one.
pub fn read_meta(dir: &Path) -> Result<Option<BaselineMeta>, BaselineError> {
    let path = dir.join(META_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    let meta: BaselineMeta = serde_json::from_str(&text)
        .map_err(|e| BaselineError::Meta { path: path.clone(), message: e.to_string() })?;
    if meta.schema != META_SCHEMA {
        return Err(BaselineError::Meta {
            path,
            message: format!("schema {:?}, expected {META_SCHEMA:?}", meta.schema),
        });
    }
    Ok(Some(meta))
}

/// The accepted snapshots of one pack folder, by file name (`x.snap`).
fn accepted_in(dir: &Path) -> Result<BTreeSet<String>, BaselineError> {
    let mut names = BTreeSet::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(io(dir)(e)),
    };
    for entry in entries {
        let name = entry.map_err(io(dir))?.file_name().to_string_lossy().into_owned();
        if name.ends_with(&format!(".{EXTENSION}")) {
            names.insert(name);
        }
    }
    Ok(names)
}

/// A unified diff of two snapshot bodies, with three lines of context. Each hunk header names
/// the section it is in, as `git diff` names the function: the nearest line before the hunk
/// that starts a section of the snapshot (not indented, e.g. `step 2, connection 1:` or a
/// through case's `input 1 (admit): ADT^A01 [sent-1]`), so a change deep in a long listing
/// still says which message it is in.
pub fn diff(accepted: &str, current: &str) -> String {
    let text = similar::TextDiff::from_lines(accepted, current)
        .unified_diff()
        .context_radius(3)
        .header("accepted", "this run")
        .to_string();
    let sections: Vec<&str> = accepted.lines().collect();
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        match hunk_start(line).and_then(|start| section_before(&sections, start)) {
            Some(section) => {
                out.push_str(line.trim_end_matches('\n'));
                out.push(' ');
                out.push_str(section);
                out.push('\n');
            }
            None => out.push_str(line),
        }
    }
    out
}

/// The first accepted line (1-based) of a hunk header `@@ -12,7 +12,8 @@`.
fn hunk_start(line: &str) -> Option<usize> {
    let rest = line.strip_prefix("@@ -")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The nearest section line strictly before line `start` (1-based) of the accepted text.
fn section_before<'a>(lines: &[&'a str], start: usize) -> Option<&'a str> {
    let before = start.saturating_sub(1).min(lines.len());
    lines[..before]
        .iter()
        .rev()
        .find(|l| !l.is_empty() && !l.starts_with(char::is_whitespace))
        .copied()
}

/// Compares `snapshots` with the baseline in `dir`. `complete`: the run ran every case of its
/// packs, so a baseline snapshot with no case is missing (not just filtered out).
pub fn compare(
    dir: &Path,
    snapshots: &[Snapshot],
    complete: bool,
) -> Result<Comparison, BaselineError> {
    let meta = read_meta(dir)?;
    let mut comparison = Comparison {
        dir: dir.display().to_string(),
        baseline_seed: meta.map(|m| m.seed),
        unchanged: 0,
        new: Vec::new(),
        changed: Vec::new(),
        missing: Vec::new(),
        complete,
        accepted: false,
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for snapshot in snapshots {
        let relative = snapshot.path();
        seen.insert(relative.clone());
        let path = dir.join(&relative);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                comparison.new.push(relative);
                continue;
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let accepted = parse_body(&text).ok_or(BaselineError::NotASnapshot { path })?;
        let current = snapshot.body.trim_end();
        if accepted == current {
            comparison.unchanged += 1;
        } else {
            comparison.changed.push(Changed {
                path: relative,
                title: snapshot.title.clone(),
                diff: diff(&format!("{accepted}\n"), &format!("{current}\n")),
            });
        }
    }
    if complete {
        let packs: BTreeSet<String> = snapshots
            .iter()
            .filter_map(|s| s.path().split_once('/').map(|(p, _)| p.to_string()))
            .collect();
        for pack in packs {
            for name in accepted_in(&dir.join(&pack))? {
                let relative = format!("{pack}/{name}");
                if !seen.contains(&relative) {
                    comparison.missing.push(relative);
                }
            }
        }
    }
    Ok(comparison)
}

/// The marker manifest that lets `cargo insta review --workspace-root DIR` find a baseline's
/// snapshots: cargo-insta only walks Cargo packages. Never built (the library file need not
/// exist for `cargo metadata`), and its own `[workspace]` keeps it out of any enclosing one.
pub const REVIEW_MANIFEST: &str = "\
# Written by hl7-harness: lets `cargo insta review --workspace-root <this folder>` find the
# snapshots of this baseline (cargo-insta walks Cargo packages). Nothing here is ever built.
[package]
name = \"hl7-harness-baseline\"
version = \"0.0.0\"
edition = \"2021\"
publish = false

[lib]
path = \"baseline.rs\"

[workspace]
";

/// Writes `Cargo.toml` (see [`REVIEW_MANIFEST`]) unless the folder has one.
fn ensure_review_manifest(dir: &Path) -> Result<(), BaselineError> {
    let path = dir.join("Cargo.toml");
    if path.exists() {
        return Ok(());
    }
    write(&path, REVIEW_MANIFEST)
}

fn write(path: &Path, text: &str) -> Result<(), BaselineError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(path, text).map_err(io(path))
}

fn remove_if_present(path: &Path) -> Result<(), BaselineError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path)(e)),
    }
}

/// Writes each new or changed snapshot as `<name>.snap.new` beside the accepted one (for
/// `cargo insta review`), and removes stale `.snap.new` files of unchanged ones.
pub fn write_pending(
    dir: &Path,
    snapshots: &[Snapshot],
    comparison: &Comparison,
) -> Result<(), BaselineError> {
    let pending: BTreeSet<&str> = comparison
        .new
        .iter()
        .map(String::as_str)
        .chain(comparison.changed.iter().map(|c| c.path.as_str()))
        .collect();
    if !pending.is_empty() {
        ensure_review_manifest(dir)?;
    }
    for snapshot in snapshots {
        let relative = snapshot.path();
        let path = dir.join(format!("{relative}.new"));
        if pending.contains(relative.as_str()) {
            write(&path, &snapshot.file_text())?;
        } else {
            remove_if_present(&path)?;
        }
    }
    Ok(())
}

/// Makes this run the baseline: writes every snapshot, removes the missing ones (when the run
/// was complete) and every pending `.snap.new`, and records the seed in `baseline.json`.
pub fn accept(
    dir: &Path,
    snapshots: &[Snapshot],
    comparison: &mut Comparison,
    meta: &BaselineMeta,
) -> Result<(), BaselineError> {
    for snapshot in snapshots {
        let relative = snapshot.path();
        write(&dir.join(&relative), &snapshot.file_text())?;
        remove_if_present(&dir.join(format!("{relative}.new")))?;
    }
    for missing in &comparison.missing {
        remove_if_present(&dir.join(missing))?;
        remove_if_present(&dir.join(format!("{missing}.new")))?;
    }
    let mut text = serde_json::to_string_pretty(meta).unwrap_or_default();
    text.push('\n');
    write(&dir.join(META_FILE), &text)?;
    ensure_review_manifest(dir)?;
    comparison.accepted = true;
    comparison.baseline_seed = Some(meta.seed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(name: &str, body: &str) -> Snapshot {
        Snapshot { pack: "pack".into(), name: name.into(), title: name.into(), body: body.into() }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir()
            .join(format!("hl7-harness-baseline-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn meta(seed: u64) -> BaselineMeta {
        BaselineMeta {
            schema: META_SCHEMA.into(),
            seed: Seed(seed),
            harness_version: "0".into(),
            target: "builtin".into(),
            accepted: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn new_changed_missing_and_accept() {
        let dir = temp("cycle");
        let first = [snapshot("a", "one\ntwo\n"), snapshot("b", "b\n")];
        let mut comparison = compare(&dir, &first, true).unwrap();
        assert_eq!(comparison.new, ["pack/a.snap", "pack/b.snap"]);
        assert!(comparison.differs());
        write_pending(&dir, &first, &comparison).unwrap();
        assert!(dir.join("pack/a.snap.new").exists());
        accept(&dir, &first, &mut comparison, &meta(7)).unwrap();
        assert!(!dir.join("pack/a.snap.new").exists());
        assert_eq!(read_meta(&dir).unwrap().unwrap().seed, Seed(7));

        let same = compare(&dir, &first, true).unwrap();
        assert!(!same.differs(), "{same:?}");
        assert_eq!(same.unchanged, 2);
        assert_eq!(same.baseline_seed, Some(Seed(7)));

        let second = [snapshot("a", "one\nTWO\n")];
        let changed = compare(&dir, &second, true).unwrap();
        assert_eq!(changed.changed.len(), 1);
        assert!(changed.changed[0].diff.contains("-two\n+TWO\n"), "{}", changed.changed[0].diff);
        assert_eq!(changed.missing, ["pack/b.snap"]);
        let partial = compare(&dir, &second, false).unwrap();
        assert!(partial.missing.is_empty());
        assert!(partial.headline().contains("missing not judged"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A hunk deep in a section names the section (the message a changed field is in).
    #[test]
    fn hunks_name_their_section() {
        let lines = |n: usize| (1..=n).map(|i| format!("  field {i}\n")).collect::<String>();
        let accepted =
            format!("case: x\ninput 1 (a): A01\n{}input 2 (b): A08\n{}", lines(9), lines(9));
        let current = accepted.replacen("input 2 (b): A08\n  field 1\n  field 2\n  field 3\n  field 4\n  field 5\n  field 6\n", "input 2 (b): A08\n  field 1\n  field 2\n  field 3\n  field 4\n  field 5\n  field SIX\n", 1);
        let shown = diff(&accepted, &current);
        assert!(shown.contains(" @@ input 2 (b): A08\n"), "{shown}");
        assert!(shown.contains("-  field 6\n+  field SIX\n"), "{shown}");
        // A hunk at the top has no section before it.
        let shown = diff("a\n", "b\n");
        assert!(shown.contains("@@ -1 +1 @@\n"), "{shown}");
    }

    #[test]
    fn a_file_that_is_not_a_snapshot_is_an_error() {
        let dir = temp("garbage");
        std::fs::create_dir_all(dir.join("pack")).unwrap();
        std::fs::write(dir.join("pack/a.snap"), "garbage").unwrap();
        let err = compare(&dir, &[snapshot("a", "x")], true).unwrap_err();
        assert!(err.to_string().contains("pack/a.snap"), "{err}");
        std::fs::write(dir.join(META_FILE), "{").unwrap();
        assert!(read_meta(&dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
