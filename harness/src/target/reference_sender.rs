//! The reference sender (what `hl7-harness send` runs). It sends each message over MLLP (plain
//! or TLS), HLLP or HL7 over HTTP(S), waits for the ACK whose MSA-2 is the message's MSH-10,
//! and resends the same message (same MSH-10) after a timeout (on a new MLLP or HLLP
//! connection: the peer may have vanished without a FIN or RST) or a lost connection, waiting
//! `--retry-delay` between attempts and opening a new connection when the old one is gone
//! (HL7 v2.5.1 ch. 2, original acknowledgment mode: the sender resends the same message when no
//! acknowledgment arrives). `--defect NAME` switches on a known sender bug instead
//! ([`SenderDefect`](crate::target::sender_defect::SenderDefect)).
//!
//! It lives beside the reference endpoint: both are the harness's known-good (or knowingly
//! broken) peers. It does not read files or flags (the CLI gives it messages and settings) and
//! speaks through `transport::client`, like every other client of the harness.

use crate::hl7::ack::ReceivedAck;
use crate::hl7::edit::MessageBuf;
use crate::hl7::Path;
use crate::target::sender_defect::{SenderDefect, SenderDefects};
use crate::transport::client::{
    await_mllp_ack, connect_mllp, post_hl7, send_and_await_hllp, AckWait, HllpAnswer, HllpBlocks,
    MllpAnswer, Passed, Takes,
};
use crate::transport::connection::{MllpConnection, Timeouts, TransportError};
use crate::transport::hllp::HllpOptions;
use crate::transport::hllp_connection::HllpConnection;
use crate::transport::http_client::{parse_reply, HttpReply, HttpTarget};
use crate::transport::mllp::MllpOptions;
use crate::transport::target_url::TargetUrl;
use crate::vocab::ControlId;
use serde::Serialize;
use std::io::Write;
use std::time::{Duration, Instant};
use tokio_rustls::TlsConnector;

/// The verdict on one message.
#[derive(Debug, Serialize)]
pub struct Verdict {
    file: String,
    message: usize,
    control_id: ControlId,
    /// MSA-1 of the ACK taken; absent when none arrived.
    ack_code: Option<String>,
    /// MSA-2 of the ACK taken (the message's MSH-10 unless a sender defect took another).
    #[serde(skip_serializing_if = "Option::is_none")]
    ack_msa2: Option<String>,
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
    /// With --commit-ack: `ack`, `nak` or `missing`, for the last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<&'static str>,
    /// Whether a connection to the target existed for this message (exit code 3 otherwise).
    #[serde(skip)]
    connected: bool,
}

impl Verdict {
    /// An AA or CA whose MSA-2 is the message's MSH-10 was taken.
    pub fn accepted(&self) -> bool {
        self.accepted
    }

    /// A connection to the target existed for this message.
    pub fn connected(&self) -> bool {
        self.connected
    }

    /// A message not yet sent.
    fn new(file: String, message: usize, control_id: ControlId) -> Verdict {
        Verdict {
            file,
            message,
            control_id,
            ack_code: None,
            ack_msa2: None,
            ack_text: None,
            accepted: false,
            attempts: 0,
            millis: 0,
            failure: None,
            failure_detail: None,
            stray_acks: Vec::new(),
            http_status: None,
            commit: None,
            connected: false,
        }
    }

    fn fail(&mut self, code: &str, detail: String) {
        self.failure = Some(code.to_string());
        self.failure_detail = Some(detail);
    }

    fn fail_with(&mut self, err: &TransportError) {
        self.fail(&err.code().to_string(), err.to_string());
    }

    /// Takes `ack` as the answer to this message.
    fn take(&mut self, ack: ReceivedAck) {
        self.accepted = ack.is_accept();
        self.ack_code = Some(ack.msa1);
        self.ack_msa2 = Some(ack.msa2);
        self.ack_text = ack.text;
        self.failure = None;
        self.failure_detail = None;
    }
}

/// How the sender behaves, from the flags.
pub struct Sender {
    /// `read` is the ACK timeout.
    pub timeouts: Timeouts,
    /// Resends after a timeout or a lost connection.
    pub retries: u32,
    pub retry_delay: Duration,
    /// MLLP release 2: wait for the commit acknowledgement.
    pub commit_ack: bool,
    pub defects: SenderDefects,
}

impl Sender {
    fn attempts(&self) -> u32 {
        if self.defects.has(SenderDefect::NoRetry) {
            1
        } else {
            self.retries.saturating_add(1)
        }
    }

