//! Message structures in the abstract-syntax notation of the harness's grammar parser, from
//! hl7apy's `messages`/`groups`, and the trigger-event map from nHapi's event maps.

use super::share::Shared;
use super::source::{text, Sources};
use super::{Body, VERSIONS};
use serde_json::Value;
use std::collections::HashSet;

/// hl7apy's stand-in for "any segment", which the notation cannot write.
const ANY_SEGMENT: &str = "ANYHL7SEGMENT";

/// Why a structure was left out of a version.
enum Skip {
    AnySegment,
    Malformed(String),
}

/// The grammar lines, and which `(structure, version index)` pairs have one.
pub fn grammars(sources: &Sources) -> (Body, HashSet<(String, usize)>) {
    let mut shared = Shared::default();
    let mut present = HashSet::new();
    let mut any_segment: Vec<(String, usize)> = Vec::new();
    let mut malformed = Vec::new();
    let mut empty_groups = Vec::new();
    for (v, doc) in sources.hl7apy.iter().enumerate() {
        let Some(messages) = doc["messages"].as_object() else { continue };
        for (id, message) in messages {
            let mut writer = Writer { doc, empty_groups: Vec::new() };
            match writer.sequence(&message["children"]) {
                Ok(grammar) if !grammar.is_empty() => {
                    present.insert((id.clone(), v));
                    shared.add(id, v, grammar);
                }
                Ok(_) => malformed.push(format!("{id} v{}: empty", VERSIONS[v])),
                Err(Skip::AnySegment) => any_segment.push((id.clone(), v)),
                Err(Skip::Malformed(why)) => {
                    malformed.push(format!("{id} v{}: {why}", VERSIONS[v]))
                }
            }
            for group in writer.empty_groups {
                empty_groups.push(format!("{group} (v{})", VERSIONS[v]));
            }
        }
    }
    let mut notes = Vec::new();
    if !any_segment.is_empty() {
        let mut by_id = Shared::default();
        for (id, v) in any_segment {
            by_id.add(&id, v, String::new());
        }
        notes.push(format!(
            "Left out: structures where hl7apy allows {ANY_SEGMENT} (any segment), which this \
             notation cannot write: {}.",
            by_id.lines_sorted_by(str::to_string).join(", ").replace(':', "")
        ));
    }
    if !malformed.is_empty() {
        notes.push(format!("Left out, malformed in hl7apy: {}.", malformed.join("; ")));
    }
    if !empty_groups.is_empty() {
        notes.push(format!("Empty groups in hl7apy, left out: {}.", empty_groups.join(", ")));
    }
    (Body { lines: shared.lines_sorted_by(str::to_string), notes }, present)
}

struct Writer<'a> {
    doc: &'a Value,
    empty_groups: Vec<String>,
}

impl Writer<'_> {
    fn sequence(&mut self, children: &Value) -> Result<String, Skip> {
        let mut parts = Vec::new();
        for child in children.as_array().into_iter().flatten() {
            if let Some(part) = self.child(child)? {
                parts.push(part);
            }
        }
        Ok(parts.join(" "))
    }

    /// One child written with its cardinality; `None` for an empty group.
    fn child(&mut self, child: &Value) -> Result<Option<String>, Skip> {
        let name = text(&child["name"]).unwrap_or("");
        let min = child["min"].as_i64().unwrap_or(1);
        let max = child["max"].as_i64().unwrap_or(1);
        let optional = min == 0;
        let repeating = max != 1;
        if child["type"] == "segment" {
            if name == ANY_SEGMENT {
                return Err(Skip::AnySegment);
            }
            if !is_segment_id(name) {
                return Err(Skip::Malformed(format!("segment id {name:?}")));
            }
            return Ok(Some(wrap(name.to_string(), optional, repeating)));
        }
        let group = &self.doc["groups"][name];
        let members = group["children"].as_array().cloned().unwrap_or_default();
        if members.is_empty() {
            self.empty_groups.push(name.to_string());
            return Ok(None);
        }
        if group["kind"] == "choice" {
            let mut alternatives = Vec::new();
            for member in &members {
                if let Some(alternative) = self.child(member)? {
                    alternatives.push(alternative);
                }
            }
            let choice = format!("< {} >", alternatives.join(" | "));
            return Ok(Some(wrap(choice, optional, repeating)));
        }
        let body = self.sequence(&group["children"])?;
        if body.is_empty() {
            self.empty_groups.push(name.to_string());
            return Ok(None);
        }
        if !optional && !repeating {
            // A required group of one occurrence is written without brackets (and so without
            // its name): the notation has no other way to say "exactly once".
            return Ok(Some(body));
        }
        let label = group_label(name).map(|l| format!("{l}: ")).unwrap_or_default();
        let (open, close) = match (optional, repeating) {
            (true, true) => ("[{", "}]"),
            (true, false) => ("[", "]"),
            _ => ("{", "}"),
        };
        Ok(Some(format!("{open} {label}{body} {close}")))
    }
}

fn wrap(inner: String, optional: bool, repeating: bool) -> String {
    match (optional, repeating) {
        (true, true) => format!("[{{{inner}}}]"),
        (true, false) => format!("[{inner}]"),
        (false, true) => format!("{{{inner}}}"),
        (false, false) => inner,
    }
}

