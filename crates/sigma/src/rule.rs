//! Sigma detection rules: parsing from YAML (with positions) and compilation into matchers.
//! Follows the SigmaHQ rules specification v2 (`specification/sigma-rules-specification.md`)
//! and the modifiers appendix (`specification/sigma-appendix-modifiers.md`).

use std::net::IpAddr;

use base64::Engine as _;
use ipnet::IpNet;
use kubevigil_model::Severity;
use regex::{Regex, RegexBuilder};

use crate::condition::{self, Cond};
use crate::event::{FieldId, FieldTable, Projection, Val};
use crate::pattern::{MultiStr, Piece, StrPat, parse_sigma_string, plain_text};
use crate::yaml::{Kind, Node};

/// Rule severity (Sigma `level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "informational" | "info" => Level::Informational,
            "low" => Level::Low,
            "medium" => Level::Medium,
            "high" => Level::High,
            "critical" => Level::Critical,
            _ => return None,
        })
    }
    /// The project's severity (`kubevigil_model::Severity`): `informational` is `info`, the
    /// other words are the same.
    pub fn severity(self) -> Severity {
        match self {
            Level::Informational => Severity::Info,
            Level::Low => Severity::Low,
            Level::Medium => Severity::Medium,
            Level::High => Severity::High,
            Level::Critical => Severity::Critical,
        }
    }
}

/// `logsource` of a rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogSource {
    pub category: Option<String>,
    pub product: Option<String>,
    pub service: Option<String>,
}

/// Metadata shared by detection and correlation rules.
#[derive(Debug, Clone, Default)]
pub struct RuleMeta {
    pub id: String,
    pub name: Option<String>,
    pub title: String,
    pub status: Option<String>,
    pub description: String,
    pub level: Option<Level>,
    pub tags: Vec<String>,
    pub references: Vec<String>,
    pub falsepositives: Vec<String>,
    pub author: Option<String>,
    pub logsource: LogSource,
    pub file: String,
    pub line: usize,
    /// Custom attributes: the top-level keys the Sigma rules specification (v2.0, "Rule
    /// structure"; plus the correlation rules' `correlation` and `generate`) does not define,
    /// which "may be used to add additional information" (section "Custom Fields"); in file
    /// order, with their positions for diagnostics.
    pub custom: Vec<(String, Node)>,
}

/// The top-level keys of a Sigma rule the specification defines (rules specification v2.0
/// and correlation rules specification v2.0; `filter` of the filters specification).
const STANDARD_KEYS: &[&str] = &[
    "title",
    "id",
    "name",
    "related",
    "taxonomy",
    "status",
    "description",
    "license",
    "author",
    "references",
    "date",
    "modified",
    "logsource",
    "detection",
    "fields",
    "falsepositives",
    "level",
    "tags",
    "scope",
    "correlation",
    "generate",
    "filter",
];

impl RuleMeta {
    /// A rule without a `level` is `medium`.
    pub fn severity(&self) -> Severity {
        self.level.unwrap_or(Level::Medium).severity()
    }
}

/// A problem found while loading, with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl LoadError {
    pub fn at(node: &Node, message: impl Into<String>) -> LoadError {
        LoadError {
            line: node.line,
            col: node.col,
            message: message.into(),
        }
    }
}

pub(crate) fn parse_meta(doc: &Node, file: &str) -> Result<RuleMeta, LoadError> {
    let text = |k: &str| doc.get(k).and_then(|n| n.scalar_text());
    let list = |k: &str| doc.get(k).and_then(|n| n.str_list()).unwrap_or_default();
    let title = text("title").ok_or_else(|| LoadError::at(doc, "rule has no `title`"))?;
    let level = match doc.get("level") {
        None => None,
        Some(n) => Some(n.as_str().and_then(Level::parse).ok_or_else(|| {
            LoadError::at(
                n,
                "`level` must be informational, low, medium, high or critical",
            )
        })?),
    };
    let ls = doc.get("logsource");
    let ls_field = |k: &str| ls.and_then(|l| l.get(k)).and_then(|n| n.scalar_text());
    Ok(RuleMeta {
        id: text("id").unwrap_or_default(),
        name: text("name"),
        title,
        status: text("status"),
        description: text("description").unwrap_or_default().trim().to_string(),
        level,
        tags: list("tags"),
        references: list("references"),
        falsepositives: list("falsepositives"),
        author: text("author"),
        logsource: LogSource {
            category: ls_field("category"),
            product: ls_field("product"),
            service: ls_field("service"),
        },
        file: file.to_string(),
        line: doc.line,
        custom: doc
            .as_map()
            .unwrap_or_default()
            .iter()
            .filter_map(|(k, v)| {
                let k = k.as_str()?;
                (!STANDARD_KEYS.contains(&k)).then(|| (k.to_string(), v.clone()))
            })
            .collect(),
    })
}

