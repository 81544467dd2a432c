//! Documents that kubectl (go-yaml v2 through sigs.k8s.io/yaml, or encoding/json for a stream
//! that starts with `{`) accepts and that the loader once refused: each must load to the value
//! kubectl reads, with field positions.

use kubevigil_model::load::{LoadOptions, Loaded, load_text_into};
use kubevigil_model::{FieldPath, Pos};
use serde_json::{Value, json};

fn load(text: &str) -> Loaded {
    let mut loaded = Loaded::default();
    load_text_into("t.yaml", text, &LoadOptions::default(), &mut loaded);
    assert!(
        loaded.diagnostics.is_empty(),
        "{text:?}: {:?}",
        loaded.diagnostics
    );
    loaded
}

/// `text` is a Pod whose `spec` is given; returns the loaded spec.
fn spec_of(spec_yaml: &str) -> Value {
    let text = format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n{spec_yaml}");
    let loaded = load(&text);
    assert_eq!(loaded.inventory.objects.len(), 1, "{text}");
    loaded.inventory.objects[0].value["spec"].clone()
}

#[test]
fn refusals_listed_in_issue_13_load_as_kubectl_reads_them() {
    let cases = [
        // A flow sequence closed at the key's indentation after a quoted item.
        (
            "  containers:\n  - name: c\n    image: i\n    args: [\n      \"--v=2\",\n    ]\n",
            json!({"containers": [{"name": "c", "image": "i", "args": ["--v=2"]}]}),
        ),
        // A multi-line quoted scalar continued at the key's indentation.
        (
            "  hostname: \"multi\n  line\"\n",
            json!({"hostname": "multi line"}),
        ),
        // `key:<TAB>value`.
        ("  hostname:\tweb\n", json!({"hostname": "web"})),
        // A flow sequence continued on the next line inside a block sequence item.
        (
            "  containers:\n  - ports: [1,\n      2]\n",
            json!({"containers": [{"ports": [1, 2]}]}),
        ),
        // An empty flow sequence closed at the key's indentation.
        ("  volumes: [\n  ]\n", json!({"volumes": []})),
    ];
    for (spec, want) in cases {
        assert_eq!(spec_of(spec), want, "{spec:?}");
    }
    // The same at the top level, the shapes the issue lists.
    let top = [
        ("args: [\n  \"x\",\n]\n", json!({"args": ["x"]})),
        ("a: [\n]\n", json!({"a": []})),
        (
            "a: \"multi\n  line\ncont\"\n",
            json!({"a": "multi line cont"}),
        ),
    ];
    for (doc, want) in top {
        let (value, _) = kubevigil_model::yaml::parse_document(doc, 0, Default::default())
            .unwrap()
            .unwrap();
        assert_eq!(value, want, "{doc:?}");
    }
}

#[test]
fn json_lone_surrogate_escape_reads_as_replacement_character() {
    // encoding/json reads an unpaired surrogate escape as U+FFFD; a valid pair is one character.
    let text = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},\n \"data\":{\"a\":\"x\\ud83dy\",\"c\":\"\\\\ud83d\",\"d\":\"\\udc00\\ud83d\"}}\n{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"e\"},\"data\":{\"b\":\"\\ud83d\\ude00\"}}\n";
    let loaded = load(text);
    let data = &loaded.inventory.objects[0].value["data"];
    assert_eq!(
        data,
        &json!({"a": "x\u{fffd}y", "c": "\\ud83d", "d": "\u{fffd}\u{fffd}"})
    );
    // Positions are kept: `data.d` is on line 2.
    let o = &loaded.inventory.objects[0];
    let pos = o.spans.pos_of(&o.value, &FieldPath::parse_keys("data.d"));
    assert_eq!(pos.line, 2);
    // A valid pair is one character (YAML has no surrogate escapes, so this document is read by
    // the JSON parser, without field positions).
    assert_eq!(loaded.inventory.objects[1].value["data"]["b"], "\u{1f600}");
}

#[test]
fn block_scalar_at_the_end_of_input_without_line_break() {
    // A document whose last line has no line break, ending inside a block scalar (common in
    // real files): the scalar keeps no trailing line break, as go-yaml reads it.
    let loaded =
        load("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: |\n    x\n    y");
    assert_eq!(loaded.inventory.objects[0].value["data"]["a"], "x\ny");
}

#[test]
fn positions_ignore_unicode_line_separators() {
    // libyaml breaks lines at U+2028; editors and every other position here do not.
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: \"x\u{2028}y\"\n  b: z\n";
    let loaded = load(text);
    let o = &loaded.inventory.objects[0];
    let pos = o.spans.pos_of(&o.value, &FieldPath::parse_keys("data.b"));
    assert_eq!(pos, Pos { line: 7, col: 3 });
}
