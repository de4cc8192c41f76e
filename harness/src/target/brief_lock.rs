//! Taking a lock that every message takes for a moment, on a machine with fewer cores than
//! connections.
//!
//! The endpoint's state is locked once per message, for about a microsecond (the feed, the
//! applied log and the receipts change; everything read from the message is read before).
//! With many connection threads on few cores, the thread that finds the lock taken has
//! usually found its holder preempted, not running. `Mutex::lock` then spins for a moment and
//! sleeps in the kernel: the waiter's core, with nothing else to run, goes idle, every later
//! release has to wake a sleeper, and the lock stays contended from one message to the next.
//! In a virtual machine an idle core is a halted vCPU, and waking it costs tens of
//! microseconds. Measured on the 2-core VM with 16 connections (a raw client, interleaved
//! rounds of 2 s, 2026-12-05), `serve` in a session of its own fell into that state in most
//! rounds, at 72–84k messages/s against 100k+ in the others, and the rounds that fell had 20
//! times the futex calls of those that did not.
//!
//! [`lock_brief`] gives the core away instead (`sched_yield`), so the preempted holder, or
//! another connection's work, runs in the meantime; it sleeps as `Mutex::lock` does only
//! after [`YIELDS`] tries, so a long hold (the HTTP state endpoint serialising every receipt)
//! costs a waiter a bounded number of yields before it sleeps. The same rounds with it:
//! 91–107k/s, median 99k, where they had a median of 77k (the `mllp`-crate receiver, with no
//! shared state, 96k). With the servers in the client's session, as `cargo xtask bench net`
//! runs them, the gain is smaller: median 87.4k against 83.8k over 10 rounds (the crate's
//! receiver 88.1k); the futex calls fall from thousands a second to about fifty.

use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

/// Tries (each after a `sched_yield`) before a waiter sleeps on the lock. 20 and 100 measured
/// alike on the 2-core VM; 5 left about half the gain.
pub const YIELDS: u32 = 64;

/// Locks `mutex`, yielding the core while another thread holds it, and sleeping on it only
/// after [`YIELDS`] tries. A poisoned lock is taken as it is: the state it guards is changed
/// only by code that does not panic halfway (a panic there would be a bug, and the endpoint
/// goes on serving rather than stopping every connection).
pub fn lock_brief<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    for _ in 0..YIELDS {
        match mutex.try_lock() {
            Ok(guard) => return guard,
            Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => std::thread::yield_now(),
        }
    }
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_free_lock_is_taken_at_once_and_a_poisoned_one_as_it_is() {
        let mutex = Mutex::new(1);
        *lock_brief(&mutex) += 1;
        assert_eq!(*mutex.lock().unwrap(), 2);

        let poisoned = Arc::new(Mutex::new(7));
        let holder = Arc::clone(&poisoned);
        let _ = std::thread::spawn(move || {
            let _guard = holder.lock().unwrap();
            panic!("poisons the lock");
        })
        .join();
        assert!(poisoned.is_poisoned());
        assert_eq!(*lock_brief(&poisoned), 7);
    }

    /// A waiter that outlasts its yields sleeps on the lock and still gets it when the holder
    /// lets go, and changes made under either taking are all kept.
    #[test]
    fn a_waiter_gets_the_lock_when_a_long_holder_lets_go() {
        let mutex = Arc::new(Mutex::new(Vec::new()));
        let guard = mutex.lock().unwrap();
        let (done, finished) = mpsc::channel();
        let waiter = {
            let mutex = Arc::clone(&mutex);
            std::thread::spawn(move || {
                lock_brief(&mutex).push("waiter");
                done.send(()).unwrap();
            })
        };
        // Long enough for every yield to be spent, and the waiter must still be waiting.
        assert!(finished.recv_timeout(Duration::from_millis(200)).is_err());
        drop(guard);
        finished.recv_timeout(Duration::from_secs(10)).expect("the waiter got the lock");
        waiter.join().unwrap();
        assert_eq!(*mutex.lock().unwrap(), ["waiter"]);
    }

    /// Threads taking the lock at once (more than cores) each add their share, none lost.
    #[test]
    fn contended_takings_each_hold_the_lock_alone() {
        const THREADS: usize = 8;
        const EACH: usize = 2_000;
        let count = Arc::new(Mutex::new(0usize));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let count = Arc::clone(&count);
                std::thread::spawn(move || {
                    for _ in 0..EACH {
                        let mut guard = lock_brief(&count);
                        let seen = *guard;
                        std::thread::yield_now();
                        *guard = seen + 1;
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(*count.lock().unwrap(), THREADS * EACH);
    }
}
