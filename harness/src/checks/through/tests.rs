//! Each through check with a fixture where an engine defect fails it and one where permitted
//! behaviour passes it, from bytes alone.

use super::*;
use crate::observation::{Arrival, ThroughInput};

/// An ADT^A01 with MSH-5 `to`, MSH-10 `id` and PID-5 `name` (written as the bytes give it).
fn message(to: &str, id: &str, name: &str) -> Vec<u8> {
    format!("MSH|^~\\&|EHR|SITE|{to}|RF|20240101120000||ADT^A01^ADT_A01|{id}|P|2.6\rPID|1||123||{name}\r")
        .into_bytes()
}

fn ack(id: &str, code: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|ENGINE|E|EHR|SITE|20240101120001||ACK^A01^ACK|A{id}|P|2.6\rMSA|{code}|{id}\r"
    )
    .into_bytes()
}

/// A fixture: inputs `M1`, `M2`, … each expected once at `portal` with MSH-5 `PORTAL`.
struct Fixture {
    plan: CasePlan,
    seen: ThroughObservation,
}

impl Fixture {
    fn new(inputs: usize) -> Fixture {
        let mut plans = Vec::new();
        let mut sent = Vec::new();
        for n in 1..=inputs {
            let id = format!("M{n}");
            plans.push(ThroughInputPlan {
                label: format!("input {n}"),
                filtered: false,
                outputs: vec![ExpectedOutput {
                    destination: "portal".into(),
                    message: message("PORTAL", &id, "Doe^Jo"),
                    ignore: vec![Path::parse("MSH-7").expect("path")],
                    patterns: Vec::new(),
                    count: 1,
                    within: None,
                }],
            });
            sent.push(ThroughInput {
                label: format!("input {n}"),
                payload: message("ENGINE", &id, "Doe^Jo"),
                sent: Duration::from_millis(10 * n as u64),
                ack: Some(ack(&id, "AA")),
                event: None,
            });
        }
        let expect = ThroughExpectation {
            inputs: plans,
            key: Path::parse("MSH-10").expect("path"),
            allow_reorder: false,
        };
        Fixture {
            plan: CasePlan { through: Some(expect), ..CasePlan::default() },
            seen: ThroughObservation { inputs: sent, arrivals: Vec::new(), reads: Vec::new() },
        }
    }

    fn expect(&mut self) -> &mut ThroughExpectation {
        self.plan.through.as_mut().expect("a through plan")
    }

    /// `payload` arrives at `destination` at `ms`, answered AA when `accepted`.
    fn arrive(&mut self, destination: &str, payload: Vec<u8>, ms: u64, accepted: bool) {
        let arrival = Arrival {
            connection: 1,
            payload,
            notes: Vec::new(),
            received: Duration::from_millis(ms),
            answer: if accepted { "AA".into() } else { "no ACK".into() },
            answered: accepted.then(|| Duration::from_millis(ms)),
            accepted,
            rejected: false,
        };
        self.seen.arrivals.push(ThroughArrival { destination: destination.into(), arrival });
    }

    /// The correct output of input `n` arrives at `ms`.
    fn deliver(&mut self, n: usize, ms: u64) {
        self.arrive("portal", message("PORTAL", &format!("M{n}"), "Doe^Jo"), ms, true);
    }

    /// The result of check `id`: `Ok(())` passed, `Err(evidence)` failed; `None` not run.
    fn check(&self, id: &str) -> Option<Result<(), String>> {
        let case = CaseObservation { through: Some(self.seen.clone()), ..Default::default() };
        let mut out = Vec::new();
        through_case(&self.plan, &case, &mut out);
        out.into_iter()
            .find(|r| r.id == id)
            .map(|r| if r.passed { Ok(()) } else { Err(r.evidence) })
    }

    fn fails(&self, id: &str, evidence: &str) {
        match self.check(id) {
            Some(Err(found)) => assert!(found.contains(evidence), "{id}: {found}"),
            other => panic!("{id} should fail with {evidence:?}, got {other:?}"),
        }
    }

