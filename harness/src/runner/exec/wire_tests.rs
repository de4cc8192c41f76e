//! How the client side reads what a receiver sends, against small hand-written receivers on
//! loopback that misbehave in one way each: MLLP release 2 commit blocks (a NAK is a failed
//! attempt and the message goes again; an ACK is a note, not the HL7 acknowledgment), bytes
//! after an ACK judged with the exchange they followed, and the resend on a clean connection
//! after a fault of the harness's own or a close by the receiver between two messages.

use super::*;
use crate::checks::{evaluate, CheckResult};
use crate::scenario::load_text;
use crate::transport::connection::Timeouts;
use crate::vocab::Seed;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The scenario the cases below run: two messages, or one, on one connection.
const SCENARIO: &str = "
name: wire
messages:
  m: { text: \"MSH|^~\\\\&|S|SF|R|RF|20240101||ADT^A04^ADT_A01|X|P|2.5\\rPID|1||P1\" }
cases:
  - name: one
    send: m
    expect: { ack: AA }
  - name: two
    steps:
      - { send: m, expect: { ack: AA } }
      - { send: m, expect: { ack: AA } }
  - name: half
    send: m
    network: [ half_close ]
    expect: { ack: AA }
  - name: slowly
    send: m
    network: [ { fragment: { size: 1, delay: 50ms } } ]
    expect: { ack: AA }
";

/// What the receiver does with each frame it reads: `(connection, frame number on it, frame)`
/// to the bytes it writes back, or `None` to close the connection without a word.
type Script = fn(usize, usize, &[u8]) -> Option<Vec<u8>>;

/// An application ACK of `frame`'s MSH-10, framed.
fn ack(frame: &[u8]) -> Vec<u8> {
    let id = Message::parse(frame).ok().and_then(|m| m.control_id().map(str::to_string));
    let text = format!(
        "MSH|^~\\&|R|RF|S|SF|20240101||ACK^A04^ACK|A{0}|P|2.5\rMSA|AA|{0}\r",
        id.unwrap_or_default()
    );
    [&[0x0b][..], text.as_bytes(), &[0x1c, 0x0d]].concat()
}

const COMMIT_ACK: &[u8] = &[0x0b, 0x06, 0x1c, 0x0d];
const COMMIT_NAK: &[u8] = &[0x0b, 0x15, 0x1c, 0x0d];

/// Serves `script` on a loopback port until the test ends; returns the address.
async fn receiver(script: Script) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        for connection in 1.. {
            let Ok((stream, _)) = listener.accept().await else { return };
            tokio::spawn(serve(stream, connection, script));
        }
    });
    addr
}

