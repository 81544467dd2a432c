//! `kubevigil rbac`: the RBAC authorizer over manifests: who can, can, permissions, secrets,
//! unused (least privilege from audit logs).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use kubevigil_audit::input::ReadErrorLog;
use kubevigil_model::text::yaml::to_yaml;
use kubevigil_model::{Escaped, Loaded, pod_template, text::json};
use kubevigil_rbac::answer::{Permissions, WhoCan, dangling, describe_grant, near_misses};
use kubevigil_rbac::usage::{Attempt, Usage};
use kubevigil_rbac::{Decision, Rbac, Request, User};
use serde::Serialize;
use serde_json::Value;

use crate::cli;

#[derive(clap::Args)]
pub struct RbacArgs {
    #[command(subcommand)]
    command: RbacCommand,
}

#[derive(clap::Subcommand)]
enum RbacCommand {
    /// Which subjects may make a request, where, and through which binding, role and rule.
    /// Exit code 0 when the query ran.
    #[command(
        after_help = "Examples:\n  kubevigil rbac who-can get secrets -n shop examples/rbac\n  kubevigil rbac who-can create pods/exec -A -o json examples/rbac\n  kubevigil rbac who-can update deployments.apps/scale -n shop examples/rbac\n  kubevigil rbac who-can get /metrics examples/rbac"
    )]
    WhoCan(WhoCanArgs),
    /// May SUBJECT (user:NAME, group:NAME, sa:NAMESPACE/NAME) make a request? Prints the path
    /// that grants it or why it is denied. Exit code 0 yes, 1 no.
    #[command(
        after_help = "Examples:\n  kubevigil rbac can sa:shop/api get secrets -n shop --name db-password examples/rbac\n  kubevigil rbac can user:alice delete pods -n shop examples/rbac"
    )]
    Can(CanArgs),
    /// The effective rules of SUBJECT, merged, with the bindings that grant them.
    #[command(after_help = "Examples:\n  kubevigil rbac permissions sa:shop/api examples/rbac")]
    Permissions(PermissionsArgs),
    /// For each Secret (or, without Secrets in the input, each namespace): which subjects and
    /// which workloads (through their service accounts) can read it, and through what.
    #[command(after_help = "Examples:\n  kubevigil rbac secrets examples/rbac")]
    Secrets(SecretsArgs),
    /// Least privilege from audit logs: the grants of the input's bindings that no logged
    /// request exercised, and per ServiceAccount or User the minimal Roles, ClusterRoles and
    /// bindings that cover what it did (`-o yaml`: those manifests alone, for kubectl apply).
    #[command(after_help = "Examples:
  kubevigil rbac unused --audit examples/audit/rbac-usage.log examples/rbac
  kubevigil rbac unused --audit /var/log/kubernetes/ --cluster -o json
  kubevigil rbac unused --audit audit.log -o yaml examples/rbac | kubectl apply --dry-run=client -f -

Only requests the API server decided on count: events with a response status other than 401
or 403 (RequestReceived events are written before authorization). A grant of Kubernetes' own
bindings (system:*, bootstrap roles) is not listed, and what they grant is left out of the
proposals. Exit codes: 0 the analysis ran; 2 an input error (reported, the rest still read).")]
    Unused(UnusedArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(clap::Args)]
struct Scope {
    /// The request's namespace (default: cluster scope, where only ClusterRoleBindings grant).
    #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
    namespace: Option<String>,
    /// In any namespace, through any binding.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
}

#[derive(clap::Args)]
struct WhoCanArgs {
    /// The verb: get, list, watch, create, update, patch, delete, deletecollection, or another
    /// (impersonate, bind, escalate, approve, use, ...).
    verb: String,
    /// RESOURCE[.GROUP][/SUBRESOURCE] (plural, lower case: `deployments.apps/scale`), or a
    /// non-resource URL starting with `/`.
    resource: String,
    #[command(flatten)]
    scope: Scope,
    /// The object's name (resourceNames).
    #[arg(long)]
    name: Option<String>,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Format,
    #[command(flatten)]
    input: Input,
}

