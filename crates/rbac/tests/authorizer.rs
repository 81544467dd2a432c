//! Table-driven authorizer cases: every rule of the RBAC authorizer, each allowed and denied.
//! Input: tests/data/bootstrap.yaml (Kubernetes' bootstrap roles) and tests/data/cases.yaml.
//! A row: `SUBJECT VERB WHAT NAMESPACE NAME EXPECT  # the rule it exercises`, `-` for none.

use kubevigil_model::{LoadOptions, load_paths};
use kubevigil_rbac::{Decision, Rbac, Request, User};

const CASES: &str = r#"
# verbs, apiGroups, resources: exact match
user:alice        get     pods                  team-a  -           allow  # exact verb, core group, resource
user:alice        delete  pods                  team-a  -           deny   # verb not listed
user:alice        get     pods.apps             team-a  -           deny   # apiGroup differs
user:alice        get     services              team-a  -           deny   # resource not listed
# RoleBinding: only in its namespace
user:alice        get     pods                  team-b  -           deny   # RoleBinding grants only in its namespace
user:alice        get     pods                  -       -           deny   # cluster-scope request: RoleBindings not visited
# subresources
user:alice        get     pods/status           team-a  -           deny   # `pods/*` is not a wildcard: only `*/sub` is
user:alice        update  pods/status           team-a  -           deny   # `pods` does not grant pods/status
user:bob          get     secrets/foo           team-b  -           deny   # `secrets` does not grant a subresource
user:alice        update  deployments.apps/scale team-a -           allow  # */scale matches any resource's scale
user:alice        update  deployments.apps      team-a  -           deny   # */scale does not match the resource itself
user:alice        update  deployments.apps/status team-a -          deny   # */scale does not match another subresource
# resourceNames
user:alice        get     configmaps            team-a  app-config  allow  # resourceNames lists the name
user:alice        get     configmaps            team-a  other       deny   # name not listed
user:alice        get     configmaps            team-a  -           deny   # no name requested: resourceNames rule never matches
user:alice        create  configmaps            team-a  app-config  deny   # create carries no name: resourceNames never grant create
user:alice        deletecollection configmaps   team-a  app-config  deny   # deletecollection carries no name
user:alice        delete  configmaps            team-a  app-config  allow  # delete names the object
# wildcards
user:anyone-anon  get     secrets               team-a  -           deny   # an authenticated user is not system:unauthenticated
user:system:anonymous get secrets               team-a  -           allow  # anonymous is system:unauthenticated; */*/* allows
user:system:anonymous delete widgets.example.com -      x           allow  # * group, * resource, * verb, cluster scope
user:system:anonymous get   /metrics            -       -           deny   # resource wildcards grant no non-resource URL
# non-resource URLs
group:monitoring  get     /metrics              -       -           allow  # exact non-resource URL
group:monitoring  get     /metrics/cadvisor     -       -           deny   # no prefix without *
group:monitoring  get     /logs/kubelet         -       -           allow  # prefix/* matches
group:monitoring  get     /logs                 -       -           deny   # /logs/* needs the slash
group:monitoring  post    /metrics              -       -           deny   # verb differs
user:frank        get     /metrics              -       -           deny   # a RoleBinding never grants a non-resource URL
user:frank        get     /healthz              -       -           allow  # system:authenticated -> system:public-info-viewer
user:system:anonymous get /healthz              -       -           allow  # system:unauthenticated -> system:public-info-viewer
user:system:anonymous get /api                  -       -           deny   # system:discovery is for system:authenticated only
user:frank        get     /apis/apps            -       -           allow  # /apis/* prefix in system:discovery
user:frank        create  selfsubjectaccessreviews.authorization.k8s.io - - allow # system:basic-user
# RoleBinding to a ClusterRole
user:bob          get     secrets               team-b  -           allow  # RoleBinding -> ClusterRole grants in the binding's namespace
user:bob          get     secrets               team-a  -           deny   # ...and nowhere else
user:bob          list    secrets               -       -           deny   # ...nor at cluster scope
# ClusterRoleBinding
group:monitoring  list    secrets               -       -           allow  # ClusterRoleBinding grants at cluster scope
group:monitoring  watch   secrets               team-z  -           allow  # ...and in every namespace
group:other       list    secrets               team-z  -           deny   # another group
# ServiceAccount subjects
sa:team-a/builder get     pods                  team-a  -           allow  # SA subject without namespace takes the RoleBinding's
sa:team-b/builder get     pods                  team-a  -           deny   # same name, other namespace
sa:tools/ci       get     pods                  team-a  -           allow  # explicit namespace
user:system:serviceaccount:tools:ci get pods    team-a  -           allow  # the SA's user name is the same identity
user:ci           get     pods                  team-a  -           deny   # a plain user named like the SA is not it
sa:default/no-namespace list secrets            -       -           deny   # SA without namespace in a ClusterRoleBinding matches nobody
# implicit groups
sa:team-c/anything get    pods                  team-c  -           allow  # system:serviceaccounts:<ns>
sa:team-x/anything get    pods                  team-c  -           deny   # SA of another namespace
user:alice        get     pods                  team-c  -           deny   # users are not service accounts
sa:team-x/anything get    pods                  team-d  -           allow  # system:serviceaccounts: every SA
# system:masters
group:system:masters delete nodes               -       n1          allow  # privileged group, before RBAC
user:mallory      delete  nodes                 -       n1          deny   # nobody else
# aggregated ClusterRoles
user:carol        get     secrets               team-a  -           allow  # edit aggregates system:aggregate-to-edit
user:carol        get     endpoints             team-a  -           allow  # edit aggregates view, which aggregates system:aggregate-to-view
user:carol        create  rolebindings.rbac.authorization.k8s.io team-a - deny # admin's rules are not in edit
user:carol        create  pods/exec             team-a  p           allow  # aggregated subresource rule
user:carol        get     pods                  team-b  -           deny   # RoleBinding scope still applies
user:erin         create  jobs.batch            team-a  -           allow  # matchExpressions In
user:erin         create  cronjobs.batch        team-a  -           deny   # matchExpressions DoesNotExist excludes
# bindings to roles that do not exist
user:dave         get     pods                  team-a  -           deny   # dangling roleRef grants nothing
# Role in a namespace with a non-resource rule: nothing
user:nobody       get     services              team-e  -           deny   # local-only is bound to nobody
"#;

