//! What a case expects, apart from what it observed: the checks judge an observation against a
//! [`CasePlan`]. The runner builds the plan from the scenario with [`CasePlan::for_case`] and
//! hands it over untouched; it never reads an expectation itself. The policy that turns a
//! step's written expectation into the one an exchange is judged by (the mutation's intent,
//! a fault that decides what may come back) lives here, with the other judging.

use crate::generator::Intent;
use crate::hl7::ack::AckCode;
use crate::observation::Exchange;
use crate::profile::{Declaration, TargetProfile};
use crate::scenario::{AckExpectation, AckOutcome, Case, Expect, Order, Step};
use std::sync::Arc;
use std::time::Duration;

/// Everything a case's checks need besides the observation.
#[derive(Debug, Clone, Default)]
pub struct CasePlan {
    /// The expectation of each step as written (index = step number − 1).
    pub steps: Vec<Expect>,
    /// `expect: { connection_open: … }` at case level.
    pub expect_connection_open: Option<bool>,
    /// Check ids the case opted out of.
    pub skip_checks: Vec<String>,
    /// The order rule judged by `history.order`.
    pub order: Order,
    /// The declarations the case's `expect.*` results depend on.
    pub depends_on: Vec<Declaration>,
    /// The case opens several connections at once (`connections: N`, a storm).
    pub concurrent: bool,
    /// The case makes the harness vanish from a connection (`blackhole`).
    pub vanished: bool,
    /// The target profile the case is graded by.
    pub profile: Option<Arc<TargetProfile>>,
    /// The receiver role's expectations of what the sender delivers.
    pub receiver: Option<ReceiverExpectation>,
    /// The through role's expectations of what comes out of the engine, and where.
    pub through: Option<super::through::ThroughExpectation>,
}

impl CasePlan {
    /// The plan of a sender-role case with its (expanded) steps.
    pub fn for_case(case: &Case, steps: &[Step]) -> CasePlan {
        CasePlan {
            steps: steps.iter().map(|s| s.expect.clone()).collect(),
            expect_connection_open: case.expect.connection_open,
            skip_checks: case.skip_checks.clone(),
            order: case.expect.order.unwrap_or_default(),
            depends_on: case.depends_on.clone(),
            concurrent: case.connections.unwrap_or(1) > 1
                || case.network.iter().any(|f| f.name() == "storm"),
            vanished: case.network_faults().any(|f| f.name() == "blackhole"),
            profile: None,
            receiver: None,
            through: None,
        }
    }

    /// The expectation an exchange is judged by: its step's, with `by_intent` turned into
    /// `ack: declared`, and what the exchange's faults decide when the step says nothing.
    pub fn expectation(&self, exchange: &Exchange) -> Expect {
        let written = exchange
            .step
            .checked_sub(1)
            .and_then(|i| self.steps.get(i))
            .cloned()
            .unwrap_or_default();
        fault_expectation(by_intent(written, exchange.intent), &exchange.faults)
    }
}

/// The step's expectation, with `by_intent` turned into `ack: declared`: what a mutation
/// breaks (a required field, the message type, the version) is judged by what the target
/// declares about it, so the checks decide from the bytes sent and the target profile. A
/// mutation whose outcome the standard leaves to the site ("either") expects nothing.
fn by_intent(mut expect: Expect, intent: Option<Intent>) -> Expect {
    if expect.by_intent && expect.ack.is_none() && intent != Some(Intent::Either) {
        expect.ack = Some(AckExpectation { codes: Vec::new(), declared: true });
    }
    expect
}

/// Faults that decide what may come back, when the step says nothing: no ACK for a frame that
/// never ends (`unterminated`); any answer, or none (a close), for an oversized frame.
fn fault_expectation(mut expect: Expect, faults: &[String]) -> Expect {
    if expect.ack.is_some() {
        return expect;
    }
    if faults.iter().any(|f| f == "unterminated") {
        expect.ack = Some(AckExpectation { codes: vec![AckOutcome::None], declared: false });
    } else if faults.iter().any(|f| f == "oversized") {
        let mut codes: Vec<AckOutcome> = [
            AckCode::ApplicationAccept,
            AckCode::ApplicationError,
            AckCode::ApplicationReject,
            AckCode::CommitAccept,
            AckCode::CommitError,
            AckCode::CommitReject,
        ]
        .into_iter()
        .map(AckOutcome::Code)
        .collect();
        codes.push(AckOutcome::None);
        expect.ack = Some(AckExpectation { codes, declared: false });
    }
    expect
}

/// One message the sender under test must deliver (receiver role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedMessage {
    /// How the report names it (the file, or `message 2`).
    pub label: String,
    pub control_id: crate::vocab::ControlId,
    /// The message's content key (`checks::content_key`), which arrivals are matched by.
    pub key: Vec<u8>,
}

/// What a receiver-role case expects of the sender under test.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiverExpectation {
    pub messages: Vec<ExpectedMessage>,
    /// `expect.delivered: N`: how many distinct messages must arrive.
    pub delivered: Option<usize>,
    pub min_arrivals: Option<usize>,
    pub max_arrivals: Option<usize>,
    pub retry_min: Option<Duration>,
    pub retry_max: Option<Duration>,
    pub allow_reorder: bool,
    pub sut_exit: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(step: usize, intent: Option<Intent>, faults: &[&str]) -> Exchange {
        Exchange {
            step,
            intent,
            faults: faults.iter().map(|f| f.to_string()).collect(),
            ..Exchange::default()
        }
    }

    #[test]
    fn an_exchange_is_judged_by_its_steps_expectation_and_policy() {
        let written = Expect { err: Some(true), ..Expect::default() };
        let intent = Expect { by_intent: true, ..Expect::default() };
        let plan = CasePlan { steps: vec![written, intent], ..CasePlan::default() };
        assert_eq!(plan.expectation(&exchange(1, None, &[])).err, Some(true));
        let declared = plan.expectation(&exchange(2, Some(Intent::Invalid), &[])).ack;
        assert_eq!(declared, Some(AckExpectation { codes: Vec::new(), declared: true }));
        assert_eq!(plan.expectation(&exchange(2, Some(Intent::Either), &[])).ack, None);
        let silent = plan.expectation(&exchange(1, None, &["unterminated"])).ack;
        assert_eq!(silent.map(|a| a.codes), Some(vec![AckOutcome::None]));
        let any = plan.expectation(&exchange(1, None, &["oversized"])).ack.expect("any");
        assert_eq!(any.codes.len(), 7);
        let none = plan.expectation(&exchange(9, None, &[]));
        assert!(none.ack.is_none() && none.err.is_none(), "no such step: no expectation");
    }
}
