//! `hl7-harness send`: a command-line MLLP sender that waits for each ACK and retries with the
//! same MSH-10 (HL7 v2.5.1 ch. 2, original acknowledgment mode: the sender resends the same
//! message when no acknowledgment arrives).

use super::duration::parse_duration;
use super::exit;
use super::input::{expand, InputFile};
use crate::hl7::{Message, Path};
use crate::transport::connection::{MllpConnection, Timeouts, TransportError};
use crate::transport::http_client::{post_message, HttpReply, HttpTarget};
use crate::transport::mllp::{FrameKind, MllpOptions};
use crate::transport::tls::ClientTls;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_rustls::TlsConnector;

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// Message files or directories (their *.hl7 files); files may hold several messages or a
    /// batch.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Where to send: mllp://HOST:PORT, mllps://HOST:PORT (MLLP over TLS) or
    /// http://HOST:PORT/PATH (HL7 over HTTP).
    #[arg(long, value_name = "URL")]
    pub target: String,
    /// PEM file of the CA certificates that may sign the server's certificate (mllps://).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS; needs --tls-client-key.
    #[arg(long, value_name = "FILE", requires = "tls_client_key")]
    pub tls_client_cert: Option<PathBuf>,
    /// The PEM private key of --tls-client-cert.
    #[arg(long, value_name = "FILE", requires = "tls_client_cert")]
    pub tls_client_key: Option<PathBuf>,
    /// HTTP Basic auth user (http:// targets); needs --http-password-env.
    #[arg(long, value_name = "NAME", requires = "http_password_env")]
    pub http_user: Option<String>,
    /// Name of the environment variable that holds the HTTP Basic auth password (never the
    /// password itself on the command line).
    #[arg(long, value_name = "VAR", requires = "http_user")]
    pub http_password_env: Option<String>,
    /// How long to wait for each ACK before resending.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub ack_timeout: Duration,
    /// How long to wait for a connection.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Resends after a timeout or a lost connection, with the same MSH-10.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub retries: u32,
    /// One JSON object per message instead of a line of text.
    #[arg(long)]
    pub json: bool,
}

/// The verdict on one message.
#[derive(Debug, Serialize)]
struct Verdict {
    file: String,
    message: usize,
    control_id: String,
    /// MSA-1 of the matching ACK; absent when none arrived.
    ack_code: Option<String>,
    /// The MSA-3 / ERR text of a negative ACK, when present.
    ack_text: Option<String>,
    accepted: bool,
    attempts: u32,
    millis: u128,
    /// Why no ACK was taken: the last transport event (`read-timeout`, `peer-closed`, …).
    failure: Option<String>,
    /// The event's full message (e.g. which certificate check failed).
    failure_detail: Option<String>,
    /// ACKs that arrived for other control ids while waiting (not counted as delivery).
    stray_acks: Vec<String>,
    /// The HTTP status of the last attempt (http:// targets).
    #[serde(skip_serializing_if = "Option::is_none")]
    http_status: Option<u16>,
    /// Whether a connection to the target existed for this message (exit code 3 otherwise).
    #[serde(skip)]
    connected: bool,
}

impl Verdict {
    /// A message not yet sent.
    fn new(file: String, message: usize, control_id: String) -> Verdict {
        Verdict {
            file,
            message,
            control_id,
            ack_code: None,
            ack_text: None,
            accepted: false,
            attempts: 0,
            millis: 0,
            failure: None,
            failure_detail: None,
            stray_acks: Vec::new(),
            http_status: None,
            connected: false,
        }
    }
}

/// What an ACK says, as `send` reports it.
struct AckFields {
    msa1: String,
    msa2: String,
    /// The reason of a negative ACK: MSA-3 (before v2.5), ERR-8, ERR-3.2 or ERR-1.4.2.
    text: Option<String>,
}

impl AckFields {
    fn of(ack: &Message<'_>) -> AckFields {
        let get = |p: &str| {
            Path::parse(p)
                .ok()
                .and_then(|p| ack.get(&p))
                .map(|v| ack.text(&v).into_owned())
                .unwrap_or_default()
        };
        let text = [get("MSA-3"), get("ERR-8"), get("ERR-3.2"), get("ERR-1.4.2")]
            .into_iter()
            .find(|t| !t.is_empty());
        AckFields { msa1: get("MSA-1"), msa2: get("MSA-2"), text }
    }
}

/// 0 when every message was accepted; 3 when the target was never reached; 1 otherwise.
fn exit_code(all_accepted: bool, ever_connected: bool) -> i32 {
    if all_accepted {
        exit::OK
    } else if !ever_connected {
        exit::UNREACHABLE
    } else {
        exit::FINDINGS
    }
}

