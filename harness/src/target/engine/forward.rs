//! One queue and one forwarder per destination: the forwarder takes the oldest output, sends it
//! over the wire client (`transport::client`: MLLP or HLLP (`forward_hllp`) send-and-await on
//! MSA-2, or one HL7-over-HTTP post whose response is the ACK), and only when the
//! destination accepts it (AA or CA) takes the next one. Every wait on the destination has a
//! timeout (connect, write, ACK); a failure closes the connection (a late ACK on it would answer
//! the wrong send) and the same bytes, same MSH-10, go again after a backoff.

use super::core::{with_control_id, Engine};
use super::defect::EngineDefect;
use super::routes::{Destination, Retries};
use crate::hl7::ack::{AckCode, ReceivedAck};
use crate::transport::client::{
    connect_mllp, post_hl7, send_and_await_mllp, AckWait, MllpAnswer, Takes,
};
use crate::transport::connection::{MllpConnection, Timeouts, TransportError};
use crate::transport::http_client::HttpTarget;
use crate::transport::mllp::MllpOptions;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

/// One output waiting for its destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The input's sequence number in the inbox journal.
    pub sequence: u64,
    /// Which output of that input (1-based).
    pub number: u32,
    pub payload: Vec<u8>,
    /// The MSH-10 it carries: the ACK that answers it echoes this in MSA-2.
    pub control_id: String,
}

/// Counters of one destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationCounts {
    pub delivered: u64,
    pub dead: u64,
    /// Sends after the first of a message (after a timeout, a close or a retried NAK).
    pub resends: u64,
}

/// The outputs waiting for one destination; bounded by its `max_queue` on the accept path.
pub struct DestinationQueue {
    destination: Destination,
    items: Mutex<VecDeque<Outgoing>>,
    ready: Notify,
    delivered: AtomicU64,
    dead: AtomicU64,
    resends: AtomicU64,
}

impl DestinationQueue {
    pub fn new(destination: Destination) -> Self {
        DestinationQueue {
            destination,
            items: Mutex::default(),
            ready: Notify::new(),
            delivered: AtomicU64::new(0),
            dead: AtomicU64::new(0),
            resends: AtomicU64::new(0),
        }
    }

    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    fn items(&self) -> MutexGuard<'_, VecDeque<Outgoing>> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Messages waiting (the one being sent not counted).
    pub fn len(&self) -> usize {
        self.items().len()
    }

    pub fn is_empty(&self) -> bool {
        self.items().is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.len() >= self.destination.max_queue
    }

    pub fn counts(&self) -> DestinationCounts {
        DestinationCounts {
            delivered: self.delivered.load(Ordering::Relaxed),
            dead: self.dead.load(Ordering::Relaxed),
            resends: self.resends.load(Ordering::Relaxed),
        }
    }

    pub(super) fn push(&self, item: Outgoing) {
        self.items().push_back(item);
        self.ready.notify_one();
    }

    /// The oldest output, without waiting (for tests that play the forwarder).
    #[cfg(test)]
    pub(super) fn pop_now(&self) -> Option<Outgoing> {
        self.items().pop_front()
    }

    /// The next output to send: the oldest, or under `reorder` the newest.
    async fn next(&self, newest_first: bool) -> Outgoing {
        loop {
            let ready = self.ready.notified();
            let item = {
                let mut items = self.items();
                if newest_first {
                    items.pop_back()
                } else {
                    items.pop_front()
                }
            };
            if let Some(item) = item {
                return item;
            }
            ready.await;
        }
    }
}

/// The connection a forwarder keeps open to its destination, per transport (HTTP opens one
/// per post).
#[derive(Default)]
pub(super) struct Open {
    pub(super) mllp: Option<MllpConnection>,
    pub(super) hllp: Option<crate::transport::hllp_connection::HllpConnection>,
}

/// How one send ended.
pub(super) enum Attempt {
    Accepted,
    /// A negative ACK the destination's `retry_on` names, or an MSA-1 outside table 0008.
    Retry(String),
    /// A negative ACK not to be retried: the message is given up.
    GiveUp(String),
    /// No connection, no ACK in time, a close or reset.
    Failed(TransportError),
}

