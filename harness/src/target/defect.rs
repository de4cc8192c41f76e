//! Switches the reference endpoint can turn on, one at a time (`serve --defect NAME`,
//! `run --target-defect NAME`), in two kinds that the code and `--list-defects` keep apart:
//!
//! - **violations**: known bugs, each a breach of HL7 v2, MLLP or HL7 over HTTP, so the harness
//!   can prove that a check catches the bug it is written for (with the reference endpoint's own
//!   profile: a defect is caught when the receiver declares what it is supposed to do);
//! - **permitted behaviours**: choices the standard leaves to a receiver (original mode only,
//!   one connection at a time, MFK for MFN, …), so the harness can prove that it passes a
//!   receiver making them, with no profile and with the profile that receiver would honestly
//!   declare ([`crate::target::profile`]).
//!
//! Names are kebab-case and never change once published.

use std::collections::BTreeSet;
use std::fmt;

macro_rules! defects {
    (
        violations { $($violation:ident = $vname:literal: $vdescription:literal,)+ }
        permitted { $($permitted:ident = $pname:literal: $pdescription:literal,)+ }
    ) => {
        /// One switch: a violation or a permitted behaviour.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Defect {
            $($violation,)+
            $($permitted,)+
        }

        impl Defect {
            pub const ALL: &'static [Defect] =
                &[$(Defect::$violation,)+ $(Defect::$permitted,)+];
            /// The switches that break the standard.
            pub const VIOLATIONS: &'static [Defect] = &[$(Defect::$violation,)+];
            /// The switches for behaviour the standard permits.
            pub const PERMITTED: &'static [Defect] = &[$(Defect::$permitted,)+];

            pub fn name(self) -> &'static str {
                match self {
                    $(Defect::$violation => $vname,)+
                    $(Defect::$permitted => $pname,)+
                }
            }

            /// One line: what the endpoint does differently.
            pub fn description(self) -> &'static str {
                match self {
                    $(Defect::$violation => $vdescription,)+
                    $(Defect::$permitted => $pdescription,)+
                }
            }

            /// Whether the switch is a behaviour the standard permits (or only advises
            /// against) rather than a violation: the harness must never report it as an
            /// error, with no profile and with the profile the receiver would honestly declare.
            pub fn is_permitted_behaviour(self) -> bool {
                match self {
                    $(Defect::$violation => false,)+
                    $(Defect::$permitted => true,)+
                }
            }
        }
    };
}

