//! A connection's records on their way to the run's [`Recorder`], handed over a few at a time.
//!
//! Every connection of a run records into one recorder behind one lock. On few cores with many
//! busy connections, taking a lock another core held last costs more than the recording under
//! it: on 2026-12-04's two cores, 16 connections, `load` spent 1.4–1.7 µs of its own (user)
//! CPU per message where a minimal client spent 0.8–0.95. So a connection keeps what its fast
//! exchanges ended in and hands them over together: when [`BATCH`] are kept, when a message
//! ends [`HOLD_AT_MOST`] or more after the oldest kept one, before the connection waits (a due
//! time, a reconnect pause) and when it ends. A slow exchange (an answer that took
//! [`HOLD_AT_MOST`] or more) is handed over at once with the kept ones, as is a message lost
//! or not sent. So while answers come fast the live progress lags the wire by a few
//! milliseconds; when one then takes long (up to the ACK timeout), the few kept before it are
//! handed over with it, and a timeline point may count them in the slice where it ended
//! rather than their own. The account's totals and the latency figures are the same.
//! Measured with the engine's other two changes (the stop flag, numbers taken 16 at a time):
//! 1.24–1.32 µs of user CPU per message, and 0.81–0.89× the ceiling at 16 connections where it
//! was 0.70–0.80×.

use super::stats::{Ending, Recorder};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The most records a connection keeps before it hands them over.
pub const BATCH: usize = 32;
/// A message that ends this long after the oldest kept record hands every kept one over; an
/// answer that took this long is handed over at once.
pub const HOLD_AT_MOST: Duration = Duration::from_millis(5);

/// How one message ended, as [`Recorder::record`] and [`Recorder::record_lag`] take it.
#[derive(Debug)]
pub struct Ended {
    pub ending: Ending,
    /// See [`Recorder::record`].
    pub latency: Duration,
    /// When it ended, from the end of the warmup (`None` during the warmup).
    pub at: Option<Duration>,
    /// Its schedule lag, when it counts (open loop, measured).
    pub lag: Option<Duration>,
    /// The stray ACKs its wait passed over.
    pub strays: u64,
}

/// One connection's records not yet handed over to the shared recorder.
#[derive(Debug)]
pub struct Tally {
    recorder: Arc<Mutex<Recorder>>,
    kept: Vec<Ended>,
    /// When the oldest kept record was made.
    oldest: Option<Instant>,
}

impl Tally {
    pub fn new(recorder: Arc<Mutex<Recorder>>) -> Tally {
        Tally { recorder, kept: Vec::with_capacity(BATCH), oldest: None }
    }

    /// Records one message that ended at `now`. `control_id` is needed only for a lost
    /// message, which is recorded at once.
    pub fn record(&mut self, now: Instant, control_id: &str, ended: Ended) {
        let answered = matches!(ended.ending, Ending::Answered { .. });
        if !answered || ended.latency >= HOLD_AT_MOST {
            let mut recorder = self.hand_over();
            enter(&mut recorder, control_id, ended);
            return;
        }
        self.kept.push(ended);
        let oldest = *self.oldest.get_or_insert(now);
        if self.kept.len() >= BATCH || now.saturating_duration_since(oldest) >= HOLD_AT_MOST {
            drop(self.hand_over());
        }
    }

    /// Hands every kept record over; the recorder stays locked for the caller.
    fn hand_over(&mut self) -> std::sync::MutexGuard<'_, Recorder> {
        let mut recorder = self.recorder.lock().unwrap_or_else(|p| p.into_inner());
        for entry in self.kept.drain(..) {
            // Only answered messages are kept, so no control id is needed.
            enter(&mut recorder, "", entry);
        }
        self.oldest = None;
        recorder
    }

    /// Hands every kept record over now (before the connection waits).
    pub fn flush(&mut self) {
        if !self.kept.is_empty() {
            drop(self.hand_over());
        }
    }
}

fn enter(recorder: &mut Recorder, control_id: &str, ended: Ended) {
    let Ended { ending, latency, at, lag, strays } = ended;
    recorder.stray_acks += strays;
    if let Some(lag) = lag {
        recorder.record_lag(lag);
    }
    recorder.record(control_id, ending, latency, at);
}

impl Drop for Tally {
    /// A connection's loop that ends, however it ends, hands over what it kept.
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recorder and a tally into it.
    fn fresh() -> (Arc<Mutex<Recorder>>, Tally) {
        let recorder = Arc::new(Mutex::new(Recorder::new(Duration::from_secs(1))));
        let tally = Tally::new(Arc::clone(&recorder));
        (recorder, tally)
    }

    /// An AA that came in 50 µs, during the warmup.
    fn fast() -> Ended {
        let ending = Ending::Answered { code: "AA".into() };
        Ended { ending, latency: Duration::from_micros(50), at: None, lag: None, strays: 0 }
    }

    fn sent(recorder: &Arc<Mutex<Recorder>>) -> u64 {
        recorder.lock().unwrap().sent
    }

    #[test]
    fn fast_answers_are_handed_over_a_batch_at_a_time() {
        let (recorder, mut tally) = fresh();
        let now = Instant::now();
        let measured = || Ended { at: Some(Duration::ZERO), ..fast() };
        for n in 1..BATCH {
            tally.record(now, "", measured());
            assert_eq!(sent(&recorder), 0, "kept after {n}");
        }
        tally.record(now, "", Ended { strays: 1, ..measured() });
        let account = recorder.lock().unwrap();
        assert_eq!(
            (account.sent, account.acknowledged, account.stray_acks),
            (BATCH as u64, BATCH as u64, 1)
        );
    }

    #[test]
    fn an_old_record_is_handed_over_with_the_next_one() {
        let (recorder, mut tally) = fresh();
        let start = Instant::now();
        tally.record(start, "", fast());
        tally.record(start + HOLD_AT_MOST / 2, "", fast());
        assert_eq!(sent(&recorder), 0);
        tally.record(start + HOLD_AT_MOST, "", fast());
        assert_eq!(sent(&recorder), 3);
    }

    #[test]
    fn slow_lost_and_unsent_messages_are_recorded_at_once_after_the_kept_ones() {
        let (recorder, mut tally) = fresh();
        let now = Instant::now();
        tally.record(now, "", fast());
        tally.record(now, "", Ended { latency: HOLD_AT_MOST, ..fast() });
        assert_eq!(sent(&recorder), 2);
        let lost = Ending::Lost { reason: "read-timeout" };
        tally.record(now, "M7", Ended { ending: lost, latency: Duration::from_secs(1), ..fast() });
        let unsent = Ending::NotSent { reason: "connect-failed" };
        tally.record(now, "M8", Ended { ending: unsent, latency: Duration::ZERO, ..fast() });
        drop(tally);
        let finished = Arc::try_unwrap(recorder).unwrap().into_inner().unwrap();
        let account = finished.finish(Duration::from_secs(1));
        assert_eq!((account.sent, account.lost, account.not_sent), (3, 1, 1));
        let listed = account.lost_messages;
        assert_eq!(listed.iter().map(|m| m.control_id.as_str()).collect::<Vec<_>>(), ["M7"]);
    }

    #[test]
    fn what_is_kept_is_handed_over_on_flush_and_when_dropped() {
        let (recorder, mut tally) = fresh();
        let now = Instant::now();
        tally.record(now, "", Ended { lag: Some(Duration::from_micros(70)), ..fast() });
        tally.flush();
        assert_eq!(sent(&recorder), 1);
        tally.record(now, "", fast());
        drop(tally);
        assert_eq!(sent(&recorder), 2);
    }
}
