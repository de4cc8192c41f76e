//! Writing a [`WirePlan`]: its writes in order with the pauses between them (fragment and slow
//! faults), then the half-close it may end with. Generic over where the bytes go, so the fault
//! engine's schedule is tested exactly over an in-memory stream in paused time; cases write to
//! their framed connection.

use crate::faults::{play, WireEnd, WirePlan, WriteSink};
use crate::transport::connection::TransportError;
use crate::transport::framed::{FrameCodec, FramedConnection};

/// Where a wire plan is written.
pub(super) trait WireSink {
    async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), TransportError>;
    async fn shutdown_write(&mut self) -> Result<(), TransportError>;
}

/// Faulted bytes go out through the framed connection's own write path (its write timeout and
/// named errors), whatever its codec.
impl<C: FrameCodec> WireSink for FramedConnection<C> {
    async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        FramedConnection::write_raw(self, bytes).await
    }

    async fn shutdown_write(&mut self) -> Result<(), TransportError> {
        FramedConnection::shutdown_write(self).await
    }
}

/// A [`WireSink`] as the shaper's sink: its raw writes carry a schedule out.
struct Raw<'s, S>(&'s mut S);

impl<S: WireSink> WriteSink for Raw<'_, S> {
    type Error = TransportError;

    async fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.0.write_raw(bytes).await
    }
}

