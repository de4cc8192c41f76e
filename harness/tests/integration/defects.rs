//! Every `--defect` switch changes what the reference endpoint observably does, compared with
//! the correct endpoint on the same input, over real loopback sockets (or, for the three that
//! only change the stored state, through the state the probes will read). The match below has
//! no catch-all, so a new defect without a case here does not compile.

use hl7_harness::target::defect::{Defect, Defects};
use hl7_harness::target::endpoint::{Endpoint, Held};
use hl7_harness::target::http::{serve_http, BasicCredentials, HttpConfig};
use hl7_harness::target::responder::ResponderConfig;
use hl7_harness::target::server::{serve_mllp, ServerOptions};
use hl7_harness::target::threaded::{DEFAULT_CONNECTION_THREADS, DEFAULT_READ_SPIN};
use hl7_harness::transport::connection::Timeouts;
use hl7_harness::transport::mllp::MllpOptions;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

const A04: &str = "MSH|^~\\&|EHR|HOSP|HARNESS|FAC|20240101||ADT^A04^ADT_A01|M1|P|2.6\rEVN|A04|20240101\rPID|1||C1^^^EHR^PI||Doe^Jo||19800101|F|||||^NET^Internet^jo@example.invalid\rPV1|1|O\r";

fn utf8_a04() -> String {
    A04.replace("|P|2.6\r", "|P|2.6||||||UNICODE UTF-8\r").replace("Doe^Jo", "Døe^Jo")
}

/// A reference endpoint on a loopback port, in its own runtime, stopped on drop.
struct Server {
    addr: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(defects: &[Defect]) -> Server {
        let endpoint = Arc::new(
            Endpoint::new(ResponderConfig::default())
                .with_defects(Defects::of(defects.iter().copied())),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap().to_string()).unwrap();
                let options = ServerOptions {
                    mllp: MllpOptions::default(),
                    timeouts: Timeouts::default(),
                    tls: None,
                    connection_threads: DEFAULT_CONNECTION_THREADS,
                    read_spin: DEFAULT_READ_SPIN,
                };
                let _ = serve_mllp(listener, endpoint, options, async {
                    let _ = stopped.await;
                })
                .await;
            });
        });
        let addr = rx.recv_timeout(Duration::from_secs(10)).expect("server bound");
        Server { addr, stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn frame(payload: &str) -> Vec<u8> {
    [&[0x0b][..], payload.as_bytes(), &[0x1c, 0x0d]].concat()
}

/// Writes `bytes` on a new connection and collects what comes back for `window` (or until the
/// peer closes or resets).
fn exchange(addr: &str, bytes: &[u8], window: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(bytes).unwrap();
    collect(&mut stream, window)
}

fn collect(stream: &mut TcpStream, window: Duration) -> Vec<u8> {
    let end = Instant::now() + window;
    let mut received = Vec::new();
    let mut chunk = [0u8; 8192];
    while let Some(left) = end.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
        }
    }
    received
}

/// The ACK payloads in `bytes` (frames between 0x0B and 0x1C).
fn acks(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| *b == 0x0b)
        .filter_map(|f| {
            f.iter()
                .position(|b| *b == 0x1c)
                .map(|end| String::from_utf8_lossy(&f[..end]).into_owned())
        })
        .collect()
}

fn field(ack: &str, segment: &str, n: usize) -> String {
    let line = ack.split(['\r', '\n']).find(|l| l.starts_with(segment)).unwrap_or_default();
    let index = if segment == "MSH" { n - 1 } else { n };
    line.split('|').nth(index).unwrap_or_default().to_string()
}

/// How long to watch for answers: ample for a correct endpoint on a loaded machine, and half of
/// the 3 s `late-ack` delay, so late and absent ACKs stay unmistakable.
const WINDOW: Duration = Duration::from_millis(1500);

/// What the correct and the defective endpoint each answer to `input`.
fn both(defect: Defect, input: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let correct = Server::start(&[]);
    let defective = Server::start(&[defect]);
    (exchange(&correct.addr, input, WINDOW), exchange(&defective.addr, input, WINDOW))
}

