//! One value for a fault, whichever syntax wrote it, and the hosts that apply faults. A
//! scenario's `network:` entry, a receiver case's `answers:` entry and the proxy's `--fault SPEC`
//! all become a [`Fault`]; the YAML and the text are two spellings of the same values (the
//! words are the same: `fragment:size=1,delay=5ms` is `{fragment: {size: 1, delay: 5ms}}`).
//! Each [`Host`] states which faults it can apply, and refuses the others by name when the
//! fault is read, so no fault is ever silently skipped. Pure.

use super::answer::Answer;
use super::network::NetworkFault;
use super::rule::FaultSpec;
use super::spec::{parse_rule, SpecError, PROXY_KINDS};
use super::text::{client_kinds, parse_answer, parse_client, ANSWER_KINDS};
use std::fmt;

/// One fault, as any of the three hosts can hold it. The variant says which host applies it;
/// [`Host::check`] refuses a fault its host cannot apply.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The harness as a misbehaving client (a scenario's `network:` entry).
    Client(NetworkFault),
    /// How the receiver role answers one arrival (a receiver case's `answers:` entry).
    Answer(Answer),
    /// A rule of the proxy between two real systems (`--fault SPEC`, the control API).
    Proxy(FaultSpec),
}

/// The three families of faults, by the host that applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Client,
    Answer,
    Proxy,
}

impl Family {
    /// The family as the refusal names it.
    fn described(self) -> &'static str {
        match self {
            Family::Client => "a client fault",
            Family::Answer => "a receiver answer",
            Family::Proxy => "a proxy fault",
        }
    }
}

/// A place in the harness that carries faults out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// The runner's client connection to an MLLP target (`network:` faults but `bad_checksum`).
    MllpClient,
    /// The runner's client connection to an HLLP target: only `bad_checksum` (the other
    /// `network:` faults shape MLLP frames).
    HllpClient,
    /// The runner's HTTP client: no `network:` fault applies to an HTTP exchange.
    HttpClient,
    /// The receiver role's answering server (`answers:`).
    Answering,
    /// The receiver role's answering server over HTTP (`receiver.http`): one answer per
    /// request, so only the answers a response (or its absence) can carry; `duplicate_ack`,
    /// `reset` and the packet-level answers are refused.
    HttpAnswering,
    /// The proxy (`--fault`, the control API).
    Proxy,
}

impl Host {
    /// Every host, for the documentation table and the tests.
    pub const ALL: [Host; 6] = [
        Host::MllpClient,
        Host::HllpClient,
        Host::HttpClient,
        Host::Answering,
        Host::HttpAnswering,
        Host::Proxy,
    ];

