//! The 19 Pod Security Standards checks, one function per upstream versioned revision.
//!
//! Each function cites its upstream source under kubernetes/kubernetes
//! `staging/src/k8s.io/pod-security-admission/policy/`. Reasons and details are built with
//! upstream's exact words, quoting (`joinQuote`), pluralisation (`pluralize`), sorting
//! (`sets.List` sorts) and joining, so aggregate messages are byte-identical.
//!
//! The pass path allocates nothing: vectors stay empty until a violation is seen.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    Container, EphemeralContainer, Lifecycle, LifecycleHandler, PodSpec, Probe, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::api::go_quote;

/// A failed check: upstream's `CheckResult` with `Allowed == false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Upstream check id, e.g. `hostNamespaces`.
    pub check: &'static str,
    /// `ForbiddenReason`, e.g. `host namespaces`.
    pub reason: &'static str,
    /// `ForbiddenDetail`, e.g. `hostNetwork=true`.
    pub detail: String,
}

pub(crate) type CheckFn = fn(&ObjectMeta, &PodSpec) -> Option<Violation>;

fn fail(check: &'static str, reason: &'static str, detail: String) -> Option<Violation> {
    Some(Violation {
        check,
        reason,
        detail,
    })
}

/// `helpers.go` `joinQuote`.
fn join_quote<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let mut out = String::new();
    push_join_quote(&mut out, items);
    out
}

/// `joinQuote`, appended to `out` (one allocation for the whole detail).
fn push_join_quote<S: AsRef<str>>(out: &mut String, items: impl IntoIterator<Item = S>) {
    let mut any = false;
    for (i, s) in items.into_iter().enumerate() {
        out.push_str(if i == 0 { "\"" } else { "\", \"" });
        out.push_str(s.as_ref());
        any = true;
    }
    if any {
        out.push('"');
    }
}

/// Sorted, deduplicated: what `sets.List` returns.
fn sorted_set<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort_unstable();
    v.dedup();
    v
}

/// `helpers.go` `pluralize`.
fn pluralize(singular: &'static str, plural: &'static str, count: usize) -> &'static str {
    if count == 1 { singular } else { plural }
}

/// `"container \"a\""` / `"containers \"a\", \"b\""`.
fn containers_phrase(names: &[&str]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

/// `[prefix]container(s) "a", "b"[tail]` from an iterator of names, in one allocation.
fn names_detail<'a, I>(prefix: &str, names: impl Fn() -> I, tail: &str) -> String
where
    I: Iterator<Item = &'a str>,
{
    let count = names().count();
    // Capacity only: each name takes its length plus two quotes and a ", " separator.
    let mut out = String::with_capacity(
        prefix.len() + 12 + names().map(|s| s.len() + 4).sum::<usize>() + tail.len(),
    );
    out.push_str(prefix);
    out.push_str(pluralize("container", "containers", count));
    out.push(' ');
    push_join_quote(&mut out, names());
    out.push_str(tail);
    out
}

/// One entry of initContainers, containers or ephemeralContainers (`visitor.go` treats an
/// ephemeral container as a `Container`).
#[derive(Clone, Copy)]
pub(crate) struct Ctr<'a> {
    pub name: &'a str,
    pub sc: Option<&'a SecurityContext>,
    pub ports: &'a [k8s_openapi::api::core::v1::ContainerPort],
    pub liveness: Option<&'a Probe>,
    pub readiness: Option<&'a Probe>,
    pub startup: Option<&'a Probe>,
    pub lifecycle: Option<&'a Lifecycle>,
}

impl<'a> From<&'a Container> for Ctr<'a> {
    fn from(c: &'a Container) -> Self {
        Ctr {
            name: &c.name,
            sc: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or(&[]),
            liveness: c.liveness_probe.as_ref(),
            readiness: c.readiness_probe.as_ref(),
            startup: c.startup_probe.as_ref(),
            lifecycle: c.lifecycle.as_ref(),
        }
    }
}

impl<'a> From<&'a EphemeralContainer> for Ctr<'a> {
    fn from(c: &'a EphemeralContainer) -> Self {
        Ctr {
            name: &c.name,
            sc: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or(&[]),
            liveness: c.liveness_probe.as_ref(),
            readiness: c.readiness_probe.as_ref(),
            startup: c.startup_probe.as_ref(),
            lifecycle: c.lifecycle.as_ref(),
        }
    }
}