#[derive(clap::Args)]
struct CanArgs {
    /// user:NAME, group:NAME or sa:NAMESPACE/NAME.
    subject: String,
    verb: String,
    /// RESOURCE[.GROUP][/SUBRESOURCE] or a non-resource URL.
    resource: String,
    /// The request's namespace (default: cluster scope).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    #[arg(long)]
    name: Option<String>,
    /// Further groups of the subject (repeatable).
    #[arg(long = "group", value_name = "GROUP")]
    groups: Vec<String>,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Format,
    #[command(flatten)]
    input: Input,
}

#[derive(clap::Args)]
struct PermissionsArgs {
    /// user:NAME, group:NAME or sa:NAMESPACE/NAME.
    subject: String,
    /// Only the rules effective in this namespace.
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Further groups of the subject (repeatable).
    #[arg(long = "group", value_name = "GROUP")]
    groups: Vec<String>,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Format,
    #[command(flatten)]
    input: Input,
}

#[derive(clap::Args)]
struct SecretsArgs {
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Format,
    #[command(flatten)]
    input: Input,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum UnusedFormat {
    Table,
    Json,
    /// The proposals' manifests alone.
    Yaml,
}

#[derive(clap::Args)]
struct UnusedArgs {
    /// An audit log: a file (`.gz` read too), a kube-apiserver log directory (rotated files in
    /// order) or `-` for stdin; repeat for several. JSON lines, EventList or managed clusters'
    /// exports, as `audit detect` reads them.
    #[arg(long = "audit", value_name = "LOG", required = true)]
    audit: Vec<PathBuf>,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: UnusedFormat,
    #[command(flatten)]
    input: Input,
}

pub fn run(args: RbacArgs) -> anyhow::Result<ExitCode> {
    cli::ignore_broken_pipe(match args.command {
        RbacCommand::WhoCan(a) => who_can(a),
        RbacCommand::Can(a) => can(a),
        RbacCommand::Permissions(a) => permissions(a),
        RbacCommand::Secrets(a) => secrets(a),
        RbacCommand::Unused(a) => unused(a),
    })
}

/// What every `rbac` command reads: manifests, or the whole cluster with `--cluster` (RBAC needs
/// every namespace's bindings).
#[derive(clap::Args)]
struct Input {
    /// Manifest files or directories; `-` reads stdin.
    #[arg(
        required_unless_present = "cluster",
        conflicts_with = "cluster",
        value_name = "PATH"
    )]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    cluster: cli::ClusterTarget,
    /// Accept an input without any Kubernetes object (otherwise a warning and exit code 2).
    #[arg(long)]
    allow_empty: bool,
}

impl Input {
    /// Loads the objects; reports diagnostics on stderr. Returns the objects and whether an
    /// input error occurred.
    fn load(&self) -> anyhow::Result<(Loaded, bool)> {
        let cluster = self.cluster.cluster.then(|| self.cluster.load());
        let (loaded, empty) = cli::load_input(&self.paths, cluster, self.allow_empty)?;
        let mut err = std::io::stderr().lock();
        let errors = cli::print_diagnostics(&mut err, &loaded.diagnostics).unwrap_or(true) || empty;
        Ok((loaded, errors))
    }
}

fn notes(rbac: &Rbac) {
    let mut err = std::io::stderr().lock();
    for (binding, role) in dangling(rbac) {
        let _ = writeln!(
            err,
            "note: {} references {}, which is not in the input: it grants nothing here",
            Escaped(&binding.to_string()),
            Escaped(&role.to_string())
        );
    }
}

fn write_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    cli::write_with(None, |out| {
        json::to_writer(&mut *out, value, true).map_err(std::io::Error::other)?;
        writeln!(out)
    })
}

fn scope_namespace(scope: &Scope) -> &str {
    scope.namespace.as_deref().unwrap_or("")
}

