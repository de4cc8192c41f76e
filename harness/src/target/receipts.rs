//! What the reference endpoint keeps of the messages it received, for its probes: a receipt
//! of every message (`GET /journal`) and the MSH-10 of every message applied (`GET /applied`),
//! each bounded to the newest [`MAX_RECEIPTS`]. An entry is given borrowed text and copies it
//! in under the state's lock; when full, into the oldest entry's buffers. Memory stays flat, a
//! message costs no allocation once the logs are full, and no buffer another thread allocated
//! is freed by this one (glibc then works on another thread's arena).

/// The most receipts kept for `GET /journal`; older ones are counted, not kept, so memory stays
/// bounded under any load (the journal file, when there is one, keeps everything).
pub const MAX_RECEIPTS: usize = 100_000;

/// One received payload, as `GET /journal` lists it: enough to check that nothing was lost and
/// nothing applied twice, without the message text (it may hold patient data).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Receipt {
    pub sequence: u64,
    pub unix_millis: u128,
    pub bytes: usize,
    /// MSH-10, MSH-9 as sent; absent when the payload is not HL7.
    pub control_id: Option<String>,
    pub message_type: Option<String>,
    /// MSA-1 of the answer, or `none` (no ACK), or `unreadable`; a word, not a copy, except
    /// for an ACK a defect rewrote.
    pub outcome: std::borrow::Cow<'static, str>,
    /// Recognised as a resend (same MSH-3, MSH-4, MSH-10) and not applied again.
    pub duplicate: bool,
}

/// A receipt as handling reads it, its text borrowed from the message: copied into a kept
/// [`Receipt`] by [`Receipts::keep`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Received<'m> {
    pub(super) sequence: u64,
    pub(super) unix_millis: u128,
    pub(super) bytes: usize,
    pub(super) control_id: Option<std::borrow::Cow<'m, str>>,
    pub(super) message_type: Option<std::borrow::Cow<'m, str>>,
    pub(super) outcome: std::borrow::Cow<'static, str>,
    pub(super) duplicate: bool,
}

#[derive(Debug, Default)]
pub(super) struct Receipts {
    pub(super) kept: std::collections::VecDeque<Receipt>,
    pub(super) dropped: u64,
}

/// The applied log `GET /applied` serves, bounded like the receipts.
#[derive(Debug, Default)]
pub(super) struct Applied {
    pub(super) kept: std::collections::VecDeque<String>,
    pub(super) dropped: u64,
}

impl Applied {
    /// Logs `control_id` as applied, letting the oldest go when [`MAX_RECEIPTS`] are kept.
    pub(super) fn log(&mut self, control_id: &str) {
        if self.kept.len() == MAX_RECEIPTS {
            self.dropped += 1;
            if let Some(mut oldest) = self.kept.pop_front() {
                // Its buffer takes the new text, as the receipts' do.
                copy_into(&mut oldest, control_id);
                self.kept.push_back(oldest);
                return;
            }
        }
        self.kept.push_back(control_id.to_owned());
    }
}

impl Receipts {
    /// Keeps `received`, letting the oldest go when [`MAX_RECEIPTS`] are kept.
    pub(super) fn keep(&mut self, received: Received<'_>) {
        if self.kept.len() == MAX_RECEIPTS {
            self.dropped += 1;
            if let Some(mut oldest) = self.kept.pop_front() {
                // The oldest receipt's text buffers take the new one's text: no buffer is
                // allocated, and none freed here, where another thread's allocation would be.
                oldest.take_from(received);
                self.kept.push_back(oldest);
                return;
            }
        }
        let mut receipt = Receipt {
            sequence: 0,
            unix_millis: 0,
            bytes: 0,
            control_id: None,
            message_type: None,
            outcome: "".into(),
            duplicate: false,
        };
        receipt.take_from(received);
        self.kept.push_back(receipt);
    }
}

impl Receipt {
    /// Becomes `received`, its text copied into its own buffers where it has them.
    fn take_from(&mut self, received: Received<'_>) {
        let Received { sequence, unix_millis, bytes, control_id, message_type, outcome, duplicate } =
            received;
        *self = Receipt {
            sequence,
            unix_millis,
            bytes,
            control_id: reuse(self.control_id.take(), control_id.as_deref()),
            message_type: reuse(self.message_type.take(), message_type.as_deref()),
            outcome,
            duplicate,
        };
    }
}

