//! Strings in a scenario file, checked while the YAML is read so that every mistake carries the
//! file's line and column (serde_yaml attaches the position of the value being read to any error
//! raised inside `Deserialize`).
//!
//! - [`Text`]: `${VAR}` and `${VAR:-default}` are replaced from the environment at load time
//!   (by the reader of [`super::interpolating`], with the file's
//!   [`super::interpolate::Interpolation`]); a missing variable without a default is an error
//!   (except for `run --check`). `$${` is a literal `${` (e.g. for a shell in a `sut.command`).
//! - [`Secret`]: the same, but the value never appears in `Debug`, logs or reports.
//! - [`Pattern`]: text with `{PID-5.1}`-style placeholders filled in from the message a step sent
//!   (decoded, unescaped), plus `{state}` (the state endpoint's base URL) and `{unique}` (a token
//!   unique to the case run, derived from the seed).
//! - [`FieldPath`]: an HL7 path such as `PID-3[2].1`.
//! - [`FileRef`]: a file that must exist, relative to the scenario file.

use super::files::{check_pack_file, FileAccess, FileRefused};
use super::interpolating::{filled, SECRET, TEXT};
use crate::hl7::{Path as Hl7Path, PathError};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

/// Durations in scenario files are the vocabulary's [`Span`]; kept here so `scenario::Span`
/// still names it.
pub use crate::vocab::Span;

fn string_schema(description: &str) -> Schema {
    json_schema!({ "type": "string", "description": description })
}

/// A string with `${VAR}` interpolated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        filled(d, TEXT).map(Text)
    }
}

impl JsonSchema for Text {
    fn schema_name() -> Cow<'static, str> {
        "Text".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            "Text; ${VAR} and ${VAR:-default} are taken from the environment; $${ is a literal ${",
        )
    }
}

/// A password or token: interpolated like [`Text`], never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", crate::transport::userinfo::HIDDEN)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(crate::transport::userinfo::HIDDEN)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        filled(d, SECRET).map(Secret)
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> Cow<'static, str> {
        "Secret".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "\\$\\{",
            "description": "A secret from the environment: ${VAR} or ${VAR:-default}; never shown"
        })
    }
}

/// An HL7 path (`PID-5.1`, `PID-3[2].1`, `OBX[3]-5`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    pub text: String,
    pub path: Hl7Path,
}

impl FieldPath {
    pub fn parse(text: &str) -> Result<FieldPath, PathError> {
        let path = Hl7Path::parse(text)?;
        Ok(FieldPath { text: text.to_string(), path })
    }
}

impl PartialOrd for FieldPath {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FieldPath {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for FieldPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for FieldPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        FieldPath::parse(&raw).map_err(D::Error::custom)
    }
}

impl JsonSchema for FieldPath {
    fn schema_name() -> Cow<'static, str> {
        "FieldPath".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[A-Z][A-Z0-9]{2}(\\[[0-9]+\\])?(-[0-9]+(\\[[0-9]+\\])?(\\.[0-9]+(\\.[0-9]+)?)?)?$",
            "description": "An HL7 path: PID-5.1, PID-3[2].1, OBX[3]-5"
        })
    }
}

/// One piece of a [`Pattern`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Literal(String),
    /// A value of the message the step sent, decoded.
    Field(FieldPath),
    /// The state endpoint's base URL (`http://host:port`).
    State,
    /// A token unique to the case run.
    Unique,
}

/// Text with placeholders (`{PID-5.1}`, `{state}`, `{unique}`); `{{` and `}}` are literal braces.
/// `${VAR}` is interpolated first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub source: String,
    pub pieces: Vec<Piece>,
}

/// Why a [`Pattern`] cannot be read. Columns are 1-based, in characters of the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("unclosed {{ at column {column} of {text:?}")]
    Unclosed { column: usize, text: String },
    #[error("placeholder {{{name}}}: {source} (or use {{state}}, {{unique}})")]
    Placeholder {
        name: String,
        #[source]
        source: PathError,
    },
    #[error("lone }} at column {column} of {text:?} (write }}}})")]
    LoneBrace { column: usize, text: String },
}

/// Why a [`Pattern`] cannot be filled in: a placeholder has no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("{{{path}}}: not present in the message sent")]
    NotInMessage { path: FieldPath },
    #[error("{{state}}: the target has no state endpoint (set target.state in the scenario)")]
    NoState,
}

