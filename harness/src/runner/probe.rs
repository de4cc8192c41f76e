//! Effect probes: a record the target profile maps (`record:`), the applied log (`applied:`),
//! an HTTP GET whose JSON must contain the expected values (a subset match), or a command whose
//! exit code and output are checked. Every probe has a time limit.
//!
//! A pack's `record:` and `applied:` probes say *what* they want; the target profile's `state:`
//! says *where* it is in this system (URL templates or commands, JSON pointers). Without that
//! mapping a probe is not run, and its result says why (`probe.unavailable`, an info): an
//! effect the harness cannot read is not judged, never failed.

use crate::observation::{AppliedCount, ProbeResult};
use crate::profile::{AppliedSpec, DuplicatePolicy, RecordSpec, StateAuth, StateSpec};
use crate::scenario::{Pattern, PatternError, Piece, Placeholders, Probe, RenderError};
use crate::transport::connection::TransportError;
use crate::transport::dial::{connect_tcp, Route};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header::HOST;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::timeout;

/// Largest probe response read.
const MAX_PROBE_BYTES: usize = 4 * 1024 * 1024;
/// Largest command output kept.
const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// How a scenario file's target has its effects read: the profile's (or the built-in
/// endpoint's) `state:` mapping with `url` resolved, and the `duplicates:` declaration the
/// applied log is judged by.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    /// `None`: the target declares no `state:` mapping.
    pub state: Option<Arc<StateSpec>>,
    pub duplicates: Option<DuplicatePolicy>,
}

