//! The wire client: opening a connection to a target and the send-and-await-ACK every client
//! of the harness shares (the reference sender, `load`, the runner's canaries and HLLP steps;
//! the runner's pipelined reads use the same read loop, `FramedConnection::receive_until`).
//!
//! HL7 v2.5.1 ch. 2 (original acknowledgment mode, MSA-2): the acknowledgment that answers a
//! message is the one whose MSA-2 is the message's MSH-10; anything else that arrives meanwhile
//! answers another message (or none) and is a stray. What the caller does with a stray, a
//! timeout or a negative answer (resend, count, judge) is the caller's: this module only reads
//! until the answer or the deadline.

use super::blocking::BlockingMllpConnection;
use super::connection::{MllpConnection, Timeouts, TransportError};
use super::hllp::{BlockType, HllpBlock, NakReason};
use super::hllp_connection::HllpConnection;
use super::http_client::{post_message_tls, HttpReply, HttpTarget};
use super::mllp::{Frame, FrameKind, MllpOptions};
use crate::hl7::ack::ReceivedAck;
use crate::hl7::Message;
use std::ops::ControlFlow;
use std::time::Duration;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

/// Opens an MLLP connection to `addr` (`HOST:PORT`), over TLS when `tls` is given
/// (`mllps://`), within the connect timeout.
pub async fn connect_mllp(
    addr: &str,
    tls: Option<&TlsConnector>,
    options: MllpOptions,
    timeouts: Timeouts,
) -> Result<MllpConnection, TransportError> {
    match tls {
        Some(connector) => MllpConnection::connect_tls(addr, connector, options, timeouts).await,
        None => MllpConnection::connect(addr, options, timeouts).await,
    }
}

/// Posts `payload` to an HTTP(S) target (`tls` for `https://`) and reads the whole reply. The
/// Content-Type's charset is the one MSH-18 names, UTF-8 when it names none HTTP knows.
pub async fn post_hl7(
    target: &HttpTarget,
    tls: Option<&TlsConnector>,
    payload: &[u8],
    timeouts: Timeouts,
) -> Result<HttpReply, TransportError> {
    let charset =
        Message::parse(payload).ok().and_then(|m| m.charset().iana_name()).unwrap_or("UTF-8");
    post_message_tls(target, tls, payload, charset, timeouts).await
}

/// Which acknowledgment ends a wait, and for how long to wait.
#[derive(Debug, Clone, Copy)]
pub struct AckWait<'a> {
    /// The MSH-10 of the message sent: the ACK whose MSA-2 echoes it ends the wait.
    pub control_id: &'a str,
    /// Which frames end the wait besides that ACK.
    pub takes: Takes,
    /// MLLP release 2: a commit NAK ends the wait (the message is to be sent again). When
    /// false, commit blocks are passed over and only the application ACK counts.
    pub stop_on_commit_nak: bool,
    /// How long to wait in all.
    pub wait: Duration,
}

/// Which frames end a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// Only the ACK whose MSA-2 is the control id: a correct client.
    Echo,
    /// The first readable ACK whatever its MSA-2 (the reference sender's `ignores-msa2`
    /// defect).
    AnyAck,
    /// The first HL7 frame or data block, readable or not: the harness records what came and
    /// the checks judge it (the runner's canaries and HLLP steps).
    AnyMessage,
}

impl Takes {
    /// `AnyAck` when `any_msa2`, else `Echo`.
    pub fn any_msa2(any_msa2: bool) -> Takes {
        if any_msa2 {
            Takes::AnyAck
        } else {
            Takes::Echo
        }
    }
}

impl AckWait<'_> {
    /// Whether a frame holding `ack` (`None`: no ACK) ends the wait.
    fn ends(&self, ack: Option<&ReceivedAck>) -> bool {
        match (self.takes, ack) {
            (Takes::AnyMessage, _) | (Takes::AnyAck, Some(_)) => true,
            (Takes::Echo, Some(ack)) => ack.msa2 == self.control_id,
            (_, None) => false,
        }
    }

    /// What passes a frame that does not end the wait.
    fn passed(ack: Option<ReceivedAck>, offset: u64) -> Passed {
        match ack {
            Some(ack) => Passed::OtherAck(ack),
            None => Passed::Unreadable { offset },
        }
    }
}

/// Something read while waiting that did not end the wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Passed {
    /// An MLLP release 2 commit ACK (the application ACK still follows).
    CommitAck,
    /// A frame or data block that is not an HL7 message, at its byte offset in the stream.
    Unreadable { offset: u64 },
    /// An ACK for another message.
    OtherAck(ReceivedAck),
}

