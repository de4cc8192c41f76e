//! What a route does to a message (pure, no I/O): which messages it takes ([`MessageMatch`]) and
//! the mappings it applies in order ([`Mapping`]), as byte splices through
//! [`crate::hl7::edit::MessageBuf`], so every byte a mapping does not name leaves the engine as
//! it came in (delimiters, escapes, character set, segment order).

use super::routes::PathText;
use crate::hl7::edit::{EditError, MessageBuf};
use crate::hl7::{Message, Path};
use serde::Deserialize;
use std::collections::BTreeMap;
use thiserror::Error;

/// Why a mapping could not be applied; the input is then answered AE and not forwarded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MappingError {
    #[error("the message does not parse: {0}")]
    Unreadable(String),
    #[error("mapping {index} ({kind}): {source}")]
    Edit {
        index: usize,
        kind: &'static str,
        #[source]
        source: EditError,
    },
}

/// A message type a route takes: `ADT^A01` (MSH-9.1 and MSH-9.2), `ADT^*` or `ADT` (any
/// trigger event of ADT), `*` (anything).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct MessageMatch {
    /// `None`: any.
    pub code: Option<String>,
    pub event: Option<String>,
}

impl TryFrom<String> for MessageMatch {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let (code, event) = text.split_once('^').unwrap_or((&text, "*"));
        let word = |w: &str| {
            let ok = w == "*" || (!w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric()));
            ok.then(|| (w != "*").then(|| w.to_string()))
        };
        match (word(code), word(event)) {
            (Some(code), Some(event)) => Ok(MessageMatch { code, event }),
            _ => Err(format!("{text:?}: expected CODE^EVENT, CODE^* or * (e.g. ADT^A01)")),
        }
    }
}

impl MessageMatch {
    /// Whether a message with this MSH-9.1 and MSH-9.2 is taken.
    pub fn matches(&self, code: Option<&str>, event: Option<&str>) -> bool {
        let one = |want: &Option<String>, got: Option<&str>| {
            want.as_deref().is_none_or(|w| got.is_some_and(|g| g.eq_ignore_ascii_case(w)))
        };
        one(&self.code, code) && one(&self.event, event)
    }
}

/// One mapping step, as the route file writes it (`- set: {path: MSH-5, value: X}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawMapping")]
pub enum Mapping {
    /// Copies the bytes at `from` to `to` as they are (escapes and inner delimiters kept). An
    /// absent `from` leaves `to` unchanged.
    Copy { from: PathText, to: PathText },
    /// Sets `path` to the text `value`, escaped and encoded in the message's character set.
    Set { path: PathText, value: String },
    /// Replaces the decoded text at `path` by its entry in `values`; a text not listed (an
    /// absent or empty one included) becomes `default`, or stays as it is without one.
    Map { path: PathText, values: BTreeMap<String, String>, default: Option<String> },
    /// Removes every occurrence of a segment (`ZPD`).
    DropSegment(SegmentId),
}

/// A mapping as written: a map with exactly one of these keys. (A struct rather than an
/// externally tagged enum: serde_yaml 0.9 reads those only from YAML tags.)
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    copy: Option<CopyArgs>,
    set: Option<SetArgs>,
    map: Option<MapArgs>,
    drop_segment: Option<SegmentId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CopyArgs {
    from: PathText,
    to: PathText,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetArgs {
    path: PathText,
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MapArgs {
    path: PathText,
    values: BTreeMap<String, String>,
    #[serde(default)]
    default: Option<String>,
}

impl TryFrom<RawMapping> for Mapping {
    type Error = String;
    fn try_from(raw: RawMapping) -> Result<Self, String> {
        let mut found = Vec::new();
        if let Some(c) = raw.copy {
            found.push(Mapping::Copy { from: c.from, to: c.to });
        }
        if let Some(s) = raw.set {
            found.push(Mapping::Set { path: s.path, value: s.value });
        }
        if let Some(m) = raw.map {
            found.push(Mapping::Map { path: m.path, values: m.values, default: m.default });
        }
        if let Some(segment) = raw.drop_segment {
            found.push(Mapping::DropSegment(segment));
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            n => Err(format!(
                "a mapping has exactly one of copy, set, map, drop_segment ({n} given)"
            )),
        }
    }
}

/// A segment id in `drop_segment` (not MSH: a message without its header is none).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct SegmentId(pub Path);

impl TryFrom<String> for SegmentId {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let path = Path::segment_only(&text).map_err(|e| format!("{text:?}: {}", e.reason))?;
        if path.segment_id() == "MSH" {
            return Err("MSH cannot be dropped: every message starts with it".into());
        }
        Ok(SegmentId(path))
    }
}

impl Mapping {
    fn kind(&self) -> &'static str {
        match self {
            Mapping::Copy { .. } => "copy",
            Mapping::Set { .. } => "set",
            Mapping::Map { .. } => "map",
            Mapping::DropSegment(_) => "drop_segment",
        }
    }
}

/// The message type of `payload` as routes match it: (MSH-9.1, MSH-9.2).
pub fn message_type(message: &Message<'_>) -> (Option<String>, Option<String>) {
    (message.message_code().map(str::to_string), message.trigger_event().map(str::to_string))
}

