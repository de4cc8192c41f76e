//! The receiver role's answer vocabulary (a case's `answers:`): how the harness, listening,
//! answers each message the sender under test delivers. As ordered rules ([`AnswerRules`]):
//! the first rule matching an arrival decides its answer, and an arrival no rule matches gets a
//! correct AA. Pure: the receiver role's answering server carries the answers out.

use super::engine::Verdict;
use super::frame_ids::FrameIds;
use super::rule::{Direction, Directions};
use super::select::{selects, Filter};
use crate::hl7::ack::AckCode;
use crate::vocab::{Seed, Span};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

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
    /// The way the vendor's endpoint would answer: the message is judged against the target
    /// profile's `message_profiles`; AE with an ERR locating the first error (ERR-2, ERR-3
    /// from table 0357, ERR-8 the finding) when it breaks them, AA when it meets them.
    AsSpecified,
}

impl Answer {
    /// The answer's name as both spellings write it (`no_ack`, `late_ack`); never changes.
    pub fn name(&self) -> &'static str {
        match self {
            Answer::Ack => "ack",
            Answer::NoAck => "no_ack",
            Answer::LateAck(_) => "late_ack",
            Answer::DuplicateAck => "duplicate_ack",
            Answer::WrongMsa2 => "wrong_msa2",
            Answer::Nak(_) => "nak",
            Answer::Close => "close",
            Answer::Reset => "reset",
            Answer::SilentPeer => "silent_peer",
            Answer::Blackhole(_) => "blackhole",
            Answer::AsSpecified => "as_specified",
        }
    }

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

/// The ACK an answer builds for an arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckToBuild {
    pub code: AckCode,
    /// MSA-2 made not to be the message's MSH-10.
    pub wrong_msa2: bool,
}

/// What happens to the connection once an arrival is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAnswer {
    KeepReading,
    /// Close it (no answer).
    Close,
    /// Reset it (RST).
    Reset,
    /// Drop every packet of the connection both ways, for good (lab).
    SilentPeer,
    /// Drop every packet to and from the harness's port for this long (lab).
    Blackhole(Duration),
}

/// An answer as actions the answering server carries out: the ACK it builds, the engine's
/// verdict on that ACK (the proxy's vocabulary: forward it, drop it, hold it back, send it
/// twice) and what then happens to the connection. `label` is what the report says was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerAction {
    pub ack: AckToBuild,
    pub verdict: Verdict,
    pub then: AfterAnswer,
    pub label: String,
}

impl Answer {
    /// The actions this answer stands for.
    pub fn action(&self) -> AnswerAction {
        let accept = AckToBuild { code: AckCode::ApplicationAccept, wrong_msa2: false };
        let (ack, verdict, then, label) = match self {
            Answer::Ack => (accept, Verdict::Forward, AfterAnswer::KeepReading, "AA".into()),
            Answer::NoAck => (accept, Verdict::Drop, AfterAnswer::KeepReading, "no ACK".into()),
            Answer::LateAck(delay) => (
                accept,
                Verdict::Delay(delay.0),
                AfterAnswer::KeepReading,
                format!("AA after {} ms", delay.0.as_millis()),
            ),
            Answer::DuplicateAck => {
                (accept, Verdict::Duplicate, AfterAnswer::KeepReading, "AA twice".into())
            }
            Answer::WrongMsa2 => (
                AckToBuild { wrong_msa2: true, ..accept },
                Verdict::Forward,
                AfterAnswer::KeepReading,
                "AA with a wrong MSA-2".into(),
            ),
            Answer::Nak(code) => {
                let (code, name) = match code {
                    NakCode::AE => (AckCode::ApplicationError, "AE"),
                    NakCode::AR => (AckCode::ApplicationReject, "AR"),
                };
                let ack = AckToBuild { code, wrong_msa2: false };
                (ack, Verdict::Forward, AfterAnswer::KeepReading, name.into())
            }
            // The answering server judges the message and turns this AA into an AE when
            // the message breaks the profile.
            Answer::AsSpecified => (
                accept,
                Verdict::Forward,
                AfterAnswer::KeepReading,
                "AA (meets the profile)".into(),
            ),
            Answer::Close => (accept, Verdict::Drop, AfterAnswer::Close, "closed, no ACK".into()),
            Answer::Reset => (accept, Verdict::Drop, AfterAnswer::Reset, "reset, no ACK".into()),
            Answer::SilentPeer => (
                accept,
                Verdict::Drop,
                AfterAnswer::SilentPeer,
                "silent peer: no ACK, and from now on every packet of the connection dropped \
                 both ways (no FIN, no RST)"
                    .into(),
            ),
            Answer::Blackhole(period) => (
                accept,
                Verdict::Drop,
                AfterAnswer::Blackhole(period.0),
                format!(
                    "blackhole: no ACK, and every packet to and from the harness's port dropped \
                     for {} ms (connects hang)",
                    period.0.as_millis()
                ),
            ),
        };
        AnswerAction { ack, verdict, then, label }
    }
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

    /// The answer to the arrival numbered `arrival` (0-based): the first matching rule's,
    /// selected as every host's rules are ([`super::select`]): arrival N is frame N + 1 of
    /// the direction towards the harness. No answer rule draws from the seed yet.
    pub fn answer(&self, arrival: usize) -> Answer {
        let index = arrival as u64 + 1;
        let ids = FrameIds::default();
        self.rules
            .iter()
            .zip(1..)
            .find(|((when, _), id)| {
                let filter = match when {
                    ArrivalMatch::Number(n) => {
                        Filter { frame: Some(*n as u64 + 1), ..Filter::every(Directions::Up) }
                    }
                };
                selects(Seed(0), *id, &filter, Direction::Up, index, Some(&ids))
            })
            .map(|((_, answer), _)| answer.clone())
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
    fn answers_are_verdicts_on_the_ack() {
        let late = Answer::LateAck(Span(Duration::from_millis(30))).action();
        assert_eq!(
            (late.verdict, late.label.as_str()),
            (Verdict::Delay(Duration::from_millis(30)), "AA after 30 ms")
        );
        assert_eq!(Answer::DuplicateAck.action().verdict, Verdict::Duplicate);
        assert_eq!(Answer::Reset.action().then, AfterAnswer::Reset);
        let nak = Answer::Nak(NakCode::AR).action();
        assert_eq!((nak.ack.code, nak.verdict), (AckCode::ApplicationReject, Verdict::Forward));
        assert!(Answer::WrongMsa2.action().ack.wrong_msa2);
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
