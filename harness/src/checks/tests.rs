//! Every check, failing on a defective observation and passing on a correct one.

use super::*;
use crate::checks::CasePlan;
use crate::observation::*;
use crate::scenario::{AckExpectation, AckOutcome, Expect, Span};
use std::time::Duration;

const SENT: &str =
    "MSH|^~\\&|SA|SF|RA|RF|20240101120000||ADT^A04^ADT_A01|M1|P|2.5\rPID|1||C1||Doe^Jo\r";
const GOOD: &str = "MSH|^~\\&|RA|RF|SA|SF|20240101120001||ACK^A04^ACK|A1|P|2.5\rMSA|AA|M1\r";

fn exchange(sent: &str, reply: Option<&str>) -> Ex {
    Ex::from(Exchange {
        step: 1,
        connection: 1,
        sent: sent.as_bytes().to_vec(),
        raw: false,
        replies: reply
            .map(|r| Reply {
                payload: r.as_bytes().to_vec(),
                notes: Vec::new(),
                elapsed: Duration::from_millis(3),
            })
            .into_iter()
            .collect(),
        ack_timeout: Duration::from_secs(1),
        event: None,
        http: None,
        intent: None,
        faults: Vec::new(),
        attempts: Vec::new(),
        reply_order: Vec::new(),
        after_outside_bytes: false,
        waits: Vec::new(),
    })
}

/// An exchange with the expectation of its step (tests write both side by side).
#[derive(Debug, Clone)]
struct Ex {
    exchange: Exchange,
    expect: Expect,
}

impl From<Exchange> for Ex {
    fn from(exchange: Exchange) -> Ex {
        Ex { exchange, expect: Expect::default() }
    }
}

impl std::ops::Deref for Ex {
    type Target = Exchange;
    fn deref(&self) -> &Exchange {
        &self.exchange
    }
}

impl std::ops::DerefMut for Ex {
    fn deref_mut(&mut self) -> &mut Exchange {
        &mut self.exchange
    }
}

/// A case's observation with its plan.
#[derive(Debug, Clone, Default)]
struct Observed {
    obs: CaseObservation,
    plan: CasePlan,
}

impl std::ops::Deref for Observed {
    type Target = CaseObservation;
    fn deref(&self) -> &CaseObservation {
        &self.obs
    }
}

impl std::ops::DerefMut for Observed {
    fn deref_mut(&mut self) -> &mut CaseObservation {
        &mut self.obs
    }
}

/// The plan's step expectations come from the exchanges: the first exchange of a step says
/// what that step expects.
fn case(exchanges: Vec<Ex>) -> Observed {
    let mut plan = CasePlan::default();
    for ex in &exchanges {
        if plan.steps.len() < ex.step {
            plan.steps.resize(ex.step, Expect::default());
            plan.steps[ex.step - 1] = ex.expect.clone();
        }
    }
    let obs = CaseObservation {
        exchanges: exchanges.into_iter().map(|e| e.exchange).collect(),
        connections_after: vec![ConnectionAfter::Open],
        ..CaseObservation::default()
    };
    Observed { obs, plan }
}

fn evaluate(observed: &Observed) -> Vec<CheckResult> {
    super::evaluate(&observed.plan, &observed.obs)
}

/// The result of `id`: `Some(passed)`, or `None` when it did not run.
fn outcome(observation: &Observed, id: &str) -> Option<(bool, Severity)> {
    let results = evaluate(observation);
    let mine: Vec<&CheckResult> = results.iter().filter(|r| r.id == id).collect();
    if mine.is_empty() {
        return None;
    }
    let failed = mine.iter().find(|r| !r.passed);
    Some(match failed {
        Some(r) => (false, r.severity),
        None => (true, mine[0].severity),
    })
}

fn failing(observation: &Observed, id: &str) -> Severity {
    match outcome(observation, id) {
        Some((false, severity)) => severity,
        other => panic!("{id} should fail, got {other:?}: {:#?}", evaluate(observation)),
    }
}

fn passing(observation: &Observed, id: &str) {
    assert_eq!(
        outcome(observation, id).map(|o| o.0),
        Some(true),
        "{id}: {:#?}",
        evaluate(observation)
    );
}

fn with_reply(reply: &str) -> Observed {
    case(vec![exchange(SENT, Some(reply))])
}

#[test]
fn a_correct_ack_passes_every_generic_check() {
    let good = with_reply(GOOD);
    let results = evaluate(&good);
    assert!(results.iter().all(|r| r.passed), "{results:#?}");
    for id in [
        "ack.received",
        "ack.one-per-message",
        "ack.framing",
        "ack.parse",
        "ack.segment-terminator",
        "ack.msh-swap",
        "ack.msh9",
        "ack.msh10",
        "ack.msh7",
        "ack.msh11-echo",
        "ack.msh12-echo",
        "ack.encoding-characters",
        "ack.msa1-valid",
        "ack.msa2-echo",
        "connection.open",
    ] {
        passing(&good, id);
    }
}

