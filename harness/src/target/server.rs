//! The reference endpoint on MLLP (and on HLLP, [`serve_hllp`]): an accept loop over an already-bound listener (tests bind
//! port 0) that runs until `shutdown` resolves. Connections are persistent and concurrent; each
//! waits for the next frame at most the idle timeout, answers every message it can read, and
//! never closes for bad content (only for a peer close, a reset, a framing error or idleness).

use super::client_feed::Effect;
use super::defect::Defect;
use super::endpoint::{Endpoint, Held};
use super::fragile::{self, Health};
use super::log::Log;
use super::threaded::ConnectionThreads;
use crate::transport::accept::accept_logging;
use crate::transport::connection::{MllpConnection, Timeouts, TransportError};
use crate::transport::hllp::{BlockType, HllpOptions};
use crate::transport::hllp_connection::HllpConnection;
use crate::transport::mllp::{
    encode_commit, FrameKind, FrameNote, MllpOptions, END_BLOCK, START_BLOCK,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Settings of the MLLP side.
#[derive(Clone)]
pub struct ServerOptions {
    pub mllp: MllpOptions,
    /// `read` is the idle timeout: how long a connection may wait for its next message.
    pub timeouts: Timeouts,
    /// MLLP over TLS (`mllps://`) when set.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// How many plain connections of the correct endpoint may have a thread each
    /// ([`threaded`](super::threaded)); 0 serves every connection on the async loop.
    pub connection_threads: usize,
    /// The longest a connection's thread waits awake on its socket after an answer before its
    /// read sleeps; the wait adapts below it ([`DEFAULT_READ_SPIN`](super::threaded::DEFAULT_READ_SPIN);
    /// zero: never).
    pub read_spin: Duration,
}

/// Serves until `shutdown` resolves; returns how many connections were accepted.
pub async fn serve_mllp(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<u64> {
    serve_mllp_with_commit_ack(listener, endpoint, options, CommitAcks::Off, shutdown).await
}

/// Which MLLP release 2 commit acknowledgement blocks the endpoint sends (HL7 Version 3
/// Standard: Transport Specification - MLLP, Release 2, 1.2.2.2 Commit Acknowledgement Block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitAcks {
    /// None: MLLP release 1.
    #[default]
    Off,
    /// A commit ACK once a message is journaled, a commit NAK when it could not be stored.
    On,
    /// As `On`, but the first delivery of each message (by MSH-3, MSH-4 and MSH-10) is refused
    /// with a commit NAK, neither stored nor answered; the resend is committed and answered.
    /// Permitted: a receiver that cannot commit says so with a NAK, and the sender resends.
    NakFirst,
}

/// The messages `CommitAcks::NakFirst` has refused once, shared by every connection (the
/// resend may come on another). Bounded: forgotten wholesale when full.
#[derive(Default)]
struct Refused(std::sync::Mutex<std::collections::HashSet<Vec<u8>>>);

impl Refused {
    const MAX: usize = 65_536;

    /// True the first time a message is seen (it is to be refused), false for its resends and
    /// for frames that are not HL7 messages.
    fn first_delivery(&self, payload: &[u8]) -> bool {
        let Ok(message) = crate::hl7::Message::parse(payload) else { return false };
        let field =
            |n| message.header().field(n).map(|v| v.as_bytes().to_vec()).unwrap_or_default();
        let key = [field(3), field(4), field(10)].join(&b'|');
        let mut seen = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= Self::MAX {
            seen.clear();
        }
        seen.insert(key)
    }
}

/// Like [`serve_mllp`]; with `commit` on, each message is answered first with an MLLP
/// Release 2 commit acknowledgement (`0x0B 0x06 0x1C 0x0D`) once it is journaled, or a negative
/// one (`0x0B 0x15 0x1C 0x0D`) when it could not be stored, and then (only when stored) with
/// its application acknowledgement.
pub async fn serve_mllp_with_commit_ack(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    options: ServerOptions,
    commit: CommitAcks,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<u64> {
    let sequential = endpoint_defect(&endpoint, Defect::OneConnectionAtATime);
    let health = Arc::new(Health::logging_to(endpoint.log().clone()));
    let refused = Arc::new(Refused::default());
    let log = endpoint.log().clone();
    let threaded =
        ConnectionThreads::suits(&endpoint, options.tls.is_some(), commit != CommitAcks::Off);
    let threads = Arc::new(ConnectionThreads::new(options.connection_threads, options.read_spin));
    accept_logging(
        listener,
        shutdown,
        sequential,
        move |line| log.line(line),
        move |stream, peer| {
            let endpoint = Arc::clone(&endpoint);
            let options = options.clone();
            let health = Arc::clone(&health);
            let refused = Arc::clone(&refused);
            let threads = Arc::clone(&threads);
            async move {
                let stream = if threaded {
                    match on_a_thread(stream, &threads, &endpoint, &options) {
                        Ok(None) => return,
                        Ok(Some(stream)) => stream,
                        Err(source) => {
                            let err = TransportError::Io { peer, source };
                            endpoint.log().line(format_args!("{peer}: {err} ({})", err.code()));
                            return;
                        }
                    }
                } else {
                    stream
                };
                let connection = match &options.tls {
                    Some(acceptor) => {
                        MllpConnection::accept_tls(stream, acceptor, options.mllp, options.timeouts)
                            .await
                    }
                    None => MllpConnection::from_stream(stream, options.mllp, options.timeouts)
                        .map_err(|source| TransportError::Io { peer, source }),
                };
                match connection {
                    Ok(connection) => {
                        let idle = options.timeouts.read;
                        let mut held = Held::default();
                        let commit = (commit, &*refused);
                        let frames = handle_connection(
                            connection, &endpoint, commit, &health, idle, &mut held,
                        )
                        .await;
                        endpoint.release(&mut held);
                        health.connection_ended(endpoint.defects(), frames);
                    }
                    Err(err) => {
                        endpoint.log().line(format_args!("{peer}: {err} ({})", err.code()));
                        health.connection_failed(endpoint.defects());
                    }
                }
            }
        },
    )
    .await
}

/// Hands `stream` to a thread of its own ([`ConnectionThreads`]); `Some` gives it back to be
/// served here when no thread is free.
fn on_a_thread(
    stream: tokio::net::TcpStream,
    threads: &ConnectionThreads,
    endpoint: &Arc<Endpoint>,
    options: &ServerOptions,
) -> std::io::Result<Option<tokio::net::TcpStream>> {
    let stream = stream.into_std()?;
    match threads.serve(stream, endpoint, options.mllp, options.timeouts) {
        Ok(()) => Ok(None),
        Err(stream) => {
            stream.set_nonblocking(true)?;
            tokio::net::TcpStream::from_std(stream).map(Some)
        }
    }
}

/// Settings of the HLLP side.
#[derive(Debug, Clone, Copy)]
pub struct HllpServerOptions {
    /// The checksum variant and span both sides must agree on, and the block size limit.
    pub hllp: HllpOptions,
    /// `read` is the idle timeout.
    pub timeouts: Timeouts,
}

/// Serves the endpoint over HLLP until `shutdown` resolves; returns how many connections were
/// accepted. As `transport::hllp` documents it: a good `D` block is journaled, handled and
/// answered with a `D` block carrying the ACK; a damaged block (wrong size or checksum) is
/// answered with an `N` block giving the reason and is not processed; an `N` block from the
/// peer (it could not read the answer) gets the last answer again, and is never itself
/// answered with an `N` block.
pub async fn serve_hllp(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    options: HllpServerOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<u64> {
    let sequential = endpoint_defect(&endpoint, Defect::OneConnectionAtATime);
    let health = Arc::new(Health::logging_to(endpoint.log().clone()));
    let log = endpoint.log().clone();
    accept_logging(
        listener,
        shutdown,
        sequential,
        move |line| log.line(line),
        move |stream, peer| {
            let (endpoint, health) = (Arc::clone(&endpoint), Arc::clone(&health));
            async move {
                // A defective endpoint that went down takes no new connection (closed at once).
                if health.is_down() {
                    return;
                }
                match HllpConnection::from_stream(stream, options.hllp, options.timeouts) {
                    Ok(connection) => handle_hllp(connection, &endpoint, &health).await,
                    Err(err) => endpoint.log().line(format_args!("hllp {peer}: {err}")),
                }
            }
        },
    )
    .await
}

async fn handle_hllp(mut connection: HllpConnection, endpoint: &Endpoint, health: &Health) {
    let peer = connection.peer();
    let mut last_answer: Option<Vec<u8>> = None;
    loop {
        let block = match connection.receive(None).await {
            Ok(block) => block,
            Err(TransportError::PeerClosed { buffered: 0, .. }) => return,
            Err(err) => {
                endpoint.log().line(format_args!("hllp {peer}: {} ({})", err, err.code()));
                return;
            }
        };
        for note in &block.notes {
            endpoint.log().line(format_args!(
                "hllp {peer}: {}: {}",
                note.code(),
                note.to_finding().message
            ));
        }
        // An N block is never answered with an N block, even when damaged itself: two peers
        // with different checksum variants would otherwise NAK each other's NAKs forever.
        let answer = if block.block_type == BlockType::Nak {
            match &last_answer {
                Some(answer) => connection.send_data(answer).await,
                None => Ok(()),
            }
        } else if let Some(reason) =
            block.nak_reason().filter(|_| !endpoint_defect(endpoint, Defect::HllpChecksumIgnored))
        {
            health.damaged_block_refused(endpoint.defects());
            connection.send_nak(reason).await
        } else {
            match block.block_type {
                BlockType::Nak | BlockType::Unknown(_) | BlockType::Missing => Ok(()),
                BlockType::Data => match endpoint.handle_async(&block.data, None).await {
                    Err(err) => {
                        endpoint.log().line(format_args!(
                            "hllp {peer}: {err}; message refused, not \
                             acknowledged"
                        ));
                        match endpoint.refusal(&block.data) {
                            Some(refusal) => connection.send_data(&refusal).await,
                            None => Ok(()),
                        }
                    }
                    Ok(handled) => match handled.ack {
                        Some(ack) => {
                            let sent = connection.send_data(&ack).await;
                            last_answer = Some(ack);
                            sent
                        }
                        None => Ok(()),
                    },
                },
            }
        };
        if let Err(err) = answer {
            endpoint
                .log()
                .line(format_args!("hllp {peer}: answer not sent: {err} ({})", err.code()));
            return;
        }
    }
}

fn endpoint_defect(endpoint: &Endpoint, defect: Defect) -> bool {
    endpoint.defects().has(defect)
}

/// How late `late-ack` answers: later than the default ACK timeouts of most senders.
const LATE_ACK: Duration = Duration::from_secs(6);

/// How long `closes-on-half-close` looks for the peer's end of stream before answering.
const HALF_CLOSE_LOOK: Duration = Duration::from_millis(200);

/// Writes a commit ACK (`ack`) or NAK; false when the connection is gone.
async fn send_commit(connection: &mut MllpConnection, ack: bool, log: &Log) -> bool {
    let mut frame = bytes::BytesMut::new();
    encode_commit(ack, &mut frame);
    match connection.write_raw(&frame).await {
        Ok(()) => true,
        Err(err) => {
            let peer = connection.peer();
            log.line(format_args!("{peer}: commit ACK not sent: {err} ({})", err.code()));
            false
        }
    }
}

/// One line per note: the codec already folds a run of bytes outside frames, or of `0x0B`
/// bytes inside one, into one note with a count, so a hostile peer costs one line per run.
pub(super) fn log_note(log: &Log, peer: std::net::SocketAddr, note: &FrameNote) {
    let finding = note.to_finding();
    log.line(format_args!(
        "{peer}: tolerated {} at {}: {}",
        note.code(),
        finding.location,
        finding.message
    ));
}

/// Serves one connection until it ends; returns how many frames it carried.
async fn handle_connection(
    mut connection: MllpConnection,
    endpoint: &Endpoint,
    (commit, refused): (CommitAcks, &Refused),
    health: &Health,
    idle: Duration,
    held: &mut Held,
) -> u64 {
    let peer = connection.peer();
    let defect = |d| endpoint_defect(endpoint, d);
    let commit_ack = commit != CommitAcks::Off;
    let mut frames = 0u64;
    let mut earlier = fragile::Earlier::default();
    // ACKs held back by `answers-coalesced-in-reverse`.
    let mut deferred: Vec<Vec<u8>> = Vec::new();
    loop {
        // A defective endpoint that went down answers nothing, on any connection.
        if health.is_down() {
            return frames;
        }
        let frame = match fragile::receive(&mut connection, endpoint.defects(), health, idle).await
        {
            Ok(frame) => frame,
            Err(err) => {
                if !matches!(err, TransportError::PeerClosed { buffered: 0, .. }) {
                    endpoint.log().line(format_args!("{peer}: {} ({})", err, err.code()));
                }
                // Bytes after the last frame (a gigabyte of them is one run): one line.
                for note in connection.take_pending_notes() {
                    log_note(endpoint.log(), peer, &note);
                }
                return frames;
            }
        };
        frames += 1;
        if health.is_down() || fragile::drops(&frame, endpoint.defects(), &mut earlier) {
            continue;
        }
        for note in &frame.notes {
            log_note(endpoint.log(), peer, note);
        }
        if defect(Defect::ClosesOnBytesOutsideFrame)
            && frame.notes.iter().any(|n| matches!(n, FrameNote::BytesOutsideFrame { .. }))
        {
            return frames;
        }
        if defect(Defect::FirstOfCoalescedOnly) {
            connection.discard_buffered();
        }
        if frame.kind != FrameKind::Message {
            continue; // MLLP release 2 commit acknowledgements need no answer.
        }
        if defect(Defect::FragmentedFrameDropped) && connection.last_frame_was_split() {
            continue;
        }
        if defect(Defect::ClosesOnHalfClose) && connection.peer_closed_within(HALF_CLOSE_LOOK).await
        {
            return frames;
        }
        // Each scan only under its defect: the correct endpoint reads the payload once, to parse.
        let non_ascii = || frame.payload.iter().any(|&b| b >= 0x80);
        let custom = || !frame.payload.starts_with(b"MSH|^~\\&");
        if (defect(Defect::ResetOnNonAscii) && non_ascii())
            || (defect(Defect::ResetOnCustomDelimiters) && custom())
        {
            connection.reset();
            return frames;
        }
        if commit == CommitAcks::NakFirst && refused.first_delivery(&frame.payload) {
            if !send_commit(&mut connection, false, endpoint.log()).await {
                return frames;
            }
            continue;
        }
        let handled = match endpoint.handle_async(&frame.payload, Some(&mut *held)).await {
            Ok(handled) => handled,
            Err(err) => {
                // Not stored, so never accepted: a commit NAK when the sender asked for commit
                // acknowledgements (MLLP Release 2: it resends), otherwise an AR (or CE) that
                // says so (see `Endpoint::refusal` for the rule).
                endpoint
                    .log()
                    .line(format_args!("{peer}: {err}; message refused, not acknowledged"));
                if commit_ack {
                    if !send_commit(&mut connection, false, endpoint.log()).await {
                        return frames;
                    }
                } else if let Some(refusal) = endpoint.refusal(&frame.payload) {
                    if let Err(err) = connection.send(&refusal).await {
                        endpoint
                            .log()
                            .line(format_args!("{peer}: AR not sent: {err} ({})", err.code()));
                        return frames;
                    }
                }
                continue;
            }
        };
        if commit_ack && !send_commit(&mut connection, true, endpoint.log()).await {
            return frames;
        }
        if let Some(why) = &handled.unreadable {
            endpoint.log().line(format_args!(
                "{peer}: frame at byte {} is not an HL7 message: {why}",
                frame.offset
            ));
        }
        let Some(ack) = handled.ack else { continue };
        let duplicate = handled.effects.contains(&Effect::Duplicate);
        if defect(Defect::NoAck) || (defect(Defect::DuplicateUnanswered) && duplicate) {
            continue;
        }
        if defect(Defect::DropsEveryTenthAck) && endpoint.count_answer() % 10 == 0 {
            continue;
        }
        if defect(Defect::LateAck) {
            tokio::time::sleep(LATE_ACK).await;
        }
        // The defect: while more bytes of the same read wait, the ACK waits too; the last
        // frame's ACK goes first, then the held ones, latest first.
        if defect(Defect::AnswersCoalescedInReverse) && connection.buffered() > 0 {
            deferred.push(ack);
            continue;
        }
        let copies = if defect(Defect::DuplicateAck) { 2 } else { 1 };
        for ack in std::iter::once(ack).chain(deferred.drain(..).rev()) {
            for _ in 0..copies {
                let sent = if defect(Defect::MissingTrailerCr) {
                    connection.write_raw(&[&[START_BLOCK][..], &ack, &[END_BLOCK]].concat()).await
                } else {
                    connection.send(&ack).await
                };
                if let Err(err) = sent {
                    endpoint
                        .log()
                        .line(format_args!("{peer}: ACK not sent: {err} ({})", err.code()));
                    health.write_failed(endpoint.defects(), &err);
                    return frames;
                }
            }
        }
        if defect(Defect::ClosesAfterAck) {
            return frames;
        }
    }
}
