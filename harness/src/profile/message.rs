//! Message constraints: what an interface specification says each message must contain, in the
//! target profile's own YAML (the static part of an HL7 v2 message profile: usage, cardinality,
//! length, data type, value set, fixed values, patterns, predicates and conformance statements).
//!
//! A message profile can be written two ways, and both can be mixed:
//! - a `segments:` tree (what an imported XML profile gives): the grammar as the specification
//!   restricts it, every segment with its fields and components;
//! - `constraints:` by path (`PID-5.1: { usage: R }`), refining the standard's definition (or the
//!   tree's) in every occurrence: how a hand-written site specification reads.
//!
//! This module owns the format only; `conformance` judges messages against it.

use super::expr::Expr;
use super::usage::{Cardinality, Length, Usage};
use crate::hl7::path::Path;
use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One message of the specification (HL7 v2 "static definition").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageProfile {
    /// Stable id that findings and generated cases use (default: `<type>-<event>`, lower case,
    /// e.g. `adt-a04`).
    #[serde(default)]
    pub id: Option<String>,
    /// MSH-9.1 and MSH-9.2 this definition applies to, e.g. `ADT^A04` (`ACK^*` for any trigger).
    pub message: MessageKey,
    /// MSH-9.3, e.g. `ADT_A01` (default: the standard's structure for the event and version).
    #[serde(default)]
    pub structure: Option<String>,
    /// The HL7 version the definition is written for (MSH-12), e.g. `"2.6"`. Without it, the
    /// message's own MSH-12 chooses the standard's tables.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// The segments and groups in order. When absent, the standard's grammar for the structure
    /// and version is the grammar and `constraints` refine it.
    #[serde(default)]
    pub segments: Option<Vec<ElementSpec>>,
    /// Constraints by path (`PID`, `PID-5`, `PID-5.1`, `PID-5.1.1`), applied to every
    /// occurrence of that element on top of the standard's (or the tree's) definition.
    #[serde(default)]
    pub constraints: BTreeMap<ProfilePath, Constraint>,
    /// Conformance statements every message of this kind must meet.
    #[serde(default)]
    pub statements: Vec<Statement>,
}

impl MessageProfile {
    /// The id findings name this definition by.
    pub fn id(&self) -> String {
        self.id.clone().unwrap_or_else(|| {
            format!("{}-{}", self.message.code, self.message.event).to_ascii_lowercase()
        })
    }
}

/// `ADT^A04`: message code and trigger event; `*` as the event matches every trigger.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageKey {
    pub code: String,
    pub event: String,
}

impl MessageKey {
    pub fn parse(text: &str) -> Result<MessageKey, String> {
        let (code, event) = text
            .split_once(['^', '_'])
            .ok_or_else(|| format!("{text:?}: expected TYPE^EVENT, e.g. ADT^A04"))?;
        let word = |w: &str| w.len() == 3 && w.bytes().all(|b| b.is_ascii_alphanumeric());
        if !word(code) || !(word(event) || event == "*") {
            return Err(format!("{text:?}: expected TYPE^EVENT, e.g. ADT^A04"));
        }
        Ok(MessageKey { code: code.to_string(), event: event.to_string() })
    }

    /// Whether a message with this MSH-9.1 and MSH-9.2 falls under the definition.
    pub fn matches(&self, code: &str, event: &str) -> bool {
        self.code == code && (self.event == "*" || self.event == event)
    }
}

impl fmt::Display for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}^{}", self.code, self.event)
    }
}

/// A segment or a group in a `segments:` tree. Exactly one of `segment` and `group`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ElementSpec {
    /// Segment id, e.g. `PID`.
    #[serde(default)]
    pub segment: Option<String>,
    /// Group name, e.g. `PROCEDURE`; its members are in `elements`.
    #[serde(default)]
    pub group: Option<String>,
    pub usage: Usage,
    /// Default `0..1` for O/RE/C/X, `1..1` for R.
    #[serde(default)]
    pub cardinality: Option<Cardinality>,
    /// For usage C/CE: when the element is required (or allowed).
    #[serde(default)]
    pub predicate: Option<Expr>,
    #[serde(default)]
    pub description: Option<String>,
    /// A group's members, in order.
    #[serde(default)]
    pub elements: Vec<ElementSpec>,
    /// A segment's fields, by position; fields not listed keep the standard's definition.
    #[serde(default)]
    pub fields: Vec<Constraint>,
}

impl ElementSpec {
    /// `PID` or `group PROCEDURE`, for messages.
    pub fn label(&self) -> String {
        match (&self.segment, &self.group) {
            (Some(s), _) => s.clone(),
            (None, Some(g)) => format!("group {g}"),
            (None, None) => "(unnamed)".into(),
        }
    }

