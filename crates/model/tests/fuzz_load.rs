//! Fuzzing the manifest loader (YAML, JSON streams, byte order marks, UTF-16): random bytes and
//! mutated real manifests never panic, never hang, and every position the loader reports (in a
//! diagnostic, an object's source or any field's span) lies inside the input.
//!
//! CI runs the default number of cases (seconds). A longer run:
//! `PROPTEST_CASES=200000 KUBEVIGIL_FUZZ_CORPUS=/path/to/manifests cargo test --release -p kubevigil-model --test fuzz_load`
//! (`KUBEVIGIL_FUZZ_CORPUS`: extra seed directories, separated by `:`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use kubevigil_model::load::{LoadOptions, Loaded, load_bytes_into};
use kubevigil_model::{Pos, SpanNode};
use proptest::prelude::*;
use proptest::sample::Index;

/// Largest seed file used: mutating a large file is slow and finds nothing a small one does not.
const MAX_SEED_BYTES: u64 = 64 * 1024;

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            collect(&path, out);
        } else if meta.is_file()
            && meta.len() <= MAX_SEED_BYTES
            && matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            )
        {
            out.push(path);
        }
    }
}

/// Seeds: the repository's example manifests and fixtures, extra directories from
/// `KUBEVIGIL_FUZZ_CORPUS`, and every seed's objects re-encoded as a JSON stream.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        collect(&root.join("examples"), &mut files);
        collect(&root.join("crates/model/tests/fixtures"), &mut files);
        let in_repo = files.len();
        assert!(in_repo >= 10, "seed manifests missing: {in_repo} files");
        for dir in std::env::var("KUBEVIGIL_FUZZ_CORPUS")
            .unwrap_or_default()
            .split(':')
            .filter(|d| !d.is_empty())
        {
            let before = files.len();
            collect(Path::new(dir), &mut files);
            assert!(files.len() > before, "no manifests under {dir}");
        }
        files.sort();
        let mut seeds: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        let streams: Vec<Vec<u8>> = seeds
            .iter()
            .filter_map(|s| {
                let l = load(s);
                let objects = &l.inventory.objects;
                (!objects.is_empty()).then(|| {
                    objects
                        .iter()
                        .map(|o| serde_json::to_string(&o.value).unwrap())
                        .collect::<Vec<_>>()
                        .join(["", "\n"][objects.len() & 1])
                        .into_bytes()
                })
            })
            .collect();
        seeds.extend(streams);
        seeds
    })
}

fn load(bytes: &[u8]) -> Loaded {
    let mut loaded = Loaded::default();
    load_bytes_into("fuzz.yaml", bytes, &LoadOptions::default(), &mut loaded);
    loaded
}

/// Loads on another thread and fails when loading does not finish (a hang), with a bound that
/// no loaded machine reaches for inputs this small.
fn load_in_time(bytes: Vec<u8>) -> (Vec<u8>, Loaded) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let loaded = load(&bytes);
        let _ = tx.send((bytes, loaded));
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the loader hangs on this input")
}

/// The text as the loader sees it (byte order mark dropped, UTF-16 transcoded), for checking
/// positions; undecodable bytes count as one character each at most.
fn text_of(bytes: &[u8]) -> String {
    let utf16 = |rest: &[u8], unit: fn([u8; 2]) -> u16| {
        let units: Vec<u16> = rest.chunks_exact(2).map(|c| unit([c[0], c[1]])).collect();
        String::from_utf16_lossy(&units)
    };
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        utf16(rest, u16::from_le_bytes)
    } else if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        utf16(rest, u16::from_be_bytes)
    } else {
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        String::from_utf8_lossy(body).into_owned()
    }
}

/// Characters per line; lines end at LF, CRLF or a lone CR, as in YAML.
fn line_widths(text: &str) -> Vec<usize> {
    text.replace("\r\n", "\n")
        .split(['\n', '\r'])
        .map(|l| l.chars().count())
        .collect()
}

fn check_pos(lines: &[usize], pos: Pos, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        pos.line >= 1 && (pos.line as usize) <= lines.len(),
        "{what}: line {} outside 1..={}",
        pos.line,
        lines.len()
    );
    let width = lines[pos.line as usize - 1];
    prop_assert!(
        pos.col >= 1 && (pos.col as usize) <= width + 1,
        "{what}: {}:{} outside a line of {width} characters",
        pos.line,
        pos.col
    );
    Ok(())
}

fn check_spans(lines: &[usize], span: &SpanNode, what: &str) -> Result<(), TestCaseError> {
    check_pos(lines, span.pos, what)?;
    for child in &span.children {
        check_spans(lines, child, what)?;
    }
    Ok(())
}

