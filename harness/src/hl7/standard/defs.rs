//! What the standard defines for one version: segments and their fields, composite data types
//! and their components, coded tables. Plain data borrowed from the embedded text.

use crate::hl7::structures::Version;

/// A segment's fields in one version (HL7 v2.x, the segment definitions of each chapter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentDef {
    pub id: &'static str,
    pub version: Version,
    /// In position order (for MSH, MSH-1 is the field separator). A position may be missing:
    /// the source leaves out some withdrawn fields (v2.6 DG1-7..14, v2.8 EVN-1).
    pub fields: Vec<FieldDef>,
    /// Positions of the fields with usage R (min ≥ 1).
    pub required: Vec<usize>,
}

impl SegmentDef {
    /// The field at a 1-based position.
    pub fn field(&self, position: usize) -> Option<&FieldDef> {
        let i = self.fields.binary_search_by_key(&position, |f| f.position).ok()?;
        self.fields.get(i)
    }
}

/// One field of a segment definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDef {
    pub position: usize,
    /// hl7apy's short name, e.g. `PATIENT_IDENTIFIER_LIST`.
    pub name: &'static str,
    /// The data type as the source spells it (`CX`, `varies`, `WD` for a withdrawn field).
    pub datatype: &'static str,
    /// Minimum repetitions: 1 or more means usage R (required).
    pub min: u32,
    /// Maximum repetitions; `None` is unbounded, `Some(0)` a withdrawn field (v2.7 and later).
    pub max: Option<u32>,
    /// Maximum length; known for v2.3 to v2.6 only (hl7-dictionary), `None` otherwise.
    pub length: Option<u32>,
    /// The HL7 table the values come from (a number, e.g. 1 for table 0001).
    pub table: Option<u16>,
}

impl FieldDef {
    /// Usage R in the standard's segment definition.
    pub fn is_required(&self) -> bool {
        self.min >= 1
    }

    /// Whether the field may repeat.
    pub fn is_repeating(&self) -> bool {
        self.max != Some(0) && self.max != Some(1)
    }
}

/// A composite data type's components in one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompositeDef {
    pub id: &'static str,
    pub version: Version,
    /// In position order, position 1 first.
    pub components: Vec<ComponentDef>,
}

impl CompositeDef {
    /// The component at a 1-based position.
    pub fn component(&self, position: usize) -> Option<&ComponentDef> {
        let i = self.components.binary_search_by_key(&position, |c| c.position).ok()?;
        self.components.get(i)
    }
}

/// One component of a composite data type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentDef {
    pub position: usize,
    pub name: &'static str,
    pub datatype: &'static str,
    pub table: Option<u16>,
    /// Maximum length; `None` when no source gives it (all of v2.7 and v2.8).
    pub length: Option<u32>,
    /// `Some(true)` for usage R, `Some(false)` for O, `None` when no source says (v2.7, v2.8
    /// and components whose data type the two sources disagree on).
    pub required: Option<bool>,
}

/// Who defines a table's codes (HL7 v2.5.1 ch. 2, data types ID and IS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// Used only by ID values: the codes are the standard's.
    Hl7Defined,
    /// Used only by IS values: the codes are suggestions; a site may use its own.
    UserDefined,
    /// Used by CE/CWE/CNE, by both ID and IS, or by nothing in that version: no source says.
    Unknown,
}

/// Which data set a table's codes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableSource {
    /// hl7apy's tables of that very version (2.3.1 and later).
    Hl7apy,
    /// hl7-dictionary's one unversioned table set: for v2.3 and for tables hl7apy lacks; its
    /// codes may come from a later version.
    Hl7Dictionary,
}

/// An HL7 coded table in one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    pub number: u16,
    pub name: &'static str,
    pub kind: TableKind,
    pub source: TableSource,
    /// Sorted, each once.
    pub codes: Vec<&'static str>,
}

impl TableDef {
    /// Whether `code` is one of the table's codes (exact, case-sensitive).
    pub fn contains(&self, code: &str) -> bool {
        self.codes.binary_search(&code).is_ok()
    }
}
