//! MLLP over a TCP connection, both sides: the pure [`MllpCodec`] under tokio, with a timeout
//! on every connect, read and write that waits on the peer. A peer that closes or resets is a
//! named [`TransportError`], never a panic; what the reader tolerated stays on each frame.

use super::mllp::{encode_frame, Frame, FrameNote, MllpCodec, MllpError, MllpOptions};
use bytes::BytesMut;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::codec::Decoder;

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
    /// Stable kebab-case name of the event, for reports and JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            TransportError::Connect { .. } => "connect-failed",
            TransportError::ConnectTimeout { .. } => "connect-timeout",
            TransportError::ReadTimeout { .. } => "read-timeout",
            TransportError::WriteTimeout { .. } => "write-timeout",
            TransportError::PeerClosed { .. } => "peer-closed",
            TransportError::Reset { .. } => "peer-reset",
            TransportError::Tls { .. } => "tls-handshake-failed",
            TransportError::TlsConfig { .. } => "tls-config-error",
            TransportError::Framing { .. } => "framing-error",
            TransportError::Io { .. } => "io-error",
        }
    }

    /// True when the connection cannot be used again and a new one is needed.
    pub fn is_fatal_for_connection(&self) -> bool {
        !matches!(self, TransportError::ReadTimeout { .. })
    }
}