fn who_can(a: WhoCanArgs) -> anyhow::Result<ExitCode> {
    let req = Request::parse(
        &a.verb,
        &a.resource,
        scope_namespace(&a.scope),
        a.name.as_deref(),
    )?;
    let (loaded, errors) = a.input.load()?;
    let rbac = Rbac::from_objects(&loaded.inventory);
    notes(&rbac);
    let answer = WhoCan::new(&rbac, &req, a.scope.all_namespaces);
    match a.output {
        Format::Json => write_json(&answer)?,
        Format::Table => cli::write_with(None, |out| {
            if answer.subjects.is_empty() {
                return writeln!(out, "nobody");
            }
            writeln!(out, "SUBJECT\tNAMESPACES\tVIA")?;
            for s in &answer.subjects {
                let mut via = s.via.iter().map(|g| describe_grant(&rbac, g));
                writeln!(
                    out,
                    "{}\t{}\t{}",
                    Escaped(&s.subject.to_string()),
                    Escaped(&s.namespaces.join(",")),
                    Escaped(&via.next().unwrap_or_default())
                )?;
                for v in via {
                    writeln!(out, "\t\t{}", Escaped(&v))?;
                }
            }
            Ok(())
        })?,
    }
    Ok(cli::exit_code(errors, false))
}

#[derive(Serialize)]
struct CanAnswer<'a> {
    subject: &'a str,
    user: &'a str,
    groups: &'a [String],
    allowed: bool,
    /// `system:masters`, `rbac` or null when denied.
    by: Option<&'static str>,
    via: Vec<kubevigil_rbac::Grant>,
    /// Denied: the bindings that apply to the subject but grant no matching rule.
    bindings: Vec<DenialBinding>,
}

#[derive(Serialize)]
struct DenialBinding {
    binding: kubevigil_rbac::Key,
    role: kubevigil_rbac::Key,
    #[serde(rename = "roleExists")]
    role_exists: bool,
    /// Rules of the role that come close: other names (resourceNames) or other verbs.
    #[serde(rename = "nearMisses")]
    near_misses: Vec<String>,
}

fn can(a: CanArgs) -> anyhow::Result<ExitCode> {
    let user = User::parse(&a.subject, &a.groups)?;
    let req = Request::parse(
        &a.verb,
        &a.resource,
        a.namespace.as_deref().unwrap_or(""),
        a.name.as_deref(),
    )?;
    let (loaded, errors) = a.input.load()?;
    let rbac = Rbac::from_objects(&loaded.inventory);
    notes(&rbac);
    let decision = rbac.authorize(&user, &req);
    let allowed = decision.allowed();
    let mut answer = CanAnswer {
        subject: &a.subject,
        user: &user.name,
        groups: &user.groups,
        allowed,
        by: None,
        via: Vec::new(),
        bindings: Vec::new(),
    };
    match &decision {
        Decision::Privileged => answer.by = Some("system:masters"),
        Decision::Allowed(g) => {
            answer.by = Some("rbac");
            answer.via = g.clone();
        }
        Decision::Denied(d) => {
            answer.bindings = d
                .bindings
                .iter()
                .map(|(b, r, e)| DenialBinding {
                    binding: b.clone(),
                    role: r.clone(),
                    role_exists: *e,
                    near_misses: near_misses(&rbac, r, &req),
                })
                .collect();
        }
    }
    match a.output {
        Format::Json => write_json(&answer)?,
        Format::Table => cli::write_with(None, |out| match &decision {
            Decision::Privileged => writeln!(
                out,
                "yes: member of system:masters (allowed before RBAC is asked)"
            ),
            Decision::Allowed(grants) => {
                writeln!(out, "yes")?;
                for g in grants {
                    writeln!(out, "  via {}", Escaped(&describe_grant(&rbac, g)))?;
                }
                Ok(())
            }
            Decision::Denied(d) => {
                writeln!(
                    out,
                    "no: no rule bound to {} (groups {}) allows it",
                    Escaped(&a.subject),
                    Escaped(&user.groups.join(", "))
                )?;
                if req.is_resource() && req.namespace.is_empty() {
                    writeln!(
                        out,
                        "  (cluster scope: only ClusterRoleBindings count; pass -n NAMESPACE for a namespaced request)"
                    )?;
                }
                for (b, r, exists) in &d.bindings {
                    let why = if *exists {
                        "grants no matching rule"
                    } else {
                        "references a role that is not in the input"
                    };
                    writeln!(
                        out,
                        "  {} → {}: {why}",
                        Escaped(&b.to_string()),
                        Escaped(&r.to_string())
                    )?;
                    for m in near_misses(&rbac, r, &req) {
                        writeln!(out, "    {}", Escaped(&m))?;
                    }
                }
                Ok(())
            }
        })?,
    }
    Ok(cli::exit_code(errors, !allowed))
}

