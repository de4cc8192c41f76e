//! The scenario file format (YAML) exactly as written: serde reads these types strictly (unknown
//! keys are errors) and `hl7-harness schema` prints their JSON Schema. They do no I/O and apply
//! no defaults; [`super::resolve`] turns a [`ScenarioFile`] into the validated
//! [`super::Scenario`] the runner reads. The leaf types that need no resolving (`Step`,
//! `Expect`, `Probe`, …) are part of both and re-exported by `scenario`.

use super::text::{FieldPath, FileRef, Pattern, Secret, Span, Text};
use crate::faults::NetworkFault;
use crate::generator::Mutation;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// One scenario file.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Shown in reports; the file name without extension when absent.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Where to send; `--target` on the command line overrides the URL.
    #[serde(default)]
    pub target: TargetSpec,
    /// Credentials for HTTP targets; never echoed in output.
    #[serde(default)]
    pub auth: Option<Auth>,
    /// Message templates by name.
    #[serde(default)]
    pub messages: BTreeMap<String, Template>,
    /// `sender` (default): the harness sends to a target (`cases`). `receiver`: the harness
    /// listens and the system under test sends to it (`receiver`, `receive`). `through`: the
    /// harness sends into an interface engine and listens as its destinations (`through`,
    /// `flows`).
    #[serde(default)]
    pub role: Role,
    /// Cases of the sender role.
    #[serde(default)]
    pub cases: Vec<Case>,
    /// Listening and the system under test, for the receiver role.
    #[serde(default)]
    pub receiver: Option<super::receiver::ReceiverSpec>,
    /// Cases of the receiver role.
    #[serde(default)]
    pub receive: Vec<super::receiver::ReceiverCase>,
    /// The engine's input, the destinations the harness plays and how the engine is
    /// started, for the through role.
    #[serde(default)]
    pub through: Option<super::through::ThroughSpec>,
    /// Cases of the through role: inputs and what must come out where.
    #[serde(default)]
    pub flows: Vec<super::through::ThroughCase>,
    /// A load phase run after the cases, with thresholds judged as `load.*` checks.
    #[serde(default)]
    pub load: Option<LoadSpec>,
}

/// Which side of the interface the harness plays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The harness sends; the target is a receiver.
    #[default]
    Sender,
    /// The harness receives; the system under test is a sender (an outbound interface).
    Receiver,
    /// The harness sends into an interface engine and receives what it forwards.
    Through,
}

/// A load phase: the templates sent at a fixed rate (open loop) or as fast as the target
/// answers (closed loop), each message with a fresh MSH-10, every one accounted for.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    /// Templates sent in turn (default: every template of the file).
    #[serde(default)]
    pub send: Vec<String>,
    /// Messages per second, on schedule whatever the target does (open loop); absent: closed
    /// loop, each connection sends its next message when the last is answered.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Connections (default 1).
    #[serde(default)]
    pub connections: Option<u32>,
    /// How long to send after the warmup; at least one of `duration` and `count`.
    #[serde(default)]
    pub duration: Option<Span>,
    /// How many messages in all (warmup included).
    #[serde(default)]
    pub count: Option<u64>,
    /// Sent first and accounted, but not in latency or throughput.
    #[serde(default)]
    pub warmup: Option<Span>,
    /// Patient ids (PID-3.1) cycle through this many values (default 1000; 0 keeps the
    /// template's).
    #[serde(default)]
    pub patients: Option<u64>,
    /// `p99 < 200ms`, `lost == 0`, `throughput >= 50/s`, … (`lost == 0` applies when no `lost`
    /// threshold is given).
    #[serde(default)]
    pub thresholds: Vec<crate::load::Threshold>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// `builtin` (default), `mllp://host:port`, `mllps://host:port`, `hllp://host:port`,
    /// `http://host:port/path`.
    #[serde(default)]
    pub url: Option<Text>,
    /// The transport the scenario is written for: `mllp` (default), `http` or `hllp`. The built-in
    /// endpoint is reached over it; a `--target` of the other kind skips the file, saying why.
    #[serde(default)]
    pub transport: Option<Transport>,
    /// Base URL of the target's state endpoint for effect probes (`{state}` in probes); the
    /// built-in endpoint provides its own.
    #[serde(default)]
    pub state: Option<Text>,
    /// How long to wait for each ACK (default 5s).
    #[serde(default)]
    pub ack_timeout: Option<Span>,
    /// How long to wait for a connection (default 5s).
    #[serde(default)]
    pub connect_timeout: Option<Span>,
    /// How long to keep listening after the last ACK of a case for extra frames (default 200ms).
    #[serde(default)]
    pub linger: Option<Span>,
    /// How the built-in endpoint is configured for this scenario (ignored for other targets).
    #[serde(default)]
    pub builtin: Option<BuiltinSpec>,
    /// Certificates for `mllps://` and `https://` targets.
    #[serde(default)]
    pub tls: Option<TlsSpec>,
    /// HLLP block settings (checksum, span, block limit) for `transport: hllp`: the harness
    /// uses them on any `hllp://` target, and the built-in endpoint's HLLP listener too.
    #[serde(default)]
    pub hllp: Option<super::hllp::HllpSpec>,
    /// The target profile (what the system under test declares) this file's cases are graded
    /// by, relative to the scenario file; `run --target-profile` overrides it.
    #[serde(default)]
    pub profile: Option<FileRef>,
}