    /// The host as an error names it.
    pub fn name(self) -> &'static str {
        match self {
            Host::MllpClient => "the client connection over MLLP",
            Host::HllpClient => "the client connection over HLLP",
            Host::HttpClient => "the client connection over HTTP",
            Host::Answering => "the receiver role's answering server",
            Host::HttpAnswering => "the receiver role's HTTP answering server",
            Host::Proxy => "the proxy",
        }
    }

    /// The host as the reference table names it.
    pub fn short(self) -> &'static str {
        match self {
            Host::MllpClient => "client (MLLP)",
            Host::HllpClient => "client (HLLP)",
            Host::HttpClient => "client (HTTP)",
            Host::Answering => "receiver role",
            Host::HttpAnswering => "receiver role (HTTP)",
            Host::Proxy => "proxy",
        }
    }

    /// The family whose words this host reads first where two families share a word
    /// (`reset`, `blackhole`).
    pub(super) fn family(self) -> Family {
        match self {
            Host::MllpClient | Host::HllpClient | Host::HttpClient => Family::Client,
            Host::Answering | Host::HttpAnswering => Family::Answer,
            Host::Proxy => Family::Proxy,
        }
    }

    /// Whether this host can carry `fault` out.
    pub fn can_apply(self, fault: &Fault) -> bool {
        match (self, fault) {
            (Host::MllpClient, Fault::Client(f)) => *f != NetworkFault::BadChecksum,
            (Host::HllpClient, Fault::Client(f)) => *f == NetworkFault::BadChecksum,
            (Host::Answering, Fault::Answer(_)) | (Host::Proxy, Fault::Proxy(_)) => true,
            (Host::HttpAnswering, Fault::Answer(a)) => HTTP_ANSWERS.contains(&a.name()),
            _ => false,
        }
    }

    /// `Ok` when this host can carry `fault` out; otherwise the refusal naming both.
    pub fn check(self, fault: &Fault) -> Result<(), HostError> {
        if self.can_apply(fault) {
            return Ok(());
        }
        Err(HostError::Refused {
            fault: fault.name().to_string(),
            family: fault.family().described(),
            host: self.name(),
        })
    }

    /// The fault names this host applies, in the order of its own vocabulary (the published
    /// names, as both spellings write them).
    pub fn applies(self) -> Vec<&'static str> {
        match self {
            Host::MllpClient => client_kinds().filter(|k| *k != "bad_checksum").collect(),
            Host::HllpClient => vec!["bad_checksum"],
            Host::HttpClient => Vec::new(),
            Host::Answering => ANSWER_KINDS.iter().map(|(k, _)| *k).collect(),
            Host::HttpAnswering => {
                ANSWER_KINDS.iter().map(|(k, _)| *k).filter(|k| HTTP_ANSWERS.contains(k)).collect()
            }
            Host::Proxy => PROXY_KINDS.to_vec(),
        }
    }
}

/// The answers an HTTP response can carry: an ACK in the body (AA, AE, AR, judged as
/// specified, with a wrong MSA-2, late), none (the request held until the sender gives up),
/// or the connection closed without a response. A second ACK for one request, a reset (hyper
/// owns the socket) and the packet-level answers have no HTTP form.
const HTTP_ANSWERS: [&str; 7] =
    ["ack", "no_ack", "late_ack", "wrong_msa2", "nak", "close", "as_specified"];

/// A fault given to a host that cannot carry it out. Raised where the fault is read (scenario
/// load, `--fault`, the control API), never later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("`{fault}` is {family}; {host} cannot apply it")]
    Refused { fault: String, family: &'static str, host: &'static str },
}

impl Fault {
    /// The fault's published name, the same in YAML and in text.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Client(f) => f.name(),
            Fault::Answer(a) => a.name(),
            Fault::Proxy(spec) => spec.kind.name(),
        }
    }

    /// The family the fault belongs to, and so the host that reads its words first.
    pub fn family(&self) -> Family {
        match self {
            Fault::Client(_) => Family::Client,
            Fault::Answer(_) => Family::Answer,
            Fault::Proxy(_) => Family::Proxy,
        }
    }
}

/// The families that use `kind` as a word, in the order `host` reads them: its own family
/// first, then the client's, the answers', the proxy's.
fn families_of(kind: &str, host: Host) -> Vec<Family> {
    let order = [host.family(), Family::Client, Family::Answer, Family::Proxy];
    let mut out: Vec<Family> = Vec::new();
    for family in order {
        let known = match family {
            Family::Client => client_kinds().any(|k| k == kind),
            Family::Answer => ANSWER_KINDS.iter().any(|(k, _)| *k == kind),
            Family::Proxy => PROXY_KINDS.contains(&kind),
        };
        if known && !out.contains(&family) {
            out.push(family);
        }
    }
    out
}

/// The kind word of a text spec (before the first `:`), trimmed.
fn kind_of(text: &str) -> &str {
    let spec = text.trim();
    spec.split_once(':').map_or(spec, |(kind, _)| kind)
}

