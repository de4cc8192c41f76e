//! The embedded generated files, each read once at first use, and the lookups over them.
//!
//! Each file has its own `OnceLock`, so validating structures never pays for reading the
//! coded tables. Names and codes borrow from the embedded text; nothing is copied but the
//! per-version lists.

use super::defs::{
    ComponentDef, CompositeDef, FieldDef, SegmentDef, TableDef, TableKind, TableSource,
};
use super::lines::{data_lines, DataLine};
use crate::hl7::structures::Version;
use crate::hl7::table_hash::TableMap;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Message structures in the abstract-syntax notation (read by `structures`).
pub const GRAMMARS: &str = include_str!("grammars.txt");
/// Trigger event → structure (read by `structures`).
pub const EVENTS: &str = include_str!("events.txt");
const SEGMENTS: &str = include_str!("segments.txt");
const DATATYPES: &str = include_str!("datatypes.txt");
const TABLES: &str = include_str!("tables.txt");

/// Definitions keyed by version, then by id.
struct ByVersion<T> {
    map: TableMap<Version, TableMap<&'static str, T>>,
    errors: Vec<String>,
}

impl<T> ByVersion<T> {
    fn get(&self, version: Version, id: &str) -> Option<&T> {
        self.map.get(&version)?.get(id)
    }
}

/// Per version, per segment or data type: `(position, definition)` as read, not yet ordered.
type Positional<T> = HashMap<Version, HashMap<&'static str, Vec<(usize, T)>>>;

/// Reads `NAME POSITION VERSIONS: DATA` lines into one list per (version, name).
fn positional<T: Clone>(
    file: &str,
    text: &'static str,
    errors: &mut Vec<String>,
    parse: impl Fn(usize, &'static str) -> Result<T, String>,
) -> Positional<T> {
    let mut out: Positional<T> = HashMap::new();
    for DataLine { line, key, versions, data } in data_lines(file, text, 2, errors) {
        let item = key[1]
            .parse::<usize>()
            .map_err(|e| format!("position {:?}: {e}", key[1]))
            .and_then(|position| Ok((position, parse(position, data)?)));
        match item {
            Ok(item) => {
                for version in versions {
                    out.entry(version).or_default().entry(key[0]).or_default().push(item.clone());
                }
            }
            Err(e) => errors.push(format!("{file}:{line}: {e}")),
        }
    }
    out
}

/// Sorts by position and checks that each position comes once. Gaps are allowed: the source
/// leaves out some withdrawn fields (v2.6 DG1-7..14, v2.8 EVN-1).
fn in_order<T>(
    file: &str,
    id: &str,
    version: Version,
    mut items: Vec<(usize, T)>,
    errors: &mut Vec<String>,
) -> Vec<T> {
    items.sort_by_key(|(p, _)| *p);
    if items.windows(2).any(|w| w[0].0 == w[1].0) || items.first().is_some_and(|(p, _)| *p == 0) {
        errors.push(format!("{file}: {id} v{version}: a position twice, or position 0"));
    }
    items.into_iter().map(|(_, t)| t).collect()
}

/// `-` or a number.
fn optional<T: std::str::FromStr>(word: &str, what: &str) -> Result<Option<T>, String>
where
    T::Err: std::fmt::Display,
{
    match word {
        "-" => Ok(None),
        w => w.parse().map(Some).map_err(|e| format!("{what} {w:?}: {e}")),
    }
}

/// `DATATYPE MIN MAX LENGTH TABLE NAME`.
fn parse_field(position: usize, data: &'static str) -> Result<FieldDef, String> {
    let mut words = data.splitn(6, ' ');
    let mut next = |what: &str| words.next().ok_or_else(|| format!("{what} missing"));
    let datatype = next("data type")?;
    let min = next("min")?.parse().map_err(|e| format!("min: {e}"))?;
    let max = match next("max")? {
        "*" => None,
        w => Some(w.parse().map_err(|e| format!("max {w:?}: {e}"))?),
    };
    let length = optional(next("length")?, "length")?;
    let table = optional(next("table")?, "table")?;
    let name = next("name").unwrap_or("");
    Ok(FieldDef { position, name, datatype, min, max, length, table })
}

/// `DATATYPE TABLE LENGTH USAGE NAME`.
fn parse_component(position: usize, data: &'static str) -> Result<ComponentDef, String> {
    let mut words = data.splitn(5, ' ');
    let mut next = |what: &str| words.next().ok_or_else(|| format!("{what} missing"));
    let datatype = next("data type")?;
    let table = optional(next("table")?, "table")?;
    let length = optional(next("length")?, "length")?;
    let required = match next("usage")? {
        "R" => Some(true),
        "O" => Some(false),
        "-" => None,
        w => return Err(format!("usage {w:?}: not R, O or -")),
    };
    let name = next("name").unwrap_or("");
    Ok(ComponentDef { position, name, datatype, table, length, required })
}

fn segments() -> &'static ByVersion<SegmentDef> {
    static SEGMENT_DEFS: OnceLock<ByVersion<SegmentDef>> = OnceLock::new();
    SEGMENT_DEFS.get_or_init(|| {
        let mut errors = Vec::new();
        let raw = positional("segments.txt", SEGMENTS, &mut errors, parse_field);
        let mut map: TableMap<Version, TableMap<&'static str, SegmentDef>> = TableMap::default();
        for (version, by_id) in raw {
            for (id, items) in by_id {
                let fields = in_order("segments.txt", id, version, items, &mut errors);
                let required =
                    fields.iter().filter(|f| f.is_required()).map(|f| f.position).collect();
                let def = SegmentDef { id, version, fields, required };
                map.entry(version).or_default().insert(id, def);
            }
        }
        ByVersion { map, errors }
    })
}

