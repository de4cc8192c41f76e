//! `hl7-harness proxy` between real systems on loopback, as separate processes: the reference
//! endpoint (`serve`) or a recording peer behind it, `send` or a raw client in front. Each fault
//! kind is shown doing what it says, and where a peer's defect is what the fault exposes, the
//! defective peer fails where the correct one passes.

use crate::mllp::Server;
use crate::support::{run, stderr, stdout, workspace};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// MSH-10 `MSG-ADT-0001`.
const A01: &str = "corpus/adt/adt_a01_v23.hl7";
/// MSH-10 `MSG-ADT-0002`.
const A03: &str = "corpus/adt/adt_a03_v231.hl7";
const WAIT: Duration = Duration::from_secs(20);

/// A running `hl7-harness proxy`, killed when dropped.
pub(crate) struct Proxy {
    child: Child,
    /// `host:port` it listens on.
    addr: String,
    /// `host:port` of its control interface.
    control: String,
    /// The control token it printed on stderr.
    token: String,
    lines: mpsc::Receiver<String>,
}

impl Proxy {
    /// `proxy --listen 127.0.0.1:0 --upstream URL --control 127.0.0.1:0 --seed 7` plus `args`.
    pub(crate) fn start(upstream: &str, args: &[&str]) -> Proxy {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hl7-harness"))
            .args(["proxy", "--listen", "127.0.0.1:0", "--upstream", upstream])
            .args(["--control", "127.0.0.1:0", "--seed", "7"])
            .args(args)
            .current_dir(workspace())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("proxy starts");
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // stderr is read to its end too (the proxy never blocks on a full pipe); the token
        // line is the one kept.
        let (token_tx, token) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if let Some(token) = line.strip_prefix("control token: ") {
                    let _ = token_tx.send(token.to_string());
                }
            }
        });
        let mut proxy = Proxy {
            child,
            addr: String::new(),
            control: String::new(),
            token: String::new(),
            lines,
        };
        proxy.addr = proxy.wait_for("listening on mllp://")["listening on mllp://".len()..].into();
        proxy.control = proxy.wait_for("control on http://")["control on http://".len()..].into();
        proxy.token = token.recv_timeout(WAIT).expect("the proxy prints its control token");
        proxy
    }

    pub(crate) fn url(&self) -> String {
        format!("mllp://{}", self.addr)
    }

    /// The next line holding `what` (earlier lines are skipped), within 20 s.
    fn wait_for(&self, what: &str) -> String {
        let until = Instant::now() + WAIT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(what) => return line,
                Ok(_) => continue,
                Err(_) => panic!("the proxy printed no line with {what:?} in time"),
            }
        }
    }

    /// Ctrl-C (SIGINT), then every line it printed until it exited.
    pub(crate) fn interrupt(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        // The shell's own `kill`: procps' /bin/kill is not on every machine.
        let status =
            Command::new("sh").args(["-c", &format!("kill -INT {pid}")]).status().expect("sh runs");
        assert!(status.success());
        let until = Instant::now() + WAIT;
        while self.child.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < until, "the proxy did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut rest = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            rest.push(line);
        }
        rest
    }

    /// One HTTP request to the control interface as its users make it (Host, the token, JSON
    /// for a POST): (status, body).
    fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let bearer = format!("Bearer {}", self.token);
        let mut headers = vec![("Host", self.control.as_str()), ("Authorization", &bearer)];
        if method == "POST" {
            headers.push(("Content-Type", "application/json"));
        }
        self.http_with(method, path, &headers, body)
    }

    /// One HTTP request with exactly `headers` (and Connection, Content-Length): (status, body).
    fn http_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.control).expect("control connects");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let headers: String = headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
        let request = format!(
            "{method} {path} HTTP/1.1\r\n{headers}Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("control answers");
        let status = response[9..12].parse().expect("status code");
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn serve(args: &[&str]) -> Server {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    Server::with_args(&args)
}

/// `send FILES --target URL` plus `extra`, with a short ACK timeout and retry delay unless
/// `extra` sets them.
pub(crate) fn send(url: &str, files: &[&str], extra: &[&str]) -> Output {
    let mut args = vec!["send"];
    args.extend_from_slice(files);
    args.extend_from_slice(&["--target", url]);
    for (flag, value) in [("--ack-timeout", "1s"), ("--retry-delay", "50ms")] {
        if !extra.contains(&flag) {
            args.extend_from_slice(&[flag, value]);
        }
    }
    args.extend_from_slice(extra);
    run(&args)
}

fn attempts(output: &Output) -> String {
    let shown = stdout(output);
    let at = shown.find(" attempt(s)").unwrap_or_else(|| panic!("no attempts in {shown}"));
    let start = shown[..at].rfind(' ').map_or(0, |i| i + 1);
    shown[start..at].to_string()
}

fn framed(payload: &[u8]) -> Vec<u8> {
    [&[0x0b][..], payload, &[0x1c, 0x0d]].concat()
}

/// The corpus message at `path` with MSH-10 `MSG-ADT-0001` replaced by `control_id`.
fn message(path: &str, control_id: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(workspace().join(path)).expect("corpus file");
    text.replace("MSG-ADT-0001", control_id).into_bytes()
}

fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("proxy accepts");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
}

