//! Kubernetes audit events as a detection source: how Sigma rules read them, what an alert
//! keeps of one, and which of their fields hold secrets.

use kubevigil_sigma::Options;

/// Engine options for Kubernetes audit events (`logsource: product: kubernetes, service:
/// audit`).
///
/// The field mapping gives SigmaHQ's short field names their audit-event paths: `apiGroup`
/// is `objectRef.apiGroup`; `hostPath` is a pod's `spec.volumes[].hostPath.path`;
/// `capabilities` is the `securityContext.capabilities.add` of any container, init
/// container or ephemeral container of the created pod.
pub fn sigma_options() -> Options {
    let caps = ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .map(|c| format!("requestObject.spec.{c}.securityContext.capabilities.add"))
        .collect();
    Options {
        product: Some("kubernetes".into()),
        service: Some("audit".into()),
        categories: vec!["application".into()],
        field_map: vec![
            ("apiGroup".into(), vec!["objectRef.apiGroup".into()]),
            (
                "hostPath".into(),
                vec!["requestObject.spec.volumes.hostPath.path".into()],
            ),
            ("capabilities".into(), caps),
        ],
        disabled: Default::default(),
        dispatch_pair: Some(("objectRef.resource".into(), "verb".into())),
        dispatch_fields: vec![
            "objectRef.resource".into(),
            "objectRef.subresource".into(),
            "verb".into(),
            "user.username".into(),
            "responseStatus.code".into(),
        ],
        time_fields: vec![
            "stageTimestamp".into(),
            "requestReceivedTimestamp".into(),
            "timestamp".into(),
        ],
        // What an audit event is, is decided by kubevigil-audit's reader before the engine
        // sees it (see `Detector`).
        deferred_roots: vec!["requestObject".into(), "responseObject".into()],
        // The API server takes `auditID` from the client's `Audit-ID` header when present
        // (k8s.io/apiserver/pkg/endpoints/filters/audit_init.go, `WithAuditInit`), so
        // the id alone never identifies a request. These attributes are set once, before
        // the RequestReceived stage is emitted (`audit.LogRequestMetadata` in
        // k8s.io/apiserver/pkg/audit/request.go), and are copied unchanged into every later
        // stage. Left out on purpose: `impersonatedUser` (set by the impersonation filter,
        // which runs after RequestReceived was emitted, filters/impersonation.go) and
        // objectRef name/namespace/uid/resourceVersion (completed from the request body by
        // `audit.LogRequestObject`); `requestURI` carries the name and namespace of the
        // path.
        dedup_fields: [
            "auditID",
            "requestReceivedTimestamp",
            "user.username",
            "user.uid",
            "verb",
            "requestURI",
            "objectRef.resource",
            "objectRef.subresource",
            "objectRef.apiGroup",
            "objectRef.apiVersion",
        ]
        .map(String::from)
        .to_vec(),
        dedup_window: 65_536,
        // The kubelet's default streaming connection idle timeout (exec, attach,
        // port-forward sessions): longer requests may alert twice, never not at all.
        dedup_max_age_ms: 4 * 3600 * 1000,
        max_groups: 50_000,
        max_samples: 3,
        placeholders: vec![
            (
                CLUSTER_NETWORKS.into(),
                DEFAULT_CLUSTER_NETWORKS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            (IOC_ADDRESSES.into(), Vec::new()),
            (
                OUTSIDE_CLUSTER_NETWORKS.into(),
                outside(DEFAULT_CLUSTER_NETWORKS.iter().copied()),
            ),
        ],
    }
}

/// Placeholder for every address *outside* `%cluster_networks%`, derived from it (see
/// [`outside`]). `sourceIPs|expand|cidr: '%outside_cluster_networks%'` matches when any
/// source address is outside, so an `X-Forwarded-For` header naming a cluster address (the
/// API server lists forwarded addresses before the connection's own, `utilnet.SourceIPs`)
/// cannot hide the address a request really came from; `not sourceIPs|cidr: %cluster_networks%`
/// would be fooled by it.
pub const OUTSIDE_CLUSTER_NETWORKS: &str = "outside_cluster_networks";

/// The complement of `networks` in the IPv4 and IPv6 address spaces, as CIDR ranges (at
/// most 128 per network). Entries that do not parse are ignored (callers validate them).
pub fn outside<'a>(networks: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    use ipnet::IpNet;
    let nets: Vec<IpNet> = networks
        .into_iter()
        .filter_map(|n| n.parse::<IpNet>().ok().map(|n| n.trunc()))
        .collect();
    let mut out = Vec::new();
    for universe in ["0.0.0.0/0", "::/0"] {
        complement(universe.parse().expect("valid"), &nets, &mut out);
    }
    out.iter().map(ToString::to_string).collect()
}

