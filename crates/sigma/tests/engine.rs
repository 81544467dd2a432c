//! Behaviour of detections, modifiers and correlations on JSON events.

use std::sync::Arc;

use kubevigil_sigma::{DiagLevel, Engine, RuleSet, Source};
use serde_json::json;

fn compile(rule: &str) -> RuleSet {
    let (set, diags) = RuleSet::compile(
        &[Source {
            name: "t.yml",
            text: rule,
        }],
        &kubevigil_detect::audit::sigma_options(),
    );
    let errors: Vec<_> = diags
        .iter()
        .filter(|d| d.level == DiagLevel::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    set
}

fn rule(detection: &str) -> String {
    format!(
        "title: t\nid: t-1\nlogsource:\n  product: kubernetes\n  service: audit\ndetection:\n{detection}\nlevel: high\n"
    )
}

/// Evaluates each event with both the lazy JSON scanner and the serde_json path and checks
/// they agree.
fn fires(set: &Arc<RuleSet>, ev: &serde_json::Value) -> bool {
    let mut e1: Engine<()> = Engine::new(set.clone());
    let mut out = Vec::new();
    e1.process_json(ev.to_string().as_bytes(), &mut || (), &mut out)
        .unwrap();
    let mut e2: Engine<()> = Engine::new(set.clone());
    let mut out2 = Vec::new();
    e2.process_value(ev, &mut || (), &mut out2);
    assert_eq!(
        out.len(),
        out2.len(),
        "scanner and value paths disagree on {ev}"
    );
    !out.is_empty()
}

fn check(detection: &str, yes: &[serde_json::Value], no: &[serde_json::Value]) {
    let set = Arc::new(compile(&rule(detection)));
    for ev in yes {
        assert!(fires(&set, ev), "should fire: {detection}\n on {ev}");
    }
    for ev in no {
        assert!(!fires(&set, ev), "should not fire: {detection}\n on {ev}");
    }
}

#[test]
fn maps_lists_and_case_insensitivity() {
    check(
        "  sel:\n    verb: [get, list]\n    objectRef.resource: secrets\n  condition: sel",
        &[
            json!({"verb":"GET","objectRef":{"resource":"secrets"}}),
            json!({"verb":"list","objectRef":{"resource":"Secrets"}}),
        ],
        &[
            json!({"verb":"watch","objectRef":{"resource":"secrets"}}),
            json!({"verb":"get"}),
            json!({}),
        ],
    );
    // List of maps: OR of ANDs.
    check(
        "  sel:\n    - verb: delete\n    - objectRef.resource: events\n      verb: patch\n  condition: sel",
        &[
            json!({"verb":"delete"}),
            json!({"verb":"patch","objectRef":{"resource":"events"}}),
        ],
        &[json!({"verb":"patch","objectRef":{"resource":"pods"}})],
    );
}

#[test]
fn conditions() {
    let det = "  sel_a:\n    verb: create\n  sel_b:\n    objectRef.resource: pods\n  _hidden:\n    user.username: x\n  filter_sys:\n    user.username|startswith: 'system:'\n  condition: 1 of sel_* and not filter_sys";
    check(
        det,
        &[
            json!({"verb":"create","user":{"username":"alice"}}),
            json!({"objectRef":{"resource":"pods"}}),
        ],
        &[
            json!({"verb":"create","user":{"username":"system:node:a"}}),
            json!({"verb":"get"}),
        ],
    );
    check(
        "  sel_a:\n    verb: create\n  sel_b:\n    objectRef.resource: pods\n  condition: all of sel_*",
        &[json!({"verb":"create","objectRef":{"resource":"pods"}})],
        &[json!({"verb":"create"})],
    );
    // `them` excludes identifiers starting with an underscore.
    check(
        "  a:\n    verb: create\n  _b:\n    verb: get\n  condition: all of them",
        &[json!({"verb":"create"})],
        &[json!({"verb":"get"})],
    );
    check(
        "  a:\n    verb: create\n  b:\n    verb: get\n  c:\n    objectRef.namespace: x\n  condition: (a or b) and not c",
        &[
            json!({"verb":"get","objectRef":{"namespace":"y"}}),
            json!({"verb":"create"}),
        ],
        &[
            json!({"verb":"get","objectRef":{"namespace":"x"}}),
            json!({"verb":"list"}),
        ],
    );
}

#[test]
fn wildcards_null_numbers_booleans() {
    check(
        "  sel:\n    requestURI: '/api/v1/namespaces/*/pods/?x*'\n  condition: sel",
        &[json!({"requestURI":"/api/v1/namespaces/a/pods/1x/exec"})],
        &[json!({"requestURI":"/api/v1/namespaces/a/pods/x"})],
    );
    check(
        "  sel:\n    requestURI: 'lit\\*eral'\n  condition: sel",
        &[json!({"requestURI":"lit*eral"})],
        &[json!({"requestURI":"litXeral"})],
    );
    check(
        "  sel:\n    objectRef.namespace: null\n    verb: get\n  condition: sel",
        &[
            json!({"verb":"get"}),
            json!({"verb":"get","objectRef":{"namespace":null}}),
        ],
        &[json!({"verb":"get","objectRef":{"namespace":"default"}})],
    );
    check(
        "  sel:\n    objectRef.namespace: ''\n  condition: sel",
        &[json!({"objectRef":{"namespace":""}})],
        &[json!({"objectRef":{"namespace":"a"}}), json!({})],
    );
    check(
        "  sel:\n    responseStatus.code: 403\n  condition: sel",
        &[
            json!({"responseStatus":{"code":403}}),
            json!({"responseStatus":{"code":"403"}}),
        ],
        &[json!({"responseStatus":{"code":200}})],
    );
    check(
        "  sel:\n    responseStatus.code: '401'\n  condition: sel",
        &[json!({"responseStatus":{"code":401}})],
        &[json!({"responseStatus":{"code":4010}})],
    );
    check(
        "  sel:\n    requestObject.spec.hostPID: true\n  condition: sel",
        &[json!({"requestObject":{"spec":{"hostPID":true}}})],
        &[
            json!({"requestObject":{"spec":{"hostPID":false}}}),
            json!({"requestObject":{"spec":{}}}),
        ],
    );
}

#[test]
fn arrays_are_crossed() {
    check(
        "  sel:\n    requestObject.spec.containers.securityContext.privileged: true\n  condition: sel",
        &[
            json!({"requestObject":{"spec":{"containers":[{"name":"a"},{"securityContext":{"privileged":true}}]}}}),
        ],
        &[
            json!({"requestObject":{"spec":{"containers":[{"securityContext":{"privileged":false}}]}}}),
        ],
    );
    check(
        "  sel:\n    user.groups: system:masters\n  condition: sel",
        &[json!({"user":{"groups":["system:authenticated","system:masters"]}})],
        &[json!({"user":{"groups":["system:authenticated"]}})],
    );
}

#[test]
fn string_modifiers() {
    check(
        "  sel:\n    userAgent|contains: [kube-hunter, peirates, kubiscan, trufflehog, access_matrix]\n  condition: sel",
        &[
            json!({"userAgent":"Kube-Hunter/0.6"}),
            json!({"userAgent":"x access_matrix y"}),
        ],
        &[json!({"userAgent":"kubectl/v1.30"})],
    );
    check(
        "  sel:\n    requestURI|startswith: /api\n    requestURI|endswith: /exec\n  condition: sel",
        &[json!({"requestURI":"/api/v1/x/exec"})],
        &[
            json!({"requestURI":"/apis/x/log"}),
            json!({"requestURI":"/x/exec"}),
        ],
    );
    check(
        "  sel:\n    requestURI|contains|all: [exec, command=sh]\n  condition: sel",
        &[json!({"requestURI":"/exec?command=sh"})],
        &[json!({"requestURI":"/exec?command=ls"})],
    );
    check(
        "  sel:\n    user.username|cased: Alice\n  condition: sel",
        &[json!({"user":{"username":"Alice"}})],
        &[json!({"user":{"username":"alice"}})],
    );
    check(
        "  sel:\n    requestURI|re: 'command=(sh|bash)\\b'\n  condition: sel",
        &[json!({"requestURI":"?command=bash&x"})],
        &[json!({"requestURI":"?command=BASH"})],
    );
    check(
        "  sel:\n    requestURI|re|i: 'command=(sh|bash)$'\n  condition: sel",
        &[json!({"requestURI":"?command=BASH"})],
        &[json!({"requestURI":"?command=zsh"})],
    );
    check(
        "  sel:\n    requestURI|re|s: 'a.b'\n  condition: sel",
        &[json!({"requestURI":"a\nb"})],
        &[json!({"requestURI":"ab"})],
    );
    check(
        "  sel:\n    requestURI|re|m: '^b$'\n  condition: sel",
        &[json!({"requestURI":"a\nb\nc"})],
        &[json!({"requestURI":"abc"})],
    );
}

#[test]
fn encoding_modifiers() {
    // "kubectl" base64 = a3ViZWN0bA==
    check(
        "  sel:\n    requestObject.data.x|base64: kubectl\n  condition: sel",
        &[json!({"requestObject":{"data":{"x":"a3ViZWN0bA=="}}})],
        &[json!({"requestObject":{"data":{"x":"kubectl"}}})],
    );
    // base64offset|contains finds the text at any alignment inside a longer encoded blob.
    let set = Arc::new(compile(&rule(
        "  sel:\n    requestObject.data.x|base64offset|contains: /bin/sh\n  condition: sel",
    )));
    use base64::Engine as _;
    for prefix in ["", "a", "ab", "abc"] {
        let blob =
            base64::engine::general_purpose::STANDARD.encode(format!("{prefix}run /bin/sh -c id"));
        assert!(
            fires(&set, &json!({"requestObject":{"data":{"x":blob}}})),
            "{prefix}"
        );
    }
    assert!(!fires(
        &set,
        &json!({"requestObject":{"data":{"x":"cnVuIC9iaW4vYmFzaA=="}}})
    ));
}

#[test]
fn numeric_cidr_exists_fieldref() {
    check(
        "  sel:\n    responseStatus.code|gte: 400\n    responseStatus.code|lt: 500\n  condition: sel",
        &[
            json!({"responseStatus":{"code":403}}),
            json!({"responseStatus":{"code":"400"}}),
        ],
        &[
            json!({"responseStatus":{"code":500}}),
            json!({"responseStatus":{"code":200}}),
            json!({}),
        ],
    );
    check(
        "  sel:\n    sourceIPs|cidr: [10.0.0.0/8, 'fd00::/8']\n  condition: sel",
        &[
            json!({"sourceIPs":["192.168.1.1","10.2.3.4"]}),
            json!({"sourceIPs":["fd00::1"]}),
        ],
        &[
            json!({"sourceIPs":["192.168.1.1"]}),
            json!({"sourceIPs":["not-an-ip"]}),
        ],
    );
    check(
        "  sel:\n    requestObject.spec.tls|exists: false\n    verb: create\n  condition: sel",
        &[json!({"verb":"create","requestObject":{"spec":{}}})],
        &[json!({"verb":"create","requestObject":{"spec":{"tls":[{"hosts":["a"]}]}}})],
    );
    check(
        "  sel:\n    user.username|fieldref: objectRef.name\n  condition: sel",
        &[json!({"user":{"username":"bob"},"objectRef":{"name":"Bob"}})],
        &[json!({"user":{"username":"bob"},"objectRef":{"name":"alice"}})],
    );
    check(
        "  sel:\n    objectRef.namespace|neq: kube-system\n  condition: sel",
        &[json!({"objectRef":{"namespace":"default"}})],
        &[json!({"objectRef":{"namespace":"kube-system"}}), json!({})],
    );
}

#[test]
fn keywords_search_the_event_text() {
    check(
        "  keywords:\n    - xmrig\n    - 'miner*pool'\n  condition: keywords",
        &[
            json!({"requestObject":{"image":"evil/XMRig:1"}}),
            json!({"a":"minerXpool"}),
        ],
        &[json!({"requestObject":{"image":"nginx"}})],
    );
    // Plain keywords only (searched by one automaton): any case, any place, non-ASCII text
    // around them.
    check(
        "  keywords:\n    - password\n    - secret_key\n  condition: keywords",
        &[
            json!({"data":{"DB_PASSWORD":"x"}}),
            json!({"k":"my-Secret_Key-1","u":"ünïcödé"}),
            json!({"u":"ÜNÏ","v":"PassWord"}),
        ],
        &[
            json!({"data":{"passwd":"x"}}),
            json!({"k":"secret-key","u":"ünï"}),
        ],
    );
    check(
        "  keywords:\n    '|all':\n      - alpha\n      - beta\n  condition: keywords",
        &[json!({"a":"alpha","b":"beta"})],
        &[json!({"a":"alpha"})],
    );
}

#[test]
fn unsupported_constructs_are_reported_with_position_and_skip_only_that_rule() {
    let text = "title: bad\nid: b-1\nlogsource: {product: kubernetes, service: audit}\ndetection:\n  sel:\n    verb|windash: x\n  condition: sel\n---\ntitle: good\nid: g-1\nlogsource: {product: kubernetes, service: audit}\ndetection:\n  sel:\n    verb: get\n  condition: sel\n---\ntitle: agg\nid: a-1\nlogsource: {product: kubernetes, service: audit}\ndetection:\n  sel:\n    verb: get\n  condition: sel | count() > 5\n";
    let (set, diags) = RuleSet::compile(
        &[Source {
            name: "f.yml",
            text,
        }],
        &kubevigil_detect::audit::sigma_options(),
    );
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.level == DiagLevel::Error)
        .map(|d| d.to_string())
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("f.yml:6:5: error:") && errors[0].contains("windash"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].starts_with("f.yml:23:14:") && errors[1].contains("aggregation"),
        "{}",
        errors[1]
    );
    assert_eq!(set.rules().len(), 1);
    // Other logsources are noted, not loaded.
    let win = "title: w\nlogsource: {product: windows, category: process_creation}\ndetection:\n  s: {Image: x}\n  condition: s\n";
    let (set, diags) = RuleSet::compile(
        &[Source {
            name: "w.yml",
            text: win,
        }],
        &kubevigil_detect::audit::sigma_options(),
    );
    assert_eq!(set.rules().len(), 0);
    assert_eq!(diags[0].level, DiagLevel::Note);
    // YAML syntax errors carry the line.
    let (_, diags) = RuleSet::compile(
        &[Source {
            name: "y.yml",
            text: "title: x\ndetection: [a,\n",
        }],
        &kubevigil_detect::audit::sigma_options(),
    );
    assert!(diags[0].to_string().starts_with("y.yml:"), "{}", diags[0]);
}

