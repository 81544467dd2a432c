//! Audit `Policy` loading and validation.
//!
//! Loading follows `k8s.io/apiserver/pkg/audit/policy/reader.go` (`LoadPolicyFromBytes`):
//! `apiVersion` must be `audit.k8s.io/v1` (or the deprecated `audit.k8s.io/v1beta1`), `kind`
//! must be `Policy`, unknown fields are tolerated with a warning (kube-apiserver falls back to
//! lenient decoding and logs a warning), the policy must have at least one rule.
//!
//! Validation is a port of `k8s.io/apiserver/pkg/apis/audit/validation/validation.go`
//! (`ValidatePolicy`): levels, omitStages (policy-wide and per rule), nonResourceURLs must
//! begin with `/` (or be `*`) and may only have `*` as their last character, a rule cannot
//! combine nonResourceURLs with resources or namespaces, groups must be DNS subdomains,
//! resourceNames require resources.
//!
//! Every error carries file:line:column (YAML positions come from `kubevigil-model`).

use kubevigil_model::load::{DiagLevel, Diagnostic, LoadOptions, Loaded, load_text_into};
use kubevigil_model::{FieldPath, Object, Pos};
use serde_json::Value;

use crate::event::{Level, Stage, StageSet};

/// `GroupResources` of a policy rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupResources {
    /// API group, `""` for core.
    pub group: String,
    /// `res`, `res/sub`, `*`, `res/*`, `*/sub`; empty means every resource of the group.
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
}

/// One `PolicyRule`.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRule {
    pub level: Level,
    pub users: Vec<String>,
    pub user_groups: Vec<String>,
    pub verbs: Vec<String>,
    pub resources: Vec<GroupResources>,
    pub namespaces: Vec<String>,
    pub non_resource_urls: Vec<String>,
    /// The rule's own omitStages (not yet united with the policy's).
    pub omit_stages: StageSet,
    pub omit_managed_fields: Option<bool>,
    /// Where the rule starts in the policy file.
    pub pos: Pos,
}

impl PolicyRule {
    /// A rule that matches everything: no selector at all.
    pub fn is_catch_all(&self) -> bool {
        self.users.is_empty()
            && self.user_groups.is_empty()
            && self.verbs.is_empty()
            && self.resources.is_empty()
            && self.namespaces.is_empty()
            && self.non_resource_urls.is_empty()
    }
}

/// An audit policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub rules: Vec<PolicyRule>,
    pub omit_stages: StageSet,
    pub omit_managed_fields: bool,
}

/// A loaded policy with the document it came from (for positions in findings).
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    pub policy: Policy,
    pub object: Object,
    /// Warnings (unknown fields, deprecated apiVersion); errors make loading fail.
    pub warnings: Vec<Diagnostic>,
}

/// Loads and validates one policy document from YAML or JSON text.
///
/// On failure returns every error found (all of them, not just the first).
pub fn load_policy(name: &str, text: &str) -> Result<LoadedPolicy, Vec<Diagnostic>> {
    let mut loaded = Loaded::default();
    load_text_into(name, text, &LoadOptions::default(), &mut loaded);
    let (errors, mut warnings): (Vec<_>, Vec<_>) = loaded
        .diagnostics
        .into_iter()
        .partition(|d| d.level == DiagLevel::Error);
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut objects = loaded.inventory.objects.into_iter();
    let Some(object) = objects.next() else {
        return Err(vec![diag(
            name,
            Pos { line: 0, col: 0 },
            "no Policy document found (apiVersion and kind are required)".into(),
        )]);
    };
    if let Some(extra) = objects.next() {
        let pos = extra
            .source
            .file()
            .map_or(Pos { line: 0, col: 0 }, |s| Pos {
                line: s.line,
                col: s.col,
            });
        return Err(vec![diag(
            name,
            pos,
            "more than one document: an audit policy file holds exactly one Policy".into(),
        )]);
    }
    let mut loaded = policy_from_object(object)?;
    warnings.append(&mut loaded.warnings);
    loaded.warnings = warnings;
    Ok(loaded)
}

