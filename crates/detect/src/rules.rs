//! Which rules run: the built-in pack (`rules/`, embedded in kubevigil-sigma) and rule files
//! or directories, loaded together (so a user correlation may refer to a pack rule), minus
//! disabled ones.

use std::path::{Path, PathBuf};

use kubevigil_model::Diagnostic;
use kubevigil_sigma::{RuleSet, Source};

#[derive(Debug, thiserror::Error)]
#[error("cannot read rules from {}", path.display())]
pub struct RulesError {
    /// The rule file or directory as given.
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The text of every rule file below some roots, in a stable order.
#[derive(Debug, Default)]
pub struct RuleFiles {
    /// (name as shown in diagnostics, text)
    files: Vec<(String, String)>,
}

impl RuleFiles {
    /// Reads each root: a file, or a directory walked recursively for `*.yml`/`*.yaml` in
    /// name order, skipping folders named `tests` (SigmaHQ keeps test data there).
    pub fn read(roots: &[PathBuf]) -> Result<RuleFiles, RulesError> {
        let mut files = Vec::new();
        for root in roots {
            collect(root, &mut files).map_err(|source| RulesError {
                path: root.clone(),
                source,
            })?;
        }
        Ok(RuleFiles { files })
    }

    /// Compiles these files, after the built-in pack unless `builtin` is false, with the
    /// Kubernetes audit field mapping. A rule with a problem is skipped and reported; a rule
    /// whose id or name is in `disabled` is left out (noted).
    pub fn compile(&self, builtin: bool, disabled: &[String]) -> LoadedRules {
        self.compile_with(builtin, disabled, &[])
    }

    /// [`RuleFiles::compile`], with placeholder values (`expand`) that replace the defaults
    /// of [`crate::audit::sigma_options`] of the same name.
    pub fn compile_with(
        &self,
        builtin: bool,
        disabled: &[String],
        placeholders: &[(String, Vec<String>)],
    ) -> LoadedRules {
        let mut sources: Vec<Source> = if builtin {
            kubevigil_sigma::pack::sources()
        } else {
            Vec::new()
        };
        sources.extend(self.files.iter().map(|(n, t)| Source { name: n, text: t }));
        let mut options = crate::audit::sigma_options();
        options.disabled.extend(disabled.iter().cloned());
        for (name, values) in placeholders {
            match options.placeholders.iter_mut().find(|(n, _)| n == name) {
                Some((_, v)) => v.clone_from(values),
                None => options.placeholders.push((name.clone(), values.clone())),
            }
        }
        let networks = options
            .placeholders
            .iter()
            .find(|(n, _)| n == crate::audit::CLUSTER_NETWORKS)
            .map(|(_, v)| crate::audit::outside(v.iter().map(String::as_str)));
        if let (Some(outside), Some((_, v))) = (
            networks,
            options
                .placeholders
                .iter_mut()
                .find(|(n, _)| n == crate::audit::OUTSIDE_CLUSTER_NETWORKS),
        ) {
            *v = outside;
        }
        let (set, diagnostics) = RuleSet::compile(&sources, &options);
        LoadedRules { set, diagnostics }
    }
}

/// A compiled rule set and what loading it reported.
pub struct LoadedRules {
    pub set: RuleSet,
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadedRules {
    /// The ids among `ids` that name no loaded rule (by id or name), to warn about a mistyped
    /// `--disable`. Once any rule was disabled, none is reported: a disabled rule is not loaded,
    /// so its id cannot be told from a mistyped one.
    pub fn unknown_ids<'a>(&self, ids: &'a [String]) -> Vec<&'a String> {
        if self
            .diagnostics
            .iter()
            .any(|d| d.message.contains("disabled by configuration"))
        {
            return Vec::new();
        }
        let rules = self.set.rules();
        ids.iter()
            .filter(|id| {
                !rules
                    .iter()
                    .any(|r| r.meta.id == **id || r.meta.name.as_ref() == Some(*id))
            })
            .collect()
    }
}

fn collect(path: &Path, out: &mut Vec<(String, String)>) -> std::io::Result<()> {
    if path.is_file() {
        out.push((path.display().to_string(), std::fs::read_to_string(path)?));
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "tests") {
                collect(&p, out)?;
            }
        } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push((p.display().to_string(), std::fs::read_to_string(&p)?));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = "title: t\nid: mine\nname: my-rule\nlogsource: {product: kubernetes, service: audit}\n\
                        detection:\n  sel: {verb: create}\n  condition: sel\n";

    #[test]
    fn walks_directories_in_order_skipping_tests_folders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b/tests")).unwrap();
        std::fs::write(dir.path().join("b/z.yaml"), RULE.replace("mine", "z")).unwrap();
        std::fs::write(dir.path().join("a.yml"), RULE).unwrap();
        std::fs::write(dir.path().join("b/tests/t.yml"), "not: [a rule").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a rule").unwrap();
        let files = RuleFiles::read(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<&str> = files.files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), 2);
        assert!(names[0].ends_with("a.yml") && names[1].ends_with("z.yaml"));
        let loaded = files.compile(false, &[]);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        assert_eq!(loaded.set.rules().len(), 2);
    }

    #[test]
    fn a_missing_root_is_an_error_naming_it() {
        let err = RuleFiles::read(&[PathBuf::from("/nonexistent/rules")]).unwrap_err();
        assert_eq!(err.to_string(), "cannot read rules from /nonexistent/rules");
    }

    #[test]
    fn unknown_ids_by_id_and_name() {
        let files = RuleFiles {
            files: vec![("r.yml".into(), RULE.into())],
        };
        let loaded = files.compile(false, &[]);
        let ids = ["mine".to_string(), "my-rule".into(), "typo".into()];
        assert_eq!(loaded.unknown_ids(&ids), [&ids[2]]);
        // With a rule disabled, its id cannot be told from a typo: nothing is reported.
        let loaded = files.compile(true, &["mine".into()]);
        assert!(loaded.unknown_ids(&ids).is_empty());
    }
}
