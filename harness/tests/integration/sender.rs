//! The reference sender (`send`) against tiny receivers written here, which record what arrives:
//! the correct sender resends the same MSH-10 after a pause, reconnects after a lost
//! connection, takes only the ACK whose MSA-2 is its MSH-10 and waits for each ACK before the
//! next message; each `send --defect` breaks exactly one of these. The match below has no
//! catch-all, so a new sender defect without a case here does not compile.

use crate::mllp::Server;
use crate::support::{run, stdout};
use hl7_harness::target::sender_defect::SenderDefect;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

const A01: &str = "corpus/adt/adt_a01_v23.hl7";
const PHR_A28: &str = "corpus/phr/adt_a28_v24_partner.hl7";
const A04: &str = "corpus/adt/adt_a04_v26_utf8_latin.hl7";

/// A frame, when it arrived, and on which connection (1-based, in accept order).
struct Arrival {
    at: Instant,
    payload: Vec<u8>,
    connection: usize,
}

impl Arrival {
    fn msh10(&self) -> String {
        let text = String::from_utf8_lossy(&self.payload);
        let msh = text.split('\r').next().unwrap_or_default();
        msh.split('|').nth(9).unwrap_or_default().to_string()
    }
}

/// Reads frames from `stream` until `want` have arrived, the peer closes, or `until`.
fn read_frames(stream: &mut TcpStream, want: usize, until: Instant) -> Vec<Arrival> {
    let mut frames = Vec::new();
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    while frames.len() < want {
        let Some(left) = until.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
        else {
            break;
        };
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
        while let Some(end) = buffer.iter().position(|b| *b == 0x1c) {
            let start = buffer.iter().position(|b| *b == 0x0b).map_or(0, |s| s + 1).min(end);
            let payload = buffer[start..end].to_vec();
            frames.push(Arrival { at: Instant::now(), payload, connection: 1 });
            let rest = (end + 2).min(buffer.len());
            buffer.drain(..rest);
        }
    }
    frames
}

fn ack_for(msh10: &str) -> Vec<u8> {
    let ack = format!("MSH|^~\\&|R|R|S|S|20240101||ACK^A01|ACK-{msh10}|P|2.3\rMSA|AA|{msh10}\r");
    [&[0x0b][..], ack.as_bytes(), &[0x1c, 0x0d]].concat()
}

/// A receiver on a loopback port running `behaviour` on its listener in a thread.
fn receiver<T: Send + 'static>(
    behaviour: impl FnOnce(TcpListener) -> T + Send + 'static,
) -> (String, std::thread::JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("mllp://{}", listener.local_addr().unwrap());
    (url, std::thread::spawn(move || behaviour(listener)))
}

/// Accepts one connection within 10 s.
fn accept(listener: &TcpListener) -> Option<TcpStream> {
    listener.set_nonblocking(true).unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                return Some(stream);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    None
}

