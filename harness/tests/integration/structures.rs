//! Cross-check of our grammar, event and required-field tables against the public machine-
//! readable definitions in `../shared/hl7-structures` (hl7apy, nHapi event maps), when present.
//! Nothing from there is copied into the project; this only compares.

use crate::support::shared;
use hl7_harness::hl7::structures::grammar::{Item, Node};
use hl7_harness::hl7::structures::{
    self, required_fields, structure, structure_for_event, Version,
};
use serde_json::Value;

/// A grammar reduced to what both sides define: segments, optionality, repetition, nesting and
/// choices. Group names differ by construction (hl7apy prefixes the structure id) and are left out.
fn shape_of_ours(items: &[Item]) -> String {
    items.iter().map(item_shape).collect::<Vec<_>>().join(" ")
}

fn item_shape(item: &Item) -> String {
    let inner = match &item.node {
        Node::Segment(id) => id.clone(),
        Node::Group { items, .. } => format!("({})", shape_of_ours(items)),
        Node::Choice(alternatives) => {
            let alts: Vec<String> = alternatives.iter().map(|a| shape_of_ours(a)).collect();
            format!("<{}>", alts.join("|"))
        }
    };
    wrap(inner, item.optional, item.repeating)
}

fn wrap(inner: String, optional: bool, repeating: bool) -> String {
    match (optional, repeating) {
        (true, true) => format!("[{{{inner}}}]"),
        (true, false) => format!("[{inner}]"),
        (false, true) => format!("{{{inner}}}"),
        (false, false) => inner,
    }
}

fn shape_of_theirs(doc: &Value, children: &Value) -> String {
    let children = children.as_array().cloned().unwrap_or_default();
    // An empty group (v2.4 QBP_Q13's QBP) says nothing and is left out on our side.
    let shapes = children.iter().map(|c| child_shape(doc, c)).filter(|s| !s.is_empty());
    shapes.collect::<Vec<_>>().join(" ")
}

fn child_shape(doc: &Value, child: &Value) -> String {
    let name = child["name"].as_str().unwrap_or_default();
    let min = child["min"].as_i64().unwrap_or(1);
    let max = child["max"].as_i64().unwrap_or(1);
    let inner = if child["type"] == "segment" {
        name.to_string()
    } else {
        let group = &doc["groups"][name];
        let members = group["children"].as_array().cloned().unwrap_or_default();
        if members.is_empty() {
            return String::new();
        }
        if group["kind"] == "choice" {
            // Alternatives keep their own cardinality and may be groups (v2.6 EHC_E01).
            let alts: Vec<String> = members.iter().map(|m| child_shape(doc, m)).collect();
            format!("<{}>", alts.join("|"))
        } else if members.len() == 1 && min == 1 && max == 1 {
            return shape_of_theirs(doc, &group["children"]);
        } else {
            let body = shape_of_theirs(doc, &group["children"]);
            // A required, single group is written without brackets on our side.
            if min == 1 && max == 1 {
                return body;
            }
            format!("({body})")
        }
    };
    wrap(inner, min == 0, max == -1)
}

#[test]
fn grammars_match_hl7apy() {
    let Some(dir) = shared("hl7-structures/hl7apy") else {
        eprintln!("../shared/hl7-structures not present: skipped");
        return;
    };
    let mut differences = Vec::new();
    let mut compared = 0;
    for version in Version::ALL {
        let path = dir.join(format!("v{version}.json"));
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for id in structures::structure_ids() {
            let Some(ours) = structure(version, id) else { continue };
            let theirs = &doc["messages"][id]["children"];
            if theirs.is_null() {
                differences.push(format!("{id} v{version}: not in hl7apy"));
                continue;
            }
            compared += 1;
            let ours = shape_of_ours(&ours.items);
            let theirs = shape_of_theirs(&doc, theirs);
            if ours != theirs {
                differences.push(format!("{id} v{version}:\n  ours:   {ours}\n  hl7apy: {theirs}"));
            }
        }
    }
    assert!(compared >= 80, "only {compared} structures compared");
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn events_match_the_nhapi_event_maps() {
    let Some(dir) = shared("hl7-structures/event-map-nhapi") else {
        eprintln!("../shared/hl7-structures not present: skipped");
        return;
    };
    let known = structures::structure_ids();
    let mut differences = Vec::new();
    for version in Version::ALL {
        let text =
            std::fs::read_to_string(dir.join(format!("EventMap-{version}.properties"))).unwrap();
        let mut seen = std::collections::HashSet::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let mut parts = line.split_whitespace();
            let (Some(event), Some(expected)) = (parts.next(), parts.next()) else { continue };
            // An event listed again (v2.3 ORR_O02) keeps its first structure.
            if !seen.insert(event) || !known.contains(&expected) {
                continue;
            }
            let Some((code, trigger)) = event.split_once('_') else { continue };
            let ours = structure_for_event(version, code, trigger, None);
            if ours != Some(expected) {
                differences
                    .push(format!("v{version} {code}^{trigger}: ours {ours:?}, nHapi {expected}"));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn required_fields_match_hl7apy() {
    let Some(dir) = shared("hl7-structures/hl7apy") else {
        eprintln!("../shared/hl7-structures not present: skipped");
        return;
    };
    let mut differences = Vec::new();
    for version in Version::ALL {
        let path = dir.join(format!("v{version}.json"));
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut segments: Vec<String> = Vec::new();
        for id in structures::structure_ids() {
            if let Some(s) = structure(version, id) {
                collect_segments(&s.items, &mut segments);
            }
        }
        segments.sort();
        segments.dedup();
        for segment in segments {
            let Some(fields) = doc["segments"][&segment].as_array() else { continue };
            // The position is the one the field id names (`EVN_2`): hl7apy's lists leave out
            // some withdrawn fields (v2.8 EVN-1), so the list index is not the position.
            let theirs: Vec<usize> = fields
                .iter()
                .filter(|f| f["min"].as_i64().unwrap_or(0) >= 1)
                .filter_map(|f| f["field"].as_str()?.rsplit_once('_')?.1.parse().ok())
                // OBX-2 and OBX-4 are conditional (C) in v2.7 and v2.8, though hl7apy says
                // min 1 there (and min 0 in its 2.6 and 2.8.1); our tables say not required.
                .filter(|&p| !(segment == "OBX" && (p == 2 || p == 4) && version >= Version::V2_7))
                .collect();
            let ours = required_fields(version, &segment);
            if ours != theirs.as_slice() {
                differences.push(format!("{segment} v{version}: ours {ours:?}, hl7apy {theirs:?}"));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

fn collect_segments(items: &[Item], out: &mut Vec<String>) {
    for item in items {
        match &item.node {
            Node::Segment(id) => out.push(id.clone()),
            Node::Group { items, .. } => collect_segments(items, out),
            Node::Choice(alternatives) => {
                alternatives.iter().for_each(|a| collect_segments(a, out))
            }
        }
    }
}
