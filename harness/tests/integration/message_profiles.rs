//! Message profiles end to end: `validate --profile` on files, and the e-health platform's
//! sender pack (`sender.content`) against the reference sender with and without a defect.

use crate::support::{run, stdout, workspace, TempFile};

const EHEALTH: &str = "scenarios/ehealth-platform/ehealth-platform.profile.yaml";

fn path(relative: &str) -> String {
    workspace().join(relative).display().to_string()
}

#[test]
fn validate_with_a_profile_passes_conforming_messages() {
    let output = run(&[
        "validate",
        "--profile",
        &path(EHEALTH),
        &path("corpus/adt/adt_a04_v26_utf8_latin.hl7"),
        &path("corpus/adt/adt_a40_v26_two_merges.hl7"),
        &path("corpus/mfn/mfn_m02_v26_add_update.hl7"),
    ]);
    let shown = stdout(&output);
    assert!(!shown.contains("error") && !shown.contains("warning"), "{shown}");
    assert_eq!(output.status.code(), Some(0), "{shown}");
}

#[test]
fn validate_with_a_profile_names_each_broken_field() {
    let good = std::fs::read_to_string(workspace().join("corpus/adt/adt_a04_v26_utf8_latin.hl7"))
        .expect("corpus file");
    let broken =
        good.replace("|19770911|M|", "|1977-09-11|Q|").replace("jurgen.test@example.invalid", "");
    assert_ne!(good, broken);
    let file = TempFile::new("a04-broken.hl7", broken.as_bytes());
    let output = run(&["validate", "--profile", &path(EHEALTH), file.path(), "--json"]);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    let rules: Vec<(String, String)> = shown
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let v = v.get("violation")?.clone();
            Some((v["rule"].as_str()?.to_string(), v["path"].as_str()?.to_string()))
        })
        .collect();
    let has = |rule: &str, path: &str| rules.iter().any(|(r, p)| r == rule && p == path);
    assert!(has("statement", "message"), "e-mail statement: {rules:?}");
    assert!(has("datatype", "PID[1]-7"), "1977-09-11 is not a DTM: {rules:?}");
    assert!(has("value-set", "PID[1]-8"), "Q is not in HL7 table 0001: {rules:?}");
}

#[test]
fn the_ehealth_sender_pack_certifies_the_reference_sender_and_catches_a_dropped_field() {
    let pack = path("scenarios/ehealth-platform/sender.yaml");
    let output = run(&["run", "--no-report", &pack, "--seed", "3"]);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    let output = run(&["run", "--no-report", &pack, "--seed", "3", "--sut-defect", "drops-email"]);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("error sender.content"), "{shown}");
    assert!(shown.contains("error usage PID[1]-13"), "{shown}");
    assert!(shown.contains("email does not hold"), "{shown}");
    // Answered as the platform would: AE with the field located, not a lost message.
    let answered =
        "answered as the platform answers - AE for a message that breaks the specification";
    let case = shown.split("FAIL ").find(|c| c.contains(answered)).unwrap_or_default();
    assert!(case.contains("error sender.content"), "{shown}");
    assert!(case.contains("arrived altered"), "not 'never arrived': {case}");
}

const PHR: &str = "scenarios/http-partner/phr-partner.profile.yaml";

#[test]
fn the_phr_partner_profile_passes_the_partner_corpus_and_catches_its_rules() {
    let output = run(&["validate", "--profile", &path(PHR), &path("corpus/phr")]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    // The same document number twice, an MSH-4 without the data controller, allergies in an A31.
    let letter = path("corpus/phr/mdm_t02_v24_partner_letter.hl7");
    let a31 = std::fs::read_to_string(workspace().join("corpus/phr/adt_a31_v24_partner.hl7"))
        .expect("corpus file")
        .replace("trustalias{trustalias}", "trustalias")
        .replace("PV1||N\r", "PV1||N\rAL1|1||PEN^Penicillin^L\r");
    let a31 = TempFile::new("phr-a31.hl7", a31.as_bytes());
    let output = run(&["validate", "--profile", &path(PHR), &letter, &letter, a31.path()]);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("error unique TXA-12.1"), "{shown}");
    assert!(
        shown.contains("mdm_t02_v24_partner_letter.hl7 message 1: TXA-12.1 must be unique"),
        "{shown}"
    );
    assert!(shown.contains("error pattern MSH[1]-4"), "{shown}");
    assert!(
        shown.contains("warning statement message: no-clinical-lists does not hold"),
        "{shown}"
    );
}

/// The receiver pack generated from the e-health profile (valid messages and one broken
/// variant per constraint) passes against the reference endpoint: valid messages get AA, and
/// broken ones any answer the profile leaves open.
#[test]
fn the_generated_ehealth_receiver_pack_passes_against_the_reference_endpoint() {
    let pack = path("packs/generated/ehealth-platform");
    let output = run(&["run", "--no-report", &pack, "--seed", "1"]);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(shown.contains("PASS: 99 cases"), "{shown}");
}

/// The PHR pack passes against the reference endpoint playing the PHR profile
/// (`builtin: { plays_profile: true }`): MDM^T02 and SIU^S12, which its own e-health feed
/// does not handle, are accepted because the profile declares them.
#[test]
fn the_generated_phr_receiver_pack_passes_against_the_endpoint_playing_its_profile() {
    let pack = path("packs/generated/phr-partner");
    let output = run(&["run", "--no-report", &pack, "--seed", "1"]);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(shown.contains("PASS: 35 cases"), "{shown}");
}

/// `serve --profile` plays a vendor's interface: a conforming message of a type only the
/// profile declares gets AA, its resend AA again (not a second use of a `unique` value), and a
/// message breaking the profile's MSH-4 pattern AE naming the field.
#[test]
fn serve_with_a_profile_answers_as_the_profile_says() {
    let profile = path("scenarios/http-partner/phr-partner.profile.yaml");
    let server = crate::mllp::Server::with_args(&["--profile".as_ref(), profile.as_ref()]);
    let good = path("corpus/phr/mdm_t02_v24_partner_letter.hl7");
    for _ in 0..2 {
        let output = run(&["send", &good, "--target", &server.url]);
        let shown = stdout(&output);
        assert!(shown.contains("PHR-0003: AA"), "{shown}");
    }
    let text = std::fs::read_to_string(path("corpus/phr/siu_s12_v24_partner.hl7")).expect("read");
    let fields: Vec<&str> = text.splitn(5, '|').collect();
    let broken = format!("{}|{}|{}|XX|{}", fields[0], fields[1], fields[2], fields[4]);
    let file = TempFile::new("siu-bad-alias.hl7", broken.as_bytes());
    let output = run(&["send", file.path(), "--target", &server.url]);
    let shown = stdout(&output);
    assert!(shown.contains("PHR-0004: AE (MSH[1]-4 \"XX\" does not match"), "{shown}");
    // Without --profile, the reference endpoint's own feed does not handle MDM^T02.
    let own = crate::mllp::Server::with_args(&[]);
    let output = run(&["send", &good, "--target", &own.url]);
    assert!(stdout(&output).contains("PHR-0003: AR"), "{}", stdout(&output));
}
