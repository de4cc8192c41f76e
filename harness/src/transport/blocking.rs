//! One MLLP connection on a blocking socket, for a server that gives a connection its own
//! thread (and for the load engine's plain connections, each on a thread too): each read
//! sleeps in the kernel until bytes come, with no readiness poll between, so a message costs
//! two system calls (its read and its answer's write) instead of three. The
//! frames, their notes, the timeouts and the errors are those of
//! [`MllpConnection`](super::connection::MllpConnection): the same codec, and the same
//! [`Reassembly`] decides when a frame is whole, late or cut short.

use super::connection::{Timeouts, TransportError};
use super::mllp::{encode_frame, Frame, FrameNote, MllpCodec, MllpOptions};
use super::read_spin::ReadSpin;
use super::reassembly::{io_error, time_left, ReadOutcome, Reassembly};
use bytes::BytesMut;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::ControlFlow::{Break, Continue};
use std::os::fd::AsRawFd;
use std::time::Duration;
use tokio::time::Instant;

/// Bytes read from the socket at a time: an ADT message of a few KiB comes in one read, and a
/// thread's idle connection never holds more than this of it.
const CHUNK: usize = 16 * 1024;

/// An MLLP connection whose reads and writes block the calling thread, each bounded by its
/// timeout (SO_RCVTIMEO, SO_SNDTIMEO).
pub struct BlockingMllpConnection {
    stream: TcpStream,
    peer: SocketAddr,
    codec: MllpCodec,
    /// Bytes read but not yet decoded.
    buffer: BytesMut,
    /// Where the socket reads into: zeroed once, so the pages a read never reaches are never
    /// touched.
    chunk: Vec<u8>,
    /// The frame being written, reused from one answer to the next.
    out: BytesMut,
    timeouts: Timeouts,
    /// The read timeout the socket carries now: set again only when a read needs another
    /// (the rest of a split frame's time), so a frame that comes in one read costs no call.
    read_timeout: Option<Duration>,
    /// A server's wait awake before a read sleeps ([`read_spin`](super::read_spin)); none on a
    /// client.
    spin: Option<ReadSpin>,
}