/// A receiver that never answers: every frame of every connection, in arrival order, within
/// 20 s or until `want` arrived.
fn silent(want: usize) -> (String, std::thread::JoinHandle<Vec<Arrival>>) {
    receiver(move |listener| {
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let until = Instant::now() + Duration::from_secs(20);
        listener.set_nonblocking(true).unwrap();
        let mut readers = Vec::new();
        while Instant::now() < until && got.lock().unwrap().len() < want {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    let (got, connection) = (std::sync::Arc::clone(&got), readers.len() + 1);
                    readers.push(std::thread::spawn(move || {
                        for mut frame in read_frames(&mut stream, want, until) {
                            frame.connection = connection;
                            got.lock().unwrap().push(frame);
                        }
                    }));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        for reader in readers {
            reader.join().unwrap();
        }
        let mut frames = std::mem::take(&mut *got.lock().unwrap());
        frames.sort_by_key(|f| f.at);
        frames
    })
}

fn send(url: &str, extra: &[&str], defect: Option<SenderDefect>) -> std::process::Output {
    let mut args = vec!["send", A01, "--target", url, "--ack-timeout", "300ms"];
    args.extend_from_slice(extra);
    if let Some(defect) = defect {
        args.extend(["--defect", defect.name()]);
    }
    run(&args)
}

#[test]
fn every_sender_defect_changes_what_the_receiver_sees() {
    for &defect in SenderDefect::ALL {
        match defect {
            SenderDefect::NoRetry => {
                for (switch, expected) in [(None, 3), (Some(defect), 1)] {
                    let (url, got) = silent(3);
                    let extra = ["--retries", "2", "--retry-delay", "10ms"];
                    let output = send(&url, &extra, switch);
                    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
                    assert_eq!(got.join().unwrap().len(), expected, "{switch:?}");
                }
            }
            SenderDefect::NewMsh10OnRetry => {
                for (switch, same) in [(None, true), (Some(defect), false)] {
                    let (url, got) = silent(2);
                    let extra = ["--retries", "1", "--retry-delay", "10ms"];
                    send(&url, &extra, switch);
                    let frames = got.join().unwrap();
                    assert_eq!(frames.len(), 2);
                    assert_eq!(frames[0].msh10() == frames[1].msh10(), same, "{switch:?}");
                    assert!(!frames[0].msh10().is_empty());
                }
            }
            SenderDefect::ResendOnSameConnection => {
                // Nothing is ever answered: the correct sender gives up each silent connection
                // for a new one; the defective one resends on the first.
                for (switch, connections) in [(None, 2), (Some(defect), 1)] {
                    let (url, got) = silent(2);
                    let extra = ["--retries", "1", "--retry-delay", "10ms"];
                    send(&url, &extra, switch);
                    let frames = got.join().unwrap();
                    assert_eq!(frames.len(), 2, "{switch:?}");
                    assert_eq!(frames[0].msh10(), frames[1].msh10());
                    assert_eq!(frames[1].connection, connections, "{switch:?}");
                }
            }
            SenderDefect::RetryWithoutDelay => {
                // A pause ten times the ACK timeout: the correct sender's resend comes at least
                // that late (it sleeps); the defective one does not wait for it.
                let delay = Duration::from_secs(3);
                for (switch, paused) in [(None, true), (Some(defect), false)] {
                    let (url, got) = silent(2);
                    let extra = ["--retries", "1", "--retry-delay", "3s"];
                    send(&url, &extra, switch);
                    let frames = got.join().unwrap();
                    assert_eq!(frames.len(), 2);
                    let gap = frames[1].at.duration_since(frames[0].at);
                    assert_eq!(gap >= delay, paused, "{switch:?}: {gap:?}");
                }
            }
            SenderDefect::NoReconnect => {
                // The first connection is closed after the message arrives; a second one is
                // answered.
                for (switch, code, connections) in [(None, 0, 2), (Some(defect), 1, 1)] {
                    let (url, got) = receiver(|listener| {
                        let Some(mut first) = accept(&listener) else { return 0 };
                        let until = Instant::now() + Duration::from_secs(10);
                        read_frames(&mut first, 1, until);
                        drop(first);
                        let Some(mut second) = accept(&listener) else { return 1 };
                        let frames = read_frames(&mut second, 1, until);
                        for frame in &frames {
                            second.write_all(&ack_for(&frame.msh10())).unwrap();
                        }
                        std::thread::sleep(Duration::from_millis(200));
                        // Connections that brought the message.
                        1 + frames.len()
                    });
                    let extra = ["--retries", "2", "--retry-delay", "50ms"];
                    let output = send(&url, &extra, switch);
                    assert_eq!(output.status.code(), Some(code), "{}", stdout(&output));
                    if switch.is_some() {
                        assert!(stdout(&output).contains("not-reconnected"), "{}", stdout(&output));
                        // Lets the receiver stop waiting for a second connection.
                        let _ = TcpStream::connect(url.trim_start_matches("mllp://"));
                    }
                    assert_eq!(got.join().unwrap(), connections, "{switch:?}");
                }
            }
            SenderDefect::DropsEmail => {
                // Nothing answered, no retry: the one frame shows what was sent.
                for (switch, has_pid13) in [(None, true), (Some(defect), false)] {
                    let (url, got) = silent(1);
                    send(&url, &["--retries", "0"], switch);
                    let frames = got.join().unwrap();
                    assert_eq!(frames.len(), 1, "{switch:?}");
                    let text = String::from_utf8_lossy(&frames[0].payload).into_owned();
                    let pid = text.split('\r').find(|s| s.starts_with("PID|")).unwrap_or("");
                    let pid13 = pid.split('|').nth(13).unwrap_or("");
                    assert_eq!(!pid13.is_empty(), has_pid13, "{switch:?}: {pid}");
                }
            }
            SenderDefect::Msh4WithoutAlias => {
                // Nothing answered, no retry: the one frame shows MSH-4 as sent.
                for (switch, msh4) in
                    [(None, "trustalias{trustalias}"), (Some(defect), "trustalias")]
                {
                    let (url, got) = silent(1);
                    let args = ["send", PHR_A28, "--target", &url, "--ack-timeout", "300ms"];
                    let mut args = args.to_vec();
                    args.extend(["--retries", "0"]);
                    if let Some(defect) = switch {
                        args.extend(["--defect", defect.name()]);
                    }
                    run(&args);
                    let frames = got.join().unwrap();
                    assert_eq!(frames.len(), 1, "{switch:?}");
                    let text = String::from_utf8_lossy(&frames[0].payload).into_owned();
                    let sent = text.split('|').nth(3).unwrap_or("");
                    assert_eq!(sent, msh4, "{switch:?}: {text}");
                }
            }
            SenderDefect::IgnoresMsa2 => {
                // The reference endpoint with its wrong-msa2 defect: every MSA-2 is not MSH-10.
                let server = Server::with_args(&["--defect".as_ref(), "wrong-msa2".as_ref()]);
                let extra = ["--retries", "0"];
                let output = send(&server.url, &extra, None);
                assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
                assert!(stdout(&output).contains("ignored 1 ACK(s)"), "{}", stdout(&output));
                let output = send(&server.url, &extra, Some(defect));
                assert_eq!(output.status.code(), Some(0), "{defect}: {}", stdout(&output));
                assert!(stdout(&output).contains("does not match"), "{}", stdout(&output));
            }
            SenderDefect::NoWaitForAck => {
                // The receiver holds the first ACK back until the second message arrives, or
                // 2 s have passed.
                for (switch, pipelined) in [(None, false), (Some(defect), true)] {
                    let (url, got) = receiver(|listener| {
                        let Some(mut stream) = accept(&listener) else { return false };
                        let until = Instant::now() + Duration::from_secs(10);
                        let first = read_frames(&mut stream, 1, until);
                        let second = if first.len() > 1 {
                            Vec::new()
                        } else {
                            read_frames(&mut stream, 1, Instant::now() + Duration::from_secs(2))
                        };
                        for frame in first.iter().chain(&second) {
                            stream.write_all(&ack_for(&frame.msh10())).unwrap();
                        }
                        let pipelined = first.len() + second.len() > 1;
                        if !pipelined {
                            let until = Instant::now() + Duration::from_secs(10);
                            for frame in read_frames(&mut stream, 1, until) {
                                stream.write_all(&ack_for(&frame.msh10())).unwrap();
                            }
                        }
                        std::thread::sleep(Duration::from_millis(200));
                        pipelined
                    });
                    let mut args = vec!["send", A01, A04, "--target", &url, "--ack-timeout", "5s"];
                    if let Some(defect) = switch {
                        args.extend(["--defect", defect.name()]);
                    }
                    let output = run(&args);
                    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
                    assert_eq!(got.join().unwrap(), pipelined, "{switch:?}");
                }
            }
        }
    }
}

#[test]
fn send_lists_its_defects() {
    let output = run(&["send", "--list-defects"]);
    assert_eq!(output.status.code(), Some(0));
    for defect in SenderDefect::ALL {
        assert!(stdout(&output).contains(defect.name()), "{}", stdout(&output));
    }
    let output = run(&["send", A01, "--target", "mllp://127.0.0.1:1", "--defect", "nope"]);
    assert_eq!(output.status.code(), Some(2));
}

/// Issue 15: `send` reads its target with the same parser as `run` and `load`, so an MLLP URL
/// without a port is refused before anything is sent (it used to be taken, and failed later
/// at connect).
#[test]
fn send_refuses_a_target_without_a_port() {
    for (url, says) in [
        ("mllp://nohost", "expected mllp://HOST:PORT"),
        ("hllp://nohost", "expected hllp://HOST:PORT"),
        ("builtin", "send needs a running target"),
        ("ftp://h:1", "unknown target"),
    ] {
        let output = run(&["send", A01, "--target", url]);
        assert_eq!(output.status.code(), Some(2), "{url}");
        let stderr = crate::support::stderr(&output);
        assert!(stderr.contains(says), "{url}: {stderr}");
    }
}
