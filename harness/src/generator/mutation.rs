//! The mutations as data: what a scenario's `mutate:` list holds, their parameters with their
//! defaults, the [`Intent`] a mutated message carries and the catalogue shown by
//! `generate --list`. Applying them is [`super::apply`]'s job.
//!
//! Every path is a [`Path`] and every segment a [`SegmentId`], both checked while
//! deserializing, so a bad one fails inside the YAML reader with its line and column.

use crate::hl7::Path;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::marker::PhantomData;

pub use super::params::*;

/// One mutation with its parameters, as written in a scenario's `mutate:` list.
///
/// Parameters are optional: what is not given is chosen from the seed or defaults as
/// documented on each parameter type.
///
/// In YAML a mutation is a single-key map (`non_ascii: { fields: [PID-5.1] }`), or a plain
/// name for the two without parameters (`lf_separators`). `Deserialize` and `Serialize` are
/// written by hand for that: serde_yaml 0.9 reads derived externally tagged enums only from
/// YAML tags (`!non_ascii`), not from maps. The schema is derived from the same shape.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Mutation {
    /// Non-ASCII text from one script in chosen fields, encoded per MSH-18.
    NonAscii(#[schemars(schema_with = "non_ascii_schema")] NonAscii),
    /// MSH-18 declares UNICODE UTF-8 but chosen fields hold ISO 8859-1 bytes.
    CharsetMismatch(#[schemars(schema_with = "fields_schema")] FieldsParam),
    /// Values holding the delimiters themselves, written with escape sequences.
    EscapedDelimiters(#[schemars(schema_with = "fields_schema")] FieldsParam),
    /// The whole message re-encoded with other delimiters.
    CustomDelimiters(CustomDelimiters),
    /// `""` (present but null) in chosen fields.
    PresentButNull(#[schemars(schema_with = "fields_schema")] FieldsParam),
    /// A required field emptied.
    EmptyRequired(#[schemars(schema_with = "field_schema")] FieldParam),
    /// The trailing fields of a segment cut off.
    TruncateFields(TruncateFields),
    /// A middle field removed, so the fields after it shift one place left.
    RemoveField(#[schemars(schema_with = "field_schema")] FieldParam),
    /// Every occurrence of a segment the message structure requires removed.
    DropRequiredSegment(#[schemars(schema_with = "segment_schema")] SegmentParam),
    /// A segment swapped with the one after it.
    ReorderSegments(#[schemars(schema_with = "segment_schema")] SegmentParam),
    /// A segment that may not repeat written twice.
    DuplicateSegment(#[schemars(schema_with = "segment_schema")] SegmentParam),
    /// A segment the standard does not define (and not a Z-segment) inserted.
    UnknownSegment(#[schemars(schema_with = "add_segment_schema")] AddSegment),
    /// A site-defined Z-segment appended.
    ZSegment(#[schemars(schema_with = "add_segment_schema")] AddSegment),
    /// A timestamp written another legal (or legacy) way.
    TimestampVariants(TimestampVariants),
    /// LF instead of CR between segments.
    LfSeparators,
    /// CR LF instead of CR between segments.
    CrlfSeparators,
    /// A very long value.
    LongField(LongField),
    /// A field repeated many times.
    ManyRepetitions(ManyRepetitions),
    /// MSH-10 set to a control ID already used.
    DuplicateControlId(DuplicateControlId),
    /// MSH-9.1 set to a message type that does not exist.
    UnknownMessageType(UnknownMessageType),
    /// MSH-9.2 set to a trigger event that does not exist.
    UnknownTrigger(UnknownTrigger),
    /// MSH-12 set to a version the receiver does not support.
    UnsupportedVersion(UnsupportedVersion),
    /// The message wrapped in a batch file: FHS, BHS, the message(s), BTS, FTS.
    BatchWrap(BatchWrap),
}

/// What a conformant receiver should do with a mutated message, by HL7 v2 chapter 2.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// The message is conformant: the receiver should accept it (AA/CA).
    Valid,
    /// The standard leaves it to the site (e.g. length limits, batch support, duplicate
    /// detection, segments a receiver may ignore): either answer is conformant.
    Either,
    /// The message breaks a rule of the standard: the receiver must not accept it (AE/AR).
    Invalid,
}

impl Intent {
    /// The stronger of two intents: Invalid > Either > Valid.
    pub fn strongest(self, other: Intent) -> Intent {
        self.max(other)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Valid => "valid",
            Intent::Either => "either",
            Intent::Invalid => "invalid",
        }
    }
}

impl fmt::Display for Intent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every mutation by name, with one line on what it does and the intent it carries. Shown by
/// `generate --list`; a test keeps it in step with [`Mutation::from_name`].
pub const CATALOGUE: &[(&str, &str)] = &[
    ("non_ascii", "text from one script (latin1, greek, cjk, emoji) in chosen fields, encoded per MSH-18; MSH-18 set to UNICODE UTF-8 when it cannot hold the text (valid)"),
    ("charset_mismatch", "MSH-18 declares UNICODE UTF-8 but chosen fields hold ISO 8859-1 bytes (invalid)"),
    ("escaped_delimiters", "values holding | ^ ~ \\ & written with escape sequences \\F\\ \\S\\ \\R\\ \\E\\ \\T\\ (valid)"),
    ("custom_delimiters", "the whole message re-encoded with other delimiters, $%#!( or random from the seed (valid)"),
    ("present_but_null", "\"\" (present but null) in chosen fields (valid; either when a field is required)"),
    ("empty_required", "a required field emptied (invalid)"),
    ("truncate_fields", "a segment's trailing fields cut off (valid; invalid when a required field is lost)"),
    ("remove_field", "a middle field removed so the fields after it shift (invalid)"),
    ("drop_required_segment", "every occurrence of a segment the structure requires removed, e.g. PID from an ADT (invalid)"),
    ("reorder_segments", "a segment swapped with the next one (by the grammar: valid, either or invalid)"),
    ("duplicate_segment", "a segment that may not repeat written twice (either: receivers may ignore unexpected segments)"),
    ("unknown_segment", "a segment the standard does not define inserted (either: receivers may ignore unexpected segments)"),
    ("z_segment", "a site-defined Z-segment appended (valid)"),
    ("timestamp_variants", "a timestamp with reduced precision, a time zone, fractional seconds (valid) or a precision component (either)"),
    ("lf_separators", "segments separated by LF instead of CR (invalid)"),
    ("crlf_separators", "segments separated by CR LF instead of CR (invalid)"),
    ("long_field", "a very long value, 65536 characters by default (either: length limits are site-defined)"),
    ("many_repetitions", "a field repeated many times, 100 by default (either)"),
    ("duplicate_control_id", "MSH-10 reused from an earlier message (either: duplicate handling is site-defined)"),
    ("unknown_message_type", "MSH-9.1 set to a message type that does not exist (invalid)"),
    ("unknown_trigger", "MSH-9.2 set to a trigger event that does not exist (invalid)"),
    ("unsupported_version", "MSH-12 set to a version such as 9.9 (invalid)"),
    ("batch_wrap", "the message wrapped in FHS/BHS ... BTS/FTS with correct counts (either: batch support is site-defined)"),
];

impl Mutation {
    /// The snake_case name, as in YAML and on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Mutation::NonAscii(_) => "non_ascii",
            Mutation::CharsetMismatch(_) => "charset_mismatch",
            Mutation::EscapedDelimiters(_) => "escaped_delimiters",
            Mutation::CustomDelimiters(_) => "custom_delimiters",
            Mutation::PresentButNull(_) => "present_but_null",
            Mutation::EmptyRequired(_) => "empty_required",
            Mutation::TruncateFields(_) => "truncate_fields",
            Mutation::RemoveField(_) => "remove_field",
            Mutation::DropRequiredSegment(_) => "drop_required_segment",
            Mutation::ReorderSegments(_) => "reorder_segments",
            Mutation::DuplicateSegment(_) => "duplicate_segment",
            Mutation::UnknownSegment(_) => "unknown_segment",
            Mutation::ZSegment(_) => "z_segment",
            Mutation::TimestampVariants(_) => "timestamp_variants",
            Mutation::LfSeparators => "lf_separators",
            Mutation::CrlfSeparators => "crlf_separators",
            Mutation::LongField(_) => "long_field",
            Mutation::ManyRepetitions(_) => "many_repetitions",
            Mutation::DuplicateControlId(_) => "duplicate_control_id",
            Mutation::UnknownMessageType(_) => "unknown_message_type",
            Mutation::UnknownTrigger(_) => "unknown_trigger",
            Mutation::UnsupportedVersion(_) => "unsupported_version",
            Mutation::BatchWrap(_) => "batch_wrap",
        }
    }

    /// The mutation with default parameters, for the command line.
    pub fn from_name(name: &str) -> Option<Mutation> {
        Some(match name {
            "non_ascii" => Mutation::NonAscii(NonAscii::default()),
            "charset_mismatch" => Mutation::CharsetMismatch(FieldsParam::default()),
            "escaped_delimiters" => Mutation::EscapedDelimiters(FieldsParam::default()),
            "custom_delimiters" => Mutation::CustomDelimiters(CustomDelimiters::default()),
            "present_but_null" => Mutation::PresentButNull(FieldsParam::default()),
            "empty_required" => Mutation::EmptyRequired(FieldParam::default()),
            "truncate_fields" => Mutation::TruncateFields(TruncateFields::default()),
            "remove_field" => Mutation::RemoveField(FieldParam::default()),
            "drop_required_segment" => Mutation::DropRequiredSegment(SegmentParam::default()),
            "reorder_segments" => Mutation::ReorderSegments(SegmentParam::default()),
            "duplicate_segment" => Mutation::DuplicateSegment(SegmentParam::default()),
            "unknown_segment" => Mutation::UnknownSegment(AddSegment::default()),
            "z_segment" => Mutation::ZSegment(AddSegment::default()),
            "timestamp_variants" => Mutation::TimestampVariants(TimestampVariants::default()),
            "lf_separators" => Mutation::LfSeparators,
            "crlf_separators" => Mutation::CrlfSeparators,
            "long_field" => Mutation::LongField(LongField::default()),
            "many_repetitions" => Mutation::ManyRepetitions(ManyRepetitions::default()),
            "duplicate_control_id" => Mutation::DuplicateControlId(DuplicateControlId::default()),
            "unknown_message_type" => Mutation::UnknownMessageType(UnknownMessageType::default()),
            "unknown_trigger" => Mutation::UnknownTrigger(UnknownTrigger::default()),
            "unsupported_version" => Mutation::UnsupportedVersion(UnsupportedVersion::default()),
            "batch_wrap" => Mutation::BatchWrap(BatchWrap::default()),
            _ => return None,
        })
    }
}

/// Names of every mutation, for "unknown variant" errors.
const NAMES: &[&str] = &[
    "non_ascii",
    "charset_mismatch",
    "escaped_delimiters",
    "custom_delimiters",
    "present_but_null",
    "empty_required",
    "truncate_fields",
    "remove_field",
    "drop_required_segment",
    "reorder_segments",
    "duplicate_segment",
    "unknown_segment",
    "z_segment",
    "timestamp_variants",
    "lf_separators",
    "crlf_separators",
    "long_field",
    "many_repetitions",
    "duplicate_control_id",
    "unknown_message_type",
    "unknown_trigger",
    "unsupported_version",
    "batch_wrap",
];

impl<'de> Deserialize<'de> for Mutation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Mutation, D::Error> {
        deserializer.deserialize_any(MutationVisitor)
    }
}

struct MutationVisitor;

impl<'de> Visitor<'de> for MutationVisitor {
    type Value = Mutation;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a mutation: a map with one key, e.g. `non_ascii: [PID-5.1]`, or `lf_separators`",
        )
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Mutation, E> {
        match Mutation::from_name(name) {
            Some(m @ (Mutation::LfSeparators | Mutation::CrlfSeparators)) => Ok(m),
            Some(_) => Err(E::custom(format!(
                "{name} takes parameters: write `{name}: {{}}` for the defaults"
            ))),
            None => Err(E::unknown_variant(name, NAMES)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Mutation, A::Error> {
        use serde::de::Error;
        let Some(name) = map.next_key::<String>()? else {
            return Err(A::Error::custom("empty map: expected one mutation name as the key"));
        };
        let mutation = match name.as_str() {
            "non_ascii" => Mutation::NonAscii(map.next_value_seed(Short::<Vec<Path>, _>::new())?),
            "charset_mismatch" => {
                Mutation::CharsetMismatch(map.next_value_seed(Short::<Vec<Path>, _>::new())?)
            }
            "escaped_delimiters" => {
                Mutation::EscapedDelimiters(map.next_value_seed(Short::<Vec<Path>, _>::new())?)
            }
            "custom_delimiters" => Mutation::CustomDelimiters(map.next_value()?),
            "present_but_null" => {
                Mutation::PresentButNull(map.next_value_seed(Short::<Vec<Path>, _>::new())?)
            }
            "empty_required" => {
                Mutation::EmptyRequired(map.next_value_seed(Short::<Path, _>::new())?)
            }
            "truncate_fields" => Mutation::TruncateFields(map.next_value()?),
            "remove_field" => Mutation::RemoveField(map.next_value_seed(Short::<Path, _>::new())?),
            "drop_required_segment" => {
                Mutation::DropRequiredSegment(map.next_value_seed(Short::<SegmentId, _>::new())?)
            }
            "reorder_segments" => {
                Mutation::ReorderSegments(map.next_value_seed(Short::<SegmentId, _>::new())?)
            }
            "duplicate_segment" => {
                Mutation::DuplicateSegment(map.next_value_seed(Short::<SegmentId, _>::new())?)
            }
            "unknown_segment" => {
                Mutation::UnknownSegment(map.next_value_seed(Short::<SegmentId, _>::new())?)
            }
            "z_segment" => Mutation::ZSegment(map.next_value_seed(Short::<SegmentId, _>::new())?),
            "timestamp_variants" => Mutation::TimestampVariants(map.next_value()?),
            "lf_separators" => {
                map.next_value::<()>()?;
                Mutation::LfSeparators
            }
            "crlf_separators" => {
                map.next_value::<()>()?;
                Mutation::CrlfSeparators
            }
            "long_field" => Mutation::LongField(map.next_value()?),
            "many_repetitions" => Mutation::ManyRepetitions(map.next_value()?),
            "duplicate_control_id" => Mutation::DuplicateControlId(map.next_value()?),
            "unknown_message_type" => Mutation::UnknownMessageType(map.next_value()?),
            "unknown_trigger" => Mutation::UnknownTrigger(map.next_value()?),
            "unsupported_version" => Mutation::UnsupportedVersion(map.next_value()?),
            "batch_wrap" => Mutation::BatchWrap(map.next_value()?),
            other => return Err(A::Error::unknown_variant(other, NAMES)),
        };
        if let Some(next) = map.next_key::<String>()? {
            return Err(A::Error::custom(format!(
                "one mutation per list item: found {next:?} beside {name:?}; start another item with `- `"
            )));
        }
        Ok(mutation)
    }
}

impl Serialize for Mutation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn entry<S: serde::Serializer, T: Serialize>(
            serializer: S,
            name: &str,
            value: &T,
        ) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry(name, value)?;
            map.end()
        }
        let name = self.name();
        match self {
            Mutation::NonAscii(p) => entry(serializer, name, p),
            Mutation::CharsetMismatch(p)
            | Mutation::EscapedDelimiters(p)
            | Mutation::PresentButNull(p) => entry(serializer, name, p),
            Mutation::CustomDelimiters(p) => entry(serializer, name, p),
            Mutation::EmptyRequired(p) | Mutation::RemoveField(p) => entry(serializer, name, p),
            Mutation::TruncateFields(p) => entry(serializer, name, p),
            Mutation::DropRequiredSegment(p)
            | Mutation::ReorderSegments(p)
            | Mutation::DuplicateSegment(p) => entry(serializer, name, p),
            Mutation::UnknownSegment(p) | Mutation::ZSegment(p) => entry(serializer, name, p),
            Mutation::TimestampVariants(p) => entry(serializer, name, p),
            Mutation::LfSeparators | Mutation::CrlfSeparators => serializer.serialize_str(name),
            Mutation::LongField(p) => entry(serializer, name, p),
            Mutation::ManyRepetitions(p) => entry(serializer, name, p),
            Mutation::DuplicateControlId(p) => entry(serializer, name, p),
            Mutation::UnknownMessageType(p) => entry(serializer, name, p),
            Mutation::UnknownTrigger(p) => entry(serializer, name, p),
            Mutation::UnsupportedVersion(p) => entry(serializer, name, p),
            Mutation::BatchWrap(p) => entry(serializer, name, p),
        }
    }
}

/// Reads parameters of type `T` from their map form or the short form `S`.
struct Short<S, T>(PhantomData<(S, T)>);

impl<S, T> Short<S, T> {
    fn new() -> Self {
        Short(PhantomData)
    }
}

impl<'de, S, T> serde::de::DeserializeSeed<'de> for Short<S, T>
where
    S: Deserialize<'de>,
    T: Deserialize<'de> + From<S>,
{
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_any(ShortOrMap::<S, T>(PhantomData))
    }
}

// Short forms. A visitor rather than `#[serde(untagged)]`, so that a bad path in either form
// reports the path's own error instead of "did not match any variant".

/// `T` from its map form, or from the short form `S` (a list or a scalar) converted by `From`.
struct ShortOrMap<S, T>(PhantomData<(S, T)>);

impl<'de, S, T> Visitor<'de> for ShortOrMap<S, T>
where
    S: Deserialize<'de>,
    T: Deserialize<'de> + From<S>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the parameters as a map, or the short form")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        S::deserialize(v.into_deserializer()).map(T::from)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        S::deserialize(SeqAccessDeserializer::new(seq)).map(T::from)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<T, E> {
        T::deserialize(serde::de::value::MapDeserializer::new(
            std::iter::empty::<(String, String)>(),
        ))
    }
}

fn short_or<S: JsonSchema, T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({ "anyOf": [generator.subschema_for::<S>(), generator.subschema_for::<T>()] })
}

