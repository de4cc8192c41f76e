//! The scenario format of the through role (`role: through`): the harness sends known inputs
//! into an interface engine and listens as each of the engine's destinations, and each case
//! states, per input, what must come out where (the expected message, fields to ignore, how
//! many copies, how soon), or that nothing may (the engine filters it). The destinations
//! answer as the case says (the receiver role's answers: no ACK, late, NAK, close), so the
//! engine's retries and queues are tested end to end.

use super::text::{FieldPath, Span, Text};
use crate::faults::Answer;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the harness reaches the engine, which destinations it plays, and how the engine is
/// started (`through:`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThroughSpec {
    /// The engine's input: `mllp://HOST:PORT`, `hllp://HOST:PORT`, or `http://HOST:PORT/PATH`
    /// (HL7 over HTTP: each input one `POST`, the response body the engine's ACK; every HL7
    /// answer comes with a 2xx status, so any other status is "no HL7 answer"). Default
    /// `mllp://{input}`: the harness picks a free port on 127.0.0.1 per case and gives it to
    /// `sut.command` as `{input}` (`http://{input}/` works the same way).
    #[serde(default)]
    pub input: Option<Text>,
    /// The destinations the harness listens as, by name (the names the engine's configuration
    /// uses). Each listens on `listen` (default `127.0.0.1:0`, a free port per case), given to
    /// `sut.command` as `{destination.NAME}` (`HOST:PORT`).
    pub destinations: BTreeMap<String, ThroughDestination>,
    /// Starts the engine for each case (and stops it when the case ends); without it, the
    /// engine runs on its own and `input` and the destinations' `listen` are fixed addresses.
    #[serde(default)]
    pub sut: Option<ThroughSut>,
    /// The path that matches an output to its input (default MSH-10: each input is sent with
    /// an MSH-10 of its own, which a pass-through engine keeps). For an engine that writes
    /// its own MSH-10, a field it copies (e.g. PID-3.1 with a distinct value per input).
    #[serde(default)]
    pub key: Option<FieldPath>,
    /// How long to wait for the engine's ACK of each input (default 5s).
    #[serde(default)]
    pub ack_timeout: Option<Span>,
    /// How long a case may take before the harness stops it (default 15s).
    #[serde(default)]
    pub timeout: Option<Span>,
    /// Once every expected output arrived, how long to keep listening for anything more
    /// (duplicates, filtered inputs; default 500ms).
    #[serde(default)]
    pub quiet: Option<Span>,
}

/// One destination the harness plays.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThroughDestination {
    /// `HOST:PORT` to listen on; default `127.0.0.1:0`.
    #[serde(default)]
    pub listen: Option<Text>,
    /// Listen as an HL7-over-HTTP receiver instead of MLLP (the receiver role's HTTP server,
    /// as `receiver.http`): the engine posts each output to `http://{destination.NAME}` +
    /// `path`, and gets the case's answer in the response body (status 200 for every HL7
    /// answer). Only the answers an HTTP response can carry are taken (refused by name at
    /// load otherwise).
    #[serde(default)]
    pub http: Option<super::receiver::HttpListen>,
    /// Listen as an HLLP receiver instead of MLLP (HL7 v2 Appendix C blocks, the settings
    /// both peers must agree on as `target.hllp`): the engine sends each output as a `D`
    /// block to `hllp://{destination.NAME}` and gets the case's answer in a `D` block; a
    /// damaged block is answered with an `N` block (`C` size, `X` checksum, `B` too long),
    /// not processed, and kept as evidence. HLLP carries every answer MLLP does.
    #[serde(default)]
    pub hllp: Option<super::hllp::HllpSpec>,
}

/// The engine as a command.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThroughSut {
    /// Program and arguments. Placeholders: `{harness}` (this hl7-harness binary; the
    /// reference engine is `{harness} engine ROUTES.yaml`), `{input}` (`HOST:PORT` the engine
    /// is to listen on), `{destination.NAME}` (`HOST:PORT` the harness listens on as NAME),
    /// `{workdir}` (an empty folder of the case's own, e.g. for the engine's journal, removed
    /// afterwards), `{scenario_dir}` (the scenario file's folder), `{defects}` (one
    /// `--defect NAME` pair per `run --sut-defect`). The harness connects to `input` until
    /// the engine listens (within `ack_timeout`).
    pub command: Vec<Text>,
}