/// Converts and validates an already loaded `audit.k8s.io` Policy object (for example one found
/// by `kubevigil scan` among other manifests).
pub fn policy_from_object(object: Object) -> Result<LoadedPolicy, Vec<Diagnostic>> {
    let name = object.source.to_string();
    let mut cx = Cx {
        name: &name,
        object: &object,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let policy = cx.policy();
    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }
    let warnings = std::mem::take(&mut cx.warnings);
    Ok(LoadedPolicy {
        policy,
        object,
        warnings,
    })
}

/// Whether an object is an audit Policy (`audit.k8s.io/*`, kind `Policy`).
pub fn is_audit_policy(object: &Object) -> bool {
    object.kind == "Policy" && object.api_version.starts_with("audit.k8s.io/")
}

fn diag(file: &str, pos: Pos, message: String) -> Diagnostic {
    Diagnostic {
        level: DiagLevel::Error,
        file: file.to_string(),
        line: pos.line,
        col: pos.col,
        message,
    }
}

struct Cx<'a> {
    name: &'a str,
    object: &'a Object,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

const POLICY_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "rules",
    "omitStages",
    "omitManagedFields",
];
const RULE_FIELDS: &[&str] = &[
    "level",
    "users",
    "userGroups",
    "verbs",
    "resources",
    "namespaces",
    "nonResourceURLs",
    "omitStages",
    "omitManagedFields",
];
const GROUP_RESOURCE_FIELDS: &[&str] = &["group", "resources", "resourceNames"];

