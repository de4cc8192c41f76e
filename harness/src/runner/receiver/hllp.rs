//! The receiver role's answering server over HLLP (HL7 v2 Appendix C, Hybrid Lower Layer
//! Protocol), for the through role's HLLP destinations (`through.destinations.NAME.hllp`): the
//! same `CaseState`, answer rules and `answer` as over MLLP, reading blocks with the
//! transport's pure [`HllpCodec`] and writing each answer as a `D` block through it (no second
//! framer here).
//!
//! Appendix C 2.3, as the reference endpoint (`target::server::serve_hllp`) and the wire client
//! apply it: a good `D` block is an arrival, answered as the case says; a damaged block (size
//! or checksum wrong) is answered with an `N` block giving the reason (`C`, `X`) and not
//! processed; an `N` block from the engine (it could not read the answer) gets the last answer
//! again and is never itself answered with an `N` block; a block over the size limit gets an
//! `N` block `B` and the connection is closed (nothing more of it can be framed).
//!
//! A damaged block is evidence, not an error: it is recorded as an arrival (its bytes, the
//! codec's notes, the `N` block it got, never accepted), so the through checks name it — an
//! output the engine only ever sends damaged is "never acknowledged". It uses up its entry of
//! the case's `answers:` like any other arrival (the `N` block answered it). Memory is bounded
//! by the block limit (`hllp.max_block_bytes`) and the arrivals kept per case; every read ends
//! at the case deadline.

use super::{answer, write_frame, After, AnswerWriter, CaseState, ANSWER_WRITE_TIMEOUT};
use crate::netlab::Cut;
use crate::observation::Arrival;
use crate::transport::hllp::{BlockType, HllpBlock, HllpCodec, HllpError, HllpOptions};
use crate::transport::hllp::{NakReason, Outgoing};
use bytes::BytesMut;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::codec::{Decoder, Encoder};

/// The write side of an HLLP connection: every answer framed as a `D` block by the
/// transport's codec, the last one kept for an `N` block that asks for it again.
pub(super) struct HllpWriter<W> {
    inner: W,
    options: HllpOptions,
    last: Mutex<Option<Vec<u8>>>,
}

impl<W> HllpWriter<W> {
    pub(super) fn new(inner: W, options: HllpOptions) -> HllpWriter<W> {
        HllpWriter { inner, options, last: Mutex::new(None) }
    }

    fn last(&self) -> Option<Vec<u8>> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for HllpWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<W: AnswerWriter> AnswerWriter for HllpWriter<W> {
    fn reset_on_close(&self) {
        self.inner.reset_on_close();
    }

    fn frame(&self, payload: &[u8], out: &mut BytesMut) -> bool {
        let framed = HllpCodec::new(self.options).encode(Outgoing::Data(payload), out).is_ok();
        if framed {
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(payload.to_vec());
        }
        framed
    }
}

/// Serves one accepted connection of an HLLP destination until the engine ends it, an answer
/// closes it, or the case deadline passes.
pub(super) async fn serve_connection(
    state: Arc<CaseState>,
    stream: TcpStream,
    deadline: Instant,
    options: HllpOptions,
) {
    let connection = state.take_connection_number();
    // The through role has no lab: nothing is ever cut, the port stands for the connection.
    let cut = Cut::Port(state.port);
    let (reader, writer) = stream.into_split();
    let writer = HllpWriter::new(writer, options);
    read_and_answer(&state, (connection, cut), reader, writer, deadline).await;
}

/// What one block asks of the connection.
enum Next {
    KeepReading,
    Stop,
}

/// Reads blocks until the peer ends, an answer closes the connection, a block outgrows the
/// limit, or `deadline` passes; answers each as Appendix C and the case say.
async fn read_and_answer<R, W>(
    state: &Arc<CaseState>,
    (connection, cut): (usize, Cut),
    mut reader: R,
    writer: HllpWriter<W>,
    deadline: Instant,
) where
    R: AsyncRead + Unpin,
    W: AnswerWriter,
{
    let options = writer.options;
    let writer = Arc::new(tokio::sync::Mutex::new(writer));
    let mut codec = HllpCodec::new(options);
    let mut buffer = BytesMut::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match tokio::time::timeout_at(deadline, reader.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(n)) => n,
        };
        let received = state.started.elapsed();
        buffer.extend_from_slice(&chunk[..n]);
        loop {
            let block = match codec.decode(&mut buffer) {
                Ok(Some(block)) => block,
                Ok(None) => break,
                Err(error) => {
                    too_large(state, &writer, connection, &error, received).await;
                    return;
                }
            };
            let next = take_block(state, &writer, (connection, cut), block, received).await;
            if let Next::Stop = next {
                return;
            }
        }
    }
}

