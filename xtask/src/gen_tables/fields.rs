//! Segment fields and composite data-type components: hl7apy for the definitions, hl7-dictionary
//! for lengths and component optionality where both sources agree on the data type.

use super::share::Shared;
use super::source::{clean_name, table_number, text, Sources};
use super::{Body, VERSIONS};
use serde_json::Value;

/// Fields hl7apy gives min 1 although the standard makes them conditional (usage C): OBX-2
/// (value type, required when OBX-5 is valued) and OBX-4 (observation sub-ID, required to tell
/// apart observations of one OBX-3) in v2.7 and v2.8. hl7apy's own 2.6 and 2.8.1 give both
/// min 0; so do these tables, since usage C is not "required".
const CONDITIONAL_AS_REQUIRED: [(&str, &str, usize); 4] =
    [("2.7", "OBX", 2), ("2.7", "OBX", 4), ("2.8", "OBX", 2), ("2.8", "OBX", 4)];

/// The position a field or component id names (`PID_3` is 3). hl7apy's lists leave out some
/// withdrawn fields (v2.6 DG1-7..14, v2.8 EVN-1, ...), so a list index is not a position.
fn position_of(id: &str) -> Option<usize> {
    id.rsplit_once('_')?.1.parse().ok().filter(|&p| p > 0)
}

/// `(segments.txt, datatypes.txt)`.
pub fn fields(sources: &Sources) -> (Body, Body) {
    let mut segments = Shared::default();
    let mut no_length = Vec::new();
    let mut gaps = Vec::new();
    let mut datatypes = Shared::default();
    let mut dictionary_only = Vec::new();
    for (v, doc) in sources.hl7apy.iter().enumerate() {
        let dictionary = sources.dictionary[v].as_ref();
        for (segment, list) in doc["segments"].as_object().into_iter().flatten() {
            let list = list.as_array().cloned().unwrap_or_default();
            let theirs = dictionary.and_then(|d| d["segments"][segment]["fields"].as_array());
            if dictionary.is_some() && theirs.is_none() {
                no_length.push(format!("{segment} v{}", VERSIONS[v]));
            }
            let mut expected = 1;
            for field in &list {
                let id = text(&field["field"]).unwrap_or("");
                let Some(position) = position_of(id) else { continue };
                if position > expected + 1 {
                    gaps.push(format!("{segment}-{expected}..{} v{}", position - 1, VERSIONS[v]));
                } else if position == expected + 1 {
                    gaps.push(format!("{segment}-{expected} v{}", VERSIONS[v]));
                }
                expected = position + 1;
                let def = &doc["fields"][id];
                let datatype = text(&def["datatype"]).unwrap_or("-");
                let length = theirs
                    .and_then(|t| t.get(position - 1))
                    .and_then(|t| length_if_same_type(datatype, t));
                let corrected = CONDITIONAL_AS_REQUIRED.contains(&(VERSIONS[v], segment, position));
                let min = if corrected { 0 } else { field["min"].as_i64().unwrap_or(0) };
                let line = format!(
                    "{datatype} {min} {} {} {} {}",
                    max_text(field["max"].as_i64().unwrap_or(-1)),
                    opt(length),
                    opt(text(&def["table"]).and_then(table_number)),
                    clean_name(text(&def["name"]).unwrap_or("")),
                );
                segments.add(&format!("{segment} {position}"), v, line);
            }
        }
        for (datatype, list) in doc["datatypes"].as_object().into_iter().flatten() {
            let list = list.as_array().cloned().unwrap_or_default();
            let theirs = dictionary.and_then(|d| d["fields"][datatype]["subfields"].as_array());
            for component in &list {
                let id = text(&component["component"]).unwrap_or("");
                let Some(position) = position_of(id) else { continue };
                let def = &doc["components"][id];
                let ctype = text(&def["datatype"]).unwrap_or("-");
                let joined =
                    theirs.and_then(|t| t.get(position - 1)).filter(|t| same_type(ctype, t));
                let line = format!(
                    "{ctype} {} {} {} {}",
                    opt(text(&def["table"]).and_then(table_number)),
                    opt(joined.and_then(|t| length_if_same_type(ctype, t))),
                    joined.map_or("-", usage),
                    clean_name(text(&def["name"]).unwrap_or("")),
                );
                datatypes.add(&format!("{datatype} {position}"), v, line);
            }
        }
        // Composites hl7-dictionary defines and hl7apy does not, for this version.
        let Some(dictionary) = dictionary else { continue };
        for (datatype, def) in dictionary["fields"].as_object().into_iter().flatten() {
            let Some(subfields) = def["subfields"].as_array().filter(|s| !s.is_empty()) else {
                continue;
            };
            if doc["datatypes"].get(datatype).is_some() {
                continue;
            }
            dictionary_only.push(format!("{datatype} v{}", VERSIONS[v]));
            for (i, sub) in subfields.iter().enumerate() {
                let line = format!(
                    "{} {} {} {} {}",
                    text(&sub["datatype"]).unwrap_or("-"),
                    opt(sub["table"].as_u64()),
                    opt(sub["len"].as_u64().filter(|&l| l > 0)),
                    usage(sub),
                    clean_name(text(&sub["desc"]).unwrap_or("")),
                );
                datatypes.add(&format!("{datatype} {}", i + 1), v, line);
            }
        }
    }
    let mut segment_notes = vec![format!(
        "Written as min 0 although hl7apy says 1 (the standard makes them conditional, C): {}.",
        CONDITIONAL_AS_REQUIRED.map(|(v, s, p)| format!("{s}-{p} v{v}")).join(", ")
    )];
    if !gaps.is_empty() {
        segment_notes.push(format!(
            "Positions hl7apy leaves out (withdrawn fields; no line, so no definition): {}.",
            gaps.join(", ")
        ));
    }
    if !no_length.is_empty() {
        segment_notes.push(format!(
            "No lengths (hl7-dictionary lacks the segment): {}.",
            no_length.join(", ")
        ));
    }
    let mut datatype_notes = Vec::new();
    if !dictionary_only.is_empty() {
        datatype_notes.push(format!(
            "From hl7-dictionary alone (hl7apy has no such composite in that version): {}.",
            dictionary_only.join(", ")
        ));
    }
    (
        Body { lines: segments.lines_sorted_by(key_order), notes: segment_notes },
        Body { lines: datatypes.lines_sorted_by(key_order), notes: datatype_notes },
    )
}

