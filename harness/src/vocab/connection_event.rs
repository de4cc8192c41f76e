//! What happened to a connection or a case that is not an answer: a connect that failed, a
//! timeout, a close or reset by either side, a case that could not be set up. Reports and
//! `results.json` show each by its published kebab-case name (`connect-failed`), which never
//! changes; the code matches on the variant, never on the text.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

macro_rules! events {
    ($($variant:ident = $name:literal: $doc:literal,)+) => {
        /// A connection or case event, by its stable name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ConnectionEvent {
            $(#[doc = $doc] $variant,)+
            /// An HTTP status that is not an HL7 answer (`http-404`).
            Http(u16),
        }

        impl ConnectionEvent {
            /// Every fixed event (without the `http-NNN` family).
            pub const ALL: &'static [ConnectionEvent] = &[$(ConnectionEvent::$variant),+];

            /// The published name (`connect-failed`, `http-503`).
            pub fn name(self) -> std::borrow::Cow<'static, str> {
                match self {
                    $(ConnectionEvent::$variant => $name.into(),)+
                    ConnectionEvent::Http(status) => format!("http-{status}").into(),
                }
            }

            /// The published name of a fixed event; `http-status` for the `http-NNN` family.
            pub fn static_name(self) -> &'static str {
                match self {
                    $(ConnectionEvent::$variant => $name,)+
                    ConnectionEvent::Http(_) => "http-status",
                }
            }

            /// The event a published name stands for.
            pub fn parse(name: &str) -> Option<ConnectionEvent> {
                match name {
                    $($name => Some(ConnectionEvent::$variant),)+
                    other => other
                        .strip_prefix("http-")
                        .and_then(|s| s.parse().ok())
                        .map(ConnectionEvent::Http),
                }
            }
        }
    };
}

events! {
    ConnectFailed = "connect-failed": "The target refused or could not be reached.",
    ConnectTimeout = "connect-timeout": "No connection within the connect timeout.",
    ReadTimeout = "read-timeout": "Nothing (or not a whole frame) within the read timeout.",
    WriteTimeout = "write-timeout": "A write did not finish within the write timeout.",
    PeerClosed = "peer-closed": "The target closed the connection.",
    PeerReset = "peer-reset": "The target reset the connection.",
    TlsHandshakeFailed = "tls-handshake-failed": "The TLS handshake failed.",
    TlsConfigError = "tls-config-error": "The TLS settings could not be used.",
    FramingError = "framing-error": "The bytes received broke the framing.",
    IoError = "io-error": "Another I/O error.",
    ResetByHarness = "reset-by-harness": "The harness reset the connection (a fault).",
    ClosedBeforeAck = "closed-before-ack": "The harness closed the connection before the ACK (a fault).",
    CommitNak = "commit-nak": "The target answered with a commit NAK.",
    HllpNak = "hllp-nak": "The target answered an HLLP block with a NAK block.",
    Blackholed = "blackholed": "The harness vanished from the connection (a packet-level fault).",
    NoLab = "no-lab": "A packet-level fault needs the lab, which is not available.",
    LabFailed = "lab-failed": "The lab could not be set up or a rule not applied.",
    NoTarget = "no-target": "The case has no target to run against.",
    BadTarget = "bad-target": "The target URL cannot serve this case.",
    MessageBuildFailed = "message-build-failed": "The message to send could not be built.",
    CaseCrashed = "case-crashed": "The case's task panicked or was cancelled.",
    CaseSetup = "case-setup": "The receiver-role case could not be set up.",
    ListenFailed = "listen-failed": "The harness could not listen where the case says.",
    LoadSetup = "load-setup": "The load phase could not be set up.",
    Unterminated = "unterminated": "The harness sent a frame without its end (a fault) and waited.",
}

impl ConnectionEvent {
    /// A connect that did not succeed: the target was not reached at all.
    pub fn is_unreachable(self) -> bool {
        matches!(self, ConnectionEvent::ConnectFailed | ConnectionEvent::ConnectTimeout)
    }
}

impl fmt::Display for ConnectionEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Compares by the published name (`err.code() == "read-timeout"` reads as the report does).
impl PartialEq<&str> for ConnectionEvent {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

impl Serialize for ConnectionEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for ConnectionEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        ConnectionEvent::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown connection event {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_to_their_event() {
        for event in ConnectionEvent::ALL.iter().copied().chain([ConnectionEvent::Http(503)]) {
            assert_eq!(ConnectionEvent::parse(&event.name()), Some(event), "{event}");
            let json = serde_json::to_string(&event).expect("json");
            assert_eq!(serde_json::from_str::<ConnectionEvent>(&json).expect("back"), event);
        }
        assert_eq!(ConnectionEvent::parse("http-x"), None);
        assert_eq!(ConnectionEvent::parse("no-such-event"), None);
        assert_eq!(ConnectionEvent::PeerClosed.to_string(), "peer-closed");
    }
}
