//! A short wait on the socket, awake, before a server's blocking read sleeps, kept only while
//! the sender's messages come soon enough for it to pay.
//!
//! Why: on loopback most of a closed-loop round trip is not work but wake-ups across cores.
//! When the reader's core has gone idle, the peer's next message must wake it: in a virtual
//! machine that is a halted vCPU woken through the host, tens of microseconds. A reader that
//! has just answered and keeps trying its socket for a few tens of microseconds finds the next
//! message with its core still awake. Measured on the 2-core micro-VM (raw client, interleaved
//! 2 s rounds, 2026-12-05, medians): one connection 15.7k round trips/s without it, 39.8k with
//! a 50 µs wait (the `mllp`-crate receiver 16.4k).
//!
//! Between tries the reader yields its core (`sched_yield`) rather than spinning on it, so a
//! thread with work on the same core takes it at once. Spinning without yielding measured 35k/s
//! at sixteen connections, less than half of not waiting at all.
//!
//! A wait that finds nothing costs its core for nothing, and takes it from whoever else on the
//! machine has work: an open-loop sender at 10,000 messages/s on one connection (a message
//! every 100 µs, so every 50 µs wait failed) made `serve` spend 5.7 s of CPU per 100,000
//! messages instead of 1.5 s, and the sender's p99 latency rose from 0.11 ms to 0.81 ms. So the
//! wait adapts, as the kernel's `haltpoll` idle governor does for a halting CPU: after a read
//! that slept, if the whole wait for the message was within the budget (`serve --read-spin`) a
//! wait would have caught it and the next wait is doubled (from a quarter of the budget when
//! there was none); if it was longer, the next wait is halved, down to none. Senders whose
//! messages come within the budget get the wait; the others soon get none.
//!
//! Every wait is bounded: by the current length, never past the read's deadline, and once per
//! answer written ([`ReadSpin::arm`]), so a peer that trickles bytes or sends nothing cannot
//! keep a core busy.

use std::time::{Duration, Instant};

/// A wait shorter than this is not worth starting: it becomes none.
const SHORTEST: Duration = Duration::from_micros(2);

/// One connection's wait before its reads sleep.
#[derive(Debug)]
pub struct ReadSpin {
    /// The longest wait (`serve --read-spin`; zero: never wait).
    budget: Duration,
    /// The next wait's length, learnt from the last ones.
    current: Duration,
    /// An answer was written since the last wait.
    armed: bool,
    /// When the wait for the next message began, while a read that sleeps finishes it.
    waiting_since: Option<Instant>,
}

impl ReadSpin {
    /// Waits up to `budget` after each answer (zero: never), starting at the whole budget.
    pub fn new(budget: Duration) -> ReadSpin {
        ReadSpin { budget, current: budget, armed: false, waiting_since: None }
    }

    /// An answer was written: the next read may wait awake once.
    pub fn arm(&mut self) {
        self.armed = true;
    }

