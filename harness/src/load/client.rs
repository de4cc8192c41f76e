//! One load connection: sends a message over the target's transport and waits for the ACK whose
//! MSA-2 is its MSH-10, within the ACK timeout. One message at a time per connection (HL7
//! original mode expects the ACK before the next message); a timeout or a broken connection
//! closes it, so a late ACK can never be taken for the next message, and the next message opens
//! a new one.

use super::stats::Ending;
use crate::transport::blocking::BlockingMllpConnection;
use crate::transport::client::{
    await_mllp_ack, await_mllp_ack_blocking, connect_mllp, post_hl7, send_and_await_hllp, AckWait,
    HllpAnswer, HllpBlocks, MllpAnswer, Passed, Takes,
};
use crate::transport::connection::{MllpConnection, Timeouts, TransportError};
use crate::transport::hllp::HllpOptions;
use crate::transport::hllp_connection::HllpConnection;
use crate::transport::http_client::{parse_reply, HttpTarget};
use crate::transport::mllp::{encode_frame, MllpOptions};
use crate::transport::target_url::{TargetUrl, TargetUrlError};
use crate::transport::userinfo::Credentials;
use bytes::BytesMut;
use std::future::Future;
use std::net::SocketAddr;
use tokio_rustls::TlsConnector;

/// Where the load goes, resolved from a target URL.
#[derive(Clone)]
pub enum LoadTarget {
    /// `mllp://` or, with a connector, `mllps://`.
    Mllp {
        addr: String,
        tls: Option<TlsConnector>,
    },
    Hllp {
        addr: String,
        options: HllpOptions,
    },
    /// `http://` or, with a connector, `https://`.
    Http {
        target: HttpTarget,
        tls: Option<TlsConnector>,
    },
}

impl std::fmt::Debug for LoadTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadTarget::Mllp { addr, tls } => {
                write!(f, "mllp{}://{addr}", if tls.is_some() { "s" } else { "" })
            }
            LoadTarget::Hllp { addr, .. } => write!(f, "hllp://{addr}"),
            LoadTarget::Http { target, tls } => {
                let scheme = if tls.is_some() { "https" } else { "http" };
                write!(f, "{scheme}://{}{}", target.authority, target.path)
            }
        }
    }
}

/// What the engine needs of a connection: send one message, say how it ended, and how many
/// ACKs for other messages it read meanwhile. A trait so the scheduler can be tested with
/// paused time against an in-memory peer.
pub trait Exchange: Send + 'static {
    fn exchange(
        &mut self,
        payload: &[u8],
        control_id: &str,
    ) -> impl Future<Output = (Ending, u64)> + Send;

    /// Whether [`exchange_blocking`](Exchange::exchange_blocking) serves this connection, so
    /// that it can have a thread of its own.
    fn blocks(&self) -> bool {
        false
    }

    /// The exchange on the calling thread, blocking it; the engine calls it only when
    /// [`blocks`](Exchange::blocks) said so (otherwise nothing is sent).
    fn exchange_blocking(&mut self, _payload: &[u8], _control_id: &str) -> (Ending, u64) {
        (Ending::NotSent { reason: "no-blocking-transport" }, 0)
    }
}

enum Open {
    None,
    Mllp(MllpConnection),
    Hllp(HllpConnection),
    /// Plain MLLP on a blocking socket, for a connection with a thread of its own.
    Blocking(BlockingMllpConnection),
}

/// A connection to a [`LoadTarget`], opened on first use and again after a loss.
pub struct Client {
    target: LoadTarget,
    timeouts: Timeouts,
    open: Open,
    /// The MLLP frame being sent, reused from message to message.
    frame: BytesMut,
    /// Where a blocking connection goes: plain MLLP to an IP address (a host name would need
    /// a lookup no timeout bounds, so it stays on the runtime).
    blocking_to: Option<SocketAddr>,
}

impl Client {
    pub fn new(target: LoadTarget, timeouts: Timeouts) -> Client {
        let blocking_to = match &target {
            LoadTarget::Mllp { addr, tls: None } => addr.parse().ok(),
            _ => None,
        };
        Client { target, timeouts, open: Open::None, frame: BytesMut::new(), blocking_to }
    }

