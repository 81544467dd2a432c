//! The guide's two policy snippets (examples/audit/guide-policy.yaml) evaluate as it describes.

use kubevigil_audit::checker::{Checker, RequestAttributes};
use kubevigil_audit::event::{Event, Level};
use kubevigil_audit::policy::load_policy;

fn level_of(checker: &Checker, event: &str) -> (Level, Option<usize>) {
    let ev = Event::parse(event.as_bytes()).unwrap();
    let d = checker.evaluate(&RequestAttributes::from_event(&ev));
    (d.level, d.rule)
}

#[test]
fn guide_snippets() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/audit/guide-policy.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let checker = Checker::new(load_policy(path, &text).unwrap().policy);
    let user = r#""user":{"username":"alice","groups":["system:authenticated"]}"#;

    // ConfigMap changes in namespace "sample": metadata and request body.
    for verb in ["create", "update", "patch", "delete"] {
        let ev = format!(
            r#"{{"verb":"{verb}",{user},"objectRef":{{"resource":"configmaps","namespace":"sample","name":"c"}}}}"#
        );
        assert_eq!(level_of(&checker, &ev), (Level::Request, Some(0)), "{verb}");
    }
    // As written the rule has no `verbs`, so reads in "sample" are recorded at Request too.
    let get = format!(
        r#"{{"verb":"get",{user},"objectRef":{{"resource":"configmaps","namespace":"sample","name":"c"}}}}"#
    );
    assert_eq!(level_of(&checker, &get).0, Level::Request);
    // Other namespaces and other resources fall through to the catch-all.
    let other = format!(
        r#"{{"verb":"update",{user},"objectRef":{{"resource":"configmaps","namespace":"prod","name":"c"}}}}"#
    );
    assert_eq!(level_of(&checker, &other), (Level::Metadata, Some(2)));
    let secret = format!(
        r#"{{"verb":"update",{user},"objectRef":{{"resource":"secrets","namespace":"sample","name":"c"}}}}"#
    );
    assert_eq!(level_of(&checker, &secret), (Level::Metadata, Some(2)));

    // Authenticated requests to /health and /api/example/* are not logged at all.
    for uri in ["/health", "/api/example/", "/api/example/a/b?watch=1"] {
        let ev = format!(r#"{{"verb":"get",{user},"requestURI":"{uri}"}}"#);
        assert_eq!(level_of(&checker, &ev), (Level::None, Some(1)), "{uri}");
    }
    // `/health` is an exact match: `/healthz` and `/api/example` (no slash) are logged.
    for uri in ["/healthz", "/api/example"] {
        let ev = format!(r#"{{"verb":"get",{user},"requestURI":"{uri}"}}"#);
        assert_eq!(level_of(&checker, &ev).0, Level::Metadata, "{uri}");
    }
    // Unauthenticated (or not system:authenticated) requests to /health are still logged.
    let anon = r#"{"verb":"get","user":{"username":"system:anonymous","groups":["system:unauthenticated"]},"requestURI":"/health"}"#;
    assert_eq!(level_of(&checker, anon).0, Level::Metadata);
}
