//! EventRateLimit, as upstream's plugin (kubernetes/kubernetes
//! `plugin/pkg/admission/eventratelimit/{admission.go,limitenforcer.go,cache.go}`, configuration
//! `apis/eventratelimit/v1alpha1/types.go`, validation `apis/eventratelimit/validation/validation.go`).
//!
//! * Only core `Event` objects, on create and update; dry-run requests are not charged.
//! * One enforcer per configured limit; every enforcer is asked (each takes a token when it has
//!   one), and the request is rejected when any has none: 429 with
//!   `Too many requests: limit reached on type <Type> for key <key>` (several: `[a, b]`).
//! * Keys: `Server` one bucket; `Namespace` the namespace; `User` the user name;
//!   `SourceAndObject` source component + host + involved object kind, namespace, name, uid and
//!   apiVersion concatenated.
//! * Buckets are `golang.org/x/time/rate` token buckets (start full at `burst`, refill at `qps`),
//!   kept per key in an LRU of `cacheSize` entries (default 4096).

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::Instant;

use lru::LruCache;
use serde::Deserialize;
use serde_json::Value;

use super::Decision;
use crate::review::{AdmissionRequest, Operation, Status};

pub const API_VERSION: &str = "eventratelimit.admission.k8s.io/v1alpha1";
const DEFAULT_CACHE_SIZE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum LimitType {
    Server,
    Namespace,
    User,
    SourceAndObject,
}

impl LimitType {
    fn as_str(self) -> &'static str {
        match self {
            LimitType::Server => "Server",
            LimitType::Namespace => "Namespace",
            LimitType::User => "User",
            LimitType::SourceAndObject => "SourceAndObject",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Limit {
    #[serde(rename = "type")]
    pub limit_type: String,
    #[serde(default)]
    pub qps: i64,
    #[serde(default)]
    pub burst: i64,
    #[serde(default)]
    pub cache_size: i64,
}

/// The `Configuration` object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Configuration {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub limits: Vec<Limit>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Decode(String),
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl Configuration {
    /// Decodes and validates (`ValidateConfiguration`) a `Configuration` value.
    pub fn from_value(v: &Value) -> Result<Configuration, ConfigError> {
        let cfg: Configuration =
            serde_json::from_value(v.clone()).map_err(|e| ConfigError::Decode(e.to_string()))?;
        if cfg.api_version != API_VERSION || cfg.kind != "Configuration" {
            return Err(ConfigError::Decode(format!(
                "expected apiVersion {API_VERSION} and kind Configuration, got {:?} {:?}",
                cfg.api_version, cfg.kind
            )));
        }
        let mut errs = Vec::new();
        if cfg.limits.is_empty() {
            errs.push("limits: Invalid value: null: must not be empty".to_string());
        }
        for (i, l) in cfg.limits.iter().enumerate() {
            if parse_type(&l.limit_type).is_none() {
                errs.push(format!(
                    "limits[{i}].type: Unsupported value: {:?}: supported values: \"Namespace\", \"Server\", \"SourceAndObject\", \"User\"",
                    l.limit_type
                ));
            }
            if l.burst <= 0 {
                errs.push(format!(
                    "limits[{i}].burst: Invalid value: {}: must be positive",
                    l.burst
                ));
            }
            if l.qps <= 0 {
                errs.push(format!(
                    "limits[{i}].qps: Invalid value: {}: must be positive",
                    l.qps
                ));
            }
            if l.limit_type != "Server" && l.cache_size < 0 {
                errs.push(format!(
                    "limits[{i}].cacheSize: Invalid value: {}: must not be negative",
                    l.cache_size
                ));
            }
        }
        if errs.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError::Invalid(errs))
        }
    }
}

fn parse_type(s: &str) -> Option<LimitType> {
    Some(match s {
        "Server" => LimitType::Server,
        "Namespace" => LimitType::Namespace,
        "User" => LimitType::User,
        "SourceAndObject" => LimitType::SourceAndObject,
        _ => return None,
    })
}

/// `rate.Limiter` with `AllowN(now, 1)`.
#[derive(Debug, Clone)]
struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn try_accept(&mut self, now: Instant, qps: f64, burst: f64) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * qps).min(burst);
        self.last = now.max(self.last);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Enforcer {
    limit_type: LimitType,
    qps: f64,
    burst: f64,
    buckets: Mutex<LruCache<String, TokenBucket>>,
}

/// The configured limits and their buckets.
pub struct EventRateLimit {
    enforcers: Vec<Enforcer>,
}

