//! Does a value meet its HL7 primitive data type, as the release its message claims (MSH-12)
//! defines that type? Pure functions over one already-split value (a field, component or
//! subcomponent); no tables, no I/O.
//!
//! This module owns the *format* of the primitive types: NM, SI, SNM digits and signs; DT, TM,
//! DTM and the time of TS with real calendar dates; the string types, which have no format
//! beyond "no unescaped delimiters" (already guaranteed by the split). It must not judge whether
//! an ID or IS value is in its table, how long a value may be, or whether a value may be absent:
//! the profile validator above it does, because those are facts of a field in a message, not of
//! a type. It also provides [`sample_value`] and [`invalid_value`] for the generator that builds
//! valid and broken messages from a profile.
//!
//! ## The rules, and where the text left a choice
//!
//! Read from HL7 v2.3 ch. 2 and v2.5.1 ch. 2A (primitive data types), and the v2+ text of the
//! same sections. Every choice below is a reading of that text; where the text is silent or
//! contradicts itself the reading is the permissive one, so that a finding is always a real
//! defect.
//!
//! | type | rule | versions |
//! |---|---|---|
//! | ST, TX, FT, ID, IS, GTS | no format here (ID and IS: the caller checks the table) | all |
//! | TN | no format here: the pattern `[NN] [(999)]999-9999[X99999][B99999][C any text]` is North American only, international numbers follow none | fields of 2.3 and 2.4 |
//! | NM | optional leading `+`/`-`, digits, optional `.`; no exponent, no `,`, no spaces; leading and trailing zeros allowed | all |
//! | SI | digits only (a non-negative integer); at most 4 digits (0..9999) | the bound from 2.5 on (see below) |
//! | SNM | only `+` and the digits 0..9, at least one character | 2.7 on (checked wherever it is named) |
//! | DT | `YYYY[MM[DD]]`, a real calendar date | 2.3 on ("as of v2.3 month and days are no longer required") |
//! | TM | `HH[MM[SS[.S[S[S[S]]]]]][+/-ZZZZ]` | 2.3 on |
//! | DTM | `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]` | 2.5 on; for 2.3/2.4 the time of TS |
//! | TS | component 1 is the time (DTM from 2.5, `YYYY[MM[DD[HHMM[SS[.S[S[S[S]]]]]]]][+/-ZZZZ]` before); component 2 the degree of precision `Y L D H M S` | 2.3 to 2.6 (TS gave way to DTM in fields from 2.6) |
//!
//! Choices:
//! - **Hour-only precision in the TS of 2.3 and 2.4.** The format line reads `…DD[HHMM[SS…`
//!   (hours and minutes together), but the same section's prose names `YYYYMMDDHH` as "a
//!   precision of hour". The text contradicts itself, so `2004010112` passes in every version.
//! - **NM `.5` and `5.`** The v2+ text adds "at least one digit to the left of the decimal
//!   point"; v2.3 and v2.5.1 only say "the digits and an optional decimal point". We could not
//!   place the release that added the sentence, so both spellings pass; an NM needs at least one
//!   digit somewhere.
//! - **Time zone offsets.** The text restricts `+/-ZZZZ` "to legally-defined time zones" in
//!   `HHMM` format without listing them. Legal offsets today span −12:00 to +14:00, so hours pass
//!   when 00..14 (either sign) and minutes when 00..59 (historic legal offsets were not whole
//!   quarters). `+0000` and `-0000` both mean UTC before v2.9.
//! - **Seconds `60`.** The text does not bound seconds and says its representations are
//!   compatible with ISO 8824, whose times follow ISO 8601, which writes a leap second as
//!   `60`; so 00..60 pass. Hours are 00..23 (a 24-hour clock; midnight is `0000`).
//! - **SI's four digits.** The v2+ text states "Maximum Length: 4. This allows for a number
//!   between 0 and 9999"; v2.3's text gives the type no length (its SI fields carry their own,
//!   which the caller checks). We apply the bound from 2.5, the first release with the data type
//!   chapter 2A, and not before. The field tables of 2.4 to 2.6 still give a few SI fields
//!   (AFF-1, EDU-1, LAN-1, ORG-1, PRA-12) a length of 60; from 2.5 the type's bound wins.
//! - **Years** are any four digits; months and days must exist in the proleptic Gregorian
//!   calendar (29 February only in leap years: divisible by 4, not by 100 unless by 400).
//!
//! ## The null `""` and empty values
//!
//! `""` (two double quotes) is the null of ch. 2 ("delete the value"), valid in place of any
//! type. Whether a null or an empty value is allowed *where it stands* (an R field, say) is the
//! profile validator's question (the layer that walks a message against its profile, above
//! `hl7`), so it looks at both before calling here; [`check_primitive`]
//! accepts both too, so a caller that forgets never reports a valid null as a format error.
//!
//! ## Citations
//!
//! A violation names the rule as "HL7 v2.5.1 ch. 2A.3.22 DTM". Section numbers are given for
//! v2.5 and v2.5.1 only (ch. 2A.3 numbers the types alphabetically there: DTM 2A.3.22 and NM
//! 2A.3.47 as read, the others by the same order); other releases are cited by chapter
//! (ch. 2 for 2.3 and 2.4, ch. 2A from 2.5), because their numbering was not read.

