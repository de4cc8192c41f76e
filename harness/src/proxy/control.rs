//! The control interface: HTTP/1.1 on a loopback address, to list, add and remove rules and
//! read recent events while the proxy runs (like toxiproxy's API). Loopback only: anyone who
//! can reach it can change what the proxy does to clinical traffic.
//!
//! `GET /faults`, `POST /faults` (JSON body `{"spec": "…"}` or a JSON string),
//! `DELETE /faults/ID`, `DELETE /faults`, `GET /events`.
//!
//! Loopback is not enough on its own: a web page open in a browser on the same machine can send
//! a "simple" cross-site request (a POST with `Content-Type: text/plain` needs no CORS
//! preflight) and, through DNS rebinding, even read the answers. So every request must
//! (checked in this order):
//! - name the bound address in `Host` (or `localhost:PORT`), else 403: a rebound host name
//!   never matches (the defence the Fetch standard's CORS model leaves to servers);
//! - carry no `Origin`, or the interface's own, else 403: browsers send `Origin` on every
//!   cross-origin POST and DELETE (Fetch standard, "Origin header");
//! - carry `Authorization: Bearer TOKEN` (RFC 6750 §2.1) with the random token `proxy` prints
//!   on stderr at start, else 401: no page can know it;
//! - for `POST`, be `Content-Type: application/json`, else 415: a browser cannot send that
//!   cross-site without a preflight this server never grants.

use super::server::{Proxy, MAX_RULES};
use crate::faults::parse_spec;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderValue, ALLOW, AUTHORIZATION, CONTENT_TYPE, HOST, ORIGIN, WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Largest request body: a spec is a line of text.
const MAX_BODY: usize = 64 * 1024;
const TIMEOUT: Duration = Duration::from_secs(10);

/// A control address that is not loopback.
#[derive(Debug, thiserror::Error)]
#[error("--control {addr}: the control interface only listens on loopback (127.0.0.1 or [::1])")]
pub struct NotLoopback {
    pub addr: String,
}

/// `addr` as a loopback socket address.
pub fn loopback(addr: &str) -> Result<SocketAddr, NotLoopback> {
    match addr.parse::<SocketAddr>() {
        Ok(a) if a.ip().is_loopback() => Ok(a),
        _ => Err(NotLoopback { addr: addr.to_string() }),
    }
}

/// Who may use the control interface: requests to the bound address, from no foreign origin,
/// holding the token (see the module docs).
#[derive(Clone)]
pub struct ControlAccess {
    token: String,
    /// `Host` values that name the interface: the bound address and `localhost:PORT`.
    hosts: [String; 2],
}

impl std::fmt::Debug for ControlAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlAccess").field("hosts", &self.hosts).finish_non_exhaustive()
    }
}

/// Why a request is refused before it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `Host` is not the bound address (DNS rebinding, or a mistyped address).
    Host,
    /// `Origin` is another site's.
    Origin,
    /// No token, or the wrong one.
    Token,
    /// A `POST` that is not `application/json`.
    ContentType,
}

impl Refusal {
    fn response(self) -> HttpResponse {
        match self {
            Refusal::Host => error(
                StatusCode::FORBIDDEN,
                "Host must be the control interface's own address (127.0.0.1:PORT as bound, or \
                 localhost:PORT)",
            ),
            Refusal::Origin => {
                error(StatusCode::FORBIDDEN, "requests from another origin are refused")
            }
            Refusal::Token => {
                let mut response = error(
                    StatusCode::UNAUTHORIZED,
                    "send Authorization: Bearer TOKEN with the control token proxy printed at \
                     start",
                );
                response
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"control\""));
                response
            }
            Refusal::ContentType => error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "POST needs Content-Type: application/json and a body {\"spec\": \"…\"}",
            ),
        }
    }
}

impl ControlAccess {
    /// Access to the interface bound at `bound`, with a fresh random token (256 bits from the
    /// operating system).
    pub fn new(bound: SocketAddr) -> std::io::Result<ControlAccess> {
        use rand::TryRngCore;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.try_fill_bytes(&mut bytes).map_err(std::io::Error::other)?;
        let token = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(ControlAccess::with_token(bound, token))
    }

    fn with_token(bound: SocketAddr, token: String) -> ControlAccess {
        ControlAccess { token, hosts: [bound.to_string(), format!("localhost:{}", bound.port())] }
    }

