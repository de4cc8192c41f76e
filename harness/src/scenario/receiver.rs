//! The scenario format of the receiver role (`role: receiver`): the harness listens, the system
//! under test (an outbound interface, a sender) connects and sends, and each case decides how
//! the harness answers, to see whether the sender loses nothing, keeps MSH-10 on
//! retransmission, keeps order, waits for ACKs and retries at a sane pace.

use super::text::{Span, Text};
/// The answers are fault values; the receiver format names them.
pub use crate::faults::{Answer, NakCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the harness listens and how the system under test is started.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiverSpec {
    /// Address to listen on. Default `127.0.0.1:0`: a free port per case, which the SUT command
    /// gets as `{listen}`. A fixed port (for a SUT configured to connect there) runs the cases
    /// one after another.
    #[serde(default)]
    pub listen: Option<Text>,
    /// Listen for HL7 over HTTP (the HAPI "HL7 over HTTP" specification: one message per
    /// `POST`, the ACK in the response body, every HL7 answer with status 200, AE and AR
    /// included) instead of MLLP. The sender posts to `http://{listen}` + `path`.
    #[serde(default)]
    pub http: Option<HttpListen>,
    /// Starts the sender under test for each case; without it, the sender connects on its own.
    #[serde(default)]
    pub sut: Option<SutSpec>,
    /// How long a case may take before the harness stops it (default 10s).
    #[serde(default)]
    pub timeout: Option<Span>,
    /// After the sender is done (its command exited, or every expected message was accepted),
    /// how long to keep listening for anything more (default 300ms).
    #[serde(default)]
    pub quiet: Option<Span>,
}

/// The receiver role's HTTP listener (`receiver.http`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpListen {
    /// The path the sender posts to (default `/`); a request for another path gets 404.
    #[serde(default)]
    pub path: Option<Text>,
    /// HTTP Basic credentials the sender must present (RFC 7617). A request without them, or
    /// with others, gets 401 with `WWW-Authenticate` and is recorded as refused, so a sender
    /// that does not authenticate fails `sender.delivered` with the refusal as evidence.
    /// Without `basic`, no credentials are asked for. The password comes from the
    /// environment only (`${VAR}`) and is never shown.
    #[serde(default)]
    pub basic: Option<super::raw::BasicAuth>,
    /// The largest body read (default 1 MiB); a larger one gets 413 and is not read.
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    /// How long the request line and headers, then the body, may each take to arrive
    /// (default 10s); a slower request is dropped (headers) or answered 408 (body).
    #[serde(default)]
    pub header_timeout: Option<Span>,
}

/// The sender under test as a command.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SutSpec {
    /// Program and arguments. Placeholders: `{harness}` (this hl7-harness binary, the
    /// reference sender is `{harness} send`), `{listen}` (`HOST:PORT` the harness listens on),
    /// `{host}` and `{port}` (its parts), `{messages}` (the case's messages as files, one
    /// argument each, in sending order), `{messages_dir}` (the folder holding exactly those
    /// files, named `0001.hl7`, `0002.hl7`, … so that a plain sort is the sending order),
    /// `{mllp_file}` (one file with the case's messages MLLP-framed back to back), `{defects}`
    /// (one `--defect NAME` pair per `run --sut-defect`). The command also gets the
    /// `--sut-defect` names, comma separated, in the environment variable `HL7H_SUT_DEFECTS`
    /// (empty without any), so a sender of your own can switch on bugs of its own; with
    /// `receiver.http.basic`, the password the sender must present in `HL7H_HTTP_PASSWORD`
    /// (`{harness} send --http-user USER --http-password-env HL7H_HTTP_PASSWORD`). `${VAR}`
    /// is read from the environment when the file is loaded; `$${` is a literal `${` (for a
    /// shell's own variables). Secrets the scenario read are shown as `***` in the command
    /// line and output the report keeps.
    pub command: Vec<Text>,
}

/// One receiver case.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiverCase {
    pub name: String,
    /// The templates the sender is to send, in order (given to the SUT command as files;
    /// each gets its own MSH-10). Without a SUT command, what the sender is expected to send.
    #[serde(default)]
    pub send: Vec<String>,
    /// How to answer the messages that arrive, in arrival order (the first entry for the first
    /// arrival of the case, …); every arrival after the list gets a correct AA.
    #[serde(default)]
    pub answers: Vec<Answer>,
    /// How to treat the connections the sender opens, in order; the rest are read normally.
    #[serde(default)]
    pub connections: Vec<ConnectionBehaviour>,
    /// Refuse connections for this long when the case starts (the port is closed), then listen.
    #[serde(default)]
    pub refuse_for: Option<Span>,
    /// Packet level (needs the lab): for this long when the case starts, every packet to the
    /// harness's port is dropped, so the sender's connects hang (no answer at all, as to a
    /// host that is down) instead of being refused; then the way opens.
    #[serde(default)]
    pub connect_hang: Option<Span>,
    #[serde(default)]
    pub expect: ReceiverExpect,
    /// Generic sender checks not to run for this case.
    #[serde(default)]
    pub skip_checks: Vec<String>,
}

impl ReceiverCase {
    /// Whether the case needs the packet-level lab.
    pub fn needs_lab(&self) -> bool {
        self.connect_hang.is_some() || self.answers.iter().any(Answer::needs_lab)
    }
}

/// How one connection is read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ConnectionBehaviour {
    /// Read and answer normally.
    Normal,
    /// Accept, then never read (the sender's writes fill the buffers; its ACK wait times out).
    NeverRead,
    /// A tiny receive buffer, and `bytes` read every `every`.
    SlowRead { bytes: usize, every: Span },
}

/// What the case expects of the sender, beyond the generic sender checks.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiverExpect {
    /// How many distinct messages of `send` must end accepted or rejected; the others may
    /// be lost (`0`: none need arrive, e.g. for a sender expected to give up). Default: every
    /// message of `send`.
    #[serde(default)]
    pub delivered: Option<usize>,
    /// Arrivals in all, retransmissions included: at least / at most.
    #[serde(default)]
    pub min_arrivals: Option<usize>,
    #[serde(default)]
    pub max_arrivals: Option<usize>,
    /// Time between a message's arrival and its retransmission: at least `min` (no retry
    /// storm), at most `max` (no giving up in practice).
    #[serde(default)]
    pub retry_interval: Option<RetryInterval>,
    /// The sender may deliver the messages in another order.
    #[serde(default)]
    pub allow_reorder: bool,
    /// The SUT command's exit code.
    #[serde(default)]
    pub sut_exit: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryInterval {
    #[serde(default)]
    pub min: Option<Span>,
    #[serde(default)]
    pub max: Option<Span>,
}

/// What serde cannot check in a connection behaviour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BehaviourError {
    #[error("slow_read: bytes must be at least 1")]
    SlowReadZero,
}

impl ConnectionBehaviour {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), BehaviourError> {
        match self {
            ConnectionBehaviour::SlowRead { bytes: 0, .. } => Err(BehaviourError::SlowReadZero),
            _ => Ok(()),
        }
    }
}