/// `visitor.go` `visitContainers`: initContainers, then containers, then ephemeralContainers.
pub(crate) fn containers(spec: &PodSpec) -> impl Iterator<Item = Ctr<'_>> {
    let init = spec.init_containers.as_deref().unwrap_or(&[]);
    let eph = spec.ephemeral_containers.as_deref().unwrap_or(&[]);
    init.iter()
        .map(Ctr::from)
        .chain(spec.containers.iter().map(Ctr::from))
        .chain(eph.iter().map(Ctr::from))
}

fn container_seccomp_type<'a>(c: &Ctr<'a>) -> Option<&'a str> {
    c.sc.and_then(|sc| sc.seccomp_profile.as_ref())
        .map(|p| p.type_.as_str())
}

fn container_capabilities<'a>(c: &Ctr<'a>) -> Option<&'a k8s_openapi::api::core::v1::Capabilities> {
    c.sc.and_then(|sc| sc.capabilities.as_ref())
}

fn psc(spec: &PodSpec) -> Option<&k8s_openapi::api::core::v1::PodSecurityContext> {
    spec.security_context.as_ref()
}

fn is_windows(spec: &PodSpec) -> bool {
    spec.os.as_ref().is_some_and(|os| os.name == "windows")
}

/// `helpers.go` `relaxPolicyForUserNamespacePod` as of v1.35, where the relaxation became
/// unconditional for the policy versions that carry it: `spec.hostUsers == false`.
fn user_namespace_pod(spec: &PodSpec) -> bool {
    spec.host_users == Some(false)
}

// ---------------------------------------------------------------- baseline

/// `check_hostNamespaces.go` `hostNamespaces_1_0`.
pub(crate) fn host_namespaces_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let flags = [
        (spec.host_network, "hostNetwork=true"),
        (spec.host_pid, "hostPID=true"),
        (spec.host_ipc, "hostIPC=true"),
    ];
    if !flags.iter().any(|(f, _)| *f == Some(true)) {
        return None;
    }
    let set: Vec<&str> = flags
        .iter()
        .filter(|(f, _)| *f == Some(true))
        .map(|(_, s)| *s)
        .collect();
    fail("hostNamespaces", "host namespaces", set.join(", "))
}

/// `check_privileged.go` `privileged_1_0`.
pub(crate) fn privileged_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let bad = || {
        containers(spec)
            .filter(|c| c.sc.and_then(|sc| sc.privileged) == Some(true))
            .map(|c| c.name)
    };
    bad().next()?;
    fail(
        "privileged",
        "privileged",
        names_detail("", bad, " must not set securityContext.privileged=true"),
    )
}

/// `check_capabilities_baseline.go` `capabilities_allowed_1_0`.
pub(crate) const CAPABILITIES_ALLOWED_1_0: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// `check_capabilities_baseline.go` `capabilitiesBaseline_1_0`.
pub(crate) fn capabilities_baseline_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut caps = Vec::new();
    for c in containers(spec) {
        let Some(add) =
            c.sc.and_then(|sc| sc.capabilities.as_ref())
                .and_then(|c| c.add.as_ref())
        else {
            continue;
        };
        let mut valid = true;
        for cap in add {
            if !CAPABILITIES_ALLOWED_1_0.contains(&cap.as_str()) {
                valid = false;
                caps.push(cap.as_str());
            }
        }
        if !valid {
            bad.push(c.name);
        }
    }
    if bad.is_empty() {
        return None;
    }
    fail(
        "capabilities_baseline",
        "non-default capabilities",
        format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&bad),
            join_quote(sorted_set(caps))
        ),
    )
}

/// `check_hostPathVolumes.go` `hostPathVolumes_1_0`.
pub(crate) fn host_path_volumes_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let vols = spec.volumes.as_deref().unwrap_or(&[]);
    if !vols.iter().any(|v| v.host_path.is_some()) {
        return None;
    }
    let bad: Vec<&str> = vols
        .iter()
        .filter(|v| v.host_path.is_some())
        .map(|v| v.name.as_str())
        .collect();
    fail(
        "hostPathVolumes",
        "hostPath volumes",
        format!(
            "{} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad)
        ),
    )
}

