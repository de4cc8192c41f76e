//! Building the message a step sends: the template, `set:` values with placeholders filled in
//! from earlier messages, the mutations, and `resend:` of an earlier message.

use super::case_run::*;
use crate::generator::{apply_all, Intent};
use crate::hl7::edit::MessageBuf;
use crate::hl7::{Message, Path};
use crate::scenario::{FieldPath, Pattern, Placeholders, Resend, Step};

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
) -> Result<Built, String> {
    let name = step.send.as_deref().ok_or("the step sends nothing")?;
    let messages = ctx.templates.get(name).ok_or_else(|| format!("no template {name:?}"))?;
    let template = &messages[run.pick % messages.len()];
    if template.raw {
        return Ok(Built {
            bytes: template.bytes.clone(),
            raw: true,
            description: format!("{} (raw)", template.label),
            intent: None,
        });
    }
    let mut buf =
        MessageBuf::new(template.bytes.clone()).map_err(|e| format!("{}: {e}", template.label))?;
    let msh10 = Path::parse("MSH-10").map_err(|e| e.to_string())?;
    buf.set(&msh10, &run.control_id(step_no, connection)).map_err(|e| format!("MSH-10: {e}"))?;
    let values =
        Values { sent: Some(&template.bytes), state: ctx.state.as_deref(), unique: run.unique() };
    let mut sets: Vec<(&FieldPath, String)> = Vec::new();
    for (path, pattern) in &step.set {
        sets.push((path, render(pattern, &values)?));
    }
    let vary = run.vary_value.as_ref().filter(|_| step_no == 1).map(|(p, v)| (p, v.clone()));
    for (path, text) in sets.into_iter().chain(vary) {
        buf.set(&path.path, &text).map_err(|e| format!("set {path}: {e}"))?;
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
        let mutated = apply_all(buf.as_bytes(), &mutations, run.seed.wrapping_add(step_no as u64))
            .map_err(|e| e.to_string())?;
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
    ) -> Result<Built, String> {
        let original = match step.resend {
            None => return build(run, ctx, step, step_no, connection),
            Some(Resend::Previous) => self.last.clone(),
            Some(Resend::Step(n)) => self.by_step.get(n - 1).cloned().flatten(),
        };
        original
            .map(|p| Built { description: format!("{} (resent)", p.description), ..p })
            .ok_or_else(|| "resend: that step sent nothing".to_string())
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

pub(super) fn render(pattern: &Pattern, values: &Values) -> Result<String, String> {
    pattern.render(values).map_err(|e| e.to_string())
}
