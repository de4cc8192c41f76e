//! What the runner saw, as plain data: what was sent, what came back (bytes, frame notes,
//! timings), connection events and probe results. Checks are pure functions over these.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One frame (or HTTP body) received in answer to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    pub payload: Vec<u8>,
    /// What the MLLP reader tolerated on the way to this frame (`mllp-missing-trailer-cr`, …),
    /// with the stream offset.
    pub notes: Vec<(String, u64)>,
    /// Since the message was sent.
    pub elapsed: Duration,
}

/// How an HTTP exchange ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpObservation {
    pub status: u16,
    pub content_type: Option<String>,
}

/// A transport event that ended waiting (`read-timeout`, `peer-closed`, `peer-reset`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransportEvent {
    pub code: crate::vocab::ConnectionEvent,
    pub detail: String,
}

/// One message sent and what answered it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Exchange {
    /// 1-based step of the case.
    pub step: usize,
    /// 1-based connection of the case.
    pub connection: usize,
    /// The payload as sent (without framing).
    pub sent: Vec<u8>,
    /// Not an HL7 message (a raw template).
    pub raw: bool,
    /// Replies attributed to this message, in arrival order.
    pub replies: Vec<Reply>,
    pub ack_timeout: Duration,
    /// Why no (further) reply was read, when waiting ended on an event rather than a reply.
    pub event: Option<TransportEvent>,
    pub http: Option<HttpObservation>,

    /// The intent of the mutations applied to the message sent (none when unmutated).
    #[serde(skip)]
    pub intent: Option<crate::generator::Intent>,
    /// Faults applied while sending, by name.
    pub faults: Vec<String>,
    /// The harness wrote bytes outside any block just before this message's block on its
    /// first attempt (`bytes_before_frame`, `bytes_between_frames`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_outside_bytes: bool,
    /// Every time the message was written, in order: one attempt normally, more when a fault
    /// cut an attempt short and the message was sent again (same MSH-10).
    pub attempts: Vec<Attempt>,
    /// For each reply, its place among the replies read on the case's connection (0-based,
    /// across reconnections), so the order the ACKs came in can be judged. Empty when not
    /// recorded (HTTP, HLLP).
    #[serde(skip)]
    pub reply_order: Vec<usize>,
    /// Waits the faults of this exchange required (fragment and slow pauses, an unterminated
    /// frame's silence, a blackhole's outage).
    #[serde(default)]
    pub waits: Vec<Wait>,
}

/// The order the target applied a case's messages in, from the applied log its profile names
/// (`state.applied`; the built-in endpoint's `GET {state}/applied`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AppliedOrder {
    /// Not read: the case had nothing whose order could be judged.
    #[default]
    NotRead,
    /// The target profile names no applied log (no `state.applied`): not judged; why.
    Undeclared(String),
    /// The declared applied log could not be read; why.
    Unavailable(String),
    /// The case's own MSH-10s, in the order the target first applied them.
    Log(Vec<String>),
}

/// What one send of a message came to, as a sender counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Its own acknowledgment (MSA-2 = its MSH-10) accepted it (AA, CA).
    Ok,
    /// Its own acknowledgment refused it (AE, AR, CE, CR).
    Fail,
    /// No acknowledgment of its own: a timeout, a reset or close before the ACK, or an ACK
    /// naming another message.
    Indeterminate,
}

impl Outcome {
    /// The outcome `reply` gives the message `sent`: only an ACK whose MSA-2 is the message's
    /// MSH-10 counts (HL7 v2.5.1 ch. 2, MSA-2).
    pub fn of(sent: &[u8], reply: Option<&[u8]>) -> Outcome {
        use crate::hl7::ack::msa_field;
        use crate::hl7::Message;
        let Some(reply) = reply else { return Outcome::Indeterminate };
        let (Ok(sent), Ok(ack)) = (Message::parse(sent), Message::parse(reply)) else {
            return Outcome::Indeterminate;
        };
        // A message without MSH-10 can only be answered with an empty MSA-2, which then names
        // it; otherwise MSA-2 must be its MSH-10.
        let own = sent.control_id().unwrap_or("").as_bytes();
        if msa_field(&ack, 2).map_or(&[][..], |v| v.as_bytes()) != own {
            return Outcome::Indeterminate;
        }
        match msa_field(&ack, 1).map(|v| v.as_bytes()) {
            Some(b"AA" | b"CA") => Outcome::Ok,
            Some(b"AE" | b"AR" | b"CE" | b"CR") => Outcome::Fail,
            _ => Outcome::Indeterminate,
        }
    }
}

