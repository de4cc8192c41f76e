//! The through role's read destinations (`through.destinations.NAME.read:`): a destination
//! the harness does not listen as but reads, because the engine delivers there on its own (a
//! File Writer folder, a database, a state API). `command:` runs a program whose standard
//! output lists the messages that arrived; `dir:` names the folder the engine writes one file
//! per output into. Nobody answers what is read this way, so a case gives such a destination
//! no `answers:`. The format and its bounds; the reading itself is `runner::through_read`.

use super::text::{Span, Text};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How the harness reads a destination it does not listen as. Give `command` or `dir`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThroughRead {
    /// A program and its arguments whose standard output holds every message that arrived at
    /// the destination so far: MLLP-framed messages back to back (a leading 0x0B), or plain
    /// text where each message begins at a line starting with `MSH` (segments ended by CR,
    /// LF or CRLF, read as CR; blank lines ignored), such as `cat` over a folder of files.
    /// Run once before the engine starts (what it lists then was there before the case and
    /// is left out; a failure then counts as an empty store), and after the inputs are sent
    /// every `every` until the case's expected outputs are in and `quiet` has passed (or the
    /// case's `timeout`). Placeholders: `{workdir}`, `{scenario_dir}`, `{destination.NAME}`
    /// of the other destinations (an address, or a read folder). A run that exits non-zero,
    /// overruns `timeout` or prints more than `max_bytes` is evidence in
    /// `through.destination-read`, and its output is not used.
    #[serde(default)]
    pub command: Option<Vec<Text>>,
    /// A folder the engine writes one file per output into (a File Writer destination).
    /// Each regular file that was not there before the case started is read once as one
    /// arrival, in modification-time then name order, once its size and modification time
    /// held still between two reads (a writer still writing is waited for). Only this folder:
    /// subfolders, symbolic links and names starting with `.` (a writer's temporary files)
    /// are skipped. Relative to the scenario's folder; placeholders `{workdir}` and
    /// `{scenario_dir}`; created when missing. Given to `sut.command` as
    /// `{destination.NAME}`. Like every file a pack reads, it lies in the pack's folder (or
    /// under `{workdir}`) unless the run is given `--allow-files-outside-pack`, as a real
    /// engine's output folder elsewhere needs.
    #[serde(default)]
    pub dir: Option<Text>,
    /// How often to read while the case waits (default 250ms). An arrival's time is the read
    /// that first saw it, so `through.latency` is as exact as this.
    #[serde(default)]
    pub every: Option<Span>,
    /// The longest one run of `command` may take (default 5s); it is killed then.
    #[serde(default)]
    pub timeout: Option<Span>,
    /// The most bytes read of one run's output or of one file (default 4 MiB).
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// The most messages taken from the destination in one case (default 1000).
    #[serde(default)]
    pub max_messages: Option<usize>,
}

/// Where a read destination's messages come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadSource {
    /// The program and its arguments, placeholders not yet filled.
    Command(Vec<String>),
    /// The folder as written, placeholders not yet filled.
    Dir(String),
}

/// `read:` with its defaults applied: what the runner reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSetup {
    pub source: ReadSource,
    pub every: Duration,
    pub timeout: Duration,
    pub max_bytes: u64,
    pub max_messages: usize,
}

/// How often a read destination is read by default.
pub const DEFAULT_READ_EVERY: Duration = Duration::from_millis(250);
/// The longest one run of a read command may take by default.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The most bytes of one run's output or one file, by default.
pub const DEFAULT_READ_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// The most messages read from one destination in a case, by default.
pub const DEFAULT_READ_MAX_MESSAGES: usize = 1000;

impl ReadSetup {
    /// `None` when neither source is given (refused at load by [`check_read`]).
    pub(super) fn from_spec(spec: ThroughRead) -> Option<ReadSetup> {
        let source = match (spec.command, spec.dir) {
            (Some(command), _) => ReadSource::Command(command.into_iter().map(|t| t.0).collect()),
            (None, Some(dir)) => ReadSource::Dir(dir.0),
            (None, None) => return None,
        };
        Some(ReadSetup {
            source,
            every: spec.every.map_or(DEFAULT_READ_EVERY, |s| s.0),
            timeout: spec.timeout.map_or(DEFAULT_READ_TIMEOUT, |s| s.0),
            max_bytes: spec.max_bytes.unwrap_or(DEFAULT_READ_MAX_BYTES),
            max_messages: spec.max_messages.unwrap_or(DEFAULT_READ_MAX_MESSAGES),
        })
    }
}