/// Applies `mappings` in order to `payload` and returns the output message.
pub fn apply(mappings: &[Mapping], payload: &[u8]) -> Result<Vec<u8>, MappingError> {
    let mut buf =
        MessageBuf::new(payload.to_vec()).map_err(|e| MappingError::Unreadable(e.to_string()))?;
    for (index, mapping) in mappings.iter().enumerate() {
        let edit = |source| MappingError::Edit { index: index + 1, kind: mapping.kind(), source };
        match mapping {
            Mapping::Copy { from, to } => {
                let raw = buf.message().get(&from.0).map(|v| v.as_bytes().to_vec());
                if let Some(raw) = raw {
                    buf.set_raw(&to.0, &raw).map_err(edit)?;
                }
            }
            Mapping::Set { path, value } => buf.set(&path.0, value).map_err(edit)?,
            Mapping::Map { path, values, default } => {
                let message = buf.message();
                let text =
                    message.get(&path.0).map(|v| message.text(&v).into_owned()).unwrap_or_default();
                if let Some(new) = values.get(&text).or(default.as_ref()) {
                    let new = new.clone();
                    buf.set(&path.0, &new).map_err(edit)?;
                }
            }
            Mapping::DropSegment(segment) => {
                // Bounded: each pass removes one segment of a message that has this many.
                for _ in 0..buf.message().segment_count() {
                    if !buf.remove(&segment.0).map_err(edit)? {
                        break;
                    }
                }
            }
        }
    }
    Ok(buf.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADT: &[u8] = b"MSH|^~\\&|EHR|HOSP|RCV|FAC|20240312101500||ADT^A01^ADT_A01|MSG-1|P|2.6\r\
PID|1||CL-1^^^EHR^PI||Doe\\S\\x^John\rPV1|1|I\rZPD|1|x\rZPD|2|y\r";

    fn mappings(yaml: &str) -> Vec<Mapping> {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn check(yaml: &str, expected: &str) {
        let out = apply(&mappings(yaml), ADT).unwrap();
        assert_eq!(String::from_utf8_lossy(&out), expected.replace('\n', "\r"), "{yaml}");
    }

    #[test]
    fn each_mapping_changes_only_what_it_names() {
        let rest = "PID|1||CL-1^^^EHR^PI||Doe\\S\\x^John\nPV1|1|I\n";
        let msh = "MSH|^~\\&|EHR|HOSP|RCV|FAC|20240312101500||ADT^A01^ADT_A01|MSG-1|P|2.6\n";
        check("- drop_segment: ZPD", &format!("{msh}{rest}"));
        check(
            "- set: {path: MSH-5, value: STORE}\n- drop_segment: ZPD",
            &format!("{}{rest}", msh.replace("|RCV|", "|STORE|")),
        );
        check(
            "- copy: {from: PID-3.1, to: PID-2}\n- drop_segment: ZPD",
            &format!("{msh}{}", rest.replace("PID|1||", "PID|1|CL-1|")),
        );
        check(
            "- map: {path: PV1-2, values: {I: IN, O: OUT}}\n- drop_segment: ZPD",
            &format!("{msh}{}", rest.replace("PV1|1|I", "PV1|1|IN")),
        );
        // Not listed: the default, or unchanged without one.
        check(
            "- map: {path: PV1-2, values: {O: OUT}, default: OTHER}\n- drop_segment: ZPD",
            &format!("{msh}{}", rest.replace("PV1|1|I", "PV1|1|OTHER")),
        );
        check(
            "- map: {path: PV1-2, values: {O: OUT}}\n- drop_segment: ZPD",
            &format!("{msh}{rest}"),
        );
        // A set value with a delimiter is escaped; a copied one keeps its escapes.
        check(
            "- set: {path: PV1-3, value: \"a|b\"}\n- copy: {from: PID-5.1, to: PV1-4}\n\
             - drop_segment: ZPD",
            &format!("{msh}{}", rest.replace("PV1|1|I", "PV1|1|I|a\\F\\b|Doe\\S\\x")),
        );
    }

    #[test]
    fn matches_by_code_and_event() {
        let m = |t: &str| MessageMatch::try_from(t.to_string());
        assert!(m("ADT^A01").unwrap().matches(Some("ADT"), Some("A01")));
        assert!(!m("ADT^A01").unwrap().matches(Some("ADT"), Some("A04")));
        assert!(m("ADT").unwrap().matches(Some("ADT"), Some("A04")));
        assert!(m("ADT^*").unwrap().matches(Some("ADT"), None));
        assert!(m("*").unwrap().matches(None, None));
        assert!(!m("ORU").unwrap().matches(Some("ADT"), Some("A01")));
        assert!(m("ADT^A0 1").is_err());
        assert!(m("").is_err());
    }

    #[test]
    fn bad_mappings_are_refused_when_read() {
        let err = |y: &str| serde_yaml::from_str::<Vec<Mapping>>(y).unwrap_err().to_string();
        assert!(err("- drop_segment: MSH").contains("MSH cannot be dropped"));
        assert!(err("- set: {path: MSH-2, value: x}").contains("delimiters"));
        assert!(err("- set: {path: PID-5, value: x, extra: 1}").contains("unknown field"));
        assert!(err("- rename: {path: PID-5}").contains("unknown field"));
        assert!(err("- {drop_segment: ZPD, set: {path: PID-5, value: x}}").contains("2 given"));
    }
}
