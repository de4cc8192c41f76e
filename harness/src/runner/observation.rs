//! What the runner saw, as plain data: what was sent, what came back (bytes, frame notes,
//! timings), connection events and probe results. Checks are pure functions over these.

use crate::scenario::Expect;
use serde::Serialize;
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpObservation {
    pub status: u16,
    pub content_type: Option<String>,
}

/// A transport event that ended waiting (`read-timeout`, `peer-closed`, `peer-reset`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransportEvent {
    pub code: String,
    pub detail: String,
}

/// One message sent and what answered it.
#[derive(Debug, Clone, Serialize)]
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
    #[serde(skip)]
    pub expect: Expect,
    /// Faults applied while sending, by name.
    pub faults: Vec<String>,
    /// Every time the message was written, in order: one attempt normally, more when a fault
    /// cut an attempt short and the message was sent again (same MSH-10).
    pub attempts: Vec<Attempt>,
}

/// What one send of a message came to, as a sender counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
        use crate::hl7::{Message, Path};
        let Some(reply) = reply else { return Outcome::Indeterminate };
        let field = |message: &Message<'_>, path: &str| {
            Path::parse(path).ok().and_then(|p| message.get(&p)).map(|v| v.as_bytes().to_vec())
        };
        let (Ok(sent), Ok(ack)) = (Message::parse(sent), Message::parse(reply)) else {
            return Outcome::Indeterminate;
        };
        let own = sent.control_id().map(str::as_bytes);
        if own.is_none() || field(&ack, "MSA-2").as_deref() != own {
            return Outcome::Indeterminate;
        }
        match field(&ack, "MSA-1").as_deref() {
            Some(b"AA" | b"CA") => Outcome::Ok,
            Some(b"AE" | b"AR" | b"CE" | b"CR") => Outcome::Fail,
            _ => Outcome::Indeterminate,
        }
    }
}

/// One write of a message and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub outcome: Outcome,
    /// Why it ended without an ACK of its own (`closed-before-ack`, `reset`, `read-timeout`…).
    pub event: Option<String>,
}

/// When a liveness canary ran, relative to the fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// The outcome of an effect probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeResult {
    pub step: usize,
    /// `GET url` or the command line.
    pub what: String,
    /// `None`: passed; otherwise what differed.
    pub failure: Option<String>,
    /// The probe could not run at all (it needs a state endpoint the target does not have).
    pub unavailable: bool,
}

/// Everything observed during one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseObservation {
    pub exchanges: Vec<Exchange>,
    /// Per connection, in order.
    pub connections_after: Vec<ConnectionAfter>,
    /// Frames no sent message could be matched with.
    pub stray: Vec<Reply>,
    pub probes: Vec<ProbeResult>,
    /// Set when the case could not run at all (e.g. the target refused the connection).
    pub aborted: Option<TransportEvent>,
    #[serde(skip)]
    pub expect_connection_open: Option<bool>,
    #[serde(skip)]
    pub skip_checks: Vec<String>,
    /// Liveness canaries sent during and after the case's faults.
    pub canaries: Vec<Canary>,
}
