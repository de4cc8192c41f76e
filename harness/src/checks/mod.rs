//! Conformance checks: pure functions from observations to results. Each check has a stable id,
//! a severity by the standard (an error is a violation of HL7 v2 chapter 2, the ACK rules or
//! MLLP framing, or a lost message; what the standard permits is at most a warning), the rule it
//! enforces, and evidence when it fails.
//!
//! The generic checks run on every acknowledgment unless a case opts out (`skip_checks`); the
//! case-level ones (`expect.*`, `probe.*`) come from the scenario.

mod ack;
mod case;
mod declared;
mod history;
mod order;
mod sender;

pub use declared::{allowed_answers, Allowed};
pub use sender::content_key;

pub use crate::hl7::finding::Severity;
use serde::Serialize;

/// A check in the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckDef {
    pub id: &'static str,
    pub severity: Severity,
    pub rule: &'static str,
    pub summary: &'static str,
}

const MLLP: &str = "MLLP release 1 (HL7 v2 transport specification): a block is 0x0B, the \
                    message, 0x1C 0x0D, and nothing outside blocks";

macro_rules! catalogue {
    ($($name:ident = $id:literal, $severity:ident, $rule:expr, $summary:literal;)+) => {
        $(pub const $name: CheckDef = CheckDef {
            id: $id,
            severity: Severity::$severity,
            rule: $rule,
            summary: $summary,
        };)+
        /// Every check, generic and case-level.
        pub const CATALOGUE: &[CheckDef] = &[$($name),+];
    };
}