#[test]
fn each_header_defect_fails_its_check() {
    let cases = [
        ("ack.msh-swap", GOOD.replace("|RA|RF|SA|SF|", "|SA|SF|RA|RF|"), Severity::Warning),
        ("ack.msh9", GOOD.replace("ACK^A04^ACK", "ADT^A04"), Severity::Error),
        ("ack.msh9", GOOD.replace("ACK^A04^ACK", "ACK^A08^ACK"), Severity::Error),
        ("ack.msh9", GOOD.replace("ACK^A04^ACK", "ACK^A04^ADT_A01"), Severity::Error),
        ("ack.msh10", GOOD.replace("|A1|", "||"), Severity::Error),
        ("ack.msh7", GOOD.replace("20240101120001", "2024-01-01"), Severity::Error),
        ("ack.msh7", GOOD.replace("20240101120001", ""), Severity::Error),
        ("ack.msh11-echo", GOOD.replace("|A1|P|", "|A1|T|"), Severity::Warning),
        ("ack.msh12-echo", GOOD.replace("|P|2.5", "|P|2.4"), Severity::Warning),
        ("ack.encoding-characters", GOOD.replace("MSH|^~\\&|", "MSH|^~\\#|"), Severity::Warning),
        ("ack.msa1-valid", GOOD.replace("MSA|AA", "MSA|OK"), Severity::Error),
        ("ack.msa1-valid", GOOD.replace("MSA|AA", "MSA|CA"), Severity::Error),
        ("ack.msa2-echo", GOOD.replace("MSA|AA|M1", "MSA|AA|M2"), Severity::Error),
        ("ack.msa2-echo", GOOD.replace("MSA|AA|M1", "MSA|AA"), Severity::Error),
        ("ack.err-present", GOOD.replace("MSA|AA", "MSA|AE"), Severity::Warning),
        ("ack.segment-terminator", GOOD.replace('\r', "\n"), Severity::Error),
        (
            "ack.parse",
            "MSH|^~\\&|RA|RF|SA|SF|20240101120001||ACK^A04^ACK|A1|P|2.5\r".into(),
            Severity::Error,
        ),
        ("ack.parse", "hello".into(), Severity::Error),
    ];
    for (id, reply, severity) in cases {
        assert_eq!(failing(&with_reply(&reply), id), severity, "{id} on {reply:?}");
    }
}

/// `sent` and `reply` at `version` (MSH-12 of both).
fn at_version(version: &str, sent: &str, reply: &str) -> Observed {
    let at = |m: &str| m.replace("|P|2.5", &format!("|P|{version}"));
    case(vec![exchange(&at(sent), Some(&at(reply)))])
}

/// MSH-9 by the message's version: MSG has two components before v2.3.1 and the trigger was
/// not required on acknowledgments, so plain `ACK` passes before v2.4; the data type leaves the
/// components optional in v2.4–v2.5.1 (a warning) and requires them from v2.6 (an error).
#[test]
fn plain_ack_by_version() {
    let plain = GOOD.replace("ACK^A04^ACK", "ACK");
    for version in ["2.1", "2.2", "2.3", "2.3.1"] {
        passing(&at_version(version, SENT, &plain), "ack.msh9");
    }
    passing(&at_version("2.3", SENT, &GOOD.replace("ACK^A04^ACK", "ACK^A04")), "ack.msh9");
    for version in ["2.4", "2.5", "2.5.1"] {
        assert_eq!(failing(&at_version(version, SENT, &plain), "ack.msh9"), Severity::Warning);
    }
    assert_eq!(failing(&at_version("2.6", SENT, &plain), "ack.msh9"), Severity::Error);
    let no_structure = GOOD.replace("ACK^A04^ACK", "ACK^A04");
    assert_eq!(failing(&at_version("2.6", SENT, &no_structure), "ack.msh9"), Severity::Error);
    // In no HL7 v2 version (9.9) no MSG table says which components are required: a warning.
    assert_eq!(failing(&at_version("9.9", SENT, &plain), "ack.msh9"), Severity::Warning);
    // A wrong trigger is wrong in every version.
    let wrong = GOOD.replace("ACK^A04^ACK", "ACK^A08");
    assert_eq!(failing(&at_version("2.3", SENT, &wrong), "ack.msh9"), Severity::Error);
}

/// Message-specific responses (ch. 8: MFN^M02 → MFK^M02^MFK_M01; ch. 4: ORM^O01 → ORR^O02;
/// ch. 3/5: QBP^Q22 → RSP^K22) are correct answers, as is the general ACK.
#[test]
fn message_specific_responses_pass_msh9() {
    let mfn = SENT.replace("ADT^A04^ADT_A01", "MFN^M02^MFN_M02");
    let mfk = GOOD.replace("ACK^A04^ACK", "MFK^M02^MFK_M01");
    passing(&case(vec![exchange(&mfn, Some(&mfk))]), "ack.msh9");
    passing(&case(vec![exchange(&mfn, Some(&GOOD.replace("A04", "M02")))]), "ack.msh9");
    let orm = SENT.replace("ADT^A04^ADT_A01", "ORM^O01^ORM_O01");
    let orr = GOOD.replace("ACK^A04^ACK", "ORR^O02^ORR_O02");
    passing(&case(vec![exchange(&orm, Some(&orr))]), "ack.msh9");
    let qbp = SENT.replace("ADT^A04^ADT_A01", "QBP^Q22^QBP_Q21");
    let rsp = GOOD.replace("ACK^A04^ACK", "RSP^K22^RSP_K21");
    passing(&case(vec![exchange(&qbp, Some(&rsp))]), "ack.msh9");
    // The response of another message type, or the right code with a wrong trigger, fails.
    let wrong_code = case(vec![exchange(SENT, Some(&mfk))]);
    assert_eq!(failing(&wrong_code, "ack.msh9"), Severity::Error);
    let wrong_trigger = GOOD.replace("ACK^A04^ACK", "MFK^M05^MFK_M01");
    assert_eq!(
        failing(&case(vec![exchange(&mfn, Some(&wrong_trigger))]), "ack.msh9"),
        Severity::Error
    );
    let wrong_structure = GOOD.replace("ACK^A04^ACK", "MFK^M02^ACK");
    assert_eq!(
        failing(&case(vec![exchange(&mfn, Some(&wrong_structure))]), "ack.msh9"),
        Severity::Error
    );
}