/// `NAME POSITION` keys ordered by name, then position as a number.
fn key_order(key: &str) -> (String, u32) {
    let (name, position) = key.rsplit_once(' ').unwrap_or((key, "0"));
    (name.to_string(), position.parse().unwrap_or(0))
}

/// Both sources name the same data type (hl7apy writes `varies`, hl7-dictionary `VARIES`).
fn same_type(ours: &str, theirs: &Value) -> bool {
    text(&theirs["datatype"]).is_some_and(|t| t.eq_ignore_ascii_case(ours))
}

/// hl7-dictionary's length, only when it describes the same data type: where the two sources
/// disagree the position may not be the same field, and a length of another field is worse
/// than none.
fn length_if_same_type(datatype: &str, theirs: &Value) -> Option<u64> {
    same_type(datatype, theirs).then(|| theirs["len"].as_u64()).flatten().filter(|&l| l > 0)
}

/// hl7-dictionary's `opt`: 2 is required, 1 optional.
fn usage(theirs: &Value) -> &'static str {
    match theirs["opt"].as_u64() {
        Some(2) => "R",
        Some(1) => "O",
        _ => "-",
    }
}

fn max_text(max: i64) -> String {
    if max < 0 {
        "*".to_string()
    } else {
        max.to_string()
    }
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn joins_only_on_the_same_type() {
        assert_eq!(length_if_same_type("CX", &json!({"datatype": "CX", "len": 250})), Some(250));
        assert_eq!(
            length_if_same_type("varies", &json!({"datatype": "VARIES", "len": 9})),
            Some(9)
        );
        assert_eq!(length_if_same_type("TN", &json!({"datatype": "XTN", "len": 40})), None);
        assert_eq!(length_if_same_type("ST", &json!({"datatype": "ST", "len": 0})), None);
        assert_eq!(usage(&json!({"opt": 2})), "R");
        assert_eq!(usage(&json!({})), "-");
        assert_eq!(max_text(-1), "*");
        assert_eq!(key_order("PID 10"), ("PID".to_string(), 10));
        assert_eq!(position_of("PID_3"), Some(3));
        assert_eq!(position_of("CM_CP_12"), Some(12));
        assert_eq!(position_of("PID"), None);
    }
}
