//! The through role's read destinations (`through.destinations.NAME.read:`): a destination
//! the harness does not listen as but reads, because the engine delivers there on its own (a
//! File Writer folder, a database, a state API). `command:` runs a program whose standard
//! output lists the messages that arrived; `dir:` names the folder the engine writes one file
//! per output into. Nobody answers what is read this way, so a case gives such a destination
//! no `answers:`. The format and its bounds; the reading itself is `runner::through_read`.

use super::text::{Span, Text};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
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
    /// `{destination.NAME}`.
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
            let loaded =
                load_text(std::path::Path::new("t.yaml"), &again, &[], FileAccess::default())
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
