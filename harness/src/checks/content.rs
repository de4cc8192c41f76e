//! `sender.content` (receiver role): every message the sender under test delivered, judged
//! against the target profile's message profiles. Retransmissions are judged once.

use super::content_findings::MAX_RECORDED;
use super::*;
use crate::conformance::{Validator, Violation};
use crate::hl7::Message;
use crate::observation::Arrival;
use crate::profile::TargetProfile;
use std::collections::HashSet;

/// At most this many violations are quoted in the evidence; the rest are counted.
const MAX_QUOTED: usize = 200;

/// The check's result, or `None` when the profile has no message profiles to judge by. The
/// result carries the findings and the coverage as data ([`ContentFindings`]) too, passed or
/// not, so the report can show which rules the run exercised.
pub(super) fn sender_content(
    profile: Option<&TargetProfile>,
    arrivals: &[Arrival],
) -> Option<CheckResult> {
    let profile = profile.filter(|p| !p.message_profiles.is_empty())?;
    let mut validator = Validator::new(profile);
    let mut judged = HashSet::new();
    let mut lines = Vec::new();
    let mut worst: Option<Severity> = None;
    let mut findings = ContentFindings::default();
    let mut kept = 0usize;
    for (n, arrival) in arrivals.iter().enumerate() {
        if !judged.insert(super::sender::content_key(&arrival.payload)) {
            continue;
        }
        findings.judged += 1;
        let message = match Message::parse(&arrival.payload) {
            Ok(message) => message,
            Err(e) => {
                worst = Some(Severity::Error);
                let text = format!("not an HL7 message: {e}");
                lines.push(format!("  - arrival {}: {text}", n + 1));
                findings.messages.push(MessageFindings {
                    arrival: n + 1,
                    unparsed: Some(text),
                    ..MessageFindings::default()
                });
                continue;
            }
        };
        let control_id = message.control_id().unwrap_or("").to_string();
        let found: Vec<Violation> = validator
            .validate_as(&message, &format!("arrival {}", n + 1))
            .into_iter()
            .filter(|v| v.severity >= Severity::Warning)
            .collect();
        if found.is_empty() {
            continue;
        }
        for violation in &found {
            worst = worst.max(Some(violation.severity));
            lines.push(format!("  - arrival {} (MSH-10 {control_id}): {violation}", n + 1));
        }
        let room = MAX_RECORDED.saturating_sub(kept);
        findings.omitted += found.len().saturating_sub(room);
        if room > 0 {
            let violations: Vec<Violation> = found.into_iter().take(room).collect();
            kept += violations.len();
            findings.messages.push(MessageFindings {
                arrival: n + 1,
                message_type: message_type(&message),
                control_id,
                unparsed: None,
                violations,
            });
        }
    }
    findings.coverage = validator.coverage().iter().map(ProfileCoverage::of).collect();
    let Some(severity) = worst else {
        return Some(CheckResult::pass(SENDER_CONTENT, None).with_content(findings));
    };
    let count = lines.len();
    let mut evidence = format!("{count} finding(s) in {} message(s):\n", findings.judged);
    let quoted: Vec<&str> = lines.iter().take(MAX_QUOTED).map(String::as_str).collect();
    evidence.push_str(&quoted.join("\n"));
    if count > MAX_QUOTED {
        evidence.push_str(&format!("\n  … and {} more", count - MAX_QUOTED));
    }
    Some(
        CheckResult::fail(SENDER_CONTENT, None, evidence)
            .with_severity(severity)
            .with_content(findings),
    )
}

/// MSH-9 as the sender wrote it (`ADT^A04^ADT_A01`), components joined by `^` whatever the
/// message's own delimiters, for a report's heading.
fn message_type(message: &Message<'_>) -> String {
    let code = message.message_code().unwrap_or("");
    let event = message.trigger_event().unwrap_or("");
    match message.message_structure() {
        Some(structure) if !structure.is_empty() => format!("{code}^{event}^{structure}"),
        _ if event.is_empty() => code.to_string(),
        _ => format!("{code}^{event}"),
    }
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
    fn the_findings_are_data_per_message() {
        let broken = GOOD.replace("Doe^Jane", "Doe").replace("|1|P|", "|MSG-2|P|");
        let result = judge(&[GOOD, &broken, &broken, "not hl7"]).expect("judged");
        let content = result.content.as_deref().expect("findings as data");
        assert_eq!(content.judged, 3);
        let shown: Vec<(usize, &str, &str, Option<&str>)> = content
            .messages
            .iter()
            .map(|m| {
                (m.arrival, m.control_id.as_str(), m.message_type.as_str(), m.unparsed.as_deref())
            })
            .collect();
        assert_eq!(shown[0], (2, "MSG-2", "ADT^A04", None));
        assert_eq!(
            (shown[1].0, shown[1].3.map(|u| u.starts_with("not an HL7 message"))),
            (4, Some(true))
        );
        let violation = &content.messages[0].violations[0];
        assert_eq!(
            (violation.path.as_str(), violation.rule, violation.severity, violation.segment_index),
            ("PID[1]-5.2", crate::conformance::Rule::Usage, Severity::Error, Some(2))
        );
        assert_eq!(violation.place, "constraints PID-5.2");
        assert_eq!(content.violations(), 1);
    }

    #[test]
    fn a_passing_case_still_says_what_it_exercised() {
        let result = judge(&[GOOD]).expect("judged");
        assert!(result.passed);
        let content = result.content.as_deref().expect("coverage as data");
        assert!(content.messages.is_empty());
        let coverage = &content.coverage[0];
        assert_eq!(coverage.profile, "adt-a04");
        assert!(coverage.exercised > 0 && coverage.exercised < coverage.rules, "{coverage:?}");
        assert!(coverage.missed.iter().any(|m| m.contains("PID-13")), "{coverage:?}");
    }

    #[test]
    fn recorded_violations_are_bounded() {
        let broken = GOOD.replace("Doe^Jane", "Doe");
        let many: Vec<String> =
            (0..MAX_RECORDED + 5).map(|i| broken.replace("||9||", &format!("||{i}||"))).collect();
        let payloads: Vec<&str> = many.iter().map(String::as_str).collect();
        let result = judge(&payloads).expect("judged");
        let content = result.content.as_deref().expect("findings");
        assert_eq!(content.messages.len(), MAX_RECORDED);
        assert_eq!(content.omitted, 5);
        assert_eq!(content.violations(), MAX_RECORDED + 5);
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
