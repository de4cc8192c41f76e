//! The reference endpoint on HL7 over HTTP (the HAPI "HL7 over HTTP" specification: one message
//! per `POST`, the acknowledgment in the response body) and the JSON state endpoint that effect
//! probes read. Both are accept loops over an already-bound listener that run until `shutdown`
//! resolves, one task per connection, like [`serve_mllp`](super::server::serve_mllp).
//!
//! What the ingest side checks, in order, before anything is journaled or applied:
//!
//! 1. HTTP Basic credentials when configured (RFC 7617): missing or wrong → 401; an address
//!    that guessed wrong too often → 429 (see [`basic_auth`](super::basic_auth)).
//! 2. `POST` only → otherwise 405.
//! 3. A body length: `Content-Length` or chunked `Transfer-Encoding` → otherwise 411.
//! 4. Content-Type `application/hl7-v2` (spec 2.4), or the older spellings
//!    `application/hl7-v2+er7` and `x-application/hl7-v2+er7` → otherwise 415.
//! 5. Body at most [`HttpConfig::max_body_bytes`] (413) read within [`HttpConfig::body_timeout`]
//!    (408, logged).
//! 6. When aliases are configured, MSH-4.1 must be `connecting-alias{data-controller-alias}`
//!    with an allowed connecting alias (the partner rules of `shared/seeds/004_*`) → otherwise
//!    an AR acknowledgment (with status 200, like every HL7 answer).
//!
//! Then [`Endpoint::handle`] decides. Every HL7 answer goes with status 200, AR/AE/CR/CE
//! included (spec 2.6 HTTP Response Codes, "Application Error Conditions": an HL7 response
//! payload with one of those codes "is considered a successful interaction at the transport
//! layer, and response code of "HTTP/1.1 2xx" MUST be used"); a non-2xx answer (401, 405, 413,
//! 415, a body that is not HL7) is text, never an HL7 content type ("Content Type for Error
//! Conditions"). The superseded draft's AR → 400 / AE → 500 survives only as the defect
//! `http-status-by-ack-code`. This module does no HL7 decisions of its own beyond the alias rule.

pub use super::basic_auth::BasicCredentials;
use super::basic_auth::{BasicAuth, Verdict};
use super::defect::Defect;
use super::endpoint::Endpoint;
use super::log::Log;
use super::responder::Decision;
use crate::hl7::ack::{AckBuilder, AckError, AckMode, ErrorCondition};
use crate::hl7::{Message, Path as Hl7Path};
use crate::transport::http_server::{
    close, empty, hl7, respond, serve_http1, text, too_large, HttpResponse,
};
pub use crate::transport::media_type::{parse_content_type, ContentType, ContentTypeSpelling};
use crate::utc::hl7_timestamp;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::header::{RETRY_AFTER, TRANSFER_ENCODING};
use hyper::{Method, Request, StatusCode};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The default body limit: 16 MiB.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Settings of the HTTP ingest side.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `None`: no authentication.
    pub basic: Option<BasicCredentials>,
    /// Connecting aliases allowed in MSH-4; empty: MSH-4 is not checked.
    pub allowed_aliases: Vec<String>,
    pub max_body_bytes: usize,
    /// How long the whole body may take to arrive once the headers are in.
    pub body_timeout: Duration,
    /// How long the request line and headers may take (also the keep-alive idle limit).
    pub header_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            basic: None,
            allowed_aliases: Vec::new(),
            max_body_bytes: MAX_BODY_BYTES,
            body_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(30),
        }
    }
}

/// MSH-4 in the partner syntax `connecting-alias{data-controller-alias}` (seed 004): the two
/// aliases, or `None` when the value does not have that shape.
pub fn parse_partner_aliases(value: &str) -> Option<(&str, &str)> {
    let (connecting, rest) = value.split_once('{')?;
    let controller = rest.strip_suffix('}')?;
    let valid = |s: &str| !s.is_empty() && !s.contains(['{', '}']);
    (valid(connecting) && valid(controller)).then_some((connecting, controller))
}