    /// The cardinality written, or the one the usage implies.
    pub fn cardinality(&self) -> Cardinality {
        self.cardinality.unwrap_or_else(|| self.usage.implied_cardinality())
    }
}

/// What the specification says of one field, component or sub-component. Every key is
/// optional: what is left out keeps the standard's definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Constraint {
    /// 1-based position (in a `segments:` tree's `fields` and in `components`; a
    /// `constraints:` entry takes it from its path).
    #[serde(default)]
    pub position: Option<u16>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Repetitions allowed (fields only), e.g. `0..1`, `1..*`.
    #[serde(default)]
    pub cardinality: Option<Cardinality>,
    /// Maximum length in characters (`20`), or `min..max` (`1..20`), of each repetition's
    /// value as sent (escape sequences counted decoded).
    #[serde(default)]
    pub length: Option<Length>,
    /// HL7 data type the value must meet, e.g. `DTM`, `NM`, `CWE`.
    #[serde(default)]
    pub datatype: Option<String>,
    /// A value set: a name of this profile's `value_sets`, or an HL7 table as `HL70001`. For a
    /// composite (CE, CWE, CNE, HD, …) the code is its first component.
    #[serde(default)]
    pub value_set: Option<String>,
    /// `required` (default): a code outside the set is an error; `suggested`: a warning.
    #[serde(default)]
    pub binding: Option<Binding>,
    /// The only value allowed.
    #[serde(default)]
    pub fixed: Option<String>,
    /// A regular expression the whole value must match (Rust `regex` syntax, anchored).
    #[serde(default)]
    pub pattern: Option<Pattern>,
    /// For usage C/CE: when the element is required (or allowed).
    #[serde(default)]
    pub predicate: Option<Expr>,
    /// The components (of a field) or sub-components (of a component), by position.
    #[serde(default)]
    pub components: Vec<Constraint>,
    /// What the specification says of it in prose (an imported profile's notes and predicate
    /// text): shown by `profile show`, never judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// How strongly a value set binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Binding {
    Required,
    Suggested,
}

/// A regular expression, checked when the profile is read so a bad one is reported with the
/// profile's line instead of at the first message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Pattern(pub String);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        regex::Regex::new(&format!("^(?:{text})$"))
            .map_err(|e| de::Error::custom(format!("pattern {text:?}: {e}")))?;
        Ok(Pattern(text))
    }
}

/// A path as a `constraints:` key: `PID`, `PID-5`, `PID-5.1` or `PID-5.1.1` (no occurrence
/// or repetition: a constraint holds for every one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(with = "String")]
pub struct ProfilePath(pub Path);

impl ProfilePath {
    pub fn parse(text: &str) -> Result<ProfilePath, String> {
        let path = Path::parse(text).map_err(|e| e.to_string())?;
        if path.occurrence.is_some() || path.repetition.is_some() {
            return Err(format!(
                "{text:?}: a constraint holds for every occurrence and repetition; write the path without [n]"
            ));
        }
        Ok(ProfilePath(path))
    }

    /// Depth below the segment: 0 segment, 1 field, 2 component, 3 sub-component.
    pub fn depth(&self) -> usize {
        match (self.0.field, self.0.component, self.0.subcomponent) {
            (None, _, _) => 0,
            (Some(_), None, _) => 1,
            (Some(_), Some(_), None) => 2,
            (Some(_), Some(_), Some(_)) => 3,
        }
    }
}

impl fmt::Display for ProfilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialOrd for ProfilePath {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ProfilePath {
    /// Segment id, then field, component, sub-component: the order a reader expects.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let key = |p: &ProfilePath| {
            (p.0.segment_id().to_string(), p.0.field, p.0.component, p.0.subcomponent)
        };
        key(self).cmp(&key(other))
    }
}

impl Serialize for ProfilePath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ProfilePath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ProfilePath::parse(&text).map_err(de::Error::custom)
    }
}

impl Serialize for MessageKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MessageKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        MessageKey::parse(&text).map_err(de::Error::custom)
    }
}

impl JsonSchema for MessageKey {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MessageKey".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "pattern": "^[A-Z0-9]{3}[\\^_]([A-Z0-9]{3}|\\*)$" })
    }
}

/// A conformance statement: an assertion every message must meet, or an element whose value
/// must be unique across the messages a sender delivers (e.g. TXA-12, SCH-1 of seed 004).
/// Exactly one of `assert` and `unique`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Stable id findings name, e.g. `msh4-alias`.
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    /// An expression (see `profile::expr`) that must be true.
    #[serde(default)]
    pub assert: Option<Expr>,
    /// A path whose value no two messages may share.
    #[serde(default)]
    pub unique: Option<ProfilePath>,
    /// `error` (default) or `warning`.
    #[serde(default)]
    pub severity: Option<StatementSeverity>,
    /// A segment id (`OBX`): `assert` is evaluated once for every occurrence of that segment,
    /// a path to it without an occurrence reading the occurrence judged (as a field's
    /// predicate reads its own segment), and a finding names the occurrence. This is how a
    /// statement on a segment that repeats holds for each one (NIST/IGAMT segment-context
    /// statements). Without it, `assert` is evaluated once over the whole message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub each: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatementSeverity {
    Error,
    Warning,
}

