//! The one byte shaper: cutting a stream into writes with pauses ([`cut_into_writes`]), pacing
//! to a bandwidth ([`pace`]), and writing bytes the way a direction's shaping says (latency
//! first, then writes of at most the slice size with the slice pause between them, throttled to
//! the bandwidth). The client's `network:` faults and the proxy's rules both cut through here.
//! Waits go through `tokio::time`, so tests run it with paused time and see exact virtual
//! durations.

use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// How bytes are written in a direction (each kind: the first matching rule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shaping {
    pub latency: Option<Duration>,
    /// Bytes per second.
    pub bandwidth: Option<u64>,
    /// Write size and pause between writes.
    pub slice: Option<(usize, Duration)>,
}

/// Without a slice, bandwidth is enforced in pieces of about this share of a second.
const PIECES_PER_SECOND: u64 = 20;

/// One write: bytes, then a pause before the next write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub bytes: Vec<u8>,
    pub pause: Duration,
}

/// Cuts `stream` into writes: each piece `size()` bytes long (the last may be shorter), followed
/// by `pause(len, last)`. The one slicer behind every shaped write, the client's `fragment` and
/// `slow` faults and the proxy's `slice` and `bandwidth` rules alike; `size` is called once per
/// piece, in order, so a seeded draw gives the same pieces for the same seed.
pub fn cut_into_writes(
    stream: &[u8],
    mut size: impl FnMut() -> usize,
    mut pause: impl FnMut(usize, bool) -> Duration,
) -> Vec<Write> {
    let mut writes = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(size().max(1).min(rest.len()));
        writes.push(Write { bytes: chunk.to_vec(), pause: pause(chunk.len(), tail.is_empty()) });
        rest = tail;
    }
    writes
}

/// How long `bytes` take at `bytes_per_second`: the pause after a write that holds the rate.
pub fn pace(bytes: usize, bytes_per_second: u64) -> Duration {
    let nanos = (bytes as u128 * 1_000_000_000) / u128::from(bytes_per_second.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

impl Shaping {
    /// The writes of `bytes` after the latency: pieces of the slice size (or, with only a
    /// bandwidth, of a twentieth of a second's worth), each followed by the time its bytes take
    /// at the bandwidth and, but for the last, by the slice pause.
    pub fn writes(&self, bytes: &[u8]) -> Vec<Write> {
        let piece = match (self.slice, self.bandwidth) {
            (Some((size, _)), _) => size.max(1),
            (None, Some(bps)) => {
                usize::try_from((bps / PIECES_PER_SECOND).max(1)).unwrap_or(usize::MAX)
            }
            (None, None) => bytes.len(),
        };
        cut_into_writes(
            bytes,
            || piece,
            |len, last| {
                let rate = self.bandwidth.map(|bps| pace(len, bps)).unwrap_or_default();
                let between = match self.slice {
                    Some((_, pause)) if !last => pause,
                    _ => Duration::ZERO,
                };
                rate + between
            },
        )
    }
}

/// Where shaped writes go: a socket for the proxy, the runner's connection for a case.
// Every sink is the crate's own and used with concrete types, so whether a future is `Send`
// is seen through the impl; no bound is needed on the trait.
#[allow(async_fn_in_trait)]
pub trait WriteSink {
    type Error;
    /// Writes all of `bytes` (one write of the schedule).
    async fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), Self::Error>;
}

/// When the next write of a schedule is due, kept against the schedule rather than measured
/// from the end of each sleep: a sleep ends a little late (the timer's tick, a busy machine),
/// and slept pause by pause those overshoots add up, over a frame cut into a hundred pieces, to
/// more than the pauses themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pacer<I> {
    /// When the next write would be due were every sleep on time.
    scheduled: I,
}

impl<I> Pacer<I>
where
    I: Copy + Ord + std::ops::Add<Duration, Output = I> + std::ops::Sub<I, Output = Duration>,
{
    /// The first write is due at `start`.
    pub(crate) fn new(start: I) -> Self {
        Pacer { scheduled: start }
    }

    /// A write that began at `began` and ended at `ended` is followed by `pause`: when the next
    /// write is due. The time the write took counts as the peer's (no pause is cut to make
    /// up for a peer slow to take the bytes); only a late start, the harness's own delay, is
    /// made up from the next pauses, each kept at least half its length, so a fragmented frame
    /// stays in pieces.
    pub(crate) fn after_write(&mut self, began: I, ended: I, pause: Duration) -> I {
        let writing = if ended > began { ended - began } else { Duration::ZERO };
        self.scheduled = self.scheduled + writing + pause;
        self.scheduled.max(ended + pause / 2)
    }
}

/// Writes `writes` in order, each followed by its pause (waited through `tokio::time`, against
/// the schedule: [`Pacer`]); returns how many writes it made. The one loop that carries out a
/// schedule of writes.
pub async fn play<S: WriteSink + ?Sized>(
    sink: &mut S,
    writes: &[Write],
) -> Result<usize, S::Error> {
    use tokio::time::Instant;
    let mut pacer = Pacer::new(Instant::now());
    for write in writes {
        let began = Instant::now();
        sink.write_bytes(&write.bytes).await?;
        let due = pacer.after_write(began, Instant::now(), write.pause);
        if !write.pause.is_zero() {
            tokio::time::sleep_until(due).await;
        }
    }
    Ok(writes.len())
}

