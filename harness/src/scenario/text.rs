//! Strings in a scenario file, checked while the YAML is read so that every mistake carries the
//! file's line and column (serde_yaml attaches the position of the value being read to any error
//! raised inside `Deserialize`).
//!
//! - [`Text`]: `${VAR}` and `${VAR:-default}` are replaced from the environment at load time; a
//!   missing variable without a default is an error (except under [`with_unset_allowed`], for
//!   `run --check`). `$${` is a literal `${` (e.g. for a shell in a `sut.command`).
//! - [`Secret`]: the same, but the value never appears in `Debug`, logs or reports.
//! - [`Pattern`]: text with `{PID-5.1}`-style placeholders filled in from the message a step sent
//!   (decoded, unescaped), plus `{state}` (the state endpoint's base URL) and `{unique}` (a token
//!   unique to the case run, derived from the seed).
//! - [`FieldPath`]: an HL7 path such as `PID-3[2].1`.
//! - [`FileRef`]: a file that must exist, relative to the scenario file.

use super::files::{check_pack_file, FileAccess, FileRefused};
use crate::hl7::Path as Hl7Path;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Durations in scenario files are the vocabulary's [`Span`]; kept here so `scenario::Span`
/// still names it.
pub use crate::vocab::Span;

thread_local! {
    /// The environment variables `${VAR}` interpolation read while a file was being loaded.
    static READS: RefCell<Vec<VariableRead>> = const { RefCell::new(Vec::new()) };
    /// Under [`with_unset_allowed`]: the variables that were not set and had no default.
    static UNSET: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// What an unset variable stands for under [`with_unset_allowed`]: a word that is valid as a
/// host name, a path part or a password, so the rest of the file can still be checked.
pub const UNSET_PLACEHOLDER: &str = "unset-variable";

/// Runs `f` (loading scenario files and profiles) with variables that are not set, and have no
/// default, read as [`UNSET_PLACEHOLDER`] instead of failing; returns what `f` gave and those
/// variables, sorted, each once. For `run --check`: a pack is checked on a machine that does
/// not hold the run's secrets, and learns which ones the run needs.
pub fn with_unset_allowed<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    UNSET.with(|u| *u.borrow_mut() = Some(Vec::new()));
    let result = f();
    let mut unset = UNSET.with(|u| u.borrow_mut().take()).unwrap_or_default();
    unset.sort();
    unset.dedup();
    (result, unset)
}

/// Records `name` as unset when unset variables are allowed; whether they are.
fn allow_unset(name: &str) -> bool {
    UNSET.with(|u| match u.borrow_mut().as_mut() {
        Some(list) => {
            list.push(name.to_string());
            true
        }
        None => false,
    })
}

/// An environment variable a scenario file read through `${VAR}` interpolation, so that the
/// command printed to reproduce a case can set it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableRead {
    pub name: String,
    /// The value the file got (from the environment or the `:-default`); `None` for a secret:
    /// a variable read into a [`Secret`], named like a password, token or secret, or holding
    /// a URL with credentials. Only its name is ever shown.
    pub value: Option<String>,
}

/// Whether a variable's name says it holds a credential.
fn secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["PASSWORD", "PASSWD", "TOKEN", "SECRET", "CREDENTIAL", "API_KEY", "APIKEY", "PRIVATE"]
        .iter()
        .any(|word| upper.contains(word))
}

/// Whether a value holds credentials a printed command must not show (`scheme://user:pw@…`).
fn has_userinfo(value: &str) -> bool {
    value.split_once("://").is_some_and(|(_, rest)| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        authority.contains('@')
    })
}

fn record_read(name: &str, value: &str) {
    READS.with(|reads| {
        let mut reads = reads.borrow_mut();
        if reads.iter().all(|r| r.name != name) {
            let hidden = secret_name(name) || has_userinfo(value);
            let value = (!hidden).then(|| value.to_string());
            reads.push(VariableRead { name: name.to_string(), value });
        }
    });
}

