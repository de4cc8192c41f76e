//! The "Message profile" section of a run (receiver role with `message_profiles`): the
//! profile a sender's messages were judged against (name, version, sha256), every violation
//! per message, and which rules of each message profile the run's messages exercised. Built
//! from the `sender.content` results' data ([`ContentFindings`]), never by judging again;
//! rendered into summary.md, report.html and one terminal line per message profile.
//!
//! Sender-role runs have no such section: there the messages are the harness's own (templates
//! and the variants generated from the profile, broken on purpose), so their coverage would
//! measure the pack, not the system under test.

use super::html::escape;
use super::markdown::{code, plain};
use crate::checks::{ContentFindings, MessageFindings, ProfileCoverage, SENDER_CONTENT};
use crate::profile::ProfileUsed;
use crate::runner::{CaseOutcome, RunOutcome};
use std::fmt::Write;

/// At most this many messages get their table of violations in summary.md and report.html;
/// the rest are counted (results.json has them all).
const MAX_SHOWN_MESSAGES: usize = 100;
/// At most this many unexercised rules are named per message profile.
const MAX_SHOWN_MISSED: usize = 30;

/// What the section shows, gathered from a finished run.
#[derive(Debug)]
pub struct Section<'a> {
    pub profiles: &'a [ProfileUsed],
    /// Cases whose messages were judged.
    pub cases: usize,
    /// Distinct messages judged, over those cases.
    pub judged: usize,
    /// The messages with findings, with the case they arrived in, in run order.
    pub messages: Vec<(&'a CaseOutcome, &'a MessageFindings)>,
    /// Violations found but not kept as data (past the per-case bound).
    pub omitted: usize,
    /// Per message profile, what the whole run exercised.
    pub coverage: Vec<ProfileCoverage>,
}

