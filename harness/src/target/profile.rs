//! The reference endpoint's own target profile: what it honestly declares, built from what it
//! is configured to accept ([`ResponderConfig`]), how it is served (`serve --commit-ack`,
//! `--state`) and the permitted behaviours switched on. `serve --print-profile` prints it;
//! `scenarios/builtin.profile.yaml` is the built-in endpoint's, kept in step by a test.
//!
//! A violation ([`Defect::VIOLATIONS`]) never changes the profile: the endpoint goes on
//! declaring what it is supposed to do, and the harness must catch it against that
//! declaration. A permitted behaviour changes the declaration it is about
//! (`one-connection-at-a-time` declares `concurrent_connections: false`, …), so the harness can
//! prove that it passes a receiver that makes that choice and says so.

use super::defect::Defect;
use super::endpoint::Endpoint;
use super::responder::ResponderConfig;
use crate::hl7::Charset;
use crate::profile::{
    AckModeName, AnyOr, BytesOutsideBlocks, DuplicatePolicy, MissingRequired, MllpRelease,
    StateSpec, TargetProfile,
};
use std::collections::BTreeMap;

/// How the endpoint is served, where that changes what it declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    /// `serve --commit-ack`: MLLP release 2 commit acknowledgments are sent.
    pub commit_ack: bool,
    /// `serve --state ADDR`: the base URL of the JSON state endpoint (`http://ADDR`).
    pub state: Option<String>,
}

/// The first lines of a printed profile.
pub const HEADER: &str = "# yaml-language-server: $schema=target-profile.schema.json\n\
# Target profile of the hl7-harness built-in endpoint (`hl7-harness serve --print-profile`).\n\
# Grading = HL7 v2 ∩ these declarations: `hl7-harness run --target-profile FILE`.\n";

/// What `endpoint`, served as `served`, declares.
pub fn declared_profile(endpoint: &Endpoint, served: &Served) -> TargetProfile {
    let config = endpoint.config();
    let behaviours: Vec<&str> = endpoint
        .defects()
        .iter()
        .filter(|d| d.is_permitted_behaviour())
        .map(Defect::name)
        .collect();
    let has = |defect| endpoint.defects().has(defect);
    let (name, description) = if behaviours.is_empty() {
        (
            "hl7-harness builtin".to_string(),
            "The reference receiver: ADT client feed and MFN^M02 professionals, original and \
             enhanced acknowledgment modes."
                .to_string(),
        )
    } else {
        (
            format!("hl7-harness builtin with {}", behaviours.join(", ")),
            format!(
                "The reference receiver with the permitted behaviour(s) {} switched on \
                 (`serve --defect`).",
                behaviours.join(", ")
            ),
        )
    };
    let mut modes = vec![AckModeName::Original];
    if !has(Defect::EnhancedModeIgnored) {
        modes.push(AckModeName::Enhanced);
    }
    TargetProfile {
        name: Some(name),
        description: Some(description),
        version: None,
        versions: Some(versions(config)),
        messages: Some(messages(config)),
        processing_ids: Some(match &config.processing_ids {
            Some(ids) => AnyOr::Only(ids.clone()),
            None => AnyOr::Any,
        }),
        acknowledgment_modes: Some(modes),
        missing_required: Some(if config.accept_missing_required {
            MissingRequired::Accept
        } else {
            MissingRequired::Reject
        }),
        charsets: Some(charsets()),
        mllp_release: Some(if served.commit_ack { MllpRelease::Two } else { MllpRelease::One }),
        bytes_outside_blocks: Some(if has(Defect::ClosesOnBytesOutsideFrame) {
            BytesOutsideBlocks::Close
        } else {
            BytesOutsideBlocks::Skip
        }),
        concurrent_connections: Some(!has(Defect::OneConnectionAtATime)),
        // A resent MSH-3/MSH-4/MSH-10 is acknowledged again and not applied twice
        // (`client_feed`'s duplicate detection, kept across restarts by the journal).
        duplicates: Some(DuplicatePolicy::ApplyOnce),
        // Its own state API, mapped for probes; the base URL only when `--state` serves it.
        state: Some(StateSpec { url: served.state.clone(), ..StateSpec::builtin() }),
        site: crate::profile::builtin_site(),
        // What the endpoint does with a value outside a table is not declared yet.
        invalid_values: None,
        message_profiles: Vec::new(),
        value_sets: Default::default(),
    }
}

fn versions(config: &ResponderConfig) -> AnyOr<Vec<String>> {
    match &config.versions {
        Some(versions) => AnyOr::Only(versions.iter().map(|v| v.as_str().to_string()).collect()),
        None => AnyOr::Any,
    }
}

/// `CODE^TRIGGER` pairs as a map from message type to its trigger events.
fn messages(config: &ResponderConfig) -> AnyOr<BTreeMap<String, AnyOr<Vec<String>>>> {
    let Some(events) = &config.events else { return AnyOr::Any };
    let mut map: BTreeMap<String, AnyOr<Vec<String>>> = BTreeMap::new();
    for event in events {
        let (code, trigger) = event.split_once('^').unwrap_or((event, ""));
        let triggers = map.entry(code.to_string()).or_insert_with(|| AnyOr::Only(Vec::new()));
        match triggers {
            _ if trigger == "*" => *triggers = AnyOr::Any,
            AnyOr::Only(listed) => listed.push(trigger.to_string()),
            AnyOr::Any => {}
        }
    }
    AnyOr::Only(map)
}

