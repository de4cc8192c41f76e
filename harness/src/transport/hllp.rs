//! HLLP (Hybrid Lower Layer Protocol) blocks, as a pure `tokio_util` codec.
//!
//! Sources: HL7 v2 Appendix C, "Hybrid Lower Layer Protocol" (2.2 Blocks, 2.3 Processing Rules),
//! as published at <http://amisha.pragmaticdata.com/doc/HL7/LLP.HTML> and in the v2+ draft at
//! <http://v2plus.hl7.org/2021Jan/lower-layer-protocol.html>; the block layout as summarised at
//! <http://healthcareinformatics3000feet.blogspot.com/2007/12/hl7v2x-and-low-layer-protocols.html>
//! and in the Sun/Oracle TCP/IP HL7 adapter guide
//! (<https://docs.oracle.com/cd/E19509-01/821-0377/givxo/index.html>); the additive checksum
//! from iNTERFACEWARE's HLLP note (<https://blog.interfaceware.com/hybrid-lower-layer-protocol-hllp>).
//!
//! A block is
//!
//! ```text
//! <SB> t v v <CR> data... s s s s s c c c <EB> <CR>
//! ```
//!
//! `<SB>` = `0x0B`; `t` the block type (`D` data, `N` negative acknowledgement); `vv` the protocol
//! version (`21`); `<CR>`; the data; the block size as five ASCII decimal digits; the block
//! checksum as three ASCII decimal digits (`000`-`255`); `<EB>` = `0x1C`; `<CR>`. There is no
//! positive acknowledgement block: the receiver answers a good data block with a `D` block
//! carrying its HL7 response, and a damaged one with an `N` block whose data is one reason byte
//! (`C` character count wrong, `X` checksum wrong, `B` data too long for the input buffer).
//!
//! The stored excerpts of the Appendix C text used here give the block types, the NAK reasons
//! and the processing rules, but not the exact span of the size and checksum fields; and
//! implementations differ anyway (iNTERFACEWARE: the checksums used in HLLP "are non-standard").
//! So how the checksum is computed and which bytes both fields cover are options:
//!
//! - [`Checksum::XorDecimal`] (default): exclusive OR of the covered bytes, written in decimal.
//!   This is the block checksum of the HL7 Appendix C text.
//! - [`Checksum::SumMod256`]: the sum of the covered bytes modulo 256, written in decimal; the
//!   "BCC (Block Character Check), the sum of all characters in a block" iNTERFACEWARE describes.
//! - [`ChecksumSpan::Data`] (default): size and checksum cover the data bytes only, as the Oracle
//!   adapter guide states for the size ("the length of the data", at most 99999).
//! - [`ChecksumSpan::StartBlockToData`]: they cover every byte from `<SB>` to the last data byte.
//!
//! A block whose size or checksum does not match, or whose header or trailer is malformed, is
//! still decoded: [`HllpBlock::nak_reason`] says which NAK the receiver owes. Only a block too
//! large to buffer, or a stream cut inside a block, is an [`HllpError`]. Memory is bounded like
//! the MLLP reader's: bytes outside blocks are counted and dropped, and a block is an error as
//! soon as it grows past [`HllpOptions::max_block_bytes`].

use crate::hl7::{Finding, Location, Severity};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

pub const START_BLOCK: u8 = 0x0B;
pub const END_BLOCK: u8 = 0x1C;
pub const CARRIAGE_RETURN: u8 = 0x0D;
/// Protocol version this writer sends (HL7 Appendix C: the characters `2` `1`).
pub const VERSION: [u8; 2] = *b"21";
/// Largest data size the five-digit size field can state.
pub const MAX_DECLARED_SIZE: usize = 99_999;
/// `t v v <CR>`.
const HEADER_LEN: usize = 4;
/// Five size digits and three checksum digits.
const TRAILER_LEN: usize = 8;
const KEPT_OUTSIDE_BYTES: usize = 16;
const RULE_BLOCKS: &str = "HL7 v2 Appendix C, Hybrid Lower Layer Protocol, 2.2 Blocks";