// ---------------------------------------------------------------------------------------
// Compiled detection

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CmpOp {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A single compiled value test.
#[derive(Debug, Clone)]
pub enum Pat {
    Str(StrPat),
    Num(f64),
    Bool(bool),
    Null,
    Re(Regex),
    Cidr(IpNet),
    /// More than three `cidr` values (an indicator list, the complement of the cluster's
    /// networks): the same test, by binary search instead of one range after another.
    CidrSet(CidrSet),
    Cmp(CmpOp, f64),
}

/// Address ranges as merged, sorted intervals: `contains` costs O(log n) whatever the list's
/// size, with the semantics of `IpNet::contains` on each (IPv4 ranges hold only IPv4
/// addresses, IPv6 ranges only IPv6 ones).
#[derive(Debug, Clone, Default)]
pub struct CidrSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl CidrSet {
    pub fn build(nets: &[IpNet]) -> CidrSet {
        let mut set = CidrSet::default();
        for net in nets {
            match net {
                IpNet::V4(n) => set.v4.push((n.network().into(), n.broadcast().into())),
                IpNet::V6(n) => set.v6.push((n.network().into(), n.broadcast().into())),
            }
        }
        merge(&mut set.v4);
        merge(&mut set.v6);
        set
    }

    /// No range at all (an indicator list left empty): nothing is within it.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => within(&self.v4, a.into()),
            IpAddr::V6(a) => within(&self.v6, a.into()),
        }
    }
}

fn merge<T: Ord + Copy>(ranges: &mut Vec<(T, T)>) {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for &(start, end) in ranges.iter() {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    *ranges = out;
}

fn within<T: Ord + Copy>(ranges: &[(T, T)], x: T) -> bool {
    let i = ranges.partition_point(|&(start, _)| start <= x);
    i > 0 && ranges[i - 1].1 >= x
}

impl Pat {
    fn is_match(&self, v: &Val) -> bool {
        match self {
            Pat::Str(p) => v.as_text().is_some_and(|t| p.is_match(t)),
            Pat::Num(n) => v.as_f64() == Some(*n),
            Pat::Bool(b) => match v {
                Val::Bool(x) => x == b,
                Val::Str(s) => s.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
                Val::Bytes(s) => s.eq_ignore_ascii_case(if *b { b"true" } else { b"false" }),
                _ => false,
            },
            Pat::Null => matches!(v, Val::Null),
            Pat::Re(re) => v.as_text().is_some_and(|t| re.is_match(t)),
            Pat::Cidr(net) => v
                .as_text()
                .and_then(|t| t.trim().parse::<IpAddr>().ok())
                .is_some_and(|ip| net.contains(&ip)),
            // An empty set matches nothing: no address need be parsed.
            Pat::CidrSet(set) if set.is_empty() => false,
            Pat::CidrSet(set) => v
                .as_text()
                .and_then(|t| t.trim().parse::<IpAddr>().ok())
                .is_some_and(|ip| set.contains(ip)),
            Pat::Cmp(op, n) => v.as_f64().is_some_and(|x| match op {
                CmpOp::Gt => x > *n,
                CmpOp::Gte => x >= *n,
                CmpOp::Lt => x < *n,
                CmpOp::Lte => x <= *n,
            }),
        }
    }
}

/// How a field's values are tested.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Any value matches any alternative; `multi` holds the plain-string alternatives in
    /// one automaton, `rest` the others. A `null` alternative also matches a missing field.
    Any {
        multi: Option<MultiStr>,
        rest: Vec<Pat>,
        null_ok: bool,
    },
    /// `|all`: every group must be matched by some value (a group is one rule value with
    /// its expansions, e.g. the three base64offset variants).
    All(Vec<Vec<Pat>>),
    Exists(bool),
    FieldRef {
        other: Vec<FieldId>,
        cased: bool,
    },
    /// `neq`: present, and equal to none of the values.
    Neq(Box<Matcher>),
}

