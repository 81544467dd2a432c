//! Tuning from the configuration file (`detect` of `.kubevigil.yaml`): exceptions, and the
//! deduplication defaults.
//!
//! ```yaml
//! detect:
//!   exceptions:
//!     - rules: [k8s-secret-read-by-user]     # ids, names or globs (required)
//!       serviceAccounts: ["cert-manager/*"]  # NAMESPACE/NAME globs
//!       namespaces: [cert-manager]
//!       reason: cert-manager reads the certificates' secrets it manages   # required
//! ```
//!
//! Exceptions have the semantics of scan exemptions (`kubevigil_checks::config::Exemption`):
//! every list that is set must match (a missing or empty list matches anything), an entry of a
//! list is a glob (globset syntax; `*` is any run of characters, `/` and `:` included) and any
//! one of them may match. The lists: `users`, `groups`, `serviceAccounts` (`NAMESPACE/NAME` of a
//! `system:serviceaccount:NAMESPACE:NAME` user), `namespaces` and `names` (`objectRef`'s; a
//! cluster-scoped request has the empty namespace), `userAgents`.
//!
//! No evasion: under impersonation every identity in play must match the identity lists (the
//! authenticated user and the impersonated one), so an exception for a CI account does not
//! hide what it does as someone else; a correlation alert is excepted only when every one of
//! its sample events is. `userAgents` is chosen by the client: combine it with an identity.

use globset::GlobMatcher;
use kubevigil_checks::config::DetectConfig;
use kubevigil_checks::ids;
use serde_json::Value;

use crate::DetectionAlert;
use crate::alert::service_account;
use crate::dedup::{self, KeyPart};
use crate::rules::TuningError;

/// What the configuration tunes.
#[derive(Debug, Clone)]
pub struct Tuning {
    pub exceptions: Vec<Exception>,
    /// Period for rules without their own (ms; 0: no deduplication).
    pub period_ms: i64,
    /// Key for rules without their own; `None`: [`KeyPart::default_for`].
    pub key: Option<Vec<KeyPart>>,
    pub max_entries: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            exceptions: Vec::new(),
            period_ms: dedup::DEFAULT_PERIOD_MS,
            key: None,
            max_entries: dedup::DEFAULT_MAX_ENTRIES,
        }
    }
}

/// One exception (see the module documentation).
#[derive(Debug, Clone)]
pub struct Exception {
    /// Rule ids, names or globs (checked against the loaded rules by
    /// [`crate::rules::RuleFiles::load`]).
    pub rules: Vec<String>,
    users: Vec<GlobMatcher>,
    groups: Vec<GlobMatcher>,
    service_accounts: Vec<GlobMatcher>,
    namespaces: Vec<GlobMatcher>,
    names: Vec<GlobMatcher>,
    user_agents: Vec<GlobMatcher>,
    pub reason: String,
}

impl Tuning {
    /// The tuning of `detect` (its rule names are checked by the caller).
    pub fn from_config(config: &DetectConfig) -> Result<Tuning, TuningError> {
        let globs = |place: String, pats: &[String]| -> Result<Vec<GlobMatcher>, TuningError> {
            pats.iter()
                .map(|p| {
                    ids::glob(p).map_err(|e| {
                        TuningError::Invalid(format!("{place}: invalid glob {p:?}: {}", e.kind()))
                    })
                })
                .collect()
        };
        let mut exceptions = Vec::new();
        for (i, e) in config.exceptions.iter().enumerate() {
            let at = |f: &str| format!("detect.exceptions[{i}].{f}");
            if e.reason.trim().is_empty() {
                return Err(TuningError::Invalid(format!(
                    "{}: a reason is required",
                    at("reason")
                )));
            }
            if e.rules.is_empty() {
                return Err(TuningError::Invalid(format!(
                    "{}: name the rules (ids, names or globs; \"*\" for all)",
                    at("rules")
                )));
            }
            exceptions.push(Exception {
                rules: e.rules.clone(),
                users: globs(at("users"), &e.users)?,
                groups: globs(at("groups"), &e.groups)?,
                service_accounts: globs(at("serviceAccounts"), &e.service_accounts)?,
                namespaces: globs(at("namespaces"), &e.namespaces)?,
                names: globs(at("names"), &e.names)?,
                user_agents: globs(at("userAgents"), &e.user_agents)?,
                reason: e.reason.clone(),
            });
        }
        let d = &config.dedup;
        let period_ms = match &d.period {
            None => dedup::DEFAULT_PERIOD_MS,
            Some(p) => dedup::parse_period(p).ok_or_else(|| {
                TuningError::Invalid(format!(
                    "detect.dedup.period: {p:?} is not a timespan such as 10m, 1h or 0"
                ))
            })?,
        };
        let key = match &d.key {
            None => None,
            Some(k) => Some(
                dedup::parse_key(k)
                    .map_err(|m| TuningError::Invalid(format!("detect.dedup.key: {m}")))?,
            ),
        };
        Ok(Tuning {
            exceptions,
            period_ms,
            key,
            max_entries: d.max_entries.unwrap_or(dedup::DEFAULT_MAX_ENTRIES),
        })
    }