/// The codec's notes on a block, as an arrival keeps them.
fn notes_of(block: &HllpBlock) -> Vec<(String, u64)> {
    block.notes.iter().map(|n| (n.code().to_string(), n.offset())).collect()
}

/// Answers one block; says whether to go on reading.
async fn take_block<W: AnswerWriter>(
    state: &Arc<CaseState>,
    writer: &Arc<tokio::sync::Mutex<HllpWriter<W>>>,
    (connection, cut): (usize, Cut),
    block: HllpBlock,
    received: Duration,
) -> Next {
    // An N block, even a damaged one, is not answered with an N block: it asks for the last
    // answer again (two peers with different checksum variants would NAK each other forever).
    if block.block_type == BlockType::Nak {
        let last = writer.lock().await.last();
        if let Some(last) = last {
            if !write_frame(writer, &last).await {
                return Next::Stop;
            }
        }
        return Next::KeepReading;
    }
    let notes = notes_of(&block);
    if let Some(reason) = block.nak_reason() {
        let found: Vec<String> = block.notes.iter().map(|n| n.to_finding().message).collect();
        let what =
            format!("N block ({}): {}; not processed", char::from(reason.byte()), found.join("; "));
        let written = write_nak(writer, reason).await;
        record_evidence(state, connection, (block.data.to_vec(), notes), what, received, written);
        return if written { Next::KeepReading } else { Next::Stop };
    }
    if block.block_type != BlockType::Data {
        let what = match block.block_type {
            BlockType::Unknown(byte) => format!("a block of unknown type 0x{byte:02x}"),
            _ => "a block without a type".to_string(),
        };
        let what = format!("{what}: not processed, no answer");
        record_evidence(state, connection, (block.data.to_vec(), notes), what, received, false);
        return Next::KeepReading;
    }
    let payload = block.data.to_vec();
    match answer(state, writer, (connection, cut), payload, notes, received).await {
        After::KeepReading => Next::KeepReading,
        // Only the packet-level answers hold a connection (their packets dropped in the lab);
        // the through role refuses them at load, so without a lab the connection just ends.
        After::Hold => Next::Stop,
        After::Close => {
            let mut writer = writer.lock().await;
            let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
            Next::Stop
        }
        After::Reset => {
            writer.lock().await.reset_on_close();
            Next::Stop
        }
    }
}

/// A block over the limit: `N` block `B`, recorded, and the connection given up (the rest of
/// the block cannot be told from what follows it).
async fn too_large<W: AnswerWriter>(
    state: &Arc<CaseState>,
    writer: &Arc<tokio::sync::Mutex<HllpWriter<W>>>,
    connection: usize,
    error: &HllpError,
    received: Duration,
) {
    let written = write_nak(writer, NakReason::BufferOverflow).await;
    let what = format!("N block (B): {error}; connection closed");
    record_evidence(state, connection, (Vec::new(), Vec::new()), what, received, written);
}

/// Writes an `N` block giving `reason`; false when the connection is gone.
async fn write_nak<W: AnswerWriter>(
    writer: &Arc<tokio::sync::Mutex<HllpWriter<W>>>,
    reason: NakReason,
) -> bool {
    let mut writer = writer.lock().await;
    let mut block = BytesMut::new();
    if HllpCodec::new(writer.options).encode(Outgoing::Nak(reason), &mut block).is_err() {
        return false;
    }
    let write = tokio::time::timeout(ANSWER_WRITE_TIMEOUT, writer.write_all(&block));
    matches!(write.await, Ok(Ok(())))
}

