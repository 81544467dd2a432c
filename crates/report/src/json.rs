//! JSON report: `{"tool", "version", "summary", "findings", "suppressed", "diagnostics"}`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use kubevigil_model::{Finding, ObjectRef};
use serde::Serialize;
use serde::ser::SerializeStruct;
use serde_json::value::RawValue;

use crate::{Report, Summary, SuppressedFinding};

#[derive(Serialize)]
struct JsonReport<'a> {
    tool: &'static str,
    version: &'a str,
    summary: Summary,
    findings: Findings<'a>,
    suppressed: &'a [SuppressedFinding],
    diagnostics: &'a [kubevigil_model::Diagnostic],
}

/// The findings of the report, written as `Finding` serialises, except that a check's own
/// texts (id, title, remediation, references: about half of a finding's text) are escaped and laid
/// out once per report, then copied: a scan has thousands of findings of each check. The
/// object, shared by an object's findings (which follow one another), is written once for
/// them in the same way.
struct Findings<'a> {
    findings: &'a [Finding],
    /// The JSON of each static text and reference list of the findings, by kind (empty ones
    /// may share an address), address and size.
    rendered: HashMap<StaticKey, Box<RawValue>>,
    /// The last object written, and its JSON.
    last_object: RefCell<Option<(Arc<ObjectRef>, Box<RawValue>)>>,
}

/// How deep a finding's members are in the report (`{"findings": [{"title": ...`): what a
/// pretty-printed member value is indented by past its first line.
const MEMBER_INDENT: &str = "      ";

impl<'a> Findings<'a> {
    fn new(findings: &'a [Finding]) -> Self {
        let mut rendered = HashMap::new();
        for f in findings {
            for text in [&f.check_id, &f.title, &f.remediation] {
                if let Cow::Borrowed(t) = text {
                    render_static(&mut rendered, static_key(TEXT, *t), t);
                }
            }
            if let Cow::Borrowed(refs) = &f.references {
                render_static(&mut rendered, static_key(LIST, *refs), refs);
            }
        }
        Findings {
            findings,
            rendered,
            last_object: RefCell::default(),
        }
    }

    /// Serialises `f`'s object as the field `object` of `m`, from the last object's JSON when
    /// it is the same object.
    fn object_field<M: SerializeStruct>(&self, m: &mut M, f: &Finding) -> Result<(), M::Error> {
        let mut last = self.last_object.borrow_mut();
        if !last
            .as_ref()
            .is_some_and(|(o, _)| Arc::ptr_eq(o, &f.object))
        {
            *last = Some((Arc::clone(&f.object), render_member(&*f.object)));
        }
        let (_, raw) = last.as_ref().expect("just set");
        m.serialize_field("object", &**raw)
    }

    /// Serialises a text or list (`kind`) as the field `key` of `m`: its rendering when it is
    /// static, else the value itself.
    // The `Cow` itself is what is asked about: borrowed (static) or not.
    #[allow(clippy::ptr_arg)]
    fn static_field<M, T>(
        &self,
        m: &mut M,
        key: &'static str,
        kind: u8,
        value: &Cow<'static, T>,
    ) -> Result<(), M::Error>
    where
        M: SerializeStruct,
        T: ?Sized + ToOwned + Serialize,
    {
        let rendered = match value {
            Cow::Borrowed(v) => self.rendered.get(&static_key(kind, *v)),
            Cow::Owned(_) => None,
        };
        match rendered {
            Some(raw) => m.serialize_field(key, &**raw),
            None => m.serialize_field(key, value),
        }
    }
}

type StaticKey = (u8, usize, usize);
const TEXT: u8 = 0;
const LIST: u8 = 1;

/// A static value's kind, address and size (in bytes): two of one kind with the same address
/// and size hold the same bytes.
fn static_key<T: ?Sized>(kind: u8, v: &T) -> StaticKey {
    (
        kind,
        std::ptr::from_ref(v).cast::<u8>() as usize,
        std::mem::size_of_val(v),
    )
}

/// Renders a static `value` under `key`, the first time it is seen.
fn render_static<T: Serialize + ?Sized>(
    rendered: &mut HashMap<StaticKey, Box<RawValue>>,
    key: StaticKey,
    value: &T,
) {
    rendered.entry(key).or_insert_with(|| render_member(value));
}

/// `value` as the report's writer lays it out at a finding's member (pretty, the lines past
/// the first indented to the member's depth; strings hold no raw line break).
fn render_member<T: Serialize + ?Sized>(value: &T) -> Box<RawValue> {
    let text = kubevigil_model::text::json::to_string(value, true)
        .expect("report values serialise")
        .replace('\n', &format!("\n{MEMBER_INDENT}"));
    RawValue::from_string(text).expect("serde_json's output is JSON")
}

impl Serialize for Findings<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.findings.iter().map(|f| JsonFinding(f, self)))
    }
}

