//! Names of segments, fields and components from the HL7 v2 standard, so that `inspect` can label
//! a value ("PID-5 Patient Name", "PID-5.1 Family Name").
//!
//! Owns the table in `names.txt` (its format is documented at the top of that file), embedded in
//! the binary and read once on first use. Labels only: nothing here validates a message, and a
//! segment, field or component the table does not know is simply `None`.
//!
//! Reading the table never panics: [`parse_names`] returns what it could read plus a list of the
//! lines it could not, and a unit test keeps that list empty for the embedded table.

use std::collections::HashMap;
use std::sync::OnceLock;
use thiserror::Error;

/// The embedded table.
const NAMES: &str = include_str!("names.txt");

/// The name of a segment, e.g. `PID` → "Patient Identification".
pub fn segment_name(id: &str) -> Option<&'static str> {
    embedded().segment_name(id)
}

/// The name of a field (1-based position), e.g. `PID`, 5 → "Patient Name".
pub fn field_name(segment: &str, field: usize) -> Option<&'static str> {
    embedded().field_name(segment, field)
}

/// The data type of a field, e.g. `PID`, 5 → "XPN". `varies` for OBX-5 and MFE-4, whose type is
/// given by another field of the segment (OBX-2, MFE-5).
pub fn field_type(segment: &str, field: usize) -> Option<&'static str> {
    embedded().field_type(segment, field)
}

/// The name of a component (1-based) of a field, through the field's data type, e.g. `PID`, 5, 1
/// → "Family Name". `None` when the type is primitive or not in the table.
pub fn component_name(segment: &str, field: usize, component: usize) -> Option<&'static str> {
    embedded().component_name(segment, field, component)
}

/// How many fields the table names for a segment (its highest position).
pub fn field_count(segment: &str) -> Option<usize> {
    embedded().field_count(segment)
}

/// The component names of a composite data type, component 1 first, e.g. `MSG` → ["Message
/// Code", "Trigger Event", "Message Structure"]. `None` for primitive and unlisted types.
pub fn components(data_type: &str) -> Option<&'static [&'static str]> {
    embedded().components(data_type)
}

/// The ids of the segments in the table, in the order the table lists them.
pub fn segment_ids() -> impl Iterator<Item = &'static str> {
    embedded().segment_ids()
}

fn embedded() -> &'static Names<'static> {
    static TABLE: OnceLock<Names<'static>> = OnceLock::new();
    // Errors in the embedded table are kept empty by the `embedded_table_reads_cleanly` test;
    // if one slipped through, its line is left out and labelling goes on without it.
    TABLE.get_or_init(|| parse_names(NAMES).0)
}

/// A names table read from text in the `names.txt` format, borrowing its strings from the text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Names<'a> {
    /// Segment ids in table order.
    order: Vec<&'a str>,
    segments: HashMap<&'a str, SegmentNames<'a>>,
    /// Composite data type → its component names, component 1 first.
    types: HashMap<&'a str, Vec<&'a str>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SegmentNames<'a> {
    name: &'a str,
    /// Field 1 first.
    fields: Vec<FieldNames<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldNames<'a> {
    name: &'a str,
    data_type: Option<&'a str>,
}

impl<'a> Names<'a> {
    pub fn segment_name(&self, id: &str) -> Option<&'a str> {
        self.segments.get(id).map(|s| s.name)
    }

    pub fn field_name(&self, segment: &str, field: usize) -> Option<&'a str> {
        self.field(segment, field).map(|f| f.name)
    }

    pub fn field_type(&self, segment: &str, field: usize) -> Option<&'a str> {
        self.field(segment, field).and_then(|f| f.data_type)
    }

    pub fn component_name(&self, segment: &str, field: usize, component: usize) -> Option<&'a str> {
        let components = self.types.get(self.field_type(segment, field)?)?;
        components.get(component.checked_sub(1)?).copied()
    }

    pub fn field_count(&self, segment: &str) -> Option<usize> {
        self.segments.get(segment).map(|s| s.fields.len())
    }

    pub fn segment_ids(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.order.iter().copied()
    }

    /// The component names of a composite data type, component 1 first.
    pub fn components(&self, data_type: &str) -> Option<&[&'a str]> {
        self.types.get(data_type).map(Vec::as_slice)
    }

    fn field(&self, segment: &str, field: usize) -> Option<&FieldNames<'a>> {
        self.segments.get(segment)?.fields.get(field.checked_sub(1)?)
    }
}

