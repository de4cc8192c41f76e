//! The route file of the reference engine: where it listens, where its journal lives, its
//! destinations and the routes between them (the format is documented in
//! `docs/guide/reference-engine.md`; the module doc of [`crate::target::engine`] gives the
//! semantics).
//!
//! Values that can be checked on their own (paths, durations, URLs, ACK codes) are checked while
//! the YAML is read, so their errors carry the file's line and column; what needs the whole file
//! (a route naming a destination that is not declared) is checked after, and its error names the
//! route and key.

use super::mapping::{Mapping, MessageMatch};
use crate::hl7::ack::AckCode;
use crate::hl7::Path as FieldPath;
use crate::transport::http_client::HttpTarget;
use crate::transport::target_url::TargetUrl;
use crate::vocab::parse_duration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// Why a route file could not be used.
#[derive(Debug, Error)]
pub enum RoutesError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Syntax { file: String, line: usize, column: usize, message: String },
    #[error("{file}: {place}: {message}")]
    Invalid { file: String, place: String, message: String },
}

/// The largest route file read: a route file is configuration, never megabytes.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The file exactly as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoutes {
    listen: Option<Listen>,
    journal: Option<PathBuf>,
    #[serde(default)]
    control_id: ControlIdMode,
    destinations: BTreeMap<String, RawDestination>,
    #[serde(default)]
    routes: Vec<RawRoute>,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_frame_bytes: Option<usize>,
    idle_timeout: Option<DurationText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestination {
    url: DestinationUrl,
    ack_timeout: Option<DurationText>,
    connect_timeout: Option<DurationText>,
    retries: Option<Retries>,
    backoff: Option<DurationText>,
    backoff_max: Option<DurationText>,
    max_queue: Option<usize>,
    retry_on: Option<Vec<AckCodeText>>,
    basic: Option<BasicFromEnv>,
}

/// HTTP Basic credentials an HL7-over-HTTP destination requires (RFC 7617): the user as
/// written, the password read from the environment variable `password_env` when the engine
/// starts and at each post, so it is never in the route file, the log or the journal.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicFromEnv {
    pub user: String,
    pub password_env: String,
}

impl BasicFromEnv {
    /// The password, when its variable is set.
    pub fn password(&self) -> Option<String> {
        std::env::var(&self.password_env).ok()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    name: String,
    #[serde(default)]
    messages: Vec<MessageMatch>,
    to: Vec<String>,
    #[serde(default)]
    mappings: Vec<Mapping>,
}

/// `mllp://HOST:PORT`, the only input the engine listens on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Listen(pub String);

impl TryFrom<String> for Listen {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match TargetUrl::parse(&text) {
            Ok(TargetUrl::Mllp(addr)) => Ok(Listen(addr)),
            Ok(_) => Err(format!("{text:?}: the engine listens on mllp://HOST:PORT only")),
            Err(err) => Err(err.to_string()),
        }
    }
}

/// `mllp://HOST:PORT`, `hllp://HOST:PORT` or `http://HOST:PORT/PATH` of a destination:
/// `HOST:PORT`, for HTTP the path posted to, and whether it speaks HLLP.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DestinationUrl(pub String, pub Option<String>, pub bool);

impl TryFrom<String> for DestinationUrl {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match TargetUrl::parse(&text) {
            Ok(TargetUrl::Mllp(addr)) => Ok(DestinationUrl(addr, None, false)),
            Ok(TargetUrl::Hllp(addr)) => Ok(DestinationUrl(addr, None, true)),
            Ok(TargetUrl::Http(url)) => match HttpTarget::parse(&url) {
                Some(target) => Ok(DestinationUrl(target.authority, Some(target.path), false)),
                None => Err(format!("{text:?}: expected http://HOST:PORT/PATH")),
            },
            Ok(_) => Err(format!(
                "{text:?}: the engine forwards over mllp://HOST:PORT, hllp://HOST:PORT or \
                 http://HOST:PORT/PATH only"
            )),
            Err(err) => Err(err.to_string()),
        }
    }
}

/// A duration as written (`500ms`, `5s`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub struct DurationText(pub Duration);

impl TryFrom<String> for DurationText {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        parse_duration(&text).map(DurationText)
    }
}

/// A field path as written (`PID-3.1`), parsed while the file is read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct PathText(pub FieldPath);

