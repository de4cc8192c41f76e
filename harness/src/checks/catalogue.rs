//! The catalogue of checks: each check's stable id, severity by the standard, the HL7 versions
//! it applies to and the rule it enforces with its citation. [`CATALOGUE`] is the rulebook.

use super::Severity;
use crate::vocab::CheckId;
use serde::Serialize;

/// A check in the catalogue: one row of the rulebook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckDef {
    pub id: CheckId,
    pub severity: Severity,
    /// The HL7 v2 versions (MSH-12 of the message acknowledged) the check applies to, as the
    /// rulebook prints them; `v2.x` is every version, `—` a check that is not a rule of HL7 v2.
    pub versions: &'static str,
    /// The rule, with its citation (chapter and section of HL7 v2.x, MLLP release 1 or 2, the
    /// HL7-over-HTTP specification, HLLP).
    pub rule: &'static str,
    pub summary: &'static str,
    /// Where the text is unclear, or the severity depends on the version: what and why. Empty
    /// when the rule is plain.
    pub note: &'static str,
}

/// Every HL7 v2 version.
const ALL: &str = "v2.x";
/// A scenario's own expectation or threshold, not a rule of the standard.
const NONE: &str = "—";

const MLLP: &str = "MLLP release 1 (HL7 v2 Appendix C, Minimal Lower Layer Protocol) and the HL7 \
                    Transport Specification MLLP release 2: a block is <SB>=0x0B, the message, \
                    <EB>=0x1C <CR>=0x0D, and nothing outside blocks";

macro_rules! catalogue {
    ($($name:ident = $id:literal, $severity:ident, versions: $versions:expr, rule: $rule:expr,
       summary: $summary:literal, note: $note:expr;)+) => {
        $(pub const $name: CheckDef = CheckDef {
            id: CheckId($id),
            severity: Severity::$severity,
            versions: $versions,
            rule: $rule,
            summary: $summary,
            note: $note,
        };)+
        /// Every check, generic and case-level: the rulebook.
        pub const CATALOGUE: &[CheckDef] = &[$($name),+];
    };
}