/// Why a probe's read or check did not succeed. Its text is what the probe result says
/// (`failure`), so each variant keeps the words reports have always shown.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("did not finish within {}ms (killed)", .limit.as_millis())]
    Killed { limit: Duration },
    #[error("could not start {program:?}: {source}")]
    Start {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "not judged: the target profile declares no state: mapping, so the harness cannot \
         read this system's {kind:?} records (add state.records.{kind} to the profile)"
    )]
    NoStateMapping { kind: String },
    #[error(
        "not judged: the target profile's state.records maps no {kind:?} (it maps {mapped:?})"
    )]
    UnmappedRecord { kind: String, mapped: Vec<String> },
    #[error(
        "not judged: {template:?} needs {{state}}, and the target profile gives no \
         state.url (nor --state, target.state)"
    )]
    NoStateUrl { template: String },
    #[error("not judged: state.auth names environment variable {name}, which is not set")]
    UnsetVariable { name: String },
    #[error("no array at JSON pointer {list:?} (state.records … list)")]
    NoRecordList { list: String },
    #[error("HTTP {status}, expected {want}: {}", String::from_utf8_lossy(&.body[..]))]
    Status { status: u16, want: u16, body: Vec<u8> },
    #[error("the response is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// Where the JSON differs from what the probe expects ([`first_difference`]).
    #[error("{0}")]
    Difference(String),
    /// A pattern in the expected JSON that does not read.
    #[error("{0}")]
    Pattern(#[source] PatternError),
    /// A placeholder that could not be filled.
    #[error("{0}")]
    Placeholder(#[source] RenderError),
    #[error("{url:?} is not an http:// URL")]
    NotHttp { url: String },
    #[error("connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("HTTP handshake: {0}")]
    Handshake(#[source] hyper::Error),
    #[error("{0}")]
    Request(#[source] hyper::http::Error),
    #[error("GET: {0}")]
    Get(#[source] hyper::Error),
    #[error("reading the body: {0}")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the command is empty")]
    EmptyCommand,
    #[error("exit {code:?}, expected {want}; stderr: {stderr}")]
    Exit { code: Option<i32>, want: i32, stderr: String },
    #[error("stdout does not contain {needle:?}: {start}")]
    StdoutLacks { needle: String, start: String },
}

impl From<ProbeError> for Unjudged {
    fn from(error: ProbeError) -> Unjudged {
        Unjudged::No(error.to_string())
    }
}

/// Runs a probe's command with no input, killed when it outlasts `limit` (a probe never hangs
/// the run); the error says which of the two went wrong.
async fn run_bounded(
    program: &str,
    args: &[String],
    limit: Duration,
) -> Result<std::process::Output, ProbeError> {
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match timeout(limit, child).await {
        Err(_) => Err(ProbeError::Killed { limit }),
        Ok(Err(source)) => Err(ProbeError::Start { program: program.to_string(), source }),
        Ok(Ok(output)) => Ok(output),
    }
}

/// Runs one probe of step `step` and says what came of it.
pub async fn probe(
    probe: &Probe,
    values: &(dyn Placeholders + Sync),
    effects: &Effects,
    state_url: Option<&str>,
    step: usize,
) -> ProbeResult {
    let unavailable = |what: String, why: String| ProbeResult {
        step,
        what,
        failure: Some(why),
        unavailable: true,
        applied: None,
    };
    let outcome = if let Some(kind) = &probe.record {
        let what = format!("record {kind}");
        match mapped_record(effects, kind) {
            Err(why) => return unavailable(what, why.to_string()),
            Ok((state, spec)) => record_probe(probe, kind, (state, spec), values).await,
        }
    } else if let Some(id) = &probe.applied {
        let what = format!("applied {}", id.source);
        match effects.state.as_deref().and_then(|s| Some((s, s.applied.as_ref()?))) {
            None => return unavailable(what, no_applied_log(effects)),
            Some(mapping) => {
                return match applied_probe(probe, id, mapping, effects.duplicates, values).await {
                    Ok((what, count)) => ProbeResult {
                        step,
                        what,
                        failure: None,
                        unavailable: false,
                        applied: Some(count),
                    },
                    Err((what, Unjudged::No(why))) => ProbeResult {
                        step,
                        what,
                        failure: Some(why),
                        unavailable: false,
                        applied: None,
                    },
                    Err((what, Unjudged::Yes(why))) => unavailable(what, why),
                }
            }
        }
    } else {
        let needs_state = probe
            .http_get
            .iter()
            .chain(probe.command.iter().flatten())
            .any(|p| p.pieces.iter().any(|piece| matches!(piece, Piece::State)));
        if needs_state && state_url.is_none() {
            let what = probe.http_get.as_ref().map(|p| p.source.clone()).unwrap_or_default();
            return unavailable(
                what,
                "not judged: the target has no state endpoint for {state} (give --state URL, \
                 target.state, or state.url in the target profile)"
                    .into(),
            );
        }
        run_probe(probe, values).await.map_err(|(what, why)| (what, Unjudged::No(why)))
    };
    match outcome {
        Ok(what) => ProbeResult { step, what, failure: None, unavailable: false, applied: None },
        Err((what, Unjudged::No(why))) => {
            ProbeResult { step, what, failure: Some(why), unavailable: false, applied: None }
        }
        Err((what, Unjudged::Yes(why))) => unavailable(what, why),
    }
}

/// Why a probe did not pass: it failed (`No`: judged), or it could not be judged (`Yes`).
pub(super) enum Unjudged {
    No(String),
    Yes(String),
}

impl From<String> for Unjudged {
    fn from(why: String) -> Unjudged {
        Unjudged::No(why)
    }
}

/// The profile's mapping of record `kind`, or why there is none.
fn mapped_record<'a>(
    effects: &'a Effects,
    kind: &str,
) -> Result<(&'a StateSpec, &'a RecordSpec), ProbeError> {
    let Some(state) = &effects.state else {
        return Err(ProbeError::NoStateMapping { kind: kind.to_string() });
    };
    state.records.get(kind).map(|spec| (state.as_ref(), spec)).ok_or_else(|| {
        let mapped = state.records.keys().cloned().collect();
        ProbeError::UnmappedRecord { kind: kind.to_string(), mapped }
    })
}

fn no_applied_log(effects: &Effects) -> String {
    match effects.state {
        None => "not judged: the target profile declares no state: mapping, so the order and \
                 number of times messages were applied cannot be read"
            .into(),
        Some(_) => "not judged: the target profile's state: names no applied log \
                    (state.applied), so the order and number of times messages were applied \
                    cannot be read"
            .into(),
    }
}

/// Fills `{state}` and `{id}` into a profile template; `{id}` percent-encoded when `encode`.
fn fill(template: &str, state: Option<&str>, id: &str, encode: bool) -> Result<String, ProbeError> {
    let mut out = template.to_string();
    if out.contains("{state}") {
        let base =
            state.ok_or_else(|| ProbeError::NoStateUrl { template: template.to_string() })?;
        out = out.replace("{state}", base.trim_end_matches('/'));
    }
    let id = if encode { percent_encode(id) } else { id.to_string() };
    Ok(out.replace("{id}", &id))
}

/// RFC 3986 2.1: every byte but the unreserved characters as `%XX`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The `Authorization` header value the profile's `state.auth` names, read from the
/// environment; never shown.
fn authorization(auth: Option<&StateAuth>) -> Result<Option<String>, ProbeError> {
    let Some(auth) = auth else { return Ok(None) };
    let var = |name: &str| {
        std::env::var(name).map_err(|_| ProbeError::UnsetVariable { name: name.to_string() })
    };
    if let Some(name) = &auth.bearer_env {
        return Ok(Some(format!("Bearer {}", var(name)?)));
    }
    match (&auth.user_env, &auth.password_env) {
        (Some(user), Some(password)) => Ok(Some(format!(
            "Basic {}",
            crate::transport::http_client::basic_token(&var(user)?, &var(password)?)
        ))),
        _ => Ok(None),
    }
}

/// A document the profile's template names: `Ok(None)` when the system says there is none
/// (HTTP 404, or a command printing nothing or `null`).
async fn read_document(
    url: Option<&str>,
    command: Option<&[String]>,
    state: &StateSpec,
    id: &str,
    limit: Duration,
) -> Result<(String, Option<Value>), (String, Unjudged)> {
    if let Some(template) = url {
        let url = fill(template, state.url.as_deref(), id, true)
            .map_err(|why| (template.to_string(), Unjudged::Yes(why.to_string())))?;
        let what = format!("GET {url}");
        let header = authorization(state.auth.as_ref())
            .map_err(|w| (what.clone(), Unjudged::Yes(w.to_string())))?;
        let (status, body) = match timeout(limit, http_get_with(&url, header.as_deref())).await {
            Err(_) => {
                return Err((what, format!("no answer within {}ms", limit.as_millis()).into()))
            }
            Ok(Err(e)) => return Err((what, e.into())),
            Ok(Ok(answer)) => answer,
        };
        return match status {
            404 => Ok((what, None)),
            200..=299 => serde_json::from_slice(&body)
                .map(|v| (what.clone(), Some(v)))
                .map_err(|e| (what, ProbeError::NotJson(e).into())),
            _ => Err((
                what,
                format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(200)]))
                    .into(),
            )),
        };
    }
    let argv: Vec<String> = command
        .unwrap_or_default()
        .iter()
        .map(|part| fill(part, state.url.as_deref(), id, false))
        .collect::<Result<_, _>>()
        .map_err(|why| ("command".to_string(), Unjudged::Yes(why.to_string())))?;
    let what = argv.join(" ");
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| (what.clone(), Unjudged::Yes("the profile's command is empty".into())))?;
    let output = match run_bounded(program, args, limit).await {
        Ok(output) => output,
        Err(why) => return Err((what, why.into())),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr[..output.stderr.len().min(300)]);
        return Err((
            what,
            format!("exit {:?}; stderr: {}", output.status.code(), stderr.trim()).into(),
        ));
    }
    let stdout = &output.stdout[..output.stdout.len().min(MAX_OUTPUT_BYTES)];
    if stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok((what, None));
    }
    match serde_json::from_slice::<Value>(stdout) {
        Ok(Value::Null) => Ok((what, None)),
        Ok(value) => Ok((what, Some(value))),
        Err(e) => Err((what, format!("the output is not JSON: {e}").into())),
    }
}