async fn serve(mut stream: TcpStream, connection: usize, script: Script) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut number = 0;
    loop {
        // Every complete frame read so far, in order.
        while let Some(end) = buffer.windows(2).position(|w| w == [0x1c, 0x0d]) {
            let frame: Vec<u8> = buffer.drain(..end + 2).collect();
            let start = frame.iter().position(|&b| b == 0x0b).map_or(0, |i| i + 1);
            number += 1;
            match script(connection, number, &frame[start..end]) {
                Some(reply) => {
                    if stream.write_all(&reply).await.is_err() {
                        return;
                    }
                }
                None => return,
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Runs the scenario's case `name` against `addr`; returns what was observed and the checks.
async fn run_named(addr: &str, name: &str) -> (CaseObservation, Vec<CheckResult>) {
    run_with(addr, name, Duration::from_secs(10)).await
}

async fn run_with(
    addr: &str,
    name: &str,
    ack_timeout: Duration,
) -> (CaseObservation, Vec<CheckResult>) {
    let scenario = load_text(
        std::path::Path::new("wire.yaml"),
        SCENARIO,
        &[],
        crate::scenario::FileAccess::PackOnly,
    )
    .unwrap();
    let run =
        crate::runner::expand(&scenario, Seed(5), 0).into_iter().find(|r| r.name == name).unwrap();
    let ctx = Context {
        url: TargetUrl::Mllp(addr.to_string()),
        state: None,
        effects: crate::runner::probe::Effects::default(),
        timeouts: Timeouts { read: ack_timeout, ..Timeouts::default() },
        ack_timeout,
        linger: Duration::from_millis(100),
        basic: None,
        tls: None,
        hllp: crate::transport::hllp::HllpOptions::default(),
        templates: scenario.file.templates.clone(),
        lab: None,
    };
    let (observation, plan, _) = run_case(&run, &ctx).await;
    let results = evaluate(&plan, &observation);
    (observation, results)
}

fn errors(results: &[CheckResult]) -> Vec<String> {
    results.iter().filter(|r| r.is_error()).map(|r| format!("{} {}", r.id, r.evidence)).collect()
}

fn attempts(exchange: &Exchange) -> Vec<(Outcome, Option<&str>, Option<Commit>)> {
    exchange.attempts.iter().map(|a| (a.outcome, a.event.as_deref(), a.commit)).collect()
}

#[tokio::test]
async fn a_commit_nak_is_a_failed_attempt_and_the_message_goes_again() {
    // MLLP release 2: NAK the first delivery; commit the second and answer it.
    let addr = receiver(|_, number, frame| {
        Some(if number == 1 { COMMIT_NAK.to_vec() } else { [COMMIT_ACK, &ack(frame)].concat() })
    })
    .await;
    let (observation, results) = run_named(&addr, "one").await;
    let exchange = &observation.exchanges[0];
    assert_eq!(
        attempts(exchange),
        [
            (Outcome::Indeterminate, Some("commit-nak"), Some(Commit::Nak)),
            (Outcome::Ok, None, Some(Commit::Ack)),
        ]
    );
    assert_eq!(exchange.replies.len(), 1, "the commit blocks are not acknowledgments");
    assert_eq!(errors(&results), Vec::<String>::new());
}

#[tokio::test]
async fn a_receiver_that_only_ever_naks_is_given_up_after_bounded_resends() {
    let addr = receiver(|_, _, _| Some(COMMIT_NAK.to_vec())).await;
    let (observation, results) = run_named(&addr, "one").await;
    let exchange = &observation.exchanges[0];
    assert_eq!(exchange.attempts.len(), 1 + COMMIT_NAK_RESENDS);
    assert!(exchange.attempts.iter().all(|a| a.event.as_deref() == Some("commit-nak")));
    let failed = errors(&results);
    assert!(failed.iter().any(|e| e.starts_with("history.nothing-lost")), "{failed:?}");
}

#[tokio::test]
async fn garbage_after_an_ack_is_judged_with_the_exchange_it_followed() {
    let addr = receiver(|_, number, frame| {
        let junk: &[u8] = if number == 1 { b"JUNK\r\n" } else { b"" };
        Some([&ack(frame), junk].concat())
    })
    .await;
    let (observation, results) = run_named(&addr, "two").await;
    let notes = |step: usize| -> Vec<String> {
        let exchange = observation.exchanges.iter().find(|e| e.step == step).unwrap();
        exchange.replies.iter().flat_map(|r| r.notes.iter().map(|(code, _)| code.clone())).collect()
    };
    assert_eq!(notes(1), ["mllp-bytes-outside-frame"]);
    assert_eq!(notes(2), Vec::<String>::new(), "not blamed on the next step");
    let framing: Vec<Option<usize>> =
        results.iter().filter(|r| r.id == "ack.framing" && !r.passed).map(|r| r.step).collect();
    assert_eq!(framing, [Some(1)]);
}

#[tokio::test]
async fn garbage_after_the_last_ack_of_a_case_is_noted_too() {
    let addr = receiver(|_, _, frame| Some([&ack(frame), &b"JUNK"[..]].concat())).await;
    let (observation, _) = run_named(&addr, "one").await;
    let codes: Vec<&str> =
        observation.exchanges[0].replies[0].notes.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, ["mllp-bytes-outside-frame"]);
}

#[tokio::test]
async fn an_extra_frame_after_an_ack_is_an_extra_answer_of_that_step() {
    let addr = receiver(|_, number, frame| {
        let extra: &[u8] = if number == 1 { b"\x0bJUNK\x1c\r" } else { b"" };
        Some([&ack(frame), extra].concat())
    })
    .await;
    let (observation, _) = run_named(&addr, "two").await;
    let replies: Vec<(usize, usize)> =
        observation.exchanges.iter().map(|e| (e.step, e.replies.len())).collect();
    assert_eq!(replies, [(1, 2), (2, 1)]);
    assert!(observation.stray.is_empty());
}

#[tokio::test]
async fn a_message_whose_half_close_the_receiver_answers_with_a_close_is_resent() {
    // First connection: read the message, then close on the end of stream without answering.
    // Later connections: answer.
    let addr = receiver(|connection, _, frame| (connection > 1).then(|| ack(frame))).await;
    let (observation, results) = run_named(&addr, "half").await;
    let exchange = &observation.exchanges[0];
    let outcomes: Vec<Outcome> = exchange.attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, [Outcome::Indeterminate, Outcome::Ok], "{:?}", exchange.attempts);
    assert_eq!(errors(&results), Vec::<String>::new());
}

#[tokio::test]
async fn a_close_between_two_messages_is_followed_by_a_resend_on_a_new_connection() {
    // The receiver closes after its first ACK, but only once the next message is on its way
    // (as when the harness writes before it can see the close): that message goes again.
    let addr =
        receiver(|connection, number, frame| (connection > 1 || number == 1).then(|| ack(frame)))
            .await;
    let (observation, results) = run_named(&addr, "two").await;
    let second = observation.exchanges.iter().find(|e| e.step == 2).unwrap();
    let outcomes: Vec<Outcome> = second.attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, [Outcome::Indeterminate, Outcome::Ok], "{:?}", second.attempts);
    assert_eq!(errors(&results), Vec::<String>::new());
}

