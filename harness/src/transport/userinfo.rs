//! The userinfo of a target URL (`scheme://user:password@host:port/path`, RFC 3986 §3.2.1),
//! taken out of the text once, before anything else reads it, so that no error, log line,
//! report file or `reproduce:` line can repeat a password.
//!
//! Only HTTP has credentials in this harness: userinfo in an `http://` or `https://` URL is the
//! user and password of HTTP Basic authentication (RFC 7617). MLLP (release 1 and 2), MLLP over
//! TLS and HLLP carry no authentication at all, so userinfo in their URLs is refused rather than
//! dropped (a user who wrote a password expects it to be used). RFC 3986 §3.2.1 itself says
//! "Use of the format "user:password" in the userinfo field is deprecated" and that
//! applications "should not render as clear text any data after the first colon": every text
//! this module gives back for display holds no userinfo at all.
//!
//! The one target-URL parser, [`crate::transport::target_url`], starts here.
//!
//! This is also the harness's one redactor of secrets: [`redact`] takes userinfo out of a URL
//! shown anywhere, and [`Secrets`] hides known secret values (what a scenario read into a
//! secret, a URL's password among them) in text the harness did not write, such as a sender
//! under test's command line and output. Both show a secret as [`HIDDEN`]. Patient data is a
//! different matter: `--redact-phi` (`report::redact`) replaces it with placeholders.

use std::fmt;

/// The schemes whose userinfo is taken as HTTP Basic credentials.
const WITH_CREDENTIALS: [&str; 2] = ["http", "https"];

/// What a secret is shown as, wherever one would appear.
pub const HIDDEN: &str = "***";

/// Secret values to hide in text the harness passes on (a command line, a child's output),
/// longest first, so a value that contains another is hidden whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    /// Values shorter than this are not hidden: they would hide ordinary text and tell a
    /// reader what they were.
    const SHORTEST: usize = 3;

    /// The secrets among `values`: each value, and the password of a URL's userinfo on its own
    /// too (as written, and percent-decoded when that differs).
    pub fn of_values(values: impl IntoIterator<Item = String>) -> Secrets {
        let mut out = Vec::new();
        for value in values {
            if let Some((scheme, rest)) = value.split_once("://") {
                if let Some((userinfo, _)) = split_authority(scheme, rest) {
                    if let Some((_, password)) = userinfo.split_once(':') {
                        if let Some(decoded) = percent_decode(password) {
                            out.push(decoded);
                        }
                        out.push(password.to_string());
                    }
                }
            }
            out.push(value);
        }
        out.retain(|v| v.len() >= Self::SHORTEST);
        out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        out.dedup();
        Secrets { values: out }
    }

    /// The values hidden, longest first.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// `text` with every secret replaced by [`HIDDEN`].
    pub fn hide(&self, text: &str) -> String {
        self.values.iter().fold(text.to_string(), |text, secret| text.replace(secret, HIDDEN))
    }
}

/// A user and password from a URL's userinfo. The password never appears in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).field("password", &HIDDEN).finish()
    }
}

impl Credentials {
    /// The `(user, password)` pair the HTTP client and the runner carry.
    pub fn into_pair(self) -> (String, String) {
        (self.user, self.password)
    }
}

/// Why a URL's userinfo could not be used. Each variant carries the URL as displayed (without
/// its userinfo), never the text as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserinfoError {
    #[error(
        "{url:?}: {scheme}:// takes no user or password (the transport has no \
         authentication); remove the user:password@ part (only http:// and https:// take one, \
         as HTTP Basic credentials)"
    )]
    NotForScheme { url: String, scheme: String },
    #[error("{url:?}: a user or password is only understood after http:// or https://")]
    NoScheme { url: String },
    #[error(
        "{url:?}: the user or password is not valid percent-encoded UTF-8 (RFC 3986 §2.1); \
         write '@' as %40, ':' in the user as %3A, '/' as %2F"
    )]
    Encoding { url: String },
    #[error("{url:?}: the userinfo before '@' names no user")]
    EmptyUser { url: String },
}

/// A target URL with its userinfo taken out: the text to parse and show, and the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitUrl {
    shown: String,
    credentials: Option<Credentials>,
}

impl SplitUrl {
    /// Takes the userinfo out of `text` (trimmed). Userinfo is accepted for `http://` and
    /// `https://` only; the URL without it is what every later parser and message sees.
    pub fn parse(text: &str) -> Result<SplitUrl, UserinfoError> {
        let text = text.trim();
        let Some((scheme, rest)) = text.split_once("://") else {
            if text.contains('@') {
                return Err(UserinfoError::NoScheme { url: redact(text) });
            }
            return Ok(SplitUrl { shown: text.to_string(), credentials: None });
        };
        let Some((userinfo, after)) = split_authority(scheme, rest) else {
            return Ok(SplitUrl { shown: text.to_string(), credentials: None });
        };
        let shown = format!("{scheme}://{after}");
        if !WITH_CREDENTIALS.contains(&scheme.to_ascii_lowercase().as_str()) {
            return Err(UserinfoError::NotForScheme { url: shown, scheme: scheme.to_string() });
        }
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let decode = |part: &str| {
            percent_decode(part).ok_or_else(|| UserinfoError::Encoding { url: shown.clone() })
        };
        let (user, password) = (decode(user)?, decode(password)?);
        if user.is_empty() {
            return Err(UserinfoError::EmptyUser { url: shown });
        }
        Ok(SplitUrl { shown, credentials: Some(Credentials { user, password }) })
    }

