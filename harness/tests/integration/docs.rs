//! The user guide (docs/), README.md, the CI templates (ci/) and the Dockerfile name only
//! commands and flags that exist: every `hl7-harness COMMAND ... --flag` in a code block or a
//! code span is looked up in the clap definitions the binary parses with. Generated reference
//! pages are left out: they are the clap help itself.

use crate::support::workspace;
use clap::CommandFactory;
use std::path::{Path, PathBuf};

/// Files whose command lines are checked.
fn documents() -> Vec<PathBuf> {
    let root = workspace();
    let mut files = vec![root.join("README.md"), root.join("Dockerfile")];
    let mut pending = vec![root.join("docs"), root.join("ci")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "reference") {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "md" || e == "yml")
                && path.file_name().is_some_and(|n| n != "rulebook.md")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The command-line snippets of a document: each line of a fenced block (with `\` line
/// continuations joined) and each inline code span elsewhere; YAML and the Dockerfile whole.
fn snippets(path: &Path, text: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    if path.extension().is_none_or(|e| e != "md") {
        return joined.lines().map(str::to_string).collect();
    }
    let mut out = Vec::new();
    let mut fenced = false;
    for line in joined.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            out.push(line.to_string());
        } else {
            out.extend(line.split('`').skip(1).step_by(2).map(str::to_string));
        }
    }
    out
}

/// `(command path, flag)` for each `--flag` after `hl7-harness SUB [SUBSUB]` in `snippet`.
fn flags(snippet: &str) -> Vec<(Vec<String>, String)> {
    let root = hl7_harness::cli::Cli::command();
    let tokens: Vec<&str> = snippet.split_whitespace().collect();
    let mut found = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if *token != "hl7-harness" {
            continue;
        }
        let mut command = &root;
        let mut path = Vec::new();
        let mut rest = &tokens[i + 1..];
        while let Some(sub) = rest.first().and_then(|t| command.find_subcommand(t)) {
            path.push(sub.get_name().to_string());
            command = sub;
            rest = &rest[1..];
        }
        // `cargo build --package hl7-harness --target X`: a package name, not a command line.
        if path.is_empty() {
            continue;
        }
        for token in rest {
            // The snippet's command ends at a shell operator or a comment.
            if ["|", "||", "&&", ";", "&", "#", ">", "2>&1"].contains(token) {
                break;
            }
            if let Some(flag) = token.strip_prefix("--") {
                let flag = flag.split(['=', '`', ')', ',', '\'', '"']).next().unwrap_or_default();
                if !flag.is_empty() && flag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    found.push((path.clone(), flag.to_string()));
                }
            }
        }
    }
    found
}

fn has_flag(path: &[String], flag: &str) -> bool {
    let root = hl7_harness::cli::Cli::command();
    let mut command = &root;
    for name in path {
        match command.find_subcommand(name) {
            Some(sub) => command = sub,
            None => return false,
        }
    }
    ["help", "version"].contains(&flag)
        || command.get_arguments().any(|arg| arg.get_long() == Some(flag))
}

#[test]
fn documents_name_only_real_flags() {
    let mut unknown = Vec::new();
    let mut checked = 0;
    for path in documents() {
        let text = std::fs::read_to_string(&path).unwrap();
        for snippet in snippets(&path, &text) {
            for (command, flag) in flags(&snippet) {
                checked += 1;
                if !has_flag(&command, &flag) {
                    let shown = path.strip_prefix(workspace()).unwrap_or(&path).display();
                    unknown.push(format!("{shown}: hl7-harness {} --{flag}", command.join(" ")));
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} flags found: is the scan broken?");
    assert!(unknown.is_empty(), "flags that do not exist:\n{}", unknown.join("\n"));
}

#[test]
fn the_scan_finds_flags_and_stops_at_shell_operators() {
    assert!(flags("cargo build --package hl7-harness --target x").is_empty());
    let found = flags("hl7-harness report sign out/ --key k --signer 'A, B' | tee --x");
    let names: Vec<&str> = found.iter().map(|(_, f)| f.as_str()).collect();
    assert_eq!(names, ["key", "signer"]);
    assert_eq!(found[0].0, ["report", "sign"]);
    assert!(!has_flag(&["run".into()], "no-such-flag"));
    assert!(has_flag(&["run".into()], "target-profile"));
    let spans = snippets(
        Path::new("a.md"),
        "text `hl7-harness run --seed 1` and\n```\nhl7-harness serve \\\n  --listen x\n```\n",
    );
    assert_eq!(spans, ["hl7-harness run --seed 1", "hl7-harness serve    --listen x"]);
}