fn rbac_input() -> kubevigil_model::Loaded {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let loaded = load_paths(
        &[dir.join("bootstrap.yaml"), dir.join("cases.yaml")],
        &LoadOptions::default(),
    );
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    loaded
}

#[test]
fn authorizer_table() {
    let loaded = rbac_input();
    let rbac = Rbac::from_objects(&loaded.inventory);
    let mut failures = Vec::new();
    let mut rows = 0;
    for line in CASES.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (fields, comment) = line.split_once('#').unwrap_or((line, ""));
        let f: Vec<&str> = fields.split_whitespace().collect();
        assert_eq!(f.len(), 6, "bad row: {line}");
        let (subject, verb, what, ns, name, expect) = (f[0], f[1], f[2], f[3], f[4], f[5]);
        let user = User::parse(subject, &[]).unwrap();
        let name = (name != "-").then_some(name);
        let req = Request::parse(verb, what, dash_str(ns), name).unwrap();
        let got = rbac.authorize(&user, &req);
        rows += 1;
        let want = expect == "allow";
        if got.allowed() != want {
            failures.push(format!("{line}\n    got {got:?}  ({})", comment.trim()));
        }
    }
    assert!(rows > 50, "{rows}");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn dash_str(s: &str) -> &str {
    if s == "-" { "" } else { s }
}

