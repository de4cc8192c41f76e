//! The client fault runner's waits, exactly, in paused time: the connection a case gives up
//! (`close_before_ack`, and an unterminated frame after its silence) and the idle wait. These
//! waits live on a lane's MLLP connection and its reconnects, so the peer here is a loopback
//! listener in the same single-threaded runtime: loopback delivers a write to the peer's
//! socket before the write returns, so the peer has read it before the clock can move on. The
//! peer logs, per connection, when it was accepted, what it read, and its end of stream.

use super::super::lane::Lane;
use super::*;
use crate::faults::UNTERMINATED_SILENCE;
use crate::faults::{plan, WireEnd, WirePlan};
use crate::scenario::Span;
use crate::transport::connection::Timeouts;
use crate::vocab::Seed;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::time::Instant;

type Log = Arc<Mutex<Vec<(usize, u128, String)>>>;

/// Accepts connections on `listener`; each one is read to its end, then held `close_after`
/// (for ever when `None`) before it is closed.
fn peer(listener: TcpListener, close_after: Option<Duration>, start: Instant) -> Log {
    let log: Log = Arc::default();
    let writer = Arc::clone(&log);
    tokio::spawn(async move {
        for number in 1.. {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let log = Arc::clone(&writer);
            let at = move || start.elapsed().as_millis();
            log.lock().unwrap().push((number, at(), "accepted".into()));
            tokio::spawn(async move {
                let mut chunk = [0u8; 4096];
                loop {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => log.lock().unwrap().push((number, at(), format!("{n} bytes"))),
                    }
                }
                log.lock().unwrap().push((number, at(), "end of stream".into()));
                match close_after {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
                drop(stream);
            });
        }
    });
    log
}

fn context(addr: &str) -> Context {
    let ack_timeout = Duration::from_millis(300);
    Context {
        url: TargetUrl::Mllp(addr.to_string()),
        state: None,
        effects: Default::default(),
        timeouts: Timeouts { read: ack_timeout, ..Timeouts::default() },
        ack_timeout,
        linger: Duration::from_millis(50),
        basic: None,
        tls: None,
        hllp: crate::transport::hllp::HllpOptions::default(),
        templates: BTreeMap::new(),
        lab: None,
    }
}

const MESSAGE: &[u8] = b"MSH|^~\\&|S|SF|R|RF|20240101||ADT^A04^ADT_A01|C1|P|2.6\rPID|1||X\r";

fn pending() -> Pending {
    Pending {
        exchange: Exchange {
            step: 1,
            connection: 1,
            sent: MESSAGE.to_vec(),
            raw: false,
            replies: Vec::new(),
            ack_timeout: Duration::from_millis(300),
            event: None,
            http: None,
            intent: None,
            faults: Vec::new(),
            attempts: Vec::new(),
            reply_order: Vec::new(),
            after_outside_bytes: false,
            waits: Vec::new(),
        },
        sent_at: Instant::now(),
        control_id: Some("C1".into()),
        commit: None,
    }
}

/// A lane with one pending message, on a fresh connection to `addr`.
async fn lane<'a>(ctx: &'a Context, addr: &'a str, start: Instant) -> Lane<'a> {
    let conn = connect(addr, ctx).await.unwrap();
    Lane {
        addr,
        ctx,
        number: 1,
        conn,
        pending: vec![pending()],
        dead: None,
        after: ConnectionAfter::Unknown,
        closed_once: None,
        canary: None,
        canaries: Vec::new(),
        seed: Seed(1),
        opened: start,
        ack_reset: false,
        last: None,
    }
}

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

fn entries(log: &Log) -> Vec<(usize, u128, String)> {
    log.lock().unwrap().clone()
}

fn at(number: usize, ms: u128, what: &str) -> (usize, u128, String) {
    (number, ms, what.to_string())
}

#[tokio::test(start_paused = true)]
async fn close_before_ack_waits_for_the_peer_to_close_then_reconnects() {
    let frame_len = format!("{} bytes", MESSAGE.len() + 3);
    for (close_after, reconnect) in [(Some(40), 40), (None, 300)] {
        let (listener, addr) = listener().await;
        let start = Instant::now();
        let log = peer(listener, close_after.map(Duration::from_millis), start);
        let ctx = context(&addr);
        let mut lane = lane(&ctx, &addr, start).await;
        let wire = plan(&[MESSAGE], &[NetworkFault::CloseBeforeAck], Seed(1), true);
        lane.attempt(&wire, 0, &mut Vec::new()).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        // The FIN right after the frame; the new connection once the peer is done with the
        // old one, or after the ACK timeout (300 ms) when it never is.
        assert_eq!(
            entries(&log),
            [
                at(1, 0, "accepted"),
                at(1, 0, &frame_len),
                at(1, 0, "end of stream"),
                at(2, reconnect, "accepted")
            ],
            "peer closes after {close_after:?} ms"
        );
        let event = lane.pending[0].exchange.event.clone().unwrap();
        assert_eq!(event.code, "closed-before-ack");
        assert!(lane.dead.is_none());
    }
}

