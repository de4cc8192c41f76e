//! The reference endpoint playing an interface a target profile declares (`serve --profile`,
//! a scenario's `target.builtin.plays_profile`), instead of its own e-health client feed.
//!
//! A vendor's specification is a target profile; the built-in endpoint can then stand in for the
//! vendor's system in a sandbox, and the profile's generated receiver pack has a correct
//! receiver to pass against. Playing means:
//! - accepting the versions, message types, trigger events and processing ids the profile
//!   declares (undeclared: every one), answering AR with ERR 200/201/202/203 otherwise, as the
//!   built-in endpoint does for its own list;
//! - judging each message against the profile's message profiles (`conformance::Validator`)
//!   and answering AE with one ERR per error (HL7 table 0357 condition, the location), where
//!   the profile's policy says it rejects: `missing_required` for usage, cardinality,
//!   structure and statements, `invalid_values` for data types, lengths, value sets, fixed
//!   values and patterns. An undeclared policy is played as `reject`: the standard lets a
//!   receiver raise the error (HL7 v2 ch. 2, usage R), and a sandbox that shows the error is
//!   the more useful stand-in. A `unique` statement broken is AE 205 (duplicate key);
//! - answering a resent message (same MSH-3, MSH-4, MSH-10) as it answered it the first time,
//!   so a retransmission is not taken for a second message with the same `unique` value.

use super::resend_key::{KeyMap, ResendKeys};
use super::responder::ResponderConfig;
use crate::conformance::{Memory, ProfileJudge, Rule, Validator};
use crate::hl7::ack::AckError;
use crate::hl7::structures::Version;
use crate::hl7::{Message, Severity};
use crate::profile::{AnyOr, MissingRequired, TargetProfile};
use std::sync::Mutex;

/// Answers remembered for resends; past this many messages the memory is cleared (a resend
/// older than that is judged afresh), so it stays a few MB whatever the traffic.
const MAX_REMEMBERED_ANSWERS: usize = 100_000;

/// What the built-in endpoint accepts when it plays `profile`: the declared versions,
/// messages and processing ids, each "every one" when the profile leaves it out (the most
/// permissive reading), and `missing_required: accept` taken over for the standard's own
/// required fields.
pub fn responder_config(profile: &TargetProfile) -> ResponderConfig {
    let versions = match &profile.versions {
        Some(AnyOr::Only(listed)) => {
            Some(listed.iter().filter_map(|v| Version::parse(v.trim())).collect())
        }
        _ => None,
    };
    let events = match &profile.messages {
        Some(AnyOr::Only(map)) => Some(
            map.iter()
                .flat_map(|(code, triggers)| match triggers {
                    AnyOr::Any => vec![format!("{code}^*")],
                    AnyOr::Only(triggers) => {
                        triggers.iter().map(|t| format!("{code}^{t}")).collect()
                    }
                })
                .collect(),
        ),
        _ => None,
    };
    let processing_ids = match &profile.processing_ids {
        Some(AnyOr::Only(ids)) => Some(ids.clone()),
        _ => None,
    };
    ResponderConfig {
        versions,
        events,
        processing_ids,
        accept_missing_required: profile.missing_required == Some(MissingRequired::Accept),
    }
}

/// The message-profile judge of an endpoint playing a profile.
#[derive(Debug)]
pub struct Played {
    /// The message profiles, shared: connections judge their messages at the same time...
    judge: ProfileJudge,
    /// ...and take this lock only to compare `unique` values with earlier messages'.
    memory: Mutex<Memory>,
    missing_required: MissingRequired,
    invalid_values: MissingRequired,
    /// MSH-3, MSH-4, MSH-10 as [`ResendKeys`] hash them → the errors answered the first time.
    answered: Mutex<KeyMap<Vec<AckError>>>,
    keys: ResendKeys,
}