/// Exit 0 when every message got an AA or CA whose MSA-2 is its MSH-10; 1 otherwise; 3 when the
/// target could never be reached.
pub fn run(args: &SendArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    if let Some(mut target) = HttpTarget::parse(&args.target) {
        if let (Some(user), Some(var)) = (&args.http_user, &args.http_password_env) {
            let password = std::env::var(var).map_err(|_| {
                anyhow::anyhow!("--http-password-env: environment variable {var} is not set")
            })?;
            target.basic = Some((user.clone(), password));
        }
        return run_http(args, &target, out);
    }
    let (addr, tls) = if let Some(addr) = args.target.strip_prefix("mllps://") {
        let client = ClientTls {
            ca_file: args.tls_ca.clone(),
            client_cert: args.tls_client_cert.clone().zip(args.tls_client_key.clone()),
        };
        (addr.to_string(), Some(client.connector()?))
    } else if let Some(addr) = args.target.strip_prefix("mllp://") {
        (addr.to_string(), None)
    } else {
        anyhow::bail!(
            "--target {:?}: expected mllp://HOST:PORT, mllps://HOST:PORT or http://HOST:PORT/PATH",
            args.target
        );
    };
    let messages = load(&args.files)?;
    let timeouts =
        Timeouts { connect: args.connect_timeout, read: args.ack_timeout, ..Timeouts::default() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut connection: Option<MllpConnection> = None;
        let mut ever_connected = false;
        let mut all_accepted = true;
        for Outgoing { file, index, control_id, bytes: payload } in messages {
            let verdict = send_one(
                &addr,
                tls.as_ref(),
                timeouts,
                args.retries,
                &mut connection,
                &file,
                index,
                control_id,
                &payload,
            )
            .await;
            ever_connected |= verdict.connected;
            all_accepted &= verdict.accepted;
            print(out, &verdict, args.json)?;
        }
        Ok(exit_code(all_accepted, ever_connected))
    })
}

/// One message to send.
struct Outgoing {
    file: String,
    /// 1-based position in its file.
    index: usize,
    control_id: String,
    bytes: Vec<u8>,
}

/// Every message of the files, in order.
fn load(files: &[PathBuf]) -> anyhow::Result<Vec<Outgoing>> {
    let mut messages = Vec::new();
    for path in expand(files)? {
        let file = InputFile::read(&path)?;
        for index in 0..file.messages.len() {
            let message = file.message(index)?;
            messages.push(Outgoing {
                file: file.path.clone(),
                index: index + 1,
                control_id: message.control_id().unwrap_or("").to_string(),
                bytes: message.as_bytes().to_vec(),
            });
        }
    }
    Ok(messages)
}

/// HL7 over HTTP: one POST per message; the ACK is the response body. Retries (same bytes, so
/// the same MSH-10) after a timeout or a connection failure, not after an answer.
fn run_http(args: &SendArgs, target: &HttpTarget, out: &mut dyn Write) -> anyhow::Result<i32> {
    let messages = load(&args.files)?;
    let timeouts =
        Timeouts { connect: args.connect_timeout, read: args.ack_timeout, ..Timeouts::default() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let (mut ever_connected, mut all_accepted) = (false, true);
        for Outgoing { file, index, control_id, bytes: payload } in messages {
            let started = Instant::now();
            let charset = Message::parse(&payload)
                .ok()
                .and_then(|m| m.charset().iana_name())
                .unwrap_or("UTF-8");
            let mut verdict = Verdict::new(file, index, control_id);
            for _ in 0..=args.retries {
                verdict.attempts += 1;
                match post_message(target, &payload, charset, timeouts).await {
                    Ok(reply) => {
                        verdict.connected = true;
                        verdict.http_status = Some(reply.status);
                        take_http_ack(&mut verdict, &reply);
                        break;
                    }
                    Err(err) => {
                        verdict.failure = Some(err.code().to_string());
                        verdict.failure_detail = Some(err.to_string());
                    }
                }
            }
            verdict.millis = started.elapsed().as_millis();
            ever_connected |= verdict.connected;
            all_accepted &= verdict.accepted;
            print(out, &verdict, args.json)?;
        }
        Ok(exit_code(all_accepted, ever_connected))
    })
}