/// One finding, its members in `Finding`'s order.
struct JsonFinding<'a>(&'a Finding, &'a Findings<'a>);

impl Serialize for JsonFinding<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let JsonFinding(f, findings) = self;
        let mut m = s.serialize_struct("Finding", 9)?;
        findings.static_field(&mut m, "checkId", TEXT, &f.check_id)?;
        m.serialize_field("severity", &f.severity)?;
        findings.static_field(&mut m, "title", TEXT, &f.title)?;
        m.serialize_field("message", &f.message)?;
        findings.object_field(&mut m, f)?;
        m.serialize_field("location", &f.location)?;
        findings.static_field(&mut m, "remediation", TEXT, &f.remediation)?;
        findings.static_field(&mut m, "references", LIST, &f.references)?;
        m.serialize_field("fingerprint", &f.fingerprint)?;
        m.end()
    }
}

/// Writes the report straight to `out` (no intermediate tree or string of the whole report).
pub fn write(report: &Report<'_>, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let doc = JsonReport {
        tool: "kubevigil",
        version: report.tool_version,
        summary: report.summary(),
        findings: Findings::new(report.findings),
        suppressed: report.suppressed,
        diagnostics: report.diagnostics,
    };
    crate::emit::write_json(out, &doc)
}

pub fn render(report: &Report<'_>) -> String {
    let doc = JsonReport {
        tool: "kubevigil",
        version: report.tool_version,
        summary: report.summary(),
        findings: Findings::new(report.findings),
        suppressed: report.suppressed,
        diagnostics: report.diagnostics,
    };
    // Serialised straight from the findings: no intermediate JSON tree of the whole report.
    let mut out = kubevigil_model::text::json::to_string(&doc, true).expect("report serialises");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kubevigil_model::{Location, ObjectRef, Reference, Severity};

    use super::*;

    static REFS: [Reference; 2] = [
        Reference {
            framework: Cow::Borrowed("CIS \u{202e} \"Benchmark\""),
            id: Cow::Borrowed("5.2.2"),
            url: Some(Cow::Borrowed("https://example.com/a?b=c&d")),
        },
        Reference {
            framework: Cow::Borrowed("MITRE ATT&CK"),
            id: Cow::Borrowed("T1610"),
            url: None,
        },
    ];
    static NO_REFS: [Reference; 0] = [];

    /// The findings as `Finding` itself serialises in the report: what the rendering of static
    /// texts must give, byte for byte.
    #[derive(Serialize)]
    struct Reference_<'a> {
        tool: &'static str,
        version: &'a str,
        summary: Summary,
        findings: &'a [Finding],
        suppressed: &'a [SuppressedFinding],
        diagnostics: &'a [kubevigil_model::Diagnostic],
    }

    #[test]
    fn static_texts_are_written_as_the_finding_serialises() {
        let base = Finding {
            check_id: "c".into(),
            severity: Severity::High,
            title: Cow::Borrowed("Title with \u{1b}[2J, \u{85} and \"quotes\"\nand a line"),
            message: "m".into(),
            object: Arc::new(ObjectRef {
                api_version: "v1".into(),
                kind: "Pod".into(),
                namespace: None,
                name: "p".into(),
            }),
            location: Location::in_file("f.yaml", 3, 4, "spec".into()),
            remediation: Cow::Borrowed("Do this: `x`."),
            references: Cow::Borrowed(&REFS),
            fingerprint: "0123".into(),
        };
        let findings = vec![
            base.clone(),
            Finding {
                title: Cow::Borrowed(""),
                references: Cow::Borrowed(&NO_REFS),
                ..base.clone()
            },
            Finding {
                title: Cow::Owned("owned \u{202e}".into()),
                remediation: Cow::Owned(String::new()),
                references: Cow::Owned(REFS.to_vec()),
                ..base.clone()
            },
            Finding {
                remediation: Cow::Borrowed(""),
                references: Cow::Borrowed(&REFS[1..]),
                ..base.clone()
            },
            Finding {
                check_id: Cow::Owned("owned-id".into()),
                object: Arc::new(ObjectRef {
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    namespace: Some("ns \u{202e}".into()),
                    name: "web\"\u{9b}".into(),
                }),
                ..base.clone()
            },
            base,
        ];
        let report = Report {
            tool_version: "1",
            rules: &[],
            findings: &findings,
            suppressed: &[],
            diagnostics: &[],
            objects: &[],
        };
        let mut expected = kubevigil_model::text::json::to_string(
            &Reference_ {
                tool: "kubevigil",
                version: "1",
                summary: report.summary(),
                findings: &findings,
                suppressed: &[],
                diagnostics: &[],
            },
            true,
        )
        .unwrap();
        expected.push('\n');
        assert_eq!(render(&report), expected);
        let mut written = Vec::new();
        write(&report, &mut written).unwrap();
        assert_eq!(String::from_utf8(written).unwrap(), expected);
    }
}
