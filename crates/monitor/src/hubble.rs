//! `POST /hubble`: Hubble's flows, as `hubble observe -o jsonpb` prints them or a log shipper
//! (Fluent Bit, Vector) forwards the flow exporter's lines: JSON lines, or JSON arrays of flows.
//!
//! Each flow is judged as `kubevigil hubble detect` judges one
//! ([`kubevigil_detect::hubble::normalise`]), and when the monitor watches a cluster, against the
//! NetworkPolicies it holds now ([`kubevigil_detect::hubble::Model`]: the model of the objects
//! as last published, built once per body), then spooled as one line; detection reads the Hubble
//! spool with the Hubble pack. A value that is not a flow is left out and counted; a body without
//! any flow is refused (400).

use kubevigil_detect::hubble::{Model, normalise};
use kubevigil_model::Store;

use crate::intake::{Batch, read_values};
use serde_json::Value;

/// The input name of spooled flows in messages.
pub const INPUT: &str = "hubble webhook";

/// Reads a body of flows ([`crate::intake::read_values`]), judged against `inventory`'s
/// NetworkPolicies when given. `Err` when the body holds no flow (its reason).
pub fn read_flows(body: &[u8], inventory: Option<&Store>) -> Result<Batch, String> {
    let mut model = inventory.map(|s| Model::new(s));
    read_values(body, "flow", |value| {
        let mut ev = normalise(value).map_err(|e| e.to_string())?;
        if let Some(m) = model.as_mut() {
            let judged = m.judge(&ev);
            ev.insert("model".into(), judged);
        }
        Ok(serde_json::to_vec(&Value::Object(ev)).expect("a value serialises"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubevigil_model::{Inventory, LoadOptions};
    use serde_json::json;

    fn flow(src: &str, dst: &str, port: u16) -> Value {
        let labels = |app: &str| match app {
            "web" => vec!["k8s:app=web", "k8s:tier=frontend"],
            "api" => vec!["k8s:app=api", "k8s:tier=backend"],
            _ => vec!["k8s:app=db", "k8s:data-classification=sensitive"],
        };
        let ep = |app: &str| json!({"namespace": "shop", "pod_name": format!("{app}-1"), "labels": labels(app)});
        json!({"flow": {"time": "2026-11-30T10:00:00Z", "verdict": "FORWARDED",
            "l4": {"TCP": {"destination_port": port, "flags": {"SYN": true}}},
            "source": ep(src), "destination": ep(dst)}})
    }

    #[test]
    fn flows_are_judged_against_the_watched_policies() {
        let hardened =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hardened");
        let inv: Inventory =
            kubevigil_model::load_paths(&[hardened], &LoadOptions::default()).inventory;
        let store = Store::from_inventory(inv);
        let body = format!(
            "{}\n[{}, {{\"kind\": \"Pod\"}}]",
            flow("web", "api", 8080),
            flow("web", "db", 5432)
        );
        let b = read_flows(body.as_bytes(), Some(&store)).unwrap();
        let verdicts: Vec<String> = b
            .events
            .iter()
            .map(|e| {
                serde_json::from_slice::<Value>(e).unwrap()["model"]["verdict"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(verdicts, ["allowed", "denied"]);
        assert_eq!(b.rejected.len(), 1, "{:?}", b.rejected);
        assert!(b.rejected[0].starts_with("flow 2: not a Hubble flow"));
        let plain = read_flows(flow("web", "db", 5432).to_string().as_bytes(), None).unwrap();
        let ev: Value = serde_json::from_slice(&plain.events[0]).unwrap();
        assert!(ev.get("model").is_none());
        for body in ["", "[]", "{\"kind\": \"Pod\"}", "{"] {
            assert!(read_flows(body.as_bytes(), None).is_err(), "{body}");
        }
    }
}