/// MSH-7 is optional in v2.1–v2.3.1 and required from v2.4 (the MSH attribute tables); a valued
/// MSH-7 must be a timestamp in every version.
#[test]
fn msh7_by_version() {
    let empty = GOOD.replace("20240101120001", "");
    passing(&at_version("2.3", SENT, &empty), "ack.msh7");
    passing(&at_version("2.3.1", SENT, &empty), "ack.msh7");
    assert_eq!(failing(&at_version("2.4", SENT, &empty), "ack.msh7"), Severity::Error);
    assert_eq!(failing(&at_version("2.6", SENT, &empty), "ack.msh7"), Severity::Error);
    let malformed = GOOD.replace("20240101120001", "2024-01-01");
    assert_eq!(failing(&at_version("2.3", SENT, &malformed), "ack.msh7"), Severity::Error);
    assert_eq!(failing(&at_version("2.6", SENT, &malformed), "ack.msh7"), Severity::Error);
    // A message in no HL7 v2 version (the "unsupported version" cases send 9.9): no version's
    // MSH table says whether the answer's MSH-7 is required, so only a warning.
    assert_eq!(failing(&at_version("9.9", SENT, &empty), "ack.msh7"), Severity::Warning);
    assert_eq!(failing(&at_version("9.9", SENT, &malformed), "ack.msh7"), Severity::Error);
}

/// An ACK must have an MSH-10 of its own: empty fails; repeating the message's is a warning
/// (unique per sending system, and the ACK's sender is another system).
#[test]
fn msh10_empty_fails_and_a_copy_warns() {
    assert_eq!(failing(&with_reply(&GOOD.replace("|A1|", "||")), "ack.msh10"), Severity::Error);
    let copy = GOOD.replace("|A1|", "|M1|");
    assert_eq!(failing(&with_reply(&copy), "ack.msh10"), Severity::Warning);
    passing(&with_reply(GOOD), "ack.msh10");
}

/// No rule of ch. 2 requires the swap: MSH-3/4 naming the receiver by its own name passes; an
/// ACK not addressed to the message's sender, or claiming the sender's name, warns.
#[test]
fn msh_swap_is_at_most_a_warning() {
    passing(
        &with_reply(&GOOD.replace("|RA|RF|SA|SF|", "|LAB^1.2.3^ISO|MAIN|SA|SF|")),
        "ack.msh-swap",
    );
    let elsewhere = GOOD.replace("|RA|RF|SA|SF|", "|RA|RF|XA|XF|");
    assert_eq!(failing(&with_reply(&elsewhere), "ack.msh-swap"), Severity::Warning);
    let copied = GOOD.replace("|RA|RF|SA|SF|", "|SA|SF|RA|RF|");
    assert_eq!(failing(&with_reply(&copied), "ack.msh-swap"), Severity::Warning);
}

#[test]
fn err_segment_satisfies_err_present() {
    let reply = GOOD
        .replace("MSA|AA|M1\r", "MSA|AE|M1\rERR||PID^1^3|101^Required field missing^HL70357|E\r");
    passing(&with_reply(&reply), "ack.err-present");
}

#[test]
fn enhanced_mode_codes() {
    let sent = SENT.replace("|P|2.5", "|P|2.5|||AL|NE");
    let reply = GOOD.replace("MSA|AA", "MSA|CA");
    passing(&case(vec![exchange(&sent, Some(&reply))]), "ack.msa1-valid");
    let silent = sent.replace("|AL|NE", "|NE|NE");
    assert_eq!(outcome(&case(vec![exchange(&silent, None)]), "ack.received"), None);
}

#[test]
fn missing_late_and_duplicate_acks() {
    let mut none = exchange(SENT, None);
    none.event = Some(TransportEvent {
        code: crate::vocab::ConnectionEvent::ReadTimeout,
        detail: "1s".into(),
    });
    assert_eq!(failing(&case(vec![none]), "ack.received"), Severity::Error);

    let mut late = exchange(SENT, Some(GOOD));
    late.replies[0].elapsed = Duration::from_secs(3);
    assert_eq!(failing(&case(vec![late]), "ack.received"), Severity::Error);

    let mut twice = exchange(SENT, Some(GOOD));
    let first = twice.replies[0].clone();
    twice.replies.push(first);
    assert_eq!(failing(&case(vec![twice]), "ack.one-per-message"), Severity::Error);

    let mut stray = with_reply(GOOD);
    stray.stray.push(Reply { payload: b"x".to_vec(), notes: Vec::new(), elapsed: Duration::ZERO });
    assert_eq!(failing(&stray, "ack.one-per-message"), Severity::Error);
}

#[test]
fn framing_notes_fail_framing() {
    let mut ex = exchange(SENT, Some(GOOD));
    ex.replies[0].notes.push(("mllp-missing-trailer-cr".into(), 57));
    assert_eq!(failing(&case(vec![ex]), "ack.framing"), Severity::Error);
}

#[test]
fn connection_closed_after_the_ack_is_a_warning_unless_expected_open() {
    let mut closed = with_reply(GOOD);
    closed.connections_after = vec![ConnectionAfter::Closed];
    assert_eq!(failing(&closed, "connection.open"), Severity::Warning);
    closed.plan.expect_connection_open = Some(true);
    assert_eq!(failing(&closed, "expect.connection-open"), Severity::Error);
    assert_eq!(outcome(&closed, "connection.open"), None);
    let mut open = with_reply(GOOD);
    open.plan.expect_connection_open = Some(true);
    passing(&open, "expect.connection-open");
}

