//! Which files a scenario pack may read. A pack is handed around between organisations; its
//! `file:`, `glob:` (and TLS `ca:`, `client_cert:`, `client_key:`) references must not reach
//! into the rest of the machine (`/etc/shadow`, `../../…`) and copy what they find into a
//! report. The rule, after symlinks and `..` are resolved:
//!
//! - the pack's folder (the folder of the scenario file) and everything below it;
//! - the `corpus/` folder of the nearest folder above it that has one: the shipped layout,
//!   `scenarios/<pack>/` beside `corpus/`, works as it is.
//!
//! Anything else needs the explicit opt-in `--allow-files-outside-pack` (on `run` and `load`).
//! The rule does not make a pack safe to run: a pack also runs commands (`command:` probes,
//! `sut.command`) and is as trusted as code. It keeps an honest pack's report from holding
//! files the person running it never meant to hand over.

use std::path::{Path, PathBuf};
use thiserror::Error;

/// Whether files outside the pack's folders may be read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FileAccess {
    /// The pack's folder and the nearest `corpus/` above it (the default).
    #[default]
    PackOnly,
    /// Any file (`--allow-files-outside-pack`).
    Anywhere,
}

/// Why a file reference was refused. Names paths only, never the file's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FileRefused {
    #[error("{written:?} not found (looked for {})", looked.display())]
    NotFound { written: String, looked: PathBuf },
    #[error(
        "{written:?} is outside the pack (it resolves to {}; a pack reads files in {}{}); pass \
         --allow-files-outside-pack to read it",
        resolved.display(),
        pack.display(),
        corpus.as_ref().map(|c| format!(" and {}", c.display())).unwrap_or_default()
    )]
    Outside { written: String, resolved: PathBuf, pack: PathBuf, corpus: Option<PathBuf> },
}

/// The folders a pack in `pack_dir` may read, canonical: the pack's own and the nearest
/// `corpus/` above it (when there is one).
pub fn pack_roots(pack_dir: &Path) -> Vec<PathBuf> {
    let dir = if pack_dir.as_os_str().is_empty() { Path::new(".") } else { pack_dir };
    let Ok(pack) = dir.canonicalize() else { return Vec::new() };
    let corpus = pack
        .ancestors()
        .skip(1)
        .map(|a| a.join("corpus"))
        .find(|c| c.is_dir())
        .and_then(|c| c.canonicalize().ok());
    std::iter::once(pack).chain(corpus).collect()
}

/// Resolves `written` (as the scenario spells it) against `pack_dir` and says whether the pack
/// may read it: the canonical path when it may. This is the one check for every file a
/// scenario names (templates, globs' matches, TLS files, target profiles).
pub fn check_pack_file(
    pack_dir: &Path,
    written: &str,
    access: FileAccess,
) -> Result<PathBuf, FileRefused> {
    let looked = pack_dir.join(written);
    let resolved = match looked.canonicalize() {
        Ok(resolved) if resolved.is_file() => resolved,
        _ => return Err(FileRefused::NotFound { written: written.to_string(), looked }),
    };
    // The path as the pack names it (relative where the pack is), so reports show
    // `../../corpus/…` and not this machine's absolute paths; where it leads was checked.
    if access == FileAccess::Anywhere {
        return Ok(looked);
    }
    let roots = pack_roots(pack_dir);
    if roots.iter().any(|root| resolved.starts_with(root)) {
        return Ok(looked);
    }
    let mut roots = roots.into_iter();
    Err(FileRefused::Outside {
        written: written.to_string(),
        resolved,
        pack: roots.next().unwrap_or_else(|| pack_dir.to_path_buf()),
        corpus: roots.next(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_folder_and_nearest_corpus_only() {
        let base = std::env::temp_dir().join(format!("hl7h-files-{}", std::process::id()));
        let pack = base.join("scenarios").join("p");
        std::fs::create_dir_all(&pack).unwrap();
        std::fs::create_dir_all(base.join("corpus/adt")).unwrap();
        std::fs::create_dir_all(base.join("secret")).unwrap();
        std::fs::write(pack.join("m.hl7"), "MSH|^~\\&|\r").unwrap();
        std::fs::write(base.join("corpus/adt/a.hl7"), "MSH|^~\\&|\r").unwrap();
        std::fs::write(base.join("secret/s.hl7"), "MSH|^~\\&|\r").unwrap();
        let check = |written: &str, access| check_pack_file(&pack, written, access);
        assert!(check("m.hl7", FileAccess::PackOnly).is_ok());
        assert!(check("../../corpus/adt/a.hl7", FileAccess::PackOnly).is_ok());
        let refused = check("../../secret/s.hl7", FileAccess::PackOnly).unwrap_err();
        assert!(matches!(refused, FileRefused::Outside { .. }), "{refused}");
        assert!(refused.to_string().contains("--allow-files-outside-pack"), "{refused}");
        assert!(check("../../secret/s.hl7", FileAccess::Anywhere).is_ok());
        // A symlink inside the pack pointing out is outside.
        let link = pack.join("link.hl7");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(base.join("secret/s.hl7"), &link).unwrap();
        assert!(check("link.hl7", FileAccess::PackOnly).is_err());
        assert!(matches!(
            check("nowhere.hl7", FileAccess::Anywhere),
            Err(FileRefused::NotFound { .. })
        ));
        let _ = std::fs::remove_dir_all(&base);
    }
}