impl ReadSetup {
    /// The `read:` value as a YAML flow mapping that loads back to this setup; `value` writes
    /// each text as a YAML scalar (a recorded pack moves `{scenario_dir}` and hides secrets).
    pub fn to_yaml(&self, value: &dyn Fn(&str) -> String) -> String {
        let quoted = value;
        let source = match &self.source {
            ReadSource::Dir(dir) => format!("dir: {}", quoted(dir)),
            ReadSource::Command(command) => {
                let args: Vec<String> = command.iter().map(|a| quoted(a)).collect();
                format!("command: [{}]", args.join(", "))
            }
        };
        format!(
            "{{ {source}, every: {}ms, timeout: {}ms, max_bytes: {}, max_messages: {} }}",
            self.every.as_millis(),
            self.timeout.as_millis(),
            self.max_bytes,
            self.max_messages
        )
    }
}

/// A `dir:` read destination copies what it reads into the report, so, like every file a pack
/// names ([`super::files`]), its folder lies in the pack's folders unless the run allows files
/// outside the pack (`--allow-files-outside-pack`, as a real engine's output folder needs). A
/// folder under `{workdir}` is the case's own. The folder may not exist yet (it is created):
/// the part that exists is resolved (symbolic links included) and the rest may not climb out
/// with `..`.
pub(super) fn check_read_folders(
    spec: &super::through::ThroughSpec,
    pack_dir: &Path,
    access: super::files::FileAccess,
    report: &mut dyn FnMut(&str, String),
) {
    if access == super::files::FileAccess::Anywhere {
        return;
    }
    for (name, destination) in &spec.destinations {
        let Some(written) = destination.read.as_ref().and_then(|r| r.dir.as_ref()) else {
            continue;
        };
        let written = written.0.as_str();
        if written.starts_with("{workdir}") {
            continue;
        }
        // A scenario named without a folder is in `.`, as the runner fills `{scenario_dir}`.
        let folder = if pack_dir.as_os_str().is_empty() { Path::new(".") } else { pack_dir };
        let filled = written.replace("{scenario_dir}", &folder.display().to_string());
        if let Some(resolved) = outside_pack(pack_dir, &filled) {
            report(
                "dir:",
                format!(
                    "through.destinations.{name}.read.dir {written:?} is outside the pack (it \
                     resolves to {}; a pack reads files in its own folder or the case's \
                     {{workdir}}); pass --allow-files-outside-pack to read an engine's folder \
                     elsewhere",
                    resolved.display()
                ),
            );
        }
    }
}

/// Where `written` (relative to `pack_dir`) leads when that is outside the pack's folders.
fn outside_pack(pack_dir: &Path, written: &str) -> Option<PathBuf> {
    let path = pack_dir.join(written);
    let mut existing = path.as_path();
    let mut missing = Vec::new();
    let base = loop {
        if let Ok(resolved) = existing.canonicalize() {
            break resolved;
        }
        // `file_name` is `None` for a `..`: a missing folder's `..` cannot be resolved.
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(last)) => {
                missing.push(last.to_owned());
                existing = parent;
            }
            _ => return Some(path),
        }
    };
    let resolved = missing.iter().rev().fold(base, |at, part| at.join(part));
    let roots = super::files::pack_roots(pack_dir);
    (!roots.iter().any(|root| resolved.starts_with(root))).then_some(resolved)
}

/// What serde cannot check of destination `name`'s `read:`: one source, a command with a
/// program, bounds above zero, and no listener settings beside it.
pub(super) fn check_read(
    name: &str,
    destination: &super::through::ThroughDestination,
    report: &mut dyn FnMut(&str, String),
) {
    let Some(read) = &destination.read else { return };
    let place = format!("through.destinations.{name}.read");
    match (&read.command, &read.dir) {
        (Some(_), Some(_)) | (None, None) => {
            report("read:", format!("{place}: give either command or dir"));
        }
        (Some(command), None) if command.is_empty() => {
            report("command:", format!("{place}.command is empty: give the program"));
        }
        _ => {}
    }
    if destination.listen.is_some() || destination.http.is_some() || destination.hllp.is_some() {
        report(
            "read:",
            format!(
                "{place}: a destination the harness reads has no listen, http or hllp (it does \
                 not listen)"
            ),
        );
    }
    for (key, zero) in [
        ("every:", read.every.is_some_and(|s| s.0.is_zero())),
        ("timeout:", read.timeout.is_some_and(|s| s.0.is_zero())),
        ("max_bytes:", read.max_bytes == Some(0)),
        ("max_messages:", read.max_messages == Some(0)),
    ] {
        if zero {
            report(key, format!("{place}.{}: must be more than 0", key.trim_end_matches(':')));
        }
    }
}