impl<'a> Section<'a> {
    /// The section of `outcome`, or `None` when no case judged a sender's messages against
    /// message profiles.
    pub fn of(outcome: &'a RunOutcome) -> Option<Section<'a>> {
        let judged: Vec<(&CaseOutcome, &ContentFindings)> = outcome
            .cases()
            .flat_map(|case| {
                case.results
                    .iter()
                    .filter(|r| r.id == SENDER_CONTENT.id)
                    .filter_map(move |r| r.content.as_deref().map(|c| (case, c)))
            })
            .collect();
        if judged.is_empty() {
            return None;
        }
        Some(Section {
            profiles: &outcome.profiles,
            cases: judged.len(),
            judged: judged.iter().map(|(_, c)| c.judged).sum(),
            messages: judged
                .iter()
                .flat_map(|(case, c)| c.messages.iter().map(move |m| (*case, m)))
                .collect(),
            omitted: judged.iter().map(|(_, c)| c.omitted).sum(),
            coverage: ProfileCoverage::combine(judged.iter().flat_map(|(_, c)| &c.coverage)),
        })
    }

    fn violations(&self) -> usize {
        self.messages.iter().map(|(_, m)| m.violations.len()).sum::<usize>() + self.omitted
    }

    /// `12 messages judged in 3 cases, 4 violations in 2 messages`.
    fn headline(&self) -> String {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let judged = format!(
            "{} judged in {}",
            plural(self.judged, "message", "messages"),
            plural(self.cases, "case", "cases")
        );
        if self.messages.is_empty() && self.omitted == 0 {
            return format!("{judged}; no violations");
        }
        format!(
            "{judged}; {} in {}",
            plural(self.violations(), "violation", "violations"),
            plural(self.messages.len(), "message", "messages"),
        )
    }

    /// One line per message profile: `message profile adt-a04: 12 of 30 rules exercised`.
    pub fn terminal(&self) -> String {
        let mut out = String::new();
        for coverage in &self.coverage {
            let _ = writeln!(
                out,
                "message profile {}: {} of {} rules exercised",
                coverage.profile, coverage.exercised, coverage.rules
            );
        }
        out
    }

    /// The section as Markdown (summary.md).
    pub fn markdown(&self) -> String {
        let mut out = String::from("\n## Message profile\n\n");
        for profile in self.profiles {
            let _ = writeln!(
                out,
                "- {}{}, sha256 {} ({})",
                plain(&profile.name),
                profile
                    .version
                    .as_deref()
                    .map(|v| format!(" version {}", plain(v)))
                    .unwrap_or_default(),
                code(&profile.sha256),
                code(&profile.path)
            );
        }
        let _ = writeln!(out, "\n{}.\n", self.headline());
        for (case, message) in self.messages.iter().take(MAX_SHOWN_MESSAGES) {
            let _ = writeln!(out, "### {}\n", plain(&message_title(case, message)));
            if let Some(unparsed) = &message.unparsed {
                let _ = writeln!(out, "{}\n", code(unparsed));
                continue;
            }
            let _ = writeln!(out, "| path | segment | rule | severity | profile place | finding |");
            let _ = writeln!(out, "|---|---|---|---|---|---|");
            for v in &message.violations {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} |",
                    code(&v.path),
                    v.segment_index.map(|i| i.to_string()).unwrap_or_default(),
                    v.rule,
                    v.severity,
                    code(&format!("{}: {}", v.profile, v.place)),
                    plain(&v.message)
                );
            }
            out.push('\n');
        }
        if let Some(more) = self.not_shown() {
            let _ = writeln!(out, "{}\n", plain(&more));
        }
        let _ = writeln!(out, "### Coverage\n");
        let _ = writeln!(out, "| message profile | rules exercised | not exercised |");
        let _ = writeln!(out, "|---|---|---|");
        for coverage in &self.coverage {
            let missed: Vec<String> = missed(coverage).iter().map(|m| code(m)).collect();
            let _ = writeln!(
                out,
                "| {} | {} / {} | {} |",
                code(&coverage.profile),
                coverage.exercised,
                coverage.rules,
                missed_text(coverage, missed.join(", "))
            );
        }
        out
    }

    /// The section as HTML (report.html); every value from the peer or the profile escaped.
    pub fn html(&self) -> String {
        let mut out = String::from("<h2 id=\"message-profile\">Message profile</h2>\n<ul>\n");
        for profile in self.profiles {
            let _ = writeln!(
                out,
                "<li>{}{}, sha256 <code>{}</code> (<code>{}</code>)</li>",
                escape(&profile.name),
                profile
                    .version
                    .as_deref()
                    .map(|v| format!(" version {}", escape(v)))
                    .unwrap_or_default(),
                escape(&profile.sha256),
                escape(&profile.path)
            );
        }
        let _ = writeln!(out, "</ul>\n<p>{}.</p>", escape(&self.headline()));
        for (case, message) in self.messages.iter().take(MAX_SHOWN_MESSAGES) {
            let _ = writeln!(out, "<h3>{}</h3>", escape(&message_title(case, message)));
            if let Some(unparsed) = &message.unparsed {
                let _ = writeln!(out, "<p class=\"failed\">{}</p>", escape(unparsed));
                continue;
            }
            out.push_str(
                "<table class=\"violations\"><tr><th>path</th><th>segment</th><th>rule</th>\
<th>severity</th><th>profile place</th><th>finding</th></tr>\n",
            );
            for v in &message.violations {
                let class =
                    if v.severity == crate::checks::Severity::Error { "failed" } else { "warned" };
                let _ = writeln!(
                    out,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"{class}\">{}\
</td><td><code>{}: {}</code></td><td>{}</td></tr>",
                    escape(&v.path),
                    v.segment_index.map(|i| i.to_string()).unwrap_or_default(),
                    v.rule,
                    v.severity,
                    escape(&v.profile),
                    escape(&v.place),
                    escape(&v.message)
                );
            }
            out.push_str("</table>\n");
        }
        if let Some(more) = self.not_shown() {
            let _ = writeln!(out, "<p>{}</p>", escape(&more));
        }
        out.push_str(
            "<h3>Coverage</h3>\n<table id=\"profile-coverage\"><tr><th>message profile</th><th>rules exercised</th>\
<th>not exercised</th></tr>\n",
        );
        for coverage in &self.coverage {
            let missed: Vec<String> =
                missed(coverage).iter().map(|m| format!("<code>{}</code>", escape(m))).collect();
            let class = if coverage.complete() { "passed" } else { "warned" };
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td class=\"{class}\">{} / {}</td><td>{}</td></tr>",
                escape(&coverage.profile),
                coverage.exercised,
                coverage.rules,
                missed_text(coverage, missed.join(", "))
            );
        }
        out.push_str("</table>\n");
        out
    }

    /// What the tables leave out, when they do.
    fn not_shown(&self) -> Option<String> {
        let hidden = self.messages.len().saturating_sub(MAX_SHOWN_MESSAGES);
        match (hidden, self.omitted) {
            (0, 0) => None,
            (hidden, omitted) => Some(format!(
                "Not shown: {hidden} more message(s) with findings (results.json lists them); \
                 {omitted} violation(s) past the bound kept per case (the evidence counts them)."
            )),
        }
    }
}