/// Reads the ACK from an HTTP reply body; a body that is not an ACK for this message (e.g. a
/// 401 page) is a failure named by the status.
fn take_http_ack(verdict: &mut Verdict, reply: &HttpReply) {
    let failure = |verdict: &mut Verdict, what: String| {
        verdict.failure = Some(format!("http-{}", reply.status));
        verdict.failure_detail = Some(what);
    };
    let Ok(ack) = Message::parse(&reply.body) else {
        let text =
            String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)]).trim().to_string();
        return failure(verdict, format!("HTTP {} without an ACK: {text:?}", reply.status));
    };
    let fields = AckFields::of(&ack);
    if fields.msa2 != verdict.control_id {
        let msa2 = fields.msa2;
        return failure(verdict, format!("HTTP {} with an ACK for {msa2:?}", reply.status));
    }
    verdict.accepted = fields.msa1 == "AA" || fields.msa1 == "CA";
    verdict.ack_text = fields.text;
    verdict.ack_code = Some(fields.msa1);
    verdict.failure = None;
    verdict.failure_detail = None;
}

#[allow(clippy::too_many_arguments)]
async fn send_one(
    addr: &str,
    tls: Option<&TlsConnector>,
    timeouts: Timeouts,
    retries: u32,
    connection: &mut Option<MllpConnection>,
    file: &str,
    index: usize,
    control_id: String,
    payload: &[u8],
) -> Verdict {
    let started = Instant::now();
    let mut verdict = Verdict::new(file.to_string(), index, control_id);
    for _ in 0..=retries {
        verdict.attempts += 1;
        if connection.is_none() {
            let connected = match tls {
                Some(connector) => {
                    MllpConnection::connect_tls(addr, connector, MllpOptions::default(), timeouts)
                        .await
                }
                None => MllpConnection::connect(addr, MllpOptions::default(), timeouts).await,
            };
            match connected {
                Ok(c) => *connection = Some(c),
                Err(err) => {
                    verdict.failure = Some(err.code().to_string());
                    verdict.failure_detail = Some(err.to_string());
                    continue;
                }
            }
        }
        let Some(conn) = connection.as_mut() else { continue };
        verdict.connected = true;
        if let Err(err) = conn.send(payload).await {
            verdict.failure = Some(err.code().to_string());
            verdict.failure_detail = Some(err.to_string());
            *connection = None;
            continue;
        }
        match wait_for_ack(conn, &verdict.control_id, timeouts.read, &mut verdict.stray_acks).await
        {
            Ok((code, text)) => {
                verdict.accepted = code == "AA" || code == "CA";
                verdict.ack_code = Some(code);
                verdict.ack_text = text;
                verdict.failure = None;
                verdict.failure_detail = None;
                break;
            }
            Err(err) => {
                verdict.failure = Some(err.code().to_string());
                verdict.failure_detail = Some(err.to_string());
                if err.is_fatal_for_connection() {
                    *connection = None;
                }
            }
        }
    }
    verdict.millis = started.elapsed().as_millis();
    verdict
}

/// Reads frames until an ACK whose MSA-2 is `control_id` arrives or `wait` runs out. ACKs for
/// other messages are kept aside: they do not acknowledge this one.
async fn wait_for_ack(
    connection: &mut MllpConnection,
    control_id: &str,
    wait: Duration,
    strays: &mut Vec<String>,
) -> Result<(String, Option<String>), TransportError> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = connection.receive(Some(left)).await?;
        if frame.kind != FrameKind::Message {
            continue;
        }
        let Ok(ack) = Message::parse(&frame.payload) else {
            strays.push(format!("unreadable frame at byte {}", frame.offset));
            continue;
        };
        let fields = AckFields::of(&ack);
        if fields.msa2 != control_id {
            strays.push(format!("{} for {:?}", fields.msa1, fields.msa2));
            continue;
        }
        return Ok((fields.msa1, fields.text));
    }
}

fn print(out: &mut dyn Write, verdict: &Verdict, json: bool) -> std::io::Result<()> {
    if json {
        return writeln!(out, "{}", serde_json::to_string(verdict).unwrap_or_default());
    }
    let what = match (&verdict.ack_code, &verdict.failure) {
        (Some(code), _) => {
            let text = verdict.ack_text.as_deref().map(|t| format!(" ({t})")).unwrap_or_default();
            format!("{code}{text}, MSA-2 matches")
        }
        (None, Some(failure)) => match &verdict.failure_detail {
            Some(detail) => format!("no ACK ({failure}: {detail})"),
            None => format!("no ACK ({failure})"),
        },
        (None, None) => "no ACK".to_string(),
    };
    let what = match verdict.http_status {
        Some(status) => format!("{what}, HTTP {status}"),
        None => what,
    };
    let strays = if verdict.stray_acks.is_empty() {
        String::new()
    } else {
        format!(", ignored {} ACK(s) for other messages", verdict.stray_acks.len())
    };
    writeln!(
        out,
        "{} message {} {}: {what}, {} ms, {} attempt(s){strays}",
        verdict.file, verdict.message, verdict.control_id, verdict.millis, verdict.attempts
    )
}
