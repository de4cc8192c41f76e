//! `${VAR}` interpolation: `${VAR}` and `${VAR:-default}` from the environment, `${profile.NAME}`
//! from the target profile's `site:` map, `$${` for a literal `${`.
//!
//! What interpolation reads and may do is one explicit value, an [`Interpolation`], that the
//! loader hands to the YAML reader ([`super::interpolating`]) for one file: the site map in
//! force, whether unset variables are allowed (`run --check`), and what it read (for the
//! reproduce line). No state hides in thread-locals, so two files read at once cannot see each
//! other's site map or reads.

use std::cell::RefCell;
use std::collections::BTreeMap;

/// What an unset variable stands for when unset variables are allowed: a word that is valid as
/// a host name, a path part or a password, so the rest of the file can still be checked.
pub const UNSET_PLACEHOLDER: &str = "unset-variable";

/// An environment variable a scenario file read through `${VAR}` interpolation, so that the
/// command printed to reproduce a case can set it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableRead {
    pub name: String,
    /// The value the file got (from the environment or the `:-default`); `None` for a secret:
    /// a variable read into a [`super::Secret`], named like a password, token or secret, or
    /// holding a URL with credentials. Only its name is ever shown.
    pub value: Option<String>,
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
    #[error(
        "a secret comes from the environment, not from the target profile's site: (profiles \
         are shared and hashed into reports)"
    )]
    SecretFromProfile,
    #[error(
        "a secret must come from the environment: write ${{VAR}} (or ${{VAR:-default}}), not \
         the value itself"
    )]
    SecretWritten,
}

/// The prefix that makes `${profile.NAME}` read the target profile's `site:` map.
const PROFILE_PREFIX: &str = "profile.";

/// How `${…}` is filled in while one file is read, and what it read meanwhile.
#[derive(Debug, Default)]
pub struct Interpolation {
    /// The `site:` map `${profile.NAME}` reads; `None`: no target profile is in force.
    site: Option<BTreeMap<String, String>>,
    /// Unset variables without a default read as [`UNSET_PLACEHOLDER`] and are listed
    /// (`run --check`: a pack is checked on a machine that does not hold the run's secrets).
    unset_allowed: bool,
    /// The environment variables read, in first-read order. A `RefCell` because the YAML
    /// reader holds the context by shared reference while it records.
    reads: RefCell<Vec<VariableRead>>,
    /// Under `unset_allowed`: the variables that were not set and had no default.
    unset: RefCell<Vec<String>>,
}

impl Interpolation {
    /// A context with the site map `site` and, when `unset_allowed`, unset variables listed
    /// rather than refused.
    pub fn new(site: Option<BTreeMap<String, String>>, unset_allowed: bool) -> Interpolation {
        Interpolation { site, unset_allowed, ..Interpolation::default() }
    }

    /// The variables read, in first-read order, and the unset ones (sorted, each once).
    pub fn finish(self) -> (Vec<VariableRead>, Vec<String>) {
        let mut unset = self.unset.into_inner();
        unset.sort();
        unset.dedup();
        (self.reads.into_inner(), unset)
    }

    fn record_read(&self, name: &str, value: &str) {
        let mut reads = self.reads.borrow_mut();
        if reads.iter().all(|r| r.name != name) {
            let hidden = secret_name(name) || has_userinfo(value);
            let value = (!hidden).then(|| value.to_string());
            reads.push(VariableRead { name: name.to_string(), value });
        }
    }

    /// Marks the variables `text` names as secret (their values were read into a secret).
    fn hide_reads_in(&self, text: &str) {
        for read in self.reads.borrow_mut().iter_mut() {
            if text.contains(&format!("${{{}}}", read.name))
                || text.contains(&format!("${{{}:-", read.name))
            {
                read.value = None;
            }
        }
    }

    /// A secret's text filled in: only from the environment, and its variables never shown.
    pub fn secret(&self, raw: &str) -> Result<String, InterpolateError> {
        if raw.contains("${profile.") {
            return Err(InterpolateError::SecretFromProfile);
        }
        if !raw.contains("${") {
            return Err(InterpolateError::SecretWritten);
        }
        let secret = self.interpolate(raw);
        self.hide_reads_in(raw);
        secret
    }