fn datatypes() -> &'static ByVersion<CompositeDef> {
    static COMPOSITE_DEFS: OnceLock<ByVersion<CompositeDef>> = OnceLock::new();
    COMPOSITE_DEFS.get_or_init(|| {
        let mut errors = Vec::new();
        let raw = positional("datatypes.txt", DATATYPES, &mut errors, parse_component);
        let mut map: TableMap<Version, TableMap<&'static str, CompositeDef>> = TableMap::default();
        for (version, by_id) in raw {
            for (id, items) in by_id {
                let components = in_order("datatypes.txt", id, version, items, &mut errors);
                map.entry(version)
                    .or_default()
                    .insert(id, CompositeDef { id, version, components });
            }
        }
        ByVersion { map, errors }
    })
}

/// Tables are stored once per line and indexed per version, since one line often serves six.
struct Tables {
    defs: Vec<TableDef>,
    index: TableMap<(Version, u16), usize>,
    errors: Vec<String>,
}

/// `KIND SOURCE<TAB>NAME<TAB>CODE<TAB>CODE...`.
fn parse_table(number: u16, data: &'static str) -> Result<TableDef, String> {
    let mut cells = data.split('\t');
    let head = cells.next().unwrap_or("");
    let (kind, source) = head.split_once(' ').ok_or("expected `KIND SOURCE`")?;
    let kind = match kind {
        "hl7" => TableKind::Hl7Defined,
        "user" => TableKind::UserDefined,
        "-" => TableKind::Unknown,
        other => return Err(format!("kind {other:?}: not hl7, user or -")),
    };
    let source = match source {
        "hl7apy" => TableSource::Hl7apy,
        "hl7-dictionary" => TableSource::Hl7Dictionary,
        other => return Err(format!("source {other:?}")),
    };
    let name = cells.next().unwrap_or("");
    let mut codes: Vec<&'static str> = cells.filter(|c| !c.is_empty()).collect();
    codes.sort_unstable();
    codes.dedup();
    Ok(TableDef { number, name, kind, source, codes })
}

fn tables() -> &'static Tables {
    static TABLE_DEFS: OnceLock<Tables> = OnceLock::new();
    TABLE_DEFS.get_or_init(|| {
        let mut errors = Vec::new();
        let mut defs = Vec::new();
        let mut index = TableMap::default();
        for DataLine { line, key, versions, data } in
            data_lines("tables.txt", TABLES, 1, &mut errors)
        {
            let parsed = key[0]
                .parse::<u16>()
                .map_err(|e| format!("table number {:?}: {e}", key[0]))
                .and_then(|number| parse_table(number, data));
            match parsed {
                Ok(def) => {
                    for version in versions {
                        index.insert((version, def.number), defs.len());
                    }
                    defs.push(def);
                }
                Err(e) => errors.push(format!("tables.txt:{line}: {e}")),
            }
        }
        Tables { defs, index, errors }
    })
}

/// A segment's definition in a version, e.g. `segment(Version::V2_5, "PID")`.
pub fn segment(version: Version, id: &str) -> Option<&'static SegmentDef> {
    segments().get(version, id)
}

/// One field of a segment, e.g. `field(Version::V2_5, "PID", 3)` for PID-3.
pub fn field(version: Version, segment_id: &str, position: usize) -> Option<&'static FieldDef> {
    segment(version, segment_id)?.field(position)
}

/// A composite data type's definition in a version, e.g. `datatype(Version::V2_5, "CX")`.
/// `None` for primitive types (ST, NM, TS before v2.6...) and unknown ones.
pub fn datatype(version: Version, id: &str) -> Option<&'static CompositeDef> {
    datatypes().get(version, id)
}

