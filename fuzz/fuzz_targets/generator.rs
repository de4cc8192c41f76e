//! `generator::apply` on arbitrary bytes with any mutation and seed never panics, gives the same
//! bytes for the same seed, and what it returns reads back: a message, or a batch without
//! findings for `batch_wrap`.
//!
//! Layout: the message, then 9 control bytes at the end (mutation index, then the seed, little
//! endian), so that corpus files used as seeds are still messages, minus a few trailing bytes.
#![no_main]

use hl7_harness::generator::{apply, Mutation, CATALOGUE};
use hl7_harness::hl7::{split_batch, Message};
use hl7_harness::vocab::Seed;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let split = input.len().saturating_sub(9);
    let (message, control) = input.split_at(split);
    let mut control = control.to_vec();
    control.resize(9, 0);
    let (name, _) = CATALOGUE[usize::from(control[0]) % CATALOGUE.len()];
    let seed = Seed(u64::from_le_bytes(control[1..9].try_into().expect("8 bytes")));
    let mutation = Mutation::from_name(name).expect("every catalogue name has defaults");

    let first = apply(message, &mutation, seed);
    let second = apply(message, &mutation, seed);
    assert_eq!(first, second, "{name} with seed {seed} is not deterministic");
    let Ok(mutated) = first else {
        return;
    };
    assert!(
        !mutated.description.is_empty() && !mutated.description.contains('\n'),
        "{name}: description is not one line: {:?}",
        mutated.description
    );
    if matches!(mutation, Mutation::BatchWrap(_)) {
        let batch = split_batch(&mutated.bytes).expect("batch_wrap writes a batch");
        assert!(batch.findings.is_empty(), "batch_wrap counts are wrong: {:?}", batch.findings);
    } else if let Err(e) = Message::parse(&mutated.bytes) {
        panic!("{name} with seed {seed} wrote a message that does not parse: {e}");
    }
});
