//! The HL7 version a generic check judges by: MSH-12 of the message acknowledged (the
//! acknowledgment answers in the message's version), ranked so rules that changed between
//! versions (MSH-7 required from v2.4, MSH-9's components) can say "before v2.4".

use crate::hl7::Message;
use std::fmt;

/// MSH-12.1 as `major.minor[.patch]`, ordered. An empty or unreadable MSH-12 ranks as the
/// newest version, whose rules are the strictest: a message that names no version gets no
/// allowance that only an old version grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct VersionRank(u32);

impl VersionRank {
    pub const V2_4: VersionRank = VersionRank(2_04_00);
    pub const V2_6: VersionRank = VersionRank(2_06_00);

    /// The rank of `text` (`2.3.1`, `2.5`); [`VersionRank::NEWEST`] when it is not a version.
    pub fn parse(text: &str) -> VersionRank {
        let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
        match (parts.next().flatten(), parts.next().flatten(), parts.next()) {
            (Some(major), Some(minor), None) if minor < 100 => {
                VersionRank(major * 10_000 + minor * 100)
            }
            (Some(major), Some(minor), Some(Some(patch))) if minor < 100 && patch < 100 => {
                VersionRank(major * 10_000 + minor * 100 + patch)
            }
            _ => VersionRank::NEWEST,
        }
    }

    pub const NEWEST: VersionRank = VersionRank(u32::MAX);

    /// Whether this is an HL7 v2 version (2.1 to 2.9.x, table 0104). For anything else (`9.9`,
    /// an empty MSH-12) no version's rules are defined, so a rule that changed between
    /// versions cannot say which applies: the checks grade such a difference as a warning.
    pub fn is_hl7_v2(self) -> bool {
        (2_01_00..3_00_00).contains(&self.0)
    }

    /// The version of `message` (its MSH-12.1).
    pub fn of(message: &Message<'_>) -> VersionRank {
        VersionRank::parse(message.version().unwrap_or(""))
    }
}

impl fmt::Display for VersionRank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == VersionRank::NEWEST {
            return f.write_str("unknown");
        }
        let (major, minor, patch) = (self.0 / 10_000, self.0 / 100 % 100, self.0 % 100);
        match patch {
            0 => write!(f, "{major}.{minor}"),
            _ => write!(f, "{major}.{minor}.{patch}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_v2_versions_are_hl7_v2() {
        for known in ["2.1", "2.3.1", "2.5", "2.6", "2.9.1"] {
            assert!(VersionRank::parse(known).is_hl7_v2(), "{known}");
        }
        for other in ["9.9", "3.0", "", "x", "1.0"] {
            assert!(!VersionRank::parse(other).is_hl7_v2(), "{other}");
        }
    }

    #[test]
    fn versions_rank_in_order_and_unknown_is_newest() {
        let ranks: Vec<VersionRank> =
            ["2.1", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.8.2", ""]
                .iter()
                .map(|v| VersionRank::parse(v))
                .collect();
        assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{ranks:?}");
        assert!(VersionRank::parse("2.3.1") < VersionRank::V2_4);
        assert!(VersionRank::parse("2.5.1") < VersionRank::V2_6);
        assert_eq!(VersionRank::parse("two"), VersionRank::NEWEST);
        assert_eq!(VersionRank::parse("2.3.1").to_string(), "2.3.1");
        assert_eq!(VersionRank::parse(" 2.4 ").to_string(), "2.4");
    }
}
