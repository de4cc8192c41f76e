//! The structure tables (grammars and trigger events, generated into [`crate::hl7::standard`])
//! compiled for lookups, and the required fields of the standard's segment definitions.

use super::grammar::{parse_grammar, Item};
use super::matcher::{match_segments, Automaton, ZSegments};
use crate::hl7::finding::{Finding, Location, Severity};
use crate::hl7::standard::{self, data_lines};
use crate::hl7::table_hash::TableMap;
use std::borrow::Cow;
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
    V2_7,
    V2_8,
}

impl Version {
    pub const ALL: [Version; 8] = [
        Version::V2_3,
        Version::V2_3_1,
        Version::V2_4,
        Version::V2_5,
        Version::V2_5_1,
        Version::V2_6,
        Version::V2_7,
        Version::V2_8,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2_3 => "2.3",
            Version::V2_3_1 => "2.3.1",
            Version::V2_4 => "2.4",
            Version::V2_5 => "2.5",
            Version::V2_5_1 => "2.5.1",
            Version::V2_6 => "2.6",
            Version::V2_7 => "2.7",
            Version::V2_8 => "2.8",
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
    /// Compiled at first match: most of the several hundred structures are never used in a run.
    automaton: OnceLock<Automaton>,
}

impl Structure {
    pub(crate) fn automaton(&self) -> &Automaton {
        self.automaton.get_or_init(|| Automaton::new(&self.items))
    }
}

/// Keyed by version, then by name, so lookups borrow a `&str` instead of building a key.
struct Tables {
    structures: TableMap<Version, TableMap<String, Structure>>,
    events: TableMap<Version, TableMap<String, String>>,
    /// Lines of the embedded data that could not be read (a unit test keeps this empty).
    errors: Vec<String>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(load)
}

fn load() -> Tables {
    let mut errors = Vec::new();
    let mut structures: TableMap<Version, TableMap<String, Structure>> = TableMap::default();
    for line in data_lines("grammars.txt", standard::GRAMMARS, 1, &mut errors) {
        let id = line.key[0];
        match parse_grammar(line.data) {
            Ok(items) => {
                for version in line.versions {
                    let structure = Structure {
                        id: id.to_string(),
                        version,
                        items: items.clone(),
                        automaton: OnceLock::new(),
                    };
                    structures.entry(version).or_default().insert(id.to_string(), structure);
                }
            }
            Err(e) => errors.push(format!("grammars.txt:{}: {e}", line.line)),
        }
    }
    let mut events: TableMap<Version, TableMap<String, String>> = TableMap::default();
    for line in data_lines("events.txt", standard::EVENTS, 1, &mut errors) {
        for event in line.data.split_whitespace() {
            for &version in &line.versions {
                events
                    .entry(version)
                    .or_default()
                    .insert(event.to_string(), line.key[0].to_string());
            }
        }
    }
    Tables { structures, events, errors }
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
    // The key `CODE^EVENT` is built on the stack: this runs for every message validated.
    let mut buffer = [0u8; 32];
    let event = event_key(&mut buffer, message_code, trigger);
    if let Some(id) = tables().events.get(&version).and_then(|m| m.get(&*event)) {
        return Some(id.as_str());
    }
    msh9_3.and_then(|id| structure(version, id)).map(|s| s.id.as_str())
}

/// `CODE^EVENT`, the event table's key, in `buffer` when it fits.
fn event_key<'b>(buffer: &'b mut [u8; 32], code: &str, trigger: &str) -> Cow<'b, str> {
    let len = code.len() + 1 + trigger.len();
    if len > buffer.len() {
        return Cow::Owned(format!("{code}^{trigger}"));
    }
    buffer[..code.len()].copy_from_slice(code.as_bytes());
    buffer[code.len()] = b'^';
    buffer[code.len() + 1..len].copy_from_slice(trigger.as_bytes());
    // Two strings and an ASCII byte between them are UTF-8.
    match std::str::from_utf8(&buffer[..len]) {
        Ok(key) => Cow::Borrowed(key),
        Err(_) => Cow::Owned(format!("{code}^{trigger}")),
    }
}

