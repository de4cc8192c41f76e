//! Putting one frame together from socket reads, without doing the reads: the decisions that
//! the async connection ([`framed`](super::framed)) and the blocking one
//! ([`blocking`](super::blocking)) share, so that both wait as long, take a frame that lacks
//! only its trailer after the same quiet spell, and name a close, a reset or a timeout alike.

use super::connection::TransportError;
use super::framed::FrameCodec;
use bytes::BytesMut;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::ops::ControlFlow::{self, Break, Continue};
use std::time::Duration;
use tokio::time::Instant;

/// How long a frame that may lack only its trailer waits for it before it is taken without.
pub(super) const TRAILER_GRACE: Duration = Duration::from_millis(100);

/// What one read of the socket brought.
pub(super) enum ReadOutcome {
    /// Some bytes, now at the end of the buffer.
    Bytes,
    /// End of stream.
    Eof,
    /// Nothing before the instant the read was allowed to wait until.
    TimedOut,
    Failed(std::io::Error),
}

/// One frame being put together: from the call that asks for it to the frame or the error.
pub(super) struct Reassembly {
    peer: SocketAddr,
    wait: Duration,
    deadline: Instant,
    /// Reads that brought bytes of this frame (bytes left over from an earlier read count).
    pieces: u32,
    first_byte: Option<Instant>,
    /// The buffer may already hold a whole frame without its trailer.
    may_end: bool,
}

impl Reassembly {
    /// A frame that must be whole within `wait`; `buffer` holds what earlier reads left.
    pub(super) fn start(peer: SocketAddr, wait: Duration, buffer: &BytesMut) -> Reassembly {
        let leftover = !buffer.is_empty();
        Reassembly {
            peer,
            wait,
            deadline: Instant::now() + wait,
            pieces: u32::from(leftover),
            first_byte: leftover.then(Instant::now),
            may_end: false,
        }
    }

    /// The frame (or the framing error) `buffer` already holds; otherwise (`Continue`) the
    /// instant until which the next read may wait: the deadline, or a short grace when the
    /// buffer may be a whole frame that lacks only its trailer.
    pub(super) fn decode<C: FrameCodec>(
        &mut self,
        codec: &mut C,
        buffer: &mut BytesMut,
    ) -> ControlFlow<Result<C::Item, TransportError>, Instant> {
        match codec.decode(buffer) {
            Ok(Some(frame)) => return Break(Ok(frame)),
            Ok(None) => {}
            Err(error) => return Break(Err(C::transport_error(self.peer, error))),
        }
        self.may_end = C::may_end_without_trailer(buffer);
        Continue(if self.may_end {
            self.deadline.min(Instant::now() + TRAILER_GRACE)
        } else {
            self.deadline
        })
    }

    /// What a read's `outcome` means: a frame or an error, or (`Continue`) decode again.
    pub(super) fn after_read<C: FrameCodec>(
        &mut self,
        codec: &mut C,
        buffer: &mut BytesMut,
        outcome: ReadOutcome,
    ) -> ControlFlow<Result<C::Item, TransportError>> {
        let peer = self.peer;
        match outcome {
            // Quiet after what may be a whole frame without its trailer: take it.
            ReadOutcome::TimedOut if self.may_end => match codec.decode_eof(buffer) {
                Ok(Some(frame)) => Break(Ok(frame)),
                Ok(None) | Err(_) if Instant::now() < self.deadline => Continue(()),
                _ => Break(Err(self.timed_out(buffer))),
            },
            ReadOutcome::TimedOut => Break(Err(self.timed_out(buffer))),
            ReadOutcome::Failed(error) => Break(Err(io_error(peer, error))),
            // End of stream: a frame cut where it may end still counts.
            ReadOutcome::Eof => match codec.decode_eof(buffer) {
                Ok(Some(frame)) => Break(Ok(frame)),
                Ok(None) => Break(Err(TransportError::PeerClosed { peer, buffered: buffer.len() })),
                Err(error) if C::is_cut_short(&error) => {
                    Break(Err(TransportError::PeerClosed { peer, buffered: buffer.len() }))
                }
                Err(error) => Break(Err(C::transport_error(peer, error))),
            },
            ReadOutcome::Bytes => {
                self.pieces += 1;
                self.first_byte.get_or_insert_with(Instant::now);
                Continue(())
            }
        }
    }

    /// Whether the frame needed more than one read.
    pub(super) fn split(&self) -> bool {
        self.pieces > 1
    }

    /// How long the frame took from its first byte read to its last.
    pub(super) fn took(&self) -> Duration {
        self.first_byte.map(|t| t.elapsed()).unwrap_or_default()
    }

    fn timed_out(&self, buffer: &BytesMut) -> TransportError {
        TransportError::ReadTimeout { peer: self.peer, after: self.wait, buffered: buffer.len() }
    }
}

/// The time left before `deadline` for the next frame of a wait over several frames, or the
/// `read-timeout` (with what is buffered) once it has passed.
pub(super) fn time_left(
    peer: SocketAddr,
    deadline: Instant,
    buffered: usize,
) -> Result<Duration, TransportError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(TransportError::ReadTimeout { peer, after: left, buffered });
    }
    Ok(left)
}

/// An I/O error on an open connection, named by what the peer did.
pub(super) fn io_error(peer: SocketAddr, error: std::io::Error) -> TransportError {
    match error.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => TransportError::Reset { peer },
        ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof => {
            TransportError::PeerClosed { peer, buffered: 0 }
        }
        _ => TransportError::Io { peer, source: error },
    }
}