catalogue! {
    ACK_RECEIVED = "ack.received", Error,
        "HL7 v2.5.1 ch. 2, original acknowledgment mode: every message is answered with an \
         acknowledgment (MSH-15 NE/ER/SU aside in enhanced mode)",
        "an acknowledgment arrives within the timeout";
    ACK_ONE_PER_MESSAGE = "ack.one-per-message", Error,
        "HL7 v2.5.1 ch. 2, message processing rules: one acknowledgment per message",
        "exactly one acknowledgment per message, no duplicates";
    ACK_FRAMING = "ack.framing", Error, MLLP,
        "the acknowledgment is framed 0x0B … 0x1C 0x0D with nothing outside the frame";
    ACK_PARSE = "ack.parse", Error,
        "HL7 v2.5.1 ch. 2, the ACK message: MSH, MSA [ERR]",
        "the acknowledgment is an HL7 message with an MSA segment";
    ACK_SEGMENT_TERMINATOR = "ack.segment-terminator", Error,
        "HL7 v2.5.1 ch. 2, 2.5.4 (segment terminator is <CR>, hex 0D)",
        "the acknowledgment's segments end with CR";
    ACK_MSH_SWAP = "ack.msh-swap", Error,
        "HL7 v2.5.1 ch. 2, MSH-3..6: the response is sent from the receiving application and \
         facility (MSH-5/6 of the message) to the sending ones (MSH-3/4)",
        "MSH-3/4 of the ACK are MSH-5/6 of the message and MSH-5/6 are MSH-3/4";
    ACK_MSH9 = "ack.msh9", Error,
        "HL7 v2.5.1 ch. 2, MSH-9 and the ACK message: ACK^<trigger>^ACK (the trigger and \
         structure components exist from v2.3.1 and v2.4; plain ACK before v2.4 is a warning)",
        "MSH-9 is ACK^<trigger of the message>^ACK";
    ACK_MSH10 = "ack.msh10", Error,
        "HL7 v2.5.1 ch. 2, MSH-10 message control ID (required)",
        "the ACK has its own MSH-10";
    ACK_MSH7 = "ack.msh7", Error,
        "HL7 v2.5.1 ch. 2, MSH-7 date/time of message (required, TS/DTM: YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ])",
        "MSH-7 is a valid timestamp";
    ACK_MSH11_ECHO = "ack.msh11-echo", Warning,
        "HL7 v2.5.1 ch. 2, MSH-11 processing ID: the response is processed in the same mode",
        "MSH-11 of the ACK echoes the message's processing id";
    ACK_MSH12_ECHO = "ack.msh12-echo", Warning,
        "HL7 v2.5.1 ch. 2, MSH-12 version ID: the response is in the version of the message",
        "MSH-12 of the ACK echoes the message's version";
    ACK_ENCODING_CHARACTERS = "ack.encoding-characters", Warning,
        "HL7 v2.5.1 ch. 2, MSH-1/MSH-2: the responder answers with the sender's delimiters",
        "the ACK uses the message's field separator and encoding characters";
    ACK_MSA1_VALID = "ack.msa1-valid", Error,
        "HL7 v2.5.1 ch. 2, MSA-1 acknowledgment code, table 0008 (AA/AE/AR in original mode; \
         CA/CE/CR accept acknowledgments in enhanced mode)",
        "MSA-1 is a table 0008 code valid for the acknowledgment mode";
    ACK_MSA2_ECHO = "ack.msa2-echo", Error,
        "HL7 v2.5.1 ch. 2, MSA-2 message control ID: the MSH-10 of the message acknowledged",
        "MSA-2 equals the MSH-10 that was sent";
    ACK_ERR_PRESENT = "ack.err-present", Warning,
        "HL7 v2.5.1 ch. 2, ERR segment: reports the error behind an AE/AR/CE/CR",
        "an ERR segment accompanies a negative acknowledgment";
    HTTP_STATUS_MAPPING = "http.status-mapping", Warning,
        "HL7 over HTTP: AA/CA → 200, AR/CR → 400, AE/CE → 500, each with the ACK in the body",
        "the HTTP status matches the acknowledgment code";
    HTTP_CONTENT_TYPE = "http.content-type", Warning,
        "HL7 over HTTP: Content-Type application/hl7-v2 with a charset parameter",
        "the response has an HL7 v2 content type";
    CONNECTION_OPEN = "connection.open", Warning,
        "HL7 v2.5.1 ch. 2 leaves the connection to the transport; MLLP connections are \
         normally persistent, closing after an ACK is allowed",
        "the connection is still open after the case";
    EXPECT_ACK = "expect.ack", Error,
        "the scenario's expectation (MSA-1, table 0008)",
        "MSA-1 is one of the codes the case expects";
    EXPECT_ERR = "expect.err", Error,
        "the scenario's expectation (ERR segment)",
        "an ERR segment is present or absent as the case expects";
    EXPECT_HTTP_STATUS = "expect.http-status", Error,
        "the scenario's expectation (HTTP status)",
        "the HTTP status is the one the case expects";
    EXPECT_ACK_TIME = "expect.ack-time", Error,
        "the scenario's expectation (max_ack_time)",
        "the acknowledgment arrives within the case's max_ack_time";
    EXPECT_CONNECTION_OPEN = "expect.connection-open", Error,
        "the scenario's expectation (connection_open)",
        "the connection is open (or closed) after the case as the case expects";
    PROBE = "probe", Error,
        "the scenario's effect probe",
        "the effect probe finds what the message should have done";
    PROBE_UNAVAILABLE = "probe.unavailable", Warning,
        "the scenario's effect probe needs a state endpoint the target does not offer",
        "the effect probe could run (the effect is unverified otherwise)";
    SENDER_DELIVERED = "sender.delivered", Error,
        "HL7 v2.5.1 ch. 2, original acknowledgment mode: a message is delivered when the \
         receiver accepts it (AA with its control ID in MSA-2); the sender keeps sending it until \
         then, so a message neither accepted nor rejected (AE/AR) is lost",
        "every message the sender was to send ended accepted (or explicitly rejected)";
    SENDER_MSH10_KEPT = "sender.msh10-kept", Error,
        "HL7 v2.5.1 ch. 2, MSH-10 message control ID: a retransmission is the same message with \
         the same control ID, so the receiver can recognise the duplicate",
        "retransmissions of a message keep its MSH-10";
    SENDER_WAITS_FOR_ACK = "sender.waits-for-ack", Error,
        "MLLP (HL7 v2 transport specification) with original acknowledgment: the sender waits for \
         the acknowledgment of a message before it sends the next one",
        "a new message comes only after the previous one on the connection was answered";
    SENDER_ORDER = "sender.order", Error,
        "HL7 v2.5.1 ch. 2, message processing rules: one message at a time, each acknowledged \
         before the next, so messages arrive in the order of their events (e.g. A04 before A08)",
        "the messages arrive in the order the sender was to send them";
    SUT_RAN = "sut.ran", Error,
        "a sender under test that cannot be started, or does not finish within the case \
         timeout, has not shown conformance",
        "the sender under test started and finished within the case timeout";
    EXPECT_ARRIVALS = "expect.arrivals", Error,
        "the scenario's expectation (min_arrivals, max_arrivals)",
        "the number of arrivals, retransmissions included, is within the case's bounds";
    EXPECT_RETRY_INTERVAL = "expect.retry-interval", Error,
        "the scenario's expectation (retry_interval: no retry storm, no giving up)",
        "retransmissions of a message are spaced within the case's bounds";
    EXPECT_SUT_EXIT = "expect.sut-exit", Error,
        "the scenario's expectation (the sender under test's exit code)",
        "the sender under test exits with the code the case expects";
    HISTORY_NOTHING_LOST = "history.nothing-lost", Error,
        "HL7 v2.5.1 ch. 2, original acknowledgment mode: the sender keeps sending a message \
         until it is acknowledged; one never acknowledged by an ACK of its own after every \
         attempt is lost (graded an error)",
        "every message the case expects answered got its own ACK (AA, AE or AR) in the end";
    HISTORY_NO_FALSE_SUCCESS = "history.no-false-success", Error,
        "HL7 v2.5.1 ch. 2, MSA-2: an acknowledgment belongs to the message whose MSH-10 it \
         echoes; counting another message's ACK (a late or stale one) is a false success",
        "no message is answered by an ACK that names another message";
    HISTORY_DUPLICATES = "history.duplicates", Error,
        "HL7 v2.5.1 ch. 2: a message whose outcome is unknown is sent again unchanged (same \
         MSH-10); the receiver answers the retransmission too and applies it once",
        "a message sent again was resent only after an indeterminate outcome, and answered";
    HISTORY_ORDER = "history.order", Error,
        "HL7 v2.5.1 ch. 2, message processing rules in original acknowledgment mode, and MLLP release 2 (HL7 v2 \
         transport specification): a sender sends the next message only after the previous one \
         is acknowledged, so a receiver applies messages sent that way in the order sent, and \
         each ACK on a connection answers the oldest unanswered message (under pipelining, \
         which MLLP does not permit a sender, a warning); unjudgeable without an applied log \
         (a warning)",
        "messages sent one at a time on a connection are applied, and answered, in that order";
    LIVENESS_CANARY = "liveness.canary", Error,
        "HL7 v2.5.1 ch. 2 and MLLP release 1: a receiver answers every message on every \
         connection; a peer's misbehaviour on one connection must not stop it serving others",
        "a plain message on a new connection during and after the faults gets its own ACK";
    HLLP_DAMAGED_BLOCK_REFUSED = "hllp.damaged-block-refused", Error,
        "HL7 v2 Appendix C (HLLP), 2.3 processing rules: a block whose size or checksum is \
         wrong is answered with an N block (reason C or X) and not processed",
        "a data block with a wrong checksum is refused with an N block, not answered";
    CASE_RAN = "case.ran", Error,
        "a case that cannot reach its target has not shown conformance",
        "the case could connect and send";
    LOAD_LOST = "load.lost", Error,
        "HL7 v2.5.1 ch. 2, original acknowledgment mode: every message is answered with an \
         acknowledgment; a message sent under load and never answered is lost",
        "under load, no more messages lost (sent, never acknowledged) than the threshold allows";
    LOAD_P50 = "load.p50", Error, LOAD_RULE, "median ACK latency under load within the threshold";
    LOAD_P90 = "load.p90", Error, LOAD_RULE, "90th percentile ACK latency within the threshold";
    LOAD_P99 = "load.p99", Error, LOAD_RULE, "99th percentile ACK latency within the threshold";
    LOAD_P999 = "load.p999", Error, LOAD_RULE, "99.9th percentile ACK latency within the threshold";
    LOAD_MAX = "load.max", Error, LOAD_RULE, "slowest ACK under load within the threshold";
    LOAD_MEAN = "load.mean", Error, LOAD_RULE, "mean ACK latency under load within the threshold";
    LOAD_TIMEOUTS = "load.timeouts", Error, LOAD_RULE, "ACK timeouts under load within the threshold";
    LOAD_ERRORS = "load.errors", Error, LOAD_RULE, "connection errors under load within the threshold";
    LOAD_REJECTED = "load.rejected", Error, LOAD_RULE, "negative ACKs (AE, AR, …) under load within the threshold";
    LOAD_THROUGHPUT = "load.throughput", Error, LOAD_RULE, "messages finished per second within the threshold";
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
        .map(|c| c.id)
        .collect()
}

