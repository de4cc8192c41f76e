//! The mutations' parameter types, with their defaults and their YAML short forms (a list alone,
//! a segment id alone), and the two checked identifiers they use: [`SegmentId`] and
//! [`DelimiterSet`].

use crate::hl7::{Delimiters, Path};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Fields to change. Short form: the list alone (`escaped_delimiters: [PID-5.1]`). When empty,
/// the mutation picks its default fields (documented in [`CATALOGUE`]).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldsParam {
    #[serde(default)]
    pub fields: Vec<Path>,
}

impl From<Vec<Path>> for FieldsParam {
    fn from(fields: Vec<Path>) -> Self {
        FieldsParam { fields }
    }
}

/// One field to change. Short form: the path alone (`empty_required: PID-3`). When not given,
/// the seed picks one.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldParam {
    #[serde(default)]
    pub field: Option<Path>,
}

impl From<Path> for FieldParam {
    fn from(field: Path) -> Self {
        FieldParam { field: Some(field) }
    }
}

/// One segment to act on. Short form: the id alone (`drop_required_segment: PID`). When not
/// given, the seed picks one that fits the mutation.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentParam {
    #[serde(default)]
    pub segment: Option<SegmentId>,
}

impl From<SegmentId> for SegmentParam {
    fn from(segment: SegmentId) -> Self {
        SegmentParam { segment: Some(segment) }
    }
}

/// A segment to add. Short form: the id alone (`z_segment: ZPI`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddSegment {
    /// The segment id; `ZHX` for `z_segment` and `XQX` for `unknown_segment` when not given.
    #[serde(default)]
    pub id: Option<SegmentId>,
}

impl From<SegmentId> for AddSegment {
    fn from(id: SegmentId) -> Self {
        AddSegment { id: Some(id) }
    }
}

/// Which script the text of `non_ascii` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Script {
    /// Letters of the ISO 8859-1 range: `Müller`, `Søren`, `Gómez`.
    Latin1,
    /// Greek: `Παπαδόπουλος`.
    Greek,
    /// Chinese and Japanese ideographs: `山田`, `王小明`.
    Cjk,
    /// Emoji, outside the Basic Multilingual Plane: `😀`.
    Emoji,
}

impl Script {
    pub const ALL: [Script; 4] = [Script::Latin1, Script::Greek, Script::Cjk, Script::Emoji];

    pub fn as_str(self) -> &'static str {
        match self {
            Script::Latin1 => "latin1",
            Script::Greek => "greek",
            Script::Cjk => "cjk",
            Script::Emoji => "emoji",
        }
    }
}

/// What `non_ascii` does when MSH-18 cannot represent the text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnUnmappable {
    /// Re-encode the whole message as UTF-8 and set MSH-18 to `UNICODE UTF-8`.
    #[default]
    DeclareUtf8,
    /// Fail with an error naming the field and the character set.
    Fail,
}

/// Parameters of `non_ascii`. Short form: the field list alone.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NonAscii {
    /// Fields to write; PID-5.1 and PID-5.2 (or the first name fields present) when empty.
    #[serde(default)]
    pub fields: Vec<Path>,
    /// The script; chosen by the seed when not given.
    #[serde(default)]
    pub script: Option<Script>,
    #[serde(default)]
    pub unmappable: OnUnmappable,
}

impl From<Vec<Path>> for NonAscii {
    fn from(fields: Vec<Path>) -> Self {
        NonAscii { fields, ..NonAscii::default() }
    }
}

/// Parameters of `custom_delimiters`: an explicit set, or `random: true` for one drawn from the
/// seed. With neither, `$%#!(`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomDelimiters {
    #[serde(default)]
    pub delimiters: Option<DelimiterSet>,
    #[serde(default)]
    pub random: bool,
}

/// Parameters of `truncate_fields`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TruncateFields {
    /// The segment; chosen by the seed when not given.
    #[serde(default)]
    pub segment: Option<SegmentId>,
    /// How many fields to keep (at least 1); chosen by the seed when not given.
    #[serde(default)]
    pub keep: Option<usize>,
}

/// Which timestamp variant `timestamp_variants` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimestampVariant {
    /// Fewer digits: to the minute for MSH-7, to the day elsewhere.
    ReducedPrecision,
    /// A time zone offset (`+0100`).
    TimeZone,
    /// Fractional seconds (`.1234`).
    Fraction,
    /// The legacy TS form with a degree-of-precision component (`20240101120000^S`).
    Components,
}

impl TimestampVariant {
    pub const ALL: [TimestampVariant; 4] = [
        TimestampVariant::ReducedPrecision,
        TimestampVariant::TimeZone,
        TimestampVariant::Fraction,
        TimestampVariant::Components,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TimestampVariant::ReducedPrecision => "reduced_precision",
            TimestampVariant::TimeZone => "time_zone",
            TimestampVariant::Fraction => "fraction",
            TimestampVariant::Components => "components",
        }
    }
}

/// Parameters of `timestamp_variants`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimestampVariants {
    /// The timestamp field; MSH-7 when not given.
    #[serde(default)]
    pub field: Option<Path>,
    /// The variant; chosen by the seed when not given.
    #[serde(default)]
    pub variant: Option<TimestampVariant>,
}

