//! Paths into a message: `PID-5`, `PID-5.1`, `PID-5.1.2`, `PID-3[2].1`, `OBX[3]-5`, `ZPD`.
//!
//! Grammar: `SEG[occurrence]-FIELD[repetition].COMPONENT.SUBCOMPONENT`, every part after the
//! segment id optional, every number 1-based. A segment id is three characters, an upper-case
//! letter then upper-case letters or digits (HL7 v2.5.1 ch. 2, 2.5.2). Without a repetition, a
//! component path reads the first repetition (chapter 2, 2.5.3).

use std::fmt;
use thiserror::Error;

/// A parsed path. `Display` writes it back in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path {
    segment: [u8; 3],
    /// Which occurrence of the segment (`OBX[3]`); `None` means the first.
    pub occurrence: Option<usize>,
    pub field: Option<usize>,
    /// Which repetition of the field (`PID-3[2]`); `None` means the whole field, or the first
    /// repetition when a component is named.
    pub repetition: Option<usize>,
    pub component: Option<usize>,
    pub subcomponent: Option<usize>,
}

/// A path that could not be read, with the 1-based column of the problem.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("bad path {text:?} at column {column}: {reason}")]
pub struct PathError {
    pub text: String,
    pub column: usize,
    pub reason: String,
}

/// Largest number accepted in a path: far beyond any real segment, small enough that padding a
/// message up to it stays cheap.
pub const MAX_PATH_NUMBER: usize = 9_999;

impl Path {
    pub fn parse(text: &str) -> Result<Path, PathError> {
        Reader { text, pos: 0 }.path()
    }

    /// A path to a whole segment (its first occurrence).
    pub fn segment_only(id: &str) -> Result<Path, PathError> {
        let path = Path::parse(id)?;
        if path.field.is_some() {
            return Err(PathError {
                text: id.into(),
                column: 4,
                reason: "expected a segment id only".into(),
            });
        }
        Ok(path)
    }

    pub fn segment_id(&self) -> &str {
        // Built only from three ASCII upper-case letters or digits by the reader.
        std::str::from_utf8(&self.segment).unwrap_or("???")
    }

    /// The occurrence of the segment, 1 when not given.
    pub fn occurrence_or_first(&self) -> usize {
        self.occurrence.unwrap_or(1)
    }

    /// True when the path names MSH-1 or MSH-2 (or FHS/BHS-1/2): the delimiters themselves.
    pub fn is_delimiter_field(&self) -> bool {
        matches!(&self.segment, b"MSH" | b"FHS" | b"BHS") && matches!(self.field, Some(1 | 2))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.segment_id())?;
        if let Some(n) = self.occurrence {
            write!(f, "[{n}]")?;
        }
        if let Some(n) = self.field {
            write!(f, "-{n}")?;
        }
        if let Some(n) = self.repetition {
            write!(f, "[{n}]")?;
        }
        if let Some(n) = self.component {
            write!(f, ".{n}")?;
        }
        if let Some(n) = self.subcomponent {
            write!(f, ".{n}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Path {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Path, PathError> {
        Path::parse(s)
    }
}

/// Paths are written as text in scenarios (`PID-5.1`); a bad path fails while deserializing, so
/// the YAML error carries the line and column of the value.
impl serde::Serialize for Path {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Path {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Path, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Path::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Path {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Hl7Path".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An HL7 v2 path: SEG[occurrence]-FIELD[repetition].COMPONENT.SUBCOMPONENT, e.g. PID-5.1, PID-3[2].1, OBX[3]-5",
            "pattern": "^[A-Z][A-Z0-9]{2}(\\[[1-9][0-9]*\\])?(-[1-9][0-9]*(\\[[1-9][0-9]*\\])?(\\.[1-9][0-9]*(\\.[1-9][0-9]*)?)?)?$"
        })
    }
}

struct Reader<'t> {
    text: &'t str,
    pos: usize,
}