/// Parses the text form of any fault: `KIND[:KEY=VALUE,...]`. Where two families share a word
/// (`reset` is a client fault, a receiver answer and a proxy rule), `host` decides: its own
/// family's meaning comes first. The fault is not checked against the host: see
/// [`parse_for`].
pub fn parse_fault(text: &str, host: Host) -> Result<Fault, SpecError> {
    let kind = kind_of(text);
    match families_of(kind, host).first() {
        Some(Family::Client) => parse_client(text).map(Fault::Client),
        Some(Family::Answer) => parse_answer(text).map(Fault::Answer),
        // The proxy's grammar also gives the errors for an empty or unknown kind.
        Some(Family::Proxy) | None => parse_rule(text).map(Fault::Proxy),
    }
}

/// Parses a fault for `host` and refuses, at column 1, one the host cannot apply (by its
/// word alone, before its keys are read: the refusal is the useful message).
pub fn parse_for(text: &str, host: Host) -> Result<Fault, SpecError> {
    let kind = kind_of(text);
    let families = families_of(kind, host);
    if let Some(family) = families.first().filter(|f| **f != host.family()) {
        let err = HostError::Refused {
            fault: kind.to_string(),
            family: family.described(),
            host: host.name(),
        };
        return Err(SpecError {
            spec: text.trim().to_string(),
            column: 1,
            message: err.to_string(),
        });
    }
    let fault = parse_fault(text, host)?;
    host.check(&fault).map_err(|err| SpecError {
        spec: text.trim().to_string(),
        column: 1,
        message: err.to_string(),
    })?;
    Ok(fault)
}

/// For a word a YAML list of one host's faults does not know (`network: [drop]`, `answers:
/// [coalesce]`), given the words the list expected: the family the word belongs to and that
/// the list's host cannot apply it, as a hint for the load error. `None` for a word no family
/// knows (a typo: the loader suggests the nearest word instead).
pub fn foreign_word_hint(given: &str, expected: &[&str]) -> Option<String> {
    let (own, host) = if expected.contains(&"fragment") {
        (Family::Client, "the client connection")
    } else if expected.contains(&"no_ack") {
        (Family::Answer, Host::Answering.name())
    } else {
        return None;
    };
    let family = families_of(given, Host::Proxy).into_iter().find(|f| *f != own)?;
    Some(format!(" (`{given}` is {}; {host} cannot apply it)", family.described()))
}

impl fmt::Display for Fault {
    /// The canonical text form, which [`parse_fault`] reads back to the same fault (with the
    /// host of the fault's family).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Client(fault) => f.write_str(&super::text::print_client(fault)),
            Fault::Answer(answer) => f.write_str(&super::text::print_answer(answer)),
            Fault::Proxy(spec) => spec.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::network::tests::yaml;

    /// The host a fault's own family reads with.
    fn home(fault: &Fault) -> Host {
        match fault {
            Fault::Client(NetworkFault::BadChecksum) => Host::HllpClient,
            Fault::Client(_) => Host::MllpClient,
            Fault::Answer(_) => Host::Answering,
            Fault::Proxy(_) => Host::Proxy,
        }
    }

    /// `text` read by `host` gives `yaml` read as the host's YAML type, prints as `canonical`,
    /// and `canonical` reads back to the same value.
    fn check(host: Host, text: &str, yaml_text: &str, canonical: &str) {
        let fault = parse_for(text, host).unwrap_or_else(|e| panic!("{text}: {e}"));
        let from_yaml = match host {
            Host::Answering => Fault::Answer(yaml(yaml_text).expect(yaml_text)),
            Host::Proxy => Fault::Proxy(yaml(yaml_text).expect(yaml_text)),
            _ => Fault::Client(yaml(yaml_text).expect(yaml_text)),
        };
        assert_eq!(fault, from_yaml, "{text} and {yaml_text}");
        assert_eq!(fault.to_string(), canonical, "{text}");
        assert_eq!(parse_fault(canonical, home(&fault)).unwrap(), fault, "{canonical}");
    }

