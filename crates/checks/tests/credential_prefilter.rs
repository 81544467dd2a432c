//! `credentials::may_hold_credential` never hides a credential `detect_value` finds: checked on
//! every line of real manifests (tests/data, copies of `../shared/corpus`, and the corpus itself
//! when it is beside the repository) and of the repository's examples, as written and as the
//! value after a `key:`.

use std::path::{Path, PathBuf};

use kubevigil_checks::rules::credentials::{detect_value, may_hold_credential};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn the_quick_test_passes_every_line_a_detector_flags() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    for d in ["tests/data", "../../examples", "../../../shared/corpus"] {
        files(&root.join(d), &mut all);
    }
    let (mut lines, mut flagged) = (0, 0);
    for f in &all {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for line in text.lines() {
            lines += 1;
            let value = line.split_once(": ").map_or(line, |(_, v)| v);
            for t in [line, value] {
                if detect_value(t, false).is_some() {
                    flagged += 1;
                    assert!(may_hold_credential(t), "{}: {t}", f.display());
                }
            }
        }
    }
    assert!(
        lines > 10_000 && flagged > 20,
        "{lines} lines, {flagged} flagged"
    );
}
