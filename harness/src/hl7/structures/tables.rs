//! The compiled structure tables (grammars, events, required fields) and lookups over them.

use super::grammar::{parse_grammar, Item};
use super::matcher::{match_segments, Automaton, ZSegments};
use crate::hl7::finding::{Finding, Location, Severity};
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

/// The HL7 versions the tables cover (table 0104).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    V2_3,
    V2_3_1,
    V2_4,
    V2_5,
    V2_5_1,
    V2_6,
}

impl Version {
    pub const ALL: [Version; 6] = [
        Version::V2_3,
        Version::V2_3_1,
        Version::V2_4,
        Version::V2_5,
        Version::V2_5_1,
        Version::V2_6,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2_3 => "2.3",
            Version::V2_3_1 => "2.3.1",
            Version::V2_4 => "2.4",
            Version::V2_5 => "2.5",
            Version::V2_5_1 => "2.5.1",
            Version::V2_6 => "2.6",
        }
    }

    /// Reads MSH-12.1 as written (`2.5`, `2.5.1`), surrounding spaces ignored.
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim();
        Version::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message structure in one version.
#[derive(Debug)]
pub struct Structure {
    pub id: String,
    pub version: Version,
    pub items: Vec<Item>,
    automaton: Automaton,
}

/// Keyed by version, then by name, so lookups borrow a `&str` instead of building a key.
struct Tables {
    structures: HashMap<Version, HashMap<String, Structure>>,
    events: HashMap<Version, HashMap<String, String>>,
    required: HashMap<Version, HashMap<String, Vec<usize>>>,
    /// Lines of the embedded data that could not be read (a unit test keeps this empty).
    errors: Vec<String>,
}

const GRAMMARS: &str = include_str!("grammars.txt");
const EVENTS: &str = include_str!("events.txt");
const REQUIRED: &str = include_str!("required.txt");

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(load)
}

/// Splits `NAME v1 v2 ...: rest` lines, skipping comments and blank lines.
fn data_lines(
    file: &'static str,
    text: &'static str,
    errors: &mut Vec<String>,
) -> Vec<(usize, &'static str, Vec<Version>, &'static str)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((head, rest)) = line.split_once(':') else {
            errors.push(format!("{file}:{}: expected `NAME VERSIONS: ...`", n + 1));
            continue;
        };
        let mut words = head.split_whitespace();
        let name = words.next().unwrap_or("");
        let versions: Option<Vec<Version>> = words.map(Version::parse).collect();
        match versions {
            Some(v) if !v.is_empty() && !name.is_empty() => out.push((n + 1, name, v, rest.trim())),
            _ => errors.push(format!("{file}:{}: bad name or version list {head:?}", n + 1)),
        }
    }
    out
}

fn load() -> Tables {
    let mut errors = Vec::new();
    let mut structures: HashMap<Version, HashMap<String, Structure>> = HashMap::new();
    for (line, id, versions, grammar) in data_lines("grammars.txt", GRAMMARS, &mut errors) {
        match parse_grammar(grammar) {
            Ok(items) => {
                let automaton = Automaton::new(&items);
                for version in versions {
                    let structure = Structure {
                        id: id.to_string(),
                        version,
                        items: items.clone(),
                        automaton: automaton.clone(),
                    };
                    structures.entry(version).or_default().insert(id.to_string(), structure);
                }
            }
            Err(e) => errors.push(format!("grammars.txt:{line}: {e}")),
        }
    }
    let mut events: HashMap<Version, HashMap<String, String>> = HashMap::new();
    for (_, id, versions, list) in data_lines("events.txt", EVENTS, &mut errors) {
        for event in list.split_whitespace() {
            for &version in &versions {
                events.entry(version).or_default().insert(event.to_string(), id.to_string());
            }
        }
    }
    let mut required: HashMap<Version, HashMap<String, Vec<usize>>> = HashMap::new();
    for (line, segment, versions, list) in data_lines("required.txt", REQUIRED, &mut errors) {
        let fields: Result<Vec<usize>, _> = list.split_whitespace().map(str::parse).collect();
        match fields {
            Ok(fields) => {
                for version in versions {
                    required
                        .entry(version)
                        .or_default()
                        .insert(segment.to_string(), fields.clone());
                }
            }
            Err(e) => errors.push(format!("required.txt:{line}: {e}")),
        }
    }
    Tables { structures, events, required, errors }
}

/// Lines of the embedded tables that could not be read: empty in a correct build (a unit test
/// says so); kept instead of panicking so a bad edit degrades one structure, not the binary.
pub fn data_errors() -> &'static [String] {
    &tables().errors
}

