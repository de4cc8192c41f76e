//! Reading what comes back on a connection and attributing each frame to the message it answers
//! (MSA-2), with the attempts and commit acknowledgments of each message.

use super::exec::*;
use crate::observation::*;
use crate::transport::connection::{MllpConnection, TransportError};
use crate::transport::mllp::{Frame, FrameKind};
use std::ops::ControlFlow;
use std::time::Duration;
use tokio::time::Instant;

/// A frame as a recorded reply: its payload and what the reader noted about its bytes.
pub(super) fn reply_of(frame: &Frame, elapsed: Duration) -> Reply {
    let notes = frame.notes.iter().map(|n| (n.code().to_string(), n.offset())).collect();
    Reply { payload: frame.payload.to_vec(), notes, elapsed }
}

/// An exchange in flight on one connection.
pub(super) struct Pending {
    pub(super) exchange: Exchange,
    pub(super) sent_at: Instant,
    pub(super) control_id: Option<String>,
    /// The MLLP release 2 commit acknowledgement block read for the current attempt.
    pub(super) commit: Option<Commit>,
}

impl Pending {
    pub(super) fn new(exchange: Exchange, control_id: Option<String>) -> Pending {
        Pending { exchange, sent_at: Instant::now(), control_id, commit: None }
    }

    /// Nothing more will come for the current attempt: its ACK, or a commit NAK (MLLP release
    /// 2: the receiver did not commit the message, so no application ACK follows).
    pub(super) fn settled(&self) -> bool {
        !self.exchange.replies.is_empty() || self.commit == Some(Commit::Nak)
    }
}

/// How many times a message refused with an MLLP release 2 commit NAK is sent again on the
/// same connection (same MSH-10) before it is given up: "If the Source system receives a
/// negative commit acknowledgement ... it shall resend the message" (HL7 Version 3 Standard:
/// Transport Specification - MLLP, Release 2, 1.2.1 Content exchange model; the bound is the
/// harness's, as the specification sets none).
pub(super) const COMMIT_NAK_RESENDS: usize = 3;

/// Which pending exchange a commit acknowledgement block answers: the one being waited for,
/// else the first with neither an ACK nor a commit block yet (MLLP release 2 is synchronous:
/// commit blocks come in the order of the messages).
pub(super) fn commit_owner(pending: &[Pending], preferred: Option<usize>) -> Option<usize> {
    let open = |p: &Pending| p.exchange.replies.is_empty() && p.commit.is_none();
    preferred.filter(|&i| open(&pending[i])).or_else(|| pending.iter().position(open))
}

/// Which pending exchange a frame answers: by MSA-2, else the preferred one if it has no reply
/// yet, else the first without a reply; `None`: a stray frame.
pub(super) fn attribute(
    pending: &[Pending],
    payload: &[u8],
    preferred: Option<usize>,
) -> Option<usize> {
    if let Some(id) = msa2_of(payload) {
        let matching = |p: &&Pending| p.control_id.as_deref() == Some(id.as_str());
        let first_open = pending.iter().position(|p| matching(&p) && p.exchange.replies.is_empty());
        if let Some(i) = first_open.or_else(|| pending.iter().position(|p| matching(&p))) {
            return Some(i);
        }
    }
    if let Some(i) = preferred.filter(|&i| pending[i].exchange.replies.is_empty()) {
        return Some(i);
    }
    pending.iter().position(|p| p.exchange.replies.is_empty())
}

/// What reading frames on one connection needs beside the connection: the messages in
/// flight, where unattributable frames go, and which exchange the last frame answered (bytes
/// the target sends after an answer are that exchange's, not the next one's).
pub(super) struct Reading<'a> {
    pub(super) pending: &'a mut [Pending],
    pub(super) stray: &'a mut Vec<Reply>,
    /// Index into `pending` of the exchange the connection's last frame was attributed to.
    pub(super) last: &'a mut Option<usize>,
}

