//! Positions across document markers: `---` starts a document, `...` ends one (YAML 1.2.2
//! §9.1.4, "document end marker"); every object and every error keeps its line in the file.

use kubevigil_model::load::{LoadOptions, Loaded, load_text_into};
use kubevigil_model::{DiagLevel, FieldPath};

fn load(text: &str) -> Loaded {
    let mut loaded = Loaded::default();
    load_text_into("t.yaml", text, &LoadOptions::default(), &mut loaded);
    loaded
}

/// `(object name, line of the object, line of metadata.name)` for each object in order.
fn positions(l: &Loaded) -> Vec<(String, u32, u32)> {
    l.inventory
        .objects
        .iter()
        .map(|o| {
            let name = o.pos_of(&FieldPath::parse_keys("metadata.name"));
            (o.name.clone(), o.source.file().unwrap().line, name.line)
        })
        .collect()
}

#[test]
fn lines_after_document_end_markers() {
    // (stream, expected positions, expected line of the one error, if any)
    #[allow(clippy::type_complexity)]
    let table: &[(&str, &[(&str, u32, u32)], Option<u32>)] = &[
        (
            // `...` then a bare document (no `---`).
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n...\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
            &[("a", 1, 3), ("b", 5, 8)],
            None,
        ),
        (
            // `...` followed by `---`, twice, and a comment between.
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n...\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n...\n# between\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
            &[("a", 1, 4), ("b", 7, 9), ("c", 13, 16)],
            None,
        ),
        (
            // Leading `---`, `...` at the very end.
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n...\n",
            &[("a", 2, 4)],
            None,
        ),
        (
            // An error in the document after `...`, then a good one.
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n...\nkey: [unclosed\nother: 1\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
            &[("a", 1, 3), ("b", 8, 11)],
            Some(5),
        ),
    ];
    for (text, want, error) in table {
        for crlf in [false, true] {
            let text = if crlf {
                text.replace('\n', "\r\n")
            } else {
                text.to_string()
            };
            let l = load(&text);
            let got = positions(&l);
            let want: Vec<(String, u32, u32)> = want
                .iter()
                .map(|(n, a, b)| (n.to_string(), *a, *b))
                .collect();
            assert_eq!(got, want, "crlf={crlf}\n{text}");
            let errors: Vec<_> = l
                .diagnostics
                .iter()
                .filter(|d| d.level == DiagLevel::Error)
                .collect();
            match error {
                None => assert!(errors.is_empty(), "{errors:?}"),
                Some(line) => {
                    assert_eq!(errors.len(), 1, "{errors:?}");
                    // The parser reports an unclosed `[` where it detects it: from its line up
                    // to the end of that document (line 6), never in another document.
                    assert!(
                        (*line..=6).contains(&errors[0].line),
                        "crlf={crlf}: {}",
                        errors[0]
                    );
                }
            }
        }
    }
}
