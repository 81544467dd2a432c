//! `POST /audit` bodies: the `EventList`s kube-apiserver's audit webhook backend sends
//! (k8s.io/apiserver plugin/pkg/audit/webhook: one `audit.k8s.io/v1` `EventList` per batch,
//! `--audit-webhook-batch-max-size` events, 400 by default).
//!
//! A body that is not an `EventList` is refused whole (400: the API server does not retry a
//! client error, and retrying would not help). An item that is not an audit event (the same
//! judgement as every audit command: `kubevigil_audit::Event::parse`) is rejected alone and
//! counted, and the rest of the batch is kept: one bad event must not cost the others.

use serde::Deserialize;
use serde_json::value::RawValue;

/// Why a body is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IntakeError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not an audit EventList: {0}")]
    NotEventList(String),
}

/// The events of a body, each one line of compact JSON, and the items rejected.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<Vec<u8>>,
    /// `items[i]: reason`, for the log and the counters.
    pub rejected: Vec<String>,
}

/// The largest value a body of Falco alerts or Hubble flows may hold: the offline readers'
/// line limit. A larger one is left out unparsed (a parsed tree takes several times its text).
pub const MAX_ITEM_BYTES: usize = 1 << 20;

/// Reads a body of JSON values, one after the other (JSON lines) or in JSON arrays: each
/// made a spool line by `make`, or left out with why (`WHAT N: reason`). Values are taken as
/// text first, so that one over [`MAX_ITEM_BYTES`] is never parsed. Broken JSON ends the body
/// there (no way to find the next value). `Err` when no value was made: the body is refused.
pub fn read_values(
    body: &[u8],
    what: &str,
    mut make: impl FnMut(&serde_json::Value) -> Result<Vec<u8>, String>,
) -> Result<Batch, String> {
    let mut batch = Batch::default();
    let mut i = 0usize;
    let mut each = |raw: &RawValue, batch: &mut Batch| {
        let made = if raw.get().len() > MAX_ITEM_BYTES {
            Err(format!(
                "{} bytes, more than {} MiB: not read",
                raw.get().len(),
                MAX_ITEM_BYTES >> 20
            ))
        } else {
            serde_json::from_str(raw.get())
                .map_err(|e| format!("invalid JSON: {e}"))
                .and_then(|v| make(&v))
        };
        match made {
            Ok(line) => batch.events.push(line),
            Err(e) => batch.rejected.push(format!("{what} {i}: {e}")),
        }
        i += 1;
    };
    for value in serde_json::Deserializer::from_slice(body).into_iter::<&RawValue>() {
        match value {
            Ok(raw) if raw.get().starts_with('[') => {
                match serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
                    Ok(items) => items.into_iter().for_each(|r| each(r, &mut batch)),
                    Err(e) => batch.rejected.push(format!("invalid JSON: {e}")),
                }
            }
            Ok(raw) => each(raw, &mut batch),
            Err(e) => {
                batch.rejected.push(format!("invalid JSON: {e}"));
                break;
            }
        }
    }
    if batch.events.is_empty() {
        return Err(batch
            .rejected
            .first()
            .cloned()
            .unwrap_or_else(|| format!("no {what} in the body")));
    }
    Ok(batch)
}

#[derive(Deserialize)]
struct EventList<'a> {
    kind: Option<&'a str>,
    #[serde(borrow)]
    items: Option<Vec<&'a RawValue>>,
}

/// Reads an `EventList` body.
pub fn read_event_list(body: &[u8]) -> Result<Batch, IntakeError> {
    let list: EventList = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            IntakeError::NotEventList(e.to_string())
        } else {
            IntakeError::NotJson(e.to_string())
        }
    })?;
    if list.kind != Some("EventList") {
        return Err(IntakeError::NotEventList(match list.kind {
            Some(k) => format!("kind is {k:?}"),
            None => "no kind".into(),
        }));
    }
    let items = list
        .items
        .ok_or_else(|| IntakeError::NotEventList("no items".into()))?;
    let mut batch = Batch {
        events: Vec::with_capacity(items.len()),
        rejected: Vec::new(),
    };
    for (i, item) in items.into_iter().enumerate() {
        let text = item.get().as_bytes();
        if let Err(e) = kubevigil_audit::Event::parse(text) {
            batch.rejected.push(format!("items[{i}]: {e}"));
            continue;
        }
        // One line per event in the spool: an item sent with line breaks is written compact.
        let line = if text.iter().any(|&b| b == b'\n' || b == b'\r') {
            match serde_json::from_slice::<serde_json::Value>(text) {
                Ok(v) => serde_json::to_vec(&v).expect("a value serialises"),
                Err(e) => {
                    batch.rejected.push(format!("items[{i}]: {e}"));
                    continue;
                }
            }
        } else {
            text.to_vec()
        };
        batch.events.push(line);
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods","verb":"list","user":{"username":"alice"}}"#;

    #[test]
    fn event_lists_are_split_into_lines() {
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(EVENT).unwrap(),
        )
        .unwrap();
        let body = format!(
            r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{EVENT},{pretty},"not an event",{{"kind":"Event","verb":7}}]}}"#
        );
        let b = read_event_list(body.as_bytes()).unwrap();
        assert_eq!(b.events.len(), 2);
        assert_eq!(b.events[0], EVENT.as_bytes());
        assert!(!b.events[1].contains(&b'\n'));
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&b.events[1]).unwrap(),
            serde_json::from_str::<serde_json::Value>(EVENT).unwrap()
        );
        assert_eq!(b.rejected.len(), 2, "{:?}", b.rejected);
        assert!(b.rejected[0].starts_with("items[2]: "));
        assert!(b.rejected[1].starts_with("items[3]: "));
    }

    #[test]
    fn values_over_the_item_limit_are_left_out_unparsed() {
        let big = format!("{{\"x\": \"{}\"}}", "a".repeat(MAX_ITEM_BYTES));
        let body = format!("{big}\n[{{\"ok\": 1}}, {big}]");
        let mut parsed = 0;
        let b = read_values(body.as_bytes(), "item", |v| {
            parsed += 1;
            Ok(v.to_string().into_bytes())
        })
        .unwrap();
        assert_eq!(parsed, 1);
        assert_eq!(b.events, [b"{\"ok\":1}".to_vec()]);
        assert_eq!(b.rejected.len(), 2);
        assert!(b.rejected[0].starts_with("item 0: ") && b.rejected[0].contains("not read"));
        assert!(b.rejected[1].starts_with("item 2: "));
    }

    #[test]
    fn bodies_that_are_not_event_lists_are_refused() {
        for (body, json) in [
            ("", false),
            ("{\"kind\":\"EventList\",\"items\":[", false),
            ("[]", true),
            ("{\"kind\":\"Event\",\"items\":[]}", true),
            ("{\"items\":[]}", true),
            ("{\"kind\":\"EventList\"}", true),
            ("{\"kind\":\"EventList\",\"items\":{}}", true),
        ] {
            let e = read_event_list(body.as_bytes()).unwrap_err();
            assert_eq!(
                matches!(e, IntakeError::NotEventList(_)),
                json,
                "{body}: {e}"
            );
        }
        let empty = read_event_list(br#"{"kind":"EventList","items":[]}"#).unwrap();
        assert!(empty.events.is_empty() && empty.rejected.is_empty());
    }
}