impl Passed {
    /// A stray as the reference sender lists it: `AA for "MSG-7"`, `unreadable frame at
    /// byte 12`; `None` for a commit ACK, which is no stray.
    pub fn describe(&self, unit: &str) -> Option<String> {
        match self {
            Passed::CommitAck => None,
            Passed::Unreadable { offset } => Some(format!("unreadable {unit} at byte {offset}")),
            Passed::OtherAck(ack) => Some(format!("{} for {:?}", ack.msa1, ack.msa2)),
        }
    }
}

/// The frame or block that ended a wait, with the ACK read from it (`None` only under
/// [`Takes::AnyMessage`], when it holds none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered<F> {
    pub frame: F,
    pub ack: Option<ReceivedAck>,
}

/// What ended a wait on an MLLP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MllpAnswer {
    Ack(ReceivedAck),
    /// The receiver could not store the message (MLLP release 2); send it again.
    CommitNak,
}

/// What ended a wait on an MLLP connection, with the whole frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MllpEnd {
    Answered(Answered<Frame>),
    /// The receiver could not store the message (MLLP release 2); send it again.
    CommitNak,
}

/// Writes `payload` as one MLLP frame and waits for its answer (see [`await_mllp_ack`]).
pub async fn send_and_await_mllp(
    connection: &mut MllpConnection,
    payload: &[u8],
    wait: AckWait<'_>,
    passed: impl FnMut(Passed),
) -> Result<MllpAnswer, TransportError> {
    connection.send(payload).await?;
    await_mllp_ack(connection, wait, passed).await
}

/// Reads frames until the ACK `wait` names or its time runs out (a `read-timeout`). Every frame
/// that does not end the wait goes to `passed`. A frame without an ACK never ends this wait,
/// whatever `wait.takes` says.
pub async fn await_mllp_ack(
    connection: &mut MllpConnection,
    wait: AckWait<'_>,
    passed: impl FnMut(Passed),
) -> Result<MllpAnswer, TransportError> {
    let wait = wait.for_an_ack();
    Ok(await_mllp_answer(connection, wait, passed).await?.into_ack())
}

/// [`await_mllp_ack`] on a blocking connection: the same frames end the wait, the same go to
/// `passed`.
pub fn await_mllp_ack_blocking(
    connection: &mut BlockingMllpConnection,
    wait: AckWait<'_>,
    mut passed: impl FnMut(Passed),
) -> Result<MllpAnswer, TransportError> {
    let wait = wait.for_an_ack();
    let deadline = Instant::now() + wait.wait;
    let end = connection.receive_until(deadline, |frame| wait.judge(frame, &mut passed))?;
    Ok(end.into_ack())
}

impl AckWait<'_> {
    /// This wait as one for an ACK: any message is narrowed to any ACK.
    fn for_an_ack(self) -> Self {
        let takes = match self.takes {
            Takes::AnyMessage => Takes::AnyAck,
            takes => takes,
        };
        AckWait { takes, ..self }
    }

    /// What one frame means for this wait: it ends it, or it goes to `passed`.
    fn judge(&self, frame: Frame, passed: &mut impl FnMut(Passed)) -> ControlFlow<MllpEnd> {
        match frame.kind {
            FrameKind::CommitAck => {
                passed(Passed::CommitAck);
                return ControlFlow::Continue(());
            }
            FrameKind::CommitNak if self.stop_on_commit_nak => {
                return ControlFlow::Break(MllpEnd::CommitNak)
            }
            FrameKind::CommitNak => return ControlFlow::Continue(()),
            FrameKind::Message => {}
        }
        let ack = ReceivedAck::parse(&frame.payload);
        if self.ends(ack.as_ref()) {
            return ControlFlow::Break(MllpEnd::Answered(Answered { frame, ack }));
        }
        passed(AckWait::passed(ack, frame.offset));
        ControlFlow::Continue(())
    }
}

impl MllpEnd {
    /// The answer of a wait for an ACK (which ends only at an ACK or a commit NAK).
    fn into_ack(self) -> MllpAnswer {
        match self {
            MllpEnd::CommitNak => MllpAnswer::CommitNak,
            MllpEnd::Answered(answered) => {
                MllpAnswer::Ack(answered.ack.expect("a wait for an ACK ends only at an ACK"))
            }
        }
    }
}

/// Writes `payload` as one MLLP frame and waits for the frame that answers it (see
/// [`await_mllp_answer`]).
pub async fn send_and_await_mllp_answer(
    connection: &mut MllpConnection,
    payload: &[u8],
    wait: AckWait<'_>,
    passed: impl FnMut(Passed),
) -> Result<MllpEnd, TransportError> {
    connection.send(payload).await?;
    await_mllp_answer(connection, wait, passed).await
}

