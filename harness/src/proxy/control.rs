//! The control interface: HTTP/1.1 on a loopback address, to list, add and remove rules and
//! read recent events while the proxy runs (like toxiproxy's API). Loopback only: anyone who
//! can reach it can change what the proxy does to clinical traffic.
//!
//! `GET /faults`, `POST /faults` (body: a SPEC, or JSON `{"spec": "…"}`), `DELETE /faults/ID`,
//! `DELETE /faults`, `GET /events`.

use super::server::{Proxy, MAX_RULES};
use super::spec::parse_spec;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
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

/// Serves the control interface until `shutdown` resolves.
pub async fn serve_control(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<u64> {
    crate::target::server::accept_until(
        listener,
        shutdown,
        false,
        "hl7-harness proxy",
        move |stream, _peer| {
            let proxy = Arc::clone(&proxy);
            async move {
                let mut builder = http1::Builder::new();
                builder.timer(TokioTimer::new()).header_read_timeout(TIMEOUT);
                let service = service_fn(move |request| {
                    let proxy = Arc::clone(&proxy);
                    async move { Ok::<_, Infallible>(respond(&proxy, request).await) }
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

/// The spec text of a POST body: a bare spec, a JSON string, or `{"spec": "…"}`.
fn spec_text(body: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
    let trimmed = text.trim();
    if trimmed.starts_with('{') || trimmed.starts_with('"') {
        let value: serde_json::Value =
            serde_json::from_str(trimmed).map_err(|e| format!("bad JSON: {e}"))?;
        let spec = match &value {
            serde_json::Value::String(s) => Some(s.as_str()),
            other => other.get("spec").and_then(|s| s.as_str()),
        };
        return spec.map(str::to_string).ok_or_else(|| "expected {\"spec\": \"…\"}".to_string());
    }
    Ok(trimmed.to_string())
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

    #[test]
    fn bodies_and_addresses() {
        assert_eq!(spec_text(b" drop:frame=1\n").unwrap(), "drop:frame=1");
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