/// Runs the forwarder of destination `index` until the task is dropped. An output being sent
/// when the task is dropped stays open in the journal and is sent again after a restart.
pub async fn forward(engine: Arc<Engine>, index: usize) {
    let queue = Arc::clone(&engine.queues()[index]);
    let destination = queue.destination().clone();
    let reorder = engine.defects().has(EngineDefect::Reorder);
    let mut connection = Open::default();
    loop {
        let item = queue.next(reorder).await;
        let dead = deliver(&engine, &queue, &destination, &mut connection, item.clone()).await;
        engine.close_output(index, &item, dead);
        if dead {
            queue.dead.fetch_add(1, Ordering::Relaxed);
        } else {
            queue.delivered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sends `item` until the destination accepts it (false) or it is given up (true).
async fn deliver(
    engine: &Engine,
    queue: &DestinationQueue,
    destination: &Destination,
    connection: &mut Open,
    mut item: Outgoing,
) -> bool {
    let log = engine.log();
    let name = &destination.name;
    let mut backoff = destination.backoff;
    let mut resends = 0u32;
    loop {
        let attempt = send_once(destination, connection, &item).await;
        let why = match attempt {
            Attempt::Accepted => {
                log.line(format_args!("engine: {name}: {:?} delivered", item.control_id));
                return false;
            }
            Attempt::GiveUp(why) => {
                log.line(format_args!("engine: {name}: {:?} given up: {why}", item.control_id));
                return true;
            }
            Attempt::Retry(why) => why,
            Attempt::Failed(err) => {
                *connection = Open::default();
                if engine.defects().has(EngineDefect::DuplicateOnTimeout)
                    && matches!(err, TransportError::ReadTimeout { .. })
                {
                    item.control_id = format!("{}R{}", item.control_id, resends + 1);
                    item.payload = with_control_id(&item.payload, &item.control_id);
                }
                format!("{err} ({})", err.code())
            }
        };
        if let Retries::AtMost(n) = destination.retries {
            if resends >= n {
                log.line(format_args!(
                    "engine: {name}: {:?} given up after {} resend(s): {why}",
                    item.control_id, resends
                ));
                return true;
            }
        }
        log.line(format_args!(
            "engine: {name}: {:?} not delivered ({why}); again in {backoff:?}",
            item.control_id
        ));
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(destination.backoff_max);
        resends += 1;
        queue.resends.fetch_add(1, Ordering::Relaxed);
    }
}

async fn send_once(destination: &Destination, connection: &mut Open, item: &Outgoing) -> Attempt {
    if let Some(path) = &destination.http_path {
        return post_once(destination, path, item).await;
    }
    if destination.hllp {
        return super::forward_hllp::send_once(destination, &mut connection.hllp, item).await;
    }
    let open = match &mut connection.mllp {
        Some(open) => open,
        connection @ None => {
            let timeouts = timeouts(destination);
            match connect_mllp(&destination.addr, None, MllpOptions::default(), timeouts).await {
                Ok(c) => connection.insert(c),
                Err(err) => return Attempt::Failed(err),
            }
        }
    };
    let wait = AckWait {
        control_id: &item.control_id,
        takes: Takes::Echo,
        stop_on_commit_nak: true,
        wait: destination.ack_timeout,
    };
    match send_and_await_mllp(open, &item.payload, wait, |_| {}).await {
        Ok(MllpAnswer::Ack(ack)) => judge(destination, &ack),
        Ok(MllpAnswer::CommitNak) => Attempt::Retry("commit NAK".into()),
        Err(err) => Attempt::Failed(err),
    }
}

/// The waits on a destination: its connect timeout, its ACK timeout for reads, and for writes
/// the ACK timeout but at least a second.
pub(super) fn timeouts(destination: &Destination) -> Timeouts {
    Timeouts {
        connect: destination.connect_timeout,
        read: destination.ack_timeout,
        write: destination.ack_timeout.max(Duration::from_secs(1)),
    }
}

/// Posts `item` to an HL7-over-HTTP destination (one request per send, no connection kept):
/// the response body is the ACK. Every HL7 answer comes with a 2xx status (HL7 over HTTP,
/// "Application Error Conditions"), so another status, or a body without the ACK that echoes
/// the MSH-10, is no answer and the message is resent: a 401 (credentials missing or wrong)
/// among them, so an engine whose password is mended later still delivers. With `basic:`, the
/// credentials go with every post (the password read from its variable each time, never
/// logged).
async fn post_once(destination: &Destination, path: &str, item: &Outgoing) -> Attempt {
    let basic = destination.basic.as_ref().and_then(|b| b.password().map(|p| (b.user.clone(), p)));
    let target = HttpTarget { authority: destination.addr.clone(), path: path.to_string(), basic };
    let timeouts = timeouts(destination);
    let reply = match post_hl7(&target, None, &item.payload, timeouts).await {
        Ok(reply) => reply,
        Err(err) => return Attempt::Failed(err),
    };
    if !(200..300).contains(&reply.status) {
        return Attempt::Retry(format!("HTTP status {} (no HL7 answer)", reply.status));
    }
    match ReceivedAck::parse(&reply.body) {
        Some(ack) if ack.msa2 == item.control_id => judge(destination, &ack),
        Some(ack) => Attempt::Retry(format!("an ACK for {:?}, not this message", ack.msa2)),
        None => Attempt::Retry("no ACK in the HTTP response".into()),
    }
}

/// What an ACK means for the message (HL7 v2.5.1 ch. 2, 2.9.2 and 2.9.3): AA and CA deliver it;
/// AE/CR say the content cannot be taken (the same bytes would fail again), AR/CE that the
/// receiver could not take it now (down, internal error, storage) — which are resent is the
/// destination's `retry_on` (default AR and CE).
pub(super) fn judge(destination: &Destination, ack: &ReceivedAck) -> Attempt {
    let text = ack.text.as_deref().unwrap_or("");
    match AckCode::parse(&ack.msa1) {
        Some(code) if code.is_accept() => Attempt::Accepted,
        Some(code) if destination.retry_on.contains(&code) => {
            Attempt::Retry(format!("{code} {text}"))
        }
        Some(code) => Attempt::GiveUp(format!("{code} {text}")),
        None => Attempt::Retry(format!("MSA-1 {:?} is not in table 0008", ack.msa1)),
    }
}