fn permissions(a: PermissionsArgs) -> anyhow::Result<ExitCode> {
    let user = User::parse(&a.subject, &a.groups)?;
    let (loaded, errors) = a.input.load()?;
    let rbac = Rbac::from_objects(&loaded.inventory);
    notes(&rbac);
    let answer = Permissions::new(&rbac, &a.subject, &user, a.namespace.as_deref());
    match a.output {
        Format::Json => write_json(&answer)?,
        Format::Table => cli::write_with(None, |out| {
            if answer.privileged {
                writeln!(
                    out,
                    "member of system:masters: allowed everything, whatever RBAC says"
                )?;
            }
            writeln!(
                out,
                "NAMESPACE\tVERBS\tAPIGROUPS\tRESOURCES\tNAMES/URLS\tVIA"
            )?;
            for r in &answer.rules {
                let list = |v: &[String]| {
                    if v.is_empty() {
                        "-".to_string()
                    } else {
                        v.iter()
                            .map(|s| if s.is_empty() { "\"\"" } else { s.as_str() })
                            .collect::<Vec<_>>()
                            .join(",")
                    }
                };
                let names = if r.rule.non_resource_urls.is_empty() {
                    list(&r.rule.resource_names)
                } else {
                    list(&r.rule.non_resource_urls)
                };
                let via: Vec<String> = r.via.iter().map(|g| describe_grant(&rbac, g)).collect();
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    Escaped(&r.namespace),
                    Escaped(&list(&r.rule.verbs)),
                    Escaped(&list(&r.rule.api_groups)),
                    Escaped(&list(&r.rule.resources)),
                    Escaped(&names),
                    Escaped(&via.join("; "))
                )?;
            }
            Ok(())
        })?,
    }
    Ok(cli::exit_code(errors, false))
}

/// One reader of a secret.
#[derive(Serialize)]
struct Reader {
    #[serde(flatten)]
    subject: kubevigil_rbac::Subject,
    verbs: Vec<String>,
    via: Vec<kubevigil_rbac::Grant>,
}

/// A workload whose service account can read a secret.
#[derive(Serialize)]
struct WorkloadReader {
    kind: String,
    namespace: String,
    name: String,
    #[serde(rename = "serviceAccount")]
    service_account: String,
    verbs: Vec<String>,
}

#[derive(Serialize)]
struct SecretAccess {
    namespace: String,
    /// null: every Secret of the namespace (the input has no Secret object there).
    name: Option<String>,
    readers: Vec<Reader>,
    workloads: Vec<WorkloadReader>,
}

const READ: [&str; 3] = ["get", "list", "watch"];

