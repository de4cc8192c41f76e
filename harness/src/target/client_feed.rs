//! The reference endpoint's application: the ADT client feed and MFN^M02 professionals of the
//! e-health interface description in `shared/seeds/001_*` (HL7 v2.6 ADT and MFN semantics).
//!
//! - A04 creates a client keyed by PID-3.1 (A01, A14 and A28 may too); A08 and A31 update one;
//!   A03 deactivates; A40 and A18 merge each MRG-1 client into the PID-3 client; A54 (and A14)
//!   relate a client to a professional (PV1-7.1, else ROL-4.1); MFN^M02 adds (MAD), updates
//!   (MUP), deactivates (MDC) and reactivates (MAC) professionals keyed by MFE-4.1.
//! - Required by that document for A04 and A08: client id, first and last name, email address,
//!   gender and date of birth. A message without them, or about an unknown client, is still
//!   acknowledged AA (it is well formed) and leaves an entry in the error log instead of a change.
//! - PID-30 = Y (deceased) deactivates the client.
//! - A message sent again (same MSH-3, MSH-4, MSH-10) is recognised and applied once.
//!
//! Values are read decoded (escapes resolved, character set applied), never as raw bytes.

use super::resend_key::{KeySet, ResendKeys};
use crate::hl7::{Delimiters, Message, Path, Segment, Value};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Client {
    pub id: String,
    pub family: String,
    pub given: String,
    pub email: Option<String>,
    pub gender: String,
    pub birth_date: String,
    pub active: bool,
    pub deceased: bool,
    /// Professionals related to this client (A54, A14).
    pub professionals: BTreeSet<String>,
    /// Client ids merged into this one (A40, A18).
    pub merged: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Professional {
    pub id: String,
    pub family: String,
    pub given: String,
    pub active: bool,
}

/// An entry of the error log: a well-formed message whose content could not be applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoggedError {
    pub control_id: String,
    pub event: String,
    pub message: String,
}

/// The fields the interface requires for a client that a PID left empty, one bit each in
/// [`Missing::NAMES`] order; shown as the error log words them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Missing(u8);

impl Missing {
    const NAMES: [&'static str; 6] = [
        "client id (PID-3.1)",
        "last name (PID-5.1)",
        "first name (PID-5.2)",
        "gender (PID-8)",
        "date of birth (PID-7)",
        "email address (PID-13, XTN-4 with use code NET)",
    ];
}

impl Missing {
    /// The error log's words for a client that `action` (e.g. "client not created") could not
    /// take, written in one allocation: the log gets one per incomplete message.
    fn logged(self, action: &str) -> String {
        const LEAD: &str = ": required by the interface but empty: ";
        let names = Self::NAMES.iter().enumerate().filter(|(i, _)| self.0 & (1 << i) != 0);
        let length = names.clone().map(|(_, name)| name.len() + 2).sum::<usize>();
        let mut text = String::with_capacity(action.len() + LEAD.len() + length);
        text.push_str(action);
        text.push_str(LEAD);
        for (n, (_, name)) in names.enumerate() {
            if n > 0 {
                text.push_str(", ");
            }
            text.push_str(name);
        }
        text
    }
}

/// What one message did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "effect", rename_all = "kebab-case")]
pub enum Effect {
    ClientCreated {
        id: String,
    },
    ClientUpdated {
        id: String,
    },
    ClientDeactivated {
        id: String,
    },
    ClientsMerged {
        from: String,
        into: String,
    },
    Related {
        client: String,
        professional: String,
    },
    ProfessionalAdded {
        id: String,
    },
    ProfessionalUpdated {
        id: String,
    },
    ProfessionalDeactivated {
        id: String,
    },
    ProfessionalReactivated {
        id: String,
    },
    Logged {
        message: String,
    },
    /// Already received (same MSH-3, MSH-4, MSH-10): acknowledged again, applied once.
    Duplicate,
}

/// Errors the state keeps (the newest); see [`ClientFeed::errors`].
pub const MAX_LOGGED_ERRORS: usize = 10_000;

/// Messages whose MSH-3/4/10 the duplicate detection remembers: a resend arrives within
/// seconds or minutes of its first copy (a sender's ACK timeout and retries), inside this
/// window at any rate up to several hundred messages a second. It is the number of receipts
/// the endpoint keeps (`MAX_RECEIPTS`), so every store per message fills at the same time and
/// the endpoint's memory is flat from then on (about 2 minutes at 1,000 messages a second;
/// issue 18's soak), however long it runs and however long the fields are.
pub const DUPLICATE_WINDOW: usize = 100_000;

/// The MSH-3/4/10 keys of the last [`DUPLICATE_WINDOW`] messages, as [`ResendKeys`] hash
/// them (128 bits under keys drawn when the endpoint starts).
#[derive(Debug, Clone)]
struct SeenKeys {
    set: KeySet,
    order: VecDeque<u128>,
    window: usize,
    keys: ResendKeys,
}

impl Default for SeenKeys {
    fn default() -> Self {
        SeenKeys {
            set: KeySet::default(),
            order: VecDeque::new(),
            window: DUPLICATE_WINDOW,
            keys: ResendKeys::default(),
        }
    }
}