/// Records a block that was not an arrival to answer: never accepted nor rejected.
fn record_evidence(
    state: &CaseState,
    connection: usize,
    (payload, notes): (Vec<u8>, Vec<(String, u64)>),
    what: String,
    received: Duration,
    answered: bool,
) {
    let number = state.take_arrival_number();
    let mut arrival = Arrival::unanswered(connection, payload, notes, received);
    arrival.answer = what;
    arrival.answered = answered.then(|| state.started.elapsed());
    state.record(number, arrival);
}

#[cfg(test)]
mod tests {
    //! The HLLP answering server over an in-memory stream: what the engine's side reads back
    //! (blocks decoded by the same codec) and what the harness records.

    use super::*;
    use crate::faults::{Answer, AnswerRules, NakCode};
    use crate::transport::hllp::{Checksum, ChecksumSpan};
    use tokio::io::{DuplexStream, WriteHalf};

    const A04: &[u8] = b"MSH|^~\\&|S|SF|R|RF|20240101||ADT^A04^ADT_A01|C1|P|2.5\rPID|1||X\r";

    fn state(answers: &[Answer]) -> Arc<CaseState> {
        Arc::new(CaseState {
            started: Instant::now(),
            arrivals: std::sync::Mutex::new(Vec::new()),
            next_arrival: std::sync::Mutex::new(0),
            next_connection: std::sync::Mutex::new(1),
            answers: AnswerRules::from_list(answers),
            behaviours: Vec::new(),
            lab: None,
            port: 0,
            cuts: std::sync::Mutex::new(Vec::new()),
            judge: None,
            held: std::sync::Mutex::new(Vec::new()),
        })
    }

    fn block(options: HllpOptions, outgoing: Outgoing<'_>) -> Vec<u8> {
        let mut out = BytesMut::new();
        HllpCodec::new(options).encode(outgoing, &mut out).unwrap();
        out.to_vec()
    }

    /// Writes `bytes` as the engine, then reads `blocks` blocks back (or until the server
    /// closes); returns them and the recorded arrivals.
    async fn exchange(
        answers: &[Answer],
        options: HllpOptions,
        bytes: &[Vec<u8>],
        blocks: usize,
    ) -> (Vec<HllpBlock>, Vec<Arrival>) {
        let state = state(answers);
        let (engine, destination) = tokio::io::duplex(1 << 16);
        let deadline = Instant::now() + Duration::from_secs(5);
        let serving = tokio::spawn({
            let state = Arc::clone(&state);
            async move {
                let (reader, writer): (_, WriteHalf<DuplexStream>) = tokio::io::split(destination);
                let writer = HllpWriter::new(writer, options);
                read_and_answer(&state, (1, Cut::Port(0)), reader, writer, deadline).await;
            }
        });
        let (mut from, mut to) = tokio::io::split(engine);
        let mut got = Vec::new();
        let mut codec = HllpCodec::new(options);
        let mut buffer = BytesMut::new();
        // One answer read per written block before the next block goes; then the rest.
        for (n, chunk) in bytes.iter().enumerate() {
            to.write_all(chunk).await.unwrap();
            let want = if n + 1 == bytes.len() { blocks } else { got.len() + 1 };
            while got.len() < want.min(blocks) {
                if let Ok(Some(block)) = codec.decode(&mut buffer) {
                    got.push(block);
                    continue;
                }
                let wait = Duration::from_millis(300);
                match tokio::time::timeout(wait, from.read_buf(&mut buffer)).await {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => break,
                }
            }
        }
        drop((from, to));
        serving.await.unwrap();
        let arrivals = state.arrivals.lock().unwrap().iter().map(|(_, a)| a.clone()).collect();
        (got, arrivals)
    }

