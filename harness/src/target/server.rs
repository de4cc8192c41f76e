//! The reference endpoint on MLLP: an accept loop over an already-bound listener (tests bind
//! port 0) that runs until `shutdown` resolves. Connections are persistent and concurrent; each
//! waits for the next frame at most the idle timeout, answers every message it can read, and
//! never closes for bad content (only for a peer close, a reset, a framing error or idleness).

use super::endpoint::Endpoint;
use crate::transport::connection::{MllpConnection, Timeouts, TransportError};
use crate::transport::mllp::{FrameKind, MllpOptions};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Settings of the MLLP side.
#[derive(Debug, Clone, Copy)]
pub struct ServerOptions {
    pub mllp: MllpOptions,
    /// `read` is the idle timeout: how long a connection may wait for its next message.
    pub timeouts: Timeouts,
}

/// Serves until `shutdown` resolves; returns how many connections were accepted.
pub async fn serve_mllp(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<u64> {
    tokio::pin!(shutdown);
    let mut accepted = 0u64;
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(accepted),
            result = listener.accept() => {
                let (stream, peer) = match result {
                    Ok(pair) => pair,
                    // A connection that failed during accept (e.g. reset) ends only itself.
                    Err(err) => {
                        eprintln!("hl7-harness serve: accept failed: {err}");
                        continue;
                    }
                };
                accepted += 1;
                let endpoint = Arc::clone(&endpoint);
                tokio::spawn(async move {
                    match MllpConnection::from_stream(stream, options.mllp, options.timeouts) {
                        Ok(connection) => handle_connection(connection, &endpoint).await,
                        Err(err) => eprintln!("hl7-harness serve: {peer}: {err}"),
                    }
                });
            }
        }
    }
}

async fn handle_connection(mut connection: MllpConnection, endpoint: &Endpoint) {
    let peer = connection.peer();
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
        if frame.kind != FrameKind::Message {
            continue; // MLLP release 2 commit acknowledgements need no answer.
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
        if let Some(ack) = handled.ack {
            if let Err(err) = connection.send(&ack).await {
                eprintln!("hl7-harness serve: {peer}: ACK not sent: {err} ({})", err.code());
                return;
            }
        }
    }
}
