//! One connection of a case and the messages sent on it: connecting, writing a step's bytes as
//! its faults shape them, reading the answers, reconnecting after a close, resending.

use super::case_run::*;
use super::exec::*;
use super::liveness::during;
use super::mllp_case::*;
use super::wire::write_plan;
use crate::faults::{plan, WireEnd, WirePlan};
use crate::netlab::{Cut, Direction, LabError};
use crate::observation::*;
use crate::transport::connection::{MllpConnection, TransportError};
use crate::vocab::{ConnectionEvent, Seed};
use std::ops::ControlFlow;
use std::time::Duration;
use tokio::time::Instant;

/// One connection of a case and the messages sent on it.
pub(super) struct Lane<'a> {
    pub(super) addr: &'a str,
    pub(super) ctx: &'a Context,
    /// 1-based, as reported.
    pub(super) number: usize,
    pub(super) conn: MllpConnection,
    pub(super) pending: Vec<Pending>,
    /// Why the connection can no longer be used, when it cannot.
    pub(super) dead: Option<TransportEvent>,
    pub(super) after: ConnectionAfter,
    /// The target closed a connection of this lane during the case (and a new one was opened).
    pub(super) closed_once: Option<ConnectionAfter>,
    /// The message a canary sends while a fault holds this lane (an unterminated frame's
    /// silence), and the canaries sent.
    pub(super) canary: Option<Vec<u8>>,
    pub(super) canaries: Vec<Canary>,
    /// Drives the faults' random choices.
    pub(super) seed: Seed,
    /// When the lane's first connection was opened.
    pub(super) opened: Instant,
    /// A `reset: { after_acks: N }` has fired on this lane (it fires once).
    pub(super) ack_reset: bool,
    /// Index into `pending` of the exchange the current connection's last frame answered.
    pub(super) last: Option<usize>,
}