/// `check_hostPorts.go` `hostPorts_1_0`. Ports sort as strings (`sets.NewString().List()`).
pub(crate) fn host_ports_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let host_ports = |c: &Ctr<'_>| c.ports.iter().any(|p| p.host_port.unwrap_or(0) != 0);
    let bad = || containers(spec).filter(|c| host_ports(c)).map(|c| c.name);
    let count = bad().count();
    if count == 0 {
        return None;
    }
    let mut ports: Vec<i32> = containers(spec)
        .flat_map(|c| {
            c.ports
                .iter()
                .filter_map(|p| p.host_port.filter(|hp| *hp != 0))
        })
        .collect();
    // sets.NewString: decimal strings, sorted as strings ("10000" < "80").
    ports.sort_unstable_by(|a, b| Decimal::of(*a).as_str().cmp(Decimal::of(*b).as_str()));
    ports.dedup();
    let mut detail = names_detail("", bad, " ");
    detail.push_str(pluralize("uses", "use", count));
    detail.push(' ');
    detail.push_str(pluralize("hostPort", "hostPorts", ports.len()));
    detail.push(' ');
    for (i, p) in ports.iter().enumerate() {
        if i > 0 {
            detail.push_str(", ");
        }
        detail.push_str(Decimal::of(*p).as_str());
    }
    fail("hostPorts", "hostPort", detail)
}

/// An `i32` in decimal without allocating (what `strconv.Itoa` prints).
struct Decimal {
    buf: [u8; 11],
    start: usize,
}

impl Decimal {
    fn of(n: i32) -> Decimal {
        let mut buf = [0u8; 11];
        let mut i = buf.len();
        let mut v = n.unsigned_abs();
        loop {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        if n < 0 {
            i -= 1;
            buf[i] = b'-';
        }
        Decimal { buf, start: i }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[self.start..]).expect("ASCII digits")
    }
}

pub(crate) const APPARMOR_ANNOTATION_PREFIX: &str =
    "container.apparmor.security.beta.kubernetes.io/";

/// `check_appArmorProfile.go` `allowedAnnotationValue`.
pub(crate) fn apparmor_annotation_allowed(v: &str) -> bool {
    v.is_empty() || v == "runtime/default" || v.starts_with("localhost/")
}

/// `check_appArmorProfile.go` `allowedProfileType`.
fn apparmor_type_allowed(t: &str) -> bool {
    t == "RuntimeDefault" || t == "Localhost"
}

/// `check_appArmorProfile.go` `appArmorProfileV1Dot0`: the `appArmorProfile` fields (pod and
/// containers) and the deprecated beta annotations, in one check registered at v1.0.
pub(crate) fn apparmor_profile_1_0(meta: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let mut setters: Vec<String> = Vec::new();
    let mut values: BTreeSet<&str> = BTreeSet::new();
    if let Some(p) = psc(spec).and_then(|s| s.app_armor_profile.as_ref())
        && !apparmor_type_allowed(&p.type_)
    {
        setters.push("pod".into());
        values.insert(&p.type_);
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        if let Some(p) = c.sc.and_then(|sc| sc.app_armor_profile.as_ref())
            && !apparmor_type_allowed(&p.type_)
        {
            bad.push(c.name);
            values.insert(&p.type_);
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    let mut annotations: Vec<String> = Vec::new();
    if let Some(a) = &meta.annotations {
        for (k, v) in a {
            if k.starts_with(APPARMOR_ANNOTATION_PREFIX) && !apparmor_annotation_allowed(v) {
                annotations.push(format!("{k}={}", go_quote(v)));
            }
        }
    }
    if setters.is_empty() && annotations.is_empty() {
        return None;
    }
    let mut value_list: Vec<String> = values.into_iter().map(str::to_string).collect();
    if !annotations.is_empty() {
        annotations.sort();
        setters.push(pluralize("annotation", "annotations", annotations.len()).into());
        value_list.extend(annotations);
    }
    fail(
        "appArmorProfile",
        pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            value_list.len(),
        ),
        format!(
            "{} must not set AppArmor profile type to {}",
            setters.join(" and "),
            join_quote(&value_list)
        ),
    )
}

/// `check_seLinuxOptions.go` `selinuxAllowedTypes1_0`.
const SELINUX_TYPES_1_0: [&str; 4] = ["", "container_t", "container_init_t", "container_kvm_t"];
/// `check_seLinuxOptions.go` `selinuxAllowedTypes1_31`.
const SELINUX_TYPES_1_31: [&str; 5] = [
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// `validSELinuxOptions`: records what made the options invalid.
fn selinux_valid(
    o: &k8s_openapi::api::core::v1::SELinuxOptions,
    allowed: &[&str],
    set_user: &mut bool,
    set_role: &mut bool,
) -> bool {
    let mut ok = allowed.contains(&o.type_.as_deref().unwrap_or(""));
    if o.user.as_deref().is_some_and(|u| !u.is_empty()) {
        ok = false;
        *set_user = true;
    }
    if o.role.as_deref().is_some_and(|r| !r.is_empty()) {
        ok = false;
        *set_role = true;
    }
    ok
}

/// `check_seLinuxOptions.go` `seLinuxOptions` (shared by V1Dot0 and V1Dot31).
fn selinux_options(spec: &PodSpec, allowed: &[&str]) -> Option<Violation> {
    let mut bad_types: BTreeSet<&str> = BTreeSet::new();
    let (mut set_user, mut set_role) = (false, false);
    let mut valid = |o: &'_ k8s_openapi::api::core::v1::SELinuxOptions| {
        selinux_valid(o, allowed, &mut set_user, &mut set_role)
    };
    let mut setters: Vec<String> = Vec::new();
    if let Some(o) = psc(spec).and_then(|s| s.se_linux_options.as_ref())
        && !valid(o)
    {
        setters.push("pod".into());
        note_type(&mut bad_types, o, allowed);
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        if let Some(o) = c.sc.and_then(|sc| sc.se_linux_options.as_ref())
            && !valid(o)
        {
            bad.push(c.name);
            note_type(&mut bad_types, o, allowed);
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    let mut data = Vec::new();
    if !bad_types.is_empty() {
        data.push(format!(
            "{} {}",
            pluralize("type", "types", bad_types.len()),
            join_quote(&bad_types)
        ));
    }
    if set_user {
        data.push("user may not be set".into());
    }
    if set_role {
        data.push("role may not be set".into());
    }
    fail(
        "seLinuxOptions",
        "seLinuxOptions",
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.join(" and "),
            data.join("; ")
        ),
    )
}

fn note_type<'a>(
    bad: &mut BTreeSet<&'a str>,
    o: &'a k8s_openapi::api::core::v1::SELinuxOptions,
    allowed: &[&str],
) {
    let t = o.type_.as_deref().unwrap_or("");
    if !allowed.contains(&t) {
        bad.insert(t);
    }
}

/// `check_seLinuxOptions.go` `seLinuxOptionsV1Dot0`.
pub(crate) fn selinux_options_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    selinux_options(spec, &SELINUX_TYPES_1_0)
}

