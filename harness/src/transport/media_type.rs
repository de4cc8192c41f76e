//! The HL7 v2 media type of HL7 over HTTP (the HAPI HL7-over-HTTP specification, 2.4), read
//! from a `Content-Type` header. Pure: both the client and the server side use it, and the
//! `http_ack` fuzz target feeds it arbitrary text.

/// Which spelling of the HL7 v2 media type a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContentTypeSpelling {
    /// `application/hl7-v2`, the specification's.
    Hl7V2,
    /// `application/hl7-v2+er7`, an older spelling.
    Hl7V2Er7,
    /// `x-application/hl7-v2+er7`, the oldest (pre-registration) spelling.
    XHl7V2Er7,
}

impl ContentTypeSpelling {
    pub const ALL: [ContentTypeSpelling; 3] =
        [ContentTypeSpelling::Hl7V2, ContentTypeSpelling::Hl7V2Er7, ContentTypeSpelling::XHl7V2Er7];

    pub fn media_type(self) -> &'static str {
        match self {
            ContentTypeSpelling::Hl7V2 => "application/hl7-v2",
            ContentTypeSpelling::Hl7V2Er7 => "application/hl7-v2+er7",
            ContentTypeSpelling::XHl7V2Er7 => "x-application/hl7-v2+er7",
        }
    }
}

/// A request's Content-Type, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    pub spelling: ContentTypeSpelling,
    /// The `charset` parameter as sent, unquoted; `None` when absent.
    pub charset: Option<String>,
}

/// Reads a Content-Type header value (RFC 9110 8.3: type and parameter names are
/// case-insensitive). `None` when it is not an HL7 v2 ER7 media type.
pub fn parse_content_type(value: &str) -> Option<ContentType> {
    let mut parts = value.split(';');
    let media = parts.next()?.trim().to_ascii_lowercase();
    let spelling =
        ContentTypeSpelling::ALL.into_iter().find(|s| s.media_type() == media.as_str())?;
    let charset = parts.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_string())
    });
    Some(ContentType { spelling, charset })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_type(value: &str, expected: Option<(ContentTypeSpelling, Option<&str>)>) {
        let got = parse_content_type(value).map(|c| (c.spelling, c.charset));
        let expected = expected.map(|(s, c)| (s, c.map(str::to_string)));
        assert_eq!(got, expected, "{value}");
    }

    #[test]
    fn content_types() {
        use ContentTypeSpelling::*;
        check_type("application/hl7-v2; charset=UTF-8", Some((Hl7V2, Some("UTF-8"))));
        check_type("Application/HL7-V2;CHARSET=\"utf-8\"", Some((Hl7V2, Some("utf-8"))));
        check_type(
            "application/hl7-v2+er7; charset=ISO-8859-1",
            Some((Hl7V2Er7, Some("ISO-8859-1"))),
        );
        check_type("x-application/hl7-v2+er7", Some((XHl7V2Er7, None)));
        check_type("text/plain; charset=UTF-8", None);
        check_type("application/hl7-v2+xml; charset=UTF-8", None);
        check_type("", None);
    }
}
