//! The read-only ClusterRole kubevigil needs: `get`, `list` and `watch` on every kind a
//! snapshot reads (watch for the monitor and the webhook's namespace cache), nothing else.

use crate::kinds::KINDS;

/// The ClusterRole (and a binding to fill in) as YAML, generated from [`KINDS`].
pub fn cluster_role_yaml(name: &str) -> String {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for k in KINDS {
        match groups.iter_mut().find(|(g, _)| *g == k.group) {
            Some((_, resources)) => resources.push(k.plural),
            None => groups.push((k.group, vec![k.plural])),
        }
    }
    let mut out = format!(
        "# Read-only access for kubevigil (kubevigil cluster role). Secrets are listed as metadata\n\
         # only by kubevigil, but RBAC cannot grant metadata alone: `list` on secrets lets these\n\
         # credentials read values. Remove the secrets rule to keep them from it; kubevigil then\n\
         # warns that Secret checks are incomplete.\n\
         apiVersion: rbac.authorization.k8s.io/v1\n\
         kind: ClusterRole\n\
         metadata:\n  name: {name}\n\
         rules:\n"
    );
    for (group, resources) in groups {
        let (secrets, others): (Vec<&str>, Vec<&str>) =
            resources.into_iter().partition(|r| *r == "secrets");
        out.push_str(&format!(
            "- apiGroups: [\"{group}\"]\n  resources: [{}]\n  verbs: [get, list, watch]\n",
            others.join(", ")
        ));
        if !secrets.is_empty() {
            out.push_str(&format!(
                "- apiGroups: [\"{group}\"]\n  resources: [secrets]\n  verbs: [list, watch]\n"
            ));
        }
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