/// `new` in `old`'s buffer when both are there; in a new one when `old` has none.
fn reuse(old: Option<String>, new: Option<&str>) -> Option<String> {
    let new = new?;
    let mut buffer = old.unwrap_or_default();
    copy_into(&mut buffer, new);
    Some(buffer)
}

/// `text` into `buffer`, in place when it fits.
pub(super) fn copy_into(buffer: &mut String, text: &str) {
    buffer.clear();
    buffer.push_str(text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received<'a>(id: &'a str, kind: Option<&'a str>) -> Received<'a> {
        Received {
            sequence: id.len() as u64,
            unix_millis: 7,
            bytes: 100,
            control_id: Some(id.into()),
            message_type: kind.map(Into::into),
            outcome: "AA".into(),
            duplicate: false,
        }
    }

    /// What a receipt holds once it took `received`.
    fn kept(received: &Received<'_>) -> Receipt {
        Receipt {
            sequence: received.sequence,
            unix_millis: received.unix_millis,
            bytes: received.bytes,
            control_id: received.control_id.as_deref().map(str::to_owned),
            message_type: received.message_type.as_deref().map(str::to_owned),
            outcome: received.outcome.clone(),
            duplicate: received.duplicate,
        }
    }

    /// A receipt that takes another's values holds exactly them, in its own buffers.
    #[test]
    fn a_receipt_takes_the_new_values_into_its_own_buffers() {
        let mut oldest = kept(&received("OLDER-CONTROL-ID", Some("ADT^A04^ADT_A01")));
        let buffer = oldest.control_id.as_ref().unwrap().as_ptr();
        let newest = Received { duplicate: true, outcome: "AE".into(), ..received("N1", None) };
        oldest.take_from(newest.clone());
        assert_eq!(oldest, kept(&newest));
        assert_eq!(oldest.control_id.as_ref().unwrap().as_ptr(), buffer, "the same buffer");
    }

    /// Once full, the logs keep each new entry in the oldest one's buffers: no allocation per
    /// message, and none freed by a thread that did not allocate it.
    #[test]
    fn full_logs_take_new_entries_into_the_oldest_buffers() {
        let mut applied = Applied::default();
        let mut receipts = Receipts::default();
        for n in 0..MAX_RECEIPTS {
            let id = format!("M{n:06}");
            applied.log(&id);
            receipts.keep(received(&id, Some("ADT^A01")));
        }
        let applied_buffer = applied.kept.front().unwrap().as_ptr();
        let receipt_buffer = receipts.kept.front().unwrap().control_id.as_ref().unwrap().as_ptr();
        applied.log("NEWEST");
        receipts.keep(received("NEWEST", Some("ADT^A01")));
        assert_eq!(
            applied.kept.back().map(|b| (b.as_str(), b.as_ptr())),
            Some(("NEWEST", applied_buffer))
        );
        let newest = receipts.kept.back().unwrap().control_id.as_ref().unwrap();
        assert_eq!((newest.as_str(), newest.as_ptr()), ("NEWEST", receipt_buffer));
    }

    #[test]
    fn the_logs_keep_the_newest_and_count_the_rest() {
        let mut applied = Applied::default();
        let mut receipts = Receipts::default();
        for n in 0..MAX_RECEIPTS + 2 {
            let id = format!("M{n}");
            applied.log(&id);
            receipts.keep(Received { sequence: n as u64, ..received(&id, None) });
        }
        assert_eq!((applied.kept.len(), applied.dropped), (MAX_RECEIPTS, 2));
        assert_eq!((receipts.kept.len(), receipts.dropped), (MAX_RECEIPTS, 2));
        assert_eq!(applied.kept.front().map(String::as_str), Some("M2"));
        let last = format!("M{}", MAX_RECEIPTS + 1);
        assert_eq!(applied.kept.back(), Some(&last));
        assert_eq!(receipts.kept.front().map(|r| r.sequence), Some(2));
        assert_eq!(receipts.kept.back().and_then(|r| r.control_id.as_ref()), Some(&last));
    }
}