/// How the block checksum is computed. Both are written as three decimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Checksum {
    /// Exclusive OR of the covered bytes (HL7 Appendix C).
    #[default]
    XorDecimal,
    /// Sum of the covered bytes modulo 256 (the "BCC" iNTERFACEWARE describes).
    SumMod256,
}

impl Checksum {
    pub fn compute(self, bytes: &[u8]) -> u8 {
        match self {
            Checksum::XorDecimal => bytes.iter().fold(0, |acc, &b| acc ^ b),
            Checksum::SumMod256 => bytes.iter().fold(0u8, |acc, &b| acc.wrapping_add(b)),
        }
    }
}

/// Which bytes the block size and checksum cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumSpan {
    /// The data bytes only.
    #[default]
    Data,
    /// From `<SB>` up to and including the last data byte.
    StartBlockToData,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HllpOptions {
    pub checksum: Checksum,
    pub span: ChecksumSpan,
    /// Largest block accepted, from `<SB>` to the trailing `<CR>`.
    pub max_block_bytes: usize,
}

impl Default for HllpOptions {
    fn default() -> Self {
        HllpOptions {
            checksum: Checksum::default(),
            span: ChecksumSpan::default(),
            max_block_bytes: 16 * 1024 * 1024,
        }
    }
}

/// The block type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockType {
    /// `D`: an HL7 message or the HL7 response to one.
    Data,
    /// `N`: negative acknowledgement of the previous block.
    Nak,
    /// Any other byte.
    Unknown(u8),
    /// The block is too short to have a type.
    Missing,
}

impl BlockType {
    fn from_byte(byte: Option<u8>) -> Self {
        match byte {
            Some(b'D') => BlockType::Data,
            Some(b'N') => BlockType::Nak,
            Some(other) => BlockType::Unknown(other),
            None => BlockType::Missing,
        }
    }
}

/// Why a block is negatively acknowledged (the data byte of an `N` block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NakReason {
    /// `C`: character count wrong in the previous data block.
    CharacterCount,
    /// `X`: checksum wrong in the previous data block.
    Checksum,
    /// `B`: data too long for the input buffer.
    BufferOverflow,
}

impl NakReason {
    pub fn byte(self) -> u8 {
        match self {
            NakReason::CharacterCount => b'C',
            NakReason::Checksum => b'X',
            NakReason::BufferOverflow => b'B',
        }
    }

    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            b'C' => Some(NakReason::CharacterCount),
            b'X' => Some(NakReason::Checksum),
            b'B' => Some(NakReason::BufferOverflow),
            _ => None,
        }
    }
}

/// Something wrong with a decoded block, or bytes between blocks. Offsets are stream offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HllpNote {
    BytesOutsideBlock {
        offset: u64,
        len: u64,
        first_bytes: Vec<u8>,
    },
    /// Too short for header and trailer (`len` bytes between `<SB>` and `<EB>`).
    BlockTooShort {
        offset: u64,
        len: usize,
    },
    /// The fourth byte of the block is not `<CR>`.
    MissingHeaderCr {
        offset: u64,
    },
    UnknownBlockType {
        offset: u64,
        byte: u8,
    },
    /// The size or checksum field is not all decimal digits.
    MalformedTrailer {
        offset: u64,
    },
    SizeMismatch {
        offset: u64,
        declared: usize,
        actual: usize,
    },
    ChecksumMismatch {
        offset: u64,
        declared: u16,
        computed: u8,
    },
}