#[test]
fn expectations() {
    let mut ex = exchange(SENT, Some(GOOD));
    ex.expect.ack = Some(AckExpectation {
        codes: vec![AckOutcome::Code(crate::hl7::ack::AckCode::ApplicationError)],
        declared: false,
    });
    ex.expect.err = Some(true);
    ex.expect.max_ack_time = Some(Span(Duration::from_millis(1)));
    let observed = case(vec![ex.clone()]);
    assert_eq!(failing(&observed, "expect.ack"), Severity::Error);
    assert_eq!(failing(&observed, "expect.err"), Severity::Error);
    assert_eq!(failing(&observed, "expect.ack-time"), Severity::Error);

    ex.expect.ack = Some(AckExpectation {
        codes: vec![AckOutcome::Code(crate::hl7::ack::AckCode::ApplicationAccept)],
        declared: false,
    });
    ex.expect.err = Some(false);
    ex.expect.max_ack_time = Some(Span(Duration::from_secs(1)));
    let observed = case(vec![ex]);
    passing(&observed, "expect.ack");
    passing(&observed, "expect.err");
    passing(&observed, "expect.ack-time");

    let mut silent = exchange(SENT, None);
    silent.expect.ack = Some(AckExpectation { codes: vec![AckOutcome::None], declared: false });
    let observed = case(vec![silent]);
    passing(&observed, "expect.ack");
    assert_eq!(outcome(&observed, "ack.received"), None);
}

fn over_http(reply: Option<&str>, status: u16, content_type: &str) -> Observed {
    let mut ex = exchange(SENT, reply);
    ex.http = Some(HttpObservation { status, content_type: Some(content_type.into()) });
    case(vec![ex])
}

const HL7_TYPE: &str = "application/hl7-v2; charset=UTF-8";

/// HL7 over HTTP 2.6 (hapi-hl7overhttp): every HL7 response, AR/AE/CR/CE included, MUST come
/// with 2xx ("Application Error Conditions"); a non-2xx response MUST NOT have an HL7 content
/// type ("Content Type for Error Conditions").
#[test]
fn http_status_mapping_follows_the_current_specification() {
    for code in ["AA", "AE", "AR"] {
        let reply = GOOD.replace("MSA|AA", &format!("MSA|{code}"));
        passing(&over_http(Some(&reply), 200, HL7_TYPE), "http.status-mapping");
        passing(&over_http(Some(&reply), 202, HL7_TYPE), "http.status-mapping");
    }
    let ae = GOOD.replace("MSA|AA", "MSA|AE");
    assert_eq!(
        failing(&over_http(Some(&ae), 500, HL7_TYPE), "http.status-mapping"),
        Severity::Error
    );
    let ar = GOOD.replace("MSA|AA", "MSA|AR");
    let labelled_text = over_http(Some(&ar), 400, "text/plain");
    assert_eq!(failing(&labelled_text, "http.status-mapping"), Severity::Error);
    // A transport error without an HL7 payload is allowed; with an HL7 content type it is not.
    passing(&over_http(None, 401, "text/plain; charset=utf-8"), "http.status-mapping");
    passing(&over_http(None, 415, "text/html"), "http.status-mapping");
    let hl7_label = over_http(None, 503, "application/hl7-v2+er7; charset=utf-8");
    assert_eq!(failing(&hl7_label, "http.status-mapping"), Severity::Error);
}

#[test]
fn http_content_type_and_expected_status() {
    let mut ex = exchange(SENT, Some(&GOOD.replace("MSA|AA", "MSA|AE")));
    ex.http = Some(HttpObservation { status: 200, content_type: Some("text/plain".into()) });
    ex.expect.http_status = Some(500);
    let observed = case(vec![ex.clone()]);
    assert_eq!(failing(&observed, "http.content-type"), Severity::Error);
    assert_eq!(failing(&observed, "expect.http-status"), Severity::Error);
    // The HL7 type without the charset the specification requires fails too.
    let mut no_charset = ex.clone();
    no_charset.http =
        Some(HttpObservation { status: 200, content_type: Some("application/hl7-v2".into()) });
    assert_eq!(failing(&case(vec![no_charset]), "http.content-type"), Severity::Error);
    ex.http = Some(HttpObservation { status: 500, content_type: Some(HL7_TYPE.into()) });
    let observed = case(vec![ex]);
    passing(&observed, "http.content-type");
    passing(&observed, "expect.http-status");
}

#[test]
fn probes_aborts_and_opt_outs() {
    let mut probed = with_reply(GOOD);
    probed.probes.push(ProbeResult {
        step: 1,
        what: "GET x".into(),
        failure: Some("family differs".into()),
        unavailable: false,
        applied: None,
    });
    assert_eq!(failing(&probed, "probe"), Severity::Error);
    probed.probes[0].failure = None;
    passing(&probed, "probe");
    probed.probes[0].failure = Some("no state endpoint".into());
    probed.probes[0].unavailable = true;
    assert_eq!(failing(&probed, "probe.unavailable"), Severity::Info);
    assert_eq!(outcome(&probed, "probe"), None);

    let mut aborted = with_reply(GOOD);
    aborted.aborted = Some(TransportEvent {
        code: crate::vocab::ConnectionEvent::ConnectFailed,
        detail: "refused".into(),
    });
    assert_eq!(failing(&aborted, "case.ran"), Severity::Error);

    let mut skipped = with_reply(&GOOD.replace("MSA|AA|M1", "MSA|AA|M2"));
    skipped.plan.skip_checks = vec!["ack.msa2-echo".into()];
    assert_eq!(outcome(&skipped, "ack.msa2-echo"), None);
}

#[test]
fn catalogue_ids_are_unique_and_cite_a_rule() {
    let mut seen = std::collections::HashSet::new();
    for check in CATALOGUE {
        assert!(seen.insert(check.id), "{} twice", check.id);
        assert!(!check.rule.is_empty() && !check.summary.is_empty());
    }
    assert!(generic_ids().contains(&"ack.msa2-echo"));
    assert!(!generic_ids().contains(&"expect.ack"));
}

