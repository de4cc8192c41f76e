//! Where a client sends: one parser of target URLs for every command that connects out (`run`,
//! `send`, `load`, `proxy --upstream`), so that they accept and refuse the same texts.
//!
//! The userinfo comes out first ([`crate::transport::userinfo`]): the parsed [`TargetUrl`], its
//! [`Display`](std::fmt::Display) form and every [`TargetUrlError`] hold the URL without it, so
//! they are safe to print and to write into a report. This module parses; it opens nothing.

use super::http_client::HttpTarget;
use super::userinfo::{Credentials, SplitUrl, UserinfoError};

/// A target as written (`--target`, `--upstream` or the scenario's `target.url`), without
/// userinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetUrl {
    /// The reference endpoint, started in-process by the command (`run`, `load`).
    Builtin,
    /// `mllp://HOST:PORT`: MLLP over TCP; holds `HOST:PORT`.
    Mllp(String),
    /// `mllps://HOST:PORT`: MLLP over TLS; holds `HOST:PORT`.
    Mllps(String),
    /// `http://HOST[:PORT]/PATH`: HL7 over HTTP; holds the whole URL.
    Http(String),
    /// `https://HOST[:PORT]/PATH`: HL7 over HTTPS; holds the whole URL.
    Https(String),
    /// `hllp://HOST:PORT`: HLLP blocks over TCP; holds `HOST:PORT`.
    Hllp(String),
}

