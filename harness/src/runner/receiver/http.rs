//! The receiver role over HTTP (`receiver.http`): the harness listens for HL7 over HTTP (the
//! HAPI "HL7 over HTTP" specification: one message per `POST`, the ACK in the response body)
//! and answers each arrival as the case's `answers:` say, as far as an HTTP exchange can carry
//! them (the rest are refused when the scenario is loaded, by `faults::Host::HttpAnswering`).
//!
//! Every HL7 answer goes with status 200, AE and AR included (spec 2.6 "Application Error
//! Conditions": an HL7 response payload is a successful interaction at the transport layer). A
//! request the harness refuses — missing or wrong Basic credentials (401 with
//! `WWW-Authenticate`), another path (404), another media type (415), a body over the limit
//! (413) or too slow (408), a body that is not HL7 (400) — is recorded as an arrival answered
//! so, never accepted: the sender checks then name the refusal in their evidence.
//!
//! Bounded like the MLLP listener: headers and body each within `header_timeout`, the body at
//! most `max_body_bytes` (a larger declared length is refused before a byte of it is read),
//! arrivals per case at most `MAX_ARRIVALS`, everything ended at the case deadline.

use super::{ack, CaseState};
use crate::faults::{AckToBuild, AfterAnswer, Answer, Verdict};
use crate::hl7::Message;
use crate::observation::Arrival;
use crate::scenario::{ConnectionBehaviour, HttpListening};
use crate::transport::http_server::{
    close, hl7, read_basic, serve_http1, text, too_large, unauthorized, HttpResponse, Presented,
};
use crate::transport::media_type::{parse_content_type, ContentTypeSpelling};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Serves one accepted connection until the peer ends it, an answer closes it, or the case
/// deadline passes.
pub(super) async fn serve_connection(
    state: Arc<CaseState>,
    stream: TcpStream,
    deadline: Instant,
    http: Arc<HttpListening>,
) {
    let connection = state.take_connection_number();
    let behaviour =
        state.behaviours.get(connection - 1).cloned().unwrap_or(ConnectionBehaviour::Normal);
    if behaviour == ConnectionBehaviour::NeverRead {
        // Held open, unread, until the case ends.
        tokio::time::sleep_until(deadline).await;
        return;
    }
    // An answer that closes the connection without a response wakes this; dropping the hyper
    // connection then closes the socket with the request unanswered.
    let closer = Arc::new(Notify::new());
    let timeout = http.header_timeout;
    let handler = {
        let closer = Arc::clone(&closer);
        move |request: Request<Incoming>| {
            let (state, http, closer) =
                (Arc::clone(&state), Arc::clone(&http), Arc::clone(&closer));
            async move {
                let exchange = Exchange { state: &state, http: &http, connection, deadline };
                Ok::<_, Infallible>(exchange.respond(request, &closer).await)
            }
        }
    };
    tokio::select! {
        _ = serve_http1(stream, timeout, handler) => {}
        _ = closer.notified() => {}
        _ = tokio::time::sleep_until(deadline) => {}
    }
}

/// One request of one connection.
struct Exchange<'a> {
    state: &'a Arc<CaseState>,
    http: &'a HttpListening,
    connection: usize,
    deadline: Instant,
}