#[test]
fn dispatch_indexes_rules_by_resource_and_verb() {
    let text = "title: a\nid: a\nlogsource: {product: kubernetes, service: audit}\ndetection:\n  s: {objectRef.resource: secrets, verb: get}\n  condition: s\n---\ntitle: b\nid: b\nlogsource: {product: kubernetes, service: audit}\ndetection:\n  s: {verb: [delete, deletecollection]}\n  condition: s\n---\ntitle: c\nid: c\nlogsource: {product: kubernetes, service: audit}\ndetection:\n  s: {userAgent|contains: hunter}\n  condition: s\n";
    let (set, _) = RuleSet::compile(
        &[Source {
            name: "f.yml",
            text,
        }],
        &kubevigil_detect::audit::sigma_options(),
    );
    assert_eq!(set.undispatched(), 1);
    let set = Arc::new(set);
    let mut engine: Engine<()> = Engine::new(set);
    let mut out = Vec::new();
    engine
        .process_json(
            br#"{"verb":"list","objectRef":{"resource":"pods"}}"#,
            &mut || (),
            &mut out,
        )
        .unwrap();
    // Only the undispatched rule was evaluated.
    assert_eq!(engine.stats().rule_evaluations, 1);
    engine
        .process_json(
            br#"{"verb":"DELETE","objectRef":{"resource":"secrets"}}"#,
            &mut || (),
            &mut out,
        )
        .unwrap();
    // Rule a is indexed under (secrets, get): a delete of secrets does not evaluate it.
    assert_eq!(engine.stats().rule_evaluations, 1 + 2);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].rule.title, "b");
}

