//! The pages over the cluster's objects (Pod Security, NetworkPolicy, RBAC), on the example
//! application (insecure and hardened) and its RBAC, plus objects whose names carry markup and
//! control characters.

use std::path::Path;

use kubevigil_dashboard::Dashboard;
use kubevigil_model::Store;
use kubevigil_model::load::{LoadOptions, Loaded, load_paths, load_text_into};
use kubevigil_store::SqliteStore;

const NOW: i64 = 1_790_000_000_000;

fn repo(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
}

const HOSTILE: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: "evil<script>x</script>"
  labels: {pod-security.kubernetes.io/enforce: restricted}
---
apiVersion: v1
kind: Pod
metadata:
  name: "pod<img src=x onerror=alert(1)>\e[2J\u202e"
  namespace: "evil<script>x</script>"
  labels: {app: "a<b>"}
spec:
  containers: [{name: c, image: nginx}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "crb<script>"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: "mallory<script>\e[31m"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]
"#;

fn store(paths: &[&str], hostile: bool) -> Store {
    let paths: Vec<_> = paths.iter().map(|p| repo(p)).collect();
    let mut loaded: Loaded = load_paths(&paths, &LoadOptions::default());
    if hostile {
        load_text_into(
            "hostile.yaml",
            HOSTILE,
            &LoadOptions::default(),
            &mut loaded,
        );
    }
    assert!(!loaded.inventory.objects.is_empty());
    Store::from_inventory(loaded.inventory)
}

fn rows(page: &str, table: &str) -> Vec<String> {
    let start = page
        .find(&format!("<table id=\"{table}\">"))
        .unwrap_or_else(|| panic!("no table {table}\n{page}"));
    let end = page[start..].find("</table>").unwrap() + start;
    page[start..end]
        .split("<tr>")
        .skip(2)
        .map(String::from)
        .collect()
}

#[test]
fn pod_security_per_namespace() {
    let d = Dashboard::new([]);
    // The hardened application's namespace enforces restricted, and all of it meets it.
    let hardened = d.pod_security(Some(&store(&["examples/hardened"], false)), NOW);
    let rows_h = rows(&hardened, "pod-security");
    let shop = rows_h
        .iter()
        .find(|r| r.contains(">shop<"))
        .unwrap_or_else(|| panic!("{hardened}"));
    assert!(shop.contains("<td>restricted:latest</td>"), "{shop}");
    assert!(
        shop.contains("<td class=\"n\">0</td><td>restricted</td>"),
        "{shop}"
    );
    // The insecure one: nothing enforced, workloads that meet only privileged.
    let insecure = d.pod_security(Some(&store(&["examples/insecure"], false)), NOW);
    let rows_i = rows(&insecure, "pod-security");
    let shop = rows_i
        .iter()
        .find(|r| r.contains(">shop<"))
        .unwrap_or_else(|| panic!("{insecure}"));
    assert!(shop.contains("<td>privileged:latest</td>"), "{shop}");
    assert!(
        shop.ends_with("<td>privileged</td></tr></tbody>")
            || shop.ends_with("<td>privileged</td></tr>"),
        "{shop}"
    );
}

#[test]
fn network_isolation_and_map() {
    let objects = store(&["examples/hardened"], false);
    let page = Dashboard::new([]).network(Some(&objects), NOW);
    let rows = rows(&page, "isolation");
    assert!(!rows.is_empty());
    // The hardened application's default-deny policy isolates every workload.
    assert!(rows.iter().all(|r| !r.contains(">open<")), "{page}");
    assert!(
        page.contains("<svg class=\"chart map\" id=\"connectivity\""),
        "{page}"
    );
    assert!(
        page.contains("marker-end=\"url(#arrow)\""),
        "no connection drawn\n{page}"
    );
    let insecure = Dashboard::new([]).network(Some(&store(&["examples/insecure"], false)), NOW);
    assert!(rows_open(&insecure) > 0, "{insecure}");
}

fn rows_open(page: &str) -> usize {
    rows(page, "isolation")
        .iter()
        .filter(|r| r.contains(">open<"))
        .count()
}

#[test]
fn who_can_read_secrets() {
    let objects = store(&["examples/rbac"], true);
    let history = SqliteStore::open_in_memory().unwrap();
    let page = Dashboard::new([])
        .rbac(Some(&objects), &history, NOW)
        .unwrap();
    let readers = rows(&page, "secret-readers");
    let mallory = readers
        .iter()
        .find(|r| r.contains("mallory"))
        .unwrap_or_else(|| panic!("mallory reads secrets\n{page}"));
    assert!(
        mallory.contains("every namespace") && mallory.contains("<td>get</td>"),
        "{mallory}"
    );
}

#[test]
fn hostile_names_are_escaped_and_no_cluster_is_said() {
    let objects = store(&["examples/insecure"], true);
    let history = SqliteStore::open_in_memory().unwrap();
    let d = Dashboard::new([]);
    for (name, page) in [
        ("pod-security", d.pod_security(Some(&objects), NOW)),
        ("network", d.network(Some(&objects), NOW)),
        ("rbac", d.rbac(Some(&objects), &history, NOW).unwrap()),
    ] {
        assert!(
            !page.contains("<script") && !page.contains("<img") && !page.contains("<b>"),
            "{name}\n{page}"
        );
        assert!(
            !page.contains('\u{1b}') && !page.contains('\u{202e}'),
            "{name}"
        );
        assert!(
            page.contains("&lt;script&gt;"),
            "{name}: the hostile object is not shown\n{page}"
        );
    }
    for page in [
        d.pod_security(None, NOW),
        d.network(None, NOW),
        d.rbac(None, &history, NOW).unwrap(),
    ] {
        assert!(page.contains("id=\"no-cluster\""), "{page}");
    }
}

#[test]
fn the_overview_counts_namespaces_by_enforced_level() {
    let history = SqliteStore::open_in_memory().unwrap();
    let d = Dashboard::new([]);
    let hardened = d
        .overview(&history, Some(&store(&["examples/hardened"], false)), NOW)
        .unwrap();
    assert!(
        hardened.contains("<b>1</b>enforce restricted"),
        "{hardened}"
    );
    // The insecure namespace enforces nothing, and its workloads meet nothing stricter.
    let insecure = d
        .overview(&history, Some(&store(&["examples/insecure"], false)), NOW)
        .unwrap();
    assert!(
        insecure.contains("<b>0</b>enforce restricted"),
        "{insecure}"
    );
    assert!(
        insecure.contains("0 namespaces</a> could enforce a stricter level"),
        "{insecure}"
    );
    assert!(
        d.overview(&history, None, NOW)
            .unwrap()
            .contains("No cluster objects yet.")
    );
}
