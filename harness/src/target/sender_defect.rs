//! Known bugs of HL7 senders that the reference sender (`send --defect NAME`) can switch on, so
//! the harness can prove that its sender-side checks (nothing lost, retransmission keeps
//! MSH-10, no pipelining without ACK, sane retry timing) catch each one. Apart from the
//! receiver's [`Defect`](super::defect::Defect)s because they change another program. Names are
//! kebab-case and never change once published.

use std::collections::BTreeSet;
use std::fmt;

/// One switchable sender bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SenderDefect {
    NoRetry,
    NoReconnect,
    IgnoresMsa2,
    NoWaitForAck,
    NewMsh10OnRetry,
    RetryWithoutDelay,
    ResendOnSameConnection,
    DropsEmail,
    Msh4WithoutAlias,
}

impl SenderDefect {
    pub const ALL: &'static [SenderDefect] = &[
        SenderDefect::NoRetry,
        SenderDefect::NoReconnect,
        SenderDefect::IgnoresMsa2,
        SenderDefect::NoWaitForAck,
        SenderDefect::NewMsh10OnRetry,
        SenderDefect::RetryWithoutDelay,
        SenderDefect::ResendOnSameConnection,
        SenderDefect::DropsEmail,
        SenderDefect::Msh4WithoutAlias,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SenderDefect::NoRetry => "no-retry",
            SenderDefect::NoReconnect => "no-reconnect",
            SenderDefect::IgnoresMsa2 => "ignores-msa2",
            SenderDefect::NoWaitForAck => "no-wait-for-ack",
            SenderDefect::NewMsh10OnRetry => "new-msh10-on-retry",
            SenderDefect::RetryWithoutDelay => "retry-without-delay",
            SenderDefect::ResendOnSameConnection => "resend-on-same-connection",
            SenderDefect::DropsEmail => "drops-email",
            SenderDefect::Msh4WithoutAlias => "msh4-without-alias",
        }
    }

    /// One line: what the sender does wrong.
    pub fn description(self) -> &'static str {
        match self {
            SenderDefect::NoRetry => "a message without an ACK is never sent again",
            SenderDefect::NoReconnect => {
                "once the connection is lost, no new one is opened (later attempts fail)"
            }
            SenderDefect::IgnoresMsa2 => {
                "any ACK counts as delivery, whatever MSH-10 its MSA-2 acknowledges"
            }
            SenderDefect::NoWaitForAck => {
                "on MLLP, every message is sent before any ACK is read (pipelining without agreement)"
            }
            SenderDefect::NewMsh10OnRetry => "a resent message gets a new MSH-10",
            SenderDefect::RetryWithoutDelay => "resends at once, ignoring --retry-delay",
            SenderDefect::ResendOnSameConnection => {
                "after an ACK timeout, resends on the same connection (a peer that vanished \
                 without a FIN or RST keeps it forever)"
            }
            SenderDefect::DropsEmail => {
                "sends PID-13 (phone numbers and e-mail) empty: a field the interface requires \
                 goes missing (the content checks must catch it)"
            }
            SenderDefect::Msh4WithoutAlias => {
                "sends MSH-4 as the bare connecting alias, without the {data-controller-alias} a \
                 partner interface requires (the content checks must catch it)"
            }
        }
    }

    pub fn parse(name: &str) -> Option<SenderDefect> {
        SenderDefect::ALL.iter().copied().find(|d| d.name() == name)
    }
}

impl fmt::Display for SenderDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The sender defects switched on; empty for the correct sender.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderDefects(BTreeSet<SenderDefect>);

impl SenderDefects {
    pub fn of(defects: impl IntoIterator<Item = SenderDefect>) -> SenderDefects {
        SenderDefects(defects.into_iter().collect())
    }

    pub fn has(&self, defect: SenderDefect) -> bool {
        self.0.contains(&defect)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = SenderDefect> + '_ {
        self.0.iter().copied()
    }
}

/// Parses a `send --defect` value, naming the known ones when it is not one of them.
pub fn parse_sender_defect(name: &str) -> Result<SenderDefect, String> {
    SenderDefect::parse(name).ok_or_else(|| {
        let known: Vec<&str> = SenderDefect::ALL.iter().map(|d| d.name()).collect();
        format!(
            "unknown sender defect {name:?}; known: {} (see send --list-defects)",
            known.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case_and_parse_back() {
        let mut names = BTreeSet::new();
        for defect in SenderDefect::ALL {
            let name = defect.name();
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit()));
            assert!(names.insert(name), "{name} twice");
            assert_eq!(SenderDefect::parse(name), Some(*defect));
        }
        assert!(parse_sender_defect("no-such").unwrap_err().contains("no-retry"));
    }
}
