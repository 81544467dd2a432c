//! The README's commands run as written (issue 13): every line of a fenced `sh` or `console` block
//! that starts with `kubevigil ` (after an optional `$ `) ends with a comment giving either the exit
//! code it returns (`# exit N`), or what it needs that the repository does not provide
//! (`# needs …`, not run). The former are run with the built binary first on the `PATH`, from a
//! scratch directory that sees the repository's `examples/` and `rules/` (so a redirection such as
//! `> audit-policy.yaml` writes nothing into the checkout), one after the other in README order.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_kubevigil");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

#[derive(Debug, PartialEq)]
enum Expect {
    Exit(i32),
    Needs,
}

#[derive(Debug)]
struct Example {
    line: usize,
    command: String,
    expect: Expect,
}

/// The `kubevigil …` lines of the fenced `sh`/`console` blocks of `markdown`, with what each
/// one's trailing comment says. A command without `# exit N` or `# needs` is an error.
fn examples(markdown: &str) -> Result<Vec<Example>, String> {
    let mut out = Vec::new();
    let mut in_block = false;
    for (i, line) in markdown.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            in_block = !in_block && matches!(info.trim(), "sh" | "console" | "shell" | "bash");
            continue;
        }
        if !in_block {
            continue;
        }
        let cmd = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
        if !cmd.starts_with("kubevigil ") {
            continue;
        }
        let Some((command, comment)) = cmd.split_once(" # ") else {
            return Err(format!(
                "README.md:{line_no}: `{cmd}` says neither `# exit N` nor `# needs …`"
            ));
        };
        let comment = comment.trim();
        let expect = if comment.starts_with("needs") {
            Expect::Needs
        } else if let Some(rest) = comment.strip_prefix("exit ") {
            let code: String = rest.chars().take_while(char::is_ascii_digit).collect();
            Expect::Exit(code.parse().map_err(|_| {
                format!("README.md:{line_no}: `# exit` without a number: {comment}")
            })?)
        } else {
            return Err(format!(
                "README.md:{line_no}: `{cmd}` says neither `# exit N` nor `# needs …`"
            ));
        };
        out.push(Example {
            line: line_no,
            command: command.trim().to_string(),
            expect,
        });
    }
    Ok(out)
}

#[test]
fn readme_commands_exit_as_documented() {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).unwrap();
    let examples = examples(&readme).unwrap();
    assert!(
        examples
            .iter()
            .filter(|e| e.expect != Expect::Needs)
            .count()
            >= 10,
        "the README's runnable commands were not found: {examples:#?}"
    );
    let scratch = tempfile::tempdir().unwrap();
    for dir in ["examples", "rules"] {
        std::os::unix::fs::symlink(
            Path::new(ROOT).join(dir).canonicalize().unwrap(),
            scratch.path().join(dir),
        )
        .unwrap();
    }
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let mut failures = Vec::new();
    for example in &examples {
        let Expect::Exit(want) = example.expect else {
            continue;
        };
        let out = Command::new("sh")
            .arg("-c")
            .arg(&example.command)
            .current_dir(scratch.path())
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let got = out.status.code();
        if got != Some(want) {
            failures.push(format!(
                "README.md:{}: `{}` exited {got:?}, the README says {want}\nstderr:\n{}",
                example.line,
                example.command,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn extraction_reads_markers_and_refuses_unmarked_commands() {
    let md = "text\n```sh\nkubevigil scan x   # exit 1\n$ kubevigil pss y # exit 0: all allowed\n\
              kubevigil webhook --tls-cert c   # needs a certificate\ncargo test\n```\n\
              ```yaml\nkubevigil: not a command\n```\n";
    let got = examples(md).unwrap();
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(
        (got[0].line, got[0].command.as_str(), &got[0].expect),
        (3, "kubevigil scan x", &Expect::Exit(1))
    );
    assert_eq!(
        (got[1].command.as_str(), &got[1].expect),
        ("kubevigil pss y", &Expect::Exit(0))
    );
    assert_eq!(got[2].expect, Expect::Needs);
    let err = examples("```sh\nkubevigil scan x\n```\n").unwrap_err();
    assert!(err.contains("README.md:2"), "{err}");
}