/// One `field|modifiers: value(s)` item of a selection.
#[derive(Debug, Clone)]
pub struct FieldCond {
    pub fields: Vec<FieldId>,
    pub matcher: Matcher,
}

impl FieldCond {
    fn values<'p, 'a>(&'p self, ev: &'p Projection<'a>) -> impl Iterator<Item = &'p Val<'a>> + 'p {
        self.fields.iter().flat_map(move |f| ev.values(*f))
    }

    pub fn is_match(&self, ev: &Projection) -> bool {
        eval_matcher(&self.matcher, self, ev)
    }
}

fn eval_matcher(m: &Matcher, fc: &FieldCond, ev: &Projection) -> bool {
    match m {
        Matcher::Any {
            multi,
            rest,
            null_ok,
        } => {
            let mut any = false;
            for v in fc.values(ev) {
                any = true;
                if let Some(multi) = multi
                    && let Some(t) = v.as_text()
                    && matches!(v, Val::Str(_) | Val::Bytes(_) | Val::Num(_) | Val::Bool(_))
                    && multi.is_match(t)
                {
                    return true;
                }
                if rest.iter().any(|p| p.is_match(v)) {
                    return true;
                }
            }
            !any && *null_ok
        }
        Matcher::All(groups) => groups
            .iter()
            .all(|g| fc.values(ev).any(|v| g.iter().any(|p| p.is_match(v)))),
        Matcher::Exists(want) => fc.fields.iter().any(|f| ev.exists(*f)) == *want,
        Matcher::FieldRef { other, cased } => fc.values(ev).any(|v| {
            let Some(a) = v.as_text() else { return false };
            other.iter().flat_map(|f| ev.values(*f)).any(|w| {
                w.as_text().is_some_and(|b| {
                    if *cased {
                        a == b
                    } else {
                        a.to_lowercase() == b.to_lowercase()
                    }
                })
            })
        }),
        Matcher::Neq(inner) => fc.values(ev).next().is_some() && !eval_matcher(inner, fc, ev),
    }
}

/// A named search of the detection.
#[derive(Debug, Clone)]
pub enum Selection {
    /// OR over alternatives, each an AND of field conditions.
    Fields(Vec<Vec<FieldCond>>),
    /// Keywords searched in the whole event text.
    Keywords {
        all: bool,
        pats: Vec<StrPat>,
        /// For `any` of plain texts: all of them in one automaton, so that the text is scanned
        /// once, not once per keyword (as field values of many alternatives are).
        any: Option<MultiStr>,
    },
}

/// Compiled condition tree.
#[derive(Debug, Clone)]
pub enum Expr {
    Sel(usize),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
}

/// A compiled detection: selections plus the condition over them.
#[derive(Debug, Clone)]
pub struct Detection {
    pub selections: Vec<Selection>,
    pub expr: Expr,
    pub uses_keywords: bool,
}

/// What evaluation needs besides the projection.
pub struct EvalCtx<'e, 'p, 'a> {
    pub ev: &'p Projection<'a>,
    /// The event's JSON text (for keyword searches; decoded only when one runs).
    pub text: &'e [u8],
}

impl Detection {
    pub fn is_match(&self, ctx: &EvalCtx) -> bool {
        self.eval(&self.expr, ctx)
    }

    fn eval(&self, e: &Expr, ctx: &EvalCtx) -> bool {
        match e {
            Expr::Sel(i) => match &self.selections[*i] {
                Selection::Fields(alts) => alts
                    .iter()
                    .any(|conds| conds.iter().all(|c| c.is_match(ctx.ev))),
                Selection::Keywords { all, pats, any } => {
                    let text = String::from_utf8_lossy(ctx.text);
                    match any {
                        Some(any) => any.is_match(&text),
                        None if *all => pats.iter().all(|p| p.is_match(&text)),
                        None => pats.iter().any(|p| p.is_match(&text)),
                    }
                }
            },
            Expr::And(v) => v.iter().all(|e| self.eval(e, ctx)),
            Expr::Or(v) => v.iter().any(|e| self.eval(e, ctx)),
            Expr::Not(e) => !self.eval(e, ctx),
        }
    }

