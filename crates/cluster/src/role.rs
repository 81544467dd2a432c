//! The read-only ClusterRole kubevigil needs: `get`, `list` and `watch` on every kind a
//! snapshot reads (watch for the monitor and the webhook's namespace cache), nothing else.

use crate::kinds::KINDS;

/// One rule of the ClusterRole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub api_group: &'static str,
    pub resources: Vec<&'static str>,
    pub verbs: &'static [&'static str],
}

/// Why the Secret rule is there and what it grants: said wherever the role is printed.
pub const SECRETS_NOTE: &str = "Secrets are listed as metadata only by kubevigil, but RBAC cannot grant metadata alone: `list` on secrets lets these credentials read values. Remove the secrets rule to keep them from it; kubevigil then warns that Secret checks are incomplete.";

/// The rules of the read-only ClusterRole, from [`KINDS`] (the one source of truth: every
/// printed role is built from these): one rule per API group, in the order of `KINDS`, with
/// `get`, `list` and `watch`; Secrets in a rule of their own with `list` and `watch`, as they
/// are only ever listed (as metadata).
pub fn cluster_role_rules() -> Vec<Rule> {
    let mut groups: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for k in KINDS {
        match groups.iter_mut().find(|(g, _)| *g == k.group) {
            Some((_, resources)) => resources.push(k.plural),
            None => groups.push((k.group, vec![k.plural])),
        }
    }
    let mut rules = Vec::new();
    for (group, resources) in groups {
        let (secrets, others): (Vec<&str>, Vec<&str>) =
            resources.into_iter().partition(|r| *r == "secrets");
        rules.push(Rule {
            api_group: group,
            resources: others,
            verbs: &["get", "list", "watch"],
        });
        if !secrets.is_empty() {
            rules.push(Rule {
                api_group: group,
                resources: secrets,
                verbs: &["list", "watch"],
            });
        }
    }
    rules
}

/// The ClusterRole (and a binding to fill in) as YAML, generated from [`cluster_role_rules`].
pub fn cluster_role_yaml(name: &str) -> String {
    let mut out = kubevigil_model::text::yaml::comment(&format!(
        "Read-only access for kubevigil (kubevigil cluster role). {SECRETS_NOTE}"
    ));
    out.push_str(&format!(
        "apiVersion: rbac.authorization.k8s.io/v1\n\
         kind: ClusterRole\n\
         metadata:\n  name: {name}\n\
         rules:\n"
    ));
    for rule in cluster_role_rules() {
        out.push_str(&format!(
            "- apiGroups: [\"{}\"]\n  resources: [{}]\n  verbs: [{}]\n",
            rule.api_group,
            rule.resources.join(", "),
            rule.verbs.join(", ")
        ));
    }
    out.push_str(&format!(
        "---\n\
         apiVersion: rbac.authorization.k8s.io/v1\n\
         kind: ClusterRoleBinding\n\
         metadata:\n  name: {name}\n\
         roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: {name}\n\
         subjects:\n\
         - kind: ServiceAccount  # or a User or Group\n  name: kubevigil\n  namespace: kubevigil\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_grants_read_on_every_kind_read_and_nothing_else() {
        let text = cluster_role_yaml("kubevigil-reader");
        for k in KINDS {
            let rule = format!("- apiGroups: [\"{}\"]\n  resources: [", k.group);
            let granted = text.match_indices(&rule).any(|(at, _)| {
                let line = text[at + rule.len()..].lines().next().unwrap();
                line.trim_end_matches(']')
                    .split(", ")
                    .any(|r| r == k.plural)
            });
            assert!(granted, "{} {} not granted:\n{text}", k.group, k.plural);
        }
        for verb in [
            "create",
            "update",
            "patch",
            "delete",
            "*",
            "escalate",
            "impersonate",
        ] {
            assert!(
                !text.contains(&format!(" {verb},")) && !text.contains(&format!("[{verb}")),
                "{verb}"
            );
        }
        assert!(text.contains("resources: [secrets]\n  verbs: [list, watch]"));
    }
}
