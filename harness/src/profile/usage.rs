//! Usage, cardinality and length as a message profile writes them (`R`, `RE`, `C(R/X)`,
//! `0..*`, `1..20`): small value types with their text form, so profiles read like the
//! specifications they come from.

use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a usage code asks of the sender once any predicate is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plain {
    /// R: must be valued; a receiver *may* raise an error when it is not.
    Required,
    /// RE: must be sent when the sender has the data; may be empty.
    RequiredOrEmpty,
    /// O, B (backward compatible) and W (withdrawn): the specification leaves it open.
    Optional,
    /// X: must not be sent.
    NotSupported,
}

/// A usage code (HL7 v2.5.1 ch. 2, 2.12.6.x "usage"; conditional forms C(a/b) from v2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Usage {
    R,
    RE,
    O,
    X,
    /// Backward compatible: read as O.
    B,
    /// Withdrawn: read as O (a receiver ignores it; the text does not make sending it an error).
    W,
    /// C(a/b): `a` when the predicate holds, `b` when not. `C` alone is C(R/X), `CE` is C(RE/X).
    Conditional {
        when_true: Plain,
        when_false: Plain,
    },
}

impl Usage {
    pub fn parse(text: &str) -> Result<Usage, String> {
        let plain = |t: &str| match t {
            "R" => Some(Plain::Required),
            "RE" => Some(Plain::RequiredOrEmpty),
            "O" => Some(Plain::Optional),
            "X" => Some(Plain::NotSupported),
            _ => None,
        };
        let usage = match text.trim() {
            "R" => Usage::R,
            "RE" => Usage::RE,
            "O" => Usage::O,
            "X" => Usage::X,
            "B" => Usage::B,
            "W" => Usage::W,
            "C" => {
                Usage::Conditional { when_true: Plain::Required, when_false: Plain::NotSupported }
            }
            "CE" => Usage::Conditional {
                when_true: Plain::RequiredOrEmpty,
                when_false: Plain::NotSupported,
            },
            other => {
                let inner = other
                    .strip_prefix("C(")
                    .and_then(|rest| rest.strip_suffix(')'))
                    .and_then(|pair| pair.split_once('/'))
                    .and_then(|(a, b)| Some((plain(a.trim())?, plain(b.trim())?)));
                match inner {
                    Some((when_true, when_false)) => Usage::Conditional { when_true, when_false },
                    None => {
                        return Err(format!(
                            "usage {other:?}: expected R, RE, O, C, CE, C(a/b), X, B or W"
                        ))
                    }
                }
            }
        };
        Ok(usage)
    }

    pub fn is_conditional(self) -> bool {
        matches!(self, Usage::Conditional { .. })
    }

    /// What the usage asks once the predicate (if any) is decided.
    pub fn resolve(self, predicate_holds: bool) -> Plain {
        match self {
            Usage::R => Plain::Required,
            Usage::RE => Plain::RequiredOrEmpty,
            Usage::O | Usage::B | Usage::W => Plain::Optional,
            Usage::X => Plain::NotSupported,
            Usage::Conditional { when_true, when_false } => {
                if predicate_holds {
                    when_true
                } else {
                    when_false
                }
            }
        }
    }

    /// `1..1` for R, `0..0` for X, `0..1` otherwise: what a tree element without a written
    /// cardinality allows.
    pub fn implied_cardinality(self) -> Cardinality {
        match self {
            Usage::R => Cardinality { min: 1, max: Some(1) },
            Usage::X => Cardinality { min: 0, max: Some(0) },
            _ => Cardinality { min: 0, max: Some(1) },
        }
    }
}

fn plain_text(p: Plain) -> &'static str {
    match p {
        Plain::Required => "R",
        Plain::RequiredOrEmpty => "RE",
        Plain::Optional => "O",
        Plain::NotSupported => "X",
    }
}

impl fmt::Display for Plain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(plain_text(*self))
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Usage::R => f.write_str("R"),
            Usage::RE => f.write_str("RE"),
            Usage::O => f.write_str("O"),
            Usage::X => f.write_str("X"),
            Usage::B => f.write_str("B"),
            Usage::W => f.write_str("W"),
            Usage::Conditional { when_true: Plain::Required, when_false: Plain::NotSupported } => {
                f.write_str("C")
            }
            Usage::Conditional {
                when_true: Plain::RequiredOrEmpty,
                when_false: Plain::NotSupported,
            } => f.write_str("CE"),
            Usage::Conditional { when_true, when_false } => {
                write!(f, "C({when_true}/{when_false})")
            }
        }
    }
}

/// How many times an element may occur: `min..max`, `max` `None` for `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cardinality {
    pub min: u32,
    pub max: Option<u32>,
}

