//! Where the reference endpoint's log lines go. The endpoint never prints by itself: the
//! caller chooses a [`Log`]. `serve` logs to standard error (`hl7-harness serve: <line>`, as it
//! always has); `run`, which starts a built-in endpoint per scenario file in-process, keeps the
//! lines ([`Log::kept`]) and hands them to its reporters with the file's events, so they no
//! longer land in the middle of the progress bar and the summary.

use std::sync::{Arc, Mutex};

/// The prefix of the endpoint's lines on standard error.
pub const SERVE: &str = "hl7-harness serve";

/// The lines a kept log holds at most; later ones are counted, not kept (a hostile case may
/// make the endpoint log a line per byte).
pub const KEPT_LINES: usize = 200;

/// A log sink the endpoint writes its lines to.
#[derive(Debug, Clone, Default)]
pub enum Log {
    /// Standard error, each line after `hl7-harness serve: `.
    #[default]
    Stderr,
    /// In memory, for the caller to read ([`Log::kept`]).
    Kept(Arc<Mutex<Kept>>),
}

/// The lines of a kept log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The first [`KEPT_LINES`] lines, in order.
    pub lines: Vec<String>,
    /// Lines past [`KEPT_LINES`], not kept.
    pub dropped: usize,
}

impl Log {
    /// A log that keeps its lines in memory.
    pub fn kept() -> Log {
        Log::Kept(Arc::default())
    }

    /// Writes one line (without its prefix or line end).
    pub fn line(&self, line: std::fmt::Arguments<'_>) {
        match self {
            Log::Stderr => eprintln!("{SERVE}: {line}"),
            Log::Kept(kept) => {
                let mut kept = kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if kept.lines.len() < KEPT_LINES {
                    kept.lines.push(line.to_string());
                } else {
                    kept.dropped += 1;
                }
            }
        }
    }

    /// The lines kept so far, taken out of the log (empty for [`Log::Stderr`]).
    pub fn take(&self) -> Kept {
        match self {
            Log::Stderr => Kept::default(),
            Log::Kept(kept) => {
                std::mem::take(&mut *kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_log_keeps_its_first_lines_and_counts_the_rest() {
        let log = Log::kept();
        for n in 0..KEPT_LINES + 3 {
            log.line(format_args!("line {n}"));
        }
        let kept = log.take();
        assert_eq!((kept.lines.len(), kept.dropped), (KEPT_LINES, 3));
        assert_eq!(kept.lines[1], "line 1");
        assert_eq!(log.take(), Kept::default(), "taken out");
    }
}
