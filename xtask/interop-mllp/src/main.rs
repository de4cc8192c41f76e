//! An MLLP receiver built on the `mllp` crate 0.3 (crates.io), as an application using that crate
//! would write one: the crate's streaming `Decoder` reassembles frames, `Message::parse` reads
//! each one, and the crate's `build_ack` writes the answer. `cargo xtask interop` runs it as a
//! third-party receiver; what it fails is a finding about the crate (docs/interop.md).
//!
//! Usage: `interop-mllp ADDRESS` (e.g. `127.0.0.1:2575`). Prints `listening ADDRESS` once bound.
//!
//! `interop-mllp --cost FILE WARM EVICT_BYTES...` measures instead what one frame costs the
//! receiver's own code (for `cargo xtask bench cost`, beside the reference endpoint's): FILE
//! holds MLLP frames; the first WARM are answered to warm up, then each of the others is pushed
//! to the decoder, read back, answered and framed, as `serve` does with what a read brings,
//! timed one at a time. For each EVICT_BYTES the others are answered again with that many bytes
//! written between two frames (0: none, the code and data stay in the caches), and one line
//! `cost EVICT_BYTES NANOSECONDS_PER_FRAME` is printed.
//!
//! Every choice beyond the crate's own API is the plainest one an application would make, and is
//! declared in its target profile (xtask/interop-profiles/mllp-crate.yaml):
//! - one thread per connection, so connections are served concurrently;
//! - bytes outside a block: the decoder reports them (`Error::MissingStartBlock`) after it has
//!   already skipped them, so the receiver logs and carries on;
//! - a frame larger than the decoder's ceiling (`Error::FrameTooLarge`, 16 MiB by default): the
//!   connection is closed, since the stream cannot be trusted to resynchronise;
//! - a frame that parses: `AA` (the crate is a reader, not a validator, so every type, event,
//!   version and processing id is accepted); one that does not (`ParseError`): `AR`, built from
//!   an empty `AckContext`, so MSA-2 is empty (there is no MSH-10 to echo);
//! - the ACK's own MSH-10 is fresh per ACK, as the crate's documentation asks.
//!
//! The payload is read as UTF-8 (`Message::parse` takes `&str`); invalid bytes are replaced,
//! which keeps the delimiters and an ASCII MSH-10 intact.

use mllp::{build_ack, AckCode, AckContext, Decoder, Error, Message, Separators};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--cost") {
        if let Err(error) = cost(std::env::args().skip(2).collect()) {
            eprintln!("interop-mllp --cost: {error}");
            std::process::exit(2);
        }
        return;
    }
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_string());
    let listener = match TcpListener::bind(&address) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("interop-mllp: cannot listen on {address}: {error}");
            std::process::exit(2);
        }
    };
    let bound = listener.local_addr().map(|a| a.to_string()).unwrap_or(address);
    println!("listening {bound}");
    let counter = Arc::new(AtomicU64::new(0));
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || serve(stream, &counter));
            }
            Err(error) => eprintln!("interop-mllp: accept: {error}"),
        }
    }
}

/// Serves one connection until the peer closes it, it fails, or a frame is too large.
fn serve(mut stream: TcpStream, counter: &AtomicU64) {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let mut decoder = Decoder::new();
    let mut buffer = [0u8; 8192];
    loop {
        let read = match stream.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => n,
            Err(error) => {
                eprintln!("interop-mllp: {peer}: read: {error}");
                return;
            }
        };
        decoder.push(&buffer[..read]);
        while let Some(frame) = decoder.next_frame() {
            match frame {
                Ok(payload) => {
                    if let Err(error) = stream.write_all(&reply(&payload, counter)) {
                        eprintln!("interop-mllp: {peer}: write: {error}");
                        return;
                    }
                }
                Err(Error::MissingStartBlock) => {
                    eprintln!("interop-mllp: {peer}: skipped bytes outside a block");
                }
                Err(error) => {
                    eprintln!("interop-mllp: {peer}: {error}; closing");
                    return;
                }
            }
        }
    }
}

/// The framed answer to one payload, as written back.
fn reply(payload: &[u8], counter: &AtomicU64) -> Vec<u8> {
    mllp::frame(answer(payload, counter).as_bytes())
}

/// `--cost FILE WARM EVICT_BYTES...`: see the module's documentation.
fn cost(args: Vec<String>) -> Result<(), String> {
    let [file, warm, evictions @ ..] = args.as_slice() else {
        return Err("usage: --cost FILE WARM EVICT_BYTES...".into());
    };
    let bytes = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
    // Each frame ends with 0x1C 0x0D.
    let mut frames: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    for end in (1..bytes.len()).filter(|&i| bytes[i - 1] == 0x1c && bytes[i] == b'\r') {
        frames.push(&bytes[start..=end]);
        start = end + 1;
    }
    let warm: usize = warm.parse().map_err(|e| format!("WARM {warm}: {e}"))?;
    if frames.len() <= warm {
        return Err(format!("{file} holds {} frames, not more than WARM {warm}", frames.len()));
    }
    let counter = AtomicU64::new(0);
    let mut decoder = Decoder::new();
    let mut answer_one = |frame: &[u8]| {
        decoder.push(frame);
        let mut written = 0;
        while let Some(Ok(payload)) = decoder.next_frame() {
            written += reply(&payload, &counter).len();
        }
        written
    };
    for frame in &frames[..warm] {
        std::hint::black_box(answer_one(frame));
    }
    for eviction in evictions {
        let eviction: usize =
            eviction.parse().map_err(|e| format!("EVICT_BYTES {eviction}: {e}"))?;
        let mut junk = vec![0u8; eviction];
        let mut spent = std::time::Duration::ZERO;
        for (n, frame) in frames[warm..].iter().enumerate() {
            for byte in junk.iter_mut().step_by(64) {
                *byte = byte.wrapping_add(n as u8);
            }
            std::hint::black_box(&junk);
            let started = std::time::Instant::now();
            std::hint::black_box(answer_one(frame));
            spent += started.elapsed();
        }
        let measured = (frames.len() - warm) as f64;
        println!("cost {eviction} {:.0}", spent.as_nanos() as f64 / measured);
    }
    Ok(())
}

/// The crate's `build_ack` for one payload: AA when `Message::parse` reads it, else AR.
fn answer(payload: &[u8], counter: &AtomicU64) -> String {
    let control_id = format!("MLLPACK{}", counter.fetch_add(1, Ordering::Relaxed) + 1);
    let text = String::from_utf8_lossy(payload);
    match Message::parse(&text) {
        Ok(message) => {
            let context = AckContext::from_message(&message);
            build_ack(&context, AckCode::Accept, &control_id, "", message.separators())
        }
        Err(error) => build_ack(
            &AckContext::default(),
            AckCode::Reject,
            &control_id,
            &error.to_string(),
            Separators::default(),
        ),
    }
}
