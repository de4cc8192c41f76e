//! MLLP over a TCP or TLS connection, both sides: the [`FramedConnection`] over the pure
//! [`MllpCodec`]; and what every connection shares: its [`Timeouts`] and its named
//! [`TransportError`]s (a peer that closes or resets is one of them, never a panic). What the
//! reader tolerated stays on each frame.

use super::framed::{FrameCodec, FramedConnection};
use super::mllp::{encode_frame, FrameNote, MllpCodec, MllpError, MllpOptions};
use crate::vocab::ConnectionEvent;
use std::net::SocketAddr;
use std::time::Duration;
use thiserror::Error;

/// How long to wait on the peer for each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// Waiting for a frame (an ACK on the client side, the next message on the server side).
    pub read: Duration,
    pub write: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            read: Duration::from_secs(10),
            write: Duration::from_secs(10),
        }
    }
}

/// What went wrong with the connection, named so that reports can tell them apart.
#[derive(Debug, Error)]
pub enum TransportError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no connection to {addr} within {after:?}")]
    ConnectTimeout { addr: String, after: Duration },
    #[error(
        "no frame from {peer} within {after:?} ({buffered} bytes of an unfinished frame buffered)"
    )]
    ReadTimeout { peer: SocketAddr, after: Duration, buffered: usize },
    #[error("{peer} did not take the frame within {after:?}")]
    WriteTimeout { peer: SocketAddr, after: Duration },
    #[error("{peer} closed the connection{}", if *.buffered > 0 { format!(" inside a frame ({} bytes buffered)", .buffered) } else { String::new() })]
    PeerClosed { peer: SocketAddr, buffered: usize },
    #[error("{peer} reset the connection")]
    Reset { peer: SocketAddr },
    #[error("TLS handshake with {addr} failed: {source}")]
    Tls {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS setup for {addr}: {source}")]
    TlsConfig {
        addr: String,
        #[source]
        source: super::tls::TlsError,
    },
    #[error("framing from {peer}: {source}")]
    Framing {
        peer: SocketAddr,
        #[source]
        source: MllpError,
    },
    #[error("I/O with {peer}: {source}")]
    Io {
        peer: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl TransportError {
    /// The event this error is (its stable name is what reports and JSON show).
    pub fn code(&self) -> ConnectionEvent {
        match self {
            TransportError::Connect { .. } => ConnectionEvent::ConnectFailed,
            TransportError::ConnectTimeout { .. } => ConnectionEvent::ConnectTimeout,
            TransportError::ReadTimeout { .. } => ConnectionEvent::ReadTimeout,
            TransportError::WriteTimeout { .. } => ConnectionEvent::WriteTimeout,
            TransportError::PeerClosed { .. } => ConnectionEvent::PeerClosed,
            TransportError::Reset { .. } => ConnectionEvent::PeerReset,
            TransportError::Tls { .. } => ConnectionEvent::TlsHandshakeFailed,
            TransportError::TlsConfig { .. } => ConnectionEvent::TlsConfigError,
            TransportError::Framing { .. } => ConnectionEvent::FramingError,
            TransportError::Io { .. } => ConnectionEvent::IoError,
        }
    }

    /// True when the connection cannot be used again and a new one is needed.
    pub fn is_fatal_for_connection(&self) -> bool {
        !matches!(self, TransportError::ReadTimeout { .. })
    }
}

/// One MLLP connection: the framed connection over the [`MllpCodec`].
pub type MllpConnection = FramedConnection<MllpCodec>;

impl FrameCodec for MllpCodec {
    type Options = MllpOptions;

    fn with_options(options: MllpOptions) -> Self {
        MllpCodec::new(options)
    }

    fn current_options(&self) -> MllpOptions {
        *self.options()
    }

    fn may_end_without_trailer(buffered: &[u8]) -> bool {
        buffered.last() == Some(&super::mllp::END_BLOCK)
    }

    fn is_cut_short(error: &MllpError) -> bool {
        matches!(error, MllpError::UnexpectedEof { .. })
    }

    fn transport_error(peer: SocketAddr, source: MllpError) -> TransportError {
        TransportError::Framing { peer, source }
    }
}

/// What only MLLP does: its framing, and the notes its reader keeps about bytes outside frames.
impl MllpConnection {
    /// Frames and writes one payload.
    pub async fn send(&mut self, payload: &[u8]) -> Result<(), TransportError> {
        // The frame is built in the connection's own buffer, reused from one write to the next.
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        let sent = match encode_frame(payload, &mut out) {
            Ok(()) => self.write_raw(&out).await,
            Err(source) => Err(TransportError::Framing { peer: self.peer, source }),
        };
        if out.capacity() <= super::framed::KEEP_OUT_BYTES {
            self.out = out;
        }
        sent
    }

    /// Notes about bytes after the last frame (e.g. garbage before a close).
    pub fn take_pending_notes(&mut self) -> Vec<FrameNote> {
        self.codec.take_pending_notes()
    }

    /// Notes about bytes outside any frame read since the last frame, without waiting for the
    /// next frame (which would carry them otherwise).
    pub fn take_outside_notes(&mut self) -> Vec<FrameNote> {
        self.codec.take_outside_notes()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    /// Short timeouts for the transport's tests over loopback.
    pub(crate) fn short() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_millis(300),
            write: Duration::from_secs(2),
        }
    }

    async fn pair() -> (MllpConnection, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (client, accepted) = tokio::join!(
            MllpConnection::connect(&addr, MllpOptions::default(), short()),
            listener.accept()
        );
        (client.unwrap(), accepted.unwrap().0)
    }

    #[tokio::test]
    async fn frames_split_and_coalesced_over_a_real_socket() {
        let (mut client, mut server) = pair().await;
        server.write_all(b"junk\x0bMSH|A\r\x1c").await.unwrap();
        server.write_all(b"\r\x0bMSH|B\r\x1c\r\x0bMSH|C\r\x1c\r").await.unwrap();
        let first = client.receive(None).await.unwrap();
        assert_eq!(&first.payload[..], b"MSH|A\r");
        assert_eq!(first.notes.len(), 1, "the bytes before the frame are noted: {:?}", first.notes);
        assert_eq!(&client.receive(None).await.unwrap().payload[..], b"MSH|B\r");
        assert_eq!(&client.receive(None).await.unwrap().payload[..], b"MSH|C\r");
    }

    #[tokio::test]
    async fn timeouts_closes_and_connect_errors_are_named() {
        let (mut client, mut server) = pair().await;
        server.write_all(b"\x0bMSH|half").await.unwrap();
        let err = client.receive(None).await.unwrap_err();
        assert_eq!(err.code(), "read-timeout");
        assert!(err.to_string().contains("9 bytes of an unfinished frame"), "{err}");
        drop(server);
        assert_eq!(client.receive(None).await.unwrap_err().code(), "peer-closed");

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let err =
            MllpConnection::connect(&addr, MllpOptions::default(), short()).await.unwrap_err();
        assert_eq!(err.code(), "connect-failed");
        assert!(err.to_string().contains(&addr), "{err}");
    }

    #[tokio::test]
    async fn frame_cut_after_end_block_still_arrives_at_close() {
        let (mut client, mut server) = pair().await;
        server.write_all(b"\x0bMSH|A\r\x1c").await.unwrap();
        server.shutdown().await.unwrap();
        let frame = client.receive(None).await.unwrap();
        assert_eq!(&frame.payload[..], b"MSH|A\r");
        assert_eq!(
            frame.notes.iter().map(|n| n.code()).collect::<Vec<_>>(),
            ["mllp-missing-trailer-cr"]
        );
    }

    #[tokio::test]
    async fn a_close_is_seen_at_once_without_a_turn_of_the_reactor() {
        use tokio::io::AsyncReadExt;
        let (mut client, mut server) = pair().await;
        assert!(!client.peer_closed_already(), "open, nothing waiting");
        server.write_all(b"x").await.unwrap();
        server.shutdown().await.unwrap();
        drop(server);
        // Loopback delivers at once; a bounded margin all the same.
        std::thread::sleep(Duration::from_millis(50));
        assert!(!client.peer_closed_already(), "data first: it is read before the close");
        let mut byte = [0u8; 1];
        assert_eq!(client.stream.read(&mut byte).await.unwrap(), 1);
        assert!(client.peer_closed_already(), "the close, with no reactor turn since the read");
    }

    #[tokio::test]
    async fn split_frames_and_half_close_are_told() {
        let (mut client, mut server) = pair().await;
        server.write_all(b"\x0bMSH|A\r\x1c\r\x0bMSH|B\r\x1c\r\x0bMSH|C").await.unwrap();
        client.receive(None).await.unwrap();
        assert!(!client.last_frame_was_split(), "one read");
        client.receive(None).await.unwrap();
        assert!(!client.last_frame_was_split(), "already buffered");
        tokio::time::sleep(Duration::from_millis(50)).await;
        server.write_all(b"\r\x1c\r").await.unwrap();
        assert_eq!(&client.receive(None).await.unwrap().payload[..], b"MSH|C\r");
        assert!(client.last_frame_was_split(), "the end came in a later read");
        assert!(!client.peer_closed_within(Duration::from_millis(50)).await);
        assert!(!client.peer_closed_already(), "open, nothing waiting");
        server.write_all(b"\x0bMSH|D\r\x1c\r").await.unwrap();
        server.shutdown().await.unwrap();
        assert!(client.peer_closed_within(Duration::from_secs(2)).await);
        assert_eq!(&client.receive(None).await.unwrap().payload[..], b"MSH|D\r", "kept");
    }
}
