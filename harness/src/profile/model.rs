//! The target profile's format (YAML). Every key is optional: a key left out is a choice the
//! system did not declare, and the checks then accept every answer the standard allows.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use super::message::{MessageProfile, ValueSet};

/// What the system under test declares. Grading = HL7 v2 ∩ these declarations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetProfile {
    /// Shown in reports (the file name when absent).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// The version of the interface specification this profile writes down (e.g. `"1.4"`),
    /// printed in reports beside the name and sha256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// MSH-12 versions processed (`any`, or a list such as ["2.3", "2.5.1"]); others must be
    /// rejected (AR, error 203; HL7 v2.5.1 ch. 2, 2.9.2.1 step 1b).
    #[serde(default)]
    pub versions: Option<AnyOr<Vec<String>>>,
    /// MSH-9 message types processed, each with its trigger events (`any`, or a map such as
    /// `{ ADT: [A01, A04], MFN: any }`); others must be rejected (AR, errors 200/201; HL7 v2.5.1
    /// ch. 2, 2.9.2.1 step 1a).
    #[serde(default)]
    pub messages: Option<AnyOr<BTreeMap<String, AnyOr<Vec<String>>>>>,
    /// MSH-11 processing ids processed (`any`, or a list such as [P, T]); others must be
    /// rejected (AR, error 202; HL7 v2.5.1 ch. 2, 2.9.2.1 step 1c).
    #[serde(default)]
    pub processing_ids: Option<AnyOr<Vec<String>>>,
    /// `[original]`, or `[original, enhanced]` when MSH-15/16 are honoured (a receiver may
    /// ignore them and answer in original mode).
    #[serde(default)]
    pub acknowledgment_modes: Option<Vec<AckModeName>>,
    /// `reject`: a message missing a required field or segment gets AE or AR; `accept`: AA is
    /// allowed (usage R says a receiver *may* raise an error).
    #[serde(default)]
    pub missing_required: Option<MissingRequired>,
    /// MSH-18 character sets processed (e.g. ["ASCII", "8859/1", "UNICODE UTF-8"]).
    #[serde(default)]
    pub charsets: Option<Vec<String>>,
    /// 1, or 2 when MLLP release 2 commit acknowledgments (ACK/NAK blocks) are sent.
    #[serde(default)]
    pub mllp_release: Option<MllpRelease>,
    /// What the receiver does with bytes outside an MLLP block: `skip` them (MLLP release 2's
    /// rule) or `close` the connection (release 1 says nothing). With `skip` the block after
    /// them must be answered on the same connection (`connection.bytes-outside-blocks`);
    /// otherwise a close is followed by a resend on a clean connection.
    #[serde(default)]
    pub bytes_outside_blocks: Option<BytesOutsideBlocks>,
    /// `false`: one connection is served at a time, by design (MLLP allows it). Only with `true`
    /// are cases run side by side against the target and cases with several connections at
    /// once judged.
    #[serde(default)]
    pub concurrent_connections: Option<bool>,
    /// What a resent message (same MSH-10) does: `apply-once`, `apply-each` or `reject`.
    #[serde(default)]
    pub duplicates: Option<DuplicatePolicy>,
    /// How probes and the order and duplicate checks read this system's effects.
    #[serde(default)]
    pub state: Option<StateSpec>,
    /// Site policy a site pack reads as `${profile.NAME}` (aliases, data controllers, user
    /// names): configuration of one system, kept out of signed packs.
    #[serde(default)]
    pub site: BTreeMap<String, String>,
    /// What a value outside its value set or data type gets: `reject` (AE or AR) or `accept`
    /// (AA allowed). Undeclared: either answer passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_values: Option<MissingRequired>,
    /// What each message of the interface must contain (the static part of an HL7 v2 message
    /// profile): `validate --profile` and the receiver role's `sender.content` judge by it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub message_profiles: Vec<MessageProfile>,
    /// The site's own code tables, by the name `value_set:` uses.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub value_sets: BTreeMap<String, ValueSet>,
}

/// `any`, or a declared list (or map).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyOr<T> {
    Any,
    Only(T),
}