#[tokio::test(start_paused = true)]
async fn an_unterminated_frame_is_followed_by_its_silence_then_a_close() {
    let (listener, addr) = listener().await;
    let start = Instant::now();
    let log = peer(listener, Some(Duration::from_millis(40)), start);
    let ctx = context(&addr);
    let mut lane = lane(&ctx, &addr, start).await;
    let silence = Span(Duration::from_millis(150));
    let wire =
        plan(&[MESSAGE], &[NetworkFault::Unterminated { silence: Some(silence) }], Seed(1), true);
    assert_eq!(wire.end, WireEnd::Silence(Duration::from_millis(150)));
    lane.attempt(&wire, 0, &mut Vec::new()).await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    // The start block and the message, no end block; 150 ms of silence; the close; the new
    // connection when the peer let the old one go 40 ms later.
    let unfinished = format!("{} bytes", MESSAGE.len() + 1);
    assert_eq!(
        entries(&log),
        [
            at(1, 0, "accepted"),
            at(1, 0, &unfinished),
            at(1, 150, "end of stream"),
            at(2, 190, "accepted")
        ]
    );
    assert_eq!(lane.pending[0].exchange.event.as_ref().unwrap().code, "unterminated");
    // The default silence, when none is given.
    let default = plan(&[MESSAGE], &[NetworkFault::Unterminated { silence: None }], Seed(1), true);
    assert_eq!(default.end, WireEnd::Silence(UNTERMINATED_SILENCE));
}

#[tokio::test(start_paused = true)]
async fn idle_keeps_the_connection_quiet_for_its_time_then_looks_for_a_close() {
    let (listener, addr) = listener().await;
    let start = Instant::now();
    let log = peer(listener, Some(Duration::ZERO), start);
    let ctx = context(&addr);
    let mut lanes = vec![lane(&ctx, &addr, start).await];
    keep_idle(&mut lanes, Duration::from_millis(120), None, &mut Vec::new()).await;
    // Idle 120 ms, then at most CLOSE_LOOK (20 ms) looking for a close by the peer.
    assert_eq!(start.elapsed(), Duration::from_millis(120) + CLOSE_LOOK);
    lanes[0].conn.send(MESSAGE).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    let frame_len = format!("{} bytes", MESSAGE.len() + 3);
    assert_eq!(entries(&log), [at(1, 0, "accepted"), at(1, 140, &frame_len)]);
    assert!(lanes[0].dead.is_none());
}

/// A peer whose first connection it closes as soon as it is accepted (as a receiver that
/// drops idle connections early may), and whose later connections answer each frame with an
/// AA for MSH-10 `C1`; the bytes each later connection read are logged.
fn closing_then_answering(listener: TcpListener) -> Arc<Mutex<Vec<u8>>> {
    use tokio::io::AsyncWriteExt;
    let read: Arc<Mutex<Vec<u8>>> = Arc::default();
    let log = Arc::clone(&read);
    tokio::spawn(async move {
        for number in 1..=3 {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            if number == 1 {
                drop(stream);
                continue;
            }
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut chunk).await {
                    log.lock().unwrap().extend_from_slice(&chunk[..n]);
                    if chunk[..n].ends_with(b"\x1c\r") {
                        let ack =
                            b"\x0bMSH|^~\\&|R|RF|S|SF|20240101||ACK|A1|P|2.6\rMSA|AA|C1\r\x1c\r";
                        let _ = stream.write_all(ack).await;
                    }
                }
            });
        }
    });
    read
}

#[tokio::test(start_paused = true)]
async fn bytes_outside_a_block_go_on_a_new_connection_when_the_target_closed_first() {
    let (listener, addr) = listener().await;
    let read = closing_then_answering(listener);
    let ctx = context(&addr);
    let mut lane = lane(&ctx, &addr, Instant::now()).await;
    // The close reaches this socket once the peer task has run: a bounded number of turns.
    for _ in 0..100 {
        if lane.conn.peer_closed_already() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(lane.conn.peer_closed_already(), "the peer closed the first connection");
    let framed = [&b"junk\x0b"[..], MESSAGE, b"\x1c\r"].concat();
    let wire = WirePlan {
        writes: vec![crate::faults::Write { bytes: framed.clone(), pause: Duration::ZERO }],
        end: WireEnd::Read,
        outside_blocks: true,
    };
    let mut stray = Vec::new();
    lane.send_and_wait(&wire, 0, &mut stray).await;
    let exchange = &lane.pending[0].exchange;
    assert_eq!(exchange.attempts.len(), 1, "one attempt, on the new connection: {exchange:?}");
    assert!(exchange.after_outside_bytes);
    assert_eq!(exchange.replies.len(), 1, "answered on the new connection");
    assert_eq!(lane.after, ConnectionAfter::Closed, "the close is still seen");
    assert_eq!(*read.lock().unwrap(), framed, "the junk and the frame, on the new connection");
    // What `connection.bytes-outside-blocks` reads: the first attempt did not end in a close.
    let first = exchange.attempts.first().and_then(|a| a.event.as_deref());
    assert!(!matches!(first, Some("peer-closed" | "peer-reset")), "{first:?}");
}