    fn passes(&self, id: &str) {
        assert_eq!(self.check(id), Some(Ok(())), "{id}");
    }
}

#[test]
fn every_output_once_passes_every_check() {
    let mut f = Fixture::new(2);
    f.deliver(1, 50);
    f.deliver(2, 60);
    for id in ["through.delivered", "through.content", "through.unexpected", "through.order"] {
        f.passes(id);
    }
    f.passes("through.input-ack");
    assert_eq!(f.check("through.latency"), None, "no within: no latency check");
}

#[test]
fn delivered_names_a_missing_output() {
    let mut f = Fixture::new(2);
    f.deliver(2, 60);
    f.fails("through.delivered", "missing: input 1 at portal never arrived");
}

/// duplicate-on-timeout: the resend under a new MSH-10 is a second copy, matched by content.
#[test]
fn delivered_names_a_copy_under_a_new_control_id() {
    let mut f = Fixture::new(1);
    f.arrive("portal", message("PORTAL", "M1", "Doe^Jo"), 50, false);
    f.arrive("portal", message("PORTAL", "M1R1", "Doe^Jo"), 900, true);
    f.fails(
        "through.delivered",
        "duplicated: input 1 at portal arrived as 2 copies (MSH-10 M1, M1R1)",
    );
    f.passes("through.unexpected");
}

/// Permitted: the destination did not answer, the engine resent with the same MSH-10.
#[test]
fn a_resend_with_the_same_control_id_after_no_ack_is_one_copy() {
    let mut f = Fixture::new(1);
    f.arrive("portal", message("PORTAL", "M1", "Doe^Jo"), 50, false);
    f.arrive("portal", message("PORTAL", "M1", "Doe^Jo"), 900, true);
    f.passes("through.delivered");
}

/// Regression (issue 17, found with the python-hl7 engine of `cargo xtask interop`): an engine
/// that sends an output once, gets no ACK and never sends it again has lost it; the one
/// unanswered arrival used to count as the delivery.
#[test]
fn delivered_names_an_output_never_acknowledged_and_not_resent() {
    let mut f = Fixture::new(1);
    f.arrive("portal", message("PORTAL", "M1", "Doe^Jo"), 50, false);
    f.fails(
        "through.delivered",
        "missing: input 1 at portal arrived 1 time(s), never acknowledged by the destination \
         (no ACK), and was not sent again",
    );
}

/// An output resent again and again, never acknowledged (an HTTP destination refusing each post
/// to a wrong path, a destination that never answers): each answer is named once, with how
/// many arrivals got it.
#[test]
fn the_same_answer_to_every_resend_is_named_once_with_its_count() {
    let mut f = Fixture::new(1);
    for ms in [50, 150, 350] {
        f.arrive("portal", message("PORTAL", "M1", "Doe^Jo"), ms, false);
    }
    f.fails(
        "through.delivered",
        "missing: input 1 at portal arrived 3 time(s), never acknowledged by the destination \
         (no ACK ×3), and was not sent again",
    );
}

/// Permitted: the destination rejected the output (a correct AR or AE) and the engine gave it
/// up; resending is the engine's choice (HL7 v2.5.1 ch. 2, 2.9.2).
#[test]
fn an_output_rejected_once_and_given_up_has_arrived() {
    let mut f = Fixture::new(1);
    f.arrive("portal", message("PORTAL", "M1", "Doe^Jo"), 50, false);
    let arrival = &mut f.seen.arrivals[0].arrival;
    (arrival.rejected, arrival.answer) = (true, "AR".into());
    f.passes("through.delivered");
}

/// A second accepted copy, even under the same MSH-10, is a duplicate.
#[test]
fn a_second_accepted_copy_is_a_duplicate() {
    let mut f = Fixture::new(1);
    f.deliver(1, 50);
    f.deliver(1, 90);
    f.fails("through.delivered", "duplicated");
}