/// `partner_mailco:testing`.
const GOOD_AUTH: &str = "Basic cGFydG5lcl9tYWlsY286dGVzdGluZw==";

/// The status an HTTP endpoint (Basic auth `partner_mailco:testing`, alias `trustalias`) with
/// `defects` answers to one POST of `body` with `auth`.
fn http_status(defects: &[Defect], body: &str, auth: &str) -> u16 {
    let text = http_reply(defects, body, auth);
    text.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line")
}

/// The whole HTTP reply (status line, headers, body) as text.
fn http_reply(defects: &[Defect], body: &str, auth: &str) -> String {
    let endpoint = Arc::new(
        Endpoint::new(ResponderConfig::default())
            .with_defects(Defects::of(defects.iter().copied())),
    );
    let config = HttpConfig {
        basic: Some(BasicCredentials { user: "partner_mailco".into(), password: "testing".into() }),
        allowed_aliases: vec!["trustalias".into()],
        ..HttpConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_http(listener, endpoint, config, async {
            let _ = stopped.await;
        }));
        let head = format!(
            "POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: {auth}\r\n\
             Content-Type: application/hl7-v2; charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let request = [head.as_bytes(), body.as_bytes()].concat();
        let reply = tokio::task::spawn_blocking(move || {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(&request).unwrap();
            collect(&mut stream, Duration::from_secs(10))
        })
        .await
        .unwrap();
        let _ = stop.send(());
        let _ = server.await;
        String::from_utf8_lossy(&reply).into_owned()
    })
}

/// What an HLLP endpoint with `defects` answers to a data block with a wrong checksum.
/// Over HLLP: what answers a damaged block, then what answers a good block on a new connection.
fn hllp_damaged_answer(defects: &[Defect]) -> (Vec<u8>, Vec<u8>) {
    use hl7_harness::target::server::{serve_hllp, HllpServerOptions};
    use hl7_harness::transport::hllp::{HllpCodec, HllpOptions, Outgoing};
    use tokio_util::codec::Encoder;
    let endpoint = Arc::new(
        Endpoint::new(ResponderConfig::default())
            .with_defects(Defects::of(defects.iter().copied())),
    );
    let mut good = bytes::BytesMut::new();
    HllpCodec::new(HllpOptions::default())
        .encode(Outgoing::Data(A04.as_bytes()), &mut good)
        .unwrap();
    let mut block = good.clone();
    hl7_harness::faults::damage_checksum(&mut block);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let options =
            HllpServerOptions { hllp: HllpOptions::default(), timeouts: Timeouts::default() };
        let server = tokio::spawn(serve_hllp(listener, endpoint, options, async {
            let _ = stopped.await;
        }));
        let answer = tokio::task::spawn_blocking(move || {
            (exchange(&addr, &block, WINDOW), exchange(&addr, &good, WINDOW))
        })
        .await
        .unwrap();
        let _ = stop.send(());
        let _ = server.await;
        answer
    })
}

fn state_after(defect: Option<Defect>, inputs: &[&str]) -> serde_json::Value {
    let endpoint = Endpoint::new(ResponderConfig::default()).with_defects(Defects::of(defect));
    for input in inputs {
        endpoint.handle(input.as_bytes()).unwrap();
    }
    endpoint.state_json()
}

