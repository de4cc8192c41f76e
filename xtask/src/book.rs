//! `cargo xtask book`: builds the user guide (`docs/`, an mdBook) with a pinned mdbook and
//! checks that every relative link and anchor in the built pages resolves.
//!
//! mdbook itself fails only on a page missing from SUMMARY.md; a link to a renamed page or a
//! heading that no longer exists would be published broken. So the check reads the HTML mdbook
//! wrote (links to `.md` files are rewritten to `.html` by then, and heading ids are the ones
//! mdbook chose): every `href`/`src` without a scheme must name a file that exists, and a
//! `#fragment` an `id` in that file.

use crate::process::Command;
use anyhow::Context;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The mdbook release the guide is built with (its `book.toml` keys and HTML are this one's).
pub const MDBOOK_VERSION: &str = "0.5.4";

pub fn run(root: &Path) -> anyhow::Result<()> {
    let mdbook = ensure_mdbook(root)?;
    let out = root.join("target").join("xtask").join("book");
    let _ = std::fs::remove_dir_all(&out);
    Command::new("book", &mdbook)
        .args(["build", "docs", "--dest-dir"])
        .args([&out])
        .current_dir(root)
        .run()?;
    let broken = check_links(&out)?;
    if !broken.is_empty() {
        for link in &broken {
            eprintln!("broken link: {link}");
        }
        anyhow::bail!("{} broken link(s) in the user guide ({})", broken.len(), out.display());
    }
    eprintln!("book: every relative link resolves ({})", out.display());
    Ok(())
}

/// The mdbook binary: from the tools cache when the pinned version is there, else installed
/// into it with `cargo install --locked` (an error, never a skip, when that fails). The cache
/// is outside the checkout (`$HL7H_TOOLS_CACHE`, else `$XDG_CACHE_HOME/hl7-harness`, else
/// `~/.cache/hl7-harness`), so that a fresh clone on the same machine does not build it again.
fn ensure_mdbook(root: &Path) -> anyhow::Result<PathBuf> {
    let cache = std::env::var_os("HL7H_TOOLS_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("hl7-harness"))
        })
        .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/hl7-harness")))
        .unwrap_or_else(|| root.join("target").join("xtask").join("tools"));
    let install_root = cache.join(format!("mdbook-{MDBOOK_VERSION}"));
    let binary = install_root.join("bin").join("mdbook");
    if binary.is_file() {
        return Ok(binary);
    }
    eprintln!("--- installing mdbook {MDBOOK_VERSION} into {}", install_root.display());
    Command::new("mdbook-install", "cargo")
        .args(["install", "--locked", "mdbook", "--version", MDBOOK_VERSION])
        // The guide needs the HTML renderer with search, not `mdbook serve`'s web server.
        .args(["--no-default-features", "--features", "search", "--root"])
        .args([&install_root])
        .current_dir(root)
        .run()
        .context("installing mdbook (the user guide cannot be built without it)")?;
    anyhow::ensure!(binary.is_file(), "cargo install did not write {}", binary.display());
    Ok(binary)
}

/// Every relative link in the HTML files under `dir` that does not resolve, as
/// `page.html: href` lines, sorted.
pub fn check_links(dir: &Path) -> anyhow::Result<Vec<String>> {
    let pages = html_files(dir)?;
    let mut ids: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    let mut broken = Vec::new();
    for page in &pages {
        let text =
            std::fs::read_to_string(page).with_context(|| format!("reading {}", page.display()))?;
        let base = page.parent().unwrap_or(dir);
        for link in attribute_values(&text, &["href", "src"]) {
            let link = link.replace("&amp;", "&");
            if !is_relative(&link) {
                continue;
            }
            let (path, fragment) = match link.split_once('#') {
                Some((path, fragment)) => (path, Some(fragment)),
                None => (link.as_str(), None),
            };
            let path = path.split('?').next().unwrap_or_default();
            // `/x` is the book's root (mdbook's 404 page links there), not the file system's.
            let mut target = match path.strip_prefix('/') {
                Some(from_root) => normalise(&dir.join(from_root)),
                None if path.is_empty() => page.clone(),
                None => normalise(&base.join(path)),
            };
            if target.is_dir() {
                target = target.join("index.html");
            }
            let shown = page.strip_prefix(dir).unwrap_or(page).display().to_string();
            if !target.is_file() {
                broken.push(format!("{shown}: {link} (no such file)"));
                continue;
            }
            let Some(fragment) = fragment.filter(|f| !f.is_empty()) else { continue };
            if target.extension().is_none_or(|e| e != "html") {
                continue;
            }
            if !ids.contains_key(&target) {
                let text = std::fs::read_to_string(&target)
                    .with_context(|| format!("reading {}", target.display()))?;
                ids.insert(target.clone(), attribute_values(&text, &["id"]).into_iter().collect());
            }
            if !ids.get(&target).is_some_and(|set| set.contains(fragment)) {
                broken.push(format!("{shown}: {link} (no id {fragment:?} there)"));
            }
        }
    }
    broken.sort();
    broken.dedup();
    Ok(broken)
}