mod in_message;
mod number;
mod time;

pub use in_message::check_value;

use std::fmt;

/// The HL7 v2 releases whose primitive types this module knows. Point releases fold into their
/// base (2.7.1 into 2.7; 2.8.1 and 2.8.2 into 2.8): their primitive types are read as the base
/// release's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V2_3,
    V2_3_1,
    V2_4,
    V2_5,
    V2_5_1,
    V2_6,
    V2_7,
    V2_8,
    /// A version string we do not know: every rule takes its most permissive reading.
    Unknown,
}

impl Version {
    /// Every variant, for tests and generators that cover all releases.
    pub const ALL: [Version; 9] = [
        Version::V2_3,
        Version::V2_3_1,
        Version::V2_4,
        Version::V2_5,
        Version::V2_5_1,
        Version::V2_6,
        Version::V2_7,
        Version::V2_8,
        Version::Unknown,
    ];

    /// The release a version string (MSH-12.1, a profile's `version`) names.
    pub fn parse(text: &str) -> Version {
        match text.trim() {
            "2.3" | "2.3.0" => Version::V2_3,
            "2.3.1" => Version::V2_3_1,
            "2.4" => Version::V2_4,
            "2.5" => Version::V2_5,
            "2.5.1" => Version::V2_5_1,
            "2.6" => Version::V2_6,
            "2.7" | "2.7.1" => Version::V2_7,
            "2.8" | "2.8.1" | "2.8.2" => Version::V2_8,
            _ => Version::Unknown,
        }
    }

    /// 2.3, 2.3.1 and 2.4: data types in ch. 2, TS's time written `…DD[HHMM[SS…`.
    fn before_2_5(self) -> bool {
        matches!(self, Version::V2_3 | Version::V2_3_1 | Version::V2_4)
    }

    /// Whether SI is bounded to four digits: stated from 2.5 on; an unknown version takes the
    /// permissive reading.
    fn si_has_four_digits(self) -> bool {
        !self.before_2_5() && self != Version::Unknown
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V2_3 => "2.3",
            Version::V2_3_1 => "2.3.1",
            Version::V2_4 => "2.4",
            Version::V2_5 => "2.5",
            Version::V2_5_1 => "2.5.1",
            Version::V2_6 => "2.6",
            Version::V2_7 => "2.7",
            Version::V2_8 => "2.8",
            Version::Unknown => "2.x (version not recognised, most permissive reading)",
        })
    }
}

