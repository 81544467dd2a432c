//! Label selectors (`metav1.LabelSelector`) with upstream semantics.
//!
//! Upstream: `k8s.io/apimachinery/pkg/apis/meta/v1/helpers.go` (`LabelSelectorAsSelector`) and
//! `k8s.io/apimachinery/pkg/labels/selector.go` (`Requirement.Matches`): `matchLabels` and
//! `matchExpressions` are ANDed; an empty selector matches everything; `In` needs the key
//! present with one of the values, `NotIn` matches when the key is absent or its value is not
//! listed, `Exists` / `DoesNotExist` test the key only. Validation follows
//! `k8s.io/apimachinery/pkg/apis/meta/v1/validation/validation.go` (`ValidateLabelSelector`):
//! `In`/`NotIn` need at least one value, `Exists`/`DoesNotExist` must have none.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::{Problem, problem};
use kubevigil_model::FieldPath as Path;

pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
    pub values: Vec<String>,
}

/// A parsed, validated label selector. `matchLabels` entries become `In` requirements with
/// one value, exactly as `LabelSelectorAsSelector` does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
}

impl Selector {
    pub fn everything() -> Self {
        Selector::default()
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| {
            let value = labels.get(&r.key);
            match r.op {
                Op::In => value.is_some_and(|v| r.values.iter().any(|x| x == v)),
                Op::NotIn => value.is_none_or(|v| !r.values.iter().any(|x| x == v)),
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
            }
        })
    }

    /// Parses a `LabelSelector` object at `path`. `null` counts as absent for the caller, so
    /// this is only called on present values.
    pub fn parse(value: &Value, path: &Path) -> Result<Selector, Problem> {
        let obj = value
            .as_object()
            .ok_or_else(|| problem(path, "label selector must be an object"))?;
        let mut requirements = Vec::new();
        if let Some(ml) = obj.get("matchLabels").filter(|v| !v.is_null()) {
            let map = ml.as_object().ok_or_else(|| {
                problem(
                    &path.key("matchLabels"),
                    "matchLabels must be a map of strings",
                )
            })?;
            for (k, v) in map {
                let v = scalar_string(v).ok_or_else(|| {
                    problem(
                        &path.key("matchLabels").key(k),
                        "label value must be a string",
                    )
                })?;
                requirements.push(Requirement {
                    key: k.clone(),
                    op: Op::In,
                    values: vec![v],
                });
            }
        }
        if let Some(me) = obj.get("matchExpressions").filter(|v| !v.is_null()) {
            let list = me.as_array().ok_or_else(|| {
                problem(
                    &path.key("matchExpressions"),
                    "matchExpressions must be a list",
                )
            })?;
            for (i, e) in list.iter().enumerate() {
                let ep = path.key("matchExpressions").index(i);
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or_else(|| problem(&ep.key("key"), "key is required"))?;
                let op = match e.get("operator").and_then(Value::as_str) {
                    Some("In") => Op::In,
                    Some("NotIn") => Op::NotIn,
                    Some("Exists") => Op::Exists,
                    Some("DoesNotExist") => Op::DoesNotExist,
                    Some(other) => {
                        return Err(problem(
                            &ep.key("operator"),
                            &format!(
                                "unsupported operator {other:?}: must be In, NotIn, Exists or DoesNotExist"
                            ),
                        ));
                    }
                    None => return Err(problem(&ep.key("operator"), "operator is required")),
                };
                let mut values = Vec::new();
                if let Some(vs) = e.get("values").filter(|v| !v.is_null()) {
                    let arr = vs.as_array().ok_or_else(|| {
                        problem(&ep.key("values"), "values must be a list of strings")
                    })?;
                    for (j, v) in arr.iter().enumerate() {
                        values.push(scalar_string(v).ok_or_else(|| {
                            problem(&ep.key("values").index(j), "value must be a string")
                        })?);
                    }
                }
                match op {
                    Op::In | Op::NotIn if values.is_empty() => {
                        return Err(problem(
                            &ep.key("values"),
                            "must be specified when `operator` is 'In' or 'NotIn'",
                        ));
                    }
                    Op::Exists | Op::DoesNotExist if !values.is_empty() => {
                        return Err(problem(
                            &ep.key("values"),
                            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                        ));
                    }
                    _ => {}
                }
                requirements.push(Requirement {
                    key: key.to_string(),
                    op,
                    values,
                });
            }
        }
        Ok(Selector { requirements })
    }
}

/// YAML writes `version: 1` or `enabled: true` unquoted; Kubernetes rejects non-string label
/// values, and so do we, except that our loaders may hand us numbers/bools for such scalars.
fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

impl fmt::Display for Selector {
    /// The `kubectl` rendering: `app=web,tier in (a,b),!legacy`; `<all>` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.requirements.is_empty() {
            return f.write_str("<all>");
        }
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match r.op {
                Op::In if r.values.len() == 1 => write!(f, "{}={}", r.key, r.values[0])?,
                Op::In => write!(f, "{} in ({})", r.key, r.values.join(","))?,
                Op::NotIn => write!(f, "{} notin ({})", r.key, r.values.join(","))?,
                Op::Exists => write!(f, "{}", r.key)?,
                Op::DoesNotExist => write!(f, "!{}", r.key)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn operators_follow_upstream() {
        let s = Selector::parse(
            &json!({"matchLabels": {"app": "web"}, "matchExpressions": [
                {"key": "tier", "operator": "NotIn", "values": ["db"]},
                {"key": "legacy", "operator": "DoesNotExist"}]}),
            &Path::root(),
        )
        .unwrap();
        assert!(s.matches(&labels(&[("app", "web")])));
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "fe")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("legacy", "")])));
        assert!(!s.matches(&labels(&[("app", "api")])));
        assert!(
            Selector::parse(&json!({}), &Path::root())
                .unwrap()
                .matches(&Labels::new())
        );
        assert_eq!(s.to_string(), "app=web,tier notin (db),!legacy");
        // kubectl's rendering: a one-value `In` reads as `key=value`, several as a set.
        let set = Selector::parse(
            &json!({"matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["fe", "api"]},
                {"key": "zone", "operator": "In", "values": ["a"]},
                {"key": "team", "operator": "Exists"}]}),
            &Path::root(),
        )
        .unwrap();
        assert_eq!(set.to_string(), "tier in (fe,api),zone=a,team");
    }

    #[test]
    fn invalid_expressions_are_rejected() {
        let e = Selector::parse(
            &json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
            &Path::root(),
        );
        assert!(e.unwrap_err().message.contains("must be specified"));
        let e = Selector::parse(
            &json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
            &Path::root(),
        );
        assert!(e.is_err());
        assert!(
            Selector::parse(
                &json!({"matchExpressions": [{"key": "a", "operator": "in", "values": ["x"]}]}),
                &Path::root()
            )
            .is_err()
        );
    }
}
