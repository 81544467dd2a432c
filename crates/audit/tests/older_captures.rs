//! Older captures: a pretty-printed v1beta1 EventList (legacy `timestamp`, no top-level
//! stageTimestamp on some events) and JSON lines without apiVersion/kind.

use kubevigil_audit::{EventReader, input};

fn read(path: &str) -> Vec<(u64, String, String, Option<i64>)> {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    let mut r = EventReader::new(path, input::open(full.as_ref()).unwrap());
    let mut out = Vec::new();
    while let Some(item) = r.next_event() {
        let (raw, ev) = item.unwrap();
        out.push((
            raw.line,
            ev.audit_id().to_string(),
            ev.verb().to_string(),
            ev.time_micros(),
        ));
    }
    assert_eq!(r.stats().skipped, 0);
    out
}

#[test]
fn v1beta1_event_list() {
    let events = read("examples/audit/v1beta1-eventlist.json");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].0, 6);
    assert_eq!(events[0].2, "list");
    // stageTimestamp wins over the legacy timestamp when both are present...
    assert_eq!(events[0].3, Some(1_551_694_272_350_000));
    // ...and the legacy timestamp is used when it is the only one.
    assert_eq!(events[1].2, "create");
    assert_eq!(events[1].3, Some(1_551_694_273_000_000));
}

#[test]
fn events_without_api_version_or_kind() {
    let events = read("examples/audit/legacy-no-apiversion.log");
    assert_eq!(
        events.iter().map(|e| e.2.as_str()).collect::<Vec<_>>(),
        ["get", "get"]
    );
    assert_eq!(events[1].3, Some(1_504_252_801_000_000));
}