impl Cx<'_> {
    fn error(&mut self, path: &FieldPath, message: String) {
        let pos = self.object.pos_of(path);
        self.errors
            .push(diag(self.name, pos, format!("{path}: {message}")));
    }

    fn warn(&mut self, path: &FieldPath, message: String) {
        let pos = self.object.pos_of(path);
        let mut d = diag(self.name, pos, message);
        d.level = DiagLevel::Warning;
        self.warnings.push(d);
    }

    fn policy(&mut self) -> Policy {
        let root = FieldPath::root();
        let value = &self.object.value;
        match self.object.api_version.as_str() {
            "audit.k8s.io/v1" => {}
            "audit.k8s.io/v1beta1" => self.warn(
                &root.key("apiVersion"),
                "audit.k8s.io/v1beta1 is deprecated, use audit.k8s.io/v1".into(),
            ),
            other => self.error(
                &root.key("apiVersion"),
                format!("unknown group version {other:?} in policy (expected audit.k8s.io/v1)"),
            ),
        }
        if self.object.kind != "Policy" {
            self.error(
                &root.key("kind"),
                format!("kind {:?} is not Policy", self.object.kind),
            );
        }
        self.unknown_fields(value, &root, POLICY_FIELDS);
        let omit_stages = self.stages(value.get("omitStages"), &root.key("omitStages"));
        let omit_managed_fields = self
            .boolean(
                value.get("omitManagedFields"),
                &root.key("omitManagedFields"),
            )
            .unwrap_or(false);
        let mut rules = Vec::new();
        let rules_path = root.key("rules");
        match value.get("rules") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(rule) = self.rule(item, &rules_path.index(i)) {
                        rules.push(rule);
                    }
                }
            }
            Some(_) => self.error(&rules_path, "must be a list of rules".into()),
        }
        if self.errors.is_empty() && rules.is_empty() {
            self.error(&root, "loaded illegal policy with 0 rules".into());
        }
        Policy {
            rules,
            omit_stages,
            omit_managed_fields,
        }
    }

    fn unknown_fields(&mut self, value: &Value, path: &FieldPath, known: &[&str]) {
        if let Some(map) = value.as_object() {
            for key in map.keys() {
                if !known.contains(&key.as_str()) {
                    self.warn(
                        &path.key(key),
                        format!(
                            "unknown field {:?} (ignored, as kube-apiserver does)",
                            path.key(key).to_string()
                        ),
                    );
                }
            }
        }
    }

    fn rule(&mut self, value: &Value, path: &FieldPath) -> Option<PolicyRule> {
        if !value.is_object() {
            self.error(path, "a rule must be a mapping".into());
            return None;
        }
        self.unknown_fields(value, path, RULE_FIELDS);
        let errors_before = self.errors.len();
        let level_path = path.key("level");
        let level = match value.get("level") {
            None | Some(Value::Null) => {
                self.error(&level_path, "Required value".into());
                None
            }
            Some(Value::String(s)) if s.is_empty() => {
                self.error(&level_path, "Required value".into());
                None
            }
            Some(Value::String(s)) => match Level::parse(s) {
                Some(l) => Some(l),
                None => {
                    self.error(
                        &level_path,
                        format!("Unsupported value: {s:?}: supported values: \"None\", \"Metadata\", \"Request\", \"RequestResponse\""),
                    );
                    None
                }
            },
            Some(_) => {
                self.error(&level_path, "must be a string".into());
                None
            }
        };
        let users = self.strings(value.get("users"), &path.key("users"));
        let user_groups = self.strings(value.get("userGroups"), &path.key("userGroups"));
        let verbs = self.strings(value.get("verbs"), &path.key("verbs"));
        let namespaces = self.strings(value.get("namespaces"), &path.key("namespaces"));
        let nru_path = path.key("nonResourceURLs");
        let non_resource_urls = self.strings(value.get("nonResourceURLs"), &nru_path);
        for (i, url) in non_resource_urls.iter().enumerate() {
            if url == "*" {
                continue;
            }
            if !url.starts_with('/') {
                self.error(&nru_path.index(i), format!("Invalid value: {url:?}: non-resource URL rules must begin with a '/' character"));
            }
            if !url.is_empty() && url[..url.len() - 1].contains('*') {
                self.error(&nru_path.index(i), format!("Invalid value: {url:?}: non-resource URL wildcards '*' must be the final character of the rule"));
            }
        }
        let resources = self.group_resources(value.get("resources"), &path.key("resources"));
        if !non_resource_urls.is_empty() && (!resources.is_empty() || !namespaces.is_empty()) {
            self.error(
                &nru_path,
                "rules cannot apply to both regular resources and non-resource URLs".into(),
            );
        }
        let omit_stages = self.stages(value.get("omitStages"), &path.key("omitStages"));
        let omit_managed_fields = self.boolean(
            value.get("omitManagedFields"),
            &path.key("omitManagedFields"),
        );
        if self.errors.len() > errors_before {
            return None;
        }
        Some(PolicyRule {
            level: level?,
            users,
            user_groups,
            verbs,
            resources,
            namespaces,
            non_resource_urls,
            omit_stages,
            omit_managed_fields,
            pos: self.object.pos_of(path),
        })
    }

    fn group_resources(&mut self, value: Option<&Value>, path: &FieldPath) -> Vec<GroupResources> {
        let items = match value {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.error(path, "must be a list".into());
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = path.index(i);
            if !item.is_object() {
                self.error(
                    &p,
                    "must be a mapping with group, resources, resourceNames".into(),
                );
                continue;
            }
            self.unknown_fields(item, &p, GROUP_RESOURCE_FIELDS);
            let group = match item.get("group") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(_) => {
                    self.error(&p.key("group"), "must be a string".into());
                    String::new()
                }
            };
            // Upstream reports this under `resources.group` (no index); we point at the entry.
            if !group.is_empty() && !is_dns_subdomain(&group) {
                self.error(
                    &p.key("group"),
                    format!("Invalid value: {group:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"),
                );
            }
            let resources = self.strings(item.get("resources"), &p.key("resources"));
            let resource_names = self.strings(item.get("resourceNames"), &p.key("resourceNames"));
            if !resource_names.is_empty() && resources.is_empty() {
                self.error(
                    &p.key("resourceNames"),
                    "using resourceNames requires at least one resource".into(),
                );
            }
            out.push(GroupResources {
                group,
                resources,
                resource_names,
            });
        }
        out
    }

    fn strings(&mut self, value: Option<&Value>, path: &FieldPath) -> Vec<String> {
        match value {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        _ => self.error(&path.index(i), "must be a string".into()),
                    }
                }
                out
            }
            Some(_) => {
                self.error(path, "must be a list of strings".into());
                Vec::new()
            }
        }
    }

    fn stages(&mut self, value: Option<&Value>, path: &FieldPath) -> StageSet {
        let mut set = StageSet::default();
        for (i, s) in self.strings(value, path).iter().enumerate() {
            match Stage::parse(s) {
                Some(stage) => set.insert(stage),
                None => self.error(
                    &path.index(i),
                    format!("Invalid value: {s:?}: allowed stages are RequestReceived,ResponseStarted,ResponseComplete,Panic"),
                ),
            }
        }
        set
    }

    fn boolean(&mut self, value: Option<&Value>, path: &FieldPath) -> Option<bool> {
        match value {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.error(path, "must be a boolean".into());
                None
            }
        }
    }
}