/// The byte stream under a connection: plain TCP, or TLS on either side.
#[derive(Debug)]
enum Stream {
    Plain(TcpStream),
    TlsClient(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    TlsServer(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::TlsClient(s) => s.get_ref().0,
            Stream::TlsServer(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::TlsClient(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::TlsServer(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::TlsClient(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::TlsServer(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::TlsClient(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::TlsServer(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::TlsClient(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::TlsServer(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One MLLP connection.
#[derive(Debug)]
pub struct MllpConnection {
    stream: Stream,
    peer: SocketAddr,
    codec: MllpCodec,
    buffer: BytesMut,
    timeouts: Timeouts,
    /// Whether the last frame [`receive`](MllpConnection::receive) returned needed more than one
    /// socket read.
    last_split: bool,
    /// How long the last frame took from its first byte read to its last.
    last_took: Duration,
}

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 64 * 1024;

/// How long a frame ending in 0x1C waits for its 0x0D before it is taken without it.
const TRAILER_GRACE: Duration = Duration::from_millis(100);

impl MllpConnection {
    /// Connects to `addr` (`host:port`) within the connect timeout.
    pub async fn connect(
        addr: &str,
        options: MllpOptions,
        timeouts: Timeouts,
    ) -> Result<MllpConnection, TransportError> {
        let stream = match timeout(timeouts.connect, TcpStream::connect(addr)).await {
            Err(_) => {
                return Err(TransportError::ConnectTimeout {
                    addr: addr.to_string(),
                    after: timeouts.connect,
                })
            }
            Ok(Err(source)) => {
                return Err(TransportError::Connect { addr: addr.to_string(), source })
            }
            Ok(Ok(stream)) => stream,
        };
        MllpConnection::from_stream(stream, options, timeouts)
            .map_err(|source| TransportError::Connect { addr: addr.to_string(), source })
    }

    /// Connects to `addr` and completes a TLS handshake (`mllps://`), both within the connect
    /// timeout. The server's certificate must carry the host name of `addr`.
    pub async fn connect_tls(
        addr: &str,
        connector: &TlsConnector,
        options: MllpOptions,
        timeouts: Timeouts,
    ) -> Result<MllpConnection, TransportError> {
        let name = super::tls::server_name(addr)
            .map_err(|source| TransportError::TlsConfig { addr: addr.to_string(), source })?;
        let plain = MllpConnection::connect(addr, options, timeouts).await?;
        let Stream::Plain(tcp) = plain.stream else {
            unreachable!("connect returns a plain stream")
        };
        let handshake = timeout(timeouts.connect, connector.connect(name, tcp)).await;
        let tls = match handshake {
            Err(_) => {
                return Err(TransportError::ConnectTimeout {
                    addr: addr.to_string(),
                    after: timeouts.connect,
                })
            }
            Ok(Err(source)) => return Err(TransportError::Tls { addr: addr.to_string(), source }),
            Ok(Ok(tls)) => tls,
        };
        Ok(MllpConnection { stream: Stream::TlsClient(Box::new(tls)), ..plain })
    }

    /// Completes the server side of a TLS handshake on an accepted stream.
    pub async fn accept_tls(
        stream: TcpStream,
        acceptor: &TlsAcceptor,
        options: MllpOptions,
        timeouts: Timeouts,
    ) -> Result<MllpConnection, TransportError> {
        let plain = MllpConnection::from_stream(stream, options, timeouts).map_err(|source| {
            TransportError::Connect { addr: "accepted connection".into(), source }
        })?;
        let peer = plain.peer.to_string();
        let Stream::Plain(tcp) = plain.stream else {
            unreachable!("from_stream returns a plain stream")
        };
        let tls = match timeout(timeouts.connect, acceptor.accept(tcp)).await {
            Err(_) => {
                return Err(TransportError::ConnectTimeout { addr: peer, after: timeouts.connect })
            }
            Ok(Err(source)) => return Err(TransportError::Tls { addr: peer, source }),
            Ok(Ok(tls)) => tls,
        };
        Ok(MllpConnection { stream: Stream::TlsServer(Box::new(tls)), ..plain })
    }

    /// Wraps an accepted or connected stream.
    pub fn from_stream(
        stream: TcpStream,
        options: MllpOptions,
        timeouts: Timeouts,
    ) -> std::io::Result<MllpConnection> {
        let peer = stream.peer_addr()?;
        stream.set_nodelay(true)?;
        Ok(MllpConnection {
            stream: Stream::Plain(stream),
            peer,
            codec: MllpCodec::new(options),
            buffer: BytesMut::new(),
            timeouts,
            last_split: false,
            last_took: Duration::ZERO,
        })
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// This end's address (the harness's port, which the packet-level faults cut by).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.stream.tcp().local_addr()
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Frames and writes one payload.
    pub async fn send(&mut self, payload: &[u8]) -> Result<(), TransportError> {
        let mut out = BytesMut::new();
        encode_frame(payload, &mut out)
            .map_err(|source| TransportError::Framing { peer: self.peer, source })?;
        self.write_raw(&out).await
    }

    /// Writes bytes as they are (already framed, or deliberately broken).
    pub async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        let peer = self.peer;
        match timeout(self.timeouts.write, self.stream.write_all(bytes)).await {
            Err(_) => Err(TransportError::WriteTimeout { peer, after: self.timeouts.write }),
            Ok(Err(e)) => Err(io_error(peer, e)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// The next frame, waiting at most `wait` (the read timeout when `None`).
    pub async fn receive(&mut self, wait: Option<Duration>) -> Result<Frame, TransportError> {
        let wait = wait.unwrap_or(self.timeouts.read);
        let peer = self.peer;
        let deadline = tokio::time::Instant::now() + wait;
        // Bytes left from an earlier read that did not make a frame are a part of this one.
        let mut pieces = u32::from(!self.buffer.is_empty());
        let mut first_byte = (!self.buffer.is_empty()).then(tokio::time::Instant::now);
        loop {
            match self.codec.decode(&mut self.buffer) {
                Ok(Some(frame)) => {
                    self.last_split = pieces > 1;
                    self.last_took = first_byte.map(|t| t.elapsed()).unwrap_or_default();
                    return Ok(frame);
                }
                Ok(None) => {}
                Err(source) => return Err(TransportError::Framing { peer, source }),
            }
            // A frame that ends with 0x1C may be complete without its 0x0D: when nothing
            // follows within a short grace, take it (the codec notes the missing trailer).
            let ends_at_block_end = self.buffer.last() == Some(&super::mllp::END_BLOCK);
            let read_until = if ends_at_block_end {
                deadline.min(tokio::time::Instant::now() + TRAILER_GRACE)
            } else {
                deadline
            };
            self.buffer.reserve(READ_CHUNK);
            let read = tokio::time::timeout_at(read_until, self.stream.read_buf(&mut self.buffer));
            match read.await {
                Err(_) if ends_at_block_end => match self.codec.decode_eof(&mut self.buffer) {
                    Ok(Some(frame)) => return Ok(frame),
                    Ok(None) | Err(_) if tokio::time::Instant::now() < deadline => continue,
                    _ => {
                        let buffered = self.buffer.len();
                        return Err(TransportError::ReadTimeout { peer, after: wait, buffered });
                    }
                },
                Err(_) => {
                    let buffered = self.buffer.len();
                    return Err(TransportError::ReadTimeout { peer, after: wait, buffered });
                }
                Ok(Err(e)) => return Err(io_error(peer, e)),
                Ok(Ok(0)) => {
                    // End of stream: a frame cut right after 0x1C still counts.
                    match self.codec.decode_eof(&mut self.buffer) {
                        Ok(Some(frame)) => return Ok(frame),
                        Ok(None) | Err(MllpError::UnexpectedEof { .. }) => {
                            let buffered = self.buffer.len();
                            return Err(TransportError::PeerClosed { peer, buffered });
                        }
                        Err(source) => return Err(TransportError::Framing { peer, source }),
                    }
                }
                Ok(Ok(_)) => {
                    pieces += 1;
                    first_byte.get_or_insert_with(tokio::time::Instant::now);
                }
            }
        }
    }

    /// True when the frame last received arrived over more than one socket read (split by the
    /// network or by the peer); false when one read brought all of it.
    pub fn last_frame_was_split(&self) -> bool {
        self.last_split
    }

    /// How long the frame last received took from its first byte read to its last (zero when
    /// one read brought all of it).
    pub fn last_frame_took(&self) -> Duration {
        self.last_took
    }

    /// Takes the bytes read but not yet decoded (an unfinished frame) and starts the reader
    /// afresh; stream offsets restart at zero.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        self.codec = MllpCodec::new(*self.codec.options());
        self.buffer.split().to_vec()
    }

    /// Waits at most `wait` for the peer to end its side of the stream; bytes that arrive
    /// meanwhile are kept for the next [`receive`](MllpConnection::receive). True when the
    /// peer has closed (or half-closed) its write side.
    pub async fn peer_closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            self.buffer.reserve(READ_CHUNK);
            let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buffer));
            match read.await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
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

    /// How many bytes were read but not yet decoded (e.g. frames that came in the same read).
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Drops whatever was read but not yet decoded (e.g. frames that came in the same read).
    pub fn discard_buffered(&mut self) -> usize {
        let dropped = self.buffer.len();
        self.buffer.clear();
        dropped
    }

    /// Closes with a TCP reset (SO_LINGER 0) instead of an orderly close.
    pub fn reset(self) {
        let _ = socket2::SockRef::from(self.stream.tcp()).set_linger(Some(Duration::ZERO));
        drop(self.stream);
    }

    /// Closes the write side (half-close) so the peer reads end-of-stream.
    pub async fn shutdown_write(&mut self) -> Result<(), TransportError> {
        let peer = self.peer;
        match timeout(self.timeouts.write, self.stream.shutdown()).await {
            Err(_) => Err(TransportError::WriteTimeout { peer, after: self.timeouts.write }),
            Ok(Err(e)) => Err(io_error(peer, e)),
            Ok(Ok(())) => Ok(()),
        }
    }
}

fn io_error(peer: SocketAddr, error: std::io::Error) -> TransportError {
    match error.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => TransportError::Reset { peer },
        ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof => {
            TransportError::PeerClosed { peer, buffered: 0 }
        }
        _ => TransportError::Io { peer, source: error },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn short() -> Timeouts {
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
        server.write_all(b"\x0bMSH|D\r\x1c\r").await.unwrap();
        server.shutdown().await.unwrap();
        assert!(client.peer_closed_within(Duration::from_secs(2)).await);
        assert_eq!(&client.receive(None).await.unwrap().payload[..], b"MSH|D\r", "kept");
    }
}