/// One through case.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThroughCase {
    pub name: String,
    /// The inputs, sent in order on one connection, each after the engine answered the last.
    pub send: Vec<ThroughInputSpec>,
    /// How each destination answers what arrives, in arrival order there (the first entry
    /// for its first arrival, …); every arrival after the list gets a correct AA.
    #[serde(default)]
    pub answers: BTreeMap<String, Vec<Answer>>,
    /// A destination may receive its outputs in another order than the inputs were sent
    /// (`through.order` is not run).
    #[serde(default)]
    pub allow_reorder: bool,
    /// Through checks not to run for this case.
    #[serde(default)]
    pub skip_checks: Vec<String>,
}

/// One input and what it must give.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThroughInputSpec {
    /// The template sent (its first message), with an MSH-10 of its own.
    pub message: String,
    /// Values set in the input before it is sent (`PID-5.1: Dø`), as text (escaped and
    /// encoded as the message's delimiters and MSH-18 say).
    #[serde(default)]
    pub set: BTreeMap<FieldPath, Text>,
    /// What must arrive, one entry per destination output.
    #[serde(default)]
    pub expect: Vec<ExpectedOutputSpec>,
    /// Nothing may arrive anywhere for this input: the engine filters it (an AA is then
    /// right).
    #[serde(default)]
    pub filtered: bool,
}

/// One output that must arrive.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedOutputSpec {
    /// The destination's name (one of `through.destinations`).
    pub to: String,
    /// The expected message: a template's first message. Default: the input as sent, with
    /// `set:` applied.
    #[serde(default)]
    pub output: Option<String>,
    /// Values set in the expected message (the engine's mappings: `MSH-5: PORTAL`).
    #[serde(default)]
    pub set: BTreeMap<FieldPath, Text>,
    /// Paths left out of the comparison with everything below them (`MSH-7`, `MSH-10`,
    /// `PID-3[2]`); the delimiters (MSH-1, MSH-2) never count.
    #[serde(default)]
    pub ignore: Vec<FieldPath>,
    /// Values that must match a pattern instead of being equal (generated ids, timestamps):
    /// path → regular expression, matched against the whole decoded value (an absent value is
    /// empty). The path is left out of the comparison otherwise.
    #[serde(default)]
    pub matches: BTreeMap<FieldPath, Text>,
    /// How many distinct copies must arrive (default 1).
    #[serde(default)]
    pub count: Option<usize>,
    /// The longest time from sending the input to the output's first arrival
    /// (`through.latency`).
    #[serde(default)]
    pub within: Option<Span>,
}

/// How long a through case may take by default.
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
/// How long to keep listening after the last expected output, by default.
const DEFAULT_QUIET: std::time::Duration = std::time::Duration::from_millis(500);
/// How long to wait for the engine's ACK of an input, by default.
const DEFAULT_ACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `through:` with its defaults applied: what the runner reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThroughSetup {
    /// The engine's input URL as written, placeholders (`{input}`) not yet filled.
    pub input: String,
    /// Name → where and how to listen.
    pub destinations: BTreeMap<String, DestinationSetup>,
    /// The engine command, placeholders not yet filled.
    pub command: Option<Vec<String>>,
    pub key: crate::hl7::Path,
    pub ack_timeout: std::time::Duration,
    pub timeout: std::time::Duration,
    pub quiet: std::time::Duration,
}

/// One destination with its defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationSetup {
    /// `HOST:PORT` to listen on.
    pub listen: String,
    /// `http:`: an HL7-over-HTTP listener instead of MLLP.
    pub http: Option<super::resolve::HttpListening>,
    /// `hllp:`: an HLLP listener instead of MLLP, with these block settings.
    pub hllp: Option<crate::transport::hllp::HllpOptions>,
}

impl ThroughSetup {
    pub fn from_spec(spec: ThroughSpec) -> ThroughSetup {
        let msh10 = || crate::hl7::Path::parse("MSH-10").expect("MSH-10 is a path");
        ThroughSetup {
            input: spec.input.map_or_else(|| "mllp://{input}".to_string(), |t| t.0),
            destinations: spec
                .destinations
                .into_iter()
                .map(|(name, d)| {
                    let listen = d.listen.map_or_else(|| "127.0.0.1:0".into(), |t| t.0);
                    let http = d.http.map(super::resolve::HttpListening::from_spec);
                    let hllp = d.hllp.map(|h| super::hllp::HllpSpec::options(Some(&h)));
                    (name, DestinationSetup { listen, http, hllp })
                })
                .collect(),
            command: spec.sut.map(|s| s.command.into_iter().map(|t| t.0).collect()),
            key: spec.key.map_or_else(msh10, |k| k.path),
            ack_timeout: spec.ack_timeout.map_or(DEFAULT_ACK_TIMEOUT, |s| s.0),
            timeout: spec.timeout.map_or(DEFAULT_TIMEOUT, |s| s.0),
            quiet: spec.quiet.map_or(DEFAULT_QUIET, |s| s.0),
        }
    }
}