defects! {
    violations {
        WrongMsa2 = "wrong-msa2": "MSA-2 is not the MSH-10 of the message acknowledged",
        NoMsa2 = "no-msa2": "MSA-2 is empty",
        WrongMsh9 = "wrong-msh9": "MSH-9 of the ACK is ADT^A01 instead of ACK^<trigger>^ACK",
        EmptyMsh10 = "empty-msh10": "the ACK has no MSH-10 control id",
        InvalidMsa1 = "invalid-msa1": "MSA-1 is OK, which is not in table 0008",
        NoAck = "no-ack": "messages are processed but never acknowledged",
        LateAck = "late-ack": "every ACK is sent 6 seconds late (past a site's 5 s max_ack_time)",
        DropsEveryTenthAck = "drops-every-tenth-ack": "every tenth message received over MLLP is processed but never acknowledged",
        DuplicateAck = "duplicate-ack": "every ACK is sent twice",
        MissingTrailerCr = "missing-trailer-cr": "ACK frames end with 0x1C but no 0x0D",
        LfSegmentSeparators = "lf-segment-separators": "ACK segments end with LF instead of CR",
        FirstOfCoalescedOnly = "first-of-coalesced-only": "of several frames in one read, only the first is handled",
        AeOnNonAscii = "ae-on-non-ascii": "any byte above 0x7F gets AE, whatever MSH-18 declares",
        ResetOnNonAscii = "reset-on-non-ascii": "any byte above 0x7F resets the connection (no ACK)",
        AeOnEscapes = "ae-on-escapes": "any escape sequence gets AE",
        ArOnZSegments = "ar-on-z-segments": "any Z-segment gets AR",
        ResetOnCustomDelimiters = "reset-on-custom-delimiters": "delimiters other than |^~\\& reset the connection",
        AaToNonHl7 = "aa-to-non-hl7": "frames that are not HL7 messages get an AA",
        AaToAdtWithoutPid = "aa-to-adt-without-pid": "content errors (e.g. a missing PID) get AA instead of AE",
        AppliedTwice = "applied-twice": "a resent message (same MSH-3, MSH-4, MSH-10) is applied again",
        StoredEscaped = "stored-escaped": "values are stored with their escape sequences, not decoded",
        WrongCharset = "wrong-charset": "text is decoded as ISO-8859-1 whatever MSH-18 declares",
        FragmentedFrameDropped = "fragmented-frame-dropped": "a frame that arrives split over several reads is dropped without an ACK",
        HttpAuthBypass = "http-auth-bypass": "HTTP Basic credentials are not checked",
        HttpAliasNotChecked = "http-alias-not-checked": "the MSH-4 connecting-alias{data-controller-alias} rule is not enforced on HTTP",
        BadMsh7 = "bad-msh7": "MSH-7 of the ACK is not a timestamp",
        HttpStatusByAckCode = "http-status-by-ack-code": "HTTP answers AR/CR with 400 and AE/CE with 500, the ACK in the body (the superseded HL7-over-HTTP draft; the specification requires 2xx for every HL7 response)",
        DiesOnOversizedFrame = "dies-on-oversized-frame": "a frame above the size bound brings the endpoint down: no connection is served afterwards",
        StopsAfterReset = "stops-after-reset": "after a peer resets a connection, the endpoint serves no connection any more",
        StopsAfterConnectionStorm = "stops-after-connection-storm": "connections closed before any message leak: after 16 of them no connection is served",
        LfSegmentsUnanswered = "lf-segments-unanswered": "a message whose segments end with LF instead of CR is dropped without an ACK",
        JunkJoinsNextFrame = "junk-joins-next-frame": "a frame that follows bytes outside frames after an earlier frame is dropped without an ACK",
        SlowFrameDropped = "slow-frame-dropped": "a frame that takes more than 300 ms from its first byte to its end is dropped and the connection closed",
        FrameEndedBySilence = "frame-ended-by-silence": "a frame without its end block is taken as complete after 200 ms of silence and answered",
        HllpChecksumIgnored = "hllp-checksum-ignored": "HLLP blocks with a wrong size or checksum are processed and answered instead of refused with an N block",
        HllpStopsAfterDamagedBlock = "hllp-stops-after-damaged-block": "after refusing a damaged HLLP block, no new HLLP connection is served (the open one still is)",
        DuplicateUnanswered = "duplicate-unanswered": "a resent message (same MSH-3, MSH-4, MSH-10) is recognised but never acknowledged",
        // HL7 over HTTP, 2.4 Content Type and Character Set: an ER7 message's content type SHALL
        // be application/hl7-v2 (HAPI's client refuses anything else).
        HttpTextContentType = "http-text-content-type": "HTTP acknowledgments are labelled text/plain",
        AppliesOutOfOrder = "applies-out-of-order": "on an MLLP connection, every odd-numbered accepted message is acknowledged at once but applied only after the next one (or when the connection ends)",
    }
    permitted {
        // After the harness's own half-close the message is resent on a clean connection and
        // answered there; MLLP says nothing of half-closed connections (issue 13: a message is
        // lost only if its resend on a clean connection goes unanswered too).
        ClosesOnHalfClose = "closes-on-half-close": "when the peer shuts down its write side, the connection is closed without answering the pending message",
        // Chapter 2 states no rule that an ACK swaps MSH-3..6 (`ack.msh-swap`).
        NoSwap = "no-swap": "MSH-3..6 are copied, not swapped (the ACK claims to come from the sender)",
        ClosesOnBytesOutsideFrame = "closes-on-bytes-outside-frame": "the connection is closed when bytes arrive outside a frame",
        OneConnectionAtATime = "one-connection-at-a-time": "connections are served one after another, not concurrently",
        ProcessingIdNotEchoed = "processing-id-not-echoed": "MSH-11 of the ACK is always T, whatever the message's processing id",
        VersionNotEchoed = "version-not-echoed": "MSH-12 of the ACK is always 2.5, whatever the message's version",
        StandardDelimiters = "standard-delimiters": "the ACK always uses |^~\\&, whatever delimiters the message declared",
        NoErrSegment = "no-err-segment": "AE and AR acknowledgments carry no ERR segment",
        ClosesAfterAck = "closes-after-ack": "the connection is closed after every acknowledgment",
        IdleConnectionDroppedEarly = "idle-connection-dropped-early": "a connection idle for 150 ms is closed (allowed: the sender reconnects)",
        EatsByteAfterEndBlock = "eats-byte-after-end-block": "the byte after 0x1C is discarded unread, so after a frame without its 0x0D the next frame's 0x0B is lost with that frame",
        AnswersCoalescedInReverse = "answers-coalesced-in-reverse": "frames that arrive in one read are answered in reverse order (allowed: only a pipelining sender, which MLLP does not permit, can see it)",
        EnhancedModeIgnored = "enhanced-mode-ignored": "MSH-15/16 are ignored: every message is answered once, in original mode (AA/AE/AR)",
        AcceptsEveryMessage = "accepts-every-message": "every well-formed message is accepted, whatever its type, trigger event, version (MSH-12) or processing id (MSH-11)",
        AcceptsMissingRequired = "accepts-missing-required": "a message missing a required field or segment gets AA",
        PlainAckMsh9 = "plain-ack-msh9": "MSH-9 of the ACK to a v2.3 or v2.3.1 message is plain ACK",
        MfkForMfn = "mfk-for-mfn": "an MFN^M02 is answered with MFK^M02^MFK_M01 (MSA, MFI, one MFA per MFE) instead of ACK",
        ReceiverNamesItself = "receiver-names-itself": "MSH-3/4 of the ACK name the receiver itself (HL7HARNESS, REFERENCE), not the message's MSH-5/6",
    }
}