impl BlockingMllpConnection {
    /// Wraps an accepted stream, switched to blocking mode with the write timeout set.
    pub fn from_stream(
        stream: TcpStream,
        options: MllpOptions,
        timeouts: Timeouts,
    ) -> std::io::Result<BlockingMllpConnection> {
        let peer = stream.peer_addr()?;
        stream.set_nonblocking(false)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(nonzero(timeouts.write)))?;
        Ok(BlockingMllpConnection {
            stream,
            peer,
            codec: MllpCodec::new(options),
            buffer: BytesMut::new(),
            chunk: vec![0; CHUNK],
            out: BytesMut::new(),
            timeouts,
            read_timeout: None,
            spin: None,
        })
    }

    /// Waits awake on the socket after each answer before a read sleeps, as `spin` allows.
    pub fn with_spin(mut self, spin: ReadSpin) -> BlockingMllpConnection {
        self.spin = Some(spin);
        self
    }

    /// Connects to `addr`, an IP address and port (a name would need a lookup that no timeout
    /// bounds), within the connect timeout.
    pub fn connect(
        addr: SocketAddr,
        options: MllpOptions,
        timeouts: Timeouts,
    ) -> Result<BlockingMllpConnection, TransportError> {
        let name = addr.to_string();
        let wait = nonzero(timeouts.connect);
        let stream =
            TcpStream::connect_timeout(&addr, wait).map_err(|source| match source.kind() {
                ErrorKind::TimedOut | ErrorKind::WouldBlock => {
                    TransportError::ConnectTimeout { addr: name.clone(), after: timeouts.connect }
                }
                _ => TransportError::Connect { addr: name.clone(), source },
            })?;
        BlockingMllpConnection::from_stream(stream, options, timeouts)
            .map_err(|source| TransportError::Connect { addr: name, source })
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The next frame, waiting at most the read timeout (the idle timeout of a server).
    pub fn receive(&mut self) -> Result<Frame, TransportError> {
        self.receive_within(self.timeouts.read)
    }

    /// Reads frames, each handed to `each`, until `each` breaks with a value, `deadline`
    /// passes (a `read-timeout`) or the connection fails: the blocking twin of
    /// [`FramedConnection::receive_until`](super::framed::FramedConnection::receive_until).
    pub fn receive_until<T>(
        &mut self,
        deadline: Instant,
        mut each: impl FnMut(Frame) -> std::ops::ControlFlow<T>,
    ) -> Result<T, TransportError> {
        loop {
            let left = time_left(self.peer, deadline, self.buffer.len())?;
            if let Break(done) = each(self.receive_within(left)?) {
                return Ok(done);
            }
        }
    }

    /// The next frame, waiting at most `wait`.
    fn receive_within(&mut self, wait: Duration) -> Result<Frame, TransportError> {
        let mut step = Reassembly::start(self.peer, wait, &self.buffer);
        loop {
            let until = match step.decode(&mut self.codec, &mut self.buffer) {
                Break(done) => return done,
                Continue(until) => until,
            };
            let outcome = self.read(until);
            if let Break(done) = step.after_read(&mut self.codec, &mut self.buffer, outcome) {
                return done;
            }
        }
    }

    /// One read, waiting at most until `until`, appended to the buffer. The socket's timeout
    /// is set again only when the one it has would not fit: a wait of nearly the same length
    /// (the next frame's, the next ACK's) reuses it and costs no call. A read the socket's
    /// timeout ended early is tried again until `until`. Waiting for a new frame after an
    /// answer, a server's read first waits awake ([`ReadSpin`]).
    fn read(&mut self, until: Instant) -> ReadOutcome {
        loop {
            if let Some(spin) = &mut self.spin {
                if self.buffer.is_empty() {
                    let (stream, chunk, buffer) = (&self.stream, &mut self.chunk, &mut self.buffer);
                    let spun = spin.spin(until.into_std(), || read_now(stream, chunk, buffer));
                    if let Some(outcome) = spun {
                        return outcome;
                    }
                }
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return ReadOutcome::TimedOut;
            }
            let wanted = whole_millis(left);
            let fits = self
                .read_timeout
                .is_some_and(|t| t <= left.max(MIN_WAIT) && wanted.saturating_sub(t) <= MIN_WAIT);
            if !fits {
                if let Err(e) = self.stream.set_read_timeout(Some(wanted)) {
                    return ReadOutcome::Failed(e);
                }
                self.read_timeout = Some(wanted);
            }
            return match self.stream.read(&mut self.chunk) {
                Ok(0) => ReadOutcome::Eof,
                Ok(n) => {
                    self.buffer.extend_from_slice(&self.chunk[..n]);
                    if let Some(spin) = &mut self.spin {
                        spin.woke();
                    }
                    ReadOutcome::Bytes
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue
                }
                Err(e) => ReadOutcome::Failed(e),
            };
        }
    }

    /// Frames and writes one payload within the write timeout.
    pub fn send(&mut self, payload: &[u8]) -> Result<(), TransportError> {
        let peer = self.peer;
        self.out.clear();
        encode_frame(payload, &mut self.out)
            .map_err(|source| TransportError::Framing { peer, source })?;
        let written = self.stream.write_all(&self.out);
        if self.out.capacity() > super::framed::KEEP_OUT_BYTES {
            self.out = BytesMut::new();
        }
        match written {
            Ok(()) => {
                if let Some(spin) = &mut self.spin {
                    spin.arm();
                }
                Ok(())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(TransportError::WriteTimeout { peer, after: self.timeouts.write })
            }
            Err(e) => Err(io_error(peer, e)),
        }
    }

    /// Notes on bytes the reader passed over after the last frame (kept until the end of
    /// stream showed they start no frame).
    pub fn take_pending_notes(&mut self) -> Vec<FrameNote> {
        self.codec.take_pending_notes()
    }
}