/// One write of a message and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub outcome: Outcome,
    /// Why it ended without an ACK of its own (`closed-before-ack`, `reset`, `read-timeout`,
    /// `commit-nak`…).
    pub event: Option<String>,
    /// The MLLP release 2 commit acknowledgement block the receiver sent for this attempt, if
    /// any: a note, never taken for the HL7 acknowledgment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<Commit>,
}

/// An MLLP release 2 commit acknowledgement block (HL7 Version 3 Standard: Transport
/// Specification - MLLP, Release 2, 1.2.2.2 "Commit Acknowledgement Block"): `<SB><ACK><EB><CR>`
/// once the receiver has committed the message to safe storage, `<SB><NAK><EB><CR>` when it
/// could not; after a NAK the sender sends the message again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Commit {
    /// `0x0B 0x06 0x1C 0x0D`.
    Ack,
    /// `0x0B 0x15 0x1C 0x0D`.
    Nak,
}

impl Commit {
    /// As reports write it: `commit ACK`, `commit NAK`.
    pub fn name(self) -> &'static str {
        match self {
            Commit::Ack => "commit ACK",
            Commit::Nak => "commit NAK",
        }
    }
}

/// A wait a case required: time the harness held on purpose because the scenario or a fault
/// asked for it, or a peer's own timeout the case made expire. No harness could save it, so
/// `cargo xtask bench run` divides a run's wall time by these (issue 18); an ACK timeout that
/// expired is not repeated here (the exchange's `read-timeout` event already says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wait {
    pub kind: WaitKind,
    /// The step it belongs to; `None` for a wait of the whole case (a quiet period).
    pub step: Option<usize>,
    pub duration: Duration,
}

/// What a [`Wait`] was for. Names never change once published (they are in `results.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaitKind {
    /// A step's `wait:`.
    Pause,
    /// The pauses between the writes of a `fragment` or `slow` frame.
    FaultDelay,
    /// An `idle` fault: a new connection kept silent before sending.
    Idle,
    /// The silence after an `unterminated` frame.
    Silence,
    /// A `blackhole` outage, before the message goes again on a new connection.
    Outage,
    /// An answer held back on purpose (the receiver role's `late_ack`).
    AnswerDelay,
    /// The receiver role's `refuse_for`: no listener for that long.
    Refused,
    /// The quiet period after a receiver or through case settled, for anything more.
    Quiet,
    /// A frame the case left unanswered on purpose (`no_ack`), until the peer gave up on it
    /// (its next frame, or its close): the peer's own ACK timeout, which had to expire.
    PeerTimeout,
    /// The look for frames after a connection's last answer (`target.linger`): a duplicate ACK
    /// or a close by the target shows only to a harness that waits for it, and every MLLP and
    /// HLLP case's `ack-one-per-message` and `connection-open` checks judge what it saw.
    Linger,
}

