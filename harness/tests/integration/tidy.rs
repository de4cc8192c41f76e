//! Tidy: the shape of the code, checked like behaviour (rust-analyzer's `tidy` test).
//!
//! - Every `crate::…` import in non-test code follows the allowed edges of the layer table in
//!   `docs/architecture.md` (the one place they are written down): data flows
//!   `cli → scenario → runner → observations → checks → report`, and no module reaches up or sideways.
//! - No non-test source file passes 800 lines.
//! - A `mod.rs` only declares, re-exports and documents.
//! - Non-test code has no `.unwrap()`: bytes from a peer, a file or a scenario must give an
//!   error that names where they went wrong, and a broken invariant an `expect` naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 800;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("src readable").flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Files that hold only tests (`tests.rs`, `wire_tests.rs`, declared under `#[cfg(test)]`).
fn is_test_file(path: &Path) -> bool {
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    name == "tests" || name.ends_with("_tests")
}

/// The source with every `#[cfg(test)]` item removed (a `mod tests { … }`, a test helper), by
/// brace counting from the attribute to the end of the item. Braces inside string or char
/// literals are skipped so format strings do not upset the count.
fn without_tests(source: &str) -> String {
    let mut kept = String::new();
    let mut lines = source.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "#[cfg(test)]" {
            kept.push_str(line);
            kept.push('\n');
            continue;
        }
        let mut depth = 0i64;
        let mut opened = false;
        for item_line in lines.by_ref() {
            for (open, close) in braces(item_line) {
                depth += open - close;
                opened |= open > 0;
            }
            let ended_without_body = !opened && item_line.trim_end().ends_with(';');
            if (opened && depth <= 0) || ended_without_body {
                break;
            }
        }
    }
    kept
}

/// The `{` and `}` of one line outside string and char literals and `//` comments.
fn braces(line: &str) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut in_string = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_string => {
                chars.next();
            }
            '"' => in_string = !in_string,
            '\'' if !in_string => {
                // A char literal ('{', '\'', '\u{7b}') or a lifetime ('a): skip a literal only.
                let rest: String = chars.clone().take(12).collect();
                if let Some(end) = char_literal_len(&rest) {
                    for _ in 0..end {
                        chars.next();
                    }
                }
            }
            '/' if !in_string && chars.peek() == Some(&'/') => break,
            '{' if !in_string => out.push((1, 0)),
            '}' if !in_string => out.push((0, 1)),
            _ => {}
        }
    }
    out
}

/// The length of a char literal's remainder after its opening quote, if `rest` starts one.
fn char_literal_len(rest: &str) -> Option<usize> {
    let chars: Vec<char> = rest.chars().collect();
    if chars.first() == Some(&'\\') {
        let close = chars.iter().skip(1).position(|c| *c == '\'')?;
        return Some(close + 2);
    }
    (chars.len() >= 2 && chars[1] == '\'').then_some(2)
}

/// The top-level module a file belongs to (`runner/exec.rs` → `runner`, `utc.rs` → `utc`).
fn module_of(path: &Path) -> Option<String> {
    let relative = path.strip_prefix(src_dir()).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

/// The top-level modules a piece of code names through `crate::`, including grouped imports
/// (`use crate::{hl7::Message, transport};`).
fn crate_references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `hl7_harness::crate::` cannot occur; `mycrate::` is not ours
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group).unwrap_or(group.len());
            for part in top_level_parts(&group[..end]) {
                if let Some(name) = leading_ident(part.trim()) {
                    found.insert(name);
                }
            }
        } else if let Some(name) = leading_ident(rest) {
            found.insert(name);
        }
    }
    found
}

fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 1i32;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn top_level_parts(group: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&group[start..]);
    parts
}

fn leading_ident(text: &str) -> Option<String> {
    let name: String =
        text.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    (!name.is_empty() && name != "self").then_some(name)
}

/// The allowed edges, read from the layer table of `docs/architecture.md`: rows
/// `| module | may use |` where "may use" lists module names in backticks (or `—` for none).
fn allowed_edges() -> BTreeMap<String, BTreeSet<String>> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/architecture.md");
    let text = std::fs::read_to_string(&doc).expect("docs/architecture.md");
    let table = text
        .split("<!-- allowed-edges:begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- allowed-edges:end -->").next())
        .expect("docs/architecture.md has the allowed-edges table between its markers");
    let mut edges = BTreeMap::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let module = cells[1].trim_matches('`').to_string();
        let uses: BTreeSet<String> =
            cells[2].split('`').skip(1).step_by(2).map(str::to_string).collect();
        edges.insert(module, uses);
    }
    edges
}

