//! How long a case is expected to hold its `--jobs` slot, read cheaply from the scenario: the
//! waits it declares (pauses, fault delays, silences, outages, answers held back, refusals,
//! quiet periods) and the timeouts it expects to expire. Only the order of the run's cases
//! depends on it ([`super::slots`]: longest first); a wrong guess costs time, never a verdict.

use super::case_run::CaseRun;
use super::receiver::ReceiverRun;
use super::through::ThroughRun;
use crate::faults::{Answer, NetworkFault};
use crate::scenario::{AckOutcome, Step, ThroughSetup};
use std::time::Duration;

/// What every case costs beyond its declared waits: connecting, the exchanges, judging.
const EACH_CASE: Duration = Duration::from_millis(100);

/// A frame's length when the estimate needs one (fragment and slow faults pace by bytes); a
/// typical ADT message of the packs.
const TYPICAL_FRAME: usize = 300;

/// `fragment`'s pause between chunks when the scenario names none.
const FRAGMENT_DELAY: Duration = Duration::from_millis(5);

/// The peer's own ACK timeout, which a receiver case that leaves a message unanswered makes
/// expire: not in the scenario (it is the sender's setting), so a typical one.
const PEER_ACK_TIMEOUT: Duration = Duration::from_secs(1);

/// A sender case: its linger, every step's pause, its faults' waits, and the ACK timeout of
/// every step that may get no ACK (it must then expire).
pub(super) fn sender_case(
    run: &CaseRun,
    ack_timeout: Duration,
    linger: Duration,
    outage: Duration,
) -> Duration {
    let pauses: Duration = run.case.steps.iter().filter_map(|s| s.wait.map(|w| w.0)).sum();
    let faults: Duration =
        run.case.network_faults().map(|f| fault_wait(f, ack_timeout, outage)).sum();
    let unanswered = run.case.steps.iter().filter(|s| may_go_unanswered(s)).count() as u32;
    EACH_CASE + linger + pauses + faults + ack_timeout * unanswered
}

/// Whether a step's ACK timeout may have to expire: its expectation allows no ACK, or its
/// message asks for none (MSH-15 `NE`, accept acknowledgment never: HL7 v2 ch. 2, table 0155).
fn may_go_unanswered(step: &Step) -> bool {
    let none_allowed =
        step.expect.ack.as_ref().is_some_and(|a| a.codes.contains(&AckOutcome::None));
    let never = step.set.iter().any(|(path, value)| path.text == "MSH-15" && value.source == "NE");
    none_allowed || never
}

/// The wait one client fault holds.
fn fault_wait(fault: &NetworkFault, ack_timeout: Duration, outage: Duration) -> Duration {
    match fault {
        NetworkFault::Idle(span) => span.0,
        NetworkFault::Unterminated { silence } => {
            silence.map_or(crate::faults::UNTERMINATED_SILENCE, |s| s.0)
        }
        NetworkFault::Blackhole { .. } => ack_timeout.min(outage),
        NetworkFault::Fragment { size, delay, max_size } => {
            let chunk = (size + max_size.unwrap_or(*size)).div_ceil(2).max(1);
            let pause = delay.map_or(FRAGMENT_DELAY, |d| d.0);
            pause * (TYPICAL_FRAME.div_ceil(chunk) as u32)
        }
        NetworkFault::Slow { bytes_per_second } => {
            crate::faults::pace(TYPICAL_FRAME, u64::from(*bytes_per_second))
        }
        _ => Duration::ZERO,
    }
}

/// A receiver case: its quiet period, its refusal, the answers it holds back, and the peer's
/// ACK timeout for every answer that leaves a message without its ACK.
pub(super) fn receiver_case(run: &ReceiverRun, quiet: Duration) -> Duration {
    let case = &run.case;
    let answers: Duration = case
        .answers
        .iter()
        .map(|answer| match answer {
            Answer::LateAck(span) => span.0,
            Answer::Blackhole(span) => span.0,
            Answer::NoAck
            | Answer::WrongMsa2
            | Answer::SilentPeer
            | Answer::Close
            | Answer::Reset => PEER_ACK_TIMEOUT,
            _ => Duration::ZERO,
        })
        .sum();
    let refused = case.refuse_for.map(|s| s.0).unwrap_or_default()
        + case.connect_hang.map(|s| s.0).unwrap_or_default();
    EACH_CASE + quiet + refused + answers
}

