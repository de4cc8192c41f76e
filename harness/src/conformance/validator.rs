//! The entry point: a target profile's message profiles, compiled once, judging message after
//! message (and remembering what `unique` statements need across messages).

use super::eval::{eval, statement_contexts, Context};
use super::plan::{Plan, SegmentRule};
use super::tree::match_tree;
use super::values::Judge;
use super::violation::{Rule, Violation};
use crate::hl7::message::Message;
use crate::hl7::Severity;
use crate::profile::message::StatementSeverity;
use crate::profile::usage::Plain;
use crate::profile::TargetProfile;
use std::collections::{BTreeSet, HashMap};

/// Values `unique` statements remember, over all statements: past this, later messages are
/// not compared (and one note says so). Each is kept as a 64-bit hash with the label of the
/// message that had it, so memory stays near 10 MB whatever the values' length.
const MAX_REMEMBERED: usize = 100_000;

/// Which rules of one message profile the judged messages exercised: a rule is exercised
/// when a message had the element valued (or the segment or group present); statements are
/// exercised by every message of the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub profile: String,
    pub rules: usize,
    pub exercised: Vec<String>,
    pub missed: Vec<String>,
}

/// Judges messages against a profile's `message_profiles`: a [`ProfileJudge`] (the compiled
/// profiles, which judge one message by itself) and a [`Memory`] (what `unique` statements and
/// the coverage keep from one message to the next).
#[derive(Debug)]
pub struct Validator {
    judge: ProfileJudge,
    memory: Memory,
}

/// The compiled message profiles: everything a message is judged by except what earlier
/// messages sent. It needs no `&mut`, so a server shares one among its connections and judges
/// their messages at the same time, taking the [`Memory`]'s lock only for the `unique`
/// statements.
#[derive(Debug)]
pub struct ProfileJudge {
    plans: Vec<Plan>,
}

/// What judging keeps across messages: the values `unique` statements have seen, the number
/// of messages judged, and the coverage.
#[derive(Debug)]
pub struct Memory {
    /// Statement id → hash of the value → the label of the message that first had it.
    seen: HashMap<String, HashMap<u64, String>>,
    remembered: usize,
    full_noted: bool,
    messages: usize,
    /// Per message profile (by index), the places of the rules some message exercised.
    exercised: Vec<BTreeSet<String>>,
}

/// One message as the [`ProfileJudge`] judged it, before its `unique` statements are compared
/// with earlier messages ([`Memory::remember`]).
#[derive(Debug)]
pub struct Judged {
    /// The message profile chosen, by index (`None`: no profile for this message).
    index: Option<usize>,
    violations: Vec<Violation>,
    /// The message's values of the chosen profile's `unique` statements, in statement order.
    unique: Vec<UniqueValue>,
}

/// One `unique` statement's value in a message.
#[derive(Debug)]
struct UniqueValue {
    /// The statement, by index among the plan's statements.
    statement: usize,
    /// The value as text.
    value: String,
}

impl Validator {
    pub fn new(profile: &TargetProfile) -> Validator {
        let judge = ProfileJudge::new(profile);
        let memory = Memory::new(&judge);
        Validator { judge, memory }
    }

    /// The two halves: the judge to share, the memory to lock.
    pub fn split(self) -> (ProfileJudge, Memory) {
        (self.judge, self.memory)
    }

    /// For each message profile: its id, the places of its rules some message exercised, and
    /// the places of those no message did (what a run or a set of files left untested).
    pub fn coverage(&self) -> Vec<Coverage> {
        self.judge
            .plans
            .iter()
            .zip(&self.memory.exercised)
            .map(|(plan, exercised)| {
                let all = plan.places();
                let missed = all.iter().filter(|p| !exercised.contains(*p)).cloned().collect();
                Coverage {
                    profile: plan.id.clone(),
                    rules: all.len(),
                    exercised: exercised.iter().filter(|p| all.contains(*p)).cloned().collect(),
                    missed,
                }
            })
            .collect()
    }

