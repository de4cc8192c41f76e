//! The account of a load run: every message sent ends as acknowledged, rejected with a code, or
//! lost (with the reason), and the latencies go into HDR histograms, never a list, so memory
//! stays flat however long the run is.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Largest latency the histograms hold exactly (one hour, in microseconds); longer ones are
/// recorded as this value.
const MAX_MICROS: u64 = 3_600_000_000;

/// Lost messages listed one by one; past this only the count grows (memory stays bounded even
/// against a target that answers nothing for hours).
pub const MAX_LOST_LISTED: usize = 100_000;

/// How one message ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// An ACK whose MSA-2 is the message's MSH-10 arrived; MSA-1 (or `HTTP 401` for an HTTP
    /// reply that carried no ACK).
    Answered { code: String },
    /// Written (or partly written) but never answered: `read-timeout`, `peer-closed`, …
    Lost { reason: &'static str },
    /// Never written: no connection could be made (`connect-failed`, `connect-timeout`, …).
    NotSent { reason: &'static str },
}

/// Whether an MSA-1 code is an accept (AA, CA); anything else is a rejection with that code.
pub fn is_accept(code: &str) -> bool {
    code == "AA" || code == "CA"
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static histogram bounds are valid")
}

fn micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros()).unwrap_or(MAX_MICROS).clamp(1, MAX_MICROS)
}

/// One message that was sent and not answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostMessage {
    pub control_id: crate::vocab::ControlId,
    pub reason: &'static str,
}

/// Throughput and latency in one slice of the run (by completion time).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interval {
    /// Seconds from the end of the warmup to the start of this slice.
    pub start_s: f64,
    /// Messages finished in the slice (answered or lost).
    pub completed: u64,
    pub answered: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        let zero = 0.0;
        return Percentiles {
            count: 0,
            mean_ms: zero,
            p50_ms: zero,
            p90_ms: zero,
            p99_ms: zero,
            p999_ms: zero,
            max_ms: zero,
        };
    }
    Percentiles {
        count: h.len(),
        mean_ms: h.mean() / 1000.0,
        p50_ms: ms(h.value_at_quantile(0.50)),
        p90_ms: ms(h.value_at_quantile(0.90)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
    }
}

/// Collects what happened to every message while the run goes on.
#[derive(Debug)]
pub struct Recorder {
    latency: Histogram<u64>,
    /// Open loop: how late each measured message went out after its due time.
    lag: Histogram<u64>,
    slice: Histogram<u64>,
    slice_len: Duration,
    slice_index: u64,
    slice_completed: u64,
    slice_answered: u64,
    timeline: Vec<Interval>,
    pub codes: BTreeMap<String, u64>,
    pub sent: u64,
    pub warmup: u64,
    pub acknowledged: u64,
    pub rejected: u64,
    pub lost: u64,
    pub not_sent: u64,
    pub timeouts: u64,
    pub connection_errors: u64,
    pub stray_acks: u64,
    lost_listed: Vec<LostMessage>,
}

impl Recorder {
    /// A recorder whose timeline has one point per `slice_len` of the measured run.
    pub fn new(slice_len: Duration) -> Recorder {
        Recorder {
            latency: histogram(),
            lag: histogram(),
            slice: histogram(),
            slice_len: slice_len.max(Duration::from_millis(10)),
            slice_index: 0,
            slice_completed: 0,
            slice_answered: 0,
            timeline: Vec::new(),
            codes: BTreeMap::new(),
            sent: 0,
            warmup: 0,
            acknowledged: 0,
            rejected: 0,
            lost: 0,
            not_sent: 0,
            timeouts: 0,
            connection_errors: 0,
            stray_acks: 0,
            lost_listed: Vec::new(),
        }
    }