impl EventRateLimit {
    pub fn new(cfg: &Configuration) -> EventRateLimit {
        let enforcers = cfg
            .limits
            .iter()
            .filter_map(|l| {
                let limit_type = parse_type(&l.limit_type)?;
                let size = match limit_type {
                    LimitType::Server => 1,
                    _ if l.cache_size == 0 => DEFAULT_CACHE_SIZE,
                    _ => l.cache_size as usize,
                };
                Some(Enforcer {
                    limit_type,
                    qps: l.qps as f64,
                    burst: l.burst as f64,
                    buckets: Mutex::new(LruCache::new(NonZeroUsize::new(size.max(1))?)),
                })
            })
            .collect();
        EventRateLimit { enforcers }
    }

    pub fn validate(&self, req: &AdmissionRequest, now: Instant) -> Decision {
        if !matches!(req.operation, Operation::Create | Operation::Update)
            || !req.kind.group.is_empty()
            || req.kind.kind != "Event"
        {
            return Decision::skip();
        }
        if req.is_dry_run() {
            return Decision::allow();
        }
        let mut errors = Vec::new();
        for e in &self.enforcers {
            let key = key_of(e.limit_type, req);
            let mut cache = e.buckets.lock().unwrap_or_else(|p| p.into_inner());
            let bucket = cache.get_or_insert_mut(key.clone(), || TokenBucket {
                tokens: e.burst,
                last: now,
            });
            if !bucket.try_accept(now, e.qps, e.burst) {
                errors.push(format!(
                    "limit reached on type {} for key {key}",
                    e.limit_type.as_str()
                ));
            }
        }
        match errors.len() {
            0 => Decision::allow(),
            1 => Decision::deny(Status::too_many_requests(&errors[0])),
            _ => Decision::deny(Status::too_many_requests(&format!(
                "[{}]",
                errors.join(", ")
            ))),
        }
    }
}