/// Reads frames until one ends `wait` or its time runs out (a `read-timeout`); every frame that
/// does not end the wait goes to `passed`. The one MLLP wait the others are built on.
pub async fn await_mllp_answer(
    connection: &mut MllpConnection,
    wait: AckWait<'_>,
    mut passed: impl FnMut(Passed),
) -> Result<MllpEnd, TransportError> {
    let deadline = Instant::now() + wait.wait;
    connection.receive_until(deadline, |frame| wait.judge(frame, &mut passed)).await
}

/// How a wait on an HLLP connection treats blocks that carry no ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HllpBlocks {
    /// Answer a damaged block with an `N` block (the receiver then sends its answer again) and
    /// pass over blocks of unknown type; only an `N` block from the receiver ends the wait
    /// without an ACK. The reference sender's way.
    Recover,
    /// Any block that is not a good `D` block ends the wait: it is the receiver's negative
    /// answer. The load generator's way (it counts, it does not recover).
    FirstBad,
    /// Blocks as they come, neither recovered nor judged: an `N` block is the receiver's
    /// negative answer, and every other block (damaged, of unknown type) is read as an answer.
    /// The runner's way (what came is recorded; the checks judge it).
    AsTheyCome,
}

/// What ended a wait on an HLLP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HllpAnswer {
    Ack(ReceivedAck),
    /// An `N` block (with the reason it gave), or with [`HllpBlocks::FirstBad`] a damaged
    /// block or one of another type.
    Negative {
        reason: Option<NakReason>,
    },
}

/// What ended a wait on an HLLP connection, with the whole block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HllpEnd {
    Answered(Answered<HllpBlock>),
    /// As in [`HllpAnswer::Negative`].
    Negative {
        reason: Option<NakReason>,
    },
}

/// Writes `payload` as one `D` block and waits for its answer (see [`await_hllp_ack`]).
pub async fn send_and_await_hllp(
    connection: &mut HllpConnection,
    payload: &[u8],
    wait: AckWait<'_>,
    blocks: HllpBlocks,
    passed: impl FnMut(Passed),
) -> Result<HllpAnswer, TransportError> {
    connection.send_data(payload).await?;
    await_hllp_ack(connection, wait, blocks, passed).await
}

/// Reads blocks until the `D` block with the ACK `wait` names, an `N` block, or its time runs
/// out. Every data block that does not end the wait goes to `passed`. A block without an ACK
/// never ends this wait as an answer, whatever `wait.takes` says.
pub async fn await_hllp_ack(
    connection: &mut HllpConnection,
    wait: AckWait<'_>,
    blocks: HllpBlocks,
    passed: impl FnMut(Passed),
) -> Result<HllpAnswer, TransportError> {
    let takes = match wait.takes {
        Takes::AnyMessage => Takes::AnyAck,
        takes => takes,
    };
    match await_hllp_answer(connection, AckWait { takes, ..wait }, blocks, passed).await? {
        HllpEnd::Negative { reason } => Ok(HllpAnswer::Negative { reason }),
        HllpEnd::Answered(answered) => {
            Ok(HllpAnswer::Ack(answered.ack.expect("a wait for an ACK ends only at an ACK")))
        }
    }
}