/// An HL7 table in a version, by number (`table(Version::V2_5, 1)` is table 0001).
pub fn table(version: Version, number: u16) -> Option<&'static TableDef> {
    let tables = tables();
    tables.index.get(&(version, number)).and_then(|&i| tables.defs.get(i))
}

/// Every segment id defined in a version, sorted.
pub fn segment_ids(version: Version) -> Vec<&'static str> {
    let mut ids: Vec<&'static str> =
        segments().map.get(&version).into_iter().flat_map(|m| m.keys().copied()).collect();
    ids.sort_unstable();
    ids
}

/// Problems reading the segment, data type and table files: empty in a correct build (a unit
/// test says so), kept instead of panicking so that a bad line degrades one definition.
/// Reading them all, this forces every file to load.
pub fn data_errors() -> Vec<String> {
    let mut errors = segments().errors.clone();
    errors.extend(datatypes().errors.iter().cloned());
    errors.extend(tables().errors.iter().cloned());
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_files_read_without_errors() {
        assert_eq!(data_errors(), Vec::<String>::new());
        for version in Version::ALL {
            assert!(segment(version, "PID").is_some(), "PID v{version}");
            assert!(segment(version, "MSH").is_some(), "MSH v{version}");
            assert!(datatype(version, "CX").is_some(), "CX v{version}");
            assert!(table(version, 1).is_some(), "table 0001 v{version}");
        }
    }

    #[test]
    fn lookups() {
        let pid = segment(Version::V2_5, "PID").expect("PID 2.5");
        assert_eq!(pid.required, [3, 5]);
        let pid3 = pid.field(3).expect("PID-3");
        assert_eq!(
            (pid3.datatype, pid3.min, pid3.max, pid3.length, pid3.table),
            ("CX", 1, None, Some(250), None)
        );
        assert_eq!(pid3.name, "PATIENT_IDENTIFIER_LIST");
        assert_eq!(pid.field(8).and_then(|f| f.table), Some(1));
        assert!(pid.field(0).is_none() && pid.field(99).is_none());
        assert_eq!(field(Version::V2_5, "PID", 3), Some(pid3));
        assert_eq!(field(Version::V2_5, "ZZZ", 1), None);
        // Lengths exist up to 2.6 only; a withdrawn field in 2.7 has max 0.
        let pid_27 = segment(Version::V2_7, "PID").expect("PID 2.7");
        assert_eq!(pid_27.field(3).and_then(|f| f.length), None);
        assert_eq!(pid_27.field(2).map(|f| (f.datatype, f.max)), Some(("WD", Some(0))));
        // hl7apy's v2.8 EVN leaves out the withdrawn EVN-1: EVN-2 stays EVN-2 and required.
        let evn_28 = segment(Version::V2_8, "EVN").expect("EVN 2.8");
        assert_eq!((evn_28.field(1), evn_28.required.as_slice()), (None, &[2][..]));
        // OBX-2 and OBX-4 are conditional, not required, in v2.7 and v2.8.
        assert_eq!(required_of(Version::V2_8, "OBX"), [3, 11]);
        // v2.6 DG1 joins its lengths on the real positions, past the withdrawn DG1-7..14.
        assert_eq!(field(Version::V2_6, "DG1", 15).and_then(|f| f.length), Some(2));
        let cx = datatype(Version::V2_5, "CX").expect("CX 2.5");
        let cx1 = cx.component(1).expect("CX.1");
        assert_eq!((cx1.datatype, cx1.length, cx1.required), ("ST", Some(15), Some(true)));
        assert!(datatype(Version::V2_5, "ST").is_none());
        let sex = table(Version::V2_5, 1).expect("0001");
        assert_eq!((sex.kind, sex.source), (TableKind::UserDefined, TableSource::Hl7apy));
        assert!(sex.contains("F") && !sex.contains("X"));
        assert_eq!(table(Version::V2_3, 1).map(|t| t.source), Some(TableSource::Hl7Dictionary));
        assert_eq!(table(Version::V2_5, 104).map(|t| t.kind), Some(TableKind::Hl7Defined));
        assert!(segment_ids(Version::V2_8).contains(&"PID"));
    }

    fn required_of(version: Version, id: &str) -> Vec<usize> {
        segment(version, id).map(|s| s.required.clone()).unwrap_or_default()
    }

    #[test]
    fn bad_lines_are_errors() {
        assert!(parse_field(1, "CX 1 * 250 - NAME").is_ok());
        assert!(parse_field(1, "CX x * 250 - NAME").is_err());
        assert!(parse_field(1, "CX 1").is_err());
        assert!(parse_component(1, "ST - 15 Q NAME").is_err());
        assert!(parse_table(1, "user hl7apy\tSex\tF\tM").is_ok());
        assert!(parse_table(1, "maybe hl7apy\tSex").is_err());
        assert!(parse_table(1, "user").is_err());
    }
}