fn key_of(t: LimitType, req: &AdmissionRequest) -> String {
    match t {
        LimitType::Server => String::new(),
        LimitType::Namespace => req.namespace.clone(),
        LimitType::User => req.user_info.username.clone(),
        LimitType::SourceAndObject => {
            let s = |p: &str| req.object.pointer(p).and_then(Value::as_str).unwrap_or("");
            [
                s("/source/component"),
                s("/source/host"),
                s("/involvedObject/kind"),
                s("/involvedObject/namespace"),
                s("/involvedObject/name"),
                s("/involvedObject/uid"),
                s("/involvedObject/apiVersion"),
            ]
            .concat()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn limiter(limits: Value) -> EventRateLimit {
        let cfg = Configuration::from_value(
            &json!({"apiVersion": API_VERSION, "kind": "Configuration", "limits": limits}),
        )
        .unwrap();
        EventRateLimit::new(&cfg)
    }

    fn event(ns: &str, user: &str, dry: bool) -> AdmissionRequest {
        serde_json::from_value(json!({
            "uid": "1", "operation": "CREATE", "namespace": ns, "dryRun": dry,
            "kind": {"group": "", "version": "v1", "kind": "Event"},
            "resource": {"group": "", "version": "v1", "resource": "events"},
            "userInfo": {"username": user},
            "object": {"source": {"component": "kubelet", "host": "n1"}, "involvedObject": {"kind": "Pod", "namespace": ns, "name": "p", "uid": "u", "apiVersion": "v1"}},
        }))
        .unwrap()
    }

    #[test]
    fn namespace_buckets_are_independent_and_refill() {
        let l = limiter(json!([{"type": "Namespace", "qps": 1, "burst": 3}]));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.validate(&event("a", "u", false), t0).allowed);
        }
        let d = l.validate(&event("a", "u", false), t0);
        let st = d.status.unwrap();
        assert_eq!((st.code, st.reason), (429, "TooManyRequests"));
        assert_eq!(
            st.message,
            "Too many requests: limit reached on type Namespace for key a"
        );
        assert!(
            l.validate(&event("b", "u", false), t0).allowed,
            "other namespace unaffected"
        );
        assert!(
            l.validate(&event("a", "u", true), t0).allowed,
            "dry run not charged"
        );
        assert!(
            l.validate(&event("a", "u", false), t0 + Duration::from_millis(1000))
                .allowed,
            "refilled"
        );
        assert!(
            !l.validate(&event("a", "u", false), t0 + Duration::from_millis(1000))
                .allowed
        );
    }

    /// `rate.Limiter`: tokens come back at `qps` per second, never above `burst`.
    #[test]
    fn buckets_refill_at_qps_up_to_burst() {
        let l = limiter(json!([{"type": "User", "qps": 4, "burst": 2}]));
        let t0 = Instant::now();
        let allowed = |at: Duration| l.validate(&event("a", "u", false), t0 + at).allowed;
        assert!(allowed(Duration::ZERO) && allowed(Duration::ZERO));
        assert!(!allowed(Duration::ZERO));
        // A quarter of a second at 4 qps: one token.
        assert!(allowed(Duration::from_millis(250)));
        assert!(!allowed(Duration::from_millis(250)));
        // Ten seconds later the bucket holds `burst` tokens, not 40.
        let later = Duration::from_secs(10);
        assert!(allowed(later) && allowed(later));
        assert!(!allowed(later));
    }

    #[test]
    fn every_enforcer_is_asked_and_errors_aggregate() {
        let l = limiter(
            json!([{"type": "Server", "qps": 1, "burst": 1}, {"type": "SourceAndObject", "qps": 1, "burst": 1}, {"type": "User", "qps": 5, "burst": 5}]),
        );
        let t0 = Instant::now();
        assert!(l.validate(&event("a", "u", false), t0).allowed);
        let d = l.validate(&event("a", "u", false), t0);
        assert_eq!(
            d.status.unwrap().message,
            "Too many requests: [limit reached on type Server for key , limit reached on type SourceAndObject for key kubeletn1Podapuv1]"
        );
    }

    #[test]
    fn lru_evicts_least_recently_used_keys() {
        let l = limiter(json!([{"type": "Namespace", "qps": 1, "burst": 1, "cacheSize": 2}]));
        let t0 = Instant::now();
        assert!(l.validate(&event("a", "u", false), t0).allowed);
        assert!(l.validate(&event("b", "u", false), t0).allowed);
        assert!(l.validate(&event("c", "u", false), t0).allowed); // evicts a
        assert!(
            l.validate(&event("a", "u", false), t0).allowed,
            "a got a fresh bucket"
        );
    }

    #[test]
    fn configuration_validation() {
        let bad = json!({"apiVersion": API_VERSION, "kind": "Configuration", "limits": [{"type": "Pod", "qps": 0, "burst": -1, "cacheSize": -1}]});
        let err = Configuration::from_value(&bad).unwrap_err().to_string();
        assert!(
            err.contains("limits[0].type: Unsupported value: \"Pod\""),
            "{err}"
        );
        assert!(
            err.contains("limits[0].burst: Invalid value: -1: must be positive"),
            "{err}"
        );
        assert!(
            err.contains("limits[0].qps: Invalid value: 0: must be positive"),
            "{err}"
        );
        assert!(
            err.contains("limits[0].cacheSize: Invalid value: -1: must not be negative"),
            "{err}"
        );
        // apiVersion and kind must both be right.
        let limits = json!([{"type": "Server", "qps": 1, "burst": 1}]);
        for (api_version, kind) in [
            (API_VERSION, "EventRateLimit"),
            ("eventratelimit.admission.k8s.io/v1", "Configuration"),
        ] {
            let doc = json!({"apiVersion": api_version, "kind": kind, "limits": limits});
            let err = Configuration::from_value(&doc).unwrap_err().to_string();
            assert!(err.starts_with("expected apiVersion"), "{err}");
        }
        let empty = json!({"apiVersion": API_VERSION, "kind": "Configuration"});
        assert!(
            Configuration::from_value(&empty)
                .unwrap_err()
                .to_string()
                .contains("must not be empty")
        );
    }

    /// Only creates and updates of core Events are charged: with the bucket empty, anything
    /// else is not judged (a guard that let it through would answer 429).
    #[test]
    fn only_core_event_writes_are_limited() {
        let l = limiter(json!([{"type": "Server", "qps": 1, "burst": 1}]));
        let t0 = Instant::now();
        assert!(l.validate(&event("a", "u", false), t0).allowed);
        assert!(!l.validate(&event("a", "u", false), t0).allowed);
        let variants: [fn(&mut AdmissionRequest); 3] = [
            |r| r.operation = Operation::Delete,
            |r| r.kind.group = "events.k8s.io".into(),
            |r| r.kind.kind = "Pod".into(),
        ];
        for (i, change) in variants.iter().enumerate() {
            let mut r = event("a", "u", false);
            change(&mut r);
            let d = l.validate(&r, t0);
            assert!(d.not_applicable, "variant {i}: {d:?}");
        }
        let mut update = event("a", "u", false);
        update.operation = Operation::Update;
        assert!(!l.validate(&update, t0).allowed, "updates are charged too");
    }
}