    #[test]
    fn text_and_yaml_are_two_spellings_of_one_value() {
        use Host::*;
        check(
            MllpClient,
            "fragment:size=1,delay=5ms",
            "fragment: {size: 1, delay: 5ms}",
            "fragment:size=1,delay=5ms",
        );
        check(
            MllpClient,
            "fragment:max_size=9,size=2",
            "fragment: {size: 2, max_size: 9}",
            "fragment:size=2,max_size=9",
        );
        check(MllpClient, "coalesce", "coalesce", "coalesce");
        check(MllpClient, "pipeline", "pipeline", "pipeline");
        check(MllpClient, "half_close", "half_close", "half_close");
        check(
            MllpClient,
            "slow:bytes_per_second=100",
            "slow: {bytes_per_second: 100}",
            "slow:bytes_per_second=100",
        );
        check(MllpClient, "close_before_ack", "close_before_ack", "close_before_ack");
        check(MllpClient, "reset", "reset: {}", "reset");
        check(MllpClient, "reset:offset=4", "reset: {offset: 4}", "reset:offset=4");
        check(
            MllpClient,
            "reset:mid_frame=true",
            "reset: {mid_frame: true}",
            "reset:mid_frame=true",
        );
        check(MllpClient, "reset:after_acks=2", "reset: {after_acks: 2}", "reset:after_acks=2");
        check(MllpClient, "bytes_before_frame", "bytes_before_frame: null", "bytes_before_frame");
        check(
            MllpClient,
            "bytes_before_frame:bytes=junk",
            "bytes_before_frame: junk",
            "bytes_before_frame:bytes=junk",
        );
        check(
            MllpClient,
            r"bytes_between_frames:bytes=\r\n\,=\x00",
            "bytes_between_frames: \"\\r\\n,=\\0\"",
            r"bytes_between_frames:bytes=\r\n\,=\x00",
        );
        check(
            MllpClient,
            "bytes_before_frame:bytes=123",
            "bytes_before_frame: \"123\"",
            "bytes_before_frame:bytes=123",
        );
        check(MllpClient, "missing_trailer_cr", "missing_trailer_cr", "missing_trailer_cr");
        check(MllpClient, "lf_segments", "lf_segments", "lf_segments");
        check(MllpClient, "oversized", "oversized: {}", "oversized");
        check(
            MllpClient,
            "oversized:bytes=1000",
            "oversized: {bytes: 1000}",
            "oversized:bytes=1000",
        );
        check(
            MllpClient,
            "unterminated:silence=2s",
            "unterminated: {silence: 2s}",
            "unterminated:silence=2000ms",
        );
        check(MllpClient, "idle:for=200ms", "idle: 200ms", "idle:for=200ms");
        check(MllpClient, "storm:connections=5", "storm: {connections: 5}", "storm:connections=5");
        check(HllpClient, "bad_checksum", "bad_checksum", "bad_checksum");
        check(MllpClient, "blackhole", "blackhole: {}", "blackhole");
        check(MllpClient, "blackhole:offset=3", "blackhole: {offset: 3}", "blackhole:offset=3");
        check(Answering, "ack", "ack", "ack");
        check(Answering, "no_ack", "no_ack", "no_ack");
        check(Answering, "late_ack:delay=2s", "late_ack: 2s", "late_ack:delay=2000ms");
        check(Answering, "duplicate_ack", "duplicate_ack", "duplicate_ack");
        check(Answering, "wrong_msa2", "wrong_msa2", "wrong_msa2");
        check(Answering, "nak:code=AR", "nak: AR", "nak:code=AR");
        check(Answering, "close", "close", "close");
        check(Answering, "reset", "reset", "reset");
        check(Answering, "silent_peer", "silent_peer", "silent_peer");
        check(Answering, "blackhole:for=1s", "blackhole: 1s", "blackhole:for=1000ms");
        check(Answering, "as_specified", "as_specified", "as_specified");
        check(Proxy, "drop:dir=up,frame=3", "drop: {dir: up, frame: 3}", "drop:dir=up,frame=3");
        check(Proxy, "drop", "drop", "drop:dir=both");
        check(
            Proxy,
            "delay:ms=500,type=ADT^A08",
            "delay: {ms: 500, type: ADT^A08}",
            "delay:ms=500,dir=both,type=ADT^A08",
        );
        check(Proxy, "duplicate:p=0.5", "duplicate: {p: 0.5}", "duplicate:dir=both,p=0.5");
        check(Proxy, "corrupt:byte=msa2", "corrupt: {byte: msa2}", "corrupt:byte=msa2,dir=both");
        check(Proxy, "corrupt:byte=17", "corrupt: {byte: 17}", "corrupt:byte=17,dir=both");
        check(Proxy, "latency:ms=50", "latency: {ms: 50}", "latency:ms=50,dir=both");
        check(Proxy, "bandwidth:bps=2000", "bandwidth: {bps: 2000}", "bandwidth:bps=2000,dir=both");
        check(Proxy, "slice:size=1,ms=2", "slice: {size: 1, ms: 2}", "slice:size=1,ms=2,dir=both");
        check(Proxy, "half-close:after=5", "half-close: {after: 5}", "half-close:after=5,dir=both");
        check(
            Proxy,
            "reset:bytes=100,dir=up",
            "reset: {bytes: 100, dir: up}",
            "reset:bytes=100,dir=up",
        );
        check(
            Proxy,
            "outage:ms=2000,after=10",
            "outage: {ms: 2000, after: 10}",
            "outage:ms=2000,after=10,dir=both",
        );
    }

