//! `send` ↔ `serve` over real loopback sockets, as separate processes: ACKs by the standard,
//! the journal across a restart, retries that keep MSH-10, an unreachable target.

use crate::support::{run, stdout, workspace};
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `hl7-harness serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub url: String,
    /// The lines serve printed after the first (e.g. `listening on http://…`).
    lines: mpsc::Receiver<String>,
}

impl Server {
    fn start(journal: &std::path::Path) -> Server {
        Server::with_args(&["--journal".as_ref(), journal.as_os_str()])
    }

    /// `serve --listen 127.0.0.1:0` plus `args`, once it prints the address it listens on.
    pub fn with_args(args: &[&std::ffi::OsStr]) -> Server {
        Server::with_args_env(args, &[])
    }

    /// Like [`Server::with_args`], with environment variables for the server process only.
    pub fn with_args_env(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hl7-harness"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .current_dir(workspace())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Keeps reading every line, so the server never writes into a closed pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let line =
            rx.recv_timeout(Duration::from_secs(20)).expect("serve prints its address in time");
        let url = line.trim().strip_prefix("listening on ").expect("listening line").to_string();
        Server { child, url, lines: rx }
    }

    /// The next line serve prints, within 10 s.
    pub fn next_line(&self) -> String {
        self.lines.recv_timeout(Duration::from_secs(10)).expect("serve prints another line")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_journal(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hl7-harness-mllp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn send_and_serve_acknowledge_by_the_standard_and_survive_a_restart() {
    let journal = temp_journal("journal-1");
    let server = Server::start(&journal);
    let a04 = "corpus/adt/adt_a04_v26_utf8_latin.hl7";
    let output = run(&["send", a04, "--target", &server.url, "--ack-timeout", "5s"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("MSG-ADT-0006: AA, MSA-2 matches"), "{text}");

    let batch = "corpus/batch/fhs_bhs_three_messages_v25.hl7";
    let output = run(&["send", batch, "--target", &server.url, "--json"]);
    let lines: Vec<serde_json::Value> =
        stdout(&output).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "every message of a batch file is sent");

    // ORU is not a message type this endpoint handles: AR with ERR 200, exit 1.
    let output =
        run(&["send", "corpus/oru/oru_r01_v251_lab_two_groups.hl7", "--target", &server.url]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(stdout(&output).contains(": AR ("), "{}", stdout(&output));
    drop(server);

    // Restart with the same journal: the resent A04 is acknowledged again and applied once.
    let server = Server::start(&journal);
    let output = run(&["send", a04, "--target", &server.url]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let records = hl7_harness::target::endpoint::read_journal(&journal).unwrap();
    assert_eq!(records.len(), 6, "1 + 3 + 1 before the restart and 1 after, nothing lost");
}

#[test]
fn unreachable_target_exits_3() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("mllp://127.0.0.1:{port}");
    let output = run(&[
        "send",
        "corpus/adt/adt_a01_v23.hl7",
        "--target",
        &url,
        "--retries",
        "1",
        "--retry-delay",
        "50ms",
        "--connect-timeout",
        "1s",
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("no ACK (connect-failed: cannot connect to 127.0.0.1:"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn silent_receiver_gets_the_same_msh10_again() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("mllp://{}", listener.local_addr().unwrap());
    // A receiver that reads everything and never answers, on each of three connections in turn
    // (the sender gives a connection that answered nothing up and resends on a new one), for at
    // most 20 s each.
    let silent = std::thread::spawn(move || {
        let mut received = Vec::new();
        for _ in 0..3 {
            let (mut stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stream.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                received.extend_from_slice(&chunk[..n]);
            }
        }
        received
    });
    let output = run(&[
        "send",
        "corpus/adt/adt_a01_v23.hl7",
        "--target",
        &url,
        "--ack-timeout",
        "300ms",
        "--retries",
        "2",
        "--retry-delay",
        "50ms",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("no ACK (read-timeout: no frame from "),
        "{}",
        stdout(&output)
    );
    assert!(stdout(&output).contains("3 attempt(s)"), "{}", stdout(&output));
    let received = silent.join().unwrap();
    let frames: Vec<&[u8]> = received.split(|b| *b == 0x0b).filter(|f| !f.is_empty()).collect();
    assert_eq!(frames.len(), 3, "sent three times");
    assert!(frames.iter().all(|f| *f == frames[0]), "each retry is the same message, same MSH-10");
}

#[test]
fn serve_keeps_serving_when_its_output_is_closed() {
    // The pipe's read end is closed before serve writes its first status line, on a port chosen
    // here; a server that treated the failed write as fatal would be gone when send connects.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hl7-harness"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(workspace())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    drop(child.stdout.take());
    let url = format!("mllp://127.0.0.1:{port}");
    // Connection attempts spaced out by send's retries while the server starts.
    let mut output =
        run(&["send", "corpus/adt/adt_a01_v23.hl7", "--target", &url, "--retries", "0"]);
    for _ in 0..50 {
        if output.status.code() != Some(3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        output = run(&["send", "corpus/adt/adt_a01_v23.hl7", "--target", &url, "--retries", "0"]);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn send_and_serve_over_http_with_basic_auth() {
    let server = Server::with_args_env(
        &[
            "--http".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--http-user".as_ref(),
            "partner".as_ref(),
            "--http-password-env".as_ref(),
            "HL7_SERVE_TEST_PASSWORD".as_ref(),
        ],
        &[("HL7_SERVE_TEST_PASSWORD", "s3cret")],
    );
    let http =
        server.next_line().trim().strip_prefix("listening on ").expect("http line").to_string();
    let http = format!("{http}/hl7");
    let send = |password: &str, file: &str| {
        Command::new(env!("CARGO_BIN_EXE_hl7-harness"))
            .args([
                "send",
                file,
                "--target",
                &http,
                "--http-user",
                "partner",
                "--http-password-env",
                "HL7_SEND_PASSWORD",
            ])
            .env("HL7_SEND_PASSWORD", password)
            .current_dir(workspace())
            .output()
            .unwrap()
    };
    let a04 = "corpus/adt/adt_a04_v26_utf8_latin.hl7";
    let output = send("s3cret", a04);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains(": AA, MSA-2 matches, HTTP 200"), "{}", stdout(&output));
    let output = send("wrong-password", a04);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("no ACK (http-401: HTTP 401 without an ACK"),
        "{}",
        stdout(&output)
    );
    assert!(
        !stdout(&output).contains("wrong-password"),
        "the password never appears: {}",
        stdout(&output)
    );
    let output = send("s3cret", "corpus/oru/oru_r01_v251_lab_two_groups.hl7");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains(": AR (") && stdout(&output).contains("HTTP 200"),
        "{}",
        stdout(&output)
    );
}
