//! `kubevigil image scan` and `kubevigil db import`: an image (registry, OCI layout, docker
//! archive, root filesystem) or an SBOM, its packages, and their vulnerabilities from the local
//! OSV database. Reading is `kubevigil_oci`, inventories and matching `kubevigil_image`, the
//! database `kubevigil_vulndb`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use kubevigil_image::osv::Severity;

use kubevigil_model::Escaped;
use kubevigil_oci::scan::{ScanOptions, Scanned, Target};
use kubevigil_oci::{Platform, PullOptions};

#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Vulnerable packages in an image: OS packages (dpkg, apk, rpm) and language packages
    /// (Cargo, Go, npm, Python, Java), matched against the local OSV database.
    #[command(after_help = "Examples:
  kubevigil db import debian-12.zip npm.zip
  kubevigil image scan registry.example.com/team/app:1.4
  kubevigil image scan --oci-layout ./layout --ref app:1.4 -o json
  kubevigil image scan --docker-archive app.tar --fail-on high
  kubevigil image scan --rootfs ./rootfs -o sarif --output-file image.sarif
  kubevigil image scan --sbom app.cdx.json
  kubevigil image scan --oci-layout ./layout -o cyclonedx > app.cdx.json

Exit codes: 0 no vulnerability at or above --fail-on (or no --fail-on), 1 at least one, 2 an
error (what could be read is still reported).")]
    Scan(ScanArgs),
}

#[derive(Debug, clap::Args)]
#[group(id = "target", required = true, multiple = false)]
pub struct TargetArgs {
    /// An image in a registry: `name[:tag][@digest]` (docker.io when no registry is named).
    #[arg(value_name = "IMAGE_REF", group = "target")]
    pub reference: Option<String>,
    /// An OCI image layout directory.
    #[arg(long, value_name = "DIR", group = "target")]
    pub oci_layout: Option<PathBuf>,
    /// A `docker save` archive.
    #[arg(long, value_name = "TAR", group = "target")]
    pub docker_archive: Option<PathBuf>,
    /// An unpacked root filesystem.
    #[arg(long, value_name = "DIR", group = "target")]
    pub rootfs: Option<PathBuf>,
    /// An SBOM: CycloneDX 1.5/1.6 JSON or SPDX 2.3 JSON.
    #[arg(long, value_name = "FILE", group = "target")]
    pub sbom: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Sarif,
    Cyclonedx,
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The image to take from an OCI layout or a docker archive holding several (its
    /// `org.opencontainers.image.ref.name` or repository tag).
    #[arg(long = "ref", value_name = "NAME")]
    pub image_ref: Option<String>,
    /// The vulnerability database (default: the platform's data directory, e.g.
    /// ~/.local/share/kubevigil/db).
    #[arg(long, value_name = "DIR")]
    pub db: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Format,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
    /// Exit 1 when a vulnerability has at least this severity (critical, high, medium, low,
    /// unknown).
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
    /// The platform to take from a multi-platform image: os/architecture[/variant].
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// A registry (host[:port]) spoken to over plain HTTP, e.g. a registry on loopback.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Colour the table: auto, always, never.
    #[arg(long, default_value = "auto", value_name = "WHEN")]
    pub color: String,
}

#[derive(Debug, clap::Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DbCommand {
    /// Load OSV records into the local database: directories of OSV JSON files, single files,
    /// or osv.dev's per-ecosystem archives (`<ecosystem>/all.zip`).
    #[command(after_help = "Examples:
  kubevigil db import ~/Downloads/Debian.zip ~/Downloads/npm.zip
  kubevigil db import --db /var/lib/kubevigil/db ./advisories/

Exit codes: 0 imported, 2 some record or file could not be read (the rest is imported).")]
    Import(ImportArgs),
    /// What the local database holds.
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The vulnerability database (default: the platform's data directory).
    #[arg(long, value_name = "DIR")]
    pub db: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The vulnerability database (default: the platform's data directory).
    #[arg(long, value_name = "DIR")]
    pub db: Option<PathBuf>,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::parse(s).ok_or_else(|| {
        format!("unknown severity {s:?} (expected critical, high, medium, low or unknown)")
    })
}

/// `--db`, else `$XDG_DATA_HOME/kubevigil/db` or the platform's equivalent.
pub fn db_dir(db: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(db) = db {
        return Ok(db.to_path_buf());
    }
    dirs::data_dir()
        .map(|d| d.join("kubevigil").join("db"))
        .context("no data directory on this platform: give --db DIR")
}

pub fn run_image(args: ImageArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ImageCommand::Scan(a) => crate::cli::ignore_broken_pipe(scan(a)),
    }
}

pub fn run_db(args: DbArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        DbCommand::Import(a) => import(a),
        DbCommand::Status(a) => status(a),
    }
}

fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let dir = db_dir(args.db.as_deref())?;
    let mut db = kubevigil_vulndb::Db::open(&dir)
        .with_context(|| format!("cannot open the database at {}", dir.display()))?;
    let started = std::time::Instant::now();
    let report = db.import(&args.paths)?;
    for e in &report.errors {
        eprintln!("error: {}", Escaped(&e.to_string()));
    }
    eprintln!(
        "{} records imported, {} unchanged, {} errors, in {:.1} s ({})",
        report.imported,
        report.unchanged,
        report.errors.len(),
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let stats = open_existing(args.db.as_deref())?.stats()?;
    // Ecosystem names come from the imported records: the safe writer escapes controls.
    println!("{}", kubevigil_model::text::json::to_string(&stats, true)?);
    Ok(ExitCode::SUCCESS)
}

fn platform(arg: Option<&str>) -> anyhow::Result<Platform> {
    let Some(arg) = arg else {
        return Ok(Platform::default());
    };
    let mut parts = arg.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(os), Some(arch), variant, None) if !os.is_empty() && !arch.is_empty() => {
            Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: variant.map(str::to_string),
            })
        }
        _ => bail!("--platform must be os/architecture[/variant], e.g. linux/arm64, not {arg:?}"),
    }
}

fn scan(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let db = open_existing(args.db.as_deref())?;
    let t = &args.target;
    let target = if let Some(r) = &t.reference {
        Target::Reference(r.clone())
    } else if let Some(dir) = &t.oci_layout {
        Target::OciLayout(dir.clone())
    } else if let Some(tar) = &t.docker_archive {
        Target::DockerArchive(tar.clone())
    } else if let Some(dir) = &t.rootfs {
        Target::Rootfs(dir.clone())
    } else if let Some(path) = &t.sbom {
        Target::Sbom(path.clone())
    } else {
        bail!("no image given");
    };
    let options = ScanOptions {
        pull: pull_options(args.platform.as_deref(), &args.insecure_registries)?,
        image_ref: args.image_ref.clone(),
    };
    let Scanned { report, errors, .. } = kubevigil_oci::scan::scan(&target, &options, &db)?;
    let color = crate::cli::use_color(&args.color, args.output_file.is_some())?;
    crate::cli::write_with(args.output_file.as_deref(), |out| {
        let doc = match args.output {
            Format::Table => {
                return out.write_all(kubevigil_report::image::table(&report, color).as_bytes());
            }
            Format::Json => serde_json::to_value(&report)?,
            Format::Sarif => kubevigil_image::export::sarif(&report, env!("CARGO_PKG_VERSION")),
            Format::Cyclonedx => {
                let now = kubevigil_model::time::format_rfc3339_ms(kubevigil_model::time::now_ms());
                kubevigil_image::export::cyclonedx(&report, env!("CARGO_PKG_VERSION"), &now)
            }
        };
        // serde_json writes bidi controls, DEL and C1 controls raw; the safe writer escapes
        // them (`\u202e`), as every other JSON output does: package names and summaries are
        // the image author's words, and JSON is often read on a terminal.
        kubevigil_model::text::json::to_writer(&mut *out, &doc, true)
            .map_err(std::io::Error::other)?;
        out.write_all(b"\n")
    })?;
    for e in &errors {
        eprintln!("error: {}", Escaped(e));
    }
    Ok(if !errors.is_empty() {
        ExitCode::from(2)
    } else if args
        .fail_on
        .is_some_and(|t| report.vulnerabilities.iter().any(|v| v.severity >= t))
    {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The database at `--db` (or the default place), which must exist: a scan against no
/// database would report no vulnerability.
pub fn open_existing(db: Option<&Path>) -> anyhow::Result<kubevigil_vulndb::Db> {
    let dir = db_dir(db)?;
    if !dir.join(kubevigil_vulndb::FILE_NAME).exists() {
        bail!(
            "no vulnerability database at {}: load OSV records with `kubevigil db import PATH...` (osv.dev publishes one archive per ecosystem)",
            dir.display()
        );
    }
    kubevigil_vulndb::Db::open(&dir)
        .with_context(|| format!("cannot open the database at {}", dir.display()))
}

/// Pull options from the command line: the platform, credentials from the docker config
/// files, the registries spoken to over plain HTTP.
pub fn pull_options(
    platform_arg: Option<&str>,
    insecure: &[String],
) -> anyhow::Result<PullOptions> {
    Ok(PullOptions {
        platform: platform(platform_arg)?,
        credentials: kubevigil_oci::Credentials::load_default()?,
        insecure_registries: insecure.to_vec(),
        ..PullOptions::default()
    })
}