/// The MSH-18 values (table 0211) whose text the endpoint decodes: every character set of
/// `hl7::charset` with a codec. CNS 11643-1992 has none (its non-ASCII bytes are not
/// decoded), so it is left out.
fn charsets() -> Vec<String> {
    Charset::ALL.iter().filter(|c| c.iana_name().is_some()).map(|c| c.code().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::defect::Defects;

    /// The profile as `serve --print-profile` prints it: [`HEADER`], then the YAML.
    pub fn print_profile(profile: &TargetProfile) -> Result<String, serde_yaml::Error> {
        Ok(format!("{HEADER}{}", crate::scenario::to_yaml(profile)?))
    }

    fn profile_with(defects: &[Defect], served: &Served) -> TargetProfile {
        let endpoint = Endpoint::new(ResponderConfig::default())
            .with_defects(Defects::of(defects.iter().copied()));
        declared_profile(&endpoint, served)
    }

    /// The committed profile is what `serve --print-profile` prints now.
    #[test]
    fn the_committed_builtin_profile_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios/builtin.profile.yaml");
        let printed = print_profile(&profile_with(&[], &Served::default())).expect("prints");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == printed,
            "{} is stale; rewrite it with `hl7-harness serve --print-profile > \
             scenarios/builtin.profile.yaml`. Expected:\n{printed}",
            path.display()
        );
    }

    #[test]
    fn printed_profile_reads_back() {
        for served in
            [Served::default(), Served { commit_ack: true, state: Some("http://x".into()) }]
        {
            let profile = profile_with(&[], &served);
            let text = print_profile(&profile).expect("prints");
            let back: TargetProfile = crate::scenario::from_yaml(&text).expect("reads back");
            assert_eq!(back, profile, "{text}");
        }
    }

    #[test]
    fn the_builtin_declares_what_it_does() {
        let p = profile_with(&[], &Served::default());
        assert_eq!(p.honours_enhanced_mode(), Some(true));
        assert_eq!(p.missing_required, Some(MissingRequired::Reject));
        assert_eq!(p.concurrent_connections, Some(true));
        assert_eq!(p.mllp_release, Some(MllpRelease::One));
        let versions = p.versions.as_ref().and_then(AnyOr::only).expect("a list");
        assert_eq!(versions.first().map(String::as_str), Some("2.3"));
        assert_eq!(versions.last().map(String::as_str), Some("2.6"));
        let messages = p.messages.as_ref().and_then(AnyOr::only).expect("a map");
        assert_eq!(messages.get("MFN"), Some(&AnyOr::Only(vec!["M02".to_string()])));
        let charsets = p.charsets.as_ref().expect("charsets");
        assert!(charsets.contains(&"UNICODE UTF-8".to_string()), "{charsets:?}");
        assert!(!charsets.contains(&"CNS 11643-1992".to_string()), "{charsets:?}");
        let served = Served { commit_ack: true, state: Some("http://127.0.0.1:9".into()) };
        let p = profile_with(&[], &served);
        assert_eq!(p.mllp_release, Some(MllpRelease::Two));
        let state = p.state.expect("its state mapping");
        assert_eq!(state.url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(state.applied.map(|a| a.url).as_deref(), Some("{state}/applied"));
    }

    /// Each permitted behaviour changes the declaration it is about; a violation changes none.
    #[test]
    fn permitted_behaviours_declare_their_choice() {
        let builtin = profile_with(&[], &Served::default());
        let with = |d: Defect| profile_with(&[d], &Served::default());
        assert_eq!(with(Defect::EnhancedModeIgnored).honours_enhanced_mode(), Some(false));
        let everything = with(Defect::AcceptsEveryMessage);
        assert_eq!(
            (everything.versions, everything.messages, everything.processing_ids),
            (Some(AnyOr::Any), Some(AnyOr::Any), Some(AnyOr::Any))
        );
        assert_eq!(
            with(Defect::AcceptsMissingRequired).missing_required,
            Some(MissingRequired::Accept)
        );
        assert_eq!(with(Defect::OneConnectionAtATime).concurrent_connections, Some(false));
        assert_eq!(
            with(Defect::ClosesOnBytesOutsideFrame).bytes_outside_blocks,
            Some(BytesOutsideBlocks::Close)
        );
        let unnamed = |p: TargetProfile| TargetProfile { name: None, description: None, ..p };
        for defect in Defect::VIOLATIONS.iter().chain([&Defect::MfkForMfn, &Defect::NoErrSegment]) {
            assert_eq!(unnamed(with(*defect)), unnamed(builtin.clone()), "{defect}");
        }
        assert_eq!(with(Defect::WrongMsa2).name, builtin.name, "a violation declares nothing");
    }
}
