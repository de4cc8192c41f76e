//! The reference endpoint on HL7 over HTTP and its JSON state endpoint, over real loopback
//! sockets: a minimal HTTP/1.1 client on `std::net::TcpStream` talks to both servers, which run
//! in-process on their own runtime.

use hl7_harness::target::endpoint::Endpoint;
use hl7_harness::target::http::{
    serve_http, serve_state, BasicCredentials, ContentTypeSpelling, HttpConfig, HttpSummary,
};
use hl7_harness::target::responder::ResponderConfig;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

const A04: &str = "MSH|^~\\&|EHR|trustalias{trustalias}|HARNESS|FAC|20240101||ADT^A04^ADT_A01|M1|P|2.6\rEVN|A04|20240101\rPID|1||C1^^^EHR^PI||Doe^Jo||19800101|F|||||^NET^Internet^jo@example.invalid\rPV1|1|O\r";
const HL7: &str = "application/hl7-v2; charset=UTF-8";
/// `partner_mailco:testing`, the example of seed 004.
const GOOD_AUTH: &str = "Basic cGFydG5lcl9tYWlsY286dGVzdGluZw==";
/// `partner_mailco:wrong`.
const WRONG_AUTH: &str = "Basic cGFydG5lcl9tYWlsY286d3Jvbmc=";

/// Both servers on loopback ports, in their own runtime; `stop` ends them.
struct Servers {
    http: String,
    state: String,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<Option<HttpSummary>>>,
}