    /// Every field the detection reads.
    pub fn field_ids(&self) -> Vec<FieldId> {
        let mut out = Vec::new();
        for sel in &self.selections {
            if let Selection::Fields(alts) = sel {
                for c in alts.iter().flatten() {
                    out.extend(&c.fields);
                    if let Matcher::FieldRef { other, .. } = &c.matcher {
                        out.extend(other);
                    }
                    if let Matcher::Neq(inner) = &c.matcher
                        && let Matcher::FieldRef { other, .. } = &**inner
                    {
                        out.extend(other);
                    }
                }
            }
        }
        out
    }

    /// The lowercase values `field` must equal exactly for this detection to match, when
    /// the condition implies it (used to index rules by verb and resource).
    pub fn required_values(&self, field: FieldId) -> Option<Vec<String>> {
        self.required(&self.expr, field)
    }

    fn required(&self, e: &Expr, field: FieldId) -> Option<Vec<String>> {
        match e {
            Expr::Sel(i) => match &self.selections[*i] {
                Selection::Fields(alts) => {
                    let mut out = Vec::new();
                    for conds in alts {
                        let set = conds.iter().find_map(|c| exact_set(c, field))?;
                        out.extend(set);
                    }
                    Some(out)
                }
                Selection::Keywords { .. } => None,
            },
            Expr::And(v) => v
                .iter()
                .filter_map(|e| self.required(e, field))
                .min_by_key(|s| s.len()),
            Expr::Or(v) => {
                let mut out = Vec::new();
                for e in v {
                    out.extend(self.required(e, field)?);
                }
                Some(out)
            }
            Expr::Not(_) => None,
        }
    }
}

fn exact_set(c: &FieldCond, field: FieldId) -> Option<Vec<String>> {
    if c.fields != [field] {
        return None;
    }
    let Matcher::Any {
        multi,
        rest,
        null_ok: false,
    } = &c.matcher
    else {
        return None;
    };
    let mut out = match multi {
        Some(m) => m.exact_only()?,
        None => Vec::new(),
    };
    for p in rest {
        out.push(match p {
            Pat::Str(s) => s.exact_ci()?.to_string(),
            // Integral numbers are indexed by their decimal text (audit codes are integers).
            Pat::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            _ => return None,
        });
    }
    Some(out)
}

/// Compile-time environment: the shared field table and the logsource's field mapping.
pub struct CompileEnv<'a> {
    pub fields: &'a mut FieldTable,
    /// Sigma field name → event paths (several paths are OR-ed).
    pub field_map: &'a [(String, Vec<String>)],
    /// Values of `%name%` placeholders (`expand`).
    pub placeholders: &'a [(String, Vec<String>)],
}

impl CompileEnv<'_> {
    pub fn resolve(&mut self, name: &str) -> Vec<FieldId> {
        match self.field_map.iter().find(|(k, _)| k == name) {
            Some((_, paths)) => paths.iter().map(|p| self.fields.intern(p)).collect(),
            None => vec![self.fields.intern(name)],
        }
    }
}