/// Writes `wire`'s writes through the faults' one shaper loop ([`play`]), each followed by its
/// pause (waited through `tokio::time`), then shuts down the write side when the plan ends with
/// a half-close.
pub(super) async fn write_plan(
    sink: &mut impl WireSink,
    wire: &WirePlan,
) -> Result<(), TransportError> {
    play(&mut Raw(sink), &wire.writes).await?;
    if wire.end == WireEnd::HalfClose {
        sink.shutdown_write().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Paused time: every sleep ends exactly at its deadline and the in-memory reader runs
    //! before the clock moves on, so each write arrives as one read at an exact virtual time.

    use super::*;
    use crate::faults::{plan, NetworkFault};
    use crate::scenario::Span;
    use crate::vocab::Seed;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::time::Instant;

    impl WireSink for DuplexStream {
        async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
            self.write_all(bytes).await.map_err(io)
        }

        async fn shutdown_write(&mut self) -> Result<(), TransportError> {
            self.shutdown().await.map_err(io)
        }
    }

    fn io(source: std::io::Error) -> TransportError {
        TransportError::Io { peer: ([127, 0, 0, 1], 0).into(), source }
    }

    /// What the peer saw: each read's offset from the start (ms) and size, when the end of
    /// stream came (ms, if it came while the writer still held the stream open), and how long
    /// `write_plan` took (ms).
    #[derive(Debug, PartialEq)]
    struct Seen {
        reads: Vec<(u128, usize)>,
        eof: Option<u128>,
        took: u128,
        bytes: Vec<u8>,
    }

    async fn seen(wire: &WirePlan) -> Seen {
        let (mut writer, mut reader) = tokio::io::duplex(1 << 20);
        let start = Instant::now();
        let peer = tokio::spawn(async move {
            let (mut reads, mut bytes, mut chunk) = (Vec::new(), Vec::new(), vec![0u8; 1 << 16]);
            loop {
                let n = reader.read(&mut chunk).await.unwrap();
                if n == 0 {
                    return (reads, bytes, start.elapsed().as_millis());
                }
                reads.push((start.elapsed().as_millis(), n));
                bytes.extend_from_slice(&chunk[..n]);
            }
        });
        write_plan(&mut writer, wire).await.unwrap();
        let took = start.elapsed().as_millis();
        // Held open a while longer: an end of stream before this is the plan's half-close.
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(writer);
        let (reads, bytes, ended) = peer.await.unwrap();
        let eof = (ended < took + 1000).then_some(ended);
        Seen { reads, eof, took, bytes }
    }

    /// `n` reads of `size` bytes `every` ms apart from 0, and a last one of `last` bytes.
    fn reads(n: usize, size: usize, last: usize, every: u128) -> Vec<(u128, usize)> {
        let mut out: Vec<(u128, usize)> = (0..n).map(|i| (i as u128 * every, size)).collect();
        if last > 0 {
            out.push((n as u128 * every, last));
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn slow_writes_rate_bytes_per_20ms_slice_and_take_bytes_over_rate() {
        // 500 B/s: 10 bytes per 20 ms slice; 97 bytes + 3 framing bytes = 10 slices, 200 ms.
        let wire = plan(
            &[&[b'x'; 97][..]],
            &[NetworkFault::Slow { bytes_per_second: 500 }],
            Seed(1),
            true,
        );
        let got = seen(&wire).await;
        assert_eq!(got.reads, reads(10, 10, 0, 20));
        assert_eq!((got.took, got.eof), (200, None));
        assert_eq!(got.bytes, wire.bytes());
        // 1000 B/s: 20-byte slices; 45 bytes in ceil(45/20) = 3 writes, the last of 5 bytes
        // paced for its own size: 20 + 20 + 5 ms = 45 ms = 45 bytes at 1000 B/s.
        let wire = plan(
            &[&[b'x'; 42][..]],
            &[NetworkFault::Slow { bytes_per_second: 1000 }],
            Seed(1),
            true,
        );
        let got = seen(&wire).await;
        assert_eq!(got.reads, reads(2, 20, 5, 20));
        assert_eq!(got.took, 45);
        // Below 50 B/s a slice holds one byte: 25 B/s, 4 bytes, one each 40 ms.
        let wire = plan(&[b"x"], &[NetworkFault::Slow { bytes_per_second: 25 }], Seed(1), true);
        let got = seen(&wire).await;
        assert_eq!(got.reads, reads(4, 1, 0, 40));
        assert_eq!(got.took, 160);
    }

    #[tokio::test(start_paused = true)]
    async fn fragment_writes_chunks_of_size_with_the_delay_after_each() {
        let fragment = |size, delay: Option<u64>, max_size| NetworkFault::Fragment {
            size,
            delay: delay.map(|ms| Span(Duration::from_millis(ms))),
            max_size,
        };
        // 8 bytes + 3 framing bytes in chunks of 3, 7 ms apart: 3, 3, 3, 2.
        let wire = plan(&[b"MSH|abcd"], &[fragment(3, Some(7), None)], Seed(1), true);
        let got = seen(&wire).await;
        assert_eq!(got.reads, reads(3, 3, 2, 7));
        assert_eq!((got.took, got.eof), (28, None));
        assert_eq!(got.bytes, b"\x0bMSH|abcd\x1c\r");
        // Down to one byte, with the default delay of 5 ms.
        let wire = plan(&[b"AB"], &[fragment(1, None, None)], Seed(1), true);
        assert_eq!(seen(&wire).await.reads, reads(5, 1, 0, 5));
        // Sizes drawn by the seed from size..=max_size: the same on every run, and on the wire
        // exactly as planned.
        let wire = plan(&[&[b'x'; 37][..]], &[fragment(2, Some(3), Some(9))], Seed(5), true);
        let sizes: Vec<usize> = wire.writes.iter().map(|w| w.bytes.len()).collect();
        assert_eq!(sizes, [3, 3, 4, 7, 5, 8, 4, 6]);
        let got = seen(&wire).await;
        let expected: Vec<(u128, usize)> =
            sizes.iter().enumerate().map(|(i, &n)| (i as u128 * 3, n)).collect();
        assert_eq!(got.reads, expected);
        assert_eq!(got.took, 24);
    }

    #[tokio::test(start_paused = true)]
    async fn half_close_comes_right_after_the_last_pause() {
        let faults = [
            NetworkFault::Fragment {
                size: 4,
                delay: Some(Span(Duration::from_millis(10))),
                max_size: None,
            },
            NetworkFault::HalfClose,
        ];
        let wire = plan(&[b"MSH|x"], &faults, Seed(1), true);
        let got = seen(&wire).await;
        assert_eq!(got.reads, reads(2, 4, 0, 10));
        assert_eq!((got.took, got.eof), (20, Some(20)));
        // Without the fault the stream stays open until the writer lets it go.
        let open = seen(&plan(&[b"MSH|x"], &[], Seed(1), true)).await;
        assert_eq!((open.reads, open.took, open.eof), (vec![(0, 8)], 0, None));
    }
}