/// The record with `id` inside `document`: the document itself, or the element of the
/// `list` whose `key` is `id`.
fn find_record<'a>(
    spec: &RecordSpec,
    document: &'a Value,
    id: &str,
) -> Result<Option<&'a Value>, ProbeError> {
    let Some(list) = &spec.list else { return Ok(Some(document)) };
    let items = document
        .pointer(list)
        .and_then(Value::as_array)
        .ok_or_else(|| ProbeError::NoRecordList { list: list.clone() })?;
    let key = spec.key.as_deref().unwrap_or("");
    Ok(items.iter().find(|item| item.pointer(key).is_some_and(|k| scalar_text(k) == id)))
}

/// A scalar as text (a string without quotes), for ids.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Compares the record's mapped fields with what the probe expects.
pub(super) fn judge_record(
    kind: &str,
    spec: &RecordSpec,
    record: Option<&Value>,
    probe: &Probe,
    id: &str,
    values: &(dyn Placeholders + Sync),
) -> Result<(), Unjudged> {
    let absent = probe.absent == Some(true);
    let Some(record) = record else {
        return if absent { Ok(()) } else { Err(format!("no {kind} with id {id:?}").into()) };
    };
    if absent {
        return Err(format!("a {kind} with id {id:?} exists, and none should").into());
    }
    let mut unmapped = Vec::new();
    let mut checked = Vec::new();
    for (name, expected) in probe.fields.iter().flatten() {
        let Some(pointer) = spec.fields.get(name) else {
            unmapped.push(name.as_str());
            continue;
        };
        let expected = render_json(expected, values).map_err(Unjudged::from)?;
        let Some(actual) = record.pointer(pointer) else {
            return Err(format!("{name} ({pointer}): missing (expected {expected})").into());
        };
        if let Some(diff) = first_difference(&expected, actual, name) {
            return Err(format!("{diff} (at {pointer})").into());
        }
        checked.push(name.as_str());
    }
    if unmapped.is_empty() {
        return Ok(());
    }
    Err(Unjudged::Yes(format!(
        "not judged: the target profile maps no field {unmapped:?} of {kind:?} \
         (state.records.{kind}.fields){}",
        if checked.is_empty() { String::new() } else { format!("; {checked:?} matched") }
    )))
}

