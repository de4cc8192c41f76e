//! What a receiver case sends and answers, as bytes: the case's messages, each with its own
//! MSH-10 (the SUT command gets them as files), and the ACK built for an arrival (MLLP and HTTP
//! answer with the same one).

use super::ReceiverContext;
use super::ReceiverRun;
use crate::checks::{content_key, ExpectedMessage};
use crate::hl7::ack::{AckBuilder, AckCode, AckError, ErrorCondition};
use crate::hl7::edit::{EditError, MessageBuf};
use crate::hl7::{Message, ParseError, Path};

/// Why a receiver case's messages could not be prepared.
#[derive(Debug, thiserror::Error)]
pub(super) enum PrepareError {
    #[error("no template {name:?}")]
    NoTemplate { name: String },
    #[error("{label}: {source}")]
    Template { label: String, source: ParseError },
    #[error("MSH-10: {0}")]
    ControlId(#[source] EditError),
}

/// The messages of the case, each with its own MSH-10, and how they are described.
pub(super) fn messages(
    run: &ReceiverRun,
    ctx: &ReceiverContext,
) -> Result<Vec<(ExpectedMessage, Vec<u8>)>, PrepareError> {
    let msh10 = Path::parse("MSH-10").expect("MSH-10 is a path");
    let mut out = Vec::new();
    for (n, name) in run.case.send.iter().enumerate() {
        let template = ctx
            .templates
            .get(name)
            .and_then(|t| t.first())
            .ok_or_else(|| PrepareError::NoTemplate { name: name.clone() })?;
        let mut buf = MessageBuf::new(template.bytes.clone())
            .map_err(|source| PrepareError::Template { label: template.label.clone(), source })?;
        let control_id = run.control_id(n + 1);
        buf.set(&msh10, &control_id).map_err(PrepareError::ControlId)?;
        let bytes = buf.into_bytes();
        let expected = ExpectedMessage {
            label: name.clone(),
            control_id: control_id.into(),
            key: content_key(&bytes),
        };
        out.push((expected, bytes));
    }
    Ok(out)
}

/// The ACK of `payload` with `code`, its MSA-2 made wrong when `wrong_msa2`.
pub(super) fn ack(
    payload: &[u8],
    code: AckCode,
    wrong_msa2: bool,
    number: usize,
    error: Option<AckError>,
) -> Option<Vec<u8>> {
    let mut source = payload.to_vec();
    if wrong_msa2 {
        let message = Message::parse(payload).ok()?;
        let wrong = format!("{}-WRONG", message.control_id().unwrap_or(""));
        let mut buf = MessageBuf::new(payload.to_vec()).ok()?;
        buf.set(&Path::parse("MSH-10").ok()?, &wrong).ok()?;
        source = buf.into_bytes();
    }
    let message = Message::parse(&source).ok()?;
    let timestamp = crate::utc::hl7_timestamp(std::time::SystemTime::now());
    let mut builder = AckBuilder::new(&message, code, format!("HRA{number}"), timestamp);
    if let Some(error) = error {
        builder = builder.error(error);
    } else if !code.is_accept() {
        let condition = match code {
            AckCode::ApplicationReject => ErrorCondition::UnsupportedMessageType,
            _ => ErrorCondition::ApplicationInternalError,
        };
        builder = builder.error(AckError::new(condition).with_text("answered so by the scenario"));
    }
    Some(builder.build())
}
