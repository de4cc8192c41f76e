//! The `--fault SPEC` text form: `KIND[:KEY=VALUE,...]`, e.g. `drop:dir=up,frame=3` or
//! `slice:dir=up,size=1,ms=2`. Pure parsing and printing; errors name the spec and the column.
//! The grammar table lives in the user guide (docs/howto/proxy.md, "Fault rules");
//! [`FaultSpec`]'s `Display` prints the canonical form, which parses back to the same spec.

use super::fault::{parse_for, Fault, Host};
use super::rule::{CorruptTarget, Directions, FaultKind, FaultSpec, TriggerPoint};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// A spec that does not parse: the spec, the 1-based column, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault spec {spec:?}, column {column}: {message}")]
pub struct SpecError {
    pub spec: String,
    pub column: usize,
    pub message: String,
}

const KINDS: &str = "drop, delay, duplicate, corrupt, latency, bandwidth, slice, half-close, \
                     reset, outage";
/// The proxy's kinds, in the order of [`FaultKind`].
pub(super) const PROXY_KINDS: [&str; 10] = [
    "drop",
    "delay",
    "duplicate",
    "corrupt",
    "latency",
    "bandwidth",
    "slice",
    "half-close",
    "reset",
    "outage",
];
const FILTER_KEYS: [&str; 4] = ["dir", "frame", "p", "type"];
/// Longest time a spec may name: time-based faults are meant to be short.
const MAX_MS: u64 = 3_600_000;
/// Largest slice, so a typo cannot ask for a buffer of any size.
const MAX_SLICE: usize = 1 << 20;

/// The keys each kind takes, required ones first.
pub(super) fn keys_of(kind: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    Some(match kind {
        "drop" | "duplicate" => (&[], &FILTER_KEYS),
        "delay" => (&["ms"], &FILTER_KEYS),
        "corrupt" => (&[], &["dir", "frame", "p", "type", "byte"]),
        "slice" => (&["size"], &["dir", "frame", "p", "type", "ms"]),
        "latency" => (&["ms"], &["dir"]),
        "bandwidth" => (&["bps"], &["dir"]),
        "half-close" | "reset" => (&[], &["dir", "after", "bytes"]),
        "outage" => (&["ms"], &["dir", "after"]),
        _ => return None,
    })
}

/// Parses one spec for the proxy: a rule, or, for a fault of another host (`coalesce`,
/// `no_ack`), a refusal at column 1 naming the fault and the proxy. Surrounding whitespace is
/// ignored (columns count from the first other character); nothing else is.
pub fn parse_spec(text: &str) -> Result<FaultSpec, SpecError> {
    match parse_for(text, Host::Proxy)? {
        Fault::Proxy(spec) => Ok(spec),
        other => unreachable!("the proxy accepted {other:?}, which is not a proxy rule"),
    }
}