impl TryFrom<String> for PathText {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let path = FieldPath::parse(&text).map_err(|e| format!("{text:?}: {}", e.reason))?;
        if path.is_delimiter_field() {
            return Err(format!("{text:?}: MSH-1 and MSH-2 hold the delimiters"));
        }
        Ok(PathText(path))
    }
}

/// An acknowledgment code (table 0008) in `retry_on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AckCodeText(pub AckCode);

impl TryFrom<String> for AckCodeText {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match AckCode::parse(&text) {
            Some(code) if !code.is_accept() => Ok(AckCodeText(code)),
            Some(_) => Err(format!("{text:?} is an accept; only AE, AR, CE and CR can be retried")),
            None => Err(format!("{text:?} is not an acknowledgment code (AA AE AR CA CE CR)")),
        }
    }
}

/// How many times a message is sent again after its first attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RetriesText")]
pub enum Retries {
    /// Until the destination takes it: nothing acknowledged is ever given up.
    Unlimited,
    /// At most this many resends; then the message is dead-lettered (logged and journaled as
    /// given up, never resent after a restart).
    AtMost(u32),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RetriesText {
    Count(u32),
    Word(String),
}

impl TryFrom<RetriesText> for Retries {
    type Error = String;
    fn try_from(text: RetriesText) -> Result<Self, String> {
        match text {
            RetriesText::Count(n) => Ok(Retries::AtMost(n)),
            RetriesText::Word(w) if w == "unlimited" => Ok(Retries::Unlimited),
            RetriesText::Word(w) => Err(format!("{w:?}: retries is a number or `unlimited`")),
        }
    }
}

/// Which MSH-10 the engine's outputs carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlIdMode {
    /// The input's MSH-10, unchanged (a pass-through engine).
    #[default]
    Keep,
    /// The engine's own: `E<sequence>.<destination number>`, the same on every resend and after
    /// a restart, so a destination can still recognise a resend as the same message.
    Engine,
}

/// One destination, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub name: String,
    /// `HOST:PORT`.
    pub addr: String,
    /// HL7 over HTTP: the path each output is posted to (its response body the ACK); `None`:
    /// MLLP.
    pub http_path: Option<String>,
    /// HLLP (HL7 v2 Appendix C blocks, default checksum and span) instead of MLLP.
    pub hllp: bool,
    /// HTTP Basic credentials sent with every post (HTTP destinations only).
    pub basic: Option<BasicFromEnv>,
    pub connect_timeout: Duration,
    /// How long the engine waits for the destination's ACK of each message.
    pub ack_timeout: Duration,
    pub retries: Retries,
    /// The wait before the first resend; doubled after each failure up to `backoff_max`.
    pub backoff: Duration,
    pub backoff_max: Duration,
    /// Messages waiting for this destination at most; a new input that would pass it is
    /// refused (AR), never acknowledged and dropped.
    pub max_queue: usize,
    /// Negative acknowledgments answered by a resend; any other is dead-lettered.
    pub retry_on: Vec<AckCode>,
}

impl Destination {
    /// The destination's URL as the engine reports it.
    pub fn url(&self) -> String {
        match &self.http_path {
            Some(path) => format!("http://{}{path}", self.addr),
            None if self.hllp => format!("hllp://{}", self.addr),
            None => format!("mllp://{}", self.addr),
        }
    }
}

/// One route, validated: destinations are indexes into [`Routes::destinations`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub name: String,
    /// Empty: every message.
    pub messages: Vec<MessageMatch>,
    pub to: Vec<usize>,
    pub mappings: Vec<Mapping>,
}

/// A validated route file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    /// `HOST:PORT` to listen on, when the file names one (`--listen` overrides it).
    pub listen: Option<String>,
    /// The journal folder, relative paths taken from the route file's folder.
    pub journal: Option<PathBuf>,
    pub control_id: ControlIdMode,
    pub destinations: Vec<Destination>,
    pub routes: Vec<Route>,
    pub max_frame_bytes: usize,
    /// How long an input connection may stay silent before it is closed.
    pub idle_timeout: Duration,
}

