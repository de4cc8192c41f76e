//! `hl7-harness load` over real loopback sockets: the nothing-lost account is exact against an
//! endpoint that drops every tenth ACK, the open-loop schedule sends exactly rate × duration
//! messages, percentiles land where a delaying test endpoint puts them, and a scenario's load
//! thresholds fail the run when broken. (The scheduler's timing itself is tested with paused
//! time in `load::engine`; nothing here asserts how fast the machine is.)

use super::support::{run, stderr, stdout, workspace};
use hl7_harness::hl7::Message;
use hl7_harness::transport::connection::{MllpConnection, Timeouts};
use hl7_harness::transport::mllp::MllpOptions;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

const A04: &str = "corpus/adt/adt_a04_v24_minimal.hl7";

/// Runs `load … --json --no-report` and returns the exit code and the JSON result.
fn load(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["load", "--json", "--no-report"];
    all.extend_from_slice(args);
    let output = run(&all);
    let json = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&output), stderr(&output)));
    (output.status.code().unwrap_or(-1), json)
}

fn count(v: &Value, key: &str) -> u64 {
    v["account"][key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[test]
fn nothing_lost_account_is_exact_against_drops_every_tenth_ack() {
    let seed = "41";
    // One connection: the endpoint receives the messages in sequence order, so exactly the
    // 10th, 20th, … (sequence 9, 19, …) go unanswered.
    let (code, v) = load(&[
        A04,
        "--target",
        "builtin",
        "--target-defect",
        "drops-every-tenth-ack",
        "--count",
        "60",
        "--ack-timeout",
        "1s",
        "--seed",
        seed,
    ]);
    assert_eq!(code, 1, "a lost message fails load.lost");
    assert_eq!((count(&v, "sent"), count(&v, "lost"), count(&v, "timeouts")), (60, 6, 6));
    assert_eq!(count(&v, "acknowledged") + count(&v, "rejected"), 54);
    let lost: BTreeSet<&str> = v["account"]["lost_messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["control_id"].as_str().unwrap())
        .collect();
    let expected: BTreeSet<String> = (0..6).map(|n| format!("L29-{}", n * 10 + 9)).collect();
    assert_eq!(lost, expected.iter().map(String::as_str).collect::<BTreeSet<_>>());

    // Four connections at once: which messages are dropped depends on arrival order, but the
    // count is exact and every lost MSH-10 is listed once.
    let (_, v) = load(&[
        A04,
        "--target",
        "builtin",
        "--target-defect",
        "drops-every-tenth-ack",
        "--count",
        "200",
        "--connections",
        "4",
        "--ack-timeout",
        "1s",
        "--seed",
        seed,
    ]);
    assert_eq!((count(&v, "sent"), count(&v, "lost"), count(&v, "acknowledged")), (200, 20, 180));
    let listed: BTreeSet<&str> = v["account"]["lost_messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["control_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 20);

    // The correct endpoint loses nothing: exit 0.
    let (code, v) = load(&[A04, "--target", "builtin", "--count", "200", "--connections", "4"]);
    assert_eq!((code, count(&v, "lost"), count(&v, "acknowledged")), (0, 0, 200));
}

#[test]
fn open_loop_sends_rate_times_duration_messages() {
    let (code, v) = load(&[
        A04,
        "--target",
        "builtin",
        "--rate",
        "100/s",
        "--duration",
        "2s",
        "--warmup",
        "500ms",
        "--connections",
        "2",
    ]);
    assert_eq!(code, 0, "{v}");
    // The schedule, not the machine's speed, decides how many fall due: 100/s × 2.5 s. Each
    // was sent or, when every connection was still busy at the end (a loaded machine), counted
    // behind schedule: nothing is written after the deadline (issue 14).
    let (sent, behind) = (count(&v, "sent"), count(&v, "behind_schedule"));
    assert_eq!((sent + behind, count(&v, "warmup")), (250, 50), "{v}");
    assert!(sent > 50, "{v}");
    assert_eq!(v["account"]["latency"]["count"], sent - 50);
    assert_eq!(v["mode"], "open");
    let timeline = v["account"]["timeline"].as_array().unwrap();
    let finished: u64 = timeline.iter().map(|i| i["completed"].as_u64().unwrap()).sum();
    assert_eq!(finished, sent - 50, "the timeline counts every measured message once");
}

/// An MLLP endpoint on a loopback port that acknowledges the n-th message it receives after a
/// delay fixed by n: 2 in 100 wait 250 ms, 11 in 100 wait 30 ms, the rest answer at once.
fn delaying_endpoint() -> (String, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().to_string()).unwrap();
            let accepted = tokio::time::timeout(Duration::from_secs(30), listener.accept()).await;
            let Ok(Ok((stream, _))) = accepted else { return };
            let timeouts = Timeouts { read: Duration::from_secs(10), ..Timeouts::default() };
            let mut connection =
                MllpConnection::from_stream(stream, MllpOptions::default(), timeouts).unwrap();
            for n in 0u64.. {
                let Ok(frame) = connection.receive(None).await else { return };
                let message = Message::parse(&frame.payload).unwrap();
                let control_id = message.control_id().unwrap_or("").to_string();
                let delay = match n % 100 {
                    0 | 1 => 250,
                    2..=12 => 30,
                    _ => 0,
                };
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let ack = format!(
                    "MSH|^~\\&|B|B|A|A|20240101||ACK^A04^ACK|K{n}|P|2.4\rMSA|AA|{control_id}\r"
                );
                if connection.send(ack.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    (addr, thread)
}

#[test]
fn percentiles_match_a_known_delay_schedule() {
    let (addr, endpoint) = delaying_endpoint();
    let target = format!("mllp://{addr}");
    let (code, v) = load(&[A04, "--target", &target, "--count", "200", "--ack-timeout", "5s"]);
    endpoint.join().unwrap();
    assert_eq!(code, 0, "{v}");
    let p = &v["account"]["latency"];
    let ms = |key: &str| p[key].as_f64().unwrap();
    // Lower bounds are exact (a delay is never shorter than its sleep); upper bounds are loose.
    assert!(ms("p50_ms") < 30.0, "p50 is an immediate answer: {p}");
    assert!((30.0..250.0).contains(&ms("p90_ms")), "p90 is a 30 ms answer: {p}");
    assert!(ms("p99_ms") >= 250.0 && ms("p99_ms") < 2500.0, "p99 is a 250 ms answer: {p}");
    assert!(ms("max_ms") >= 250.0, "{p}");
    assert_eq!(p["count"], 200);
}

fn load_scenario(name: &str, load_block: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hl7-harness-load-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The message beside the scenario: a pack reads files in its own folder (issue 14).
    std::fs::copy(workspace().join(A04), dir.join("a04.hl7")).unwrap();
    let text = format!(
        "name: {name}\ntarget: {{ ack_timeout: 500ms }}\nmessages:\n  a04: {{ file: a04.hl7 }}\n{load_block}"
    );
    std::fs::write(dir.join(format!("{name}.yaml")), text).unwrap();
    dir
}

#[test]
fn scenario_load_thresholds_fail_the_run_when_broken() {
    let block = "load:\n  rate: 50\n  duration: 1s\n  connections: 2\n  thresholds: [\"p99 < 5s\", \"throughput >= 1/s\"]\n";
    let dir = load_scenario("met", block);
    let path = dir.to_str().unwrap();
    let passing = run(&["run", "--no-report", path, "--seed", "3"]);
    assert_eq!(passing.status.code(), Some(0), "{}{}", stdout(&passing), stderr(&passing));
    let defective = run(&[
        "run",
        "--no-report",
        path,
        "--seed",
        "3",
        "--target-defect",
        "drops-every-tenth-ack",
    ]);
    assert_eq!(defective.status.code(), Some(1), "{}", stdout(&defective));
    assert!(stdout(&defective).contains("load.lost"), "{}", stdout(&defective));

    let broken = "load:\n  rate: 50\n  duration: 1s\n  thresholds: [\"throughput >= 100000/s\"]\n";
    let dir = load_scenario("broken", broken);
    let report = dir.join("report");
    let failing = run(&[
        "run",
        dir.to_str().unwrap(),
        "--seed",
        "3",
        "--report-dir",
        report.to_str().unwrap(),
    ]);
    assert_eq!(failing.status.code(), Some(1), "{}", stdout(&failing));
    assert!(stdout(&failing).contains("load.throughput"), "{}", stdout(&failing));
    let results: Value =
        serde_json::from_slice(&std::fs::read(report.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["load"][0]["account"]["sent"], 50);
    let summary = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(summary.contains("## Load"), "{summary}");
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.contains("Latency over time") && html.contains("<polyline"), "{html}");
    let verify_manifest: Value =
        serde_json::from_slice(&std::fs::read(report.join("manifest.json")).unwrap()).unwrap();
    assert!(verify_manifest.to_string().contains("report.html"));
}

#[test]
fn load_scenario_errors_name_the_line() {
    let dir = load_scenario("bad", "load:\n  send: [a4]\n  rate: 10\n");
    let output = run(&["run", "--check", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("did you mean \"a04\"") && err.contains("give a duration or a count"),
        "{err}"
    );
    assert!(err.contains("bad.yaml:6:"), "{err}");
}

#[test]
fn unreachable_target_exits_3() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let target = format!("mllp://127.0.0.1:{port}");
    let (code, v) = load(&[A04, "--target", &target, "--count", "3", "--connect-timeout", "1s"]);
    assert_eq!((code, count(&v, "sent"), count(&v, "not_sent")), (3, 0, 3));
}

#[test]
fn load_command_writes_the_report_folder() {
    let dir = std::env::temp_dir().join(format!("hl7-harness-load-{}-report", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let report = dir.to_str().unwrap();
    let output = run(&[
        "load",
        A04,
        "--target",
        "builtin",
        "--count",
        "30",
        "--threshold",
        "p99 < 10s",
        "--report-dir",
        report,
        "--seed",
        "8",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("sent 30: acknowledged 30, rejected 0, lost 0"));
    let results: Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["load"][0]["account"]["acknowledged"], 30);
    assert_eq!(results["verdict"], "conformant");
    let checks: Vec<&str> = results["packs"][0]["cases"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(checks, ["load.lost", "load.p99"]);
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains("load.p99"), "{junit}");
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    assert!(manifest.contains("adt_a04_v24_minimal.hl7"), "the message file is hashed");
    // A second run never writes over the report.
    let again = run(&["load", A04, "--target", "builtin", "--count", "1", "--report-dir", report]);
    assert_eq!(again.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn load_reaches_serve_over_mllp_http_and_hllp() {
    let server = crate::mllp::Server::with_args(&[
        "--http".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--hllp".as_ref(),
        "127.0.0.1:0".as_ref(),
    ]);
    let listening = |line: String| line.trim().trim_start_matches("listening on ").to_string();
    let http = format!("{}/hl7", listening(server.next_line()));
    let hllp = listening(server.next_line());
    assert!(http.starts_with("http://") && hllp.starts_with("hllp://"), "{http} {hllp}");
    for target in [server.url.as_str(), http.as_str(), hllp.as_str()] {
        let (code, v) = load(&[
            A04,
            "--target",
            target,
            "--rate",
            "50/s",
            "--count",
            "20",
            "--connections",
            "2",
        ]);
        assert_eq!(code, 0, "{target}: {v}");
        assert_eq!((count(&v, "sent"), count(&v, "acknowledged")), (20, 20), "{target}: {v}");
    }
}

/// A receiver that accepts and reads everything but never answers (issue 14): `load --rate
/// --duration` stops writing at the deadline, waits at most the ACK timeout for the messages
/// still out, and accounts each message sent as acknowledged, rejected or lost; those due but
/// never written are counted apart. (Before: every overdue message was still sent, each
/// waiting its full ACK timeout, so 2 s asked took 40 s; the limit below is 30 s.)
#[test]
fn load_against_a_receiver_that_never_answers_ends_at_its_duration() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = std::sync::Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { return };
            let counted = std::sync::Arc::clone(&counted);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = std::io::Read::read(&mut stream, &mut buf) {
                    if n == 0 {
                        return;
                    }
                    let ends = buf[..n].iter().filter(|b| **b == 0x1C).count();
                    counted.fetch_add(ends as u64, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    let target = format!("mllp://{addr}");
    let args = [
        "load",
        "--json",
        "--no-report",
        A04,
        "--target",
        &target,
        "--rate",
        "20",
        "--duration",
        "2s",
        "--ack-timeout",
        "1s",
    ];
    let output = super::support::run_within(&args, Duration::from_secs(30))
        .expect("load ended (it must not run long past its 2 s duration)");
    let v: Value = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&output), stderr(&output)));
    assert_eq!(output.status.code(), Some(1), "lost messages fail the run: {v}");
    let sent = count(&v, "sent");
    assert!(sent >= 1, "{v}");
    assert_eq!((count(&v, "acknowledged"), count(&v, "rejected")), (0, 0), "{v}");
    assert_eq!((count(&v, "lost"), count(&v, "timeouts")), (sent, sent), "{v}");
    assert_eq!(count(&v, "not_sent"), 0, "{v}");
    // 20/s × 2 s = 40 messages due; each was either sent (and lost) or counted behind schedule.
    assert_eq!(sent + count(&v, "behind_schedule"), 40, "{v}");
    let listed = v["account"]["lost_messages"].as_array().unwrap().len() as u64;
    assert_eq!(listed, sent, "every lost message is listed by MSH-10: {v}");
    assert_eq!(received.load(std::sync::atomic::Ordering::Relaxed), sent, "the receiver got each");
}