    fn delay(&self) -> Duration {
        if self.defects.has(SenderDefect::RetryWithoutDelay) {
            Duration::ZERO
        } else {
            self.retry_delay
        }
    }

    /// Whether `ack` answers the message sent with `control_id`.
    fn answers(&self, ack: &ReceivedAck, control_id: &str) -> bool {
        ack.msa2 == control_id || self.defects.has(SenderDefect::IgnoresMsa2)
    }

    /// The wait for the ACK of the message sent with `control_id`.
    fn wait_for<'a>(&self, control_id: &'a str) -> AckWait<'a> {
        AckWait {
            control_id,
            takes: Takes::any_msa2(self.defects.has(SenderDefect::IgnoresMsa2)),
            stop_on_commit_nak: self.commit_ack,
            wait: self.timeouts.read,
        }
    }
}

/// Why the sender cannot send to a target.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error(
        "builtin: send needs a running target; `run` and `load` start the built-in endpoint \
         themselves"
    )]
    Builtin,
    #[error("--commit-ack is MLLP Release 2: it needs an mllp:// or mllps:// target")]
    CommitAckNeedsMllp,
    #[error("writing a verdict: {0}")]
    Output(#[source] std::io::Error),
}

/// Where messages go, with the connection kept between messages.
pub struct Session(Route);

/// A session's transport, with its connection state.
enum Route {
    Mllp { addr: String, tls: Option<TlsConnector>, connection: Option<MllpConnection>, lost: bool },
    Hllp { addr: String, options: HllpOptions, connection: Option<HllpConnection>, lost: bool },
    Http { target: HttpTarget, tls: Option<TlsConnector> },
}

/// One message to send.
pub struct Outgoing {
    pub file: String,
    /// 1-based position in its file.
    pub index: usize,
    /// Its MSH-10 (empty when it has none).
    pub control_id: ControlId,
    pub bytes: Vec<u8>,
}

impl Session {
    /// The route to `url`: `tls` is the connector for `mllps://` and `https://` (required
    /// there), `basic` the HTTP credentials, `hllp` the block settings of `hllp://`.
    pub fn new(
        url: TargetUrl,
        basic: Option<(String, String)>,
        tls: Option<TlsConnector>,
        hllp: HllpOptions,
    ) -> Result<Session, SenderError> {
        Ok(Session(match url {
            TargetUrl::Builtin => return Err(SenderError::Builtin),
            TargetUrl::Http(_) | TargetUrl::Https(_) => {
                let mut target = url.http_target().expect("TargetUrl checked the HTTP URL");
                target.basic = basic;
                Route::Http { target, tls }
            }
            TargetUrl::Mllp(addr) | TargetUrl::Mllps(addr) => {
                Route::Mllp { addr, tls, connection: None, lost: false }
            }
            TargetUrl::Hllp(addr) => {
                Route::Hllp { addr, options: hllp, connection: None, lost: false }
            }
        }))
    }
}

impl Session {
    /// Whether the route can carry what `sender` asks (a commit ACK needs MLLP).
    pub fn takes(&self, sender: &Sender) -> Result<(), SenderError> {
        if sender.commit_ack && !matches!(self.0, Route::Mllp { .. }) {
            return Err(SenderError::CommitAckNeedsMllp);
        }
        Ok(())
    }
}

/// Sends every message in order and hands each verdict to `on_verdict` as it is reached (with
/// the `no-wait-for-ack` defect, all of them once every message was written).
pub async fn send_all(
    session: &mut Session,
    sender: &Sender,
    messages: Vec<Outgoing>,
    mut on_verdict: impl FnMut(&Verdict) -> std::io::Result<()>,
) -> Result<Vec<Verdict>, SenderError> {
    session.takes(sender)?;
    let messages = if sender.defects.has(SenderDefect::DropsEmail) {
        messages.into_iter().map(without_pid13).collect()
    } else {
        messages
    };
    let messages = if sender.defects.has(SenderDefect::Msh4WithoutAlias) {
        messages.into_iter().map(without_msh4_alias).collect()
    } else {
        messages
    };
    let verdicts = if sender.defects.has(SenderDefect::NoWaitForAck) {
        let verdicts = pipeline(&mut session.0, sender, messages).await;
        verdicts.iter().try_for_each(&mut on_verdict).map_err(SenderError::Output)?;
        verdicts
    } else {
        let mut verdicts = Vec::new();
        for message in &messages {
            let verdict = deliver(&mut session.0, sender, message).await;
            on_verdict(&verdict).map_err(SenderError::Output)?;
            verdicts.push(verdict);
        }
        verdicts
    };
    Ok(verdicts)
}

