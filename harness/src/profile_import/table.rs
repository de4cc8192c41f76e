//! `profile show`: a target profile's message constraints as readable tables, one per message,
//! one row per element (groups, segments, fields, components, sub-components indented), then
//! the constraints by path and the conformance statements.

use crate::profile::message::{Constraint, ElementSpec, MessageProfile};
use crate::profile::TargetProfile;
use std::fmt::Write as _;
use tabled::settings::Style;
use tabled::{Table, Tabled};

#[derive(Tabled)]
struct Row {
    element: String,
    usage: String,
    card: String,
    len: String,
    #[tabled(rename = "type")]
    datatype: String,
    #[tabled(rename = "value set")]
    value_set: String,
    rule: String,
    name: String,
}

/// The whole profile as text.
pub fn show(profile: &TargetProfile) -> String {
    let mut out = String::new();
    if let Some(name) = &profile.name {
        let _ = writeln!(out, "profile: {name}");
    }
    if profile.message_profiles.is_empty() {
        let _ = writeln!(out, "no message profiles");
    }
    for message in &profile.message_profiles {
        message_table(&mut out, message);
    }
    if !profile.value_sets.is_empty() {
        let _ = writeln!(out, "\nvalue sets:");
        for (name, set) in &profile.value_sets {
            let shown: Vec<&str> = set.codes.iter().take(12).map(String::as_str).collect();
            let more = set.codes.len().saturating_sub(shown.len());
            let tail = if more > 0 { format!(" … ({more} more)") } else { String::new() };
            let _ = writeln!(out, "  {name}: {}{tail}", shown.join(", "));
        }
    }
    out
}

fn message_table(out: &mut String, message: &MessageProfile) {
    let mut title = format!("\n{} [{}]", message.message, message.id());
    if let Some(s) = &message.structure {
        title.push_str(&format!(" structure {s}"));
    }
    if let Some(v) = &message.version {
        title.push_str(&format!(" version {v}"));
    }
    let _ = writeln!(out, "{title}");
    if let Some(d) = &message.description {
        let _ = writeln!(out, "{d}");
    }
    let mut rows = Vec::new();
    match &message.segments {
        Some(tree) => tree.iter().for_each(|e| element_rows(&mut rows, e, 0)),
        None => {
            let _ = writeln!(out, "(the standard's grammar for the structure)");
        }
    }
    for (path, c) in &message.constraints {
        constraint_rows(&mut rows, c, path.to_string(), 0);
    }
    if !rows.is_empty() {
        let _ = writeln!(out, "{}", Table::new(rows).with(Style::sharp()));
    }
    for s in &message.statements {
        let rule = match (&s.assert, &s.unique) {
            (Some(e), _) => format!("assert {e}"),
            (None, Some(p)) => format!("unique {p}"),
            (None, None) => String::new(),
        };
        let _ = writeln!(out, "statement {}: {rule}", s.id);
        if let Some(d) = &s.description {
            let _ = writeln!(out, "  {d}");
        }
    }
}

fn element_rows(rows: &mut Vec<Row>, e: &ElementSpec, depth: usize) {
    let indent = "  ".repeat(depth);
    let label = match (&e.segment, &e.group) {
        (Some(s), _) => format!("{indent}{s}"),
        (None, Some(g)) => format!("{indent}[{g}]"),
        (None, None) => format!("{indent}?"),
    };
    rows.push(Row {
        element: label,
        usage: e.usage.to_string(),
        card: e.cardinality().to_string(),
        len: String::new(),
        datatype: String::new(),
        value_set: String::new(),
        rule: e.predicate.as_ref().map(|p| format!("if {p}")).unwrap_or_default(),
        name: e.description.clone().unwrap_or_default(),
    });
    for member in &e.elements {
        element_rows(rows, member, depth + 1);
    }
    if let Some(segment) = &e.segment {
        for field in &e.fields {
            let at = format!("{segment}-{}", field.position.map_or("?".into(), |p| p.to_string()));
            constraint_rows(rows, field, at, depth + 1);
        }
    }
}

fn constraint_rows(rows: &mut Vec<Row>, c: &Constraint, at: String, depth: usize) {
    let mut rule = Vec::new();
    if let Some(f) = &c.fixed {
        rule.push(format!("= {f:?}"));
    }
    if let Some(p) = &c.pattern {
        rule.push(format!("~ {}", p.0));
    }
    if let Some(p) = &c.predicate {
        rule.push(format!("if {p}"));
    }
    let value_set = match (&c.value_set, c.binding) {
        (Some(v), Some(crate::profile::message::Binding::Suggested)) => format!("{v} (suggested)"),
        (Some(v), _) => v.clone(),
        (None, _) => String::new(),
    };
    rows.push(Row {
        element: format!("{}{at}", "  ".repeat(depth)),
        usage: c.usage.map(|u| u.to_string()).unwrap_or_default(),
        card: c.cardinality.map(|k| k.to_string()).unwrap_or_default(),
        len: c.length.map(|l| l.to_string()).unwrap_or_default(),
        datatype: c.datatype.clone().unwrap_or_default(),
        value_set,
        rule: rule.join("; "),
        name: c.name.clone().unwrap_or_default(),
    });
    for component in &c.components {
        let sub = format!("{at}.{}", component.position.map_or("?".into(), |p| p.to_string()));
        constraint_rows(rows, component, sub, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_profile_as_a_table() {
        let yaml = r#"
name: small
message_profiles:
- message: ADT^A04
  structure: ADT_A01
  version: "2.6"
  segments:
  - { segment: MSH, usage: R, fields: [ { position: 9, usage: R, datatype: MSG, components: [ { position: 1, usage: R, fixed: ADT } ] } ] }
  - group: VISIT
    usage: RE
    cardinality: 0..1
    elements:
    - segment: PV1
      usage: R
      fields:
      - { position: 2, name: Patient Class, usage: R, length: 1, datatype: IS, value_set: HL70004 }
  - segment: PID
    usage: R
    fields:
    - { position: 8, name: Sex, usage: RE, datatype: IS, value_set: gender, binding: suggested }
    - { position: 7, name: Birth, usage: C, predicate: PID-8 is valued, pattern: '\d{8}' }
  statements:
  - { id: unique-id, unique: PID-3.1 }
value_sets:
  gender: { codes: [F, M, U] }
"#;
        let profile: TargetProfile = serde_yaml::from_str(yaml).expect("profile");
        insta::assert_snapshot!(show(&profile));
    }
}