impl Reader<'_> {
    fn error(&self, reason: impl Into<String>) -> PathError {
        PathError { text: self.text.into(), column: self.pos + 1, reason: reason.into() }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let found = self.peek() == Some(c);
        self.pos += usize::from(found);
        found
    }

    fn path(mut self) -> Result<Path, PathError> {
        let segment = self.segment_id()?;
        let occurrence = self.bracketed("segment occurrence")?;
        let mut path = Path {
            segment,
            occurrence,
            field: None,
            repetition: None,
            component: None,
            subcomponent: None,
        };
        if self.eat(b'-') {
            path.field = Some(self.number("field")?);
            path.repetition = self.bracketed("field repetition")?;
            if self.eat(b'.') {
                path.component = Some(self.number("component")?);
                if self.eat(b'.') {
                    path.subcomponent = Some(self.number("subcomponent")?);
                }
            }
        }
        match self.peek() {
            None => Ok(path),
            Some(b'.') if path.field.is_none() => {
                Err(self.error("expected '-' before the field number, e.g. PID-5"))
            }
            Some(c) => Err(self.error(format!("unexpected {:?}", c as char))),
        }
    }

    fn segment_id(&mut self) -> Result<[u8; 3], PathError> {
        let bytes = self.text.as_bytes();
        let id =
            bytes.get(..3).ok_or_else(|| self.error("expected a three-character segment id"))?;
        let mut segment = [0u8; 3];
        segment.copy_from_slice(id);
        let valid = segment[0].is_ascii_uppercase()
            && segment[1..].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !valid {
            let hint = if segment.iter().all(u8::is_ascii_alphanumeric) {
                let upper = String::from_utf8_lossy(&segment).to_ascii_uppercase();
                format!("; did you mean {upper}?")
            } else {
                String::new()
            };
            return Err(self.error(format!(
                "segment id {:?} is not three upper-case letters or digits{hint}",
                String::from_utf8_lossy(&segment)
            )));
        }
        self.pos = 3;
        Ok(segment)
    }

    fn bracketed(&mut self, what: &str) -> Result<Option<usize>, PathError> {
        if !self.eat(b'[') {
            return Ok(None);
        }
        let n = self.number(what)?;
        if !self.eat(b']') {
            return Err(self.error(format!("expected ']' after the {what}")));
        }
        Ok(Some(n))
    }

    fn number(&mut self, what: &str) -> Result<usize, PathError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = &self.text[start..self.pos];
        if digits.is_empty() {
            return Err(self.error(format!("expected a {what} number")));
        }
        match digits.parse::<usize>() {
            Ok(0) => {
                self.pos = start;
                Err(self.error(format!("{what} numbers start at 1")))
            }
            Ok(n) if n <= MAX_PATH_NUMBER => Ok(n),
            _ => {
                self.pos = start;
                Err(self.error(format!("{what} number {digits} is larger than {MAX_PATH_NUMBER}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<&str, usize>) {
        match (Path::parse(text), expected) {
            (Ok(p), Ok(canonical)) => assert_eq!(p.to_string(), canonical, "{text}"),
            (Err(e), Err(column)) => assert_eq!(e.column, column, "{text}: {e}"),
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn paths() {
        check("PID", Ok("PID"));
        check("PID-5", Ok("PID-5"));
        check("PID-5.1", Ok("PID-5.1"));
        check("PID-5.1.2", Ok("PID-5.1.2"));
        check("PID-3[2].1", Ok("PID-3[2].1"));
        check("OBX[3]-5", Ok("OBX[3]-5"));
        check("ZPD-1", Ok("ZPD-1"));
        check("MSH-9.2", Ok("MSH-9.2"));
        check("pid-5", Err(1));
        check("PI", Err(1));
        check("PID-", Err(5));
        check("PID-0", Err(5));
        check("PID-5.", Err(7));
        check("PID-5.1.2.3", Err(10));
        check("PID.5", Err(4));
        check("PID-3[2", Err(8));
        check("PID-99999999999999999999999", Err(5));
        check("PID-5x", Err(6));
        check("PÏD-5", Err(1));
    }

    #[test]
    fn serde_uses_the_text_form() {
        let path: Path = serde_json::from_str("\"PID-3[2].1\"").unwrap();
        assert_eq!(path, Path::parse("PID-3[2].1").unwrap());
        assert_eq!(serde_json::to_string(&path).unwrap(), "\"PID-3[2].1\"");
        let err = serde_json::from_str::<Path>("\"PID-55.x\"").unwrap_err();
        assert!(err.to_string().contains("bad path \"PID-55.x\" at column 8"), "{err}");
    }

    #[test]
    fn did_you_mean() {
        let err = Path::parse("pid-5").unwrap_err();
        assert!(err.to_string().contains("did you mean PID?"), "{err}");
    }
}