fn secrets(a: SecretsArgs) -> anyhow::Result<ExitCode> {
    let (loaded, errors) = a.input.load()?;
    let rbac = Rbac::from_objects(&loaded.inventory);
    notes(&rbac);
    let inv = &loaded.inventory;
    // Secrets by name (never their data), else every namespace of the input.
    let mut targets: Vec<(String, Option<String>)> = inv
        .of_kind("Secret")
        .filter(|o| o.api_version == "v1")
        .map(|o| {
            (
                o.namespace.clone().unwrap_or_else(|| "default".into()),
                Some(o.name.clone()),
            )
        })
        .collect();
    let with_secrets: std::collections::BTreeSet<String> =
        targets.iter().map(|t| t.0.clone()).collect();
    for ns in inv.namespaces() {
        if !with_secrets.contains(&ns) {
            targets.push((ns, None));
        }
    }
    targets.sort();
    targets.dedup();
    // Workloads and their service accounts.
    let workloads: Vec<(&kubevigil_model::Object, String, String)> = inv
        .objects
        .iter()
        .filter_map(|o| {
            let pod = pod_template(o)?;
            let ns = o.namespace.clone().unwrap_or_else(|| "default".into());
            let sa = pod
                .service_account()
                .map_or("default", |(_, name)| name)
                .to_string();
            Some((o, ns, sa))
        })
        .collect();
    let mut answers = Vec::new();
    for (ns, name) in targets {
        let mut readers: Vec<Reader> = Vec::new();
        for verb in READ {
            // list and watch carry no name: they read every Secret of the namespace.
            let n = if verb == "get" { name.as_deref() } else { None };
            let req = Request::parse(verb, "secrets", &ns, n)?;
            for h in rbac.who_can(&req, false) {
                match readers.iter_mut().find(|r| r.subject == h.subject) {
                    Some(r) => {
                        r.verbs.push(verb.into());
                        for g in h.via {
                            if !r.via.contains(&g) {
                                r.via.push(g);
                            }
                        }
                    }
                    None => readers.push(Reader {
                        subject: h.subject,
                        verbs: vec![verb.into()],
                        via: h.via,
                    }),
                }
            }
        }
        readers.sort_by(|a, b| a.subject.cmp(&b.subject));
        let mut wl = Vec::new();
        for (o, wns, sa) in &workloads {
            if *wns != ns {
                continue;
            }
            let user = User::service_account(wns, sa);
            let verbs: Vec<String> = READ
                .iter()
                .filter(|v| {
                    let n = if **v == "get" { name.as_deref() } else { None };
                    Request::parse(v, "secrets", &ns, n)
                        .is_ok_and(|r| rbac.authorize(&user, &r).allowed())
                })
                .map(|v| v.to_string())
                .collect();
            if !verbs.is_empty() {
                wl.push(WorkloadReader {
                    kind: o.kind.clone(),
                    namespace: wns.clone(),
                    name: o.name.clone(),
                    service_account: sa.clone(),
                    verbs,
                });
            }
        }
        answers.push(SecretAccess {
            namespace: ns,
            name,
            readers,
            workloads: wl,
        });
    }
    match a.output {
        Format::Json => write_json(&answers)?,
        Format::Table => cli::write_with(None, |out| {
            for s in &answers {
                let what = match &s.name {
                    Some(n) => format!("Secret {}/{}", s.namespace, n),
                    None => format!("every Secret of namespace {}", s.namespace),
                };
                writeln!(out, "{}", Escaped(&what))?;
                if s.readers.is_empty() {
                    writeln!(
                        out,
                        "  readable by nobody through RBAC (system:masters aside)"
                    )?;
                }
                for r in &s.readers {
                    let via: Vec<String> = r.via.iter().map(|g| describe_grant(&rbac, g)).collect();
                    writeln!(
                        out,
                        "  {} [{}] via {}",
                        Escaped(&r.subject.to_string()),
                        r.verbs.join(","),
                        Escaped(&via.join("; "))
                    )?;
                }
                for w in &s.workloads {
                    writeln!(
                        out,
                        "  workload {} {}/{} (ServiceAccount {}) [{}]",
                        Escaped(&w.kind),
                        Escaped(&w.namespace),
                        Escaped(&w.name),
                        Escaped(&w.service_account),
                        w.verbs.join(",")
                    )?;
                }
            }
            Ok(())
        })?,
    }
    Ok(cli::exit_code(errors, false))
}

/// The authorizer's view of one audit event.
fn attempt_of(ev: &kubevigil_audit::Event<'_>) -> Option<Attempt> {
    let verb = ev.verb.as_deref().unwrap_or("");
    let object_ref = ev.object_ref.as_ref().map(|o| {
        let s =
            |v: &Option<kubevigil_audit::event::Str<'_>>| v.as_deref().unwrap_or("").to_string();
        [
            s(&o.api_group),
            s(&o.resource),
            s(&o.subresource),
            s(&o.namespace),
            s(&o.name),
        ]
    });
    let object_ref = object_ref
        .as_ref()
        .map(|o| [&*o[0], &*o[1], &*o[2], &*o[3], &*o[4]]);
    let request = Attempt::request_of(verb, object_ref, ev.request_uri.as_deref().unwrap_or(""))?;
    let user_of = |u: &kubevigil_audit::event::UserInfo<'_>| {
        let groups: Vec<String> = u.groups().iter().map(|g| g.to_string()).collect();
        (User::new(u.name(), &groups), groups)
    };
    let (user, _) = user_of(ev.user.as_ref()?);
    Some(match &ev.impersonated_user {
        Some(imp) => {
            let (as_user, groups) = user_of(imp);
            let uid = imp.uid.as_deref().unwrap_or("");
            Attempt {
                request,
                impersonator: Some((
                    user,
                    Attempt::impersonation_requests(imp.name(), &groups, uid),
                )),
                user: as_user,
            }
        }
        None => Attempt {
            user,
            request,
            impersonator: None,
        },
    })
}