impl SeenKeys {
    /// Remembers the key made of `parts` (MSH-3, MSH-4, MSH-10 as read); false when it was
    /// already there. No string is built per message.
    fn insert(&mut self, parts: [&str; 3]) -> bool {
        let hashed = self.keys.key(parts.map(str::as_bytes));
        if !self.set.insert(hashed) {
            return false;
        }
        self.order.push_back(hashed);
        if self.order.len() > self.window {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        true
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The endpoint's state, served as JSON to effect probes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClientFeed {
    pub clients: BTreeMap<String, Client>,
    pub professionals: BTreeMap<String, Professional>,
    /// The newest [`MAX_LOGGED_ERRORS`] errors logged; older ones are counted in
    /// `older_errors_not_kept`, so a sender of endless unapplied messages cannot fill memory.
    pub errors: VecDeque<LoggedError>,
    #[serde(skip_serializing_if = "is_zero")]
    pub older_errors_not_kept: u64,
    #[serde(skip)]
    seen: SeenKeys,
    /// How values are read; anything but `Decoded` is a defect switch.
    #[serde(skip)]
    pub text_mode: TextMode,
    /// Apply a resent message again (a defect switch; the standard behaviour is once).
    #[serde(skip)]
    pub reapply_duplicates: bool,
}

/// How the feed turns a value into stored text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TextMode {
    /// Escapes resolved, MSH-18 applied: the correct way.
    #[default]
    Decoded,
    /// The bytes as on the wire, escape sequences and all.
    Raw,
    /// Escapes resolved, but bytes read as ISO-8859-1 whatever MSH-18 says.
    Latin1,
}

/// A value as stored text, per the feed's text mode.
fn read(message: &Message<'_>, value: &Value<'_>, mode: TextMode) -> String {
    read_text(message, value, mode).into_owned()
}

/// [`read`] without a copy when the value needs no decoding: most values are plain ASCII, so
/// the duplicate key and the checks of a value cost no allocation.
fn read_text<'a>(message: &Message<'a>, value: &Value<'a>, mode: TextMode) -> Cow<'a, str> {
    match mode {
        TextMode::Decoded => trimmed(message.text(value)),
        _ => read_bytes(message, value.as_bytes(), mode),
    }
}

/// [`read_text`] of a value's bytes, which are not MSH-1 or MSH-2 (those are read as written).
fn read_bytes<'a>(message: &Message<'a>, bytes: &'a [u8], mode: TextMode) -> Cow<'a, str> {
    trimmed(match mode {
        TextMode::Decoded => message.text_of(bytes),
        TextMode::Raw => String::from_utf8_lossy(bytes),
        TextMode::Latin1 => {
            let bytes = crate::hl7::escape::unescape(bytes, message.delimiters()).bytes;
            bytes.iter().map(|&b| char::from(b)).collect::<String>().into()
        }
    })
}

/// `text` without its leading and trailing white space, copied only when there is some.
fn trimmed(text: Cow<'_, str>) -> Cow<'_, str> {
    match text {
        Cow::Borrowed(text) => Cow::Borrowed(crate::hl7::scan::trim(text)),
        Cow::Owned(text) if crate::hl7::scan::trim(&text).len() == text.len() => Cow::Owned(text),
        Cow::Owned(text) => Cow::Owned(text.trim().to_string()),
    }
}

/// Text at a path; empty when absent.
fn text(message: &Message<'_>, path: &str, mode: TextMode) -> String {
    Path::parse(path)
        .ok()
        .and_then(|p| message.get(&p))
        .map(|v| read(message, &v, mode))
        .unwrap_or_default()
}

/// Text of a component of a segment's field (first repetition).
fn component(
    message: &Message<'_>,
    segment: &Segment<'_>,
    field: usize,
    n: usize,
    mode: TextMode,
) -> String {
    segment
        .field(field)
        .and_then(|f| f.component(n))
        .map(|v| first_subcomponent(message, v, mode))
        .unwrap_or_default()
}

/// The first subcomponent: the surname of an FN family name (v2.5+), or the whole component
/// when it has no subcomponents.
fn first_subcomponent(message: &Message<'_>, value: Value<'_>, mode: TextMode) -> String {
    let first = value.subcomponent(1).unwrap_or(value);
    read(message, &first, mode)
}

/// The bytes of the first subcomponent of component `n` (1-based) of a field's first
/// repetition, as `field.component(n)` and then `subcomponent(1)` read them (the component
/// itself when no subcomponent separator is declared). One pass that stops at the component it
/// wants: the rest of the field (the components after it, the other repetitions) is not read.
fn component_head<'a>(field: &'a [u8], n: usize, d: &Delimiters) -> Option<&'a [u8]> {
    if n == 0 {
        return None;
    }
    let ends_component = |b: &u8| *b == d.component || *b == d.repetition;
    let mut rest = field;
    // Past the n - 1 components before it, as long as the first repetition lasts.
    for _ in 1..n {
        let at = rest.iter().position(ends_component)?;
        let (separator, after) = rest.get(at..)?.split_first()?;
        if *separator == d.repetition {
            return None;
        }
        rest = after;
    }
    let component = match rest.iter().position(ends_component) {
        Some(end) => rest.get(..end)?,
        None => rest,
    };
    match d.subcomponent {
        Some(sub) => component.split(|&b| b == sub).next(),
        None => Some(component),
    }
}