fn sent_with(reply: Option<&str>, attempts: &[(Outcome, Option<&str>)]) -> Ex {
    let mut exchange = exchange(SENT, reply);
    exchange.attempts = attempts
        .iter()
        .map(|(outcome, event)| Attempt {
            outcome: *outcome,
            event: event.map(str::to_string),
            commit: None,
        })
        .collect();
    exchange
}

#[test]
fn history_nothing_lost_counts_every_attempt() {
    let cut = Some("closed-before-ack");
    let resent =
        case(vec![sent_with(Some(GOOD), &[(Outcome::Indeterminate, cut), (Outcome::Ok, None)])]);
    passing(&resent, "history.nothing-lost");
    passing(&resent, "history.duplicates");
    let lost = case(vec![sent_with(
        None,
        &[(Outcome::Indeterminate, Some("reset-by-harness")), (Outcome::Indeterminate, cut)],
    )]);
    assert_eq!(failing(&lost, "history.nothing-lost"), Severity::Error);
    assert_eq!(failing(&lost, "history.duplicates"), Severity::Error);
    let refused = GOOD.replace("MSA|AA", "MSA|AE");
    passing(
        &case(vec![sent_with(Some(&refused), &[(Outcome::Fail, None)])]),
        "history.nothing-lost",
    );
    let mut unterminated = sent_with(None, &[(Outcome::Indeterminate, Some("unterminated"))]);
    unterminated.expect.ack =
        Some(AckExpectation { codes: vec![AckOutcome::None], declared: false });
    assert_eq!(outcome(&case(vec![unterminated]), "history.nothing-lost"), None, "no ACK due");
    // HTTP exchanges record no attempts; their statuses are judged elsewhere.
    assert_eq!(outcome(&with_reply(GOOD), "history.nothing-lost"), None);
}

#[test]
fn unanswered_after_the_harness_broke_the_framing_is_a_warning() {
    let unanswered = || sent_with(None, &[(Outcome::Indeterminate, Some("read-timeout"))]);
    let plain = case(vec![unanswered()]);
    assert_eq!(failing(&plain, "history.nothing-lost"), Severity::Error);
    assert_eq!(failing(&plain, "ack.received"), Severity::Error);
    let mut broken = unanswered();
    broken.faults = vec!["missing_trailer_cr".into()];
    let broken = case(vec![broken]);
    assert_eq!(failing(&broken, "history.nothing-lost"), Severity::Warning);
    assert_eq!(failing(&broken, "ack.received"), Severity::Warning);
    let mut answered = sent_with(Some(GOOD), &[(Outcome::Ok, None)]);
    answered.faults = vec!["missing_trailer_cr".into()];
    passing(&case(vec![answered]), "history.nothing-lost");
}

#[test]
fn history_no_false_success_on_another_messages_ack() {
    let stale = GOOD.replace("MSA|AA|M1", "MSA|AA|M0");
    let foreign = case(vec![sent_with(
        Some(&stale),
        &[(Outcome::Indeterminate, Some("ack-of-another-message"))],
    )]);
    assert_eq!(failing(&foreign, "history.no-false-success"), Severity::Error);
    assert_eq!(failing(&foreign, "history.nothing-lost"), Severity::Error);
    passing(&case(vec![sent_with(Some(GOOD), &[(Outcome::Ok, None)])]), "history.no-false-success");
    assert_eq!(Outcome::of(SENT.as_bytes(), Some(stale.as_bytes())), Outcome::Indeterminate);
    assert_eq!(Outcome::of(SENT.as_bytes(), Some(GOOD.as_bytes())), Outcome::Ok);
    assert_eq!(Outcome::of(SENT.as_bytes(), None), Outcome::Indeterminate);
}

/// Only an accepting code (AA, CA) can be a false success: an AR with an empty MSA-2 to a frame
/// that is not HL7 (the only echo possible) passes, and so does an AE naming another message.
#[test]
fn history_no_false_success_only_for_accepting_codes() {
    let not_hl7 = |reply: &str| {
        let mut ex = exchange("hello, not HL7", Some(reply));
        ex.raw = true;
        ex.attempts = vec![Attempt { outcome: Outcome::Indeterminate, event: None, commit: None }];
        case(vec![ex])
    };
    let ar_empty = GOOD.replace("MSA|AA|M1", "MSA|AR|");
    passing(&not_hl7(&ar_empty), "history.no-false-success");
    let aa_foreign = GOOD.replace("MSA|AA|M1", "MSA|AA|M0");
    let observed = not_hl7(&aa_foreign);
    assert_eq!(failing(&observed, "history.no-false-success"), Severity::Error);
    let evidence: Vec<String> = evaluate(&observed)
        .into_iter()
        .filter(|r| r.id == "history.no-false-success")
        .map(|r| r.evidence)
        .collect();
    assert!(
        evidence[0].contains("a frame without MSH-10") && evidence[0].contains("\"M0\""),
        "{evidence:?}"
    );
    assert!(!evidence[0].contains("\"\""), "{evidence:?}");
    let ae_foreign = GOOD.replace("MSA|AA|M1", "MSA|AE|M0");
    passing(
        &case(vec![sent_with(Some(&ae_foreign), &[(Outcome::Indeterminate, None)])]),
        "history.no-false-success",
    );
    let ca_foreign = GOOD.replace("MSA|AA|M1", "MSA|CA|M0");
    let enhanced = case(vec![sent_with(Some(&ca_foreign), &[(Outcome::Indeterminate, None)])]);
    assert_eq!(failing(&enhanced, "history.no-false-success"), Severity::Error);
}