impl Routes {
    /// Sends destination `name` to `url` (`mllp://HOST:PORT` or `http://HOST:PORT/PATH`)
    /// instead of the file's address: `engine --destination NAME=URL`, so a through case can
    /// put the destinations it plays on ports of its own. Why not, when there is no such
    /// destination or the URL is neither.
    pub fn redirect(&mut self, name: &str, url: &str) -> Result<(), String> {
        let DestinationUrl(addr, http_path, hllp) = DestinationUrl::try_from(url.to_string())?;
        let Some(destination) = self.destinations.iter_mut().find(|d| d.name == name) else {
            let known: Vec<&str> = self.destinations.iter().map(|d| d.name.as_str()).collect();
            return Err(format!("no destination {name:?} (the file has {})", known.join(", ")));
        };
        destination.addr = addr;
        destination.http_path = http_path;
        destination.hllp = hllp;
        Ok(())
    }

    /// Every `basic.password_env` an HTTP destination names is set: checked at start, so a
    /// missing password is an error then rather than a 401 on every post.
    pub fn check_environment(&self) -> Result<(), String> {
        for d in self.destinations.iter().filter(|d| d.http_path.is_some()) {
            if let Some(basic) = d.basic.as_ref().filter(|b| b.password().is_none()) {
                return Err(format!(
                    "destinations.{}.basic.password_env: the variable {} is not set",
                    d.name, basic.password_env
                ));
            }
        }
        Ok(())
    }
}

/// Defaults of a destination, in one place.
pub mod defaults {
    use std::time::Duration;
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const ACK_TIMEOUT: Duration = Duration::from_secs(10);
    pub const BACKOFF: Duration = Duration::from_millis(200);
    pub const BACKOFF_MAX: Duration = Duration::from_secs(10);
    pub const MAX_QUEUE: usize = 10_000;
    /// AR and CE: rejected for a reason unrelated to the content (HL7 v2.5.1 ch. 2, 2.9.2:
    /// system down, internal error), so the same bytes can succeed later.
    pub const RETRY_ON: [crate::hl7::ack::AckCode; 2] =
        [crate::hl7::ack::AckCode::ApplicationReject, crate::hl7::ack::AckCode::CommitError];
    pub const MAX_FRAME_BYTES: usize = 1024 * 1024;
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
    /// The most routes and destinations a file may declare (memory and tasks are per
    /// destination).
    pub const MAX_DESTINATIONS: usize = 64;
}

/// Reads and validates a route file.
pub fn read_routes(file: &Path) -> Result<Routes, RoutesError> {
    let shown = file.display().to_string();
    let io = |source| RoutesError::Read { file: shown.clone(), source };
    let len = std::fs::metadata(file).map_err(io)?.len();
    if len > MAX_FILE_BYTES {
        return Err(RoutesError::Invalid {
            file: shown,
            place: "file".into(),
            message: format!("{len} bytes; a route file is at most {MAX_FILE_BYTES}"),
        });
    }
    let text = std::fs::read_to_string(file).map_err(io)?;
    let mut routes = parse_routes(&text, &shown)?;
    if let Some(journal) = routes.journal.as_mut().filter(|j| j.is_relative()) {
        if let Some(dir) = file.parent() {
            *journal = dir.join(&*journal);
        }
    }
    Ok(routes)
}

