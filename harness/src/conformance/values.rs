//! Judging one segment's fields, components and sub-components against their rules: usage,
//! cardinality, length, data type, value set, fixed value and pattern.

use super::eval::{eval, Context};
use super::plan::{Field, ValueSetRef};
use super::violation::{Rule, Violation};
use crate::hl7::message::{Message, Segment};
use crate::hl7::value::{Presence, Value};
use crate::hl7::Severity;
use crate::profile::message::Binding;
use crate::profile::usage::Plain;

/// What judging a segment needs beside the segment.
pub struct Judge<'a, 'm> {
    pub message: &'a Message<'m>,
    pub profile_id: &'a str,
    /// The version whose data types apply (the profile's, else MSH-12).
    pub version: &'a str,
    pub out: &'a mut Vec<Violation>,
    /// Places of the rules that met a valued element (the profile's coverage), when kept.
    pub exercised: Option<&'a mut std::collections::BTreeSet<String>>,
}

impl Judge<'_, '_> {
    /// Notes that the rule at `place` met a valued element, copying the place only the first
    /// time.
    fn exercise(&mut self, place: &str) {
        if let Some(exercised) = self.exercised.as_deref_mut() {
            if !exercised.contains(place) {
                exercised.insert(place.to_string());
            }
        }
    }

    /// Every field rule against this occurrence of the segment.
    pub fn segment(&mut self, segment: &Segment<'_>, occurrence: usize, fields: &[Field]) {
        let id = segment.id();
        let context = Context { segment: Some((id, occurrence)) };
        for rule in fields {
            let value = segment.field(rule.position);
            let repetitions: Vec<(usize, Value<'_>)> = match value {
                Some(v) => v.repetitions().enumerate().filter(|(_, r)| !r.is_empty()).collect(),
                None => Vec::new(),
            };
            let step = Step::Field { segment: id, occurrence, position: rule.position };
            let at = Spot { within: None, step, segment_index: segment.index() };
            self.usage(rule, !repetitions.is_empty(), context, &at);
            if let Some(cardinality) = rule.cardinality {
                let n = repetitions.len();
                if n > 0 && !cardinality.allows(n) {
                    self.report(
                        Severity::Error,
                        Rule::Cardinality,
                        &at,
                        rule,
                        format!("{n} repetition(s); the profile allows {cardinality}"),
                    );
                }
            }
            if !repetitions.is_empty() {
                self.exercise(&rule.place);
            }
            for (k, repetition) in repetitions {
                let at = Spot { within: Some(&at), step: Step::Repetition(k + 1), ..at };
                self.value(rule, repetition, context, &at, 1);
            }
        }
    }

    fn usage(&mut self, rule: &Field, valued: bool, context: Context<'_>, at: &Spot<'_>) {
        let Some(usage) = rule.usage else { return };
        let holds = rule.predicate.as_ref().is_none_or(|p| eval(p, self.message, context));
        match (usage.resolve(holds), valued) {
            (Plain::Required, false) => self.report(
                Severity::Error,
                Rule::Usage,
                at,
                rule,
                format!("required (usage {usage}) but not valued"),
            ),
            (Plain::RequiredOrEmpty, false) => self.report(
                Severity::Warning,
                Rule::Usage,
                at,
                rule,
                format!("not valued (usage {usage}: must be sent when the sender has the data)"),
            ),
            (Plain::NotSupported, true) => self.report(
                Severity::Error,
                Rule::Usage,
                at,
                rule,
                format!("valued but not supported (usage {usage})"),
            ),
            _ => {}
        }
    }