impl Exchange<'_> {
    /// An arrival the harness refused at the HTTP level: recorded with its status and why,
    /// never accepted or rejected.
    fn refuse(&self, payload: Vec<u8>, notes: Vec<(String, u64)>, answer: String) {
        let number = self.state.take_arrival_number();
        let received = self.state.started.elapsed();
        let arrival = Arrival {
            connection: self.connection,
            payload,
            notes,
            received,
            answer,
            answered: Some(received),
            accepted: false,
            rejected: false,
        };
        self.state.record(number, arrival);
    }

    async fn respond(&self, request: Request<Incoming>, closer: &Notify) -> HttpResponse {
        if request.method() != Method::POST {
            let mut response =
                text(StatusCode::METHOD_NOT_ALLOWED, "HL7 over HTTP takes one message per POST\n");
            response.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let limit = self.http.max_body_bytes;
        let headers = request.headers();
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            let why = format!(
                "413 Payload Too Large: a body of {} bytes, over the limit of {limit} (not read)",
                declared.unwrap_or(0)
            );
            self.refuse(Vec::new(), Vec::new(), why);
            return close(too_large(limit));
        }
        let authorization = headers.get(AUTHORIZATION).cloned();
        let content_type = headers.get(CONTENT_TYPE).cloned();
        let path = request.uri().path().to_string();
        let body = Limited::new(request.into_body(), limit).collect();
        let payload = match tokio::time::timeout(self.http.header_timeout, body).await {
            Err(_) => {
                let after = self.http.header_timeout.as_millis();
                let why = format!("408 Request Timeout: the body did not arrive within {after} ms");
                self.refuse(Vec::new(), Vec::new(), why);
                return close(text(
                    StatusCode::REQUEST_TIMEOUT,
                    "the body did not arrive in time\n",
                ));
            }
            Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => {
                let why = format!("413 Payload Too Large: a body over the limit of {limit} bytes");
                self.refuse(Vec::new(), Vec::new(), why);
                return close(too_large(limit));
            }
            Ok(Err(err)) => {
                let why = format!("400 Bad Request: the body could not be read: {err}");
                self.refuse(Vec::new(), Vec::new(), why);
                return close(text(StatusCode::BAD_REQUEST, "the body could not be read\n"));
            }
            Ok(Ok(collected)) => collected.to_bytes().to_vec(),
        };
        if let Some(expected) = &self.http.basic {
            let (good, presented) = read_basic(authorization.as_ref(), expected);
            if !good {
                // The user name the sender tried may be shown; the password never is.
                let what = match presented {
                    Presented::Nothing => "no HTTP Basic credentials presented".to_string(),
                    Presented::Malformed => "malformed HTTP Basic credentials".to_string(),
                    Presented::User(user) if user == expected.user => {
                        format!("wrong HTTP Basic password for user {user:?}")
                    }
                    Presented::User(user) => {
                        format!("HTTP Basic credentials of another user ({:?})", cut(&user))
                    }
                };
                self.refuse(payload, Vec::new(), format!("401 Unauthorized: {what}"));
                return unauthorized();
            }
        }
        if path != self.http.path {
            let why = format!(
                "404 Not Found: posted to {:?}; the receiver listens on {:?}",
                cut(&path),
                self.http.path
            );
            self.refuse(payload, Vec::new(), why);
            return text(StatusCode::NOT_FOUND, &format!("nothing at {}\n", cut(&path)));
        }
        let shown_type = content_type.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("(none)");
        let Some(parsed) = parse_content_type(shown_type) else {
            let why = format!(
                "415 Unsupported Media Type: Content-Type {:?}, not application/hl7-v2",
                cut(shown_type)
            );
            self.refuse(payload, Vec::new(), why);
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send application/hl7-v2; charset=...\n",
            );
        };
        // Tolerated, but kept as notes the report shows beside the arrival.
        let mut notes = Vec::new();
        if parsed.spelling != ContentTypeSpelling::Hl7V2 {
            notes.push((format!("http-older-content-type {}", parsed.spelling.media_type()), 0));
        }
        if parsed.charset.is_none() {
            notes.push(("http-content-type-without-charset".to_string(), 0));
        }
        self.answer(payload, notes, closer).await
    }

    /// Answers an accepted request as the case's answers say; records it.
    async fn answer(
        &self,
        payload: Vec<u8>,
        notes: Vec<(String, u64)>,
        closer: &Notify,
    ) -> HttpResponse {
        let state = self.state;
        let number = state.take_arrival_number();
        let received = state.started.elapsed();
        let mut arrival = Arrival::unanswered(self.connection, payload.clone(), notes, received);
        if Message::parse(&payload).ok().and_then(|m| m.control_id().map(str::len)).is_none() {
            arrival.answer = "400 Bad Request: not HL7, no ACK".into();
            arrival.answered = Some(received);
            state.record(number, arrival);
            return text(StatusCode::BAD_REQUEST, "the body is not an HL7 message\n");
        }
        let plan = state.answers.answer(number);
        let mut action = plan.action();
        let mut error = None;
        if matches!(plan, Answer::AsSpecified) {
            (action.ack.code, error, action.label) = state.as_specified(&payload);
        }
        let AckToBuild { code, wrong_msa2 } = action.ack;
        let bytes = ack(&payload, code, wrong_msa2, number + 1, error);
        // An AA for another control id is neither delivery nor rejection.
        let counts = |arrival: &mut Arrival| {
            if wrong_msa2 {
            } else if code.is_accept() {
                arrival.accepted = true;
            } else {
                arrival.rejected = true;
            }
        };
        let closes = matches!(action.then, AfterAnswer::Close | AfterAnswer::Reset);
        arrival.answer = action.label;
        match (action.verdict, bytes) {
            (Verdict::Drop, _) | (_, None) if closes => {
                arrival.answer = "closed, no response".into();
                state.record(number, arrival);
                closer.notify_one();
                std::future::pending::<()>().await;
                text(StatusCode::SERVICE_UNAVAILABLE, "closed\n")
            }
            (Verdict::Drop, _) | (_, None) => {
                arrival.answer =
                    "no ACK: the request held unanswered until the sender gave up".into();
                state.record(number, arrival);
                tokio::time::sleep_until(self.deadline).await;
                text(StatusCode::SERVICE_UNAVAILABLE, "the case is over\n")
            }
            (Verdict::Delay(delay), Some(bytes)) => {
                arrival.answered = Some(received + delay);
                state.record(number, arrival);
                state.hold(delay);
                tokio::time::sleep(delay).await;
                // Reached only if the sender still waits: a sender that gave up dropped the
                // connection, and this future with it.
                if code.is_accept() && !wrong_msa2 {
                    state.mark_accepted(number, true);
                }
                hl7(StatusCode::OK, bytes)
            }
            // Duplicate and corrupt verdicts are refused at load over HTTP; one ACK is all a
            // response can carry.
            (Verdict::Forward | Verdict::Duplicate | Verdict::Corrupt(_), Some(bytes)) => {
                counts(&mut arrival);
                arrival.answered = Some(received);
                state.record(number, arrival);
                hl7(StatusCode::OK, bytes)
            }
        }
    }
}