    #[test]
    fn every_fault_of_every_host_has_both_spellings() {
        for host in Host::ALL {
            for kind in host.applies() {
                assert!(!families_of(kind, host).is_empty(), "{kind}");
                assert_eq!(families_of(kind, host)[0], host.family(), "{kind} for {host:?}");
            }
        }
        let all: usize = Host::ALL.iter().map(|h| h.applies().len()).sum();
        assert_eq!(all, 16 + 1 + 11 + 7 + 10, "client (MLLP, HLLP), answers (MLLP, HTTP), proxy");
    }

    /// `text` given to `host` is refused with exactly `message` at column 1.
    fn refused(host: Host, text: &str, message: &str) {
        let err = parse_for(text, host).expect_err(text);
        assert_eq!((err.column, err.message.as_str()), (1, message), "{text}");
    }

    #[test]
    fn a_host_refuses_what_it_cannot_apply_by_name() {
        refused(Host::Proxy, "coalesce", "`coalesce` is a client fault; the proxy cannot apply it");
        refused(
            Host::Proxy,
            "fragment:size=1",
            "`fragment` is a client fault; the proxy cannot apply it",
        );
        refused(Host::Proxy, "no_ack", "`no_ack` is a receiver answer; the proxy cannot apply it");
        refused(
            Host::Proxy,
            "blackhole:for=1s",
            "`blackhole` is a client fault; the proxy cannot apply it",
        );
        refused(
            Host::MllpClient,
            "drop:dir=up",
            "`drop` is a proxy fault; the client connection over MLLP cannot apply it",
        );
        refused(
            Host::MllpClient,
            "bad_checksum",
            "`bad_checksum` is a client fault; the client connection over MLLP cannot apply it",
        );
        refused(
            Host::HllpClient,
            "fragment:size=1",
            "`fragment` is a client fault; the client connection over HLLP cannot apply it",
        );
        refused(
            Host::HttpClient,
            "coalesce",
            "`coalesce` is a client fault; the client connection over HTTP cannot apply it",
        );
        refused(
            Host::Answering,
            "coalesce",
            "`coalesce` is a client fault; the receiver role's answering server cannot apply it",
        );
        refused(
            Host::HttpAnswering,
            "duplicate_ack",
            "`duplicate_ack` is a receiver answer; the receiver role's HTTP answering server \
             cannot apply it",
        );
        refused(
            Host::HttpAnswering,
            "silent_peer",
            "`silent_peer` is a receiver answer; the receiver role's HTTP answering server \
             cannot apply it",
        );
        assert!(parse_for("nak:code=AE", Host::HttpAnswering).is_ok());
        assert!(parse_for("close", Host::HttpAnswering).is_ok());
        // A word the host shares with another family is the host's own.
        assert!(matches!(parse_for("reset", Host::Answering), Ok(Fault::Answer(Answer::Reset))));
        assert!(matches!(parse_for("reset", Host::MllpClient), Ok(Fault::Client(_))));
        assert!(parse_for("reset:after=1", Host::Proxy).is_ok());
        assert!(parse_for("explode", Host::MllpClient).unwrap_err().message.contains("unknown"));
    }

