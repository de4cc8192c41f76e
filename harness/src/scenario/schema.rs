//! The JSON Schema of the scenario format.

use super::raw::ScenarioFile;

/// The JSON Schema of the scenario format, generated from the types serde reads.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ScenarioFile)).unwrap_or(serde_json::Value::Null)
}
