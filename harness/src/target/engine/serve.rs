//! The engine's input side and its lifetime: the shared accept loop (`transport::accept`) over
//! an already-bound listener (tests bind port 0), one task per input connection answering every
//! message it reads, and one forwarder task per destination, all ended when `shutdown`
//! resolves.

use super::core::Engine;
use super::forward::forward;
use crate::transport::accept::accept_logging;
use crate::transport::connection::{MllpConnection, Timeouts, TransportError};
use crate::transport::mllp::{FrameKind, MllpOptions};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Runs the engine until `shutdown` resolves; returns how many input connections were accepted.
/// The forwarders stop with it: an output being sent then stays open in the journal and is sent
/// again by the next start.
pub async fn run_engine(
    listener: TcpListener,
    engine: Arc<Engine>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<u64> {
    let forwarders = spawn_forwarders(&engine);
    let served = serve_mllp_input(listener, engine, shutdown).await;
    for forwarder in forwarders {
        forwarder.abort();
    }
    served
}

/// One forwarder task per destination; the caller aborts them when the engine stops.
pub(super) fn spawn_forwarders(engine: &Arc<Engine>) -> Vec<tokio::task::JoinHandle<()>> {
    (0..engine.queues().len())
        .map(|index| tokio::spawn(forward(Arc::clone(engine), index)))
        .collect()
}

/// The MLLP input side alone: accepts and answers until `shutdown` resolves.
pub(super) async fn serve_mllp_input(
    listener: TcpListener,
    engine: Arc<Engine>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<u64> {
    let log = engine.log().clone();
    let options =
        MllpOptions { max_frame_bytes: engine.routes().max_frame_bytes, ..MllpOptions::default() };
    let timeouts = Timeouts { read: engine.routes().idle_timeout, ..Timeouts::default() };
    accept_logging(
        listener,
        shutdown,
        false,
        move |line| log.line(format_args!("engine: {line}")),
        move |stream, peer| {
            let engine = Arc::clone(&engine);
            async move {
                match MllpConnection::from_stream(stream, options, timeouts) {
                    Ok(connection) => handle_input(connection, &engine).await,
                    Err(err) => engine.log().line(format_args!("engine: input {peer}: {err}")),
                }
            }
        },
    )
    .await
}

/// Answers every message of one input connection until the peer closes it, it stays idle past
/// the idle timeout or its framing breaks.
async fn handle_input(mut connection: MllpConnection, engine: &Engine) {
    let peer = connection.peer();
    loop {
        let frame = match connection.receive(None).await {
            Ok(frame) => frame,
            Err(TransportError::PeerClosed { buffered: 0, .. }) => return,
            Err(err) => {
                engine.log().line(format_args!("engine: input {peer}: {err} ({})", err.code()));
                return;
            }
        };
        if frame.kind != FrameKind::Message {
            continue;
        }
        let (ack, _) = engine.accept(&frame.payload);
        if let Some(ack) = ack {
            if let Err(err) = connection.send(&ack).await {
                engine.log().line(format_args!("engine: input {peer}: ACK not sent: {err}"));
                return;
            }
        }
    }
}