    proptest::proptest! {
        /// Text built from the client's and the answers' own words: no panic, the column lies
        /// within the text, and an accepted fault prints canonically and reads back the same.
        #[test]
        fn client_and_answer_text_round_trip(
            kind in "(fragment|slow|reset|bytes_before_frame|oversized|unterminated|idle|storm|blackhole|late_ack|nak|coalesce|x)",
            keys in "(:((size|delay|max_size|bytes_per_second|offset|mid_frame|after_acks|bytes|silence|for|connections|code|q)=(0|3|true|5ms|AE|a\\,b|\\r\\n|\\x1c|-|)(,|)){0,3})?",
            answering in proptest::bool::ANY,
        ) {
            let text = format!("{kind}{keys}");
            let host = if answering { Host::Answering } else { Host::MllpClient };
            match parse_fault(&text, host) {
                Ok(fault) => {
                    let shown = fault.to_string();
                    let again = parse_fault(&shown, host).expect("the canonical form parses");
                    proptest::prop_assert_eq!(&again, &fault);
                    proptest::prop_assert_eq!(again.to_string(), shown);
                }
                Err(err) => {
                    proptest::prop_assert!(err.column >= 1 && err.column <= text.chars().count() + 1);
                }
            }
        }
    }

    #[test]
    fn a_yaml_list_names_the_family_of_a_foreign_word() {
        let client = ["fragment", "coalesce", "reset"];
        let answers = ["ack", "no_ack", "reset"];
        assert_eq!(
            foreign_word_hint("drop", &client).as_deref(),
            Some(" (`drop` is a proxy fault; the client connection cannot apply it)")
        );
        assert_eq!(
            foreign_word_hint("coalesce", &answers).as_deref(),
            Some(" (`coalesce` is a client fault; the receiver role's answering server cannot apply it)")
        );
        assert_eq!(foreign_word_hint("half_closed", &client), None, "a typo");
        assert_eq!(foreign_word_hint("drop", &["ack", "nak"]), None, "not a fault list");
    }

    #[test]
    fn client_text_errors_name_the_column() {
        let err = parse_fault("fragment:size=x", Host::MllpClient).unwrap_err();
        assert_eq!(err.column, 15, "{err}");
        let err = parse_fault("fragment:rate=1", Host::MllpClient).unwrap_err();
        assert_eq!(err.column, 10, "{err}");
        assert!(err.message.contains("fragment takes no key \"rate\""), "{err}");
        let err = parse_fault("fragment", Host::MllpClient).unwrap_err();
        assert!(err.message.contains("fragment needs size"), "{err}");
        let err = parse_fault("coalesce:x=1", Host::MllpClient).unwrap_err();
        assert!(err.message.contains("coalesce takes no keys"), "{err}");
        let err = parse_fault("idle:for=soon", Host::MllpClient).unwrap_err();
        assert_eq!(err.column, 10, "{err}");
        let err = parse_fault("nak:code=AX", Host::Answering).unwrap_err();
        assert_eq!(err.column, 10, "{err}");
        let err = parse_fault(r"bytes_before_frame:bytes=\q", Host::MllpClient).unwrap_err();
        assert!(err.message.contains("escape"), "{err}");
    }
}
