//! `target.hllp`: the HLLP block settings both peers must agree on (HL7 v2 Appendix C leaves
//! the checksum's computation and span to the implementation), read while the YAML is read so
//! a bad value is an error naming the key, line and column. The same names as `send`'s and
//! `serve`'s `--hllp-checksum` and `--hllp-span` flags. A scenario's settings apply to the
//! harness's side of every `hllp://` target and to the built-in endpoint's HLLP listener.

use super::interpolating::{filled, TEXT};
use crate::transport::hllp::{Checksum, ChecksumSpan, HllpOptions};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Cow;

/// The smallest block an HLLP peer must read: an `N` block (`<SB> N 21 <CR> X`, size and
/// checksum, `<EB> <CR>`).
pub const MIN_BLOCK_BYTES: usize = 16;
/// The largest limit taken, the transport's default.
pub const MAX_BLOCK_BYTES: usize = 16 * 1024 * 1024;

const CHECKSUMS: &[(&str, Checksum)] =
    &[("xor-decimal", Checksum::XorDecimal), ("sum-mod256", Checksum::SumMod256)];
const SPANS: &[(&str, ChecksumSpan)] =
    &[("data", ChecksumSpan::Data), ("start-block-to-data", ChecksumSpan::StartBlockToData)];

/// `target.hllp` as written; absent keys keep the transport's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HllpSpec {
    /// How the block checksum is computed: `xor-decimal` (default, HL7 Appendix C) or
    /// `sum-mod256`.
    #[serde(default)]
    pub checksum: Option<ChecksumName>,
    /// Which bytes the block size and checksum cover: `data` (default) or
    /// `start-block-to-data`.
    #[serde(default)]
    pub span: Option<SpanName>,
    /// The largest block read, from the start block to the last CR (16 to 16777216; default
    /// 16777216).
    #[serde(default)]
    pub max_block_bytes: Option<BlockLimit>,
}

impl HllpSpec {
    /// The transport options these settings stand for.
    pub fn options(spec: Option<&HllpSpec>) -> HllpOptions {
        let defaults = HllpOptions::default();
        let Some(spec) = spec else { return defaults };
        HllpOptions {
            checksum: spec.checksum.map(|c| c.0).unwrap_or(defaults.checksum),
            span: spec.span.map(|s| s.0).unwrap_or(defaults.span),
            max_block_bytes: spec.max_block_bytes.map(|b| b.0).unwrap_or(defaults.max_block_bytes),
        }
    }
}

/// Why an HLLP setting was refused. Each names the parameter (as serde_yaml's error path stops
/// at the enclosing mapping) and the values it takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HllpSettingError {
    #[error("{key} {value:?} is not an HLLP {what}; use {choices}")]
    UnknownName { key: &'static str, what: &'static str, value: String, choices: String },
    #[error(
        "max_block_bytes {bytes} is out of range: an HLLP block limit is {MIN_BLOCK_BYTES} \
         (an N block) to {MAX_BLOCK_BYTES} bytes"
    )]
    BlockLimit { bytes: u64 },
}

/// Looks `value` up in `table`.
fn parse_name<T: Copy>(
    table: &[(&str, T)],
    key: &'static str,
    what: &'static str,
    value: &str,
) -> Result<T, HllpSettingError> {
    table.iter().find(|(name, _)| *name == value).map(|(_, v)| *v).ok_or_else(|| {
        let names: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
        HllpSettingError::UnknownName {
            key,
            what,
            value: value.into(),
            choices: names.join(" or "),
        }
    })
}

