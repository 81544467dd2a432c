//! `kubevigil checks list|explain`: print the catalogue (built-in checks and engine findings).

use std::process::ExitCode;

use clap::Subcommand;
use kubevigil_checks::{catalog, find_rule};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  kubevigil checks list
  kubevigil checks list -o json
  kubevigil checks explain image-tag-latest
  kubevigil checks explain pss-privileged")]
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
    let text = match args.command {
        ChecksCommand::List { output } => list(&output)?,
        ChecksCommand::Explain { id } => explain(&id)?,
    };
    super::scan::write_output(None, &text)?;
    Ok(ExitCode::SUCCESS)
}

fn list(output: &str) -> anyhow::Result<String> {
    let entries = catalog();
    match output {
        "json" => {
            let list: Vec<_> = entries
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "id": m.id,
                        "severity": m.severity,
                        "category": m.category.as_str(),
                        "title": m.title,
                    })
                })
                .collect();
            Ok(serde_json::to_string_pretty(&list)? + "\n")
        }
        "table" => {
            let width = entries.iter().map(|e| e.id.len()).max().unwrap_or(2);
            let mut text = format!(
                "{:<width$}  {:<8}  {:<14}  TITLE\n",
                "ID", "SEVERITY", "CATEGORY"
            );
            for m in &entries {
                text.push_str(&format!(
                    "{:<width$}  {:<8}  {:<14}  {}\n",
                    m.id,
                    m.severity.as_str(),
                    m.category.as_str(),
                    m.title
                ));
            }
            Ok(text)
        }
        other => anyhow::bail!("-o must be table or json, not {other:?}"),
    }
}

fn explain(id: &str) -> anyhow::Result<String> {
    let Some(m) = find_rule(id) else {
        anyhow::bail!("unknown check {id:?}; `kubevigil checks list` shows them all");
    };
    let mut text = format!(
        "{}\n\nSeverity: {}    Category: {}\n\nRemediation: {}\n\nReferences:\n",
        m.doc.trim_end(),
        m.severity,
        m.category.as_str(),
        m.remediation
    );
    for r in m.references {
        let url = if r.url.is_empty() {
            String::new()
        } else {
            format!(" <{}>", r.url)
        };
        text.push_str(&format!("  - {} {}{url}\n", r.framework, r.id));
    }
    Ok(text)
}