    /// The token to print at start.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Whether a request with `method` and `headers` may be served. Pure.
    pub fn admit(&self, method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
        let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
        let ours = |host: &str| self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host));
        if !text(HOST).is_some_and(ours) {
            return Err(Refusal::Host);
        }
        if headers.contains_key(ORIGIN) {
            let own = text(ORIGIN)
                .and_then(|o| o.strip_prefix("http://"))
                .is_some_and(|host| ours(host.trim_end_matches('/')));
            if !own {
                return Err(Refusal::Origin);
            }
        }
        let presented = text(AUTHORIZATION)
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        if !presented.is_some_and(|t| same(t.as_bytes(), self.token.as_bytes())) {
            return Err(Refusal::Token);
        }
        if method == Method::POST {
            let json = text(CONTENT_TYPE)
                .and_then(|v| v.split(';').next())
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
            if !json {
                return Err(Refusal::ContentType);
            }
        }
        Ok(())
    }
}

/// Compares in time that does not depend on where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves the control interface until `shutdown` resolves; requests [`ControlAccess::admit`]
/// refuses are answered without being read.
pub async fn serve_control(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    access: ControlAccess,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<u64> {
    let access = Arc::new(access);
    crate::transport::accept::accept_until(
        listener,
        shutdown,
        false,
        "hl7-harness proxy",
        move |stream, _peer| {
            let (proxy, access) = (Arc::clone(&proxy), Arc::clone(&access));
            async move {
                let mut builder = http1::Builder::new();
                builder.timer(TokioTimer::new()).header_read_timeout(TIMEOUT);
                let service = service_fn(move |request: Request<Incoming>| {
                    let proxy = Arc::clone(&proxy);
                    let admitted = access.admit(request.method(), request.headers());
                    async move {
                        Ok::<_, Infallible>(match admitted {
                            Ok(()) => respond(&proxy, request).await,
                            Err(refusal) => refusal.response(),
                        })
                    }
                });
                let _ = builder.serve_connection(TokioIo::new(stream), service).await;
            }
        },
    )
    .await
}

type HttpResponse = Response<Full<Bytes>>;

fn json(status: StatusCode, value: &serde_json::Value) -> HttpResponse {
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
    body.push(b'\n');
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, message: &str) -> HttpResponse {
    json(status, &serde_json::json!({ "error": message }))
}

fn rules_json(proxy: &Proxy) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = proxy
        .rules()
        .into_iter()
        .map(|(id, spec, spent)| serde_json::json!({ "id": id, "spec": spec, "spent": spent }))
        .collect();
    serde_json::Value::Array(rules)
}

/// The spec text of a POST body (JSON, as its Content-Type says): `{"spec": "…"}` or a JSON
/// string.
fn spec_text(body: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
    let value: serde_json::Value =
        serde_json::from_str(text.trim()).map_err(|e| format!("bad JSON: {e}"))?;
    let spec = match &value {
        serde_json::Value::String(s) => Some(s.as_str()),
        other => other.get("spec").and_then(|s| s.as_str()),
    };
    spec.map(|s| s.trim().to_string()).ok_or_else(|| "expected {\"spec\": \"…\"}".to_string())
}