/// `payload` with MSH-10 set to `control_id` (for the `new-msh10-on-retry` defect).
fn with_control_id(payload: &[u8], control_id: &str) -> Vec<u8> {
    let Ok(mut buf) = MessageBuf::new(payload.to_vec()) else { return payload.to_vec() };
    match Path::parse("MSH-10") {
        Ok(path) if buf.set_raw(&path, control_id.as_bytes()).is_ok() => buf.into_bytes(),
        _ => payload.to_vec(),
    }
}

/// The `drops-email` defect: every PID-13 emptied (each PID of a merge).
fn without_pid13(mut message: Outgoing) -> Outgoing {
    let Ok(mut buf) = MessageBuf::new(message.bytes.clone()) else { return message };
    let valued: Vec<usize> = {
        let parsed = buf.message();
        let pids = parsed.segments().filter(|s| s.id() == "PID");
        pids.enumerate()
            .filter(|(_, pid)| pid.field(13).is_some_and(|f| !f.is_empty()))
            .map(|(i, _)| i + 1)
            .collect()
    };
    for occurrence in valued {
        if let Ok(path) = Path::parse(&format!("PID[{occurrence}]-13")) {
            let _ = buf.set_raw(&path, b"");
        }
    }
    message.bytes = buf.into_bytes();
    message
}

/// The `msh4-without-alias` defect: MSH-4.1 cut before its first `{` (the partner syntax
/// `connecting-alias{data-controller-alias}` of seed 004 loses its second alias).
fn without_msh4_alias(mut message: Outgoing) -> Outgoing {
    let Ok(mut buf) = MessageBuf::new(message.bytes.clone()) else { return message };
    let Ok(path) = Path::parse("MSH-4.1") else { return message };
    let value = buf.message().get(&path).map(|v| v.as_bytes().to_vec());
    let Some(value) = value else { return message };
    let Some(cut) = value.iter().position(|b| *b == b'{') else { return message };
    if buf.set_raw(&path, &value[..cut]).is_ok() {
        message.bytes = buf.into_bytes();
    }
    message
}

/// Sends one message until it is answered or the attempts run out: the same bytes each time,
/// `--retry-delay` apart.
async fn deliver(session: &mut Route, sender: &Sender, message: &Outgoing) -> Verdict {
    let started = Instant::now();
    let mut verdict = Verdict::new(message.file.clone(), message.index, message.control_id.clone());
    for attempt in 0..sender.attempts() {
        if attempt > 0 {
            tokio::time::sleep(sender.delay()).await;
        }
        verdict.attempts += 1;
        let (payload, control_id) =
            if attempt > 0 && sender.defects.has(SenderDefect::NewMsh10OnRetry) {
                let id = format!("{}-R{attempt}", message.control_id);
                (with_control_id(&message.bytes, &id), ControlId(id))
            } else {
                (message.bytes.clone(), message.control_id.clone())
            };
        if session.attempt(sender, &payload, control_id.as_str(), &mut verdict).await {
            break;
        }
    }
    verdict.millis = started.elapsed().as_millis();
    verdict
}

/// The `no-wait-for-ack` defect: every message is written before any ACK is read, then the
/// ACKs are read in order; no resends.
async fn pipeline(session: &mut Route, sender: &Sender, messages: Vec<Outgoing>) -> Vec<Verdict> {
    let started = Instant::now();
    let mut verdicts: Vec<Verdict> = messages
        .iter()
        .map(|m| Verdict::new(m.file.clone(), m.index, m.control_id.clone()))
        .collect();
    let Route::Mllp { .. } = session else {
        // One request per message has nothing to pipeline: send as usual.
        let mut out = Vec::new();
        for message in &messages {
            out.push(deliver(session, sender, message).await);
        }
        return out;
    };
    for (message, verdict) in messages.iter().zip(verdicts.iter_mut()) {
        verdict.attempts = 1;
        match session.mllp_connection(sender, verdict).await {
            Some(connection) => {
                if let Err(err) = connection.send(&message.bytes).await {
                    verdict.fail_with(&err);
                    session.drop_connection();
                }
            }
            None => continue,
        }
    }
    for verdict in verdicts.iter_mut().filter(|v| v.connected && v.failure.is_none()) {
        let Route::Mllp { connection: Some(connection), .. } = session else { break };
        let control_id = verdict.control_id.clone();
        match wait_for_mllp_ack(connection, sender, control_id.as_str(), verdict).await {
            Ok(MllpAnswer::Ack(ack)) => verdict.take(ack),
            Ok(MllpAnswer::CommitNak) => {}
            Err(err) => verdict.fail_with(&err),
        }
        verdict.millis = started.elapsed().as_millis();
    }
    verdicts
}