/// Reads until `done` holds for the whole frames arrived; returns them and the number of reads.
fn read_frames_until(
    stream: &mut TcpStream,
    done: impl Fn(&[Vec<u8>]) -> bool,
) -> (Vec<Vec<u8>>, usize) {
    let mut buf = Vec::new();
    let mut reads = 0;
    loop {
        let mut frames = Vec::new();
        let mut start = 0;
        while let Some(end) = buf[start..].windows(2).position(|w| w == [0x1c, 0x0d]) {
            frames.push(buf[start..start + end + 2].to_vec());
            start += end + 2;
        }
        if done(&frames) {
            return (frames, reads);
        }
        let mut chunk = [0u8; 4096];
        let got = stream.read(&mut chunk).expect("frames arrive in time");
        assert!(got > 0, "the stream ended after {} frame(s)", frames.len());
        reads += 1;
        buf.extend_from_slice(&chunk[..got]);
    }
}

/// Reads until `n` whole frames arrived.
fn read_frames(stream: &mut TcpStream, n: usize) -> (Vec<Vec<u8>>, usize) {
    read_frames_until(stream, |frames| frames.len() >= n)
}

fn msa2(frame: &[u8]) -> String {
    let text = String::from_utf8_lossy(frame);
    let msa = text.split('\r').find(|s| s.starts_with("MSA|")).expect("an MSA segment");
    msa.split('|').nth(2).unwrap_or_default().to_string()
}

/// A peer that records what it receives: it accepts one connection, reads `expect` bytes,
/// writes `reply`, then reads until the other side closes; returns everything it read.
fn recording_upstream(expect: usize, reply: Vec<u8>) -> (String, std::thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("mllp://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("the proxy connects");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        while got.len() < expect {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
        stream.write_all(&reply).unwrap();
        while let Ok(n) = stream.read(&mut chunk) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
        got
    });
    (url, handle)
}

#[test]
fn without_faults_bytes_pass_byte_exact_both_ways_framed_or_not() {
    // Up: junk before a frame, a frame, a frame without its trailing CR, a commit ACK.
    let up = [
        &b"\r\nnoise"[..],
        &framed(&message(A01, "UP-1")),
        b"\x0bMSH|^~\\&|A|B|C|D|2026||ADT^A08|UP-2|P|2.5\r\x1c",
        &framed(&[0x06]),
    ]
    .concat();
    let down =
        [&framed(b"MSH|^~\\&|C|D|A|B|2026||ACK|K1|P|2.5\rMSA|AA|UP-1\r")[..], b"tail"].concat();
    let (upstream, recorded) = recording_upstream(up.len(), down.clone());
    let proxy = Proxy::start(&upstream, &[]);
    let mut client = connect(&proxy.addr);
    // Written in three pieces that cut through frames.
    for piece in [&up[..10], &up[10..200], &up[200..]] {
        client.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut got = vec![0u8; down.len()];
    client.read_exact(&mut got).expect("the reply arrives");
    assert_eq!(got, down, "down: byte-exact");
    client.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(recorded.join().unwrap(), up, "up: byte-exact, and the half-close passed on");
    assert!(proxy.wait_for("unframed-bytes").contains("7 byte(s) at stream offset 0"));
    let line = proxy.wait_for("note unframed-bytes");
    assert!(line.contains(" down note unframed-bytes: 4 byte(s)"), "{line}");
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).expect("the proxy closes after the upstream did");
    assert!(rest.is_empty());
}

