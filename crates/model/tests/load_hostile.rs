//! Inputs that `kubectl apply -f` reads and that the loader must not skip, and inputs that must
//! not hang it (issue 10, defect 7).

use std::path::Path;
use std::time::Duration;

use kubevigil_model::load::{LoadOptions, Loaded, load_bytes_into, load_text_into};
use kubevigil_model::{DiagLevel, FieldPath, Pos, load_paths};

fn load(text: &str) -> Loaded {
    let mut loaded = Loaded::default();
    load_text_into("t.yaml", text, &LoadOptions::default(), &mut loaded);
    loaded
}

fn load_bytes(bytes: &[u8]) -> Loaded {
    let mut loaded = Loaded::default();
    load_bytes_into("t.yaml", bytes, &LoadOptions::default(), &mut loaded);
    loaded
}

fn names(l: &Loaded) -> Vec<&str> {
    l.inventory
        .objects
        .iter()
        .map(|o| o.name.as_str())
        .collect()
}

fn cm(name: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"k":"v"}}}}"#
    )
}

fn pos(l: &Loaded, object: usize, path: &str) -> Pos {
    l.inventory.objects[object].pos_of(&FieldPath::parse_keys(path))
}

#[test]
fn json_objects_one_after_the_other_are_all_loaded() {
    // kubectl's YAMLOrJSONDecoder reads a stream that starts with `{` as a JSON stream.
    let text = format!("{}{}\n  {}\n", cm("a"), cm("b"), cm("c"));
    let l = load(&text);
    assert_eq!(names(&l), ["a", "b", "c"], "{:?}", l.diagnostics);
    assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
    // Positions are those of the file, also for an object that starts in the middle of a line
    // (an object's position is that of its first key).
    let width = cm("a").len() as u32;
    assert_eq!(l.inventory.objects[1].source.file().unwrap().line, 1);
    assert_eq!(l.inventory.objects[1].source.file().unwrap().col, width + 2);
    let name_at = cm("b").find("\"name\"").unwrap() as u32;
    assert_eq!(
        pos(&l, 1, "metadata.name"),
        Pos {
            line: 1,
            col: width + name_at + 1
        }
    );
    assert_eq!(
        pos(&l, 2, "data.k"),
        Pos {
            line: 2,
            col: 3 + cm("c").find("\"k\"").unwrap() as u32
        }
    );
}

#[test]
fn json_stream_then_yaml_documents() {
    // After the last JSON object, the rest of the stream is read as YAML (apimachinery >= 1.33).
    let text = format!(
        "{}\n{}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        cm("a"),
        cm("b")
    );
    let l = load(&text);
    assert_eq!(names(&l), ["a", "b", "c"], "{:?}", l.diagnostics);
    assert_eq!(pos(&l, 2, "metadata.name"), Pos { line: 7, col: 3 });
}

#[test]
fn broken_json_after_good_objects_is_located() {
    let text = format!(
        "{}\n{}\n{{\"apiVersion\": \"v1\", \"kind\": [\n",
        cm("a"),
        cm("b")
    );
    let l = load(&text);
    assert_eq!(names(&l), ["a", "b"]);
    let err = l
        .diagnostics
        .iter()
        .find(|d| d.level == DiagLevel::Error)
        .expect("an error for the third object");
    assert!(err.line >= 3 && err.line <= 4, "{err}");
}

#[test]
fn json_with_tabs_in_a_stream_keeps_its_objects() {
    let text = "{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"ConfigMap\",\n\t\"metadata\": {\"name\": \"a\"}\n}\n{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"b\"}}\n";
    let l = load(text);
    assert_eq!(names(&l), ["a", "b"], "{:?}", l.diagnostics);
    assert_eq!(l.inventory.objects[1].source.file().unwrap().line, 6);
}

#[test]
fn bom_at_the_start_of_a_later_document_is_ignored() {
    // kubectl splits at `---` lines and hands each document to go-yaml as a stream of its own;
    // go-yaml drops a byte order mark at the start of a stream.
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n\u{feff}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n--- # third\n\u{feff}apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
    let l = load(text);
    assert_eq!(names(&l), ["a", "b", "c"], "{:?}", l.diagnostics);
    assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
    assert_eq!(pos(&l, 1, "metadata.name"), Pos { line: 8, col: 3 });
    assert_eq!(l.inventory.objects[2].source.file().unwrap().line, 10);
}

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    let mut out = if big_endian {
        vec![0xFE, 0xFF]
    } else {
        vec![0xFF, 0xFE]
    };
    for unit in text.encode_utf16() {
        out.extend(if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        });
    }
    out
}

const MANIFEST: &str = "# ünïcödé comment\napiVersion: v1\nkind: Service\nmetadata:\n  name: é-svc\n  annotations: {note: \"日本語\", x: y}\nspec:\n  externalIPs: [192.0.2.1]\n";

