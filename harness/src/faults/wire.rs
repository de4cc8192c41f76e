//! From `network:` faults to the bytes and writes of one attempt: each fault turns the frames
//! of a step into the exact bytes and writes the runner performs, and says how the attempt ends
//! (read the ACK, half-close, close, reset, reset once N ACKs were read, silence), so what was
//! done can be reported byte for byte. Every random choice (chunk sizes, the reset offset) comes
//! from the case seed through ChaCha8: same seed, same bytes. Pure: no I/O here.

use super::network::{NetworkFault, OVERSIZED_DEFAULT, UNTERMINATED_SILENCE};
use super::shape::{cut_into_writes, pace, Write};
use crate::transport::mllp::{END_BLOCK, START_BLOCK};
use crate::vocab::Seed;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// How an attempt ends after its writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WireEnd {
    /// Read the ACKs on the open connection.
    #[default]
    Read,
    /// Shut down the write side, then read the ACKs.
    HalfClose,
    /// Close the connection at once (no ACK can be read).
    Close,
    /// Reset the connection (SO_LINGER 0).
    Reset,
    /// Read ACKs; once this many have been read on the connection while a frame written on it
    /// is unanswered, reset it (SO_LINGER 0).
    ResetAfterAcks(u32),
    /// Read whatever comes for this long (nothing should), then close.
    Silence(Duration),
    /// Drop every packet of the connection both ways from now on (the harness's host
    /// vanished), wait out the outage (at most the ACK timeout), then give the connection up
    /// silently.
    Blackhole,
}

/// What the runner does on the wire for one or more frames.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WirePlan {
    pub writes: Vec<Write>,
    pub end: WireEnd,
    /// The harness writes bytes outside any block (`bytes_before_frame`, or
    /// `bytes_between_frames` before a frame that is not the connection's first): MLLP release 1
    /// leaves a receiver free to close the connection on them, so a message left unanswered
    /// by that close is resent on a clean connection.
    pub outside_blocks: bool,
}

impl WirePlan {
    /// Every byte written, in order.
    pub fn bytes(&self) -> Vec<u8> {
        self.writes.iter().flat_map(|w| w.bytes.iter().copied()).collect()
    }
}

fn fault<T>(faults: &[NetworkFault], pick: impl Fn(&NetworkFault) -> Option<T>) -> Option<T> {
    faults.iter().find_map(pick)
}

/// The payload as the faults shape it before framing: LF segment separators.
pub fn shape_payload(payload: &[u8], faults: &[NetworkFault]) -> Vec<u8> {
    if faults.contains(&NetworkFault::LfSegments) {
        payload.iter().map(|&b| if b == b'\r' { b'\n' } else { b }).collect()
    } else {
        payload.to_vec()
    }
}

/// The bytes `bytes_between_frames` puts before a frame that is not the first.
pub fn between_frames(faults: &[NetworkFault]) -> Option<Vec<u8>> {
    fault(faults, |f| match f {
        NetworkFault::BytesBetweenFrames(bytes) => {
            Some(bytes.as_deref().unwrap_or("\r\n").as_bytes().to_vec())
        }
        _ => None,
    })
}

/// Whether the harness writes bytes outside any block just before a frame: with
/// `bytes_before_frame` always, with `bytes_between_frames` unless the frame is the first on
/// its connection.
pub fn writes_outside_before(faults: &[NetworkFault], first_on_connection: bool) -> bool {
    faults.iter().any(|f| matches!(f, NetworkFault::BytesBeforeFrame(_)))
        || (!first_on_connection && between_frames(faults).is_some())
}

/// The frame bytes of one payload, with the per-frame faults applied.
fn frame(payload: &[u8], faults: &[NetworkFault], first: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    for fault in faults {
        if let NetworkFault::BytesBeforeFrame(bytes) = fault {
            out.extend_from_slice(bytes.as_deref().unwrap_or("\r\n").as_bytes());
        }
    }
    if !first {
        out.extend(between_frames(faults).unwrap_or_default());
    }
    out.push(START_BLOCK);
    out.extend_from_slice(payload);
    if let Some(bytes) = fault(faults, |f| match f {
        NetworkFault::Oversized { bytes } => Some(bytes.unwrap_or(OVERSIZED_DEFAULT)),
        _ => None,
    }) {
        // A Z-segment of filler: the message stays valid HL7, only too large.
        let fill = bytes.saturating_sub(payload.len() + 5);
        out.extend_from_slice(b"ZOV|");
        out.resize(out.len() + fill, b'X');
        out.push(b'\r');
    }
    if fault(faults, |f| matches!(f, NetworkFault::Unterminated { .. }).then_some(())).is_some() {
        return out;
    }
    out.push(END_BLOCK);
    if !faults.contains(&NetworkFault::MissingTrailerCr) {
        out.push(b'\r');
    }
    out
}