/// At most 64 characters of something the sender chose (a path, a user name, a media type),
/// for the evidence.
fn cut(text: &str) -> String {
    const SHOWN: usize = 64;
    let mut shown: String = text.chars().take(SHOWN).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    //! The HTTP listener over a real loopback socket: what a sender sees (status, headers,
    //! ACK) and what the harness records, for each way a request is answered or refused.

    use super::*;
    use crate::faults::{AnswerRules, NakCode};
    use crate::transport::http_server::BasicCredentials;
    use std::sync::Mutex;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const A04: &str = "MSH|^~\\&|S|SF|R|RF|20240101||ADT^A04^ADT_A01|C1|P|2.5\rPID|1||X\r";
    /// `partner_mailco:testing`, the example of seed 004.
    const GOOD: &str = "Basic cGFydG5lcl9tYWlsY286dGVzdGluZw==";

    fn state(answers: &[Answer]) -> Arc<CaseState> {
        Arc::new(CaseState {
            started: Instant::now(),
            arrivals: Mutex::new(Vec::new()),
            next_arrival: Mutex::new(0),
            next_connection: Mutex::new(0),
            answers: AnswerRules::from_list(answers),
            behaviours: Vec::new(),
            lab: None,
            port: 0,
            cuts: Mutex::new(Vec::new()),
            judge: None,
            held: Mutex::new(Vec::new()),
        })
    }

    fn listening(max_body_bytes: usize) -> HttpListening {
        HttpListening {
            path: "/hl7".into(),
            basic: Some(BasicCredentials {
                user: "partner_mailco".into(),
                password: "testing".into(),
            }),
            max_body_bytes,
            header_timeout: Duration::from_secs(2),
        }
    }

    /// Posts `body` to `path` with `authorization` on a fresh connection served by the
    /// listener; returns the raw response (empty when the connection closed without one).
    async fn post(
        state: &Arc<CaseState>,
        http: HttpListening,
        (path, authorization, body): (&str, Option<&str>, &[u8]),
    ) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        let served = {
            let state = Arc::clone(state);
            tokio::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                serve_connection(state, stream, deadline, Arc::new(http)).await;
            })
        };
        let mut client = TcpStream::connect(address).await.unwrap();
        let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/hl7-v2; \
             charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        client.write_all(head.as_bytes()).await.unwrap();
        // A body over the limit may be refused before it is read: the write may then fail.
        let _ = client.write_all(body).await;
        let mut response = Vec::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut response)).await;
        drop(client);
        let _ = served.await;
        String::from_utf8_lossy(&response).into_owned()
    }

    fn arrivals(state: &CaseState) -> Vec<Arrival> {
        state.arrivals.lock().unwrap().iter().map(|(_, a)| a.clone()).collect()
    }

    #[tokio::test]
    async fn an_accepted_post_gets_its_ack_with_200_and_is_recorded_delivered() {
        let state = state(&[]);
        let got = post(&state, listening(4096), ("/hl7", Some(GOOD), A04.as_bytes())).await;
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
        assert!(got.contains("content-type: application/hl7-v2; charset=UTF-8"), "{got}");
        assert!(got.contains("MSA|AA|C1"), "{got}");
        let arrival = &arrivals(&state)[0];
        assert!(arrival.accepted && !arrival.rejected, "{arrival:?}");
        assert_eq!(arrival.answer, "AA");
    }

    #[tokio::test]
    async fn ar_and_ae_go_with_status_200_and_count_as_rejections() {
        for (code, text) in [(NakCode::AR, "MSA|AR|C1"), (NakCode::AE, "MSA|AE|C1")] {
            let state = state(&[Answer::Nak(code)]);
            let got = post(&state, listening(4096), ("/hl7", Some(GOOD), A04.as_bytes())).await;
            assert!(got.starts_with("HTTP/1.1 200"), "HL7 over HTTP 2.6: {got}");
            assert!(got.contains(text), "{got}");
            let arrival = &arrivals(&state)[0];
            assert!(arrival.rejected && !arrival.accepted, "{arrival:?}");
        }
    }

    #[tokio::test]
    async fn missing_or_wrong_credentials_get_401_with_the_challenge_and_are_recorded() {
        let wrong = "Basic cGFydG5lcl9tYWlsY286d3Jvbmc="; // partner_mailco:wrong
        let cases = [
            (None, "401 Unauthorized: no HTTP Basic credentials presented"),
            (
                Some(wrong),
                "401 Unauthorized: wrong HTTP Basic password for user \"partner_mailco\"",
            ),
        ];
        for (authorization, answer) in cases {
            let state = state(&[]);
            let got = post(&state, listening(4096), ("/hl7", authorization, A04.as_bytes())).await;
            assert!(got.starts_with("HTTP/1.1 401"), "{got}");
            assert!(got.contains("www-authenticate: Basic realm=\"hl7\""), "{got}");
            assert!(!got.contains("MSA|"), "no ACK with a 401: {got}");
            let arrival = &arrivals(&state)[0];
            assert_eq!(arrival.answer, answer);
            assert!(!arrival.accepted && !arrival.rejected);
            assert_eq!(arrival.payload, A04.as_bytes(), "the evidence names the message");
            assert!(!arrival.answer.contains("wrong\""), "the password is never shown");
        }
    }

    #[tokio::test]
    async fn a_body_over_the_limit_gets_413_unread() {
        let state = state(&[]);
        let big = format!("{A04}{}", "Z".repeat(200));
        let got = post(&state, listening(100), ("/hl7", Some(GOOD), big.as_bytes())).await;
        assert!(got.starts_with("HTTP/1.1 413"), "{got}");
        let arrival = &arrivals(&state)[0];
        assert!(arrival.answer.starts_with("413 Payload Too Large"), "{}", arrival.answer);
        assert!(arrival.payload.is_empty() && !arrival.accepted);
    }

    #[tokio::test]
    async fn another_path_gets_404_and_close_answers_nothing() {
        let state_404 = state(&[]);
        let got = post(&state_404, listening(4096), ("/other", Some(GOOD), A04.as_bytes())).await;
        assert!(got.starts_with("HTTP/1.1 404"), "{got}");
        assert!(arrivals(&state_404)[0].answer.starts_with("404 Not Found"));
        let closed = state(&[Answer::Close]);
        let got = post(&closed, listening(4096), ("/hl7", Some(GOOD), A04.as_bytes())).await;
        assert_eq!(got, "", "closed without a response");
        assert_eq!(arrivals(&closed)[0].answer, "closed, no response");
    }

    #[tokio::test]
    async fn a_late_ack_comes_after_its_delay_and_counts_once_written() {
        let state = state(&[Answer::LateAck(crate::vocab::Span(Duration::from_millis(200)))]);
        let started = std::time::Instant::now();
        let got = post(&state, listening(4096), ("/hl7", Some(GOOD), A04.as_bytes())).await;
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(got.contains("MSA|AA|C1"), "{got}");
        assert!(arrivals(&state)[0].accepted);
    }
}