impl HllpNote {
    pub fn code(&self) -> &'static str {
        match self {
            HllpNote::BytesOutsideBlock { .. } => "hllp-bytes-outside-block",
            HllpNote::BlockTooShort { .. } => "hllp-block-too-short",
            HllpNote::MissingHeaderCr { .. } => "hllp-missing-header-cr",
            HllpNote::UnknownBlockType { .. } => "hllp-unknown-block-type",
            HllpNote::MalformedTrailer { .. } => "hllp-malformed-trailer",
            HllpNote::SizeMismatch { .. } => "hllp-size-mismatch",
            HllpNote::ChecksumMismatch { .. } => "hllp-checksum-mismatch",
        }
    }

    pub fn offset(&self) -> u64 {
        match self {
            HllpNote::BytesOutsideBlock { offset, .. }
            | HllpNote::BlockTooShort { offset, .. }
            | HllpNote::MissingHeaderCr { offset }
            | HllpNote::UnknownBlockType { offset, .. }
            | HllpNote::MalformedTrailer { offset }
            | HllpNote::SizeMismatch { offset, .. }
            | HllpNote::ChecksumMismatch { offset, .. } => *offset,
        }
    }

    /// Every note is a violation of the block format, so an error.
    pub fn to_finding(&self) -> Finding {
        let message = match self {
            HllpNote::BytesOutsideBlock { len, .. } => format!("{len} byte(s) outside any block"),
            HllpNote::BlockTooShort { len, .. } => {
                format!("block of {len} byte(s) is too short for header and trailer")
            }
            HllpNote::MissingHeaderCr { .. } => "block header not ended by <CR>".to_string(),
            HllpNote::UnknownBlockType { byte, .. } => {
                format!("unknown block type 0x{byte:02x} (expected 'D' or 'N')")
            }
            HllpNote::MalformedTrailer { .. } => {
                "block size or checksum is not decimal digits".to_string()
            }
            HllpNote::SizeMismatch { declared, actual, .. } => {
                format!("block size says {declared}, block has {actual}")
            }
            HllpNote::ChecksumMismatch { declared, computed, .. } => {
                format!("block checksum says {declared:03}, computed {computed:03}")
            }
        };
        let location = Location::at_offset(usize::try_from(self.offset()).unwrap_or(usize::MAX));
        Finding::new(self.code(), Severity::Error, location, message, RULE_BLOCKS)
    }
}

/// One decoded block, good or damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HllpBlock {
    /// Stream offset of the `<SB>`.
    pub offset: u64,
    pub block_type: BlockType,
    pub version: Option<[u8; 2]>,
    pub data: Bytes,
    pub size_ok: bool,
    pub checksum_ok: bool,
    /// Bytes outside blocks before this one, then what is wrong with the block.
    pub notes: Vec<HllpNote>,
}

impl HllpBlock {
    /// The NAK a receiver owes for this block, or `None` if it is acceptable.
    pub fn nak_reason(&self) -> Option<NakReason> {
        if !self.size_ok {
            Some(NakReason::CharacterCount)
        } else if !self.checksum_ok {
            Some(NakReason::Checksum)
        } else {
            None
        }
    }