fn is_segment_id(word: &str) -> bool {
    let b = word.as_bytes();
    b.len() == 3
        && b[0].is_ascii_uppercase()
        && b[1..].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// hl7apy prefixes a group's name with its structure (`ADT_A01_PROCEDURE`); the label is the
/// rest (`PROCEDURE`). `None` when nothing usable is left.
fn group_label(name: &str) -> Option<&str> {
    let mut parts = name.splitn(3, '_');
    let (first, second, rest) = (parts.next()?, parts.next(), parts.next());
    let label = match (second, rest) {
        (Some(s), Some(rest)) if first.len() == 3 && s.len() == 3 => rest,
        _ => name,
    };
    let ok = !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(label)
}

/// `STRUCTURE VERSIONS: CODE^EVENT ...` from the nHapi event maps. ACK is left to the harness's
/// own rule (every acknowledgment uses the ACK structure).
pub fn events(sources: &Sources, present: &HashSet<(String, usize)>) -> anyhow::Result<Body> {
    let mut shared = Shared::default();
    let mut ambiguous = Vec::new();
    let mut without_grammar = Shared::default();
    for (v, map) in sources.event_maps.iter().enumerate() {
        let mut by_structure: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        let mut seen = std::collections::HashSet::new();
        for (event, structure) in map {
            // An event listed twice (v2.3's ORR_O02 names five order-response structures, one
            // per kind of order): the first, the general one, is kept; the rest are noted.
            if !seen.insert(event) {
                ambiguous.push(format!("{event} -> {structure} (v{})", VERSIONS[v]));
                continue;
            }
            let Some((code, trigger)) = event.split_once('_') else {
                anyhow::bail!("EventMap-{}: {event:?} is not CODE_EVENT", VERSIONS[v]);
            };
            if code == "ACK" {
                continue;
            }
            by_structure.entry(structure).or_default().push(format!("{code}^{trigger}"));
        }
        for (structure, mut list) in by_structure {
            if !present.contains(&(structure.to_string(), v)) {
                without_grammar.add(structure, v, String::new());
            }
            list.sort();
            list.dedup();
            shared.add(structure, v, list.join(" "));
        }
    }
    let mut notes = Vec::new();
    let without_grammar = without_grammar.lines_sorted_by(str::to_string);
    if !without_grammar.is_empty() {
        notes.push(format!(
            "Structures named here with no grammar in grammars.txt (validate says it cannot check \
             them): {}.",
            without_grammar.join(", ").replace(':', "")
        ));
    }
    if !ambiguous.is_empty() {
        notes.push(format!(
            "Events the event map lists more than once; the first structure is kept, these are \
             not: {}.",
            ambiguous.join(", ")
        ));
    }
    Ok(Body { lines: shared.lines_sorted_by(str::to_string), notes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(message: Value, groups: Value, expected: &str) {
        let doc = json!({ "groups": groups });
        let mut writer = Writer { doc: &doc, empty_groups: Vec::new() };
        let got = writer.sequence(&message).ok().unwrap_or_else(|| "<skipped>".into());
        assert_eq!(got, expected);
    }

    fn seg(name: &str, min: i64, max: i64) -> Value {
        json!({"name": name, "type": "segment", "min": min, "max": max})
    }

    fn grp(name: &str, min: i64, max: i64) -> Value {
        json!({"name": name, "type": "group", "min": min, "max": max})
    }

    #[test]
    fn notation() {
        let groups = json!({
            "XYZ_Y01_PROC": {"kind": "sequence", "children": [seg("PR1", 1, 1), seg("ROL", 0, -1)]},
            "XYZ_Y01_ONE": {"kind": "sequence", "children": [seg("PID", 1, 1), seg("PD1", 0, 1)]},
            "XYZ_Y01_CHOICE": {"kind": "choice", "children": [seg("OBR", 1, 1), seg("RQD", 1, 1)]},
            "XYZ_Y01_EMPTY": {"kind": "sequence", "children": []},
        });
        check(
            json!([seg("MSH", 1, 1), seg("SFT", 0, -1), seg("NK1", 1, -1), seg("PV2", 0, 1)]),
            groups.clone(),
            "MSH [{SFT}] {NK1} [PV2]",
        );
        check(
            json!([
                grp("XYZ_Y01_PROC", 0, -1),
                grp("XYZ_Y01_ONE", 1, 1),
                grp("XYZ_Y01_PROC", 0, 1)
            ]),
            groups.clone(),
            "[{ PROC: PR1 [{ROL}] }] PID [PD1] [ PROC: PR1 [{ROL}] ]",
        );
        check(
            json!([grp("XYZ_Y01_CHOICE", 1, 1), grp("XYZ_Y01_EMPTY", 0, 1)]),
            groups.clone(),
            "< OBR | RQD >",
        );
        check(json!([seg(ANY_SEGMENT, 0, 1)]), groups, "<skipped>");
        assert_eq!(group_label("ADT_A01_PROCEDURE"), Some("PROCEDURE"));
        assert_eq!(group_label("QRY_PATIENT"), Some("QRY_PATIENT"));
    }
}