async fn record_probe(
    probe: &Probe,
    kind: &str,
    (state, spec): (&StateSpec, &RecordSpec),
    values: &(dyn Placeholders + Sync),
) -> Result<String, (String, Unjudged)> {
    let limit = probe.timeout.map(|t| t.0).unwrap_or(Duration::from_secs(5));
    let id = match &probe.id {
        Some(id) => {
            id.render(values).map_err(|e| (format!("record {kind}"), e.to_string().into()))?
        }
        None => {
            return Err((format!("record {kind}"), "a record probe needs id:".to_string().into()))
        }
    };
    let (what, document) =
        read_document(spec.url.as_deref(), spec.command.as_deref(), state, &id, limit).await?;
    let what = format!("{kind} {id:?} ({what})");
    let record = match &document {
        None => None,
        Some(document) => find_record(spec, document, &id).map_err(|e| (what.clone(), e.into()))?,
    };
    judge_record(kind, spec, record, probe, &id, values)
        .map(|()| what.clone())
        .map_err(|e| (what, e))
}

/// Reads how many times the applied log lists the message; `checks` judge the count against
/// the writes of the case (complete only once the case is done) and the declaration.
async fn applied_probe(
    probe: &Probe,
    id: &Pattern,
    (state, spec): (&StateSpec, &AppliedSpec),
    duplicates: Option<DuplicatePolicy>,
    values: &(dyn Placeholders + Sync),
) -> Result<(String, AppliedCount), (String, Unjudged)> {
    let limit = probe.timeout.map(|t| t.0).unwrap_or(Duration::from_secs(5));
    let id =
        id.render(values).map_err(|e| (format!("applied {}", id.source), e.to_string().into()))?;
    let log =
        read_applied_log(spec, state, limit).await.map_err(|(what, why)| (what, why.into()))?;
    let what = format!("MSH-10 {id:?} in the applied log ({})", log.0);
    let times = log.1.iter().filter(|l| **l == id).count();
    Ok((what, AppliedCount { id, times, duplicates }))
}

/// The applied log the profile names: what was read (`GET url`) and the MSH-10s in order.
pub(super) async fn read_applied_log(
    spec: &AppliedSpec,
    state: &StateSpec,
    limit: Duration,
) -> Result<(String, Vec<String>), (String, String)> {
    let url = fill(&spec.url, state.url.as_deref(), "", true)
        .map_err(|w| (spec.url.clone(), w.to_string()))?;
    let what = format!("GET {url}");
    let header = authorization(state.auth.as_ref()).map_err(|w| (what.clone(), w.to_string()))?;
    let (status, body) = match timeout(limit, http_get_with(&url, header.as_deref())).await {
        Err(_) => return Err((what, format!("no answer within {}ms", limit.as_millis()))),
        Ok(Err(e)) => return Err((what, e.to_string())),
        Ok(Ok(answer)) => answer,
    };
    let list = spec.list.as_deref().unwrap_or("/applied");
    let value: Option<Value> = serde_json::from_slice(&body).ok();
    let items = value.as_ref().and_then(|v| v.pointer(list)?.as_array()).filter(|_| status == 200);
    let Some(items) = items else {
        return Err((what, format!("HTTP {status}, no JSON array at pointer {list:?}")));
    };
    let key = spec.key.as_deref().unwrap_or("");
    let ids = items.iter().filter_map(|item| item.pointer(key)).map(scalar_text).collect();
    Ok((what, ids))
}

