//! Pod Security violations as `kubevigil scan` findings: one finding per failed check per
//! workload, pointing at the offending field, with upstream's detail and a remediation.

use kubevigil_model::span::FieldPath;
use kubevigil_model::workload::pod_template;
use kubevigil_model::{DiagLevel, Diagnostic, Finding, Inventory, Object, PodTemplate, Reference};

use crate::api::{Level, LevelVersion, Version};
use crate::registry::{CHECKS, check_def};
use crate::severity;
use crate::{Evaluation, InputError, PodInput, Violation};
use kubevigil_rule::{RuleMeta, refs};

/// A workload whose pod template could not be decoded as the API server would decode it.
#[derive(Debug)]
pub struct DecodeError<'a> {
    pub object: &'a Object,
    /// The field that failed to decode (`spec.template.spec.containers[0].ports[0].containerPort`),
    /// or the object missing a required field.
    pub path: FieldPath,
    pub error: InputError,
}

impl DecodeError<'_> {
    /// An input error, with its location: what a scan reports instead of the template's
    /// findings.
    pub fn diagnostic(&self) -> Diagnostic {
        let message = format!(
            "{}: {}: {} (the API server would reject it; Pod Security not evaluated)",
            self.object.display_name(),
            self.path,
            self.error
        );
        Diagnostic::at_field(self.object, &self.path, DiagLevel::Error, message)
    }
}

/// One evaluated Pod or workload.
pub struct Evaluated<'a> {
    pub template: PodTemplate<'a>,
    pub pod: PodInput,
}

/// Decodes the pod template of every Pod and workload in the inventory (API defaults applied).
pub fn workloads(inventory: &Inventory) -> (Vec<Evaluated<'_>>, Vec<DecodeError<'_>>) {
    workloads_of(&inventory.objects)
}

/// [`workloads`] of objects held elsewhere (a store's, say).
pub fn workloads_of<'a>(
    objects: impl IntoIterator<Item = &'a Object>,
) -> (Vec<Evaluated<'a>>, Vec<DecodeError<'a>>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for object in objects {
        let Some(template) = pod_template(object) else {
            continue;
        };
        match decode(&template) {
            Ok(pod) => ok.push(Evaluated { template, pod }),
            Err(error) => errors.push(error),
        }
    }
    (ok, errors)
}

/// Decodes one pod template as the API server would (API defaults applied).
pub fn decode<'a>(template: &PodTemplate<'a>) -> Result<PodInput, DecodeError<'a>> {
    let is_pod = template.object.kind == "Pod";
    PodInput::from_values(template.metadata, template.spec, is_pod).map_err(|error| {
        let base = match error {
            InputError::Metadata(..) => template.metadata_path,
            InputError::Spec(..) => template.spec_path,
        };
        let mut path = base.clone();
        path.0.extend(error.field().0.iter().cloned());
        DecodeError {
            object: template.object,
            path,
            error,
        }
    })
}

/// Findings for every Pod and workload at `level`/`version`, as severe as the violation
/// ([`severity::danger`]: critical, high for what baseline forbids, medium for restricted-only
/// violations). Templates that cannot be decoded are skipped here;
/// [`workloads`] reports them.
pub fn scan_findings(inventory: &Inventory, level: Level, version: Version) -> Vec<Finding> {
    scan_findings_and_errors(inventory, level, version).0
}

/// [`scan_findings`], plus the templates that could not be decoded (so that a caller can
/// report them rather than skip them silently).
pub fn scan_findings_and_errors(
    inventory: &Inventory,
    level: Level,
    version: Version,
) -> (Vec<Finding>, Vec<DecodeError<'_>>) {
    let lv = LevelVersion::new(level, version);
    let (evaluated, errors) = workloads(inventory);
    let mut out = Vec::new();
    for e in &evaluated {
        out.extend(findings_for(&e.template, &e.pod, &e.pod.evaluate(lv)));
    }
    (out, errors)
}