#[test]
fn a_request_recorded_at_several_stages_matches_once() {
    let set = Arc::new(compile(&rule("  sel:\n    verb: create\n  condition: sel")));
    let mut engine: Engine<()> = Engine::new(set);
    let mut out = Vec::new();
    for stage in ["RequestReceived", "ResponseStarted", "ResponseComplete"] {
        let ev = json!({"auditID": "a-1", "stage": stage, "verb": "create"});
        engine
            .process_json(ev.to_string().as_bytes(), &mut || (), &mut out)
            .unwrap();
    }
    engine
        .process_json(
            json!({"auditID": "a-2", "verb": "create"})
                .to_string()
                .as_bytes(),
            &mut || (),
            &mut out,
        )
        .unwrap();
    assert_eq!(out.len(), 2);
}

fn corr_set(correlation: &str, max_groups: usize) -> Arc<RuleSet> {
    let text = format!(
        "title: a\nid: a-1\nname: rule_a\nlogsource: {{product: kubernetes, service: audit}}\ndetection:\n  s: {{verb: get}}\n  condition: s\n---\n\
         title: b\nid: b-1\nname: rule_b\nlogsource: {{product: kubernetes, service: audit}}\ndetection:\n  s: {{verb: delete}}\n  condition: s\n---\n\
         title: corr\nid: c-1\ncorrelation:\n{correlation}\nlevel: high\n"
    );
    let mut options = kubevigil_detect::audit::sigma_options();
    options.max_groups = max_groups;
    let (set, diags) = RuleSet::compile(
        &[Source {
            name: "c.yml",
            text: &text,
        }],
        &options,
    );
    assert!(diags.is_empty(), "{diags:?}");
    Arc::new(set)
}