/// A read destination gives no answers (nobody can ACK what is read from a store): `answers:`
/// naming one is refused at its first answer's line. True when refused.
pub(super) fn refuse_answers(
    case: &str,
    name: &str,
    destination: Option<&super::through::ThroughDestination>,
    answers: &[crate::faults::Answer],
    report: &mut dyn FnMut(&str, String),
) -> bool {
    if destination.is_none_or(|d| d.read.is_none()) {
        return false;
    }
    let needle = answers.first().map_or(name, |a| a.name());
    report(
        needle,
        format!(
            "case {case:?}: destination {name} is read (read:), not listened as: it gives no \
             answers"
        ),
    );
    true
}

#[cfg(test)]
mod tests {
    use crate::scenario::{load_text, FileAccess, ReadSource};

    const HEAD: &str = "role: through\nmessages: { m: { text: \"MSH|^~\\\\&|A|B|C|D|20240101||ADT^A01|X|P|2.5\" } }\n";
    const FLOWS: &str = "flows:\n  - name: x\n    send: [{ message: m, expect: [{ to: a }] }]\n";

    /// The problems a scenario with destination `a` as written has, each with its line.
    fn check(destination: &str, extra: &str) -> Vec<(usize, String)> {
        let text = format!("{HEAD}through:\n  destinations:\n    a: {destination}\n{FLOWS}{extra}");
        match load_text(std::path::Path::new("t.yaml"), &text, &[], FileAccess::default()) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| (e.line, e.message)).collect(),
        }
    }

    /// A read folder is the pack's (or the case's `{workdir}`) unless the run allows files
    /// outside the pack: a pack cannot copy what appears in `/tmp` or a home folder into a
    /// report unasked, nor climb out of a folder that does not exist yet with `..`.
    #[test]
    fn a_read_folder_outside_the_pack_needs_the_run_to_allow_it() {
        let pack = std::env::temp_dir().join(format!("hl7h-read-pack-{}", std::process::id()));
        std::fs::create_dir_all(pack.join("sub")).expect("pack folder");
        let outside = pack.join("..").join(format!("hl7h-read-elsewhere-{}", std::process::id()));
        std::fs::create_dir_all(&outside).expect("outside folder");
        std::os::unix::fs::symlink(&outside, pack.join("link")).expect("a link out");
        let load = |dir: &str, access| {
            let text = format!(
                "{HEAD}through:\n  destinations:\n    a: {{ read: {{ dir: {} }} }}\n{FLOWS}",
                serde_json::to_string(dir).expect("a string")
            );
            load_text(&pack.join("t.yaml"), &text, &[], access).map(|_| ()).map_err(|errors| {
                errors.into_iter().map(|e| (e.line, e.message)).collect::<Vec<_>>()
            })
        };
        for inside in ["out", "sub/new/deeper", "{workdir}/out", "{scenario_dir}/out"] {
            assert_eq!(load(inside, FileAccess::PackOnly), Ok(()), "{inside}");
        }
        let elsewhere = outside.display().to_string();
        for out in [elsewhere.as_str(), "link", "link/new", "new/../../x", "../x"] {
            let errors = load(out, FileAccess::PackOnly).expect_err(out);
            assert!(
                errors.iter().any(|(line, m)| *line == 5
                    && m.contains("read.dir")
                    && m.contains("--allow-files-outside-pack")),
                "{out}: {errors:?}"
            );
            assert_eq!(load(out, FileAccess::Anywhere), Ok(()), "{out} with the opt-in");
        }
        let _ = std::fs::remove_dir_all(&pack);
        let _ = std::fs::remove_dir_all(&outside);
    }

    fn fails(destination: &str, wanted: &str) {
        let found = check(destination, "");
        assert!(found.iter().any(|(_, m)| m.contains(wanted)), "{wanted:?} not in {found:?}");
    }

    #[test]
    fn a_read_destination_loads_with_defaults() {
        let text = format!(
            "{HEAD}through:\n  destinations:\n    a: {{ read: {{ dir: \"{{workdir}}/out\" }} }}\n    \
             b: {{ read: {{ command: [cat, x], every: 1s, timeout: 2s, max_bytes: 10, max_messages: 3 }} }}\n{FLOWS}"
        );
        let loaded = load_text(std::path::Path::new("t.yaml"), &text, &[], FileAccess::default())
            .expect("loads");
        let setup = loaded.file.through.expect("a through setup");
        let a = setup.destinations.get("a").and_then(|d| d.read.clone()).expect("a is read");
        assert_eq!(a.source, ReadSource::Dir("{workdir}/out".into()));
        assert_eq!((a.every, a.timeout), (super::DEFAULT_READ_EVERY, super::DEFAULT_READ_TIMEOUT));
        assert_eq!(a.max_bytes, super::DEFAULT_READ_MAX_BYTES);
        let b = setup.destinations.get("b").and_then(|d| d.read.clone()).expect("b is read");
        assert_eq!(b.source, ReadSource::Command(vec!["cat".into(), "x".into()]));
        assert_eq!((b.every.as_millis(), b.timeout.as_millis()), (1000, 2000));
        assert_eq!((b.max_bytes, b.max_messages), (10, 3));
    }

    /// What a recorded pack writes loads back as the same setup.
    #[test]
    fn a_read_setup_written_as_yaml_loads_back() {
        let text = format!(
            "{HEAD}through:\n  destinations:\n    a: {{ read: {{ dir: \"{{scenario_dir}}/o\\\"ut\" }} }}\n    \
             b: {{ read: {{ command: [sh, -c, \"cat '{{workdir}}'/*\"], every: 1s }} }}\n{FLOWS}"
        );
        let loaded = load_text(std::path::Path::new("t.yaml"), &text, &[], FileAccess::default())
            .expect("loads");
        let setup = loaded.file.through.expect("a through setup");
        for (name, destination) in &setup.destinations {
            let read = destination.read.as_ref().expect("read");
            let again = format!(
                "{HEAD}through:\n  destinations:\n    {name}: {{ read: {} }}\n{FLOWS}",
                read.to_yaml(&|v: &str| {
                    serde_json::to_string(&v.replace("{scenario_dir}", "/rec")).expect("a string")
                })
            )
            .replace("to: a", &format!("to: {name}"));
            // The recorded folder is outside this test's pack: allowed as a run would be.
            let loaded =
                load_text(std::path::Path::new("t.yaml"), &again, &[], FileAccess::Anywhere)
                    .expect("loads back");
            let back = loaded.file.through.expect("a through setup");
            let back = back.destinations.get(name).and_then(|d| d.read.clone()).expect("read");
            let mut want = read.clone();
            if let ReadSource::Dir(dir) = &mut want.source {
                *dir = dir.replace("{scenario_dir}", "/rec");
            }
            assert_eq!(back, want);
        }
    }

    #[test]
    fn a_read_with_no_source_two_sources_or_zero_bounds_is_refused() {
        fails("{ read: {} }", "give either command or dir");
        fails("{ read: { dir: x, command: [cat] } }", "give either command or dir");
        fails("{ read: { command: [] } }", "read.command is empty");
        fails("{ read: { dir: x }, listen: \"127.0.0.1:0\" }", "has no listen, http or hllp");
        fails("{ read: { dir: x }, http: {} }", "has no listen, http or hllp");
        fails("{ read: { dir: x }, hllp: {} }", "has no listen, http or hllp");
        fails("{ read: { dir: x, every: 0s } }", "read.every: must be more than 0");
        fails("{ read: { dir: x, max_bytes: 0 } }", "read.max_bytes: must be more than 0");
        fails("{ read: { dir: x, max_messages: 0 } }", "read.max_messages: must be more than 0");
        fails("{ read: { dir: x, nope: 1 } }", "unknown field `nope`");
    }

    /// Answers for a read destination are refused at the line of the first answer.
    #[test]
    fn answers_for_a_read_destination_are_refused_at_their_line() {
        let found = check("{ read: { dir: x } }", "    answers:\n      a:\n        - no_ack\n");
        let line = HEAD.lines().count() + 9;
        assert!(
            found.iter().any(|(l, m)| *l == line && m.contains("destination a is read")),
            "{found:?}"
        );
        assert!(check("{}", "    answers:\n      a:\n        - no_ack\n").is_empty());
    }
}