/// `pack › scenario › case, arrival 2 (MSH-10 MSG-2, ADT^A04^ADT_A01)`.
fn message_title(case: &CaseOutcome, message: &MessageFindings) -> String {
    let mut about = Vec::new();
    if !message.control_id.is_empty() {
        about.push(format!("MSH-10 {}", message.control_id));
    }
    if !message.message_type.is_empty() {
        about.push(message.message_type.clone());
    }
    let about = if about.is_empty() { String::new() } else { format!(" ({})", about.join(", ")) };
    format!("{} › {} › {}, arrival {}{about}", case.pack, case.scenario, case.name, message.arrival)
}

/// The unexercised rules to name: the first [`MAX_SHOWN_MISSED`].
fn missed(coverage: &ProfileCoverage) -> &[String] {
    &coverage.missed[..coverage.missed.len().min(MAX_SHOWN_MISSED)]
}

/// The list of unexercised rules as shown, with how many more there are, or `none`.
fn missed_text(coverage: &ProfileCoverage, shown: String) -> String {
    let unexercised = coverage.rules.saturating_sub(coverage.exercised);
    if unexercised == 0 {
        return "none".into();
    }
    let named = missed(coverage).len();
    if unexercised > named {
        format!("{shown} … and {} more", unexercised - named)
    } else {
        shown
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    //! A receiver-role run for the renderers: one sender case whose messages were judged
    //! against the e-health profile, one arrival with violations (one value hostile to HTML
    //! and Markdown), two message profiles' coverage.

    use crate::checks::{
        CheckResult, ContentFindings, MessageFindings, ProfileCoverage, Severity, SENDER_CONTENT,
    };
    use crate::conformance::{Rule, Violation};
    use crate::runner::{PackOutcome, RunOutcome};

    fn violation(rule: Rule, severity: Severity, path: &str, place: &str, text: &str) -> Violation {
        Violation {
            severity,
            rule,
            path: path.into(),
            segment_index: path.starts_with("PID").then_some(3),
            message: text.into(),
            profile: "adt-a04".into(),
            place: place.into(),
        }
    }

    pub fn content() -> ContentFindings {
        ContentFindings {
            judged: 2,
            messages: vec![MessageFindings {
                arrival: 2,
                control_id: "MSG-2".into(),
                message_type: "ADT^A04^ADT_A01".into(),
                unparsed: None,
                violations: vec![
                    violation(
                        Rule::Usage,
                        Severity::Error,
                        "PID[1]-13",
                        "constraints PID-13",
                        "required but not valued",
                    ),
                    violation(
                        Rule::ValueSet,
                        Severity::Error,
                        "PID[1]-8",
                        "segments[2] PID, field 8",
                        "\"<b>|Q`\" is not in HL7 table 0001",
                    ),
                ],
            }],
            omitted: 0,
            coverage: vec![
                ProfileCoverage {
                    profile: "adt-a04".into(),
                    rules: 5,
                    exercised: 3,
                    missed: vec!["constraints PID-29".into(), "segments[4] PV1".into()],
                },
                ProfileCoverage {
                    profile: "adt-a08".into(),
                    rules: 2,
                    exercised: 0,
                    missed: vec!["constraints PID-13".into(), "statements email".into()],
                },
            ],
        }
    }

    /// The renderers' usual run with a receiver pack added: its case's `sender.content`
    /// failed (`failing`) or passed with the same coverage.
    pub fn outcome(failing: bool) -> RunOutcome {
        let mut outcome = crate::report::overview::fixture::outcome(false);
        let mut case = outcome.packs[0].cases[0].clone();
        case.pack = "ehealth-sender".into();
        case.scenario = "sender".into();
        case.name = "the EHR registers a patient".into();
        case.observation = crate::observation::CaseObservation::default();
        let mut content = content();
        let result = if failing {
            CheckResult::fail(SENDER_CONTENT, None, "2 finding(s) in 2 message(s)")
        } else {
            content.messages.clear();
            CheckResult::pass(SENDER_CONTENT, None)
        };
        case.results = vec![result.with_content(content)];
        outcome.packs.push(PackOutcome { name: "ehealth-sender".into(), cases: vec![case] });
        outcome.profiles[0].version = Some("1.2".into());
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(outcome: &RunOutcome) -> Section<'_> {
        Section::of(outcome).expect("a section")
    }

    #[test]
    fn no_judged_messages_no_section() {
        assert!(Section::of(&crate::report::overview::fixture::outcome(true)).is_none());
    }

    #[test]
    fn renderings() {
        for (name, failing) in [("failing", true), ("passing", false)] {
            let outcome = fixture::outcome(failing);
            let section = section(&outcome);
            insta::assert_snapshot!(format!("message-profile-markdown-{name}"), section.markdown());
            insta::assert_snapshot!(format!("message-profile-html-{name}"), section.html());
            insta::assert_snapshot!(format!("message-profile-terminal-{name}"), section.terminal());
        }
    }

    #[test]
    fn peer_values_are_escaped() {
        let outcome = fixture::outcome(true);
        let section = section(&outcome);
        let html = section.html();
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("&quot;&lt;b&gt;|Q`&quot;"), "{html}");
        assert_eq!(html.matches("<table").count(), html.matches("</table>").count());
        let markdown = section.markdown();
        assert!(markdown.contains("\\<b\\>\\|Q\\`"), "{markdown}");
    }

    #[test]
    fn coverage_over_cases_and_a_bound_on_names() {
        let mut outcome = fixture::outcome(false);
        let mut other = outcome.packs[2].cases[0].clone();
        let mut content = fixture::content();
        content.coverage[0].missed = vec!["segments[4] PV1".into()];
        content.coverage[0].exercised = 4;
        content.coverage[1].rules = 40;
        content.coverage[1].missed = (0..40).map(|i| format!("rule {i}")).collect();
        other.results = vec![other.results[0].clone().with_content(content)];
        outcome.packs[2].cases.push(other);
        let section = section(&outcome);
        assert_eq!(section.cases, 2);
        assert_eq!(
            section.terminal(),
            "message profile adt-a04: 4 of 5 rules exercised\n\
             message profile adt-a08: 0 of 2 rules exercised\n\
             message profile adt-a08: 0 of 40 rules exercised\n"
        );
        let html = section.html();
        assert!(html.contains("<code>rule 29</code> … and 10 more"), "{html}");
        assert!(!html.contains("rule 30<"), "{html}");
    }
}
