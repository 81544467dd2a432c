//! One RBAC `PolicyRule` and the matching functions of the API server's authorizer.
//!
//! Upstream: k8s.io/kubernetes pkg/apis/rbac/v1/evaluation_helpers.go (`VerbMatches`,
//! `APIGroupMatches`, `ResourceMatches`, `ResourceNameMatches`, `NonResourceURLMatches`) and
//! plugin/pkg/auth/authorizer/rbac/rbac.go (`RuleAllows`).

use serde::Serialize;
use serde_json::Value;

/// `rbacv1.VerbAll`, `rbacv1.APIGroupAll`, `rbacv1.ResourceAll`, `rbacv1.NonResourceAll`.
pub const ALL: &str = "*";

/// One rule of a Role or ClusterRole, as written (list elements that are not strings ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    pub verbs: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    #[serde(rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

impl PolicyRule {
    /// Reads one element of `rules` (anything that is not an object reads as a rule granting
    /// nothing: the API server would have refused it). One pass over its fields: a lookup per
    /// field would hash every key again, and this runs for every rule of every role.
    pub fn from_value(v: &Value) -> PolicyRule {
        let mut rule = PolicyRule::default();
        for (k, v) in v.as_object().into_iter().flatten() {
            match k.as_str() {
                "verbs" => rule.verbs = strings(v),
                "apiGroups" => rule.api_groups = strings(v),
                "resources" => rule.resources = strings(v),
                "resourceNames" => rule.resource_names = strings(v),
                "nonResourceURLs" => rule.non_resource_urls = strings(v),
                _ => {}
            }
        }
        rule
    }

    /// `VerbMatches`: `*` or the exact verb.
    pub fn verb_matches(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == ALL || v == verb)
    }

    /// `APIGroupMatches`: `*` or the exact group (`""` is the core group).
    pub fn api_group_matches(&self, group: &str) -> bool {
        self.api_groups.iter().any(|g| g == ALL || g == group)
    }

    /// `ResourceMatches`: `*`, the exact `resource` or `resource/subresource`, or
    /// `*/subresource`. `pods` does not match `pods/status`; `pods/*` is not a wildcard.
    pub fn resource_matches(&self, combined: &str, subresource: &str) -> bool {
        self.resources.iter().any(|r| {
            if r == ALL || r == combined {
                return true;
            }
            // "We can also match a */subresource": only when a subresource is requested, and
            // only the exact form `*/<subresource>`.
            !subresource.is_empty()
                && r.len() == subresource.len() + 2
                && r.starts_with("*/")
                && r.ends_with(subresource)
        })
    }

    /// `ResourceNameMatches`: no resourceNames matches any name (including none); otherwise
    /// the requested name must be listed. A request without a name (create of a new object,
    /// list, watch, deletecollection) therefore never matches a rule with resourceNames.
    pub fn resource_name_matches(&self, name: &str) -> bool {
        self.resource_names.is_empty() || self.resource_names.iter().any(|n| n == name)
    }

    /// `NonResourceURLMatches`: `*`, the exact path, or a prefix ending in `*`.
    pub fn non_resource_url_matches(&self, path: &str) -> bool {
        self.non_resource_urls.iter().any(|u| {
            u == ALL || u == path || (u.ends_with('*') && path.starts_with(u.trim_end_matches('*')))
        })
    }

    /// `RuleAllows` (rbac.go).
    pub fn allows(&self, req: &Request) -> bool {
        match &req.target {
            Target::Resource {
                group,
                resource,
                subresource,
                name,
            } => {
                let combined;
                let combined: &str = if subresource.is_empty() {
                    resource
                } else {
                    combined = format!("{resource}/{subresource}");
                    &combined
                };
                self.verb_matches(&req.verb)
                    && self.api_group_matches(group)
                    && self.resource_matches(combined, subresource)
                    && self.resource_name_matches(name)
            }
            Target::NonResource { path } => {
                self.verb_matches(&req.verb) && self.non_resource_url_matches(path)
            }
        }
    }

    /// Whether the rule is about resources (as opposed to non-resource URLs).
    pub fn is_resource_rule(&self) -> bool {
        !self.resources.is_empty()
    }
}

/// What a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Resource {
        group: String,
        resource: String,
        /// `""` when none.
        subresource: String,
        /// `""` when the request names no object.
        name: String,
    },
    /// A non-resource URL such as `/metrics` (never namespaced).
    NonResource { path: String },
}

/// The attributes of one request the authorizer sees (k8s.io/apiserver
/// pkg/authorization/authorizer.Attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub verb: String,
    /// `""` for a cluster-scoped request (or one across all namespaces).
    pub namespace: String,
    pub target: Target,
}

/// Parse errors of a request written on the command line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("empty verb")]
    EmptyVerb,
    #[error("empty resource in {0:?}")]
    EmptyResource(String),
}

impl Request {
    /// `VERB RESOURCE[.GROUP][/SUBRESOURCE]`, or `VERB /path` for a non-resource URL.
    /// `name` is dropped where the API server's request has none: `create` of an object (not of
    /// a subresource) and `deletecollection` (k8s.io/apiserver pkg/endpoints/request
    /// requestinfo.go: a POST to a collection carries no name).
    pub fn parse(
        verb: &str,
        what: &str,
        namespace: &str,
        name: Option<&str>,
    ) -> Result<Request, RequestError> {
        if verb.is_empty() {
            return Err(RequestError::EmptyVerb);
        }
        if what.starts_with('/') {
            return Ok(Request {
                verb: verb.to_string(),
                namespace: String::new(),
                target: Target::NonResource {
                    path: what.to_string(),
                },
            });
        }
        let (main, subresource) = what.split_once('/').unwrap_or((what, ""));
        let (resource, group) = main.split_once('.').unwrap_or((main, ""));
        if resource.is_empty() {
            return Err(RequestError::EmptyResource(what.to_string()));
        }
        let name = match (verb, subresource) {
            ("create", "") | ("deletecollection", _) => "",
            _ => name.unwrap_or(""),
        };
        Ok(Request {
            verb: verb.to_string(),
            namespace: namespace.to_string(),
            target: Target::Resource {
                group: group.to_string(),
                resource: resource.to_string(),
                subresource: subresource.to_string(),
                name: name.to_string(),
            },
        })
    }

    pub fn resource(verb: &str, group: &str, resource: &str, namespace: &str) -> Request {
        Request {
            verb: verb.into(),
            namespace: namespace.into(),
            target: Target::Resource {
                group: group.into(),
                resource: resource.into(),
                subresource: String::new(),
                name: String::new(),
            },
        }
    }

    pub fn is_resource(&self) -> bool {
        matches!(self.target, Target::Resource { .. })
    }
}