catalogue! {
    ACK_RECEIVED = "ack.received", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, 2.9.2 (original mode: the receiving application answers every \
               message with an application acknowledgment) and 2.9.3 (enhanced mode: an accept \
               acknowledgment unless MSH-15, table 0155, is NE, ER or SU)",
        summary: "an acknowledgment arrives within the timeout",
        note: "";
    ACK_ONE_PER_MESSAGE = "ack.one-per-message", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, 2.9.2 (original mode: one application acknowledgment per \
               message) and 2.9.3 (enhanced mode: at most one accept acknowledgment, CA/CE/CR, \
               and one application acknowledgment, AA/AE/AR, as MSH-15/16 ask)",
        summary: "one acknowledgment per message, or in enhanced mode one accept and one \
                  application acknowledgment",
        note: "";
    ACK_FRAMING = "ack.framing", Error, versions: ALL, rule: MLLP,
        summary: "the acknowledgment is framed 0x0B … 0x1C 0x0D with nothing outside the frame",
        note: "";
    ACK_PARSE = "ack.parse", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, the general acknowledgment ACK^varies^ACK: MSH, MSA, [ERR]",
        summary: "the acknowledgment is an HL7 message with an MSA segment",
        note: "";
    ACK_SEGMENT_TERMINATOR = "ack.segment-terminator", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, 2.5.4 (the segment terminator is <CR>, hex 0D)",
        summary: "the acknowledgment's segments end with CR",
        note: "";
    ACK_MSH_SWAP = "ack.msh-swap", Warning, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, MSH-3..6: MSH-3/4 identify the application and \
               facility that send a message, MSH-5/6 the ones it is for; the acknowledgment is \
               sent by the receiver to the sender",
        summary: "the ACK's MSH-5/6 name the message's sender (MSH-3/4), and its MSH-3/4 do not \
                  claim the message's sender as the ACK's own",
        note: "Chapter 2 defines the four fields for every message but states no rule that an \
               acknowledgment copies the message's MSH-5/6 into its MSH-3/4 and MSH-3/4 into its \
               MSH-5/6 (HAPI's ACK does). MSH-3/4 naming the receiver by another name than the \
               message's MSH-5/6 passes; the rest is unclear, so a warning";
    ACK_MSH9 = "ack.msh9", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, MSH-9 (MSG: message code ^ trigger event ^ message \
               structure) and the general acknowledgment ACK^varies^ACK; a message-specific response named by the \
               message's chapter: MFN^Mnn → MFK^Mnn^MFK_M01 (ch. 8), ORM^O01 → ORR^O02 (ch. 4), \
               OML^O21/O33/O35 → ORL^O22/O34/O36 (ch. 4), RDE^O11/O25 → RRE^O12/O26 (ch. 4A), \
               QBP^Qnn → RSP^Knn (ch. 3, 5), and the others of ch. 4/4A",
        summary: "MSH-9 is ACK^<trigger of the message>^ACK or the message's specific response",
        note: "By the version of the message (MSH-12): before v2.4 plain ACK passes (v2.1–v2.3 \
               MSG has two components, v2.3.1's structure is optional; the trigger was not \
               required on acknowledgments); v2.4–v2.5.1 a missing trigger or structure is a \
               warning (the components are optional in the data type table but ch. 2 shows \
               ACK^varies^ACK); from v2.6 they are required (MSG.1–3 usage R). A wrong code, \
               trigger or structure is an error in every version";
    ACK_MSH10 = "ack.msh10", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, MSH-10 message control ID (required; a number or \
               other identifier that uniquely identifies the message, assigned by the sending \
               system)",
        summary: "the ACK has an MSH-10 of its own (not empty, not the message's)",
        note: "Empty is an error. An ACK that repeats the acknowledged message's MSH-10 is a \
               warning: MSH-10 is unique per sending system, and the ACK's sender is another \
               system, so the repeat does not break uniqueness by the letter, but it cannot \
               identify the ACK itself";
    ACK_MSH7 = "ack.msh7", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, MSH-7 date/time of message (TS/DTM: \
               YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]); optional in v2.1–v2.3.1, \
               required from v2.4",
        summary: "MSH-7 is a valid timestamp (and present from v2.4)",
        note: "An empty MSH-7 passes when the message acknowledged is v2.1–v2.3.1 (the MSH \
               table marks it optional there) and fails from v2.4; a malformed one fails in \
               every version";
    ACK_MSH11_ECHO = "ack.msh11-echo", Warning, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, MSH-11 processing ID",
        summary: "MSH-11 of the ACK echoes the message's processing id",
        note: "Chapter 2 does not say that a response carries the message's processing id; \
               answering in another mode is at most a warning";
    ACK_MSH12_ECHO = "ack.msh12-echo", Warning, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, MSH-12 version ID",
        summary: "MSH-12 of the ACK echoes the message's version",
        note: "Chapter 2 does not require the response's version to be the message's; a \
               warning";
    ACK_ENCODING_CHARACTERS = "ack.encoding-characters", Warning, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, MSH-1/MSH-2 (each message declares its own \
               delimiters)",
        summary: "the ACK uses the message's field separator and encoding characters",
        note: "A receiver may declare other delimiters in its own MSH-1/2; answering with the \
               sender's is advice, not a rule, so a warning";
    ACK_MSA1_VALID = "ack.msa1-valid", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, MSA-1 acknowledgment code, table 0008: AA/AE/AR in \
               original mode; in enhanced mode (MSH-15/16 valued, 2.9.3) CA/CE/CR for the \
               accept acknowledgment and AA/AE/AR for the application acknowledgment",
        summary: "MSA-1 is a table 0008 code valid for the acknowledgment mode",
        note: "A receiver that does not implement enhanced mode may ignore MSH-15/16 and \
               answer in original mode (AA/AE/AR): that passes";
    ACK_MSA2_ECHO = "ack.msa2-echo", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, MSA-2 message control ID: the MSH-10 of the message \
               acknowledged",
        summary: "MSA-2 equals the MSH-10 that was sent",
        note: "";
    ACK_ERR_PRESENT = "ack.err-present", Warning, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, ERR segment (optional in the general acknowledgment ACK^varies^ACK)",
        summary: "an ERR segment accompanies a negative acknowledgment",
        note: "ERR is optional in the ACK structure; without it the sender learns less, so a \
               warning";
    HTTP_STATUS_MAPPING = "http.status-mapping", Error, versions: ALL,
        rule: "HL7 over HTTP (hapi-hl7overhttp specification), 2.6 HTTP Response Codes: an HL7 \
               response payload MUST come with HTTP 2xx, AR/AE/CR/CE included (\"Application \
               Error Conditions\"); a non-2xx response MUST NOT have an HL7 content type \
               (\"Content Type for Error Conditions\")",
        summary: "every HL7 answer over HTTP has a 2xx status, and a non-2xx answer is not HL7",
        note: "The superseded draft (1.3 HTTP Response Codes: AR/CR → 400, AE/CE → 500) is \
               not followed; HAPI maps every acknowledgment code to 200";
    HTTP_CONTENT_TYPE = "http.content-type", Error, versions: ALL,
        rule: "HL7 over HTTP (hapi-hl7overhttp specification), 2.4 Content Type and Character \
               Set: the response message SHALL include a Content-Type header, application/hl7-v2 \
               for an ER7 message (application/hl7-v2+er7 and the x-application/ forms are \
               accepted), and SHALL include a charset definition",
        summary: "an HL7 response over HTTP is labelled with an HL7 v2 content type and a charset",
        note: "";
    CONNECTION_OPEN = "connection.open", Warning, versions: ALL,
        rule: "MLLP release 1 (HL7 v2 Appendix C, Minimal Lower Layer Protocol) leaves \
               connection handling to the sites; connections are normally persistent",
        summary: "the connection is still open after the case",
        note: "Closing after an ACK is allowed; a warning";
    CONNECTION_BYTES_OUTSIDE_BLOCKS = "connection.bytes-outside-blocks", Error, versions: ALL,
        rule: "the target profile's `bytes_outside_blocks: skip` (MLLP release 1, HL7 v2 \
               Appendix C, says nothing of bytes outside blocks: a receiver may skip them or \
               close; the message is then resent on a clean connection)",
        summary: "a receiver that declares it skips bytes outside blocks answers the block after \
               them on the same connection",
        note: "Judged only with `bytes_outside_blocks: skip` declared; otherwise closing is a \
               permitted choice, and the resend must be answered (`ack.received`, \
               `history.nothing-lost`)";
    EXPECT_ACK = "expect.ack", Error, versions: NONE,
        rule: "the scenario's expectation (MSA-1, table 0008)",
        summary: "MSA-1 is one of the codes the case expects",
        note: "";
    EXPECT_ERR = "expect.err", Error, versions: NONE,
        rule: "the scenario's expectation (ERR segment)",
        summary: "an ERR segment is present or absent as the case expects",
        note: "";
    EXPECT_HTTP_STATUS = "expect.http-status", Error, versions: NONE,
        rule: "the scenario's expectation (HTTP status)",
        summary: "the HTTP status is the one the case expects",
        note: "";
    EXPECT_ACK_TIME = "expect.ack-time", Error, versions: NONE,
        rule: "the scenario's expectation (max_ack_time)",
        summary: "the acknowledgment arrives within the case's max_ack_time",
        note: "";
    EXPECT_CONNECTION_OPEN = "expect.connection-open", Error, versions: NONE,
        rule: "the scenario's expectation (connection_open)",
        summary: "the connection is open (or closed) after the case as the case expects",
        note: "";
    PROBE = "probe", Error, versions: NONE,
        rule: "the scenario's effect probe",
        summary: "the effect probe finds what the message should have done",
        note: "";
    PROBE_UNAVAILABLE = "probe.unavailable", Info, versions: NONE,
        rule: "the scenario's effect probe needs what the target profile's state: mapping does \
               not give (a record, a field, the applied log, a state URL)",
        summary: "the effect probe could run (the effect is not judged otherwise)",
        note: "Not judged, never failed: the harness can read a system's effects only where its \
               profile says how.";
    REPLAY_REPLY = "replay.reply", Error, versions: NONE,
        rule: "the scenario's expectation (`expect.reply`: the reply a recorded system gave, \
               compared field by field, decoded and delimiter-independent; the reply's MSH-1, \
               MSH-2, MSH-7 and MSH-10 left out)",
        summary: "the reply is the one the case expects (a recorded pack: the one the recorded \
                  system gave)",
        note: "An error when no reply came or MSA-1 differs; a warning when only other fields \
               differ (the answer means the same to the sender, but the system changed). The \
               evidence is the field-level diff";
    SENDER_DELIVERED = "sender.delivered", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, 2.9.2 original mode: a message is delivered when the \
               receiver accepts it (AA with its control ID in MSA-2); the sender keeps sending it \
               until then, so a message neither accepted nor rejected (AE/AR) is lost",
        summary: "every message the sender was to send ended accepted (or explicitly rejected)",
        note: "";
    SENDER_MSH10_KEPT = "sender.msh10-kept", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, MSH-10 message control ID: a retransmission is the \
               same message with the same control ID, so the receiver can recognise the \
               duplicate",
        summary: "retransmissions of a message keep its MSH-10",
        note: "";
    SENDER_WAITS_FOR_ACK = "sender.waits-for-ack", Error, versions: ALL,
        rule: "MLLP release 2 (HL7 Transport Specification), and original mode (HL7 v2.5.1 \
               ch. 2, 2.9.2): the sender waits for the acknowledgment of a message before it \
               sends the next one",
        summary: "a new message comes only after the previous one on the connection was answered",
        note: "";
    SENDER_ORDER = "sender.order", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, 2.9.2: one message at a time, each acknowledged before the \
               next, so messages arrive in the order of their events (e.g. A04 before A08)",
        summary: "the messages arrive in the order the sender was to send them",
        note: "";
    SENDER_CONTENT = "sender.content", Error, versions: NONE,
        rule: "the target profile's message_profiles (the interface specification): usage R \
               and X, cardinality, length, data type, value sets, fixed values, patterns, \
               predicates and conformance statements of every message the sender delivered",
        summary: "every message the sender delivered meets the interface specification",
        note: "An error for an R element missing, an X element present, a value outside a \
               required value set, a bad data type or a broken statement; a warning (this \
               check failed at warning severity) when the only findings are RE elements left \
               empty or suggested value sets, which the sender may have had no data for. Run \
               only when the target profile has message_profiles.";
    THROUGH_ENGINE_RAN = "through.engine-ran", Error, versions: NONE,
        rule: "an engine under test that cannot be started, or stops while the case runs \
               (a crash, a configuration it refuses), has not shown what it forwards",
        summary: "the engine the case starts started and kept running until the case ended",
        note: "Run when the scenario starts the engine (through.sut).";
    THROUGH_DELIVERED = "through.delivered", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, 2.9.2 original mode, applied to each hop: a message the engine \
               took is delivered to each destination once; a resend keeps MSH-10 (ch. 2, MSH-10) \
               so the destination can recognise it, and a second copy under another control ID \
               is a duplicate",
        summary: "every expected output arrived at its destination, once",
        note: "";
    THROUGH_CONTENT = "through.content", Error, versions: NONE,
        rule: "the case's expected output: every value, decoded (escapes resolved, character \
               set applied) and independent of the delimiters, equal to the expected message's \
               but for the paths the case ignores",
        summary: "each output is the expected message, field by field",
        note: "";
    THROUGH_UNEXPECTED = "through.unexpected", Error, versions: NONE,
        rule: "the case's routing: nothing arrives at a destination that the case does not \
               expect there (a filtered input, another destination's output, a message of no \
               input)",
        summary: "nothing arrived that was not expected",
        note: "";
    THROUGH_ORDER = "through.order", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, 2.9.2: messages are passed on in the order of their events \
               (an A08 must not overtake its A04); an engine keeps each destination's outputs \
               in the order it accepted the inputs",
        summary: "each destination received its outputs in the input order",
        note: "Run when a destination expects more than one output of the case and the case \
               does not allow reordering.";
    THROUGH_LATENCY = "through.latency", Error, versions: NONE,
        rule: "the case's `within:`: the time from sending the input to the first arrival of \
               its output",
        summary: "each output arrived within the time the case allows",
        note: "";
    THROUGH_INPUT_ACK = "through.input-ack", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, 2.9.2 and 2.9.3: an accept (AA, CA) commits the receiver to \
               the message; an engine that accepts an input must deliver it (or the case says \
               it filters it), and an input it refused (AE, AR, CE, CR) must not come out",
        summary: "the engine accepted no input it then dropped, and forwarded none it refused",
        note: "";
    SUT_RAN = "sut.ran", Error, versions: NONE,
        rule: "a sender under test that cannot be started, or does not finish within the case \
               timeout, has not shown conformance",
        summary: "the sender under test started and finished within the case timeout",
        note: "";
    EXPECT_ARRIVALS = "expect.arrivals", Error, versions: NONE,
        rule: "the scenario's expectation (min_arrivals, max_arrivals)",
        summary: "the number of arrivals, retransmissions included, is within the case's bounds",
        note: "";
    EXPECT_RETRY_INTERVAL = "expect.retry-interval", Error, versions: NONE,
        rule: "the scenario's expectation (retry_interval: no retry storm, no giving up)",
        summary: "retransmissions of a message are spaced within the case's bounds",
        note: "";
    EXPECT_SUT_EXIT = "expect.sut-exit", Error, versions: NONE,
        rule: "the scenario's expectation (the sender under test's exit code)",
        summary: "the sender under test exits with the code the case expects",
        note: "";
    HISTORY_NOTHING_LOST = "history.nothing-lost", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, 2.9.2 original mode: the sender keeps sending a message until \
               it is acknowledged; one never acknowledged by an ACK of its own after every \
               attempt is lost",
        summary: "every message the case expects answered got its own ACK (AA, AE or AR) in the end",
        note: "";
    HISTORY_NO_FALSE_SUCCESS = "history.no-false-success", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, MSA-2: an acknowledgment belongs to the message whose \
               MSH-10 it echoes; an accepting code (AA, CA) naming another message makes a \
               sender that pairs ACKs by arrival count its message delivered",
        summary: "no message is answered by an accepting ACK that names another message",
        note: "Only AA and CA can be a false success: an AE/AR (CE/CR) names no success, and an \
               empty MSA-2 (the only possible echo of a frame without MSH-10) names no other \
               message; ack.msa2-echo judges the echo itself";
    HISTORY_DUPLICATES = "history.duplicates", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, 2.9.2 and MSH-10: a message whose outcome is unknown is \
               sent again unchanged (same MSH-10); the receiver answers the retransmission too \
               and applies it once",
        summary: "a message sent again was resent only after an indeterminate outcome, and answered",
        note: "";
    HISTORY_ORDER = "history.order", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, 2.9.2 original mode, and MLLP release 2 (HL7 Transport \
               Specification): a sender sends the next message only after the previous one is \
               acknowledged, so a receiver applies messages sent that way in the order sent, and \
               each ACK on a connection answers the oldest unanswered message",
        summary: "messages sent one at a time on a connection are applied, and answered, in that order",
        note: "Under pipelining, which MLLP does not permit a sender, reordered ACKs or effects \
               are a warning; a target whose profile names no applied log (state.applied) is not \
               judged (an info), and a declared log that cannot be read is a warning";
    LIVENESS_CANARY = "liveness.canary", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, 2.9.2 and MLLP release 1: a receiver answers every message on \
               every connection; a peer's misbehaviour on one connection must not stop it \
               serving others",
        summary: "a plain message on a new connection during and after the faults gets its own ACK",
        note: "A receiver may close a connection it was not yet sent anything on (an idle \
               close); a canary closed or reset before its answer goes again on a new \
               connection, as a sender reconnects, at most 3 connections within the ACK \
               timeout";
    HLLP_DAMAGED_BLOCK_REFUSED = "hllp.damaged-block-refused", Error, versions: ALL,
        rule: "HL7 v2 Appendix C, Hybrid Lower Layer Protocol, 2.3 Processing Rules: a block \
               whose size or checksum is wrong is answered with an N block (reason C or X) and \
               not processed",
        summary: "a data block with a wrong checksum is refused with an N block, not answered",
        note: "";
    CASE_RAN = "case.ran", Error, versions: NONE,
        rule: "a case that cannot reach its target has not shown conformance",
        summary: "the case could connect and send",
        note: "";
    LOAD_LOST = "load.lost", Error, versions: ALL,
        rule: "HL7 v2.5.1 ch. 2, 2.9.2 original mode: every message is answered with an \
               acknowledgment; a message sent under load and never answered is lost",
        summary: "under load, no more messages lost (sent, never acknowledged) than the threshold allows",
        note: "";
    LOAD_P50 = "load.p50", Error, versions: NONE, rule: LOAD_RULE,
        summary: "median ACK latency under load within the threshold", note: "";
    LOAD_P90 = "load.p90", Error, versions: NONE, rule: LOAD_RULE,
        summary: "90th percentile ACK latency within the threshold", note: "";
    LOAD_P99 = "load.p99", Error, versions: NONE, rule: LOAD_RULE,
        summary: "99th percentile ACK latency within the threshold", note: "";
    LOAD_P999 = "load.p999", Error, versions: NONE, rule: LOAD_RULE,
        summary: "99.9th percentile ACK latency within the threshold", note: "";
    LOAD_MAX = "load.max", Error, versions: NONE, rule: LOAD_RULE,
        summary: "slowest ACK under load within the threshold", note: "";
    LOAD_MEAN = "load.mean", Error, versions: NONE, rule: LOAD_RULE,
        summary: "mean ACK latency under load within the threshold", note: "";
    LOAD_TIMEOUTS = "load.timeouts", Error, versions: NONE, rule: LOAD_RULE,
        summary: "ACK timeouts under load within the threshold", note: "";
    LOAD_ERRORS = "load.errors", Error, versions: NONE, rule: LOAD_RULE,
        summary: "connection errors under load within the threshold", note: "";
    LOAD_REJECTED = "load.rejected", Error, versions: NONE, rule: LOAD_RULE,
        summary: "negative ACKs (AE, AR, …) under load within the threshold", note: "";
    LOAD_THROUGHPUT = "load.throughput", Error, versions: NONE, rule: LOAD_RULE,
        summary: "messages finished per second within the threshold", note: "";
}

const LOAD_RULE: &str = "the scenario's load threshold (an interface's agreed capacity before \
                         go-live; not a rule of HL7 v2)";

/// Ids a case may opt out of (the generic checks).
pub fn generic_ids() -> Vec<&'static str> {
    CATALOGUE
        .iter()
        .filter(|c| {
            !c.id.starts_with("expect.")
                && !c.id.starts_with("load.")
                && ![PROBE.id, PROBE_UNAVAILABLE.id, CASE_RAN.id].contains(&c.id)
        })
        .map(|c| c.id.as_str())
        .collect()
}
