//! The mirror of "every defect is caught": every permitted behaviour of the reference endpoint
//! (a choice HL7 v2, MLLP or HL7 over HTTP leaves to a receiver: original mode only, one
//! connection at a time, MFK for MFN, …) passes every shipped generic pack with no
//! error-severity failure, both with no target profile (the standard's most permissive reading)
//! and with the profile that behaviour would honestly declare (`serve --defect NAME
//! --print-profile`). A verdict that fails a receiver for a choice the standard allows is a
//! false alarm, and this is the test that finds it.

use super::support::{failed_ids, workspace};
use hl7_harness::checks::Severity;
use hl7_harness::profile::LoadedProfile;
use hl7_harness::runner::{run as run_packs, RunOptions};
use hl7_harness::scenario::{load_packs, load_profile, Pack};
use hl7_harness::target::defect::{Defect, Defects};
use hl7_harness::target::endpoint::Endpoint;
use hl7_harness::target::profile::{declared_profile, Served, HEADER};
use hl7_harness::vocab::Seed;

/// The profile as `serve --print-profile` prints it.
fn print_profile(
    profile: &hl7_harness::profile::TargetProfile,
) -> Result<String, serde_yaml::Error> {
    Ok(format!("{HEADER}{}", hl7_harness::scenario::to_yaml(profile)?))
}
use hl7_harness::target::responder::ResponderConfig;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

/// The generic packs every behaviour must pass.
const GENERIC: &[&str] = &["conformance-core", "hostile-network"];

/// The site packs a behaviour also runs, where it applies: the HTTP partner pack for the HTTP
/// behaviours; the ADT client feed for the behaviours that change only the form of an answer
/// or the connection, not what is accepted (which is site policy that pack encodes).
fn site_packs(behaviour: Defect) -> &'static [&'static str] {
    match behaviour {
        Defect::ClosesAfterAck
        | Defect::NoErrSegment
        | Defect::ReceiverNamesItself
        | Defect::PlainAckMsh9
        | Defect::MfkForMfn
        | Defect::EnhancedModeIgnored
        | Defect::StandardDelimiters
        | Defect::ProcessingIdNotEchoed
        | Defect::VersionNotEchoed
        | Defect::OneConnectionAtATime => &["adt-client-feed"],
        _ => &[],
    }
}

/// Behaviours the runner does not yet pass, each with what it lacks. Their errors are printed,
/// not asserted; the test fails once one passes, so the entry is removed with the fix.
const RUNNER_PENDING: &[(Defect, &str)] = &[];

/// The honest profile of `behaviour`, written where `load_profile` reads it (reports name a
/// profile by its file and sha256).
fn honest_profile(behaviour: Defect, dir: &std::path::Path) -> LoadedProfile {
    let endpoint = Endpoint::new(ResponderConfig::default()).with_defects(Defects::of([behaviour]));
    let text = print_profile(&declared_profile(&endpoint, &Served::default())).expect("prints");
    let path = dir.join(format!("{behaviour}.profile.yaml"));
    std::fs::write(&path, text).expect("profile written");
    load_profile(&path).expect("the printed profile loads")
}

fn packs(names: &[&str]) -> Arc<Vec<Pack>> {
    let known: Vec<&str> = hl7_harness::checks::generic_ids();
    let paths: Vec<PathBuf> = names.iter().map(|n| workspace().join("scenarios").join(n)).collect();
    Arc::new(
        load_packs(&paths, &known, hl7_harness::scenario::FileAccess::PackOnly)
            .expect("packs load"),
    )
}

