//! The generator over the whole corpus (no panics, same seed → same bytes) and the `generate`
//! command as a user runs it.

use crate::support::{files, relative, run, stderr, stdout, workspace, TempFile};
use hl7_harness::generator::{apply, apply_all, Intent, Mutation, CATALOGUE};
use hl7_harness::hl7::{split_batch, Message};
use hl7_harness::vocab::Seed;
use proptest::prelude::*;
use std::sync::OnceLock;

/// Every corpus message file, read once: (relative path, bytes).
fn corpus() -> &'static [(String, Vec<u8>)] {
    static CORPUS: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        files(&workspace().join("corpus"), "hl7")
            .into_iter()
            .map(|path| (relative(&path), std::fs::read(&path).expect("corpus file reads")))
            .collect()
    })
}

fn mutations() -> Vec<Mutation> {
    CATALOGUE.iter().map(|(name, _)| Mutation::from_name(name).expect("catalogue name")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any mutation, any seed, any corpus message (malformed ones included): no panic, the same
    /// bytes twice, and a result that reads back as a message (or a batch, for batch_wrap).
    #[test]
    fn every_mutation_on_the_corpus(file in any::<prop::sample::Index>(), which in any::<prop::sample::Index>(), seed in any::<u64>()) {
        let (name, bytes) = file.get(corpus());
        let mutations = mutations();
        let mutation = which.get(&mutations);
        let first = apply(bytes, mutation, Seed(seed));
        let second = apply(bytes, mutation, Seed(seed));
        prop_assert_eq!(&first, &second, "{} {} seed {}", name, mutation.name(), seed);
        if let Ok(mutated) = first {
            prop_assert!(!mutated.description.contains('\n'));
            if matches!(mutation, Mutation::BatchWrap(_)) {
                let batch = split_batch(&mutated.bytes).expect("a batch");
                prop_assert!(batch.findings.is_empty(), "{} {:?}", name, batch.findings);
            } else {
                prop_assert!(Message::parse(&mutated.bytes).is_ok(), "{} {}", name, mutation.name());
            }
        }
    }

    /// Two mutations in a row: the intent is the stronger of the two.
    #[test]
    fn chained_intent_is_the_strongest(file in any::<prop::sample::Index>(), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>(), seed in any::<u64>()) {
        let (_, bytes) = file.get(corpus());
        let mutations = mutations();
        let (a, b) = (a.get(&mutations).clone(), b.get(&mutations).clone());
        prop_assume!(!matches!(a, Mutation::BatchWrap(_)));
        let seed = Seed(seed);
        let Ok(chained) = apply_all(bytes, &[a.clone(), b.clone()], seed) else { return Ok(()) };
        let first = apply(bytes, &a, seed).expect("the chain applied it");
        let second = apply(&first.bytes, &b, seed.offset(1)).expect("the chain applied it");
        prop_assert_eq!(chained.intent, first.intent.strongest(second.intent));
        prop_assert_eq!(chained.bytes, second.bytes);
    }
}

/// The same properties as the proptest, exhaustively over corpus files and mutations for a few
/// seeds, so that no pair is left to chance.
#[test]
fn every_mutation_on_every_corpus_file() {
    for (name, bytes) in corpus() {
        for mutation in mutations() {
            for seed in [0, 1, u64::MAX] {
                let first = apply(bytes, &mutation, Seed(seed));
                assert_eq!(
                    first,
                    apply(bytes, &mutation, Seed(seed)),
                    "{name} {}",
                    mutation.name()
                );
                let Ok(mutated) = first else { continue };
                let readable = if matches!(mutation, Mutation::BatchWrap(_)) {
                    split_batch(&mutated.bytes).is_ok_and(|b| b.findings.is_empty())
                } else {
                    Message::parse(&mutated.bytes).is_ok()
                };
                assert!(
                    readable,
                    "{name} {} seed {seed}: {}",
                    mutation.name(),
                    mutated.description
                );
            }
        }
    }
}

#[test]
fn every_mutation_applies_to_a_plain_adt() {
    let base = std::fs::read(workspace().join("corpus/adt/adt_a01_v26_zpd.hl7")).unwrap();
    for mutation in mutations() {
        let mutated =
            apply(&base, &mutation, Seed(3)).unwrap_or_else(|e| panic!("{}: {e}", mutation.name()));
        // Reusing the message's own control ID (the default) leaves the bytes as they are.
        if !matches!(mutation, Mutation::DuplicateControlId(_)) {
            assert_ne!(mutated.bytes, base, "{}: {}", mutation.name(), mutated.description);
        }
    }
}

#[test]
fn generate_list() {
    let output = run(&["generate", "--list"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!("generate-list", stdout(&output));
}

#[test]
fn generate_prints_a_header_and_the_message() {
    let output = run(&[
        "generate",
        "corpus/adt/adt_a04_v24_minimal.hl7",
        "--mutation",
        "non_ascii",
        "--mutation",
        "z_segment",
        "--seed",
        "7",
        "--count",
        "2",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!("generate-non-ascii-z-segment", stdout(&output));
}

#[test]
fn generate_raw_writes_the_exact_bytes() {
    let path = "corpus/adt/adt_a04_v251_8859-1.hl7";
    let output = run(&["generate", path, "-m", "non_ascii", "--seed", "11", "--raw"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let base = std::fs::read(workspace().join(path)).unwrap();
    let expected = apply(&base, &Mutation::from_name("non_ascii").unwrap(), Seed(11)).unwrap();
    assert_eq!(output.stdout, expected.bytes);
    let header = stderr(&output);
    assert!(header.starts_with("# mutation=non_ascii seed=11 intent=valid: "), "{header}");
    assert_eq!(expected.intent, Intent::Valid);
}

#[test]
fn generate_takes_parameters_as_json() {
    let path = "corpus/adt/adt_a04_v24_minimal.hl7";
    let json = r#"{"non_ascii": {"fields": ["PID-5.1"], "script": "greek"}}"#;
    let output = run(&["generate", path, "-m", json, "-m", "z_segment", "--seed", "3", "--raw"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let base = std::fs::read(workspace().join(path)).unwrap();
    let mutations =
        [serde_json::from_str(json).unwrap(), Mutation::from_name("z_segment").unwrap()];
    assert_eq!(output.stdout, apply_all(&base, &mutations, Seed(3)).unwrap().bytes);
    assert!(stderr(&output)
        .starts_with("# mutation=non_ascii,z_segment seed=3 intent=valid: PID-5.1 = "));
}

#[test]
fn generate_out_writes_one_file_per_seed() {
    let dir = std::env::temp_dir().join(format!("hl7-harness-generate-{}", std::process::id()));
    let dir_text = dir.to_str().unwrap();
    let output = run(&[
        "generate",
        "corpus/adt/adt_a04_v24_minimal.hl7",
        "-m",
        "lf_separators",
        "--count",
        "3",
        "--seed",
        "5",
        "--out",
        dir_text,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    for seed in 5..8 {
        let written = dir.join(format!("adt_a04_v24_minimal-lf_separators-seed{seed}.hl7"));
        let bytes = std::fs::read(&written).unwrap();
        assert!(!bytes.contains(&b'\r'));
        assert!(stdout(&output).contains(&format!("seed={seed} intent=invalid")));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn generate_errors_are_usage_errors() {
    let output = run(&["generate", "corpus/adt/adt_a04_v24_minimal.hl7", "-m", "nonascii"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("(did you mean non_ascii?)"), "{}", stderr(&output));
    let bad_path = r#"{"non_ascii": {"fields": ["PID-55.x"]}}"#;
    let output = run(&["generate", "corpus/adt/adt_a04_v24_minimal.hl7", "-m", bad_path]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("bad path \"PID-55.x\" at column 8"), "{}", stderr(&output));

    let output = run(&["generate", "corpus/adt/adt_a04_v24_minimal.hl7"]);
    assert_eq!(output.status.code(), Some(2));

    let ack = "corpus/ack/ack_aa_original_v23.hl7";
    let output = run(&["generate", ack, "-m", "lf_separators", "-m", "non_ascii"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("ack_aa_original_v23.hl7: message 1: non_ascii: no fields given"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one-line error: {err}");

    let file = TempFile::new("generate-not-hl7.hl7", b"hello\r");
    let output = run(&["generate", file.path(), "-m", "lf_separators"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("byte 0: not an HL7 v2 message"), "{}", stderr(&output));

    let output = run(&["generate", ack, "-m", "lf_separators", "--message", "2"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("message 2 not found"), "{}", stderr(&output));
}

/// The intents against the reference endpoint's decision, on every corpus ADT message it
/// accepts: what is `valid` is accepted, and the `invalid` mutations the endpoint can see are
/// not. LF/CRLF separators are left out: the endpoint reads them leniently (its framing
/// reports them), while a strict receiver must not accept them; remove_field is left out
/// because a shifted optional field is invisible to a validator.
#[test]
fn intents_agree_with_the_reference_endpoint() {
    use hl7_harness::target::responder::{decide, ResponderConfig};
    let config = ResponderConfig::default();
    let accepted =
        |bytes: &[u8]| Message::parse(bytes).is_ok_and(|m| decide(&m, &config).is_accept());
    let bases: Vec<&(String, Vec<u8>)> =
        corpus().iter().filter(|(name, bytes)| name.contains("/adt/") && accepted(bytes)).collect();
    assert!(bases.len() > 10, "the corpus ADT messages are accepted");
    let visible_invalid = [
        "charset_mismatch",
        "empty_required",
        "drop_required_segment",
        "unknown_message_type",
        "unknown_trigger",
        "unsupported_version",
    ];
    for (name, bytes) in bases {
        for mutation in mutations() {
            for seed in 0..4 {
                let Ok(mutated) = apply(bytes, &mutation, Seed(seed)) else { continue };
                let what =
                    format!("{name} {} seed {seed}: {}", mutation.name(), mutated.description);
                let parsed = Message::parse(&mutated.bytes);
                match mutated.intent {
                    Intent::Valid if !matches!(mutation, Mutation::BatchWrap(_)) => {
                        assert!(accepted(&mutated.bytes), "valid but not accepted: {what}")
                    }
                    Intent::Invalid if visible_invalid.contains(&mutation.name()) => {
                        assert!(
                            parsed.is_ok() && !accepted(&mutated.bytes),
                            "invalid but accepted: {what}"
                        )
                    }
                    _ => {}
                }
            }
        }
    }
}