impl WaitKind {
    /// As `results.json` writes it.
    pub fn name(self) -> &'static str {
        match self {
            WaitKind::Pause => "pause",
            WaitKind::FaultDelay => "fault-delay",
            WaitKind::Idle => "idle",
            WaitKind::Silence => "silence",
            WaitKind::Outage => "outage",
            WaitKind::AnswerDelay => "answer-delay",
            WaitKind::Refused => "refused",
            WaitKind::Quiet => "quiet",
            WaitKind::PeerTimeout => "peer-timeout",
            WaitKind::Linger => "linger",
        }
    }

    /// Every kind, for the tests that read names back.
    pub const ALL: [WaitKind; 10] = [
        WaitKind::Pause,
        WaitKind::FaultDelay,
        WaitKind::Idle,
        WaitKind::Silence,
        WaitKind::Outage,
        WaitKind::AnswerDelay,
        WaitKind::Refused,
        WaitKind::Quiet,
        WaitKind::PeerTimeout,
        WaitKind::Linger,
    ];

    /// The kind `results.json` names `name`.
    pub fn from_name(name: &str) -> Option<WaitKind> {
        WaitKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl Wait {
    /// A wait of step `step` (1-based); nothing for a zero duration.
    pub fn of_step(kind: WaitKind, step: usize, duration: Duration) -> Option<Wait> {
        (!duration.is_zero()).then_some(Wait { kind, step: Some(step), duration })
    }

    /// A wait of the whole case; nothing for a zero duration.
    pub fn of_case(kind: WaitKind, duration: Duration) -> Option<Wait> {
        (!duration.is_zero()).then_some(Wait { kind, step: None, duration })
    }
}

/// When a liveness canary ran, relative to the fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CanaryWhen {
    During,
    After,
}

/// A plain message sent on a fresh connection during or after a fault, to see that the
/// receiver still serves.
#[derive(Debug, Clone, Serialize)]
pub struct Canary {
    pub when: CanaryWhen,
    pub sent: Vec<u8>,
    pub reply: Option<Reply>,
    pub event: Option<TransportEvent>,
}

/// The state of a connection after the case's last exchange and the linger time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionAfter {
    Open,
    Closed,
    Reset,
    /// Not applicable (HTTP) or not observed.
    Unknown,
}

impl ConnectionAfter {
    /// As reports write it: `open`, `closed`, `reset`, `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            ConnectionAfter::Open => "open",
            ConnectionAfter::Closed => "closed",
            ConnectionAfter::Reset => "reset",
            ConnectionAfter::Unknown => "unknown",
        }
    }
}

/// The outcome of an effect probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub step: usize,
    /// `GET url` or the command line.
    pub what: String,
    /// `None`: passed; otherwise what differed.
    pub failure: Option<String>,
    /// The probe could not run at all (it needs a state endpoint the target does not have).
    pub unavailable: bool,
    /// For an `applied:` probe that read the log: how often it lists the message (the checks
    /// judge that against the case's writes and the `duplicates:` declaration).
    #[serde(default)]
    pub applied: Option<AppliedCount>,
}

/// How many times the applied log lists one MSH-10, and the declaration that judges it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedCount {
    pub id: String,
    pub times: usize,
    /// The profile's `duplicates:` (for the built-in endpoint without a profile, its own
    /// `apply-once`).
    pub duplicates: Option<crate::profile::DuplicatePolicy>,
}

/// Everything observed during one case.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaseObservation {
    pub exchanges: Vec<Exchange>,
    /// Per connection, in order.
    pub connections_after: Vec<ConnectionAfter>,
    /// Frames no sent message could be matched with.
    pub stray: Vec<Reply>,
    pub probes: Vec<ProbeResult>,
    /// Set when the case could not run at all (e.g. the target refused the connection).
    pub aborted: Option<TransportEvent>,
    /// Liveness canaries sent during and after the case's faults.
    pub canaries: Vec<Canary>,
    /// Receiver role: the messages the sender under test delivered, in arrival order.
    #[serde(default)]
    pub arrivals: Vec<Arrival>,
    /// Receiver role: the sender under test, when the scenario starts it.
    #[serde(default)]
    pub sut: Option<SutRun>,
    /// The order the target applied the case's messages in.
    #[serde(skip)]
    pub applied: AppliedOrder,
    /// Through role: what went into the engine and what came out at its destinations.
    #[serde(default)]
    pub through: Option<ThroughObservation>,
    /// Waits of the case outside any exchange: steps' pauses, idle connections, answers held
    /// back, quiet periods, peers' timeouts the case made expire.
    #[serde(default)]
    pub waits: Vec<Wait>,
}

/// Through role: the inputs the harness sent into the engine, with the engine's answers, and
/// every message that arrived at a destination the harness played, in arrival order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThroughObservation {
    pub inputs: Vec<ThroughInput>,
    pub arrivals: Vec<ThroughArrival>,
    /// The destinations the harness read rather than listened as (`read:`), one each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<DestinationRead>,
}