/// The primitive data types whose format this module checks, named as the standard names them;
/// [`Primitive::code`] gives the two- or three-letter code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Primitive {
    /// ST
    String,
    /// TX
    Text,
    /// FT
    FormattedText,
    /// ID: coded value for HL7-defined tables.
    CodedValue,
    /// IS: coded value for user-defined tables.
    CodedValueUserDefined,
    /// GTS
    GeneralTimingSpecification,
    /// TN (2.3, 2.4)
    TelephoneNumber,
    /// NM
    Numeric,
    /// SI
    SequenceId,
    /// SNM (2.7 on)
    StringOfTelephoneNumberDigits,
    /// DT
    Date,
    /// TM
    Time,
    /// DTM
    DateTime,
    /// TS: the value checked is its first component, the time.
    TimeStamp,
}

impl Primitive {
    /// Every primitive this module knows.
    pub const ALL: [Primitive; 14] = [
        Primitive::String,
        Primitive::Text,
        Primitive::FormattedText,
        Primitive::CodedValue,
        Primitive::CodedValueUserDefined,
        Primitive::GeneralTimingSpecification,
        Primitive::TelephoneNumber,
        Primitive::Numeric,
        Primitive::SequenceId,
        Primitive::StringOfTelephoneNumberDigits,
        Primitive::Date,
        Primitive::Time,
        Primitive::DateTime,
        Primitive::TimeStamp,
    ];

    /// The type a code names (`"DTM"`), case-sensitive as the standard writes codes.
    pub fn from_code(code: &str) -> Option<Primitive> {
        Primitive::ALL.into_iter().find(|p| p.code() == code)
    }

    /// The code the standard writes, e.g. `"DTM"`.
    pub fn code(self) -> &'static str {
        match self {
            Primitive::String => "ST",
            Primitive::Text => "TX",
            Primitive::FormattedText => "FT",
            Primitive::CodedValue => "ID",
            Primitive::CodedValueUserDefined => "IS",
            Primitive::GeneralTimingSpecification => "GTS",
            Primitive::TelephoneNumber => "TN",
            Primitive::Numeric => "NM",
            Primitive::SequenceId => "SI",
            Primitive::StringOfTelephoneNumberDigits => "SNM",
            Primitive::Date => "DT",
            Primitive::Time => "TM",
            Primitive::DateTime => "DTM",
            Primitive::TimeStamp => "TS",
        }
    }

    /// Whether the type has a format that a value can break (ST and its kin have none here).
    pub fn has_format(self) -> bool {
        !matches!(
            self,
            Primitive::String
                | Primitive::Text
                | Primitive::FormattedText
                | Primitive::CodedValue
                | Primitive::CodedValueUserDefined
                | Primitive::GeneralTimingSpecification
                | Primitive::TelephoneNumber
        )
    }

    /// Checks `value` against this type as `version` defines it. The null `""` and the empty
    /// value pass (see the module doc: the profile validator judges them where they stand).
    pub fn check(self, value: &str, version: Version) -> Result<(), DatatypeViolation> {
        if value.is_empty() || value == "\"\"" {
            return Ok(());
        }
        let outcome = match self {
            Primitive::String
            | Primitive::Text
            | Primitive::FormattedText
            | Primitive::CodedValue
            | Primitive::CodedValueUserDefined
            | Primitive::GeneralTimingSpecification
            | Primitive::TelephoneNumber => Ok(()),
            Primitive::Numeric => number::check_numeric(value),
            Primitive::SequenceId => number::check_sequence_id(value, version),
            Primitive::StringOfTelephoneNumberDigits => number::check_telephone_digits(value),
            Primitive::Date => time::check_date(value),
            Primitive::Time => time::check_time(value),
            Primitive::DateTime | Primitive::TimeStamp => time::check_date_time(value),
        };
        outcome.map_err(|problem| DatatypeViolation::new(self, version, value, problem))
    }

    /// A valid value of this type, deterministic from `seed`; never contains a delimiter. The
    /// samples keep within what every release allows (an SI below 10000, for one), so the
    /// version changes nothing today; it is taken so that a later release's rule can.
    pub fn sample(self, _version: Version, seed: u64) -> String {
        let mut rng = crate::vocab::Seed(seed).rng();
        match self {
            Primitive::String
            | Primitive::Text
            | Primitive::FormattedText
            | Primitive::GeneralTimingSpecification => number::sample_words(&mut rng),
            Primitive::CodedValue | Primitive::CodedValueUserDefined => {
                number::sample_code(&mut rng)
            }
            Primitive::TelephoneNumber => number::sample_telephone_number(&mut rng),
            Primitive::Numeric => number::sample_numeric(&mut rng),
            Primitive::SequenceId => number::sample_sequence_id(&mut rng),
            Primitive::StringOfTelephoneNumberDigits => number::sample_telephone_digits(&mut rng),
            Primitive::Date => time::sample_date(&mut rng),
            Primitive::Time => time::sample_time(&mut rng),
            Primitive::DateTime | Primitive::TimeStamp => time::sample_date_time(&mut rng),
        }
    }

    /// One value that breaks exactly this type's format in `version` and nothing else a
    /// profile could constrain (it is short and holds no delimiter); `None` for types with no
    /// format.
    pub fn invalid(self, version: Version) -> Option<&'static str> {
        match self {
            Primitive::String
            | Primitive::Text
            | Primitive::FormattedText
            | Primitive::CodedValue
            | Primitive::CodedValueUserDefined
            | Primitive::GeneralTimingSpecification
            | Primitive::TelephoneNumber => None,
            // An exponent: the commonest way a computed number breaks NM.
            Primitive::Numeric => Some("1e5"),
            // Five digits break the 2.5+ bound; before 2.5 only the sign can break an SI.
            Primitive::SequenceId if version.si_has_four_digits() => Some("10000"),
            Primitive::SequenceId => Some("-1"),
            Primitive::StringOfTelephoneNumberDigits => Some("555-1234"),
            // 30 February.
            Primitive::Date => Some("20240230"),
            Primitive::Time => Some("1260"),
            Primitive::DateTime | Primitive::TimeStamp => Some("20240230120000"),
        }
    }
}