/// `check_seLinuxOptions.go` `seLinuxOptionsV1Dot31`: adds `container_engine_t`.
pub(crate) fn selinux_options_1_31(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    selinux_options(spec, &SELINUX_TYPES_1_31)
}

/// `check_procMount_baseline.go` / `check_procMount_restricted.go` `procMount_1_0`:
/// anything but `Default` (or unset) is forbidden.
fn proc_mount(check: &'static str, spec: &PodSpec) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for c in containers(spec) {
        if let Some(pm) = c.sc.and_then(|sc| sc.proc_mount.as_deref())
            && pm != "Default"
        {
            bad.push(c.name);
            types.insert(pm);
        }
    }
    if bad.is_empty() {
        return None;
    }
    fail(
        check,
        "procMount",
        format!(
            "{} must not set securityContext.procMount to {}",
            containers_phrase(&bad),
            join_quote(&types)
        ),
    )
}

/// `check_procMount_baseline.go` `procMount_1_0` (baseline id `procMount`).
pub(crate) fn proc_mount_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    proc_mount("procMount", spec)
}

/// `check_procMount_baseline.go` `procMount1_35baseline`: user-namespace pods
/// (`hostUsers: false`) may set any procMount.
pub(crate) fn proc_mount_1_35_baseline(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    if user_namespace_pod(spec) {
        return None;
    }
    proc_mount("procMount", spec)
}

/// `check_procMount_restricted.go`: `procMount_1_0` again, overriding baseline `procMount`
/// from v1.35 so restricted never gets the user-namespace relaxation.
pub(crate) fn proc_mount_restricted_1_35(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    proc_mount("procMount_restricted", spec)
}

pub(crate) const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
pub(crate) const SECCOMP_CONTAINER_ANNOTATION_PREFIX: &str =
    "container.seccomp.security.alpha.kubernetes.io/";

/// `check_seccompProfile_baseline.go` `validSeccompAnnotationValue`.
pub(crate) fn seccomp_annotation_valid(v: &str) -> bool {
    v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/")
}

/// `check_seccompProfile_baseline.go` `validSeccomp`.
fn seccomp_type_valid(t: &str) -> bool {
    t == "Localhost" || t == "RuntimeDefault"
}