/// Marks the variables `text` names as secret (their values were read into a [`Secret`]).
fn hide_reads_in(text: &str) {
    READS.with(|reads| {
        for read in reads.borrow_mut().iter_mut() {
            if text.contains(&format!("${{{}}}", read.name))
                || text.contains(&format!("${{{}:-", read.name))
            {
                read.value = None;
            }
        }
    });
}

/// Runs `f` (a deserialisation) and returns what it gave with the environment variables
/// interpolation read meanwhile, in first-read order.
pub(crate) fn recording_reads<T>(f: impl FnOnce() -> T) -> (T, Vec<VariableRead>) {
    READS.with(|reads| reads.borrow_mut().clear());
    let result = f();
    (result, READS.with(|reads| std::mem::take(&mut *reads.borrow_mut())))
}

thread_local! {
    /// The `site:` map of the target profile in force while a scenario file is read, for
    /// `${profile.NAME}`.
    static SITE: RefCell<Option<BTreeMap<String, String>>> = const { RefCell::new(None) };
}

/// Sets the site map `${profile.NAME}` reads while `f` runs (`None`: no target profile).
pub(crate) fn with_site<T>(site: Option<&BTreeMap<String, String>>, f: impl FnOnce() -> T) -> T {
    SITE.with(|s| *s.borrow_mut() = site.cloned());
    let result = f();
    SITE.with(|s| *s.borrow_mut() = None);
    result
}

/// Why `${…}` could not be filled in. The text names the placeholder and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    #[error("unclosed ${{ in {text:?}")]
    Unclosed { text: String },
    #[error("${{{inner}}}: a profile site key is letters, digits, _ and - (got {key:?})")]
    BadSiteKey { inner: String, key: String },
    #[error("${{{inner}}}: a variable name is letters, digits and _ (or profile.NAME)")]
    BadVariableName { inner: String },
    #[error(
        "${{profile.{key}}}: no target profile is in force (give --target-profile FILE or \
         target.profile, with site: {{ {key}: … }}), and no default (write \
         ${{profile.{key}:-default}})"
    )]
    NoProfile { key: String },
    #[error(
        "${{profile.{key}}}: the target profile's site: has no {key:?} (add it, or write \
         ${{profile.{key}:-default}})"
    )]
    NoSiteKey { key: String },
    #[error("environment variable {name} is not set (write ${{{name}:-default}} for a default)")]
    Unset { name: String },
}

/// The prefix that makes `${profile.NAME}` read the target profile's `site:` map.
const PROFILE_PREFIX: &str = "profile.";