    /// Replaces `${VAR}` and `${VAR:-default}` from the environment, and `${profile.NAME}` from
    /// the target profile's `site:` map (site policy such as aliases, kept out of signed packs).
    /// A default may itself hold `${…}`: `${profile.alias:-${HL7_ALIAS:-trustalias}}` takes the
    /// profile's value, else the environment's, else `trustalias`.
    ///
    /// `$${` is a literal `${`, read no further: `$${HOME}` gives `${HOME}`.
    pub fn interpolate(&self, text: &str) -> Result<String, InterpolateError> {
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
            out.push_str(&self.placeholder(inner)?);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The value of one `${inner}`.
    fn placeholder(&self, inner: &str) -> Result<String, InterpolateError> {
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
            (Some(key), _) => self.site.as_ref().and_then(|m| m.get(key).cloned()),
            (None, Some(name)) => std::env::var(name).ok(),
            (None, None) => None,
        };
        let value = match (found, default) {
            (Some(value), _) => value,
            (None, Some(default)) => self.interpolate(default)?,
            (None, None) => {
                return match (site_key, env_name) {
                    (None, Some(name)) if self.unset_allowed => {
                        self.unset.borrow_mut().push(name.to_string());
                        Ok(UNSET_PLACEHOLDER.to_string())
                    }
                    (Some(key), _) if self.site.is_none() => {
                        Err(InterpolateError::NoProfile { key: key.into() })
                    }
                    (Some(key), _) => Err(InterpolateError::NoSiteKey { key: key.into() }),
                    _ => Err(InterpolateError::Unset { name: name.into() }),
                };
            }
        };
        if let Some(name) = env_name {
            self.record_read(name, &value);
        }
        Ok(value)
    }
}

/// Fills `${VAR}` from the environment alone (no target profile, unset variables refused).
pub fn interpolate(text: &str) -> Result<String, InterpolateError> {
    Interpolation::default().interpolate(text)
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// With unset variables allowed (run --check), a variable that is not set and has no
    /// default reads as a placeholder and is listed; defaults and profile keys still apply.
    #[test]
    fn unset_variables_are_listed_instead_of_refused_when_allowed() {
        let context = Interpolation::new(None, true);
        let got = context
            .interpolate("${HL7H_SURELY_UNSET_B}:${HL7H_SURELY_UNSET_A}:${HL7H_SURELY_UNSET_B:-d}");
        assert_eq!(got.unwrap(), format!("{UNSET_PLACEHOLDER}:{UNSET_PLACEHOLDER}:d"));
        assert!(context.interpolate("${profile.nothere}").is_err(), "not the environment");
        let (_, unset) = context.finish();
        assert_eq!(unset, ["HL7H_SURELY_UNSET_A", "HL7H_SURELY_UNSET_B"]);
        assert!(interpolate("${HL7H_SURELY_UNSET_A}").is_err(), "refused elsewhere");
    }

    #[test]
    fn profile_site_values_fill_in_with_defaults_and_nesting() {
        let site = BTreeMap::from([("alias".to_string(), "mailco".to_string())]);
        let context = Interpolation::new(Some(site), false);
        assert_eq!(context.interpolate("${profile.alias}{{x}}").unwrap(), "mailco{{x}}");
        assert_eq!(context.interpolate("${profile.other:-trust}").unwrap(), "trust");
        assert_eq!(
            context.interpolate("${profile.other:-${HL7H_SURELY_UNSET:-inner}}").unwrap(),
            "inner"
        );
        let err = context.interpolate("${profile.other}").unwrap_err();
        assert!(err.to_string().contains("site: has no \"other\""), "{err}");
        let err = interpolate("${profile.alias}").unwrap_err();
        assert!(err.to_string().contains("no target profile is in force"), "{err}");
        assert!(interpolate("${profile.}").is_err());
        let err = context.secret("${profile.alias}").unwrap_err().to_string();
        assert!(err.contains("not from the target profile"), "{err}");
    }

    /// What a file read is recorded for the reproduce line; a secret's variables only by name.
    #[test]
    fn reads_are_recorded_and_secrets_hidden() {
        let context = Interpolation::default();
        context.interpolate("${HL7H_SURELY_UNSET_R:-a} ${HL7H_SURELY_UNSET_R:-b}").unwrap();
        context.secret("${HL7H_SURELY_UNSET_S:-pw}").unwrap();
        let (reads, unset) = context.finish();
        let shown: Vec<(&str, Option<&str>)> =
            reads.iter().map(|r| (r.name.as_str(), r.value.as_deref())).collect();
        assert_eq!(shown, [("HL7H_SURELY_UNSET_R", Some("a")), ("HL7H_SURELY_UNSET_S", None)]);
        assert!(unset.is_empty());
    }
}