fn run_corr(set: &Arc<RuleSet>, events: &[(&str, &str, u32, &str)]) -> (Vec<u64>, Engine<()>) {
    let mut engine: Engine<()> = Engine::new(set.clone());
    let mut out = Vec::new();
    for (i, (verb, user, sec, res)) in events.iter().enumerate() {
        let ev = json!({"auditID": i.to_string(), "verb": verb, "user": {"username": user}, "objectRef": {"resource": res},
                        "stageTimestamp": format!("2024-05-01T10:{:02}:{:02}.000000Z", sec / 60, sec % 60)});
        engine
            .process_json(ev.to_string().as_bytes(), &mut || (), &mut out)
            .unwrap();
    }
    engine.flush(&mut out);
    (
        out.iter()
            .filter(|a| a.correlation)
            .map(|a| a.count)
            .collect(),
        engine,
    )
}

#[test]
fn upper_bounded_event_count_is_decided_when_the_window_closes() {
    let set = corr_set(
        "  type: event_count\n  rules: [rule_a]\n  group-by: [user.username]\n  timespan: 1m\n  condition: {gte: 2, lt: 4}",
        100,
    );
    // u1: 2 events in the window (fires), u2: 5 (too many), u3: 1 (too few).
    let evs = [
        ("get", "u1", 0, "p"),
        ("get", "u1", 10, "p"),
        ("get", "u2", 0, "p"),
        ("get", "u2", 1, "p"),
        ("get", "u2", 2, "p"),
        ("get", "u2", 3, "p"),
        ("get", "u2", 4, "p"),
        ("get", "u3", 5, "p"),
    ];
    assert_eq!(run_corr(&set, &evs).0, vec![2]);
    let set = corr_set(
        "  type: event_count\n  rules: [rule_a]\n  group-by: [user.username]\n  timespan: 1m\n  condition: {eq: 1}",
        100,
    );
    // A window closes when a later event of the group arrives after it.
    let (counts, _) = run_corr(&set, &[("get", "u1", 0, "p"), ("get", "u1", 90, "p")]);
    assert_eq!(counts, vec![1, 1]);
}

