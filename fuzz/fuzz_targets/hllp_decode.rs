//! `HllpCodec` on arbitrary bytes: never panics, a block's data is the input at its place, the
//! outcome does not depend on how the bytes are split into reads, and for the input's bytes
//! made frameable, encode then decode gives the data back with size and checksum good, under
//! every checksum variant.
#![no_main]

use bytes::BytesMut;
use hl7_harness::transport::{
    BlockType, Checksum, ChecksumSpan, HllpBlock, HllpCodec, HllpOptions, Outgoing,
};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};

fn run<'a>(
    options: HllpOptions,
    chunks: impl Iterator<Item = &'a [u8]>,
) -> (Vec<HllpBlock>, Option<String>) {
    let mut codec = HllpCodec::new(options);
    let mut buf = BytesMut::new();
    let mut blocks = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(block)) => blocks.push(block),
                Ok(None) => break,
                Err(e) => return (blocks, Some(e.to_string())),
            }
        }
        assert!(buf.len() < options.max_block_bytes, "{} bytes buffered", buf.len());
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(block)) => blocks.push(block),
            Ok(None) => return (blocks, None),
            Err(e) => return (blocks, Some(e.to_string())),
        }
    }
}

const VARIANTS: [(Checksum, ChecksumSpan); 4] = [
    (Checksum::XorDecimal, ChecksumSpan::Data),
    (Checksum::XorDecimal, ChecksumSpan::StartBlockToData),
    (Checksum::SumMod256, ChecksumSpan::Data),
    (Checksum::SumMod256, ChecksumSpan::StartBlockToData),
];

fuzz_target!(|input: &[u8]| {
    let (checksum, span) = VARIANTS[input.first().map_or(0, |b| usize::from(*b) % 4)];
    let options = HllpOptions { checksum, span, max_block_bytes: 256 };

    let whole = run(options, std::iter::once(input));
    for block in &whole.0 {
        let start = usize::try_from(block.offset).expect("offset fits");
        assert_eq!(input.get(start), Some(&0x0B), "block offset {start} is not a 0x0B");
        if !block.data.is_empty() {
            let data = &input[start + 5..][..block.data.len()];
            assert_eq!(&block.data[..], data, "block data is not the input at {start}");
        }
    }
    let chunk = input.first().map_or(1, |b| usize::from(*b) % 7 + 1);
    assert_eq!(run(options, input.chunks(chunk)), whole, "chunking changed the outcome");

    let data: Vec<u8> = input.iter().copied().filter(|b| *b != 0x0B && *b != 0x1C).collect();
    let options = HllpOptions { checksum, span, ..HllpOptions::default() };
    let mut encoded = BytesMut::new();
    HllpCodec::new(options).encode(Outgoing::Data(&data), &mut encoded).expect("frameable data");
    let (blocks, error) = run(options, std::iter::once(&encoded[..]));
    assert_eq!(error, None);
    assert_eq!(blocks.len(), 1);
    let block = &blocks[0];
    assert_eq!(block.block_type, BlockType::Data);
    assert!(block.size_ok && block.checksum_ok, "{block:?}");
    assert!(block.notes.is_empty(), "{:?}", block.notes);
    assert_eq!(&block.data[..], &data[..]);
});
