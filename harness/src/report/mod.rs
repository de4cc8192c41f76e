//! Turning a run into something people and machines act on. For now: the terminal summary
//! (reports on disk, snapshots and sign-off build on the same outcomes).

pub mod terminal;