/// The status that goes with an HL7 answer: 200 whatever the decision (HL7 over HTTP 2.6,
/// "Application Error Conditions"), or, with the defect `http-status-by-ack-code`, the
/// superseded draft's mapping (1.3: AR/CR → 400, AE/CE → 500).
pub fn status_for(decision: &Decision, defects: &super::defect::Defects) -> StatusCode {
    match decision {
        _ if !defects.has(Defect::HttpStatusByAckCode) => StatusCode::OK,
        Decision::Accept => StatusCode::OK,
        Decision::Reject(_) => StatusCode::BAD_REQUEST,
        Decision::Error(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What the ingest side saw, returned when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpSummary {
    pub connections: u64,
    /// Requests per Content-Type spelling (counted once the type is accepted).
    pub spellings: BTreeMap<ContentTypeSpelling, u64>,
}

struct Ingest {
    endpoint: Arc<Endpoint>,
    config: HttpConfig,
    auth: Option<BasicAuth>,
    spellings: Mutex<BTreeMap<ContentTypeSpelling, u64>>,
    rejected: AtomicU64,
}

/// Serves HL7 over HTTP until `shutdown` resolves.
pub async fn serve_http(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    config: HttpConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<HttpSummary> {
    serve_ingest(listener, endpoint, config, None, shutdown).await
}

/// Serves HL7 over HTTPS until `shutdown` resolves: like [`serve_http`], each connection first
/// completes a TLS handshake (within the header timeout) with `tls`.
pub async fn serve_https(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    config: HttpConfig,
    tls: TlsAcceptor,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<HttpSummary> {
    serve_ingest(listener, endpoint, config, Some(tls), shutdown).await
}

async fn serve_ingest(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    config: HttpConfig,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<HttpSummary> {
    let header_timeout = config.header_timeout;
    let auth = config.basic.clone().map(|c| BasicAuth::new(c, "http", endpoint.log().clone()));
    let ingest = Arc::new(Ingest {
        endpoint,
        config,
        auth,
        spellings: Mutex::new(BTreeMap::new()),
        rejected: AtomicU64::new(0),
    });
    let shared = Arc::clone(&ingest);
    let log = ingest.endpoint.log().clone();
    let connections = accept_loop(listener, (header_timeout, log), tls, shutdown, move |peer| {
        let ingest = Arc::clone(&shared);
        move |request| {
            let ingest = Arc::clone(&ingest);
            async move { Ok::<_, Infallible>(ingest.respond(request, peer).await) }
        }
    })
    .await?;
    let spellings = ingest.spellings.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(HttpSummary { connections, spellings })
}

/// Serves the endpoint's state as JSON until `shutdown` resolves; returns the connection count.
/// No authentication: for in-process use and tests (`serve --state` uses
/// [`serve_state_with`]).
pub async fn serve_state(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<u64> {
    serve_state_with(listener, endpoint, None, shutdown).await
}

/// [`serve_state`] behind HTTP Basic authentication when `basic` is set: the state holds
/// patient names, birth dates and addresses, so it takes the same credentials as the HTTP
/// listener, with failed guesses logged and slowed down the same way.
pub async fn serve_state_with(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    basic: Option<BasicCredentials>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<u64> {
    let auth = basic.map(|c| Arc::new(BasicAuth::new(c, "state", endpoint.log().clone())));
    let log = endpoint.log().clone();
    accept_loop(listener, (Duration::from_secs(30), log), None, shutdown, move |peer| {
        let endpoint = Arc::clone(&endpoint);
        let auth = auth.clone();
        move |request: Request<Incoming>| {
            let refused = auth.as_ref().and_then(|auth| {
                refusal(auth.check(request.headers().get(AUTHORIZATION), peer), false)
            });
            let response = refused.unwrap_or_else(|| {
                state_response(&endpoint, request.method(), request.uri().path())
            });
            async move { Ok::<_, Infallible>(response) }
        }
    })
    .await
}

/// The 401 or 429 answer for a verdict that does not let the request in; `None` when it does.
/// A 401 from the ingest side also asks the client to close (`close_after`).
fn refusal(verdict: Verdict, close_after: bool) -> Option<HttpResponse> {
    match verdict {
        Verdict::Allowed => None,
        Verdict::Denied => {
            let response = crate::transport::http_server::unauthorized();
            Some(if close_after { close(response) } else { response })
        }
        // RFC 6585 4: 429 with Retry-After (whole seconds, rounded up).
        Verdict::Blocked { retry_after } => {
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            let mut response = text(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("too many failed logins from this address; retry after {seconds} s\n"),
            );
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
            Some(close(response))
        }
    }
}

/// The accept loop both listeners share: one task per connection, HTTP/1.1 with a header read
/// timeout, over TLS when `tls` is set. `per_connection` makes the request handler of one
/// connection.
async fn accept_loop<C, H, F>(
    listener: TcpListener,
    (header_timeout, log): (Duration, Log),
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    per_connection: C,
) -> std::io::Result<u64>
where
    C: Fn(std::net::SocketAddr) -> H,
    H: Fn(Request<Incoming>) -> F + Send + 'static,
    F: Future<Output = Result<HttpResponse, Infallible>> + Send + 'static,
{
    let accept_log = log.clone();
    crate::transport::accept::accept_logging(
        listener,
        shutdown,
        false,
        move |line| accept_log.line(line),
        move |stream, peer| {
            let handler = per_connection(peer);
            let tls = tls.clone();
            let log = log.clone();
            async move {
                let served = match tls {
                    None => serve_http1(stream, header_timeout, handler).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                            Err(_) => {
                                log.line(format_args!("https {peer}: no TLS handshake in time"));
                                return;
                            }
                            Ok(Err(err)) => {
                                log.line(format_args!("https {peer}: TLS handshake: {err}"));
                                return;
                            }
                            Ok(Ok(stream)) => serve_http1(stream, header_timeout, handler).await,
                        }
                    }
                };
                if let Err(err) = served {
                    log.line(format_args!("http {peer}: {err}"));
                }
            }
        },
    )
    .await
}

impl Ingest {
    async fn respond(
        &self,
        request: Request<Incoming>,
        peer: std::net::SocketAddr,
    ) -> HttpResponse {
        let defects = self.endpoint.defects();
        if let Some(auth) = self.auth.as_ref().filter(|_| !defects.has(Defect::HttpAuthBypass)) {
            if let Some(response) =
                refusal(auth.check(request.headers().get(AUTHORIZATION), peer), true)
            {
                return response;
            }
        }
        if request.method() != Method::POST {
            let mut response =
                text(StatusCode::METHOD_NOT_ALLOWED, "HL7 over HTTP takes one message per POST\n");
            response.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let headers = request.headers();
        // RFC 9112 6.3: a request body is delimited by Content-Length or a chunked
        // Transfer-Encoding; without either it is empty, and an empty POST here is a client
        // that left the length out, not an empty message (411, RFC 9110 15.5.12).
        if !headers.contains_key(CONTENT_LENGTH) && !headers.contains_key(TRANSFER_ENCODING) {
            return close(text(
                StatusCode::LENGTH_REQUIRED,
                "a POST needs Content-Length (or Transfer-Encoding: chunked)\n",
            ));
        }
        let raw_type = headers.get(CONTENT_TYPE);
        let content_type = raw_type.and_then(|v| v.to_str().ok());
        let Some(content_type) = content_type.and_then(parse_content_type) else {
            let shown = match (raw_type, content_type) {
                (None, _) => "(none)".to_string(),
                (Some(_), Some(t)) => t.to_string(),
                // Not visible ASCII (RFC 9110 5.5): shown escaped, never as if it were absent.
                (Some(raw), None) => {
                    format!("{} (not visible ASCII)", raw.as_bytes().escape_ascii())
                }
            };
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!(
                    "Content-Type {shown} is not accepted; send application/hl7-v2; charset=...\n"
                ),
            );
        };
        *self
            .spellings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(content_type.spelling)
            .or_insert(0) += 1;
        if content_type.spelling != ContentTypeSpelling::Hl7V2 {
            self.endpoint.log().line(format_args!(
                "http {peer}: tolerated older Content-Type {}",
                content_type.spelling.media_type()
            ));
        }
        if content_type.charset.is_none() {
            self.endpoint
                .log()
                .line(format_args!("http {peer}: Content-Type without a charset parameter"));
        }
        let limit = self.config.max_body_bytes;
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return close(too_large(limit));
        }
        let body = Limited::new(request.into_body(), limit).collect();
        let body = match tokio::time::timeout(self.config.body_timeout, body).await {
            Err(_) => {
                let after = self.config.body_timeout;
                self.endpoint.log().line(format_args!(
                    "http {peer}: the body did not arrive within {after:?}; \
                     408, connection closed"
                ));
                return close(text(
                    StatusCode::REQUEST_TIMEOUT,
                    "the body did not arrive in time\n",
                ));
            }
            Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => {
                return close(too_large(limit))
            }
            Ok(Err(err)) => {
                return close(text(StatusCode::BAD_REQUEST, &format!("body not read: {err}\n")))
            }
            Ok(Ok(collected)) => collected.to_bytes(),
        };
        if let Some(response) = self.check_alias(&body) {
            return response;
        }
        let handled = match self.endpoint.handle(&body) {
            Ok(handled) => handled,
            Err(err) => {
                self.endpoint
                    .log()
                    .line(format_args!("http {peer}: {err}; message not acknowledged"));
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the message could not be journaled and was not applied; send it again\n",
                );
            }
        };
        if let Some(why) = handled.unreadable {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("the body is not an HL7 message: {why}\n"),
            );
        }
        let defects = self.endpoint.defects();
        let status = handled.decision.as_ref().map_or(StatusCode::OK, |d| status_for(d, defects));
        match handled.ack {
            Some(ack) if defects.has(Defect::HttpTextContentType) => {
                respond(status, "text/plain", ack)
            }
            Some(ack) => hl7(status, ack),
            // MSH-15/16 asked for no acknowledgment; HTTP still needs an answer, so the status
            // alone carries the outcome.
            None if status == StatusCode::OK => empty(StatusCode::NO_CONTENT),
            None => empty(status),
        }
    }

    /// The AR answer when MSH-4 names a connecting alias that is not allowed; `None` to go on
    /// (no aliases configured, or the body is not HL7 and the endpoint will say so).
    fn check_alias(&self, body: &[u8]) -> Option<HttpResponse> {
        if self.config.allowed_aliases.is_empty()
            || self.endpoint.defects().has(Defect::HttpAliasNotChecked)
        {
            return None;
        }
        let message = Message::parse(body).ok()?;
        let msh4 = Hl7Path::parse("MSH-4.1").ok().and_then(|p| message.get(&p));
        let msh4 = msh4.map(|v| message.text(&v).into_owned()).unwrap_or_default();
        let problem = match parse_partner_aliases(&msh4) {
            None => format!("MSH-4 {msh4:?} is not connecting-alias{{data-controller-alias}}"),
            Some((connecting, _))
                if !self.config.allowed_aliases.iter().any(|a| a == connecting) =>
            {
                format!(
                    "connecting alias {connecting:?} in MSH-4 is not allowed on this connection"
                )
            }
            Some(_) => return None,
        };
        // Table 0357 has no code for an unauthorised sender; 207 (application internal error)
        // is its catch-all, and the text says what was wrong.
        let mut error = AckError::new(ErrorCondition::ApplicationInternalError).with_text(&problem);
        if let Ok(path) = Hl7Path::parse("MSH-4") {
            error = error.at(path, Some(1));
        }
        let decision = Decision::Reject(vec![error.clone()]);
        let code = decision.code(AckMode::of(&message));
        let status = status_for(&decision, self.endpoint.defects());
        let sequence = self.rejected.fetch_add(1, Ordering::SeqCst) + 1;
        let ack = AckBuilder::new(
            &message,
            code,
            format!("HTTPREJ{sequence:08}"),
            hl7_timestamp(SystemTime::now()),
        )
        .error(error)
        .text(problem)
        .build();
        Some(hl7(status, ack))
    }
}

pub fn state_response(endpoint: &Endpoint, method: &Method, path: &str) -> HttpResponse {
    if method != Method::GET {
        let mut response =
            text(StatusCode::METHOD_NOT_ALLOWED, "the state endpoint is read-only\n");
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    let state = endpoint.state_json();
    let found = match path.trim_end_matches('/').split('/').collect::<Vec<_>>().as_slice() {
        ["", "state"] => Some(state),
        ["", "errors"] => state.get("errors").cloned(),
        ["", "journal"] => Some(endpoint.journal_json()),
        ["", "applied"] => Some(endpoint.applied_json()),
        ["", kind @ ("clients" | "professionals"), id] => {
            percent_decode(id).and_then(|id| state.get(*kind)?.get(&id).cloned())
        }
        _ => None,
    };
    match found {
        Some(value) => {
            let mut body = serde_json::to_vec_pretty(&value).unwrap_or_default();
            body.push(b'\n');
            respond(StatusCode::OK, "application/json", body)
        }
        None => text(StatusCode::NOT_FOUND, &format!("nothing at {path}\n")),
    }
}

/// `%XX` escapes of a path segment (RFC 3986 2.1); `None` for a broken escape or non-UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    crate::transport::userinfo::percent_decode(segment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hl7::Charset;

    /// HL7 over HTTP 2.6: every HL7 answer is 2xx; the draft's mapping only as a defect.
    #[test]
    fn every_hl7_answer_is_200_unless_the_draft_mapping_defect_is_on() {
        use super::super::defect::Defects;
        let error = || vec![AckError::new(ErrorCondition::RequiredFieldMissing)];
        let decisions = [Decision::Accept, Decision::Error(error()), Decision::Reject(error())];
        for decision in &decisions {
            assert_eq!(status_for(decision, &Defects::none()), StatusCode::OK, "{decision:?}");
        }
        let draft = Defects::of([Defect::HttpStatusByAckCode]);
        let statuses: Vec<u16> = decisions.iter().map(|d| status_for(d, &draft).as_u16()).collect();
        assert_eq!(statuses, [200, 500, 400]);
    }

    #[test]
    fn partner_aliases() {
        assert_eq!(
            parse_partner_aliases("trustalias{trustalias}"),
            Some(("trustalias", "trustalias"))
        );
        assert_eq!(parse_partner_aliases("mailco{trust}"), Some(("mailco", "trust")));
        assert_eq!(parse_partner_aliases("trustalias"), None);
        assert_eq!(parse_partner_aliases("{trust}"), None);
        assert_eq!(parse_partner_aliases("a{}"), None);
        assert_eq!(parse_partner_aliases("a{b}c"), None);
        assert_eq!(parse_partner_aliases("a{b{c}}"), None);
    }

    #[test]
    fn every_charset_has_an_iana_name_or_says_why_not() {
        for charset in Charset::ALL {
            assert_eq!(charset.iana_name().is_none(), charset == Charset::Cns11643, "{charset}");
        }
        assert_eq!(Charset::UnicodeUtf8.iana_name(), Some("UTF-8"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("C1").as_deref(), Some("C1"));
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("a%2"), None);
        assert_eq!(percent_decode("%ZZ"), None);
    }
}