/// Checks what serde cannot in the through cases: templates and destinations named exist,
/// answers are ones a destination can give without the packet-level lab, skipped ids exist.
pub(super) fn check_flows(
    file: &super::raw::ScenarioFile,
    known_checks: super::load::KnownChecks,
    report: &mut dyn FnMut(&str, String),
) {
    let Some(spec) = &file.through else { return };
    if spec.destinations.is_empty() {
        report("destinations:", "through.destinations: name at least one".into());
    }
    if spec.sut.as_ref().is_some_and(|s| s.command.is_empty()) {
        report(
            "command:",
            "through.sut.command is empty: give the program and its arguments".into(),
        );
    }
    for (name, destination) in &spec.destinations {
        if destination
            .http
            .as_ref()
            .and_then(|h| h.path.as_ref())
            .is_some_and(|p| !p.0.starts_with('/'))
        {
            report(name, format!("through.destinations.{name}.http.path must start with /"));
        }
        if destination.http.is_some() && destination.hllp.is_some() {
            report(
                name,
                format!("through.destinations.{name}: listen over http: or hllp:, not both"),
            );
        }
    }
    check_input(spec, report);
    let template = |name: &str, case: &str, report: &mut dyn FnMut(&str, String)| {
        if !file.messages.contains_key(name) {
            report(name, format!("case {case:?}: no message template named {name:?}"));
        }
    };
    let destination = |name: &str, case: &str, report: &mut dyn FnMut(&str, String)| {
        if !spec.destinations.contains_key(name) {
            let known: Vec<&str> = spec.destinations.keys().map(String::as_str).collect();
            report(
                name,
                format!(
                    "case {case:?}: no destination {name:?} in through.destinations ({})",
                    known.join(", ")
                ),
            );
        }
    };
    for case in &file.flows {
        if case.send.is_empty() {
            report(&case.name, format!("case {:?}: send lists no input", case.name));
        }
        for input in &case.send {
            template(&input.message, &case.name, report);
            if input.filtered && !input.expect.is_empty() {
                report(
                    "filtered:",
                    format!("case {:?}: a filtered input expects nothing", case.name),
                );
            }
            for output in &input.expect {
                destination(&output.to, &case.name, report);
                if let Some(name) = &output.output {
                    template(name, &case.name, report);
                }
                for (path, pattern) in &output.matches {
                    if let Err(e) = regex::Regex::new(&format!("^(?:{})$", pattern.0)) {
                        report(
                            &pattern.0,
                            format!(
                                "case {:?}: matches {path}: not a regular expression: {e}",
                                case.name
                            ),
                        );
                    }
                }
                if output.count == Some(0) {
                    report(
                        "count:",
                        format!(
                            "case {:?}: count must be at least 1 (for none, write filtered: true)",
                            case.name
                        ),
                    );
                }
            }
        }
        for (name, answers) in &case.answers {
            destination(name, &case.name, report);
            if spec.destinations.get(name).is_some_and(|d| d.http.is_some()) {
                use crate::faults::{Fault, Host};
                for answer in answers {
                    if let Err(refused) = Host::HttpAnswering.check(&Fault::Answer(answer.clone()))
                    {
                        report(
                            answer.name(),
                            format!("case {:?}: destination {name} (HTTP): {refused}", case.name),
                        );
                    }
                }
                continue;
            }
            if spec.destinations.get(name).is_some_and(|d| d.hllp.is_some()) {
                // HLLP carries every answer MLLP does (two `D` blocks for duplicate_ack, RST
                // for reset); only the packet-level ones are out, as over MLLP, but each is
                // refused at its own line.
                for answer in answers.iter().filter(|a| a.needs_lab()) {
                    report(
                        answer.name(),
                        format!(
                            "case {:?}: destination {name} (HLLP): `{}` needs the packet-level \
                             lab, which the through role does not set up",
                            case.name,
                            answer.name()
                        ),
                    );
                }
                continue;
            }
            for answer in answers.iter().filter(|a| a.needs_lab()) {
                report(
                    name,
                    format!(
                        "case {:?}: the answer {answer:?} needs the packet-level lab, which \
                         the through role does not set up",
                        case.name
                    ),
                );
            }
        }
        super::validate::check_skip_ids(&case.name, &case.skip_checks, known_checks, report);
    }
}