fn unused(a: UnusedArgs) -> anyhow::Result<ExitCode> {
    let (loaded, errors) = a.input.load()?;
    let rbac = Rbac::from_objects(&loaded.inventory);
    notes(&rbac);
    let mut usage = Usage::new(&rbac);
    let read_errors = ReadErrorLog::default();
    let summary = kubevigil_audit::input::read_all(
        &a.audit,
        |_, _, ev| -> anyhow::Result<()> {
            if let Some(us) = ev.time_micros() {
                usage.saw_time(us);
            }
            let code = ev
                .response_status
                .as_ref()
                .and_then(|r| r.code)
                .and_then(|c| u16::try_from(c).ok());
            usage.record(attempt_of(ev).as_ref(), code);
            Ok(())
        },
        |e| {
            if let Some(line) = read_errors.message(e) {
                eprintln!("{line}");
            }
        },
    )?;
    let report = usage.report();
    match a.output {
        UnusedFormat::Json => write_json(&report)?,
        UnusedFormat::Yaml => {
            let objects: Vec<Value> = report
                .proposals
                .iter()
                .flat_map(|p| p.objects.iter().cloned())
                .collect();
            cli::write_output(None, &to_yaml(&objects))?;
        }
        UnusedFormat::Table => cli::write_with(None, |out| {
            let s = &report.stats;
            writeln!(
                out,
                "{} audit event(s) from {} to {}: {} decided, {} denied (401/403), {} without a decision (RequestReceived)",
                summary.events,
                s.from.as_deref().unwrap_or("-"),
                s.to.as_deref().unwrap_or("-"),
                s.decided,
                s.denied,
                s.undecided
            )?;
            writeln!(
                out,
                "{} of {} grant(s) of the input's bindings never exercised",
                report.unused.len(),
                report.granted
            )?;
            if !report.unused.is_empty() {
                writeln!(out, "SUBJECT\tBINDING\tROLE\tRULE\tGRANTS")?;
            }
            for u in &report.unused {
                let rule = &u.grants;
                let what = if rule.non_resource_urls.is_empty() {
                    format!(
                        "{} {}{}",
                        rule.verbs.join(","),
                        rule.resources.join(","),
                        if rule.resource_names.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", rule.resource_names.join(","))
                        }
                    )
                } else {
                    format!(
                        "{} {}",
                        rule.verbs.join(","),
                        rule.non_resource_urls.join(",")
                    )
                };
                let written = if u.written_in.role != u.role {
                    format!(" (from {} rules[{}])", u.written_in.role, u.written_in.rule)
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "{}\t{}\t{}\trules[{}]{}\t{}",
                    Escaped(&u.subject.to_string()),
                    Escaped(&u.binding.to_string()),
                    Escaped(&u.role.to_string()),
                    u.rule,
                    Escaped(&written),
                    Escaped(&what)
                )?;
            }
            for p in &report.proposals {
                let kinds: Vec<String> = p
                    .objects
                    .iter()
                    .map(|o| {
                        let ns = o["metadata"]["namespace"].as_str();
                        match ns {
                            Some(ns) => format!("{} in {ns}", o["kind"].as_str().unwrap_or("")),
                            None => o["kind"].as_str().unwrap_or("").to_string(),
                        }
                    })
                    .collect();
                let summary = if kinds.is_empty() {
                    "made no request its own bindings allowed: its bindings can go".to_string()
                } else {
                    format!("proposal: {}", kinds.join(", "))
                };
                writeln!(
                    out,
                    "{}: {} request(s); {}",
                    Escaped(&p.subject.to_string()),
                    p.requests,
                    Escaped(&summary)
                )?;
            }
            if !report.proposals.is_empty() {
                writeln!(out, "(-o yaml prints the proposed manifests)")?;
            }
            Ok(())
        })?,
    }
    Ok(cli::exit_code(errors || summary.has_errors(), false))
}