impl Lane<'_> {
    pub(super) fn fail(&mut self, err: &TransportError) -> TransportEvent {
        self.after = after_from(err);
        let gone = event(err);
        self.dead = Some(gone.clone());
        gone
    }

    /// A new connection in place of one the target closed; false when none could be opened.
    pub(super) async fn reconnect(&mut self) -> bool {
        self.attach_trailing();
        match connect(self.addr, self.ctx).await {
            Ok(fresh) => {
                self.conn = fresh;
                self.last = None;
                self.dead = None;
                self.closed_once = self.closed_once.or(Some(self.after));
                true
            }
            Err(err) => {
                self.dead = Some(event(&err));
                false
            }
        }
    }

    /// Bytes outside frames read after the current connection's last frame: a framing note on
    /// the reply they followed.
    pub(super) fn attach_trailing(&mut self) {
        let mut nowhere = Vec::new();
        let mut reading =
            Reading { pending: &mut self.pending, stray: &mut nowhere, last: &mut self.last };
        reading.attach_trailing(&mut self.conn);
    }

    /// Writes `wire`, then reads until `pending[index]` has a reply, the ACK timeout passes or
    /// the connection fails (which marks the lane dead). A message the harness's own fault left
    /// without its ACK goes again, unchanged (same MSH-10) and without the fault, on a new
    /// connection, as a correct sender resends after an indeterminate outcome: after a close or
    /// reset before the ACK, a blackhole, a half-close, and a close by the target between two
    /// messages (a receiver may close after an ACK; the harness may have written the next
    /// message before it saw the close), and a close on bytes the harness wrote outside a
    /// block (MLLP release 1 leaves that to the receiver). The message is lost only if that
    /// resend goes
    /// unanswered too. A commit NAK (MLLP release 2) is a failed attempt: the message is sent
    /// again on the same connection, at most [`COMMIT_NAK_RESENDS`] times.
    pub(super) async fn send_and_wait(
        &mut self,
        wire: &WirePlan,
        index: usize,
        stray: &mut Vec<Reply>,
    ) {
        let answered_before = self.last.is_some();
        let first = self.pending[index].exchange.attempts.is_empty();
        if first {
            self.pending[index].exchange.after_outside_bytes = wire.outside_blocks;
        }
        // Bytes outside a block are judged by what the target does once it has them. A
        // target that closed before they were written (after its ACK, or an idle connection:
        // both permitted) did not close on them; so that a close which came first (on a busy
        // machine, the step before may take longer than a short idle timeout) is not
        // blamed on them, they go on a new connection. Asked of the kernel just before the
        // write, so the window left is that of one system call.
        if first && wire.outside_blocks && self.dead.is_none() && self.conn.peer_closed_already() {
            self.after = ConnectionAfter::Closed;
            self.reconnect().await;
        }
        self.attempt(wire, index, stray).await;
        let again = plan(&[self.pending[index].exchange.sent.as_slice()], &[], self.seed, true);
        let unanswered = |lane: &Self| lane.pending[index].exchange.replies.is_empty();
        let nak = |lane: &Self| lane.pending[index].commit == Some(Commit::Nak);
        let cut = matches!(wire.end, WireEnd::Close | WireEnd::Reset | WireEnd::Blackhole);
        if cut && self.dead.is_none() {
            self.attempt(&again, index, stray).await;
        } else if unanswered(self) && !nak(self) {
            let closed = self.dead.as_ref().is_some_and(|e| {
                matches!(e.code, ConnectionEvent::PeerClosed | ConnectionEvent::PeerReset)
            });
            let closed_between = wire.end == WireEnd::Read && answered_before && closed;
            // MLLP release 1 says nothing of bytes outside blocks: a receiver may close on the
            // ones the harness wrote, and the message then goes again without them.
            let closed_on_outside = wire.outside_blocks && closed;
            if wire.end == WireEnd::HalfClose || closed_between || closed_on_outside {
                // After a half-close this end cannot write again: a new connection either way.
                let fresh = if self.dead.is_some() {
                    self.reconnect().await
                } else {
                    self.replace_connection(true).await;
                    self.dead.is_none()
                };
                if fresh {
                    self.attempt(&again, index, stray).await;
                }
            }
        }
        let mut resends = 0;
        while resends < COMMIT_NAK_RESENDS && self.dead.is_none() && unanswered(self) && nak(self) {
            resends += 1;
            self.attempt(&again, index, stray).await;
        }
    }

    /// One write of a message and what came of it, recorded as an [`Attempt`].
    pub(super) async fn attempt(&mut self, wire: &WirePlan, index: usize, stray: &mut Vec<Reply>) {
        let before = self.pending[index].exchange.replies.len();
        self.pending[index].sent_at = Instant::now();
        self.pending[index].commit = None;
        self.hold_waits(wire, index);
        let failure = if wire.end == WireEnd::Blackhole {
            self.vanish(wire, index, stray).await
        } else {
            self.write_and_end(wire, index, stray).await
        };
        let refused = self.pending[index].commit == Some(Commit::Nak)
            && self.pending[index].exchange.replies.len() == before;
        if let Some(err) = failure {
            let gone = self.fail(&err);
            self.pending[index].exchange.event = Some(gone);
        } else if refused {
            self.pending[index].exchange.event = Some(TransportEvent {
                code: crate::vocab::ConnectionEvent::CommitNak,
                detail: "the receiver refused to commit the message (MLLP release 2 negative \
                         commit acknowledgement)"
                    .into(),
            });
        } else if self.pending[index].exchange.replies.is_empty()
            && self.pending[index].exchange.event.is_none()
        {
            self.pending[index].exchange.event = Some(TransportEvent {
                code: crate::vocab::ConnectionEvent::ReadTimeout,
                detail: format!("no reply within {}ms", self.ctx.ack_timeout.as_millis()),
            });
        }
        record_attempt(&mut self.pending[index], before);
    }

    /// Records on the exchange the waits its faults hold on this attempt: the pauses between
    /// the writes (`fragment`, `slow`), an unterminated frame's silence, a blackhole's outage.
    fn hold_waits(&mut self, wire: &WirePlan, index: usize) {
        let exchange = &mut self.pending[index].exchange;
        let step = exchange.step;
        let paused: Duration = wire.writes.iter().map(|w| w.pause).sum();
        let end = match wire.end {
            WireEnd::Silence(silence) => Wait::of_step(WaitKind::Silence, step, silence),
            WireEnd::Blackhole => {
                Wait::of_step(WaitKind::Outage, step, self.ctx.ack_timeout.min(BLACKHOLE_OUTAGE))
            }
            _ => None,
        };
        exchange
            .waits
            .extend(Wait::of_step(WaitKind::FaultDelay, step, paused).into_iter().chain(end));
    }

    /// Writes the plan and ends the attempt as it says; the error that ended the connection,
    /// if one did.
    pub(super) async fn write_and_end(
        &mut self,
        wire: &WirePlan,
        index: usize,
        stray: &mut Vec<Reply>,
    ) -> Option<TransportError> {
        let written = write_plan(&mut self.conn, wire).await;
        // The ACK timer starts once the frame is out: a slow or fragmented write is the
        // harness's own pace, and on a busy machine its sleeps run long.
        self.pending[index].sent_at = Instant::now();
        match written {
            Err(err) => Some(err),
            Ok(()) => match wire.end {
                WireEnd::Close | WireEnd::Reset => {
                    self.cut(wire.end == WireEnd::Reset, index).await;
                    None
                }
                WireEnd::Silence(silence) => {
                    self.silence(silence, index, stray).await;
                    None
                }
                // Planned by `vanish`, which cuts the way back before writing.
                WireEnd::Blackhole => None,
                WireEnd::Read | WireEnd::HalfClose | WireEnd::ResetAfterAcks(_) => {
                    let deadline = Instant::now() + self.ctx.ack_timeout;
                    let done = move |p: &[Pending]| p[index].settled();
                    let mut reading =
                        Reading { pending: &mut self.pending, stray, last: &mut self.last };
                    read_until(&mut self.conn, &mut reading, Some(index), deadline, done).await
                }
            },
        }
    }

    /// The harness's host vanishes (packet level, in the lab): the way back is cut before the
    /// frame goes, so not even a fast ACK gets through; once the frame's packets have crossed,
    /// the way out is cut too, and the receiver sees neither a FIN nor a RST. The harness waits
    /// out [`BLACKHOLE_OUTAGE`] (at most the ACK timeout) while a canary checks that other
    /// connections are served, then gives the connection up (its reset is dropped too) and lets
    /// the port's packets through again.
    pub(super) async fn vanish(
        &mut self,
        wire: &WirePlan,
        index: usize,
        stray: &mut Vec<Reply>,
    ) -> Option<TransportError> {
        let Some(lab) = self.ctx.lab.clone() else {
            self.pending[index].exchange.event = Some(TransportEvent {
                code: crate::vocab::ConnectionEvent::NoLab,
                detail: "blackhole needs the packet-level lab, which this run does not have".into(),
            });
            return None;
        };
        let ports = self.conn.local_addr().map(|local| Cut::Connection {
            harness_port: local.port(),
            peer_port: self.conn.peer().port(),
        });
        let cut = match ports {
            Ok(cut) => lab.drop_packets(cut, Direction::ToHarness).await.map(|()| cut),
            Err(err) => Err(LabError::Socket(err)),
        };
        let cut = match cut {
            Ok(cut) => cut,
            Err(err) => {
                self.pending[index].exchange.event = Some(TransportEvent {
                    code: crate::vocab::ConnectionEvent::LabFailed,
                    detail: err.to_string(),
                });
                return None;
            }
        };
        let written = write_plan(&mut self.conn, wire).await;
        tokio::time::sleep(CROSSING).await;
        let way_out = lab.drop_packets(cut, Direction::FromHarness).await;
        if let Err(err) = written {
            let _ = lab.restore(cut, Direction::Both).await;
            return Some(err);
        }
        let outage = self.ctx.ack_timeout.min(BLACKHOLE_OUTAGE);
        self.listen_with_canary(outage, index, stray).await;
        let sent = wire.bytes().len();
        let detail = match way_out {
            Ok(()) => format!(
                "the harness's host vanished after {sent} bytes: every packet of the connection \
                 dropped both ways (no FIN, no RST) for {}ms",
                outage.as_millis()
            ),
            Err(err) => format!("the way back was cut after {sent} bytes, the way out not: {err}"),
        };
        self.pending[index].exchange.event =
            Some(TransportEvent { code: crate::vocab::ConnectionEvent::Blackholed, detail });
        self.replace_connection(true).await;
        let _ = lab.restore(cut, Direction::Both).await;
        None
    }

    /// Ends the connection on purpose before any ACK could be read: the attempt is
    /// indeterminate, and the lane goes on with a new connection.
    pub(super) async fn cut(&mut self, reset: bool, index: usize) {
        let (code, detail) = if reset {
            (
                ConnectionEvent::ResetByHarness,
                "the harness reset the connection (SO_LINGER 0) before the ACK",
            )
        } else {
            (ConnectionEvent::ClosedBeforeAck, "the harness closed the connection before the ACK")
        };
        self.pending[index].exchange.event = Some(TransportEvent { code, detail: detail.into() });
        self.replace_connection(reset).await;
    }

    /// Gives up the current connection (closed, or reset with SO_LINGER 0) for a new one; the
    /// lane is dead when none can be opened. Not a close by the target: `connection.open`
    /// does not count it.
    pub(super) async fn replace_connection(&mut self, reset: bool) {
        // A close: the peer reads end-of-stream now; the harness waits (at most the ACK
        // timeout) until the peer is done with the connection, reading nothing it sends as an
        // answer, so a resend never overtakes the message on the connection given up. A reset
        // goes out on drop.
        self.attach_trailing();
        if !reset && self.conn.shutdown_write().await.is_ok() {
            let deadline = Instant::now() + self.ctx.ack_timeout;
            let drained = self.conn.receive_until(deadline, |_| ControlFlow::<()>::Continue(()));
            let _ = drained.await;
        }
        match connect(self.addr, self.ctx).await {
            Ok(fresh) => {
                let old = std::mem::replace(&mut self.conn, fresh);
                if reset {
                    old.reset();
                }
                self.last = None;
                self.dead = None;
            }
            Err(err) => self.dead = Some(event(&err)),
        }
    }

    /// Reads whatever comes for `silence` (nothing should: the frame never ended) while a
    /// canary checks that other connections are served meanwhile; the connection is given up
    /// only once the canary is done, so a receiver serving one connection at a time shows.
    pub(super) async fn silence(
        &mut self,
        silence: Duration,
        index: usize,
        stray: &mut Vec<Reply>,
    ) {
        let ended = self.listen_with_canary(silence, index, stray).await;
        let gone = TransportEvent {
            code: ConnectionEvent::Unterminated,
            detail: format!(
                "the frame was left without its end block; {}ms of silence, then closed{}",
                silence.as_millis(),
                ended.map(|e| format!(" ({} first)", e.code())).unwrap_or_default()
            ),
        };
        self.pending[index].exchange.event = Some(gone);
        self.replace_connection(false).await;
    }

    /// How a message sent one at a time ends under `reset: { after_acks }`: reset before its
    /// ACK when `acks` ACKs have been read on the lane (once), otherwise read as usual.
    pub(super) fn ack_trigger(&mut self, acks: u32) -> WireEnd {
        let read = self.pending.iter().filter(|p| !p.exchange.replies.is_empty()).count();
        if !self.ack_reset && read >= acks as usize {
            self.ack_reset = true;
            WireEnd::Reset
        } else {
            WireEnd::Read
        }
    }

    /// Records whatever arrives on the connection for `wait` (nothing should) while the lane's
    /// canary, if it still has one, checks that other connections are served; the error that
    /// ended the connection meanwhile, if one did.
    pub(super) async fn listen_with_canary(
        &mut self,
        wait: Duration,
        index: usize,
        stray: &mut Vec<Reply>,
    ) -> Option<TransportError> {
        let deadline = Instant::now() + wait;
        let never = |_: &[Pending]| false;
        let (addr, ctx, message) = (self.addr, self.ctx, self.canary.take());
        let mut reading = Reading { pending: &mut self.pending, stray, last: &mut self.last };
        let listen = read_until(&mut self.conn, &mut reading, Some(index), deadline, never);
        let (ended, canary) = during(addr, ctx, message, listen).await;
        self.canaries.extend(canary);
        ended
    }

    /// Listens a little longer for duplicate or late ACKs, or the target closing; records how
    /// the connection ended. Gives how long it listened (the linger, or less when the
    /// connection ended first): a wait the case's checks required.
    pub(super) async fn finish(&mut self, stray: &mut Vec<Reply>) -> Duration {
        let mut lingered = Duration::ZERO;
        if self.dead.is_none() {
            let began = Instant::now();
            let deadline = began + self.ctx.linger;
            let never = |_: &[Pending]| false;
            let mut reading = Reading { pending: &mut self.pending, stray, last: &mut self.last };
            self.after = match read_until(&mut self.conn, &mut reading, None, deadline, never).await
            {
                None => ConnectionAfter::Open,
                Some(err) => after_from(&err),
            };
            lingered = began.elapsed().min(self.ctx.linger);
        }
        self.attach_trailing();
        // A close during the case shows even when the last connection stayed open.
        if let (Some(earlier), ConnectionAfter::Open) = (self.closed_once, self.after) {
            self.after = earlier;
        }
        lingered
    }
}