impl Reading<'_> {
    /// Records one frame: a commit block on the attempt it answers, an HL7 frame as a reply of
    /// the exchange [`attribute`] picks. With `follow`, a frame no exchange claims is an extra
    /// reply of the exchange whose answer it followed (it came before the next message went).
    pub(super) fn take(&mut self, frame: Frame, preferred: Option<usize>, follow: bool) {
        let commit = match frame.kind {
            FrameKind::Message => None,
            FrameKind::CommitAck => Some(Commit::Ack),
            FrameKind::CommitNak => Some(Commit::Nak),
        };
        if let Some(commit) = commit {
            // A commit block no message waits for (after its ACK) is not an acknowledgment.
            if let Some(i) = commit_owner(self.pending, preferred) {
                self.pending[i].commit = Some(commit);
            }
            return;
        }
        let now = Instant::now();
        let owner = attribute(self.pending, &frame.payload, preferred)
            .or_else(|| self.last.filter(|_| follow));
        match owner {
            Some(i) => {
                let elapsed = now.duration_since(self.pending[i].sent_at);
                let place = self.pending.iter().map(|p| p.exchange.replies.len()).sum();
                self.pending[i].exchange.reply_order.push(place);
                self.pending[i].exchange.replies.push(reply_of(&frame, elapsed));
                *self.last = Some(i);
            }
            None => {
                self.stray.push(reply_of(&frame, Duration::ZERO));
                *self.last = None;
            }
        }
    }

    /// Bytes outside any frame that the target sent after the last frame (garbage after an
    /// ACK): a framing note on the reply they followed, so `ack.framing` fails on that step
    /// and not on the next one. Without an earlier reply they stay for the next frame.
    pub(super) fn attach_trailing(&mut self, conn: &mut MllpConnection) {
        let Some(reply) = self
            .last
            .and_then(|i| self.pending.get_mut(i))
            .and_then(|p| p.exchange.replies.last_mut())
        else {
            return;
        };
        for note in conn.take_outside_notes() {
            reply.notes.push((note.code().to_string(), note.offset()));
        }
    }
}

/// Reads frames until `done` holds, the deadline passes or the connection fails; returns the
/// transport event that ended reading, if any (a timeout is not returned when `done` held).
/// Pipelined and attributed reading on the client's one read loop
/// ([`receive_until`](crate::transport::framed::FramedConnection::receive_until)).
pub(super) async fn read_until(
    conn: &mut MllpConnection,
    reading: &mut Reading<'_>,
    preferred: Option<usize>,
    deadline: Instant,
    done: impl Fn(&[Pending]) -> bool,
) -> Option<TransportError> {
    if done(reading.pending) {
        return None;
    }
    let read = conn.receive_until(deadline, |frame| {
        reading.take(frame, preferred, false);
        if done(reading.pending) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    match read.await {
        Ok(()) | Err(TransportError::ReadTimeout { .. }) => None,
        Err(err) => Some(err),
    }
}

/// Takes what the target has already sent (frames read, bytes outside frames) without waiting:
/// it came after the last answer and before the next message, so it belongs to the exchanges
/// sent so far.
pub(super) async fn take_ready(conn: &mut MllpConnection, reading: &mut Reading<'_>) {
    // Bounded: a read that would wait ends the loop, and a target that streams frames without
    // pause is cut off after a few (the next message's reading takes the rest).
    for _ in 0..TAKE_READY_FRAMES {
        match conn.receive(Some(Duration::ZERO)).await {
            Ok(frame) => reading.take(frame, None, true),
            Err(_) => break,
        }
    }
    reading.attach_trailing(conn);
}

/// At most this many frames are taken by [`take_ready`] at once.
pub(super) const TAKE_READY_FRAMES: usize = 64;

pub(super) fn after_from(err: &TransportError) -> ConnectionAfter {
    match err.code() {
        crate::vocab::ConnectionEvent::PeerClosed => ConnectionAfter::Closed,
        crate::vocab::ConnectionEvent::PeerReset => ConnectionAfter::Reset,
        _ => ConnectionAfter::Unknown,
    }
}

/// Records the attempt that started when `pending` had `before` replies.
pub(super) fn record_attempt(pending: &mut Pending, before: usize) {
    let commit = pending.commit;
    let exchange = &mut pending.exchange;
    let reply = exchange.replies.get(before).map(|r| r.payload.as_slice());
    let outcome = Outcome::of(&exchange.sent, reply);
    let event = match outcome {
        Outcome::Indeterminate => Some(match (&exchange.event, reply) {
            (_, Some(_)) => "ack-of-another-message".to_string(),
            (Some(event), None) => event.code.to_string(),
            (None, None) => "no-ack".to_string(),
        }),
        _ => None,
    };
    exchange.attempts.push(Attempt { outcome, event, commit });
}
