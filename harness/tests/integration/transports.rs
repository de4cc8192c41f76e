//! `send` ↔ `serve` over the other transports, as separate processes on loopback: HL7 over
//! HTTPS (Basic auth, an untrusted certificate), HLLP with each checksum variant and a block
//! whose checksum is wrong, and MLLP Release 2 commit acknowledgements.

use crate::mllp::Server;
use crate::support::{run, stderr, stdout, workspace};
use crate::tls::pki;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output};
use std::time::Duration;

const A04: &str = "corpus/adt/adt_a04_v26_utf8_latin.hl7";

fn args(list: &[&str]) -> Vec<std::ffi::OsString> {
    list.iter().map(|a| OsStr::new(a).to_os_string()).collect()
}

fn serve(list: &[&str]) -> Server {
    let owned = args(list);
    let refs: Vec<&OsStr> = owned.iter().map(|a| a.as_os_str()).collect();
    Server::with_args_env(&refs, &[("HL7_SERVE_TEST_PASSWORD", "s3cret")])
}

/// `send` with `HL7_SEND_PASSWORD` set to `password`.
fn send_with_password(list: &[&str], password: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hl7-harness"))
        .arg("send")
        .args(list)
        .env("HL7_SEND_PASSWORD", password)
        .current_dir(workspace())
        .output()
        .unwrap()
}

/// The address of the next `listening on SCHEME://ADDR` line.
fn listening(server: &Server, scheme: &str) -> String {
    let line = server.next_line();
    let url = line.trim().strip_prefix("listening on ").unwrap_or_default();
    assert!(url.starts_with(scheme), "{line}");
    url.to_string()
}

#[test]
fn send_and_serve_over_https_with_basic_auth() {
    let pki = pki("https");
    let (cert, key, ca) = (pki.path("server.pem"), pki.path("server.key"), pki.path("ca.pem"));
    let server = serve(&[
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--https",
        "127.0.0.1:0",
        "--http-user",
        "partner",
        "--http-password-env",
        "HL7_SERVE_TEST_PASSWORD",
    ]);
    let url = format!("{}/hl7", listening(&server, "https://"));
    let common = ["--http-user", "partner", "--http-password-env", "HL7_SEND_PASSWORD"];
    let with = |ca: &str, password: &str| {
        let mut list = vec![A04, "--target", &url, "--tls-ca", ca, "--retries", "0"];
        list.extend(common);
        send_with_password(&list, password)
    };
    let output = with(&ca, "s3cret");
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains(": AA, MSA-2 matches, HTTP 200"), "{}", stdout(&output));

    let output = with(&ca, "wrong");
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(stdout(&output).contains("no ACK (http-401: HTTP 401"), "{}", stdout(&output));

    // A server certificate from a CA the client does not trust: a TLS error that says so.
    let output = with(&pki.path("other-ca.pem"), "s3cret");
    assert_eq!(output.status.code(), Some(3), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(text.contains("tls-handshake-failed") && text.contains("certificate"), "{text}");

    // Plain HTTP to the HTTPS port gets no HL7 answer.
    let plain = url.replace("https://", "http://");
    let mut list = vec![A04, "--target", &plain, "--retries", "0", "--ack-timeout", "2s"];
    list.extend(common);
    let output = send_with_password(&list, "s3cret");
    assert_ne!(output.status.code(), Some(0), "{}", stdout(&output));
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[test]
fn https_with_mutual_tls() {
    let pki = pki("https-mutual");
    let (cert, key, ca) = (pki.path("server.pem"), pki.path("server.key"), pki.path("ca.pem"));
    let server = serve(&[
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--tls-client-ca",
        &ca,
        "--https",
        "127.0.0.1:0",
    ]);
    let url = listening(&server, "https://");
    let base = [A04, "--target", &url, "--tls-ca", &ca, "--retries", "0", "--ack-timeout", "3s"];
    let output = send_with_password(&base, "");
    assert_ne!(output.status.code(), Some(0), "no client certificate: {}", stdout(&output));
    let (client, client_key) = (pki.path("client.pem"), pki.path("client.key"));
    let with_cert = [&base[..], &["--tls-client-cert", &client, "--tls-client-key", &client_key]];
    let output = send_with_password(&with_cert.concat(), "");
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("AA, MSA-2 matches, HTTP 200"), "{}", stdout(&output));

    let output = send_with_password(&[A04, "--target", &url], "");
    assert_eq!(output.status.code(), Some(2), "no --tls-ca");
    assert!(crate::support::stderr(&output).contains("--tls-ca"));
    let _ = std::fs::remove_dir_all(&pki.dir);
}