/// Runs one `http_get` or `command` probe; `Ok(what)` when it passed, `Err((what, why))` when
/// not.
pub async fn run_probe(
    probe: &Probe,
    values: &(dyn Placeholders + Sync),
) -> Result<String, (String, String)> {
    let limit = probe.timeout.map(|t| t.0).unwrap_or(Duration::from_secs(5));
    if let Some(url) = &probe.http_get {
        let url = url.render(values).map_err(|e| (url.source.clone(), e.to_string()))?;
        let what = format!("GET {url}");
        return match timeout(limit, http_get(&url)).await {
            Err(_) => Err((what, format!("no answer within {}ms", limit.as_millis()))),
            Ok(Err(e)) => Err((what, e.to_string())),
            Ok(Ok((status, body))) => check_http(probe, status, &body, values)
                .map(|()| what.clone())
                .map_err(|e| (what, e.to_string())),
        };
    }
    if let Some(command) = &probe.command {
        let argv: Vec<String> = command
            .iter()
            .map(|p| p.render(values))
            .collect::<Result<_, _>>()
            .map_err(|e| ("command".to_string(), e.to_string()))?;
        let what = argv.join(" ");
        return run_command(probe, &argv, limit, values)
            .await
            .map(|()| what.clone())
            .map_err(|e| (what, e.to_string()));
    }
    Err(("probe".into(), "a probe needs http_get or command".into()))
}

fn check_http(
    probe: &Probe,
    status: u16,
    body: &[u8],
    values: &(dyn Placeholders + Sync),
) -> Result<(), ProbeError> {
    let want = probe.status.unwrap_or(200);
    if status != want {
        let body = body[..body.len().min(200)].to_vec();
        return Err(ProbeError::Status { status, want, body });
    }
    let Some(expected) = &probe.json else { return Ok(()) };
    let actual: Value = serde_json::from_slice(body).map_err(ProbeError::NotJson)?;
    let expected = render_json(expected, values)?;
    match first_difference(&expected, &actual, "") {
        None => Ok(()),
        Some(diff) => Err(ProbeError::Difference(diff)),
    }
}

/// Fills placeholders in every string of the expected JSON.
fn render_json(value: &Value, values: &(dyn Placeholders + Sync)) -> Result<Value, ProbeError> {
    let fill = |text: &str| {
        Pattern::parse(text)
            .map_err(ProbeError::Pattern)?
            .render(values)
            .map_err(ProbeError::Placeholder)
    };
    Ok(match value {
        Value::String(text) => Value::String(fill(text)?),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| render_json(v, values)).collect::<Result<_, _>>()?)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_json(v, values)?)))
                .collect::<Result<_, ProbeError>>()?,
        ),
        other => other.clone(),
    })
}

/// Subset match: every key of an expected object must be in the actual one and match; every
/// element of an expected array must match some element of the actual one; scalars compare by
/// value (a string matches a number or boolean with the same text).
pub fn first_difference(expected: &Value, actual: &Value, at: &str) -> Option<String> {
    let here = if at.is_empty() { "the response".to_string() } else { at.to_string() };
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => want.iter().find_map(|(key, value)| {
            let path = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
            match have.get(key) {
                None => Some(format!("{path}: missing (expected {value})")),
                Some(found) => first_difference(value, found, &path),
            }
        }),
        (Value::Array(want), Value::Array(have)) => want.iter().find_map(|item| {
            (!have.iter().any(|h| first_difference(item, h, at).is_none()))
                .then(|| format!("{here}: no element matches {item}"))
        }),
        (Value::String(want), Value::Number(_) | Value::Bool(_))
            if want.as_str() == actual.to_string().as_str() =>
        {
            None
        }
        (want, have) if want == have => None,
        (want, have) => Some(format!("{here}: expected {want}, found {have}")),
    }
}

/// GET over plain HTTP/1.1; returns status and body.
pub async fn http_get(url: &str) -> Result<(u16, Vec<u8>), ProbeError> {
    http_get_with(url, None).await
}