/// How one read destination (`through.destinations.NAME.read`) was read: its arrivals are
/// among [`ThroughObservation::arrivals`] (accepted, the answer `none (read)`: being in the
/// store is the delivery).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationRead {
    pub destination: String,
    /// `folder PATH`, or the command line (secret values hidden).
    pub how: String,
    /// Reads of the case (the one before the engine started not counted).
    pub reads: usize,
    /// What could not be read (a command that failed or overran its bounds, a file too
    /// large, a link): one line each, a recurring one with its count.
    pub problems: Vec<String>,
}

/// One input message sent into the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThroughInput {
    /// How the report names it (the case's input label).
    pub label: String,
    pub payload: Vec<u8>,
    /// When it was written, since the case started.
    pub sent: Duration,
    /// The engine's answer (the frame whose MSA-2 is the input's MSH-10); `None`: none came.
    pub ack: Option<Vec<u8>>,
    /// Why it could not be sent or answered (connect refused, timeout, close).
    pub event: Option<String>,
}

/// One message that arrived at a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThroughArrival {
    /// The destination's name in the scenario.
    pub destination: String,
    pub arrival: Arrival,
}

/// One message the sender under test delivered (receiver role), and how it was answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    /// 1-based connection of the case, in accept order.
    pub connection: usize,
    pub payload: Vec<u8>,
    /// Framing the reader tolerated on the way to this frame, with the stream offset.
    pub notes: Vec<(String, u64)>,
    /// When the read that completed the frame returned, since the case started.
    pub received: Duration,
    /// What the harness answered: `AA`, `AE`, `AR`, `no ACK`, `late AA`, `AA twice`,
    /// `AA with a wrong MSA-2`, `closed`, `reset`, `not read`.
    pub answer: String,
    /// When the answer was written; `None` when nothing was.
    pub answered: Option<Duration>,
    /// Answered with a correct accept (AA, MSA-2 = its MSH-10).
    pub accepted: bool,
    /// Answered with a correct reject (AE/AR, MSA-2 = its MSH-10).
    pub rejected: bool,
}

impl Arrival {
    /// A frame just read, not answered yet.
    pub fn unanswered(
        connection: usize,
        payload: Vec<u8>,
        notes: Vec<(String, u64)>,
        received: Duration,
    ) -> Arrival {
        Arrival {
            connection,
            payload,
            notes,
            received,
            answer: String::new(),
            answered: None,
            accepted: false,
            rejected: false,
        }
    }
}

/// The peers' own timeouts a receiver or through case made expire: for each arrival left
/// without an answer on a connection kept open (`no_ack`, a silent peer), or answered by an ACK
/// whose MSA-2 names another message (`wrong_msa2`: it acknowledges nothing, ch. 2 MSA-2, so
/// the peer waits just the same), the time until the next arrival (the peer's resend). An
/// arrival answered by a close or a reset is not waited on, and a last unanswered arrival has
/// no end to measure. `arrivals` in arrival order.
pub fn peer_timeouts(arrivals: &[Arrival]) -> Vec<Wait> {
    arrivals
        .windows(2)
        .filter(|pair| {
            let first = &pair[0];
            let unanswered = first.answered.is_none()
                && !first.answer.starts_with("closed")
                && !first.answer.starts_with("reset");
            let misdirected =
                first.answered.is_some() && first.answer.ends_with("with a wrong MSA-2");
            unanswered || misdirected
        })
        .filter_map(|pair| {
            Wait::of_case(WaitKind::PeerTimeout, pair[1].received.saturating_sub(pair[0].received))
        })
        .collect()
}