/// Parses the text of a proxy rule (the grammar above), for [`super::fault`].
pub(super) fn parse_rule(text: &str) -> Result<FaultSpec, SpecError> {
    let spec = text.trim();
    let fail = |at: usize, message: String| SpecError {
        spec: spec.to_string(),
        column: spec[..at.min(spec.len())].chars().count() + 1,
        message,
    };
    if spec.is_empty() {
        return Err(fail(0, "empty fault spec; expected KIND[:KEY=VALUE,...]".into()));
    }
    let (kind, rest, rest_at) = match spec.split_once(':') {
        Some((kind, rest)) => (kind, rest, kind.len() + 1),
        None => (spec, "", spec.len()),
    };
    let Some((required, optional)) = keys_of(kind) else {
        return Err(fail(0, format!("unknown fault kind {kind:?}; expected one of {KINDS}")));
    };
    let mut values: Vec<(&str, &str, usize)> = Vec::new();
    if spec.contains(':') {
        let mut at = rest_at;
        for item in rest.split(',') {
            let Some((key, value)) = item.split_once('=') else {
                return Err(fail(at, format!("expected KEY=VALUE, found {item:?}")));
            };
            if !required.contains(&key) && !optional.contains(&key) {
                let takes: Vec<&str> = required.iter().chain(optional).copied().collect();
                return Err(fail(
                    at,
                    format!("{kind} takes no key {key:?}; it takes {}", takes.join(", ")),
                ));
            }
            if values.iter().any(|(k, _, _)| *k == key) {
                return Err(fail(at, format!("key {key:?} given twice")));
            }
            values.push((key, value, at + key.len() + 1));
            at += item.len() + 1;
        }
    }
    for key in required {
        if !values.iter().any(|(k, _, _)| k == key) {
            return Err(fail(spec.len(), format!("{kind} needs {key}=…")));
        }
    }
    if kind == "half-close" || kind == "reset" {
        let points: Vec<usize> = values
            .iter()
            .filter(|(k, _, _)| *k == "after" || *k == "bytes")
            .map(|(k, _, at)| at - k.len() - 1)
            .collect();
        match points.as_slice() {
            [] => return Err(fail(spec.len(), format!("{kind} needs after=… or bytes=…"))),
            [_] => {}
            [_, second, ..] => {
                return Err(fail(*second, "give after=… or bytes=…, not both".to_string()))
            }
        }
    }
    let mut parsed = Parsed::default();
    for (key, value, at) in values {
        parsed.set(key, value).map_err(|message| fail(at, message))?;
    }
    let kind = match kind {
        "drop" => FaultKind::Drop,
        "duplicate" => FaultKind::Duplicate,
        "delay" => FaultKind::Delay(parsed.ms.unwrap_or_default()),
        "corrupt" => FaultKind::Corrupt(parsed.byte.unwrap_or(CorruptTarget::Random)),
        "slice" => FaultKind::Slice {
            size: parsed.size.unwrap_or(1),
            pause: parsed.ms.unwrap_or_default(),
        },
        "latency" => FaultKind::Latency(parsed.ms.unwrap_or_default()),
        "bandwidth" => FaultKind::Bandwidth(parsed.bps.unwrap_or(1)),
        "half-close" | "reset" => {
            let at = match (parsed.after, parsed.bytes) {
                (_, Some(bytes)) => TriggerPoint::AfterBytes(bytes),
                (after, None) => TriggerPoint::AfterFrame(after.unwrap_or(1)),
            };
            if kind == "reset" {
                FaultKind::Reset { at }
            } else {
                FaultKind::HalfClose { at }
            }
        }
        _ => FaultKind::Outage { after: parsed.after, length: parsed.ms.unwrap_or_default() },
    };
    Ok(FaultSpec {
        kind,
        dir: parsed.dir.unwrap_or(Directions::Both),
        frame: parsed.frame,
        probability: parsed.p,
        message_type: parsed.message_type,
    })
}

/// Values as read, before they are placed into a [`FaultKind`].
#[derive(Default)]
struct Parsed {
    dir: Option<Directions>,
    frame: Option<u64>,
    p: Option<f64>,
    message_type: Option<String>,
    ms: Option<Duration>,
    bps: Option<u64>,
    size: Option<usize>,
    after: Option<u64>,
    bytes: Option<u64>,
    byte: Option<CorruptTarget>,
}

fn count(value: &str, what: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if n >= 1 && value.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!("{what} must be a whole number from 1, found {value:?}")),
    }
}

impl Parsed {
    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "dir" => {
                self.dir = Some(match value {
                    "up" => Directions::Up,
                    "down" => Directions::Down,
                    "both" => Directions::Both,
                    _ => return Err(format!("dir must be up, down or both, found {value:?}")),
                })
            }
            "frame" => self.frame = Some(count(value, "frame")?),
            "after" => self.after = Some(count(value, "after")?),
            "bytes" => self.bytes = Some(count(value, "bytes")?),
            "bps" => self.bps = Some(count(value, "bps (bytes per second)")?),
            "size" => {
                let size = count(value, "size")?;
                if size > MAX_SLICE as u64 {
                    return Err(format!("size must be at most {MAX_SLICE}, found {value}"));
                }
                self.size = Some(size as usize);
            }
            "ms" => {
                let ok = value.bytes().all(|b| b.is_ascii_digit());
                match value.parse::<u64>() {
                    Ok(ms) if ok && ms <= MAX_MS => self.ms = Some(Duration::from_millis(ms)),
                    _ => {
                        return Err(format!(
                            "ms must be milliseconds from 0 to {MAX_MS}, found {value:?}"
                        ))
                    }
                }
            }
            "p" => {
                let ok =
                    !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit() || b == b'.');
                match value.parse::<f64>() {
                    Ok(p) if ok && (0.0..=1.0).contains(&p) => self.p = Some(p),
                    _ => {
                        return Err(format!("p must be a probability from 0 to 1, found {value:?}"))
                    }
                }
            }
            "type" => {
                let ok = !value.is_empty()
                    && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'^' || b == b'_');
                if !ok {
                    return Err(format!(
                        "type must be MSH-9 components such as ADT^A08 or ACK, found {value:?}"
                    ));
                }
                self.message_type = Some(value.to_string());
            }
            "byte" => {
                self.byte = Some(match value {
                    "random" => CorruptTarget::Random,
                    "msa2" => CorruptTarget::Msa2,
                    "msh10" => CorruptTarget::Msh10,
                    _ if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                        let index = value
                            .parse::<usize>()
                            .map_err(|_| format!("byte index {value:?} is too large"))?;
                        CorruptTarget::Byte(index)
                    }
                    _ => {
                        return Err(format!(
                            "byte must be a payload index, random, msa2 or msh10, found {value:?}"
                        ))
                    }
                })
            }
            _ => return Err(format!("unknown key {key:?}")),
        }
        Ok(())
    }
}