fn check(bytes: &[u8], loaded: &Loaded) -> Result<(), TestCaseError> {
    let lines = line_widths(&text_of(bytes));
    for d in &loaded.diagnostics {
        prop_assert_eq!(d.file.as_str(), "fuzz.yaml");
        if d.line > 0 {
            check_pos(
                &lines,
                Pos {
                    line: d.line,
                    col: d.col,
                },
                &d.to_string(),
            )?;
        }
    }
    for o in &loaded.inventory.objects {
        let what = o.display_name();
        let source = Pos {
            line: o.source.file().unwrap().line,
            col: o.source.file().unwrap().col,
        };
        check_pos(&lines, source, &what)?;
        check_spans(&lines, &o.spans.to_tree(), &what)?;
    }
    Ok(())
}

/// Fragments that matter to the YAML and JSON readers.
const TOKENS: &[&str] = &[
    "---\n",
    "--- # c\n",
    "...\n",
    "\u{feff}",
    "{",
    "}",
    "[",
    "]",
    ", ",
    ": ",
    "- ",
    "? ",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!str ",
    "!!binary ",
    "|\n",
    ">-\n",
    "\t",
    "\r\n",
    "\n",
    "  ",
    "\"",
    "'",
    "\\u00e9",
    "\\ud800",
    "#",
    "%YAML 1.1\n",
    "\0",
    "é",
    "日本",
    "\u{2028}",
    "kind: List\nitems:\n",
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}",
    "apiVersion: v1\nkind: Pod\n",
    "0x1F",
    "1e400",
    "9999999999999999999999",
    "~",
    "yes",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Insert(Index, usize),
    Delete(Index, usize),
    Duplicate(Index, usize),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<Index>(), 0..TOKENS.len()).prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), 1usize..256).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn apply(seed: &[u8], mutations: &[Mutation], encoding: u8) -> Vec<u8> {
    let mut b = seed.to_vec();
    for m in mutations {
        let at = |i: &Index, b: &Vec<u8>| {
            if b.is_empty() {
                0
            } else {
                i.index(b.len() + 1)
            }
        };
        match m {
            Mutation::Flip(i, byte) if !b.is_empty() => {
                let i = i.index(b.len());
                b[i] = *byte;
            }
            Mutation::Flip(..) => {}
            Mutation::Insert(i, t) => {
                let i = at(i, &b);
                b.splice(i..i, TOKENS[*t].bytes());
            }
            Mutation::Delete(i, n) => {
                let i = at(i, &b);
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            Mutation::Duplicate(i, n) => {
                let i = at(i, &b);
                let end = (i + n).min(b.len());
                let copy = b[i..end].to_vec();
                b.splice(i..i, copy);
            }
            Mutation::Truncate(i) => {
                let i = at(i, &b);
                b.truncate(i);
            }
        }
    }
    // Re-encode valid text as kubectl also reads it: with a UTF-8 byte order mark, or UTF-16.
    let Ok(text) = std::str::from_utf8(&b) else {
        return b;
    };
    match encoding {
        1 => [&b"\xEF\xBB\xBF"[..], &b].concat(),
        2 => [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect(),
        3 => [0xFE, 0xFF]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
            .collect(),
        _ => b,
    }
}

proptest! {
    // Cases: PROPTEST_CASES, else proptest's default (256).
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let (bytes, loaded) = load_in_time(bytes);
        check(&bytes, &loaded)?;
    }

    #[test]
    fn random_tokens(parts in prop::collection::vec((0..TOKENS.len(), "[a-z: ]{0,6}"), 0..64)) {
        let text: String = parts.iter().map(|(t, s)| format!("{}{s}", TOKENS[*t])).collect();
        let (bytes, loaded) = load_in_time(text.into_bytes());
        check(&bytes, &loaded)?;
    }

    #[test]
    fn mutated_manifests(
        seed in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..8),
        encoding in 0u8..6,
    ) {
        let seeds = seeds();
        let input = apply(&seeds[seed.index(seeds.len())], &mutations, encoding);
        let (bytes, loaded) = load_in_time(input);
        check(&bytes, &loaded)?;
    }
}

#[test]
fn every_seed_loads_cleanly_with_positions_inside() {
    // The unmutated seeds: a baseline for the mutations (and the JSON-stream seeds must load).
    for seed in seeds() {
        let loaded = load(seed);
        let lines = line_widths(&text_of(seed));
        for o in &loaded.inventory.objects {
            check_spans(&lines, &o.spans.to_tree(), &o.display_name()).unwrap();
        }
    }
}
