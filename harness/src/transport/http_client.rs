//! HL7 over HTTP, the client side (the HAPI HL7-over-HTTP specification): one `POST` per
//! message with `Content-Type: application/hl7-v2; charset=…` (the charset of MSH-18),
//! `Content-Length` in bytes, optional HTTP Basic auth, and the ACK read from the response body.
//! The status code is kept as an observation (401, 403, 415, 500 are findings, not errors).
//! Every wait on the server has a timeout. `https://` runs the same exchange over rustls, the
//! server verified against a CA file like `mllps://`.

use super::connection::{Timeouts, TransportError};
use super::dial::{connect_tcp, tls_handshake, Route};
use super::media_type::{parse_content_type, ContentType};
use crate::hl7::ack::ReceivedAck;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

/// Largest response body read: an ACK is small; anything larger is not an ACK.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Where and how to post.
#[derive(Clone)]
pub struct HttpTarget {
    /// `host:port`.
    pub authority: String,
    /// The request path, `/` at least.
    pub path: String,
    /// User and password for Basic auth. The password never appears in Debug output.
    pub basic: Option<(String, String)>,
}

impl std::fmt::Debug for HttpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTarget")
            .field("authority", &self.authority)
            .field("path", &self.path)
            .field("user", &self.basic.as_ref().map(|(user, _)| user))
            .finish()
    }
}

impl HttpTarget {
    /// Reads `http://host:port/path`.
    pub fn parse(url: &str) -> Option<HttpTarget> {
        HttpTarget::parse_after(url.strip_prefix("http://")?)
    }

    /// Reads `https://host:port/path` (post with [`post_message_tls`]).
    pub fn parse_https(url: &str) -> Option<HttpTarget> {
        HttpTarget::parse_after(url.strip_prefix("https://")?)
    }

    fn parse_after(rest: &str) -> Option<HttpTarget> {
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        (!authority.is_empty()).then(|| HttpTarget {
            authority: authority.to_string(),
            path: path.to_string(),
            basic: None,
        })
    }
}

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Posts one message over plain HTTP and reads the whole reply, each step within its timeout.
pub async fn post_message(
    target: &HttpTarget,
    message: &[u8],
    charset: &str,
    timeouts: Timeouts,
) -> Result<HttpReply, TransportError> {
    post_message_tls(target, None, message, charset, timeouts).await
}

/// Like [`post_message`]; with a connector, over TLS (`https://`): the handshake happens within
/// the connect timeout, and a server the connector does not trust is a
/// [`TransportError::Tls`] carrying rustls's reason.
pub async fn post_message_tls(
    target: &HttpTarget,
    tls: Option<&TlsConnector>,
    message: &[u8],
    charset: &str,
    timeouts: Timeouts,
) -> Result<HttpReply, TransportError> {
    let addr = target.authority.clone();
    let stream = connect_tcp(&addr, &Route::Direct, timeouts.connect).await?;
    let peer = stream
        .peer_addr()
        .map_err(|source| TransportError::Connect { addr: addr.clone(), source })?;
    let Some(connector) = tls else {
        return exchange(stream, peer, target, message, charset, timeouts).await;
    };
    let name = super::tls::server_name(&addr)
        .map_err(|source| TransportError::TlsConfig { addr: addr.clone(), source })?;
    let stream = tls_handshake(stream, &addr, name, connector, timeouts.connect).await?;
    exchange(stream, peer, target, message, charset, timeouts).await
}