#[test]
fn value_count_counts_distinct_values() {
    let set = corr_set(
        "  type: value_count\n  rules: [rule_a]\n  group-by: [user.username]\n  timespan: 1m\n  condition: {field: objectRef.resource, gte: 3}",
        100,
    );
    let same = [
        ("get", "u", 0, "pods"),
        ("get", "u", 1, "pods"),
        ("get", "u", 2, "pods"),
        ("get", "u", 3, "pods"),
    ];
    assert!(run_corr(&set, &same).0.is_empty());
    let distinct = [
        ("get", "u", 0, "pods"),
        ("get", "u", 1, "secrets"),
        ("get", "u", 2, "pods"),
        ("get", "u", 3, "nodes"),
    ];
    assert_eq!(run_corr(&set, &distinct).0, vec![3]);
    // Values older than the timespan no longer count.
    let slow = [
        ("get", "u", 0, "pods"),
        ("get", "u", 70, "secrets"),
        ("get", "u", 140, "nodes"),
    ];
    assert!(run_corr(&set, &slow).0.is_empty());
}

#[test]
fn temporal_and_temporal_ordered() {
    let t = corr_set(
        "  type: temporal\n  rules: [rule_a, rule_b]\n  group-by: [user.username]\n  timespan: 1m",
        100,
    );
    let o = corr_set(
        "  type: temporal_ordered\n  rules: [rule_a, rule_b]\n  group-by: [user.username]\n  timespan: 1m",
        100,
    );
    let b_then_a = [("delete", "u", 0, "p"), ("get", "u", 10, "p")];
    let a_then_b = [("get", "u", 0, "p"), ("delete", "u", 10, "p")];
    let other_user = [("get", "u", 0, "p"), ("delete", "v", 10, "p")];
    let too_late = [("get", "u", 0, "p"), ("delete", "u", 61, "p")];
    assert_eq!(run_corr(&t, &b_then_a).0.len(), 1);
    assert_eq!(run_corr(&t, &a_then_b).0.len(), 1);
    assert_eq!(run_corr(&o, &b_then_a).0.len(), 0);
    assert_eq!(run_corr(&o, &a_then_b).0.len(), 1);
    assert_eq!(run_corr(&o, &other_user).0.len(), 0);
    assert_eq!(run_corr(&o, &too_late).0.len(), 0);
}

