//! The receiver role's answer vocabulary (a case's `answers:`): how the harness, listening,
//! answers each message the sender under test delivers. As ordered rules ([`AnswerRules`]):
//! the first rule matching an arrival decides its answer, and an arrival no rule matches gets a
//! correct AA. Pure: the receiver role's answering server carries the answers out.

use crate::vocab::Span;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How one arriving message is answered.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Answer {
    /// A correct AA (the default).
    Ack,
    /// No answer at all: the sender must retransmit it, same MSH-10.
    NoAck,
    /// A correct AA after `delay`.
    LateAck(Span),
    /// The correct AA twice.
    DuplicateAck,
    /// An AA whose MSA-2 is not the message's MSH-10: it must not count as delivery.
    WrongMsa2,
    /// A negative acknowledgment: `AE` (application error) or `AR` (application reject), with ERR.
    Nak(NakCode),
    /// Close the connection without answering.
    Close,
    /// Reset the connection (RST) without answering.
    Reset,
    /// Packet level (needs the lab): the harness's host vanishes for this connection. From
    /// this arrival on, every packet of the connection is dropped both ways (no ACK, no FIN,
    /// no RST, not even TCP's own acknowledgments), for good. The sender must notice by its
    /// ACK timeout and resend, same MSH-10, on a new connection.
    SilentPeer,
    /// Packet level (needs the lab): a network partition. From this arrival on, every packet
    /// to and from the harness's port is dropped for this long (this connection's and any
    /// new one's: connects hang), then the way opens again. The sender must keep trying and
    /// deliver, same MSH-10, once the network is back.
    Blackhole(Span),
}

impl Answer {
    /// Whether the answer works at the packet level, in the lab.
    pub fn needs_lab(&self) -> bool {
        matches!(self, Answer::SilentPeer | Answer::Blackhole(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum NakCode {
    AE,
    AR,
}

/// Which arrivals a rule answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrivalMatch {
    /// The arrival with this 0-based number in the case (retransmissions count).
    Number(usize),
}

/// The answers of one case as ordered rules: the first matching rule wins, the default is
/// [`Answer::Ack`]. The YAML list `answers: [no_ack, ack]` is the rules "arrival 0 → no_ack",
/// "arrival 1 → ack".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnswerRules {
    rules: Vec<(ArrivalMatch, Answer)>,
}

impl AnswerRules {
    /// The rules a case's `answers:` list stands for: entry N answers arrival N.
    pub fn from_list(answers: &[Answer]) -> AnswerRules {
        let rules = answers
            .iter()
            .enumerate()
            .map(|(n, answer)| (ArrivalMatch::Number(n), answer.clone()))
            .collect();
        AnswerRules { rules }
    }

    /// Adds a rule after the others.
    pub fn push(&mut self, when: ArrivalMatch, answer: Answer) {
        self.rules.push((when, answer));
    }

    /// The answer to the arrival numbered `arrival` (0-based): the first matching rule's.
    pub fn answer(&self, arrival: usize) -> Answer {
        self.rules
            .iter()
            .find(|(when, _)| match when {
                ArrivalMatch::Number(n) => *n == arrival,
            })
            .map(|(_, answer)| answer.clone())
            .unwrap_or(Answer::Ack)
    }

    /// Whether any rule needs the packet-level lab.
    pub fn needs_lab(&self) -> bool {
        self.rules.iter().any(|(_, answer)| answer.needs_lab())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn check(answers: &[Answer], expected: &[Answer]) {
        let rules = AnswerRules::from_list(answers);
        let got: Vec<Answer> = (0..expected.len()).map(|n| rules.answer(n)).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn list_entries_answer_arrivals_in_order_then_ack() {
        let late = Answer::LateAck(Span(Duration::from_millis(5)));
        check(&[], &[Answer::Ack, Answer::Ack]);
        check(&[Answer::NoAck, late.clone()], &[Answer::NoAck, late, Answer::Ack]);
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let mut rules = AnswerRules::from_list(&[Answer::Close]);
        rules.push(ArrivalMatch::Number(0), Answer::Reset);
        rules.push(ArrivalMatch::Number(1), Answer::DuplicateAck);
        assert_eq!((rules.answer(0), rules.answer(1)), (Answer::Close, Answer::DuplicateAck));
        assert!(!rules.needs_lab());
        rules.push(ArrivalMatch::Number(2), Answer::SilentPeer);
        assert!(rules.needs_lab());
    }

    #[test]
    fn yaml_forms() {
        let answers: Vec<Answer> = crate::faults::network::tests::yaml(
            "[ack, no_ack, {late_ack: 2s}, duplicate_ack, wrong_msa2, {nak: AE}, close, reset, \
             silent_peer, {blackhole: 1s}]",
        )
        .unwrap();
        assert_eq!(answers.len(), 10);
        assert_eq!(answers[5], Answer::Nak(NakCode::AE));
        assert!(crate::faults::network::tests::yaml::<Vec<Answer>>("[late]").is_err());
    }
}
