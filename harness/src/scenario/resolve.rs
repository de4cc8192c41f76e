//! Resolving a scenario file: from the YAML as written ([`raw::ScenarioFile`]) to the validated
//! [`Scenario`] the runner reads. Resolving resolves the file references (they must exist inside
//! the pack), checks what serde cannot see (template names, check ids, step shapes), reads the
//! templates' messages and the file's target profile, parses the target URL, applies the
//! defaults of the durations and turns a single-message case into one step. Every problem is
//! reported at once, each naming file, line and column ([`ResolveErrors`]).
//!
//! The runner never sees [`raw`]: what a default is, or what a shorthand stands for, is decided
//! here and nowhere else.

use super::files::FileAccess;
use super::load::{locate, template_messages, KnownChecks, LoadError, TemplateMessage};
use super::raw::{
    self, Auth, BuiltinSpec, LoadSpec, Role, Step, Template, TlsSpec, Transport, Vary,
};
use super::receiver::{ReceiverCase, ReceiverSpec};
use super::text::FileRef;
use super::validate::{check_case, check_http_listen, check_load, check_receiver_case, repeated};
use crate::faults::NetworkFault;
use crate::profile::{Declaration, LoadedProfile};
use crate::transport::hllp::HllpOptions;
use crate::transport::target_url::{TargetUrl, TargetUrlError};
use crate::transport::userinfo::Credentials;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// A scenario file resolved: what the runner reads, with nothing left to default or expand.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub description: Option<String>,
    pub role: Role,
    pub target: Target,
    /// Credentials for HTTP targets; never echoed in output.
    pub auth: Option<Auth>,
    /// The templates as written (reports list the files they name).
    pub messages: BTreeMap<String, Template>,
    /// The messages each template stands for, read.
    pub templates: BTreeMap<String, Vec<TemplateMessage>>,
    /// Cases of the sender role, each as steps.
    pub cases: Vec<Case>,
    /// Listening and the system under test, for the receiver role (defaults applied).
    pub receiver: Listening,
    /// Cases of the receiver role.
    pub receive: Vec<ReceiverCase>,
    /// The through role's engine input, destinations and engine command (defaults applied).
    pub through: Option<super::through::ThroughSetup>,
    /// Cases of the through role.
    pub flows: Vec<super::through::ThroughCase>,
    /// A load phase run after the cases.
    pub load: Option<Load>,
    /// The target profile the file's `target.profile` names, read (`run --target-profile`
    /// overrides it at run time).
    pub profile: Option<LoadedProfile>,
}

/// The file's `target.url` parsed (the built-in endpoint when the file names none), with the
/// credentials written into an `http(s)://` URL. A URL that does not parse is kept as its error:
/// `--target` may override it, so it is refused only when the file runs against it, as before.
pub type FileTarget = Result<(TargetUrl, Option<Credentials>), TargetUrlError>;

/// Where a sender-role file sends, and how long it waits.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: FileTarget,
    /// The transport the file is written for; `None` when it names none (an MLLP file that
    /// also runs against an HTTP `--target`).
    pub transport: Option<Transport>,
    /// Base URL of the target's state endpoint (`target.state`).
    pub state: Option<String>,
    pub timeouts: TargetTimeouts,
    pub builtin: Option<BuiltinSpec>,
    pub tls: Option<TlsSpec>,
    /// The HLLP block settings, defaults applied.
    pub hllp: HllpOptions,
}

impl Target {
    /// The transport the built-in endpoint is reached over: the file's, else MLLP.
    pub fn transport_or_default(&self) -> Transport {
        self.transport.unwrap_or(Transport::Mllp)
    }
}

/// The durations of a target with their defaults applied. The defaults live here and only
/// here: the runner reads the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetTimeouts {
    /// `target.connect_timeout`: for the cases and the lab's reachability check alike.
    pub connect: Duration,
    /// `target.ack_timeout`: how long each ACK is awaited.
    pub ack: Duration,
    /// How long writing a message may take (not written in scenario files).
    pub write: Duration,
    /// `target.linger`: how long a connection is watched after the last exchange.
    pub linger: Duration,
}