    #[tokio::test]
    async fn a_good_block_is_answered_in_a_d_block_as_the_case_says() {
        let options = HllpOptions::default();
        let sent = [block(options, Outgoing::Data(A04)), block(options, Outgoing::Data(A04))];
        let answers = [Answer::Nak(NakCode::AR)];
        let (got, arrivals) = exchange(&answers, options, &sent, 2).await;
        let texts: Vec<String> =
            got.iter().map(|b| String::from_utf8_lossy(&b.data).into_owned()).collect();
        assert!(got.iter().all(|b| b.block_type == BlockType::Data && b.nak_reason().is_none()));
        assert!(texts[0].contains("MSA|AR|C1"), "{texts:?}");
        assert!(texts[1].contains("MSA|AA|C1"), "{texts:?}");
        assert!(arrivals[0].rejected && arrivals[1].accepted, "{arrivals:?}");
    }

    /// A damaged block gets an `N` block with its reason and is kept as evidence, never
    /// accepted; the resend is answered. An `N` block from the engine gets the last answer
    /// again. The peers' checksum variant is the one configured (sum-mod256 here).
    #[tokio::test]
    async fn a_damaged_block_is_nakked_recorded_and_the_last_answer_repeated_on_request() {
        let options = HllpOptions {
            checksum: Checksum::SumMod256,
            span: ChecksumSpan::StartBlockToData,
            ..HllpOptions::default()
        };
        let good = block(options, Outgoing::Data(A04));
        let mut damaged = good.clone();
        let at = damaged.len() - 3;
        damaged[at] = if damaged[at] == b'0' { b'1' } else { b'0' };
        let nak = block(options, Outgoing::Nak(NakReason::Checksum));
        let (got, arrivals) = exchange(&[], options, &[damaged, good, nak], 3).await;
        assert_eq!(got[0].nak_reason_sent(), Some(NakReason::Checksum), "{got:?}");
        assert!(String::from_utf8_lossy(&got[1].data).contains("MSA|AA|C1"));
        assert_eq!(got[2].data, got[1].data, "the last answer again");
        assert_eq!(arrivals.len(), 2, "{arrivals:?}");
        let evidence = &arrivals[0];
        assert!(evidence.answer.starts_with("N block (X): block checksum says"), "{evidence:?}");
        assert!(!evidence.accepted && !evidence.rejected);
        assert_eq!(evidence.notes[0].0, "hllp-checksum-mismatch");
        assert_eq!(evidence.payload, A04, "the bytes that arrived");
        assert!(arrivals[1].accepted);
    }

    /// A block over the limit: `N` block `B`, recorded, and the connection closed, memory
    /// bounded by the limit however much the engine writes.
    #[tokio::test]
    async fn a_block_over_the_limit_is_refused_and_the_connection_closed() {
        let options = HllpOptions { max_block_bytes: 64, ..HllpOptions::default() };
        let mut big = vec![0x0b_u8];
        big.extend(std::iter::repeat_n(b'A', 4096));
        let (got, arrivals) = exchange(&[], options, &[big], 1).await;
        assert_eq!(got[0].nak_reason_sent(), Some(NakReason::BufferOverflow), "{got:?}");
        assert!(arrivals[0].answer.starts_with("N block (B):"), "{arrivals:?}");
        assert!(arrivals[0].answer.ends_with("connection closed"));
    }

    /// `close` shuts the connection without an answer; `duplicate_ack` writes two `D` blocks.
    #[tokio::test]
    async fn close_and_duplicate_answers_over_hllp() {
        let options = HllpOptions::default();
        let sent = [block(options, Outgoing::Data(A04))];
        let (got, arrivals) = exchange(&[Answer::DuplicateAck], options, &sent, 2).await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].data, got[1].data);
        assert_eq!(arrivals[0].answer, "AA twice");
        let (got, arrivals) = exchange(&[Answer::Close], options, &sent, 1).await;
        assert!(got.is_empty(), "{got:?}");
        assert_eq!(arrivals[0].answer, "closed, no ACK");
    }
}