    /// One valued repetition (level 1), component (2) or sub-component (3).
    fn value(
        &mut self,
        rule: &Field,
        value: Value<'_>,
        context: Context<'_>,
        at: &Spot<'_>,
        level: u8,
    ) {
        // `""` (present but null) is a value of every type: the sender asks to delete it.
        if value.presence() == Presence::Null {
            return;
        }
        let text = self.message.text(&value);
        if let Some(length) = rule.length {
            let chars = text.chars().count();
            if !length.allows(chars) {
                self.report(
                    Severity::Error,
                    Rule::Length,
                    at,
                    rule,
                    format!("{chars} characters; the profile allows {length}"),
                );
            }
        }
        if let Some(fixed) = &rule.fixed {
            if text != fixed.as_str() {
                self.report(
                    Severity::Error,
                    Rule::Fixed,
                    at,
                    rule,
                    format!("{:?} where the profile fixes {fixed:?}", clip(&text)),
                );
            }
        }
        if let Some((source, re)) = &rule.pattern {
            if !re.is_match(&text) {
                self.report(
                    Severity::Error,
                    Rule::Pattern,
                    at,
                    rule,
                    format!("{:?} does not match the pattern {source:?}", clip(&text)),
                );
            }
        }
        if let Some(datatype) = &rule.datatype {
            if let Some(problem) =
                super::base::datatype_problem(datatype, &value, self.message, self.version)
            {
                self.report(Severity::Error, Rule::Datatype, at, rule, problem);
            }
        }
        if let Some(set) = &rule.value_set {
            // The code of a composite is its first piece: component 1 of a field, sub-component
            // 1 of a component.
            let first = match level {
                1 => value.component(1),
                2 => value.subcomponent(1),
                _ => None,
            };
            let code = match first {
                Some(first) if value.is_composite() => self.message.text(&first),
                _ => text.clone(),
            };
            self.value_set(rule, set, &code, at);
        }
        let child_level = level + 1;
        for child in &rule.components {
            let part = if level == 1 {
                value.component(child.position)
            } else {
                value.subcomponent(child.position)
            };
            let part = part.filter(|p| !p.is_empty());
            let spot = Spot { within: Some(at), step: Step::Component(child.position), ..*at };
            self.usage(child, part.is_some(), context, &spot);
            if let Some(part) = part {
                self.exercise(&child.place);
                self.value(child, part, context, &spot, child_level);
            }
        }
    }

    fn value_set(&mut self, rule: &Field, set: &ValueSetRef, code: &str, at: &Spot<'_>) {
        let (name, known) = match set {
            ValueSetRef::Site { name, codes } => (name.as_str(), Some(codes.contains(code))),
            ValueSetRef::Hl7Table { name, number } => {
                (name.as_str(), super::base::table_has(*number, code, self.version))
            }
        };
        let severity = match rule.binding {
            Binding::Required => Severity::Error,
            Binding::Suggested => Severity::Warning,
        };
        match known {
            Some(true) => {}
            Some(false) => self.report(
                severity,
                Rule::ValueSet,
                at,
                rule,
                format!("{:?} is not in value set {name}", clip(code)),
            ),
            None => self.report(
                Severity::Info,
                Rule::ValueSet,
                at,
                rule,
                format!("value set {name} has no codes for version {} in the harness's tables: {:?} not checked", self.version, clip(code)),
            ),
        }
    }

    fn report(
        &mut self,
        severity: Severity,
        kind: Rule,
        at: &Spot<'_>,
        rule: &Field,
        message: String,
    ) {
        self.out.push(Violation {
            severity,
            rule: kind,
            path: at.path(),
            segment_index: Some(at.segment_index),
            message,
            profile: self.profile_id.to_string(),
            place: rule.place.clone(),
        });
    }
}

/// Where a rule is judged, written out as a path (`PID[1]-5[2].1`) only when a violation is
/// reported: most rules hold, and a message meets dozens of them.
#[derive(Clone, Copy)]
struct Spot<'a> {
    /// The element this one is a part of (`None`: a field).
    within: Option<&'a Spot<'a>>,
    step: Step<'a>,
    segment_index: usize,
}

/// One step of a path.
#[derive(Clone, Copy)]
enum Step<'a> {
    /// A field of an occurrence of a segment: `PID[1]-5`.
    Field { segment: &'a str, occurrence: usize, position: usize },
    /// The n-th repetition (from 1) of the field: `[n]`, unwritten for the first.
    Repetition(usize),
    /// A component, or a subcomponent of a component: `.n`.
    Component(usize),
}

impl Spot<'_> {
    fn path(&self) -> String {
        let mut path = String::new();
        self.write(&mut path);
        path
    }

    fn write(&self, path: &mut String) {
        use std::fmt::Write;
        if let Some(within) = self.within {
            within.write(path);
        }
        let _ = match self.step {
            Step::Field { segment, occurrence, position } => {
                write!(path, "{segment}[{occurrence}]-{position}")
            }
            Step::Repetition(1) => Ok(()),
            Step::Repetition(n) => write!(path, "[{n}]"),
            Step::Component(n) => write!(path, ".{n}"),
        };
    }
}

/// A value as findings quote it: at most 60 characters.
fn clip(text: &str) -> String {
    if text.chars().count() <= 60 {
        text.to_string()
    } else {
        let head: String = text.chars().take(57).collect();
        format!("{head}...")
    }
}
