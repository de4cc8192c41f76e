//! Generated tests judged by the validator: every valid message passes, every broken variant
//! fails for exactly its constraint (the exceptions, where one break necessarily breaks a
//! second rule, are listed by name).

use super::{generate, Generated, Validator};
use crate::hl7::message::Message;
use crate::hl7::Severity;
use crate::profile::TargetProfile;
use proptest::prelude::*;

const EHEALTH: &str =
    include_str!("../../../scenarios/ehealth-platform/ehealth-platform.profile.yaml");
const PHR: &str = include_str!("../../../scenarios/http-partner/phr-partner.profile.yaml");

fn load(yaml: &str) -> TargetProfile {
    crate::scenario::from_yaml(yaml).expect("profile")
}

/// `(profile id, place broken, place that necessarily breaks with it)`.
const SECOND_FINDINGS: &[(&str, &str, &str)] = &[
    // The e-mail statement reads PID-13: without PID (or PID-13) it cannot hold.
    ("adt-a04", "constraints PID", "statements email"),
    ("adt-a04", "constraints PID-13", "statements email"),
    ("adt-a08", "constraints PID", "statements email"),
    ("adt-a08", "constraints PID-13", "statements email"),
    ("adt-a01", "constraints PID", "statements email"),
    ("adt-a01", "constraints PID-13", "statements email"),
    ("adt-a14", "constraints PID", "statements email"),
    ("adt-a14", "constraints PID-13", "statements email"),
    // count(PID) = count(MRG): one of the pair missing unbalances it.
    ("adt-a40", "constraints PID", "statements one-mrg-per-pid"),
    ("adt-a40", "constraints MRG", "statements one-mrg-per-pid"),
    // The professional id statement's first alternative is MFE-4.1.
    ("mfn-m02", "constraints MFE", "statements professional-id"),
    // SYNTHETIC: the statement reads PID-5.2 / PID-3.4.
    ("adt-a04", "constraints PID", "statements name-or-id"),
    ("adt-a04", "constraints PID-5", "statements name-or-id"),
];

fn findings(v: &mut Validator, text: &str) -> Vec<(crate::conformance::Rule, String, String)> {
    let message = Message::parse(text.as_bytes()).expect("generated messages parse");
    v.validate(&message)
        .into_iter()
        .filter(|x| matches!(x.severity, Severity::Error | Severity::Warning))
        .map(|x| (x.rule, x.place.clone(), x.to_string()))
        .collect()
}

/// Checks one profile's generated set; returns (valid, broken) counts.
fn check(profile: &TargetProfile, generated: &[Generated]) -> (usize, usize) {
    let (mut valid, mut broken) = (0, 0);
    let mut all = Validator::new(profile);
    for g in generated {
        for text in &g.valid {
            let found = findings(&mut all, text);
            assert!(found.is_empty(), "{}: valid message\n{text}\nfails: {found:#?}", g.profile);
            valid += 1;
        }
        for b in &g.broken {
            let mut v = Validator::new(profile);
            if let Some(first) = &b.first {
                let found = findings(&mut v, first);
                assert!(
                    found.is_empty(),
                    "{}: first of a pair\n{first}\nfails: {found:#?}",
                    g.profile
                );
                // Fresh values: it can be sent in any order with the valid messages.
                let mut with_valid = Validator::new(profile);
                for text in g.valid.iter().chain([first]) {
                    let found = findings(&mut with_valid, text);
                    assert!(
                        found.is_empty(),
                        "{}: repeats a valid message's value\n{text}",
                        g.profile
                    );
                }
            }
            let found = findings(&mut v, &b.text);
            assert!(
                found.iter().any(|(rule, place, _)| *rule == b.rule && *place == b.place),
                "{}: {} ({} at {}) not found in\n{}\n{found:#?}",
                g.profile,
                b.description,
                b.rule,
                b.place,
                b.text
            );
            for (rule, place, text) in &found {
                let own = *rule == b.rule && *place == b.place;
                let excused = SECOND_FINDINGS
                    .iter()
                    .any(|(p, at, second)| *p == g.profile && *at == b.place && second == place);
                assert!(
                    own || excused,
                    "{}: {} also found {text}\n{}",
                    g.profile,
                    b.description,
                    b.text
                );
            }
            broken += 1;
        }
    }
    (valid, broken)
}

#[test]
fn the_shipped_profiles_generate_valid_and_broken_messages() {
    for (name, yaml) in [("ehealth", EHEALTH), ("phr", PHR)] {
        let profile = load(yaml);
        let generated = generate(&profile, 1, 3);
        let (valid, broken) = check(&profile, &generated);
        let notes: Vec<&String> = generated.iter().flat_map(|g| &g.not_generatable).collect();
        eprintln!("{name}: {valid} valid, {broken} broken; not generatable: {notes:#?}");
        assert!(valid > 0 && broken > 0);
    }
}

const SYNTHETIC: &str = r#"
value_sets:
  gender: { codes: [M, F, U] }
  kind: { codes: [A, B] }
message_profiles:
- message: ADT^A04
  version: "2.6"
  constraints:
    MSH-4: { usage: R, pattern: '[a-z]+\{[a-z]+\}' }
    MSH-11: { fixed: P }
    PV1: { usage: R, cardinality: '1..1' }
    PV1-2: { usage: R, value_set: kind }
    PID: { usage: R }
    PID-3: { usage: R, cardinality: '1..2' }
    PID-3.1: { usage: R, length: '1..20' }
    PID-3.5: { usage: RE }
    PID-5: { usage: R }
    PID-5.1: { usage: R, length: 30 }
    PID-7: { usage: "C(R/O)", predicate: "PID-8 = F", datatype: DTM }
    PID-8: { usage: R, value_set: gender }
    PID-11: { usage: X }
    PID-29: { datatype: DTM }
    NK1: { usage: X }
  statements:
  - { id: name-or-id, assert: "PID-5.2 is valued or PID-3.4 is valued" }
  - { id: doc-unique, unique: PID-3.1 }
- message: ORU^R01
  version: "2.5.1"
  segments:
  - { segment: MSH, usage: R }
  - { segment: PID, usage: R, fields: [ { position: 3, usage: R }, { position: 8, usage: RE, value_set: gender } ] }
  - { segment: OBR, usage: R, fields: [ { position: 4, usage: R, components: [ { position: 1, usage: R, length: 10 } ] } ] }
  - { segment: OBX, usage: RE, cardinality: '0..*', fields: [ { position: 2, usage: R, fixed: ST }, { position: 5, usage: R } ] }
"#;

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_seed_gives_valid_messages_and_exact_breaks(seed in any::<u64>()) {
        for yaml in [EHEALTH, PHR, SYNTHETIC] {
            let profile = load(yaml);
            let generated = generate(&profile, seed, 2);
            let (valid, broken) = check(&profile, &generated);
            prop_assert!(valid > 0 && broken > 0);
        }
    }
}