/// Values the placeholders of a [`Pattern`] are filled from.
pub trait Placeholders {
    fn field(&self, path: &FieldPath) -> Option<String>;
    fn state(&self) -> Option<String>;
    fn unique(&self) -> String;
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let end = text[i..].find('}').ok_or_else(|| PatternError::Unclosed {
                        column: i + 1,
                        text: text.to_string(),
                    })?;
                    let name = &text[i + 1..i + end];
                    let piece = match name {
                        "state" => Piece::State,
                        "unique" => Piece::Unique,
                        _ => Piece::Field(FieldPath::parse(name).map_err(|source| {
                            PatternError::Placeholder { name: name.to_string(), source }
                        })?),
                    };
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(piece);
                    while chars.peek().is_some_and(|&(j, _)| j <= i + end) {
                        chars.next();
                    }
                }
                '}' => {
                    return Err(PatternError::LoneBrace { column: i + 1, text: text.to_string() })
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Pattern { source: text.to_string(), pieces })
    }

    /// Fills the placeholders; names the first one that has no value.
    pub fn render(&self, values: &dyn Placeholders) -> Result<String, RenderError> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Field(path) => out.push_str(
                    &values
                        .field(path)
                        .ok_or_else(|| RenderError::NotInMessage { path: path.clone() })?,
                ),
                Piece::State => out.push_str(&values.state().ok_or(RenderError::NoState)?),
                Piece::Unique => out.push_str(&values.unique()),
            }
        }
        Ok(out)
    }

    pub fn has_placeholders(&self) -> bool {
        self.pieces.iter().any(|p| !matches!(p, Piece::Literal(_)))
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = filled(d, TEXT)?;
        Pattern::parse(&text).map_err(D::Error::custom)
    }
}

impl JsonSchema for Pattern {
    fn schema_name() -> Cow<'static, str> {
        "Pattern".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            "Text with placeholders: {PID-5.1} (a decoded value of the message sent), {state} \
             (the state endpoint's base URL), {unique} (unique per case run); ${VAR} from the \
             environment",
        )
    }
}

/// A file relative to the scenario file's directory. Reading the YAML only interpolates it;
/// the loader then resolves it ([`FileRef::resolve`]): it must exist and lie inside the pack's
/// folders (see [`super::files`]) unless files outside are allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// As written in the scenario (after `${VAR}` interpolation).
    pub written: String,
    /// The file it names, once resolved; empty before.
    pub resolved: PathBuf,
}

impl FileRef {
    /// Resolves the reference against the scenario file's directory `base`.
    pub fn resolve(&mut self, base: &Path, access: FileAccess) -> Result<(), FileRefused> {
        self.resolved = check_pack_file(base, &self.written, access)?;
        Ok(())
    }
}

impl Serialize for FileRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.written)
    }
}

impl<'de> Deserialize<'de> for FileRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let written = filled(d, TEXT)?;
        Ok(FileRef { written, resolved: PathBuf::new() })
    }
}

impl JsonSchema for FileRef {
    fn schema_name() -> Cow<'static, str> {
        "FileRef".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema("A file, relative to the scenario file")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Values;
    impl Placeholders for Values {
        fn field(&self, path: &FieldPath) -> Option<String> {
            (path.text == "PID-5.1").then(|| "Dürst".to_string())
        }
        fn state(&self) -> Option<String> {
            Some("http://127.0.0.1:9".into())
        }
        fn unique(&self) -> String {
            "u1".into()
        }
    }

    #[test]
    fn patterns_fill_fields_state_and_unique() {
        let p = Pattern::parse("{state}/clients/{PID-5.1}-{unique}{{x}}").unwrap();
        assert_eq!(p.render(&Values).unwrap(), "http://127.0.0.1:9/clients/Dürst-u1{x}");
        let missing = Pattern::parse("{PID-7}").unwrap();
        assert!(missing.render(&Values).unwrap_err().to_string().contains("PID-7"));
        let bad = Pattern::parse("{PID-55.x}").unwrap_err();
        assert!(bad.to_string().contains("PID-55.x"), "{bad}");
        assert!(matches!(bad, PatternError::Placeholder { .. }), "{bad}");
        assert!(Pattern::parse("a}b").is_err());
        assert!(Pattern::parse("{PID-5").is_err());
    }

    #[test]
    fn secrets_must_come_from_the_environment_and_never_show() {
        let err = super::super::from_yaml::<Secret>("hunter2").unwrap_err().to_string();
        assert!(err.contains("from the environment"), "{err}");
        let err = super::super::from_yaml::<Secret>("${profile.a}").unwrap_err().to_string();
        assert!(err.contains("not from the target profile"), "{err}");
        let secret: Secret = super::super::from_yaml("${HL7H_SURELY_UNSET:-hunter2}").unwrap();
        assert_eq!(secret.expose(), "hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"***\"");
    }
}