#[test]
fn a_dropped_ack_is_resent_by_send_with_the_same_msh10() {
    let server = serve(&["--state", "127.0.0.1:0"]);
    let state = server.next_line().trim().strip_prefix("state on http://").unwrap().to_string();
    let proxy = Proxy::start(&server.url, &["--fault", "drop:dir=down,frame=1"]);
    let output = send(&proxy.url(), &[A01], &[]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    assert_eq!(attempts(&output), "2");
    let line = proxy.wait_for("FAULT drop");
    assert!(line.contains(" down frame=1 msh9=ACK^A01 "), "{line}");
    assert!(
        line.contains(" msa2=MSG-ADT-0001 FAULT drop rule=1 [drop:dir=down,frame=1]"),
        "{line}"
    );
    // The endpoint received the message twice, with the same MSH-10, the second a resend.
    let mut stream = TcpStream::connect(&state).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.write_all(b"GET /journal HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut journal = String::new();
    stream.read_to_string(&mut journal).unwrap();
    assert_eq!(journal.matches("\"control_id\": \"MSG-ADT-0001\"").count(), 2, "{journal}");
    assert!(journal.contains("\"duplicate\": true"), "{journal}");

    // A sender that never resends loses the message behind the same fault.
    let proxy = Proxy::start(&server.url, &["--fault", "drop:dir=down,frame=1"]);
    let output = send(&proxy.url(), &[A01], &["--defect", "no-retry"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(stdout(&output).contains("no ACK"), "{}", stdout(&output));
}

#[test]
fn a_duplicated_ack_is_seen_twice() {
    let server = serve(&[]);
    for (faults, expected) in [(&["--fault", "duplicate:dir=down,frame=1"][..], 2), (&[][..], 1)] {
        let proxy = Proxy::start(&server.url, faults);
        let mut client = connect(&proxy.addr);
        client.write_all(&framed(&message(A01, "DUP-1"))).unwrap();
        client.write_all(&framed(&message(A01, "DUP-2"))).unwrap();
        // Read up to the ACK of the second message: it fences the count for the first.
        let (frames, _) =
            read_frames_until(&mut client, |f| f.last().is_some_and(|a| msa2(a) == "DUP-2"));
        let acks: Vec<String> = frames.iter().map(|f| msa2(f)).collect();
        let first = acks.iter().filter(|a| *a == "DUP-1").count();
        assert_eq!(first, expected, "{faults:?}: {acks:?}");
    }
}

#[test]
fn corrupt_changes_exactly_the_chosen_byte() {
    let payload = message(A01, "COR-1");
    let sent = framed(&payload);
    let (upstream, recorded) = recording_upstream(sent.len(), Vec::new());
    let proxy = Proxy::start(&upstream, &["--fault", "corrupt:dir=up,frame=1,byte=10"]);
    let mut client = connect(&proxy.addr);
    client.write_all(&sent).unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let got = recorded.join().unwrap();
    assert_eq!(got.len(), sent.len());
    let differ: Vec<usize> = (0..sent.len()).filter(|&i| got[i] != sent[i]).collect();
    assert_eq!(differ, vec![11], "payload byte 10 is frame byte 11");
    let line = proxy.wait_for("FAULT corrupt");
    assert!(line.contains("up frame=1 msh9=ADT^A01 msh10=COR-1 FAULT corrupt"), "{line}");
    assert!(line.contains(&format!("payload byte 10: 0x{:02x} -> 0x{:02x}", sent[11], got[11])));

    // MSA-2 of the ACK corrupted: `send` must not take it as its ACK, and resends.
    let server = serve(&[]);
    let proxy = Proxy::start(&server.url, &["--fault", "corrupt:dir=down,frame=1,byte=msa2"]);
    let output = send(&proxy.url(), &[A01], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(attempts(&output), "2");
    // A sender that takes any ACK as delivery is fooled by it.
    let proxy = Proxy::start(&server.url, &["--fault", "corrupt:dir=down,frame=1,byte=msa2"]);
    let output = send(&proxy.url(), &[A01], &["--defect", "ignores-msa2"]);
    assert_eq!(attempts(&output), "1", "{}", stdout(&output));
}

#[test]
fn slice_splits_frames_into_many_writes() {
    let fault = ["--fault", "slice:dir=up,size=64,ms=3"];
    // A receiver that drops a frame split over several reads gets no ACK out.
    let defective = serve(&["--defect", "fragmented-frame-dropped"]);
    let proxy = Proxy::start(&defective.url, &fault);
    let output = send(&proxy.url(), &[A01], &["--retries", "0"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let line = proxy.wait_for("FAULT slice");
    assert!(line.contains("writes of 64 byte(s), 3 ms apart"), "{line}");
    // The correct endpoint reassembles the frame.
    let correct = serve(&[]);
    let proxy = Proxy::start(&correct.url, &fault);
    let output = send(&proxy.url(), &[A01], &["--retries", "0"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    // Down: the ACK comes in pieces, the same bytes as without slicing.
    let proxy = Proxy::start(&correct.url, &["--fault", "slice:dir=down,size=8,ms=3"]);
    let (_, reads) = exchange(&proxy, "SLICE-1");
    assert!(reads > 1, "a sliced ACK took {reads} read(s)");
}

#[test]
fn half_close_after_n_frames() {
    let fault = ["--fault", "half-close:dir=up,after=1"];
    // The correct endpoint answers a message whose sender then shut its write side.
    let correct = serve(&[]);
    let proxy = Proxy::start(&correct.url, &fault);
    let (mut client, _) = exchange(&proxy, "HC-1");
    assert!(proxy.wait_for("FAULT half-close").contains("up frame=1 msh9=ADT^A01 msh10=HC-1"));
    // Later frames cannot go up any more: discarded, and logged.
    client.write_all(&framed(&message(A01, "HC-2"))).unwrap();
    let line = proxy.wait_for("discarded-after-half-close");
    assert!(line.contains("frame 2 (MSH-9 ADT^A01, MSH-10 HC-2) not delivered"), "{line}");
    // An endpoint that closes on a half-close leaves the message unanswered.
    let defective = serve(&["--defect", "closes-on-half-close"]);
    let proxy = Proxy::start(&defective.url, &fault);
    let mut client = connect(&proxy.addr);
    client.write_all(&framed(&message(A01, "HC-3"))).unwrap();
    let mut rest = Vec::new();
    let _ = client.read_to_end(&mut rest);
    assert!(!rest.contains(&0x1c), "no ACK came back: {:?}", String::from_utf8_lossy(&rest));
}

/// Sends one message with MSH-10 `control_id` through `proxy` on a new connection and reads
/// its ACK; returns the connection and how many reads the ACK took.
fn exchange(proxy: &Proxy, control_id: &str) -> (TcpStream, usize) {
    let mut client = connect(&proxy.addr);
    client.write_all(&framed(&message(A01, control_id))).unwrap();
    let (frames, reads) = read_frames(&mut client, 1);
    assert_eq!(msa2(&frames[0]), control_id);
    (client, reads)
}

/// Sends one message with MSH-10 `control_id` through `proxy`: its ACK arrives, then the
/// connection is reset.
fn ack_then_reset(proxy: &Proxy, control_id: &str) {
    let (mut client, _) = exchange(proxy, control_id);
    let mut rest = [0u8; 64];
    let err = client.read(&mut rest).expect_err("the connection is reset after the ACK");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}

#[test]
fn reset_after_n_frames() {
    let server = serve(&[]);
    let fault = ["--fault", "reset:dir=down,after=1"];
    let proxy = Proxy::start(&server.url, &fault);
    ack_then_reset(&proxy, "RST-1");
    assert!(proxy.wait_for("FAULT reset").contains("down frame=1 msh9=ACK^A01"));
    // `send` reconnects for the second message; a sender that never reconnects loses it.
    let proxy = Proxy::start(&server.url, &fault);
    let output = send(&proxy.url(), &[A01, A03], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let proxy = Proxy::start(&server.url, &fault);
    let output = send(&proxy.url(), &[A01, A03], &["--defect", "no-reconnect"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(stdout(&output).contains("not-reconnected"), "{}", stdout(&output));
}

#[test]
fn an_outage_refuses_connections_then_recovers() {
    let server = serve(&[]);
    let proxy = Proxy::start(&server.url, &["--fault", "outage:ms=5000"]);
    let output = send(&proxy.url(), &[A01], &["--retries", "60", "--retry-delay", "250ms"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let tries: u32 = attempts(&output).parse().unwrap();
    assert!(tries >= 2, "refused during the outage, then delivered: {tries} attempt(s)");
    let line = proxy.wait_for("reset: outage");
    assert!(line.contains("FAULT outage rule=1 [outage:ms=5000,dir=both]"), "{line}");
    // Triggered by a frame: the connection that carried it is reset too.
    let proxy = Proxy::start(&server.url, &["--fault", "outage:ms=500,after=1,dir=down"]);
    ack_then_reset(&proxy, "OUT-1");
    assert!(proxy.wait_for("FAULT outage").contains("down frame=1"));
}

#[test]
fn the_control_interface_changes_faults_while_the_proxy_runs() {
    let server = serve(&[]);
    let proxy = Proxy::start(&server.url, &[]);
    assert_eq!(proxy.http("GET", "/faults", ""), (200, "[]\n".to_string()));
    let output = send(&proxy.url(), &[A01], &[]);
    assert_eq!(attempts(&output), "1");

    let (status, body) = proxy.http("POST", "/faults", r#"{"spec": "drop:dir=down"}"#);
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("\"id\": 1") && body.contains("\"spec\": \"drop:dir=down\""), "{body}");
    let output = send(&proxy.url(), &[A01], &["--retries", "1"]);
    assert_eq!(output.status.code(), Some(1), "every ACK dropped: {}", stdout(&output));
    let (_, events) = proxy.http("GET", "/events", "");
    assert!(events.contains("\"fault\": \"drop\"") && events.contains("\"rule\": 1"), "{events}");

    let (status, body) = proxy.http("POST", "/faults", r#"{"spec": "drop:dir=sideways"}"#);
    assert_eq!(status, 400);
    assert!(body.contains("column 10: dir must be up, down or both"), "{body}");
    let (status, body) = proxy.http("POST", "/faults", r#"{"spec": "no_ack"}"#);
    assert_eq!(status, 400);
    assert!(body.contains("`no_ack` is a receiver answer; the proxy cannot apply it"), "{body}");
    assert_eq!(proxy.http("DELETE", "/faults/9", "").0, 404);
    assert_eq!(proxy.http("DELETE", "/faults/1", ""), (200, "[]\n".to_string()));
    let output = send(&proxy.url(), &[A01], &[]);
    assert_eq!(attempts(&output), "1", "the fault is gone: {}", stdout(&output));

    proxy.http("POST", "/faults", r#"{"spec": "duplicate:dir=down"}"#);
    proxy.http("POST", "/faults", r#""delay:ms=1""#);
    let (_, listed) = proxy.http("GET", "/faults", "");
    assert!(listed.contains("\"id\": 2") && listed.contains("\"id\": 3"), "{listed}");
    assert_eq!(proxy.http("DELETE", "/faults", ""), (200, "[]\n".to_string()));
    assert_eq!(proxy.http("PUT", "/faults", "").0, 405);
}

/// Issue 14: the cross-site request a web page on the same machine can send (a "simple" POST:
/// `Origin: http://evil.example`, `Content-Type: text/plain`, no token) adds no rule, nor does
/// any request that lacks one of the guards; the same rule with all of them is added. Each
/// refused request is sent on its own connection over a real socket, as a browser would.
#[test]
fn issue14_the_control_interface_refuses_cross_site_and_unauthenticated_requests() {
    let server = serve(&[]);
    let proxy = Proxy::start(&server.url, &[]);
    let drop_acks = "drop:dir=down";
    let bearer = format!("Bearer {}", proxy.token);
    let host = proxy.control.clone();
    let good = [("Host", host.as_str()), ("Authorization", bearer.as_str())];
    /// The request's headers, the status expected, a part of the answer.
    type Refused<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);
    let refused: Vec<Refused> = vec![
        // What a page at evil.example can make a browser send.
        (
            vec![
                ("Host", &host),
                ("Origin", "http://evil.example"),
                ("Content-Type", "text/plain"),
            ],
            403,
            "another origin",
        ),
        // The same with the token (were it ever leaked): the origin is still foreign.
        (
            vec![
                good[0],
                good[1],
                ("Origin", "http://evil.example"),
                ("Content-Type", "application/json"),
            ],
            403,
            "another origin",
        ),
        // DNS rebinding: the page's own host name pointed at 127.0.0.1.
        (
            vec![("Host", "evil.example"), good[1], ("Content-Type", "application/json")],
            403,
            "Host must be",
        ),
        (vec![good[0], ("Content-Type", "application/json")], 401, "Bearer TOKEN"),
        (
            vec![good[0], ("Authorization", "Bearer 0000"), ("Content-Type", "application/json")],
            401,
            "Bearer TOKEN",
        ),
        (vec![good[0], good[1], ("Content-Type", "text/plain")], 415, "application/json"),
    ];
    for (headers, status, says) in &refused {
        let body = if headers.iter().any(|(_, v)| *v == "text/plain") {
            drop_acks.to_string()
        } else {
            format!(r#"{{"spec": "{drop_acks}"}}"#)
        };
        let (got, answer) = proxy.http_with("POST", "/faults", headers, &body);
        assert_eq!(got, *status, "{headers:?}: {answer}");
        assert!(answer.contains(says), "{headers:?}: {answer}");
    }
    assert_eq!(proxy.http_with("GET", "/faults", &[good[0]], "").0, 401, "reads need it too");
    assert_eq!(proxy.http("GET", "/faults", ""), (200, "[]\n".to_string()), "no rule was added");
    let output = send(&proxy.url(), &[A01], &[]);
    assert_eq!(output.status.code(), Some(0), "ACKs still pass: {}", stdout(&output));

    // The right request: Host, token, JSON (and the interface's own Origin is fine).
    let own = format!("http://{host}");
    let headers = [good[0], good[1], ("Content-Type", "application/json"), ("Origin", &own)];
    let (status, body) =
        proxy.http_with("POST", "/faults", &headers, &format!(r#"{{"spec": "{drop_acks}"}}"#));
    assert_eq!(status, 201, "{body}");
    let output = send(&proxy.url(), &[A01], &["--retries", "0"]);
    assert_eq!(output.status.code(), Some(1), "every ACK dropped now: {}", stdout(&output));
}

#[test]
fn the_event_log_and_report_name_each_fault_and_its_frame() {
    let dir = std::env::temp_dir().join(format!("hl7-harness-proxy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let log = dir.join("events.jsonl");
    let report = dir.join("report");
    std::fs::create_dir_all(&dir).unwrap();
    let server = serve(&[]);
    let proxy = Proxy::start(
        &server.url,
        &[
            "--fault",
            "drop:dir=up,frame=2",
            "--fault",
            "duplicate:dir=down,type=ACK^A03",
            "--log",
            log.to_str().unwrap(),
            "--report-dir",
            report.to_str().unwrap(),
        ],
    );
    let output = send(&proxy.url(), &[A01, A03], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let rest = proxy.interrupt();
    assert!(
        // The dropped message's resend goes on a new connection, after the ACK timeout.
        rest.iter().any(|l| l == "stopped: 2 connection(s), 3 frame(s) up, 2 down"),
        "{rest:?}"
    );
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let faults: Vec<&serde_json::Value> = events.iter().filter(|e| e["kind"] == "fault").collect();
    assert_eq!(faults.len(), 2, "{faults:?}");
    let (drop, dup) = (faults[0], faults[1]);
    assert_eq!(
        (&drop["fault"], &drop["dir"], &drop["frame"], &drop["msh10"], &drop["msh9"]),
        (
            &"drop".into(),
            &"up".into(),
            &2.into(),
            &"MSG-ADT-0002".into(),
            &"ADT^A03^ADT_A03".into()
        )
    );
    assert_eq!(
        (&dup["fault"], &dup["frame"], &dup["msa2"]),
        (&"duplicate".into(), &2.into(), &"MSG-ADT-0002".into())
    );
    assert!(drop["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(drop["spec"], "drop:dir=up,frame=2");
    // No message text in the log: the patient's name in the corpus message is nowhere.
    assert!(!std::fs::read_to_string(&log).unwrap().contains("Proefpersoon"));
    let in_report = std::fs::read_to_string(report.join("faults.jsonl")).unwrap();
    assert_eq!(in_report, std::fs::read_to_string(&log).unwrap());
    let summary = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(summary.contains("| 1 | `drop:dir=up,frame=2` | 1 |"), "{summary}");
    assert!(summary.contains("| Frames up / down | 3 / 2 |"), "{summary}");
    assert!(summary.contains("--seed 7 --fault 'drop:dir=up,frame=2'"), "{summary}");
    // A report folder is never written over.
    let again = run(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &server.url,
        "--report-dir",
        report.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("not empty"), "{}", stderr(&again));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_specs_and_a_remote_control_address_are_usage_errors() {
    let base = ["proxy", "--listen", "127.0.0.1:0", "--upstream", "mllp://127.0.0.1:9"];
    let output = run(&[&base[..], &["--fault", "drop:frame=0"]].concat());
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("fault spec \"drop:frame=0\", column 12"),
        "{}",
        stderr(&output)
    );
    // A client fault is a fault too, but not one the proxy can apply: refused by name.
    let output = run(&[&base[..], &["--fault", "coalesce"]].concat());
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(
            "fault spec \"coalesce\", column 1: `coalesce` is a client fault; the proxy cannot \
             apply it"
        ),
        "{}",
        stderr(&output)
    );
    let output = run(&[&base[..], &["--control", "0.0.0.0:0"]].concat());
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("only listens on loopback"), "{}", stderr(&output));
    let output = run(&["proxy", "--listen", "127.0.0.1:0", "--upstream", "http://x:1/"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("expected mllp://HOST:PORT"), "{}", stderr(&output));
}

#[test]
fn a_delayed_ack_arrives_after_the_timeout_and_the_message_is_resent() {
    let server = serve(&[]);
    let fault = ["--fault", "delay:dir=down,frame=1,ms=3000"];
    let proxy = Proxy::start(&server.url, &fault);
    // The stream keeps its order: later ACKs wait behind the held one, so the sender resends
    // until the held ACK (same MSA-2) arrives.
    let extra = ["--ack-timeout", "500ms", "--retries", "20", "--retry-delay", "500ms"];
    let output = send(&proxy.url(), &[A01], &extra);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let tries: u32 = attempts(&output).parse().unwrap();
    assert!(tries >= 2, "{tries} attempt(s)");
    let line = proxy.wait_for("FAULT delay");
    assert!(line.contains("down frame=1 msh9=ACK^A01") && line.contains("held 3000 ms"), "{line}");
    let proxy = Proxy::start(&server.url, &fault);
    let output = send(&proxy.url(), &[A01], &["--ack-timeout", "500ms", "--defect", "no-retry"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
}

#[test]
fn latency_and_bandwidth_shape_a_direction() {
    let server = serve(&[]);
    // Every ACK later than the sender waits: nothing is delivered as far as it knows.
    let proxy = Proxy::start(&server.url, &["--fault", "latency:dir=down,ms=2000"]);
    let extra = ["--ack-timeout", "300ms", "--retries", "1"];
    let output = send(&proxy.url(), &[A01], &extra);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(proxy.wait_for("FAULT latency").contains("down frame=1 msh9=ACK^A01"));
    // 400 bytes/s: the ACK comes in 20-byte pieces, the same bytes as without shaping.
    let proxy = Proxy::start(&server.url, &["--fault", "bandwidth:dir=down,bps=400"]);
    let (_, reads) = exchange(&proxy, "BW-1");
    assert!(reads > 1, "a throttled ACK took {reads} read(s)");
    assert!(proxy.wait_for("FAULT bandwidth").contains("400 bytes/s"));
}

#[test]
fn an_mllps_upstream_is_verified_against_the_ca() {
    let pki = crate::tls::pki("proxy");
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let server = serve(&["--tls-cert", &cert, "--tls-key", &key]);
    let ca = pki.path("ca.pem");
    let proxy = Proxy::start(&server.url, &["--tls-ca", &ca, "--fault", "drop:dir=down,frame=1"]);
    let output = send(&proxy.url(), &[A01], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(attempts(&output), "2", "the fault applies inside TLS");
    // An upstream certificate from a CA the proxy does not trust: no connection, logged.
    let other = pki.path("other-ca.pem");
    let proxy = Proxy::start(&server.url, &["--tls-ca", &other]);
    let mut client = connect(&proxy.addr);
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).expect("closed, not reset");
    let line = proxy.wait_for("upstream-unreachable");
    assert!(line.contains("TLS handshake with mllps://127.0.0.1:"), "{line}");
}

#[test]
fn unreachable_upstream_idle_connections_and_oversized_frames() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("mllp://{}", closed.local_addr().unwrap());
    drop(closed);
    let proxy = Proxy::start(&url, &["--idle-timeout", "1s"]);
    let mut client = connect(&proxy.addr);
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).expect("the downstream connection is closed");
    assert!(proxy.wait_for("upstream-unreachable").contains("cannot connect to mllp://"));

    // Idle for the idle timeout: both sides closed.
    let server = serve(&[]);
    let proxy = Proxy::start(&server.url, &["--idle-timeout", "1s"]);
    let mut client = connect(&proxy.addr);
    client.read_to_end(&mut rest).expect("closed when idle");
    assert!(proxy.wait_for("idle-timeout").contains("nothing sent either way for 1s"));

    // A frame over the limit passes on unframed, byte for byte, and so does what follows.
    let sent = [framed(&[b'x'; 200]), framed(&message(A01, "BIG-1"))].concat();
    let (upstream, recorded) = recording_upstream(sent.len(), Vec::new());
    let proxy = Proxy::start(&upstream, &["--max-frame-bytes", "64"]);
    let mut client = connect(&proxy.addr);
    client.write_all(&sent).unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(recorded.join().unwrap(), sent);
    assert!(proxy.wait_for("frame-too-large").contains(" up note frame-too-large"));
}

#[test]
fn a_byte_trigger_cuts_inside_a_frame() {
    let sent = framed(&message(A01, "CUT-1"));
    for (fault, how) in [("reset:dir=up,bytes=20", "reset"), ("half-close:dir=up,bytes=20", "FIN")]
    {
        let (upstream, recorded) = recording_upstream(sent.len(), Vec::new());
        let proxy = Proxy::start(&upstream, &["--fault", fault]);
        let mut client = connect(&proxy.addr);
        client.write_all(&sent).unwrap();
        // The upstream gets the first 20 bytes, then the reset or the end of the stream.
        assert_eq!(recorded.join().unwrap(), &sent[..20], "{how}");
        let line = proxy.wait_for("cut-inside-frame");
        assert!(
            line.contains(" up note cut-inside-frame: 20 byte(s) at stream offset 0"),
            "{line}"
        );
        let line = proxy.wait_for("FAULT");
        assert!(
            line.contains(&format!(
                "[{}]: after byte 20 of the connection",
                fault.replace("dir=up,bytes=20", "bytes=20,dir=up")
            )),
            "{line}"
        );
    }
}

#[test]
fn a_frame_without_its_trailer_cr_is_passed_on_without_waiting() {
    let sent = [&[0x0b][..], &message(A01, "NOCR-1"), &[0x1c]].concat();
    let (upstream, recorded) = recording_upstream(2 * sent.len(), Vec::new());
    let proxy = Proxy::start(&upstream, &["--fault", "duplicate:dir=up,frame=1"]);
    let mut client = connect(&proxy.addr);
    client.write_all(&sent).unwrap();
    // The frame is handled (here: duplicated) while the client keeps its side open, as a
    // sender waiting for its ACK does.
    assert!(proxy.wait_for("FAULT duplicate").contains("up frame=1 msh9=ADT^A01 msh10=NOCR-1"));
    drop(client);
    assert_eq!(recorded.join().unwrap(), [&sent[..], &sent[..]].concat());
}