/// Parses a route file's text (pure); `file` names it in errors.
pub fn parse_routes(text: &str, file: &str) -> Result<Routes, RoutesError> {
    let raw: RawRoutes = serde_yaml::from_str(text).map_err(|err| {
        let (line, column) = err.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        RoutesError::Syntax { file: file.to_string(), line, column, message: err.to_string() }
    })?;
    let invalid = |place: String, message: String| RoutesError::Invalid {
        file: file.to_string(),
        place,
        message,
    };
    if raw.destinations.is_empty() || raw.destinations.len() > defaults::MAX_DESTINATIONS {
        return Err(invalid(
            "destinations".into(),
            format!("declare 1 to {} destinations", defaults::MAX_DESTINATIONS),
        ));
    }
    let mut destinations = Vec::new();
    for (name, d) in raw.destinations {
        let place = format!("destinations.{name}");
        let backoff = d.backoff.map_or(defaults::BACKOFF, |b| b.0);
        let backoff_max = d.backoff_max.map_or(defaults::BACKOFF_MAX.max(backoff), |b| b.0);
        if backoff_max < backoff {
            return Err(invalid(place, "backoff_max is shorter than backoff".into()));
        }
        let max_queue = d.max_queue.unwrap_or(defaults::MAX_QUEUE);
        if max_queue == 0 {
            return Err(invalid(place, "max_queue must be at least 1".into()));
        }
        let ack_timeout = d.ack_timeout.map_or(defaults::ACK_TIMEOUT, |t| t.0);
        if ack_timeout.is_zero() {
            return Err(invalid(place, "ack_timeout must be longer than 0".into()));
        }
        destinations.push(Destination {
            name,
            addr: d.url.0,
            http_path: d.url.1,
            hllp: d.url.2,
            basic: d.basic,
            connect_timeout: d.connect_timeout.map_or(defaults::CONNECT_TIMEOUT, |t| t.0),
            ack_timeout,
            retries: d.retries.unwrap_or(Retries::Unlimited),
            backoff,
            backoff_max,
            max_queue,
            retry_on: d
                .retry_on
                .map_or(defaults::RETRY_ON.to_vec(), |v| v.into_iter().map(|c| c.0).collect()),
        });
    }
    let mut routes = Vec::new();
    for (i, r) in raw.routes.into_iter().enumerate() {
        let place = format!("routes[{i}] ({})", r.name);
        if r.to.is_empty() {
            return Err(invalid(place, "`to` names no destination".into()));
        }
        let mut to = Vec::new();
        for name in &r.to {
            let Some(index) = destinations.iter().position(|d| &d.name == name) else {
                let known: Vec<_> = destinations.iter().map(|d| d.name.as_str()).collect();
                return Err(invalid(
                    format!("{place}.to"),
                    format!("unknown destination {name:?} (declared: {})", known.join(", ")),
                ));
            };
            if !to.contains(&index) {
                to.push(index);
            }
        }
        routes.push(Route { name: r.name, messages: r.messages, to, mappings: r.mappings });
    }
    Ok(Routes {
        listen: raw.listen.map(|l| l.0),
        journal: raw.journal,
        control_id: raw.control_id,
        destinations,
        routes,
        max_frame_bytes: raw.limits.max_frame_bytes.unwrap_or(defaults::MAX_FRAME_BYTES),
        idle_timeout: raw.limits.idle_timeout.map_or(defaults::IDLE_TIMEOUT, |t| t.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
listen: mllp://127.0.0.1:2600
control_id: engine
destinations:
  store:
    url: mllp://127.0.0.1:2601
    ack_timeout: 2s
    retries: 3
    retry_on: [AR]
  billing:
    url: mllp://127.0.0.1:2602
routes:
  - name: adt
    messages: [ADT^A01, ADT^*]
    to: [store, billing]
    mappings:
      - set: {path: MSH-5, value: STORE}
      - drop_segment: ZPD
";

    fn error(text: &str) -> String {
        parse_routes(text, "r.yaml").unwrap_err().to_string()
    }

    #[test]
    fn a_file_reads_with_defaults_filled_in() {
        let routes = parse_routes(FILE, "r.yaml").unwrap();
        assert_eq!(routes.listen.as_deref(), Some("127.0.0.1:2600"));
        assert_eq!(routes.control_id, ControlIdMode::Engine);
        // Destinations in name order: billing, store.
        assert_eq!(routes.destinations[1].name, "store");
        assert_eq!(routes.destinations[1].retries, Retries::AtMost(3));
        assert_eq!(routes.destinations[1].retry_on, vec![AckCode::ApplicationReject]);
        assert_eq!(routes.destinations[0].retries, Retries::Unlimited);
        assert_eq!(routes.destinations[0].retry_on, defaults::RETRY_ON.to_vec());
        assert_eq!(routes.routes[0].to, vec![1, 0]);
        assert_eq!(routes.routes[0].mappings.len(), 2);
    }

    #[test]
    fn errors_name_the_line_or_the_place() {
        let bad_path = FILE.replace("MSH-5", "MSH-x");
        assert!(error(&bad_path).starts_with("r.yaml:16:"), "{}", error(&bad_path));
        assert!(error(&bad_path).contains("\"MSH-x\""), "{}", error(&bad_path));
        let bad_duration = FILE.replace("2s", "2 parsecs");
        // serde_yaml places a value's error at the map that holds it.
        assert!(error(&bad_duration).starts_with("r.yaml:5:"), "{}", error(&bad_duration));
        let unknown_key = FILE.replace("retries: 3", "retrys: 3");
        assert!(error(&unknown_key).contains("r.yaml:7:"), "{}", error(&unknown_key));
        let unknown_destination = FILE.replace("[store, billing]", "[store, lab]");
        assert!(
            error(&unknown_destination).contains("routes[0] (adt).to: unknown destination \"lab\""),
            "{}",
            error(&unknown_destination)
        );
        let not_mllp = FILE.replace("mllp://127.0.0.1:2602", "https://x:1/a");
        let why = error(&not_mllp);
        assert!(why.contains("hllp://HOST:PORT or http://HOST:PORT/PATH only"), "{why}");
        let http = FILE.replace("mllp://127.0.0.1:2602", "http://x:1/a");
        let routes = parse_routes(&http, "r.yaml").expect("an http:// destination is taken");
        assert!(routes.destinations.iter().any(|d| d.url() == "http://x:1/a"));
        let accept = FILE.replace("[AR]", "[AA]");
        assert!(error(&accept).contains("is an accept"), "{}", error(&accept));
    }

    /// `basic:` names the user and the variable holding the password, never the password;
    /// a variable that is not set is refused at start.
    #[test]
    fn basic_credentials_come_from_the_environment() {
        let file = FILE.replace(
            "    url: mllp://127.0.0.1:2602\n",
            "    url: http://127.0.0.1:2602/in\n    basic: { user: engine, password_env: HL7H_T17_UNSET_PW }\n",
        );
        let routes = parse_routes(&file, "r.yaml").expect("parses");
        let billing = &routes.destinations[0];
        assert_eq!(billing.basic.as_ref().map(|b| b.user.as_str()), Some("engine"));
        let why = routes.check_environment().expect_err("unset");
        assert!(why.contains("destinations.billing.basic.password_env"), "{why}");
        assert!(why.contains("HL7H_T17_UNSET_PW is not set"), "{why}");
        let wrong = FILE.replace(
            "    url: mllp://127.0.0.1:2602\n",
            "    url: mllp://127.0.0.1:2602\n    basic: { user: u, password: p }\n",
        );
        assert!(error(&wrong).contains("unknown field `password`"), "{}", error(&wrong));
    }

    /// `--destination NAME=URL` moves a declared destination, over MLLP or HL7 over HTTP (the
    /// path kept); an unknown name or a URL the engine cannot forward to is refused.
    #[test]
    fn a_destination_is_redirected_by_name() {
        let mut routes = parse_routes(FILE, "engine.routes.yaml").expect("the file parses");
        routes.redirect("billing", "mllp://127.0.0.1:4444").expect("redirected");
        let portal = routes.destinations.iter().find(|d| d.name == "billing").expect("billing");
        assert_eq!((portal.addr.as_str(), portal.http_path.as_deref()), ("127.0.0.1:4444", None));
        routes.redirect("billing", "http://127.0.0.1:4445/hl7/in").expect("over HTTP");
        let portal = routes.destinations.iter().find(|d| d.name == "billing").expect("billing");
        assert_eq!(portal.addr, "127.0.0.1:4445");
        assert_eq!(portal.http_path.as_deref(), Some("/hl7/in"));
        assert_eq!(portal.url(), "http://127.0.0.1:4445/hl7/in");
        routes.redirect("billing", "mllp://127.0.0.1:4444").expect("back to MLLP");
        let portal = routes.destinations.iter().find(|d| d.name == "billing").expect("billing");
        assert_eq!(portal.url(), "mllp://127.0.0.1:4444");
        routes.redirect("billing", "hllp://127.0.0.1:4446").expect("over HLLP");
        let portal = routes.destinations.iter().find(|d| d.name == "billing").expect("billing");
        assert_eq!((portal.url().as_str(), portal.hllp), ("hllp://127.0.0.1:4446", true));
        routes.redirect("billing", "mllp://127.0.0.1:4444").expect("back to MLLP");
        let unknown = routes.redirect("nowhere", "mllp://127.0.0.1:1").expect_err("unknown");
        assert!(unknown.contains("no destination \"nowhere\""), "{unknown}");
        let https = routes.redirect("billing", "https://127.0.0.1:1/").expect_err("no TLS");
        assert!(https.contains("hllp://HOST:PORT or http://HOST:PORT/PATH only"), "{https}");
    }
}