/// A link that stays inside the book: no scheme (`https:`, `mailto:`), not protocol-relative.
fn is_relative(link: &str) -> bool {
    if link.is_empty() || link.starts_with("//") {
        return false;
    }
    let scheme = link.split(['/', '#', '?']).next().unwrap_or_default();
    !scheme.contains(':')
}

/// `a/b/../c` as `a/c`, without touching the file system (the target may not exist).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The values of the named attributes (`name="value"` or `name='value'`) in `html`; enough for
/// the HTML mdbook writes, which quotes every attribute.
fn attribute_values(html: &str, names: &[&str]) -> Vec<String> {
    let mut values = Vec::new();
    let bytes = html.as_bytes();
    for name in names {
        let mut from = 0;
        while let Some(found) = html[from..].find(name) {
            let start = from + found;
            from = start + name.len();
            // The attribute name must stand alone: ` href=`, not `data-href=`.
            let before = start.checked_sub(1).map(|i| bytes[i]);
            if !matches!(before, Some(b' ' | b'\n' | b'\t')) {
                continue;
            }
            let rest = &html[from..];
            let Some(rest) = rest.strip_prefix('=') else { continue };
            let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                continue;
            };
            if let Some(end) = rest[1..].find(quote) {
                values.push(rest[1..1 + end].to_string());
            }
        }
    }
    values
}

fn html_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "html") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_and_relative_links() {
        let html = r#"<a href="a.html#x">a</a><img src='i.png'><p data-href="no"><h2 id="x">"#;
        assert_eq!(attribute_values(html, &["href", "src"]), ["a.html#x", "i.png"]);
        assert_eq!(attribute_values(html, &["id"]), ["x"]);
        for link in ["a.html", "../b.html#c", "#top", "img/x.png"] {
            assert!(is_relative(link), "{link}");
        }
        for link in ["https://x.org/a", "mailto:a@b", "//cdn/x.js", "", "javascript:void(0)"] {
            assert!(!is_relative(link), "{link}");
        }
        assert_eq!(normalise(Path::new("/a/b/../c/./d")), PathBuf::from("/a/c/d"));
    }

    #[test]
    fn broken_files_and_anchors_are_reported() {
        let dir = std::env::temp_dir().join(format!("xtask-links-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("index.html"), r##"<h1 id="top"></h1><a href="sub/p.html#here">ok</a> <a href="sub/p.html#gone">x</a> <a href="missing.html">x</a> <a href="https://example.org/">ext</a> <a href="#top">self</a>"##).unwrap();
        std::fs::write(dir.join("sub/p.html"), r#"<h2 id="here"></h2><a href="../index.html">up</a> <a href="../sub">dir</a> <a href="/">root</a>"#).unwrap();
        let broken = check_links(&dir).unwrap();
        assert_eq!(
            broken,
            [
                "index.html: missing.html (no such file)",
                "index.html: sub/p.html#gone (no id \"gone\" there)",
                "sub/p.html: ../sub (no such file)",
            ]
        );
        std::fs::write(dir.join("sub/index.html"), "").unwrap();
        assert_eq!(check_links(&dir).unwrap().len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
