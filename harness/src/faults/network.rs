//! The client-side fault vocabulary: what a scenario's `network:` list names, with the harness
//! as a misbehaving client and the target as the receiver. Each fault says what to do to the
//! bytes of a step and how the attempt ends; [`super::wire`] turns a list of them into the exact
//! writes. Triggers are events (a byte offset, a frame, the Nth ACK), never clock guesses.
//! Pure: no I/O, and no import of `scenario` (which imports this).

use crate::vocab::Span;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One fault, as written in a scenario's `network:` list. Names never change once published.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NetworkFault {
    /// Write each frame in chunks of `size` bytes (down to 1) with `delay` between them
    /// (default 5ms); with `max_size`, each chunk's size is drawn from `size..=max_size` by the
    /// case seed.
    Fragment {
        size: usize,
        #[serde(default)]
        delay: Option<Span>,
        #[serde(default)]
        max_size: Option<usize>,
    },
    /// Write the frames of all steps of the case in one write (pipelined, then read the ACKs).
    Coalesce,
    /// Write the frames of all steps one write each, without reading any ACK in between, then
    /// read the ACKs (pipelining).
    Pipeline,
    /// Shut down the write side after sending (TCP half-close), then read the ACK.
    HalfClose,
    /// Write at most `bytes_per_second` (in 20 ms slices; at least one byte per slice).
    Slow { bytes_per_second: u32 },
    /// End the write side right after the frame and read no answer; once the receiver is done
    /// with the connection (at most the ACK timeout), resend the same message (same MSH-10) on
    /// a new connection, as a correct sender does after an indeterminate outcome.
    CloseBeforeAck,
    /// Reset the connection (RST, SO_LINGER 0): after the whole frame, at byte `offset` of the
    /// frame, or, with `mid_frame`, at an offset inside the frame drawn by the case seed. Then
    /// connect again and resend the message. With `after_acks: N` instead, the trigger is the
    /// Nth ACK read on the connection: the reset comes once N ACKs have been read while a later
    /// frame is unanswered (the pipelined frames behind them, or the next message sent one at
    /// a time), once per connection; the unanswered messages are indeterminate and go again,
    /// one at a time with the same MSH-10, on a new connection.
    Reset {
        #[serde(default)]
        offset: Option<usize>,
        #[serde(default)]
        mid_frame: bool,
        #[serde(default)]
        after_acks: Option<u32>,
    },
    /// Bytes outside any frame, written before the frame (default `"\r\n"`).
    BytesBeforeFrame(#[serde(default)] Option<String>),
    /// Bytes outside any frame, written between two frames (default `"\r\n"`): between the
    /// frames of a coalesced or pipelined write, and before every step's frame but the first.
    BytesBetweenFrames(#[serde(default)] Option<String>),
    /// End the frame with 0x1C but no 0x0D (tolerated by lenient receivers).
    MissingTrailerCr,
    /// Segments end with LF instead of CR (what files moved through FTP or mail look like).
    LfSegments,
    /// Pad the message with a `ZOV` segment to `bytes` payload bytes (default 17 MiB, above
    /// the common 16 MiB bound; at most 256 MiB). The receiver may answer or close, but must
    /// keep serving. Reports show the message without its padding.
    Oversized {
        #[serde(default)]
        bytes: Option<usize>,
    },
    /// Write the start block and the message but never the end block, then stay silent for
    /// `silence` (default 500ms) and close. No ACK may come for an unfinished frame.
    Unterminated {
        #[serde(default)]
        silence: Option<Span>,
    },
    /// Keep the new connection idle for this long before sending. A receiver may close an
    /// idle connection (the sender then reconnects); it must not stop serving.
    Idle(Span),
    /// Before the case, open `connections` connections one after another and end each at
    /// once, with a close or a reset as the case seed decides (a reconnect storm).
    Storm { connections: u32 },
    /// HLLP targets only: send each data block first with a wrong checksum (the receiver must
    /// answer with an N block and process nothing), then the good block.
    BadChecksum,
    /// Packet level (needs the lab, see `netlab`): the harness's host vanishes. After the whole
    /// frame, at byte `offset` of it, or, with `mid_frame`, at an offset drawn by the case
    /// seed, every packet of the connection is dropped both ways: no ACK reaches the harness,
    /// and the receiver never sees a FIN or a RST. The receiver must keep serving other
    /// connections; after a second (at most the ACK timeout) the harness comes back on a new
    /// connection and resends the message (same MSH-10), which must be answered and applied
    /// once.
    Blackhole {
        #[serde(default)]
        offset: Option<usize>,
        #[serde(default)]
        mid_frame: bool,
    },
}

/// Default payload size of an `oversized` frame: 1 MiB above the common 16 MiB bound.
pub const OVERSIZED_DEFAULT: usize = 17 * 1024 * 1024;

/// Default silence after an `unterminated` frame.
pub const UNTERMINATED_SILENCE: Duration = Duration::from_millis(500);

/// Most connections one `storm` may open (memory and file descriptors stay bounded).
pub const STORM_MAX: u32 = 1000;

/// Largest `oversized` frame the harness builds (it holds the frame in memory).
pub const OVERSIZED_MAX: usize = 256 * 1024 * 1024;

impl NetworkFault {
    pub fn name(&self) -> &'static str {
        match self {
            NetworkFault::Fragment { .. } => "fragment",
            NetworkFault::Coalesce => "coalesce",
            NetworkFault::Pipeline => "pipeline",
            NetworkFault::HalfClose => "half_close",
            NetworkFault::Slow { .. } => "slow",
            NetworkFault::CloseBeforeAck => "close_before_ack",
            NetworkFault::Reset { .. } => "reset",
            NetworkFault::BytesBeforeFrame(_) => "bytes_before_frame",
            NetworkFault::BytesBetweenFrames(_) => "bytes_between_frames",
            NetworkFault::MissingTrailerCr => "missing_trailer_cr",
            NetworkFault::LfSegments => "lf_segments",
            NetworkFault::Oversized { .. } => "oversized",
            NetworkFault::Unterminated { .. } => "unterminated",
            NetworkFault::Idle(_) => "idle",
            NetworkFault::Storm { .. } => "storm",
            NetworkFault::BadChecksum => "bad_checksum",
            NetworkFault::Blackhole { .. } => "blackhole",
        }
    }

    /// Checks parameters that serde cannot (a zero chunk size would never finish).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            NetworkFault::Fragment { size: 0, .. } => {
                Err("fragment: size must be at least 1".into())
            }
            NetworkFault::Fragment { size, max_size: Some(max), .. } if max < size => {
                Err(format!("fragment: max_size {max} is below size {size}"))
            }
            NetworkFault::Slow { bytes_per_second: 0 } => {
                Err("slow: bytes_per_second must be at least 1".into())
            }
            NetworkFault::Reset { offset: Some(_), mid_frame: true, .. } => {
                Err("reset: give offset or mid_frame, not both".into())
            }
            NetworkFault::Blackhole { offset: Some(_), mid_frame: true } => {
                Err("blackhole: give offset or mid_frame, not both".into())
            }
            NetworkFault::Reset { after_acks: Some(0), .. } => {
                Err("reset: after_acks must be at least 1 (`reset: {}` resets after the frame)"
                    .into())
            }
            NetworkFault::Reset { after_acks: Some(_), offset, mid_frame }
                if offset.is_some() || *mid_frame =>
            {
                Err("reset: after_acks resets between frames; give no offset or mid_frame".into())
            }
            NetworkFault::Storm { connections } if *connections > STORM_MAX => {
                Err(format!("storm: at most {STORM_MAX} connections"))
            }
            NetworkFault::Oversized { bytes: Some(bytes) } if *bytes > OVERSIZED_MAX => {
                Err(format!("oversized: at most {OVERSIZED_MAX} bytes"))
            }
            _ => Ok(()),
        }
    }

    /// Whether the fault ends the attempt in a way that leaves its outcome indeterminate, so
    /// the runner resends the message on a new connection.
    pub fn cuts_attempt(&self) -> bool {
        matches!(
            self,
            NetworkFault::CloseBeforeAck
                | NetworkFault::Reset { .. }
                | NetworkFault::Blackhole { .. }
        )
    }

    /// Whether the fault works at the packet level, in the lab (a network namespace the
    /// harness creates; root only).
    pub fn needs_lab(&self) -> bool {
        matches!(self, NetworkFault::Blackhole { .. })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Reads YAML as scenario files are read (enums as single-key maps), without importing
    /// `scenario`.
    pub(crate) fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_yaml::Error> {
        serde_yaml::with::singleton_map_recursive::deserialize(serde_yaml::Deserializer::from_str(
            text,
        ))
    }

    #[test]
    fn yaml_forms() {
        let faults: Vec<NetworkFault> = yaml(
            "[coalesce, half_close, {fragment: {size: 1, delay: 1ms}}, {bytes_before_frame: x}, \
             pipeline, close_before_ack, lf_segments, {slow: {bytes_per_second: 100}}, \
             {reset: {mid_frame: true}}, {reset: {}}, {oversized: {bytes: 1000}}, \
             {unterminated: {silence: 100ms}}, {idle: 200ms}, {storm: {connections: 5}}, \
             {bytes_between_frames: null}, {blackhole: {mid_frame: true}}, {blackhole: {}}]",
        )
        .unwrap();
        assert_eq!(faults.len(), 17);
        assert!(yaml::<Vec<NetworkFault>>("[half_closed]").is_err());
        assert!(yaml::<Vec<NetworkFault>>("[{slow: {rate: 1}}]").is_err());
    }
}
