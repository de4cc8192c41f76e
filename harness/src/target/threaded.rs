//! The correct endpoint's plain MLLP connections, each on its own thread: a blocking read
//! sleeps in the kernel until the next message comes, so a message costs its read and its
//! answer's write and nothing between (no readiness poll, no task wake-up). Measured on
//! loopback (`cargo xtask bench net`, 2 cores, four runs on 2026-12-04) this takes the
//! endpoint from 0.64–0.91× a bare `mllp`-crate receiver's rate to 0.78–1.04× with one
//! connection, and from 0.70–0.73× to 0.75–0.88× with sixteen.
//!
//! Only what needs none of the async loop's machinery comes here: no TLS, no MLLP release 2
//! commit acknowledgements, no defect to play. Everything else, and every connection past
//! the bound ([`DEFAULT_CONNECTION_THREADS`], `serve --connection-threads`), is served by
//! [`server`](super::server) as before, and both answer alike: the same codec and reassembly
//! read the frames, the same `Endpoint` journals, decides, applies and acknowledges, the same
//! lines go to the log. When the listener stops, a thread's connection goes on until its peer
//! closes it or it idles out, as a connection's task on the async loop does.

use super::endpoint::{Endpoint, Held};
use crate::transport::blocking::BlockingMllpConnection;
use crate::transport::connection::{Timeouts, TransportError};
use crate::transport::mllp::{FrameKind, MllpOptions};
use crate::transport::read_spin::ReadSpin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Connections served on threads at once unless told otherwise (`serve --connection-threads`);
/// the next ones go to the async loop. A thread costs its stack's touched pages and its read
/// buffer's, so this bounds what idle connections can hold that way (the async loop's idle
/// connection costs about 7 KiB).
pub const DEFAULT_CONNECTION_THREADS: usize = 64;

/// How long a connection's thread keeps trying its socket after an answer before its read
/// sleeps, unless told otherwise (`serve --read-spin`): longer than a closed-loop peer on
/// loopback takes to read an ACK and send its next message, so that message finds the thread
/// awake ([`read_spin`](crate::transport::read_spin)). One connection on the 2-core VM, a
/// fixed wait of each length (medians of 2 s rounds): none 16.5k round trips/s, 10 µs 22.0k,
/// 50 µs 40.2k.
pub const DEFAULT_READ_SPIN: Duration = Duration::from_micros(50);

/// Counts the connections on threads, shared by one listener's accept loop.
#[derive(Debug)]
pub struct ConnectionThreads {
    busy: Arc<AtomicUsize>,
    /// At most this many at once (0: none).
    limit: usize,
    /// Each thread's wait awake after an answer (zero: none).
    read_spin: Duration,
}

/// One connection's place among the threads, given back when the thread ends.
struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ConnectionThreads {
    /// At most `limit` connections on threads at once, each waiting awake on its socket up to
    /// `read_spin` after an answer before its read sleeps.
    pub fn new(limit: usize, read_spin: Duration) -> ConnectionThreads {
        ConnectionThreads { busy: Arc::default(), limit, read_spin }
    }

    /// How many connections are on threads now.
    pub fn busy(&self) -> usize {
        self.busy.load(Ordering::SeqCst)
    }

    /// Whether `endpoint` may serve a connection on a thread: the correct endpoint on plain
    /// MLLP without commit acknowledgements.
    pub fn suits(endpoint: &Endpoint, tls: bool, commit_acks: bool) -> bool {
        !tls && !commit_acks && endpoint.defects().is_empty()
    }

    /// Serves `stream` on a thread of its own when one is free; gives the stream back when
    /// not (all are busy, or the thread could not start), for the async loop to serve.
    pub fn serve(
        &self,
        stream: std::net::TcpStream,
        endpoint: &Arc<Endpoint>,
        options: MllpOptions,
        timeouts: Timeouts,
    ) -> Result<(), std::net::TcpStream> {
        let taken = self.busy.fetch_add(1, Ordering::SeqCst);
        let place = Place(Arc::clone(&self.busy));
        if taken >= self.limit {
            return Err(stream);
        }
        // The thread gets its own handle of the socket, so the stream can be given back
        // when the thread cannot start.
        let Ok(own) = stream.try_clone() else { return Err(stream) };
        let endpoint = Arc::clone(endpoint);
        let read_spin = self.read_spin;
        let started = std::thread::Builder::new().name("mllp-connection".into()).spawn(move || {
            let _place = place;
            let spin = ReadSpin::new(read_spin);
            serve_connection(own, &endpoint, options, timeouts, spin);
        });
        match started {
            Ok(_) => Ok(()),
            Err(_) => Err(stream),
        }
    }
}

