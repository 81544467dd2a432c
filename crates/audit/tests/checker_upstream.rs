//! Data-driven port of upstream's checker_test.go (see tests/data/checker/README.md).

use kubevigil_audit::checker::{Checker, RequestAttributes};
use kubevigil_audit::event::{Event, Level, Stage, StageSet};
use kubevigil_audit::policy::load_policy;
use serde_json::{Map, Value, json};

fn data(name: &str) -> Value {
    let path = format!("{}/tests/data/checker/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn stages(v: &Value) -> StageSet {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| Stage::parse(s.as_str().unwrap()).unwrap())
        .collect()
}

#[test]
fn upstream_checker_table() {
    let requests = data("requests.json");
    let rules = data("rules.json");
    let cases = data("cases.json");
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 106);
    for case in cases {
        let rule_list: Vec<Value> = case["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| rules[n.as_str().unwrap()].clone())
            .collect();
        let mut policy = Map::new();
        policy.insert("apiVersion".into(), json!("audit.k8s.io/v1"));
        policy.insert("kind".into(), json!("Policy"));
        policy.insert("omitStages".into(), case["policyOmitStages"].clone());
        if let Some(b) = case.get("policyOmitManagedFields") {
            policy.insert("omitManagedFields".into(), b.clone());
        }
        policy.insert("rules".into(), Value::Array(rule_list));
        // JSON is YAML: this goes through the same loader and validation as a policy file.
        let text = serde_json::to_string_pretty(&Value::Object(policy)).unwrap();
        let loaded = load_policy("case.json", &text).unwrap_or_else(|e| panic!("{case}: {e:?}"));
        let checker = Checker::new(loaded.policy);

        let event_text = serde_json::to_vec(&requests[case["request"].as_str().unwrap()]).unwrap();
        let event = Event::parse(&event_text).unwrap();
        let decision = checker.evaluate(&RequestAttributes::from_event(&event));

        let want_level = Level::parse(case["level"].as_str().unwrap()).unwrap();
        assert_eq!(decision.level, want_level, "case {case}");
        assert_eq!(
            decision.omit_stages,
            stages(&case["omitStages"]),
            "case {case}"
        );
        if let Some(want) = case.get("omitManagedFields") {
            assert_eq!(
                decision.omit_managed_fields,
                want.as_bool().unwrap(),
                "case {case}"
            );
        }
    }
}

/// Upstream `TestUnionStages`.
#[test]
fn union_stages() {
    use Stage::*;
    let cases: &[(&[Stage], &[Stage], &[Stage])] = &[
        (&[], &[], &[]),
        (&[RequestReceived], &[], &[RequestReceived]),
        (&[RequestReceived], &[RequestReceived], &[RequestReceived]),
        (
            &[RequestReceived],
            &[ResponseStarted],
            &[RequestReceived, ResponseStarted],
        ),
        (
            &[RequestReceived, RequestReceived],
            &[RequestReceived, RequestReceived],
            &[RequestReceived],
        ),
        (
            &[RequestReceived, ResponseStarted],
            &[Panic, RequestReceived],
            &[RequestReceived, ResponseStarted, Panic],
        ),
    ];
    for (a, b, want) in cases {
        let a: StageSet = a.iter().copied().collect();
        let b: StageSet = b.iter().copied().collect();
        let want: StageSet = want.iter().copied().collect();
        assert_eq!(a.union(b), want);
    }
}

/// A rule naming users applies to those users only (upstream `ruleMatches`: `if len(r.Users) >
/// 0 { if attrs.GetUser() == nil || !hasString(r.Users, attrs.GetUser().GetName()) { return
/// false } }`); upstream's table only asks about its one user, so another user is asked here.
#[test]
fn a_users_rule_does_not_match_other_users() {
    let text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n  users: [tim]\n- level: Metadata\n";
    let checker = Checker::new(load_policy("p.yaml", text).unwrap().policy);
    let level_for = |user: &str| {
        let event = format!(
            r#"{{"auditID":"a","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"list","user":{{"username":"{user}","groups":["system:authenticated"]}},"objectRef":{{"resource":"pods","namespace":"default","apiVersion":"v1"}}}}"#
        );
        let event = Event::parse(event.as_bytes()).unwrap();
        checker
            .evaluate(&RequestAttributes::from_event(&event))
            .level
    };
    assert_eq!(level_for("tim"), Level::RequestResponse);
    assert_eq!(level_for("bob"), Level::Metadata);
    assert_eq!(level_for("timothy"), Level::Metadata);
}
