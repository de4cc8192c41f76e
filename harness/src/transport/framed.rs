//! One framed connection for every stream transport, both sides: a pure codec (MLLP, HLLP)
//! under tokio over plain TCP or TLS, with a timeout on every connect, read and write that
//! waits on the peer. A peer that closes or resets is a named [`TransportError`], never a panic.
//!
//! What a frame means belongs to the specialisations ([`MllpConnection`] in `connection`,
//! [`HllpConnection`] in `hllp_connection`) and to their callers; this only moves bytes.
//!
//! [`MllpConnection`]: super::connection::MllpConnection
//! [`HllpConnection`]: super::hllp_connection::HllpConnection

use super::connection::{Timeouts, TransportError};
use super::dial::{connect_tcp, tls_handshake, Route};
use super::reassembly::{io_error, time_left, ReadOutcome, Reassembly};
use bytes::BytesMut;
use std::net::SocketAddr;
use std::ops::ControlFlow::{Break, Continue};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::codec::Decoder;

/// What a [`FramedConnection`] needs of its codec beyond decoding.
pub trait FrameCodec: Decoder {
    type Options: Copy + std::fmt::Debug;

    fn with_options(options: Self::Options) -> Self;

    fn current_options(&self) -> Self::Options;

    /// Whether `buffered` may already be a whole frame that lacks only an optional trailer:
    /// then a short quiet spell ends it instead of the read timeout (MLLP: a frame that ends
    /// in 0x1C without its 0x0D).
    fn may_end_without_trailer(_buffered: &[u8]) -> bool {
        false
    }

    /// Whether `error` says the stream ended inside a frame (then the peer closed).
    fn is_cut_short(error: &Self::Error) -> bool;

    /// `error` as the connection reports it.
    fn transport_error(peer: SocketAddr, error: Self::Error) -> TransportError;
}

/// The byte stream under a connection: plain TCP, or TLS on either side.
#[derive(Debug)]
pub(super) enum Stream {
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

/// One connection carrying the frames of codec `C`.
#[derive(Debug)]
pub struct FramedConnection<C> {
    pub(super) stream: Stream,
    pub(super) peer: SocketAddr,
    pub(super) codec: C,
    pub(super) buffer: BytesMut,
    pub(super) timeouts: Timeouts,
    /// The frame being written, kept between writes so an answer costs no allocation; let go
    /// when it grew past [`KEEP_OUT_BYTES`].
    pub(super) out: BytesMut,
    /// Whether the last frame [`receive`](FramedConnection::receive) returned needed more than
    /// one socket read.
    last_split: bool,
    /// How long the last frame took from its first byte read to its last.
    last_took: Duration,
}

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Largest write buffer a connection keeps for its next frame: an idle connection holds no more.
pub(super) const KEEP_OUT_BYTES: usize = 64 * 1024;

impl<C: FrameCodec> FramedConnection<C> {
    /// Connects to `addr` (`host:port`) within the connect timeout.
    pub async fn connect(
        addr: &str,
        options: C::Options,
        timeouts: Timeouts,
    ) -> Result<FramedConnection<C>, TransportError> {
        FramedConnection::open(addr, &Route::Direct, None, options, timeouts).await
    }

    /// Connects to `addr` and completes a TLS handshake, both within the connect timeout. The
    /// server's certificate must carry the host name of `addr`.
    pub async fn connect_tls(
        addr: &str,
        connector: &TlsConnector,
        options: C::Options,
        timeouts: Timeouts,
    ) -> Result<FramedConnection<C>, TransportError> {
        FramedConnection::open(addr, &Route::Direct, Some(connector), options, timeouts).await
    }

    /// The one client connect: a TCP stream to `addr` along `route`, then with `tls` a TLS
    /// handshake whose server certificate must carry the host name of `addr`, each within the
    /// connect timeout.
    pub async fn open(
        addr: &str,
        route: &Route,
        tls: Option<&TlsConnector>,
        options: C::Options,
        timeouts: Timeouts,
    ) -> Result<FramedConnection<C>, TransportError> {
        // The name is checked before connecting: a URL no certificate can match fails at once.
        let name = tls
            .map(|_| super::tls::server_name(addr))
            .transpose()
            .map_err(|source| TransportError::TlsConfig { addr: addr.to_string(), source })?;
        let tcp = connect_tcp(addr, route, timeouts.connect).await?;
        let plain = FramedConnection::from_stream(tcp, options, timeouts)
            .map_err(|source| TransportError::Connect { addr: addr.to_string(), source })?;
        let (Some(connector), Some(name)) = (tls, name) else { return Ok(plain) };
        let Stream::Plain(tcp) = plain.stream else {
            unreachable!("from_stream returns a plain stream")
        };
        let tls = tls_handshake(tcp, addr, name, connector, timeouts.connect).await?;
        Ok(FramedConnection { stream: Stream::TlsClient(Box::new(tls)), ..plain })
    }

