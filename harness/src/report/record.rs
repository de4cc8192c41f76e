//! A finished run as the report files see it: the outcome, the packs it ran (for content
//! hashes), the run id and times. Also the hashing of the inputs (scenario and message files).

use crate::runner::RunOutcome;
use crate::scenario::{Pack, Template};
use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

/// The harness version written into every report.
pub const HARNESS_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The verdict of a run with no error-severity failure.
pub const CONFORMANT: &str = "conformant";
/// The verdict of a run with at least one error-severity failure (or no reachable target).
pub const NOT_CONFORMANT: &str = "not conformant";

/// Everything the report files are made from.
#[derive(Debug)]
pub struct RunRecord<'a> {
    pub outcome: &'a RunOutcome,
    pub run_id: String,
    pub started: SystemTime,
    pub finished: SystemTime,
    /// The packs run, with the hashes of their files.
    pub packs: Vec<PackInputs>,
    /// The outcome's patient data was replaced by placeholders (`--redact-phi`).
    pub phi_redacted: bool,
    /// The comparison with an accepted baseline (`--baseline`).
    pub baseline: Option<super::baseline::Comparison>,
}

impl RunRecord<'_> {
    /// `conformant` or `not conformant`.
    pub fn verdict(&self) -> &'static str {
        if self.outcome.failed() || self.outcome.unreachable {
            NOT_CONFORMANT
        } else {
            CONFORMANT
        }
    }

    /// The inputs of the pack named `name`.
    pub fn pack(&self, name: &str) -> Option<&PackInputs> {
        self.packs.iter().find(|p| p.name == name)
    }
}

/// One file a run read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputFile {
    pub kind: InputKind,
    /// The path as the run saw it, `..` resolved lexically, `/` separators.
    pub path: String,
    pub sha256: String,
}

/// What an input file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    Scenario,
    /// A template's file (any kind but `scenario` reads back as one).
    #[serde(other)]
    Message,
}

impl InputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Scenario => "scenario",
            InputKind::Message => "message",
        }
    }
}

impl std::fmt::Display for InputKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<InputKind> for String {
    fn from(kind: InputKind) -> String {
        kind.as_str().to_string()
    }
}

/// A pack and the files it is made of.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PackInputs {
    pub name: String,
    /// sha256 over the lines `<sha256>  <name>\n`, sorted by name, of the pack's scenario files
    /// (name: file name) and message files (name: as written in the scenario), so the same pack
    /// gives the same hash wherever it is checked out.
    pub sha256: String,
    pub files: Vec<InputFile>,
}

/// Lowercase hex of sha256(`bytes`).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `a/b/../c` → `a/c`, without touching the file system (the path may be relative).
fn lexical(path: &Path) -> String {
    let mut parts: Vec<Component> = Vec::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.iter().collect::<PathBuf>().to_string_lossy().replace('\\', "/")
}

/// Reads and hashes the scenario and message files of `packs`.
pub fn hash_inputs(packs: &[Pack]) -> std::io::Result<Vec<PackInputs>> {
    let mut out = Vec::new();
    for pack in packs {
        let mut files = Vec::new();
        let mut named = Vec::new();
        for scenario in &pack.scenarios {
            let sha = sha256_hex(&scenario.source);
            let name = scenario.path.file_name().map(|n| n.to_string_lossy().into_owned());
            named.push((name.unwrap_or_default(), sha.clone()));
            files.push(InputFile {
                kind: InputKind::Scenario,
                path: lexical(&scenario.path),
                sha256: sha,
            });
            let dir = scenario.path.parent().unwrap_or(Path::new(""));
            for template in scenario.file.messages.values() {
                let paths: Vec<(PathBuf, String)> = match template {
                    Template::File(file) => vec![(file.resolved.clone(), file.written.clone())],
                    Template::Glob(pattern) => glob::glob(&dir.join(pattern).to_string_lossy())
                        .map(|paths| {
                            paths
                                .flatten()
                                .map(|p| {
                                    let shown = p.strip_prefix(dir).unwrap_or(&p).display();
                                    let shown = shown.to_string();
                                    (p, shown)
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    Template::Text(_) | Template::Raw(_) => Vec::new(),
                };
                for (path, written) in paths {
                    let bytes = std::fs::read(&path).map_err(|e| {
                        std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                    })?;
                    let sha = sha256_hex(&bytes);
                    let shown = lexical(&path);
                    if files.iter().any(|f: &InputFile| f.path == shown) {
                        continue;
                    }
                    named.push((written.replace('\\', "/"), sha.clone()));
                    files.push(InputFile { kind: InputKind::Message, path: shown, sha256: sha });
                }
            }
        }
        named.sort();
        named.dedup();
        let listing: String = named.iter().map(|(name, sha)| format!("{sha}  {name}\n")).collect();
        out.push(PackInputs {
            name: pack.name.clone(),
            sha256: sha256_hex(listing.as_bytes()),
            files,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, expected: &str) {
        assert_eq!(lexical(Path::new(path)), expected);
    }

    #[test]
    fn lexical_paths() {
        check("scenarios/core/../../corpus/a.hl7", "corpus/a.hl7");
        check("./a/b", "a/b");
        check("../x/./y", "../x/y");
        check("/abs/p/../q", "/abs/q");
    }

    #[test]
    fn sha256_of_abc() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