/// One check applied to one observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub id: &'static str,
    pub severity: Severity,
    pub rule: &'static str,
    /// The step (1-based) the result is about; `None` for the case as a whole.
    pub step: Option<usize>,
    pub passed: bool,
    /// What failed: the bytes or field values. Empty when passed.
    pub evidence: String,
}

impl CheckResult {
    pub fn pass(def: CheckDef, step: Option<usize>) -> CheckResult {
        CheckResult {
            id: def.id,
            severity: def.severity,
            rule: def.rule,
            step,
            passed: true,
            evidence: String::new(),
        }
    }

    pub fn fail(def: CheckDef, step: Option<usize>, evidence: impl Into<String>) -> CheckResult {
        CheckResult {
            id: def.id,
            severity: def.severity,
            rule: def.rule,
            step,
            passed: false,
            evidence: evidence.into(),
        }
    }

    /// A missing answer to a frame the harness itself ended with `0x1C` and no `0x0D`
    /// (`missing_trailer_cr`) is a warning, not an error: MLLP release 1 ends a block with
    /// <EB><CR>, so that frame never ended, and the standard does not require a receiver to
    /// resynchronise at the next <SB> (the frame after it may be swallowed too). Robust
    /// receivers do, so it is still reported.
    pub fn after_harness_framing_violation(
        self,
        exchange: &crate::runner::observation::Exchange,
    ) -> CheckResult {
        if self.passed || !exchange.faults.iter().any(|f| f == "missing_trailer_cr") {
            return self;
        }
        let evidence = format!(
            "{}; the harness ended the frame(s) with 0x1C and no 0x0D (MLLP release 1 block: \
             <SB>data<EB><CR>), so not answering is permitted, though a robust receiver \
             resynchronises at the next <SB>",
            self.evidence
        );
        CheckResult { evidence, ..self.with_severity(Severity::Warning) }
    }