    /// Records one message. `latency` counts from the moment it was due (open loop) or sent
    /// (closed loop); `at` is when it finished, from the end of the warmup (`None` during the
    /// warmup: counted in the account, not in latency or throughput).
    pub fn record(
        &mut self,
        control_id: &str,
        ending: Ending,
        latency: Duration,
        at: Option<Duration>,
    ) {
        let answered = match &ending {
            Ending::NotSent { .. } => {
                self.not_sent += 1;
                self.connection_errors += 1;
                return;
            }
            Ending::Answered { code } => {
                // Looked up before inserting: the code's String is copied once per distinct
                // code, not once per message.
                match self.codes.get_mut(code.as_str()) {
                    Some(count) => *count += 1,
                    None => {
                        self.codes.insert(code.clone(), 1);
                    }
                }
                if is_accept(code) {
                    self.acknowledged += 1;
                } else {
                    self.rejected += 1;
                }
                true
            }
            Ending::Lost { reason } => {
                self.lost += 1;
                if *reason == "read-timeout" {
                    self.timeouts += 1;
                } else {
                    self.connection_errors += 1;
                }
                if self.lost_listed.len() < MAX_LOST_LISTED {
                    self.lost_listed.push(LostMessage { control_id: control_id.into(), reason });
                }
                false
            }
        };
        self.sent += 1;
        let Some(at) = at else {
            self.warmup += 1;
            return;
        };
        let index = (at.as_nanos() / self.slice_len.as_nanos().max(1)) as u64;
        while self.slice_index < index {
            self.close_slice();
        }
        self.slice_completed += 1;
        if answered {
            self.slice_answered += 1;
            let value = micros(latency);
            self.latency.saturating_record(value);
            self.slice.saturating_record(value);
        }
    }

    fn close_slice(&mut self) {
        let p = percentiles(&self.slice);
        let empty = self.slice.is_empty();
        self.timeline.push(Interval {
            start_s: self.slice_len.as_secs_f64() * self.slice_index as f64,
            completed: self.slice_completed,
            answered: self.slice_answered,
            p50_ms: if empty { 0.0 } else { p.p50_ms },
            p99_ms: if empty { 0.0 } else { p.p99_ms },
            max_ms: if empty { 0.0 } else { p.max_ms },
        });
        self.slice.reset();
        self.slice_completed = 0;
        self.slice_answered = 0;
        self.slice_index += 1;
    }

    /// Records how late an open-loop message was written after it fell due.
    pub fn record_lag(&mut self, lag: Duration) {
        let lag = u64::try_from(lag.as_micros()).unwrap_or(MAX_MICROS).min(MAX_MICROS);
        self.lag.saturating_record(lag);
    }

    /// p99 of the answered messages so far, for the live progress line.
    pub fn p99(&self) -> Duration {
        Duration::from_micros(self.latency.value_at_quantile(0.99))
    }

    /// Messages per second over the last finished slice (or the current one when none is).
    pub fn current_rate(&self) -> f64 {
        let completed = self.timeline.last().map(|i| i.completed).unwrap_or(self.slice_completed);
        completed as f64 / self.slice_len.as_secs_f64()
    }

    /// Ends the run: the last slice is closed and the account summed up.
    pub fn finish(mut self, measured: Duration) -> Account {
        if self.slice_completed > 0 || !self.slice.is_empty() {
            self.close_slice();
        }
        let measured_messages = self.sent - self.warmup;
        let secs = measured.as_secs_f64();
        Account {
            sent: self.sent,
            warmup: self.warmup,
            acknowledged: self.acknowledged,
            rejected: self.rejected,
            lost: self.lost,
            not_sent: self.not_sent,
            timeouts: self.timeouts,
            connection_errors: self.connection_errors,
            stray_acks: self.stray_acks,
            codes: self.codes,
            latency: percentiles(&self.latency),
            schedule_lag: percentiles(&self.lag),
            measured_s: secs,
            throughput_per_s: if secs > 0.0 { measured_messages as f64 / secs } else { 0.0 },
            timeline: self.timeline,
            slice_s: self.slice_len.as_secs_f64(),
            lost_not_listed: self.lost - self.lost_listed.len() as u64,
            lost_messages: self.lost_listed,
            behind_schedule: 0,
        }
    }
}