    /// Whether the profile has message profiles at all (without them there is nothing to judge).
    pub fn is_empty(&self) -> bool {
        self.judge.plans.is_empty()
    }

    /// Every violation of this message, in message order, then statements. A `unique`
    /// violation names the earlier message as `message N` (counting from 1).
    pub fn validate(&mut self, message: &Message<'_>) -> Vec<Violation> {
        let judged = self.judge.judge(message, Some(&mut self.memory.exercised));
        self.memory.remember_numbered(&self.judge, judged)
    }

    /// As [`Validator::validate`], with the label a later `unique` violation names this
    /// message by (e.g. `adt.hl7 message 2`, `arrival 3`).
    pub fn validate_as(&mut self, message: &Message<'_>, label: &str) -> Vec<Violation> {
        let judged = self.judge.judge(message, Some(&mut self.memory.exercised));
        self.memory.remember(&self.judge, judged, label)
    }
}

impl ProfileJudge {
    pub fn new(profile: &TargetProfile) -> ProfileJudge {
        let plans = profile
            .message_profiles
            .iter()
            .map(|p| Plan::compile(p, &profile.value_sets))
            .collect();
        ProfileJudge { plans }
    }

    /// Judges `message` by itself: every violation but those of `unique` statements, whose
    /// values are kept for [`Memory::remember`]. The places of the rules it exercised are
    /// added to `exercised` (per message profile, by index) when given.
    pub fn judge(
        &self,
        message: &Message<'_>,
        exercised: Option<&mut Vec<BTreeSet<String>>>,
    ) -> Judged {
        let code = message.message_code().unwrap_or("");
        let event = message.trigger_event().unwrap_or("");
        let declared = message.version().map(str::trim).unwrap_or("");
        let candidates: Vec<usize> =
            (0..self.plans.len()).filter(|&i| self.plans[i].key.matches(code, event)).collect();
        let chosen = candidates
            .iter()
            .copied()
            .find(|&i| self.plans[i].version.as_deref().is_none_or(|v| v == declared))
            .or_else(|| candidates.first().copied());
        let Some(index) = chosen else {
            let violations = vec![Violation {
                severity: Severity::Info,
                rule: Rule::NoProfile,
                path: "MSH[1]-9".into(),
                segment_index: Some(1),
                message: format!(
                    "no message profile for {code}^{event} (version {declared}): content not judged"
                ),
                profile: "-".into(),
                place: "message_profiles".into(),
            }];
            return Judged { index: None, violations, unique: Vec::new() };
        };
        let plan = &self.plans[index];
        let mut out = Vec::new();
        if let Some(version) = plan.version.as_deref().filter(|v| *v != declared) {
            out.push(Violation {
                severity: Severity::Error,
                rule: Rule::Fixed,
                path: "MSH[1]-12".into(),
                segment_index: Some(1),
                message: format!("version {declared:?}; the profile is written for {version}"),
                profile: plan.id.clone(),
                place: "version".into(),
            });
        }
        let version =
            plan.version.as_deref().unwrap_or(if declared.is_empty() { "2.5.1" } else { declared });
        let mut exercised = exercised.and_then(|all| all.get_mut(index));
        judge_segments(plan, message, version, &mut out, exercised.as_deref_mut());
        for rule in &plan.segment_rules {
            if judge_segment_rule(plan, rule, message, &mut out) {
                if let Some(exercised) = exercised.as_deref_mut() {
                    exercise(exercised, &rule.place);
                }
            }
        }
        if let Some(exercised) = exercised {
            for statement in &plan.statements {
                let place = format!("statements {}", statement.id);
                if !exercised.contains(&place) {
                    exercised.insert(place);
                }
            }
        }
        let unique = assertions(plan, message, &mut out);
        Judged { index: Some(index), violations: out, unique }
    }
}

/// Adds `place` to `exercised`, copying it only the first time.
fn exercise(exercised: &mut BTreeSet<String>, place: &str) {
    if !exercised.contains(place) {
        exercised.insert(place.to_string());
    }
}