async fn respond(proxy: &Proxy, request: Request<Incoming>) -> HttpResponse {
    let method = request.method().clone();
    let path = request.uri().path().trim_end_matches('/').to_string();
    match (method, path.as_str()) {
        (Method::GET, "/faults") => json(StatusCode::OK, &rules_json(proxy)),
        (Method::DELETE, "/faults") => {
            proxy.clear_rules();
            json(StatusCode::OK, &rules_json(proxy))
        }
        (Method::POST, "/faults") => {
            let body = Limited::new(request.into_body(), MAX_BODY).collect();
            let body = match tokio::time::timeout(TIMEOUT, body).await {
                Ok(Ok(collected)) => collected.to_bytes(),
                Ok(Err(err)) => return error(StatusCode::BAD_REQUEST, &format!("body: {err}")),
                Err(_) => return error(StatusCode::REQUEST_TIMEOUT, "the body did not arrive"),
            };
            let spec =
                match spec_text(&body).and_then(|t| parse_spec(&t).map_err(|e| e.to_string())) {
                    Ok(spec) => spec,
                    Err(message) => return error(StatusCode::BAD_REQUEST, &message),
                };
            let shown = spec.to_string();
            match proxy.add_rule(spec) {
                Some(id) => {
                    json(StatusCode::CREATED, &serde_json::json!({ "id": id, "spec": shown }))
                }
                None => error(
                    StatusCode::CONFLICT,
                    &format!("{MAX_RULES} rules are installed already; remove some first"),
                ),
            }
        }
        (Method::DELETE, path) if path.starts_with("/faults/") => {
            match path["/faults/".len()..].parse::<u64>() {
                Ok(id) if proxy.remove_rule(id) => json(StatusCode::OK, &rules_json(proxy)),
                Ok(id) => error(StatusCode::NOT_FOUND, &format!("no rule {id}")),
                Err(_) => error(StatusCode::BAD_REQUEST, "expected /faults/ID with a numeric id"),
            }
        }
        (Method::GET, "/events") => {
            let events = serde_json::to_value(proxy.events.recent()).unwrap_or_default();
            json(StatusCode::OK, &events)
        }
        (_, "/faults") | (_, "/events") => {
            let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            let allow = if path == "/events" { "GET" } else { "GET, POST, DELETE" };
            response.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
            response
        }
        _ => error(StatusCode::NOT_FOUND, "unknown path; see GET /faults, GET /events"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (method, headers) → admitted or the refusal, for an interface bound at 127.0.0.1:8474
    /// with the token `t0k`.
    fn check(method: Method, headers: &[(&str, &str)], expected: Result<(), Refusal>) {
        let access = ControlAccess::with_token("127.0.0.1:8474".parse().unwrap(), "t0k".into());
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        assert_eq!(access.admit(&method, &map), expected, "{method} {headers:?}");
    }

    #[test]
    fn who_may_use_the_control_interface() {
        const HOST: (&str, &str) = ("host", "127.0.0.1:8474");
        const TOKEN: (&str, &str) = ("authorization", "Bearer t0k");
        const JSON: (&str, &str) = ("content-type", "application/json; charset=utf-8");
        check(Method::GET, &[HOST, TOKEN], Ok(()));
        check(Method::GET, &[("host", "LOCALHOST:8474"), TOKEN], Ok(()));
        check(Method::POST, &[HOST, TOKEN, JSON], Ok(()));
        check(Method::POST, &[HOST, TOKEN, JSON, ("origin", "http://127.0.0.1:8474")], Ok(()));
        check(Method::GET, &[TOKEN], Err(Refusal::Host));
        check(Method::GET, &[("host", "evil.example:8474"), TOKEN], Err(Refusal::Host));
        check(Method::GET, &[("host", "127.0.0.1:8475"), TOKEN], Err(Refusal::Host));
        let evil = ("origin", "http://evil.example");
        check(Method::POST, &[HOST, TOKEN, JSON, evil], Err(Refusal::Origin));
        check(Method::POST, &[HOST, TOKEN, JSON, ("origin", "null")], Err(Refusal::Origin));
        check(Method::GET, &[HOST], Err(Refusal::Token));
        check(Method::GET, &[HOST, ("authorization", "Bearer t0K")], Err(Refusal::Token));
        check(Method::GET, &[HOST, ("authorization", "Basic t0k")], Err(Refusal::Token));
        check(Method::POST, &[HOST, TOKEN], Err(Refusal::ContentType));
        check(
            Method::POST,
            &[HOST, TOKEN, ("content-type", "text/plain")],
            Err(Refusal::ContentType),
        );
        check(Method::DELETE, &[HOST, TOKEN], Ok(()));
        assert!(!format!("{:?}", ControlAccess::new("127.0.0.1:1".parse().unwrap()).unwrap())
            .contains("token"));
        let a = ControlAccess::new("127.0.0.1:1".parse().unwrap()).unwrap();
        let b = ControlAccess::new("127.0.0.1:1".parse().unwrap()).unwrap();
        assert_eq!(a.token().len(), 64);
        assert_ne!(a.token(), b.token());
    }

    #[test]
    fn bodies_and_addresses() {
        assert!(spec_text(b" drop:frame=1\n").is_err(), "JSON only");
        assert_eq!(spec_text(br#"{"spec": "drop:frame=1"}"#).unwrap(), "drop:frame=1");
        assert_eq!(spec_text(br#""drop""#).unwrap(), "drop");
        assert!(spec_text(br#"{"rule": "drop"}"#).is_err());
        assert!(spec_text(b"\xff").is_err());
        assert!(loopback("127.0.0.1:0").is_ok());
        assert!(loopback("[::1]:8474").is_ok());
        assert!(loopback("0.0.0.0:8474").is_err());
        assert!(loopback("10.1.2.3:8474").is_err());
        assert!(loopback("localhost:8474").is_err());
    }
}