impl fmt::Display for Primitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Checks `value` against the primitive type `datatype` (a code such as `"DTM"`) of release
/// `version` (such as `"2.5.1"`). An unknown type passes: ask [`is_known_primitive`] to tell a
/// pass from "not judged". An unknown version takes the most permissive reading of each rule.
///
/// For TS pass the first component (the time); check the second with
/// [`check_degree_of_precision`]. For the composite types, check each component with its own
/// type.
pub fn check_primitive(
    datatype: &str,
    value: &str,
    version: &str,
) -> Result<(), DatatypeViolation> {
    match Primitive::from_code(datatype) {
        Some(primitive) => primitive.check(value, Version::parse(version)),
        None => Ok(()),
    }
}

/// Whether [`check_primitive`] judges `datatype` in `version`; `false` for composites, for
/// `varies` and for codes this module does not know. Every primitive is judged in every
/// version: whether a release defines a type is a fact of its structures, not of the format.
pub fn is_known_primitive(datatype: &str, _version: &str) -> bool {
    Primitive::from_code(datatype).is_some()
}

/// A valid value of the primitive `datatype` in `version`, deterministic from `rng_seed`;
/// `None` for a type this module does not know. Values hold no HL7 delimiter.
pub fn sample_value(datatype: &str, version: &str, rng_seed: u64) -> Option<String> {
    Primitive::from_code(datatype).map(|p| p.sample(Version::parse(version), rng_seed))
}

/// One value that breaks exactly the format of `datatype` in `version` (for a "bad data type"
/// test variant); `None` for types with no format (ST, TX, FT, ID, IS, GTS, TN) and unknown ones.
pub fn invalid_value(datatype: &str, version: &str) -> Option<String> {
    Primitive::from_code(datatype)
        .and_then(|p| p.invalid(Version::parse(version)))
        .map(str::to_string)
}

/// Checks the second component of a TS, the degree of precision: one of `Y L D H M S`
/// (v2.3–v2.4 ch. 2 TS prose; from 2.5 HL7 table 0529, deprecated: the number of digits of the
/// time states the precision). The null and empty values pass.
pub fn check_degree_of_precision(value: &str, version: &str) -> Result<(), DatatypeViolation> {
    if value.is_empty() || value == "\"\"" || matches!(value, "Y" | "L" | "D" | "H" | "M" | "S") {
        return Ok(());
    }
    Err(DatatypeViolation::new(
        Primitive::TimeStamp,
        Version::parse(version),
        value,
        Problem::DegreeOfPrecision,
    ))
}