/// The `assert` statements of `plan` judged against `message` (violations to `out`), and the
/// message's values of its `unique` statements.
fn assertions(plan: &Plan, message: &Message<'_>, out: &mut Vec<Violation>) -> Vec<UniqueValue> {
    let mut unique = Vec::new();
    for (n, statement) in plan.statements.iter().enumerate() {
        if let Some(expr) = &statement.assert {
            for (context, at) in statement_contexts(statement.each.as_deref(), message) {
                if eval(&expr.node, message, context) {
                    continue;
                }
                let (path, segment_index) = match (at, &statement.each) {
                    (Some((occurrence, index)), Some(id)) => {
                        (format!("{id}[{occurrence}]"), Some(index))
                    }
                    _ => ("message".to_string(), None),
                };
                let text = statement.description.as_deref().unwrap_or_default();
                out.push(Violation {
                    severity: statement_severity(statement.severity),
                    rule: Rule::Statement,
                    path,
                    segment_index,
                    message: format!("{} does not hold: {expr}{}", statement.id, suffix(text)),
                    profile: plan.id.clone(),
                    place: format!("statements {}", statement.id),
                });
            }
        }
        if let Some(path) = &statement.unique {
            if let Some(value) = message.get(&path.0).filter(|v| !v.is_empty()) {
                unique.push(UniqueValue { statement: n, value: message.text(&value).into_owned() });
            }
        }
    }
    unique
}

fn statement_severity(severity: Option<StatementSeverity>) -> Severity {
    match severity {
        Some(StatementSeverity::Warning) => Severity::Warning,
        _ => Severity::Error,
    }
}

impl Memory {
    /// An empty memory for the message profiles of `judge`.
    pub fn new(judge: &ProfileJudge) -> Memory {
        Memory {
            seen: HashMap::new(),
            remembered: 0,
            full_noted: false,
            messages: 0,
            exercised: vec![BTreeSet::new(); judge.plans.len()],
        }
    }

    /// [`remember`](Self::remember), naming the message `message N` by the count of messages
    /// this memory has judged.
    pub fn remember_numbered(&mut self, judge: &ProfileJudge, judged: Judged) -> Vec<Violation> {
        let label = format!("message {}", self.messages + 1);
        self.remember(judge, judged, &label)
    }

    /// The violations of a message `judge` judged (`judged`), with those of its `unique`
    /// statements after them: a value an earlier message had is a violation naming that
    /// message; a new one is remembered with `label`.
    pub fn remember(
        &mut self,
        judge: &ProfileJudge,
        judged: Judged,
        label: &str,
    ) -> Vec<Violation> {
        self.messages += 1;
        let Judged { index, mut violations, unique } = judged;
        let Some(plan) = index.and_then(|i| judge.plans.get(i)) else { return violations };
        for UniqueValue { statement, value } in unique {
            let Some(statement) = plan.statements.get(statement) else { continue };
            let Some(path) = &statement.unique else { continue };
            let text = statement.description.as_deref().unwrap_or_default();
            let severity = statement_severity(statement.severity);
            let key = value_key(&value);
            let seen = self.seen.entry(statement.id.clone()).or_default();
            match seen.get(&key) {
                Some(first) => violations.push(Violation {
                    severity,
                    rule: Rule::Unique,
                    path: format!("{path}"),
                    segment_index: None,
                    message: format!(
                        "{value:?} was already sent in {first}: {} must be unique{}",
                        path,
                        suffix(text)
                    ),
                    profile: plan.id.clone(),
                    place: format!("statements {}", statement.id),
                }),
                None if self.remembered < MAX_REMEMBERED => {
                    seen.insert(key, label.to_string());
                    self.remembered += 1;
                }
                None if !self.full_noted => {
                    self.full_noted = true;
                    violations.push(Violation {
                        severity: Severity::Info,
                        rule: Rule::Unique,
                        path: format!("{path}"),
                        segment_index: None,
                        message: format!(
                            "{MAX_REMEMBERED} values remembered: later ones are not compared"
                        ),
                        profile: plan.id.clone(),
                        place: format!("statements {}", statement.id),
                    });
                }
                None => {}
            }
        }
        violations
    }
}

