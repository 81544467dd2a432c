//! `audit detect` relies on this: every event kubevigil-audit's reader accepts
//! (`Event::parse`), the engine's scanner projects too, whatever the nesting depth or the
//! byte-level damage elsewhere. Bounded in CI; more cases with `PROPTEST_CASES=N`.

use std::sync::{Arc, OnceLock};

use kubevigil_sigma::{Engine, RuleSet, pack};
use proptest::prelude::*;

const EVENT: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/d/secrets","verb":"create","user":{"username":"u","groups":["g"],"extra":{"k":["v"]}},"sourceIPs":["192.0.2.1"],"objectRef":{"resource":"secrets","namespace":"d","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestObject":{"kind":"Secret","data":{"password":"cA=="},"x":[1,2.5e3,true,null,"\u00e9\"]"]},"annotations":{"authorization.k8s.io/decision":"allow"},"requestReceivedTimestamp":"2024-05-01T10:00:00.000001Z","stageTimestamp":"2024-05-01T10:00:00.000002Z"}"#;

fn rules() -> Arc<RuleSet> {
    static SET: OnceLock<Arc<RuleSet>> = OnceLock::new();
    SET.get_or_init(|| {
        Arc::new(RuleSet::compile(&pack::sources(), &kubevigil_detect::audit::sigma_options()).0)
    })
    .clone()
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn engine_projects_every_accepted_event(
        edits in prop::collection::vec(
            (any::<prop::sample::Index>(), prop::sample::select(b"{}[]\":,\\ \nae0-.\x01\xff".to_vec()), 0u8..3),
            0..6,
        ),
        depth in prop::option::of(1usize..600),
    ) {
        let mut text = EVENT.as_bytes().to_vec();
        if let Some(n) = depth {
            let at = EVENT.find("\"x\":").unwrap() + 4;
            let deep = "[".repeat(n) + &"]".repeat(n);
            text.splice(at..at, deep.bytes().chain(*b","));
        }
        for (i, b, op) in edits {
            let i = i.index(text.len());
            match op {
                0 => text.insert(i, b),
                1 => { text.remove(i); }
                _ => text[i] = b,
            }
        }
        let mut engine: Engine<()> = Engine::new(rules());
        let accepted = kubevigil_audit::Event::parse(&text).is_ok();
        let projected = engine.process_json(&text, &mut || (), &mut Vec::new());
        if accepted {
            prop_assert!(projected.is_ok(), "{:?} on {}", projected, String::from_utf8_lossy(&text));
        }
    }
}