    /// Completes the server side of a TLS handshake on an accepted stream.
    pub async fn accept_tls(
        stream: TcpStream,
        acceptor: &TlsAcceptor,
        options: C::Options,
        timeouts: Timeouts,
    ) -> Result<FramedConnection<C>, TransportError> {
        let plain =
            FramedConnection::<C>::from_stream(stream, options, timeouts).map_err(|source| {
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
        Ok(FramedConnection { stream: Stream::TlsServer(Box::new(tls)), ..plain })
    }

    /// Wraps an accepted or connected stream.
    pub fn from_stream(
        stream: TcpStream,
        options: C::Options,
        timeouts: Timeouts,
    ) -> std::io::Result<FramedConnection<C>> {
        let peer = stream.peer_addr()?;
        stream.set_nodelay(true)?;
        Ok(FramedConnection {
            stream: Stream::Plain(stream),
            peer,
            codec: C::with_options(options),
            buffer: BytesMut::new(),
            timeouts,
            out: BytesMut::new(),
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
    pub async fn receive(&mut self, wait: Option<Duration>) -> Result<C::Item, TransportError> {
        let wait = wait.unwrap_or(self.timeouts.read);
        let mut step = Reassembly::start(self.peer, wait, &self.buffer);
        loop {
            let read_until = match step.decode(&mut self.codec, &mut self.buffer) {
                Break(done) => return self.finish(&step, done),
                Continue(until) => until,
            };
            self.buffer.reserve(READ_CHUNK);
            let read = tokio::time::timeout_at(read_until, self.stream.read_buf(&mut self.buffer));
            let outcome = match read.await {
                Err(_) => ReadOutcome::TimedOut,
                Ok(Err(e)) => ReadOutcome::Failed(e),
                Ok(Ok(0)) => ReadOutcome::Eof,
                Ok(Ok(_)) => ReadOutcome::Bytes,
            };
            if let Break(done) = step.after_read(&mut self.codec, &mut self.buffer, outcome) {
                return self.finish(&step, done);
            }
        }
    }

    /// Notes how the frame `step` put together arrived.
    fn finish(
        &mut self,
        step: &Reassembly,
        done: Result<C::Item, TransportError>,
    ) -> Result<C::Item, TransportError> {
        if done.is_ok() {
            self.last_split = step.split();
            self.last_took = step.took();
        }
        done
    }

    /// Reads frames, each handed to `each`, until `each` breaks with a value, `deadline`
    /// passes (a `read-timeout`, also when it has passed before a read) or the connection
    /// fails. The one read loop under every client wait: for one answer (send-and-await) and
    /// for many (the runner's pipelined and attributed reads).
    pub async fn receive_until<T>(
        &mut self,
        deadline: Instant,
        mut each: impl FnMut(C::Item) -> std::ops::ControlFlow<T>,
    ) -> Result<T, TransportError> {
        loop {
            let left = time_left(self.peer, deadline, self.buffer.len())?;
            if let std::ops::ControlFlow::Break(done) = each(self.receive(Some(left)).await?) {
                return Ok(done);
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
        self.codec = C::with_options(self.codec.current_options());
        self.buffer.split().to_vec()
    }

    /// True when the peer has already ended its side of the stream (or reset it), asked of the
    /// kernel at once: a peek at the socket that reads nothing away, needs no turn of the
    /// reactor and never waits. Data waiting to be read answers false, even if a close
    /// follows it (the data is read first). Over TLS a close is preceded by its close_notify
    /// record, so this sees data and answers false; [`peer_closed_within`] reads through it.
    ///
    /// [`peer_closed_within`]: FramedConnection::peer_closed_within
    pub fn peer_closed_already(&self) -> bool {
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        match socket2::SockRef::from(self.stream.tcp()).peek(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(err) => !matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ),
        }
    }

    /// Waits at most `wait` for the peer to end its side of the stream; bytes that arrive
    /// meanwhile are kept for the next [`receive`](FramedConnection::receive). True when the
    /// peer has closed (or half-closed) its write side.
    pub async fn peer_closed_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
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