/// Cuts `stream` into writes as the fragment and slow faults say, through the one slicer.
fn cut(stream: &[u8], faults: &[NetworkFault], rng: &mut ChaCha8Rng) -> Vec<Write> {
    if let Some((size, max, delay)) = fault(faults, |f| match f {
        NetworkFault::Fragment { size, delay, max_size } => {
            Some((*size, *max_size, delay.map(|d| d.0)))
        }
        _ => None,
    }) {
        let pause = delay.unwrap_or(Duration::from_millis(5));
        let (low, high) = (size.max(1), max.unwrap_or(size).max(size.max(1)));
        let size = || if high > low { rng.random_range(low..=high) } else { low };
        return cut_into_writes(stream, size, |_, _| pause);
    }
    if let Some(rate) = fault(faults, |f| match f {
        NetworkFault::Slow { bytes_per_second } => Some(u64::from((*bytes_per_second).max(1))),
        _ => None,
    }) {
        let slice = Duration::from_millis(20);
        let chunk = usize::try_from((rate / 50).max(1)).unwrap_or(usize::MAX);
        // Each write is paced for its own size, so a short last chunk does not stretch the
        // time: N bytes take N / rate.
        return cut_into_writes(stream, || chunk, |n, _| pace(n, rate).max(slice / 20));
    }
    vec![Write { bytes: stream.to_vec(), pause: Duration::ZERO }]
}

/// Frames `payloads` with the faults applied; `seed` drives every random choice. Coalescing is
/// the caller's choice (it passes all payloads at once, and they go in one stream); with
/// `pipeline` each frame is cut into writes of its own. `first` says whether the first payload
/// is the first frame on its connection (`bytes_between_frames` skips it).
pub fn plan(payloads: &[&[u8]], faults: &[NetworkFault], seed: Seed, first: bool) -> WirePlan {
    let mut rng = seed.rng();
    let frames: Vec<Vec<u8>> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| frame(&shape_payload(p, faults), faults, first && i == 0))
        .collect();
    let reset = fault(faults, |f| match f {
        NetworkFault::Reset { offset, mid_frame, after_acks: None } => Some((*offset, *mid_frame)),
        NetworkFault::Blackhole { offset, mid_frame } => Some((*offset, *mid_frame)),
        _ => None,
    });
    let mut writes = Vec::new();
    if faults.contains(&NetworkFault::Pipeline) {
        for frame in &frames {
            writes.extend(cut(frame, faults, &mut rng));
        }
    } else {
        let mut stream = frames.concat();
        // A reset or a blackhole cuts the stream at a byte offset, never at a wall-clock time.
        match reset {
            Some((Some(offset), _)) => stream.truncate(offset.min(stream.len())),
            Some((None, true)) if stream.len() > 2 => {
                let offset = rng.random_range(1..stream.len() - 1);
                stream.truncate(offset);
            }
            _ => {}
        }
        writes = cut(&stream, faults, &mut rng);
    }
    let vanish = fault(faults, |f| matches!(f, NetworkFault::Blackhole { .. }).then_some(()));
    let end = if vanish.is_some() {
        WireEnd::Blackhole
    } else if let Some(acks) = ack_trigger(faults) {
        WireEnd::ResetAfterAcks(acks)
    } else if reset.is_some() {
        WireEnd::Reset
    } else if faults.contains(&NetworkFault::CloseBeforeAck) {
        WireEnd::Close
    } else if let Some(silence) = fault(faults, |f| match f {
        NetworkFault::Unterminated { silence } => {
            Some(silence.map(|s| s.0).unwrap_or(UNTERMINATED_SILENCE))
        }
        _ => None,
    }) {
        WireEnd::Silence(silence)
    } else if faults.contains(&NetworkFault::HalfClose) {
        WireEnd::HalfClose
    } else {
        WireEnd::Read
    };
    let outside_blocks =
        (0..payloads.len()).any(|i| writes_outside_before(faults, first && i == 0));
    WirePlan { writes, end, outside_blocks }
}