fn reply_of(payload: &str, ms: u64) -> Reply {
    Reply {
        payload: payload.as_bytes().to_vec(),
        notes: Vec::new(),
        elapsed: Duration::from_millis(ms),
    }
}

/// Enhanced mode (ch. 2, 2.9.3; MSH-15/16, table 0155): an accept acknowledgment then an
/// application acknowledgment is one correct pair; two of one kind is not; a receiver that
/// ignores MSH-15/16 and answers AA in original mode passes.
#[test]
fn enhanced_mode_accept_then_application_acknowledgment() {
    let sent = SENT.replace("|P|2.5", "|P|2.5|||AL|AL");
    let ca = GOOD.replace("MSA|AA", "MSA|CA");
    let pair = |first: &str, second: &str| {
        let mut ex = exchange(&sent, Some(first));
        ex.replies.push(reply_of(second, 9));
        case(vec![ex])
    };
    let accepted = pair(&ca, GOOD);
    passing(&accepted, "ack.one-per-message");
    passing(&accepted, "ack.msa1-valid");
    passing(&pair(&ca, &GOOD.replace("MSA|AA", "MSA|AE")), "ack.one-per-message");
    assert_eq!(failing(&pair(&ca, &ca), "ack.one-per-message"), Severity::Error);
    assert_eq!(failing(&pair(GOOD, GOOD), "ack.one-per-message"), Severity::Error);
    // Both acknowledgments of the pair are judged: a bad MSA-2 on the second is caught.
    let stray = pair(&ca, &GOOD.replace("MSA|AA|M1", "MSA|AA|M9"));
    assert_eq!(failing(&stray, "ack.msa2-echo"), Severity::Error);
    // Original mode: a CA then an AA is still two acknowledgments.
    let mut original = exchange(SENT, Some(&ca));
    original.replies.push(reply_of(GOOD, 9));
    assert_eq!(failing(&case(vec![original]), "ack.one-per-message"), Severity::Error);
    // Ignoring MSH-15/16 and answering AA alone is permitted.
    let ignored = case(vec![exchange(&sent, Some(GOOD))]);
    passing(&ignored, "ack.one-per-message");
    passing(&ignored, "ack.msa1-valid");
}

#[test]
fn history_duplicates_resent_only_when_indeterminate_and_answered() {
    let after_answer =
        case(vec![sent_with(Some(GOOD), &[(Outcome::Ok, None), (Outcome::Ok, None)])]);
    assert_eq!(failing(&after_answer, "history.duplicates"), Severity::Error);
    let mut again = sent_with(Some(GOOD), &[(Outcome::Ok, None)]);
    again.step = 2;
    let resend_step = case(vec![sent_with(Some(GOOD), &[(Outcome::Ok, None)]), again]);
    passing(&resend_step, "history.duplicates");
    let mut ignored = sent_with(None, &[(Outcome::Indeterminate, Some("read-timeout"))]);
    ignored.step = 2;
    let unanswered = case(vec![sent_with(Some(GOOD), &[(Outcome::Ok, None)]), ignored]);
    assert_eq!(failing(&unanswered, "history.duplicates"), Severity::Error);
    let once = case(vec![sent_with(Some(GOOD), &[(Outcome::Ok, None)])]);
    assert_eq!(outcome(&once, "history.duplicates"), None, "sent once: nothing to judge");
}

#[test]
fn liveness_canary_needs_its_own_ack() {
    let canary = |reply: Option<&str>, event: Option<&str>| {
        let mut observation = case(Vec::new());
        observation.canaries.push(Canary {
            when: CanaryWhen::After,
            sent: SENT.as_bytes().to_vec(),
            reply: reply.map(|r| Reply {
                payload: r.as_bytes().to_vec(),
                notes: Vec::new(),
                elapsed: Duration::from_millis(2),
            }),
            event: event.map(|code| TransportEvent {
                code: crate::vocab::ConnectionEvent::parse(code).expect("a known event"),
                detail: String::new(),
            }),
        });
        observation
    };
    passing(&canary(Some(GOOD), None), "liveness.canary");
    passing(&canary(Some(&GOOD.replace("MSA|AA", "MSA|AR")), None), "liveness.canary");
    assert_eq!(failing(&canary(None, Some("peer-closed")), "liveness.canary"), Severity::Error);
    let stale = GOOD.replace("MSA|AA|M1", "MSA|AA|M0");
    assert_eq!(failing(&canary(Some(&stale), None), "liveness.canary"), Severity::Error);
}

#[test]
fn hllp_damaged_block_must_be_refused() {
    let attempt = |event: &str| {
        let mut exchange =
            sent_with(Some(GOOD), &[(Outcome::Indeterminate, Some(event)), (Outcome::Ok, None)]);
        exchange.faults = vec!["bad_checksum".into()];
        case(vec![exchange])
    };
    passing(&attempt("hllp-nak"), "hllp.damaged-block-refused");
    let answered = attempt("hllp-damaged-block-answered");
    assert_eq!(failing(&answered, "hllp.damaged-block-refused"), Severity::Error);
}

/// Step `step` sent the message with MSH-10 `id`, answered by its own AA as the `place`-th
/// reply read on the connection.
fn ordered(step: usize, id: &str, place: usize, faults: &[&str]) -> Ex {
    let sent = SENT.replace("|M1|", &format!("|{id}|"));
    let ack = GOOD.replace("MSA|AA|M1", &format!("MSA|AA|{id}"));
    let mut exchange = exchange(&sent, Some(&ack));
    exchange.step = step;
    exchange.attempts = vec![Attempt { outcome: Outcome::Ok, event: None, commit: None }];
    exchange.reply_order = vec![place];
    exchange.faults = faults.iter().map(|f| f.to_string()).collect();
    exchange
}