/// `NameIsDNSSubdomain` (lowercase RFC 1123 subdomain, at most 253 characters) from
/// `k8s.io/apimachinery/pkg/util/validation/validation.go`.
pub fn is_dns_subdomain(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    s.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match load_policy("p.yaml", text) {
            Ok(_) => Vec::new(),
            Err(errs) => errs.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn valid_policy_loads_with_positions() {
        let text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: None\n  nonResourceURLs: [\"/healthz*\"]\n- level: Metadata\n  omitManagedFields: true\n";
        let p = load_policy("p.yaml", text).unwrap();
        assert_eq!(p.policy.rules.len(), 2);
        assert_eq!(p.policy.rules[1].pos.line, 7);
        assert!(p.policy.omit_stages.contains(Stage::RequestReceived));
        assert_eq!(p.policy.rules[1].omit_managed_fields, Some(true));
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn upstream_validation_errors_with_lines() {
        let text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Loud\n- nonResourceURLs: [\"healthz\", \"/a*b\"]\n  level: None\n  namespaces: [\"x\"]\n- level: Request\n  resources:\n  - group: \"rbac.authorization.k8s.io/v1\"\n  - resourceNames: [\"x\"]\n  omitStages: [\"Never\"]\n- {}\n";
        let errs = errors(text);
        let expect = [
            "p.yaml:4:3: error: rules[0].level: Unsupported value",
            "p.yaml:5:21: error: rules[1].nonResourceURLs[0]: Invalid value: \"healthz\": non-resource URL rules must begin",
            "p.yaml:5:32: error: rules[1].nonResourceURLs[1]: Invalid value: \"/a*b\": non-resource URL wildcards",
            "p.yaml:5:3: error: rules[1].nonResourceURLs: rules cannot apply to both",
            "p.yaml:10:5: error: rules[2].resources[0].group: Invalid value",
            "p.yaml:11:5: error: rules[2].resources[1].resourceNames: using resourceNames requires at least one resource",
            "p.yaml:12:16: error: rules[2].omitStages[0]: Invalid value: \"Never\"",
            "p.yaml:13:3: error: rules[3].level: Required value",
        ];
        assert_eq!(errs.len(), expect.len(), "{errs:#?}");
        for (e, want) in errs.iter().zip(expect) {
            assert!(e.starts_with(want), "{e}\n  does not start with\n{want}");
        }
    }

    #[test]
    fn zero_rules_wrong_version_and_unknown_fields() {
        assert!(
            errors("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n")[0].contains("0 rules")
        );
        assert!(
            errors("apiVersion: v1\nkind: Policy\nrules:\n- level: None\n")[0]
                .contains("unknown group version")
        );
        let p = load_policy(
            "p",
            "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: None\n  user: [x]\n",
        )
        .unwrap();
        let w: Vec<String> = p.warnings.iter().map(|d| d.to_string()).collect();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[1].starts_with("p:5:3: warning: unknown field \"rules[0].user\""),
            "{w:?}"
        );
    }

    #[test]
    fn yaml_syntax_error_has_position() {
        let errs = errors("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: [\n");
        assert!(errs[0].starts_with("p.yaml:"), "{errs:?}");
    }

    #[test]
    fn dns_subdomain() {
        assert!(is_dns_subdomain("rbac.authorization.k8s.io"));
        assert!(!is_dns_subdomain("rbac.authorization.k8s.io/v1"));
        assert!(!is_dns_subdomain("*"));
        assert!(!is_dns_subdomain("Apps"));
    }
}
