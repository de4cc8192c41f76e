//! Grading by what the target declares: HL7 v2 ∩ the target profile.
//!
//! Where HL7 v2 lets a receiver choose (which versions, message types and processing ids it
//! processes; whether it honours MSH-15/16; whether a missing required field is an error; how
//! many connections it serves at once), the target profile says which choice this system made.
//! A choice the profile does not state is open: every answer the standard allows passes. This
//! module decides the `ack: declared` expectation and grades the results of cases that depend on
//! declarations the profile leaves out; it reads no files and does no I/O.

use super::*;
use crate::hl7::ack::{AckCode, AckMode};
use crate::hl7::finding::Severity;
use crate::hl7::validate::{validate, ValidateOptions};
use crate::hl7::Message;
use crate::observation::CaseObservation;
use crate::profile::{
    Declaration, DuplicatePolicy, HeaderFacts, MissingRequired, Support, TargetProfile,
};
use crate::scenario::AckOutcome;

/// The original-mode rule: HL7 v2.5.1 ch. 2, 2.9.2.1 (the same steps in v2.3 to v2.8, 2.13.1
/// in v2.3.1 numbering aside): a message whose type (MSH-9), version (MSH-12) or processing
/// id (MSH-11) the receiver does not accept is rejected with AR; otherwise the application
/// processes it and answers AA, or AE on an error.
const ORIGINAL_RULE: &str = "HL7 v2.x ch. 2, original acknowledgment rules (v2.5.1 2.9.2.1)";
/// The enhanced-mode rule: HL7 v2.5.1 ch. 2, 2.9.3, with MSH-15/MSH-16 (table 0155: AL, NE,
/// ER, SU) saying when an accept (commit) and an application acknowledgment are sent.
const ENHANCED_RULE: &str = "HL7 v2.x ch. 2, enhanced acknowledgment rules (v2.5.1 2.9.3)";

/// The answers the standard allows a receiver that declares `profile`, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    pub outcomes: Vec<AckOutcome>,
    pub why: String,
}

impl Allowed {
    fn new(codes: &[AckCode], none: bool, why: impl Into<String>) -> Allowed {
        let mut outcomes: Vec<AckOutcome> = codes.iter().copied().map(AckOutcome::Code).collect();
        if none {
            outcomes.push(AckOutcome::None);
        }
        Allowed { outcomes, why: why.into() }
    }

    fn union(mut self, other: Allowed) -> Allowed {
        for outcome in other.outcomes {
            if !self.outcomes.contains(&outcome) {
                self.outcomes.push(outcome);
            }
        }
        self.why = format!("{}; or, {}", self.why, other.why);
        self
    }

    /// As shown in evidence: `[AA, AE]`.
    pub fn shown(&self) -> String {
        let codes: Vec<String> = self.outcomes.iter().map(ToString::to_string).collect();
        format!("[{}]", codes.join(", "))
    }
}

use AckCode::{
    ApplicationAccept as AA, ApplicationError as AE, ApplicationReject as AR, CommitAccept as CA,
    CommitError as CE, CommitReject as CR,
};

/// The first missing required field or segment of `sent`, by the segment grammars of its
/// version, if any.
fn missing_required(sent: &Message<'_>) -> Option<String> {
    validate(sent, &ValidateOptions::default())
        .into_iter()
        .find(|f| f.code == "missing-required-field" || f.code == "missing-required-segment")
        .map(|f| f.message)
}