impl Default for TargetTimeouts {
    fn default() -> Self {
        TargetTimeouts {
            connect: Duration::from_secs(5),
            ack: Duration::from_secs(5),
            write: Duration::from_secs(10),
            linger: Duration::from_millis(200),
        }
    }
}

/// How the harness listens in the receiver role and starts the sender under test, with the
/// defaults of `receiver:` applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listening {
    /// `receiver.listen`; default `127.0.0.1:0` (a free port per case).
    pub listen: String,
    /// `receiver.sut.command`, interpolated: program and arguments.
    pub sut_command: Option<Vec<String>>,
    /// `receiver.timeout`: how long a case may take (default 10s).
    pub timeout: Duration,
    /// `receiver.quiet`: how long to keep listening once the sender is done (default 300ms).
    pub quiet: Duration,
    /// `receiver.http`: listen for HL7 over HTTP instead of MLLP.
    pub http: Option<HttpListening>,
}

/// The receiver role's HTTP listener with the defaults of `receiver.http` applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpListening {
    /// The path posts go to, starting with `/`.
    pub path: String,
    /// The credentials the sender must present; `None`: none asked for.
    pub basic: Option<crate::transport::http_server::BasicCredentials>,
    pub max_body_bytes: usize,
    /// Bounds the request line and headers, then the body.
    pub header_timeout: Duration,
}

/// The default body limit of the receiver role's HTTP listener: 1 MiB (an HL7 message with
/// an embedded document fits; a runaway sender does not fill memory).
pub const HTTP_MAX_BODY_BYTES: usize = 1024 * 1024;

impl HttpListening {
    pub(super) fn from_spec(spec: super::receiver::HttpListen) -> HttpListening {
        HttpListening {
            path: spec.path.map_or_else(|| "/".into(), |t| t.0),
            basic: spec.basic.map(|b| crate::transport::http_server::BasicCredentials {
                user: b.user.0,
                password: b.password.expose().to_string(),
            }),
            max_body_bytes: spec.max_body_bytes.unwrap_or(HTTP_MAX_BODY_BYTES),
            header_timeout: spec.header_timeout.map_or(Duration::from_secs(10), |s| s.0),
        }
    }
}

impl Listening {
    fn from_spec(spec: Option<ReceiverSpec>) -> Listening {
        let spec = spec.unwrap_or_default();
        Listening {
            listen: spec.listen.map_or_else(|| "127.0.0.1:0".into(), |t| t.0),
            sut_command: spec.sut.map(|s| s.command.into_iter().map(|t| t.0).collect()),
            timeout: spec.timeout.map_or(Duration::from_secs(10), |s| s.0),
            quiet: spec.quiet.map_or(Duration::from_millis(300), |s| s.0),
            http: spec.http.map(HttpListening::from_spec),
        }
    }
}

/// A `load:` block with its defaults applied: the engine's plan, ready to run.
#[derive(Debug, Clone)]
pub struct Load {
    /// Templates sent in turn; empty: every template of the file.
    pub send: Vec<String>,
    pub plan: crate::load::Plan,
    /// Patient ids cycle through this many values (default 1000; 0 keeps the template's).
    pub patients: u64,
    pub thresholds: Vec<crate::load::Threshold>,
}

impl Load {
    fn from_spec(spec: LoadSpec) -> Load {
        use crate::load::{Mode, Plan};
        Load {
            plan: Plan {
                mode: spec.rate.map_or(Mode::Closed, |rate| Mode::Open { rate }),
                connections: spec.connections.unwrap_or(1).max(1) as usize,
                duration: spec.duration.map(|s| s.0),
                count: spec.count,
                warmup: spec.warmup.map(|s| s.0).unwrap_or_default(),
                slice: Duration::from_secs(1),
            },
            send: spec.send,
            patients: spec.patients.unwrap_or(1000),
            thresholds: spec.thresholds,
        }
    }
}

