//! Sigma value semantics the other engine tests do not pin down, each found by cargo-mutants
//! (issue 11): Unicode case folding on both matching paths, case-sensitive lists through the
//! alternative automaton, which rules the dispatch index may skip, and rule severities.
//!
//! Specification: SigmaHQ `specification/sigma-rules-specification.md` (v2.0.0), "Value
//! modifiers" and "String Wildcard"/"Escape Character"; and
//! `specification/sigma-appendix-modifiers.md` (v2.1.0). Strings match case-insensitively
//! unless `|cased` is given; a list of values is an OR of them.

use std::sync::Arc;

use kubevigil_sigma::{DiagLevel, Engine, Level, RuleMeta, RuleSet, Source};
use serde_json::{Value, json};

fn compile(text: &str) -> RuleSet {
    let (set, diags) = RuleSet::compile(
        &[Source {
            name: "t.yml",
            text,
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

fn alerts(set: &Arc<RuleSet>, ev: &Value) -> usize {
    let mut engine: Engine<()> = Engine::new(set.clone());
    let mut out = Vec::new();
    engine
        .process_json(ev.to_string().as_bytes(), &mut || (), &mut out)
        .unwrap();
    let mut by_value = Vec::new();
    Engine::<()>::new(set.clone()).process_value(ev, &mut || (), &mut by_value);
    assert_eq!(out.len(), by_value.len(), "scanner and value paths on {ev}");
    out.len()
}

/// One `field: value` selection on `field`, checked on values that must and must not match.
fn check(field_mods: &str, values: &str, yes: &[&str], no: &[&str]) {
    let detection = format!("  sel:\n    {field_mods}: {values}\n  condition: sel");
    let set = Arc::new(compile(&rule(&detection)));
    let field = field_mods.split('|').next().unwrap();
    let event = |v: &str| {
        let mut ev = json!({});
        let mut node = &mut ev;
        let parts: Vec<&str> = field.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            node = node
                .as_object_mut()
                .unwrap()
                .entry(*p)
                .or_insert_with(|| json!({}));
        }
        node[parts[parts.len() - 1]] = json!(v);
        ev
    };
    for v in yes {
        assert_eq!(
            alerts(&set, &event(v)),
            1,
            "{detection}\nshould match {v:?}"
        );
    }
    for v in no {
        assert_eq!(
            alerts(&set, &event(v)),
            0,
            "{detection}\nshould not match {v:?}"
        );
    }
}

/// Four fillers push a list past three values, where plain strings go through one automaton.
const FILLERS: [&str; 4] = ["zz-none-1", "zz-none-2", "zz-none-3", "zz-none-4"];

fn list_with(value: &str) -> String {
    let mut v: Vec<String> = FILLERS.iter().map(|f| format!("'{f}'")).collect();
    v.insert(1, format!("'{value}'"));
    format!("[{}]", v.join(", "))
}

/// Case-insensitive matching folds with Unicode lowercasing, also when the pattern is ASCII
/// and only the value is not: U+212A KELVIN SIGN lowercases to ASCII `k`, so
/// "\u{212A}UBECTL" is "kubectl" case-insensitively (a homoglyph does not evade the rule).
/// `|cased` compares exactly, non-ASCII included.
#[test]
fn case_folding_is_unicode_lowercasing_and_cased_is_exact() {
    let kelvin = "\u{212A}UBECTL";
    for (mods, value) in [
        ("", "kubectl"),
        ("|startswith", "kube"),
        ("|endswith", "ctl"),
        ("|contains", "bec"),
    ] {
        check(
            &format!("userAgent{mods}"),
            &format!("'{value}'"),
            &[kelvin],
            &[],
        );
        check(
            &format!("userAgent{mods}"),
            &list_with(value),
            &[kelvin],
            &[],
        );
    }
    for (mods, value, yes, no) in [
        ("|cased", "Ärger", "Ärger", "ärger"),
        ("|contains|cased", "Ärger", "x Ärger y", "x ärger y"),
        ("|startswith|cased", "Ärger", "Ärger y", "ärger y"),
        ("|endswith|cased", "Ärger", "x Ärger", "x ärger"),
    ] {
        check(
            &format!("userAgent{mods}"),
            &format!("'{value}'"),
            &[yes],
            &[no],
        );
        // In a long list too: the automaton folds ASCII only, so a case-sensitive non-ASCII
        // value must not be lowercased on its way there.
        check(
            &format!("userAgent{mods}"),
            &list_with(value),
            &[yes],
            &[no],
        );
    }
    // Case-insensitive non-ASCII: the value is lowercased, the pattern too.
    check(
        "userAgent",
        &list_with("Ärger"),
        &["ÄRGER", "ärger"],
        &["arger"],
    );
}

fn dispatch_set(detection: &str) -> Arc<RuleSet> {
    Arc::new(compile(&format!(
        "title: d\nid: d-1\nlogsource: {{product: kubernetes, service: audit}}\ndetection:\n{detection}\n"
    )))
}

/// A rule is indexed by `verb` only when every alternative is an exact, case-insensitive value
/// (then an event with another verb cannot match it). A long list of exact verbs is indexed;
/// a list with a wildcard or a `|cased` list is not, and must still match the events the
/// wildcard or case-sensitive value accepts.
#[test]
fn only_exact_case_insensitive_lists_are_indexed_by_verb() {
    let set = dispatch_set("  s: {verb: [get, list, watch, create]}\n  condition: s");
    assert_eq!(set.undispatched(), 0);
    let mut engine: Engine<()> = Engine::new(set.clone());
    let mut out = Vec::new();
    engine
        .process_json(br#"{"verb":"delete"}"#, &mut || (), &mut out)
        .unwrap();
    assert_eq!(engine.stats().rule_evaluations, 0);
    assert_eq!(alerts(&set, &json!({"verb": "WATCH"})), 1);

    for (values, event) in [
        ("[get, list, watch, '*eat*']", "create"),
        ("[get, list, watch, 'cre*']", "create"),
        ("[get, list, watch, '*ete']", "delete"),
    ] {
        let set = dispatch_set(&format!("  s: {{verb: {values}}}\n  condition: s"));
        assert_eq!(set.undispatched(), 1, "{values}");
        assert_eq!(
            alerts(&set, &json!({"verb": event})),
            1,
            "{values} on {event}"
        );
        assert_eq!(alerts(&set, &json!({"verb": "get"})), 1, "{values} on get");
        assert_eq!(
            alerts(&set, &json!({"verb": "patch"})),
            0,
            "{values} on patch"
        );
    }
    // Integral numbers are indexed by their decimal text; other numbers are not index keys
    // (1.5 is not "1").
    let set = dispatch_set("  s: {verb: 7}\n  condition: s");
    assert_eq!(set.undispatched(), 0);
    assert_eq!(alerts(&set, &json!({"verb": "7"})), 1);
    let set = dispatch_set("  s: {verb: 1.5}\n  condition: s");
    assert_eq!(set.undispatched(), 1);
    assert_eq!(alerts(&set, &json!({"verb": "1.5"})), 1);
    assert_eq!(alerts(&set, &json!({"verb": "1"})), 0);
    // From 1e15 on numbers are not index keys either (the bound keeps them far below 2^53,
    // where an f64 stops holding every integer).
    let set = dispatch_set("  s: {verb: 1000000000000000}\n  condition: s");
    assert_eq!(set.undispatched(), 1);
    assert_eq!(alerts(&set, &json!({"verb": "1000000000000000"})), 1);
    let set = dispatch_set("  s: {verb: 999999999999999}\n  condition: s");
    assert_eq!(set.undispatched(), 0);
    assert_eq!(alerts(&set, &json!({"verb": "999999999999999"})), 1);
    let set = dispatch_set("  s: {verb|cased: [GET, LIST, WATCH, CREATE]}\n  condition: s");
    assert_eq!(set.undispatched(), 1);
    assert_eq!(alerts(&set, &json!({"verb": "GET"})), 1);
    assert_eq!(alerts(&set, &json!({"verb": "get"})), 0);
}

/// Sigma `level` values (rules specification, "Level") and the severity words kubevigil
/// prints for them; a rule without a level is reported as medium.
#[test]
fn levels_and_severities() {
    for (word, level, severity) in [
        ("informational", Level::Informational, "info"),
        ("low", Level::Low, "low"),
        ("medium", Level::Medium, "medium"),
        ("high", Level::High, "high"),
        ("critical", Level::Critical, "critical"),
    ] {
        assert_eq!(Level::parse(word), Some(level));
        assert_eq!(level.severity().as_str(), severity);
        let text = format!(
            "title: t\nid: t-1\nlogsource: {{product: kubernetes, service: audit}}\ndetection:\n  s: {{verb: get}}\n  condition: s\nlevel: {word}\n"
        );
        let set = compile(&text);
        assert_eq!(set.rules()[0].meta.severity().as_str(), severity);
    }
    assert_eq!(RuleMeta::default().severity().as_str(), "medium");
    let set = compile(
        "title: t\nlogsource: {product: kubernetes, service: audit}\ndetection:\n  s: {verb: get}\n  condition: s\n",
    );
    assert_eq!(set.rules()[0].meta.severity().as_str(), "medium");
}

/// A boolean value matches the JSON boolean and the string spelling of it, in any case
/// (annotations and labels carry booleans as strings, e.g. `"true"`), on both the scanner
/// path (unescaped strings) and the parsed-value path.
#[test]
fn booleans_match_their_string_spelling() {
    let set = Arc::new(compile(&rule(
        "  sel:\n    requestObject.metadata.annotations.x: true\n  condition: sel",
    )));
    let ev = |v: Value| json!({"requestObject": {"metadata": {"annotations": {"x": v}}}});
    for yes in [json!(true), json!("true"), json!("True"), json!("TRUE")] {
        assert_eq!(alerts(&set, &ev(yes.clone())), 1, "{yes}");
    }
    for no in [
        json!(false),
        json!("false"),
        json!("yes"),
        json!(1),
        json!(null),
    ] {
        assert_eq!(alerts(&set, &ev(no.clone())), 0, "{no}");
    }
    let set = Arc::new(compile(&rule(
        "  sel:\n    requestObject.metadata.annotations.x: false\n  condition: sel",
    )));
    for yes in [json!(false), json!("false"), json!("False")] {
        assert_eq!(alerts(&set, &ev(yes.clone())), 1, "{yes}");
    }
    for no in [json!(true), json!("true"), json!(0)] {
        assert_eq!(alerts(&set, &ev(no.clone())), 0, "{no}");
    }
}

/// `gt`, `gte`, `lt`, `lte` (modifiers appendix, "Numeric"): strict and inclusive bounds,
/// on numbers and on numeric strings.
#[test]
fn numeric_comparisons_at_the_bound() {
    for (m, below, at, above) in [
        ("gt", false, false, true),
        ("gte", false, true, true),
        ("lt", true, false, false),
        ("lte", true, true, false),
    ] {
        let set = Arc::new(compile(&rule(&format!(
            "  sel:\n    responseStatus.code|{m}: 400\n  condition: sel"
        ))));
        for (code, want) in [(399, below), (400, at), (401, above)] {
            for v in [json!(code), json!(code.to_string())] {
                let got = alerts(&set, &json!({"responseStatus": {"code": v}})) == 1;
                assert_eq!(got, want, "{m} 400 on {v}");
            }
        }
        assert_eq!(alerts(&set, &json!({"responseStatus": {"code": "x"}})), 0);
    }
}

/// `fieldref` (modifiers appendix): the field equals the value of the named field;
/// case-insensitively, or exactly with `cased`.
#[test]
fn fieldref_cased_compares_exactly() {
    let ev = |a: &str, b: &str| json!({"user": {"username": a}, "objectRef": {"name": b}});
    let set = Arc::new(compile(&rule(
        "  sel:\n    user.username|fieldref|cased: objectRef.name\n  condition: sel",
    )));
    assert_eq!(alerts(&set, &ev("bob", "bob")), 1);
    assert_eq!(alerts(&set, &ev("bob", "Bob")), 0);
    assert_eq!(alerts(&set, &ev("bob", "alice")), 0);
    assert_eq!(alerts(&set, &json!({"user": {"username": "bob"}})), 0);
    let set = Arc::new(compile(&rule(
        "  sel:\n    user.username|fieldref: objectRef.name\n  condition: sel",
    )));
    assert_eq!(alerts(&set, &ev("bob", "Bob")), 1);
    assert_eq!(alerts(&set, &ev("bob", "alice")), 0);
}

/// Sigma v1 `timeframe` inside `detection` is an aggregation window, not a selection: the rule
/// is rejected with a position instead of loading with a selection named "timeframe".
#[test]
fn detection_timeframe_is_rejected() {
    let text = "title: t\nid: t-1\nlogsource: {product: kubernetes, service: audit}\ndetection:\n  sel: {verb: get}\n  timeframe: 5m\n  condition: sel\n";
    let (set, diags) = RuleSet::compile(
        &[Source {
            name: "t.yml",
            text,
        }],
        &kubevigil_detect::audit::sigma_options(),
    );
    assert_eq!(set.rules().len(), 0);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].level, DiagLevel::Error);
    assert_eq!((diags[0].line, diags[0].col), (6, 3), "{}", diags[0]);
    assert!(diags[0].message.contains("timeframe"), "{}", diags[0]);
}

/// `condition` may be a list of conditions (the Sigma rule JSON schema allows a string or a
/// list of strings; pySigma turns each into its own query): the rule matches when any does.
#[test]
fn a_list_of_conditions_is_an_or() {
    let set = Arc::new(compile(&rule(
        "  a: {verb: get}\n  b: {verb: list}\n  condition:\n    - a\n    - b",
    )));
    assert_eq!(alerts(&set, &json!({"verb": "get"})), 1);
    assert_eq!(alerts(&set, &json!({"verb": "list"})), 1);
    assert_eq!(alerts(&set, &json!({"verb": "watch"})), 0);
}

fn errors(detection: &str) -> Vec<String> {
    let (set, diags) = RuleSet::compile(
        &[Source {
            name: "t.yml",
            text: &rule(detection),
        }],
        &kubevigil_detect::audit::sigma_options(),
    );
    assert_eq!(set.rules().len(), 0, "{detection}");
    diags
        .iter()
        .filter(|d| d.level == DiagLevel::Error)
        .map(|d| d.message.clone())
        .collect()
}

/// `i`, `m` and `s` are flags of the `re` modifier (modifiers appendix, "Regular expression
/// flags"); without `re` they are unknown modifiers and the rule is skipped.
#[test]
fn regex_flags_need_re() {
    for flag in ["i", "m", "s"] {
        let e = errors(&format!("  sel:\n    verb|{flag}: get\n  condition: sel"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains(&format!("unsupported value modifier `{flag}`")),
            "{e:?}"
        );
    }
}

/// `all` (modifiers appendix): every value must match (AND instead of OR), however many there
/// are; on a single value it is rejected (kubevigil: it would be a no-op, likely a mistake).
#[test]
fn all_links_every_value() {
    let set = Arc::new(compile(&rule(
        "  sel:\n    requestURI|contains|all: [exec, command=sh, stdin=true]\n  condition: sel",
    )));
    assert_eq!(
        alerts(&set, &json!({"requestURI": "/exec?command=sh&stdin=true"})),
        1
    );
    assert_eq!(alerts(&set, &json!({"requestURI": "/exec?command=sh"})), 0);
    let e = errors("  sel:\n    requestURI|contains|all: exec\n  condition: sel");
    assert!(e[0].contains("`all` needs a list"), "{e:?}");
    let e = errors("  sel:\n    requestURI|contains|all: [exec]\n  condition: sel");
    assert!(e[0].contains("`all` needs a list"), "{e:?}");
}

/// Long lists of plain strings run through one automaton; it must accept exactly what the
/// patterns one by one accept, case-sensitive (`cased`) or not, on ASCII and non-ASCII values
/// (a non-ASCII character must not switch a case-sensitive list to case-insensitive, or
/// hide an upper-case ASCII match).
#[test]
fn automaton_agrees_with_single_patterns() {
    use kubevigil_sigma::pattern::{MultiStr, StrPat, parse_sigma_string};
    let patterns = [
        "Evil", "*Evil", "Evil*", "*Evil*", "ab", "*ab", "ab*", "*ab*", "get", "*watch",
    ];
    let values = [
        "Evil",
        "evil",
        "EVIL",
        "Evil™",
        "evil™",
        "™Evil",
        "x Evil y",
        "x Evil™ y",
        "x evil™ y",
        "ab",
        "AB",
        "Ab™",
        "™aB",
        "\u{212A}ab",
        "get",
        "GET",
        "gét",
        "xwatch",
        "xWATCH™",
        "",
        "™",
        "E",
        "Evi",
    ];
    let mut compared = 0;
    for cased in [false, true] {
        for start in 0..patterns.len() {
            for len in 4..=6 {
                let pats: Vec<StrPat> = patterns
                    .iter()
                    .cycle()
                    .skip(start)
                    .take(len)
                    .map(|p| StrPat::new(&parse_sigma_string(p), cased))
                    .collect();
                let multi = MultiStr::build(&pats).expect("plain ASCII patterns");
                for v in values {
                    let want = pats.iter().any(|p| p.is_match(v));
                    assert_eq!(multi.is_match(v), want, "cased={cased} {v:?} {pats:?}");
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 2 * 10 * 3 * values.len());
    // Through a rule: a case-sensitive list still matches a value with non-ASCII text.
    check(
        "userAgent|contains|cased",
        &list_with("Evil"),
        &["x Evil™ y", "Evil"],
        &["x evil™ y", "EVIL"],
    );
    check(
        "userAgent|startswith|cased",
        &list_with("Evil"),
        &["Evil™"],
        &["evil™"],
    );
}

/// String modifiers make the value a string: `contains: 403` is a substring test, `base64`
/// encodes the text of a number, `cased: true` is the case-sensitive text "true" (not the
/// boolean, which matches any spelling).
#[test]
fn string_modifiers_turn_typed_values_into_text() {
    check(
        "responseStatus.message|contains",
        "403",
        &["denied 403 here", "403"],
        &["40 3"],
    );
    check(
        "responseStatus.message|startswith",
        "403",
        &["4031"],
        &["1403"],
    );
    check(
        "responseStatus.message|endswith",
        "403",
        &["1403"],
        &["4031"],
    );
    // base64("123") = "MTIz"
    check("requestObject.data.x|base64", "123", &["MTIz"], &["123"]);
    check(
        "requestObject.data.x|cased",
        "true",
        &["true"],
        &["TRUE", "True"],
    );
    check(
        "requestObject.data.x",
        "true",
        &["true", "TRUE", "True"],
        &["false"],
    );
}

/// Comparison bounds may be written as integers, floats or numeric strings; anything else
/// is an error.
#[test]
fn comparison_bounds_in_every_number_spelling() {
    for bound in ["399.5", "'399.5'", "' 399.5 '"] {
        let set = Arc::new(compile(&rule(&format!(
            "  sel:\n    responseStatus.code|gt: {bound}\n  condition: sel"
        ))));
        assert_eq!(alerts(&set, &json!({"responseStatus": {"code": 400}})), 1);
        assert_eq!(alerts(&set, &json!({"responseStatus": {"code": 399}})), 0);
    }
    for bound in ["x", "{a: 1}", "true", "null"] {
        let e = errors(&format!(
            "  sel:\n    responseStatus.code|gt: {bound}\n  condition: sel"
        ));
        assert!(e[0].contains("need a number"), "{bound}: {e:?}");
    }
}

/// A value is a scalar; a nested list or a map in value position is an error (rules
/// specification: a field's value is a value or a list of values).
#[test]
fn nested_values_are_rejected() {
    for value in ["[[get]]", "[{a: b}]", "{a: b}"] {
        let e = errors(&format!("  sel:\n    verb: {value}\n  condition: sel"));
        assert!(e[0].contains("nested lists or maps"), "{value}: {e:?}");
    }
}

/// Without a string modifier, YAML numbers, booleans and null keep their type: numbers
/// compare numerically (403 is 403.0), booleans match their spelling, null matches a null or
/// missing field. With one, the value is its text (a YAML null has none: the empty string).
#[test]
fn typed_values_with_and_without_string_modifiers() {
    check("x.code", "403", &["403", "403.0", " 403 "], &["4030"]);
    check("x.y", "1.5", &["1.5", "1.50", "15e-1"], &["1.6"]);
    check("x.y|contains", "1.5", &["v1.5.2"], &["1.6"]);
    check("x.y|startswith", "1.5", &["1.5.2"], &["v1.5", "1.6"]);
    let set = Arc::new(compile(&rule(
        "  sel:\n    x.y|cased: null\n  condition: sel",
    )));
    assert_eq!(alerts(&set, &json!({"x": {"y": ""}})), 1);
    assert_eq!(alerts(&set, &json!({"x": {"y": null}})), 0);
    assert_eq!(alerts(&set, &json!({"x": {}})), 0);
    let set = Arc::new(compile(&rule("  sel:\n    x.y: null\n  condition: sel")));
    assert_eq!(alerts(&set, &json!({"x": {"y": null}})), 1);
    assert_eq!(alerts(&set, &json!({"x": {}})), 1);
    assert_eq!(alerts(&set, &json!({"x": {"y": ""}})), 0);
}

/// `expand` (sigma-appendix-modifiers): a `%name%` value stands for the placeholder's list of
/// values, combined with the other modifiers; an empty list matches nothing (with `neq`:
/// any present value); an unknown placeholder or one inside a longer value skips the rule.
#[test]
fn expand_replaces_whole_value_placeholders() {
    let mut options = kubevigil_detect::audit::sigma_options();
    options.placeholders.push((
        "nets".into(),
        vec!["192.0.2.0/24".into(), "2001:db8::/32".into()],
    ));
    options.placeholders.push(("none".into(), Vec::new()));
    let compile_with = |det: &str| {
        let text = rule(det);
        let (set, diags) = RuleSet::compile(
            &[Source {
                name: "t.yml",
                text: &text,
            }],
            &options,
        );
        (Arc::new(set), diags)
    };
    let (set, diags) =
        compile_with("  sel:\n    sourceIPs|expand|cidr: '%nets%'\n  condition: sel");
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(alerts(&set, &json!({"sourceIPs": ["192.0.2.9"]})), 1);
    assert_eq!(
        alerts(&set, &json!({"sourceIPs": ["10.0.0.1", "2001:db8::5"]})),
        1
    );
    assert_eq!(alerts(&set, &json!({"sourceIPs": ["198.51.100.1"]})), 0);
    let (set, _) = compile_with(
        "  sel:\n    sourceIPs|expand|cidr: ['%none%', 198.51.100.0/24]\n  condition: sel",
    );
    assert_eq!(alerts(&set, &json!({"sourceIPs": ["198.51.100.1"]})), 1);
    let (set, _) = compile_with("  sel:\n    sourceIPs|expand|cidr: '%none%'\n  condition: sel");
    assert_eq!(alerts(&set, &json!({"sourceIPs": ["192.0.2.9"]})), 0);
    let (set, _) =
        compile_with("  sel:\n    sourceIPs|expand|cidr|neq: '%none%'\n  condition: sel");
    assert_eq!(alerts(&set, &json!({"sourceIPs": ["192.0.2.9"]})), 1);
    for bad in ["'%missing%'", "'a%nets%'"] {
        let (set, diags) = compile_with(&format!(
            "  sel:\n    sourceIPs|expand: {bad}\n  condition: sel"
        ));
        assert!(set.rules().is_empty(), "{bad}");
        assert!(
            diags
                .iter()
                .any(|d| d.level == DiagLevel::Error && d.line == 8),
            "{bad}: {diags:?}"
        );
    }
}
