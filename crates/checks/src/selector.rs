//! Kubernetes label selectors (`matchLabels` and `matchExpressions`), as
//! k8s.io/apimachinery/pkg/apis/meta/v1/helpers.go `LabelSelectorAsSelector` evaluates them.

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default)]
    pub match_labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Requirement {
    pub key: String,
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// An empty selector matches everything (as in the API).
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.match_labels
            .iter()
            .all(|(k, v)| get(k) == Some(v.as_str()))
            && self.match_expressions.iter().all(|r| {
                let have = get(&r.key);
                match r.operator.as_str() {
                    "In" => have.is_some_and(|h| r.values.iter().any(|v| v == h)),
                    "NotIn" => have.is_none_or(|h| r.values.iter().all(|v| v != h)),
                    "Exists" => have.is_some(),
                    "DoesNotExist" => have.is_none(),
                    _ => false,
                }
            })
    }
}