/// The ACK count of a `reset: { after_acks: N }` among `faults`.
pub fn ack_trigger(faults: &[NetworkFault]) -> Option<u32> {
    fault(faults, |f| match f {
        NetworkFault::Reset { after_acks, .. } => *after_acks,
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::network::tests::yaml;
    use crate::faults::network::*;

    fn joined(plan: &WirePlan) -> Vec<u8> {
        plan.bytes()
    }

    #[test]
    fn plain_frame_is_one_write() {
        let plan = plan(&[b"MSH|x"], &[], Seed(1), true);
        assert_eq!(plan.writes.len(), 1);
        assert_eq!(plan.writes[0].bytes, b"\x0bMSH|x\x1c\r");
        assert_eq!(plan.end, WireEnd::Read);
    }

    #[test]
    fn faults_shape_the_bytes() {
        let faults = [
            NetworkFault::BytesBeforeFrame(Some("junk".into())),
            NetworkFault::MissingTrailerCr,
            NetworkFault::Fragment { size: 3, delay: None, max_size: None },
            NetworkFault::HalfClose,
        ];
        let plan = plan(&[b"AB", b"CD"], &faults, Seed(1), true);
        assert_eq!(joined(&plan), b"junk\x0bAB\x1cjunk\x0bCD\x1c");
        assert!(plan.writes.iter().all(|w| w.bytes.len() <= 3));
        assert_eq!(plan.end, WireEnd::HalfClose);
        assert!(NetworkFault::Fragment { size: 0, delay: None, max_size: None }
            .validate()
            .is_err());
    }

    #[test]
    fn seeded_fragment_sizes_repeat_with_the_seed() {
        let faults = [NetworkFault::Fragment { size: 1, delay: None, max_size: Some(9) }];
        let sizes = |seed| -> Vec<usize> {
            plan(&[&[b'x'; 200][..]], &faults, Seed(seed), true)
                .writes
                .iter()
                .map(|w| w.bytes.len())
                .collect()
        };
        assert_eq!(sizes(5), sizes(5));
        assert_ne!(sizes(5), sizes(6));
        assert!(sizes(5).iter().all(|n| (1..=9).contains(n)));
        assert_eq!(sizes(5).iter().sum::<usize>(), 203);
    }

    #[test]
    fn slow_writes_hold_the_rate() {
        let plan = plan(
            &[&[b'x'; 97][..]],
            &[NetworkFault::Slow { bytes_per_second: 500 }],
            Seed(1),
            true,
        );
        let bytes: usize = plan.writes.iter().map(|w| w.bytes.len()).sum();
        let time: Duration = plan.writes.iter().map(|w| w.pause).sum();
        assert_eq!(bytes, 100);
        assert_eq!(time, Duration::from_millis(200), "100 bytes at 500 B/s");
        assert!(NetworkFault::Slow { bytes_per_second: 0 }.validate().is_err());
    }

    #[test]
    fn reset_cuts_at_the_offset_or_a_seeded_one() {
        let at = plan(
            &[b"MSH|abcdef"],
            &[NetworkFault::Reset { offset: Some(4), mid_frame: false, after_acks: None }],
            Seed(1),
            true,
        );
        assert_eq!((joined(&at), at.end), (b"\x0bMSH".to_vec(), WireEnd::Reset));
        let after = plan(
            &[b"MSH|abcdef"],
            &[NetworkFault::Reset { offset: None, mid_frame: false, after_acks: None }],
            Seed(1),
            true,
        );
        assert_eq!(joined(&after), b"\x0bMSH|abcdef\x1c\r");
        let mid = |seed| {
            joined(&plan(
                &[b"MSH|abcdefghijklmnop"],
                &[NetworkFault::Reset { offset: None, mid_frame: true, after_acks: None }],
                Seed(seed),
                true,
            ))
        };
        assert_eq!(mid(3), mid(3));
        assert!((1..22).contains(&mid(3).len()), "inside the frame");
        let offsets: std::collections::BTreeSet<usize> = (0..20).map(|s| mid(s).len()).collect();
        assert!(offsets.len() > 3, "the seed moves the offset: {offsets:?}");
    }

    #[test]
    fn blackhole_cuts_like_reset_and_ends_in_silence() {
        let whole = plan(
            &[b"MSH|ab"],
            &[NetworkFault::Blackhole { offset: None, mid_frame: false }],
            Seed(1),
            true,
        );
        assert_eq!((joined(&whole), whole.end), (b"\x0bMSH|ab\x1c\r".to_vec(), WireEnd::Blackhole));
        let at = plan(
            &[b"MSH|ab"],
            &[NetworkFault::Blackhole { offset: Some(3), mid_frame: false }],
            Seed(1),
            true,
        );
        assert_eq!(joined(&at), b"\x0bMS");
        let mid = |seed| {
            let fault = NetworkFault::Blackhole { offset: None, mid_frame: true };
            joined(&plan(&[b"MSH|abcdefghijklmnop"], &[fault], Seed(seed), true))
        };
        assert_eq!(mid(5), mid(5));
        assert!((1..22).contains(&mid(5).len()));
        let both = NetworkFault::Blackhole { offset: Some(1), mid_frame: true };
        assert!(both.validate().is_err());
        assert!(both.needs_lab() && both.cuts_attempt());
        let reset = NetworkFault::Reset { offset: None, mid_frame: false, after_acks: None };
        assert!(!reset.needs_lab());
    }

    #[test]
    fn pipeline_between_lf_oversized_unterminated_close() {
        let faults = [NetworkFault::Pipeline, NetworkFault::BytesBetweenFrames(Some("~".into()))];
        let piped = plan(&[b"A", b"B"], &faults, Seed(1), true);
        assert_eq!(piped.writes.len(), 2);
        assert_eq!(joined(&piped), b"\x0bA\x1c\r~\x0bB\x1c\r");
        let later = plan(&[b"C"], &faults, Seed(1), false);
        assert_eq!(joined(&later), b"~\x0bC\x1c\r", "not the first frame on the connection");
        let lf = plan(&[b"MSH|x\rPID|1\r"], &[NetworkFault::LfSegments], Seed(1), true);
        assert_eq!(joined(&lf), b"\x0bMSH|x\nPID|1\n\x1c\r");
        let big =
            plan(&[b"MSH|x\r"], &[NetworkFault::Oversized { bytes: Some(100) }], Seed(1), true);
        assert_eq!(big.bytes().len(), 100 + 3);
        assert!(big.bytes().ends_with(b"XX\r\x1c\r"));
        let open =
            plan(&[b"MSH|x\r"], &[NetworkFault::Unterminated { silence: None }], Seed(1), true);
        assert_eq!(
            (joined(&open), open.end),
            (b"\x0bMSH|x\r".to_vec(), WireEnd::Silence(UNTERMINATED_SILENCE))
        );
        assert_eq!(
            plan(&[b"A"], &[NetworkFault::CloseBeforeAck], Seed(1), true).end,
            WireEnd::Close
        );
    }

    #[test]
    fn reset_after_acks_keeps_every_frame_and_waits_for_the_acks() {
        let faults = [
            NetworkFault::Pipeline,
            NetworkFault::Reset { offset: None, mid_frame: false, after_acks: Some(2) },
        ];
        let piped = plan(&[b"A", b"B", b"C"], &faults, Seed(1), true);
        assert_eq!(joined(&piped), b"\x0bA\x1c\r\x0bB\x1c\r\x0bC\x1c\r", "no frame is cut");
        assert_eq!(piped.end, WireEnd::ResetAfterAcks(2));
        assert_eq!(ack_trigger(&faults), Some(2));
        assert_eq!(ack_trigger(&[NetworkFault::Pipeline]), None);
        let zero = NetworkFault::Reset { offset: None, mid_frame: false, after_acks: Some(0) };
        assert!(zero.validate().is_err());
        let both = NetworkFault::Reset { offset: Some(3), mid_frame: false, after_acks: Some(1) };
        assert!(both.validate().is_err());
        assert!(faults[1].validate().is_ok());
        let yaml: Vec<NetworkFault> = yaml("[pipeline, {reset: {after_acks: 1}}]").unwrap();
        assert_eq!(ack_trigger(&yaml), Some(1));
    }
}
