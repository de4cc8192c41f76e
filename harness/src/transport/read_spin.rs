//! A short wait on the socket, awake, before a server's blocking read sleeps.
//!
//! Why: on loopback most of a closed-loop round trip is not work but wake-ups across cores.
//! When the reader's core has gone idle, the peer's next message must wake it: in a virtual
//! machine that is a halted vCPU woken through the host, tens of microseconds. A reader that
//! has just answered and keeps trying its socket for a few tens of microseconds finds the next
//! message with its core still awake. Measured on the 2-core micro-VM (raw client, interleaved
//! 2 s rounds, 2026-12-05, medians): one connection 15.7k round trips/s without it, 39.8k with
//! a 50 µs spin (the `mllp`-crate receiver 16.4k); sixteen connections 85.4k without, 97.8k
//! with (the crate 92.0k).
//!
//! Between tries the reader yields its core (`sched_yield`) rather than spinning on it: a
//! thread that has work (another connection's, the peer's own when it shares the machine)
//! takes the core at once, so the wait costs only a core nobody wanted. Spinning without
//! yielding measured 35k/s at sixteen connections, less than half of not waiting at all.
//!
//! The wait is bounded in time (its budget, `serve --read-spin`, and never past the read's
//! deadline) and by work: once per answer written ([`ReadSpin::arm`]). A peer that trickles
//! bytes or sends nothing cannot keep a core busy, since every wait follows a message answered.

use std::time::{Duration, Instant};

/// One connection's wait before its reads sleep.
#[derive(Debug)]
pub struct ReadSpin {
    budget: Duration,
    /// An answer was written since the last wait.
    armed: bool,
}

impl ReadSpin {
    /// Waits up to `budget` after each answer (zero: never).
    pub fn new(budget: Duration) -> ReadSpin {
        ReadSpin { budget, armed: false }
    }

    /// An answer was written: the next read may wait awake once.
    pub fn arm(&mut self) {
        self.armed = true;
    }

    /// Calls `attempt` (a read that does not wait), yielding the core between calls, until it
    /// gives something or the budget or `until` passes; `None` when it gave nothing. Waits only
    /// when armed, and disarms.
    pub fn spin<T>(&mut self, until: Instant, mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
        if !std::mem::take(&mut self.armed) || self.budget.is_zero() {
            return None;
        }
        let end = Instant::now().checked_add(self.budget).map_or(until, |end| end.min(until));
        loop {
            if let Some(got) = attempt() {
                return Some(got);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

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
        assert_eq!(reader.spin(far(), || Some(())), None, "disarmed by the wait");
    }

    #[test]
    fn a_wait_ends_at_its_budget_or_the_reads_deadline_whichever_comes_first() {
        let mut reader = ReadSpin::new(Duration::from_millis(2));
        reader.arm();
        let started = Instant::now();
        assert_eq!(reader.spin(far(), || None::<()>), None);
        assert!(started.elapsed() >= Duration::from_millis(2));
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
    }
}
