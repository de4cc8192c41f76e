//! The HLLP flags `send` and `serve` share: which checksum variant of
//! [`transport::hllp`](crate::transport::hllp) both sides use.

use crate::transport::hllp::{Checksum, ChecksumSpan, HllpOptions};

/// `--hllp-checksum`: named after [`Checksum`]'s variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChecksumArg {
    /// Exclusive OR of the covered bytes, as three decimal digits (HL7 Appendix C).
    XorDecimal,
    /// Sum of the covered bytes modulo 256, as three decimal digits (iNTERFACEWARE's "BCC").
    SumMod256,
}

/// `--hllp-span`: named after [`ChecksumSpan`]'s variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SpanArg {
    /// Size and checksum cover the data bytes only.
    Data,
    /// They cover every byte from the start block 0x0B to the last data byte.
    StartBlockToData,
}

#[derive(Debug, Clone, clap::Args)]
pub struct HllpArgs {
    /// HLLP block checksum variant; both sides must use the same one.
    #[arg(long, value_name = "VARIANT", value_enum, default_value_t = ChecksumArg::XorDecimal)]
    pub hllp_checksum: ChecksumArg,
    /// Which bytes the HLLP block size and checksum cover.
    #[arg(long, value_name = "SPAN", value_enum, default_value_t = SpanArg::Data)]
    pub hllp_span: SpanArg,
}

impl HllpArgs {
    pub fn options(&self) -> HllpOptions {
        let checksum = match self.hllp_checksum {
            ChecksumArg::XorDecimal => Checksum::XorDecimal,
            ChecksumArg::SumMod256 => Checksum::SumMod256,
        };
        let span = match self.hllp_span {
            SpanArg::Data => ChecksumSpan::Data,
            SpanArg::StartBlockToData => ChecksumSpan::StartBlockToData,
        };
        HllpOptions { checksum, span, ..HllpOptions::default() }
    }
}