/// The input URL's scheme is one the through role sends over; its address is checked when a
/// case runs (`{input}` is filled in then).
fn check_input(spec: &ThroughSpec, report: &mut dyn FnMut(&str, String)) {
    let Some(input) = &spec.input else { return };
    let known = ["mllp://", "hllp://", "http://"];
    if !known.iter().any(|k| input.0.starts_with(k)) {
        report(
            &input.0,
            format!(
                "through.input {:?}: the through role sends over mllp://, hllp:// or http://",
                input.0
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{load_text, FileAccess};

    const HEAD: &str = "role: through\nmessages: { m: { text: \"MSH|^~\\\\&|A|B|C|D|20240101||ADT^A01|X|P|2.5\" } }\n";

    /// The problems a scenario has, one message each; empty when it loads.
    fn check(yaml: &str) -> Vec<String> {
        let text = format!("{HEAD}{yaml}");
        match load_text(std::path::Path::new("t.yaml"), &text, &[], FileAccess::default()) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.message).collect(),
        }
    }

    fn fails(yaml: &str, wanted: &str) {
        let found = check(yaml);
        assert!(found.iter().any(|m| m.contains(wanted)), "{wanted:?} not in {found:?}");
    }

    #[test]
    fn defaults_apply() {
        let text = format!(
            "{HEAD}through: {{ destinations: {{ a: {{}} }} }}\nflows:\n  - name: x\n    send: [{{ message: m, expect: [{{ to: a }}] }}]\n"
        );
        let loaded = load_text(std::path::Path::new("t.yaml"), &text, &[], FileAccess::default())
            .expect("loads");
        let setup = loaded.file.through.expect("a through setup");
        assert_eq!(setup.input, "mllp://{input}");
        let a = setup.destinations.get("a").expect("destination a");
        assert_eq!((a.listen.as_str(), a.http.as_ref()), ("127.0.0.1:0", None));
        assert_eq!(setup.key.to_string(), "MSH-10");
        assert_eq!(setup.timeout, DEFAULT_TIMEOUT);
        assert_eq!(setup.command, None);
        assert_eq!(loaded.file.flows.len(), 1);
    }

    #[test]
    fn what_serde_cannot_check_is_refused_by_name() {
        let through = "through: { destinations: { a: {} } }\nflows:\n  - name: x\n    send:\n";
        fails(
            &format!("{through}      - {{ message: nope }}\n"),
            "no message template named \"nope\"",
        );
        fails(
            &format!("{through}      - {{ message: m, expect: [{{ to: b }}] }}\n"),
            "no destination \"b\"",
        );
        fails(
            &format!("{through}      - {{ message: m, filtered: true, expect: [{{ to: a }}] }}\n"),
            "a filtered input expects nothing",
        );
        fails(
            &format!("{through}      - {{ message: m, expect: [{{ to: a, matches: {{ MSH-10: \"(\" }} }}] }}\n"),
            "not a regular expression",
        );
        fails(
            &format!("{through}      - {{ message: m }}\n    answers: {{ a: [silent_peer] }}\n"),
            "needs the packet-level lab",
        );
        fails("flows:\n  - { name: x, send: [{ message: m }] }\n", "needs a through: block");
        fails("through: { destinations: { a: {} } }\n", "needs at least one under flows:");
    }

    /// The problems a scenario has, each with its line.
    fn lines(yaml: &str) -> Vec<(usize, String)> {
        let text = format!("{HEAD}{yaml}");
        match load_text(std::path::Path::new("t.yaml"), &text, &[], FileAccess::default()) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| (e.line, e.message)).collect(),
        }
    }

    #[test]
    fn an_http_destination_and_an_http_input_load() {
        let text = format!(
            "{HEAD}through:\n  input: \"http://{{input}}/hl7\"\n  destinations:\n    \
             a: {{ http: {{ path: /in, max_body_bytes: 4096 }} }}\n    b: {{}}\n\
             flows:\n  - name: x\n    send: [{{ message: m, expect: [{{ to: a }}, {{ to: b }}] }}]\n\
             \x20   answers: {{ a: [{{ nak: AR }}, no_ack, close, {{ late_ack: 1s }}], b: [reset] }}\n"
        );
        let loaded = load_text(std::path::Path::new("t.yaml"), &text, &[], FileAccess::default())
            .expect("loads");
        let setup = loaded.file.through.expect("a through setup");
        assert_eq!(setup.input, "http://{input}/hl7");
        let a = setup.destinations.get("a").and_then(|d| d.http.as_ref()).expect("a over HTTP");
        assert_eq!((a.path.as_str(), a.max_body_bytes), ("/in", 4096));
        assert_eq!(setup.destinations.get("b").map(|d| d.http.is_some()), Some(false));
        assert!(check(
            "through: { input: \"hllp://127.0.0.1:2600\", destinations: { a: {} } }\n\
             flows:\n  - { name: x, send: [{ message: m, expect: [{ to: a }] }] }\n"
        )
        .is_empty());
    }

    /// An HTTP destination takes only the answers an HTTP response can carry (the receiver
    /// role's rule, `faults::Host::HttpAnswering`); each refusal names the answer, the
    /// destination and the case, at the answer's line. The same answers are fine over MLLP.
    #[test]
    fn answers_an_http_destination_cannot_give_are_refused_at_their_line() {
        let through = "through:\n  destinations:\n    a: { http: { path: /in } }\n    b: {}\n\
                       flows:\n  - name: x\n    send: [{ message: m }]\n    answers:\n";
        for answer in ["duplicate_ack", "reset"] {
            let found = lines(&format!("{through}      a:\n        - {answer}\n"));
            let line = HEAD.lines().count() + 10;
            assert!(
                found.iter().any(|(l, m)| *l == line
                    && m.contains(answer)
                    && m.contains("destination a (HTTP)")
                    && m.contains("HTTP answering server")),
                "{answer}: {found:?}"
            );
            assert!(check(&format!("{through}      b:\n        - {answer}\n")).is_empty());
        }
    }

    /// `hllp:` mirrors `http:`: the block settings as `target.hllp` names them; every answer
    /// MLLP carries is taken, the packet-level ones refused at their own line; `http:` and
    /// `hllp:` together are refused.
    #[test]
    fn an_hllp_destination_loads_with_its_block_settings() {
        use crate::transport::hllp::{Checksum, ChecksumSpan, HllpOptions};
        let text = format!(
            "{HEAD}through:\n  destinations:\n    a: {{ hllp: {{ checksum: sum-mod256, \
             max_block_bytes: 4096 }} }}\n    b: {{ hllp: {{}} }}\n\
             flows:\n  - name: x\n    send: [{{ message: m, expect: [{{ to: a }}] }}]\n\
             \x20   answers: {{ a: [duplicate_ack, reset, {{ nak: AE }}, no_ack, close] }}\n"
        );
        let loaded = load_text(std::path::Path::new("t.yaml"), &text, &[], FileAccess::default())
            .expect("loads");
        let setup = loaded.file.through.expect("a through setup");
        let a = setup.destinations.get("a").expect("a");
        let want = HllpOptions {
            checksum: Checksum::SumMod256,
            span: ChecksumSpan::Data,
            max_block_bytes: 4096,
        };
        assert_eq!((a.hllp, a.http.as_ref()), (Some(want), None));
        assert_eq!(setup.destinations.get("b").and_then(|d| d.hllp), Some(HllpOptions::default()));
        let through = "through:\n  destinations:\n    a: { hllp: {} }\n\
                       flows:\n  - name: x\n    send: [{ message: m }]\n    answers:\n";
        let found = lines(&format!("{through}      a:\n        - ack\n        - silent_peer\n"));
        let line = HEAD.lines().count() + 10;
        assert!(
            found.iter().any(|(l, m)| *l == line
                && m.contains("destination a (HLLP): `silent_peer` needs the packet-level lab")),
            "{found:?}"
        );
        let flows = "flows:\n  - { name: x, send: [{ message: m }] }\n";
        fails(
            &format!("through: {{ destinations: {{ a: {{ http: {{}}, hllp: {{}} }} }} }}\n{flows}"),
            "through.destinations.a: listen over http: or hllp:, not both",
        );
        fails(
            &format!(
                "through: {{ destinations: {{ a: {{ hllp: {{ checksum: crc }} }} }} }}\n{flows}"
            ),
            "is not an HLLP checksum",
        );
    }

    #[test]
    fn a_bad_http_path_or_input_scheme_is_refused() {
        let flows = "flows:\n  - { name: x, send: [{ message: m }] }\n";
        fails(
            &format!("through: {{ destinations: {{ a: {{ http: {{ path: in }} }} }} }}\n{flows}"),
            "through.destinations.a.http.path must start with /",
        );
        fails(
            &format!("through: {{ input: \"mllps://h:1\", destinations: {{ a: {{}} }} }}\n{flows}"),
            "sends over mllp://, hllp:// or http://",
        );
        fails(
            &format!("through: {{ destinations: {{ a: {{ http: {{ nope: 1 }} }} }} }}\n{flows}"),
            "unknown field `nope`",
        );
    }
}