#[test]
fn imports_follow_the_layers_of_docs_architecture_md() {
    let edges = allowed_edges();
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    let mut problems = Vec::new();
    let mut modules = BTreeSet::new();
    for file in &files {
        let Some(module) = module_of(file) else { continue };
        modules.insert(module.clone());
        if is_test_file(file) {
            continue;
        }
        let source = std::fs::read_to_string(file).expect("readable");
        let Some(allowed) = edges.get(&module) else {
            problems.push(format!("{}: module `{module}` has no row in the table", file.display()));
            continue;
        };
        for used in crate_references(&without_tests(&source)) {
            if used != module && !allowed.contains(&used) {
                problems.push(format!(
                    "{}: `{module}` uses `{used}`, which its row does not allow",
                    file.strip_prefix(src_dir()).unwrap_or(file).display()
                ));
            }
        }
    }
    for module in edges.keys() {
        if !modules.contains(module) {
            problems.push(format!("docs/architecture.md names `{module}`, which is not a module"));
        }
    }
    assert!(problems.is_empty(), "imports against the layers:\n{}", problems.join("\n"));
}

#[test]
fn the_allowed_edges_have_no_cycle() {
    let edges = allowed_edges();
    // Repeatedly remove modules that use nothing left; what remains sits on a cycle.
    let mut left: BTreeMap<String, BTreeSet<String>> = edges.clone();
    loop {
        let leaves: Vec<String> = left
            .iter()
            .filter(|(_, uses)| uses.iter().all(|u| !left.contains_key(u)))
            .map(|(m, _)| m.clone())
            .collect();
        if leaves.is_empty() {
            break;
        }
        for leaf in leaves {
            left.remove(&leaf);
        }
    }
    assert!(left.is_empty(), "these modules' allowed edges form a cycle: {:?}", left.keys());
}

#[test]
fn no_source_file_passes_800_lines_of_non_test_code() {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter(|f| !is_test_file(f))
        .filter_map(|f| {
            let lines = without_tests(&std::fs::read_to_string(f).ok()?).lines().count();
            (lines > MAX_LINES).then(|| format!("{}: {lines} lines", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these files (over {MAX_LINES} non-test lines):\n{}",
        long.join("\n")
    );
}

#[test]
fn mod_rs_files_only_declare() {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    let mut problems = Vec::new();
    for file in files.iter().filter(|f| f.file_name().is_some_and(|n| n == "mod.rs")) {
        let code = without_tests(&std::fs::read_to_string(file).expect("readable"));
        for (n, line) in code.lines().enumerate() {
            let t = line.trim();
            let declares = t.is_empty()
                || t.starts_with("//")
                || t.starts_with("#[")
                || t.starts_with("#![")
                || t.starts_with("pub mod ")
                || t.starts_with("mod ")
                || t.starts_with("pub(crate) mod ")
                || t.starts_with("pub use ")
                || t.starts_with("pub(crate) use ")
                || t.starts_with("use ")
                || continues_use(&code, n);
            if !declares {
                problems.push(format!("{}:{}: {t}", file.display(), n + 1));
                break;
            }
        }
    }
    assert!(
        problems.is_empty(),
        "mod.rs holding logic (move it to a named file):\n{}",
        problems.join("\n")
    );
}

#[test]
fn non_test_code_has_no_unwrap() {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !is_test_file(f)) {
        let code = without_tests(&std::fs::read_to_string(file).expect("readable"));
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            if line.contains(".unwrap()") {
                found.push(format!("{}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "`.unwrap()` outside tests (return an error, or `expect` the invariant):\n{}",
        found.join("\n")
    );
}

/// The scenario YAML as written (`scenario::raw`) is read by `scenario` alone: everything after
/// it (the runner above all) reads the resolved `Scenario`, so a default or a shorthand is
/// decided in one place (docs/architecture.md, "where things happen").
#[test]
fn only_scenario_reads_the_raw_scenario_types() {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !is_test_file(f)) {
        if module_of(file).as_deref() == Some("scenario") {
            continue;
        }
        let code = without_tests(&std::fs::read_to_string(file).expect("readable"));
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            if line.contains("scenario::raw") {
                found.push(format!("{}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "`scenario::raw` outside scenario (read the resolved `scenario::Scenario`):\n{}",
        found.join("\n")
    );
}

/// Whether line `n` continues a multi-line `use` or `pub use` that started above.
fn continues_use(code: &str, n: usize) -> bool {
    let lines: Vec<&str> = code.lines().collect();
    for back in (0..n).rev() {
        let t = lines[back].trim();
        if t.ends_with(';') {
            return false;
        }
        if t.starts_with("use ") || t.starts_with("pub use ") || t.starts_with("pub(crate) use ") {
            return true;
        }
    }
    false
}

#[test]
fn the_tidy_parser_reads_what_it_must() {
    let refs =
        crate_references("use crate::{hl7::Message, transport::{a, b}};\nx = crate::utc::now();");
    assert_eq!(refs, ["hl7", "transport", "utc"].map(String::from).into_iter().collect());
    let code =
        "fn a() {}\n#[cfg(test)]\nmod tests {\n    fn b() { let s = \"{\"; }\n}\nfn c() {}\n";
    assert_eq!(without_tests(code), "fn a() {}\nfn c() {}\n");
    assert_eq!(without_tests("#[cfg(test)]\nmod timing_tests;\nfn d() {}\n"), "fn d() {}\n");
    assert_eq!(
        without_tests("#[cfg(test)]\nfn e(c: char) -> bool { c == '{' }\nfn f() {}\n"),
        "fn f() {}\n"
    );
}