    async fn connect(&mut self) -> Result<(), TransportError> {
        if !matches!(self.open, Open::None) {
            return Ok(());
        }
        self.open = match &self.target {
            LoadTarget::Mllp { addr, tls } => Open::Mllp(
                connect_mllp(addr, tls.as_ref(), MllpOptions::default(), self.timeouts).await?,
            ),
            LoadTarget::Hllp { addr, options } => {
                Open::Hllp(HllpConnection::connect(addr, *options, self.timeouts).await?)
            }
            LoadTarget::Http { .. } => Open::None,
        };
        Ok(())
    }
}

/// What waiting for the ACK of `control_id` means under load: only its own ACK ends the wait,
/// commit blocks are passed over, the read timeout bounds it.
fn wait_for(control_id: &str, read: std::time::Duration) -> AckWait<'_> {
    AckWait { control_id, takes: Takes::Echo, stop_on_commit_nak: false, wait: read }
}

/// Sends over MLLP and reads frames until the ACK for `control_id` (others are counted as
/// strays), within the read timeout. The frame is built in `frame`, kept by the connection
/// across messages: the same bytes `MllpConnection::send` writes, without a buffer per message.
async fn mllp(
    connection: &mut MllpConnection,
    frame: &mut BytesMut,
    payload: &[u8],
    control_id: &str,
    strays: &mut u64,
) -> Result<String, TransportError> {
    let wait = wait_for(control_id, connection.timeouts().read);
    frame.clear();
    encode_frame(payload, frame)
        .map_err(|source| TransportError::Framing { peer: connection.peer(), source })?;
    connection.write_raw(frame).await?;
    // MLLP release 2 commit acknowledgements are passed over: the application ACK follows.
    let counted = |passed: Passed| *strays += u64::from(passed != Passed::CommitAck);
    match await_mllp_ack(connection, wait, counted).await? {
        MllpAnswer::Ack(ack) => Ok(ack.msa1),
        MllpAnswer::CommitNak => unreachable!("the wait does not stop at a commit NAK"),
    }
}

/// The same over HLLP: a `D` block out, the `D` block with the ACK back; an `N` block or a
/// damaged answer is counted as the receiver's answer "HLLP N".
async fn hllp(
    connection: &mut HllpConnection,
    payload: &[u8],
    control_id: &str,
    read: std::time::Duration,
    strays: &mut u64,
) -> Result<String, TransportError> {
    let wait = wait_for(control_id, read);
    let counted = |_: Passed| *strays += 1;
    match send_and_await_hllp(connection, payload, wait, HllpBlocks::FirstBad, counted).await? {
        HllpAnswer::Ack(ack) => Ok(ack.msa1),
        HllpAnswer::Negative { .. } => Ok("HLLP N".into()),
    }
}

/// A transport error while a message was out: lost, and the connection with it.
fn lost(err: &TransportError) -> Ending {
    Ending::Lost { reason: err.code().static_name() }
}

fn not_sent(err: &TransportError) -> Ending {
    Ending::NotSent { reason: err.code().static_name() }
}

impl Exchange for Client {
    async fn exchange(&mut self, payload: &[u8], control_id: &str) -> (Ending, u64) {
        let mut strays = 0;
        if let LoadTarget::Http { target, tls } = &self.target {
            let ending = match post_hl7(target, tls.as_ref(), payload, self.timeouts).await {
                Ok(reply) => match parse_reply(&reply).ack {
                    Some(ack) if ack.msa2 == control_id => Ending::Answered { code: ack.msa1 },
                    Some(_) => {
                        strays += 1;
                        Ending::Answered {
                            code: format!("HTTP {} (ACK for another MSH-10)", reply.status),
                        }
                    }
                    None => Ending::Answered { code: format!("HTTP {}", reply.status) },
                },
                Err(
                    err @ (TransportError::Connect { .. } | TransportError::ConnectTimeout { .. }),
                ) => not_sent(&err),
                Err(err) => lost(&err),
            };
            return (ending, strays);
        }
        if let Err(err) = self.connect().await {
            return (not_sent(&err), strays);
        }
        let read = self.timeouts.read;
        let answer = match &mut self.open {
            Open::Mllp(c) => mllp(c, &mut self.frame, payload, control_id, &mut strays).await,
            Open::Hllp(c) => hllp(c, payload, control_id, read, &mut strays).await,
            Open::None | Open::Blocking(_) => {
                return (Ending::NotSent { reason: "no-connection" }, strays)
            }
        };
        match answer {
            Ok(code) => (Ending::Answered { code }, strays),
            Err(err) => {
                // Closed even after a timeout: its late ACK must not answer the next message.
                self.open = Open::None;
                (lost(&err), strays)
            }
        }
    }

