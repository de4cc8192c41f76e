//! The documentation table of every fault: its name, its YAML and its text spelling, and the
//! hosts that apply it, built from the same tables the parsers read (so the reference page
//! `cargo xtask schema` writes cannot drift from the code). Pure.

use super::fault::{Family, Host};
use super::spec::{keys_of, PROXY_KINDS};
use super::text::{Key, Shape, ANSWER_KINDS, CLIENT_KINDS};

/// One fault as the reference lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRow {
    pub name: &'static str,
    pub family: Family,
    /// The YAML spelling with every key (placeholders for values).
    pub yaml: String,
    /// The text spelling with every key.
    pub text: String,
    /// The hosts that apply it, as [`Host::short`] names them.
    pub hosts: Vec<&'static str>,
}

/// A key with its placeholder value in YAML and in text.
type Sampled<'a> = (&'a str, (&'a str, &'a str));

/// A placeholder value of a client or answer key: in YAML, in text (they differ only for
/// bytes, which YAML quotes and text escapes).
fn sample(ty: Key) -> (&'static str, &'static str) {
    match ty {
        Key::Count => ("N", "N"),
        Key::Bool => ("true", "true"),
        Key::Span => ("1s", "1s"),
        Key::Bytes => ("\"\\r\\n\"", "\\r\\n"),
        Key::Code(codes) => {
            let code = codes.first().copied().unwrap_or("?");
            (code, code)
        }
    }
}

/// A placeholder value of a proxy key.
fn proxy_sample(key: &str) -> &'static str {
    match key {
        "dir" => "up",
        "p" => "0.5",
        "type" => "ADT^A08",
        "byte" => "msa2",
        _ => "N",
    }
}

/// `name`, `name: value`, or `name: {k: v, ...}` and the matching text; each key with its
/// YAML and its text placeholder.
fn spellings(name: &str, keys: &[Sampled<'_>], bare_value: bool) -> (String, String) {
    if keys.is_empty() {
        return (name.to_string(), name.to_string());
    }
    let text = keys.iter().map(|(k, (_, v))| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    let yaml = if bare_value {
        format!("{name}: {}", keys[0].1 .0)
    } else {
        let pairs = keys.iter().map(|(k, (v, _))| format!("{k}: {v}")).collect::<Vec<_>>();
        format!("{name}: {{{}}}", pairs.join(", "))
    };
    (yaml, format!("{name}:{text}"))
}

fn row(name: &'static str, family: Family, (yaml, text): (String, String)) -> FaultRow {
    let hosts = Host::ALL
        .into_iter()
        .filter(|host| host.family() == family && host.applies().contains(&name))
        .map(Host::short)
        .collect();
    FaultRow { name, family, yaml, text, hosts }
}

/// Every fault of every family: the client's, the receiver answers, the proxy's.
pub fn fault_table() -> Vec<FaultRow> {
    let mut rows = Vec::new();
    for (family, table) in [(Family::Client, CLIENT_KINDS), (Family::Answer, ANSWER_KINDS)] {
        for (name, shape) in table {
            let (keys, bare): (Vec<Sampled<'_>>, bool) = match shape {
                Shape::Unit => (Vec::new(), false),
                Shape::Struct(keys, _) => {
                    (keys.iter().map(|(k, t)| (*k, sample(*t))).collect(), false)
                }
                Shape::Newtype(key, ty, _) => (vec![(*key, sample(*ty))], true),
            };
            rows.push(row(name, family, spellings(name, &keys, bare)));
        }
    }
    for name in PROXY_KINDS {
        let (required, optional) = keys_of(name).expect("every proxy kind has keys");
        let keys: Vec<Sampled<'_>> = required
            .iter()
            .chain(optional)
            .map(|k| (*k, (proxy_sample(k), proxy_sample(k))))
            .collect();
        rows.push(row(name, Family::Proxy, spellings(name, &keys, false)));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::fault::parse_fault;
    use crate::faults::network::tests::yaml;
    use crate::faults::{Answer, FaultSpec, NetworkFault};

    /// Every row's spellings, with the placeholders filled, are read by both parsers and give
    /// the same value.
    #[test]
    fn every_row_spells_one_value_twice() {
        let rows = fault_table();
        assert_eq!(rows.len(), 17 + 11 + 10);
        for row in rows {
            let fill = |s: &str| s.replace("=N", "=3").replace(": N", ": 3");
            let (text, yaml_text) = (fill(&row.text), fill(&row.yaml));
            let host = match row.family {
                Family::Client if row.name == "bad_checksum" => Host::HllpClient,
                Family::Client => Host::MllpClient,
                Family::Answer => Host::Answering,
                Family::Proxy => Host::Proxy,
            };
            // `reset` on the proxy takes after or bytes, not both; the client's one trigger.
            let text = text.replace(",bytes=3", "").replace(",mid_frame=true,after_acks=3", "");
            let yaml_text =
                yaml_text.replace(", bytes: 3", "").replace(", mid_frame: true, after_acks: 3", "");
            let fault = parse_fault(&text, host).unwrap_or_else(|e| panic!("{text}: {e}"));
            let from_yaml = match row.family {
                Family::Client => yaml::<NetworkFault>(&yaml_text).map(super::super::Fault::Client),
                Family::Answer => yaml::<Answer>(&yaml_text).map(super::super::Fault::Answer),
                Family::Proxy => yaml::<FaultSpec>(&yaml_text).map(super::super::Fault::Proxy),
            }
            .unwrap_or_else(|e| panic!("{yaml_text}: {e}"));
            assert_eq!(fault, from_yaml, "{text} / {yaml_text}");
            assert!(!row.hosts.is_empty() || row.family == Family::Client, "{}", row.name);
        }
    }
}
