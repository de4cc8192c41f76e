//! What the runner saw, as plain data: what was sent, what came back (bytes, frame notes,
//! timings), connection events and probe results. Checks are pure functions over these.

use crate::scenario::Expect;
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}