/// `check_seccompProfile_baseline.go` `seccompProfileBaseline_1_0`: the alpha annotations.
pub(crate) fn seccomp_baseline_1_0(meta: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let annotations = meta.annotations.as_ref()?;
    let mut forbidden = BTreeSet::new();
    if let Some(v) = annotations.get(SECCOMP_POD_ANNOTATION)
        && !seccomp_annotation_valid(v)
    {
        forbidden.insert(format!("{SECCOMP_POD_ANNOTATION}={}", go_quote(v)));
    }
    for c in containers(spec) {
        let key = format!("{SECCOMP_CONTAINER_ANNOTATION_PREFIX}{}", c.name);
        if let Some(v) = annotations.get(&key)
            && !seccomp_annotation_valid(v)
        {
            forbidden.insert(format!("{key}={}", go_quote(v)));
        }
    }
    if forbidden.is_empty() {
        return None;
    }
    let list: Vec<String> = forbidden.into_iter().collect();
    fail(
        "seccompProfile_baseline",
        "seccompProfile",
        format!(
            "forbidden {} {}",
            pluralize("annotation", "annotations", list.len()),
            list.join(", ")
        ),
    )
}

/// `check_seccompProfile_baseline.go` `seccompProfileBaseline_1_19`: the
/// `securityContext.seccompProfile` fields.
pub(crate) fn seccomp_baseline_1_19(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    seccomp_fields("seccompProfile_baseline", spec, false)
}

/// `check_seccompProfile_restricted.go` `seccompProfileRestricted_1_19`.
pub(crate) fn seccomp_restricted_1_19(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    seccomp_fields("seccompProfile_restricted", spec, true)
}

/// `check_seccompProfile_restricted.go` `seccompProfileRestricted_1_25`: Windows pods exempt.
pub(crate) fn seccomp_restricted_1_25(meta: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    if is_windows(spec) {
        return None;
    }
    seccomp_restricted_1_19(meta, spec)
}

/// Shared body of the baseline (explicit bad values only) and restricted (must be set) seccomp
/// field checks.
fn seccomp_fields(check: &'static str, spec: &PodSpec, require: bool) -> Option<Violation> {
    let pod_type = psc(spec)
        .and_then(|s| s.seccomp_profile.as_ref())
        .map(|p| p.type_.as_str());
    let pod_bad = pod_type.is_some_and(|t| !seccomp_type_valid(t));
    let container_type = container_seccomp_type;
    let explicit = || {
        containers(spec)
            .filter(|c| container_type(c).is_some_and(|t| !seccomp_type_valid(t)))
            .map(|c| c.name)
    };
    let any_explicit = explicit().next().is_some();
    if pod_bad || any_explicit {
        let mut values: Vec<&str> = containers(spec)
            .filter_map(|c| container_type(&c))
            .chain(pod_type)
            .filter(|t| !seccomp_type_valid(t))
            .collect();
        values = sorted_set(values);
        let mut detail = if any_explicit {
            names_detail(if pod_bad { "pod and " } else { "" }, explicit, "")
        } else {
            "pod".to_string()
        };
        detail.push_str(" must not set securityContext.seccompProfile.type to ");
        push_join_quote(&mut detail, values);
        return fail(check, "seccompProfile", detail);
    }
    if !require || pod_type.is_some() {
        return None;
    }
    // No valid pod-level profile: every container must set one.
    let implicit = || {
        containers(spec)
            .filter(|c| container_type(c).is_none())
            .map(|c| c.name)
    };
    implicit().next()?;
    fail(
        check,
        "seccompProfile",
        names_detail(
            "pod or ",
            implicit,
            r#" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
        ),
    )
}

/// `check_sysctls.go` `sysctlsAllowedV1Dot0`.
const SYSCTLS_1_0: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
];
/// `sysctlsAllowedV1Dot27` adds `net.ipv4.ip_local_reserved_ports`.
const SYSCTLS_1_27: &[&str] = &["net.ipv4.ip_local_reserved_ports"];
/// `sysctlsAllowedV1Dot29` adds the TCP keepalive and FIN timeout sysctls.
const SYSCTLS_1_29: &[&str] = &[
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
/// `sysctlsAllowedV1Dot32` adds the TCP buffer sysctls (PR #127489).
const SYSCTLS_1_32: &[&str] = &["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"];
/// `sysctlsAllowedV1Dot37` adds two more TCP sysctls (PR #138389).
const SYSCTLS_1_37: &[&str] = &[
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
];

/// `check_sysctls.go` `sysctls`: names in order of appearance, duplicates kept, unsorted.
fn sysctls(spec: &PodSpec, allowed: &[&[&str]]) -> Option<Violation> {
    let list = psc(spec).and_then(|s| s.sysctls.as_deref()).unwrap_or(&[]);
    let ok = |n: &str| allowed.iter().any(|set| set.contains(&n));
    if list.iter().all(|s| ok(&s.name)) {
        return None;
    }
    let bad: Vec<&str> = list
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| !ok(n))
        .collect();
    fail("sysctls", "forbidden sysctls", bad.join(", "))
}