    fn blocks(&self) -> bool {
        self.blocking_to.is_some()
    }

    fn exchange_blocking(&mut self, payload: &[u8], control_id: &str) -> (Ending, u64) {
        let mut strays = 0;
        let Some(addr) = self.blocking_to else {
            return (Ending::NotSent { reason: "no-blocking-transport" }, strays);
        };
        if !matches!(self.open, Open::Blocking(_)) {
            match BlockingMllpConnection::connect(addr, MllpOptions::default(), self.timeouts) {
                Ok(connection) => self.open = Open::Blocking(connection),
                Err(err) => return (not_sent(&err), strays),
            }
        }
        let Open::Blocking(connection) = &mut self.open else {
            return (Ending::NotSent { reason: "no-connection" }, strays);
        };
        match mllp_blocking(connection, payload, control_id, &mut strays) {
            Ok(code) => (Ending::Answered { code }, strays),
            Err(err) => {
                // Closed even after a timeout, as on the runtime.
                self.open = Open::None;
                (lost(&err), strays)
            }
        }
    }
}

/// [`mllp`] on a blocking connection.
fn mllp_blocking(
    connection: &mut BlockingMllpConnection,
    payload: &[u8],
    control_id: &str,
    strays: &mut u64,
) -> Result<String, TransportError> {
    let wait = wait_for(control_id, connection.timeouts().read);
    connection.send(payload)?;
    let counted = |passed: Passed| *strays += u64::from(passed != Passed::CommitAck);
    match await_mllp_ack_blocking(connection, wait, counted)? {
        MllpAnswer::Ack(ack) => Ok(ack.msa1),
        MllpAnswer::CommitNak => unreachable!("the wait does not stop at a commit NAK"),
    }
}

/// Why a target URL cannot take load.
#[derive(Debug, thiserror::Error)]
pub enum LoadTargetError {
    #[error(transparent)]
    Url(#[from] TargetUrlError),
    /// Two sources of credentials on one command line would leave the reader guessing which
    /// was sent.
    #[error("{url:?}: the URL names a user and password and so do the flags: give them once")]
    CredentialsTwice { url: String },
    #[error("{url:?}: a TLS target needs the CA to trust (--tls-ca)")]
    NeedsTls { url: String },
    /// `builtin` is started by the command (it becomes an `mllp://` URL) before it gets here.
    #[error("builtin: the built-in endpoint is not a URL to connect to here")]
    Builtin,
}

impl LoadTarget {
    /// Reads a target URL (see [`TargetUrl`]). `tls` is the connector for the TLS schemes
    /// (required there), `basic` the HTTP credentials. The userinfo of an http(s) URL is taken
    /// as the credentials when `basic` is `None` (and refused for the other schemes); no error
    /// repeats it.
    pub fn parse(
        url: &str,
        tls: Option<TlsConnector>,
        basic: Option<(String, String)>,
        hllp: HllpOptions,
    ) -> Result<LoadTarget, LoadTargetError> {
        let (url, from_url) = TargetUrl::parse_with_credentials(url)?;
        let basic = match (basic, from_url) {
            (Some(_), Some(_)) => {
                return Err(LoadTargetError::CredentialsTwice { url: url.to_string() })
            }
            (basic, from_url) => basic.or(from_url.map(Credentials::into_pair)),
        };
        LoadTarget::from_url(&url, tls, basic, hllp)
    }