/// The longest stretch of a value a violation quotes: enough to recognise it, bounded because
/// a value is peer input of any length.
const QUOTE_LIMIT: usize = 40;

/// A value that does not meet its data type: which type, which release's rule, the value (up
/// to 40 characters) and what is wrong, in words a tester understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {datatype}: {problem} ({})", self.rule())]
pub struct DatatypeViolation {
    pub datatype: Primitive,
    pub version: Version,
    /// The value, cut to 40 characters with `…` when longer.
    pub value: String,
    pub problem: Problem,
}

impl DatatypeViolation {
    fn new(datatype: Primitive, version: Version, value: &str, problem: Problem) -> Self {
        let mut quoted: String = value.chars().take(QUOTE_LIMIT).collect();
        if value.chars().nth(QUOTE_LIMIT).is_some() {
            quoted.push('…');
        }
        DatatypeViolation { datatype, version, value: quoted, problem }
    }

    /// The rule broken, e.g. "HL7 v2.5.1 ch. 2A.3.22 DTM".
    pub fn rule(&self) -> Rule {
        Rule { datatype: self.datatype, version: self.version, problem: self.problem.clone() }
    }
}

/// Where the standard states a rule: the release, its chapter and section, the type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub datatype: Primitive,
    pub version: Version,
    problem: Problem,
}

impl Rule {
    /// The releases this rule holds in, in words ("v2.5 on").
    pub fn applies_to(&self) -> &'static str {
        match (&self.problem, self.datatype) {
            (Problem::TooManyDigits { .. }, _) => "v2.5 on (no bound in v2.3 and v2.4)",
            (_, Primitive::StringOfTelephoneNumberDigits) => "v2.7 on",
            (Problem::DegreeOfPrecision, _) => "v2.3 to v2.6 (deprecated from v2.5)",
            (_, Primitive::DateTime) => "v2.5 on; the time of TS before",
            (_, Primitive::TimeStamp) => "v2.3 to v2.6",
            _ => "v2.3 on",
        }
    }

    /// The section of ch. 2A for v2.5 and v2.5.1 (see the module doc).
    fn section(&self) -> Option<&'static str> {
        if !matches!(self.version, Version::V2_5 | Version::V2_5_1) {
            return None;
        }
        Some(match self.datatype {
            Primitive::Date => "2A.3.21",
            Primitive::DateTime => "2A.3.22",
            Primitive::Numeric => "2A.3.47",
            Primitive::SequenceId => "2A.3.69",
            Primitive::Time => "2A.3.75",
            Primitive::TimeStamp => "2A.3.77",
            _ => return None,
        })
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let version = match self.version {
            Version::Unknown => "2.x".to_string(),
            known => known.to_string(),
        };
        // DTM came with 2.5; before, the same format is the time component of TS.
        let name = match self.datatype {
            Primitive::DateTime if self.version.before_2_5() => "TS",
            other => other.code(),
        };
        match self.section() {
            Some(section) => write!(f, "HL7 v{version} ch. {section} {name}"),
            None if self.version.before_2_5() => write!(f, "HL7 v{version} ch. 2 {name}"),
            None => write!(f, "HL7 v{version} ch. 2A {name}"),
        }
    }
}