/// Compiles the `detection` section.
pub fn compile_detection(det: &Node, env: &mut CompileEnv) -> Result<Detection, LoadError> {
    let entries = det
        .as_map()
        .ok_or_else(|| LoadError::at(det, "`detection` must be a map"))?;
    let mut names = Vec::new();
    let mut selections = Vec::new();
    let mut cond_node = None;
    for (k, v) in entries {
        let key = k
            .scalar_text()
            .ok_or_else(|| LoadError::at(k, "selection names must be strings"))?;
        match key.as_str() {
            "condition" => cond_node = Some(v),
            "timeframe" => {
                return Err(LoadError::at(
                    k,
                    "`timeframe` (Sigma v1 aggregation) is not supported; use a correlation rule",
                ));
            }
            _ => {
                selections.push(compile_selection(v, env)?);
                names.push(key);
            }
        }
    }
    let cond_node =
        cond_node.ok_or_else(|| LoadError::at(det, "`detection` has no `condition`"))?;
    let conds: Vec<(String, &Node)> = match &cond_node.kind {
        Kind::Str(s) => vec![(s.clone(), cond_node)],
        Kind::Seq(items) => items
            .iter()
            .map(|n| {
                n.as_str()
                    .map(|s| (s.to_string(), n))
                    .ok_or_else(|| LoadError::at(n, "conditions must be strings"))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(LoadError::at(
                cond_node,
                "`condition` must be a string or a list of strings",
            ));
        }
    };
    let mut exprs = Vec::new();
    for (text, node) in conds {
        let cond = condition::parse(&text).map_err(|m| LoadError::at(node, m))?;
        exprs.push(lower(&cond, &names).map_err(|m| LoadError::at(node, m))?);
    }
    let expr = if exprs.len() == 1 {
        exprs.remove(0)
    } else {
        Expr::Or(exprs)
    };
    let uses_keywords = selections
        .iter()
        .any(|s| matches!(s, Selection::Keywords { .. }));
    Ok(Detection {
        selections,
        expr,
        uses_keywords,
    })
}

fn lower(c: &Cond, names: &[String]) -> Result<Expr, String> {
    Ok(match c {
        Cond::Sel(name) => Expr::Sel(
            names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| format!("condition refers to unknown selection `{name}`"))?,
        ),
        Cond::And(v) => Expr::And(
            v.iter()
                .map(|c| lower(c, names))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Or(v) => Expr::Or(
            v.iter()
                .map(|c| lower(c, names))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Not(c) => Expr::Not(Box::new(lower(c, names)?)),
        Cond::Of { all, pattern } => {
            let matched: Vec<Expr> = names
                .iter()
                .enumerate()
                .filter(|(_, n)| match pattern {
                    None => !n.starts_with('_'),
                    Some(p) => condition::pattern_matches(p, n),
                })
                .map(|(i, _)| Expr::Sel(i))
                .collect();
            if matched.is_empty() {
                return Err(format!(
                    "`{} of {}` matches no selection",
                    if *all { "all" } else { "1" },
                    pattern.as_deref().unwrap_or("them")
                ));
            }
            if *all {
                Expr::And(matched)
            } else {
                Expr::Or(matched)
            }
        }
    })
}

fn compile_selection(v: &Node, env: &mut CompileEnv) -> Result<Selection, LoadError> {
    match &v.kind {
        Kind::Map(entries) => {
            if entries.len() == 1 && entries[0].0.as_str() == Some("|all") {
                return keywords(&entries[0].1, true);
            }
            Ok(Selection::Fields(vec![compile_map(entries, env)?]))
        }
        Kind::Seq(items)
            if items.iter().all(|i| matches!(i.kind, Kind::Map(_))) && !items.is_empty() =>
        {
            let alts = items
                .iter()
                .map(|i| compile_map(i.as_map().unwrap_or_default(), env))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Selection::Fields(alts))
        }
        Kind::Seq(_) | Kind::Str(_) | Kind::Int(_) => keywords(v, false),
        _ => Err(LoadError::at(
            v,
            "a selection must be a map, a list of maps or a list of keywords",
        )),
    }
}

fn keywords(v: &Node, all: bool) -> Result<Selection, LoadError> {
    let items = match &v.kind {
        Kind::Seq(items) => items.clone(),
        _ => vec![v.clone()],
    };
    let mut pats = Vec::new();
    for item in &items {
        let text = item
            .scalar_text()
            .ok_or_else(|| LoadError::at(item, "keywords must be strings"))?;
        let mut pieces = vec![Piece::Star];
        pieces.extend(parse_sigma_string(&text));
        pieces.push(Piece::Star);
        pats.push(StrPat::new(&pieces, false));
    }
    let any = if all { None } else { MultiStr::build(&pats) };
    Ok(Selection::Keywords { all, pats, any })
}

fn compile_map(
    entries: &[(Node, Node)],
    env: &mut CompileEnv,
) -> Result<Vec<FieldCond>, LoadError> {
    if entries.is_empty() {
        return Err(LoadError {
            line: 0,
            col: 0,
            message: "empty selection".into(),
        });
    }
    entries
        .iter()
        .map(|(k, v)| compile_field(k, v, env))
        .collect()
}

#[derive(Default)]
struct Mods {
    anchor: Option<&'static str>,
    all: bool,
    cased: bool,
    re: bool,
    re_flags: String,
    cidr: bool,
    exists: bool,
    cmp: Option<CmpOp>,
    b64: Option<bool>, // Some(false) = base64, Some(true) = base64offset
    fieldref: bool,
    neq: bool,
    expand: bool,
}

fn compile_field(k: &Node, v: &Node, env: &mut CompileEnv) -> Result<FieldCond, LoadError> {
    let key = k
        .scalar_text()
        .ok_or_else(|| LoadError::at(k, "field names must be strings"))?;
    let mut parts = key.split('|');
    let field_name = parts.next().unwrap_or_default();
    if field_name.is_empty() {
        return Err(LoadError::at(
            k,
            "keyword modifiers other than `|all` are not supported",
        ));
    }
    let mut m = Mods::default();
    for modifier in parts {
        match modifier {
            "contains" | "startswith" | "endswith" => {
                if m.anchor.is_some() {
                    return Err(LoadError::at(
                        k,
                        "only one of contains/startswith/endswith may be used",
                    ));
                }
                m.anchor = Some(match modifier {
                    "contains" => "contains",
                    "startswith" => "startswith",
                    _ => "endswith",
                });
            }
            "all" => m.all = true,
            "cased" => m.cased = true,
            "re" => m.re = true,
            "i" | "m" | "s" if m.re => m.re_flags.push_str(modifier),
            "cidr" => m.cidr = true,
            "exists" => m.exists = true,
            "gt" => m.cmp = Some(CmpOp::Gt),
            "gte" => m.cmp = Some(CmpOp::Gte),
            "lt" => m.cmp = Some(CmpOp::Lt),
            "lte" => m.cmp = Some(CmpOp::Lte),
            "base64" => m.b64 = Some(false),
            "base64offset" => m.b64 = Some(true),
            "fieldref" => m.fieldref = true,
            "neq" => m.neq = true,
            "expand" => m.expand = true,
            other => {
                return Err(LoadError::at(
                    k,
                    format!("unsupported value modifier `{other}` (rule skipped)"),
                ));
            }
        }
    }
    let fields = env.resolve(field_name);
    let values: Vec<&Node> = match &v.kind {
        Kind::Seq(items) => items.iter().collect(),
        _ => vec![v],
    };
    let expanded;
    let values = if m.expand {
        expanded = expand_placeholders(&values, env.placeholders)?;
        if expanded.is_empty() {
            // A placeholder with no values (say, an empty indicator list): nothing matches.
            let nothing = Matcher::Any {
                multi: None,
                rest: Vec::new(),
                null_ok: false,
            };
            let matcher = if m.neq {
                Matcher::Neq(Box::new(nothing))
            } else {
                nothing
            };
            return Ok(FieldCond { fields, matcher });
        }
        expanded.iter().collect()
    } else {
        values
    };
    if values.is_empty() {
        return Err(LoadError::at(v, "empty value list"));
    }
    if m.exists {
        return match (&v.kind, m.neq) {
            (Kind::Bool(b), false) => Ok(FieldCond {
                fields,
                matcher: Matcher::Exists(*b),
            }),
            _ => Err(LoadError::at(v, "`exists` takes a single boolean")),
        };
    }
    if m.fieldref {
        let mut other = Vec::new();
        for n in &values {
            let name = n
                .as_str()
                .ok_or_else(|| LoadError::at(n, "`fieldref` takes field names"))?;
            other.extend(env.resolve(name));
        }
        let matcher = Matcher::FieldRef {
            other,
            cased: m.cased,
        };
        let matcher = if m.neq {
            Matcher::Neq(Box::new(matcher))
        } else {
            matcher
        };
        return Ok(FieldCond { fields, matcher });
    }
    let mut groups: Vec<Vec<Pat>> = Vec::new();
    for n in &values {
        groups.push(compile_value(n, &m)?);
    }
    let matcher = if m.all {
        if values.len() < 2 {
            return Err(LoadError::at(
                k,
                "`all` needs a list of at least two values",
            ));
        }
        Matcher::All(groups)
    } else {
        let pats: Vec<Pat> = groups.into_iter().flatten().collect();
        let null_ok = pats.iter().any(|p| matches!(p, Pat::Null));
        let (strs, rest): (Vec<Pat>, Vec<Pat>) = pats
            .into_iter()
            .partition(|p| matches!(p, Pat::Str(StrPat::Simple { .. })));
        let str_pats: Vec<StrPat> = strs
            .iter()
            .filter_map(|p| {
                if let Pat::Str(s) = p {
                    Some(s.clone())
                } else {
                    None
                }
            })
            .collect();
        // Lists of more than a few plain strings go through one Aho-Corasick automaton.
        let multi = if str_pats.len() > 3 {
            MultiStr::build(&str_pats)
        } else {
            None
        };
        let rest: Vec<Pat> = if multi.is_some() {
            rest
        } else {
            strs.into_iter().chain(rest).collect()
        };
        let (cidrs, mut rest): (Vec<Pat>, Vec<Pat>) =
            rest.into_iter().partition(|p| matches!(p, Pat::Cidr(_)));
        if cidrs.len() > 3 {
            let nets: Vec<IpNet> = cidrs
                .iter()
                .filter_map(|p| match p {
                    Pat::Cidr(n) => Some(*n),
                    _ => None,
                })
                .collect();
            rest.push(Pat::CidrSet(CidrSet::build(&nets)));
        } else {
            rest.extend(cidrs);
        }
        Matcher::Any {
            multi,
            rest,
            null_ok,
        }
    };
    let matcher = if m.neq {
        Matcher::Neq(Box::new(matcher))
    } else {
        matcher
    };
    Ok(FieldCond { fields, matcher })
}

/// The values `%name%` placeholders stand for (sigma-appendix-modifiers: `expand` marks
/// values holding placeholders, which pySigma's processing pipelines replace by lists of
/// values). Only whole-value placeholders are supported; a value without one is kept.
fn expand_placeholders(
    values: &[&Node],
    placeholders: &[(String, Vec<String>)],
) -> Result<Vec<Node>, LoadError> {
    let mut out = Vec::new();
    for n in values {
        let text = n
            .as_str()
            .ok_or_else(|| LoadError::at(n, "`expand` needs string values"))?;
        let Some(name) = text
            .strip_prefix('%')
            .and_then(|t| t.strip_suffix('%'))
            .filter(|t| !t.is_empty() && !t.contains('%'))
        else {
            if text.contains('%') {
                return Err(LoadError::at(
                    n,
                    "`expand` supports whole-value placeholders (`%name%`) only",
                ));
            }
            out.push((*n).clone());
            continue;
        };
        let (_, list) = placeholders
            .iter()
            .find(|(k, _)| k == name)
            .ok_or_else(|| LoadError::at(n, format!("unknown placeholder `%{name}%`")))?;
        out.extend(list.iter().map(|v| Node {
            kind: Kind::Str(v.clone()),
            line: n.line,
            col: n.col,
        }));
    }
    Ok(out)
}

fn compile_value(n: &Node, m: &Mods) -> Result<Vec<Pat>, LoadError> {
    let stringy = m.anchor.is_some() || m.re || m.b64.is_some() || m.cased;
    if let Some(op) = m.cmp {
        let x = match &n.kind {
            Kind::Int(i) => *i as f64,
            Kind::Float(f) => *f,
            Kind::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| LoadError::at(n, "gt/gte/lt/lte need a number"))?,
            _ => return Err(LoadError::at(n, "gt/gte/lt/lte need a number")),
        };
        return Ok(vec![Pat::Cmp(op, x)]);
    }
    if m.cidr {
        let text = n
            .scalar_text()
            .ok_or_else(|| LoadError::at(n, "`cidr` needs a CIDR string"))?;
        let net: IpNet = text
            .parse()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| LoadError::at(n, format!("invalid CIDR `{text}`")))?;
        return Ok(vec![Pat::Cidr(net)]);
    }
    if m.re {
        let text = n
            .scalar_text()
            .ok_or_else(|| LoadError::at(n, "`re` needs a string"))?;
        let re = RegexBuilder::new(&text)
            .case_insensitive(m.re_flags.contains('i'))
            .multi_line(m.re_flags.contains('m'))
            .dot_matches_new_line(m.re_flags.contains('s'))
            .build()
            .map_err(|e| LoadError::at(n, format!("invalid regular expression: {e}")))?;
        return Ok(vec![Pat::Re(re)]);
    }
    match &n.kind {
        Kind::Null if !stringy => return Ok(vec![Pat::Null]),
        Kind::Bool(b) if !stringy => return Ok(vec![Pat::Bool(*b)]),
        Kind::Int(i) if !stringy => return Ok(vec![Pat::Num(*i as f64)]),
        Kind::Float(f) if !stringy => return Ok(vec![Pat::Num(*f)]),
        Kind::Map(_) | Kind::Seq(_) => {
            return Err(LoadError::at(
                n,
                "nested lists or maps are not valid values",
            ));
        }
        _ => {}
    }
    let text = n.scalar_text().unwrap_or_default();
    let mut variants: Vec<Vec<Piece>> = vec![parse_sigma_string(&text)];
    if let Some(offset) = m.b64 {
        let plain = plain_text(&variants[0])
            .ok_or_else(|| LoadError::at(n, "base64 values cannot contain wildcards"))?;
        variants = if offset {
            base64_offsets(plain.as_bytes())
        } else {
            vec![base64::engine::general_purpose::STANDARD.encode(plain.as_bytes())]
        }
        .into_iter()
        .map(|s| s.chars().map(Piece::Lit).collect())
        .collect();
    }
    Ok(variants
        .into_iter()
        .map(|mut pieces| {
            match m.anchor {
                Some("contains") => {
                    pieces.insert(0, Piece::Star);
                    pieces.push(Piece::Star);
                }
                Some("startswith") => pieces.push(Piece::Star),
                Some("endswith") => pieces.insert(0, Piece::Star),
                _ => {}
            }
            // Base64 output is case-sensitive by nature.
            Pat::Str(StrPat::new(&pieces, m.cased || m.b64.is_some()))
        })
        .collect())
}

