//! `sender.content` (receiver role): every message the sender under test delivered, judged
//! against the target profile's message profiles. Retransmissions are judged once.

use super::*;
use crate::conformance::{Validator, Violation};
use crate::hl7::Message;
use crate::observation::Arrival;
use crate::profile::TargetProfile;
use std::collections::HashSet;

/// At most this many violations are quoted in the evidence; the rest are counted.
const MAX_QUOTED: usize = 200;

/// The check's result, or `None` when the profile has no message profiles to judge by.
pub(super) fn sender_content(
    profile: Option<&TargetProfile>,
    arrivals: &[Arrival],
) -> Option<CheckResult> {
    let profile = profile.filter(|p| !p.message_profiles.is_empty())?;
    let mut validator = Validator::new(profile);
    let mut judged = HashSet::new();
    let mut lines = Vec::new();
    let mut worst: Option<Severity> = None;
    let mut messages = 0usize;
    for (n, arrival) in arrivals.iter().enumerate() {
        if !judged.insert(super::sender::content_key(&arrival.payload)) {
            continue;
        }
        messages += 1;
        let message = match Message::parse(&arrival.payload) {
            Ok(message) => message,
            Err(e) => {
                worst = Some(Severity::Error);
                lines.push(format!("  - arrival {}: not an HL7 message: {e}", n + 1));
                continue;
            }
        };
        let control_id = message.control_id().unwrap_or("").to_string();
        let found: Vec<Violation> = validator
            .validate_as(&message, &format!("arrival {}", n + 1))
            .into_iter()
            .filter(|v| v.severity >= Severity::Warning)
            .collect();
        for violation in found {
            worst = worst.max(Some(violation.severity));
            lines.push(format!("  - arrival {} (MSH-10 {control_id}): {violation}", n + 1));
        }
    }
    let Some(severity) = worst else {
        return Some(CheckResult::pass(SENDER_CONTENT, None));
    };
    let count = lines.len();
    let mut evidence = format!("{count} finding(s) in {messages} message(s):\n");
    let quoted: Vec<&str> = lines.iter().take(MAX_QUOTED).map(String::as_str).collect();
    evidence.push_str(&quoted.join("\n"));
    if count > MAX_QUOTED {
        evidence.push_str(&format!("\n  … and {} more", count - MAX_QUOTED));
    }
    Some(CheckResult::fail(SENDER_CONTENT, None, evidence).with_severity(severity))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const PROFILE: &str = "message_profiles:\n- message: ADT^A04\n  constraints:\n    PID-5.2: { usage: R }\n    PID-8: { usage: RE }\n    PID-13: { usage: O }\n";

    fn arrival(payload: &str) -> Arrival {
        Arrival {
            connection: 1,
            payload: payload.as_bytes().to_vec(),
            notes: Vec::new(),
            received: Duration::ZERO,
            answer: "AA".into(),
            answered: None,
            accepted: true,
            rejected: false,
        }
    }

    fn judge(payloads: &[&str]) -> Option<CheckResult> {
        let profile: TargetProfile = crate::scenario::from_yaml(PROFILE).expect("profile");
        let arrivals: Vec<Arrival> = payloads.iter().map(|p| arrival(p)).collect();
        sender_content(Some(&profile), &arrivals)
    }

    const GOOD: &str =
        "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.6\rPID|1||9||Doe^Jane||19800101|F\r";

    #[test]
    fn a_conforming_sender_passes_and_other_messages_are_not_judged() {
        let other = GOOD.replace("ADT^A04", "ADT^A08").replace("Doe^Jane", "Doe");
        let result = judge(&[GOOD, &other]).expect("judged");
        assert!(result.passed, "{result:?}");
    }

    #[test]
    fn a_missing_required_field_fails_naming_it() {
        let broken = GOOD.replace("Doe^Jane", "Doe");
        let result = judge(&[GOOD, &broken, &broken]).expect("judged");
        assert!(!result.passed);
        assert_eq!(result.severity, Severity::Error);
        let evidence = &result.evidence;
        assert!(
            evidence.starts_with("1 finding(s) in 2 message(s)"),
            "retransmission judged once: {evidence}"
        );
        assert!(
            evidence.contains("  - arrival 2 (MSH-10 1): error usage PID[1]-5.2"),
            "{evidence}"
        );
    }

    #[test]
    fn re_left_empty_is_a_warning() {
        let result = judge(&[&GOOD.replace("|F\r", "|\r")]).expect("judged");
        assert!(!result.passed);
        assert_eq!(result.severity, Severity::Warning);
    }

    #[test]
    fn no_message_profiles_no_check() {
        let profile: TargetProfile = crate::scenario::from_yaml("versions: any").expect("profile");
        assert!(sender_content(Some(&profile), &[arrival(GOOD)]).is_none());
        assert!(sender_content(None, &[arrival(GOOD)]).is_none());
    }
}