fn complement(range: ipnet::IpNet, excluded: &[ipnet::IpNet], out: &mut Vec<ipnet::IpNet>) {
    if excluded.iter().any(|e| e.contains(&range)) {
        return;
    }
    if !excluded.iter().any(|e| range.contains(e)) {
        out.push(range);
        return;
    }
    // Some excluded range lies strictly inside: split in halves.
    let halves = range
        .subnets(range.prefix_len() + 1)
        .expect("a range containing a longer one can be split");
    for half in halves {
        complement(half, excluded, out);
    }
}

/// Placeholder (`sourceIPs|expand|cidr: '%cluster_networks%'`) for the addresses the
/// cluster's own components connect from: nodes, pods, the control plane, load balancers.
pub const CLUSTER_NETWORKS: &str = "cluster_networks";

/// Its default: the private and shared address ranges clusters run on (RFC 1918, RFC 6598
/// carrier-grade NAT as used by some VPC CNIs, loopback, IPv6 unique-local RFC 4193 and
/// link-local). Replaced by `--cluster-network` or `detect.clusterNetworks`.
pub const DEFAULT_CLUSTER_NETWORKS: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
];

/// Placeholder for the addresses of the user's indicator lists (`--ioc-file`); empty by
/// default, so the rule that uses it matches nothing until a list is given.
pub const IOC_ADDRESSES: &str = "ioc_addresses";

/// The event fields of the alert contract (`events[]` of [`crate::DetectionAlert::to_json`]).
pub const CONTRACT_FIELDS: [&str; 6] = [
    "auditID",
    "user",
    "sourceIPs",
    "verb",
    "objectRef",
    "responseStatus",
];

/// An alert's view of one event, as compact JSON text (correlation state may hold many):
/// who did what, the [`CONTRACT_FIELDS`] plus `requestURI` (shown in the table for
/// non-resource requests, left out of the JSON contract). Only request attributes are kept,
/// never bodies (where Secret data and tokens are: see `kubevigil_audit::redact`). The event is
/// split into its top-level members without materialising them, so an event whose body nests
/// deeper than serde_json's recursion limit still has a sample.
pub fn sample(text: &[u8]) -> String {
    let Ok(members) = serde_json::from_slice::<
        std::collections::HashMap<String, Box<serde_json::value::RawValue>>,
    >(text) else {
        return "null".into();
    };
    let mut m = serde_json::Map::new();
    for key in CONTRACT_FIELDS.iter().chain(&["requestURI"]) {
        let v = members
            .get(*key)
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or(serde_json::Value::Null);
        m.insert(key.to_string(), v);
    }
    serde_json::Value::Object(m).to_string()
}

/// Whether the field at a dotted path of an audit event holds secret data (a correlation
/// `group` value taken from it is printed as a keyed hash): `kubevigil_audit::redact`'s rule.
pub fn is_secret_field(path: &str, text: &[u8]) -> bool {
    kubevigil_audit::redact::is_secret_field(text, path)
}

#[cfg(test)]
mod placeholder_tests {
    use super::*;

    #[test]
    fn outside_is_the_exact_complement() {
        let out = outside(["10.0.0.0/8", "::/1"]);
        let nets: Vec<ipnet::IpNet> = out.iter().map(|n| n.parse().unwrap()).collect();
        let inside = |a: &str| {
            let ip: std::net::IpAddr = a.parse().unwrap();
            nets.iter().any(|n| n.contains(&ip))
        };
        for a in [
            "9.255.255.255",
            "11.0.0.0",
            "0.0.0.0",
            "255.255.255.255",
            "8000::1",
        ] {
            assert!(inside(a), "{a}");
        }
        for a in ["10.0.0.0", "10.255.255.255", "10.1.2.3", "::1", "7fff::1"] {
            assert!(!inside(a), "{a}");
        }
        // 10.0.0.0/8 costs 8 ranges, ::/1 one.
        assert_eq!(out.len(), 9, "{out:?}");
        assert_eq!(outside(["0.0.0.0/0", "::/0"]), Vec::<String>::new());
    }
}