#[test]
fn every_defect_changes_observable_behaviour() {
    for &defect in Defect::ALL {
        let good = frame(A04);
        match defect {
            Defect::WrongMsa2 => {
                let (ok, bad) = both(defect, &good);
                assert_eq!(field(&acks(&ok)[0], "MSA", 2), "M1");
                assert_ne!(field(&acks(&bad)[0], "MSA", 2), "M1", "{defect}");
            }
            Defect::NoMsa2 => {
                let (_, bad) = both(defect, &good);
                assert_eq!(field(&acks(&bad)[0], "MSA", 2), "", "{defect}");
            }
            Defect::NoSwap => {
                let (ok, bad) = both(defect, &good);
                assert_eq!(field(&acks(&ok)[0], "MSH", 3), "HARNESS");
                assert_eq!(field(&acks(&bad)[0], "MSH", 3), "EHR", "{defect}");
            }
            Defect::WrongMsh9 => {
                let (ok, bad) = both(defect, &good);
                assert_eq!(field(&acks(&ok)[0], "MSH", 9), "ACK^A04^ACK");
                assert_eq!(field(&acks(&bad)[0], "MSH", 9), "ADT^A01", "{defect}");
            }
            Defect::EmptyMsh10 => {
                let (ok, bad) = both(defect, &good);
                assert!(!field(&acks(&ok)[0], "MSH", 10).is_empty());
                assert_eq!(field(&acks(&bad)[0], "MSH", 10), "", "{defect}");
            }
            Defect::InvalidMsa1 => {
                let (_, bad) = both(defect, &good);
                assert_eq!(field(&acks(&bad)[0], "MSA", 1), "OK", "{defect}");
            }
            Defect::NoAck | Defect::LateAck => {
                let (ok, bad) = both(defect, &good);
                assert_eq!(acks(&ok).len(), 1);
                assert!(acks(&bad).is_empty(), "{defect}: nothing within {WINDOW:?}");
            }
            Defect::DropsEveryTenthAck => {
                // Twenty messages on one connection: the correct endpoint answers all twenty,
                // the defective one all but the 10th and the 20th.
                let twenty: Vec<u8> = (1..=20)
                    .flat_map(|n| frame(&A04.replace("|M1|", &format!("|M{n}|"))))
                    .collect();
                let (ok, bad) = both(defect, &twenty);
                let answered = |bytes: &[u8]| -> Vec<String> {
                    acks(bytes).iter().map(|a| field(a, "MSA", 2)).collect()
                };
                assert_eq!(answered(&ok).len(), 20);
                let bad = answered(&bad);
                assert_eq!(bad.len(), 18, "{defect}: {bad:?}");
                assert!(!bad.contains(&"M10".to_string()) && !bad.contains(&"M20".to_string()));
            }
            Defect::DuplicateAck => {
                let (_, bad) = both(defect, &good);
                assert_eq!(acks(&bad).len(), 2, "{defect}");
            }
            Defect::MissingTrailerCr => {
                let (ok, bad) = both(defect, &good);
                assert!(ok.ends_with(&[0x1c, 0x0d]));
                assert!(bad.ends_with(&[0x1c]) && !bad.ends_with(&[0x1c, 0x0d]), "{defect}");
            }
            Defect::LfSegmentSeparators => {
                let (ok, bad) = both(defect, &good);
                assert!(!acks(&ok)[0].contains('\n'));
                assert!(acks(&bad)[0].contains("\nMSA|AA"), "{defect}");
            }
            Defect::FirstOfCoalescedOnly => {
                let two = [frame(A04), frame(&A04.replace("|M1|", "|M2|"))].concat();
                let (ok, bad) = both(defect, &two);
                assert_eq!((acks(&ok).len(), acks(&bad).len()), (2, 1), "{defect}");
            }
            Defect::ClosesOnBytesOutsideFrame => {
                let junk = [b"junk".as_slice(), &good].concat();
                let (ok, bad) = both(defect, &junk);
                assert_eq!((acks(&ok).len(), acks(&bad).len()), (1, 0), "{defect}");
            }
            Defect::OneConnectionAtATime => {
                for (defects, expected) in [(vec![], 1), (vec![defect], 0)] {
                    let server = Server::start(&defects);
                    let _idle = TcpStream::connect(&server.addr).unwrap();
                    std::thread::sleep(Duration::from_millis(100));
                    let answered = acks(&exchange(&server.addr, &good, WINDOW)).len();
                    assert_eq!(answered, expected, "{defect} with {defects:?}");
                }
            }
            Defect::AeOnNonAscii => {
                let (ok, bad) = both(defect, &frame(&utf8_a04()));
                assert_eq!(field(&acks(&ok)[0], "MSA", 1), "AA");
                assert_eq!(field(&acks(&bad)[0], "MSA", 1), "AE", "{defect}");
            }
            Defect::ResetOnNonAscii => {
                let (ok, bad) = both(defect, &frame(&utf8_a04()));
                assert_eq!((acks(&ok).len(), acks(&bad).len()), (1, 0), "{defect}");
            }
            Defect::AeOnEscapes => {
                let escaped = frame(&A04.replace("Doe^Jo", "D\\T\\oe^Jo"));
                let (ok, bad) = both(defect, &escaped);
                assert_eq!(field(&acks(&ok)[0], "MSA", 1), "AA");
                assert_eq!(field(&acks(&bad)[0], "MSA", 1), "AE", "{defect}");
            }
            Defect::ArOnZSegments => {
                let (ok, bad) = both(defect, &frame(&format!("{A04}ZPD|1\r")));
                assert_eq!(field(&acks(&ok)[0], "MSA", 1), "AA");
                assert_eq!(field(&acks(&bad)[0], "MSA", 1), "AR", "{defect}");
            }
            Defect::ResetOnCustomDelimiters => {
                let custom = A04
                    .replace('|', "$")
                    .replace('^', "%")
                    .replace('~', "#")
                    .replace('\\', "!")
                    .replace('&', "(");
                let (ok, bad) = both(defect, &frame(&custom));
                assert_eq!((acks(&ok).len(), acks(&bad).len()), (1, 0), "{defect}");
            }
            Defect::AaToNonHl7 => {
                let (ok, bad) = both(defect, &frame("hello, not HL7"));
                assert!(acks(&ok).is_empty());
                assert_eq!(field(&acks(&bad)[0], "MSA", 1), "AA", "{defect}");
            }
            Defect::AaToAdtWithoutPid => {
                let no_pid: String =
                    A04.split_inclusive('\r').filter(|s| !s.starts_with("PID")).collect();
                let (ok, bad) = both(defect, &frame(&no_pid));
                assert_eq!(field(&acks(&ok)[0], "MSA", 1), "AE");
                assert_eq!(field(&acks(&bad)[0], "MSA", 1), "AA", "{defect}");
            }
            Defect::AppliedTwice => {
                let update = A04
                    .replace("ADT^A04", "ADT^A08")
                    .replace("|M1|", "|M2|")
                    .replace("^Jo|", "^Joanna|");
                let revert = A04.replace("ADT^A04", "ADT^A08").replace("|M1|", "|M3|");
                let inputs = [A04, update.as_str(), revert.as_str(), update.as_str()];
                assert_eq!(state_after(None, &inputs)["clients"]["C1"]["given"], "Jo");
                assert_eq!(
                    state_after(Some(defect), &inputs)["clients"]["C1"]["given"],
                    "Joanna",
                    "{defect}"
                );
            }
            Defect::StoredEscaped => {
                let escaped = A04.replace("Doe^Jo", "D\\T\\oe^Jo");
                assert_eq!(state_after(None, &[&escaped])["clients"]["C1"]["family"], "D&oe");
                assert_eq!(
                    state_after(Some(defect), &[&escaped])["clients"]["C1"]["family"],
                    "D\\T\\oe",
                    "{defect}"
                );
            }
            Defect::FragmentedFrameDropped => {
                // The same frame in two writes with a pause between: two reads on the server.
                let split = |addr: &str| {
                    let mut stream = TcpStream::connect(addr).unwrap();
                    stream.set_nodelay(true).unwrap();
                    let (head, tail) = good.split_at(good.len() / 2);
                    stream.write_all(head).unwrap();
                    std::thread::sleep(Duration::from_millis(300));
                    stream.write_all(tail).unwrap();
                    acks(&collect(&mut stream, WINDOW)).len()
                };
                let (correct, defective) = (Server::start(&[]), Server::start(&[defect]));
                assert_eq!(split(&correct.addr), 1);
                assert_eq!(split(&defective.addr), 0, "{defect}");
                assert_eq!(acks(&exchange(&defective.addr, &good, WINDOW)).len(), 1, "one read");
            }
            Defect::ClosesOnHalfClose => {
                let half_close = |addr: &str| {
                    let mut stream = TcpStream::connect(addr).unwrap();
                    stream.write_all(&good).unwrap();
                    stream.shutdown(std::net::Shutdown::Write).unwrap();
                    acks(&collect(&mut stream, WINDOW)).len()
                };
                let (correct, defective) = (Server::start(&[]), Server::start(&[defect]));
                assert_eq!(half_close(&correct.addr), 1, "answered before closing");
                assert_eq!(half_close(&defective.addr), 0, "{defect}");
            }
            Defect::HttpAuthBypass => {
                let wrong = "Basic cGFydG5lcl9tYWlsY286d3Jvbmc="; // partner_mailco:wrong
                let allowed = A04.replace("|HOSP|", "|trustalias{trustalias}|");
                assert_eq!(http_status(&[], &allowed, wrong), 401);
                assert_eq!(http_status(&[defect], &allowed, wrong), 200, "{defect}");
            }
            Defect::HttpAliasNotChecked => {
                // Both answer 200 (HL7 over HTTP 2.6: every HL7 response is 2xx); the
                // difference is MSA-1.
                let other = A04.replace("|HOSP|", "|otheralias{trustalias}|");
                assert!(http_reply(&[], &other, GOOD_AUTH).contains("MSA|AR|M1"));
                assert!(http_reply(&[defect], &other, GOOD_AUTH).contains("MSA|AA|M1"), "{defect}");
                let allowed = A04.replace("|HOSP|", "|trustalias{trustalias}|");
                assert_eq!(http_status(&[], &allowed, GOOD_AUTH), 200);
            }
            Defect::BadMsh7 => {
                let (ok, bad) = both(defect, &good);
                assert!(field(&acks(&ok)[0], "MSH", 7).starts_with("20"));
                assert_eq!(field(&acks(&bad)[0], "MSH", 7), "YESTERDAY", "{defect}");
            }
            Defect::ProcessingIdNotEchoed => {
                let (ok, bad) = both(defect, &good);
                assert_eq!(field(&acks(&ok)[0], "MSH", 11), "P");
                assert_eq!(field(&acks(&bad)[0], "MSH", 11), "T", "{defect}");
            }
            Defect::VersionNotEchoed => {
                let (ok, bad) = both(defect, &good);
                assert_eq!(field(&acks(&ok)[0], "MSH", 12), "2.6");
                assert_eq!(field(&acks(&bad)[0], "MSH", 12), "2.5", "{defect}");
            }
            Defect::StandardDelimiters => {
                let custom = A04
                    .replace('|', "$")
                    .replace('^', "%")
                    .replace('~', "#")
                    .replace('\\', "!")
                    .replace('&', "(");
                let (ok, bad) = both(defect, &frame(&custom));
                assert!(String::from_utf8_lossy(&ok).contains("MSH$%#!($"));
                assert!(acks(&bad)[0].starts_with("MSH|^~\\&|HARNESS"), "{defect}: {bad:?}");
            }
            Defect::NoErrSegment => {
                let no_pid: String =
                    A04.split_inclusive('\r').filter(|s| !s.starts_with("PID")).collect();
                let (ok, bad) = both(defect, &frame(&no_pid));
                assert!(acks(&ok)[0].contains("\rERR|"));
                assert!(field(&acks(&bad)[0], "MSA", 1) == "AE" && !acks(&bad)[0].contains("ERR|"));
            }
            Defect::ClosesAfterAck => {
                let two = [frame(A04), frame(&A04.replace("|M1|", "|M2|"))].concat();
                let (ok, bad) = both(defect, &two);
                assert_eq!((acks(&ok).len(), acks(&bad).len()), (2, 1), "{defect}");
            }
            Defect::HttpStatusByAckCode => {
                let no_pid: String = A04
                    .replace("|HOSP|", "|trustalias{trustalias}|")
                    .split_inclusive('\r')
                    .filter(|s| !s.starts_with("PID"))
                    .collect();
                assert_eq!(http_status(&[], &no_pid, GOOD_AUTH), 200);
                assert_eq!(http_status(&[defect], &no_pid, GOOD_AUTH), 500, "{defect}");
                let other = A04.replace("|HOSP|", "|otheralias{trustalias}|");
                assert_eq!(http_status(&[], &other, GOOD_AUTH), 200);
                assert_eq!(http_status(&[defect], &other, GOOD_AUTH), 400, "{defect}");
            }
            Defect::HttpTextContentType => {
                let allowed = A04.replace("|HOSP|", "|trustalias{trustalias}|");
                let ok = http_reply(&[], &allowed, GOOD_AUTH).to_ascii_lowercase();
                let bad = http_reply(&[defect], &allowed, GOOD_AUTH).to_ascii_lowercase();
                assert!(ok.contains("content-type: application/hl7-v2"), "{ok}");
                assert!(bad.contains("content-type: text/plain"), "{defect}: {bad}");
            }
            Defect::DiesOnOversizedFrame | Defect::StopsAfterReset => {
                // The fault on one connection, then a plain message on a new one.
                let fault = |addr: &str| {
                    let mut stream = TcpStream::connect(addr).unwrap();
                    if defect == Defect::StopsAfterReset {
                        stream.write_all(&good[..good.len() / 2]).unwrap();
                        std::thread::sleep(Duration::from_millis(100));
                        socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO)).unwrap();
                    } else {
                        let big = [&[0x0b][..], &vec![b'X'; 17 * 1024 * 1024]].concat();
                        let _ = stream.write_all(&big);
                    }
                    drop(stream);
                    std::thread::sleep(Duration::from_millis(300));
                    acks(&exchange(addr, &good, WINDOW)).len()
                };
                let (correct, defective) = (Server::start(&[]), Server::start(&[defect]));
                assert_eq!(fault(&correct.addr), 1, "still serving");
                assert_eq!(fault(&defective.addr), 0, "{defect}");
            }
            Defect::StopsAfterConnectionStorm => {
                let storm = |addr: &str| {
                    for _ in 0..20 {
                        drop(TcpStream::connect(addr).unwrap());
                    }
                    std::thread::sleep(Duration::from_millis(300));
                    acks(&exchange(addr, &good, WINDOW)).len()
                };
                let (correct, defective) = (Server::start(&[]), Server::start(&[defect]));
                assert_eq!(storm(&correct.addr), 1);
                assert_eq!(storm(&defective.addr), 0, "{defect}");
            }
            Defect::LfSegmentsUnanswered => {
                let (ok, bad) = both(defect, &frame(&A04.replace('\r', "\n")));
                assert_eq!((acks(&ok).len(), acks(&bad).len()), (1, 0), "{defect}");
            }
            Defect::JunkJoinsNextFrame => {
                let two = [frame(A04), b"junk".to_vec(), frame(&A04.replace("|M1|", "|M2|"))];
                let (ok, bad) = both(defect, &two.concat());
                assert_eq!((acks(&ok).len(), acks(&bad).len()), (2, 1), "{defect}");
            }
            Defect::EatsByteAfterEndBlock => {
                let first = [&[0x0b][..], A04.as_bytes(), &[0x1c]].concat();
                let two = [first, frame(&A04.replace("|M1|", "|M2|"))].concat();
                let (ok, bad) = both(defect, &two);
                assert_eq!((acks(&ok).len(), acks(&bad).len()), (2, 1), "{defect}");
            }
            Defect::SlowFrameDropped | Defect::IdleConnectionDroppedEarly => {
                // Half the frame, a pause, the rest; or a pause before the whole frame.
                let paused = |addr: &str| {
                    let mut stream = TcpStream::connect(addr).unwrap();
                    let cut = if defect == Defect::SlowFrameDropped { good.len() / 2 } else { 0 };
                    stream.write_all(&good[..cut]).unwrap();
                    std::thread::sleep(Duration::from_millis(500));
                    let _ = stream.write_all(&good[cut..]);
                    acks(&collect(&mut stream, WINDOW)).len()
                };
                let (correct, defective) = (Server::start(&[]), Server::start(&[defect]));
                assert_eq!(paused(&correct.addr), 1);
                assert_eq!(paused(&defective.addr), 0, "{defect}");
            }
            Defect::FrameEndedBySilence => {
                let open = [&[0x0b][..], A04.as_bytes()].concat();
                let (ok, bad) = both(defect, &open);
                assert_eq!((acks(&ok).len(), acks(&bad).len()), (0, 1), "{defect}");
            }
            Defect::AnswersCoalescedInReverse => {
                let second = frame(&A04.replace("|M1|", "|M2|"));
                let (ok, bad) = both(defect, &[good.clone(), second].concat());
                let order = |bytes: &[u8]| -> Vec<String> {
                    acks(bytes).iter().map(|a| field(a, "MSA", 2)).collect()
                };
                assert_eq!(order(&ok), ["M1", "M2"]);
                assert_eq!(order(&bad), ["M2", "M1"], "{defect}");
            }
            Defect::AppliesOutOfOrder => {
                let update = A04
                    .replace("ADT^A04", "ADT^A08")
                    .replace("|M1|", "|M2|")
                    .replace("^Jo|", "^Joanna|");
                let applied = |defects: Defects| {
                    let endpoint = Endpoint::new(ResponderConfig::default()).with_defects(defects);
                    let mut held = Held::default();
                    for input in [A04, update.as_str()] {
                        endpoint.handle_on(input.as_bytes(), Some(&mut held)).unwrap();
                    }
                    let given = endpoint.state_json()["clients"]["C1"]["given"].clone();
                    (endpoint.applied_json()["applied"].clone(), given)
                };
                let json = |v: &[&str]| serde_json::json!(v);
                let correct = applied(Defects::none());
                assert_eq!(correct, (json(&["M1", "M2"]), serde_json::json!("Joanna")));
                // The update came first, for a client not yet registered: it changed nothing.
                let bad = applied(Defects::of([defect]));
                assert_eq!(bad, (json(&["M2", "M1"]), serde_json::json!("Jo")), "{defect}");
            }
            Defect::DuplicateUnanswered => {
                let (ok, bad) = both(defect, &[good.clone(), good.clone()].concat());
                assert_eq!((acks(&ok).len(), acks(&bad).len()), (2, 1), "{defect}");
            }
            Defect::HllpChecksumIgnored => {
                let (ok, bad) = (hllp_damaged_answer(&[]).0, hllp_damaged_answer(&[defect]).0);
                assert_eq!(ok.get(1), Some(&b'N'), "refused with an N block: {ok:?}");
                assert_eq!(bad.get(1), Some(&b'D'), "{defect}: {bad:?}");
            }
            Defect::HllpStopsAfterDamagedBlock => {
                let (ok, bad) = (hllp_damaged_answer(&[]), hllp_damaged_answer(&[defect]));
                assert_eq!((ok.0.get(1), bad.0.get(1)), (Some(&b'N'), Some(&b'N')), "{defect}");
                assert_eq!(ok.1.get(1), Some(&b'D'), "a new connection is served: {ok:?}");
                assert_eq!(bad.1, b"", "{defect}: a new connection is closed unanswered");
            }
            Defect::EnhancedModeIgnored => {
                let enhanced = frame(&A04.replace("|P|2.6\r", "|P|2.6|||AL|NE\r"));
                let (ok, bad) = both(defect, &enhanced);
                assert_eq!(field(&acks(&ok)[0], "MSA", 1), "CA");
                assert_eq!(field(&acks(&bad)[0], "MSA", 1), "AA", "{defect}");
                let silent = frame(&A04.replace("|P|2.6\r", "|P|2.6|||NE|NE\r"));
                let (ok, bad) = both(defect, &silent);
                assert_eq!((acks(&ok).len(), acks(&bad).len()), (0, 1), "{defect}");
            }
            Defect::AcceptsEveryMessage => {
                for other in [
                    A04.replace("ADT^A04^ADT_A01", "ZZZ^Z01"),
                    A04.replace("ADT^A04^ADT_A01", "ADT^A99^ADT_A01"),
                    A04.replace("|P|2.6\r", "|P|2.9\r"),
                    A04.replace("|M1|P|", "|M1|X|"),
                ] {
                    let (ok, bad) = both(defect, &frame(&other));
                    assert_eq!(field(&acks(&ok)[0], "MSA", 1), "AR", "{other:?}");
                    assert_eq!(field(&acks(&bad)[0], "MSA", 1), "AA", "{defect}: {other:?}");
                }
            }
            Defect::AcceptsMissingRequired => {
                let no_pid3 = frame(&A04.replace("PID|1||C1^^^EHR^PI||", "PID|1||||"));
                let (ok, bad) = both(defect, &no_pid3);
                assert_eq!(field(&acks(&ok)[0], "MSA", 1), "AE");
                assert_eq!(field(&acks(&bad)[0], "MSA", 1), "AA", "{defect}");
                // Bytes invalid in the declared character set are still an error.
                let (_, bad) = both(defect, &frame(&A04.replace("Doe", "D\u{f8}e")));
                assert_eq!(field(&acks(&bad)[0], "MSA", 1), "AE", "{defect}");
            }
            Defect::PlainAckMsh9 => {
                let v23 = frame(&A04.replace("|P|2.6\r", "|P|2.3\r"));
                let (ok, bad) = both(defect, &v23);
                assert_eq!(field(&acks(&ok)[0], "MSH", 9), "ACK^A04");
                assert_eq!(field(&acks(&bad)[0], "MSH", 9), "ACK", "{defect}");
                let (_, bad) = both(defect, &good);
                assert_eq!(field(&acks(&bad)[0], "MSH", 9), "ACK^A04^ACK", "v2.6 unchanged");
            }
            Defect::MfkForMfn => {
                let mfn = std::fs::read_to_string(
                    super::support::workspace().join("corpus/mfn/mfn_m02_v24_add.hl7"),
                )
                .unwrap();
                let (ok, bad) = both(defect, &frame(&mfn));
                assert_eq!(field(&acks(&ok)[0], "MSH", 9), "ACK^M02^ACK");
                let bad = &acks(&bad)[0];
                assert_eq!(field(bad, "MSH", 9), "MFK^M02^MFK_M01", "{defect}");
                assert_eq!(field(bad, "MSA", 1), "AA", "{defect}");
                assert!(bad.contains("\rMFI|STF^Staff master file^HL70175|"), "{bad:?}");
                assert!(bad.contains("\rMFA|MAD|MFE-0004||S|PRO-1004^"), "{bad:?}");
                let (_, adt) = both(defect, &good);
                assert_eq!(field(&acks(&adt)[0], "MSH", 9), "ACK^A04^ACK", "ADT unchanged");
            }
            Defect::ReceiverNamesItself => {
                let (ok, bad) = both(defect, &good);
                assert_eq!(field(&acks(&ok)[0], "MSH", 3), "HARNESS");
                let bad = &acks(&bad)[0];
                assert_eq!(
                    (field(bad, "MSH", 3), field(bad, "MSH", 4)),
                    ("HL7HARNESS".into(), "REFERENCE".into()),
                    "{defect}"
                );
                assert_eq!(
                    (field(bad, "MSH", 5), field(bad, "MSH", 6)),
                    ("EHR".into(), "HOSP".into())
                );
            }
            Defect::WrongCharset => {
                let utf8 = utf8_a04();
                assert_eq!(state_after(None, &[&utf8])["clients"]["C1"]["family"], "Døe");
                assert_eq!(
                    state_after(Some(defect), &[&utf8])["clients"]["C1"]["family"],
                    "DÃ¸e",
                    "{defect}"
                );
            }
        }
    }
}