/// GET with an `Authorization` header when given.
async fn http_get_with(
    url: &str,
    authorization: Option<&str>,
) -> Result<(u16, Vec<u8>), ProbeError> {
    let target = crate::transport::http_client::HttpTarget::parse(url)
        .ok_or_else(|| ProbeError::NotHttp { url: url.to_string() })?;
    // The client connect, unbounded here: every caller bounds the whole GET by the probe's
    // time limit.
    let stream =
        connect_tcp(&target.authority, &Route::Direct, Duration::MAX).await.map_err(|error| {
            match error {
                TransportError::Connect { source, .. } => ProbeError::Connect(source),
                other => ProbeError::Connect(std::io::Error::other(other.to_string())),
            }
        })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(ProbeError::Handshake)?;
    tokio::spawn(connection);
    let mut request = Request::get(target.path.as_str()).header(HOST, target.authority.as_str());
    if let Some(value) = authorization {
        request = request.header(hyper::header::AUTHORIZATION, value);
    }
    let request = request.body(Empty::<Bytes>::new()).map_err(ProbeError::Request)?;
    let response = sender.send_request(request).await.map_err(ProbeError::Get)?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_PROBE_BYTES)
        .collect()
        .await
        .map_err(ProbeError::Body)?
        .to_bytes()
        .to_vec();
    Ok((status, body))
}