/// The sender under test as started by the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SutRun {
    /// The command line, as run.
    pub command: String,
    /// Its exit code; `None` when it was killed or could not start.
    pub exit: Option<i32>,
    /// Stopped by the harness at the case timeout.
    pub killed: bool,
    /// Why it could not start.
    pub error: Option<String>,
    /// The end of what it printed (stdout, then stderr), at most a few KiB.
    pub output: String,
    /// The end of its stderr alone (at most a few KiB), for the terminal and `summary.md`,
    /// which show its last lines when the case failed.
    #[serde(default)]
    pub stderr: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENT: &[u8] = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01^ADT_A01|M1|P|2.5\rPID|1\r";

    fn ack(code: &str, echo: &str) -> Vec<u8> {
        format!("MSH|^~\\&|C|D|A|B|20260101||ACK^A01^ACK|K1|P|2.5\rMSA|{code}|{echo}\r")
            .into_bytes()
    }

    fn arrival(received_ms: u64, answer: &str, answered_ms: Option<u64>) -> Arrival {
        let ms = Duration::from_millis;
        Arrival {
            answer: answer.into(),
            answered: answered_ms.map(ms),
            ..Arrival::unanswered(1, SENT.to_vec(), Vec::new(), ms(received_ms))
        }
    }

    fn peer_wait(ms: u64) -> Wait {
        Wait { kind: WaitKind::PeerTimeout, step: None, duration: Duration::from_millis(ms) }
    }

    /// Only an arrival left unanswered on an open connection, or answered for another message,
    /// makes the peer wait out its own timeout; one answered, or closed or reset at once, does
    /// not; the last has no end.
    #[test]
    fn peer_timeouts_are_the_gaps_after_unanswered_arrivals() {
        let arrivals = [
            arrival(0, "no ACK", None),
            arrival(1000, "AA", Some(1001)),
            arrival(1100, "closed, no ACK", None),
            arrival(1150, "reset, no ACK", None),
            arrival(1200, "AA after 300 ms", Some(1500)),
            arrival(1300, "no ACK", None),
            arrival(2450, "AA with a wrong MSA-2", Some(2451)),
            arrival(3500, "no ACK", None),
        ];
        let waited = [peer_wait(1000), peer_wait(1150), peer_wait(1050)];
        assert_eq!(peer_timeouts(&arrivals), waited);
        assert_eq!(peer_timeouts(&arrivals[..1]), []);
        assert_eq!(peer_timeouts(&[]), []);
    }

    #[test]
    fn wait_kinds_read_back_by_name_and_zero_waits_are_none() {
        for kind in WaitKind::ALL {
            assert_eq!(WaitKind::from_name(kind.name()), Some(kind));
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, serde_json::json!(kind.name()));
        }
        assert_eq!(WaitKind::from_name("nap"), None);
        assert_eq!(Wait::of_case(WaitKind::Quiet, Duration::ZERO), None);
        assert_eq!(Wait::of_step(WaitKind::Pause, 2, Duration::ZERO), None);
        let pause = Wait::of_step(WaitKind::Pause, 2, Duration::from_millis(5));
        assert_eq!(pause.map(|w| (w.step, w.duration)), Some((Some(2), Duration::from_millis(5))));
    }

    #[test]
    fn only_an_ack_naming_the_message_counts() {
        assert_eq!(Outcome::of(SENT, Some(&ack("AA", "M1"))), Outcome::Ok);
        assert_eq!(Outcome::of(SENT, Some(&ack("AR", "M1"))), Outcome::Fail);
        assert_eq!(Outcome::of(SENT, Some(&ack("AA", "M2"))), Outcome::Indeterminate);
        assert_eq!(Outcome::of(SENT, Some(&ack("AA", ""))), Outcome::Indeterminate);
        assert_eq!(Outcome::of(SENT, None), Outcome::Indeterminate);
    }

    /// A message without MSH-10 can only be answered with an empty MSA-2 (HL7 v2.5.1 ch. 2,
    /// MSA-2 echoes MSH-10): that answer is its own, not a lost message.
    #[test]
    fn an_empty_msa2_answers_a_message_without_msh10() {
        let without = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01^ADT_A01||P|2.5\rPID|1\r";
        assert_eq!(Outcome::of(without, Some(&ack("AE", ""))), Outcome::Fail);
        assert_eq!(Outcome::of(without, Some(&ack("AA", ""))), Outcome::Ok);
        assert_eq!(Outcome::of(without, Some(&ack("AA", "M1"))), Outcome::Indeterminate);
    }
}