    /// For an `N` block: the reason it gives.
    pub fn nak_reason_sent(&self) -> Option<NakReason> {
        match (self.block_type, self.data.as_ref()) {
            (BlockType::Nak, [byte]) => NakReason::from_byte(*byte),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HllpError {
    #[error("HLLP block starting at byte {offset} exceeds the {limit}-byte limit")]
    BlockTooLarge { offset: u64, limit: usize },
    #[error("stream ended inside the HLLP block starting at byte {offset}")]
    UnexpectedEof { offset: u64 },
    #[error("HLLP data of {len} bytes exceeds the {MAX_DECLARED_SIZE}-byte block size field")]
    DataTooLong { len: usize },
    #[error("data byte {index} is 0x{byte:02x}, which HLLP cannot frame")]
    UnframeableData { index: usize, byte: u8 },
    #[error("HLLP transport I/O failed")]
    Io(#[from] std::io::Error),
}

/// What the writer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing<'a> {
    /// A `D` block: an HL7 message, or the HL7 ACK answering one.
    Data(&'a [u8]),
    /// An `N` block.
    Nak(NakReason),
}

#[derive(Debug, Default)]
pub struct HllpCodec {
    options: HllpOptions,
    consumed: u64,
    /// Inside a block: how far `buf` has been searched for `<EB> <CR>`.
    scanned: Option<usize>,
    outside: Option<HllpNote>,
}

impl HllpCodec {
    pub fn new(options: HllpOptions) -> Self {
        HllpCodec { options, ..HllpCodec::default() }
    }

    pub fn options(&self) -> &HllpOptions {
        &self.options
    }

    /// Bytes after the last block, if any. Call at end of stream.
    pub fn take_pending_note(&mut self) -> Option<HllpNote> {
        self.outside.take()
    }

    fn skip_outside(&mut self, buf: &mut BytesMut, n: usize) {
        if n == 0 {
            return;
        }
        let note = self.outside.get_or_insert_with(|| HllpNote::BytesOutsideBlock {
            offset: self.consumed,
            len: 0,
            first_bytes: Vec::new(),
        });
        if let HllpNote::BytesOutsideBlock { len, first_bytes, .. } = note {
            let keep = (KEPT_OUTSIDE_BYTES - first_bytes.len()).min(n);
            first_bytes.extend_from_slice(&buf[..keep]);
            *len += n as u64;
        }
        buf.advance(n);
        self.consumed += n as u64;
    }

    fn decode_inner(
        &mut self,
        buf: &mut BytesMut,
        eof: bool,
    ) -> Result<Option<HllpBlock>, HllpError> {
        let mut from = match self.scanned {
            Some(scanned) => scanned,
            None => {
                let start = memchr::memchr(START_BLOCK, buf).unwrap_or(buf.len());
                self.skip_outside(buf, start);
                if buf.is_empty() {
                    return Ok(None);
                }
                1
            }
        };
        let limit = self.options.max_block_bytes.max(2);
        // `<EB>` of the largest allowed block sits at index `limit - 2`.
        let window = buf.len().min(limit - 1);
        loop {
            match memchr::memchr(END_BLOCK, &buf[from..window]) {
                None => {
                    self.scanned = Some(window);
                    if buf.len() >= limit {
                        return Err(self.too_large());
                    }
                    if eof {
                        return Err(HllpError::UnexpectedEof { offset: self.consumed });
                    }
                    return Ok(None);
                }
                Some(i) => {
                    let at = from + i;
                    match buf.get(at + 1) {
                        Some(&CARRIAGE_RETURN) => return Ok(Some(self.take_block(buf, at))),
                        // An `<EB>` not followed by `<CR>` is taken as a data byte; the size
                        // and checksum then tell the receiver the block is damaged.
                        Some(_) => from = at + 1,
                        None if eof => {
                            return Err(HllpError::UnexpectedEof { offset: self.consumed })
                        }
                        None => {
                            self.scanned = Some(at);
                            return Ok(None);
                        }
                    }
                }
            }
        }
    }

    fn too_large(&self) -> HllpError {
        HllpError::BlockTooLarge { offset: self.consumed, limit: self.options.max_block_bytes }
    }

    /// Splits off the block whose `<EB>` is at `end` and checks it.
    fn take_block(&mut self, buf: &mut BytesMut, end: usize) -> HllpBlock {
        let offset = self.consumed;
        let mut notes: Vec<HllpNote> = self.outside.take().into_iter().collect();
        let block = buf.split_to(end + 2).freeze();
        self.consumed += block.len() as u64;
        self.scanned = None;
        let content = &block[1..end];
        let block_type = BlockType::from_byte(content.first().copied());
        if content.len() < HEADER_LEN + TRAILER_LEN {
            notes.push(HllpNote::BlockTooShort { offset, len: content.len() });
            return HllpBlock {
                offset,
                block_type,
                version: None,
                data: Bytes::new(),
                size_ok: false,
                checksum_ok: false,
                notes,
            };
        }
        if let BlockType::Unknown(byte) = block_type {
            notes.push(HllpNote::UnknownBlockType { offset: offset + 1, byte });
        }
        if content[3] != CARRIAGE_RETURN {
            notes.push(HllpNote::MissingHeaderCr { offset: offset + 4 });
        }
        let data_end = 1 + content.len() - TRAILER_LEN;
        let data = block.slice(1 + HEADER_LEN..data_end);
        let covered = match self.options.span {
            ChecksumSpan::Data => &data[..],
            ChecksumSpan::StartBlockToData => &block[..data_end],
        };
        let trailer = &block[data_end..end];
        let declared_size = parse_decimal(&trailer[..5]);
        let declared_checksum = parse_decimal(&trailer[5..]);
        let computed = self.options.checksum.compute(covered);
        let trailer_offset = offset + data_end as u64;
        if declared_size.is_none() || declared_checksum.is_none() {
            notes.push(HllpNote::MalformedTrailer { offset: trailer_offset });
        }
        let size_ok = declared_size == Some(covered.len());
        if let (Some(declared), false) = (declared_size, size_ok) {
            notes.push(HllpNote::SizeMismatch {
                offset: trailer_offset,
                declared,
                actual: covered.len(),
            });
        }
        let checksum_ok = declared_checksum == Some(usize::from(computed));
        if let (Some(declared), false) = (declared_checksum, checksum_ok) {
            notes.push(HllpNote::ChecksumMismatch {
                offset: trailer_offset + 5,
                declared: declared as u16,
                computed,
            });
        }
        HllpBlock {
            offset,
            block_type,
            version: Some([content[1], content[2]]),
            data,
            size_ok,
            checksum_ok,
            notes,
        }
    }

    /// Writes one block of type `block_type` around `data`.
    fn encode_block(
        &self,
        block_type: u8,
        data: &[u8],
        dst: &mut BytesMut,
    ) -> Result<(), HllpError> {
        if let Some(index) = memchr::memchr2(START_BLOCK, END_BLOCK, data) {
            return Err(HllpError::UnframeableData { index, byte: data[index] });
        }
        let start = dst.len();
        dst.reserve(1 + HEADER_LEN + data.len() + TRAILER_LEN + 2);
        dst.put_u8(START_BLOCK);
        dst.put_u8(block_type);
        dst.put_slice(&VERSION);
        dst.put_u8(CARRIAGE_RETURN);
        dst.put_slice(data);
        let covered = match self.options.span {
            ChecksumSpan::Data => data,
            ChecksumSpan::StartBlockToData => &dst[start..],
        };
        let (size, checksum) = (covered.len(), self.options.checksum.compute(covered));
        if size > MAX_DECLARED_SIZE {
            dst.truncate(start);
            return Err(HllpError::DataTooLong { len: size });
        }
        let trailer = format!("{size:05}{checksum:03}");
        dst.put_slice(trailer.as_bytes());
        dst.put_slice(&[END_BLOCK, CARRIAGE_RETURN]);
        Ok(())
    }
}

/// ASCII decimal digits only (at most 5, so no overflow).
fn parse_decimal(digits: &[u8]) -> Option<usize> {
    digits
        .iter()
        .try_fold(0usize, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + usize::from(b - b'0')))
}

impl Decoder for HllpCodec {
    type Item = HllpBlock;
    type Error = HllpError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<HllpBlock>, HllpError> {
        self.decode_inner(buf, false)
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<HllpBlock>, HllpError> {
        self.decode_inner(buf, true)
    }
}

impl Encoder<Outgoing<'_>> for HllpCodec {
    type Error = HllpError;

    fn encode(&mut self, item: Outgoing<'_>, dst: &mut BytesMut) -> Result<(), HllpError> {
        match item {
            Outgoing::Data(data) => self.encode_block(b'D', data, dst),
            Outgoing::Nak(reason) => self.encode_block(b'N', &[reason.byte()], dst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, PartialEq)]
    struct Outcome {
        blocks: Vec<HllpBlock>,
        pending: Option<HllpNote>,
        error: Option<String>,
    }

    fn run<'a>(options: HllpOptions, chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
        let mut codec = HllpCodec::new(options);
        let mut buf = BytesMut::new();
        let mut blocks = Vec::new();
        let fail =
            |blocks, e: HllpError| Outcome { blocks, pending: None, error: Some(e.to_string()) };
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(block)) => blocks.push(block),
                    Ok(None) => break,
                    Err(e) => return fail(blocks, e),
                }
            }
            assert!(buf.len() < options.max_block_bytes, "{} bytes buffered", buf.len());
        }
        loop {
            match codec.decode_eof(&mut buf) {
                Ok(Some(block)) => blocks.push(block),
                Ok(None) => break,
                Err(e) => return fail(blocks, e),
            }
        }
        Outcome { blocks, pending: codec.take_pending_note(), error: None }
    }

    /// One read, one byte per read, and split in two at every offset: all give `expected`.
    fn check(options: HllpOptions, input: &[u8], expected: Outcome) {
        assert_eq!(run(options, [input]), expected, "one read");
        assert_eq!(run(options, input.chunks(1)), expected, "one byte per read");
        for at in 0..=input.len() {
            let (a, b) = input.split_at(at);
            assert_eq!(run(options, [a, b]), expected, "split at {at}");
        }
    }

    fn options(checksum: Checksum, span: ChecksumSpan) -> HllpOptions {
        HllpOptions { checksum, span, ..HllpOptions::default() }
    }

    fn encode(options: HllpOptions, item: Outgoing<'_>) -> Vec<u8> {
        let mut dst = BytesMut::new();
        HllpCodec::new(options).encode(item, &mut dst).expect("encodable");
        dst.to_vec()
    }

    fn good(offset: u64, block_type: BlockType, data: &[u8], notes: Vec<HllpNote>) -> HllpBlock {
        HllpBlock {
            offset,
            block_type,
            version: Some(VERSION),
            data: Bytes::copy_from_slice(data),
            size_ok: true,
            checksum_ok: true,
            notes,
        }
    }

    fn ok(blocks: Vec<HllpBlock>) -> Outcome {
        Outcome { blocks, pending: None, error: None }
    }

    const MSG: &[u8] = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1\r";
    const ALL: [(Checksum, ChecksumSpan); 4] = [
        (Checksum::XorDecimal, ChecksumSpan::Data),
        (Checksum::XorDecimal, ChecksumSpan::StartBlockToData),
        (Checksum::SumMod256, ChecksumSpan::Data),
        (Checksum::SumMod256, ChecksumSpan::StartBlockToData),
    ];

    #[test]
    fn wire_format_of_a_data_block() {
        // "AB": size 2; 'A' ^ 'B' = 0x03; 'A' + 'B' = 131.
        let xor = encode(HllpOptions::default(), Outgoing::Data(b"AB"));
        assert_eq!(xor, b"\x0bD21\rAB00002003\x1c\r");
        let sum = encode(options(Checksum::SumMod256, ChecksumSpan::Data), Outgoing::Data(b"AB"));
        assert_eq!(sum, b"\x0bD21\rAB00002131\x1c\r");
        // From <SB>: 0x0B D 2 1 CR A B = 7 bytes.
        let from_sb = options(Checksum::XorDecimal, ChecksumSpan::StartBlockToData);
        let expected_xor =
            [0x0Bu8, b'D', b'2', b'1', 0x0D, b'A', b'B'].iter().fold(0, |a, b| a ^ b);
        let expected = format!("\x0bD21\rAB00007{expected_xor:03}\x1c\r");
        assert_eq!(encode(from_sb, Outgoing::Data(b"AB")), expected.as_bytes());
    }

    #[test]
    fn good_blocks_for_each_checksum_variant() {
        for (checksum, span) in ALL {
            let options = options(checksum, span);
            let input = [
                encode(options, Outgoing::Data(MSG)),
                encode(options, Outgoing::Nak(NakReason::Checksum)),
            ]
            .concat();
            let nak_offset = (1 + HEADER_LEN + MSG.len() + TRAILER_LEN + 2) as u64;
            let expected = ok(vec![
                good(0, BlockType::Data, MSG, vec![]),
                good(nak_offset, BlockType::Nak, b"X", vec![]),
            ]);
            check(options, &input, expected);
            let blocks = run(options, [&input[..]]).blocks;
            assert_eq!(blocks[0].nak_reason(), None);
            assert_eq!(blocks[1].nak_reason_sent(), Some(NakReason::Checksum));
        }
    }

    #[test]
    fn bad_checksum_for_each_variant_is_a_decoded_block() {
        for (checksum, span) in ALL {
            let options = options(checksum, span);
            let mut input = encode(options, Outgoing::Data(b"AB"));
            input[6] = b'C'; // Same size, different checksum under every variant.
            let computed = match span {
                ChecksumSpan::Data => checksum.compute(b"AC"),
                ChecksumSpan::StartBlockToData => checksum.compute(b"\x0bD21\rAC"),
            };
            let declared = match span {
                ChecksumSpan::Data => checksum.compute(b"AB"),
                ChecksumSpan::StartBlockToData => checksum.compute(b"\x0bD21\rAB"),
            };
            let block = HllpBlock {
                checksum_ok: false,
                notes: vec![HllpNote::ChecksumMismatch {
                    offset: 12,
                    declared: u16::from(declared),
                    computed,
                }],
                ..good(0, BlockType::Data, b"AC", vec![])
            };
            assert_eq!(block.nak_reason(), Some(NakReason::Checksum));
            check(options, &input, ok(vec![block]));
        }
    }

    #[test]
    fn wrong_size_asks_for_a_character_count_nak() {
        // Declares 3 bytes, carries 2; checksum of "AB" is right.
        let input = b"\x0bD21\rAB00003003\x1c\r";
        let block = HllpBlock {
            size_ok: false,
            notes: vec![HllpNote::SizeMismatch { offset: 7, declared: 3, actual: 2 }],
            ..good(0, BlockType::Data, b"AB", vec![])
        };
        assert_eq!(block.nak_reason(), Some(NakReason::CharacterCount));
        check(HllpOptions::default(), input, ok(vec![block]));
    }

    #[test]
    fn malformed_blocks_are_decoded_with_notes() {
        let short = HllpBlock {
            offset: 0,
            block_type: BlockType::Data,
            version: None,
            data: Bytes::new(),
            size_ok: false,
            checksum_ok: false,
            notes: vec![HllpNote::BlockTooShort { offset: 0, len: 3 }],
        };
        check(HllpOptions::default(), b"\x0bD21\x1c\r", ok(vec![short]));
        let odd = HllpBlock {
            block_type: BlockType::Unknown(b'Q'),
            size_ok: false,
            notes: vec![
                HllpNote::UnknownBlockType { offset: 1, byte: b'Q' },
                HllpNote::MissingHeaderCr { offset: 4 },
                HllpNote::MalformedTrailer { offset: 7 },
            ],
            version: Some(*b"21"),
            ..good(0, BlockType::Data, b"AB", vec![])
        };
        check(HllpOptions::default(), b"\x0bQ21xAB0000?003\x1c\r", ok(vec![odd]));
    }

    #[test]
    fn bytes_outside_blocks_are_noted() {
        let block = encode(HllpOptions::default(), Outgoing::Data(b"AB"));
        let input = [b"\r\n".as_slice(), &block, b"zz"].concat();
        let outside =
            HllpNote::BytesOutsideBlock { offset: 0, len: 2, first_bytes: b"\r\n".to_vec() };
        let expected = Outcome {
            blocks: vec![good(2, BlockType::Data, b"AB", vec![outside])],
            pending: Some(HllpNote::BytesOutsideBlock {
                offset: 2 + block.len() as u64,
                len: 2,
                first_bytes: b"zz".to_vec(),
            }),
            error: None,
        };
        check(HllpOptions::default(), &input, expected);
    }

    #[test]
    fn every_prefix_of_a_block_is_partial() {
        let input = encode(HllpOptions::default(), Outgoing::Data(MSG));
        for end in 0..input.len() {
            let mut buf = BytesMut::from(&input[..end]);
            assert!(matches!(HllpCodec::default().decode(&mut buf), Ok(None)), "prefix {end}");
            assert_eq!(&buf[..], &input[..end]);
        }
    }

    #[test]
    fn block_over_the_limit_fails_without_buffering_past_it() {
        let options = HllpOptions { max_block_bytes: 32, ..HllpOptions::default() };
        let fits = encode(options, Outgoing::Data(&[b'x'; 32 - 15]));
        assert_eq!(fits.len(), 32);
        check(options, &fits, ok(vec![good(0, BlockType::Data, &[b'x'; 17], vec![])]));
        let too_big = encode(options, Outgoing::Data(&[b'x'; 18]));
        let error = "HLLP block starting at byte 0 exceeds the 32-byte limit";
        check(
            options,
            &too_big,
            Outcome { blocks: vec![], pending: None, error: Some(error.into()) },
        );
        check(
            options,
            &[b'\x0b'; 40],
            Outcome { blocks: vec![], pending: None, error: Some(error.into()) },
        );
    }

    #[test]
    fn stream_ending_inside_a_block() {
        let error = "stream ended inside the HLLP block starting at byte 0";
        check(
            HllpOptions::default(),
            b"\x0bD21\rAB000",
            Outcome { blocks: vec![], pending: None, error: Some(error.into()) },
        );
    }

    #[test]
    fn encoder_refuses_what_it_cannot_frame() {
        let mut dst = BytesMut::new();
        let mut codec = HllpCodec::default();
        let error = codec.encode(Outgoing::Data(b"A\x1cB"), &mut dst).unwrap_err();
        assert_eq!(error.to_string(), "data byte 1 is 0x1c, which HLLP cannot frame");
        let error =
            codec.encode(Outgoing::Data(&vec![b'x'; MAX_DECLARED_SIZE + 1]), &mut dst).unwrap_err();
        assert_eq!(
            error.to_string(),
            "HLLP data of 100000 bytes exceeds the 99999-byte block size field"
        );
        assert!(dst.is_empty());
    }

    #[test]
    fn notes_become_findings() {
        let note = HllpNote::ChecksumMismatch { offset: 12, declared: 3, computed: 2 };
        let finding = note.to_finding();
        assert_eq!(finding.code, "hllp-checksum-mismatch");
        assert_eq!(finding.severity, Severity::Error);
        assert_eq!(finding.location.offset, Some(12));
        assert_eq!(finding.message, "block checksum says 003, computed 002");
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(
            data in proptest::collection::vec(any::<u8>().prop_filter("frameable", |b| *b != START_BLOCK && *b != END_BLOCK), 0..200),
            variant in 0usize..4,
            chunk in 1usize..32,
        ) {
            let (checksum, span) = ALL[variant];
            let options = options(checksum, span);
            let input = encode(options, Outgoing::Data(&data));
            let outcome = run(options, input.chunks(chunk));
            prop_assert_eq!(outcome, ok(vec![good(0, BlockType::Data, &data, vec![])]));
        }
    }
}