#[test]
fn every_permitted_behaviour_passes_every_generic_pack() {
    let dir = std::env::temp_dir().join(format!("hl7h-permitted-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let rows = runtime.block_on(async {
        let limit = Arc::new(tokio::sync::Semaphore::new(4));
        let mut tasks = tokio::task::JoinSet::new();
        for &behaviour in Defect::PERMITTED {
            let names: Vec<&str> = GENERIC.iter().chain(site_packs(behaviour)).copied().collect();
            let packs = packs(&names);
            for profile in [None, Some(honest_profile(behaviour, &dir))] {
                let (packs, limit) = (Arc::clone(&packs), Arc::clone(&limit));
                tasks.spawn(async move {
                    let _permit = limit.acquire_owned().await;
                    let honest = profile.is_some();
                    let options = RunOptions {
                        defects: Defects::of([behaviour]),
                        seed: Seed(7),
                        jobs: 8,
                        profile,
                        ..RunOptions::default()
                    };
                    let outcome = run_packs(&packs, &options, &|_| {}).await.expect("run starts");
                    let errors: BTreeSet<String> = outcome
                        .cases()
                        .flat_map(|c| {
                            c.results
                                .iter()
                                .filter(|r| !r.passed && r.severity == Severity::Error)
                                .map(move |r| format!("{} [{}]", r.id, c.name))
                        })
                        .collect();
                    let ids = failed_ids(&outcome, Severity::Error);
                    (behaviour, honest, ids, errors, outcome.cases().count())
                });
            }
        }
        let mut rows = Vec::new();
        while let Some(row) = tasks.join_next().await {
            rows.push(row.expect("a run finishes"));
        }
        rows.sort_by_key(|r| (r.0, r.1));
        rows
    });
    let _ = std::fs::remove_dir_all(&dir);
    let mut wrong = Vec::new();
    for (behaviour, honest, ids, errors, cases) in &rows {
        let profile = if *honest { "honest profile" } else { "no profile" };
        eprintln!("{behaviour} × {profile}: {} error(s) in {cases} cases {ids:?}", errors.len());
        if let Some((_, lacks)) = RUNNER_PENDING.iter().find(|(d, _)| d == behaviour) {
            eprintln!("  (pending in the runner: {lacks})");
            continue;
        }
        if !errors.is_empty() {
            let shown: Vec<&str> = errors.iter().map(String::as_str).collect();
            wrong.push(format!("{behaviour} with {profile}: {}", shown.join("; ")));
        }
    }
    for (pending, _) in RUNNER_PENDING {
        if rows.iter().filter(|r| r.0 == *pending).all(|r| r.3.is_empty()) {
            wrong.push(format!("{pending} passes now: remove it from RUNNER_PENDING"));
        }
    }
    assert_eq!(rows.len(), 2 * Defect::PERMITTED.len());
    assert!(wrong.is_empty(), "permitted behaviour failed as an error:\n{}", wrong.join("\n"));
}

/// The other side of the declarations: a permitted behaviour run under the profile of the
/// reference endpoint without it (which declares `bytes_outside_blocks: skip` and
/// `concurrent_connections: true`) contradicts what it declares, and the declaration's check
/// fails as an error: closing on bytes outside a block fails `connection.bytes-outside-blocks`;
/// serving one connection at a time leaves the concurrent case's extra connections unanswered.
#[test]
fn a_behaviour_against_its_declaration_is_an_error() {
    let dir = std::env::temp_dir().join(format!("hl7h-dishonest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let declared = {
        let endpoint = Endpoint::new(ResponderConfig::default());
        let text = print_profile(&declared_profile(&endpoint, &Served::default())).expect("prints");
        let path = dir.join("reference.profile.yaml");
        std::fs::write(&path, text).expect("profile written");
        load_profile(&path).expect("loads")
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let cases = [
        (
            Defect::ClosesOnBytesOutsideFrame,
            "bytes outside a frame",
            "connection.bytes-outside-blocks",
        ),
        (Defect::OneConnectionAtATime, "connections are served concurrently", "ack.received"),
    ];
    for (behaviour, filter, check) in cases {
        let options = RunOptions {
            defects: Defects::of([behaviour]),
            seed: Seed(7),
            filter: Some(filter.into()),
            profile: Some(declared.clone()),
            ..RunOptions::default()
        };
        let packs = packs(&["conformance-core"]);
        let outcome = runtime.block_on(run_packs(&packs, &options, &|_| {})).expect("run starts");
        assert!(outcome.cases().count() > 0, "{filter}: no case ran");
        let ids = failed_ids(&outcome, Severity::Error);
        assert!(ids.contains(check), "{behaviour} under skip/concurrent declarations: {ids:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