pub(crate) fn sysctls_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    sysctls(spec, &[SYSCTLS_1_0])
}
pub(crate) fn sysctls_1_27(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    sysctls(spec, &[SYSCTLS_1_0, SYSCTLS_1_27])
}
pub(crate) fn sysctls_1_29(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    sysctls(spec, &[SYSCTLS_1_0, SYSCTLS_1_27, SYSCTLS_1_29])
}
pub(crate) fn sysctls_1_32(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    sysctls(
        spec,
        &[SYSCTLS_1_0, SYSCTLS_1_27, SYSCTLS_1_29, SYSCTLS_1_32],
    )
}
pub(crate) fn sysctls_1_37(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    sysctls(
        spec,
        &[
            SYSCTLS_1_0,
            SYSCTLS_1_27,
            SYSCTLS_1_29,
            SYSCTLS_1_32,
            SYSCTLS_1_37,
        ],
    )
}

/// `check_windowsHostProcess.go` `windowsHostProcess_1_0`.
pub(crate) fn windows_host_process_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let mut bad = Vec::new();
    for c in containers(spec) {
        if c.sc
            .and_then(|sc| sc.windows_options.as_ref())
            .and_then(|w| w.host_process)
            == Some(true)
        {
            bad.push(c.name);
        }
    }
    let pod = psc(spec)
        .and_then(|s| s.windows_options.as_ref())
        .and_then(|w| w.host_process)
        == Some(true);
    if bad.is_empty() && !pod {
        return None;
    }
    let mut setters = Vec::new();
    if pod {
        setters.push("pod".to_string());
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    fail(
        "windowsHostProcess",
        "hostProcess",
        format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            setters.join(" and ")
        ),
    )
}

/// `check_hostProbesAndhostLifecycle.go` `getForbiddenHostProbes` / `getForbiddenHostLifecycle`.
fn probe_hosts<'a>(out: &mut Vec<&'a str>, probe: Option<&'a Probe>) {
    if let Some(p) = probe {
        push_host(out, p.http_get.as_ref().and_then(|h| h.host.as_deref()));
        push_host(out, p.tcp_socket.as_ref().and_then(|t| t.host.as_deref()));
    }
}

fn handler_hosts<'a>(out: &mut Vec<&'a str>, handler: Option<&'a LifecycleHandler>) {
    if let Some(h) = handler {
        push_host(out, h.http_get.as_ref().and_then(|h| h.host.as_deref()));
        push_host(out, h.tcp_socket.as_ref().and_then(|t| t.host.as_deref()));
    }
}

fn push_host<'a>(out: &mut Vec<&'a str>, host: Option<&'a str>) {
    if let Some(h) = host.filter(|h| !h.is_empty()) {
        out.push(h);
    }
}

