//! Issue 14: hostile input never loses an acknowledged message, leaks a secret or takes the
//! machine down. `serve` and `proxy` run as child processes of the built binary (under the
//! shell's `ulimit` where a resource limit is the point: `sh` is on every machine, util-linux's
//! `prlimit` is a package), over real loopback sockets and real files;
//! memory and CPU are read from `/proc/PID`. Figures are printed (`cargo test -- --nocapture`
//! shows them) and asserted only against bounds far from normal.

use crate::support::workspace;
use hl7_harness::target::journal::{encode_record, read_journal};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// The `sh -c` script of a [`Proc`] prefix that sets a resource limit with the shell's own
/// `ulimit` (`-n 40`: file descriptors; `-f N`: file size in 512-byte blocks), then runs the
/// binary (`$0`) with its arguments in the shell's place.
fn ulimit(limit: &str) -> String {
    format!("ulimit {limit} && exec \"$0\" \"$@\"")
}

/// A running `hl7-harness` child with its stdout lines and every stderr line kept.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// `prefix` (e.g. [`ulimit`]'s) then the binary and `args`, with `env`.
    fn start(prefix: &[&str], args: &[&str], env: &[(&str, &str)]) -> Proc {
        let binary = env!("CARGO_BIN_EXE_hl7-harness");
        let mut command = match prefix.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(binary);
                c
            }
            None => Command::new(binary),
        };
        let mut child = command
            .args(args)
            .envs(env.iter().copied())
            .current_dir(workspace())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hl7-harness starts");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let errors = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&errors);
        let stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            // Read as bytes: a line may hold anything a peer sent.
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).map(|n| n > 0).unwrap_or(false) {
                kept.lock().unwrap().push(String::from_utf8_lossy(&line).trim_end().to_string());
                line.clear();
            }
        });
        Proc { child, lines, errors }
    }

    /// `serve --listen 127.0.0.1:0` plus `args`; returns it and its MLLP `host:port`.
    fn serve(prefix: &[&str], args: &[&str], env: &[(&str, &str)]) -> (Proc, String) {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let proc = Proc::start(prefix, &all, env);
        let addr =
            proc.wait_for("listening on mllp://")["listening on mllp://".len()..].to_string();
        (proc, addr)
    }

    /// The next stdout line holding `what`, earlier ones skipped.
    fn wait_for(&self, what: &str) -> String {
        let until = Instant::now() + WAIT;
        loop {
            match self.lines.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(line) if line.contains(what) => return line,
                Ok(_) => continue,
                Err(_) => panic!("no line with {what:?} in time; stderr: {:?}", self.errors()),
            }
        }
    }

    fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    /// Waits until a stderr line holds `what`; returns it.
    fn wait_for_error(&self, what: &str) -> String {
        let until = Instant::now() + WAIT;
        while Instant::now() < until {
            if let Some(line) = self.errors().into_iter().find(|l| l.contains(what)) {
                return line;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no stderr line with {what:?} in time: {:?}", self.errors())
    }

    fn status_field(&self, name: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with(name)).expect("the field");
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("a number")
    }

    /// Peak resident memory so far, in MiB.
    fn peak_rss_mib(&self) -> u64 {
        self.status_field("VmHWM:") / 1024
    }

    /// User plus system CPU time so far, in clock ticks (1/100 s on Linux).
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    /// Waits for the process to exit on its own.
    fn wait_exit(&mut self) -> Option<i32> {
        let until = Instant::now() + WAIT;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the stderr reader catch up with the last lines.
                std::thread::sleep(Duration::from_millis(200));
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("still running")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hl7-hardening-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An ADT^A04 with MSH-10 `id` and `pad` extra bytes in PID-5.
fn a04(id: &str, pad: usize) -> Vec<u8> {
    format!(
        "MSH|^~\\&|EHR|HOSP|H|F|20240101||ADT^A04^ADT_A01|{id}|P|2.5\rEVN|A04|20240101\r\
         PID|1||C-{id}^^^EHR^PI||Doe{}^Jo||19800101|F|||||^NET^Internet^jo@example.invalid\r\
         PV1|1|O\r",
        "x".repeat(pad)
    )
    .into_bytes()
}

fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    stream
}

/// Writes one frame on `stream` and reads the answer frame's payload (`None`: closed first).
fn exchange_on(stream: &mut TcpStream, payload: &[u8]) -> Option<Vec<u8>> {
    stream.write_all(&[&[0x0b][..], payload, b"\x1c\r"].concat()).ok()?;
    let mut answer = Vec::new();
    let mut byte = [0u8; 1 << 16];
    while !answer.ends_with(b"\x1c\r") {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => return None,
            Ok(n) => answer.extend_from_slice(&byte[..n]),
        }
    }
    Some(answer[1..answer.len() - 2].to_vec())
}

