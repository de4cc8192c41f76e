//! PLACEHOLDER replaced by the generator branch when it merges (same API).
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Mutation {
    LfSeparators,
}

impl Mutation {
    pub fn name(&self) -> &'static str {
        "lf_separators"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Valid,
    Invalid,
    Either,
}

pub struct Mutated {
    pub bytes: Vec<u8>,
    pub description: String,
    pub intent: Intent,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GenerateError(String);

pub fn apply_all(
    base: &[u8],
    mutations: &[Mutation],
    _seed: u64,
) -> Result<Mutated, GenerateError> {
    let mut bytes = base.to_vec();
    for m in mutations {
        match m {
            Mutation::LfSeparators => bytes.iter_mut().for_each(|b| {
                if *b == b'\r' {
                    *b = b'\n'
                }
            }),
        }
    }
    Ok(Mutated { bytes, description: "lf".into(), intent: Intent::Invalid })
}