/// Reads blocks until one ends `wait` (as `blocks` treats them) or its time runs out; every
/// data block that does not end the wait goes to `passed`. The one HLLP wait the others are
/// built on.
pub async fn await_hllp_answer(
    connection: &mut HllpConnection,
    wait: AckWait<'_>,
    blocks: HllpBlocks,
    mut passed: impl FnMut(Passed),
) -> Result<HllpEnd, TransportError> {
    let deadline = Instant::now() + wait.wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let block = connection.receive(Some(left)).await?;
        let negative = || HllpEnd::Negative { reason: block.nak_reason_sent() };
        match blocks {
            HllpBlocks::FirstBad
                if block.block_type != BlockType::Data || block.nak_reason().is_some() =>
            {
                return Ok(negative())
            }
            HllpBlocks::AsTheyCome if block.block_type == BlockType::Nak => return Ok(negative()),
            HllpBlocks::AsTheyCome => {}
            HllpBlocks::Recover | HllpBlocks::FirstBad => {
                // An N block, even a damaged one, is not answered with an N block (see
                // serve_hllp).
                let reason = block.nak_reason().filter(|_| block.block_type != BlockType::Nak);
                if let Some(reason) = reason {
                    connection.send_nak(reason).await?;
                    continue;
                }
                match block.block_type {
                    BlockType::Nak => return Ok(negative()),
                    BlockType::Data => {}
                    BlockType::Unknown(_) | BlockType::Missing => continue,
                }
            }
        }
        let ack = ReceivedAck::parse(&block.data);
        if wait.ends(ack.as_ref()) {
            return Ok(HllpEnd::Answered(Answered { frame: block, ack }));
        }
        passed(AckWait::passed(ack, block.offset));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::connection::tests::short;
    use crate::transport::hllp::HllpOptions;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    fn wait(control_id: &str) -> AckWait<'_> {
        AckWait {
            control_id,
            takes: Takes::Echo,
            stop_on_commit_nak: false,
            wait: Duration::from_secs(2),
        }
    }

    const ACK_OTHER: &[u8] = b"MSH|^~\\&|R|R|S|S|20240101||ACK|A1|P|2.5\rMSA|AA|OTHER\r";
    const ACK_MINE: &[u8] = b"MSH|^~\\&|R|R|S|S|20240101||ACK|A2|P|2.5\rMSA|AE|MINE|bad\r";

    /// A commit ACK, an unreadable frame, an ACK for another message, then the ACK for `MINE`.
    fn frames_before_mine() -> Vec<u8> {
        let mut bytes = b"\x0b\x06\x1c\r\x0bnot hl7\x1c\r".to_vec();
        for ack in [ACK_OTHER, ACK_MINE] {
            bytes.extend_from_slice(b"\x0b");
            bytes.extend_from_slice(ack);
            bytes.extend_from_slice(b"\x1c\r");
        }
        bytes
    }

    /// What a wait for `MINE` passed over in [`frames_before_mine`], in order.
    fn assert_passed_before_mine(seen: &[Passed]) {
        let described: Vec<_> = seen.iter().map(|p| p.describe("frame")).collect();
        assert_eq!(
            described,
            [None, Some("unreadable frame at byte 4".into()), Some("AA for \"OTHER\"".into())]
        );
    }

    /// The ACK whose MSA-2 is the MSH-10 ends the wait; a commit ACK, an unreadable frame and
    /// an ACK for another message before it are passed over, in order.
    #[tokio::test]
    async fn mllp_wait_ends_at_the_echoing_ack() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (client, accepted) =
            tokio::join!(connect_mllp(&addr, None, MllpOptions::default(), short()), async {
                listener.accept().await.unwrap().0
            });
        let (mut client, mut server) = (client.unwrap(), accepted);
        let bytes = frames_before_mine();
        server.write_all(&bytes).await.unwrap();
        let mut seen = Vec::new();
        let answer = await_mllp_ack(&mut client, wait("MINE"), |p| seen.push(p)).await.unwrap();
        let MllpAnswer::Ack(ack) = answer else { panic!("{answer:?}") };
        assert_eq!((ack.msa1.as_str(), ack.text.as_deref()), ("AE", Some("bad")));
        assert_passed_before_mine(&seen);
        let brief = AckWait { wait: Duration::from_millis(100), ..wait("MINE") };
        let err = await_mllp_ack(&mut client, brief, |_| {}).await.unwrap_err();
        assert_eq!(err.code(), "read-timeout");
        server.write_all(b"\x0b\x15\x1c\r").await.unwrap();
        let stop = AckWait { stop_on_commit_nak: true, ..wait("MINE") };
        assert_eq!(await_mllp_ack(&mut client, stop, |_| {}).await.unwrap(), MllpAnswer::CommitNak);
    }

    /// The blocking wait ends at the same ACK and passes over the same frames, in the same
    /// order; its timeout and its commit NAK are the async wait's.
    #[test]
    fn mllp_blocking_wait_ends_where_the_async_one_does() {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client =
            BlockingMllpConnection::connect(addr, MllpOptions::default(), short()).unwrap();
        let mut server = listener.accept().unwrap().0;
        let bytes = frames_before_mine();
        server.write_all(&bytes).unwrap();
        let mut seen = Vec::new();
        let answer = await_mllp_ack_blocking(&mut client, wait("MINE"), |p| seen.push(p)).unwrap();
        let MllpAnswer::Ack(ack) = answer else { panic!("{answer:?}") };
        assert_eq!((ack.msa1.as_str(), ack.text.as_deref()), ("AE", Some("bad")));
        assert_passed_before_mine(&seen);
        let brief = AckWait { wait: Duration::from_millis(100), ..wait("MINE") };
        let started = std::time::Instant::now();
        let err = await_mllp_ack_blocking(&mut client, brief, |_| {}).unwrap_err();
        assert_eq!(err.code(), "read-timeout");
        assert!(started.elapsed() >= Duration::from_millis(100), "not before its deadline");
        // The socket's timeout was cut to the short wait: a longer one still waits it out.
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            server.write_all(b"\x0b\x15\x1c\r").unwrap();
            server
        });
        let stop = AckWait { stop_on_commit_nak: true, ..wait("MINE") };
        let answer = await_mllp_ack_blocking(&mut client, stop, |_| {}).unwrap();
        assert_eq!(answer, MllpAnswer::CommitNak);
        drop(late.join().unwrap());
    }

    /// `FirstBad` ends at an `N` block; `Recover` passes a foreign ACK and takes its own.
    #[tokio::test]
    async fn hllp_wait_by_block_policy() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let options = HllpOptions::default();
        let (client, accepted) =
            tokio::join!(HllpConnection::connect(&addr, options, short()), listener.accept());
        let mut client = client.unwrap();
        let mut server =
            HllpConnection::from_stream(accepted.unwrap().0, options, short()).unwrap();
        server.send_nak(NakReason::Checksum).await.unwrap();
        let answer = await_hllp_ack(&mut client, wait("MINE"), HllpBlocks::FirstBad, |_| {});
        assert_eq!(
            answer.await.unwrap(),
            HllpAnswer::Negative { reason: Some(NakReason::Checksum) }
        );
        server.send_data(ACK_OTHER).await.unwrap();
        server.send_data(ACK_MINE).await.unwrap();
        let mut strays = 0;
        let answer =
            await_hllp_ack(&mut client, wait("MINE"), HllpBlocks::Recover, |_| strays += 1);
        let HllpAnswer::Ack(ack) = answer.await.unwrap() else { panic!() };
        assert_eq!((ack.msa2.as_str(), strays), ("MINE", 1));
    }

    /// `AnyMessage` ends at the first HL7 frame, readable or not, with the frame itself; a
    /// commit ACK before it is passed over, and `await_mllp_ack` still waits for an ACK.
    #[tokio::test]
    async fn mllp_any_message_hands_back_the_first_frame() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (client, accepted) =
            tokio::join!(connect_mllp(&addr, None, MllpOptions::default(), short()), async {
                listener.accept().await.unwrap().0
            });
        let (mut client, mut server) = (client.unwrap(), accepted);
        server.write_all(b"\x0b\x06\x1c\r\x0bnot hl7\x1c\r").await.unwrap();
        let any = AckWait { takes: Takes::AnyMessage, ..wait("") };
        let MllpEnd::Answered(answered) =
            await_mllp_answer(&mut client, any, |_| {}).await.unwrap()
        else {
            panic!("a frame ends the wait")
        };
        assert_eq!((&answered.frame.payload[..], answered.ack), (&b"not hl7"[..], None));
        server.write_all(b"\x0bnot hl7 either\x1c\r").await.unwrap();
        let brief = AckWait { wait: Duration::from_millis(100), ..any };
        let err = await_mllp_ack(&mut client, brief, |_| {}).await.unwrap_err();
        assert_eq!(err.code(), "read-timeout", "only an ACK ends an ACK wait");
    }

    /// `AsTheyCome` takes a damaged block as the answer (no N block back) and ends at an `N`
    /// block as a refusal.
    #[tokio::test]
    async fn hllp_blocks_as_they_come() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let options = HllpOptions::default();
        let (client, accepted) =
            tokio::join!(HllpConnection::connect(&addr, options, short()), listener.accept());
        let mut client = client.unwrap();
        let mut server =
            HllpConnection::from_stream(accepted.unwrap().0, options, short()).unwrap();
        // A block whose stated size is wrong: damaged.
        server.write_raw(b"\x0bD21\rAB00007000\x1c\r").await.unwrap();
        let any = AckWait { takes: Takes::AnyMessage, ..wait("") };
        let answer = await_hllp_answer(&mut client, any, HllpBlocks::AsTheyCome, |_| {});
        let HllpEnd::Answered(answered) = answer.await.unwrap() else { panic!("answered") };
        assert_eq!(answered.frame.nak_reason(), Some(NakReason::CharacterCount));
        let brief = Duration::from_millis(100);
        assert!(server.receive(Some(brief)).await.is_err(), "no N block was sent back");
        server.send_nak(NakReason::CharacterCount).await.unwrap();
        let answer = await_hllp_answer(&mut client, any, HllpBlocks::AsTheyCome, |_| {});
        let refused = HllpEnd::Negative { reason: Some(NakReason::CharacterCount) };
        assert_eq!(answer.await.unwrap(), refused);
    }
}