/// What is wrong with a value, in words a tester understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("{found:?} at position {position} where the format {format} allows {expected}")]
    Unexpected { position: usize, found: char, expected: &'static str, format: &'static str },
    #[error("{found} digits where the format {format} allows {allowed}")]
    DigitCount { found: usize, allowed: &'static str, format: &'static str },
    #[error("month {0:02} out of 01..12")]
    Month(u32),
    #[error("day {day:02} out of 01..{last:02} for {year:04}-{month:02}")]
    Day { day: u32, last: u32, year: u32, month: u32 },
    #[error("hour {0:02} out of 00..23")]
    Hour(u32),
    #[error("minute {0:02} out of 00..59")]
    Minute(u32),
    #[error("second {0:02} out of 00..60")]
    Second(u32),
    #[error("a fraction of a second needs 1 to 4 digits after '.', found {0}")]
    FractionDigits(usize),
    #[error("a fraction of a second needs the seconds (SS) before the '.'")]
    FractionWithoutSeconds,
    #[error("time zone {0:?} is not +/-HHMM (a sign and exactly four digits)")]
    ZoneFormat(String),
    #[error("time zone {0} out of 00..14 hours and 00..59 minutes")]
    ZoneRange(String),
    #[error("decimal separator must be '.'")]
    DecimalComma,
    #[error("thousands separators are not allowed")]
    ThousandsSeparator,
    #[error("an exponent is not allowed")]
    Exponent,
    #[error("more than one decimal point")]
    SecondDecimalPoint,
    #[error("a sign is only allowed as the first character")]
    MisplacedSign,
    #[error("no digit")]
    NoDigit,
    #[error("a sequence ID is a non-negative integer: digits only, no sign or decimal point")]
    NotAnInteger,
    #[error("{found} digits, at most 4 (0..9999)")]
    TooManyDigits { found: usize },
    #[error("only '+' and the digits 0..9 are allowed")]
    NotTelephoneDigits,
    #[error("the degree of precision must be one of Y, L, D, H, M, S")]
    DegreeOfPrecision,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VERSIONS: [&str; 13] = [
        "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2",
        "2.9", "",
    ];

    #[test]
    fn versions_fold_into_their_base_and_unknown_is_permissive() {
        assert_eq!(Version::parse("2.8.2"), Version::V2_8);
        assert_eq!(Version::parse("2.7.1"), Version::V2_7);
        assert_eq!(Version::parse("2.9"), Version::Unknown);
        // SI: the four-digit bound of 2.5+ does not hold for an unknown version.
        assert!(check_primitive("SI", "10000", "2.9").is_ok());
        assert!(check_primitive("SI", "10000", "2.5").is_err());
    }

    #[test]
    fn unknown_types_pass_and_say_so() {
        assert!(check_primitive("CWE", "anything^at^all", "2.5").is_ok());
        assert!(!is_known_primitive("CWE", "2.5"));
        assert!(!is_known_primitive("varies", "2.5"));
        assert!(is_known_primitive("DTM", "2.5.1"));
        assert!(is_known_primitive("TN", "2.3"));
        assert_eq!(sample_value("CWE", "2.5", 1), None);
        assert_eq!(invalid_value("CWE", "2.5"), None);
    }

    #[test]
    fn the_null_and_the_empty_value_pass_every_type() {
        for p in Primitive::ALL {
            for v in Version::ALL {
                assert!(p.check("\"\"", v).is_ok(), "{p} {v}");
                assert!(p.check("", v).is_ok(), "{p} {v}");
            }
        }
    }

    #[test]
    fn a_violation_reads_as_a_sentence_with_its_rule() {
        let err = check_primitive("DTM", "20241301", "2.5.1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"20241301\" is not a valid DTM: month 13 out of 01..12 (HL7 v2.5.1 ch. 2A.3.22 DTM)"
        );
        let err = check_primitive("NM", "12,5", "2.4").unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"12,5\" is not a valid NM: decimal separator must be '.' (HL7 v2.4 ch. 2 NM)"
        );
        let err = check_primitive("SI", "10000", "2.6").unwrap_err();
        assert_eq!(err.rule().to_string(), "HL7 v2.6 ch. 2A SI");
        assert_eq!(err.rule().applies_to(), "v2.5 on (no bound in v2.3 and v2.4)");
        let err = check_primitive("DTM", "2024x", "2.4").unwrap_err();
        assert_eq!(err.rule().to_string(), "HL7 v2.4 ch. 2 TS");
        assert_eq!(
            err.to_string(),
            "\"2024x\" is not a valid DTM: 'x' at position 5 where the format \
             YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ] allows a digit, '.', '+' or '-' \
             (HL7 v2.4 ch. 2 TS)"
        );
        let err = check_primitive("DT", "20241", "2.3").unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"20241\" is not a valid DT: 5 digits where the format YYYY[MM[DD]] allows 4, 6 or 8 \
             (HL7 v2.3 ch. 2 DT)"
        );
        let err = check_primitive("DT", "2024x", "2.9").unwrap_err();
        assert!(err.to_string().ends_with("(HL7 v2.x ch. 2A DT)"), "{err}");
    }

    #[test]
    fn a_long_value_is_quoted_cut() {
        let long = "9".repeat(10_000) + "x";
        let err = check_primitive("NM", &long, "2.5").unwrap_err();
        assert_eq!(err.value.chars().count(), 41);
        assert!(err.value.ends_with('…'));
    }

    #[test]
    fn degree_of_precision() {
        assert!(check_degree_of_precision("D", "2.4").is_ok());
        assert!(check_degree_of_precision("", "2.4").is_ok());
        let err = check_degree_of_precision("X", "2.5").unwrap_err();
        assert_eq!(err.problem, Problem::DegreeOfPrecision);
        assert_eq!(err.rule().to_string(), "HL7 v2.5 ch. 2A.3.77 TS");
    }

    #[test]
    fn types_without_a_format_have_no_invalid_value() {
        for code in ["ST", "TX", "FT", "ID", "IS", "GTS", "TN"] {
            assert_eq!(invalid_value(code, "2.5"), None, "{code}");
            assert!(check_primitive(code, "any text, 12,5 & more", "2.5").is_ok(), "{code}");
        }
    }

    proptest! {
        #[test]
        fn every_sample_passes_and_holds_no_delimiter(seed in any::<u64>()) {
            for p in Primitive::ALL {
                for version in VERSIONS {
                    let value = sample_value(p.code(), version, seed).expect("known type");
                    prop_assert!(!value.is_empty(), "{} {}", p, version);
                    prop_assert!(!value.contains(['|', '^', '~', '\\', '&', '\r', '\n']), "{value:?}");
                    prop_assert!(
                        check_primitive(p.code(), &value, version).is_ok(),
                        "{} {} {:?}: {:?}", p, version, value,
                        check_primitive(p.code(), &value, version)
                    );
                }
            }
        }

        #[test]
        fn samples_are_deterministic_from_the_seed(seed in any::<u64>()) {
            for p in Primitive::ALL {
                prop_assert_eq!(sample_value(p.code(), "2.5", seed), sample_value(p.code(), "2.5", seed));
            }
        }

        #[test]
        fn checking_never_panics(value in ".{0,40}", code in "(ST|NM|SI|SNM|DT|TM|DTM|TS|XX)") {
            for version in VERSIONS {
                let _ = check_primitive(&code, &value, version);
            }
        }
    }

    #[test]
    fn samples_cover_every_precision_and_the_zone() {
        let samples: Vec<String> =
            (0..400).filter_map(|seed| sample_value("DTM", "2.5", seed)).collect();
        for len in [4, 6, 8, 10, 12, 14] {
            assert!(samples.iter().any(|s| s.len() == len), "no DTM of {len} digits");
        }
        assert!(samples.iter().any(|s| s.contains('.')), "no fraction");
        assert!(samples.iter().any(|s| s.contains(['+', '-'])), "no zone");
        assert!(samples.iter().any(|s| s.get(4..8) == Some("0229")), "no 29 February");
        let times: Vec<String> =
            (0..200).filter_map(|seed| sample_value("TM", "2.5", seed)).collect();
        for len in [2, 4, 6] {
            assert!(times.iter().any(|s| s.len() == len), "no TM of {len} digits");
        }
    }

    #[test]
    fn every_invalid_value_fails() {
        for p in Primitive::ALL {
            for version in VERSIONS {
                match invalid_value(p.code(), version) {
                    Some(value) => assert!(
                        check_primitive(p.code(), &value, version).is_err(),
                        "{p} {version} {value:?} passed"
                    ),
                    None => assert!(!p.has_format(), "{p} has a format but no invalid value"),
                }
            }
        }
    }
}
