//! HL7 over HTTP, the serving side's shared pieces: reading HTTP Basic credentials (RFC 7617),
//! the responses every HL7-over-HTTP server of the harness writes (text for errors, the HL7
//! answer with its charset, 401 with its challenge), and serving one accepted connection with a
//! bounded header read. The reference endpoint (`target::http`) and the receiver role's HTTP
//! listener (`runner::receiver::http`) both use them, so the two speak the same HTTP. Policy
//! (which requests to refuse, logging, blocking of guessers) stays with each server.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// A response with its whole body in memory (every answer here is small).
pub type HttpResponse = Response<Full<Bytes>>;

/// The credentials HTTP Basic authentication requires.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for BasicCredentials {
    // The password never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials").field("user", &self.user).finish_non_exhaustive()
    }
}

/// What the `Authorization` header carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// No `Authorization` header, or not the Basic scheme: a client that has not tried yet.
    Nothing,
    /// Basic credentials that do not decode (bad base64, not UTF-8, no colon).
    Malformed,
    /// Basic credentials for this user name (the password is not kept).
    User(String),
}

/// Reads the `Authorization` header: whether it carries exactly `expected`, and what it
/// presented.
pub fn read_basic(header: Option<&HeaderValue>, expected: &BasicCredentials) -> (bool, Presented) {
    let Some(text) = header.and_then(|h| h.to_str().ok()) else {
        return (false, if header.is_some() { Presented::Malformed } else { Presented::Nothing });
    };
    let Some((scheme, token)) = text.trim().split_once(' ') else {
        let basic = text.trim().eq_ignore_ascii_case("basic");
        return (false, if basic { Presented::Malformed } else { Presented::Nothing });
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return (false, Presented::Nothing);
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(token.trim()).ok();
    let Some(decoded) = decoded.and_then(|d| String::from_utf8(d).ok()) else {
        return (false, Presented::Malformed);
    };
    // RFC 7617 2: the user id cannot contain a colon, so the first one splits.
    match decoded.split_once(':') {
        Some((user, password)) => {
            let user_matches = user == expected.user;
            let good =
                user_matches & constant_time_eq(password.as_bytes(), expected.password.as_bytes());
            (good, Presented::User(user.to_string()))
        }
        None => (false, Presented::Malformed),
    }
}

/// Equal bytes, in a time that does not depend on where they first differ (the length may
/// show; the password's length is not the secret).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `401 Unauthorized` with the Basic challenge (RFC 7235 3.1: a 401 MUST carry
/// `WWW-Authenticate`).
pub fn unauthorized() -> HttpResponse {
    let mut response = text(StatusCode::UNAUTHORIZED, "missing or wrong HTTP Basic credentials\n");
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"hl7\""));
    response
}

/// `413` for a body over `limit` bytes.
pub fn too_large(limit: usize) -> HttpResponse {
    text(StatusCode::PAYLOAD_TOO_LARGE, &format!("the body is larger than {limit} bytes\n"))
}

/// `response`, with the connection closed after it (the rest of the request is not read).
pub fn close(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A response with this status, Content-Type and body.
pub fn respond(status: StatusCode, content_type: &str, body: Vec<u8>) -> HttpResponse {
    let length = body.len();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(CONTENT_TYPE, value);
    }
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    response
}

/// A plain-text response: every non-2xx answer is text, never an HL7 content type (HL7 over
/// HTTP 2.6, "Content Type for Error Conditions").
pub fn text(status: StatusCode, body: &str) -> HttpResponse {
    respond(status, "text/plain; charset=utf-8", body.as_bytes().to_vec())
}

/// A response with no body.
pub fn empty(status: StatusCode) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// An HL7 answer: `application/hl7-v2` with the charset of its MSH-18 (UTF-8 without one).
pub fn hl7(status: StatusCode, ack: Vec<u8>) -> HttpResponse {
    use crate::hl7::charset::Charset;
    let charset = crate::hl7::Message::parse(&ack)
        .ok()
        .and_then(|m| m.character_set().filter(|c| !c.trim_ascii().is_empty()).map(<[u8]>::to_vec))
        .map(|c| Charset::from_msh18(&c).ok().and_then(Charset::iana_name))
        .unwrap_or(Some("UTF-8"));
    let content_type = match charset {
        Some(name) => format!("application/hl7-v2; charset={name}"),
        None => "application/hl7-v2".to_string(),
    };
    respond(status, &content_type, ack)
}

/// Serves HTTP/1.1 on one accepted connection until the peer ends it: the request line and
/// headers must arrive within `header_timeout` (also the keep-alive idle limit), so a client
/// that connects and says nothing cannot hold the connection.
pub async fn serve_http1<S, H, F>(
    stream: S,
    header_timeout: Duration,
    handler: H,
) -> Result<(), hyper::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Send + 'static,
    F: Future<Output = Result<HttpResponse, Infallible>> + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    builder.serve_connection(TokioIo::new(stream), service_fn(handler)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> BasicCredentials {
        BasicCredentials { user: "partner_mailco".into(), password: "testing".into() }
    }

    fn check(header: Option<&str>, expected: (bool, Presented)) {
        let header = header.map(|h| HeaderValue::from_str(h).unwrap());
        assert_eq!(read_basic(header.as_ref(), &creds()), expected, "{header:?}");
    }

    #[test]
    fn basic_auth() {
        let user = || Presented::User("partner_mailco".into());
        // The example of seed 004.
        check(Some("Basic cGFydG5lcl9tYWlsY286dGVzdGluZw=="), (true, user()));
        check(Some("basic cGFydG5lcl9tYWlsY286dGVzdGluZw=="), (true, user()));
        check(None, (false, Presented::Nothing));
        check(Some("Bearer cGFydG5lcl9tYWlsY286dGVzdGluZw=="), (false, Presented::Nothing));
        check(Some("Basic cGFydG5lcl9tYWlsY286d3Jvbmc="), (false, user())); // partner_mailco:wrong
        check(Some("Basic cGFydG5lcl9tYWlsY286dGVzdGluZ3g="), (false, user())); // …:testingx
        check(Some("Basic cGFydG5lcl9tYWlsY286"), (false, user())); // partner_mailco:
        check(Some("Basic !!!"), (false, Presented::Malformed));
        check(Some("Basic"), (false, Presented::Malformed));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"", b"x") && !constant_time_eq(b"x", b""));
        assert!(!constant_time_eq(b"ab", b"abab") && constant_time_eq(b"ab", b"ab"));
    }

    #[test]
    fn a_401_carries_the_basic_challenge_and_the_password_is_never_shown() {
        let response = unauthorized();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[WWW_AUTHENTICATE], "Basic realm=\"hl7\"");
        let shown = format!("{:?}", creds());
        assert!(shown.contains("partner_mailco") && !shown.contains("testing"), "{shown}");
    }
}