/// mangle-escape: `\F\` resolved in the forwarded bytes.
#[test]
fn content_shows_the_field_level_diff() {
    let mut f = Fixture::new(1);
    f.expect().inputs[0].outputs[0].message = message("PORTAL", "M1", "Doe\\F\\x^Jo");
    f.arrive("portal", message("PORTAL", "M1", "Doe|x^Jo"), 50, true);
    f.fails("through.content", "input 1 at portal: PID-5.1: \"Doe|x\" → \"Doe\"");
}

/// Permitted: other delimiters, the same decoded values, and an ignored MSH-7.
#[test]
fn content_is_delimiter_independent_and_honours_ignore() {
    let mut f = Fixture::new(1);
    let other =
        "MSH|#~\\&|EHR|SITE|PORTAL|RF|20991231||ADT#A01#ADT_A01|M1|P|2.6\rPID|1||123||Doe#Jo\r";
    f.arrive("portal", other.as_bytes().to_vec(), 50, true);
    f.passes("through.content");
    f.expect().inputs[0].outputs[0].ignore.clear();
    f.fails("through.content", "MSH-7");
}

/// mangle-charset: UTF-8 double-encoded.
#[test]
fn content_catches_a_double_encoded_charset() {
    let mut f = Fixture::new(1);
    let utf8 = |name: &str| {
        let text = format!(
            "MSH|^~\\&|EHR|SITE|PORTAL|RF|20240101120000||ADT^A01^ADT_A01|M1|P|2.6|||||||UNICODE UTF-8\rPID|1||123||{name}\r"
        );
        text.into_bytes()
    };
    f.expect().inputs[0].outputs[0].message = utf8("Bjørn");
    f.arrive("portal", utf8("BjÃ¸rn"), 50, true);
    f.fails("through.content", "PID-5");
}

#[test]
fn unexpected_names_a_filtered_input_that_arrived() {
    let mut f = Fixture::new(2);
    f.expect().inputs[1].filtered = true;
    f.expect().inputs[1].outputs.clear();
    f.deliver(1, 50);
    f.passes("through.unexpected");
    f.arrive("portal", message("PORTAL", "M2", "Doe^Jo"), 60, true);
    f.fails("through.unexpected", "MSH-10 M2 at portal (input 2, filtered)");
    f.arrive("register", message("X", "Z9", "Other"), 70, true);
    f.fails("through.unexpected", "MSH-10 Z9 at register (of no input)");
}

/// reorder: the newest waiting output first.
#[test]
fn order_names_the_order_received() {
    let mut f = Fixture::new(3);
    f.deliver(1, 50);
    f.deliver(3, 60);
    f.deliver(2, 70);
    f.fails("through.order", "portal received input 1, input 3, input 2");
    f.passes("through.delivered");
    f.expect().allow_reorder = true;
    assert_eq!(f.check("through.order"), None);
}

#[test]
fn latency_is_judged_from_the_input_sent() {
    let mut f = Fixture::new(1);
    f.expect().inputs[0].outputs[0].within = Some(Duration::from_millis(100));
    f.deliver(1, 100);
    f.passes("through.latency");
    let mut late = Fixture::new(1);
    late.expect().inputs[0].outputs[0].within = Some(Duration::from_millis(100));
    late.deliver(1, 300);
    late.fails("through.latency", "input 1 at portal took 290 ms, allowed 100 ms");
}

/// aa-then-drop and drop-on-full-queue: AA, then nothing.
#[test]
fn input_ack_names_an_accepted_input_never_delivered() {
    let mut f = Fixture::new(2);
    f.deliver(1, 50);
    f.fails("through.input-ack", "input 2: answered AA, then never delivered to portal");
}

/// forward-before-journal: AR to the source, the output out anyway.
#[test]
fn input_ack_names_a_refused_input_that_came_out() {
    let mut f = Fixture::new(1);
    f.seen.inputs[0].ack = Some(ack("M1", "AR"));
    f.deliver(1, 50);
    f.fails("through.input-ack", "input 1: answered AR (refused), yet it came out");
}