#[test]
fn correlation_state_is_capped_and_evictions_are_counted() {
    let set = corr_set(
        "  type: event_count\n  rules: [rule_a]\n  group-by: [user.username]\n  timespan: 1h\n  condition: {gte: 5}",
        10,
    );
    let users: Vec<String> = (0..100).map(|i| format!("u{i}")).collect();
    let evs: Vec<(&str, &str, u32, &str)> =
        users.iter().map(|u| ("get", u.as_str(), 0, "p")).collect();
    let mut engine: Engine<()> = Engine::new(set);
    let mut out = Vec::new();
    for (i, (verb, user, _, _)) in evs.iter().enumerate() {
        let ev = json!({"auditID": i.to_string(), "verb": verb, "user": {"username": user}, "stageTimestamp": "2024-05-01T10:00:00Z"});
        engine
            .process_json(ev.to_string().as_bytes(), &mut || (), &mut out)
            .unwrap();
    }
    let stats = engine.stats().correlation;
    assert!(stats.groups <= 10, "{stats:?}");
    assert_eq!(stats.groups + stats.evicted, 100, "{stats:?}");
    // Idle groups expire once event time moves past their timespan.
    let late = json!({"auditID": "late", "verb": "get", "user": {"username": "x"}, "stageTimestamp": "2024-05-01T12:00:00Z"});
    engine
        .process_json(late.to_string().as_bytes(), &mut || (), &mut out)
        .unwrap();
    let stats = engine.stats().correlation;
    assert_eq!((stats.groups, stats.expired), (1, 10), "{stats:?}");
}

#[test]
fn events_without_a_group_by_field_are_not_counted() {
    let set = corr_set(
        "  type: event_count\n  rules: [rule_a]\n  group-by: [user.username]\n  timespan: 1m\n  condition: {gte: 3}",
        100,
    );
    let mut engine: Engine<()> = Engine::new(set);
    let mut out = Vec::new();
    for i in 0..10 {
        // Unauthenticated requests carry no username.
        let ev = json!({"auditID": i.to_string(), "verb": "get", "user": {}, "stageTimestamp": "2024-05-01T10:00:00Z"});
        engine
            .process_json(ev.to_string().as_bytes(), &mut || (), &mut out)
            .unwrap();
    }
    engine.flush(&mut out);
    assert!(out.is_empty());
}