impl Servers {
    fn start(config: HttpConfig) -> Servers {
        let endpoint = Arc::new(Endpoint::new(ResponderConfig::default()));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let state = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addrs = (http.local_addr().unwrap(), state.local_addr().unwrap());
                tx.send((addrs.0.to_string(), addrs.1.to_string())).unwrap();
                let until = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
                    let _ = rx.wait_for(|s| *s).await;
                };
                let (summary, _) = tokio::join!(
                    serve_http(http, Arc::clone(&endpoint), config, until(stopped.clone())),
                    serve_state(state, endpoint, until(stopped)),
                );
                summary.ok()
            })
        });
        let (http, state) = rx.recv_timeout(Duration::from_secs(10)).expect("servers bound");
        Servers { http, state, stop: Some(stop), thread: Some(thread) }
    }

    /// Stops both servers and returns what the HTTP side recorded.
    fn stop(mut self) -> HttpSummary {
        self.halt().expect("the HTTP server returns a summary")
    }

    fn halt(&mut self) -> Option<HttpSummary> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        self.thread.take().and_then(|t| t.join().ok()).flatten()
    }

    fn post(&self, content_type: Option<&str>, auth: Option<&str>, body: &str) -> Reply {
        let mut headers = Vec::new();
        if let Some(t) = content_type {
            headers.push(("Content-Type", t));
        }
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        request(&self.http, "POST", "/", &headers, body.as_bytes())
    }

    fn get(&self, path: &str) -> Reply {
        request(&self.state, "GET", path, &[], b"")
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.halt();
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a new connection (`Connection: close`), read to the end.
fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(&[head.as_bytes(), body].concat()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = String::from_utf8_lossy(&raw[split + 4..]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok());
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let reply = Reply { status: status.expect("a status line"), headers, body };
    if let Some(length) = reply.header("Content-Length") {
        assert_eq!(length.parse::<usize>().ok(), Some(reply.body.len()), "Content-Length in bytes");
    }
    reply
}

fn partner_config() -> HttpConfig {
    HttpConfig {
        basic: Some(BasicCredentials { user: "partner_mailco".into(), password: "testing".into() }),
        allowed_aliases: vec!["trustalias".into()],
        ..HttpConfig::default()
    }
}

#[test]
fn good_message_is_accepted_and_applied() {
    let servers = Servers::start(HttpConfig::default());
    assert_eq!(servers.get("/clients/C1").status, 404, "unknown client");
    let reply = servers.post(Some(HL7), None, A04);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body.contains("MSA|AA|M1"), "{}", reply.body);
    assert_eq!(reply.header("Content-Type"), Some("application/hl7-v2; charset=UTF-8"));
    let client = servers.get("/clients/C1");
    assert_eq!(client.status, 200);
    assert_eq!(client.header("Content-Type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_str(&client.body).unwrap();
    assert_eq!(json["email"], "jo@example.invalid");
    let state: serde_json::Value = serde_json::from_str(&servers.get("/state").body).unwrap();
    assert!(state["clients"]["C1"].is_object() && state["errors"].is_array());
    assert_eq!(servers.get("/errors").status, 200);
    assert_eq!(servers.get("/professionals/P9").status, 404);
    assert_eq!(servers.get("/nothing").status, 404);
}

#[test]
fn ack_charset_follows_msh18() {
    let servers = Servers::start(HttpConfig::default());
    let latin1 = A04.replace("|P|2.6\r", "|P|2.6||||||8859/1\r");
    let reply = servers.post(Some("application/hl7-v2; charset=ISO-8859-1"), None, &latin1);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("Content-Type"), Some("application/hl7-v2; charset=ISO-8859-1"));
}

/// HL7 over HTTP 2.6, "Application Error Conditions": an HL7 response with AR, AE, CR or CE "is
/// considered a successful interaction at the transport layer, and response code of "HTTP/1.1
/// 2xx" MUST be used"; a non-2xx answer (a body that is not HL7) is text, not an HL7 type.
#[test]
fn error_and_reject_statuses() {
    let servers = Servers::start(HttpConfig::default());
    let no_pid3 = A04.replace("PID|1||C1^^^EHR^PI|", "PID|1|||");
    let reply = servers.post(Some(HL7), None, &no_pid3);
    assert_eq!(reply.status, 200, "AE: {reply:?}");
    assert!(reply.body.contains("MSA|AE|M1"), "{}", reply.body);
    let unsupported = A04.replace("ADT^A04^ADT_A01", "ORU^R01^ORU_R01");
    let reply = servers.post(Some(HL7), None, &unsupported);
    assert_eq!(reply.status, 200, "AR: {reply:?}");
    assert!(reply.body.contains("MSA|AR|M1"), "{}", reply.body);
    assert_eq!(reply.header("Content-Type"), Some("application/hl7-v2; charset=UTF-8"));
    let reply = servers.post(Some(HL7), None, "not an HL7 message");
    assert_eq!(reply.status, 400);
    assert!(reply.header("Content-Type").is_some_and(|t| t.starts_with("text/plain")));
    assert!(reply.body.contains("not an HL7 message"), "{}", reply.body);
}

#[test]
fn content_types() {
    let servers = Servers::start(HttpConfig::default());
    let reply = servers.post(Some("text/plain; charset=UTF-8"), None, A04);
    assert_eq!(reply.status, 415);
    assert!(reply.body.contains("text/plain"), "names what was sent: {}", reply.body);
    assert_eq!(servers.post(None, None, A04).status, 415);
    for spelling in ContentTypeSpelling::ALL {
        let content_type = format!("{}; charset=UTF-8", spelling.media_type());
        let reply = servers.post(Some(&content_type), None, A04);
        assert_eq!(reply.status, 200, "{content_type}: {reply:?}");
        assert!(reply.body.contains("MSA|AA|M1"), "{}", reply.body);
    }
    let get = request(&servers.http, "GET", "/", &[], b"");
    assert_eq!(get.status, 405);
    assert_eq!(get.header("Allow"), Some("POST"));
    let summary = servers.stop();
    for spelling in ContentTypeSpelling::ALL {
        assert_eq!(summary.spellings.get(&spelling), Some(&1), "{spelling:?}: {summary:?}");
    }
}

#[test]
fn credentials_are_required_before_anything_is_applied() {
    let servers = Servers::start(partner_config());
    for auth in [None, Some(WRONG_AUTH), Some("Bearer x")] {
        let reply = servers.post(Some(HL7), auth, A04);
        assert_eq!(reply.status, 401, "{auth:?}: {reply:?}");
        assert_eq!(reply.header("WWW-Authenticate"), Some("Basic realm=\"hl7\""));
    }
    let empty = serde_json::json!({"clients": {}, "professionals": {}, "errors": []});
    let state: serde_json::Value = serde_json::from_str(&servers.get("/state").body).unwrap();
    assert_eq!(state, empty, "nothing applied");
    let reply = servers.post(Some(HL7), Some(GOOD_AUTH), A04);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(servers.get("/clients/C1").status, 200);
}

#[test]
fn connecting_alias_must_be_allowed() {
    let servers = Servers::start(partner_config());
    let cases = [
        ("otheralias{trustalias}", "connecting alias \"otheralias\" in MSH-4 is not allowed"),
        ("trustalias", "MSH-4 \"trustalias\" is not connecting-alias{data-controller-alias}"),
    ];
    for (msh4, why) in cases {
        let message = A04.replace("trustalias{trustalias}", msh4);
        let reply = servers.post(Some(HL7), Some(GOOD_AUTH), &message);
        assert_eq!(reply.status, 200, "an AR is a successful HTTP interaction: {msh4}: {reply:?}");
        assert!(reply.body.contains("MSA|AR|M1"), "{}", reply.body);
        assert!(reply.body.contains("207"), "table 0357 code: {}", reply.body);
        let msa = reply.body.split('\r').find(|s| s.starts_with("MSA|")).unwrap_or_default();
        assert!(msa.contains(why), "MSA-3 says why: {msa}");
        assert_eq!(reply.header("Content-Type"), Some("application/hl7-v2; charset=UTF-8"));
    }
    assert_eq!(servers.get("/clients/C1").status, 404, "not applied");
    let reply = servers.post(Some(HL7), Some(GOOD_AUTH), A04);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(servers.get("/clients/C1").status, 200);
}

#[test]
fn oversized_body_is_refused() {
    let config = HttpConfig { max_body_bytes: 64, ..HttpConfig::default() };
    let servers = Servers::start(config);
    let reply = servers.post(Some(HL7), None, A04);
    assert_eq!(reply.status, 413, "{reply:?}");
    assert_eq!(servers.get("/clients/C1").status, 404);
}