/// One sender-role case, as steps: a case written with `send:` at case level is one step.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    /// Run in file order with the other serial cases, before the concurrent ones.
    pub serial: bool,
    /// Expands the case into one case per mutation or per value.
    pub vary: Option<Vary>,
    /// Network faults applied to the whole case (each step may add its own).
    pub network: Vec<NetworkFault>,
    /// The case-level expectation (`connection_open`, `order`); a single-message case's step
    /// carries it too, as its own.
    pub expect: raw::Expect,
    /// The steps, never empty once resolved.
    pub steps: Vec<Step>,
    /// Connections opened at once.
    pub connections: Option<u32>,
    /// Generic check ids this case opts out of.
    pub skip_checks: Vec<String>,
    /// Declarations of the target profile the case's expectations depend on.
    pub depends_on: Vec<Declaration>,
}

impl Case {
    /// The first template the case sends.
    pub fn first_send(&self) -> Option<&str> {
        self.steps.iter().find_map(|s| s.send.as_deref())
    }

    /// Every fault the case's client connection applies: its `network:` list, then each
    /// step's.
    pub fn network_faults(&self) -> impl Iterator<Item = &NetworkFault> {
        raw::network_faults(&self.network, &self.steps)
    }
}

/// Every problem resolving found, in the order of the checks; shown one per line, each with
/// file, line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", one_per_line(.0))]
pub struct ResolveErrors(pub Vec<LoadError>);