fn exchange(addr: &str, payload: &[u8]) -> Option<Vec<u8>> {
    exchange_on(&mut connect(addr), payload)
}

/// MSA-1 of an acknowledgment.
fn msa1(ack: &[u8]) -> String {
    let text = String::from_utf8_lossy(ack);
    let msa = text.split('\r').find(|s| s.starts_with("MSA|")).unwrap_or_default();
    msa.split('|').nth(1).unwrap_or_default().to_string()
}

/// A full disk, made with a file size limit on the child: the write of a big message fails
/// half-way. The message gets AR (not AA), the journal is cut back to its last whole record,
/// and a smaller message after it is stored and acknowledged as usual.
#[test]
fn issue_14_full_disk_refuses_the_message_and_keeps_the_journal_whole() {
    let dir = temp_dir("full-disk");
    let journal = dir.join("journal");
    let record = |id: &str, pad| encode_record(1, 1_700_000_000_000, &a04(id, pad)).len() as u64;
    let small = record("S1", 0) + 8; // room for longer sequence numbers and times
    let big = record("B1", 4000);
    let limit = 3 * small + big / 2;
    // `ulimit -f` counts 512-byte blocks: rounded down, the three small records still fit
    // (big / 2 is far more than a block) and the big one still does not.
    let fsize = ulimit(&format!("-f {}", limit / 512));
    let (serve, addr) =
        Proc::serve(&["sh", "-c", &fsize], &["--journal", journal.to_str().unwrap()], &[]);
    for i in 1..=3 {
        let ack = exchange(&addr, &a04(&format!("S{i}"), 0)).expect("an ACK");
        assert_eq!(msa1(&ack), "AA", "{}", String::from_utf8_lossy(&ack));
    }
    let refused = exchange(&addr, &a04("B1", 4000)).expect("an answer, not a dead endpoint");
    let shown = String::from_utf8_lossy(&refused).into_owned();
    assert_eq!(msa1(&refused), "AR", "not stored, so never AA: {shown}");
    assert!(shown.contains("207^Application internal error"), "{shown}");
    let whole = read_journal(&journal).expect("no partial record left behind");
    assert_eq!(whole.len(), 3);
    let ack = exchange(&addr, &a04("S4", 0)).expect("an ACK");
    assert_eq!(msa1(&ack), "AA");
    let records = read_journal(&journal).expect("still whole");
    let ids: Vec<bool> =
        ["S1", "S2", "S3", "S4"].iter().zip(&records).map(|(id, r)| r == &a04(id, 0)).collect();
    assert_eq!(ids, [true; 4], "every acknowledged message, in order, and only those");
    let logged = serve.wait_for_error("could not be written");
    assert!(logged.contains("cut back to its last whole record"), "{logged}");
    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A journal damaged in the middle (a partial record with acknowledged ones after it, as the
/// full-disk bug left them) stops `serve` with the byte offset; `--repair` keeps every complete
/// record, moves the damaged bytes aside and says so; a header with an absurd length is a named
/// error, not an abort.
#[test]
fn issue_14_damaged_journal_is_repaired_keeping_every_acknowledged_record() {
    let dir = temp_dir("repair");
    let journal = dir.join("journal");
    let path = journal.to_str().unwrap();
    let (serve, addr) = Proc::serve(&[], &["--journal", path], &[]);
    let mut acknowledged = Vec::new();
    let mut send = |id: String| {
        let ack = exchange(&addr, &a04(&id, 0)).expect("an ACK");
        if msa1(&ack) == "AA" {
            acknowledged.push(a04(&id, 0));
        }
    };
    (1..=5).for_each(|i| send(format!("M{i}")));
    let damage_at = std::fs::metadata(&journal).unwrap().len();
    let torn = encode_record(6, 1_700_000_000_000, &a04("TORN", 500));
    let mut file = std::fs::OpenOptions::new().append(true).open(&journal).unwrap();
    file.write_all(&torn[..torn.len() / 2]).unwrap();
    drop(file);
    (6..=10).for_each(|i| send(format!("M{i}")));
    drop(serve);
    assert_eq!(acknowledged.len(), 10);

    let mut refused =
        Proc::start(&[], &["serve", "--listen", "127.0.0.1:0", "--journal", path], &[]);
    assert_ne!(refused.wait_exit(), Some(0));
    let why = refused.errors().join("\n");
    assert!(why.contains(&format!("record at byte {damage_at} is damaged")), "{why}");
    assert!(why.contains("--repair"), "{why}");

    let mut repair = Proc::start(&[], &["serve", "--journal", path, "--repair"], &[]);
    let said = repair.wait_for("kept");
    assert_eq!(repair.wait_exit(), Some(0));
    assert!(said.contains("kept 10 complete record(s)"), "{said}");
    let kept = read_journal(&journal).expect("whole after the repair");
    println!("journal repair: {} acknowledged, {} kept", acknowledged.len(), kept.len());
    assert_eq!(kept, acknowledged, "every acknowledged message kept, in order");
    let side: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".damaged-"))
        .collect();
    assert_eq!(side.len(), 1, "{side:?}");
    assert_eq!(std::fs::read(&side[0]).unwrap(), &torn[..torn.len() / 2]);
    let (restarted, _) = Proc::serve(&[], &["--journal", path], &[]);
    restarted.wait_for("replayed 10 journaled message(s)");
    drop(restarted);

    // An absurd length: exit with the named error and its offset (not 134 or 101).
    std::fs::write(&journal, b"hl7-journal 2 1 0 18446744073709551615 00\nx\n").unwrap();
    let mut absurd =
        Proc::start(&[], &["serve", "--listen", "127.0.0.1:0", "--journal", path], &[]);
    let code = absurd.wait_exit();
    let why = absurd.errors().join("\n");
    assert!(!matches!(code, Some(0 | 101 | 134) | None), "{code:?} {why}");
    assert!(why.contains("record at byte 0 is damaged: record shorter than its length"), "{why}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One HTTP/1.1 request on a new connection; returns the status and the whole reply.
fn http(addr: &str, head: &[u8], body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.write_all(&[head, body].concat()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

fn post(addr: &str, auth: Option<&str>, body: &[u8]) -> (u16, String) {
    let auth = auth.map(|a| format!("Authorization: Basic {a}\r\n")).unwrap_or_default();
    let head = format!(
        "POST /hl7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Type: \
         application/hl7-v2; charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    http(addr, head.as_bytes(), body)
}

const PASSWORD: &str = "correct-horse-battery";
const GUESS: &str = "hunter2-guess";

fn next_addr(proc: &Proc, prefix: &str) -> String {
    proc.wait_for(prefix)[prefix.len()..].to_string()
}

/// The state endpoint takes the HTTP listener's credentials, and a non-loopback address needs
/// `--state-public` (and then warns).
#[test]
fn issue_14_state_endpoint_needs_the_http_credentials() {
    let env = [("HL7_HARDENING_PASSWORD", PASSWORD)];
    let auth = ["--http-user", "partner", "--http-password-env", "HL7_HARDENING_PASSWORD"];
    let mut args = vec!["--http", "127.0.0.1:0", "--state", "127.0.0.1:0"];
    args.extend(auth);
    let (serve, _) = Proc::serve(&[], &args, &env);
    let http_addr = next_addr(&serve, "listening on http://");
    let state = next_addr(&serve, "state on http://");
    let ack = post(&http_addr, Some(&basic("partner", PASSWORD)), &a04("ST1", 0));
    assert_eq!(ack.0, 200, "{}", ack.1);
    let get = |auth: Option<String>| {
        let auth = auth.map(|a| format!("Authorization: Basic {a}\r\n")).unwrap_or_default();
        let head =
            format!("GET /clients/C-ST1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}\r\n");
        http(&state, head.as_bytes(), b"")
    };
    let (status, reply) = get(None);
    assert_eq!(status, 401, "{reply}");
    assert!(!reply.contains("Doe"), "{reply}");
    assert_eq!(get(Some(basic("partner", "wrong"))).0, 401);
    let (status, reply) = get(Some(basic("partner", PASSWORD)));
    assert_eq!(status, 200, "{reply}");
    assert!(reply.contains("Doe"), "{reply}");
    drop(serve);

    let mut public =
        Proc::start(&[], &["serve", "--listen", "127.0.0.1:0", "--state", "0.0.0.0:0"], &[]);
    assert_ne!(public.wait_exit(), Some(0));
    let why = public.errors().join("\n");
    assert!(why.contains("--state-public"), "{why}");
    let (public, _) = Proc::serve(&[], &["--state", "0.0.0.0:0", "--state-public"], &[]);
    public.wait_for("state on http://0.0.0.0:");
    let warning = public.wait_for_error("warning: the state endpoint");
    assert!(warning.contains("to anyone"), "{warning}");
}

/// A burst of wrong passwords: each failure is logged with the user name only, and after a few
/// the address gets 429 without its guesses being tried.
#[test]
fn issue_14_wrong_passwords_are_logged_and_slowed_down() {
    let env = [("HL7_HARDENING_PASSWORD", PASSWORD)];
    let args = [
        "--http",
        "127.0.0.1:0",
        "--http-user",
        "partner",
        "--http-password-env",
        "HL7_HARDENING_PASSWORD",
    ];
    let (serve, _) = Proc::serve(&[], &args, &env);
    let addr = next_addr(&serve, "listening on http://");
    let statuses: Vec<u16> =
        (0..12).map(|_| post(&addr, Some(&basic("partner", GUESS)), &a04("PW", 0)).0).collect();
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    println!("12 wrong passwords: {unauthorized} answered 401, {throttled} answered 429");
    assert_eq!((unauthorized, throttled), (5, 7), "{statuses:?}");
    // Blocked: even the right password is not tried until the block ends.
    assert_eq!(post(&addr, Some(&basic("partner", PASSWORD)), &a04("PW", 0)).0, 429);
    serve.wait_for_error("blocked for");
    let errors = serve.errors();
    let failures = errors.iter().filter(|l| l.contains("Basic auth failed for user \"partner\""));
    assert_eq!(failures.count(), 5, "{errors:?}");
    assert!(errors.iter().all(|l| !l.contains(GUESS) && !l.contains(PASSWORD)), "{errors:?}");
}

/// Out of file descriptors: `serve` and `proxy` back off instead of spinning, log the burst
/// once when it starts and once with its count when it ends, and keep serving the connections
/// that are open. The CPU figure is printed.
#[test]
fn issue_14_out_of_file_descriptors_backs_off_and_keeps_serving() {
    let nofile = ulimit("-n 40");
    let (serve, serve_addr) = Proc::serve(&["sh", "-c", &nofile], &[], &[]);
    check_fd_exhaustion(&serve, &serve_addr, "serve", "hl7-harness serve: accept failed");

    let (upstream, upstream_addr) = Proc::serve(&[], &[], &[]);
    let url = format!("mllp://{upstream_addr}");
    let proxy = Proc::start(
        &["sh", "-c", &nofile],
        &["proxy", "--listen", "127.0.0.1:0", "--upstream", &url, "--control", "127.0.0.1:0"],
        &[],
    );
    let proxy_addr = next_addr(&proxy, "listening on mllp://");
    check_fd_exhaustion(&proxy, &proxy_addr, "proxy", "hl7-harness proxy: accept failed");
    let errors = proxy.errors();
    assert!(errors.iter().all(|l| !l.starts_with("hl7-harness serve:")), "{errors:?}");
    drop(upstream);
}

fn check_fd_exhaustion(proc: &Proc, addr: &str, name: &str, first_line: &str) {
    let mut first = connect(addr);
    assert_eq!(msa1(&exchange_on(&mut first, &a04("FD1", 0)).expect("an ACK")), "AA");
    // More connections than descriptors: the kernel completes them, the process cannot accept.
    let flood: Vec<TcpStream> = (0..60).map(|_| connect(addr)).collect();
    proc.wait_for_error(first_line);
    let before = proc.cpu_ticks();
    std::thread::sleep(Duration::from_secs(2));
    let ticks = proc.cpu_ticks() - before;
    println!("{name} out of file descriptors: {ticks} CPU ticks (1/100 s) in 2 s");
    let lines = proc.errors().iter().filter(|l| l.contains("accept failed")).count();
    assert_eq!(lines, 1, "one line per burst: {:?}", proc.errors());
    // The connection that was open is still served.
    assert_eq!(msa1(&exchange_on(&mut first, &a04("FD2", 0)).expect("an ACK")), "AA");
    drop(flood);
    let end = proc.wait_for_error("accepting again after");
    assert!(end.contains("failed accept(s)"), "{end}");
    assert!(ticks < 150, "{name} spins: {ticks} ticks in 200");
}

/// A 4 MiB frame of empty segments is answered at once with a capped list of ERR segments, in
/// bounded memory; the figure for the largest frame (16 MiB) is in the issue's closing note.
#[test]
fn issue_14_a_frame_of_empty_segments_gets_a_capped_ack() {
    let (serve, addr) = Proc::serve(&[], &[], &[]);
    let mut frame = a04("E1", 0);
    frame.extend(std::iter::repeat_n(b'\r', 4 << 20));
    let ack = exchange(&addr, &frame).expect("an ACK");
    let shown = String::from_utf8_lossy(&ack).into_owned();
    assert_eq!(msa1(&ack), "AE", "{shown}");
    let errs = shown.split('\r').filter(|s| s.starts_with("ERR|")).count();
    assert_eq!(errs, 21, "20 listed and one that counts the rest: {shown}");
    assert!(shown.contains("more empty segments not listed (4194304 in all)"), "{shown}");
    let peak = serve.peak_rss_mib();
    println!("serve peak RSS, 4 MiB frame of empty segments: {peak} MiB");
    assert!(peak < 256, "{peak} MiB");
}

/// Runs of 0x0B inside a frame cost a counter, not memory per byte, and one log line per
/// frame; a gigabyte outside any frame leaves one line with its count.
#[test]
fn issue_14_start_bytes_and_bytes_outside_frames_are_counted() {
    let (serve, addr) = Proc::serve(&[], &[], &[]);
    // A frame holding a 1 MiB run of 0x0B, then a message.
    let mut payload = vec![0x0b; 1 << 20];
    payload.extend_from_slice(&a04("N1", 0));
    let mut stream = connect(&addr);
    stream.write_all(&[&[0x0b][..], &payload, b"\x1c\r"].concat()).unwrap();
    // Then a frame of 0x0B alone, just under the 16 MiB frame limit, and a good message.
    let mut huge = vec![0x0b; 16 << 20];
    huge.extend_from_slice(b"\x1c\r");
    stream.write_all(&huge).unwrap();
    let ack = exchange_on(&mut stream, &a04("N2", 0)).expect("an ACK after the runs");
    assert_eq!(msa1(&ack), "AA");
    let peak = serve.peak_rss_mib();
    println!("serve peak RSS, frames of 1 MiB and 16 MiB of 0x0B: {peak} MiB");
    assert!(peak < 256, "{peak} MiB");
    let nested: Vec<String> =
        serve.errors().into_iter().filter(|l| l.contains("nested-start-byte")).collect();
    assert_eq!(nested.len(), 2, "one line per frame: {nested:?}");
    assert!(nested[0].contains("1048576 Start Block 0x0B bytes inside a frame"), "{nested:?}");

    // 1 GiB outside any frame, then the peer closes.
    let mut stream = connect(&addr);
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..1024 {
        stream.write_all(&chunk).unwrap();
    }
    drop(stream);
    let line = serve.wait_for_error("outside any MLLP frame");
    assert!(line.contains("1073741824 byte(s) outside any MLLP frame"), "{line}");
    std::thread::sleep(Duration::from_millis(300));
    let outside = serve.errors().iter().filter(|l| l.contains("outside any MLLP frame")).count();
    assert_eq!(outside, 1, "{:?}", serve.errors());
    println!("serve peak RSS after 1 GiB outside frames: {} MiB", serve.peak_rss_mib());
}

/// A POST without a length gets 411, a Content-Type that is not visible ASCII is named as such,
/// and a body that does not arrive in time gets 408 and a log line.
#[test]
fn issue_14_http_length_content_type_and_body_timeout() {
    let (serve, _) = Proc::serve(&[], &["--http", "127.0.0.1:0", "--http-body-timeout", "1s"], &[]);
    let addr = next_addr(&serve, "listening on http://");
    let head = b"POST /hl7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/hl7-v2\r\n\r\n";
    let (status, reply) = http(&addr, head, &a04("L1", 0));
    assert_eq!(status, 411, "{reply}");
    let body = a04("L2", 0);
    let head = format!(
        "POST /hl7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\
         Content-Type: application/hl7-v2; charset=",
        body.len()
    );
    let raw_head = [head.as_bytes(), &[0xff], b"\r\n\r\n"].concat();
    let (status, reply) = http(&addr, &raw_head, &body);
    assert_eq!(status, 415, "{reply}");
    assert!(reply.contains("\\xff (not visible ASCII)") && !reply.contains("(none)"), "{reply}");
    let head = b"POST /hl7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/hl7-v2\r\nContent-Length: 100\r\n\r\n";
    let (status, reply) = http(&addr, head, b"MSH|^~\\&|");
    assert_eq!(status, 408, "{reply}");
    let line = serve.wait_for_error("did not arrive within");
    assert!(line.contains("408"), "{line}");
}