/// Whom to trust, and the client certificate for mutual TLS. The server is always verified.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// PEM file of the CA certificates that may sign the server's certificate.
    pub ca: FileRef,
    #[serde(default)]
    pub client_cert: Option<FileRef>,
    #[serde(default)]
    pub client_key: Option<FileRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Mllp,
    Http,
    /// HLLP blocks (HL7 Appendix C), with the checksum of `target.hllp` (default: XOR over the
    /// data bytes).
    Hllp,
}

/// The built-in endpoint's HTTP settings, mirroring a real partner's.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuiltinSpec {
    /// Basic auth the built-in HTTP endpoint requires.
    #[serde(default)]
    pub basic: Option<BasicAuth>,
    /// Connecting aliases allowed in MSH-4 (`alias{controller}`); empty: not checked.
    #[serde(default)]
    pub aliases: Vec<Text>,
    /// The built-in endpoint plays the file's target profile (`target.profile`) instead of its
    /// own e-health feed, as `serve --profile` does: it accepts the profile's versions,
    /// messages and processing ids, and answers AE where a message breaks the profile's message
    /// profiles (as its `missing_required` and `invalid_values` say; undeclared: reject).
    #[serde(default)]
    pub plays_profile: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    pub basic: BasicAuth,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub user: Text,
    /// From the environment only: `${VAR}`.
    pub password: Secret,
}

/// Where a message template comes from.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Template {
    /// A message file (`.hl7`, wire format); files with several messages give one case each.
    File(FileRef),
    /// Inline text; line breaks become the segment separator CR.
    Text(String),
    /// A glob relative to the scenario file (`../../corpus/adt/*.hl7`): one case per message.
    Glob(String),
    /// Bytes sent as they are, not parsed as HL7 (for non-HL7 frames); line breaks kept.
    Raw(String),
}

/// One test case: a message (or a sequence of steps), network faults, expectations and probes.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    /// Run in file order with the other serial cases, before the concurrent ones.
    #[serde(default)]
    pub serial: bool,
    /// The template to send (a single-step case).
    #[serde(default)]
    pub send: Option<String>,
    /// Field values to set before sending (`PID-5.1: "Dürst"`), escaped for the message.
    #[serde(default)]
    pub set: BTreeMap<FieldPath, Pattern>,
    /// Named edge-case mutations, applied in order.
    #[serde(default)]
    pub mutate: Vec<Mutation>,
    /// Expands the case into one case per mutation or per value.
    #[serde(default)]
    pub vary: Option<Vary>,
    /// Network faults applied while sending.
    #[serde(default)]
    pub network: Vec<NetworkFault>,
    #[serde(default)]
    pub expect: Expect,
    /// An effect probe after the ACK.
    #[serde(default)]
    pub probe: Option<Probe>,
    /// Several messages in order on one connection, with probes in between.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Connections opened at once; the message is sent on each, the last opened first.
    #[serde(default)]
    pub connections: Option<u32>,
    /// Generic check ids this case opts out of (e.g. `ack.err-present`).
    #[serde(default)]
    pub skip_checks: Vec<String>,
    /// Declarations of the target profile the case's expectations depend on (`versions`,
    /// `messages`, `processing_ids`, `acknowledgment_modes`, `missing_required`, …): when the
    /// profile leaves one out, the case still runs and its `expect.*` results report what it
    /// saw, never as errors.
    #[serde(default)]
    pub depends_on: Vec<crate::profile::Declaration>,
}

/// A case's `network:` faults, then each step's, in order: every fault the case's client
/// connection applies, in the order [`crate::faults::ClientFaults`] numbers its rules. The one
/// place the lists are combined, for the raw case (validation) and the resolved one.
pub(super) fn network_faults<'a>(
    case: &'a [NetworkFault],
    steps: &'a [Step],
) -> impl Iterator<Item = &'a NetworkFault> {
    case.iter().chain(steps.iter().flat_map(|s| s.network.iter()))
}