/// Permitted: a filtered input answered AA with nothing delivered; a refused one kept back.
#[test]
fn input_ack_passes_a_filtered_accept_and_a_refusal_kept_back() {
    let mut f = Fixture::new(2);
    f.expect().inputs[0].filtered = true;
    f.expect().inputs[0].outputs.clear();
    f.seen.inputs[1].ack = Some(ack("M2", "AR"));
    f.passes("through.input-ack");
    f.seen.inputs[1].ack = None;
    f.seen.inputs[1].event = Some("no ACK within 1s".into());
    f.fails("through.input-ack", "input 2: the engine did not answer (no ACK within 1s)");
}

/// A generated value matched by pattern: one that fits passes, one that does not fails.
#[test]
fn content_matches_a_generated_value_by_pattern() {
    let mut f = Fixture::new(1);
    let pattern = (Path::parse("PID-5.2").expect("path"), "J[a-z]+".to_string());
    f.expect().inputs[0].outputs[0].patterns = vec![pattern];
    f.arrive("portal", message("PORTAL", "M1", "Doe^Johanna"), 50, true);
    f.passes("through.content");
    let mut g = Fixture::new(1);
    let pattern = (Path::parse("PID-5.2").expect("path"), "J[a-z]+".to_string());
    g.expect().inputs[0].outputs[0].patterns = vec![pattern];
    g.arrive("portal", message("PORTAL", "M1", "Doe^jo"), 50, true);
    g.fails("through.content", "PID-5.2: \"jo\" does not match /J[a-z]+/");
}

/// The engine stopped by the harness at the end of the case ran; one that exited on its own
/// (a route file it refused) did not, and the evidence shows what it printed.
#[test]
fn engine_ran_fails_an_engine_that_exited_on_its_own() {
    let sut = |killed: bool, exit: Option<i32>| crate::observation::SutRun {
        command: "engine routes.yaml".into(),
        exit,
        killed,
        error: None,
        output: "error: routes.yaml:3: unknown key\n".into(),
        stderr: String::new(),
    };
    let mut f = Fixture::new(1);
    f.deliver(1, 50);
    let judge = |f: &Fixture, run: crate::observation::SutRun| {
        let case =
            CaseObservation { through: Some(f.seen.clone()), sut: Some(run), ..Default::default() };
        let mut out = Vec::new();
        through_case(&f.plan, &case, &mut out);
        out.into_iter().find(|r| r.id == "through.engine-ran").expect("judged")
    };
    assert!(judge(&f, sut(true, None)).passed);
    let exited = judge(&f, sut(false, Some(2)));
    assert!(!exited.passed);
    assert!(
        exited
            .evidence
            .contains("exited with code 2 before the case ended; it printed: error: routes.yaml:3"),
        "{}",
        exited.evidence
    );
}

/// An engine that writes its own MSH-10 (`control_id: engine`): matched by a key it copies,
/// MSH-10 ignored; two inputs sharing the key get one output each, the closer one first.
#[test]
fn a_shared_key_matches_each_output_once() {
    let mut f = Fixture::new(2);
    f.expect().key = Path::parse("PID-3").expect("path");
    for output in f.expect().inputs.iter_mut().flat_map(|p| p.outputs.iter_mut()) {
        output.ignore.push(Path::parse("MSH-10").expect("path"));
    }
    f.expect().inputs[1].outputs[0].message = message("PORTAL", "M2", "Roe^Jo");
    f.arrive("portal", message("PORTAL", "E2.1", "Roe^Jo"), 50, true);
    f.arrive("portal", message("PORTAL", "E1.1", "Doe^Jo"), 60, true);
    for id in ["through.delivered", "through.content", "through.unexpected", "through.input-ack"] {
        f.passes(id);
    }
    f.fails("through.order", "portal received input 2, input 1");
}