/// The grammar of a structure in a version.
pub fn structure(version: Version, id: &str) -> Option<&'static Structure> {
    tables().structures.get(&version)?.get(id)
}

/// Every structure id the table knows, sorted.
pub fn structure_ids() -> Vec<&'static str> {
    let mut ids: Vec<&'static str> =
        tables().structures.values().flat_map(|m| m.values()).map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The structure of an event: `ACK` for any acknowledgment, else the event table's entry for
/// MSH-9.1^MSH-9.2, else MSH-9.3 when it names a structure of this version.
pub fn structure_for_event(
    version: Version,
    message_code: &str,
    trigger: &str,
    msh9_3: Option<&str>,
) -> Option<&'static str> {
    if message_code == "ACK" {
        return structure(version, "ACK").map(|s| s.id.as_str());
    }
    let event = format!("{message_code}^{trigger}");
    if let Some(id) = tables().events.get(&version).and_then(|m| m.get(&event)) {
        return Some(id.as_str());
    }
    msh9_3.and_then(|id| structure(version, id)).map(|s| s.id.as_str())
}

/// The required fields of a segment (1-based positions); empty when none or unknown.
pub fn required_fields(version: Version, segment: &str) -> &'static [usize] {
    tables().required.get(&version).and_then(|m| m.get(segment)).map_or(&[], Vec::as_slice)
}

/// Matches the message's segment ids against the structure; Z-segments may appear anywhere.
pub fn validate_segments(ids: &[&str], structure: &Structure, version: Version) -> Vec<Finding> {
    match_segments(ids, &structure.automaton, &structure.id, version, ZSegments::AllowedAnywhere)
}

/// `missing-required-field` for every required field of the segment that `present` says is
/// not valued.
pub fn check_required_fields(
    segment_index: usize,
    segment_id: &str,
    version: Version,
    present: impl Fn(usize) -> bool,
) -> Vec<Finding> {
    required_fields(version, segment_id)
        .iter()
        .filter(|&&n| !present(n))
        .map(|&n| {
            Finding::new(
                "missing-required-field",
                Severity::Error,
                Location::segment(segment_index, segment_id).with_field(n),
                format!("{segment_id}-{n} is required in v{version} and is empty"),
                "HL7 v2.5.1 ch. 2, 2.5.3 and the segment definition (usage R: required field)",
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_tables_read_without_errors() {
        assert!(data_errors().is_empty(), "{:#?}", data_errors());
        for version in Version::ALL {
            for id in [
                "ACK", "ADT_A01", "ADT_A03", "ADT_A09", "ADT_A39", "ADT_A30", "ORU_R01", "ORM_O01",
                "MDM_T02", "SIU_S12", "MFN_M02",
            ] {
                assert!(structure(version, id).is_some(), "{id} v{version}");
            }
        }
        for version in [Version::V2_4, Version::V2_5, Version::V2_5_1, Version::V2_6] {
            assert!(
                structure(version, "ADT_A05").is_some() && structure(version, "OML_O21").is_some()
            );
        }
    }

    #[test]
    fn events_and_fields() {
        assert_eq!(structure_for_event(Version::V2_5, "ADT", "A04", None), Some("ADT_A01"));
        assert_eq!(structure_for_event(Version::V2_3, "ADT", "A05", None), Some("ADT_A01"));
        assert_eq!(structure_for_event(Version::V2_5, "ADT", "A05", None), Some("ADT_A05"));
        assert_eq!(structure_for_event(Version::V2_6, "ADT", "A40", None), Some("ADT_A39"));
        assert_eq!(structure_for_event(Version::V2_4, "ACK", "A01", None), Some("ACK"));
        assert_eq!(
            structure_for_event(Version::V2_5, "ZZZ", "Z01", Some("ORU_R01")),
            Some("ORU_R01")
        );
        assert_eq!(structure_for_event(Version::V2_5, "ZZZ", "Z01", None), None);
        assert_eq!(required_fields(Version::V2_5, "PID"), &[3, 5]);
        assert_eq!(required_fields(Version::V2_5, "NTE"), &[] as &[usize]);
        assert_eq!(Version::parse(" 2.5.1 "), Some(Version::V2_5_1));
        assert_eq!(Version::parse("2.7"), None);
    }

    #[test]
    fn required_field_findings() {
        let findings = check_required_fields(3, "PID", Version::V2_5, |n| n == 5);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].location.to_string(), "segment 3 (PID), PID-3");
    }
}