/// One step of a sequence.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub send: Option<String>,
    #[serde(default)]
    pub set: BTreeMap<FieldPath, Pattern>,
    #[serde(default)]
    pub mutate: Vec<Mutation>,
    /// Send a message again, byte for byte (same MSH-10): `true` for the previous step's,
    /// or the number of the step whose message to resend.
    #[serde(default)]
    pub resend: Option<Resend>,
    #[serde(default)]
    pub network: Vec<NetworkFault>,
    #[serde(default)]
    pub expect: Expect,
    #[serde(default)]
    pub probe: Option<Probe>,
    /// Pause before this step.
    #[serde(default)]
    pub wait: Option<Span>,
    /// Send the template's bytes exactly as they are: MSH-10 kept, no `set:` or `mutate:`.
    /// A pack recorded by `proxy --record` replays what crossed the proxy byte for byte.
    #[serde(default)]
    pub exact: bool,
}

/// Which earlier message a step resends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    Previous,
    Step(usize),
}

impl<'de> Deserialize<'de> for Resend {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Resend;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("true (the previous step's message) or a step number")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Resend, E> {
                if v {
                    Ok(Resend::Previous)
                } else {
                    Err(E::custom("resend: false means nothing; leave it out"))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Resend, E> {
                match usize::try_from(v) {
                    Ok(n) if n >= 1 => Ok(Resend::Step(n)),
                    _ => Err(E::custom("resend: step numbers start at 1")),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Resend, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("resend: step numbers start at 1"))
                    .and_then(|v| self.visit_u64(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Resend {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Resend::Previous => s.serialize_bool(true),
            Resend::Step(n) => s.serialize_u64(*n as u64),
        }
    }
}

impl JsonSchema for Resend {
    fn schema_name() -> Cow<'static, str> {
        "Resend".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "true: resend the previous step's message; N: resend step N's",
            "oneOf": [ { "const": true }, { "type": "integer", "minimum": 1 } ]
        })
    }
}

/// `vary:` — one case per mutation, or per value of one field.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Vary {
    Mutation(Vec<Mutation>),
    Values { field: FieldPath, values: Vec<String> },
}

/// What the case expects beyond the generic checks.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// MSA-1: a code (`AA`), a list of codes (`[AE, AR]`), `none` (no ACK may come), or
    /// `declared`: the answer HL7 v2 ch. 2 requires of a receiver that declares what the target
    /// profile says (a type, version or processing id it does not declare: AR; MSH-15/16 when
    /// it declares enhanced mode; AE/AR on a missing required field when it declares
    /// `missing_required: reject`; every answer the standard allows where it declares nothing).
    #[serde(default)]
    pub ack: Option<AckExpectation>,
    /// Take the MSA-1 expectation from the mutations' intent: a valid message must be accepted
    /// (AA/CA), an invalid one must not be (AE/AR/CE/CR); "either" expects nothing.
    #[serde(default)]
    pub by_intent: bool,
    /// Whether an ERR segment must (true) or must not (false) be in the ACK.
    #[serde(default)]
    pub err: Option<bool>,
    /// The HTTP status (HTTP targets).
    #[serde(default)]
    pub http_status: Option<u16>,
    /// The ACK must arrive within this time.
    #[serde(default)]
    pub max_ack_time: Option<Span>,
    /// The connection must stay open after the case (default: closing after the ACK is a
    /// warning, as the standard allows it).
    #[serde(default)]
    pub connection_open: Option<bool>,
    /// Case level only: whether the receiver must apply and answer the case's messages in the
    /// order they were sent (`kept`, the default) or may reorder them (`any`, a site whose
    /// messages are independent of each other).
    #[serde(default)]
    pub order: Option<Order>,
    /// The reply must be this message, compared field by field (`replay.reply`): a pack
    /// recorded by `proxy --record` expects the ACK the recorded system gave.
    #[serde(default)]
    pub reply: Option<ReplyExpectation>,
}

/// `expect: { reply: { file: acks/0001.hl7, ignore: [MSH-7, MSH-10] } }`: the exact reply a
/// step expects. Compared decoded and delimiter-independent (`hl7::diff`); the reply's
/// delimiters (MSH-1, MSH-2) and own MSH-7 and MSH-10 are never compared, since every answer
/// has new ones.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyExpectation {
    /// The expected reply (one HL7 message), relative to the scenario file.
    pub file: FileRef,
    /// Further paths left out of the comparison (`MSA-3`, `ERR`).
    #[serde(default)]
    pub ignore: Vec<FieldPath>,
    /// The file's message, read when the scenario is resolved, so the check does no I/O.
    #[serde(skip)]
    pub message: Vec<u8>,
}

/// The order rule of a case (`expect: { order: any }`), judged by `history.order`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Messages sent one at a time are applied in that order, and the ACKs on a connection
    /// come in the order of the messages.
    #[default]
    Kept,
    /// The receiver may apply and answer the messages in any order.
    Any,
}

/// Acceptable MSA-1 codes; `None` in the set means "no ACK". `declared`: the codes are not
/// written in the scenario but decided by the checks from the standard and the target profile
/// (`codes` is then empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckExpectation {
    pub codes: Vec<AckOutcome>,
    pub declared: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    Code(crate::hl7::ack::AckCode),
    None,
}