#[test]
fn allowed_answers_name_the_binding_role_and_rule() {
    let loaded = rbac_input();
    let rbac = Rbac::from_objects(&loaded.inventory);
    let user = User::parse("user:carol", &[]).unwrap();
    let req = Request::parse("get", "secrets", "team-a", None).unwrap();
    let Decision::Allowed(grants) = rbac.authorize(&user, &req) else {
        panic!("denied")
    };
    let g = &grants[0];
    assert_eq!(g.binding.name, "carol-edit");
    assert_eq!(g.role.name, "edit");
    let role = &rbac.roles[&g.role];
    // The rule came from system:aggregate-to-edit's first rule.
    assert_eq!(role.sources[g.rule].role.name, "system:aggregate-to-edit");
    assert_eq!(role.sources[g.rule].index, 0);
}

#[test]
fn denials_name_the_bindings_that_apply() {
    let loaded = rbac_input();
    let rbac = Rbac::from_objects(&loaded.inventory);
    let user = User::parse("user:dave", &[]).unwrap();
    let req = Request::parse("get", "pods", "team-a", None).unwrap();
    let Decision::Denied(d) = rbac.authorize(&user, &req) else {
        panic!("allowed")
    };
    assert!(
        d.bindings
            .iter()
            .any(|(b, r, exists)| b.name == "dangling" && r.name == "does-not-exist" && !exists),
        "{d:?}"
    );
}

#[test]
fn aggregation_follows_the_controller_order() {
    let loaded = rbac_input();
    let rbac = Rbac::from_objects(&loaded.inventory);
    let key = |n: &str| kubevigil_rbac::Key::cluster_role(n);
    let admin = &rbac.roles[&key("admin")];
    // admin = edit's aggregated rules, then system:aggregate-to-admin's (sources sorted by
    // name), each rule once.
    let names: Vec<&str> = admin.sources.iter().map(|s| s.role.name.as_str()).collect();
    let first_admin_own = names
        .iter()
        .position(|n| *n == "system:aggregate-to-admin")
        .unwrap();
    assert!(
        names[..first_admin_own]
            .iter()
            .all(|n| *n != "system:aggregate-to-admin")
    );
    let mut dedup = admin.rules.clone();
    dedup.dedup();
    assert_eq!(dedup.len(), admin.rules.len());
    // edit aggregates system:aggregate-to-edit and view (sorted by name).
    let edit = &rbac.roles[&key("edit")];
    assert_eq!(edit.sources[0].role.name, "system:aggregate-to-edit");
    assert_eq!(edit.rules.len(), 12 + 9);
    assert!(rbac.roles[&key("expr-aggregate")].rules.len() == 1);
}

#[test]
fn who_can_lists_subjects_with_namespaces_and_paths() {
    let loaded = rbac_input();
    let rbac = Rbac::from_objects(&loaded.inventory);
    let req = Request::parse("get", "secrets", "team-a", None).unwrap();
    let holders = rbac.who_can(&req, false);
    let names: Vec<String> = holders.iter().map(|h| h.subject.to_string()).collect();
    assert_eq!(
        names,
        [
            "Group monitoring",
            "Group system:masters",
            "Group system:unauthenticated",
            "User carol",
        ],
        "{holders:#?}"
    );
    let any = rbac.who_can(&req, true);
    let bob = any.iter().find(|h| h.subject.name == "bob").unwrap();
    assert_eq!(bob.namespaces.iter().collect::<Vec<_>>(), ["team-b"]);
    let mon = any.iter().find(|h| h.subject.name == "monitoring").unwrap();
    assert_eq!(mon.namespaces.iter().collect::<Vec<_>>(), ["*"]);
    // Non-resource URLs: ClusterRoleBindings only.
    let metrics = Request::parse("get", "/metrics", "", None).unwrap();
    let who: Vec<String> = rbac
        .who_can(&metrics, true)
        .iter()
        .map(|h| h.subject.name.clone())
        .collect();
    assert_eq!(who, ["monitoring", "system:masters"]);
}