/// Serves one connection until it ends, as `server::handle_connection` serves the correct
/// endpoint's.
fn serve_connection(
    stream: std::net::TcpStream,
    endpoint: &Endpoint,
    options: MllpOptions,
    timeouts: Timeouts,
    spin: ReadSpin,
) {
    let log = endpoint.log();
    let peer = stream.peer_addr();
    let mut connection = match BlockingMllpConnection::from_stream(stream, options, timeouts) {
        Ok(connection) => connection.with_spin(spin),
        Err(source) => {
            if let Ok(peer) = peer {
                let err = TransportError::Io { peer, source };
                log.line(format_args!("{peer}: {err} ({})", err.code()));
            }
            return;
        }
    };
    let peer = connection.peer();
    let mut held = Held::default();
    loop {
        let frame = match connection.receive() {
            Ok(frame) => frame,
            Err(err) => {
                if !matches!(err, TransportError::PeerClosed { buffered: 0, .. }) {
                    log.line(format_args!("{peer}: {} ({})", err, err.code()));
                }
                for note in connection.take_pending_notes() {
                    super::server::log_note(log, peer, &note);
                }
                break;
            }
        };
        for note in &frame.notes {
            super::server::log_note(log, peer, note);
        }
        if frame.kind != FrameKind::Message {
            continue;
        }
        let answer = match endpoint.handle_on(&frame.payload, Some(&mut held)) {
            Ok(handled) => {
                if let Some(why) = &handled.unreadable {
                    log.line(format_args!(
                        "{peer}: frame at byte {} is not an HL7 message: {why}",
                        frame.offset
                    ));
                }
                handled.ack.map(|ack| (ack, "ACK"))
            }
            Err(err) => {
                log.line(format_args!("{peer}: {err}; message refused, not acknowledged"));
                endpoint.refusal(&frame.payload).map(|refusal| (refusal, "AR"))
            }
        };
        if let Some((answer, what)) = answer {
            if let Err(err) = connection.send(&answer) {
                log.line(format_args!("{peer}: {what} not sent: {err} ({})", err.code()));
                break;
            }
        }
    }
    endpoint.release(&mut held);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::defect::{Defect, Defects};
    use crate::target::log::Log;
    use crate::target::responder::ResponderConfig;
    use crate::transport::connection::tests::short;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    const A04: &[u8] =
        b"MSH|^~\\&|EHR|HOSP|H|F|20240101||ADT^A04^ADT_A01|M1|P|2.6\rEVN|A04|20240101\r\
        PID|1||C1^^^EHR^PI||Doe^Jo||19800101|F\rPV1|1|O\r";

    /// `count` accepted connections and their client ends.
    fn accepted(count: usize) -> Vec<(TcpStream, TcpStream)> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        (0..count)
            .map(|_| {
                let client = TcpStream::connect(addr).unwrap();
                (listener.accept().unwrap().0, client)
            })
            .collect()
    }

    fn framed(payload: &[u8]) -> Vec<u8> {
        [&[0x0b][..], payload, &[0x1c, 0x0d]].concat()
    }

    /// Reads one MLLP frame from `client`, within a bound.
    fn read_frame(client: &mut TcpStream) -> Vec<u8> {
        client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(&[0x1c, 0x0d]) && got.len() < 64 * 1024 {
            assert_eq!(client.read(&mut byte).unwrap(), 1, "closed after {got:?}");
            got.push(byte[0]);
        }
        got
    }

    /// Waits (bounded) until no connection is on a thread.
    fn all_ended(threads: &ConnectionThreads) -> bool {
        (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            threads.busy() == 0
        })
    }

    #[test]
    fn only_the_correct_endpoint_on_plain_mllp_without_commit_acks_gets_threads() {
        let correct = Endpoint::new(ResponderConfig::default());
        assert!(ConnectionThreads::suits(&correct, false, false));
        assert!(!ConnectionThreads::suits(&correct, true, false), "TLS");
        assert!(!ConnectionThreads::suits(&correct, false, true), "commit acknowledgements");
        let defective =
            Endpoint::new(ResponderConfig::default()).with_defects(Defects::of([Defect::NoAck]));
        assert!(!ConnectionThreads::suits(&defective, false, false), "a defect to play");
    }

    #[test]
    fn a_thread_answers_each_message_logs_what_it_tolerated_and_ends_with_its_connection() {
        let log = Log::kept();
        let endpoint = Arc::new(Endpoint::new(ResponderConfig::default()).with_log(log.clone()));
        let threads = ConnectionThreads::new(DEFAULT_CONNECTION_THREADS, DEFAULT_READ_SPIN);
        let (stream, mut client) = accepted(1).remove(0);
        threads.serve(stream, &endpoint, MllpOptions::default(), short()).unwrap();
        assert_eq!(threads.busy(), 1);
        client.write_all(&[b"junk".as_slice(), &framed(A04)].concat()).unwrap();
        let ack = read_frame(&mut client);
        assert!(ack.windows(6).any(|w| w == b"MSA|AA"), "{}", String::from_utf8_lossy(&ack));
        client.write_all(&framed(b"not HL7")).unwrap();
        client.write_all(&framed(A04)).unwrap();
        let again = read_frame(&mut client);
        assert!(
            again.windows(6).any(|w| w == b"MSA|AA"),
            "{:?} {:?}",
            String::from_utf8_lossy(&again),
            log.take()
        );
        drop(client);
        assert!(all_ended(&threads), "the thread ends when the peer closes");
        assert_eq!(endpoint.received(), 3, "every frame is received, the non-HL7 one too");
        let lines = log.take().lines;
        assert!(
            lines.iter().any(|l| l.contains("tolerated mllp-bytes-outside-frame")),
            "{lines:?}"
        );
        assert!(lines.iter().any(|l| l.contains("is not an HL7 message")), "{lines:?}");
    }

    #[test]
    fn connections_past_the_bound_are_given_back_and_places_come_free_when_threads_end() {
        let endpoint = Arc::new(Endpoint::new(ResponderConfig::default()).with_log(Log::kept()));
        let threads = ConnectionThreads::new(DEFAULT_CONNECTION_THREADS, DEFAULT_READ_SPIN);
        let mut clients = Vec::new();
        for (n, (stream, client)) in
            accepted(DEFAULT_CONNECTION_THREADS + 1).into_iter().enumerate()
        {
            let served = threads.serve(stream, &endpoint, MllpOptions::default(), short());
            assert_eq!(served.is_ok(), n < DEFAULT_CONNECTION_THREADS, "connection {n}");
            if let Err(mut given_back) = served {
                // Given back whole: still open, nothing read from it.
                client.try_clone().unwrap().write_all(b"x").unwrap();
                let mut byte = [0u8; 1];
                given_back.read_exact(&mut byte).unwrap();
                assert_eq!(&byte, b"x");
            }
            clients.push(client);
        }
        assert_eq!(threads.busy(), DEFAULT_CONNECTION_THREADS);
        drop(clients);
        assert!(all_ended(&threads), "{} still busy", threads.busy());
        let (stream, _client) = accepted(1).remove(0);
        assert!(threads.serve(stream, &endpoint, MllpOptions::default(), short()).is_ok());
    }
}