impl Route {
    /// Gives up an MLLP connection that answered nothing in time; the next attempt opens a
    /// new one.
    fn close_after_timeout(&mut self) {
        if let Route::Mllp { connection, .. } = self {
            *connection = None;
        }
    }

    fn drop_connection(&mut self) {
        match self {
            Route::Mllp { connection, lost, .. } => {
                *connection = None;
                *lost = true;
            }
            Route::Hllp { connection, lost, .. } => {
                *connection = None;
                *lost = true;
            }
            Route::Http { .. } => {}
        }
    }

    /// The MLLP connection, opened when there is none (unless `no-reconnect` forbids it after
    /// a loss); `None` with the failure recorded when there is no connection.
    async fn mllp_connection(
        &mut self,
        sender: &Sender,
        verdict: &mut Verdict,
    ) -> Option<&mut MllpConnection> {
        let Route::Mllp { addr, tls, connection, lost } = self else { return None };
        if connection.is_none() {
            if *lost && sender.defects.has(SenderDefect::NoReconnect) {
                verdict.fail("not-reconnected", format!("the connection to {addr} was lost"));
                return None;
            }
            let options = MllpOptions::default();
            match connect_mllp(addr, tls.as_ref(), options, sender.timeouts).await {
                Ok(c) => *connection = Some(c),
                Err(err) => {
                    verdict.fail_with(&err);
                    return None;
                }
            }
        }
        verdict.connected = true;
        connection.as_mut()
    }

    /// One attempt at one message; true when it was answered (no resend needed).
    async fn attempt(
        &mut self,
        sender: &Sender,
        payload: &[u8],
        control_id: &str,
        verdict: &mut Verdict,
    ) -> bool {
        match self {
            Route::Http { target, tls } => {
                match post_hl7(target, tls.as_ref(), payload, sender.timeouts).await {
                    Ok(reply) => {
                        verdict.connected = true;
                        verdict.http_status = Some(reply.status);
                        take_http_ack(sender, verdict, control_id, &reply);
                        true
                    }
                    Err(err) => {
                        verdict.fail_with(&err);
                        false
                    }
                }
            }
            Route::Hllp { .. } => self.hllp_attempt(sender, payload, control_id, verdict).await,
            Route::Mllp { .. } => {
                verdict.commit = None;
                let Some(connection) = self.mllp_connection(sender, verdict).await else {
                    return false;
                };
                if let Err(err) = connection.send(payload).await {
                    verdict.fail_with(&err);
                    self.drop_connection();
                    return false;
                }
                match wait_for_mllp_ack(connection, sender, control_id, verdict).await {
                    Ok(MllpAnswer::Ack(ack)) => {
                        verdict.take(ack);
                        if sender.commit_ack && verdict.commit.is_none() {
                            verdict.commit = Some("missing");
                            verdict.accepted = false;
                            verdict.fail(
                                "no-commit-ack",
                                "the application ACK came without a commit ACK before it".into(),
                            );
                        }
                        true
                    }
                    Ok(MllpAnswer::CommitNak) => false,
                    Err(err) => {
                        verdict.fail_with(&err);
                        if err.is_fatal_for_connection() {
                            self.drop_connection();
                        } else if !sender.defects.has(SenderDefect::ResendOnSameConnection) {
                            // No ACK in time: the peer may be gone without a FIN or a RST, and
                            // a late ACK on this connection could be taken for the resend's.
                            // Start afresh (not a loss: `no-reconnect` still reconnects).
                            self.close_after_timeout();
                        }
                        false
                    }
                }
            }
        }
    }