    /// A failure with a different severity than the catalogue's (e.g. plain `ACK` in MSH-9
    /// before v2.4 is only a warning).
    pub fn with_severity(mut self, severity: Severity) -> CheckResult {
        self.severity = severity;
        self
    }

    pub fn is_error(&self) -> bool {
        !self.passed && self.severity == Severity::Error
    }
}

/// Every check over one case's observations, minus the ones the case opted out of.
pub fn evaluate(case: &crate::runner::observation::CaseObservation) -> Vec<CheckResult> {
    let mut results = Vec::new();
    if let Some(event) = &case.aborted {
        results.push(CheckResult::fail(
            CASE_RAN,
            None,
            format!("{}: {}", event.code, event.detail),
        ));
        return results;
    }
    for (i, exchange) in case.exchanges.iter().enumerate() {
        ack::exchange(exchange, &mut results);
        let id = control_id(&exchange.sent);
        let resent = id.is_some() && case.exchanges[..i].iter().any(|e| control_id(&e.sent) == id);
        case::expectations(exchange, case.profile.as_deref(), resent, &mut results);
    }
    case::case_level(case, &mut results);
    sender::receiver_case(case, &mut results);
    history::history(case, &mut results);
    order::order(case, &mut results);
    results.retain(|r| !case.skip_checks.iter().any(|s| s == r.id));
    declared::grade(case, &mut results);
    results
}

/// MSH-10 of a sent payload, when it parses.
fn control_id(payload: &[u8]) -> Option<String> {
    crate::hl7::Message::parse(payload).ok()?.control_id().map(str::to_string)
}

/// Shows bytes for evidence: printable ASCII kept, CR as `\r`, others as `\xNN`; cut at `max`.
pub fn show_bytes(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    for &b in bytes.iter().take(max) {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02X}")),
        }
    }
    if bytes.len() > max {
        out.push_str(&format!("… ({} bytes)", bytes.len()));
    }
    out
}

#[cfg(test)]
mod tests;
