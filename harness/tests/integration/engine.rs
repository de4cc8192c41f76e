//! The reference interface engine end to end over real TCP on 127.0.0.1: a source sends to the
//! engine, small MLLP listeners in the test play the destinations and record what arrives.
//! Mapping, filtering, retries after a NAK or a timeout, resuming from the journal after a
//! restart, and each defect's effect on what a destination sees. Every wait is bounded.

use hl7_harness::hl7::ack::{AckBuilder, AckCode, ReceivedAck};
use hl7_harness::hl7::Message;
use hl7_harness::target::engine::routes::parse_routes;
use hl7_harness::target::engine::{run_engine, Engine, EngineDefect, EngineDefects};
use hl7_harness::target::journal::read_journal_sequenced;
use hl7_harness::target::log::Log;
use hl7_harness::transport::client::{
    connect_mllp, send_and_await_mllp, AckWait, MllpAnswer, Takes,
};
use hl7_harness::transport::connection::{MllpConnection, Timeouts};
use hl7_harness::transport::mllp::{FrameKind, MllpOptions};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// How a test destination answers the n-th message it receives (0-based).
#[derive(Clone, Copy)]
enum Answer {
    Ack(AckCode),
    /// Reads it and never answers.
    Silent,
    /// Answers AA after this long.
    Late(Duration),
}

type Got = Arc<Mutex<Vec<Vec<u8>>>>;