/// `check_hostProbesAndhostLifecycle.go` `hostProbesAndHostLifecycleV1Dot34`. Container names
/// and hosts are sets here (`sets.New[string]`), so both come out sorted and deduplicated.
pub(crate) fn host_probes_lifecycle_1_34(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let mut bad: BTreeSet<&str> = BTreeSet::new();
    let mut hosts: BTreeSet<&str> = BTreeSet::new();
    let mut found = Vec::new();
    for c in containers(spec) {
        found.clear();
        probe_hosts(&mut found, c.liveness);
        probe_hosts(&mut found, c.readiness);
        probe_hosts(&mut found, c.startup);
        if let Some(l) = c.lifecycle {
            handler_hosts(&mut found, l.post_start.as_ref());
            handler_hosts(&mut found, l.pre_stop.as_ref());
        }
        if !found.is_empty() {
            bad.insert(c.name);
            hosts.extend(found.iter().copied());
        }
    }
    if bad.is_empty() {
        return None;
    }
    fail(
        "hostProbesAndHostLifecycle",
        "probe or lifecycle host",
        format!(
            "{} {} {} {} {}",
            pluralize("container", "containers", bad.len()),
            join_quote(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize(
                "probe or lifecycle host",
                "probe or lifecycle hosts",
                hosts.len()
            ),
            join_quote(&hosts)
        ),
    )
}

// -------------------------------------------------------------- restricted

/// Whether `restrictedVolumes` lets a volume through: it has one of the allowed sources
/// (shared with the severity of its findings, which must judge the same volumes).
pub(crate) fn restricted_volume_allowed(v: &k8s_openapi::api::core::v1::Volume) -> bool {
    v.config_map.is_some()
        || v.csi.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.ephemeral.is_some()
        || v.image.is_some()
        || v.persistent_volume_claim.is_some()
        || v.projected.is_some()
        || v.secret.is_some()
}

/// `check_restrictedVolumes.go` `restrictedVolumes_1_0`. `image` volumes were added to the
/// allowed list in place (PR #130394), so they pass at every policy version.
pub(crate) fn restricted_volumes_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let vols = spec.volumes.as_deref().unwrap_or(&[]);
    let allowed = restricted_volume_allowed;
    if vols.iter().all(allowed) {
        return None;
    }
    let mut bad = Vec::new();
    let mut types = Vec::new();
    for v in vols.iter().filter(|v| !allowed(v)) {
        bad.push(v.name.as_str());
        let t = if v.host_path.is_some() {
            "hostPath"
        } else if v.gce_persistent_disk.is_some() {
            "gcePersistentDisk"
        } else if v.aws_elastic_block_store.is_some() {
            "awsElasticBlockStore"
        } else if v.git_repo.is_some() {
            "gitRepo"
        } else if v.nfs.is_some() {
            "nfs"
        } else if v.iscsi.is_some() {
            "iscsi"
        } else if v.glusterfs.is_some() {
            "glusterfs"
        } else if v.rbd.is_some() {
            "rbd"
        } else if v.flex_volume.is_some() {
            "flexVolume"
        } else if v.cinder.is_some() {
            "cinder"
        } else if v.cephfs.is_some() {
            "cephfs"
        } else if v.flocker.is_some() {
            "flocker"
        } else if v.fc.is_some() {
            "fc"
        } else if v.azure_file.is_some() {
            "azureFile"
        } else if v.vsphere_volume.is_some() {
            "vsphereVolume"
        } else if v.quobyte.is_some() {
            "quobyte"
        } else if v.azure_disk.is_some() {
            "azureDisk"
        } else if v.photon_persistent_disk.is_some() {
            "photonPersistentDisk"
        } else if v.portworx_volume.is_some() {
            "portworxVolume"
        } else if v.scale_io.is_some() {
            "scaleIO"
        } else if v.storageos.is_some() {
            "storageos"
        } else {
            "unknown"
        };
        types.push(t);
    }
    let types = sorted_set(types);
    let mut detail = String::with_capacity(64 + bad.iter().map(|b| b.len() + 4).sum::<usize>());
    detail.push_str(pluralize("volume", "volumes", bad.len()));
    detail.push(' ');
    push_join_quote(&mut detail, &bad);
    detail.push(' ');
    detail.push_str(pluralize("uses", "use", bad.len()));
    detail.push(' ');
    detail.push_str(pluralize(
        "restricted volume type",
        "restricted volume types",
        types.len(),
    ));
    detail.push(' ');
    push_join_quote(&mut detail, &types);
    fail("restrictedVolumes", "restricted volume types", detail)
}

/// `check_allowPrivilegeEscalation.go` `allowPrivilegeEscalation_1_8`.
pub(crate) fn allow_privilege_escalation_1_8(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let bad = || {
        containers(spec)
            .filter(|c| c.sc.and_then(|sc| sc.allow_privilege_escalation) != Some(false))
            .map(|c| c.name)
    };
    bad().next()?;
    fail(
        "allowPrivilegeEscalation",
        "allowPrivilegeEscalation != false",
        names_detail(
            "",
            bad,
            " must set securityContext.allowPrivilegeEscalation=false",
        ),
    )
}

/// `check_allowPrivilegeEscalation.go` `allowPrivilegeEscalation_1_25`: Windows pods exempt.
pub(crate) fn allow_privilege_escalation_1_25(
    meta: &ObjectMeta,
    spec: &PodSpec,
) -> Option<Violation> {
    if is_windows(spec) {
        return None;
    }
    allow_privilege_escalation_1_8(meta, spec)
}

/// `check_runAsNonRoot.go` `runAsNonRoot_1_0`.
pub(crate) fn run_as_non_root_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let pod = psc(spec).and_then(|s| s.run_as_non_root);
    let explicit = || {
        containers(spec)
            .filter(|c| c.sc.and_then(|sc| sc.run_as_non_root) == Some(false))
            .map(|c| c.name)
    };
    let any_explicit = explicit().next().is_some();
    if pod == Some(false) || any_explicit {
        let mut detail = String::new();
        if pod == Some(false) {
            detail.push_str("pod");
        }
        if any_explicit {
            let prefix = if detail.is_empty() { "" } else { "pod and " };
            detail = names_detail(prefix, explicit, "");
        }
        detail.push_str(" must not set securityContext.runAsNonRoot=false");
        return fail("runAsNonRoot", "runAsNonRoot != true", detail);
    }
    if pod == Some(true) {
        return None;
    }
    // No pod-level runAsNonRoot=true: every container must opt in itself.
    let implicit = || {
        containers(spec)
            .filter(|c| c.sc.and_then(|sc| sc.run_as_non_root).is_none())
            .map(|c| c.name)
    };
    implicit().next()?;
    fail(
        "runAsNonRoot",
        "runAsNonRoot != true",
        names_detail(
            "pod or ",
            implicit,
            " must set securityContext.runAsNonRoot=true",
        ),
    )
}