    /// The target of an already parsed URL (the runner's), with the settings as in
    /// [`LoadTarget::parse`].
    pub fn from_url(
        url: &TargetUrl,
        tls: Option<TlsConnector>,
        basic: Option<(String, String)>,
        hllp: HllpOptions,
    ) -> Result<LoadTarget, LoadTargetError> {
        let need_tls = || tls.clone().ok_or(LoadTargetError::NeedsTls { url: url.to_string() });
        let with_basic = |mut target: HttpTarget| {
            target.basic = basic.clone();
            target
        };
        Ok(match url {
            TargetUrl::Builtin => return Err(LoadTargetError::Builtin),
            TargetUrl::Mllp(addr) => LoadTarget::Mllp { addr: addr.clone(), tls: None },
            TargetUrl::Mllps(addr) => {
                LoadTarget::Mllp { addr: addr.clone(), tls: Some(need_tls()?) }
            }
            TargetUrl::Hllp(addr) => LoadTarget::Hllp { addr: addr.clone(), options: hllp },
            TargetUrl::Http(_) | TargetUrl::Https(_) => {
                let target = url.http_target().expect("TargetUrl checked the HTTP URL");
                let tls = if url.uses_tls() { Some(need_tls()?) } else { None };
                LoadTarget::Http { target: with_basic(target), tls }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parse(url: &str) -> Result<String, String> {
        LoadTarget::parse(url, None, None, HllpOptions::default())
            .map(|t| format!("{t:?}"))
            .map_err(|e| e.to_string())
    }

    /// Only plain MLLP to an IP address can block: TLS, HLLP, HTTP and a host name (whose
    /// lookup no timeout bounds) stay on the runtime.
    #[test]
    fn only_plain_mllp_to_an_address_blocks() {
        let blocks = |url: &str| {
            let target = LoadTarget::parse(url, None, None, HllpOptions::default()).unwrap();
            Client::new(target, Timeouts::default()).blocks()
        };
        assert!(blocks("mllp://127.0.0.1:2575"));
        assert!(blocks("mllp://[::1]:2575"));
        assert!(!blocks("mllp://localhost:2575"));
        assert!(!blocks("hllp://127.0.0.1:2575"));
        assert!(!blocks("http://127.0.0.1:8080/hl7"));
    }

    /// A blocking connection against a real socket: its own ACK answers each message, one left
    /// unanswered is lost at the ACK timeout and the next message goes out on a new
    /// connection, so a late answer can never be taken for it.
    #[test]
    fn a_blocking_connection_loses_an_unanswered_message_and_connects_again() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut connections = 0;
            for stream in listener.incoming().take(2) {
                let mut stream = stream.unwrap();
                connections += 1;
                let mut buffer = [0u8; 4096];
                let mut answered = 0;
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    let text = String::from_utf8_lossy(&buffer[..n]).to_string();
                    let id = text.split('|').nth(9).unwrap_or_default().to_string();
                    // The first connection answers one message and then falls silent.
                    if connections == 1 && answered == 1 {
                        continue;
                    }
                    let ack = format!("\x0bMSH|^~\\&|R|R|S|S|1||ACK|9|P|2.5\rMSA|AA|{id}\r\x1c\r");
                    stream.write_all(ack.as_bytes()).unwrap();
                    answered += 1;
                }
            }
            connections
        });
        let timeouts = Timeouts { read: Duration::from_millis(200), ..Timeouts::default() };
        let target =
            LoadTarget::parse(&format!("mllp://{addr}"), None, None, HllpOptions::default())
                .unwrap();
        let mut client = Client::new(target, timeouts);
        let message = |id: &str| format!("MSH|^~\\&|A|B|C|D|1||ADT^A01|{id}|P|2.5\r");
        let mut ending = |id: &str| client.exchange_blocking(message(id).as_bytes(), id);
        assert_eq!(ending("M1"), (Ending::Answered { code: "AA".into() }, 0));
        assert_eq!(ending("M2"), (Ending::Lost { reason: "read-timeout" }, 0));
        assert_eq!(ending("M3"), (Ending::Answered { code: "AA".into() }, 0));
        drop(client);
        assert_eq!(server.join().unwrap(), 2, "M3 went out on a second connection");
    }

    #[test]
    fn target_urls() {
        assert_eq!(parse("mllp://127.0.0.1:2575"), Ok("mllp://127.0.0.1:2575".into()));
        assert_eq!(parse("hllp://h:1"), Ok("hllp://h:1".into()));
        assert_eq!(parse("http://h:8080/hl7"), Ok("http://h:8080/hl7".into()));
        assert!(parse("mllps://h:1").unwrap_err().contains("--tls-ca"));
        assert!(parse("mllp://nohost").unwrap_err().contains("HOST:PORT"));
        assert!(parse("ftp://x").unwrap_err().contains("unknown target"));
        assert_eq!(parse("http://alice:secret@h:1/x"), Ok("http://h:1/x".into()));
        let refused = parse("mllp://alice:secret@h:1").unwrap_err();
        assert!(refused.contains("takes no user") && !refused.contains("secret"), "{refused}");
        let target =
            LoadTarget::parse("http://alice:secret@h:1/x", None, None, HllpOptions::default());
        let Ok(LoadTarget::Http { target, .. }) = target else { panic!("{target:?}") };
        assert_eq!(target.basic, Some(("alice".into(), "secret".into())));
    }
}