    async fn hllp_attempt(
        &mut self,
        sender: &Sender,
        payload: &[u8],
        control_id: &str,
        verdict: &mut Verdict,
    ) -> bool {
        let Route::Hllp { addr, options, connection, lost } = self else { return false };
        if connection.is_none() {
            if *lost && sender.defects.has(SenderDefect::NoReconnect) {
                verdict.fail("not-reconnected", format!("the connection to {addr} was lost"));
                return false;
            }
            match HllpConnection::connect(addr, *options, sender.timeouts).await {
                Ok(c) => *connection = Some(c),
                Err(err) => {
                    verdict.fail_with(&err);
                    return false;
                }
            }
        }
        verdict.connected = true;
        let Some(conn) = connection.as_mut() else { return false };
        let wait = sender.wait_for(control_id);
        let strays = &mut verdict.stray_acks;
        let answer = send_and_await_hllp(conn, payload, wait, HllpBlocks::Recover, |passed| {
            strays.extend(passed.describe("block"))
        });
        match answer.await {
            Ok(HllpAnswer::Ack(ack)) => {
                verdict.take(ack);
                true
            }
            Ok(HllpAnswer::Negative { reason }) => {
                let reason = reason.map(|r| r.byte() as char).unwrap_or('?');
                verdict.fail(
                    "hllp-nak",
                    format!("the receiver answered with an N block (reason {reason:?})"),
                );
                false
            }
            Err(err) => {
                verdict.fail_with(&err);
                if err.is_fatal_for_connection() {
                    *connection = None;
                    *lost = true;
                } else if !sender.defects.has(SenderDefect::ResendOnSameConnection) {
                    // As on MLLP: a connection that answered nothing in time is given up.
                    *connection = None;
                }
                false
            }
        }
    }
}

/// Reads frames until the ACK for `control_id` arrives or the ACK timeout runs out. ACKs for
/// other messages are kept aside on the verdict: they do not acknowledge this one. With
/// `--commit-ack`, a commit ACK is noted on the verdict and a commit NAK ends the wait.
async fn wait_for_mllp_ack(
    connection: &mut MllpConnection,
    sender: &Sender,
    control_id: &str,
    verdict: &mut Verdict,
) -> Result<MllpAnswer, TransportError> {
    let (commit, strays) = (&mut verdict.commit, &mut verdict.stray_acks);
    let answer = await_mllp_ack(connection, sender.wait_for(control_id), |passed| match passed {
        Passed::CommitAck if sender.commit_ack => *commit = Some("ack"),
        passed => strays.extend(passed.describe("frame")),
    })
    .await?;
    if answer == MllpAnswer::CommitNak {
        verdict.commit = Some("nak");
        verdict.fail("commit-nak", "the receiver could not store the message".into());
    }
    Ok(answer)
}

/// Reads the ACK from an HTTP reply body; a body that is not an ACK for this message (e.g. a
/// 401 page) is a failure named by the status.
fn take_http_ack(sender: &Sender, verdict: &mut Verdict, control_id: &str, reply: &HttpReply) {
    let status = reply.status;
    let code = format!("http-{status}");
    let Some(ack) = parse_reply(reply).ack else {
        let text =
            String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)]).trim().to_string();
        return verdict.fail(&code, format!("HTTP {status} without an ACK: {text:?}"));
    };
    if !sender.answers(&ack, control_id) {
        let msa2 = ack.msa2;
        return verdict.fail(&code, format!("HTTP {status} with an ACK for {msa2:?}"));
    }
    verdict.take(ack);
}

/// One line of text, or one JSON object, for `verdict`.
pub fn write_verdict(out: &mut dyn Write, verdict: &Verdict, json: bool) -> std::io::Result<()> {
    if json {
        return writeln!(out, "{}", serde_json::to_string(verdict).unwrap_or_default());
    }
    let what = match (&verdict.ack_code, &verdict.failure) {
        (Some(code), failure) => {
            let text = verdict.ack_text.as_deref().map(|t| format!(" ({t})")).unwrap_or_default();
            let msa2 = match &verdict.ack_msa2 {
                Some(msa2) if *msa2 != verdict.control_id.as_str() => {
                    format!("MSA-2 {msa2:?} does not match")
                }
                _ => "MSA-2 matches".to_string(),
            };
            let failure = match (failure, &verdict.failure_detail) {
                (Some(failure), Some(detail)) => format!(", not accepted ({failure}: {detail})"),
                _ => String::new(),
            };
            format!("{code}{text}, {msa2}{failure}")
        }
        (None, Some(failure)) => match &verdict.failure_detail {
            Some(detail) => format!("no ACK ({failure}: {detail})"),
            None => format!("no ACK ({failure})"),
        },
        (None, None) => "no ACK".to_string(),
    };
    let what = match verdict.commit {
        Some("ack") => format!("{what}, commit ACK"),
        Some("nak") => format!("{what}, commit NAK"),
        Some(_) => format!("{what}, no commit ACK"),
        None => what,
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