    /// Calls `attempt` (a read that does not wait), yielding the core between calls, until it
    /// gives something or the current wait or `until` passes; `None` when it gave nothing, and
    /// the read that sleeps next reports its end with [`woke`](ReadSpin::woke). Waits only
    /// when armed, and disarms.
    pub fn spin<T>(&mut self, until: Instant, mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
        if !std::mem::take(&mut self.armed) || self.budget.is_zero() {
            return None;
        }
        let started = Instant::now();
        self.waiting_since = Some(started);
        if self.current.is_zero() {
            return None;
        }
        let end = started.checked_add(self.current).map_or(until, |end| end.min(until));
        loop {
            if let Some(got) = attempt() {
                self.waiting_since = None;
                return Some(got);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::yield_now();
        }
    }

    /// A read that slept after a wait has bytes: learn from how long the message took.
    pub fn woke(&mut self) {
        if let Some(since) = self.waiting_since.take() {
            self.learn(since.elapsed());
        }
    }

    /// After a read that slept: `waited` is the whole wait for the message, awake and asleep.
    fn learn(&mut self, waited: Duration) {
        self.current = if waited <= self.budget {
            self.current.saturating_mul(2).max(self.budget / 4).min(self.budget)
        } else {
            self.current / 2
        };
        if self.current < SHORTEST {
            self.current = Duration::ZERO;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    const BUDGET: Duration = Duration::from_micros(64);

    #[test]
    fn a_reader_waits_once_per_answer_and_stops_at_the_first_bytes() {
        let mut reader = ReadSpin::new(Duration::from_secs(1));
        let mut tries = 0;
        assert_eq!(reader.spin(far(), || -> Option<u8> { unreachable!() }), None, "not armed");
        reader.arm();
        let got = reader.spin(far(), || {
            tries += 1;
            (tries == 3).then_some("bytes")
        });
        assert_eq!((got, tries), (Some("bytes"), 3));
        assert_eq!(reader.waiting_since, None, "nothing left for a sleeping read to report");
        assert_eq!(reader.spin(far(), || Some(())), None, "disarmed by the wait");
    }

    #[test]
    fn a_wait_ends_at_its_length_or_the_reads_deadline_whichever_comes_first() {
        let mut reader = ReadSpin::new(Duration::from_millis(2));
        reader.arm();
        let started = Instant::now();
        assert_eq!(reader.spin(far(), || None::<()>), None);
        assert!(started.elapsed() >= Duration::from_millis(2));
        assert!(reader.waiting_since.is_some(), "the sleeping read finishes the wait");
        let mut long = ReadSpin::new(Duration::from_secs(60));
        long.arm();
        let started = Instant::now();
        let deadline = started + Duration::from_millis(2);
        assert_eq!(long.spin(deadline, || None::<()>), None);
        assert!(Instant::now() >= deadline);
        assert!(started.elapsed() < Duration::from_secs(30), "the deadline ended it");
    }

    #[test]
    fn a_wait_without_a_budget_does_not_try() {
        let mut reader = ReadSpin::new(Duration::ZERO);
        reader.arm();
        assert_eq!(reader.spin(far(), || -> Option<()> { unreachable!() }), None);
        reader.woke();
        assert_eq!(reader.current, Duration::ZERO);
    }

    #[test]
    fn messages_that_come_later_than_the_budget_shrink_the_wait_to_none() {
        let mut reader = ReadSpin::new(BUDGET);
        let mut lengths = Vec::new();
        for _ in 0..6 {
            reader.learn(Duration::from_micros(100));
            lengths.push(reader.current.as_micros());
        }
        assert_eq!(lengths, [32, 16, 8, 4, 2, 0]);
        reader.arm();
        assert_eq!(reader.spin(far(), || -> Option<()> { unreachable!() }), None, "no wait");
        assert!(reader.waiting_since.is_some(), "but the sleep is still timed");
    }

    #[test]
    fn messages_that_come_within_the_budget_grow_the_wait_back_to_it() {
        let mut reader = ReadSpin::new(BUDGET);
        reader.current = Duration::ZERO;
        let mut lengths = Vec::new();
        for _ in 0..4 {
            reader.learn(Duration::from_micros(30));
            lengths.push(reader.current.as_micros());
        }
        assert_eq!(lengths, [16, 32, 64, 64], "from a quarter of the budget, doubled, capped");
        reader.learn(BUDGET);
        assert_eq!(reader.current, BUDGET, "a wait of the whole budget would have caught it");
    }

    #[test]
    fn only_a_read_that_slept_after_a_wait_teaches() {
        let mut reader = ReadSpin::new(BUDGET);
        reader.woke();
        assert_eq!(reader.current, BUDGET, "no wait began: nothing learnt");
        reader.arm();
        assert_eq!(reader.spin(Instant::now(), || None::<()>), None, "the deadline has passed");
        std::thread::sleep(Duration::from_millis(5));
        reader.woke();
        assert_eq!(reader.current, BUDGET / 2, "5 ms is past the budget");
        reader.woke();
        assert_eq!(reader.current, BUDGET / 2, "reported once");
    }
}
