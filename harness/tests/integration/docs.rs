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

/// The `yaml` blocks of a guide page, in order.
fn yaml_blocks(page: &str) -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join(page)).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start().starts_with("```")) {
            (None, true) if line.trim() == "```yaml" => current = Some(String::new()),
            (Some(block), true) => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), false) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// The message the how-to writes with `printf '…' > my-interface/a04.hl7`, as bytes.
fn howto_message() -> Vec<u8> {
    let text = std::fs::read_to_string(workspace().join("docs/howto/write-a-pack.md")).unwrap();
    let line = text.lines().find(|l| l.starts_with("printf 'MSH")).expect("the printf line");
    let quoted = line.split('\'').nth(1).expect("a quoted message");
    quoted.replace("\\\\", "\\").replace("\\r", "\r").into_bytes()
}

/// Runs `hl7-harness ARGS` in `dir` with the binary first on PATH (the packs start it by name).
fn run_in(dir: &Path, args: &[&str]) -> std::process::Output {
    let binary = Path::new(env!("CARGO_BIN_EXE_hl7-harness"));
    let path = std::env::join_paths(
        std::iter::once(binary.parent().unwrap().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    std::process::Command::new(binary)
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .unwrap()
}

/// The packs the how-tos build, as the pages print them, pass against the reference endpoint
/// and fail, as the pages say, with the defect they show.
#[test]
fn the_howto_packs_work_as_written() {
    let dir = std::env::temp_dir().join(format!("hl7-harness-docs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("my-interface")).unwrap();
    std::fs::write(dir.join("my-interface/a04.hl7"), howto_message()).unwrap();
    let pack = yaml_blocks("docs/howto/write-a-pack.md").remove(0);
    std::fs::write(dir.join("my-interface/registration.yaml"), pack).unwrap();
    let output = run_in(&dir, &["run", "--no-report", "my-interface/", "--seed", "1"]);
    let shown = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(shown.contains("PASS: 6 cases, 0 failed"), "{shown}");
    let output = run_in(
        &dir,
        &[
            "run",
            "--no-report",
            "my-interface/",
            "--seed",
            "1",
            "--target-defect",
            "accepts-missing-required",
        ],
    );
    let shown = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("expected [AE, AR], got MSA-1 \"AA\""), "{shown}");

    std::fs::create_dir_all(dir.join("my-sender")).unwrap();
    std::fs::write(dir.join("my-sender/a04.hl7"), howto_message()).unwrap();
    let pack = yaml_blocks("docs/howto/test-a-sender.md").remove(0);
    std::fs::write(dir.join("my-sender/outbound.yaml"), pack).unwrap();
    let output = run_in(&dir, &["run", "--no-report", "my-sender/", "--seed", "1"]);
    let shown = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(shown.contains("PASS: 3 cases, 0 failed"), "{shown}");
    let output = run_in(
        &dir,
        &["run", "--no-report", "my-sender/", "--seed", "1", "--sut-defect", "no-retry"],
    );
    let shown = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("and was not sent again"), "{shown}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// README.md is read on the forge, outside the book: its relative links must name files of
/// the repository (the book's own links are checked by `cargo xtask book`).
#[test]
fn readme_links_resolve() {
    for readme in ["README.md", "scenarios/README.md"] {
        let path = workspace().join(readme);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut checked = 0;
        for part in text.split("](").skip(1) {
            let target = part.split(')').next().unwrap_or_default();
            let file = target.split('#').next().unwrap_or_default();
            if file.is_empty() || file.contains("://") {
                continue;
            }
            checked += 1;
            let resolved = path.parent().unwrap().join(file);
            assert!(resolved.exists(), "{readme}: link to {target} names no file");
        }
        assert!(checked > 0, "{readme} has no relative links");
    }
}

/// The container image's layout works: the folders the Dockerfile copies into
/// /opt/hl7-harness, laid out the same way elsewhere, hold packs that load (their messages
/// found through `../../corpus`) from another working directory, as `docker run` in /work does.
#[test]
fn the_image_layout_holds_packs_that_load() {
    let dockerfile = std::fs::read_to_string(workspace().join("Dockerfile")).unwrap();
    let opt = std::env::temp_dir().join(format!("hl7-harness-image-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&opt);
    let mut copied = 0;
    for line in dockerfile.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["COPY", source, destination] = words.as_slice() {
            if let Some(rest) = destination.strip_prefix("/opt/hl7-harness/") {
                copy_tree(&workspace().join(source), &opt.join(rest));
                copied += 1;
            }
        }
    }
    assert_eq!(copied, 2, "the Dockerfile copies scenarios/ and corpus/ into /opt/hl7-harness");
    let work = opt.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let packs = opt.join("scenarios");
    let output = run_in(&work, &["run", "--no-report", "--check", packs.to_str().unwrap()]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&opt);
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}