/// The bytes of component `n` (1-based) of a repetition, as `repetition.component(n)` reads
/// them (subcomponent separators and all).
fn component_of<'a>(repetition: &'a [u8], n: usize, d: &Delimiters) -> Option<&'a [u8]> {
    repetition.split(|&b| b == d.component).nth(n.checked_sub(1)?)
}

/// The email address among PID-13's repetitions: XTN-4, on the repetition whose use code is
/// NET (XTN-2) or equipment type Internet (XTN-3).
fn email(message: &Message<'_>, field: Option<&[u8]>, mode: TextMode) -> Option<String> {
    let d = message.delimiters();
    field?.split(|&b| b == d.repetition).find_map(|r| {
        let part =
            |n| component_of(r, n, d).map(|v| read_bytes(message, v, mode)).unwrap_or_default();
        let is_email = part(2) == "NET" || part(3).eq_ignore_ascii_case("Internet");
        // The address is read only on the repetition that is an e-mail.
        let address = is_email.then(|| part(4)).filter(|address| !address.is_empty())?;
        Some(address.into_owned())
    })
}

/// What a message says that the feed needs, read before the feed is changed: reading (the
/// header's key, the client in PID) is most of the cost of applying a message and needs no
/// state, so a server reads it before it locks the feed, and connections wait on each other
/// only for the change itself.
#[derive(Debug)]
pub struct Reading<'m> {
    /// The text mode the values were read in.
    mode: TextMode,
    /// MSH-3, MSH-4 and MSH-10 as read: the duplicate key.
    key: [Cow<'m, str>; 3],
    /// The client of a message that creates or updates one.
    client: ClientRead,
}

/// The client of a creating or updating ADT message, as read from its first PID.
#[derive(Debug)]
enum ClientRead {
    /// The event creates or updates no client.
    NotNeeded,
    /// The event would, but the message has no PID segment.
    NoPid,
    /// The client, or the required fields its PID lacks.
    Read(Result<Client, Missing>),
}

impl<'m> Reading<'m> {
    /// Reads what [`ClientFeed::apply_read`] needs of `message`, as a feed with text mode
    /// `mode` reads it.
    pub fn of(message: &Message<'m>, mode: TextMode) -> Reading<'m> {
        // The header's fields where parse noted them: no path parsed, no segment walked, and
        // MSH-10 read once.
        let key = [3, 4, 10].map(|n| {
            message
                .header_bytes(n)
                .map(|bytes| read_bytes(message, bytes, mode))
                .unwrap_or_default()
        });
        let client = match (message.message_code(), message.trigger_event()) {
            (Some("ADT"), Some("A04" | "A01" | "A14" | "A28" | "A05" | "A08" | "A31")) => {
                match message.find_segment("PID", 1) {
                    Some(pid) => ClientRead::Read(ClientFeed::read_client(message, &pid, mode)),
                    None => ClientRead::NoPid,
                }
            }
            _ => ClientRead::NotNeeded,
        };
        Reading { mode, key, client }
    }
}

impl ClientRead {
    /// The client read, or the error log's entry for a message that `action` (e.g. "client
    /// not created") could not take: no PID, or required fields empty.
    fn complete(self, action: &str) -> Result<Client, Effect> {
        match self {
            ClientRead::Read(Ok(client)) => Ok(client),
            ClientRead::Read(Err(why)) => Err(Effect::Logged { message: why.logged(action) }),
            ClientRead::NoPid | ClientRead::NotNeeded => {
                Err(Effect::Logged { message: "no PID segment".into() })
            }
        }
    }
}

impl ClientFeed {
    /// Applies one message; returns what it did. Never fails: content problems go to the
    /// error log, because the message is acknowledged either way.
    pub fn apply(&mut self, message: &Message<'_>) -> Vec<Effect> {
        let reading = Reading::of(message, self.text_mode);
        self.apply_read(message, reading)
    }