fn applied(exchanges: Vec<Ex>, log: &[&str]) -> Observed {
    let mut observation = case(exchanges);
    observation.applied = AppliedOrder::Log(log.iter().map(|s| s.to_string()).collect());
    observation
}

#[test]
fn history_order_applied_and_answered_in_the_order_sent() {
    let two = || vec![ordered(1, "A", 0, &[]), ordered(2, "B", 1, &[])];
    passing(&applied(two(), &["A", "B"]), "history.order");
    // Sent one at a time: applied the other way round, or accepted and never applied.
    assert_eq!(failing(&applied(two(), &["B", "A"]), "history.order"), Severity::Error);
    assert_eq!(failing(&applied(two(), &["A"]), "history.order"), Severity::Error);
    // Pipelined (MLLP does not let a sender do that): reordered ACKs or effects only warn.
    let piped = || vec![ordered(1, "A", 1, &["pipeline"]), ordered(2, "B", 0, &["pipeline"])];
    assert_eq!(failing(&applied(piped(), &["A", "B"]), "history.order"), Severity::Warning);
    assert_eq!(failing(&applied(piped(), &["B", "A"]), "history.order"), Severity::Warning);
    // A declared applied log that cannot be read: it says it could not judge, as a warning,
    // and never passes.
    let mut blind = case(two());
    blind.applied = AppliedOrder::Unavailable("GET http://127.0.0.1:9/applied: refused".into());
    assert_eq!(failing(&blind, "history.order"), Severity::Warning);
    // The scenario allows any order; one message, or one per connection: nothing to judge.
    let mut any = applied(two(), &["B", "A"]);
    any.plan.order = crate::scenario::Order::Any;
    assert_eq!(outcome(&any, "history.order"), None);
    assert_eq!(outcome(&applied(vec![ordered(1, "A", 0, &[])], &["A"]), "history.order"), None);
    let mut apart = two();
    apart[1].connection = 2;
    assert_eq!(outcome(&applied(apart, &["B", "A"]), "history.order"), None);
    // A resend (same MSH-10) counts once; a rejected message is not applied.
    let resent = vec![ordered(1, "A", 0, &[]), ordered(2, "B", 1, &[]), ordered(3, "A", 2, &[])];
    passing(&applied(resent, &["A", "B"]), "history.order");
    let mut refused = ordered(2, "B", 1, &[]);
    refused.replies[0].payload = GOOD.replace("MSA|AA|M1", "MSA|AE|B").into_bytes();
    refused.attempts[0].outcome = Outcome::Fail;
    let one_applied = vec![ordered(1, "A", 0, &[]), refused, ordered(3, "C", 2, &[])];
    passing(&applied(one_applied, &["A", "C"]), "history.order");
}

/// A target whose profile names no applied log (any system but the built-in endpoint, unless
/// its profile maps one): `history.order` is "not judged", an info, never a warning or error.
#[test]
fn history_order_without_a_declared_applied_log_is_not_judged() {
    let mut undeclared = case(vec![ordered(1, "A", 0, &[]), ordered(2, "B", 1, &[])]);
    undeclared.applied = AppliedOrder::Undeclared("the target profile names no applied log".into());
    assert_eq!(failing(&undeclared, "history.order"), Severity::Info);
    let shown = evaluate(&undeclared)
        .into_iter()
        .find(|r| r.id == "history.order")
        .map(|r| r.evidence)
        .unwrap_or_default();
    assert!(shown.contains("not judged"), "{shown}");
    // ACKs out of order are still an error: they need no applied log.
    let mut swapped = case(vec![ordered(1, "A", 1, &[]), ordered(2, "B", 0, &[])]);
    swapped.applied = AppliedOrder::Undeclared("none".into());
    assert_eq!(failing(&swapped, "history.order"), Severity::Error);
}

/// An `applied:` probe's count, judged once the case is done: by the `duplicates:` declaration
/// and the writes of the message.
#[test]
fn applied_counts_follow_the_duplicates_declaration() {
    use crate::profile::DuplicatePolicy;
    let resent = || {
        let mut exchange = ordered(1, "A", 0, &[]);
        exchange
            .attempts
            .insert(0, Attempt { outcome: Outcome::Indeterminate, event: None, commit: None });
        exchange
    };
    let probed = |times, duplicates| {
        let mut observation = case(vec![resent()]);
        observation.probes.push(ProbeResult {
            step: 1,
            what: "applied".into(),
            failure: None,
            unavailable: false,
            applied: Some(AppliedCount { id: "A".into(), times, duplicates }),
        });
        observation
    };
    passing(&probed(1, Some(DuplicatePolicy::ApplyOnce)), "probe");
    assert_eq!(failing(&probed(2, Some(DuplicatePolicy::ApplyOnce)), "probe"), Severity::Error);
    passing(&probed(2, Some(DuplicatePolicy::ApplyEach)), "probe");
    passing(&probed(2, None), "probe");
    assert_eq!(failing(&probed(3, None), "probe"), Severity::Error);
    assert_eq!(failing(&probed(0, None), "probe"), Severity::Error);
    let mut refused = probed(1, None);
    refused.exchanges[0].attempts =
        vec![Attempt { outcome: Outcome::Fail, event: None, commit: None }];
    assert_eq!(failing(&refused, "probe.unavailable"), Severity::Info);
}