impl Played {
    /// The judge of `profile`; `None` when it has no message profiles (then only its
    /// versions, messages and processing ids are played).
    pub fn new(profile: &TargetProfile) -> Option<Played> {
        if profile.message_profiles.is_empty() {
            return None;
        }
        let (judge, memory) = Validator::new(profile).split();
        Some(Played {
            judge,
            memory: Mutex::new(memory),
            missing_required: profile.missing_required.unwrap_or(MissingRequired::Reject),
            invalid_values: profile.invalid_values.unwrap_or(MissingRequired::Reject),
            answered: Mutex::default(),
            keys: ResendKeys::default(),
        })
    }

    /// The errors the played interface answers `message` with (empty: accepted).
    pub fn errors(&self, message: &Message<'_>) -> Vec<AckError> {
        let key = self.keys.key([3, 4, 10].map(|n| message.header_bytes(n).unwrap_or_default()));
        if let Some(errors) = self.answered.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return errors.clone();
        }
        let judged = self.judge.judge(message, None);
        // The memory, then the answers, always in that order. A copy of this message judged
        // on another connection in the meantime has its answer in by now: this one gets it
        // too, rather than being taken for a second message with the same `unique` values.
        let mut memory = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        let mut answered = self.answered.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(errors) = answered.get(&key) {
            return errors.clone();
        }
        let found = memory.remember_numbered(&self.judge, judged);
        drop(memory);
        let errors: Vec<AckError> = found
            .iter()
            .filter(|v| v.severity == Severity::Error && self.rejects(v.rule))
            .map(|v| v.ack_error())
            .collect();
        if answered.len() >= MAX_REMEMBERED_ANSWERS {
            answered.clear();
        }
        answered.insert(key, errors.clone());
        errors
    }

    /// Whether a violation of `rule` is answered with an error under the profile's policies.
    fn rejects(&self, rule: Rule) -> bool {
        let policy = match rule {
            Rule::Usage | Rule::Cardinality | Rule::Structure | Rule::Statement => {
                self.missing_required
            }
            Rule::Datatype | Rule::Length | Rule::ValueSet | Rule::Fixed | Rule::Pattern => {
                self.invalid_values
            }
            Rule::Unique => MissingRequired::Reject,
            Rule::NoProfile => MissingRequired::Accept,
        };
        policy == MissingRequired::Reject
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hl7::ack::ErrorCondition;

    const PROFILE: &str = "\
versions: ['2.6']
messages: { ADT: [A04], MDM: any }
missing_required: reject
message_profiles:
- message: ADT^A04
  id: a04
  constraints:
    PID-5.1: { usage: R }
    PID-8: { usage: R, value_set: HL70001 }
  statements:
  - { id: one-id, unique: PID-3.1 }
";

    fn profile(extra: &str) -> TargetProfile {
        crate::scenario::from_yaml(&format!("{PROFILE}{extra}")).expect("profile")
    }

    fn a04(control: &str, name: &str, sex: &str, id: &str) -> String {
        format!(
            "MSH|^~\\&|EHR|FAC|P|P|20260101||ADT^A04|{control}|P|2.6\rEVN|A04|20260101\r\
             PID|1||{id}||{name}^Jo||19800101|{sex}\rPV1|1|O\r"
        )
    }

    fn errors(played: &Played, text: &str) -> Vec<AckError> {
        played.errors(&Message::parse(text.as_bytes()).expect("parses"))
    }

    #[test]
    fn the_config_takes_the_declared_lists() {
        let config = responder_config(&profile(""));
        assert_eq!(config.versions, Some(vec![Version::V2_6]));
        assert_eq!(config.events, Some(vec!["ADT^A04".to_string(), "MDM^*".to_string()]));
        assert_eq!(config.processing_ids, None, "undeclared: every processing id");
        assert!(!config.accept_missing_required);
        let open: TargetProfile = crate::scenario::from_yaml("name: x").expect("profile");
        let config = responder_config(&open);
        assert_eq!((config.versions, config.events), (None, None));
    }

    #[test]
    fn a_message_that_meets_the_profile_is_accepted() {
        let played = Played::new(&profile("")).expect("a judge");
        assert_eq!(errors(&played, &a04("M1", "Doe", "F", "C1")), Vec::new());
    }

    #[test]
    fn a_missing_required_field_is_an_error_where_the_profile_rejects_it() {
        let played = Played::new(&profile("")).expect("a judge");
        let found = errors(&played, &a04("M1", "", "F", "C1"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].condition, ErrorCondition::RequiredFieldMissing);
        let accepting = profile("").clone();
        let accepting =
            TargetProfile { missing_required: Some(MissingRequired::Accept), ..accepting };
        let played = Played::new(&accepting).expect("a judge");
        assert_eq!(errors(&played, &a04("M1", "", "F", "C1")), Vec::new());
    }

    #[test]
    fn a_value_outside_its_value_set_follows_invalid_values() {
        let played = Played::new(&profile("")).expect("a judge");
        let found = errors(&played, &a04("M1", "Doe", "Q", "C1"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].condition, ErrorCondition::TableValueNotFound);
        let played = Played::new(&profile("invalid_values: accept\n")).expect("a judge");
        assert_eq!(errors(&played, &a04("M1", "Doe", "Q", "C1")), Vec::new());
    }

    #[test]
    fn a_resend_gets_its_first_answer_and_a_new_message_with_the_same_key_an_error() {
        let played = Played::new(&profile("")).expect("a judge");
        assert_eq!(errors(&played, &a04("M1", "Doe", "F", "C1")), Vec::new());
        assert_eq!(errors(&played, &a04("M1", "Doe", "F", "C1")), Vec::new(), "a resend");
        let found = errors(&played, &a04("M2", "Doe", "F", "C1"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].condition, ErrorCondition::DuplicateKeyIdentifier);
    }

    /// Connections judge at the same time; the `unique` values still pass through one memory,
    /// so of eight messages with one client id sent at once, exactly one is accepted and each
    /// other one is answered 205, whatever the order the threads ran in.
    #[test]
    fn connections_judged_at_once_share_the_unique_values() {
        let played = Played::new(&profile("")).expect("a judge");
        let answers: Vec<Vec<AckError>> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..8)
                .map(|n| {
                    let played = &played;
                    scope.spawn(move || errors(played, &a04(&format!("M{n}"), "Doe", "F", "C1")))
                })
                .collect();
            threads.into_iter().map(|t| t.join().expect("judged")).collect()
        });
        assert_eq!(answers.iter().filter(|errors| errors.is_empty()).count(), 1, "{answers:?}");
        for errors in answers.iter().filter(|errors| !errors.is_empty()) {
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].condition, ErrorCondition::DuplicateKeyIdentifier);
        }
    }

    /// Copies of one message (the same MSH-3, MSH-4, MSH-10) judged at once on several
    /// connections all get the first copy's answer: none is taken for a second message with
    /// the same client id.
    #[test]
    fn copies_judged_at_once_all_get_the_first_answer() {
        for _ in 0..20 {
            let played = Played::new(&profile("")).expect("a judge");
            let answers: Vec<Vec<AckError>> = std::thread::scope(|scope| {
                let threads: Vec<_> = (0..4)
                    .map(|_| scope.spawn(|| errors(&played, &a04("M1", "Doe", "F", "C1"))))
                    .collect();
                threads.into_iter().map(|t| t.join().expect("judged")).collect()
            });
            assert!(answers.iter().all(Vec::is_empty), "{answers:?}");
        }
    }

    #[test]
    fn without_message_profiles_there_is_no_judge() {
        let bare: TargetProfile = crate::scenario::from_yaml("messages: { ADT: any }").expect("p");
        assert!(Played::new(&bare).is_none());
    }
}