/// An [`AsyncWrite`] whose every write (and flush) must finish within `timeout`.
struct Timed<'w, W: ?Sized> {
    writer: &'w mut W,
    timeout: Duration,
}

impl<W: AsyncWrite + Unpin + ?Sized> WriteSink for Timed<'_, W> {
    type Error = std::io::Error;

    async fn write_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let written = async {
            self.writer.write_all(bytes).await?;
            self.writer.flush().await
        };
        tokio::time::timeout(self.timeout, written).await.map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the peer did not take the bytes in time",
            )
        })?
    }
}

/// Writes `bytes` shaped, each write within `timeout`; returns how many writes it made.
pub async fn write_shaped<W: AsyncWrite + Unpin + ?Sized>(
    writer: &mut W,
    bytes: &[u8],
    shaping: Shaping,
    timeout: Duration,
) -> std::io::Result<usize> {
    if let Some(latency) = shaping.latency {
        tokio::time::sleep(latency).await;
    }
    play(&mut Timed { writer, timeout }, &shaping.writes(bytes)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::time::Instant;

    const TIMEOUT: Duration = Duration::from_secs(60);

    /// The pacer over plain milliseconds: (began, ended, pause) of each write, and when the
    /// next write is due after each.
    fn paced(writes: &[(u64, u64, u64)]) -> Vec<u64> {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        struct At(Duration);
        impl std::ops::Add<Duration> for At {
            type Output = At;
            fn add(self, d: Duration) -> At {
                At(self.0 + d)
            }
        }
        impl std::ops::Sub<At> for At {
            type Output = Duration;
            fn sub(self, other: At) -> Duration {
                self.0 - other.0
            }
        }
        let ms = Duration::from_millis;
        let mut pacer = Pacer::new(At(Duration::ZERO));
        writes
            .iter()
            .map(|&(began, ended, pause)| {
                let At(due) = pacer.after_write(At(ms(began)), At(ms(ended)), ms(pause));
                due.as_millis() as u64
            })
            .collect()
    }

    #[test]
    fn pacing_makes_up_late_starts_from_the_next_pauses() {
        // On time: every write due 5 ms after the previous one.
        assert_eq!(paced(&[(0, 0, 5), (5, 5, 5), (10, 10, 5)]), [5, 10, 15]);
        // Each sleep ends 2 ms late: the schedule holds (5, 10, 15, 20), not 7, 14, 21, 28.
        assert_eq!(paced(&[(0, 0, 5), (7, 7, 5), (12, 12, 5), (17, 17, 5)]), [5, 10, 15, 20]);
        // A start later than half a pause is made up over several pauses, each at least half
        // its length: 10 ms late, then due 2 ms after each write until back on schedule (24).
        let late = [(0, 0, 4), (14, 14, 4), (16, 16, 4), (18, 18, 4), (20, 20, 4), (22, 22, 4)];
        assert_eq!(paced(&late), [4, 16, 18, 20, 22, 24]);
    }

    #[test]
    fn pacing_never_makes_up_time_the_peer_took_to_take_the_bytes() {
        // The second write took 30 ms (the peer read slowly): the next is due a whole pause
        // after it ended, and the rate is never exceeded.
        assert_eq!(paced(&[(0, 0, 10), (10, 40, 10), (50, 50, 10)]), [10, 50, 60]);
    }

    /// Writes `bytes` with `shaping` into a pipe; returns (writes, virtual time, bytes read).
    async fn check(bytes: &[u8], shaping: Shaping) -> (usize, Duration, Vec<u8>) {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let start = Instant::now();
        let writes = write_shaped(&mut a, bytes, shaping, TIMEOUT).await.unwrap();
        let elapsed = start.elapsed();
        drop(a);
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        (writes, elapsed, got)
    }

    #[tokio::test(start_paused = true)]
    async fn unshaped_is_one_write_at_once() {
        assert_eq!(
            check(b"abcdef", Shaping::default()).await,
            (1, Duration::ZERO, b"abcdef".to_vec())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn latency_slice_and_bandwidth_take_exact_virtual_time() {
        let ms = Duration::from_millis;
        let latency = Shaping { latency: Some(ms(50)), ..Shaping::default() };
        assert_eq!(check(b"abc", latency).await, (1, ms(50), b"abc".to_vec()));
        let slice = Shaping { slice: Some((2, ms(3))), ..Shaping::default() };
        assert_eq!(check(b"abcde", slice).await, (3, ms(6), b"abcde".to_vec()));
        // 100 bytes at 1000 bytes/s: 50-byte pieces, 100 ms in all.
        let bandwidth = Shaping { bandwidth: Some(1000), ..Shaping::default() };
        assert_eq!(check(&[b'x'; 100], bandwidth).await, (2, ms(100), vec![b'x'; 100]));
        let all = Shaping { latency: Some(ms(10)), bandwidth: Some(10), slice: Some((1, ms(1))) };
        // 10 ms, then 3 one-byte writes each followed by 100 ms, with 2 pauses of 1 ms.
        assert_eq!(check(b"abc", all).await, (3, ms(312), b"abc".to_vec()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_never_reads_times_out() {
        let (mut a, _b) = tokio::io::duplex(4);
        let err =
            write_shaped(&mut a, b"more than four", Shaping::default(), Duration::from_secs(1))
                .await
                .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }
}