    /// [`apply`](Self::apply) with what the feed needs of `message` already read (`reading`,
    /// read from `message`). A reading in another text mode than the feed's is read again.
    pub fn apply_read<'m>(&mut self, message: &Message<'m>, reading: Reading<'m>) -> Vec<Effect> {
        let reading = if reading.mode == self.text_mode {
            reading
        } else {
            Reading::of(message, self.text_mode)
        };
        let Reading { key, client, .. } = reading;
        if !self.seen.insert([&key[0], &key[1], &key[2]]) && !self.reapply_duplicates {
            return vec![Effect::Duplicate];
        }
        let [_, _, control_id] = key;
        let code = message.message_code().unwrap_or("");
        let trigger = message.trigger_event().unwrap_or("");
        let mut effects = match ((code, trigger), client) {
            (("ADT", "A04" | "A01" | "A14" | "A28" | "A05"), client) => {
                self.create(client, trigger)
            }
            (("ADT", "A08" | "A31"), client) => self.update(client),
            (("ADT", "A03"), _) => self.deactivate(message),
            (("ADT", "A40" | "A18"), _) => self.merge(message),
            (("ADT", "A54"), _) => self.relate(message),
            (("MFN", "M02"), _) => self.professionals(message),
            _ => {
                let message = format!("{code}^{trigger} is not applied by this endpoint");
                vec![Effect::Logged { message }]
            }
        };
        if (code, trigger) == ("ADT", "A14")
            && effects
                .iter()
                .any(|e| matches!(e, Effect::ClientCreated { .. } | Effect::ClientUpdated { .. }))
        {
            effects.extend(self.relate(message));
        }
        for effect in &effects {
            if let Effect::Logged { message } = effect {
                // When full, the oldest entry's buffers take the new text: no allocation, and
                // no buffer freed here that another connection's thread allocated.
                let mut entry = if self.errors.len() == MAX_LOGGED_ERRORS {
                    self.older_errors_not_kept += 1;
                    self.errors.pop_front().unwrap_or_default()
                } else {
                    LoggedError::default()
                };
                entry.control_id.clear();
                entry.control_id.push_str(&control_id);
                entry.event.clear();
                entry.event.extend([code, "^", trigger]);
                entry.message.clear();
                entry.message.push_str(message);
                self.errors.push_back(entry);
            }
        }
        effects
    }

