//! Pod Security Standards, decided exactly as the Kubernetes PodSecurity admission plugin
//! decides them, for every policy version from v1.0 to the newest upstream one (and `latest`).
//!
//! Pure except [`config::load_file`]. Upstream: kubernetes/kubernetes
//! `staging/src/k8s.io/pod-security-admission` (`policy/`, `api/`, `admission/`).
//!
//! ```
//! use kubevigil_pss::{evaluate, Level, LevelVersion, Version};
//! let pod: k8s_openapi::api::core::v1::PodSpec = serde_json::from_value(serde_json::json!({
//!     "hostNetwork": true,
//!     "containers": [{"name": "app", "securityContext": {"privileged": true}}]
//! })).unwrap();
//! let lv = LevelVersion::new(Level::Baseline, Version::Minor(29));
//! let eval = evaluate(lv, &Default::default(), &pod);
//! assert_eq!(
//!     eval.message().unwrap(),
//!     r#"violates PodSecurity "baseline:v1.29": host namespaces (hostNetwork=true), privileged (container "app" must not set securityContext.privileged=true)"#
//! );
//! ```

pub mod admission;
pub mod api;
pub mod check;
mod checks;
pub mod config;
pub mod defaults;
mod locate;
pub mod registry;
pub mod scan;
pub mod severity;
pub mod workloads;

pub use api::{Level, LevelVersion, MAX_MINOR, Policy, Version};
pub use check::{CONTROL_CHECKS, ControlCheck, PodSecuritySettings};
pub use checks::Violation;
pub use registry::{CHECKS, check_ids};

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubevigil_model::span::FieldPath;

/// The result of evaluating one pod (or pod template) at one level and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub level_version: LevelVersion,
    /// Failed checks, in upstream's order.
    pub violations: Vec<Violation>,
}

impl Evaluation {
    pub fn allowed(&self) -> bool {
        self.violations.is_empty()
    }

    /// `AggregateCheckResult.ForbiddenReason()`: reasons joined with `", "`.
    pub fn forbidden_reason(&self) -> String {
        let reasons: Vec<&str> = self.violations.iter().map(|v| v.reason).collect();
        reasons.join(", ")
    }

    /// `AggregateCheckResult.ForbiddenDetail()`: `reason (detail), reason, ...`.
    pub fn forbidden_detail(&self) -> String {
        let mut out = String::new();
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(v.reason);
            if !v.detail.is_empty() {
                out.push_str(" (");
                out.push_str(&v.detail);
                out.push(')');
            }
        }
        out
    }

    /// The enforce rejection message, `violates PodSecurity "<level>:<version>": <detail>`
    /// (`admission.go` `EvaluatePod`); `None` when allowed.
    pub fn message(&self) -> Option<String> {
        (!self.allowed()).then(|| {
            format!(
                "violates PodSecurity \"{}\": {}",
                self.level_version,
                self.forbidden_detail()
            )
        })
    }

    /// The warn/audit text, `would violate PodSecurity "<level>:<version>": <detail>`.
    pub fn warning(&self) -> Option<String> {
        (!self.allowed()).then(|| {
            format!(
                "would violate PodSecurity \"{}\": {}",
                self.level_version,
                self.forbidden_detail()
            )
        })
    }
}

/// Evaluates a pod's metadata and spec (already API-defaulted, see [`defaults`]) at `lv`.
pub fn evaluate(lv: LevelVersion, meta: &ObjectMeta, spec: &PodSpec) -> Evaluation {
    let mut violations = Vec::new();
    registry::evaluate_into(lv, meta, spec, &mut violations);
    Evaluation {
        level_version: lv,
        violations,
    }
}

/// The strictest level the pod satisfies at `version`.
pub fn highest_level(version: Version, meta: &ObjectMeta, spec: &PodSpec) -> Level {
    let mut scratch = Vec::new();
    for level in [Level::Restricted, Level::Baseline] {
        scratch.clear();
        registry::evaluate_into(LevelVersion::new(level, version), meta, spec, &mut scratch);
        if scratch.is_empty() {
            return level;
        }
    }
    Level::Privileged
}

/// A pod's metadata and spec in typed form, API defaults applied.
#[derive(Debug, Clone, Default)]
pub struct PodInput {
    pub meta: ObjectMeta,
    pub spec: PodSpec,
}