async fn run_command(
    probe: &Probe,
    argv: &[String],
    limit: Duration,
    values: &(dyn Placeholders + Sync),
) -> Result<(), ProbeError> {
    let (program, args) = argv.split_first().ok_or(ProbeError::EmptyCommand)?;
    let output = run_bounded(program, args, limit).await?;
    let stdout =
        String::from_utf8_lossy(&output.stdout[..output.stdout.len().min(MAX_OUTPUT_BYTES)]);
    let want = probe.exit.unwrap_or(0);
    if output.status.code() != Some(want) {
        let stderr = String::from_utf8_lossy(&output.stderr[..output.stderr.len().min(500)]);
        let (code, stderr) = (output.status.code(), stderr.trim().to_string());
        return Err(ProbeError::Exit { code, want, stderr });
    }
    if let Some(needle) = &probe.stdout_contains {
        let needle = needle.render(values).map_err(ProbeError::Placeholder)?;
        if !stdout.contains(&needle) {
            let start = stdout.chars().take(200).collect();
            return Err(ProbeError::StdoutLacks { needle, start });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::FieldPath;
    use serde_json::json;

    /// A state API that is not the built-in endpoint's: other paths, other field names, a list
    /// of events instead of an applied log at `/applied`. Serves `requests` requests, then ends.
    async fn other_system(requests: usize) -> String {
        use hyper::service::service_fn;
        use hyper::{Response, StatusCode};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            for _ in 0..requests {
                let Ok((stream, _)) = listener.accept().await else { return };
                let handler = |request: Request<hyper::body::Incoming>| async move {
                    let body = match request.uri().path() {
                        "/api/v2/patients/RG%2F7" => Some(json!({
                            "data": { "names": [ { "last": "Dürst", "first": "Zoë" } ],
                                      "status": "ACTIVE" }
                        })),
                        "/api/v2/events" => Some(json!({ "items": [
                            { "msg": "X1" }, { "msg": "C2" }, { "msg": "C1" }, { "msg": "C1" }
                        ] })),
                        _ => None,
                    };
                    let response = match body {
                        Some(body) => {
                            Response::new(http_body_util::Full::new(Bytes::from(body.to_string())))
                        }
                        None => {
                            let mut r = Response::new(http_body_util::Full::new(Bytes::new()));
                            *r.status_mut() = StatusCode::NOT_FOUND;
                            r
                        }
                    };
                    Ok::<_, std::convert::Infallible>(response)
                };
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(handler))
                    .await;
            }
        });
        format!("http://{addr}/api/v2")
    }

    /// The mapping that system's profile would declare.
    fn mapping(url: &str) -> Effects {
        let profile: crate::profile::TargetProfile = crate::scenario::from_yaml(&format!(
            "state:\n  url: {url}\n  records:\n    client:\n      url: \"{{state}}/patients/{{id}}\"\n      \
             fields: {{ family: /data/names/0/last, given: /data/names/0/first, \
             active: /data/status }}\n  applied: {{ url: \"{{state}}/events\", list: /items, \
             key: /msg }}\nduplicates: apply-once\n"
        ))
        .expect("profile");
        Effects { state: profile.state.map(Arc::new), duplicates: profile.duplicates }
    }

    struct Sent;
    impl Placeholders for Sent {
        fn field(&self, path: &FieldPath) -> Option<String> {
            match path.text.as_str() {
                "PID-3.1" => Some("RG/7".into()),
                "PID-5.1" => Some("Dürst".into()),
                "MSH-10" => Some("C1".into()),
                _ => None,
            }
        }
        fn state(&self) -> Option<String> {
            None
        }
        fn unique(&self) -> String {
            "u".into()
        }
    }

    fn record_probe(fields: Value) -> Probe {
        crate::scenario::from_yaml(&format!(
            "record: client\nid: \"{{PID-3.1}}\"\nfields: {fields}"
        ))
        .expect("probe")
    }

    #[tokio::test]
    async fn a_record_probe_reads_another_systems_state_through_its_mapping() {
        let url = other_system(3).await;
        let effects = mapping(&url);
        let right = record_probe(json!({ "family": "{PID-5.1}", "given": "Zoë" }));
        let result = probe(&right, &Sent, &effects, None, 1).await;
        assert_eq!(result.failure, None, "{result:?}");
        assert!(result.what.contains("/api/v2/patients/RG%2F7"), "{result:?}");
        let wrong = record_probe(json!({ "family": "Durst" }));
        let result = probe(&wrong, &Sent, &effects, None, 1).await;
        let why = result.failure.clone().unwrap_or_default();
        assert!(!result.unavailable && why.contains("/data/names/0/last"), "{result:?}");
        // A field the profile does not map is not judged; nor is a record without a mapping.
        let unmapped = record_probe(json!({ "email": "x@example.org" }));
        let result = probe(&unmapped, &Sent, &effects, None, 1).await;
        assert!(result.unavailable, "{result:?}");
        assert!(result.failure.unwrap_or_default().contains("maps no field [\"email\"]"));
    }

    #[tokio::test]
    async fn without_a_mapping_probes_are_skipped_saying_why() {
        let right = record_probe(json!({ "family": "{PID-5.1}" }));
        let result = probe(&right, &Sent, &Effects::default(), None, 2).await;
        assert!(result.unavailable, "{result:?}");
        let why = result.failure.unwrap_or_default();
        assert!(why.starts_with("not judged") && why.contains("no state: mapping"), "{why}");
        let applied: Probe = crate::scenario::from_yaml("applied: \"{MSH-10}\"").expect("probe");
        let result = probe(&applied, &Sent, &Effects::default(), None, 2).await;
        assert!(result.unavailable, "{result:?}");
        let legacy: Probe =
            crate::scenario::from_yaml("http_get: \"{state}/clients/1\"").expect("probe");
        let result = probe(&legacy, &Sent, &Effects::default(), None, 2).await;
        assert!(result.unavailable, "{result:?}");
    }

    #[tokio::test]
    async fn the_applied_log_is_read_where_the_profile_says() {
        let url = other_system(1).await;
        let effects = mapping(&url);
        let spec = effects.state.as_deref().expect("state");
        let log =
            read_applied_log(spec.applied.as_ref().expect("applied"), spec, Duration::from_secs(5))
                .await
                .expect("read");
        assert_eq!(log.1, ["X1", "C2", "C1", "C1"]);
    }

    #[test]
    fn subset_matching() {
        let actual = json!({"id": "C1", "family": "Dürst", "active": true, "n": 3, "merged": ["C2", "C3"], "x": {"y": 1}});
        assert_eq!(first_difference(&json!({"family": "Dürst"}), &actual, ""), None);
        assert_eq!(first_difference(&json!({"active": "true", "n": "3"}), &actual, ""), None);
        assert_eq!(first_difference(&json!({"merged": ["C3"]}), &actual, ""), None);
        assert_eq!(first_difference(&json!({"x": {"y": 1}}), &actual, ""), None);
        let diff = first_difference(&json!({"family": "Durst"}), &actual, "").unwrap();
        assert!(diff.contains("family: expected \"Durst\", found \"Dürst\""), "{diff}");
        assert!(first_difference(&json!({"email": "x"}), &actual, "")
            .unwrap()
            .contains("email: missing"));
        assert!(first_difference(&json!({"merged": ["C9"]}), &actual, "").is_some());
        assert!(first_difference(&json!({"x": {"y": 2}}), &actual, "").unwrap().starts_with("x.y"));
    }
}