    /// The client described by the PID segment, or the required fields it lacks. The values
    /// are read borrowed and checked first: only a complete client is copied into strings, so
    /// a message the error log gets costs no copy of its values.
    fn read_client<'a>(
        message: &Message<'a>,
        pid: &Segment<'a>,
        mode: TextMode,
    ) -> Result<Client, Missing> {
        // The fields read, found in one pass over PID (each field separator once) rather than
        // a scan from the segment's start for each.
        // Their bytes, split here: a value is not built (and scanned) for each piece read.
        let [client_id, name, birth, sex, phone, death] = pid.field_bytes_at([3, 5, 7, 8, 13, 30]);
        let delimiters = message.delimiters();
        let raw = |field: Option<&'a [u8]>, n| component_head(field?, n, delimiters);
        let part = |value: Option<&'a [u8]>| -> Cow<'a, str> {
            value.map(|v| read_bytes(message, v, mode)).unwrap_or_default()
        };
        // A value with a letter or digit and no escape sequence is not empty once read, so
        // it is not read (decoded, trimmed) unless the client is complete.
        let escape = delimiters.escape;
        let surely_valued = |value: &Option<&'a [u8]>| {
            value.is_some_and(|bytes| {
                bytes.iter().any(u8::is_ascii_alphanumeric)
                    && escape.is_none_or(|e| !bytes.contains(&e))
            })
        };
        let values = [raw(client_id, 1), raw(name, 1), raw(name, 2), raw(sex, 1), raw(birth, 1)];
        let email = email(message, phone, mode);
        let missing = Missing(
            values
                .iter()
                .map(|v| !surely_valued(v) && part(*v).is_empty())
                .chain([email.is_none()])
                .enumerate()
                .fold(0, |bits, (i, empty)| bits | (u8::from(empty) << i)),
        );
        if missing.0 != 0 {
            return Err(missing);
        }
        let [id, family, given, gender, birth_date] = values.map(part);
        Ok(Client {
            id: id.into_owned(),
            family: family.into_owned(),
            given: given.into_owned(),
            email,
            gender: gender.into_owned(),
            birth_date: birth_date.into_owned(),
            active: true,
            deceased: part(raw(death, 1)) == "Y",
            professionals: BTreeSet::new(),
            merged: Vec::new(),
        })
    }

    /// `trigger` is the ADT event (MSH-9.2).
    fn create(&mut self, client: ClientRead, trigger: &str) -> Vec<Effect> {
        let mut client = match client.complete("client not created") {
            Ok(client) => client,
            Err(logged) => return vec![logged],
        };
        if let Some(existing) = self.clients.get(&client.id) {
            if trigger == "A04" {
                let id = client.id;
                return vec![Effect::Logged {
                    message: format!(
                        "A04 for client {id}, which already exists (A04 is sent once)"
                    ),
                }];
            }
            client.professionals = existing.professionals.clone();
            client.merged = existing.merged.clone();
            let id = client.id.clone();
            self.store(client);
            return vec![Effect::ClientUpdated { id }];
        }
        let id = client.id.clone();
        let mut effects = vec![Effect::ClientCreated { id: id.clone() }];
        if client.deceased {
            effects.push(Effect::ClientDeactivated { id });
        }
        self.store(client);
        effects
    }

    /// Stores a client; a deceased client (PID-30 = Y) is inactive.
    fn store(&mut self, mut client: Client) {
        if client.deceased {
            client.active = false;
        }
        match self.clients.get_mut(&client.id) {
            // The same client again (an update that changes nothing, a create sent twice): the
            // stored one stays, so its text is not freed and copied anew, often by another
            // connection's thread than the one that allocated it.
            Some(stored) if *stored == client => {}
            Some(stored) => *stored = client,
            None => {
                self.clients.insert(client.id.clone(), client);
            }
        }
    }

    fn update(&mut self, client: ClientRead) -> Vec<Effect> {
        let mut client = match client.complete("client not updated") {
            Ok(client) => client,
            Err(logged) => return vec![logged],
        };
        let Some(existing) = self.clients.get(&client.id) else {
            let id = client.id;
            return vec![Effect::Logged { message: format!("update for unknown client {id}") }];
        };
        client.professionals = existing.professionals.clone();
        client.merged = existing.merged.clone();
        client.active = existing.active;
        let id = client.id.clone();
        let mut effects = vec![Effect::ClientUpdated { id: id.clone() }];
        if client.deceased && existing.active {
            effects.push(Effect::ClientDeactivated { id });
        }
        self.store(client);
        effects
    }

    fn deactivate(&mut self, message: &Message<'_>) -> Vec<Effect> {
        let id = text(message, "PID-3.1", self.text_mode);
        match self.clients.get_mut(&id) {
            Some(client) => {
                client.active = false;
                vec![Effect::ClientDeactivated { id }]
            }
            None if id.is_empty() => {
                vec![Effect::Logged { message: "A03 without client id (PID-3.1)".into() }]
            }
            None => {
                vec![Effect::Logged { message: format!("deactivation of unknown client {id}") }]
            }
        }
    }

    /// Each PID (with its MRG) of an A40, or the one pair of an A18: every MRG-1 repetition is
    /// merged into the PID-3 client, whose details are updated from the PID.
    fn merge(&mut self, message: &Message<'_>) -> Vec<Effect> {
        let mode = self.text_mode;
        let mut effects = Vec::new();
        let segments: Vec<Segment<'_>> = message.segments().collect();
        for (i, pid) in segments.iter().enumerate().filter(|(_, s)| s.id() == "PID") {
            let into = component(message, pid, 3, 1, mode);
            let Some(mrg) =
                segments[i + 1..].iter().take_while(|s| s.id() != "PID").find(|s| s.id() == "MRG")
            else {
                effects.push(Effect::Logged {
                    message: format!("merge into {into} without MRG segment"),
                });
                continue;
            };
            let Some(kept) = self.clients.get(&into).cloned() else {
                effects
                    .push(Effect::Logged { message: format!("merge into unknown client {into}") });
                continue;
            };
            let mut kept = kept;
            if let Ok(updated) = Self::read_client(message, pid, self.text_mode) {
                kept = Client {
                    professionals: kept.professionals,
                    merged: kept.merged,
                    active: kept.active,
                    ..updated
                };
            }
            let from_ids: Vec<String> = mrg
                .field(1)
                .map(|f| {
                    f.repetitions()
                        .filter_map(|r| r.component(1))
                        .map(|v| first_subcomponent(message, v, mode))
                        .collect()
                })
                .unwrap_or_default();
            for from in from_ids.into_iter().filter(|f| !f.is_empty()) {
                match self.clients.remove(&from) {
                    Some(old) => {
                        kept.professionals.extend(old.professionals);
                        kept.merged.push(from.clone());
                        effects.push(Effect::ClientsMerged { from, into: into.clone() });
                    }
                    None => effects.push(Effect::Logged {
                        message: format!("merge of unknown client {from} into {into}"),
                    }),
                }
            }
            self.store(kept);
        }
        effects
    }

    /// Relates the PID-3 client to the attending professional (PV1-7.1, else ROL-4.1).
    fn relate(&mut self, message: &Message<'_>) -> Vec<Effect> {
        let client = text(message, "PID-3.1", self.text_mode);
        let mut professional = text(message, "PV1-7.1", self.text_mode);
        if professional.is_empty() {
            professional = text(message, "ROL-4.1", self.text_mode);
        }
        if professional.is_empty() {
            return vec![Effect::Logged {
                message: format!(
                    "no professional (PV1-7.1 or ROL-4.1) to relate to client {client}"
                ),
            }];
        }
        if !self.professionals.contains_key(&professional) {
            return vec![Effect::Logged {
                message: format!("relation to unknown professional {professional}"),
            }];
        }
        match self.clients.get_mut(&client) {
            Some(c) => {
                c.professionals.insert(professional.clone());
                vec![Effect::Related { client, professional }]
            }
            None => {
                vec![Effect::Logged { message: format!("relation for unknown client {client}") }]
            }
        }
    }

    /// MFN^M02: each MFE with the STF that follows it.
    fn professionals(&mut self, message: &Message<'_>) -> Vec<Effect> {
        let mode = self.text_mode;
        let mut effects = Vec::new();
        let segments: Vec<Segment<'_>> = message.segments().collect();
        for (i, mfe) in segments.iter().enumerate().filter(|(_, s)| s.id() == "MFE") {
            let code = component(message, mfe, 1, 1, mode);
            let mut id = component(message, mfe, 4, 1, mode);
            let stf =
                segments[i + 1..].iter().take_while(|s| s.id() != "MFE").find(|s| s.id() == "STF");
            if id.is_empty() {
                id = stf.map(|s| component(message, s, 1, 1, mode)).unwrap_or_default();
            }
            if id.is_empty() {
                effects.push(Effect::Logged {
                    message: "MFE without a professional id (MFE-4.1 or STF-1.1)".into(),
                });
                continue;
            }
            let read = |active: bool| Professional {
                id: id.clone(),
                family: stf.map(|s| component(message, s, 3, 1, mode)).unwrap_or_default(),
                given: stf.map(|s| component(message, s, 3, 2, mode)).unwrap_or_default(),
                active,
            };
            let exists = self.professionals.contains_key(&id);
            let effect = match (code.as_str(), exists) {
                ("MAD", false) => {
                    self.professionals.insert(id.clone(), read(true));
                    Effect::ProfessionalAdded { id }
                }
                ("MAD", true) => Effect::Logged {
                    message: format!("MAD for professional {id}, who already exists"),
                },
                ("MUP", _) => {
                    let active = self.professionals.get(&id).is_none_or(|p| p.active);
                    self.professionals.insert(id.clone(), read(active));
                    if exists {
                        Effect::ProfessionalUpdated { id }
                    } else {
                        Effect::ProfessionalAdded { id }
                    }
                }
                ("MDC", true) => {
                    if let Some(p) = self.professionals.get_mut(&id) {
                        p.active = false;
                    }
                    Effect::ProfessionalDeactivated { id }
                }
                ("MAC", true) => {
                    if let Some(p) = self.professionals.get_mut(&id) {
                        p.active = true;
                    }
                    Effect::ProfessionalReactivated { id }
                }
                (_, false) => {
                    Effect::Logged { message: format!("{code} for unknown professional {id}") }
                }
                (other, true) => Effect::Logged {
                    message: format!("record-level event code {other:?} (MFE-1) is not applied"),
                },
            };
            effects.push(effect);
        }
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
    }

    fn apply(feed: &mut ClientFeed, bytes: &[u8]) -> Vec<Effect> {
        feed.apply(&Message::parse(bytes).unwrap())
    }

    const A04: &str = "MSH|^~\\&|EHR|HOSP|H|F|20240101||ADT^A04^ADT_A01|M1|P|2.6||||||UNICODE UTF-8\rEVN|A04|20240101\rPID|1||C1^^^EHR^PI||D\\S\\\u{f8}e^Jo||19800101|F|||||^NET^Internet^jo@example.invalid\rPV1|1|O\r";

    /// Components and their first subcomponents split from bytes are what reading them
    /// through `Value` gives: for every field and repetition of every corpus segment (the
    /// delimiters MSH-1 and MSH-2 aside), components 0 to 6, and fields that declare no
    /// subcomponent separator.
    #[test]
    fn components_split_from_bytes_are_those_read_through_values() {
        use crate::hl7::Level;
        let inputs = crate::hl7::message::tests::corpus_after(&[
            b"MSH|^~\\&\rPID|1||a&b^c~d^e&f||^^|&&^~~|x",
            b"MSH|^~\rPID|1||a&b^c~d^e||^",
        ]);
        let mut compared = 0;
        for input in &inputs {
            let Ok(message) = Message::parse(input) else { continue };
            let d = message.delimiters();
            for segment in message.segments() {
                for (_, field) in segment.fields().filter(|(_, f)| f.level() != Level::Opaque) {
                    for n in 0..7 {
                        let head = field.component(n).map(|v| v.subcomponent(1).unwrap_or(v));
                        let head = head.map(|v| v.as_bytes());
                        assert_eq!(component_head(field.as_bytes(), n, d), head, "{input:?}");
                        for repetition in field.repetitions() {
                            let read = repetition.component(n).map(|v| v.as_bytes());
                            assert_eq!(component_of(repetition.as_bytes(), n, d), read);
                        }
                        compared += 1;
                    }
                }
            }
        }
        assert!(compared > 10_000, "{compared}");
    }

    /// An update that changes nothing keeps the stored client as it is (its text is not
    /// copied anew); one that changes a value stores the new values.
    #[test]
    fn an_update_that_changes_nothing_keeps_the_stored_client() {
        let mut feed = ClientFeed::default();
        apply(&mut feed, A04.as_bytes());
        let family_at = feed.clients["C1"].family.as_ptr();
        let a08 =
            A04.replace("ADT^A04^ADT_A01|M1", "ADT^A08^ADT_A01|M2").replace("EVN|A04", "EVN|A08");
        assert_eq!(
            apply(&mut feed, a08.as_bytes()),
            vec![Effect::ClientUpdated { id: "C1".into() }]
        );
        assert_eq!(feed.clients["C1"].family.as_ptr(), family_at, "the same buffer");
        let renamed = a08.replace("|M2|", "|M3|").replace("^Jo||", "^Joan||");
        assert_eq!(
            apply(&mut feed, renamed.as_bytes()),
            vec![Effect::ClientUpdated { id: "C1".into() }]
        );
        assert_eq!(feed.clients["C1"].given, "Joan");
        assert_eq!(feed.clients["C1"].family, "D^\u{f8}e");
    }

    #[test]
    fn missing_required_fields_are_named_in_order_in_the_error_log() {
        let mut feed = ClientFeed::default();
        // No first name (PID-5.2), no e-mail (PID-13 without a NET repetition).
        let a04 = A04.replace("^Jo||", "||").replace("^NET^Internet^jo@example.invalid", "");
        let logged = "client not created: required by the interface but empty: first name \
                      (PID-5.2), email address (PID-13, XTN-4 with use code NET)";
        assert_eq!(
            apply(&mut feed, a04.as_bytes()),
            vec![Effect::Logged { message: logged.into() }]
        );
        assert_eq!(feed.errors.back().map(|e| e.message.as_str()), Some(logged));
        assert!(feed.clients.is_empty());
        assert_eq!(Missing(0b10_0001).logged("client not updated"), "client not updated: required by the interface but empty: client id (PID-3.1), email address (PID-13, XTN-4 with use code NET)");
        assert_eq!(
            Missing(0b1000).logged("x"),
            "x: required by the interface but empty: gender (PID-8)"
        );
    }

    /// A reading made before the feed was locked is what `apply` would read; one made in
    /// another text mode than the feed's is read again, so the feed never stores text read
    /// the wrong way.
    #[test]
    fn a_reading_made_outside_is_applied_as_apply_reads() {
        let message = Message::parse(A04.as_bytes()).unwrap();
        let mut direct = ClientFeed::default();
        let mut read_first = ClientFeed::default();
        let reading = Reading::of(&message, read_first.text_mode);
        assert_eq!(read_first.apply_read(&message, reading), direct.apply(&message));
        assert_eq!(read_first.clients, direct.clients);
        assert_eq!(read_first.clients["C1"].family, "D^\u{f8}e");

        let mut raw = ClientFeed { text_mode: TextMode::Raw, ..ClientFeed::default() };
        let decoded = Reading::of(&message, TextMode::Decoded);
        assert_eq!(
            raw.apply_read(&message, decoded),
            vec![Effect::ClientCreated { id: "C1".into() }]
        );
        assert_eq!(raw.clients["C1"].family, "D\\S\\\u{f8}e", "read again as the feed reads");
        let resent = Reading::of(&message, TextMode::Raw);
        assert_eq!(raw.apply_read(&message, resent), vec![Effect::Duplicate]);
    }

    /// A value that is blank once read is missing, though it has bytes: spaces, or an escape
    /// sequence (a hex escape with a letter and digits) that stands for a space.
    #[test]
    fn values_blank_once_read_are_missing() {
        let first_name = "client not created: required by the interface but empty: first name \
                          (PID-5.2)";
        for given in ["^  ||", "^\\X20\\||"] {
            let mut feed = ClientFeed::default();
            let a04 = A04.replace("^Jo||", given);
            let logged = vec![Effect::Logged { message: first_name.into() }];
            assert_eq!(apply(&mut feed, a04.as_bytes()), logged, "{given}");
        }
        // The same value with a letter is read and stored.
        let mut feed = ClientFeed::default();
        let a04 = A04.replace("^Jo||", "^\\X4A\\o||");
        assert_eq!(
            apply(&mut feed, a04.as_bytes()),
            vec![Effect::ClientCreated { id: "C1".into() }]
        );
        assert_eq!(feed.clients["C1"].given, "Jo");
    }

    #[test]
    fn create_update_deactivate_and_duplicates() {
        let mut feed = ClientFeed::default();
        assert_eq!(
            apply(&mut feed, A04.as_bytes()),
            vec![Effect::ClientCreated { id: "C1".into() }]
        );
        let client = &feed.clients["C1"];
        assert_eq!(
            (client.family.as_str(), client.given.as_str()),
            ("D^\u{f8}e", "Jo"),
            "values are stored decoded"
        );
        assert_eq!(client.email.as_deref(), Some("jo@example.invalid"));
        assert_eq!(
            apply(&mut feed, A04.as_bytes()),
            vec![Effect::Duplicate],
            "same MSH-3/4/10 applied once"
        );
        let a08 =
            A04.replace("ADT^A04", "ADT^A08").replace("|M1|", "|M2|").replace("^Jo|", "^Joanna|");
        assert_eq!(
            apply(&mut feed, a08.as_bytes()),
            vec![Effect::ClientUpdated { id: "C1".into() }]
        );
        assert_eq!(feed.clients["C1"].given, "Joanna");
        let unknown = a08.replace("C1^", "C9^").replace("|M2|", "|M3|");
        assert!(matches!(&apply(&mut feed, unknown.as_bytes())[..], [Effect::Logged { .. }]));
        assert_eq!(feed.errors.len(), 1);
        assert_eq!(feed.errors[0].message, "update for unknown client C9");
        let a03 = A04.replace("ADT^A04", "ADT^A03").replace("|M1|", "|M4|");
        assert_eq!(
            apply(&mut feed, a03.as_bytes()),
            vec![Effect::ClientDeactivated { id: "C1".into() }]
        );
        assert!(!feed.clients["C1"].active);
    }

    #[test]
    fn missing_required_fields_are_logged_not_applied() {
        let mut feed = ClientFeed::default();
        let no_email = A04.replace("^NET^Internet^jo@example.invalid", "");
        let effects = apply(&mut feed, no_email.as_bytes());
        assert!(
            matches!(&effects[..], [Effect::Logged { message }] if message.contains("email")),
            "{effects:?}"
        );
        assert!(feed.clients.is_empty());
    }

    #[test]
    fn corpus_sequence_professionals_relation_merge_deceased() {
        let mut feed = ClientFeed::default();
        let effects = apply(&mut feed, &corpus("mfn/mfn_m02_v26_add_update.hl7"));
        assert!(
            effects.contains(&Effect::ProfessionalAdded { id: "PRO-1001".into() }),
            "{effects:?}"
        );
        assert!(feed.professionals.contains_key("PRO-1002"));
        let effects = apply(&mut feed, &corpus("adt/adt_a54_v26.hl7"));
        assert!(
            matches!(&effects[..], [Effect::Logged { message }] if message.contains("unknown client CL-10021")),
            "{effects:?}"
        );
        let effects = apply(&mut feed, &corpus("adt/adt_a08_v26_deceased.hl7"));
        assert!(
            matches!(&effects[..], [Effect::Logged { .. }]),
            "A08 for an unknown client: {effects:?}"
        );
        let deceased = String::from_utf8(corpus("adt/adt_a08_v26_deceased.hl7"))
            .unwrap()
            .replace("ADT^A08", "ADT^A04")
            .replace("|MSG-ADT-0013|", "|X1|");
        let effects = apply(&mut feed, deceased.as_bytes());
        assert_eq!(
            effects,
            vec![
                Effect::ClientCreated { id: "CL-10010".into() },
                Effect::ClientDeactivated { id: "CL-10010".into() }
            ]
        );
        assert!(!feed.clients["CL-10010"].active && feed.clients["CL-10010"].deceased);
    }

    #[test]
    fn merge_moves_relations_and_removes_the_old_client() {
        let mut feed = ClientFeed::default();
        apply(&mut feed, &corpus("mfn/mfn_m02_v26_add_update.hl7"));
        let create = |id: &str, control: &str| {
            A04.replace("C1^", &format!("{id}^")).replace("|M1|", &format!("|{control}|"))
        };
        apply(&mut feed, create("KEEP", "c1").as_bytes());
        apply(&mut feed, create("OLD", "c2").as_bytes());
        feed.clients.get_mut("OLD").unwrap().professionals.insert("PRO-1001".into());
        let a40 = "MSH|^~\\&|EHR|HOSP|H|F|20240101||ADT^A40^ADT_A39|m40|P|2.6\rEVN|A40|20240101\rPID|1||KEEP^^^EHR^PI||Doe^Jo||19800101|F|||||^NET^Internet^jo@example.invalid\rMRG|OLD^^^EHR^PI~GONE^^^EHR^PI\r";
        let effects = apply(&mut feed, a40.as_bytes());
        assert_eq!(effects[0], Effect::ClientsMerged { from: "OLD".into(), into: "KEEP".into() });
        assert!(matches!(&effects[1], Effect::Logged { message } if message.contains("GONE")));
        assert!(!feed.clients.contains_key("OLD"));
        assert_eq!(feed.clients["KEEP"].merged, vec!["OLD".to_string()]);
        assert!(feed.clients["KEEP"].professionals.contains("PRO-1001"));
        assert_eq!(feed.clients["KEEP"].family, "Doe", "A40 also updates the kept client");
    }

    #[test]
    fn state_serialises_for_probes() {
        let mut feed = ClientFeed::default();
        apply(&mut feed, A04.as_bytes());
        let json = serde_json::to_value(&feed).unwrap();
        assert_eq!(json["clients"]["C1"]["email"], "jo@example.invalid");
        assert!(json.get("seen").is_none());
    }

    #[test]
    fn duplicate_detection_remembers_a_bounded_window_of_hashed_keys() {
        let mut seen = SeenKeys { window: 3, ..SeenKeys::default() };
        let ids: Vec<String> = (0..4).map(|n| format!("M{n}")).collect();
        let key = |n: usize| ["EHR", "SITE", ids[n].as_str()];
        for n in 0..3 {
            assert!(seen.insert(key(n)));
        }
        assert!(!seen.insert(key(2)), "a resend inside the window");
        assert!(seen.insert(key(3)));
        assert_eq!((seen.set.len(), seen.order.len()), (3, 3), "the oldest is forgotten");
        assert!(seen.insert(key(0)), "outside the window: taken as new");
        // The parts are length-prefixed: moving a character between fields is another key.
        let mut parts = SeenKeys::default();
        assert!(parts.insert(["AB", "C", "1"]));
        assert!(parts.insert(["A", "BC", "1"]));
    }

    #[test]
    fn the_error_log_keeps_the_newest_and_counts_the_rest() {
        let mut feed = ClientFeed::default();
        for n in 0..MAX_LOGGED_ERRORS + 5 {
            let text = format!("MSH|^~\\&|EHR|SITE|||20240101||ZZZ^Z01|C{n}|P|2.6\r");
            let message = Message::parse(text.as_bytes()).expect("parses");
            feed.apply(&message);
        }
        assert_eq!(feed.errors.len(), MAX_LOGGED_ERRORS);
        assert_eq!(feed.older_errors_not_kept, 5);
        assert_eq!(feed.errors.front().map(|e| e.control_id.as_str()), Some("C5"));
        let json = serde_json::to_value(&feed).expect("json");
        assert_eq!(json["older_errors_not_kept"], 5);
    }
}