fn non_ascii_schema(generator: &mut SchemaGenerator) -> Schema {
    short_or::<Vec<Path>, NonAscii>(generator)
}

fn fields_schema(generator: &mut SchemaGenerator) -> Schema {
    short_or::<Vec<Path>, FieldsParam>(generator)
}

fn field_schema(generator: &mut SchemaGenerator) -> Schema {
    short_or::<Path, FieldParam>(generator)
}

fn segment_schema(generator: &mut SchemaGenerator) -> Schema {
    short_or::<SegmentId, SegmentParam>(generator)
}

fn add_segment_schema(generator: &mut SchemaGenerator) -> Schema {
    short_or::<SegmentId, AddSegment>(generator)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Path {
        Path::parse(text).unwrap()
    }

    fn yaml(text: &str) -> Result<Vec<Mutation>, String> {
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }

    /// Deserializing `text` gives an error containing every one of `parts`.
    fn check_error(text: &str, parts: &[&str]) {
        let err = yaml(text).expect_err(text);
        for part in parts {
            assert!(err.contains(part), "{text}: {err:?} lacks {part:?}");
        }
    }

    #[test]
    fn scenario_forms() {
        let list = yaml(
            "- non_ascii: { fields: [PID-5.1, PID-5.2], script: greek }\n\
             - escaped_delimiters: { fields: [PID-5.1] }\n\
             - custom_delimiters: { delimiters: \"$%#!(\" }\n\
             - lf_separators\n",
        )
        .unwrap();
        assert_eq!(
            list,
            [
                Mutation::NonAscii(NonAscii {
                    fields: vec![p("PID-5.1"), p("PID-5.2")],
                    script: Some(Script::Greek),
                    unmappable: OnUnmappable::DeclareUtf8,
                }),
                Mutation::EscapedDelimiters(FieldsParam { fields: vec![p("PID-5.1")] }),
                Mutation::CustomDelimiters(CustomDelimiters {
                    delimiters: Some(DelimiterSet::parse("$%#!(").unwrap()),
                    random: false,
                }),
                Mutation::LfSeparators,
            ]
        );
    }

    #[test]
    fn short_forms() {
        let list = yaml(
            "- non_ascii: [PID-5.1]\n\
             - empty_required: PID-3\n\
             - drop_required_segment: PID\n\
             - z_segment: ZPI\n\
             - z_segment:\n\
             - present_but_null: {}\n\
             - crlf_separators: ~\n",
        )
        .unwrap();
        assert_eq!(
            list,
            [
                Mutation::NonAscii(NonAscii::from(vec![p("PID-5.1")])),
                Mutation::EmptyRequired(FieldParam::from(p("PID-3"))),
                Mutation::DropRequiredSegment(SegmentParam::from(SegmentId::parse("PID").unwrap())),
                Mutation::ZSegment(AddSegment::from(SegmentId::parse("ZPI").unwrap())),
                Mutation::ZSegment(AddSegment::default()),
                Mutation::PresentButNull(FieldsParam::default()),
                Mutation::CrlfSeparators,
            ]
        );
    }

    #[test]
    fn bad_input_is_reported_where_it_is() {
        // The path error comes from Path::parse, with serde_yaml's line and column.
        check_error(
            "- z_segment: {}\n- non_ascii: { fields: [PID-5.1, PID-55.x] }\n",
            &["bad path \"PID-55.x\" at column 8", "line 2 column"],
        );
        check_error("- non_ascii: [pid-5]\n", &["did you mean PID?", "line 1 column"]);
        check_error("- empty_required: PID-3.\n", &["bad path", "line 1 column"]);
        check_error("- drop_required_segment: PID-3\n", &["expected a segment id only"]);
        check_error("- non_asci: [PID-5]\n", &["unknown variant `non_asci`", "non_ascii"]);
        check_error("- non_ascii: { feilds: [PID-5] }\n", &["unknown field `feilds`"]);
        check_error("- non_ascii: { script: klingon }\n", &["unknown variant `klingon`"]);
        check_error("- z_segment\n", &["z_segment takes parameters: write `z_segment: {}`"]);
        check_error(
            "- non_ascii: [PID-5.1]\n  lf_separators: ~\n",
            &["one mutation per list item", "line 1 column"],
        );
        check_error(
            "- custom_delimiters: { delimiters: \"$%$!(\" }\n",
            &["character 3 ('$') repeats"],
        );
        check_error("- custom_delimiters: { delimiters: \"$\" }\n", &["2 to 5 encoding"]);
    }

    #[test]
    fn catalogue_names_every_mutation() {
        let names: Vec<&str> = CATALOGUE.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, NAMES);
        for (name, description) in CATALOGUE {
            let mutation = Mutation::from_name(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(mutation.name(), *name);
            assert!(!description.is_empty() && !description.contains('\n'));
            // Serialized to YAML and read back: the same mutation.
            let text = serde_yaml::to_string(&vec![mutation.clone()]).unwrap();
            assert!(text.starts_with(&format!("- {name}")), "{text}");
            assert_eq!(yaml(&text).unwrap(), [mutation], "{text}");
        }
        assert_eq!(Mutation::from_name("nope"), None);
    }

    #[test]
    fn json_schema_describes_the_yaml_shape() {
        let schema = serde_json::to_string(&schemars::schema_for!(Vec<Mutation>)).unwrap();
        for part in ["\"non_ascii\"", "\"lf_separators\"", "Hl7Path", "anyOf", "\"greek\""] {
            assert!(schema.contains(part), "{part} missing from {schema}");
        }
    }

    #[test]
    fn intent_order() {
        assert_eq!(Intent::Valid.strongest(Intent::Either), Intent::Either);
        assert_eq!(Intent::Invalid.strongest(Intent::Either), Intent::Invalid);
        assert_eq!(serde_json::to_string(&Intent::Either).unwrap(), "\"either\"");
    }
}
