//! The reference endpoint on MLLP: an accept loop over an already-bound listener (tests bind
//! port 0) that runs until `shutdown` resolves. Connections are persistent and concurrent; each
//! waits for the next frame at most the idle timeout, answers every message it can read, and
//! never closes for bad content (only for a peer close, a reset, a framing error or idleness).

use super::defect::Defect;
use super::endpoint::Endpoint;
use crate::transport::connection::{MllpConnection, Timeouts, TransportError};
use crate::transport::mllp::{FrameKind, FrameNote, MllpOptions, END_BLOCK, START_BLOCK};
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
}

/// Serves until `shutdown` resolves; returns how many connections were accepted.
pub async fn serve_mllp(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<u64> {
    let sequential = endpoint_defect(&endpoint, Defect::OneConnectionAtATime);
    accept_until(listener, shutdown, sequential, move |stream, peer| {
        let endpoint = Arc::clone(&endpoint);
        let options = options.clone();
        async move {
            let connection = match &options.tls {
                Some(acceptor) => {
                    MllpConnection::accept_tls(stream, acceptor, options.mllp, options.timeouts)
                        .await
                }
                None => MllpConnection::from_stream(stream, options.mllp, options.timeouts)
                    .map_err(|source| TransportError::Io { peer, source }),
            };
            match connection {
                Ok(connection) => handle_connection(connection, &endpoint).await,
                Err(err) => eprintln!("hl7-harness serve: {peer}: {err} ({})", err.code()),
            }
        }
    })
    .await
}

/// The accept loop every listener of the endpoint shares: runs `serve` for each connection on
/// its own task (or, when `sequential`, one after another) until `shutdown` resolves; returns
/// how many connections were accepted. A failed accept ends only that connection.
pub(crate) async fn accept_until<F, Fut>(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    sequential: bool,
    mut serve: F,
) -> std::io::Result<u64>
where
    F: FnMut(tokio::net::TcpStream, std::net::SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::pin!(shutdown);
    let mut accepted = 0u64;
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(accepted),
            result = listener.accept() => {
                let (stream, peer) = match result {
                    Ok(pair) => pair,
                    Err(err) => {
                        eprintln!("hl7-harness serve: accept failed: {err}");
                        continue;
                    }
                };
                accepted += 1;
                let connection = serve(stream, peer);
                if sequential {
                    connection.await;
                } else {
                    tokio::spawn(connection);
                }
            }
        }
    }
}

fn endpoint_defect(endpoint: &Endpoint, defect: Defect) -> bool {
    endpoint.defects().has(defect)
}

/// How late `late-ack` answers: later than the default ACK timeouts of most senders.
const LATE_ACK: Duration = Duration::from_secs(3);

async fn handle_connection(mut connection: MllpConnection, endpoint: &Endpoint) {
    let peer = connection.peer();
    let defect = |d| endpoint_defect(endpoint, d);
    loop {
        let frame = match connection.receive(None).await {
            Ok(frame) => frame,
            Err(TransportError::PeerClosed { buffered: 0, .. }) => return,
            Err(err) => {
                eprintln!("hl7-harness serve: {peer}: {} ({})", err, err.code());
                return;
            }
        };
        for note in &frame.notes {
            eprintln!(
                "hl7-harness serve: {peer}: tolerated {}: {}",
                note.code(),
                note.to_finding().message
            );
        }
        if defect(Defect::ClosesOnBytesOutsideFrame)
            && frame.notes.iter().any(|n| matches!(n, FrameNote::BytesOutsideFrame { .. }))
        {
            return;
        }
        if defect(Defect::FirstOfCoalescedOnly) {
            connection.discard_buffered();
        }
        if frame.kind != FrameKind::Message {
            continue; // MLLP release 2 commit acknowledgements need no answer.
        }
        let non_ascii = frame.payload.iter().any(|&b| b >= 0x80);
        let custom = !frame.payload.starts_with(b"MSH|^~\\&");
        if (defect(Defect::ResetOnNonAscii) && non_ascii)
            || (defect(Defect::ResetOnCustomDelimiters) && custom)
        {
            connection.reset();
            return;
        }
        let handled = match endpoint.handle(&frame.payload) {
            Ok(handled) => handled,
            Err(err) => {
                // Without the journal the message could be lost: no ACK, so the sender resends.
                eprintln!("hl7-harness serve: {peer}: {err}; message not acknowledged");
                continue;
            }
        };
        if let Some(why) = &handled.unreadable {
            eprintln!(
                "hl7-harness serve: {peer}: frame at byte {} is not an HL7 message: {why}",
                frame.offset
            );
        }
        let Some(ack) = handled.ack else { continue };
        if defect(Defect::NoAck) {
            continue;
        }
        if defect(Defect::LateAck) {
            tokio::time::sleep(LATE_ACK).await;
        }
        let copies = if defect(Defect::DuplicateAck) { 2 } else { 1 };
        for _ in 0..copies {
            let sent = if defect(Defect::MissingTrailerCr) {
                connection.write_raw(&[&[START_BLOCK][..], &ack, &[END_BLOCK]].concat()).await
            } else {
                connection.send(&ack).await
            };
            if let Err(err) = sent {
                eprintln!("hl7-harness serve: {peer}: ACK not sent: {err} ({})", err.code());
                return;
            }
        }
    }
}