/// A line of a names table that could not be read; the line is left out of the table.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NamesError {
    #[error("line {line}: a field line before any segment line")]
    FieldOutsideSegment { line: usize },
    #[error("line {line}: field {found} of {segment} where field {expected} was due")]
    FieldOutOfOrder { line: usize, segment: String, expected: usize, found: String },
    #[error("line {line}: segment {id} is listed twice")]
    DuplicateSegment { line: usize, id: String },
    #[error("line {line}: data type {id} is listed twice")]
    DuplicateType { line: usize, id: String },
    #[error("line {line}: {reason}")]
    Unreadable { line: usize, reason: &'static str },
}

/// Reads a table in the `names.txt` format. Never panics: every line it cannot read is left out
/// and reported, and the rest of the table is still returned.
pub fn parse_names(text: &str) -> (Names<'_>, Vec<NamesError>) {
    let mut names = Names::default();
    let mut errors = Vec::new();
    // The segment whose fields are being read; `None` before the first segment line and after a
    // segment line that was rejected (its fields are then rejected with it, without one error
    // each: the segment's error already says what is wrong).
    let mut current: Option<&str> = None;
    let mut skipping_segment = false;

    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.trim_end();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }

        if content.starts_with(' ') {
            if skipping_segment {
                continue;
            }
            let Some(segment_id) = current else {
                errors.push(NamesError::FieldOutsideSegment { line });
                continue;
            };
            let Some(segment) = names.segments.get_mut(segment_id) else {
                continue;
            };
            match parse_field_line(content.trim_start()) {
                Ok((position, field)) => {
                    let expected = segment.fields.len() + 1;
                    if position == expected {
                        segment.fields.push(field);
                    } else {
                        errors.push(NamesError::FieldOutOfOrder {
                            line,
                            segment: segment_id.to_owned(),
                            expected,
                            found: position.to_string(),
                        });
                    }
                }
                Err(reason) => errors.push(NamesError::Unreadable { line, reason }),
            }
        } else if let Some(rest) = content.strip_prefix("type ") {
            current = None;
            skipping_segment = false;
            match parse_type_line(rest) {
                Ok((id, components)) => {
                    if names.types.contains_key(id) {
                        errors.push(NamesError::DuplicateType { line, id: id.to_owned() });
                    } else {
                        names.types.insert(id, components);
                    }
                }
                Err(reason) => errors.push(NamesError::Unreadable { line, reason }),
            }
        } else {
            current = None;
            skipping_segment = true;
            match parse_segment_line(content) {
                Ok((id, name)) => {
                    if names.segments.contains_key(id) {
                        errors.push(NamesError::DuplicateSegment { line, id: id.to_owned() });
                    } else {
                        names.segments.insert(id, SegmentNames { name, fields: Vec::new() });
                        names.order.push(id);
                        current = Some(id);
                        skipping_segment = false;
                    }
                }
                Err(reason) => errors.push(NamesError::Unreadable { line, reason }),
            }
        }
    }
    (names, errors)
}

/// `PID Patient Identification`. A segment id is three characters, an upper-case letter then
/// upper-case letters or digits (HL7 v2.5.1 ch. 2, 2.5.2).
fn parse_segment_line(content: &str) -> Result<(&str, &str), &'static str> {
    let (id, name) =
        content.split_once(' ').ok_or("a segment line needs an id, a space and a name")?;
    let bytes = id.as_bytes();
    let id_ok = bytes.len() == 3
        && bytes[0].is_ascii_uppercase()
        && bytes[1..].iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !id_ok {
        return Err("a segment id is an upper-case letter then two upper-case letters or digits");
    }
    let name = name.trim();
    if name.is_empty() {
        return Err("a segment line needs a name after its id");
    }
    Ok((id, name))
}