/// `depends_on`: a case's `expect.*` results are errors only when the target profile declares
/// what the case depends on; otherwise they are reported as seen (info).
#[test]
fn depends_on_grades_expectations_by_the_declarations() {
    use crate::profile::{Declaration, TargetProfile};
    let mut ex = exchange(SENT, Some(GOOD));
    ex.expect.ack = Some(AckExpectation {
        codes: vec![AckOutcome::Code(crate::hl7::ack::AckCode::ApplicationReject)],
        declared: false,
    });
    let mut observed = case(vec![ex]);
    observed.plan.depends_on = vec![Declaration::Versions];
    assert_eq!(failing(&observed, "expect.ack"), Severity::Info, "no profile: seen");
    let declared: TargetProfile =
        crate::scenario::from_yaml("versions: [\"2.5\"]").expect("profile");
    observed.plan.profile = Some(std::sync::Arc::new(declared));
    assert_eq!(failing(&observed, "expect.ack"), Severity::Error, "declared: judged");
}

/// A case with several connections at once is judged on its extra connections only when the
/// profile declares `concurrent_connections: true` (MLLP lets a receiver serve one at a time).
#[test]
fn concurrent_cases_need_the_concurrency_declaration() {
    let served = exchange(SENT, Some(GOOD));
    let mut waiting = exchange(SENT, None);
    waiting.step = 2;
    waiting.connection = 2;
    let mut observed = case(vec![served, waiting]);
    observed.plan.concurrent = true;
    assert_eq!(failing(&observed, "ack.received"), Severity::Info);
    let declared: crate::profile::TargetProfile =
        crate::scenario::from_yaml("concurrent_connections: true").expect("profile");
    observed.plan.profile = Some(std::sync::Arc::new(declared));
    assert_eq!(failing(&observed, "ack.received"), Severity::Error);
}

/// Bytes the harness wrote outside a block: a receiver that closes on them passes when it
/// declares nothing or `close` (the resend on a clean connection was answered), and fails when
/// it declares `bytes_outside_blocks: skip`; a message with no such bytes before it is not
/// judged by the check at all.
#[test]
fn bytes_outside_blocks_are_judged_by_the_declaration() {
    let closed = Some("peer-closed");
    let mut resent =
        sent_with(Some(GOOD), &[(Outcome::Indeterminate, closed), (Outcome::Ok, None)]);
    resent.faults = vec!["bytes_before_frame".into()];
    resent.after_outside_bytes = true;
    let mut observed = case(vec![resent.clone()]);
    passing(&observed, "connection.bytes-outside-blocks");
    passing(&observed, "ack.received");
    passing(&observed, "history.nothing-lost");
    for (declared, fails) in [("close", false), ("skip", true)] {
        let profile: crate::profile::TargetProfile =
            crate::scenario::from_yaml(&format!("bytes_outside_blocks: {declared}")).expect("yaml");
        observed.plan.profile = Some(std::sync::Arc::new(profile));
        if fails {
            assert_eq!(failing(&observed, "connection.bytes-outside-blocks"), Severity::Error);
        } else {
            passing(&observed, "connection.bytes-outside-blocks");
        }
    }
    let mut skipped = sent_with(Some(GOOD), &[(Outcome::Ok, None)]);
    skipped.after_outside_bytes = true;
    let mut observed = case(vec![skipped]);
    observed.plan.profile = observed_profile("bytes_outside_blocks: skip");
    passing(&observed, "connection.bytes-outside-blocks");
    resent.after_outside_bytes = false;
    let observed = case(vec![resent]);
    assert_eq!(outcome(&observed, "connection.bytes-outside-blocks"), None);
}

fn observed_profile(yaml: &str) -> Option<std::sync::Arc<crate::profile::TargetProfile>> {
    Some(std::sync::Arc::new(crate::scenario::from_yaml(yaml).expect("profile yaml")))
}

/// The standard's answer (`ack: declared`) to a frame the harness ended with 0x1C and no 0x0D
/// may be none (the frame never ended): a warning; a wrong answer is still an error, and a
/// scenario's own written expectation stays an error.
#[test]
fn declared_answer_to_an_unended_frame_may_be_none() {
    let declared = || AckExpectation { codes: Vec::new(), declared: true };
    let mut unanswered = exchange(SENT, None);
    unanswered.faults = vec!["missing_trailer_cr".into()];
    unanswered.expect.ack = Some(declared());
    assert_eq!(failing(&case(vec![unanswered.clone()]), "expect.ack"), Severity::Warning);
    let mut rejected = exchange(SENT, Some(&GOOD.replace("MSA|AA", "MSA|XX")));
    rejected.faults = vec!["missing_trailer_cr".into()];
    rejected.expect.ack = Some(declared());
    assert_eq!(failing(&case(vec![rejected]), "expect.ack"), Severity::Error);
    unanswered.expect.ack = Some(AckExpectation {
        codes: vec![AckOutcome::Code(crate::hl7::ack::AckCode::ApplicationAccept)],
        declared: false,
    });
    assert_eq!(failing(&case(vec![unanswered]), "expect.ack"), Severity::Error);
}

/// After the harness vanished from a connection the receiver still holds (`blackhole`), a
/// receiver serving one connection at a time answers the resend only once it drops the dead
/// connection itself: the resend's checks are judged only with `concurrent_connections: true`.
#[test]
fn after_vanishing_the_resend_needs_the_concurrency_declaration() {
    let lost = sent_with(
        None,
        &[
            (Outcome::Indeterminate, Some("blackhole")),
            (Outcome::Indeterminate, Some("read-timeout")),
        ],
    );
    let mut observed = case(vec![lost]);
    observed.plan.vanished = true;
    assert_eq!(failing(&observed, "ack.received"), Severity::Info);
    assert_eq!(failing(&observed, "history.nothing-lost"), Severity::Info);
    observed.plan.profile = observed_profile("concurrent_connections: true");
    assert_eq!(failing(&observed, "ack.received"), Severity::Error);
    assert_eq!(failing(&observed, "history.nothing-lost"), Severity::Error);
}