fn name_of<T: Copy + PartialEq>(table: &[(&'static str, T)], value: T) -> &'static str {
    table.iter().find(|(_, v)| *v == value).map(|(name, _)| *name).unwrap_or("")
}

fn names_schema(table: &[(&str, impl Copy)], description: &str) -> Schema {
    let names: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
    json_schema!({ "type": "string", "enum": names, "description": description })
}

/// A setting written by name (`${VAR}` allowed), looked up in its table while the YAML is read:
/// serde, serialization and the JSON Schema all go through the one table.
macro_rules! named_setting {
    ($name:ident, $value:ty, $table:ident, $key:literal, $what:literal, $schema:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub $value);

        impl $name {
            pub fn parse(value: &str) -> Result<$name, HllpSettingError> {
                parse_name($table, $key, $what, value).map($name)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = filled(d, TEXT)?;
                $name::parse(&value).map_err(D::Error::custom)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(name_of($table, self.0))
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                $schema.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                names_schema($table, $doc)
            }
        }
    };
}

named_setting!(
    ChecksumName,
    Checksum,
    CHECKSUMS,
    "checksum",
    "checksum",
    "HllpChecksum",
    "HLLP block checksum variant"
);
named_setting!(
    SpanName,
    ChecksumSpan,
    SPANS,
    "span",
    "checksum span",
    "HllpSpan",
    "Which bytes the HLLP block size and checksum cover"
);

/// The block size limit, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct BlockLimit(pub usize);

impl BlockLimit {
    pub fn new(bytes: u64) -> Result<BlockLimit, HllpSettingError> {
        match usize::try_from(bytes) {
            Ok(n) if (MIN_BLOCK_BYTES..=MAX_BLOCK_BYTES).contains(&n) => Ok(BlockLimit(n)),
            _ => Err(HllpSettingError::BlockLimit { bytes }),
        }
    }
}

impl<'de> Deserialize<'de> for BlockLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BlockLimit::new(u64::deserialize(d)?).map_err(D::Error::custom)
    }
}

impl JsonSchema for BlockLimit {
    fn schema_name() -> Cow<'static, str> {
        "HllpBlockLimit".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "integer",
            "minimum": MIN_BLOCK_BYTES,
            "maximum": MAX_BLOCK_BYTES,
            "description": "The largest HLLP block read, in bytes"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `target.hllp` YAML → the options, or the error text.
    fn check(yaml: &str, expected: Result<HllpOptions, &str>) {
        let got = crate::scenario::from_yaml::<HllpSpec>(yaml)
            .map(|spec| HllpSpec::options(Some(&spec)))
            .map_err(|e| e.to_string());
        match (got, expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{yaml}"),
            (Err(got), Err(want)) => assert!(got.contains(want), "{yaml}: {got}"),
            (got, want) => panic!("{yaml}: got {got:?}, expected {want:?}"),
        }
    }

    fn options(checksum: Checksum, span: ChecksumSpan, max: usize) -> HllpOptions {
        HllpOptions { checksum, span, max_block_bytes: max }
    }

    #[test]
    fn settings_parse_to_options() {
        let default = HllpOptions::default();
        assert_eq!(HllpSpec::options(None), default);
        check("{}", Ok(default));
        check(
            "{checksum: sum-mod256, span: start-block-to-data, max_block_bytes: 4096}",
            Ok(options(Checksum::SumMod256, ChecksumSpan::StartBlockToData, 4096)),
        );
        check("{checksum: xor-decimal, span: data}", Ok(default));
        check("{max_block_bytes: 16}", Ok(HllpOptions { max_block_bytes: 16, ..default }));
        check(
            "{checksum: \"${HL7H_TEST_UNSET_CHECKSUM:-sum-mod256}\", span: \"${HL7H_TEST_UNSET_SPAN:-data}\"}",
            Ok(HllpOptions { checksum: Checksum::SumMod256, ..default }),
        );
    }

    #[test]
    fn bad_values_name_the_parameter_and_the_choices() {
        check(
            "{checksum: crc16}",
            Err("checksum \"crc16\" is not an HLLP checksum; use xor-decimal or sum-mod256"),
        );
        check("{checksum: XOR-DECIMAL}", Err("is not an HLLP checksum"));
        check(
            "{span: all}",
            Err("span \"all\" is not an HLLP checksum span; use data or start-block-to-data"),
        );
        check("{max_block_bytes: 15}", Err("max_block_bytes 15 is out of range: an HLLP block"));
        check("{max_block_bytes: 16777217}", Err("max_block_bytes 16777217 is out of range"));
        check("{max_block_bytes: -1}", Err("invalid"));
        check("{max_block_bytes: big}", Err("invalid type"));
        check("{checksums: xor-decimal}", Err("unknown field `checksums`"));
        check("{checksum: \"${HL7H_TEST_SURELY_UNSET_CHECKSUM}\"}", Err("is not set"));
    }

    #[test]
    fn names_round_trip() {
        for (name, checksum) in CHECKSUMS {
            assert_eq!(ChecksumName::parse(name), Ok(ChecksumName(*checksum)));
            assert_eq!(name_of(CHECKSUMS, *checksum), *name);
        }
        for (name, span) in SPANS {
            assert_eq!(SpanName::parse(name), Ok(SpanName(*span)));
        }
    }
}