fn one_per_line(errors: &[LoadError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// What resolving needs besides the file: where it lies, its text (to name lines), what files
/// it may read and the check ids `skip_checks` may name.
pub struct LoadContext<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    pub access: FileAccess,
    pub known_checks: KnownChecks<'a>,
}

impl LoadContext<'_> {
    fn at(&self, needle: &str, message: String) -> LoadError {
        let (line, column) = locate(self.text, needle);
        LoadError { file: self.path.into(), line, column, message }
    }

    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

/// Resolves a file read from YAML; every problem at once.
pub fn resolve(mut file: raw::ScenarioFile, ctx: &LoadContext) -> Result<Scenario, ResolveErrors> {
    let dir = ctx.dir();
    let text = ctx.text;
    let mut errors = Vec::new();
    // Every file the scenario names must exist inside the pack: all refusals at once, before
    // anything reads one of them.
    for (key_path, reference) in file_references(&mut file) {
        if let Err(refused) = reference.resolve(dir, ctx.access) {
            let key = key_path.rsplit('.').next().unwrap_or(&key_path).to_string() + ":";
            let needle = if text.contains(&reference.written) { &reference.written } else { &key };
            errors.push(ctx.at(needle, format!("{key_path}: file {refused}")));
        }
    }
    if !errors.is_empty() {
        return Err(ResolveErrors(errors));
    }
    check_roles(&file, ctx, &mut errors);
    let receive_names = file.receive.iter().map(|c| c.name.as_str());
    let sender_names = file.cases.iter().map(|c| c.name.as_str());
    let flow_names = file.flows.iter().map(|c| c.name.as_str());
    for name in repeated(receive_names.chain(sender_names).chain(flow_names)) {
        errors.push(ctx.at(name, format!("case {name:?} appears twice; names must be unique")));
    }
    let mut report = |needle: &str, message: String| errors.push(ctx.at(needle, message));
    for case in &file.receive {
        check_receiver_case(case, &file, ctx.known_checks, &mut report);
    }
    if let Some(http) = file.receiver.as_ref().and_then(|r| r.http.as_ref()) {
        check_http_listen(http, &mut report);
    }
    if let Some(load) = &file.load {
        check_load(load, &file, &mut report);
    }
    for case in &file.cases {
        check_case(case, &file, ctx.known_checks, &mut report);
    }
    super::through::check_flows(&file, ctx.known_checks, &mut report);
    if let Some(spec) = &file.through {
        super::through_read::check_read_folders(spec, dir, ctx.access, &mut report);
    }
    read_replies(&mut file, ctx, &mut errors);
    let mut templates = BTreeMap::new();
    for (name, template) in &file.messages {
        match template_messages(name, template, dir, ctx.access) {
            Ok(messages) => {
                templates.insert(name.clone(), messages);
            }
            Err(message) => {
                errors.push(ctx.at(&format!("{name}:"), format!("message {name:?}: {message}")))
            }
        }
    }
    let profile = match &file.target.profile {
        Some(written) => match super::profile::load_profile(&written.resolved) {
            Ok(profile) => Some(profile),
            Err(error) => {
                errors.push(ctx.at("profile:", format!("target.profile: {error}")));
                None
            }
        },
        None => None,
    };
    let plays_profile = file.target.builtin.as_ref().is_some_and(|b| b.plays_profile);
    if plays_profile && file.target.profile.is_none() {
        errors.push(ctx.at(
            "plays_profile:",
            "target.builtin.plays_profile: the file names no target.profile to play".into(),
        ));
    }
    if !errors.is_empty() {
        return Err(ResolveErrors(errors));
    }
    Ok(Scenario {
        description: file.description,
        role: file.role,
        target: target(file.target),
        auth: file.auth,
        messages: file.messages,
        templates,
        cases: file.cases.into_iter().map(case).collect(),
        receiver: Listening::from_spec(file.receiver),
        receive: file.receive,
        through: file.through.map(super::through::ThroughSetup::from_spec),
        flows: file.flows,
        load: file.load.map(Load::from_spec),
        profile,
    })
}

/// Which keys belong to which role.
fn check_roles(file: &raw::ScenarioFile, ctx: &LoadContext, errors: &mut Vec<LoadError>) {
    let problem = match file.role {
        Role::Sender if file.cases.is_empty() && file.load.is_none() => {
            Some(("cases:", "no cases: a scenario needs at least one (or a load: block)"))
        }
        Role::Sender if !file.receive.is_empty() || file.receiver.is_some() => {
            Some(("receive", "receiver and receive belong to `role: receiver` scenarios"))
        }
        Role::Sender | Role::Receiver if !file.flows.is_empty() || file.through.is_some() => {
            Some(("through", "through and flows belong to `role: through` scenarios"))
        }
        Role::Through if !file.cases.is_empty() || !file.receive.is_empty() => Some((
            "role:",
            "a `role: through` scenario lists its cases under flows:, not cases: or receive:",
        )),
        Role::Through if file.through.is_none() => Some((
            "role:",
            "a `role: through` scenario needs a through: block (the engine's input, the destinations)",
        )),
        Role::Through if file.flows.is_empty() => Some((
            "role:",
            "no cases: a `role: through` scenario needs at least one under flows:",
        )),
        Role::Through if file.load.is_some() || file.receiver.is_some() => Some((
            "role:",
            "a `role: through` scenario has no load: or receiver: block",
        )),
        Role::Receiver if !file.cases.is_empty() => Some((
            "cases:",
            "a `role: receiver` scenario lists its cases under receive:, not cases:",
        )),
        Role::Receiver if file.receive.is_empty() => Some((
            "role:",
            "no cases: a `role: receiver` scenario needs at least one under receive:",
        )),
        Role::Receiver if file.load.is_some() => Some((
            "load:",
            "a load: block drives a target; it does not go into a `role: receiver` scenario",
        )),
        _ => None,
    };
    if let Some((needle, message)) = problem {
        errors.push(ctx.at(needle, message.into()));
    }
}

/// The target with its URL parsed and its defaults applied.
fn target(spec: raw::TargetSpec) -> Target {
    let defaults = TargetTimeouts::default();
    let url = match &spec.url {
        Some(url) => TargetUrl::parse_with_credentials(&url.0),
        None => Ok((TargetUrl::Builtin, None)),
    };
    Target {
        url,
        transport: spec.transport,
        state: spec.state.map(|s| s.0),
        timeouts: TargetTimeouts {
            connect: spec.connect_timeout.map_or(defaults.connect, |s| s.0),
            ack: spec.ack_timeout.map_or(defaults.ack, |s| s.0),
            write: defaults.write,
            linger: spec.linger.map_or(defaults.linger, |s| s.0),
        },
        hllp: super::hllp::HllpSpec::options(spec.hllp.as_ref()),
        builtin: spec.builtin,
        tls: spec.tls,
    }
}

/// A case as steps: the single-message shorthand (`send`, `set`, `mutate`, `expect`, `probe`
/// at case level) becomes one step.
fn case(case: raw::Case) -> Case {
    let steps = if case.steps.is_empty() {
        vec![Step {
            send: case.send,
            set: case.set,
            mutate: case.mutate,
            resend: None,
            network: Vec::new(),
            expect: case.expect.clone(),
            probe: case.probe,
            wait: None,
            exact: false,
        }]
    } else {
        case.steps
    };
    Case {
        name: case.name,
        serial: case.serial,
        vary: case.vary,
        network: case.network,
        expect: case.expect,
        steps,
        connections: case.connections,
        skip_checks: case.skip_checks,
        depends_on: case.depends_on,
    }
}

/// Every file reference of a scenario, with the key path it stands under (`messages.adt`).
fn file_references(file: &mut raw::ScenarioFile) -> Vec<(String, &mut FileRef)> {
    let mut found: Vec<(String, &mut FileRef)> = Vec::new();
    let target = &mut file.target;
    if let Some(profile) = target.profile.as_mut() {
        found.push(("target.profile".into(), profile));
    }
    if let Some(tls) = target.tls.as_mut() {
        found.push(("target.tls.ca".into(), &mut tls.ca));
        if let Some(cert) = tls.client_cert.as_mut() {
            found.push(("target.tls.client_cert".into(), cert));
        }
        if let Some(key) = tls.client_key.as_mut() {
            found.push(("target.tls.client_key".into(), key));
        }
    }
    for (name, template) in file.messages.iter_mut() {
        if let Template::File(reference) = template {
            found.push((format!("messages.{name}"), reference));
        }
    }
    for (key_path, reply) in replies(&mut file.cases) {
        found.push((format!("{key_path}.file"), &mut reply.file));
    }
    found
}

/// Every `expect: { reply: … }` of the sender role's cases and steps, with its key path.
fn replies(cases: &mut [raw::Case]) -> Vec<(String, &mut raw::ReplyExpectation)> {
    let mut found = Vec::new();
    for (c, case) in cases.iter_mut().enumerate() {
        if let Some(reply) = case.expect.reply.as_mut() {
            found.push((format!("cases[{c}].expect.reply"), reply));
        }
        for (s, step) in case.steps.iter_mut().enumerate() {
            if let Some(reply) = step.expect.reply.as_mut() {
                found.push((format!("cases[{c}].steps[{s}].expect.reply"), reply));
            }
        }
    }
    found
}

/// Reads each expected reply (resolved already) into its expectation: one HL7 message, so the
/// `replay.reply` check compares bytes in memory and does no I/O.
fn read_replies(file: &mut raw::ScenarioFile, ctx: &LoadContext, errors: &mut Vec<LoadError>) {
    for (key_path, reply) in replies(&mut file.cases) {
        let template = Template::File(reply.file.clone());
        let written = reply.file.written.clone();
        let problem = match template_messages(&key_path, &template, ctx.dir(), ctx.access) {
            Ok(mut messages) if messages.len() == 1 => {
                reply.message = messages.remove(0).bytes;
                continue;
            }
            Ok(messages) => {
                format!("{written}: {} messages; an expected reply is one", messages.len())
            }
            Err(error) => error.to_string(),
        };
        errors.push(ctx.at(&written, format!("{key_path}: {problem}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(yaml: &str) -> Scenario {
        let path = Path::new("in-memory.yaml");
        let file: raw::ScenarioFile = super::super::from_yaml(yaml).expect("yaml");
        let ctx =
            LoadContext { path, text: yaml, access: FileAccess::default(), known_checks: &[] };
        resolve(file, &ctx).expect("resolves")
    }

    /// Defaults are applied once, here; the runner reads the values.
    #[test]
    fn defaults_apply_and_the_shorthand_becomes_one_step() {
        let s = resolved(
            "messages: { m: { text: \"MSH|^~\\\\&|A\" } }\n\
             cases:\n  - { name: x, send: m, expect: { ack: AA, order: any } }\n",
        );
        assert_eq!(s.target.timeouts, TargetTimeouts::default());
        assert!(matches!(s.target.url, Ok((TargetUrl::Builtin, None))));
        assert_eq!(s.cases[0].steps.len(), 1);
        assert_eq!(s.cases[0].steps[0].send.as_deref(), Some("m"));
        assert_eq!(s.cases[0].first_send(), Some("m"));
        assert!(s.cases[0].steps[0].expect.ack.is_some());
        let s = resolved(
            "target: { url: \"mllp://h:1\", ack_timeout: 2s, linger: 1s }\n\
             messages: { m: { text: \"MSH|^~\\\\&|A\" } }\n\
             cases:\n  - { name: x, steps: [{ send: m }, { resend: true }] }\n",
        );
        assert_eq!(s.target.timeouts.ack, Duration::from_secs(2));
        assert_eq!(s.target.timeouts.linger, Duration::from_secs(1));
        assert_eq!(s.target.timeouts.connect, TargetTimeouts::default().connect);
        assert!(matches!(&s.target.url, Ok((TargetUrl::Mllp(a), None)) if a == "h:1"));
        assert_eq!(s.cases[0].steps.len(), 2);
    }

    /// The receiver role's and the load block's defaults are applied here too.
    #[test]
    fn receiver_and_load_defaults_apply() {
        let s = resolved(
            "role: receiver\nmessages: { m: { text: \"MSH|^~\\\\&|A\" } }\n\
             receiver: { quiet: 1s }\nreceive:\n  - { name: x, send: [m] }\n",
        );
        assert_eq!(s.receiver.listen, "127.0.0.1:0");
        assert_eq!(s.receiver.timeout, Duration::from_secs(10));
        assert_eq!(s.receiver.quiet, Duration::from_secs(1));
        assert_eq!(s.receiver.sut_command, None);
        assert_eq!(s.receiver.http, None);
        let s = resolved("messages: { m: { text: \"MSH|^~\\\\&|A\" } }\nload: { count: 10 }\n");
        let load = s.load.expect("a load block");
        assert_eq!(load.plan.connections, 1);
        assert_eq!(load.plan.mode, crate::load::Mode::Closed);
        assert_eq!(load.patients, 1000);
    }

    /// Every problem is reported at once, each with its line.
    #[test]
    fn every_problem_at_once() {
        let yaml = "messages: { m: { text: \"MSH|^~\\\\&|A\" } }\n\
                    cases:\n  - { name: x, send: n }\n  - { name: x, send: m, connections: 0 }\n";
        let file: raw::ScenarioFile = super::super::from_yaml(yaml).expect("yaml");
        let ctx = LoadContext {
            path: Path::new("e.yaml"),
            text: yaml,
            access: FileAccess::default(),
            known_checks: &[],
        };
        let errors = resolve(file, &ctx).expect_err("three problems");
        let shown = errors.to_string();
        assert_eq!(errors.0.len(), 3, "{shown}");
        assert!(shown.lines().all(|l| l.starts_with("e.yaml:")), "{shown}");
        assert!(shown.contains("appears twice") && shown.contains("\"n\""), "{shown}");
    }

    /// `receiver.http` gets its defaults; over HTTP, an answer or a connection behaviour an
    /// HTTP exchange cannot carry is refused by name, every one at once.
    #[test]
    fn the_http_listener_gets_defaults_and_refuses_what_http_cannot_carry() {
        let s = resolved(
            "role: receiver\nmessages: { m: { text: \"MSH|^~\\\\&|A\" } }\n\
             receiver: { http: {} }\nreceive:\n  - { name: x, send: [m], answers: [close] }\n",
        );
        let http = s.receiver.http.expect("http");
        assert_eq!(
            (http.path.as_str(), http.basic, http.max_body_bytes),
            ("/", None, HTTP_MAX_BODY_BYTES)
        );
        assert_eq!(http.header_timeout, Duration::from_secs(10));
        let yaml = "role: receiver\nmessages: { m: { text: \"MSH|^~\\\\&|A\" } }\n\
                    receiver: { http: { path: hl7 } }\nreceive:\n  - { name: x, send: [m], \
                    answers: [duplicate_ack, silent_peer], connections: [{ slow_read: { bytes: 1, \
                    every: 1ms } }] }\n";
        let file: raw::ScenarioFile = super::super::from_yaml(yaml).expect("yaml");
        let ctx = LoadContext {
            path: Path::new("h.yaml"),
            text: yaml,
            access: FileAccess::default(),
            known_checks: &[],
        };
        let shown = resolve(file, &ctx).expect_err("refused").to_string();
        for refused in [
            "`duplicate_ack` is a receiver answer; the receiver role's HTTP answering server",
            "`silent_peer` is a receiver answer",
            "slow_read shapes MLLP reads",
            "receiver.http.path must start with /",
        ] {
            assert!(shown.contains(refused), "{refused}: {shown}");
        }
    }

    /// `builtin.plays_profile` needs a profile to play.
    #[test]
    fn playing_a_profile_needs_one() {
        let yaml = "target: { builtin: { plays_profile: true } }\n\
                    messages: { m: { text: \"MSH|^~\\\\&|A\" } }\n\
                    cases:\n  - { name: x, send: m }\n";
        let file: raw::ScenarioFile = super::super::from_yaml(yaml).expect("yaml");
        let ctx = LoadContext {
            path: Path::new("p.yaml"),
            text: yaml,
            access: FileAccess::default(),
            known_checks: &[],
        };
        let shown = resolve(file, &ctx).expect_err("no profile").to_string();
        assert!(shown.starts_with("p.yaml:1:"), "{shown}");
        assert!(shown.contains("names no target.profile to play"), "{shown}");
    }

    /// A target URL that does not parse is kept as its error until a run uses it.
    #[test]
    fn a_bad_target_url_is_kept_for_the_run_to_refuse() {
        let s = resolved(
            "target: { url: \"mllp://nohost\" }\nmessages: { m: { text: \"MSH|^~\\\\&|A\" } }\n\
             cases:\n  - { name: x, send: m }\n",
        );
        assert!(matches!(s.target.url, Err(TargetUrlError::Address { .. })));
    }

    /// `expect.reply` files are read at load: one HL7 message each, or an error with its line;
    /// `exact:` takes no `set:`.
    #[test]
    fn expected_replies_are_read_at_load_and_exact_steps_set_nothing() {
        let dir = std::env::temp_dir().join(format!("hl7-resolve-reply-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("acks")).unwrap();
        let ack = b"MSH|^~\\&|R|F|S|F|2026||ACK^A04^ACK|A1|P|2.5\rMSA|AA|M1\r";
        std::fs::write(dir.join("acks/good.hl7"), ack).unwrap();
        std::fs::write(dir.join("acks/bad.hl7"), b"not a message").unwrap();
        let load = |yaml: &str| {
            let path = dir.join("pack.yaml");
            let file: raw::ScenarioFile = super::super::from_yaml(yaml).expect("yaml");
            let ctx = LoadContext {
                path: &path,
                text: yaml,
                access: FileAccess::default(),
                known_checks: &[],
            };
            resolve(file, &ctx)
        };
        let good = "messages: { m: { text: \"MSH|^~\\\\&|A\" } }\ncases:\n  - name: x\n    \
                    steps:\n      - send: m\n        exact: true\n        \
                    expect: { reply: { file: acks/good.hl7, ignore: [MSA-3] } }\n";
        let s = load(good).expect("resolves");
        let reply = s.cases[0].steps[0].expect.reply.as_ref().expect("a reply");
        assert_eq!(reply.message, ack);
        assert!(s.cases[0].steps[0].exact);
        let bad = good
            .replace("good.hl7", "bad.hl7")
            .replace("exact: true", "exact: true\n        set: { PID-5: x }");
        let errors = load(&bad).expect_err("refused").0;
        let shown: Vec<String> =
            errors.iter().map(|e| format!("{}: {}", e.line, e.message)).collect();
        assert_eq!(errors.len(), 2, "{shown:?}");
        assert!(shown.iter().any(|e| e.contains("exact sends the template as it is")), "{shown:?}");
        let file_error = shown.iter().find(|e| e.contains("acks/bad.hl7")).expect("the file");
        assert!(
            file_error.starts_with("8: cases[0].steps[0].expect.reply: acks/bad.hl7: byte 0"),
            "{file_error}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