impl<T> AnyOr<T> {
    pub fn only(&self) -> Option<&T> {
        match self {
            AnyOr::Any => None,
            AnyOr::Only(t) => Some(t),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for AnyOr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either<T> {
            Word(String),
            Value(T),
        }
        match Either::<T>::deserialize(d)? {
            Either::Word(w) if w == "any" => Ok(AnyOr::Any),
            Either::Word(w) => Err(de::Error::custom(format!("{w:?}: expected `any` or a list"))),
            Either::Value(v) => Ok(AnyOr::Only(v)),
        }
    }
}

impl<T: Serialize> Serialize for AnyOr<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AnyOr::Any => s.serialize_str("any"),
            AnyOr::Only(t) => t.serialize(s),
        }
    }
}

impl<T: JsonSchema> JsonSchema for AnyOr<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("AnyOr_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let inner = generator.subschema_for::<T>();
        json_schema!({ "oneOf": [ { "const": "any" }, inner ] })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AckModeName {
    Original,
    Enhanced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissingRequired {
    Reject,
    Accept,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub enum MllpRelease {
    #[serde(rename = "1")]
    One,
    #[serde(rename = "2")]
    Two,
}

impl<'de> Deserialize<'de> for MllpRelease {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(1) => Ok(MllpRelease::One),
            Raw::Number(2) => Ok(MllpRelease::Two),
            Raw::Text(t) if t == "1" => Ok(MllpRelease::One),
            Raw::Text(t) if t == "2" => Ok(MllpRelease::Two),
            Raw::Number(n) => Err(de::Error::custom(format!("mllp_release {n}: expected 1 or 2"))),
            Raw::Text(t) => Err(de::Error::custom(format!("mllp_release {t:?}: expected 1 or 2"))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BytesOutsideBlocks {
    Skip,
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicatePolicy {
    ApplyOnce,
    ApplyEach,
    Reject,
}

/// How the system's effects can be read, so that a pack's probe says *what* it wants ("the
/// `client` with id {PID-3.1} has `family` {PID-5.1}") and the profile says *where* that is in
/// this system. Without it, probes and the order and duplicate readings are skipped, saying why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateSpec {
    /// Base URL of the system's state API: what `{state}` stands for in the templates below and
    /// in a pack's `http_get` probes (`--state URL` and `target.state` give it otherwise; for the
    /// built-in endpoint the harness knows it).
    #[serde(default)]
    pub url: Option<String>,
    /// The records probes read, by the name packs use (`client`, `professional`, `message`,
    /// `logged_error`): where each one is and which JSON pointer holds each of its fields.
    #[serde(default)]
    pub records: BTreeMap<String, RecordSpec>,
    /// Where the order the system applied messages in can be read (for `history.order` and
    /// `applied:` probes). Without it, the order and duplicate readings are not judged.
    #[serde(default)]
    pub applied: Option<AppliedSpec>,
    /// Credentials for the state API, by environment variable name (never the values).
    #[serde(default)]
    pub auth: Option<StateAuth>,
}

/// Where one kind of record is, and its fields. Exactly one of `url` and `command`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordSpec {
    /// URL template GET reads, with `{state}` and `{id}` (percent-encoded), e.g.
    /// `{state}/clients/{id}`. HTTP 404 means there is no such record.
    #[serde(default)]
    pub url: Option<String>,
    /// Or a command (program and arguments, no shell; `{state}` and `{id}` filled in) that
    /// prints the record as JSON; empty output or `null` means there is no such record.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// When the document holds many records: JSON pointer (RFC 6901) to the array of them
    /// (`""` for the document itself) …
    #[serde(default)]
    pub list: Option<String>,
    /// … and the JSON pointer, inside each element, to the id the probe looks for.
    #[serde(default)]
    pub key: Option<String>,
    /// Field name (as packs write it) → JSON pointer inside the record, e.g.
    /// `family: /name/0/family`. A field not mapped here is not judged.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// The applied log: MSH-10s in the order the system applied the messages (a resend recognised
/// as a duplicate and not applied again is not listed again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppliedSpec {
    /// URL template GET reads (`{state}` filled in), e.g. `{state}/applied`.
    pub url: String,
    /// JSON pointer to the array (default `/applied`; `""` for the document itself).
    #[serde(default)]
    pub list: Option<String>,
    /// JSON pointer, inside each element, to its MSH-10 (default: the element is the MSH-10).
    #[serde(default)]
    pub key: Option<String>,
}

/// Credentials for the state API, named by environment variable: a profile is shared and
/// hashed into signed reports, so it never holds a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateAuth {
    /// Variable holding a bearer token (`Authorization: Bearer …`).
    #[serde(default)]
    pub bearer_env: Option<String>,
    /// Variables holding a Basic user name and password.
    #[serde(default)]
    pub user_env: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
}

impl StateSpec {
    /// How the built-in reference endpoint's state API is read (its `{state}/clients/ID`,
    /// `/professionals/ID`, `/errors`, `/journal`, `/applied`); `url` is left out because the
    /// endpoint's port is chosen when it starts. Its printed profile carries this mapping.
    pub fn builtin() -> StateSpec {
        let fields = |names: &[&str]| -> BTreeMap<String, String> {
            names.iter().map(|n| (n.to_string(), format!("/{n}"))).collect()
        };
        let by_url = |url: &str, names: &[&str]| RecordSpec {
            url: Some(url.into()),
            fields: fields(names),
            ..RecordSpec::default()
        };
        let in_list = |url: &str, list: &str, names: &[&str]| RecordSpec {
            list: Some(list.into()),
            key: Some("/control_id".into()),
            ..by_url(url, names)
        };
        let records = BTreeMap::from([
            (
                "client".to_string(),
                by_url(
                    "{state}/clients/{id}",
                    &[
                        "id",
                        "family",
                        "given",
                        "email",
                        "gender",
                        "birth_date",
                        "active",
                        "deceased",
                        "professionals",
                        "merged",
                    ],
                ),
            ),
            (
                "professional".to_string(),
                by_url("{state}/professionals/{id}", &["id", "family", "given", "active"]),
            ),
            (
                "logged_error".to_string(),
                in_list("{state}/errors", "", &["control_id", "event", "message"]),
            ),
            (
                "message".to_string(),
                in_list(
                    "{state}/journal",
                    "/entries",
                    &["control_id", "message_type", "outcome", "duplicate"],
                ),
            ),
        ]);
        StateSpec {
            url: None,
            records,
            applied: Some(AppliedSpec {
                url: "{state}/applied".into(),
                list: Some("/applied".into()),
                key: None,
            }),
            auth: None,
        }
    }
}

/// The built-in endpoint's site policy (`site:` of its profile), as the site packs read it:
/// the HTTP partner's connecting alias and data controllers (MSH-4
/// `connecting-alias{data-controller-alias}`, seed 004) and its Basic user name.
pub fn builtin_site() -> BTreeMap<String, String> {
    [
        ("connecting_alias", "trustalias"),
        ("data_controller_alias", "trustalias"),
        ("other_data_controller_alias", "otherclinic"),
        ("unknown_alias", "strangers"),
        ("partner_user", "partner_mailco"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The declarations a case may depend on (`depends_on:` in a scenario); without one of them in
/// the profile, the case's expectations are reported as seen, never as errors.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Declaration {
    Versions,
    Messages,
    ProcessingIds,
    AcknowledgmentModes,
    MissingRequired,
    Charsets,
    MllpRelease,
    BytesOutsideBlocks,
    ConcurrentConnections,
    Duplicates,
    State,
}

impl fmt::Display for Declaration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Declaration::Versions => "versions",
            Declaration::Messages => "messages",
            Declaration::ProcessingIds => "processing_ids",
            Declaration::AcknowledgmentModes => "acknowledgment_modes",
            Declaration::MissingRequired => "missing_required",
            Declaration::Charsets => "charsets",
            Declaration::MllpRelease => "mllp_release",
            Declaration::BytesOutsideBlocks => "bytes_outside_blocks",
            Declaration::ConcurrentConnections => "concurrent_connections",
            Declaration::Duplicates => "duplicates",
            Declaration::State => "state",
        })
    }
}

/// Whether a message's MSH-9/11/12 fall inside what a profile declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// Declared as processed.
    Declared,
    /// Declared as not processed: must be rejected, with this HL7 error code (table 0357) and
    /// reason.
    Refused { code: &'static str, why: String },
    /// The profile says nothing about it.
    Undeclared(Declaration),
}

impl TargetProfile {
    /// Whether the profile states `declaration`.
    pub fn declares(&self, declaration: Declaration) -> bool {
        match declaration {
            Declaration::Versions => self.versions.is_some(),
            Declaration::Messages => self.messages.is_some(),
            Declaration::ProcessingIds => self.processing_ids.is_some(),
            Declaration::AcknowledgmentModes => self.acknowledgment_modes.is_some(),
            Declaration::MissingRequired => self.missing_required.is_some(),
            Declaration::Charsets => self.charsets.is_some(),
            Declaration::MllpRelease => self.mllp_release.is_some(),
            Declaration::BytesOutsideBlocks => self.bytes_outside_blocks.is_some(),
            Declaration::ConcurrentConnections => self.concurrent_connections.is_some(),
            Declaration::Duplicates => self.duplicates.is_some(),
            Declaration::State => self.state.is_some(),
        }
    }

    /// Whether MSH-15/16 are honoured: `Some(true)` when enhanced mode is declared, `Some(false)`
    /// when only original mode is, `None` when the profile says nothing.
    pub fn honours_enhanced_mode(&self) -> Option<bool> {
        self.acknowledgment_modes.as_ref().map(|modes| modes.contains(&AckModeName::Enhanced))
    }

    /// Whether a message with this header is processed, in the order HL7 v2.5.1 ch. 2, 2.9.2.1
    /// checks MSH-9, MSH-12 and MSH-11: the first refusal wins, then the first missing
    /// declaration. A character set outside the declared ones is not a refusal (the standard
    /// names no rejection for it) but leaves the answer open, as an undeclared one does.
    pub fn supports(&self, header: &HeaderFacts) -> Support {
        let (code, event, version, processing_id) =
            (header.code.as_str(), header.event.as_str(), &header.version, &header.processing_id);
        let mut undeclared = None;
        match &self.messages {
            None => undeclared = undeclared.or(Some(Declaration::Messages)),
            Some(AnyOr::Any) => {}
            Some(AnyOr::Only(types)) => match types.get(code) {
                None => {
                    return Support::Refused {
                        code: "200",
                        why: format!("message type {code:?} is not among the declared {:?}", {
                            types.keys().collect::<Vec<_>>()
                        }),
                    }
                }
                Some(AnyOr::Only(events)) if !events.iter().any(|e| e == event) => {
                    return Support::Refused {
                        code: "201",
                        why: format!(
                            "event {event:?} of {code} is not among the declared {events:?}"
                        ),
                    }
                }
                Some(_) => {}
            },
        }
        match &self.versions {
            None => undeclared = undeclared.or(Some(Declaration::Versions)),
            Some(AnyOr::Any) => {}
            Some(AnyOr::Only(list)) if !list.iter().any(|v| v == version) => {
                return Support::Refused {
                    code: "203",
                    why: format!("version {version:?} is not among the declared {list:?}"),
                }
            }
            Some(_) => {}
        }
        match &self.processing_ids {
            None => undeclared = undeclared.or(Some(Declaration::ProcessingIds)),
            Some(AnyOr::Any) => {}
            Some(AnyOr::Only(list)) if !list.iter().any(|p| p == processing_id) => {
                return Support::Refused {
                    code: "202",
                    why: format!(
                        "processing id {processing_id:?} is not among the declared {list:?}"
                    ),
                }
            }
            Some(_) => {}
        }
        match &self.charsets {
            None => undeclared = undeclared.or(Some(Declaration::Charsets)),
            // MSH-18 empty: the default character set, ASCII (ch. 2, MSH-18).
            Some(list) if !list.iter().any(|c| c == header.charset_or_default()) => {
                undeclared = undeclared.or(Some(Declaration::Charsets))
            }
            Some(_) => {}
        }
        match undeclared {
            Some(d) => Support::Undeclared(d),
            None => Support::Declared,
        }
    }
}

/// The header fields a profile's declarations are about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderFacts {
    /// MSH-9.1 and MSH-9.2.
    pub code: String,
    pub event: String,
    /// MSH-12.1.
    pub version: String,
    /// MSH-11.1.
    pub processing_id: String,
    /// MSH-18 (first repetition); empty when not valued.
    pub charset: String,
}