/// A site's own code table (HL7 "user-defined" tables and local value sets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValueSet {
    #[serde(default)]
    pub description: Option<String>,
    /// The codes allowed.
    pub codes: Vec<String>,
}

/// A mistake in how a profile's message constraints fit together, found after reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {problem}")]
pub struct ShapeError {
    /// e.g. `message_profiles[2] (ADT^A04), segments[3]`.
    pub place: String,
    pub problem: String,
}

/// Checks what serde cannot: one of `segment`/`group`, positions, value-set names, statements.
pub fn check_shape(
    profiles: &[MessageProfile],
    value_sets: &BTreeMap<String, ValueSet>,
) -> Vec<ShapeError> {
    let mut errors = Vec::new();
    for (i, profile) in profiles.iter().enumerate() {
        let here = format!("message_profiles[{i}] ({})", profile.message);
        if let Some(tree) = &profile.segments {
            check_elements(tree, &format!("{here}, segments"), value_sets, &mut errors);
        }
        for (path, constraint) in &profile.constraints {
            if path.depth() == 0 && constraint_touches_values(constraint) {
                errors.push(ShapeError {
                    place: format!("{here}, constraints {path}"),
                    problem: "a segment takes only usage and cardinality".into(),
                });
            }
            check_constraint(
                constraint,
                &format!("{here}, constraints {path}"),
                value_sets,
                &mut errors,
            );
        }
        for (n, statement) in profile.statements.iter().enumerate() {
            if statement.assert.is_some() == statement.unique.is_some() {
                errors.push(ShapeError {
                    place: format!("{here}, statements[{n}] ({})", statement.id),
                    problem: "write exactly one of `assert` and `unique`".into(),
                });
            }
            if let Some(each) = &statement.each {
                let problem = if statement.assert.is_none() {
                    Some("`each` goes with `assert` (a `unique` value is one per message)")
                } else if Path::segment_only(each).is_err() {
                    Some("`each` names a segment id, e.g. `OBX`")
                } else {
                    None
                };
                if let Some(problem) = problem {
                    errors.push(ShapeError {
                        place: format!("{here}, statements[{n}] ({})", statement.id),
                        problem: problem.into(),
                    });
                }
            }
        }
    }
    errors
}

fn constraint_touches_values(c: &Constraint) -> bool {
    c.length.is_some()
        || c.datatype.is_some()
        || c.value_set.is_some()
        || c.fixed.is_some()
        || c.pattern.is_some()
        || !c.components.is_empty()
}

fn check_elements(
    elements: &[ElementSpec],
    here: &str,
    value_sets: &BTreeMap<String, ValueSet>,
    errors: &mut Vec<ShapeError>,
) {
    for (i, element) in elements.iter().enumerate() {
        let place = format!("{here}[{i}] ({})", element.label());
        match (&element.segment, &element.group) {
            (Some(_), Some(_)) | (None, None) => errors.push(ShapeError {
                place: place.clone(),
                problem: "write exactly one of `segment` and `group`".into(),
            }),
            (Some(id), None) => {
                if Path::segment_only(id).is_err() {
                    errors.push(ShapeError {
                        place: place.clone(),
                        problem: format!("{id:?} is not a segment id"),
                    });
                }
                if !element.elements.is_empty() {
                    errors.push(ShapeError {
                        place: place.clone(),
                        problem: "a segment has `fields`, not `elements`".into(),
                    });
                }
            }
            (None, Some(_)) => {
                if !element.fields.is_empty() {
                    errors.push(ShapeError {
                        place: place.clone(),
                        problem: "a group has `elements`, not `fields`".into(),
                    });
                }
                if element.elements.is_empty() {
                    errors.push(ShapeError {
                        place: place.clone(),
                        problem: "a group needs at least one element".into(),
                    });
                }
            }
        }
        check_usage(element.usage, element.predicate.is_some(), &place, errors);
        check_elements(&element.elements, &format!("{place}, elements"), value_sets, errors);
        for field in &element.fields {
            let at =
                format!("{place}, field {}", field.position.map_or("?".into(), |p| p.to_string()));
            if field.position.is_none() {
                errors.push(ShapeError { place: at.clone(), problem: "needs a `position`".into() });
            }
            check_constraint(field, &at, value_sets, errors);
        }
    }
}

