//! The engine's HL7-over-HTTP input (`engine --listen-http ADDR`), beside or instead of its
//! MLLP input: one message per `POST` (any path: the engine has one input), answered with the
//! engine's ACK in the response body, so a through case can send its inputs over HTTP.
//!
//! HL7 over HTTP (the HAPI specification), as the reference endpoint and the receiver role
//! serve it through `transport::http_server`: every HL7 answer goes with status 200, AE and AR
//! included (2.6, "Application Error Conditions"); a request that carries no HL7 message to
//! answer gets a text error: another method 405 (with `Allow: POST`), another media type than
//! `application/hl7-v2` (or its older spellings) 415, a body over the engine's
//! `limits.max_frame_bytes` 413 (a larger declared length refused before a byte is read), a
//! body slower than [`HTTP_TIMEOUT`] 408, bytes that are not HL7 400. The request line and
//! headers must arrive within the same timeout (also the keep-alive idle limit).

use super::core::Engine;
use super::serve::{serve_mllp_input, spawn_forwarders};
use crate::transport::accept::accept_logging;
use crate::transport::http_server::{close, hl7, serve_http1, text, too_large, HttpResponse};
use crate::transport::media_type::parse_content_type;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long the request line and headers, then the body, may each take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the engine on its MLLP input, its HTTP input, or both, until `shutdown` resolves;
/// returns how many input connections were accepted on both. The forwarders stop with it, as
/// in [`run_engine`](super::serve::run_engine).
pub async fn run_engine_on(
    mllp: Option<TcpListener>,
    http: Option<TcpListener>,
    engine: Arc<Engine>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<u64> {
    let forwarders = spawn_forwarders(&engine);
    let (stop, stopped) = watch::channel(false);
    let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let mllp_side = async {
        match mllp {
            Some(listener) => {
                let engine = Arc::clone(&engine);
                serve_mllp_input(listener, engine, until_stopped(stopped.clone())).await
            }
            None => Ok(0),
        }
    };
    let http_side = async {
        match http {
            Some(listener) => {
                let engine = Arc::clone(&engine);
                serve_http_input(listener, engine, until_stopped(stopped.clone())).await
            }
            None => Ok(0),
        }
    };
    let stopper = async {
        shutdown.await;
        let _ = stop.send(true);
    };
    let ((), mllp_served, http_served) = tokio::join!(stopper, mllp_side, http_side);
    for forwarder in forwarders {
        forwarder.abort();
    }
    Ok(mllp_served? + http_served?)
}

/// The HTTP input side alone: accepts and answers until `shutdown` resolves.
pub async fn serve_http_input(
    listener: TcpListener,
    engine: Arc<Engine>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<u64> {
    let log = engine.log().clone();
    accept_logging(
        listener,
        shutdown,
        false,
        move |line| log.line(format_args!("engine: http: {line}")),
        move |stream, peer| {
            let engine = Arc::clone(&engine);
            async move {
                let handler = {
                    let engine = Arc::clone(&engine);
                    move |request: Request<Incoming>| {
                        let engine = Arc::clone(&engine);
                        async move { Ok::<_, Infallible>(respond(&engine, request).await) }
                    }
                };
                if let Err(err) = serve_http1(stream, HTTP_TIMEOUT, handler).await {
                    engine.log().line(format_args!("engine: http input {peer}: {err}"));
                }
            }
        },
    )
    .await
}

/// One request: refused by the HTTP rules above, or the engine's answer to its message.
async fn respond(engine: &Engine, request: Request<Incoming>) -> HttpResponse {
    if request.method() != Method::POST {
        let mut response =
            text(StatusCode::METHOD_NOT_ALLOWED, "HL7 over HTTP takes one message per POST\n");
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let limit = engine.routes().max_frame_bytes;
    let headers = request.headers();
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return close(too_large(limit));
    }
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if parse_content_type(content_type).is_none() {
        return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send application/hl7-v2; charset=...\n");
    }
    let body = Limited::new(request.into_body(), limit).collect();
    let payload = match tokio::time::timeout(HTTP_TIMEOUT, body).await {
        Err(_) => {
            return close(text(StatusCode::REQUEST_TIMEOUT, "the body did not arrive in time\n"))
        }
        Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => {
            return close(too_large(limit))
        }
        Ok(Err(_)) => return close(text(StatusCode::BAD_REQUEST, "the body could not be read\n")),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    match engine.accept(&payload) {
        (Some(ack), _) => hl7(StatusCode::OK, ack),
        (None, _) => text(StatusCode::BAD_REQUEST, "the body is not an HL7 message\n"),
    }
}

#[cfg(test)]
mod tests {
    //! The HTTP input over a real loopback socket, posted to by the wire client.

    use super::*;
    use crate::target::engine::routes::parse_routes;
    use crate::target::engine::EngineDefects;
    use crate::target::log::Log;
    use crate::transport::connection::Timeouts;
    use crate::transport::http_client::{post_message, HttpTarget};

    const ADMIT: &[u8] = b"MSH|^~\\&|S|SF|E|EF|20240101||ADT^A01|C1|P|2.5\rPID|1||P1\r";

    /// An engine with one destination nobody listens on, its HTTP input on a free port.
    async fn started(name: &str) -> (HttpTarget, tokio::sync::oneshot::Sender<()>) {
        let dir =
            std::env::temp_dir().join(format!("hl7-engine-http-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let routes = parse_routes(
            "destinations:\n  d: { url: mllp://127.0.0.1:1 }\nlimits: { max_frame_bytes: 256 }\n\
             routes:\n  - { name: adt, messages: [ADT], to: [d] }\n",
            "r.yaml",
        )
        .unwrap();
        let engine =
            Arc::new(Engine::open(routes, &dir, EngineDefects::default(), Log::kept()).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(run_engine_on(None, Some(listener), engine, async move {
            let _ = stopped.await;
        }));
        let target = HttpTarget { authority: addr, path: "/any".into(), basic: None };
        (target, stop)
    }

    async fn post(target: &HttpTarget, body: &[u8], charset: &str) -> (u16, String) {
        let timeouts = Timeouts::default();
        let reply = post_message(target, body, charset, timeouts).await.unwrap();
        (reply.status, String::from_utf8_lossy(&reply.body).into_owned())
    }

    #[tokio::test]
    async fn a_post_is_answered_with_the_engines_ack_and_refusals_are_text() {
        let (target, _stop) = started("answers").await;
        let (status, body) = post(&target, ADMIT, "UTF-8").await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("MSA|AA|C1"), "{body}");
        // A filtered message is AA too; a message that is not HL7 gets 400, no ACK.
        let filtered = b"MSH|^~\\&|S|SF|E|EF|20240101||ORU^R01|C2|P|2.5\r";
        assert!(post(&target, filtered, "UTF-8").await.1.contains("MSA|AA|C2"));
        let (status, body) = post(&target, b"hello", "UTF-8").await;
        assert_eq!((status, body.contains("MSA")), (400, false), "{body}");
        let (status, _) = post(&target, &[b'Z'; 300], "UTF-8").await;
        assert_eq!(status, 413, "over limits.max_frame_bytes");
    }

    /// Another method gets 405 with `Allow: POST`; another media type 415.
    #[tokio::test]
    async fn only_a_post_of_hl7_is_taken() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (target, _stop) = started("refusals").await;
        for (request, status) in [
            ("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "405"),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\
                 Connection: close\r\n\r\nhi",
                "415",
            ),
        ] {
            let mut client = tokio::net::TcpStream::connect(&target.authority).await.unwrap();
            client.write_all(request.as_bytes()).await.unwrap();
            let mut response = String::new();
            let read = client.read_to_string(&mut response);
            tokio::time::timeout(Duration::from_secs(5), read).await.unwrap().unwrap();
            assert!(response.starts_with(&format!("HTTP/1.1 {status}")), "{response}");
            if status == "405" {
                assert!(response.to_ascii_lowercase().contains("allow: post"), "{response}");
            }
        }
    }
}