/// Replaces `${VAR}` and `${VAR:-default}` from the environment, and `${profile.NAME}` from
/// the target profile's `site:` map (site policy such as aliases, kept out of signed packs). A
/// default may itself hold `${…}`: `${profile.alias:-${HL7_ALIAS:-trustalias}}` takes the
/// profile's value, else the environment's, else `trustalias`.
///
/// `$${` is a literal `${`, read no further: `$${HOME}` gives `${HOME}`.
pub fn interpolate(text: &str) -> Result<String, InterpolateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        if rest[..start].ends_with('$') {
            out.push_str(&rest[..start - 1]);
            out.push_str("${");
            rest = &rest[start + 2..];
            continue;
        }
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = closing_brace(after)
            .ok_or_else(|| InterpolateError::Unclosed { text: text.to_string() })?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let (site_key, env_name) = match name.strip_prefix(PROFILE_PREFIX) {
            Some(key) => (Some(key), None),
            None => (None, Some(name)),
        };
        let word = |w: &str, extra: char| {
            !w.is_empty()
                && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == extra)
                && !w.starts_with(|c: char| c.is_ascii_digit())
        };
        if let Some(key) = site_key.filter(|k| !word(k, '-')) {
            return Err(InterpolateError::BadSiteKey { inner: inner.into(), key: key.into() });
        }
        if env_name.is_some_and(|n| !word(n, '_')) {
            return Err(InterpolateError::BadVariableName { inner: inner.into() });
        }
        let found = match (site_key, env_name) {
            (Some(key), _) => SITE.with(|s| s.borrow().as_ref().and_then(|m| m.get(key).cloned())),
            (None, Some(name)) => std::env::var(name).ok(),
            (None, None) => None,
        };
        match (found, default) {
            (Some(value), _) => {
                if let Some(name) = env_name {
                    record_read(name, &value);
                }
                out.push_str(&value)
            }
            (None, Some(default)) => {
                let value = interpolate(default)?;
                if let Some(name) = env_name {
                    record_read(name, &value);
                }
                out.push_str(&value)
            }
            (None, None) if env_name.is_some_and(allow_unset) => {
                out.push_str(UNSET_PLACEHOLDER);
            }
            (None, None) => {
                return Err(match site_key {
                    Some(key) if SITE.with(|s| s.borrow().is_none()) => {
                        InterpolateError::NoProfile { key: key.into() }
                    }
                    Some(key) => InterpolateError::NoSiteKey { key: key.into() },
                    None => InterpolateError::Unset { name: name.into() },
                })
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The offset of the `}` that closes a `${`, counting nested braces (a default may hold
/// `${…}`).
fn closing_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn string_schema(description: &str) -> Schema {
    json_schema!({ "type": "string", "description": description })
}

/// A string with `${VAR}` interpolated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        interpolate(&raw).map(Text).map_err(D::Error::custom)
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
        let raw = String::deserialize(d)?;
        if raw.contains("${profile.") {
            return Err(D::Error::custom(
                "a secret comes from the environment, not from the target profile's site: \
                 (profiles are shared and hashed into reports)",
            ));
        }
        if !raw.contains("${") {
            return Err(D::Error::custom(
                "a secret must come from the environment: write ${VAR} (or ${VAR:-default}), \
                 not the value itself",
            ));
        }
        let secret = interpolate(&raw).map(Secret).map_err(D::Error::custom);
        hide_reads_in(&raw);
        secret
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
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        let path = Hl7Path::parse(text).map_err(|e| e.to_string())?;
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

/// Values the placeholders of a [`Pattern`] are filled from.
pub trait Placeholders {
    fn field(&self, path: &FieldPath) -> Option<String>;
    fn state(&self) -> Option<String>;
    fn unique(&self) -> String;
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, String> {
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
                    let end = text[i..]
                        .find('}')
                        .ok_or_else(|| format!("unclosed {{ at column {} of {text:?}", i + 1))?;
                    let name = &text[i + 1..i + end];
                    let piece = match name {
                        "state" => Piece::State,
                        "unique" => Piece::Unique,
                        _ => Piece::Field(FieldPath::parse(name).map_err(|e| {
                            format!("placeholder {{{name}}}: {e} (or use {{state}}, {{unique}})")
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
                '}' => return Err(format!("lone }} at column {} of {text:?} (write }}}})", i + 1)),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Pattern { source: text.to_string(), pieces })
    }

    /// Fills the placeholders; names the first one that has no value.
    pub fn render(&self, values: &dyn Placeholders) -> Result<String, String> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Field(path) => out.push_str(
                    &values
                        .field(path)
                        .ok_or_else(|| format!("{{{path}}}: not present in the message sent"))?,
                ),
                Piece::State => out.push_str(&values.state().ok_or(
                    "{state}: the target has no state endpoint (set target.state in the scenario)",
                )?),
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
        let raw = String::deserialize(d)?;
        let text = interpolate(&raw).map_err(D::Error::custom)?;
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
        let raw = String::deserialize(d)?;
        let written = interpolate(&raw).map_err(D::Error::custom)?;
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
    fn interpolation_uses_defaults_and_names_missing_variables() {
        assert_eq!(interpolate("a${HL7H_SURELY_UNSET:-x}b").unwrap(), "axb");
        let err = interpolate("${HL7H_SURELY_UNSET}").unwrap_err();
        assert!(err.to_string().contains("HL7H_SURELY_UNSET is not set"), "{err}");
        assert!(interpolate("${1X}").is_err());
        assert!(interpolate("${OPEN").is_err());
        assert_eq!(interpolate("no vars").unwrap(), "no vars");
    }

    /// `$${` is a literal `${` (issue 19), also before a name that is set, and only once:
    /// `$$${X:-y}` is a literal `${` then `X:-y}` as text.
    #[test]
    fn a_doubled_dollar_is_a_literal_interpolation_mark() {
        assert_eq!(
            interpolate("echo $${HOME} $${HL7H_SURELY_UNSET}").unwrap(),
            "echo ${HOME} ${HL7H_SURELY_UNSET}"
        );
        assert_eq!(interpolate("$${x} ${HL7H_SURELY_UNSET:-d}").unwrap(), "${x} d");
        assert_eq!(interpolate("a$b$$c$${").unwrap(), "a$b$$c${");
        assert_eq!(interpolate("$$${X:-y}").unwrap(), "$${X:-y}");
    }

    /// Under `with_unset_allowed` (run --check), a variable that is not set and has no
    /// default reads as a placeholder and is listed; defaults and profile keys still apply.
    #[test]
    fn unset_variables_are_listed_instead_of_refused_when_allowed() {
        let (got, unset) = with_unset_allowed(|| {
            interpolate("${HL7H_SURELY_UNSET_B}:${HL7H_SURELY_UNSET_A}:${HL7H_SURELY_UNSET_B:-d}")
        });
        assert_eq!(got.unwrap(), format!("{UNSET_PLACEHOLDER}:{UNSET_PLACEHOLDER}:d"));
        assert_eq!(unset, ["HL7H_SURELY_UNSET_A", "HL7H_SURELY_UNSET_B"]);
        let (missing_key, _) = with_unset_allowed(|| interpolate("${profile.nothere}"));
        assert!(missing_key.is_err(), "a profile key is not the environment");
        assert!(interpolate("${HL7H_SURELY_UNSET_A}").is_err(), "refused again afterwards");
    }

    #[test]
    fn profile_site_values_fill_in_with_defaults_and_nesting() {
        let site = BTreeMap::from([("alias".to_string(), "mailco".to_string())]);
        with_site(Some(&site), || {
            assert_eq!(interpolate("${profile.alias}{{x}}").unwrap(), "mailco{{x}}");
            assert_eq!(interpolate("${profile.other:-trust}").unwrap(), "trust");
            assert_eq!(
                interpolate("${profile.other:-${HL7H_SURELY_UNSET:-inner}}").unwrap(),
                "inner"
            );
            let err = interpolate("${profile.other}").unwrap_err();
            assert!(err.to_string().contains("site: has no \"other\""), "{err}");
        });
        let err = interpolate("${profile.alias}").unwrap_err();
        assert!(err.to_string().contains("no target profile is in force"), "{err}");
        assert!(interpolate("${profile.}").is_err());
        let err = serde_yaml::from_str::<Secret>("${profile.alias}").unwrap_err().to_string();
        assert!(err.to_string().contains("not from the target profile"), "{err}");
    }

    #[test]
    fn patterns_fill_fields_state_and_unique() {
        let p = Pattern::parse("{state}/clients/{PID-5.1}-{unique}{{x}}").unwrap();
        assert_eq!(p.render(&Values).unwrap(), "http://127.0.0.1:9/clients/Dürst-u1{x}");
        let missing = Pattern::parse("{PID-7}").unwrap();
        assert!(missing.render(&Values).unwrap_err().contains("PID-7"));
        let bad = Pattern::parse("{PID-55.x}").unwrap_err();
        assert!(bad.contains("PID-55.x"), "{bad}");
        assert!(Pattern::parse("a}b").is_err());
        assert!(Pattern::parse("{PID-5").is_err());
    }

    #[test]
    fn secrets_must_come_from_the_environment_and_never_show() {
        let err = serde_yaml::from_str::<Secret>("hunter2").unwrap_err().to_string();
        assert!(err.contains("from the environment"), "{err}");
        let secret: Secret = serde_yaml::from_str("${HL7H_SURELY_UNSET:-hunter2}").unwrap();
        assert_eq!(secret.expose(), "hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"***\"");
    }
}
