//! The baseline file: the fingerprints of findings already known, so that a scan reports only new
//! ones. Version 1: `{"version": 1, "fingerprints": [{"fingerprint", "checkId", "object"}]}`,
//! sorted by fingerprint; only the fingerprints are read back.

use std::collections::HashSet;

use kubevigil_model::{Finding, ObjectRef};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("not a kubevigil baseline")]
    Format(#[source] serde_json::Error),
    #[error("unsupported baseline version {0}")]
    Version(u32),
}

#[derive(Serialize, Deserialize)]
struct BaselineFile {
    version: u32,
    fingerprints: Vec<BaselineEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BaselineEntry {
    fingerprint: String,
    check_id: String,
    object: ObjectRef,
}

/// The fingerprints of a baseline file's text.
pub fn parse(text: &str) -> Result<HashSet<String>, BaselineError> {
    let file: BaselineFile = serde_json::from_str(text).map_err(BaselineError::Format)?;
    if file.version != 1 {
        return Err(BaselineError::Version(file.version));
    }
    Ok(file
        .fingerprints
        .into_iter()
        .map(|e| e.fingerprint)
        .collect())
}

/// The text of a baseline file recording `findings` (each fingerprint once), and how many
/// fingerprints it holds.
pub fn render<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> (String, usize) {
    let mut entries: Vec<BaselineEntry> = findings
        .into_iter()
        .map(|f| BaselineEntry {
            fingerprint: f.fingerprint.clone(),
            check_id: f.check_id.to_string(),
            object: (*f.object).clone(),
        })
        .collect();
    entries.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    entries.dedup_by(|a, b| a.fingerprint == b.fingerprint);
    let count = entries.len();
    let file = BaselineFile {
        version: 1,
        fingerprints: entries,
    };
    // Strings and maps of strings only: serialization cannot fail.
    let text = serde_json::to_string_pretty(&file).expect("a baseline serializes") + "\n";
    (text, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_writes_and_refuses_other_versions() {
        let text = r#"{"version": 1, "fingerprints": [
            {"fingerprint": "b", "checkId": "x", "object": {"apiVersion": "v1", "kind": "Pod", "name": "p"}},
            {"fingerprint": "a", "checkId": "x", "object": {"apiVersion": "v1", "kind": "Pod", "name": "p"}}]}"#;
        let set = parse(text).unwrap();
        assert_eq!(set, HashSet::from(["a".to_string(), "b".to_string()]));
        let v2 = text.replace("\"version\": 1", "\"version\": 2");
        assert!(matches!(parse(&v2), Err(BaselineError::Version(2))));
        assert!(matches!(parse("[]"), Err(BaselineError::Format(_))));
    }
}