/// Why a pod (template) could not be read as the API server would.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The error, and the field it is about, relative to the metadata.
    #[error("pod metadata: {}", elide_values(.0))]
    Metadata(serde_json::Error, FieldPath),
    /// The error, and the field it is about, relative to the spec.
    #[error("pod spec: {}", elide_values(.0))]
    Spec(serde_json::Error, FieldPath),
}

impl InputError {
    /// The field that could not be decoded (`containers[0].ports[0].containerPort`), relative to
    /// the pod metadata or spec; for a missing field, the object that lacks it.
    pub fn field(&self) -> &FieldPath {
        match self {
            InputError::Metadata(_, p) | InputError::Spec(_, p) => p,
        }
    }
}

/// Decodes `value` as `T`, and on error tells which field failed. The plain decode runs first:
/// tracking the path (serde_path_to_error follows the decoder through maps and sequences) costs
/// time and memory on every field, so it runs again only for a value that does not decode.
fn decode_at<'de, T: serde::Deserialize<'de>>(
    value: &'de serde_json::Value,
) -> Result<T, (serde_json::Error, FieldPath)> {
    let first_error = match T::deserialize(value) {
        Ok(decoded) => return Ok(decoded),
        Err(e) => e,
    };
    use serde_path_to_error::Segment;
    let Err(e) = serde_path_to_error::deserialize::<_, T>(value) else {
        return Err((first_error, FieldPath::root()));
    };
    let mut path = FieldPath::root();
    for seg in e.path().iter() {
        path = match seg {
            Segment::Seq { index } => path.index(*index),
            Segment::Map { key } => path.key(key),
            Segment::Enum { variant } => path.key(variant),
            Segment::Unknown => break,
        };
    }
    Err((e.into_inner(), path))
}

/// serde quotes the offending value in its messages (``invalid type: integer `12345678`,
/// expected a string``); that value may be a credential (an env var's literal), so it is elided.
fn elide_values(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest
        .find("invalid type: ")
        .or_else(|| rest.find("invalid value: "))
    {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        // The value runs from the kind ("string", "integer", ...) to ", expected".
        let end = tail.find(", expected").unwrap_or(tail.len());
        let described = &tail[..end];
        let kept = described
            .find(['"', '`', '\''])
            .map_or(described, |q| described[..q].trim_end());
        out.push_str(kept);
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

impl PodInput {
    /// Decodes pod metadata and spec JSON and applies API defaults. `is_pod` is false for pod
    /// templates of workloads (some defaults apply to Pods only).
    pub fn from_values(
        metadata: &serde_json::Value,
        spec: &serde_json::Value,
        is_pod: bool,
    ) -> Result<PodInput, InputError> {
        // Decoded from the trees in place (no copy of the pod: a pod may hold tens of
        // thousands of containers). A missing `containers` decodes as empty.
        let meta = if metadata.is_null() {
            ObjectMeta::default()
        } else {
            decode_at::<ObjectMeta>(metadata).map_err(|(e, p)| InputError::Metadata(e, p))?
        };
        let mut spec = decode_at::<PodSpec>(spec).map_err(|(e, p)| InputError::Spec(e, p))?;
        defaults::apply_api_defaults(&mut spec, is_pod);
        Ok(PodInput { meta, spec })
    }

    pub fn evaluate(&self, lv: LevelVersion) -> Evaluation {
        evaluate(lv, &self.meta, &self.spec)
    }
}

#[cfg(test)]
mod input_error_tests {
    use super::*;

    #[test]
    fn decode_errors_never_quote_the_value() {
        let spec = serde_json::json!({"containers": [{"name": "a", "env": [{"name": "DB_PASSWORD", "value": 31337424242_u64}]}]});
        let err = PodInput::from_values(&serde_json::Value::Null, &spec, true)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("31337424242"), "{err}");
        assert!(err.contains("invalid type: integer"), "{err}");
        let spec = serde_json::json!({"containers": [{"name": "a", "ports": [{"containerPort": "s3cr3t-port"}]}]});
        let err = PodInput::from_values(&serde_json::Value::Null, &spec, true)
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains("s3cr3t-port") && err.contains("expected"),
            "{err}"
        );
    }
}
