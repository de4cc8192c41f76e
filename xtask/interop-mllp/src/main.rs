//! An MLLP receiver built on the `mllp` crate 0.3 (crates.io), as an application using that crate
//! would write one: the crate's streaming `Decoder` reassembles frames, `Message::parse` reads
//! each one, and the crate's `build_ack` writes the answer. `cargo xtask interop` runs it as a
//! third-party receiver; what it fails is a finding about the crate (docs/interop.md).
//!
//! Usage: `interop-mllp ADDRESS` (e.g. `127.0.0.1:2575`). Prints `listening ADDRESS` once bound.
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
                    let ack = answer(&payload, counter);
                    if let Err(error) = stream.write_all(&mllp::frame(ack.as_bytes())) {
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