/// A value as `unique` statements remember it.
fn value_key(value: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

fn suffix(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(" ({text})")
    }
}

fn judge_segments(
    plan: &Plan,
    message: &Message<'_>,
    version: &str,
    out: &mut Vec<Violation>,
    exercised: Option<&mut BTreeSet<String>>,
) {
    let mut exercised = exercised;
    let assigned = match &plan.tree {
        Some(tree) => {
            let matched = match_tree(tree, message, &plan.id);
            out.extend(matched.violations);
            if let Some(exercised) = exercised.as_deref_mut() {
                exercised.extend(matched.present);
            }
            matched.assigned
        }
        None => vec![None; message.segment_count()],
    };
    let mut occurrences: HashMap<&str, usize> = HashMap::new();
    let mut judge = Judge { message, profile_id: &plan.id, version, out, exercised };
    for (position, segment) in message.segments().enumerate() {
        let id = segment.id();
        let occurrence = occurrences.entry(id).or_default();
        *occurrence += 1;
        let fields = match assigned.get(position).copied().flatten().map(|e| &e.kind) {
            Some(super::plan::Kind::Segment { fields, .. }) => Some(fields),
            _ => plan.fields_by_id.get(id),
        };
        if let Some(fields) = fields {
            judge.segment(&segment, *occurrence, fields);
        }
    }
}