/// Parameters of `long_field`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LongField {
    /// The field; PID-5.1 (or the first name field present) when not given.
    #[serde(default)]
    pub field: Option<Path>,
    /// Characters in the value, 1 to 16 MiB.
    #[serde(default = "LongField::default_length")]
    pub length: usize,
}

impl LongField {
    pub const MAX_LENGTH: usize = 16 * 1024 * 1024;

    fn default_length() -> usize {
        65_536
    }
}

impl Default for LongField {
    fn default() -> Self {
        LongField { field: None, length: LongField::default_length() }
    }
}

/// Parameters of `many_repetitions`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManyRepetitions {
    /// The field (a whole field, e.g. PID-3); PID-3 when not given.
    #[serde(default)]
    pub field: Option<Path>,
    /// Repetitions in the result, 2 to 100000.
    #[serde(default = "ManyRepetitions::default_count")]
    pub count: usize,
}

impl ManyRepetitions {
    pub const MAX_COUNT: usize = 100_000;

    fn default_count() -> usize {
        100
    }
}

impl Default for ManyRepetitions {
    fn default() -> Self {
        ManyRepetitions { field: None, count: ManyRepetitions::default_count() }
    }
}

/// Parameters of `duplicate_control_id`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DuplicateControlId {
    /// The control ID to reuse (that of a message sent before); the message's own MSH-10 when
    /// not given, for sending the same message twice.
    #[serde(default)]
    pub control_id: Option<String>,
}

/// Parameters of `unknown_message_type`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnknownMessageType {
    /// MSH-9.1; `XYZ` when not given.
    #[serde(default)]
    pub code: Option<String>,
}

/// Parameters of `unknown_trigger`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnknownTrigger {
    /// MSH-9.2; `X99` when not given.
    #[serde(default)]
    pub trigger: Option<String>,
}

/// Parameters of `unsupported_version`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnsupportedVersion {
    /// MSH-12.1; `9.9` when not given.
    #[serde(default)]
    pub version: Option<String>,
}

/// Parameters of `batch_wrap`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchWrap {
    /// Copies of the message in the batch (1 to 1000); copies after the first get MSH-10
    /// suffixes `-2`, `-3`, … so that control IDs stay unique.
    #[serde(default = "BatchWrap::default_messages")]
    pub messages: usize,
    /// Wrap the batch in FHS/FTS too (a batch file); BHS/BTS only when false.
    #[serde(default = "BatchWrap::default_file_header")]
    pub file_header: bool,
}

impl BatchWrap {
    pub const MAX_MESSAGES: usize = 1000;

    fn default_messages() -> usize {
        1
    }

    fn default_file_header() -> bool {
        true
    }
}

impl Default for BatchWrap {
    fn default() -> Self {
        BatchWrap {
            messages: BatchWrap::default_messages(),
            file_header: BatchWrap::default_file_header(),
        }
    }
}

/// A segment id, optionally with an occurrence (`OBX[2]`); checked while deserializing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SegmentId(pub Path);

impl SegmentId {
    pub fn parse(text: &str) -> Result<SegmentId, crate::hl7::PathError> {
        Path::segment_only(text).map(SegmentId)
    }

    pub fn id(&self) -> &str {
        self.0.segment_id()
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for SegmentId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SegmentId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SegmentId, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        SegmentId::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for SegmentId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Hl7SegmentId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A segment id, optionally with an occurrence: PID, OBX[2]",
            "pattern": "^[A-Z][A-Z0-9]{2}(\\[[1-9][0-9]*\\])?$"
        })
    }
}

/// A delimiter set as MSH-1 and MSH-2 write it: field separator then 2 to 5 encoding
/// characters (`|^~\&`, `$%#!(`). Checked while deserializing with the message parser's own
/// rules for MSH-1/MSH-2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelimiterSet(pub Delimiters);

impl DelimiterSet {
    pub fn parse(text: &str) -> Result<DelimiterSet, String> {
        if !(3..=6).contains(&text.len()) {
            return Err(format!(
                "delimiters {text:?}: expected the field separator then 2 to 5 encoding characters, e.g. \"$%#!(\""
            ));
        }
        let bytes = text.as_bytes();
        if let Some((i, c)) = bytes.iter().enumerate().find(|(i, c)| bytes[..*i].contains(c)) {
            return Err(format!(
                "delimiters {text:?}: character {} ({:?}) repeats an earlier one",
                i + 1,
                *c as char
            ));
        }
        let mut header = b"MSH".to_vec();
        header.extend_from_slice(text.as_bytes());
        header.push(text.as_bytes()[0]);
        let delimiters = crate::hl7::message::parse_delimiters(&header, 0)
            .map_err(|e| format!("delimiters {text:?}: {e}"))?;
        if delimiters.field >= 0x80 {
            return Err(format!("delimiters {text:?}: the field separator must be ASCII"));
        }
        Ok(DelimiterSet(delimiters))
    }
}

impl Serialize for DelimiterSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DelimiterSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<DelimiterSet, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        DelimiterSet::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for DelimiterSet {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Hl7DelimiterSet".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "MSH-1 then MSH-2: field separator and 2 to 5 encoding characters, e.g. \"$%#!(\"",
            "minLength": 3,
            "maxLength": 6
        })
    }
}