/// What is wrong with a target URL. Each variant carries the URL without its userinfo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetUrlError {
    #[error(transparent)]
    Userinfo(#[from] UserinfoError),
    /// A stream scheme needs both a host and a port: there is no default port for MLLP or
    /// HLLP, and a connect to `host` alone would fail later with a vaguer message.
    #[error("{url:?}: expected {scheme}://HOST:PORT")]
    Address { url: String, scheme: &'static str },
    #[error("{url:?}: expected {scheme}://HOST:PORT/PATH")]
    HttpAddress { url: String, scheme: &'static str },
    #[error("{url:?}: unknown target; use {KNOWN}")]
    Unknown { url: String },
    #[error("{url:?}: a user or password in the URL is not taken here")]
    CredentialsNotTaken { url: String },
}

/// The schemes of stream transports, whose URL is `SCHEME://HOST:PORT`.
type StreamScheme = (&'static str, fn(String) -> TargetUrl);
const STREAMS: [StreamScheme; 3] =
    [("mllp", TargetUrl::Mllp), ("mllps", TargetUrl::Mllps), ("hllp", TargetUrl::Hllp)];

/// Every form [`TargetUrl::parse`] accepts, for messages.
const KNOWN: &str = "builtin, mllp://HOST:PORT, mllps://HOST:PORT, hllp://HOST:PORT, \
                     http://HOST:PORT/PATH or https://HOST:PORT/PATH";

impl TargetUrl {
    /// Reads a target URL that must carry no credentials (userinfo is refused, and never
    /// repeated in the error).
    pub fn parse(url: &str) -> Result<TargetUrl, TargetUrlError> {
        match TargetUrl::parse_with_credentials(url)? {
            (target, None) => Ok(target),
            (target, Some(_)) => {
                Err(TargetUrlError::CredentialsNotTaken { url: target.to_string() })
            }
        }
    }

    /// Reads a target URL; the userinfo of an `http://` or `https://` URL comes back as HTTP
    /// Basic credentials, and is refused for every other scheme.
    pub fn parse_with_credentials(
        text: &str,
    ) -> Result<(TargetUrl, Option<Credentials>), TargetUrlError> {
        let (url, credentials) = SplitUrl::parse(text)?.into_parts();
        let url = url.as_str();
        if url == "builtin" {
            return Ok((TargetUrl::Builtin, None));
        }
        for (scheme, target) in STREAMS {
            if let Some(addr) = url.strip_prefix(scheme).and_then(|r| r.strip_prefix("://")) {
                let addr = addr.trim_end_matches('/');
                let valid = addr
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
                if !valid {
                    return Err(TargetUrlError::Address { url: url.to_string(), scheme });
                }
                return Ok((target(addr.to_string()), credentials));
            }
        }
        if HttpTarget::parse(url).is_some() {
            return Ok((TargetUrl::Http(url.to_string()), credentials));
        }
        if HttpTarget::parse_https(url).is_some() {
            return Ok((TargetUrl::Https(url.to_string()), credentials));
        }
        for scheme in ["http", "https"] {
            if url.starts_with(&format!("{scheme}://")) {
                return Err(TargetUrlError::HttpAddress { url: url.to_string(), scheme });
            }
        }
        Err(TargetUrlError::Unknown { url: url.to_string() })
    }

    /// Whether the target needs a TLS connector.
    pub fn uses_tls(&self) -> bool {
        matches!(self, TargetUrl::Mllps(_) | TargetUrl::Https(_))
    }

    /// The HTTP(S) target (without credentials) of an `http://` or `https://` URL.
    pub fn http_target(&self) -> Option<HttpTarget> {
        match self {
            TargetUrl::Http(url) => HttpTarget::parse(url),
            TargetUrl::Https(url) => HttpTarget::parse_https(url),
            _ => None,
        }
    }
}

/// The URL as shown in output and reports: it never holds userinfo, which
/// [`TargetUrl::parse_with_credentials`] takes out.
impl std::fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetUrl::Builtin => f.write_str("builtin"),
            TargetUrl::Mllp(addr) => write!(f, "mllp://{addr}"),
            TargetUrl::Mllps(addr) => write!(f, "mllps://{addr}"),
            TargetUrl::Hllp(addr) => write!(f, "hllp://{addr}"),
            TargetUrl::Http(url) | TargetUrl::Https(url) => f.write_str(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Ok(display form)` or `Err(message)` of `parse_with_credentials`, with the user when
    /// credentials came out.
    fn check(text: &str, expected: Result<&str, &str>) {
        let got =
            TargetUrl::parse_with_credentials(text).map(|(url, credentials)| match credentials {
                Some(c) => format!("{url} as {}", c.user),
                None => url.to_string(),
            });
        match (&got, expected) {
            (Ok(shown), Ok(want)) => assert_eq!(shown, want, "{text}"),
            (Err(error), Err(want)) => {
                let message = error.to_string();
                assert!(message.contains(want), "{text}: {message}");
                assert!(!message.contains("secret"), "{text}: {message}");
            }
            _ => panic!("{text}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn accepted_and_refused_urls() {
        check("builtin", Ok("builtin"));
        check("mllp://127.0.0.1:2575", Ok("mllp://127.0.0.1:2575"));
        check("mllp://127.0.0.1:2575/", Ok("mllp://127.0.0.1:2575"));
        check("  mllp://h:1  ", Ok("mllp://h:1"));
        check("mllp://[::1]:2575", Ok("mllp://[::1]:2575"));
        check("mllps://h:2575", Ok("mllps://h:2575"));
        check("hllp://h:2576", Ok("hllp://h:2576"));
        check("http://h:1/x", Ok("http://h:1/x"));
        check("http://h", Ok("http://h"));
        check("https://h:1/x", Ok("https://h:1/x"));
        check("http://alice:secret@h:1/x", Ok("http://h:1/x as alice"));
        check("https://alice:secret@h:1/x", Ok("https://h:1/x as alice"));
        check("mllp://nohost", Err("expected mllp://HOST:PORT"));
        check("mllp://", Err("expected mllp://HOST:PORT"));
        check("mllp://:2575", Err("expected mllp://HOST:PORT"));
        check("mllp://h:port", Err("expected mllp://HOST:PORT"));
        check("mllp://h:65536", Err("expected mllp://HOST:PORT"));
        check("mllps://nohost", Err("expected mllps://HOST:PORT"));
        check("hllp://nohost", Err("expected hllp://HOST:PORT"));
        check("http://", Err("expected http://HOST:PORT/PATH"));
        check("https:///x", Err("expected https://HOST:PORT/PATH"));
        check("ftp://x", Err("unknown target"));
        check("h:2575", Err("unknown target"));
        check("", Err("unknown target"));
        check("mllp://alice:secret@h:1", Err("takes no user or password"));
        check("mllps://alice:secret@h:1", Err("takes no user or password"));
        check("hllp://alice:secret@h:1", Err("takes no user or password"));
        check("mllp://alice:secret@nohost", Err("takes no user or password"));
        check("alice:secret@h:1", Err("only understood after http://"));
    }

    #[test]
    fn parse_refuses_credentials_and_says_tls() {
        let refused = TargetUrl::parse("http://alice:secret@h:1/x").unwrap_err().to_string();
        assert!(refused.contains("not taken here") && !refused.contains("secret"), "{refused}");
        assert!(TargetUrl::parse("https://h:1/x").unwrap().uses_tls());
        assert!(TargetUrl::parse("mllps://h:1").unwrap().uses_tls());
        assert!(!TargetUrl::parse("mllp://h:1").unwrap().uses_tls());
        let http = TargetUrl::parse("http://h:8080/hl7").unwrap().http_target().unwrap();
        assert_eq!((http.authority.as_str(), http.path.as_str()), ("h:8080", "/hl7"));
    }
}
