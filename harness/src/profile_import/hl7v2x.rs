//! The HL7 v2.x message profile (`<HL7v2xConformanceProfile>` with `<HL7v2xStaticDef>`), the
//! format HAPI reads (`ca.uhn.hl7v2.conf`): segments and groups in order, every field,
//! component and sub-component written inline. Predicates are free text here; the common
//! English forms are read (`assertion::english_predicate`), the rest noted.

use super::assertion::english_predicate;
use super::common::{append, cardinality, length, settle, table_name, usage};
use super::xml::{attr, elements, text_of, Doc, ImportError, Notes};
use crate::profile::message::{Constraint, ElementSpec, MessageKey, MessageProfile};
use crate::profile::TargetProfile;

pub fn import(doc: &Doc<'_>, notes: &mut Notes) -> Result<TargetProfile, ImportError> {
    let root = doc.root();
    let version = attr(root, "HL7Version").map(str::to_string);
    let mut profile = TargetProfile::default();
    for node in elements(root) {
        match node.tag_name().name() {
            "MetaData" => {
                profile.name = attr(node, "Name").map(str::to_string);
                // The specification's own version; exports write placeholders when it has none.
                profile.version = attr(node, "Version")
                    .filter(|v| !matches!(*v, "null" | "No Version Info"))
                    .map(str::to_string);
                if let Some(org) = attr(node, "OrgName") {
                    append(&mut profile.description, &format!("Organisation: {org}"));
                }
            }
            "UseCase" | "ImpNote" | "Description" => {
                if let Some(text) = text_of(node) {
                    append(&mut profile.description, &text);
                }
            }
            "Encodings" => {
                for encoding in elements(node) {
                    let name = text_of(encoding).unwrap_or_default();
                    if name != "ER7" {
                        notes.add(
                            doc,
                            encoding,
                            format!(
                                "encoding {name:?} not supported: only ER7 messages are judged"
                            ),
                        );
                    }
                }
            }
            "DynamicDef" => {
                let shown: Vec<String> =
                    node.attributes().map(|a| format!("{}={}", a.name(), a.value())).collect();
                notes.add(doc, node, format!("({}) not supported: dropped", shown.join(" ")));
            }
            "HL7v2xStaticDef" => {
                if let Some(message) = static_def(doc, node, version.clone(), notes)? {
                    profile.message_profiles.push(message);
                }
            }
            _ => notes.add(doc, node, "not supported: dropped"),
        }
    }
    if profile.message_profiles.is_empty() {
        return Err(doc.structure(root, "holds no <HL7v2xStaticDef>"));
    }
    Ok(profile)
}

fn static_def(
    doc: &Doc<'_>,
    node: roxmltree::Node<'_, '_>,
    version: Option<String>,
    notes: &mut Notes,
) -> Result<Option<MessageProfile>, ImportError> {
    let code = doc.required(node, "MsgType")?;
    let event = match doc.required(node, "EventType")? {
        "ALL" | "*" => "*",
        e => e,
    };
    let message = match MessageKey::parse(&format!("{code}^{event}")) {
        Ok(key) => key,
        Err(e) => {
            notes.add(doc, node, format!("{e}: message dropped"));
            return Ok(None);
        }
    };
    let mut description =
        attr(node, "EventDesc").map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "));
    if let Some(role) = attr(node, "Role") {
        append(&mut description, &format!("Role: {role}"));
    }
    let mut segments = Vec::new();
    for child in elements(node) {
        match child.tag_name().name() {
            "Segment" | "SegGroup" => segments.push(element(doc, child, notes)?),
            "MetaData" => {}
            "ImpNote" | "Description" | "Purpose" => {
                if let Some(text) = text_of(child) {
                    append(&mut description, &text);
                }
            }
            _ => notes.add(doc, child, "not supported: dropped"),
        }
    }
    Ok(Some(MessageProfile {
        id: None,
        message,
        structure: attr(node, "MsgStructID").map(str::to_string),
        version,
        description,
        segments: Some(segments),
        constraints: Default::default(),
        statements: Vec::new(),
    }))
}