    /// The first exception that covers `alert`, if any.
    pub fn exception_for(
        &self,
        alert: &DetectionAlert,
        rule_names: &[String],
    ) -> Option<&Exception> {
        self.exceptions.iter().find(|e| e.covers(alert, rule_names))
    }
}

impl Exception {
    /// Whether this exception covers `alert`, whose rule is named `rule_names` (id, name,
    /// slug): for one of its rules, and every sample event matching.
    pub fn covers(&self, alert: &DetectionAlert, rule_names: &[String]) -> bool {
        self.rules
            .iter()
            .any(|p| rule_names.iter().any(|n| ids::matches(p, n)))
            && !alert.events.is_empty()
            && alert.events.iter().all(|e| self.matches_event(e))
    }

    fn matches_event(&self, sample: &Value) -> bool {
        let any = |globs: &[GlobMatcher], s: &str| globs.iter().any(|g| g.is_match(s));
        let field = |v: &Value| v.as_str().unwrap_or("").to_string();
        let or = &sample["objectRef"];
        // Every identity in play: the user, and the impersonated user.
        let identities: Vec<&Value> = [&sample["user"], &sample["impersonatedUser"]]
            .into_iter()
            .filter(|u| u.is_object())
            .collect();
        let every_identity = |globs: &[GlobMatcher], test: &dyn Fn(&Value) -> bool| {
            globs.is_empty() || (!identities.is_empty() && identities.iter().all(|u| test(u)))
        };
        every_identity(&self.users, &|u| any(&self.users, &field(&u["username"])))
            && every_identity(&self.groups, &|u| {
                u["groups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|g| any(&self.groups, &field(g)))
            })
            && every_identity(&self.service_accounts, &|u| {
                u["username"]
                    .as_str()
                    .and_then(service_account)
                    .is_some_and(|(ns, name)| any(&self.service_accounts, &format!("{ns}/{name}")))
            })
            && (self.namespaces.is_empty() || any(&self.namespaces, &field(&or["namespace"])))
            && (self.names.is_empty() || any(&self.names, &field(&or["name"])))
            && (self.user_agents.is_empty() || any(&self.user_agents, &field(&sample["userAgent"])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubevigil_checks::config::DetectException;
    use serde_json::json;

    fn tuning(e: DetectException) -> Tuning {
        Tuning::from_config(&DetectConfig {
            exceptions: vec![e],
            ..DetectConfig::default()
        })
        .unwrap()
    }

    fn alert(event: Value) -> DetectionAlert {
        DetectionAlert {
            events: vec![event.into()],
            ..DetectionAlert::default()
        }
    }

    fn names() -> Vec<String> {
        vec!["id-1".into(), "k8s-secret-read-by-user".into()]
    }

    /// (exception, event, covered?)
    #[test]
    fn exceptions_match_like_scan_exemptions() {
        let sa = |ns: &str, n: &str| json!({"username": format!("system:serviceaccount:{ns}:{n}")});
        let cases = [
            (
                json!({"serviceAccounts": ["cert-manager/*"]}),
                json!({"user": sa("cert-manager", "cainjector")}),
                true,
            ),
            (
                json!({"serviceAccounts": ["cert-manager/*"]}),
                json!({"user": sa("default", "cainjector")}),
                false,
            ),
            (
                json!({"serviceAccounts": ["cert-manager/*"]}),
                json!({"user": {"username": "cert-manager/x"}}),
                false,
            ),
            // Impersonation: both identities must be excepted.
            (
                json!({"users": ["ci-bot"]}),
                json!({"user": {"username": "ci-bot"}}),
                true,
            ),
            (
                json!({"users": ["ci-bot"]}),
                json!({"user": {"username": "ci-bot"}, "impersonatedUser": {"username": "root-admin"}}),
                false,
            ),
            (
                json!({"users": ["ci-bot", "root-*"]}),
                json!({"user": {"username": "ci-bot"}, "impersonatedUser": {"username": "root-admin"}}),
                true,
            ),
            (
                json!({"groups": ["system:nodes"]}),
                json!({"user": {"username": "n", "groups": ["system:authenticated", "system:nodes"]}}),
                true,
            ),
            (
                json!({"groups": ["system:nodes"]}),
                json!({"user": {"username": "n", "groups": ["system:authenticated"]}}),
                false,
            ),
            (
                json!({"namespaces": ["kube-*"], "names": ["bootstrap-*"]}),
                json!({"objectRef": {"namespace": "kube-system", "name": "bootstrap-token-x"}}),
                true,
            ),
            (
                json!({"namespaces": ["kube-*"], "names": ["bootstrap-*"]}),
                json!({"objectRef": {"namespace": "kube-system", "name": "db"}}),
                false,
            ),
            (
                json!({"namespaces": [""]}),
                json!({"objectRef": {"name": "cluster-scoped"}}),
                true,
            ),
            (
                json!({"userAgents": ["argocd/*"], "users": ["argo"]}),
                json!({"user": {"username": "argo"}, "userAgent": "argocd/v2.9"}),
                true,
            ),
            (
                json!({"userAgents": ["argocd/*"], "users": ["argo"]}),
                json!({"user": {"username": "mallory"}, "userAgent": "argocd/v2.9"}),
                false,
            ),
            (json!({}), json!({"user": {"username": "anyone"}}), true),
        ];
        for (i, (fields, event, covered)) in cases.into_iter().enumerate() {
            let mut fields = fields;
            fields["rules"] = json!(["k8s-secret-*"]);
            fields["reason"] = json!("expected");
            let e: DetectException = serde_json::from_value(fields).unwrap();
            let t = tuning(e);
            assert_eq!(
                t.exception_for(&alert(event.clone()), &names()).is_some(),
                covered,
                "case {i}: {event}"
            );
        }
    }

    #[test]
    fn other_rules_and_partly_matching_correlations_are_not_covered() {
        let t = tuning(DetectException {
            rules: vec!["other-rule".into()],
            users: vec!["a".into()],
            reason: "r".into(),
            ..DetectException::default()
        });
        assert!(
            t.exception_for(&alert(json!({"user": {"username": "a"}})), &names())
                .is_none()
        );
        let t = tuning(DetectException {
            rules: vec!["*".into()],
            users: vec!["a".into()],
            reason: "r".into(),
            ..DetectException::default()
        });
        let mut corr = alert(json!({"user": {"username": "a"}}));
        corr.events
            .push(json!({"user": {"username": "mallory"}}).into());
        assert!(t.exception_for(&corr, &names()).is_none());
    }

    #[test]
    fn a_reason_is_required_and_globs_are_checked() {
        let error = |e: DetectException| {
            Tuning::from_config(&DetectConfig {
                exceptions: vec![DetectException {
                    rules: vec!["*".into()],
                    ..e
                }],
                ..DetectConfig::default()
            })
            .unwrap_err()
            .to_string()
        };
        assert_eq!(
            error(DetectException {
                reason: " ".into(),
                ..DetectException::default()
            }),
            "invalid configuration: detect.exceptions[0].reason: a reason is required"
        );
        let err = error(DetectException {
            users: vec!["a[".into()],
            reason: "r".into(),
            ..DetectException::default()
        });
        assert!(
            err.contains("detect.exceptions[0].users: invalid glob \"a[\""),
            "{err}"
        );
    }
}