fn journal(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hl7-harness-transports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn send_and_serve_over_hllp_with_each_checksum_variant() {
    for (checksum, other) in [("xor-decimal", "sum-mod256"), ("sum-mod256", "xor-decimal")] {
        for span in ["data", "start-block-to-data"] {
            let path = journal(&format!("hllp-{checksum}-{span}"));
            let server = serve(&[
                "--journal",
                path.to_str().unwrap(),
                "--hllp",
                "127.0.0.1:0",
                "--hllp-checksum",
                checksum,
                "--hllp-span",
                span,
            ]);
            let url = listening(&server, "hllp://");
            let flags = ["--hllp-checksum", checksum, "--hllp-span", span];
            let output = run(&[&["send", A04, "--target", &url][..], &flags].concat());
            assert_eq!(output.status.code(), Some(0), "{checksum} {span}: {}", stdout(&output));
            assert!(stdout(&output).contains(": AA, MSA-2 matches"), "{}", stdout(&output));

            // The other variant's checksum is wrong for this receiver: an N block, and the
            // message is neither journaled nor applied.
            let flags = ["--hllp-checksum", other, "--hllp-span", span, "--retries", "1"];
            let flags = [&flags[..], &["--retry-delay", "10ms"]].concat();
            let output = run(&[&["send", A04, "--target", &url][..], &flags].concat());
            assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
            assert!(stdout(&output).contains("hllp-nak"), "{}", stdout(&output));
            assert!(stdout(&output).contains("2 attempt(s)"), "resent: {}", stdout(&output));
            let records = hl7_harness::target::endpoint::read_journal(&path).unwrap();
            assert_eq!(records.len(), 1, "only the good block was processed");
        }
    }
}

#[test]
fn hllp_block_with_a_wrong_checksum_gets_the_nak_block() {
    let server = serve(&["--hllp", "127.0.0.1:0"]);
    let addr = listening(&server, "hllp://").trim_start_matches("hllp://").to_string();
    let data = "MSH|^~\\&|A|B|C|D|20240101||ADT^A04^ADT_A01|H1|P|2.6\r";
    let xor = data.bytes().fold(0u8, |a, b| a ^ b);
    let block = |checksum: u8| {
        let trailer = format!("{:05}{:03}", data.len(), checksum);
        [&b"\x0bD21\r"[..], data.as_bytes(), trailer.as_bytes(), b"\x1c\r"].concat()
    };
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(&block(xor.wrapping_add(1))).unwrap();
    let mut answer = [0u8; 16];
    let mut got = Vec::new();
    while !got.ends_with(b"\x1c\r") {
        let n = stream.read(&mut answer).unwrap();
        assert!(n > 0, "closed before the N block");
        got.extend_from_slice(&answer[..n]);
    }
    assert_eq!(&got[..6], b"\x0bN21\rX", "{got:?}");
    // The same connection then takes the corrected block.
    stream.write_all(&block(xor)).unwrap();
    let mut got = Vec::new();
    while !got.ends_with(b"\x1c\r") {
        let n = stream.read(&mut answer).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&answer[..n]);
    }
    assert!(got.starts_with(b"\x0bD21\rMSH|"), "{}", String::from_utf8_lossy(&got));
    assert!(String::from_utf8_lossy(&got).contains("MSA|A"), "{}", String::from_utf8_lossy(&got));
    // An N block (the sender could not read the answer) gets the same answer again.
    stream.write_all(b"\x0bN21\rX00001088\x1c\r").unwrap();
    let mut again = Vec::new();
    while !again.ends_with(b"\x1c\r") {
        let n = stream.read(&mut answer).unwrap();
        assert!(n > 0);
        again.extend_from_slice(&answer[..n]);
    }
    assert_eq!(again, got);
}

/// One HLLP block with the default variant (XOR of the data, data span).
fn hllp_block(kind: u8, data: &[u8], damage: bool) -> Vec<u8> {
    let xor = data.iter().fold(0u8, |a, b| a ^ b).wrapping_add(u8::from(damage));
    let trailer = format!("{:05}{:03}", data.len(), xor);
    [&[0x0b, kind, b'2', b'1', b'\r'][..], data, trailer.as_bytes(), b"\x1c\r"].concat()
}