/// `constraints: { PV1: { usage: X } }`: occurrences of the id over the whole message.
/// Returns whether the message has the segment.
fn judge_segment_rule(
    plan: &Plan,
    rule: &SegmentRule,
    message: &Message<'_>,
    out: &mut Vec<Violation>,
) -> bool {
    let count = message.segments().filter(|s| s.id() == rule.id).count();
    let first = message.segments().find(|s| s.id() == rule.id).map(|s| s.index());
    let holds = rule.predicate.as_ref().is_none_or(|p| eval(p, message, Context::default()));
    let mut report = |severity, kind, text: String| {
        out.push(Violation {
            severity,
            rule: kind,
            path: rule.id.clone(),
            segment_index: first,
            message: text,
            profile: plan.id.clone(),
            place: rule.place.clone(),
        })
    };
    if let Some(usage) = rule.usage {
        match usage.resolve(holds) {
            Plain::Required if count == 0 => {
                report(Severity::Error, Rule::Usage, format!("segment {} is required (usage {usage}) but absent", rule.id))
            }
            Plain::RequiredOrEmpty if count == 0 => report(
                Severity::Warning,
                Rule::Usage,
                format!("segment {} (usage {usage}) is absent: it must be sent when the sender has the data", rule.id),
            ),
            Plain::NotSupported if count > 0 => {
                report(Severity::Error, Rule::Usage, format!("segment {} is not supported (usage {usage}) but present", rule.id))
            }
            _ => {}
        }
    }
    if let Some(cardinality) = rule.cardinality {
        if count > 0 && !cardinality.allows(count) {
            report(
                Severity::Error,
                Rule::Cardinality,
                format!(
                    "segment {} occurs {count} time(s); the profile allows {cardinality}",
                    rule.id
                ),
            );
        }
    }
    count > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = r#"
value_sets:
  gender: { codes: [M, F, U] }
message_profiles:
- message: ADT^A04
  version: "2.6"
  segments:
  - { segment: MSH, usage: R }
  - { segment: EVN, usage: R }
  - segment: PID
    usage: R
    fields:
    - { position: 3, usage: R, cardinality: "1..2" }
    - position: 5
      usage: R
      components:
      - { position: 1, usage: R, length: 20 }
      - { position: 2, usage: RE }
    - { position: 8, usage: R, value_set: gender }
    - { position: 11, usage: X }
  - { segment: PV1, usage: O }
  - group: INSURANCE
    usage: O
    cardinality: "0..*"
    elements:
    - { segment: IN1, usage: R }
    - { segment: IN2, usage: O }
  constraints:
    MSH-4: { pattern: '[a-z]+\{[a-z]+\}' }
    PID-7: { usage: "C(R/O)", predicate: "PID-8 = F", datatype: DTM }
  statements:
  - { id: doc-unique, unique: PID-3.1 }
  - { id: birth-before-event, assert: "PID-7 < EVN-2 or PID-7 is not valued or EVN-2 is not valued" }
"#;

    fn validator() -> Validator {
        let profile: TargetProfile = crate::scenario::from_yaml(PROFILE).expect("profile");
        assert!(crate::profile::message::check_shape(
            &profile.message_profiles,
            &profile.value_sets
        )
        .is_empty());
        Validator::new(&profile)
    }

    const GOOD: &str = "MSH|^~\\&|EHR|trust{trust}|MD|MD|20240101||ADT^A04|1|P|2.6\rEVN|A04|20240101\rPID|1||123^^^H^MR||Doe^Jane||19800101|F\rPV1|1|O\rIN1|1\rIN2|1\rIN1|2\r";

    fn violations(v: &mut Validator, text: &str) -> Vec<String> {
        let message = Message::parse(text.as_bytes()).expect("parse");
        v.validate(&message).iter().map(|v| v.to_string()).collect()
    }

    /// The shared judge and the locked memory, used apart as a server uses them, find what
    /// the validator finds, `unique` violations and their order included.
    #[test]
    fn the_judge_and_the_memory_apart_find_what_the_validator_finds() {
        let messages = [
            GOOD.to_string(),
            GOOD.replace("|1|P|", "|2|P|").replace("Doe^Jane", "^Jane"),
            GOOD.replace("|1|P|", "|3|P|").replace("|F\r", "|X\r"),
            GOOD.replace("ADT^A04", "ORU^R01"),
        ];
        let mut whole = validator();
        let (judge, mut memory) = validator().split();
        for text in &messages {
            let message = Message::parse(text.as_bytes()).expect("parse");
            let expected = whole.validate(&message);
            let judged = judge.judge(&message, None);
            let found = memory.remember_numbered(&judge, judged);
            assert_eq!(found, expected, "{text}");
        }
        let unique = |found: &[Violation]| found.iter().filter(|v| v.rule == Rule::Unique).count();
        let second = Message::parse(messages[1].as_bytes()).expect("parse");
        assert_eq!(unique(&whole.validate(&second)), 1, "123 was sent before");
    }

    /// A violation's path names the repetition (from the second on) and the component.
    #[test]
    fn paths_name_the_repetition_and_the_component() {
        let profile: TargetProfile = crate::scenario::from_yaml(
            "message_profiles:\n- message: ADT^A04\n  segments:\n  - segment: PID\n    usage: R\n    fields:\n    - position: 3\n      usage: O\n      components:\n      - { position: 1, length: 3 }\n      - { position: 4, usage: X }\n",
        )
        .expect("profile");
        let mut v = Validator::new(&profile);
        let text = "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.6\rPID|1||1234^^^H~12^^^H~123456\r";
        let paths: Vec<String> = v
            .validate(&Message::parse(text.as_bytes()).expect("parse"))
            .into_iter()
            .map(|v| v.path)
            .filter(|p| p.starts_with("PID"))
            .collect();
        assert_eq!(paths, ["PID[1]-3.1", "PID[1]-3.4", "PID[1]-3[2].4", "PID[1]-3[3].1"]);
    }

    #[test]
    fn a_conforming_message_passes() {
        let found = violations(&mut validator(), GOOD);
        assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn permitted_choices_pass() {
        let mut v = validator();
        // PV1 and the insurance group are optional; PID-7 is required only for F.
        let text = "MSH|^~\\&|EHR|trust{trust}|MD|MD|20240101||ADT^A04|1|P|2.6\rEVN|A04|20240101\rPID|1||123^^^H^MR||Doe^Jane|||M\r";
        assert!(violations(&mut v, text).is_empty());
        // `""` is a value of every type (delete), and RE may be empty with a warning only.
        let text = "MSH|^~\\&|EHR|trust{trust}|MD|MD|20240101||ADT^A04|2|P|2.6\rEVN|A04|20240101\rPID|1||124^^^H^MR||Doe||\"\"|M\r";
        let found = violations(&mut v, text);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].starts_with("warning usage PID[1]-5.2"), "{found:#?}");
    }

    #[test]
    fn each_defect_is_named() {
        let cases = [
            ("||Doe^Jane||19800101|F", "||^Jane||19800101|F", "error usage PID[1]-5.1 (segment 3): required (usage R) but not valued [adt-a04: segments[2] PID, field 5.1]"),
            ("|F\r", "|X\r", "error value-set PID[1]-8 (segment 3): \"X\" is not in value set gender"),
            ("|F\r", "|F|||X\r", "error usage PID[1]-11 (segment 3): valued but not supported (usage X)"),
            ("Doe^Jane", "Doeeeeeeeeeeeeeeeeeeeeeeeeee^Jane", "error length PID[1]-5.1 (segment 3): 28 characters; the profile allows 20"),
            ("trust{trust}", "trust", "error pattern MSH[1]-4 (segment 1): \"trust\" does not match"),
            ("||19800101|F", "|||F", "error usage PID[1]-7 (segment 3): required (usage C(R/O)) but not valued [adt-a04: constraints PID-7]"),
            ("123^^^H^MR", "1~2~3", "error cardinality PID[1]-3 (segment 3): 3 repetition(s); the profile allows 1..2"),
            ("EVN|A04|20240101\r", "", "error usage EVN: EVN is required (usage R) but absent"),
            ("PV1|1|O\r", "PV1|1|O\rPV1|2\r", "error cardinality PV1[1] (segment 4): PV1 occurs 2 time(s); the profile allows 0..1"),
            ("19800101", "19801301", "error datatype PID[1]-7 (segment 3): \"19801301\" is not a valid DTM: month 13"),
            ("|2.6\r", "|2.5\r", "error fixed MSH[1]-12 (segment 1): version \"2.5\"; the profile is written for 2.6"),
            ("19800101", "20250101", "error statement message: birth-before-event does not hold"),
            ("IN2|1\r", "IN2|1\rZZZ|1\r", "warning structure ZZZ[1] (segment 7): segment ZZZ is not in the profile"),
            ("IN2|1\r", "IN2|1\rPID|2||9^^^H^MR||Roe^Jo||19800101|F\r", "error structure PID[2] (segment 7): segment PID is out of place here"),
        ];
        for (from, to, expected) in cases {
            let mut v = validator();
            let text = GOOD.replacen(from, to, 1);
            assert_ne!(text, GOOD, "{from} must be in the fixture");
            let found = violations(&mut v, &text);
            assert!(
                found.iter().any(|f| f.starts_with(expected)),
                "{from} → {to}: expected {expected}\n got {found:#?}"
            );
            let errors = found.iter().filter(|f| f.starts_with("error")).count();
            assert!(errors <= 1, "{from} → {to}: exactly one error expected, got {found:#?}");
        }
    }

    #[test]
    fn an_absent_optional_group_is_not_broken_and_a_present_one_is_judged() {
        let mut v = validator();
        let text = GOOD.replace("IN1|1\rIN2|1\rIN1|2\r", "");
        assert!(violations(&mut v, &text).is_empty());
        let text = GOOD.replace("IN1|1\rIN2|1\rIN1|2\r", "IN2|1\r");
        let found = violations(&mut v, &text);
        assert!(found.iter().any(|f| f.starts_with("error usage IN1")), "{found:#?}");
    }

    #[test]
    fn unique_values_are_remembered_across_messages() {
        let mut v = validator();
        assert!(violations(&mut v, GOOD).is_empty());
        let again = GOOD.replace("|1|P|", "|2|P|");
        let found = violations(&mut v, &again);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains("\"123\" was already sent in message 1"), "{found:#?}");
    }

    #[test]
    fn coverage_names_the_rules_no_message_exercised() {
        let mut v = validator();
        violations(&mut v, &GOOD.replace("IN1|1\rIN2|1\rIN1|2\r", ""));
        let coverage = &v.coverage()[0];
        assert_eq!(coverage.profile, "adt-a04");
        assert!(
            coverage.missed.contains(&"segments[4] group INSURANCE".to_string()),
            "{coverage:#?}"
        );
        assert!(
            coverage.missed.contains(&"segments[2] PID, field 11".to_string()),
            "{coverage:#?}"
        );
        assert!(
            coverage.exercised.contains(&"segments[2] PID, field 5.1".to_string()),
            "{coverage:#?}"
        );
        assert!(coverage.exercised.contains(&"statements doc-unique".to_string()));
        violations(&mut v, GOOD);
        let coverage = &v.coverage()[0];
        assert!(!coverage.missed.contains(&"segments[4] group INSURANCE".to_string()));
        assert_eq!(coverage.exercised.len() + coverage.missed.len(), coverage.rules);
    }

    #[test]
    fn the_code_of_a_component_with_sub_components_is_its_first() {
        let yaml = "value_sets:\n  authorities: { codes: [NHS] }\nmessage_profiles:\n- message: ADT^A04\n  constraints:\n    PID-3.4: { value_set: authorities }\n";
        let profile: TargetProfile = crate::scenario::from_yaml(yaml).expect("profile");
        let mut v = Validator::new(&profile);
        let text = "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.6\rPID|1||9^^^NHS&2.16.840.1.113883.2.1.4.1&ISO^NH\r";
        assert!(violations(&mut v, text).is_empty());
        let other = text.replace("NHS&", "XYZ&");
        let found = violations(&mut v, &other);
        assert!(found[0].contains("\"XYZ\" is not in value set authorities"), "{found:#?}");
    }

    #[test]
    fn a_message_no_profile_covers_is_a_note() {
        let mut v = validator();
        let found = violations(&mut v, &GOOD.replace("ADT^A04", "ADT^A08"));
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("info no-profile"), "{found:#?}");
    }

    /// A statement with `each:` holds for every occurrence of its segment, read beside it,
    /// and a finding names the occurrence that breaks it; no occurrence, nothing to hold.
    #[test]
    fn a_statement_for_each_occurrence_names_the_one_that_breaks_it() {
        let yaml = r#"
message_profiles:
- message: ORU^R01
  statements:
  - { id: typed-value, each: OBX, assert: "OBX-2 is valued or OBX-5 is not valued" }
"#;
        let profile: TargetProfile = crate::scenario::from_yaml(yaml).expect("profile");
        assert!(crate::profile::message::check_shape(
            &profile.message_profiles,
            &profile.value_sets
        )
        .is_empty());
        let mut v = Validator::new(&profile);
        let head = "MSH|^~\\&|LAB|LAB|MD|MD|20240101||ORU^R01|1|P|2.5.1\rPID|1||7\rOBR|1\r";
        let good = format!("{head}OBX|1|NM|||5\rOBX|2|||\rOBX|3|ST|||x\r");
        let found = violations(&mut v, &good);
        assert!(found.iter().all(|f| !f.contains("typed-value")), "{found:#?}");
        let bad = format!("{head}OBX|1|NM|||5\rOBX|2||||6\r");
        let found: Vec<String> =
            violations(&mut v, &bad).into_iter().filter(|f| f.contains("typed-value")).collect();
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("error statement OBX[2] (segment 5): typed-value"),
            "{found:#?}"
        );
        let none = violations(&mut v, head);
        assert!(none.iter().all(|f| !f.contains("typed-value")), "{none:#?}");
    }

    #[test]
    fn each_must_name_a_segment_beside_an_assertion() {
        let yaml = r#"
message_profiles:
- message: ORU^R01
  statements:
  - { id: a, each: "OBX-2", assert: "OBX-2 is valued" }
  - { id: b, each: OBX, unique: OBX-3 }
"#;
        let profile: TargetProfile = crate::scenario::from_yaml(yaml).expect("profile");
        let errors =
            crate::profile::message::check_shape(&profile.message_profiles, &profile.value_sets);
        assert_eq!(errors.len(), 2, "{errors:#?}");
    }
}