/// `check_runAsNonRoot.go` `runAsNonRoot_1_35`: skipped for user-namespace pods (KEP-127).
pub(crate) fn run_as_non_root_1_35(meta: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    if user_namespace_pod(spec) {
        return None;
    }
    run_as_non_root_1_0(meta, spec)
}

/// `check_runAsUser.go` `runAsUser_1_23`.
pub(crate) fn run_as_user_1_23(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let pod = psc(spec).and_then(|s| s.run_as_user) == Some(0);
    let mut bad = Vec::new();
    for c in containers(spec) {
        if c.sc.and_then(|sc| sc.run_as_user) == Some(0) {
            bad.push(c.name);
        }
    }
    if !pod && bad.is_empty() {
        return None;
    }
    let mut setters = Vec::new();
    if pod {
        setters.push("pod".to_string());
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    fail(
        "runAsUser",
        "runAsUser=0",
        format!("{} must not set runAsUser=0", setters.join(" and ")),
    )
}

/// `check_runAsUser.go` `runAsUser_1_35`: skipped for user-namespace pods (KEP-127).
pub(crate) fn run_as_user_1_35(meta: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    if user_namespace_pod(spec) {
        return None;
    }
    run_as_user_1_23(meta, spec)
}

/// `check_capabilities_restricted.go` `capabilitiesRestricted_1_22`.
pub(crate) fn capabilities_restricted_1_22(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let caps = container_capabilities;
    let missing_drop_all = || {
        containers(spec)
            .filter(|c| {
                !caps(c)
                    .and_then(|k| k.drop.as_deref())
                    .unwrap_or(&[])
                    .iter()
                    .any(|d| d == "ALL")
            })
            .map(|c| c.name)
    };
    let forbidden_adds = |c: &Ctr<'_>| {
        caps(c)
            .and_then(|k| k.add.as_deref())
            .unwrap_or(&[])
            .iter()
            .any(|a| a != "NET_BIND_SERVICE")
    };
    let adding = || {
        containers(spec)
            .filter(|c| forbidden_adds(c))
            .map(|c| c.name)
    };
    let any_missing = missing_drop_all().next().is_some();
    let any_adding = adding().next().is_some();
    if !any_missing && !any_adding {
        return None;
    }
    let mut detail = String::new();
    if any_missing {
        detail = names_detail(
            "",
            missing_drop_all,
            r#" must set securityContext.capabilities.drop=["ALL"]"#,
        );
    }
    if any_adding {
        let added: Vec<&str> = containers(spec)
            .filter_map(|c| caps(&c).and_then(|k| k.add.as_deref()))
            .flatten()
            .map(String::as_str)
            .filter(|a| *a != "NET_BIND_SERVICE")
            .collect();
        if any_missing {
            detail.push_str("; ");
        }
        detail.push_str(&names_detail("", adding, " must not include "));
        push_join_quote(&mut detail, sorted_set(added));
        detail.push_str(" in securityContext.capabilities.add");
    }
    fail(
        "capabilities_restricted",
        "unrestricted capabilities",
        detail,
    )
}

/// `check_capabilities_restricted.go` `capabilitiesRestricted_1_25`: Windows pods exempt.
pub(crate) fn capabilities_restricted_1_25(meta: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    if is_windows(spec) {
        return None;
    }
    capabilities_restricted_1_22(meta, spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_quote_and_pluralize_match_upstream() {
        assert_eq!(join_quote(Vec::<&str>::new()), "");
        assert_eq!(join_quote(["a"]), r#""a""#);
        assert_eq!(join_quote(["a", "b"]), r#""a", "b""#);
        assert_eq!(pluralize("x", "xs", 0), "xs");
        assert_eq!(pluralize("x", "xs", 1), "x");
    }

    /// What Go's `strconv.Itoa` prints, over the whole `i32` range.
    #[test]
    fn decimal_prints_as_itoa() {
        for (n, want) in [
            (0, "0"),
            (7, "7"),
            (-7, "-7"),
            (8080, "8080"),
            (i32::MAX, "2147483647"),
            (i32::MIN, "-2147483648"),
        ] {
            assert_eq!(Decimal::of(n).as_str(), want);
        }
    }
}