/// What a load run did: the nothing-lost account, latency and throughput.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    /// Messages written to the target (warmup included); each is acknowledged, rejected or lost.
    pub sent: u64,
    /// Of those, sent during the warmup (in the account, not in latency or throughput).
    pub warmup: u64,
    /// Answered with AA or CA.
    pub acknowledged: u64,
    /// Answered with any other code (AE, AR, CE, CR, …; `HTTP nnn` without an ACK).
    pub rejected: u64,
    /// Sent and never answered.
    pub lost: u64,
    /// Due but never written: no connection could be made.
    pub not_sent: u64,
    /// Lost because no ACK came within the ACK timeout.
    pub timeouts: u64,
    /// Connections that failed or broke (connect failures, resets, closes).
    pub connection_errors: u64,
    /// ACKs whose MSA-2 named no message then waiting (after a timeout, or wrong MSA-2).
    pub stray_acks: u64,
    /// Answers by MSA-1.
    pub codes: BTreeMap<String, u64>,
    /// Latency of the answered messages after the warmup.
    pub latency: Percentiles,
    /// Open loop: how late messages were written after their due time (timer granularity, or
    /// every connection busy); empty in closed loop. A large lag means the schedule was not held.
    pub schedule_lag: Percentiles,
    /// Seconds from the end of the warmup to the last answer.
    pub measured_s: f64,
    /// Messages finished per second after the warmup.
    pub throughput_per_s: f64,
    pub timeline: Vec<Interval>,
    /// Length of each timeline slice.
    pub slice_s: f64,
    /// The MSH-10 of every lost message (up to [`MAX_LOST_LISTED`]) and why.
    pub lost_messages: Vec<LostMessage>,
    /// Lost messages beyond the listed ones.
    pub lost_not_listed: u64,
    /// Open loop with a duration: messages that fell due before the end but were never written,
    /// because every connection was still waiting for an earlier answer when the run ended. Not
    /// sent, so not in `sent`; a number above zero means the schedule was not held.
    pub behind_schedule: u64,
}

impl Account {
    /// The nothing-lost identity: every sent message ended one way.
    pub fn balances(&self) -> bool {
        self.sent == self.acknowledged + self.rejected + self.lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(code: &str) -> Ending {
        Ending::Answered { code: code.into() }
    }

    #[test]
    fn every_sent_message_is_accounted_once() {
        let mut r = Recorder::new(Duration::from_secs(1));
        let at = Some(Duration::from_millis(100));
        r.record("W1", answered("AA"), Duration::from_millis(1), None);
        r.record("M1", answered("AA"), Duration::from_millis(1), at);
        r.record("M2", answered("AE"), Duration::from_millis(2), at);
        r.record("M3", Ending::Lost { reason: "read-timeout" }, Duration::from_secs(5), at);
        r.record("M4", Ending::Lost { reason: "peer-reset" }, Duration::ZERO, at);
        r.record("M5", Ending::NotSent { reason: "connect-failed" }, Duration::ZERO, at);
        let a = r.finish(Duration::from_secs(1));
        assert_eq!((a.sent, a.warmup, a.acknowledged, a.rejected, a.lost), (5, 1, 2, 1, 2));
        assert_eq!((a.timeouts, a.connection_errors, a.not_sent), (1, 2, 1));
        assert!(a.balances());
        let lost: Vec<&str> = a.lost_messages.iter().map(|l| l.control_id.as_str()).collect();
        assert_eq!(lost, ["M3", "M4"]);
        assert_eq!(a.codes.get("AE"), Some(&1));
        // Only answered messages after the warmup have a latency.
        assert_eq!(a.latency.count, 2);
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut r = Recorder::new(Duration::from_secs(1));
        for i in 1..=1000u64 {
            r.record("M", answered("AA"), Duration::from_micros(i * 100), Some(Duration::ZERO));
        }
        let p = r.finish(Duration::from_secs(1)).latency;
        // 3 significant digits: within 0.1 % of the exact value.
        let near = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(near(p.p50_ms, 50.0) && near(p.p90_ms, 90.0) && near(p.p99_ms, 99.0), "{p:?}");
        assert!(near(p.max_ms, 100.0), "{p:?}");
    }

    #[test]
    fn timeline_has_one_point_per_slice_and_lost_list_is_bounded() {
        let mut r = Recorder::new(Duration::from_secs(1));
        for second in [0u64, 0, 2, 3] {
            r.record(
                "M",
                answered("AA"),
                Duration::from_millis(3),
                Some(Duration::from_secs(second)),
            );
        }
        for n in 0..(MAX_LOST_LISTED + 5) {
            r.record(
                &format!("L{n}"),
                Ending::Lost { reason: "read-timeout" },
                Duration::ZERO,
                None,
            );
        }
        let a = r.finish(Duration::from_secs(4));
        let completed: Vec<u64> = a.timeline.iter().map(|i| i.completed).collect();
        assert_eq!(completed, [2, 0, 1, 1]);
        assert_eq!((a.lost_messages.len(), a.lost_not_listed), (MAX_LOST_LISTED, 5));
    }
}
