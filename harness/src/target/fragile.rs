//! The reference endpoint's defects around hostile peers (`--defect`), kept out of the
//! correct server loop: how a defective endpoint reads the next frame (idle, slow and
//! unfinished frames), what brings it down (a reset, an oversized frame, a reconnect storm),
//! and which frames it drops. The correct endpoint passes through here unchanged.

use super::defect::{Defect, Defects};
use super::log::Log;
use crate::transport::connection::{MllpConnection, TransportError};
use crate::transport::mllp::{Frame, FrameKind, FrameNote, MllpError, START_BLOCK};
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// How long `frame-ended-by-silence` looks for more bytes of an unfinished frame: after one
/// such look with nothing new, it takes the frame as complete.
const SILENCE_ENDS_FRAME: Duration = Duration::from_millis(100);
/// How long `idle-connection-dropped-early` lets a connection idle.
const EARLY_IDLE: Duration = Duration::from_millis(150);
/// The longest a frame may take under `slow-frame-dropped`.
const SLOW_FRAME: Duration = Duration::from_millis(300);
/// Connections closed before any message that `stops-after-connection-storm` survives.
const STORM_LEAK: u32 = 16;

/// Whether a defective endpoint has gone down, shared by its connections.
#[derive(Debug, Default)]
pub struct Health {
    down: AtomicBool,
    silent_closes: AtomicU32,
    /// Where the defects say what they do (the endpoint's log).
    log: Log,
}

impl Health {
    /// A healthy endpoint whose defects log to `log`.
    pub fn logging_to(log: Log) -> Health {
        Health { log, ..Health::default() }
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    fn go_down(&self, why: &str) {
        if !self.down.swap(true, Ordering::SeqCst) {
            self.log.line(format_args!("defect: the endpoint stops serving ({why})"));
        }
    }

    /// A connection failed before the endpoint could read from it (on loopback: the peer
    /// reset it at once).
    pub fn connection_failed(&self, defects: &Defects) {
        if defects.has(Defect::StopsAfterReset) {
            self.go_down("a peer reset its connection before it was read");
        }
        self.connection_ended(defects, 0);
    }

    /// Writing to a connection failed: a reset peer brings `stops-after-reset` down too.
    pub fn write_failed(&self, defects: &Defects, err: &TransportError) {
        let reset = matches!(err, TransportError::Reset { .. } | TransportError::PeerClosed { .. });
        if reset && defects.has(Defect::StopsAfterReset) {
            self.go_down("a peer reset its connection before its ACK");
        }
    }

    /// An HLLP block was refused as damaged: `hllp-stops-after-damaged-block` goes down.
    pub fn damaged_block_refused(&self, defects: &Defects) {
        if defects.has(Defect::HllpStopsAfterDamagedBlock) {
            self.go_down("an HLLP block was damaged");
        }
    }

    /// A connection ended; `frames` is how many it carried.
    pub fn connection_ended(&self, defects: &Defects, frames: u64) {
        if frames == 0 && defects.has(Defect::StopsAfterConnectionStorm) {
            let leaked = self.silent_closes.fetch_add(1, Ordering::SeqCst) + 1;
            if leaked >= STORM_LEAK {
                self.go_down("too many connections leaked");
            }
        }
    }
}

/// The next frame as the endpoint with `defects` reads it; `idle` is the correct endpoint's
/// idle timeout.
pub async fn receive(
    connection: &mut MllpConnection,
    defects: &Defects,
    health: &Health,
    idle: Duration,
) -> Result<Frame, TransportError> {
    let silence = defects.has(Defect::FrameEndedBySilence);
    let early = defects.has(Defect::IdleConnectionDroppedEarly);
    let result = if silence || early {
        let step = if silence { SILENCE_ENDS_FRAME } else { EARLY_IDLE };
        let deadline = Instant::now() + idle;
        let mut seen = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match connection.receive(Some(step.min(left))).await {
                Err(TransportError::ReadTimeout { buffered, .. })
                    if silence && buffered > 0 && buffered != seen =>
                {
                    seen = buffered;
                }
                Err(TransportError::ReadTimeout { buffered, .. }) if silence && buffered > 0 => {
                    let bytes = connection.take_buffered();
                    let payload = bytes.strip_prefix(&[START_BLOCK]).unwrap_or(&bytes).to_vec();
                    break Ok(Frame {
                        payload: Bytes::from(payload),
                        kind: FrameKind::Message,
                        notes: Vec::new(),
                        offset: 0,
                    });
                }
                Err(TransportError::ReadTimeout { buffered: 0, .. }) if early => break Err(None),
                Err(TransportError::ReadTimeout { .. }) if !left.is_zero() => continue,
                other => break other.map_err(Some),
            }
        }
    } else {
        connection.receive(None).await.map_err(Some)
    };
    match result {
        Ok(_)
            if defects.has(Defect::SlowFrameDropped)
                && connection.last_frame_took() > SLOW_FRAME =>
        {
            health.log.line(format_args!(
                "defect: a frame took {}ms; dropped, connection closed",
                connection.last_frame_took().as_millis()
            ));
            Err(TransportError::PeerClosed { peer: connection.peer(), buffered: 0 })
        }
        Ok(frame) => Ok(frame),
        Err(None) => Err(TransportError::PeerClosed { peer: connection.peer(), buffered: 0 }),
        Err(Some(err)) => {
            match &err {
                TransportError::Reset { .. } if defects.has(Defect::StopsAfterReset) => {
                    health.go_down("a peer reset its connection")
                }
                TransportError::Framing { source: MllpError::FrameTooLarge { .. }, .. }
                    if defects.has(Defect::DiesOnOversizedFrame) =>
                {
                    health.go_down("an oversized frame")
                }
                _ => {}
            }
            Err(err)
        }
    }
}

/// What a connection's earlier frames leave behind for the dropping defects.
#[derive(Debug, Default)]
pub struct Earlier {
    frames: u64,
    missing_trailer_cr: bool,
}

/// Whether the endpoint with `defects` drops `frame` without an answer, given the frames the
/// connection carried before it.
pub fn drops(frame: &Frame, defects: &Defects, earlier: &mut Earlier) -> bool {
    // Computed only under its defect: the correct endpoint does not scan every payload twice.
    let lf_only = || frame.payload.contains(&b'\n') && !frame.payload.contains(&b'\r');
    let junk = frame.notes.iter().any(|n| matches!(n, FrameNote::BytesOutsideFrame { .. }));
    let eaten = earlier.missing_trailer_cr;
    let first = earlier.frames == 0;
    earlier.frames += 1;
    earlier.missing_trailer_cr =
        frame.notes.iter().any(|n| matches!(n, FrameNote::MissingTrailerCr { .. }));
    (defects.has(Defect::LfSegmentsUnanswered) && lf_only())
        || (defects.has(Defect::JunkJoinsNextFrame) && junk && !first)
        || (defects.has(Defect::EatsByteAfterEndBlock) && eaten)
}