/// A through case: its quiet period, and the engine's ACK timeout (at most the case's) for
/// every answer of a destination that leaves a delivery without its ACK.
pub(super) fn through_case(run: &ThroughRun, setup: &ThroughSetup) -> Duration {
    let unanswered = run
        .case
        .answers
        .values()
        .flatten()
        .map(|answer| match answer {
            Answer::LateAck(span) | Answer::Blackhole(span) => span.0,
            Answer::NoAck | Answer::SilentPeer | Answer::Close | Answer::Reset => {
                setup.ack_timeout.min(setup.timeout)
            }
            _ => Duration::ZERO,
        })
        .sum::<Duration>();
    EACH_CASE + setup.quiet + unanswered.min(setup.timeout)
}

/// For cases that run one after another: the path each heads, its own estimate and every later
/// one's, then `after` (what can only start once they are done).
pub(super) fn chains(estimates: &[Duration], after: Duration) -> Vec<Duration> {
    let mut path = after;
    let mut heads: Vec<Duration> = estimates
        .iter()
        .rev()
        .map(|estimate| {
            path += *estimate;
            path
        })
        .collect();
    heads.reverse();
    heads
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{load_text, FileAccess};
    use crate::vocab::Seed;

    const SCENARIO: &str = "
name: estimates
messages:
  m: { text: \"MSH|^~\\\\&|S|SF|R|RF|20240101||ADT^A04^ADT_A01|X|P|2.5\\rEVN|A04|20240101\\rPID|1||1^^^H^MR||DOE^JANE\" }
cases:
  - name: plain
    send: m
  - name: idle and a pause
    network: [ { idle: 300ms } ]
    steps:
      - { send: m }
      - { send: m, wait: 50ms }
  - name: no ack may come
    send: m
    expect: { ack: [AE, AR, none] }
  - name: no ack asked for
    send: m
    set: { MSH-15: NE, MSH-16: NE }
    expect: { ack: declared }
  - name: one byte at a time
    send: m
    network: [ { fragment: { size: 1, delay: 2ms } } ]
  - name: silence
    send: m
    network: [ { unterminated: {} } ]
";

    /// Each case's estimate in ms, with a 10 s ACK timeout, a 200 ms linger and a 1 s outage.
    fn estimates() -> Vec<(String, u128)> {
        let path = std::path::Path::new("estimates.yaml");
        let scenario = load_text(path, SCENARIO, &[], FileAccess::PackOnly).unwrap();
        let runs = super::super::select::expand(&scenario, Seed(1), 0);
        let second = Duration::from_secs(1);
        runs.iter()
            .map(|run| {
                let ms = sender_case(run, 10 * second, second / 5, second).as_millis();
                (run.name.clone(), ms)
            })
            .collect()
    }

    #[test]
    fn a_sender_case_is_estimated_by_its_declared_waits_and_expired_timeouts() {
        let got = estimates();
        let ms = |name: &str| got.iter().find(|(n, _)| n == name).map(|(_, ms)| *ms);
        assert_eq!(ms("plain"), Some(300));
        assert_eq!(ms("idle and a pause"), Some(300 + 300 + 50));
        assert_eq!(ms("no ack may come"), Some(300 + 10_000));
        assert_eq!(ms("no ack asked for"), Some(300 + 10_000));
        // A typical frame of 300 bytes, one byte each 2 ms.
        assert_eq!(ms("one byte at a time"), Some(300 + 600));
        assert_eq!(ms("silence"), Some(300 + 500));
    }

    #[test]
    fn cases_in_a_row_head_the_rest_of_their_row() {
        let ms = Duration::from_millis;
        assert_eq!(chains(&[ms(1), ms(20), ms(300)], ms(4000)), [ms(4321), ms(4320), ms(4300)]);
        assert_eq!(chains(&[], ms(5)), Vec::<Duration>::new());
    }
}