/// One request and its reply on an open connection.
async fn exchange<S>(
    stream: S,
    peer: std::net::SocketAddr,
    target: &HttpTarget,
    message: &[u8],
    charset: &str,
    timeouts: Timeouts,
) -> Result<HttpReply, TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let addr = target.authority.clone();
    let io_error = |e: hyper::Error| TransportError::Io { peer, source: std::io::Error::other(e) };
    let handshake = hyper::client::conn::http1::handshake(TokioIo::new(stream));
    let (mut sender, connection) = match timeout(timeouts.connect, handshake).await {
        Err(_) => return Err(TransportError::ConnectTimeout { addr, after: timeouts.connect }),
        Ok(result) => result.map_err(io_error)?,
    };
    tokio::spawn(connection);

    let mut request = Request::post(target.path.as_str())
        .header(HOST, target.authority.as_str())
        .header(CONTENT_TYPE, format!("application/hl7-v2; charset={charset}"))
        .header(CONTENT_LENGTH, message.len());
    if let Some((user, password)) = &target.basic {
        request = request.header(AUTHORIZATION, format!("Basic {}", basic_token(user, password)));
    }
    let request = request
        .body(Full::new(Bytes::copy_from_slice(message)))
        .map_err(|e| TransportError::Io { peer, source: std::io::Error::other(e) })?;
    let wait = timeouts.read;
    let response = match timeout(wait, sender.send_request(request)).await {
        Err(_) => return Err(TransportError::ReadTimeout { peer, after: wait, buffered: 0 }),
        Ok(result) => result.map_err(io_error)?,
    };
    let status = response.status().as_u16();
    let content_type =
        response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES);
    let body = match timeout(wait, body.collect()).await {
        Err(_) => return Err(TransportError::ReadTimeout { peer, after: wait, buffered: 0 }),
        Ok(Err(e)) => return Err(TransportError::Io { peer, source: std::io::Error::other(e) }),
        Ok(Ok(collected)) => collected.to_bytes().to_vec(),
    };
    Ok(HttpReply { status, content_type, body })
}

/// What a reply carries, read without trusting it: the HL7 media type of its Content-Type and
/// the acknowledgment in its body. Pure (the `http_ack` fuzz target feeds it arbitrary replies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReply {
    /// `None` when the Content-Type is absent or not an HL7 v2 media type.
    pub content_type: Option<ContentType>,
    /// `None` when the body is not an HL7 message (e.g. the text of a 401).
    pub ack: Option<ReceivedAck>,
}

pub fn parse_reply(reply: &HttpReply) -> ParsedReply {
    ParsedReply {
        content_type: reply.content_type.as_deref().and_then(parse_content_type),
        ack: ReceivedAck::parse(&reply.body),
    }
}

/// `user:password` in base64 (RFC 7617).
pub(crate) fn basic_token(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = HttpTarget::parse("http://127.0.0.1:8080/hl7/in").unwrap();
        assert_eq!((t.authority.as_str(), t.path.as_str()), ("127.0.0.1:8080", "/hl7/in"));
        assert_eq!(HttpTarget::parse("http://h:1").unwrap().path, "/");
        assert!(HttpTarget::parse("https://h:1").is_none());
        let t = HttpTarget::parse_https("https://h:1/in").unwrap();
        assert_eq!((t.authority.as_str(), t.path.as_str()), ("h:1", "/in"));
        assert!(HttpTarget::parse_https("http://h:1").is_none());
        assert!(HttpTarget::parse("http:///x").is_none());
        assert_eq!(basic_token("user", "pa:ss"), "dXNlcjpwYTpzcw==");
        let shown = format!("{:?}", HttpTarget { basic: Some(("u".into(), "secret".into())), ..t });
        assert!(!shown.contains("secret"), "{shown}");
    }

    fn check_reply(content_type: Option<&str>, body: &str, expected: (Option<&str>, Option<&str>)) {
        let reply = HttpReply {
            status: 200,
            content_type: content_type.map(str::to_string),
            body: body.as_bytes().to_vec(),
        };
        let parsed = parse_reply(&reply);
        let charset = parsed.content_type.and_then(|c| c.charset);
        let msa2 = parsed.ack.map(|a| a.msa2);
        assert_eq!((charset.as_deref(), msa2.as_deref()), expected, "{content_type:?} {body:?}");
    }

    #[test]
    fn replies() {
        let ack = "MSH|^~\\&|A|B|C|D|20240101||ACK^A01^ACK|X1|P|2.5\rMSA|AA|M1\r";
        check_reply(Some("application/hl7-v2; charset=UTF-8"), ack, (Some("UTF-8"), Some("M1")));
        check_reply(Some("text/plain"), "missing or wrong credentials", (None, None));
        check_reply(None, ack, (None, Some("M1")));
        check_reply(Some("application/hl7-v2"), "", (None, None));
    }
}
