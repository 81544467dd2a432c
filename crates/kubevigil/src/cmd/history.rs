//! `kubevigil history`: what appeared and what was resolved, from the monitor's history store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use kubevigil_store::{DB_FILE, Format, HistoryQuery, SqliteStore};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  kubevigil history --since 7d
  kubevigil history --since 90m --namespace shop -o json
  kubevigil history --state-dir /var/lib/kubevigil")]
pub struct HistoryArgs {
    /// How far back: a number and a unit, s, m, h, d or w (90m, 24h, 7d).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    since: i64,
    /// Only findings about objects in this namespace, and alerts about it.
    #[arg(short = 'n', long, value_name = "NS")]
    namespace: Option<String>,
    /// table or json
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    output: String,
    /// Where the history is (default: $XDG_STATE_HOME/kubevigil, else ~/.local/state/kubevigil).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<i64, String> {
    kubevigil_sigma::time::parse_timespan_ms(s)
        .ok_or_else(|| format!("{s:?} is not a duration such as 90m, 24h or 7d"))
}

pub fn run(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let dir = match args.state_dir {
        Some(dir) => dir,
        None => kubevigil_store::default_state_dir()
            .context("no state directory: pass --state-dir, or set XDG_STATE_HOME or HOME")?,
    };
    let path = dir.join(DB_FILE);
    // A read creates nothing: no database yet is an empty history.
    let store = if path.is_file() {
        SqliteStore::open(&path).with_context(|| format!("cannot open {}", path.display()))?
    } else {
        eprintln!(
            "note: no history at {} yet (the monitor records it)",
            kubevigil_model::Escaped(&path.display().to_string())
        );
        SqliteStore::open_in_memory()?
    };
    let query = HistoryQuery {
        since_ms: kubevigil_store::now_ms().saturating_sub(args.since),
        namespace: args.namespace,
    };
    let format = if args.output == "json" {
        Format::Json
    } else {
        Format::Table
    };
    // Output errors go to write_with (a closed pipe is no error), the store's are returned.
    let mut failed = None;
    crate::cli::write_with(None, |out| {
        match kubevigil_store::render(&store, &query, format, out) {
            Err(kubevigil_store::StoreError::Io(e)) => return Err(e),
            Err(e) => failed = Some(e),
            Ok(()) => {}
        }
        Ok(())
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(ExitCode::SUCCESS)
}
