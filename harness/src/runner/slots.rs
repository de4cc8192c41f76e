//! The run's `--jobs` slots, handed out longest work first: a case asks for a slot with an
//! estimate of how long it will hold it (its declared waits, see [`super::estimate`]), and when
//! a slot comes free the waiting case with the largest estimate gets it (ties in the order they
//! asked). Longest-processing-time-first keeps a long case from starting last and holding the
//! run open alone; a FIFO semaphore would start the cases in file order instead.
//!
//! A case registers when it asks ([`Slots::ticket`], no await), so the order does not depend
//! on when its task is first polled. A case cancelled while it waits, or after its slot was
//! handed to it but before it saw it, gives the slot back.

use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

/// `jobs` slots shared by every file of a run.
pub(super) struct Slots {
    state: Mutex<State>,
}

struct State {
    free: usize,
    waiting: BinaryHeap<Waiter>,
    /// Counts tickets, so equal estimates are served in the order they asked.
    asked: u64,
}

/// A case waiting for a slot; the largest estimate is at the top of the heap, then the first
/// to ask.
struct Waiter {
    estimate: Duration,
    asked: u64,
    handed: oneshot::Sender<()>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        (self.estimate, self.asked) == (other.estimate, other.asked)
    }
}

impl Eq for Waiter {}

impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.estimate.cmp(&other.estimate).then(other.asked.cmp(&self.asked))
    }
}

/// A held slot; dropping it hands it to the next waiting case.
pub(super) struct Slot {
    slots: Arc<Slots>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.release();
    }
}

/// A place in the queue for a slot.
pub(super) struct Ticket {
    slots: Arc<Slots>,
    /// `None` when the slot was free at once.
    handed: Option<oneshot::Receiver<()>>,
}

impl Slots {
    pub(super) fn new(jobs: usize) -> Arc<Self> {
        let state = State { free: jobs.max(1), waiting: BinaryHeap::new(), asked: 0 };
        Arc::new(Slots { state: Mutex::new(state) })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent under a panic elsewhere: every change is one statement.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks for a slot now, for work expected to hold it about `estimate`.
    pub(super) fn ticket(self: &Arc<Self>, estimate: Duration) -> Ticket {
        let mut state = self.lock();
        let slots = Arc::clone(self);
        if state.free > 0 && state.waiting.is_empty() {
            state.free -= 1;
            return Ticket { slots, handed: None };
        }
        let (handed, receiver) = oneshot::channel();
        state.asked += 1;
        let asked = state.asked;
        state.waiting.push(Waiter { estimate, asked, handed });
        Ticket { slots, handed: Some(receiver) }
    }

    /// Asks for a slot and waits for it.
    pub(super) async fn acquire(self: &Arc<Self>, estimate: Duration) -> Slot {
        self.ticket(estimate).slot().await
    }

    /// A slot came free: to the waiting case with the largest estimate that still waits, else
    /// back to the free ones.
    fn release(&self) {
        let mut state = self.lock();
        while let Some(waiter) = state.waiting.pop() {
            if waiter.handed.send(()).is_ok() {
                return;
            }
        }
        state.free += 1;
    }
}

impl Ticket {
    /// Waits until the slot is this ticket's.
    pub(super) async fn slot(mut self) -> Slot {
        if let Some(handed) = self.handed.as_mut() {
            // The sender lives in the queue until it hands the slot over; it is only dropped
            // unsent by a panic while the lock is held, and then the slot is taken as handed
            // rather than waited for forever.
            let _ = handed.await;
        }
        self.handed = None;
        Slot { slots: Arc::clone(&self.slots) }
    }

    /// The slot, if it is this ticket's already (a test's look at the order, no await).
    #[cfg(test)]
    fn try_slot(&mut self) -> Option<Slot> {
        let ready = match self.handed.as_mut() {
            None => true,
            Some(handed) => handed.try_recv().is_ok(),
        };
        ready.then(|| {
            self.handed = None;
            Slot { slots: Arc::clone(&self.slots) }
        })
    }
}

impl Drop for Ticket {
    /// A ticket given up while it waited: a slot handed to it meanwhile goes to the next.
    fn drop(&mut self) {
        if let Some(mut handed) = self.handed.take() {
            handed.close();
            if handed.try_recv().is_ok() {
                self.slots.release();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Which of `tickets` hold a slot now, by index; a ticket whose slot came is taken out.
    fn holding(tickets: &mut [Option<Ticket>], held: &mut Vec<(usize, Slot)>) -> Vec<usize> {
        for (i, place) in tickets.iter_mut().enumerate() {
            if let Some(slot) = place.as_mut().and_then(Ticket::try_slot) {
                *place = None;
                held.push((i, slot));
            }
        }
        held.iter().map(|(i, _)| *i).collect()
    }

    #[test]
    fn free_slots_go_at_once_then_the_longest_waiting_work_first() {
        let slots = Slots::new(2);
        let estimates = [100, 5_000, 300, 5_000, 0, 10_000];
        let mut tickets: Vec<Option<Ticket>> =
            estimates.iter().map(|&e| Some(slots.ticket(ms(e)))).collect();
        let mut held = Vec::new();
        // The first two asked while slots were free.
        assert_eq!(holding(&mut tickets, &mut held), [0, 1]);
        let mut order = Vec::new();
        while !held.is_empty() {
            // Ending the earliest-held work hands its slot on.
            drop(held.remove(0));
            let before = held.len();
            holding(&mut tickets, &mut held);
            order.extend(held[before..].iter().map(|(i, _)| *i));
        }
        // 10 s, then the two 5 s in the order they asked (the first already runs), 300 ms, …
        assert_eq!(order, [5, 3, 2, 4]);
    }

    #[test]
    fn a_ticket_given_up_passes_its_turn_and_its_slot_on() {
        let slots = Slots::new(1);
        let running = slots.ticket(ms(1)).try_slot();
        assert!(running.is_some());
        let long = slots.ticket(ms(900));
        let mut short = slots.ticket(ms(10));
        // Given up while waiting: the queue skips it.
        drop(long);
        drop(running);
        let short_slot = short.try_slot();
        assert!(short_slot.is_some());
        // Handed a slot but given up before taking it: the slot is free again.
        let late = slots.ticket(ms(5));
        drop(short_slot);
        drop(late);
        assert!(slots.ticket(ms(1)).try_slot().is_some());
        assert_eq!(slots.lock().free, 1);
    }
}