impl Defect {
    pub fn parse(name: &str) -> Option<Defect> {
        Defect::ALL.iter().copied().find(|d| d.name() == name)
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The defects switched on; empty for the correct endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defects(BTreeSet<Defect>);

impl Defects {
    pub fn none() -> Defects {
        Defects::default()
    }

    pub fn of(defects: impl IntoIterator<Item = Defect>) -> Defects {
        Defects(defects.into_iter().collect())
    }

    pub fn has(&self, defect: Defect) -> bool {
        self.0.contains(&defect)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Defect> + '_ {
        self.0.iter().copied()
    }
}

/// Parses a `--defect` value, naming the known ones when it is not one of them.
pub fn parse_defect(name: &str) -> Result<Defect, String> {
    Defect::parse(name).ok_or_else(|| {
        let known: Vec<&str> = Defect::ALL.iter().map(|d| d.name()).collect();
        format!("unknown defect {name:?}; known: {} (see serve --list-defects)", known.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case_and_parse_back() {
        let mut names = BTreeSet::new();
        for defect in Defect::ALL {
            let name = defect.name();
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
            assert!(names.insert(name), "{name} twice");
            assert_eq!(Defect::parse(name), Some(*defect));
        }
        assert_eq!(Defect::VIOLATIONS.len() + Defect::PERMITTED.len(), Defect::ALL.len());
        assert!(Defect::PERMITTED.iter().all(|d| d.is_permitted_behaviour()));
        assert!(!Defect::VIOLATIONS.iter().any(|d| d.is_permitted_behaviour()));
        assert!(parse_defect("no-such").unwrap_err().contains("wrong-msa2"));
    }
}