impl HeaderFacts {
    fn charset_or_default(&self) -> &str {
        if self.charset.is_empty() {
            "ASCII"
        } else {
            &self.charset
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(yaml: &str) -> TargetProfile {
        crate::scenario::from_yaml(yaml).expect("profile")
    }

    fn h(code: &str, event: &str, version: &str, processing_id: &str) -> HeaderFacts {
        HeaderFacts {
            code: code.into(),
            event: event.into(),
            version: version.into(),
            processing_id: processing_id.into(),
            charset: String::new(),
        }
    }

    #[test]
    fn charsets_leave_the_answer_open_unless_declared() {
        let p = profile("versions: any\nmessages: any\nprocessing_ids: any");
        assert_eq!(
            p.supports(&h("ADT", "A01", "2.5", "P")),
            Support::Undeclared(Declaration::Charsets)
        );
        let p = profile("versions: any\nmessages: any\nprocessing_ids: any\ncharsets: [ASCII]");
        assert_eq!(p.supports(&h("ADT", "A01", "2.5", "P")), Support::Declared);
        let utf8 = HeaderFacts { charset: "UNICODE UTF-8".into(), ..h("ADT", "A01", "2.5", "P") };
        assert_eq!(p.supports(&utf8), Support::Undeclared(Declaration::Charsets));
    }

    #[test]
    fn any_or_list() {
        let p = profile(
            "versions: any\nmessages: { ADT: [A01, A04], MFN: any }\nprocessing_ids: [P]\n\
             charsets: [ASCII]",
        );
        assert_eq!(p.versions, Some(AnyOr::Any));
        assert_eq!(p.supports(&h("ADT", "A04", "2.6", "P")), Support::Declared);
        assert_eq!(p.supports(&h("MFN", "M02", "9.9", "P")), Support::Declared);
        assert!(matches!(
            p.supports(&h("ADT", "A99", "2.6", "P")),
            Support::Refused { code: "201", .. }
        ));
        assert!(matches!(
            p.supports(&h("ZZZ", "Z01", "2.6", "P")),
            Support::Refused { code: "200", .. }
        ));
        assert!(matches!(
            p.supports(&h("ADT", "A01", "2.6", "T")),
            Support::Refused { code: "202", .. }
        ));
    }

    #[test]
    fn messages_any_and_undeclared() {
        let p = profile("messages: any\nversions: [\"2.5.1\"]\ncharsets: [ASCII]");
        assert!(matches!(
            p.supports(&h("ZZZ", "Z", "2.4", "P")),
            Support::Refused { code: "203", .. }
        ));
        assert_eq!(
            p.supports(&h("ZZZ", "Z", "2.5.1", "P")),
            Support::Undeclared(Declaration::ProcessingIds)
        );
        assert_eq!(
            TargetProfile::default().supports(&h("ADT", "A01", "2.5", "P")),
            Support::Undeclared(Declaration::Messages)
        );
    }

    #[test]
    fn bad_words_are_refused() {
        assert!(crate::scenario::from_yaml::<TargetProfile>("versions: all").is_err());
        assert!(crate::scenario::from_yaml::<TargetProfile>("mllp_release: 3").is_err());
        assert!(crate::scenario::from_yaml::<TargetProfile>("unknown_key: 1").is_err());
        assert_eq!(profile("mllp_release: 2").mllp_release, Some(MllpRelease::Two));
        assert_eq!(profile("duplicates: apply-once").duplicates, Some(DuplicatePolicy::ApplyOnce));
    }

    /// The committed profile of the built-in endpoint carries the mapping and site policy the
    /// harness uses against `builtin`.
    #[test]
    fn the_builtin_profile_file_maps_its_state_and_site() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios/builtin.profile.yaml");
        let text = std::fs::read_to_string(path).expect("scenarios/builtin.profile.yaml");
        let p = profile(&text);
        assert_eq!(p.state, Some(StateSpec::builtin()));
        assert_eq!(p.site, builtin_site());
    }

    #[test]
    fn declarations() {
        let p = profile("acknowledgment_modes: [original]\nconcurrent_connections: false");
        assert!(p.declares(Declaration::AcknowledgmentModes));
        assert!(p.declares(Declaration::ConcurrentConnections));
        assert!(!p.declares(Declaration::Versions));
        assert_eq!(p.honours_enhanced_mode(), Some(false));
        assert_eq!(TargetProfile::default().honours_enhanced_mode(), None);
    }
}
