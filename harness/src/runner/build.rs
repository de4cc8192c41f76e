//! Building the message a step sends: the template, `set:` values with placeholders filled in
//! from earlier messages, the mutations, and `resend:` of an earlier message.

use super::case_run::*;
use crate::generator::{apply_all, GenerateError, Intent};
use crate::hl7::edit::{EditError, MessageBuf};
use crate::hl7::{Message, ParseError, Path};
use crate::scenario::{FieldPath, Pattern, Placeholders, RenderError, Resend, Step};

/// Why a step's message could not be built; the case is aborted with this message
/// (`message-build-failed`).
#[derive(Debug, thiserror::Error)]
pub(super) enum BuildError {
    #[error("the step sends nothing")]
    NothingToSend,
    #[error("no template {0:?}")]
    NoTemplate(String),
    #[error("{label}: {source}")]
    Template {
        label: String,
        #[source]
        source: ParseError,
    },
    #[error("MSH-10: {0}")]
    ControlId(#[source] EditError),
    /// A placeholder in a `set:` value could not be filled.
    #[error("{0}")]
    Placeholder(#[source] RenderError),
    #[error("set {path}: {source}")]
    Set {
        path: String,
        #[source]
        source: EditError,
    },
    #[error(transparent)]
    Mutation(#[from] GenerateError),
    #[error("resend: that step sent nothing")]
    ResendNothing,
}

/// A message built for a step.
#[derive(Clone)]
pub(super) struct Built {
    pub(super) bytes: Vec<u8>,
    pub(super) raw: bool,
    pub(super) description: String,
    /// What the mutations made of the message; `None` without mutations.
    pub(super) intent: Option<Intent>,
}

pub(super) struct Values<'a> {
    pub(super) sent: Option<&'a [u8]>,
    pub(super) state: Option<&'a str>,
    pub(super) unique: String,
}

impl Placeholders for Values<'_> {
    fn field(&self, path: &FieldPath) -> Option<String> {
        let message = Message::parse(self.sent?).ok()?;
        let value = message.get(&path.path)?;
        Some(message.text(&value).into_owned())
    }
    fn state(&self) -> Option<String> {
        self.state.map(str::to_string)
    }
    fn unique(&self) -> String {
        self.unique.clone()
    }
}

pub(super) fn build(
    run: &CaseRun,
    ctx: &Context,
    step: &Step,
    step_no: usize,
    connection: usize,
) -> Result<Built, BuildError> {
    let name = step.send.as_deref().ok_or(BuildError::NothingToSend)?;
    let messages =
        ctx.templates.get(name).ok_or_else(|| BuildError::NoTemplate(name.to_string()))?;
    let template = &messages[run.pick % messages.len()];
    if template.raw {
        return Ok(Built {
            bytes: template.bytes.clone(),
            raw: true,
            description: format!("{} (raw)", template.label),
            intent: None,
        });
    }
    if step.exact {
        // A recorded message replayed byte for byte: its own MSH-10, nothing set (validation
        // refuses `set:` and `mutate:` beside `exact:`).
        return Ok(Built {
            bytes: template.bytes.clone(),
            raw: false,
            description: format!("{} (exact)", template.label),
            intent: None,
        });
    }
    let mut buf = MessageBuf::new(template.bytes.clone())
        .map_err(|source| BuildError::Template { label: template.label.clone(), source })?;
    let msh10 = Path::parse("MSH-10").expect("MSH-10 is a valid path");
    buf.set(&msh10, &run.control_id(step_no, connection)).map_err(BuildError::ControlId)?;
    let values =
        Values { sent: Some(&template.bytes), state: ctx.state.as_deref(), unique: run.unique() };
    let mut sets: Vec<(&FieldPath, String)> = Vec::new();
    for (path, pattern) in &step.set {
        sets.push((path, render(pattern, &values)?));
    }
    let vary = run.vary_value.as_ref().filter(|_| step_no == 1).map(|(p, v)| (p, v.clone()));
    for (path, text) in sets.into_iter().chain(vary) {
        buf.set(&path.path, &text)
            .map_err(|source| BuildError::Set { path: path.to_string(), source })?;
    }
    let mut mutations = step.mutate.clone();
    if step_no == 1 {
        mutations.extend(run.extra_mutation.clone());
    }
    let mut description = template.label.clone();
    let mut intent = None;
    let bytes = if mutations.is_empty() {
        buf.into_bytes()
    } else {
        let mutated = apply_all(buf.as_bytes(), &mutations, run.seed.offset(step_no as u64))?;
        description =
            format!("{description}; {} (intent: {:?})", mutated.description, mutated.intent);
        intent = Some(mutated.intent);
        mutated.bytes
    };
    Ok(Built { bytes, raw: false, description, intent })
}

/// The messages a case's steps have sent, for `resend:` and for probe placeholders.
#[derive(Default)]
pub(super) struct Sent {
    pub(super) by_step: Vec<Option<Built>>,
    pub(super) last: Option<Built>,
}

impl Sent {
    /// The message step `step_no` sends: built from its template, or an earlier one again.
    pub(super) fn next(
        &self,
        run: &CaseRun,
        ctx: &Context,
        step: &Step,
        step_no: usize,
        connection: usize,
    ) -> Result<Built, BuildError> {
        let original = match step.resend {
            None => return build(run, ctx, step, step_no, connection),
            Some(Resend::Previous) => self.last.clone(),
            Some(Resend::Step(n)) => self.by_step.get(n - 1).cloned().flatten(),
        };
        original
            .map(|p| Built { description: format!("{} (resent)", p.description), ..p })
            .ok_or(BuildError::ResendNothing)
    }

    pub(super) fn record(&mut self, step_no: usize, built: Built) {
        self.by_step.resize(step_no, None);
        self.by_step[step_no - 1] = Some(built.clone());
        self.last = Some(built);
    }

    pub(super) fn last_bytes(&self) -> Option<&[u8]> {
        self.last.as_ref().map(|b| b.bytes.as_slice())
    }
}

pub(super) fn render(pattern: &Pattern, values: &Values) -> Result<String, BuildError> {
    pattern.render(values).map_err(BuildError::Placeholder)
}