/// [`scan_findings_and_errors`] for one object (nothing when it is not a Pod or a workload): its
/// findings, or the diagnostic of a template that cannot be decoded.
pub fn object_findings(
    object: &Object,
    level: Level,
    version: Version,
) -> Result<Vec<Finding>, Diagnostic> {
    let Some(template) = pod_template(object) else {
        return Ok(Vec::new());
    };
    let pod = decode(&template).map_err(|e| e.diagnostic())?;
    let lv = LevelVersion::new(level, version);
    Ok(findings_for(&template, &pod, &pod.evaluate(lv)))
}

/// Every Pod Security finding `kubevigil scan` can report, in evaluation order.
pub fn rules() -> impl Iterator<Item = &'static RuleMeta> {
    CHECKS.iter().map(|d| &d.rule)
}

/// Findings for one evaluated template (`pod` is its decoded form, `eval` its evaluation).
pub fn findings_for(template: &PodTemplate<'_>, pod: &PodInput, eval: &Evaluation) -> Vec<Finding> {
    eval.violations
        .iter()
        .map(|v| finding_for(template, eval.level_version, pod, v))
        .collect()
}

/// The finding for one violation of a template evaluated at `lv`. Its severity is the
/// violation's danger ([`severity::danger`]), which may exceed the rule's; the message is
/// upstream's text followed by the lowest level the violation breaks, e.g. `[breaks baseline]`.
pub fn finding_for(
    template: &PodTemplate<'_>,
    lv: LevelVersion,
    pod: &PodInput,
    v: &Violation,
) -> Finding {
    let def = check_def(v.check).expect("a violation names a registered check");
    let meta = &def.rule;
    let danger = severity::danger(def, lv, &pod.meta, &pod.spec);
    let path = (def.locate)(template).unwrap_or_else(|| template.spec_path.clone());
    let message = if v.detail.is_empty() {
        v.reason.to_string()
    } else {
        format!("{} ({})", v.reason, v.detail)
    };
    Finding::at(
        meta.id,
        danger.severity,
        meta.title,
        format!(
            "{} violates PodSecurity \"{}\": {message} [breaks {}]",
            template.object.display_name(),
            lv,
            danger.level
        ),
        template.object,
        &path,
        meta.remediation,
        vec![Reference {
            framework: refs::PSS.into(),
            id: format!("{}/{}", def.level, v.check).into(),
            url: Some(refs::PSS_URL.into()),
        }],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubevigil_model::Severity;

    #[test]
    fn finding_metadata_matches_the_registry() {
        for def in CHECKS.iter() {
            let meta = &def.rule;
            assert_eq!(meta.id, format!("pss-{}", def.id));
            let want = if def.level == Level::Baseline {
                Severity::High
            } else {
                Severity::Medium
            };
            assert_eq!(meta.severity, want, "{}", def.id);
            assert!(
                meta.doc.starts_with(&format!("# {}:", meta.id)),
                "{}",
                meta.id
            );
            assert!(!meta.remediation.is_empty(), "{}", meta.id);
        }
    }
    use kubevigil_model::load::{LoadOptions, Loaded, load_text_into};

    #[test]
    fn one_finding_per_check_per_workload_at_the_offending_line() {
        let text = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      hostPID: true
      containers:
      - name: app
        image: nginx
        securityContext:
          privileged: true
      - name: side
        image: busybox
        securityContext:
          privileged: true
"#;
        let mut loaded = Loaded::default();
        load_text_into("web.yaml", text, &LoadOptions::default(), &mut loaded);
        let f = scan_findings(&loaded.inventory, Level::Restricted, Version::Latest);
        let summary: Vec<String> = f
            .iter()
            .map(|f| {
                format!(
                    "{} {} {}:{} {}",
                    f.check_id, f.severity, f.location.line, f.location.field_path, f.message
                )
            })
            .collect();
        insta::assert_snapshot!(summary.join("\n"));
        assert!(f.iter().all(|f| !f.remediation.is_empty()));
    }
}
