//! `MllpCodec` on arbitrary bytes fed in chunks whose sizes come from the input itself, under
//! lenient, strict and small-limit options: never panics; every frame's payload is the input
//! right after the frame's `0x0B` (no byte invented, none rewritten); after each `Ok(None)` at
//! most `max_frame_bytes + 2` bytes stay buffered; and the outcome is the same in one read.
#![no_main]

use bytes::BytesMut;
use hl7_harness::transport::{Frame, FrameNote, MllpCodec, MllpOptions, Tolerance};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

#[derive(Debug, PartialEq)]
struct Outcome {
    frames: Vec<Frame>,
    pending: Vec<FrameNote>,
    error: Option<String>,
}

fn run<'a>(options: MllpOptions, chunks: impl Iterator<Item = &'a [u8]>) -> Outcome {
    let mut codec = MllpCodec::new(options);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let failed =
        |frames, error: String| Outcome { frames, pending: Vec::new(), error: Some(error) };
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => return failed(frames, e.to_string()),
            }
        }
        assert!(
            buf.len() <= options.max_frame_bytes + 2,
            "{} bytes buffered with a {}-byte limit",
            buf.len(),
            options.max_frame_bytes
        );
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => break,
            Err(e) => return failed(frames, e.to_string()),
        }
    }
    assert!(buf.is_empty(), "decode_eof returned Ok(None) with {} bytes left", buf.len());
    Outcome { frames, pending: codec.take_pending_notes(), error: None }
}

/// Chunks of 1 to 16 bytes, sizes taken from the input bytes in turn.
fn chunks(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = input;
    let mut i = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = (usize::from(input[i % input.len()]) % 16 + 1).min(rest.len());
        i += 1;
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

fuzz_target!(|input: &[u8]| {
    let all = [
        MllpOptions::default(),
        MllpOptions::strict(),
        MllpOptions { max_frame_bytes: 64, tolerance: Tolerance::LENIENT },
    ];
    for options in all {
        let whole = run(options, std::iter::once(input));
        for frame in &whole.frames {
            let start = usize::try_from(frame.offset).expect("offset fits");
            assert_eq!(input.get(start), Some(&0x0B), "frame offset {start} is not a 0x0B");
            let payload = &input[start + 1..][..frame.payload.len()];
            assert_eq!(&frame.payload[..], payload, "payload is not the input at {start}");
            assert!(frame.payload.len() <= options.max_frame_bytes);
        }
        let chunked = run(options, chunks(input));
        assert_eq!(chunked, whole, "chunking changed the outcome under {options:?}");
    }
});
