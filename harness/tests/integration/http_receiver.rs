//! The receiver role over HTTP (issue 16), end to end with the real binary: the PHR partner's
//! sender pack certifies the reference sender and catches its `msh4-without-alias` defect by
//! check and field; a sender that posts without credentials fails with the 401 named; a body
//! over the limit is refused with 413; an answer HTTP cannot carry is refused at load by name.

use super::support::{run, stderr, stdout, workspace};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PACK: &str = "scenarios/http-partner/sender.yaml";

/// A scenario file of its own in a folder of its own (removed when dropped).
struct Scenario(PathBuf);

impl Scenario {
    fn new(name: &str, text: &str) -> Scenario {
        let dir = std::env::temp_dir()
            .join(format!("hl7-harness-http-receiver-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("receiver.yaml"), text).unwrap();
        Scenario(dir)
    }

    fn file(&self) -> String {
        self.0.join("receiver.yaml").display().to_string()
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const MESSAGE: &str = "  m: { text: \"MSH|^~\\\\&|S|trustalias{trustalias}|R|RF|20240101||ADT^A28^ADT_A05|X|P|2.4\\nPID|||1^^^NHS^NH||Doe^Jo\" }\n";

#[test]
fn the_phr_sender_pack_certifies_the_reference_sender_and_catches_a_bare_msh4() {
    let pack = workspace().join(PACK).display().to_string();
    let output = run(&["run", "--no-report", &pack, "--seed", "3"]);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}{}", stderr(&output));
    assert!(shown.contains("PASS: 7 cases"), "{shown}");
    let args = ["run", "--no-report", &pack, "--seed", "3", "--sut-defect", "msh4-without-alias"];
    let output = run(&args);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("error sender.content"), "{shown}");
    assert!(shown.contains("error pattern MSH[1]-4"), "{shown}");
    assert!(shown.contains("\"trustalias\" does not match"), "{shown}");
    assert!(!shown.contains("harness-demo-password"), "the password is never shown: {shown}");
}

#[test]
fn a_sender_that_posts_without_credentials_fails_naming_the_401() {
    let scenario = format!(
        "role: receiver\nreceiver:\n  http: {{ path: /hl7, basic: {{ user: partner_mailco, password: \
         \"${{HL7H_HR_PASSWORD:-pw-Kq93zT}}\" }} }}\n  sut: {{ command: [\"{{harness}}\", send, \
         \"{{messages}}\", --target, \"http://{{listen}}/hl7\", --retries, \"0\"] }}\n  timeout: 5s\n\
         messages:\n{MESSAGE}receive:\n  - {{ name: no credentials, send: [m] }}\n"
    );
    let scenario = Scenario::new("noauth", &scenario);
    let report = scenario.0.join("report");
    let report_text = report.display().to_string();
    let output = run(&["run", &scenario.file(), "--seed", "1", "--report-dir", &report_text]);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}{}", stderr(&output));
    assert!(shown.contains("error sender.delivered"), "{shown}");
    assert!(
        shown.contains("answered 401 Unauthorized: no HTTP Basic credentials presented"),
        "{shown}"
    );
    for file in ["summary.md", "results.json", "report.html", "junit.xml"] {
        let text = std::fs::read_to_string(report.join(file)).unwrap();
        assert!(!text.contains("pw-Kq93zT"), "{file} shows the password");
    }
}

/// A free loopback port (a race with other tests is unlikely and only makes this test retry).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn a_body_over_the_limit_is_refused_with_413() {
    let port = free_port();
    let scenario = format!(
        "role: receiver\nreceiver:\n  listen: 127.0.0.1:{port}\n  http: {{ path: /hl7, \
         max_body_bytes: 100 }}\n  timeout: 4s\nmessages:\n{MESSAGE}receive:\n  - {{ name: big, \
         send: [m] }}\n"
    );
    let scenario = Scenario::new("limit", &scenario);
    let file = scenario.file();
    let harness = std::thread::spawn(move || run(&["run", "--no-report", &file, "--seed", "1"]));
    // The sender under test is this test: it posts 300 bytes once the harness listens.
    let until = Instant::now() + Duration::from_secs(4);
    let mut stream = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => break stream,
            Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("the harness never listened: {e}"),
        }
    };
    stream.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
    let body =
        format!("MSH|^~\\&|S|SF|R|RF|20240101||ADT^A28^ADT_A05|X|P|2.4\r{}", "Z".repeat(250));
    let head = format!(
        "POST /hl7 HTTP/1.1\r\nHost: x\r\nContent-Type: application/hl7-v2\r\nContent-Length: \
         {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body.as_bytes());
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("connection: close"), "{response}");
    let output = harness.join().unwrap();
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "nothing delivered: {shown}");
    assert!(shown.contains("error sender.delivered"), "{shown}");
}

#[test]
fn an_answer_http_cannot_carry_is_refused_at_load_by_name() {
    let scenario = format!(
        "role: receiver\nreceiver:\n  http: {{ path: /hl7 }}\nmessages:\n{MESSAGE}receive:\n  \
         - {{ name: twice, send: [m], answers: [duplicate_ack] }}\n  - {{ name: reset, send: [m], \
         answers: [ack, reset] }}\n"
    );
    let scenario = Scenario::new("refused", &scenario);
    let output = run(&["run", "--no-report", &scenario.file()]);
    let shown = format!("{}{}", stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains(
            "case \"twice\": `duplicate_ack` is a receiver answer; the receiver role's HTTP \
             answering server cannot apply it"
        ),
        "{shown}"
    );
    assert!(shown.contains("case \"reset\": `reset` is a receiver answer"), "{shown}");
}