/// `5 Patient Name :XPN` (indentation already removed); the ` :TYPE` part is optional.
fn parse_field_line(content: &str) -> Result<(usize, FieldNames<'_>), &'static str> {
    let (position, rest) =
        content.split_once(' ').ok_or("a field line needs a position, a space and a name")?;
    let position: usize =
        position.parse().map_err(|_| "a field line starts with its position, a number")?;
    if rest.starts_with(':') {
        return Err("a field line needs a name after its position");
    }
    let (name, data_type) = match rest.rsplit_once(" :") {
        Some((name, data_type)) => {
            let data_type = data_type.trim();
            if data_type.is_empty() || !data_type.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err("a data type after ` :` is letters and digits only");
            }
            (name.trim(), Some(data_type))
        }
        None => (rest.trim(), None),
    };
    if name.is_empty() {
        return Err("a field line needs a name after its position");
    }
    Ok((position, FieldNames { name, data_type }))
}

/// `XPN: Family Name, Given Name, ...` (after `type `).
fn parse_type_line(rest: &str) -> Result<(&str, Vec<&str>), &'static str> {
    let (id, components) =
        rest.split_once(':').ok_or("a type line is `type ID: Component, Component, ...`")?;
    let id = id.trim();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("a data type id is letters and digits only");
    }
    let components: Vec<&str> = components.split(',').map(str::trim).collect();
    if components.iter().any(|c| c.is_empty()) {
        return Err("a type line has an empty component name");
    }
    Ok((id, components))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every segment the table must cover, with all its fields.
    const SEGMENTS: &[&str] = &[
        "MSH", "EVN", "PID", "PD1", "NK1", "PV1", "PV2", "MRG", "AL1", "DG1", "PR1", "OBR", "OBX",
        "ORC", "NTE", "MSA", "ERR", "TXA", "SCH", "AIS", "AIG", "AIL", "AIP", "RGS", "MFI", "MFE",
        "STF", "PRA", "ROL", "SFT", "FHS", "FTS", "BHS", "BTS", "SPM", "IN1", "GT1", "TQ1", "DB1",
        "QRD",
    ];

    /// Composite types that must have component names.
    const TYPES: &[&str] = &[
        "XPN", "CX", "XAD", "XTN", "HD", "CWE", "CE", "MSG", "PT", "VID", "TS", "EI", "XCN", "PL",
        "CNE", "ERL", "ELD", "CQ", "XON",
    ];

    /// `path` is `SEG`, `SEG-F` or `SEG-F.C`; `expected` is the label the embedded table gives.
    fn check(path: &str, expected: Option<&str>) {
        let (segment, rest) = path.split_at(3.min(path.len()));
        let mut numbers = rest
            .trim_start_matches('-')
            .split('.')
            .filter(|s| !s.is_empty())
            .map(|n| n.parse::<usize>().expect("test path numbers are numbers"));
        let got = match (numbers.next(), numbers.next()) {
            (None, _) => segment_name(segment),
            (Some(field), None) => field_name(segment, field),
            (Some(field), Some(component)) => component_name(segment, field, component),
        };
        assert_eq!(got, expected, "{path}");
    }

    #[test]
    fn embedded_table_reads_cleanly() {
        let (names, errors) = parse_names(NAMES);
        assert_eq!(errors, [], "names.txt has lines that cannot be read");
        let ids: Vec<&str> = names.segment_ids().collect();
        assert_eq!(ids, SEGMENTS);
        for segment in SEGMENTS {
            let count = names.field_count(segment).unwrap_or(0);
            assert!(count > 0, "{segment} has no fields");
            for field in 1..=count {
                assert!(names.field_type(segment, field).is_some(), "{segment}-{field} type");
            }
        }
        for data_type in TYPES {
            assert!(names.components(data_type).is_some(), "type {data_type}");
        }
    }

    #[test]
    fn labels() {
        check("PID", Some("Patient Identification"));
        check("PID-5", Some("Patient Name"));
        check("PID-5.1", Some("Family Name"));
        check("PID-5.2", Some("Given Name"));
        check("PID-3.4", Some("Assigning Authority"));
        check("MSH-1", Some("Field Separator"));
        check("MSH-9", Some("Message Type"));
        check("MSH-9.1", Some("Message Code"));
        check("MSH-9.2", Some("Trigger Event"));
        check("MSH-9.3", Some("Message Structure"));
        check("MSH-10", Some("Message Control ID"));
        check("MSH-12.1", Some("Version ID"));
        check("MSA-1", Some("Acknowledgment Code"));
        check("MSA-2", Some("Message Control ID"));
        check("OBX-5", Some("Observation Value"));
        check("OBX-3.1", Some("Identifier"));
        check("ERR-2.3", Some("Field Position"));
        check("OBR-5", Some("Priority - OBR"));
        check("IN1-52", Some("Insured's Birth Place"));
        check("PID-13.14", Some("Expiration Date"));
    }

    #[test]
    fn unknown_labels_are_none() {
        check("ZPD", None);
        check("pid", None);
        check("PID-0", None);
        check("PID-40", None);
        check("PID-5.0", None);
        check("PID-5.15", None);
        // Primitive types have no components.
        check("PID-8.1", None);
        check("MSH-7.1", None);
        // OBX-5's type is given by OBX-2 at run time.
        check("OBX-5.1", None);
        assert_eq!(field_type("OBX", 5), Some("varies"));
        assert_eq!(field_type("PID", 5), Some("XPN"));
        assert_eq!(field_count("MSH"), Some(25));
        assert_eq!(field_count("ZPD"), None);
    }

    #[test]
    fn bad_lines_are_reported_and_left_out() {
        let text = "\
  1 Orphan :ST
ZZ1 Good Segment
  1 First :ST
  3 Gap :ST
  x Not A Number
  2 No Type
  3 Bad Type :X-Y
  3 :ST
pid Lower Case
  1 Field Of A Rejected Segment
ZZ1 Again
type AB: One, , Three
type CD: One, Two
type CD: Again
type
ZZ2
";
        let (names, errors) = parse_names(text);
        let lines: Vec<usize> = errors
            .iter()
            .map(|e| match e {
                NamesError::FieldOutsideSegment { line }
                | NamesError::FieldOutOfOrder { line, .. }
                | NamesError::DuplicateSegment { line, .. }
                | NamesError::DuplicateType { line, .. }
                | NamesError::Unreadable { line, .. } => *line,
            })
            .collect();
        assert_eq!(lines, [1, 4, 5, 7, 8, 9, 11, 12, 14, 15, 16], "{errors:#?}");
        assert_eq!(names.segment_name("ZZ1"), Some("Good Segment"));
        assert_eq!(names.field_count("ZZ1"), Some(2));
        assert_eq!(names.field_name("ZZ1", 2), Some("No Type"));
        assert_eq!(names.field_type("ZZ1", 2), None);
        assert_eq!(names.components("CD"), Some(&["One", "Two"][..]));
        assert_eq!(names.components("AB"), None);
    }

    #[test]
    fn never_panics_on_prefixes_of_the_table() {
        // The reader is line-based, so cutting the table at every line start, and every line at
        // every character, covers every way a truncated table can end.
        for (start, _) in NAMES.match_indices('\n') {
            let _ = parse_names(&NAMES[..start]);
        }
        for line in NAMES.lines() {
            for end in (0..=line.len()).filter(|&i| line.is_char_boundary(i)) {
                let _ = parse_names(&line[..end]);
                let _ = parse_names(line[..end].trim_start());
            }
        }
    }
}