/// The three shift variants of `base64offset` (as pySigma computes them).
fn base64_offsets(v: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END: [Option<usize>; 3] = [None, Some(3), Some(2)];
    (0..3)
        .map(|i| {
            let mut buf = vec![b' '; i];
            buf.extend_from_slice(v);
            let enc = base64::engine::general_purpose::STANDARD.encode(&buf);
            let end = match END[(v.len() + i) % 3] {
                None => enc.len(),
                Some(cut) => enc.len().saturating_sub(cut),
            };
            enc.get(START[i]..end).unwrap_or_default().to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64offset_variants_match_pysigma() {
        // pySigma: base64offset("/bin/sh") = L2Jpbi9za, 9iaW4vc2, vYmluL3No
        assert_eq!(
            base64_offsets(b"/bin/sh"),
            vec!["L2Jpbi9za", "9iaW4vc2", "vYmluL3No"]
        );
    }
}

#[cfg(test)]
mod cidr_set_tests {
    use super::*;

    /// The set answers as the ranges one by one would, at every boundary.
    #[test]
    fn set_matches_each_range_alone() {
        let nets: Vec<IpNet> = [
            "10.0.0.0/8",
            "10.1.0.0/16",
            "192.0.2.0/25",
            "192.0.2.128/25",
            "198.51.100.7/32",
            "0.0.0.0/32",
            "255.255.255.255/32",
            "2001:db8::/32",
            "::/128",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
        ]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect();
        let set = CidrSet::build(&nets);
        let probes = [
            "9.255.255.255",
            "10.0.0.0",
            "10.255.255.255",
            "11.0.0.0",
            "192.0.1.255",
            "192.0.2.0",
            "192.0.2.127",
            "192.0.2.128",
            "192.0.2.255",
            "192.0.3.0",
            "198.51.100.6",
            "198.51.100.7",
            "198.51.100.8",
            "0.0.0.0",
            "0.0.0.1",
            "255.255.255.255",
            "255.255.255.254",
            "2001:db7:ffff::",
            "2001:db8::",
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
            "2001:db9::",
            "::",
            "::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "::ffff:10.0.0.1",
        ];
        for p in probes {
            let ip: IpAddr = p.parse().unwrap();
            assert_eq!(
                set.contains(ip),
                nets.iter().any(|n| n.contains(&ip)),
                "{p}"
            );
        }
        assert!(!set.is_empty());
        // An empty list (no indicators configured) matches no address, nor a non-address.
        let empty = Pat::CidrSet(CidrSet::build(&[]));
        for v in ["10.0.0.1", "::1", "x"] {
            assert!(!empty.is_match(&Val::Bytes(v.as_bytes())), "{v}");
        }
        assert!(Pat::CidrSet(set).is_match(&Val::Bytes(b"10.0.0.1")));
    }
}