/// A `<Segment>` or `<SegGroup>` (the XML depth is bounded before any walk).
fn element(
    doc: &Doc<'_>,
    node: roxmltree::Node<'_, '_>,
    notes: &mut Notes,
) -> Result<ElementSpec, ImportError> {
    let is_group = node.tag_name().name() == "SegGroup";
    let name = doc.required(node, "Name")?.to_string();
    let written = usage(doc, node, notes);
    let cardinality = cardinality(doc, node, notes);
    let mut description = attr(node, "LongName").map(str::to_string);
    let mut predicate = None;
    let mut elements_out = Vec::new();
    let mut fields = Vec::new();
    for child in elements(node) {
        match (child.tag_name().name(), is_group) {
            ("Segment" | "SegGroup", true) => elements_out.push(element(doc, child, notes)?),
            ("Field", false) => {
                let position = u16::try_from(fields.len() + 1).unwrap_or(u16::MAX);
                fields.push(value_element(doc, child, position, 0, notes));
            }
            ("Predicate", _) => predicate = Some(read_predicate(child)),
            ("ImpNote" | "Description" | "Reference", _) => {
                if let Some(text) = text_of(child) {
                    append(&mut description, &text);
                }
            }
            _ => notes.add(doc, child, "not supported: dropped"),
        }
    }
    if let Some((text, _)) = &predicate {
        append(&mut description, &format!("Predicate: {text}"));
    }
    let (usage, predicate) = settle(doc, node, notes, written, predicate.map(|(_, e)| e));
    let (segment, group) = if is_group { (None, Some(name)) } else { (Some(name), None) };
    Ok(ElementSpec {
        segment,
        group,
        usage,
        cardinality,
        predicate,
        description,
        elements: elements_out,
        fields,
    })
}

/// The free text of a `<Predicate>` (kept in the description) and, when it reads as one, its
/// expression.
fn read_predicate(node: roxmltree::Node<'_, '_>) -> (String, Result<String, String>) {
    let text = text_of(node).unwrap_or_default();
    let expr = english_predicate(&text).ok_or_else(|| "free text".to_string());
    (text, expr)
}

/// A `<Field>`, `<Component>` or `<SubComponent>` (`level` 0, 1, 2).
fn value_element(
    doc: &Doc<'_>,
    node: roxmltree::Node<'_, '_>,
    position: u16,
    level: usize,
    notes: &mut Notes,
) -> Constraint {
    let written = usage(doc, node, notes);
    let mut c = Constraint {
        position: Some(position),
        name: attr(node, "Name").map(str::to_string),
        cardinality: if level == 0 { cardinality(doc, node, notes) } else { None },
        length: length(doc, node, notes, None, attr(node, "Length")),
        datatype: attr(node, "Datatype").map(str::to_string),
        fixed: attr(node, "ConstantValue").map(str::to_string),
        ..Constraint::default()
    };
    if let Some(table) = attr(node, "Table") {
        let name = table_name(table);
        if crate::profile::message::hl7_table_number(&name).is_some() {
            c.value_set = Some(name);
        } else {
            notes.add_once(doc, node, format!("table {table:?} is not an HL7 table and its codes are not in the file: not checked"));
        }
    }
    if attr(node, "ItemNo").is_some() {
        notes.add_once(doc, node, "ItemNo (HL7 data element number) not kept");
    }
    let child_name = match level {
        0 => Some("Component"),
        1 => Some("SubComponent"),
        _ => None,
    };
    let mut predicate = None;
    for child in elements(node) {
        let tag = child.tag_name().name();
        match tag {
            _ if Some(tag) == child_name => {
                let position = u16::try_from(c.components.len() + 1).unwrap_or(u16::MAX);
                c.components.push(value_element(doc, child, position, level + 1, notes));
            }
            "Predicate" => predicate = Some(read_predicate(child)),
            "ImpNote" | "Description" | "Reference" => {
                if let Some(text) = text_of(child) {
                    append(&mut c.description, &text);
                }
            }
            "DataValues" => {
                if let Some(example) = attr(child, "ExValue") {
                    append(&mut c.description, &format!("Example: {example}"));
                }
            }
            _ => notes.add(doc, child, "not supported: dropped"),
        }
    }
    if let Some((text, _)) = &predicate {
        append(&mut c.description, &format!("Predicate: {text}"));
    }
    let (usage, predicate) = settle(doc, node, notes, written, predicate.map(|(_, e)| e));
    c.usage = Some(usage);
    c.predicate = predicate;
    c
}
