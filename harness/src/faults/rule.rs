//! The proxy's rules as values: what a rule does ([`FaultKind`]), to which frames
//! ([`FaultSpec`]'s filters), in which direction. The `--fault SPEC` text ([`super::spec`]) and
//! the control interface parse to these; [`super::engine`] decides with them.

use super::select::Filter;
use std::time::Duration;

/// Which way a frame travels through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// From the downstream peer (the one that connected to `--listen`) to the upstream.
    Up,
    /// From the upstream back to the downstream peer (usually ACKs).
    Down,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }

    /// 0 for up, 1 for down: an index into per-direction arrays.
    pub fn index(self) -> usize {
        match self {
            Direction::Up => 0,
            Direction::Down => 1,
        }
    }
}

/// The directions a rule applies to (`dir=`; `both` when omitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directions {
    Up,
    Down,
    Both,
}

impl Directions {
    pub fn includes(self, dir: Direction) -> bool {
        matches!(
            (self, dir),
            (Directions::Both, _)
                | (Directions::Up, Direction::Up)
                | (Directions::Down, Direction::Down)
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Directions::Up => "up",
            Directions::Down => "down",
            Directions::Both => "both",
        }
    }
}

/// Which bytes of a frame `corrupt` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorruptTarget {
    /// The payload byte at this 0-based index (a frame shorter than that is left unchanged).
    Byte(usize),
    /// One payload byte chosen by the seed.
    Random,
    /// The last byte of MSA-2 (the control id an ACK answers).
    Msa2,
    /// The last byte of MSH-10 (the message's control id).
    Msh10,
}

/// Where a connection trigger fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerPoint {
    /// `after=N`: once the N-th frame of the direction (over the run) has been forwarded.
    AfterFrame(u64),
    /// `bytes=N`: once N bytes of the direction on one connection have been forwarded, even
    /// in the middle of a frame.
    AfterBytes(u64),
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// The frame is not forwarded.
    Drop,
    /// The frame is held this long before it is forwarded (later bytes wait behind it).
    Delay(Duration),
    /// The frame is forwarded twice.
    Duplicate,
    /// One byte of the payload is replaced (never by a framing byte).
    Corrupt(CorruptTarget),
    /// Every chunk in the direction waits this long before it is forwarded.
    Latency(Duration),
    /// Bytes per second, at most, in the direction.
    Bandwidth(u64),
    /// Writes of at most `size` bytes with `pause` between them.
    Slice { size: usize, pause: Duration },
    /// At the trigger point, the write side towards that direction's receiver is shut down.
    HalfClose { at: TriggerPoint },
    /// At the trigger point, both sockets of the connection are reset (RST).
    Reset { at: TriggerPoint },
    /// After the `after`-th frame (or at once when absent), every connection is reset and new
    /// ones are reset as they arrive, for `length`.
    Outage { after: Option<u64>, length: Duration },
}

impl FaultKind {
    /// The kind's name as written in a spec; also the fault id in events.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Drop => "drop",
            FaultKind::Delay(_) => "delay",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Corrupt(_) => "corrupt",
            FaultKind::Latency(_) => "latency",
            FaultKind::Bandwidth(_) => "bandwidth",
            FaultKind::Slice { .. } => "slice",
            FaultKind::HalfClose { .. } => "half-close",
            FaultKind::Reset { .. } => "reset",
            FaultKind::Outage { .. } => "outage",
        }
    }
}

/// One parsed `--fault` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    pub kind: FaultKind,
    pub dir: Directions,
    /// `frame=N`: only the N-th frame (1-based) in a direction, counted over the proxy's run.
    pub frame: Option<u64>,
    /// `p=F`: only with this probability, drawn from the seed.
    pub probability: Option<f64>,
    /// `type=ADT^A08`: only frames whose MSH-9 starts with these components.
    pub message_type: Option<String>,
}

impl FaultSpec {
    /// The rule's filters, as every host's rules state them.
    pub fn filter(&self) -> Filter<'_> {
        Filter {
            dir: self.dir,
            frame: self.frame,
            probability: self.probability,
            message_type: self.message_type.as_deref(),
        }
    }
}