#[test]
fn hllp_sender_naks_a_damaged_answer_and_takes_the_resent_one() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("hllp://{}", listener.local_addr().unwrap());
    let receiver = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let read_block = |stream: &mut TcpStream| {
            let mut got = Vec::new();
            let mut byte = [0u8; 1];
            while !got.ends_with(b"\x1c\r") {
                match stream.read(&mut byte) {
                    Ok(1) => got.push(byte[0]),
                    _ => break,
                }
            }
            got
        };
        let message = read_block(&mut stream);
        let text = String::from_utf8_lossy(&message).into_owned();
        let msh10 = text.split('\r').nth(1).and_then(|m| m.split('|').nth(9)).unwrap_or("");
        let ack = format!("MSH|^~\\&|R|R|S|S|20240101||ACK^A04^ACK|K1|P|2.6\rMSA|AA|{msh10}\r");
        stream.write_all(&hllp_block(b'D', ack.as_bytes(), true)).unwrap();
        let nak = read_block(&mut stream);
        stream.write_all(&hllp_block(b'D', ack.as_bytes(), false)).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        nak
    });
    let output = run(&["send", A04, "--target", &url, "--retries", "0", "--ack-timeout", "5s"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("AA, MSA-2 matches"), "{}", stdout(&output));
    let nak = receiver.join().unwrap();
    assert_eq!(&nak[..6], b"\x0bN21\rX", "{}", String::from_utf8_lossy(&nak));
}

#[test]
fn commit_acknowledgements_of_mllp_release_2() {
    let server = serve(&["--commit-ack"]);
    let output = run(&["send", A04, "--target", &server.url, "--commit-ack"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("AA, MSA-2 matches, commit ACK"), "{}", stdout(&output));

    // On the wire: the commit ACK frame first, then the application ACK.
    let message = std::fs::read(workspace().join(A04)).unwrap();
    let mut stream = TcpStream::connect(server.url.trim_start_matches("mllp://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(&[&[0x0b][..], &message, &[0x1c, 0x0d]].concat()).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while got.iter().filter(|b| **b == 0x1c).count() < 2 {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed early");
        got.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(&got[..4], &[0x0b, 0x06, 0x1c, 0x0d]);
    assert!(got[4..].starts_with(b"\x0bMSH|"), "{}", String::from_utf8_lossy(&got));
    drop(server);

    // A receiver without commit acknowledgements: the sender says what is missing.
    let plain = serve(&[]);
    let output = run(&["send", A04, "--target", &plain.url, "--commit-ack"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(stdout(&output).contains("no-commit-ack"), "{}", stdout(&output));
    assert!(stdout(&output).contains("no commit ACK"), "{}", stdout(&output));
}

/// MLLP release 2 lets a receiver refuse to commit a message with a commit NAK, the sender then
/// sending it again: `run` resends after the NAK (same MSH-10) and grades the resend, so a
/// receiver that NAKs every first delivery passes, and its commit ACKs are not taken for the
/// application acknowledgments.
#[test]
fn run_resends_after_a_commit_nak_and_grades_the_resend() {
    let server = serve(&["--commit-ack", "--commit-nak-first"]);
    let file = "scenarios/conformance-core/ack-protocol.yaml";
    let list = ["run", file, "--target", &server.url, "--filter", "message is", "--seed", "3"];
    let output = run(&[&list[..], &["--no-report", "--json"]].concat());
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    assert_eq!(stdout(&output).lines().count(), 3, "{}", stdout(&output));
}

#[cfg(target_os = "linux")]
#[test]
fn commit_nak_when_the_message_cannot_be_stored() {
    // Every write to /dev/full fails (ENOSPC): the journal cannot store anything.
    let server = serve(&["--commit-ack", "--journal", "/dev/full"]);
    let list = ["send", A04, "--target", &server.url, "--commit-ack", "--retries", "1"];
    let output = run(&[&list[..], &["--retry-delay", "10ms", "--ack-timeout", "2s"]].concat());
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(text.contains("no ACK (commit-nak: ") && text.contains("commit NAK"), "{text}");
    assert!(text.contains("2 attempt(s)"), "resent after the NAK: {text}");
}
