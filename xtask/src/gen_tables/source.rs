//! Reading `../shared/hl7-structures`: the hl7apy and hl7-dictionary JSON per version, the nHapi
//! event maps, and the provenance table of its SOURCES.md (for the generated headers).

use super::{DICTIONARY_VERSIONS, VERSIONS};
use anyhow::Context;
use serde_json::Value;
use std::path::Path;

/// One upstream data set as SOURCES.md names it.
pub struct Provenance {
    pub folder: String,
    pub upstream: String,
    pub commit: String,
    pub licence: String,
}

/// Everything read, one entry per generated version (indexes as in [`VERSIONS`]).
pub struct Sources {
    pub hl7apy: Vec<Value>,
    /// hl7-dictionary's `{messages, segments, fields}`, for 2.3 to 2.6 only.
    pub dictionary: Vec<Option<Value>>,
    /// hl7-dictionary's unversioned `tables.json`.
    pub dictionary_tables: Value,
    /// `(MSGTYPE_EVENT, STRUCTURE)` pairs of each version's nHapi event map, as written.
    pub event_maps: Vec<Vec<(String, String)>>,
    pub provenance: Vec<Provenance>,
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

impl Sources {
    pub fn read(dir: &Path) -> anyhow::Result<Sources> {
        let mut hl7apy = Vec::new();
        let mut dictionary = Vec::new();
        let mut event_maps = Vec::new();
        for version in VERSIONS {
            hl7apy.push(read_json(&dir.join("hl7apy").join(format!("v{version}.json")))?);
            dictionary.push(if DICTIONARY_VERSIONS.contains(&version) {
                Some(read_json(&dir.join("hl7-dictionary").join(format!("v{version}.json")))?)
            } else {
                None
            });
            let path = dir.join("event-map-nhapi").join(format!("EventMap-{version}.properties"));
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            event_maps.push(parse_event_map(&text));
        }
        let dictionary_tables = read_json(&dir.join("hl7-dictionary").join("tables.json"))?;
        let sources_md = dir.join("SOURCES.md");
        let text = std::fs::read_to_string(&sources_md)
            .with_context(|| format!("reading {}", sources_md.display()))?;
        let provenance = parse_provenance(&text);
        anyhow::ensure!(
            provenance.len() == 3,
            "{}: expected the table of three sources, found {} rows",
            sources_md.display(),
            provenance.len()
        );
        Ok(Sources { hl7apy, dictionary, dictionary_tables, event_maps, provenance })
    }
}

/// `KEY<whitespace>VALUE` lines, `#` comments and blank lines skipped.
fn parse_event_map(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect()
}

/// The rows of SOURCES.md's table: `| \`folder/\` | owner/repo, files | commit | licence | ...`.
fn parse_provenance(text: &str) -> Vec<Provenance> {
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let folder = cells.get(1)?.trim_matches('`').trim_end_matches('/').to_string();
            let upstream = cells.get(2)?.split(',').next()?.trim().to_string();
            let commit = cells.get(3)?.to_string();
            let licence = cells.get(4)?.split(',').next()?.trim().to_string();
            Some(Provenance { folder, upstream, commit, licence })
        })
        .collect()
}

/// `"HL70001"` (or hl7apy's odd `"HL7025"`) as the table number.
pub fn table_number(id: &str) -> Option<u16> {
    id.strip_prefix("HL7")?.parse().ok()
}

/// A JSON string, or `None`.
pub fn text(value: &Value) -> Option<&str> {
    value.as_str()
}

/// Whitespace runs in a name become one space, so a name stays on one line.
pub fn clean_name(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_rows() {
        let rows = parse_provenance(
            "| folder | upstream |\n|---|---|\n| `hl7apy/` | crs4/hl7apy, `x.py` | 0297 | MIT (© CRS4), `LICENSE.txt` | 2.1 | 6 MB |\n",
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].folder.as_str(), rows[0].upstream.as_str(), rows[0].commit.as_str()),
            ("hl7apy", "crs4/hl7apy", "0297")
        );
        assert_eq!(rows[0].licence, "MIT (© CRS4)");
        assert_eq!(table_number("HL70001"), Some(1));
        assert_eq!(table_number("HL7025"), Some(25));
        assert_eq!(table_number("X"), None);
        assert_eq!(clean_name("A   B\tC"), "A B C");
    }
}