impl fmt::Display for FaultSpec {
    /// The canonical form: kind, then its own keys, then dir and the frame filters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<String> = Vec::new();
        match &self.kind {
            FaultKind::Drop | FaultKind::Duplicate => {}
            FaultKind::Delay(d) | FaultKind::Latency(d) => {
                keys.push(format!("ms={}", d.as_millis()))
            }
            FaultKind::Corrupt(target) => keys.push(match target {
                CorruptTarget::Byte(n) => format!("byte={n}"),
                CorruptTarget::Random => "byte=random".into(),
                CorruptTarget::Msa2 => "byte=msa2".into(),
                CorruptTarget::Msh10 => "byte=msh10".into(),
            }),
            FaultKind::Bandwidth(bps) => keys.push(format!("bps={bps}")),
            FaultKind::Slice { size, pause } => {
                keys.push(format!("size={size}"));
                keys.push(format!("ms={}", pause.as_millis()));
            }
            FaultKind::HalfClose { at } | FaultKind::Reset { at } => keys.push(match at {
                TriggerPoint::AfterFrame(n) => format!("after={n}"),
                TriggerPoint::AfterBytes(n) => format!("bytes={n}"),
            }),
            FaultKind::Outage { after, length } => {
                keys.push(format!("ms={}", length.as_millis()));
                if let Some(after) = after {
                    keys.push(format!("after={after}"));
                }
            }
        }
        keys.push(format!("dir={}", self.dir.name()));
        if let Some(frame) = self.frame {
            keys.push(format!("frame={frame}"));
        }
        if let Some(p) = self.probability {
            keys.push(format!("p={p}"));
        }
        if let Some(t) = &self.message_type {
            keys.push(format!("type={t}"));
        }
        write!(f, "{}:{}", self.kind.name(), keys.join(","))
    }
}

/// One value of a rule in YAML: a number or a word.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Count(u64),
    Fraction(f64),
    Word(String),
}

/// A rule as YAML writes it: `drop`, or `{drop: {dir: up, frame: 3}}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RuleYaml {
    Bare(String),
    Keyed(BTreeMap<String, BTreeMap<String, Scalar>>),
}

impl<'de> Deserialize<'de> for FaultSpec {
    /// The YAML spelling of a rule, read through the same grammar as its text: the keys and
    /// values are those of `--fault`, so `{slice: {size: 1, ms: 2}}` is `slice:size=1,ms=2`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let text = match RuleYaml::deserialize(d)? {
            RuleYaml::Bare(kind) => kind,
            RuleYaml::Keyed(map) => {
                let mut entries = map.into_iter();
                let (Some((kind, keys)), None) = (entries.next(), entries.next()) else {
                    return Err(D::Error::custom("a proxy rule is one kind with its keys"));
                };
                let keys: Vec<String> = keys
                    .into_iter()
                    .map(|(key, value)| match value {
                        Scalar::Count(n) => format!("{key}={n}"),
                        Scalar::Fraction(p) => format!("{key}={p}"),
                        Scalar::Word(w) => format!("{key}={w}"),
                    })
                    .collect();
                if keys.is_empty() {
                    kind
                } else {
                    format!("{kind}:{}", keys.join(","))
                }
            }
        };
        parse_spec(&text).map_err(D::Error::custom)
    }
}