impl fmt::Display for AckOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AckOutcome::Code(code) => f.write_str(code.as_str()),
            AckOutcome::None => f.write_str("none"),
        }
    }
}

impl fmt::Display for AckExpectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.declared {
            return f.write_str("declared");
        }
        let codes: Vec<String> = self.codes.iter().map(ToString::to_string).collect();
        if codes.len() == 1 {
            f.write_str(&codes[0])
        } else {
            write!(f, "[{}]", codes.join(", "))
        }
    }
}

fn ack_outcome<E: de::Error>(text: &str) -> Result<AckOutcome, E> {
    if text == "none" {
        return Ok(AckOutcome::None);
    }
    crate::hl7::ack::AckCode::parse(text).map(AckOutcome::Code).ok_or_else(|| {
        E::custom(format!(
            "{text:?} is not an acknowledgment code (table 0008: AA, AE, AR, CA, CE, CR) or none"
        ))
    })
}

impl<'de> Deserialize<'de> for AckExpectation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Codes;
        impl<'de> Visitor<'de> for Codes {
            type Value = AckExpectation;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an acknowledgment code (AA) or a list of them ([AE, AR])")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AckExpectation, E> {
                if v == "declared" {
                    return Ok(AckExpectation { codes: Vec::new(), declared: true });
                }
                Ok(AckExpectation { codes: vec![ack_outcome(v)?], declared: false })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AckExpectation, A::Error> {
                let mut codes = Vec::new();
                while let Some(code) = seq.next_element::<String>()? {
                    codes.push(ack_outcome(&code)?);
                }
                if codes.is_empty() {
                    return Err(de::Error::custom("the list of acknowledgment codes is empty"));
                }
                Ok(AckExpectation { codes, declared: false })
            }
        }
        d.deserialize_any(Codes)
    }
}

impl Serialize for AckExpectation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.declared {
            return s.serialize_str("declared");
        }
        s.collect_seq(self.codes.iter().map(ToString::to_string))
    }
}

impl JsonSchema for AckExpectation {
    fn schema_name() -> Cow<'static, str> {
        "AckExpectation".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "MSA-1 code(s) expected; none: no acknowledgment; declared: what the \
                            standard requires given the target profile's declarations",
            "oneOf": [
                { "enum": ["AA", "AE", "AR", "CA", "CE", "CR", "none", "declared"] },
                { "type": "array", "minItems": 1,
                  "items": { "enum": ["AA", "AE", "AR", "CA", "CE", "CR", "none"] } }
            ]
        })
    }
}

/// An effect probe. Generic packs say *what* they want and leave *where* to the target
/// profile's `state:` mapping: `record:` (with `id:` and `fields:` or `absent:`) or
/// `applied:`. Site packs may also read a URL (`http_get:`) or run a `command:` directly.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// A record kind the target profile maps under `state.records` (`client`,
    /// `professional`, `message`, `logged_error`).
    #[serde(default)]
    pub record: Option<String>,
    /// The record's id, e.g. `{PID-3.1}`.
    #[serde(default)]
    pub id: Option<Pattern>,
    /// Values the record's fields must have, by the field names the profile maps (objects and
    /// arrays match by subset; strings may hold placeholders such as `{PID-5.1}`).
    #[serde(default)]
    pub fields: Option<BTreeMap<String, serde_json::Value>>,
    /// `true`: there must be no such record (nothing was applied).
    #[serde(default)]
    pub absent: Option<bool>,
    /// An MSH-10 (e.g. `{MSH-10}`) the applied log (`state.applied`) must list as often as the
    /// profile's `duplicates:` declares: once for `apply-once` and `reject`, once per delivery
    /// for `apply-each`, at least once otherwise.
    #[serde(default)]
    pub applied: Option<Pattern>,
    /// URL to GET, e.g. `{state}/clients/{PID-3.1}`.
    #[serde(default)]
    pub http_get: Option<Pattern>,
    /// Expected HTTP status (default 200).
    #[serde(default)]
    pub status: Option<u16>,
    /// Values the JSON response must contain (objects match by subset; strings may hold
    /// placeholders such as `{PID-5.1}`).
    #[serde(default)]
    pub json: Option<serde_json::Value>,
    /// A command (program and arguments, no shell) whose exit code and output are checked.
    #[serde(default)]
    pub command: Option<Vec<Pattern>>,
    /// Expected exit code of the command (default 0).
    #[serde(default)]
    pub exit: Option<i32>,
    /// Text the command's standard output must contain.
    #[serde(default)]
    pub stdout_contains: Option<Pattern>,
    /// How long the probe may take (default 5s).
    #[serde(default)]
    pub timeout: Option<Span>,
}