/// One read that does not wait (`MSG_DONTWAIT`), appended to `buffer`: `None` when no byte
/// was there.
fn read_now(stream: &TcpStream, chunk: &mut [u8], buffer: &mut BytesMut) -> Option<ReadOutcome> {
    use nix::sys::socket::{recv, MsgFlags};
    match recv(stream.as_raw_fd(), chunk, MsgFlags::MSG_DONTWAIT) {
        Ok(0) => Some(ReadOutcome::Eof),
        Ok(n) => {
            buffer.extend_from_slice(chunk.get(..n)?);
            Some(ReadOutcome::Bytes)
        }
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => None,
        Err(errno) => Some(ReadOutcome::Failed(std::io::Error::from(errno))),
    }
}

/// The shortest socket timeout set, and how far a timeout may fall short of the wait and
/// still be reused.
const MIN_WAIT: Duration = Duration::from_millis(1);

/// A socket timeout of zero means "wait forever": the shortest wait is a millisecond instead.
fn nonzero(limit: Duration) -> Duration {
    limit.max(MIN_WAIT)
}

/// `wait` cut to whole milliseconds (at least one), so that waits a few microseconds apart
/// ask the socket for the same timeout.
fn whole_millis(wait: Duration) -> Duration {
    nonzero(Duration::from_millis(wait.as_millis().min(u128::from(u64::MAX)) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::connection::tests::short;
    use std::net::TcpListener;

    /// A blocking connection (the server side) and the raw socket that feeds it.
    fn pair() -> (BlockingMllpConnection, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let connection =
            BlockingMllpConnection::from_stream(accepted, MllpOptions::default(), short()).unwrap();
        (connection, client)
    }

    #[test]
    fn frames_split_and_coalesced_read_as_the_async_connection_reads_them() {
        let (mut server, mut client) = pair();
        client.write_all(b"junk\x0bMSH|A\r\x1c").unwrap();
        client.write_all(b"\r\x0bMSH|B\r\x1c\r\x0bMSH|C\r\x1c\r\x0bMSH|D").unwrap();
        let first = server.receive().unwrap();
        assert_eq!(&first.payload[..], b"MSH|A\r");
        assert_eq!(first.notes.len(), 1, "the bytes before the frame are noted: {:?}", first.notes);
        assert_eq!(&server.receive().unwrap().payload[..], b"MSH|B\r");
        assert_eq!(&server.receive().unwrap().payload[..], b"MSH|C\r");
        std::thread::sleep(Duration::from_millis(30));
        client.write_all(b"\r\x1c\r").unwrap();
        assert_eq!(&server.receive().unwrap().payload[..], b"MSH|D\r", "the rest came later");
        server.send(b"MSA|AA|1\r").unwrap();
        let mut answer = [0u8; 12];
        client.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"\x0bMSA|AA|1\r\x1c\r");
    }

    /// Sends `bytes` from another thread after `delay`.
    fn later(
        client: &TcpStream,
        delay: Duration,
        bytes: &'static [u8],
    ) -> std::thread::JoinHandle<()> {
        let mut client = client.try_clone().unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            client.write_all(bytes).unwrap();
        })
    }

    #[test]
    fn after_an_answer_the_next_message_is_read_awake_within_the_wait_and_no_read_sleeps() {
        let (server, mut client) = pair();
        let mut server = server.with_spin(ReadSpin::new(Duration::from_secs(5)));
        server.send(b"MSA|AA|0\r").unwrap();
        let mut answer = [0u8; 12];
        client.read_exact(&mut answer).unwrap();
        let sender = later(&client, Duration::from_millis(20), b"\x0bMSH|A\r\x1c\r");
        assert_eq!(&server.receive().unwrap().payload[..], b"MSH|A\r");
        sender.join().unwrap();
        // A read that slept would have set the socket's timeout first.
        assert_eq!(server.read_timeout, None, "the message was taken by the wait");
        server.send(b"MSA|AA|1\r").unwrap();
        client.read_exact(&mut answer).unwrap();
        drop(client);
        let err = server.receive().unwrap_err();
        assert_eq!(err.code(), "peer-closed", "a close during the wait: {err}");
    }

    #[test]
    fn a_wait_that_outlasts_its_budget_or_was_not_earned_leaves_the_read_to_sleep() {
        let (server, client) = pair();
        let mut server = server.with_spin(ReadSpin::new(Duration::from_millis(1)));
        server.send(b"MSA|AA|0\r").unwrap();
        let sender = later(&client, Duration::from_millis(50), b"\x0bMSH|A\r\x1c\r");
        assert_eq!(&server.receive().unwrap().payload[..], b"MSH|A\r");
        sender.join().unwrap();
        assert!(server.read_timeout.is_some(), "the budget passed: the read slept");
        let (server, client) = pair();
        let mut server = server.with_spin(ReadSpin::new(Duration::from_secs(5)));
        let sender = later(&client, Duration::from_millis(20), b"\x0bMSH|B\r\x1c\r");
        assert_eq!(&server.receive().unwrap().payload[..], b"MSH|B\r");
        sender.join().unwrap();
        assert!(server.read_timeout.is_some(), "no answer yet: the first read sleeps");
    }

    #[test]
    fn a_frame_without_its_trailer_is_taken_after_the_grace_and_the_socket_stays_open() {
        let (mut server, mut client) = pair();
        client.write_all(b"\x0bMSH|A\r\x1c").unwrap();
        let frame = server.receive().unwrap();
        assert_eq!(&frame.payload[..], b"MSH|A\r");
        assert_eq!(
            frame.notes.iter().map(|n| n.code()).collect::<Vec<_>>(),
            ["mllp-missing-trailer-cr"]
        );
        client.write_all(b"\x0bMSH|B\r\x1c\r").unwrap();
        assert_eq!(&server.receive().unwrap().payload[..], b"MSH|B\r");
    }

    #[test]
    fn timeouts_and_closes_are_named_as_on_the_async_connection() {
        let (mut server, mut client) = pair();
        client.write_all(b"\x0bMSH|half").unwrap();
        let err = server.receive().unwrap_err();
        assert_eq!(err.code(), "read-timeout");
        assert!(err.to_string().contains("9 bytes of an unfinished frame"), "{err}");
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let err = server.receive().unwrap_err();
        assert_eq!(err.code(), "peer-closed");
        assert!(err.to_string().contains("inside a frame (9 bytes buffered)"), "{err}");

        let (mut server, client) = pair();
        drop(client);
        let err = server.receive().unwrap_err();
        assert!(matches!(err, TransportError::PeerClosed { buffered: 0, .. }), "{err}");
    }

    #[test]
    fn a_trickled_frame_is_late_at_its_deadline_not_at_the_end_of_the_trickle() {
        let (mut server, mut client) = pair();
        // A byte of a frame every 50 ms, up to 100 of them: each read ends well inside the
        // socket's timeout, so only the frame's own deadline (300 ms) can end the wait before
        // the trickle does.
        const TRICKLE: usize = 100;
        let feeder = std::thread::spawn(move || {
            let frame = [&b"\x0b"[..], &[b'x'; TRICKLE - 1]].concat();
            for byte in frame {
                if client.write_all(&[byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let err = server.receive().unwrap_err();
        match err {
            TransportError::ReadTimeout { buffered, .. } => {
                assert!(buffered < TRICKLE, "{buffered}")
            }
            other => panic!("not a read timeout: {other}"),
        }
        drop(server);
        feeder.join().unwrap();
    }
}
