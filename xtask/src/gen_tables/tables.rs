//! HL7 coded tables: hl7apy's per-version tables (2.3.1 and later), hl7-dictionary's unversioned
//! tables for 2.3 and for what hl7apy lacks, each with the kind the data types using it imply.

use super::share::Shared;
use super::source::{clean_name, table_number, text, Sources};
use super::Body;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub fn tables(sources: &Sources) -> Body {
    let mut shared = Shared::default();
    for (v, doc) in sources.hl7apy.iter().enumerate() {
        let users = table_users(doc, sources.dictionary[v].as_ref());
        let mut ours: BTreeMap<u16, (String, Vec<String>)> = BTreeMap::new();
        for (id, table) in doc["tables"].as_object().into_iter().flatten() {
            let Some(number) = table_number(id) else { continue };
            // `HL70025` wins over an odd `HL7025` for the same number.
            if ours.contains_key(&number) && id.len() != 7 {
                continue;
            }
            let codes = table["codes"].as_array().into_iter().flatten().filter_map(text);
            ours.insert(
                number,
                (clean_name(text(&table["name"]).unwrap_or("")), clean_codes(codes)),
            );
        }
        for (number, (name, codes)) in &ours {
            let data = line("hl7apy", kind(users.get(number)), name, codes);
            shared.add(&format!("{number:04}"), v, data);
        }
        for (id, table) in sources.dictionary_tables.as_object().into_iter().flatten() {
            let Ok(number) = id.parse::<u16>() else { continue };
            if ours.contains_key(&number) {
                continue;
            }
            let codes = table["values"].as_object().into_iter().flatten().map(|(c, _)| c.as_str());
            let name = clean_name(text(&table["desc"]).unwrap_or(""));
            let data = line("hl7-dictionary", kind(users.get(&number)), &name, &clean_codes(codes));
            shared.add(&format!("{number:04}"), v, data);
        }
    }
    Body { lines: shared.lines_sorted_by(str::to_string), notes: Vec::new() }
}

fn line(source: &str, kind: &str, name: &str, codes: &[String]) -> String {
    let mut data = format!("{kind} {source}\t{name}");
    for code in codes {
        data.push('\t');
        data.push_str(code);
    }
    data
}

/// Codes trimmed (a trailing space in a source is not part of a code), empty ones dropped,
/// each once, sorted: a table is a set of codes, and sorting lets versions whose sources list
/// the same codes in another order share a line.
fn clean_codes<'a>(codes: impl Iterator<Item = &'a str>) -> Vec<String> {
    let set: BTreeSet<String> =
        codes.map(|c| c.trim().replace('\t', " ")).filter(|c| !c.is_empty()).collect();
    set.into_iter().collect()
}

/// For each table number, the data types of the fields and components that use it.
fn table_users(doc: &Value, dictionary: Option<&Value>) -> BTreeMap<u16, BTreeSet<String>> {
    let mut users: BTreeMap<u16, BTreeSet<String>> = BTreeMap::new();
    for kind in ["fields", "components"] {
        for def in doc[kind].as_object().into_iter().flatten().map(|(_, d)| d) {
            if let (Some(table), Some(datatype)) =
                (text(&def["table"]).and_then(table_number), text(&def["datatype"]))
            {
                users.entry(table).or_default().insert(datatype.to_ascii_uppercase());
            }
        }
    }
    // The composites hl7-dictionary alone defines use tables too.
    let subfields = dictionary
        .and_then(|d| d["fields"].as_object())
        .into_iter()
        .flatten()
        .filter(|(name, _)| doc["datatypes"].get(name.as_str()).is_none())
        .flat_map(|(_, def)| def["subfields"].as_array().into_iter().flatten());
    for sub in subfields {
        if let (Some(table), Some(datatype)) = (sub["table"].as_u64(), text(&sub["datatype"])) {
            if let Ok(table) = u16::try_from(table) {
                users.entry(table).or_default().insert(datatype.to_ascii_uppercase());
            }
        }
    }
    users
}

/// The standard's rule (ch. 2, data types ID and IS): an ID value comes from an HL7-defined
/// table, an IS value from a user-defined one. Other users (CE, CWE, CNE...) say nothing.
fn kind(users: Option<&BTreeSet<String>>) -> &'static str {
    let Some(users) = users else { return "-" };
    let only = |t: &str| users.len() == 1 && users.contains(t);
    if only("ID") {
        "hl7"
    } else if only("IS") {
        "user"
    } else {
        "-"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_codes() {
        let set = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(kind(Some(&set(&["ID"]))), "hl7");
        assert_eq!(kind(Some(&set(&["IS"]))), "user");
        assert_eq!(kind(Some(&set(&["IS", "ID"]))), "-");
        assert_eq!(kind(Some(&set(&["CWE"]))), "-");
        assert_eq!(kind(None), "-");
        assert_eq!(clean_codes(["B", "A ", "", "A"].into_iter()), ["A", "B"]);
        assert_eq!(
            line("hl7apy", "user", "Sex", &["F".into(), "M".into()]),
            "user hl7apy\tSex\tF\tM"
        );
    }
}