    /// The URL without userinfo: what is parsed further, printed and written into reports.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    pub fn into_parts(self) -> (String, Option<Credentials>) {
        (self.shown, self.credentials)
    }
}

/// `text` as it may be displayed: any userinfo removed. Never fails, so error paths can use it
/// on text that is not a URL at all.
pub fn redact(text: &str) -> String {
    let text = text.trim();
    match text.split_once("://") {
        Some((scheme, rest)) => match split_authority(scheme, rest) {
            Some((_, after)) => format!("{scheme}://{after}"),
            None => text.to_string(),
        },
        // Without a scheme there is no authority to bound the userinfo: everything up to the
        // last '@' goes.
        None => match text.rsplit_once('@') {
            Some((_, after)) => format!("…@{after}"),
            None => text.to_string(),
        },
    }
}

/// Splits `rest` (the text after `scheme://`) into the userinfo and what follows its '@', or
/// `None` when there is no userinfo. For HTTP the authority ends at the first '/', '?' or '#'
/// (RFC 3986 §3.2), so an '@' in the path is left alone. MLLP and HLLP URLs have no path, so
/// an '@' anywhere is taken as the end of userinfo: a password holding a raw '/' is still
/// never shown.
fn split_authority<'a>(scheme: &str, rest: &'a str) -> Option<(&'a str, &'a str)> {
    let authority = if WITH_CREDENTIALS.contains(&scheme.to_ascii_lowercase().as_str()) {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        &rest[..end]
    } else {
        rest
    };
    let at = authority.rfind('@')?;
    Some((&rest[..at], &rest[at + 1..]))
}

/// RFC 3986 §2.1 percent-decoding into UTF-8 (URL userinfo, the state API's path segments);
/// `None` for a bad escape or bytes that are not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` splits into the shown URL and `user:password`, or fails with an error whose text
    /// holds `expected_error`; neither the shown URL nor the error ever holds "secret".
    /// The URL shown and the `(user, password)` taken, or a part of the error's text.
    type Expected<'a> = Result<(&'a str, Option<(&'a str, &'a str)>), &'a str>;

    fn check(text: &str, expected: Expected<'_>) {
        let got = SplitUrl::parse(text);
        match (&got, expected) {
            (Ok(split), Ok((shown, credentials))) => {
                assert_eq!(split.shown(), shown, "{text}");
                let pair = split.credentials().map(|c| (c.user.as_str(), c.password.as_str()));
                assert_eq!(pair, credentials, "{text}");
                assert!(!format!("{split:?}").contains("secret"), "{split:?}");
            }
            (Err(e), Err(part)) => {
                let shown = e.to_string();
                assert!(shown.contains(part), "{text}: {shown}");
                assert!(!shown.contains("secret"), "{text}: {shown}");
            }
            _ => panic!("{text}: got {got:?}, expected {expected:?}"),
        }
        assert!(!redact(text).contains("secret"), "{text}: {}", redact(text));
    }

    #[test]
    fn secrets_hide_a_urls_password_written_and_decoded_longest_first() {
        let secrets = Secrets::of_values([
            "http://op:pw%2F98765@h:1/x".to_string(),
            "tok-123456".to_string(),
            "ab".to_string(),
        ]);
        assert_eq!(
            secrets.values(),
            ["http://op:pw%2F98765@h:1/x", "pw%2F98765", "tok-123456", "pw/98765"]
        );
        let text = "--url http://op:pw%2F98765@h:1/x --token tok-123456 (pw/98765) ab";
        assert_eq!(secrets.hide(text), "--url *** --token *** (***) ab");
    }

    #[test]
    fn userinfo() {
        check("mllp://h:1", Ok(("mllp://h:1", None)));
        check("builtin", Ok(("builtin", None)));
        check(" http://h:1/x ", Ok(("http://h:1/x", None)));
        check("http://alice:secret@h:1/x", Ok(("http://h:1/x", Some(("alice", "secret")))));
        check("HTTPS://alice:secret@h:1", Ok(("HTTPS://h:1", Some(("alice", "secret")))));
        check("http://alice@h:1/x", Ok(("http://h:1/x", Some(("alice", "")))));
        check("http://a%40b:se%3Acret%40x@h:1/", Ok(("http://h:1/", Some(("a@b", "se:cret@x")))));
        check("http://h:1/a@b", Ok(("http://h:1/a@b", None)));
        check("http://al:secret@ice:x@h:1/p", Ok(("http://h:1/p", Some(("al", "secret@ice:x")))));
        check("mllp://alice:secret@h:1", Err("mllp:// takes no user"));
        check("mllp://alice:secret@h:1", Err("\"mllp://h:1\""));
        check("mllps://alice:secret@h:1", Err("mllps:// takes no user"));
        check("hllp://alice:secret@h:1", Err("hllp:// takes no user"));
        check("mllp://alice:se/cret@h:1", Err("\"mllp://h:1\""));
        check("ftp://alice:secret@h", Err("ftp:// takes no user"));
        check("alice:secret@h:1", Err("only understood after http://"));
        check("http://alice:secret%zz@h:1/", Err("percent-encoded"));
        check("http://alice:secret%ff@h:1/", Err("percent-encoded"));
        check("http://:secret@h:1/", Err("names no user"));
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let c = Credentials { user: "alice".into(), password: "secret".into() };
        assert!(!format!("{c:?}").contains("secret"));
        assert_eq!(c.into_pair(), ("alice".into(), "secret".into()));
    }
}
