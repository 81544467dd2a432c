//! `kubevigil checks list|explain`: print the check registry.

use std::process::ExitCode;

use clap::Subcommand;
use kubevigil_checks::{find_check, registry};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  kubevigil checks list
  kubevigil checks list -o json
  kubevigil checks explain image-tag-latest")]
pub struct ChecksArgs {
    #[command(subcommand)]
    pub command: ChecksCommand,
}

#[derive(Debug, Subcommand)]
pub enum ChecksCommand {
    /// List every check: id, severity, category, title.
    List {
        /// table or json
        #[arg(short, long, default_value = "table")]
        output: String,
    },
    /// Print a check's documentation, remediation and references.
    Explain {
        /// Check id, e.g. image-tag-latest.
        id: String,
    },
}

pub fn run(args: ChecksArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ChecksCommand::List { output } => {
            let mut text = String::new();
            match output.as_str() {
                "json" => {
                    let list: Vec<_> = registry()
                        .iter()
                        .map(|c| {
                            let m = c.meta();
                            serde_json::json!({"id": m.id, "severity": m.severity, "category": m.category.as_str(), "title": m.title})
                        })
                        .collect();
                    text = serde_json::to_string_pretty(&list)? + "\n";
                }
                "table" => {
                    let width = registry()
                        .iter()
                        .map(|c| c.meta().id.len())
                        .max()
                        .unwrap_or(2);
                    text.push_str(&format!(
                        "{:<width$}  {:<8}  {:<14}  TITLE\n",
                        "ID", "SEVERITY", "CATEGORY"
                    ));
                    for c in registry() {
                        let m = c.meta();
                        text.push_str(&format!(
                            "{:<width$}  {:<8}  {:<14}  {}\n",
                            m.id,
                            m.severity.as_str(),
                            m.category.as_str(),
                            m.title
                        ));
                    }
                }
                other => anyhow::bail!("-o must be table or json, not {other:?}"),
            }
            super::scan::write_output(None, &text)?;
        }
        ChecksCommand::Explain { id } => {
            let Some(check) = find_check(&id) else {
                anyhow::bail!("unknown check {id:?}; `kubevigil checks list` shows them all");
            };
            let m = check.meta();
            let mut text = format!(
                "{}\nSeverity: {}    Category: {}\n\n{}\n\nRemediation: {}\n\nReferences:\n",
                m.doc.trim_end(),
                m.severity,
                m.category.as_str(),
                "",
                m.remediation
            );
            for r in m.references {
                text.push_str(&format!(
                    "  - {} {}{}\n",
                    r.framework,
                    r.id,
                    if r.url.is_empty() {
                        String::new()
                    } else {
                        format!(" <{}>", r.url)
                    }
                ));
            }
            super::scan::write_output(None, &text.replace("\n\n\n\n", "\n\n"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