/// Every string and value modifier against one table of values, each through a single pattern
/// and through a list of five (a list of more than three plain strings is matched by one
/// Aho-Corasick automaton, a different code path). Semantics from the Sigma specification
/// (sigma-specification, Sigma_specification.md, "Value Modifiers") and pySigma.
#[test]
fn modifier_semantics_table() {
    // (field modifiers, value, values that match, values that do not)
    #[allow(clippy::type_complexity)]
    let table: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "",
            "/exec",
            &["/exec", "/EXEC"],
            &["/api/exec", "/exec/x", "x/exec/y", ""],
        ),
        (
            "|contains",
            "/exec",
            &["/exec", "/api/exec", "/exec/x", "x/EXEC/y"],
            &["/exe", "exec", ""],
        ),
        (
            "|startswith",
            "/exec",
            &["/exec", "/exec/x", "/EXEC?c=1"],
            &["/api/exec", "x/exec/y", "/exe"],
        ),
        (
            "|endswith",
            "/exec",
            &["/exec", "/api/exec", "/pods/p/EXEC"],
            &["/exec/x", "x/exec/y", "/exec?c=1", "/exe"],
        ),
        (
            "|contains|cased",
            "/Exec",
            &["/api/Exec/x"],
            &["/api/exec/x", "/api/EXEC"],
        ),
        (
            "|startswith|cased",
            "/Exec",
            &["/Exec/x"],
            &["/exec/x", "/api/Exec"],
        ),
        (
            "|endswith|cased",
            "/Exec",
            &["/api/Exec"],
            &["/api/exec", "/Exec/x"],
        ),
        ("|cased", "/Exec", &["/Exec"], &["/exec", "/Exec/x"]),
        (
            "|re",
            "^/api/v[0-9]+/exec$",
            &["/api/v1/exec"],
            &["/api/v1/exec/x", "/API/v1/exec"],
        ),
        ("|re|i", "^/api/exec$", &["/API/Exec"], &["/api/exec/x"]),
    ];
    // Filler values that match none of the inputs above, to push lists past three values.
    let fillers = ["zz-none-1", "zz-none-2", "zz-none-3", "zz-none-4"];
    for (mods, value, yes, no) in table {
        for list in [false, true] {
            let values = if list {
                let mut v: Vec<String> = fillers.iter().map(|f| format!("'{f}'")).collect();
                v.insert(2, format!("'{value}'"));
                format!("[{}]", v.join(", "))
            } else {
                format!("'{value}'")
            };
            let detection = format!("  sel:\n    requestURI{mods}: {values}\n  condition: sel");
            let yes: Vec<_> = yes.iter().map(|v| json!({ "requestURI": v })).collect();
            let no: Vec<_> = no
                .iter()
                .map(|v| json!({ "requestURI": v }))
                .chain([json!({})])
                .collect();
            check(&detection, &yes, &no);
        }
    }
}

/// A correlation over rules for another logsource is for that logsource too: left out with a
/// note, as its rules are, not reported as an error (a rule directory holding rules for audit
/// logs and for pod logs loads cleanly for either). A correlation over a rule that does not
/// exist is still an error.
#[test]
fn a_correlation_over_rules_for_another_logsource_is_left_out_quietly() {
    let text = "title: a\nid: a-1\nname: rule_a\nlogsource: {product: kubernetes, service: pod-logs}\ndetection:\n  s: {message|contains: x}\n  condition: s\n---\n\
                title: corr\nid: c-1\ncorrelation:\n  type: event_count\n  rules: [rule_a]\n  group-by: [pod]\n  timespan: 5m\n  condition: {gte: 2}\nlevel: high\n---\n\
                title: typo\nid: c-2\ncorrelation:\n  type: event_count\n  rules: [rule_b]\n  group-by: [pod]\n  timespan: 5m\n  condition: {gte: 2}\nlevel: high\n";
    let (set, diags) = RuleSet::compile(
        &[Source {
            name: "c.yml",
            text,
        }],
        &kubevigil_detect::audit::sigma_options(),
    );
    assert!(set.rules().is_empty());
    let errors: Vec<&str> = diags
        .iter()
        .filter(|d| d.level == DiagLevel::Error)
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(errors.len(), 1, "{diags:?}");
    assert!(
        errors[0].contains("unknown or skipped rule `rule_b`"),
        "{errors:?}"
    );
    assert!(
        diags.iter().any(|d| d.level == DiagLevel::Note
            && d.message.contains("for another logsource")
            && d.message.contains("corr")),
        "{diags:?}"
    );
}