fn header(sent: &Message<'_>, field: usize, component: usize) -> String {
    sent.header()
        .field(field)
        .and_then(|v| v.component(component))
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

/// What MSH-9/11/12/18 of `sent` come to under `profile`.
fn support(sent: &Message<'_>, profile: Option<&TargetProfile>) -> Support {
    let Some(profile) = profile else { return Support::Undeclared(Declaration::Messages) };
    profile.supports(&HeaderFacts {
        code: header(sent, 9, 1),
        event: header(sent, 9, 2),
        version: header(sent, 12, 1),
        processing_id: header(sent, 11, 1),
        charset: header(sent, 18, 1),
    })
}

/// Original mode: AR for what is declared unsupported, AE/AR for a missing required field when
/// the profile says it rejects those, AA for the rest; every code where the profile is silent.
fn original(sent: &Message<'_>, profile: Option<&TargetProfile>) -> Allowed {
    match support(sent, profile) {
        Support::Refused { code, why } => Allowed::new(
            &[AR],
            false,
            format!("{why}: rejected with AR (error {code}) by {ORIGINAL_RULE}"),
        ),
        Support::Undeclared(Declaration::Charsets)
            if profile.is_some_and(|p| p.charsets.is_some()) =>
        {
            Allowed::new(
                &[AA, AE, AR],
                false,
                format!(
                    "MSH-18 {:?} is not among the target profile's `charsets`, so accepting or \
                     rejecting the message are both allowed ({ORIGINAL_RULE})",
                    header(sent, 18, 1)
                ),
            )
        }
        Support::Undeclared(declaration) => Allowed::new(
            &[AA, AE, AR],
            false,
            format!(
                "the target profile does not declare `{declaration}`, so accepting or rejecting \
                 the message are both allowed ({ORIGINAL_RULE})"
            ),
        ),
        Support::Declared => match missing_required(sent) {
            Some(what) => match profile.and_then(|p| p.missing_required) {
                Some(MissingRequired::Reject) => Allowed::new(
                    &[AE, AR],
                    false,
                    format!(
                        "{what}, and the target profile declares `missing_required: reject` \
                         ({ORIGINAL_RULE})"
                    ),
                ),
                Some(MissingRequired::Accept) => Allowed::new(
                    &[AA, AE, AR],
                    false,
                    format!("{what}; the target profile declares `missing_required: accept`"),
                ),
                None => Allowed::new(
                    &[AA, AE, AR],
                    false,
                    format!(
                        "{what}; usage R lets a receiver raise an error, and the target profile \
                         does not declare `missing_required`"
                    ),
                ),
            },
            None => Allowed::new(
                &[AA],
                false,
                format!("the target profile declares the message's type, version and processing id: accepted with AA ({ORIGINAL_RULE})"),
            ),
        },
    }
}

/// Enhanced mode honoured: the accept acknowledgment MSH-15 asks for comes first; where none is
/// due, the application acknowledgment MSH-16 asks for may be the first answer.
fn enhanced(sent: &Message<'_>, profile: Option<&TargetProfile>) -> Allowed {
    let accept_type = header(sent, 15, 1);
    let application_type = header(sent, 16, 1);
    let support = support(sent, profile);
    let (ok, refused) = match &support {
        Support::Declared => (true, false),
        Support::Refused { .. } => (false, true),
        Support::Undeclared(_) => (true, true),
    };
    let mut accept: Vec<AckCode> = Vec::new();
    let mut silent = false;
    // Table 0155: AL always, NE never, ER only on an error, SU only on success. An empty MSH-15
    // in a message that values MSH-16 is read as AL, as the generic checks do.
    match accept_type.as_str() {
        "NE" => silent = true,
        "ER" => {
            silent |= ok;
            if refused {
                accept.extend([CE, CR]);
            }
        }
        "SU" => {
            silent |= refused;
            if ok {
                accept.push(CA);
            }
        }
        _ => {
            if ok {
                accept.push(CA);
            }
            if refused {
                accept.extend([CE, CR]);
            }
        }
    }
    let mut allowed = Allowed::new(
        &accept,
        silent,
        format!("MSH-15 {accept_type:?} and MSH-16 {application_type:?} ({ENHANCED_RULE})"),
    );
    if silent {
        // No accept acknowledgment: the application acknowledgment may be the first answer.
        let application: &[AckCode] = match application_type.as_str() {
            "NE" => &[],
            "ER" => &[AE, AR],
            "SU" => &[AA],
            _ => &[AA, AE, AR],
        };
        for code in application {
            if !allowed.outcomes.contains(&AckOutcome::Code(*code)) {
                allowed.outcomes.push(AckOutcome::Code(*code));
            }
        }
    }
    allowed
}

/// The answers allowed to `sent` by HL7 v2 and `profile` (`expect: { ack: declared }`);
/// `resent`: the same MSH-10 was sent before in the case, which a receiver declaring
/// `duplicates: reject` refuses (AE/AR), and one declaring nothing may.
pub fn allowed_answers(
    sent: &Message<'_>,
    profile: Option<&TargetProfile>,
    resent: bool,
) -> Allowed {
    let allowed = first_answer(sent, profile);
    if !resent {
        return allowed;
    }
    match profile.and_then(|p| p.duplicates) {
        Some(DuplicatePolicy::Reject) => Allowed::new(
            &[AE, AR, CE, CR],
            false,
            "a resent MSH-10, and the target profile declares `duplicates: reject`",
        ),
        Some(_) => allowed,
        None => allowed.union(Allowed::new(
            &[AE, AR],
            false,
            "a resent MSH-10 may be refused: the target profile does not declare `duplicates`",
        )),
    }
}

fn first_answer(sent: &Message<'_>, profile: Option<&TargetProfile>) -> Allowed {
    if AckMode::of(sent) == AckMode::Original {
        return original(sent, profile);
    }
    match profile.and_then(TargetProfile::honours_enhanced_mode) {
        Some(true) => enhanced(sent, profile),
        Some(false) => {
            let mut allowed = original(sent, profile);
            allowed.why = format!(
                "the target profile declares original mode only, so MSH-15/16 are ignored; {}",
                allowed.why
            );
            allowed
        }
        None => {
            let ignored = original(sent, profile);
            let honoured = enhanced(sent, profile);
            let mut allowed = honoured.union(ignored);
            allowed.why = format!(
                "the target profile does not declare `acknowledgment_modes`, so MSH-15/16 may be \
                 honoured or ignored: {}",
                allowed.why
            );
            allowed
        }
    }
}

/// Results of a case graded by what the profile declares:
/// - a case's `expect.*` results depend on the declarations it names in `depends_on`; where
///   the profile leaves one out, a failure is reported as seen (`info`), never as an error;
/// - a case that opens several connections at once, the liveness canary sent while a fault
///   holds a connection, and what follows the harness vanishing from a connection the receiver
///   still holds (`blackhole`: the resend, its effect, the canary after) need
///   `concurrent_connections: true`: MLLP lets a receiver serve one connection at a time, so
///   without that declaration their failures are reported as seen.
pub(super) fn grade(plan: &CasePlan, case: &CaseObservation, results: &mut [CheckResult]) {
    let profile = plan.profile.as_deref();
    let missing: Vec<String> = plan
        .depends_on
        .iter()
        .filter(|d| !profile.is_some_and(|p| p.declares(**d)))
        .map(ToString::to_string)
        .collect();
    if !missing.is_empty() {
        let why = format!(
            "not judged: the case depends on `{}`, which the target profile does not declare",
            missing.join("`, `")
        );
        for result in results.iter_mut().filter(|r| r.id.starts_with("expect.")) {
            not_judged(result, &why);
        }
    }
    if profile.and_then(|p| p.concurrent_connections) != Some(true) {
        let why = "not judged: the target profile does not declare `concurrent_connections: \
                   true`, and MLLP lets a receiver serve one connection at a time";
        let extra_connection = |r: &CheckResult| {
            r.step.is_some_and(|step| {
                case.exchanges.iter().any(|e| e.step == step && e.connection > 1)
            })
        };
        for result in results.iter_mut() {
            let concurrent_case =
                plan.concurrent && (answered_on_delivery(result) || extra_connection(result));
            let after_vanishing = plan.vanished && waits_on_the_dead_connection(result);
            if concurrent_case
                || after_vanishing
                || result.id == LIVENESS_CANARY.id && canary_during_only(result)
            {
                not_judged(result, why);
            }
        }
    }
}

/// The checks a receiver serving one connection at a time fails on connections it has not
/// reached yet.
fn answered_on_delivery(result: &CheckResult) -> bool {
    [ACK_RECEIVED.id, HISTORY_NOTHING_LOST.id, EXPECT_ACK.id, EXPECT_CONNECTION_OPEN.id]
        .contains(&result.id)
}

/// The checks that a receiver serving one connection at a time fails after the harness
/// vanished from a connection it still holds: the resend, its effect and the canary after the
/// case wait until that receiver drops the dead connection on its own (MLLP sets no timeout).
fn waits_on_the_dead_connection(result: &CheckResult) -> bool {
    answered_on_delivery(result)
        || [HISTORY_DUPLICATES.id, PROBE.id, LIVENESS_CANARY.id].contains(&result.id)
}

/// A canary failure that concerns only the canary sent during the fault (one sent after the
/// fault must be answered by every receiver).
fn canary_during_only(result: &CheckResult) -> bool {
    result.evidence.contains(super::history::CANARY_DURING)
}

fn not_judged(result: &mut CheckResult, why: &str) {
    if result.passed || result.severity == Severity::Info {
        return;
    }
    result.severity = Severity::Info;
    result.evidence = format!("{} ({why})", result.evidence);
}

#[cfg(test)]
mod tests {
    use super::*;

    const V26: &str = "MSH|^~\\&|SND|SF|RCV|RF|20261121010101||ADT^A04^ADT_A01|C1|P|2.6\rEVN|A04|20261121010101\rPID|1||123^^^H^MR||Doe^John\rPV1|1|O\r";

    fn profile(yaml: &str) -> TargetProfile {
        crate::scenario::from_yaml(yaml).expect("profile")
    }

    fn allowed(message: &str, profile: Option<&TargetProfile>) -> String {
        let message = Message::parse(message.as_bytes()).expect("message");
        allowed_answers(&message, profile, false).shown()
    }

    #[test]
    fn without_a_profile_every_answer_passes() {
        assert_eq!(allowed(V26, None), "[AA, AE, AR]");
        let enhanced = V26.replace("|P|2.6", "|P|2.6|||AL|NE");
        assert_eq!(allowed(&enhanced, None), "[CA, CE, CR, AA, AE, AR]");
        let silent = V26.replace("|P|2.6", "|P|2.6|||NE|NE");
        assert_eq!(allowed(&silent, None), "[none, AA, AE, AR]");
    }

    #[test]
    fn declared_and_well_formed_is_accepted() {
        let p = profile(
            "versions: [\"2.6\"]\nmessages: { ADT: any }\nprocessing_ids: [P]\ncharsets: [ASCII]",
        );
        assert_eq!(allowed(V26, Some(&p)), "[AA]");
        assert_eq!(allowed(&V26.replace("|2.6", "|9.9"), Some(&p)), "[AR]");
        assert_eq!(allowed(&V26.replace("|P|", "|T|"), Some(&p)), "[AR]");
        assert_eq!(allowed(&V26.replace("ADT^A04^ADT_A01", "ZZZ^Z99"), Some(&p)), "[AR]");
    }

    #[test]
    fn missing_required_follows_the_declaration() {
        let base = "versions: any\nmessages: any\nprocessing_ids: any\ncharsets: [ASCII]\n";
        let no_id = V26.replace("123^^^H^MR", "");
        assert_eq!(allowed(&no_id, Some(&profile(base))), "[AA, AE, AR]");
        let reject = profile(&format!("{base}missing_required: reject"));
        assert_eq!(allowed(&no_id, Some(&reject)), "[AE, AR]");
        let accept = profile(&format!("{base}missing_required: accept"));
        assert_eq!(allowed(&no_id, Some(&accept)), "[AA, AE, AR]");
    }

    #[test]
    fn enhanced_mode_by_declaration() {
        let base = "versions: any\nmessages: any\nprocessing_ids: any\ncharsets: [ASCII]\n";
        let al = V26.replace("|P|2.6", "|P|2.6|||AL|NE");
        let honours = profile(&format!("{base}acknowledgment_modes: [original, enhanced]"));
        assert_eq!(allowed(&al, Some(&honours)), "[CA]");
        let ne = V26.replace("|P|2.6", "|P|2.6|||NE|NE");
        assert_eq!(allowed(&ne, Some(&honours)), "[none]");
        let ne_al = V26.replace("|P|2.6", "|P|2.6|||NE|AL");
        assert_eq!(allowed(&ne_al, Some(&honours)), "[none, AA, AE, AR]");
        let original_only = profile(&format!("{base}acknowledgment_modes: [original]"));
        assert_eq!(allowed(&al, Some(&original_only)), "[AA]");
        assert_eq!(allowed(&ne, Some(&original_only)), "[AA]");
    }

    #[test]
    fn a_resend_follows_the_duplicates_declaration() {
        let message = Message::parse(V26.as_bytes()).expect("message");
        let base = "versions: any\nmessages: any\nprocessing_ids: any\ncharsets: [ASCII]\n";
        let shown = |yaml: &str| allowed_answers(&message, Some(&profile(yaml)), true).shown();
        assert_eq!(shown(base), "[AA, AE, AR]");
        assert_eq!(shown(&format!("{base}duplicates: apply-once")), "[AA]");
        assert_eq!(shown(&format!("{base}duplicates: reject")), "[AE, AR, CE, CR]");
    }
}