#[tokio::test]
async fn the_ack_timer_starts_when_the_frame_is_out_not_when_writing_starts() {
    // One byte every 50 ms: the harness takes over 3 s to write the frame (longer on a busy
    // machine); the receiver answers at once. Timed from the first byte, the ACK would be late.
    let addr = receiver(|_, _, frame| Some(ack(frame))).await;
    let (observation, results) = run_with(&addr, "slowly", Duration::from_secs(2)).await;
    let exchange = &observation.exchanges[0];
    assert_eq!(exchange.replies.len(), 1);
    assert_eq!(errors(&results), Vec::<String>::new());
}

/// A context for the canary alone, against `addr`.
fn canary_context(addr: &str) -> Context {
    let ack_timeout = Duration::from_secs(10);
    Context {
        url: TargetUrl::Mllp(addr.to_string()),
        state: None,
        effects: crate::runner::probe::Effects::default(),
        timeouts: Timeouts { read: ack_timeout, ..Timeouts::default() },
        ack_timeout,
        linger: Duration::from_millis(100),
        basic: None,
        tls: None,
        hllp: crate::transport::hllp::HllpOptions::default(),
        templates: Default::default(),
        lab: None,
    }
}

const CANARY: &[u8] = b"MSH|^~\\&|S|SF|R|RF|20240101||ADT^A04^ADT_A01|C99|P|2.5\rPID|1||P1";

/// A receiver may close a connection (an idle one, or one it will not serve): the canary
/// reconnects, as a sender does, and is answered on the next connection.
#[tokio::test]
async fn a_canary_whose_connection_is_closed_goes_again_on_a_new_one() {
    let addr = receiver(|connection, _, frame| (connection > 1).then(|| ack(frame))).await;
    let ctx = canary_context(&addr);
    let when = crate::observation::CanaryWhen::After;
    let canary = crate::runner::liveness::send_canary(&addr, &ctx, CANARY, when).await;
    assert!(canary.event.is_none(), "{:?}", canary.event);
    let reply = canary.reply.expect("answered on the second connection");
    assert!(String::from_utf8_lossy(&reply.payload).contains("MSA|AA|C99"));
}

/// A receiver that closes every connection has stopped serving: the canary gives up after a
/// bounded number of connections, and the evidence names each close.
#[tokio::test]
async fn a_canary_closed_on_every_connection_fails_after_bounded_tries() {
    let addr = receiver(|_, _, _| None).await;
    let ctx = canary_context(&addr);
    let when = crate::observation::CanaryWhen::After;
    let canary = crate::runner::liveness::send_canary(&addr, &ctx, CANARY, when).await;
    assert!(canary.reply.is_none());
    let event = canary.event.expect("the last close");
    assert_eq!(event.code, crate::vocab::ConnectionEvent::PeerClosed);
    assert!(event.detail.contains("connection 3"), "{}", event.detail);
}