/// The required fields of a segment (1-based positions, usage R in the standard's segment
/// definition); empty when none or unknown.
pub fn required_fields(version: Version, segment: &str) -> &'static [usize] {
    // Validation asks this for every segment of every message: a three-byte id is looked up
    // as one integer in a table per version, instead of hashing the version and then the name.
    if let [a, b, c] = *segment.as_bytes() {
        let key = u32::from_be_bytes([0, a, b, c]);
        return required_by_key()[version as usize].get(&key).copied().unwrap_or(&[]);
    }
    standard::segment(version, segment).map_or(&[], |s| s.required.as_slice())
}

/// Per version (indexed by `Version as usize`), the required fields of every segment that has
/// some, keyed by the segment id's three bytes.
fn required_by_key() -> &'static [TableMap<u32, &'static [usize]>; Version::ALL.len()] {
    static REQUIRED: OnceLock<[TableMap<u32, &'static [usize]>; Version::ALL.len()]> =
        OnceLock::new();
    REQUIRED.get_or_init(|| {
        Version::ALL.map(|version| {
            standard::segment_ids(version)
                .into_iter()
                .filter_map(|id| {
                    let def = standard::segment(version, id)?;
                    let [a, b, c] = *id.as_bytes() else { return None };
                    let required = def.required.as_slice();
                    (!required.is_empty()).then_some((u32::from_be_bytes([0, a, b, c]), required))
                })
                .collect()
        })
    })
}

/// Matches the message's segment ids against the structure; Z-segments may appear anywhere.
pub fn validate_segments(ids: &[&str], structure: &Structure, version: Version) -> Vec<Finding> {
    LAST_MATCH.with_borrow_mut(|last| last.findings(ids, structure, version))
}

thread_local! {
    /// The last match made on this thread: a receiver gets the same kind of message again and
    /// again, and the findings are a function of the segment ids, the structure and the
    /// version alone, so the same sequence is answered without matching it again.
    static LAST_MATCH: std::cell::RefCell<LastMatch> = std::cell::RefCell::new(LastMatch::default());
}

/// One remembered match: the structure (by address: structures live for the program in the
/// static tables), the version, the segment ids joined by CR (which no segment id holds), and
/// the findings.
#[derive(Default)]
struct LastMatch {
    structure: usize,
    version: Option<Version>,
    ids: Vec<u8>,
    findings: Vec<Finding>,
}

impl LastMatch {
    /// Sequences longer than this are matched every time, so the memory a hostile message
    /// can leave on a thread stays small.
    const MAX_IDS_BYTES: usize = 1024;

    fn findings(&mut self, ids: &[&str], structure: &Structure, version: Version) -> Vec<Finding> {
        let address = std::ptr::from_ref(structure) as usize;
        let same = self.structure == address
            && self.version == Some(version)
            && self.ids.len() == ids.iter().map(|id| id.len() + 1).sum::<usize>()
            && ids
                .iter()
                .scan(0, |at, id| {
                    let start = *at;
                    *at += id.len() + 1;
                    Some(self.ids.get(start..*at - 1) == Some(id.as_bytes()))
                })
                .all(|equal| equal);
        if same {
            return self.findings.clone();
        }
        let findings = match_segments(
            ids,
            structure.automaton(),
            &structure.id,
            version,
            ZSegments::AllowedAnywhere,
        );
        let joined_len: usize = ids.iter().map(|id| id.len() + 1).sum();
        if joined_len <= Self::MAX_IDS_BYTES {
            self.structure = address;
            self.version = Some(version);
            self.ids.clear();
            for id in ids {
                self.ids.extend_from_slice(id.as_bytes());
                self.ids.push(b'\r');
            }
            self.findings.clone_from(&findings);
        } else {
            *self = LastMatch::default();
        }
        findings
    }
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
    fn a_remembered_match_answers_as_a_fresh_one() {
        let adt = structure(Version::V2_5, "ADT_A01").unwrap();
        let ack = structure(Version::V2_5, "ACK").unwrap();
        let fresh = |ids: &[&str], s: &Structure, v: Version| {
            match_segments(ids, s.automaton(), &s.id, v, ZSegments::AllowedAnywhere)
        };
        let long: Vec<&str> =
            std::iter::once("MSH").chain(std::iter::repeat_n("OBX", 400)).collect();
        let cases: [(&[&str], &Structure, Version); 9] = [
            (&["MSH", "EVN", "PID", "PV1"], adt, Version::V2_5),
            (&["MSH", "EVN", "PID", "PV1"], adt, Version::V2_5),
            (&["MSH", "EVN", "PID"], adt, Version::V2_5),
            (&["MSH", "EVN", "PIDP", "V1"], adt, Version::V2_5),
            (&["MSH", "MSA"], ack, Version::V2_5),
            (&["MSH", "MSA"], adt, Version::V2_5),
            (&["MSH", "MSA"], ack, Version::V2_4),
            (&long, adt, Version::V2_5),
            (&long, adt, Version::V2_5),
        ];
        for (ids, s, v) in cases {
            assert_eq!(validate_segments(ids, s, v), fresh(ids, s, v), "{ids:?} {} v{v}", s.id);
        }
        assert!(!validate_segments(&["MSH", "MSA"], adt, Version::V2_5).is_empty());
        assert!(validate_segments(&["MSH", "MSA"], ack, Version::V2_5).is_empty());
    }

    #[test]
    fn embedded_tables_read_without_errors() {
        assert!(data_errors().is_empty(), "{:#?}", data_errors());
        // Every grammar compiles and matches, in every version; a structure always begins
        // with MSH, so an empty message misses at least one segment.
        let mut compiled = 0;
        for version in Version::ALL {
            for id in structure_ids() {
                if let Some(s) = structure(version, id) {
                    assert!(!validate_segments(&[], s, version).is_empty(), "{id} v{version}");
                    compiled += 1;
                }
            }
        }
        assert!(compiled > 1400, "{compiled} structures");
        for version in Version::ALL {
            for id in [
                "ACK", "ADT_A01", "ADT_A03", "ADT_A09", "ADT_A39", "ORU_R01", "MDM_T02", "SIU_S12",
                "MFN_M02",
            ] {
                assert!(structure(version, id).is_some(), "{id} v{version}");
            }
            // ADT_A30 (merge patient information) and ORM_O01 (general order, replaced by
            // OMG_O19 and friends) left the standard in v2.7.
            for id in ["ADT_A30", "ORM_O01"] {
                assert_eq!(structure(version, id).is_some(), version <= Version::V2_6, "{id}");
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
        let long = "X".repeat(40);
        assert_eq!(structure_for_event(Version::V2_5, &long, "A01", None), None);
        let mut buffer = [0; 32];
        assert_eq!(event_key(&mut buffer, "ADT", "A04"), "ADT^A04");
        assert_eq!(event_key(&mut buffer, "", ""), "^");
        assert_eq!(event_key(&mut buffer, &long, "é"), format!("{long}^é"));
        assert_eq!(event_key(&mut buffer, &"Y".repeat(30), "é"), format!("{}^é", "Y".repeat(30)));
        assert_eq!(required_fields(Version::V2_5, "PID"), &[3, 5]);
        assert_eq!(required_fields(Version::V2_5, "NTE"), &[] as &[usize]);
        // By key or by name, the same answer for every segment the standard defines.
        for version in Version::ALL {
            assert_eq!(Version::ALL[version as usize], version);
            for id in standard::segment_ids(version) {
                let by_name = standard::segment(version, id).map_or(&[][..], |s| &s.required);
                assert_eq!(required_fields(version, id), by_name, "{id} v{version}");
            }
        }
        assert_eq!(required_fields(Version::V2_5, "ZZZ"), &[] as &[usize]);
        assert_eq!(required_fields(Version::V2_5, "PIDX"), &[] as &[usize]);
        assert_eq!(Version::parse(" 2.5.1 "), Some(Version::V2_5_1));
        assert_eq!(Version::parse("2.7"), Some(Version::V2_7));
        assert_eq!(Version::parse("2.7.1"), None);
        assert_eq!(structure_for_event(Version::V2_8, "ADT", "A04", None), Some("ADT_A01"));
    }

    #[test]
    fn required_field_findings() {
        let findings = check_required_fields(3, "PID", Version::V2_5, |n| n == 5);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].location.to_string(), "segment 3 (PID), PID-3");
    }
}
