//! What the reference endpoint keeps of the messages it received, for its probes: a receipt
//! of every message (`GET /journal`) and the MSH-10 of every message applied (`GET /applied`),
//! each bounded to the newest [`MAX_RECEIPTS`]. When full, the oldest entry's buffers take the
//! newest one's text: memory stays flat, and no buffer another thread allocated is freed by
//! this one (glibc then works on another thread's arena).

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
    pub(super) fn log(&mut self, control_id: String) {
        if self.kept.len() == MAX_RECEIPTS {
            self.dropped += 1;
            if let Some(mut oldest) = self.kept.pop_front() {
                // Its buffer takes the new text, as the receipts' do.
                copy_into(&mut oldest, &control_id);
                self.kept.push_back(oldest);
                return;
            }
        }
        self.kept.push_back(control_id);
    }
}

impl Receipts {
    /// Keeps `receipt`, letting the oldest go when [`MAX_RECEIPTS`] are kept.
    pub(super) fn keep(&mut self, receipt: Receipt) {
        if self.kept.len() == MAX_RECEIPTS {
            self.dropped += 1;
            if let Some(mut oldest) = self.kept.pop_front() {
                // The oldest receipt's text buffers take the new one's text: no buffer is
                // freed here, where another thread's allocation would be.
                oldest.take_from(receipt);
                self.kept.push_back(oldest);
                return;
            }
        }
        self.kept.push_back(receipt);
    }
}

impl Receipt {
    /// Becomes `other`, keeping its own text buffers where it has them.
    fn take_from(&mut self, other: Receipt) {
        let Receipt { sequence, unix_millis, bytes, control_id, message_type, outcome, duplicate } =
            other;
        *self = Receipt {
            sequence,
            unix_millis,
            bytes,
            control_id: reuse(self.control_id.take(), control_id),
            message_type: reuse(self.message_type.take(), message_type),
            outcome,
            duplicate,
        };
    }
}

/// `new`'s text in `old`'s buffer when both are there.
fn reuse(old: Option<String>, new: Option<String>) -> Option<String> {
    match (old, new) {
        (Some(mut old), Some(new)) => {
            copy_into(&mut old, &new);
            Some(old)
        }
        (_, new) => new,
    }
}

/// `text` into `buffer`, in place when it fits.
fn copy_into(buffer: &mut String, text: &str) {
    buffer.clear();
    buffer.push_str(text);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A receipt that takes another's values holds exactly them, in its own buffers.
    #[test]
    fn a_receipt_takes_the_new_values_into_its_own_buffers() {
        let receipt = |id: &str, kind: Option<&str>| Receipt {
            sequence: id.len() as u64,
            unix_millis: 7,
            bytes: 100,
            control_id: Some(id.to_string()),
            message_type: kind.map(str::to_string),
            outcome: "AA".into(),
            duplicate: false,
        };
        let mut oldest = receipt("OLDER-CONTROL-ID", Some("ADT^A04^ADT_A01"));
        let buffer = oldest.control_id.as_ref().unwrap().as_ptr();
        let newest = Receipt { duplicate: true, outcome: "AE".into(), ..receipt("N1", None) };
        oldest.take_from(newest.clone());
        assert_eq!(oldest, newest);
        assert_eq!(oldest.control_id.as_ref().unwrap().as_ptr(), buffer, "the same buffer");
    }

    #[test]
    fn the_logs_keep_the_newest_and_count_the_rest() {
        let mut applied = Applied::default();
        let mut receipts = Receipts::default();
        for n in 0..MAX_RECEIPTS + 2 {
            applied.log(format!("M{n}"));
            receipts.keep(Receipt {
                sequence: n as u64,
                unix_millis: 0,
                bytes: 1,
                control_id: Some(format!("M{n}")),
                message_type: None,
                outcome: "AA".into(),
                duplicate: false,
            });
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