impl Cardinality {
    pub fn parse(text: &str) -> Result<Cardinality, String> {
        let bad = || format!("cardinality {text:?}: expected MIN..MAX, e.g. 0..1, 1..*, 0..5");
        let (min, max) = text.trim().split_once("..").ok_or_else(bad)?;
        let min: u32 = min.trim().parse().map_err(|_| bad())?;
        let max = match max.trim() {
            "*" | "n" => None,
            n => Some(n.parse::<u32>().map_err(|_| bad())?),
        };
        if max.is_some_and(|m| m < min) {
            return Err(format!("cardinality {text:?}: the maximum is below the minimum"));
        }
        Ok(Cardinality { min, max })
    }

    pub fn allows(self, count: usize) -> bool {
        count >= self.min as usize && self.max.is_none_or(|m| count <= m as usize)
    }
}

impl fmt::Display for Cardinality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.max {
            Some(max) => write!(f, "{}..{}", self.min, max),
            None => write!(f, "{}..*", self.min),
        }
    }
}

/// Length allowed for a value: at most `max` characters, at least `min`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Length {
    pub min: u32,
    pub max: Option<u32>,
}

impl Length {
    pub fn parse(text: &str) -> Result<Length, String> {
        let bad = || format!("length {text:?}: expected MAX or MIN..MAX, e.g. 20 or 1..20");
        let text = text.trim();
        match text.split_once("..") {
            None => Ok(Length { min: 0, max: Some(text.parse().map_err(|_| bad())?) }),
            Some((min, max)) => {
                let c = Cardinality::parse(&format!("{min}..{max}")).map_err(|_| bad())?;
                Ok(Length { min: c.min, max: c.max })
            }
        }
    }

    pub fn allows(self, chars: usize) -> bool {
        chars >= self.min as usize && self.max.is_none_or(|m| chars <= m as usize)
    }
}

impl fmt::Display for Length {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (0, Some(max)) => write!(f, "{max}"),
            (min, Some(max)) => write!(f, "{min}..{max}"),
            (min, None) => write!(f, "{min}..*"),
        }
    }
}

/// Serde and JSON Schema for the three text forms.
macro_rules! text_form {
    ($t:ty, $name:literal, $desc:literal) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum Raw {
                    Number(u64),
                    Text(String),
                }
                let text = match Raw::deserialize(d)? {
                    Raw::Number(n) => n.to_string(),
                    Raw::Text(t) => t,
                };
                <$t>::parse(&text).map_err(de::Error::custom)
            }
        }
        impl JsonSchema for $t {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": ["string", "integer"], "description": $desc })
            }
        }
    };
}

text_form!(Usage, "Usage", "R, RE, O, C, CE, C(a/b), X, B or W");
text_form!(Cardinality, "Cardinality", "MIN..MAX, e.g. 0..1, 1..*");
text_form!(Length, "Length", "MAX or MIN..MAX characters, e.g. 20 or 1..20");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usages_read_and_print_back() {
        for text in ["R", "RE", "O", "X", "B", "W", "C", "CE", "C(R/O)", "C(RE/X)"] {
            let usage = Usage::parse(text).expect(text);
            let shown = usage.to_string();
            let expected = if text == "C(RE/X)" { "CE" } else { text };
            assert_eq!(shown, expected);
        }
        assert!(Usage::parse("M").is_err());
        assert!(Usage::parse("C(R/M)").is_err());
    }

    #[test]
    fn conditional_usage_resolves_by_predicate() {
        let c = Usage::parse("C").expect("C");
        assert_eq!(c.resolve(true), Plain::Required);
        assert_eq!(c.resolve(false), Plain::NotSupported);
        assert_eq!(Usage::B.resolve(false), Plain::Optional);
    }

    #[test]
    fn cardinalities() {
        let c = Cardinality::parse("1..*").expect("1..*");
        assert!(c.allows(1) && c.allows(500) && !c.allows(0));
        assert!(Cardinality::parse("2..1").is_err());
        assert!(Cardinality::parse("1").is_err());
        assert_eq!(Cardinality::parse("0..5").expect("c").to_string(), "0..5");
    }

    #[test]
    fn lengths_read_numbers_and_ranges() {
        let l: Length = serde_yaml::from_str("20").expect("number");
        assert_eq!(l, Length { min: 0, max: Some(20) });
        assert!(l.allows(20) && !l.allows(21));
        let l: Length = serde_yaml::from_str("'2..5'").expect("range");
        assert!(!l.allows(1) && l.allows(2));
        assert!(serde_yaml::from_str::<Length>("ten").is_err());
    }
}