#[test]
fn utf16_with_bom_is_transcoded_with_the_same_positions() {
    let utf8 = load(MANIFEST);
    assert_eq!(names(&utf8), ["é-svc"]);
    for big_endian in [false, true] {
        let l = load_bytes(&utf16(MANIFEST, big_endian));
        assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
        assert_eq!(names(&l), ["é-svc"]);
        assert_eq!(
            l.inventory.objects[0].value,
            utf8.inventory.objects[0].value
        );
        for path in [
            "spec.externalIPs",
            "metadata.annotations.x",
            "metadata.name",
        ] {
            assert_eq!(pos(&l, 0, path), pos(&utf8, 0, path), "{path}");
        }
        assert_eq!(
            pos(&l, 0, "metadata.annotations.x"),
            Pos { line: 6, col: 30 }
        );
    }
}

#[test]
fn utf16_errors_have_the_positions_of_the_text() {
    let broken = "apiVersion: v1\nkind: Service\nmetadata: {name: [ü\n";
    let utf8 = load(broken);
    let want = utf8
        .diagnostics
        .iter()
        .find(|d| d.level == DiagLevel::Error)
        .unwrap();
    let l = load_bytes(&utf16(broken, false));
    let got = l
        .diagnostics
        .iter()
        .find(|d| d.level == DiagLevel::Error)
        .unwrap();
    assert_eq!((got.line, got.col), (want.line, want.col), "{got}");

    // An unpaired surrogate is an error at its place, not a silent replacement.
    let mut bytes = utf16("apiVersion: v1\nkind: A", false);
    bytes.extend([0x00, 0xD8, b'x', 0x00]);
    let l = load_bytes(&bytes);
    let err = &l.diagnostics[0];
    assert_eq!(
        (err.level, err.line, err.col),
        (DiagLevel::Error, 2, 8),
        "{err}"
    );
    let mut odd = utf16("apiVersion: v1\n", true);
    odd.push(b'a');
    let l = load_bytes(&odd);
    assert_eq!(l.diagnostics[0].level, DiagLevel::Error);
    assert_eq!(l.diagnostics[0].line, 2, "{}", l.diagnostics[0]);
}

/// Runs `f` on another thread; fails (instead of hanging the test run) when it does not finish.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    // Generous: a loaded 2-core machine must never make this flaky.
    rx.recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("{what} did not finish: it hangs"))
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

#[cfg(unix)]
#[test]
fn fifo_in_a_directory_is_skipped_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    )
    .unwrap();
    let fifo = dir.path().join("pipe.yaml");
    mkfifo(&fifo);
    std::os::unix::fs::symlink(&fifo, dir.path().join("link.yml")).unwrap();
    let path = dir.path().to_path_buf();
    let l = within("loading a directory with a FIFO", move || {
        load_paths(&[path], &LoadOptions::default())
    });
    assert_eq!(names(&l), ["a"]);
    let notes: Vec<_> = l
        .diagnostics
        .iter()
        .filter(|d| d.level == DiagLevel::Note && d.message.contains("not a regular file"))
        .map(|d| {
            Path::new(&d.file)
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(notes.len(), 2, "{:?}", l.diagnostics);
    assert!(notes.contains(&"pipe.yaml".to_string()) && notes.contains(&"link.yml".to_string()));
    assert!(!l.has_errors());
}

#[cfg(unix)]
#[test]
fn fifo_named_explicitly_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.yaml");
    mkfifo(&fifo);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            std::fs::write(
                &fifo,
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: piped}\n",
            )
            .unwrap()
        })
    };
    let l = within("reading a named FIFO", move || {
        load_paths(&[fifo], &LoadOptions::default())
    });
    writer.join().unwrap();
    assert_eq!(names(&l), ["piped"], "{:?}", l.diagnostics);
}

#[test]
fn files_larger_than_the_budget_load_alone_and_all_load_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut want = Vec::new();
    for i in 0..12 {
        let name = format!("cm-{i:02}");
        // Sizes around the budget: some fit several at a time, some are larger than all of it.
        let filler = "x".repeat(if i % 3 == 0 { 5000 } else { 300 });
        std::fs::write(
            dir.path().join(format!("{name}.yaml")),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{k: {filler}}}\n"),
        )
        .unwrap();
        want.push(name);
    }
    let opts = LoadOptions {
        max_bytes_in_flight: 1000,
        ..LoadOptions::default()
    };
    let path = dir.path().to_path_buf();
    let l = within("loading under a small byte budget", move || {
        load_paths(&[path], &opts)
    });
    assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
    assert_eq!(names(&l), want);
}

#[test]
fn a_lone_carriage_return_is_a_line_break_in_every_position() {
    // Found by fuzz_load: the YAML parser breaks lines at a lone CR, the position of the next
    // document counted LFs only.
    let text = "apiVersion: v1\rkind: ConfigMap\rmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n";
    let l = load(text);
    assert_eq!(names(&l), ["a", "b"], "{:?}", l.diagnostics);
    assert_eq!(pos(&l, 0, "metadata.name"), Pos { line: 3, col: 12 });
    assert_eq!(pos(&l, 1, "metadata.name"), Pos { line: 8, col: 3 });
}