fn check_constraint(
    c: &Constraint,
    place: &str,
    value_sets: &BTreeMap<String, ValueSet>,
    errors: &mut Vec<ShapeError>,
) {
    if let Some(usage) = c.usage {
        check_usage(usage, c.predicate.is_some(), place, errors);
    }
    if let Some(name) = &c.value_set {
        if !value_sets.contains_key(name) && hl7_table_number(name).is_none() {
            errors.push(ShapeError {
                place: place.into(),
                problem: format!(
                    "value set {name:?} is neither in `value_sets` nor an HL7 table (HL7nnnn)"
                ),
            });
        }
    }
    for component in &c.components {
        let at = format!("{place}.{}", component.position.map_or("?".into(), |p| p.to_string()));
        if component.position.is_none() {
            errors.push(ShapeError { place: at.clone(), problem: "needs a `position`".into() });
        }
        check_constraint(component, &at, value_sets, errors);
    }
}

fn check_usage(usage: Usage, has_predicate: bool, place: &str, errors: &mut Vec<ShapeError>) {
    if usage.is_conditional() && !has_predicate {
        errors.push(ShapeError {
            place: place.into(),
            problem: format!("usage {usage} needs a `predicate`"),
        });
    }
    if !usage.is_conditional() && has_predicate {
        errors.push(ShapeError {
            place: place.into(),
            problem: format!("a `predicate` only applies to usage C or CE, not {usage}"),
        });
    }
}

/// `HL70001` (or `HL7 0001`) → 1: the name of an HL7 table.
pub fn hl7_table_number(name: &str) -> Option<u16> {
    let digits = name.strip_prefix("HL7")?.trim_start();
    if digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_keys() {
        let key = MessageKey::parse("ADT^A04").expect("key");
        assert!(key.matches("ADT", "A04"));
        assert!(!key.matches("ADT", "A08"));
        assert!(MessageKey::parse("ACK^*").expect("any").matches("ACK", "A01"));
        assert!(MessageKey::parse("ADT").is_err());
        assert!(MessageKey::parse("ADT^A0").is_err());
    }

    #[test]
    fn constraint_paths_refuse_occurrences() {
        assert!(ProfilePath::parse("PID-5.1").is_ok());
        assert!(ProfilePath::parse("PID-3[2]").is_err());
        assert!(ProfilePath::parse("OBX[2]-5").is_err());
        assert_eq!(ProfilePath::parse("PID-5.1.2").expect("p").depth(), 3);
    }

    #[test]
    fn hl7_tables_by_name() {
        assert_eq!(hl7_table_number("HL70001"), Some(1));
        assert_eq!(hl7_table_number("HL7 0396"), Some(396));
        assert_eq!(hl7_table_number("HL7001"), None);
        assert_eq!(hl7_table_number("gender"), None);
    }

    fn shape(yaml: &str) -> Vec<String> {
        let profiles: Vec<MessageProfile> = serde_yaml::from_str(yaml).expect("yaml");
        let sets = BTreeMap::from([("gender".to_string(), ValueSet::default())]);
        check_shape(&profiles, &sets).into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn shape_errors_name_the_place() {
        let errors = shape(
            "- message: ADT^A04\n  segments:\n  - { segment: MSH, group: X, usage: R }\n  - { segment: PID, usage: C }\n  constraints:\n    PID-8: { value_set: sex }\n    PID-5: { value_set: gender, usage: R }\n  statements:\n  - { id: s1 }\n",
        );
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert!(errors[0].contains("segments[0] (MSH)") && errors[0].contains("exactly one"));
        assert!(
            errors[1].contains("segments[1] (PID)") && errors[1].contains("needs a `predicate`")
        );
        assert!(errors[2].contains("constraints PID-8") && errors[2].contains("\"sex\""));
        assert!(errors[3].contains("statements[0] (s1)"));
    }

    #[test]
    fn a_good_profile_has_no_shape_errors() {
        let errors = shape(
            "- message: ADT^A04\n  version: '2.6'\n  constraints:\n    PID-5.1: { usage: R, length: 50 }\n    PID-8: { usage: R, value_set: HL70001 }\n    PID-7: { usage: C, predicate: 'PID-8 is valued' }\n  statements:\n  - { id: alias, assert: 'MSH-4 matches \"[a-z]+\\\\{[a-z]+\\\\}\"' }\n  - { id: unique-doc, unique: TXA-12 }\n",
        );
        assert!(errors.is_empty(), "{errors:#?}");
    }

    #[test]
    fn a_bad_pattern_is_refused_when_read() {
        let result: Result<Constraint, _> = serde_yaml::from_str("pattern: '(['");
        let error = result.expect_err("bad regex").to_string();
        assert!(error.contains("pattern \"([\""), "{error}");
    }
}