struct Destination {
    addr: String,
    got: Got,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Destination {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn destination_on(
    listener: TcpListener,
    answer: impl Fn(usize) -> Answer + Send + Sync + 'static,
) -> Destination {
    let addr = listener.local_addr().unwrap().to_string();
    let got: Got = Arc::default();
    let answer = Arc::new(answer);
    let seen = Arc::clone(&got);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (seen, answer) = (Arc::clone(&seen), Arc::clone(&answer));
            tokio::spawn(async move {
                let timeouts = Timeouts { read: Duration::from_secs(10), ..Timeouts::default() };
                let mut c =
                    MllpConnection::from_stream(stream, MllpOptions::default(), timeouts).unwrap();
                while let Ok(frame) = c.receive(None).await {
                    if frame.kind != FrameKind::Message {
                        continue;
                    }
                    let n = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(frame.payload.to_vec());
                        seen.len() - 1
                    };
                    let code = match answer(n) {
                        Answer::Silent => continue,
                        Answer::Ack(code) => code,
                        Answer::Late(after) => {
                            tokio::time::sleep(after).await;
                            AckCode::ApplicationAccept
                        }
                    };
                    let message = Message::parse(&frame.payload).unwrap();
                    let ack = AckBuilder::new(&message, code, format!("D{n}"), "20240101000000");
                    if c.send(&ack.build()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Destination { addr, got, task }
}

async fn destination(answer: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Destination {
    destination_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), answer).await
}

impl Destination {
    /// What arrived, once `n` messages have or `within` has passed.
    async fn wait_for(&self, n: usize, within: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + within;
        while self.got.lock().unwrap().len() < n && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.got.lock().unwrap().iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect()
    }

    /// The MSH-10 of every arrival.
    async fn control_ids(&self, n: usize, within: Duration) -> Vec<String> {
        self.wait_for(n, within).await.iter().map(|m| field(m, "MSH", 10)).collect()
    }
}

/// Field `n` of the first `segment` of a message (MSH counted as the standard numbers it).
fn field(message: &str, segment: &str, n: usize) -> String {
    let line = message.split('\r').find(|l| l.starts_with(segment)).unwrap_or_default();
    let n = if segment == "MSH" { n - 1 } else { n };
    line.split('|').nth(n).unwrap_or_default().to_string()
}

struct RunningEngine {
    addr: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<u64>>,
}

impl RunningEngine {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

fn journal_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hl7-engine-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Starts the engine with `yaml`, in which `{A}` and `{B}` are replaced by destination
/// addresses.
async fn engine(yaml: &str, journal: &std::path::Path, defects: &[EngineDefect]) -> RunningEngine {
    let routes = parse_routes(yaml, "test.routes.yaml").unwrap();
    let engine =
        Engine::open(routes, journal, EngineDefects::new(defects.iter().copied()), Log::kept())
            .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run_engine(listener, Arc::new(engine), async {
        let _ = stopped.await;
    }));
    RunningEngine { addr, stop: Some(stop), task }
}

/// One destination `A`, every message routed there unchanged.
fn one_destination(a: &str, extra: &str) -> String {
    format!(
        "destinations:\n  A:\n    url: mllp://{a}\n    ack_timeout: 300ms\n    backoff: 20ms\n    \
         backoff_max: 100ms\n    connect_timeout: 500ms\n{extra}routes:\n  - name: all\n    to: [A]\n"
    )
}

fn adt(control_id: &str, extra: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|EHR|HOSP|RCV|FAC|20240312101500||ADT^A01^ADT_A01|{control_id}|P|2.6\r\
         EVN|A01|20240312101500\rPID|1||CL-1^^^EHR^PI||Doe^John\rPV1|1|I\r{extra}"
    )
    .into_bytes()
}

/// Sends messages to the engine one at a time and returns the MSA-1 of each answer.
async fn send(addr: &str, messages: &[Vec<u8>]) -> Vec<String> {
    let timeouts = Timeouts { read: Duration::from_secs(5), ..Timeouts::default() };
    let mut c = connect_mllp(addr, None, MllpOptions::default(), timeouts).await.unwrap();
    let mut codes = Vec::new();
    for m in messages {
        let id = Message::parse(m).unwrap().control_id().unwrap().to_string();
        let wait = AckWait {
            control_id: &id,
            takes: Takes::Echo,
            stop_on_commit_nak: true,
            wait: Duration::from_secs(5),
        };
        match send_and_await_mllp(&mut c, m, wait, |_| {}).await.unwrap() {
            MllpAnswer::Ack(ReceivedAck { msa1, .. }) => codes.push(msa1),
            MllpAnswer::CommitNak => codes.push("commit NAK".into()),
        }
    }
    codes
}

const SETTLE: Duration = Duration::from_millis(400);
const WITHIN: Duration = Duration::from_secs(5);

/// Waits (at most [`WITHIN`]) until the outcome journal closes `n` outputs: an output the
/// destination has is journaled as delivered only once its ACK is read, and an engine stopped
/// before that sends it again after a restart (at least once, as designed).
async fn closed_in_journal(journal: &std::path::Path, n: usize) {
    let path = journal.join(hl7_harness::target::engine::core::OUTCOMES_FILE);
    let until = tokio::time::Instant::now() + WITHIN;
    loop {
        let closed = read_journal_sequenced(&path).map(|r| r.len()).unwrap_or(0);
        if closed >= n {
            return;
        }
        assert!(tokio::time::Instant::now() < until, "{closed} of {n} outputs closed in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maps_routes_to_two_destinations_and_filters_the_rest() {
    let a = destination(|_| Answer::Ack(AckCode::ApplicationAccept)).await;
    let b = destination(|_| Answer::Ack(AckCode::ApplicationAccept)).await;
    let yaml = format!(
        "control_id: engine\ndestinations:\n  store: {{url: mllp://{}}}\n  billing: {{url: mllp://{}}}\n\
         routes:\n  - name: admissions\n    messages: [ADT^A01, ADT^A04]\n    to: [store]\n    mappings:\n\
         \x20     - set: {{path: MSH-5, value: STORE}}\n\
         \x20     - copy: {{from: PID-3.1, to: PID-2}}\n\
         \x20     - map: {{path: PV1-2, values: {{I: IN, O: OUT}}}}\n\
         \x20     - drop_segment: ZPD\n\
         \x20 - name: all-adt\n    messages: [ADT]\n    to: [billing]\n",
        a.addr, b.addr
    );
    let journal = journal_dir("maps");
    let e = engine(&yaml, &journal, &[]).await;
    let oru =
        b"MSH|^~\\&|LAB|HOSP|RCV|FAC|20240312101500||ORU^R01|LAB-1|P|2.5\rPID|1||X\r".to_vec();
    let codes = send(&e.addr, &[adt("IN-1", "ZPD|1|x\r"), oru]).await;
    assert_eq!(codes, ["AA", "AA"], "a filtered message is acknowledged AA too");
    let store = a.wait_for(1, WITHIN).await;
    let expected = "MSH|^~\\&|EHR|HOSP|STORE|FAC|20240312101500||ADT^A01^ADT_A01|E1.1|P|2.6\r\
                    EVN|A01|20240312101500\rPID|1|CL-1|CL-1^^^EHR^PI||Doe^John\rPV1|1|IN\r";
    assert_eq!(store, [expected]);
    let billing = b.wait_for(1, WITHIN).await;
    let unchanged = String::from_utf8(adt("E1.2", "ZPD|1|x\r")).unwrap();
    assert_eq!(billing, [unchanged]);
    // The ORU^R01 goes nowhere.
    tokio::time::sleep(SETTLE).await;
    assert_eq!((a.got.lock().unwrap().len(), b.got.lock().unwrap().len()), (1, 1));
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_after_a_nak_and_a_timeout_without_loss_or_duplicates() {
    // First arrival AR (retried), second silent (timeout), then AA.
    let a = destination(|n| match n {
        0 => Answer::Ack(AckCode::ApplicationReject),
        1 => Answer::Silent,
        _ => Answer::Ack(AckCode::ApplicationAccept),
    })
    .await;
    let journal = journal_dir("retries");
    let e = engine(&one_destination(&a.addr, ""), &journal, &[]).await;
    let codes = send(&e.addr, &[adt("M1", ""), adt("M2", ""), adt("M3", "")]).await;
    assert_eq!(codes, ["AA", "AA", "AA"]);
    let ids = a.control_ids(5, WITHIN).await;
    assert_eq!(ids, ["M1", "M1", "M1", "M2", "M3"], "resends keep MSH-10; order kept");
    tokio::time::sleep(SETTLE).await;
    assert_eq!(a.got.lock().unwrap().len(), 5, "nothing after the last AA");
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ae_is_given_up_and_the_queue_moves_on() {
    let a = destination(|n| match n {
        0 => Answer::Ack(AckCode::ApplicationError),
        _ => Answer::Ack(AckCode::ApplicationAccept),
    })
    .await;
    let journal = journal_dir("ae");
    let e = engine(&one_destination(&a.addr, ""), &journal, &[]).await;
    send(&e.addr, &[adt("M1", ""), adt("M2", "")]).await;
    assert_eq!(a.control_ids(2, WITHIN).await, ["M1", "M2"]);
    closed_in_journal(&journal, 2).await;
    e.stop().await;
    // Given up is closed in the journal: a restart sends neither again.
    let e = engine(&one_destination(&a.addr, ""), &journal, &[]).await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(a.got.lock().unwrap().len(), 2);
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_the_journal() {
    // A port nobody listens on yet: every connect is refused.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let journal = journal_dir("restart");
    let yaml = one_destination(&port.to_string(), "");
    let e = engine(&yaml, &journal, &[]).await;
    let codes = send(&e.addr, &[adt("M1", ""), adt("M2", ""), adt("M3", "")]).await;
    assert_eq!(codes, ["AA", "AA", "AA"], "journaled, so acknowledged though undeliverable");
    e.stop().await;
    let a = destination_on(TcpListener::bind(port).await.unwrap(), |_| {
        Answer::Ack(AckCode::ApplicationAccept)
    })
    .await;
    let e = engine(&yaml, &journal, &[]).await;
    assert_eq!(a.control_ids(3, WITHIN).await, ["M1", "M2", "M3"]);
    closed_in_journal(&journal, 3).await;
    e.stop().await;
    // Delivered is closed in the journal: a second restart sends nothing.
    let e = engine(&yaml, &journal, &[]).await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(a.got.lock().unwrap().len(), 3);
    e.stop().await;
}

/// `max_queue: 1`, a destination answering each message 800 ms late; M1 is in flight, M2
/// waits, M3 finds the queue full. Returns the answers to M1..M3 and the arrivals.
async fn full_queue(defects: &[EngineDefect], name: &str) -> (Vec<String>, Vec<String>) {
    let a = destination(|_| Answer::Late(Duration::from_millis(800))).await;
    let journal = journal_dir(name);
    let yaml = one_destination(&a.addr, "    max_queue: 1\n").replace("300ms", "2s");
    let e = engine(&yaml, &journal, defects).await;
    let mut codes = send(&e.addr, &[adt("M1", "")]).await;
    a.wait_for(1, WITHIN).await;
    codes.extend(send(&e.addr, &[adt("M2", ""), adt("M3", "")]).await);
    let ids = a.control_ids(3, Duration::from_secs(3)).await;
    e.stop().await;
    (codes, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_with_ar_and_the_defect_drops_after_aa() {
    let (codes, ids) = full_queue(&[], "full").await;
    assert_eq!((codes, ids), (vec!["AA", "AA", "AR"], vec!["M1", "M2"]).into_owned());
    let (codes, ids) = full_queue(&[EngineDefect::DropOnFullQueue], "full-defect").await;
    assert_eq!((codes, ids), (vec!["AA", "AA", "AA"], vec!["M1", "M2"]).into_owned());
}

trait IntoOwned {
    fn into_owned(self) -> (Vec<String>, Vec<String>);
}

impl IntoOwned for (Vec<&str>, Vec<&str>) {
    fn into_owned(self) -> (Vec<String>, Vec<String>) {
        let own = |v: Vec<&str>| v.into_iter().map(String::from).collect();
        (own(self.0), own(self.1))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_resends_the_same_msh10_and_the_defect_a_new_one() {
    for (defects, expected) in
        [(vec![], ["M1", "M1"]), (vec![EngineDefect::DuplicateOnTimeout], ["M1", "M1R1"])]
    {
        let a = destination(|n| {
            if n == 0 {
                Answer::Silent
            } else {
                Answer::Ack(AckCode::ApplicationAccept)
            }
        })
        .await;
        let journal = journal_dir("timeout");
        let e = engine(&one_destination(&a.addr, ""), &journal, &defects).await;
        send(&e.addr, &[adt("M1", "")]).await;
        assert_eq!(a.control_ids(2, WITHIN).await, expected, "{defects:?}");
        e.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_is_kept_and_the_reorder_defect_sends_the_newest_first() {
    for (defects, expected) in [
        (vec![], ["M1", "M2", "M3", "M4"]),
        (vec![EngineDefect::Reorder], ["M1", "M4", "M3", "M2"]),
    ] {
        let a = destination(|n| {
            if n == 0 {
                Answer::Late(Duration::from_millis(800))
            } else {
                Answer::Ack(AckCode::ApplicationAccept)
            }
        })
        .await;
        let journal = journal_dir("order");
        let yaml = one_destination(&a.addr, "").replace("300ms", "2s");
        let e = engine(&yaml, &journal, &defects).await;
        send(&e.addr, &[adt("M1", "")]).await;
        a.wait_for(1, WITHIN).await;
        send(&e.addr, &[adt("M2", ""), adt("M3", ""), adt("M4", "")]).await;
        assert_eq!(a.control_ids(4, WITHIN).await, expected, "{defects:?}");
        e.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_failure_refuses_and_the_defect_forwards_anyway() {
    for (defects, arrivals) in [(vec![], 0), (vec![EngineDefect::ForwardBeforeJournal], 1)] {
        let a = destination(|_| Answer::Ack(AckCode::ApplicationAccept)).await;
        let journal = journal_dir("full-disk");
        std::fs::create_dir_all(&journal).unwrap();
        // Every write to /dev/full fails (ENOSPC): the disk is full.
        std::os::unix::fs::symlink("/dev/full", journal.join("inbox.journal")).unwrap();
        let e = engine(&one_destination(&a.addr, ""), &journal, &defects).await;
        assert_eq!(send(&e.addr, &[adt("M1", "")]).await, ["AR"], "{defects:?}");
        tokio::time::sleep(SETTLE).await;
        assert_eq!(a.wait_for(arrivals, WITHIN).await.len(), arrivals, "{defects:?}");
        e.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escapes_and_charset_pass_unchanged_and_the_defects_mangle_them() {
    let input =
        "MSH|^~\\&|EHR|HOSP|RCV|FAC|20240312101500||ADT^A08^ADT_A01|M1|P|2.6||||||UNICODE UTF-8\r\
                 PID|1||CL-1||D\u{f8}e\\S\\x^Jo\\T\\hn\r";
    let mangled_escape = input.replace("\\S\\", "^").replace("\\T\\", "&");
    let mangled_charset = input.replace('\u{f8}', "\u{c3}\u{b8}");
    for (defects, expected) in [
        (vec![], input.to_string()),
        (vec![EngineDefect::MangleEscape], mangled_escape),
        (vec![EngineDefect::MangleCharset], mangled_charset),
    ] {
        let a = destination(|_| Answer::Ack(AckCode::ApplicationAccept)).await;
        let journal = journal_dir("bytes");
        let e = engine(&one_destination(&a.addr, ""), &journal, &defects).await;
        send(&e.addr, &[input.as_bytes().to_vec()]).await;
        assert_eq!(a.wait_for(1, WITHIN).await, [expected], "{defects:?}");
        e.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aa_then_drop_loses_every_third_message() {
    for (defects, expected) in [
        (vec![], vec!["M1", "M2", "M3", "M4"]),
        (vec![EngineDefect::AaThenDrop], vec!["M1", "M2", "M4"]),
    ] {
        let a = destination(|_| Answer::Ack(AckCode::ApplicationAccept)).await;
        let journal = journal_dir("aa-drop");
        let e = engine(&one_destination(&a.addr, ""), &journal, &defects).await;
        let messages: Vec<_> = (1..=4).map(|i| adt(&format!("M{i}"), "")).collect();
        assert_eq!(send(&e.addr, &messages).await, ["AA"; 4], "{defects:?}");
        tokio::time::sleep(SETTLE).await;
        assert_eq!(a.control_ids(4, Duration::from_secs(1)).await, expected, "{defects:?}");
        e.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_route_file_maps_the_corpus() {
    let file = super::support::workspace().join("scenarios/through-engine/engine.routes.yaml");
    let routes = hl7_harness::target::engine::read_routes(&file).unwrap();
    assert_eq!(routes.destinations.len(), 2);
    let register = destination(|_| Answer::Ack(AckCode::ApplicationAccept)).await;
    let portal = destination(|_| Answer::Ack(AckCode::ApplicationAccept)).await;
    let yaml = std::fs::read_to_string(&file)
        .unwrap()
        .replace("127.0.0.1:2601", &register.addr)
        .replace("127.0.0.1:2602", &portal.addr);
    let e = engine(&yaml, &journal_dir("shipped"), &[]).await;
    let corpus = super::support::workspace().join("corpus/adt");
    let a01 = std::fs::read(corpus.join("adt_a01_v26_zpd.hl7")).unwrap();
    let a08 = std::fs::read(corpus.join("adt_a08_v26_with_pv2.hl7")).unwrap();
    assert_eq!(send(&e.addr, &[a01, a08]).await, ["AA", "AA"]);
    let got = register.wait_for(2, WITHIN).await;
    assert_eq!(got.len(), 2);
    assert_eq!(field(&got[0], "MSH", 5), "CLIENT_REGISTER");
    assert_eq!(field(&got[0], "PID", 2), "CL-10011");
    assert_eq!(field(&got[0], "PV1", 2), "INPATIENT");
    assert!(!got[0].contains("ZPD|"));
    assert_eq!(field(&got[1], "PV1", 2), "OUTPATIENT");
    assert_eq!(field(&got[1], "MSH", 10), "MSG-ADT-0011");
    // The portal takes admissions only.
    let portal_got = portal.wait_for(1, WITHIN).await;
    assert_eq!(portal_got.len(), 1);
    assert_eq!(field(&portal_got[0], "MSH", 5), "PORTAL");
    assert!(portal_got[0].contains("ZPD|"), "the portal route drops nothing");
    tokio::time::sleep(SETTLE).await;
    assert_eq!(portal.got.lock().unwrap().len(), 1);
    e.stop().await;
}

#[test]
fn engine_lists_its_defects() {
    let output = super::support::run(&["engine", "--list-defects"]);
    assert_eq!(output.status.code(), Some(0));
    for defect in EngineDefect::ALL {
        assert!(super::support::stdout(&output).contains(defect.name()));
    }
}

/// `hl7-harness engine FILE --listen 127.0.0.1:0 --journal DIR` as a user runs it: it prints
/// its address and forwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_prints_its_address_and_forwards() {
    use std::io::BufRead;
    let a = destination(|_| Answer::Ack(AckCode::ApplicationAccept)).await;
    let journal = journal_dir("command");
    std::fs::create_dir_all(&journal).unwrap();
    let routes = journal.join("test.routes.yaml");
    std::fs::write(&routes, one_destination(&a.addr, "")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hl7-harness"))
        .args(["engine", routes.to_str().unwrap(), "--listen", "127.0.0.1:0", "--journal"])
        .arg(journal.join("j"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = lines.recv_timeout(Duration::from_secs(10)).unwrap();
    let addr = first.strip_prefix("listening on mllp://").unwrap().to_string();
    let second = lines.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(second.starts_with("destination A mllp://"), "{second}");
    assert_eq!(send(&addr, &[adt("M1", "")]).await, ["AA"]);
    assert_eq!(a.control_ids(1, WITHIN).await, ["M1"]);
    child.kill().unwrap();
    child.wait().unwrap();
}