impl Serialize for FaultSpec {
    /// The YAML spelling of the canonical text: `{kind: {key: value, ...}}`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let text = self.to_string();
        let (kind, rest) = text.split_once(':').unwrap_or((&text, ""));
        let mut keys = BTreeMap::new();
        for item in rest.split(',').filter(|item| !item.is_empty()) {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            let value = match (value.parse::<u64>(), value.parse::<f64>()) {
                (Ok(n), _) => serde_json::Value::from(n),
                (_, Ok(p)) if key == "p" => serde_json::Value::from(p),
                _ => serde_json::Value::from(value),
            };
            keys.insert(key.to_string(), value);
        }
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(kind, &keys)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` parses and prints as `canonical`, which parses back to the same spec.
    fn check(text: &str, canonical: &str) {
        let spec = parse_spec(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(spec.to_string(), canonical, "{text}");
        assert_eq!(parse_spec(canonical).unwrap(), spec, "{canonical} parses back");
    }

    /// `text` fails at `column` with a message containing `words`.
    fn check_err(text: &str, column: usize, words: &str) {
        let err = parse_spec(text).expect_err(text);
        assert_eq!(err.column, column, "{text}: {err}");
        assert!(err.message.contains(words), "{text}: {err}");
        assert!(err.to_string().contains(&format!("{:?}", text.trim())), "{err}");
    }

    #[test]
    fn good_specs() {
        check("drop:dir=up,frame=3", "drop:dir=up,frame=3");
        check("drop:dir=down,p=0.1", "drop:dir=down,p=0.1");
        check("drop", "drop:dir=both");
        check("delay:dir=down,ms=500,type=ADT^A08", "delay:ms=500,dir=down,type=ADT^A08");
        check("duplicate:dir=down,frame=2", "duplicate:dir=down,frame=2");
        check("corrupt:dir=up,frame=1,byte=msa2", "corrupt:byte=msa2,dir=up,frame=1");
        check("corrupt:byte=17", "corrupt:byte=17,dir=both");
        check("corrupt", "corrupt:byte=random,dir=both");
        check("latency:dir=both,ms=50", "latency:ms=50,dir=both");
        check("bandwidth:dir=up,bps=2000", "bandwidth:bps=2000,dir=up");
        check("slice:dir=up,size=1,ms=2", "slice:size=1,ms=2,dir=up");
        check("half-close:after=5", "half-close:after=5,dir=both");
        check("reset:after=3,dir=down", "reset:after=3,dir=down");
        check("reset:dir=up,bytes=100", "reset:bytes=100,dir=up");
        check("half-close:bytes=1", "half-close:bytes=1,dir=both");
        check("outage:after=10,ms=2000", "outage:ms=2000,after=10,dir=both");
        check("  outage:ms=5 ", "outage:ms=5,dir=both");
        check("drop:p=1,type=ACK", "drop:dir=both,p=1,type=ACK");
    }

    #[test]
    fn bad_specs_name_the_column() {
        check_err("", 1, "empty");
        check_err("explode:frame=1", 1, "unknown fault kind");
        check_err("drop:dir=sideways", 10, "dir must be");
        check_err("drop:frame=0", 12, "from 1");
        check_err("drop:frame=x", 12, "from 1");
        check_err("drop:frame=+3", 12, "from 1");
        check_err("drop:ms=5", 6, "drop takes no key \"ms\"");
        check_err("drop:frame=1,frame=2", 14, "twice");
        check_err("drop:frame", 6, "KEY=VALUE");
        check_err("drop:", 6, "KEY=VALUE");
        check_err("drop:frame=1,", 14, "KEY=VALUE");
        check_err("delay:dir=up", 13, "delay needs ms");
        check_err("delay:ms=-1", 10, "milliseconds");
        check_err("delay:ms=99999999", 10, "milliseconds");
        check_err("drop:p=1.5", 8, "probability");
        check_err("drop:p=NaN", 8, "probability");
        check_err("drop:type=ADT A08", 11, "MSH-9");
        check_err("corrupt:byte=msa3", 14, "byte must be");
        check_err("slice:size=0", 12, "from 1");
        check_err("slice:size=9999999", 12, "at most");
        check_err("reset", 6, "reset needs after=… or bytes=…");
        check_err("reset:after=1,bytes=2", 15, "not both");
        check_err("half-close:bytes=0", 18, "from 1");
        check_err("outage:after=1", 15, "outage needs ms");
        check_err("bandwidth:bps=0", 15, "bytes per second");
        check_err("latency:ms=5,frame=2", 14, "latency takes no key");
    }

    proptest::proptest! {
        /// The fuzz target's property (`fuzz/fuzz_targets/proxy_spec.rs`) over text built from
        /// the grammar's own pieces, so most inputs get past the kind: no panic, the column
        /// lies within the spec, and an accepted spec prints canonically and parses back.
        #[test]
        fn column_in_range_and_canonical_round_trip(
            text in "(drop|delay|corrupt|slice|latency|bandwidth|half-close|reset|outage|x)(:((dir|frame|p|type|ms|bps|size|after|bytes|byte|q)=(up|down|both|0|1|7|0\\.5|1\\.5|ADT\\^A08|msa2|random|-|)(,|)){0,4})?"
        ) {
            match parse_spec(&text) {
                Ok(spec) => {
                    let shown = spec.to_string();
                    let again = parse_spec(&shown).expect("the canonical form parses");
                    proptest::prop_assert_eq!(&again, &spec);
                    proptest::prop_assert_eq!(again.to_string(), shown);
                }
                Err(err) => {
                    proptest::prop_assert!(err.column >= 1 && err.column <= text.chars().count() + 1);
                }
            }
        }
    }
}
