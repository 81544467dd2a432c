//! Rule set compilation (loading, logsource selection, field mapping, dispatch index) and the
//! streaming engine that evaluates events against it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use kubevigil_model::{DiagLevel, Diagnostic};

use crate::correlation::{
    CorrInput, CorrState, CorrStats, Correlation, CorrelationDef, parse_correlation,
};
use crate::event::{FieldId, FieldTable, JsonError, Projection, project_json, project_members};
use crate::rule::{CompileEnv, Detection, EvalCtx, RuleMeta, compile_detection, parse_meta};
use crate::yaml::load_documents;
use kubevigil_model::json_skip::Members;

/// Short-string keyed map with a fast multiplicative hash (dispatch lookups happen on every event;
/// the keys come from the rules, so flooding is not a concern).
pub(crate) type FastMap<V> = HashMap<String, V, FastHash>;

/// [`FastMap`]'s hasher: for keys that come from the rules (lookups with input values are fine).
pub(crate) type FastHash = std::hash::BuildHasherDefault<Fnv>;

#[derive(Default)]
pub(crate) struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Word at a time (FxHash-style mixing); keys are short ASCII strings.
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        self.0 = h;
    }
}

/// A rule file's name and text.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

/// A rule file position as a diagnostic's line or column (saturating: a rule file is never
/// four billion lines long).
fn position(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Which rules an engine runs and how their fields map onto events.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Rules whose logsource product/service differ are not loaded (noted, not an error).
    pub product: Option<String>,
    pub service: Option<String>,
    /// Accepted `logsource.category` values (a rule without a category is always accepted).
    pub categories: Vec<String>,
    /// Sigma field name → event paths.
    pub field_map: Vec<(String, Vec<String>)>,
    /// Rule ids (or names) not to load.
    pub disabled: HashSet<String>,
    /// Two fields whose value pair indexes the rules that pin both (checked before
    /// `dispatch_fields`): for audit events, (resource, verb), so a `get` of pods does not
    /// even look at the rules about creating pods.
    pub dispatch_pair: Option<(String, String)>,
    /// Fields whose exact values index the rules (most selective first).
    pub dispatch_fields: Vec<String>,
    /// Event-time fields, first present wins (RFC 3339).
    pub time_fields: Vec<String>,
    /// Top-level keys whose subtrees are only projected when a rule that reads them runs.
    pub deferred_roots: Vec<String>,
    /// Fields that together identify one request, the request id first: a rule matches a
    /// request once even when it is recorded at several stages (RequestReceived,
    /// ResponseStarted, ResponseComplete, Panic). Events without the first field are never
    /// merged. Every field must be identical across the stages of one request and should
    /// tell different requests apart even when their ids collide (ids may be client-chosen).
    pub dedup_fields: Vec<String>,
    /// How many recent (rule, request) pairs are remembered for that (oldest forgotten first:
    /// forgetting only ever produces a second alert, never hides one).
    pub dedup_window: usize,
    /// Events more than this many milliseconds (event time) after the first match of the same
    /// (rule, request) count as new again.
    pub dedup_max_age_ms: i64,
    /// Cap on correlation groups kept per correlation rule.
    pub max_groups: usize,
    /// Events kept as samples per correlation alert.
    pub max_samples: usize,
    /// Values of the `%name%` placeholders that the `expand` modifier replaces (pySigma's
    /// placeholder transformations): `field|expand: '%name%'` stands for the list of values
    /// (an empty list matches nothing). A placeholder without values here is an error.
    pub placeholders: Vec<(String, Vec<String>)>,
}

struct CompiledRule {
    meta: Arc<RuleMeta>,
    det: Detection,
    /// Emits its own alerts (false for base rules of correlations without `generate`).
    emit: bool,
    /// (correlation index, input index) fed by this rule.
    feeds: Vec<(usize, usize)>,
    /// Reads a field under a deferred key (the event's bodies must be projected first).
    needs_deferred: bool,
}

/// A compiled, immutable rule set; share it between engines with `Arc`.
pub struct RuleSet {
    fields: FieldTable,
    rules: Vec<CompiledRule>,
    correlations: Vec<Correlation>,
    pair: Option<(FieldId, FieldId, FastMap<Vec<u32>>)>,
    dispatch: Vec<(FieldId, FastMap<Vec<u32>>)>,
    always: Vec<u32>,
    time_fields: Vec<FieldId>,
    dedup_fields: Vec<FieldId>,
    uses_keywords: bool,
    options: Options,
}

/// Summary of a loaded rule, for listings.
#[derive(Debug, Clone)]
pub struct RuleInfo {
    pub meta: Arc<RuleMeta>,
    pub correlation: bool,
    pub emits: bool,
}

impl RuleSet {
    /// Loads and compiles rules. Problems are returned as diagnostics; a rule with a problem
    /// is skipped, every other rule still loads.
    pub fn compile(sources: &[Source], options: &Options) -> (RuleSet, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let mut fields = FieldTable::new();
        fields.defer(&options.deferred_roots);
        let mut rules: Vec<CompiledRule> = Vec::new();
        let mut corr_defs: Vec<CorrelationDef> = Vec::new();
        // Ids and names of the rules left out as being for another logsource.
        let mut other_logsource: Vec<String> = Vec::new();
        let mut seen_ids: HashMap<String, (String, usize)> = HashMap::new();
        let time_fields: Vec<FieldId> = options
            .time_fields
            .iter()
            .map(|f| fields.intern(f))
            .collect();
        let dedup_fields: Vec<FieldId> = options
            .dedup_fields
            .iter()
            .map(|f| fields.intern(f))
            .collect();
        for src in sources {
            let err = |line, col, message: String| Diagnostic {
                level: DiagLevel::Error,
                file: src.name.to_string(),
                line: position(line),
                col: position(col),
                message,
            };
            let docs = match load_documents(src.text) {
                Ok(d) => d,
                Err(e) => {
                    diags.push(err(
                        e.line,
                        e.col,
                        format!("YAML syntax error: {} (file skipped)", e.message),
                    ));
                    continue;
                }
            };
            for doc in docs {
                if doc.as_map().is_none() {
                    diags.push(err(
                        doc.line,
                        doc.col,
                        "a rule must be a YAML map (document skipped)".into(),
                    ));
                    continue;
                }
                let meta = match parse_meta(&doc, src.name) {
                    Ok(m) => m,
                    Err(e) => {
                        diags.push(err(e.line, e.col, format!("{} (rule skipped)", e.message)));
                        continue;
                    }
                };
                if !meta.id.is_empty() {
                    if let Some((file, line)) = seen_ids.get(&meta.id) {
                        diags.push(err(doc.line, doc.col, format!("duplicate rule id {} (first defined at {file}:{line}); rule `{}` skipped", meta.id, meta.title)));
                        continue;
                    }
                    seen_ids.insert(meta.id.clone(), (src.name.to_string(), doc.line));
                }
                if options.disabled.contains(&meta.id)
                    || meta
                        .name
                        .as_ref()
                        .is_some_and(|n| options.disabled.contains(n))
                {
                    diags.push(Diagnostic {
                        level: DiagLevel::Note,
                        file: src.name.into(),
                        line: position(doc.line),
                        col: position(doc.col),
                        message: format!("rule `{}` disabled by configuration", meta.title),
                    });
                    continue;
                }
                if doc.get("correlation").is_some() {
                    match parse_correlation(&doc, meta) {
                        Ok(c) => corr_defs.push(c),
                        Err(e) => diags.push(err(
                            e.line,
                            e.col,
                            format!("{} (correlation skipped)", e.message),
                        )),
                    }
                    continue;
                }
                if doc.get("filter").is_some() || doc.get("action").is_some() {
                    diags.push(err(doc.line, doc.col, format!("rule `{}`: Sigma filters and rule collections (`filter`, `action`) are not supported (skipped)", meta.title)));
                    continue;
                }
                let Some(det) = doc.get("detection") else {
                    diags.push(err(
                        doc.line,
                        doc.col,
                        format!("rule `{}` has no `detection` (skipped)", meta.title),
                    ));
                    continue;
                };
                if !logsource_accepted(&meta, options) {
                    other_logsource.push(meta.id.clone());
                    other_logsource.extend(meta.name.clone());
                    diags.push(Diagnostic {
                        level: DiagLevel::Note,
                        file: src.name.into(),
                        line: position(doc.line),
                        col: position(doc.col),
                        message: format!(
                            "rule `{}` is for another logsource (not loaded)",
                            meta.title
                        ),
                    });
                    continue;
                }
                let mut env = CompileEnv {
                    fields: &mut fields,
                    field_map: &options.field_map,
                    placeholders: &options.placeholders,
                };
                match compile_detection(det, &mut env) {
                    Ok(det) => rules.push(CompiledRule {
                        meta: Arc::new(meta),
                        det,
                        emit: true,
                        feeds: Vec::new(),
                        needs_deferred: false,
                    }),
                    Err(e) => diags.push(err(
                        e.line.max(det.line),
                        e.col,
                        format!("rule `{}` skipped: {}", meta.title, e.message),
                    )),
                }
            }
        }

        let mut correlations = Vec::new();
        'corr: for def in corr_defs {
            let err = |line, col, message: String| Diagnostic {
                level: DiagLevel::Error,
                file: def.meta.file.clone(),
                line: position(line),
                col: position(col),
                message,
            };
            let mut inputs = Vec::new();
            for (r, line, col) in &def.rules {
                let Some(idx) = rules
                    .iter()
                    .position(|c| c.meta.id == *r || c.meta.name.as_deref() == Some(r))
                else {
                    // Correlations have no logsource of their own: one over rules for another
                    // logsource is for that logsource too.
                    if other_logsource.contains(r) {
                        diags.push(Diagnostic {
                            level: DiagLevel::Note,
                            ..err(*line, *col, format!("correlation `{}` is over rule `{r}`, for another logsource (not loaded)", def.meta.title))
                        });
                    } else {
                        diags.push(err(*line, *col, format!("correlation `{}` refers to unknown or skipped rule `{r}` (chained correlations are not supported); skipped", def.meta.title)));
                    }
                    continue 'corr;
                };
                let rule_name = rules[idx].meta.name.clone().unwrap_or_default();
                let mut resolve = |name: &str| -> Vec<FieldId> {
                    let actual = def
                        .aliases
                        .iter()
                        .find(|(alias, _)| alias == name)
                        .and_then(|(_, per_rule)| {
                            per_rule
                                .iter()
                                .find(|(rn, _)| *rn == rule_name || *rn == rules[idx].meta.id)
                        })
                        .map(|(_, f)| f.clone())
                        .unwrap_or_else(|| name.to_string());
                    CompileEnv {
                        fields: &mut fields,
                        field_map: &options.field_map,
                        placeholders: &options.placeholders,
                    }
                    .resolve(&actual)
                };
                let group_fields = def.group_by.iter().map(|g| resolve(g)).collect();
                let value_field = def
                    .value_field
                    .as_deref()
                    .map(&mut resolve)
                    .unwrap_or_default();
                inputs.push(CorrInput {
                    rule: idx,
                    group_fields,
                    value_field,
                });
            }
            let ci = correlations.len();
            for (ii, input) in inputs.iter().enumerate() {
                rules[input.rule].feeds.push((ci, ii));
            }
            correlations.push((
                Correlation {
                    meta: Arc::new(def.meta),
                    kind: def.kind,
                    timespan_ms: def.timespan_ms,
                    cond: def.cond,
                    group_by: def.group_by,
                    inputs,
                },
                def.generate,
            ));
        }
        for rule in &mut rules {
            if !rule.feeds.is_empty() {
                rule.emit = rule.feeds.iter().any(|(ci, _)| correlations[*ci].1);
            }
        }
        let correlations: Vec<Correlation> = correlations.into_iter().map(|(c, _)| c).collect();
        for rule in &mut rules {
            let mut used = rule.det.field_ids();
            for (ci, ii) in &rule.feeds {
                let input = &correlations[*ci].inputs[*ii];
                used.extend(input.group_fields.iter().flatten());
                used.extend(&input.value_field);
            }
            rule.needs_deferred = used.iter().any(|f| fields.is_deferred(*f));
        }

        // Dispatch index: each rule goes under the first dispatch field its condition pins
        // to exact values; the rest are always evaluated.
        let dispatch_ids: Vec<FieldId> = options
            .dispatch_fields
            .iter()
            .map(|f| fields.intern(f))
            .collect();
        let mut dispatch: Vec<(FieldId, FastMap<Vec<u32>>)> = dispatch_ids
            .iter()
            .map(|f| (*f, FastMap::default()))
            .collect();
        let mut always = Vec::new();
        let mut pair: Option<(FieldId, FieldId, FastMap<Vec<u32>>)> = options
            .dispatch_pair
            .as_ref()
            .map(|(a, b)| (fields.intern(a), fields.intern(b), FastMap::default()));
        for (i, rule) in rules.iter().enumerate() {
            if let Some((a, b, map)) = pair.as_mut()
                && let (Some(mut va), Some(mut vb)) =
                    (rule.det.required_values(*a), rule.det.required_values(*b))
                && va.len() * vb.len() <= 1024
            {
                va.sort();
                va.dedup();
                vb.sort();
                vb.dedup();
                for x in &va {
                    for y in &vb {
                        map.entry(format!("{x}\u{1f}{y}"))
                            .or_default()
                            .push(i as u32);
                    }
                }
                continue;
            }
            let placed = dispatch.iter_mut().find_map(|(f, map)| {
                let values = rule.det.required_values(*f)?;
                let mut values = values;
                values.sort();
                values.dedup();
                for v in values {
                    map.entry(v).or_default().push(i as u32);
                }
                Some(())
            });
            if placed.is_none() {
                always.push(i as u32);
            }
        }
        let uses_keywords = rules.iter().any(|r| r.det.uses_keywords);
        let set = RuleSet {
            fields,
            rules,
            correlations,
            pair,
            dispatch,
            always,
            time_fields,
            dedup_fields,
            uses_keywords,
            options: options.clone(),
        };
        (set, diags)
    }

    /// Every loaded rule and correlation.
    pub fn rules(&self) -> Vec<RuleInfo> {
        let mut out: Vec<RuleInfo> = self
            .rules
            .iter()
            .map(|r| RuleInfo {
                meta: r.meta.clone(),
                correlation: false,
                emits: r.emit,
            })
            .collect();
        out.extend(self.correlations.iter().map(|c| RuleInfo {
            meta: c.meta.clone(),
            correlation: true,
            emits: true,
        }));
        out
    }

    /// The id of an interned field (a rule field, a time field or an extra field).
    pub fn field(&self, path: &str) -> Option<FieldId> {
        self.fields.lookup(path)
    }

    pub fn fields(&self) -> &FieldTable {
        &self.fields
    }

    /// Rules that are evaluated for every event (not indexed by a dispatch field).
    pub fn undispatched(&self) -> usize {
        self.always.len()
    }
}

fn logsource_accepted(meta: &RuleMeta, o: &Options) -> bool {
    let ls = &meta.logsource;
    let eq = |rule: &Option<String>, want: &Option<String>| match (rule, want) {
        (Some(r), Some(w)) => r.eq_ignore_ascii_case(w),
        (Some(_), None) => false,
        (None, _) => true,
    };
    eq(&ls.product, &o.product)
        && eq(&ls.service, &o.service)
        && ls
            .category
            .as_ref()
            .is_none_or(|c| o.categories.iter().any(|a| a.eq_ignore_ascii_case(c)))
}

/// An alert: a rule matched one event, or a correlation fired over several.
#[derive(Debug, Clone)]
pub struct Alert<S> {
    pub rule: Arc<RuleMeta>,
    pub correlation: bool,
    /// Event time in milliseconds since the epoch, when the event carried one.
    pub time_ms: Option<i64>,
    pub count: u64,
    /// Group-by field values of a correlation.
    pub group: Vec<(String, String)>,
    pub samples: Vec<S>,
}

/// Throughput and state counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineStats {
    pub events: u64,
    pub rule_evaluations: u64,
    pub matches: u64,
    pub alerts: u64,
    pub correlation: CorrStats,
}

/// Evaluates events in order, keeping correlation state. One engine per event stream.
///
/// Evaluation has two halves: [`Matcher::evaluate`] finds which rules an event matches (no
/// state: any thread, any order), [`Engine::apply`] updates request deduplication and
/// correlations and raises alerts (in input order). [`Engine::process`] does both; a parallel
/// reader runs one [`Matcher`] per thread and applies their [`Matches`] in input order, with the
/// same result.
pub struct Engine<S> {
    matcher: Matcher,
    matches: Matches,
    states: Vec<CorrState<S>>,
    now: i64,
    recent: Recent,
    stats: EngineStats,
}

/// Tells whether a field (by dotted path) of an event (its JSON text) holds secret data.
pub type SensitiveFn = Box<SensitiveTest>;
type SensitiveTest = dyn Fn(&str, &[u8]) -> bool + Send + Sync;

/// A bounded set of recently seen (rule, request) hashes with the event time of their first
/// match (the hashes are keyed: see [`Matcher`]).
struct Recent {
    /// Keyed by input values: a randomly seeded hasher, so a log cannot flood it.
    seen: HashMap<u64, Option<i64>, ahash::RandomState>,
    order: std::collections::VecDeque<u64>,
    cap: usize,
    max_age_ms: i64,
}

impl Recent {
    /// Records a match at `time`; false if the same key matched within the window.
    fn insert(&mut self, key: u64, time: Option<i64>) -> bool {
        if self.cap == 0 {
            return true;
        }
        if let Some(first) = self.seen.get_mut(&key) {
            match (*first, time) {
                (Some(t0), Some(t)) if t.saturating_sub(t0) > self.max_age_ms => {
                    *first = Some(t);
                    return true;
                }
                _ => return false,
            }
        }
        self.seen.insert(key, time);
        self.order.push_back(key);
        if self.order.len() > self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }
}

/// The stateless half of evaluation: which rules one event matches. Cheap to clone (the rule
/// set is shared); clones share the hash key, so their [`Matches`] apply to the same engine.
pub struct Matcher {
    set: Arc<RuleSet>,
    marks: Vec<u32>,
    epoch: u32,
    key_buf: String,
    proj_buf: Option<Projection<'static>>,
    candidates: Vec<u32>,
    /// Keyed SipHash (random key) of request identities and redacted group values: collisions
    /// cannot be aimed at.
    hasher: std::collections::hash_map::RandomState,
    sensitive: Option<Arc<SensitiveTest>>,
}

impl Clone for Matcher {
    fn clone(&self) -> Self {
        Matcher {
            set: Arc::clone(&self.set),
            marks: vec![0; self.set.rules.len()],
            epoch: 0,
            key_buf: String::new(),
            proj_buf: None,
            candidates: Vec::new(),
            hasher: self.hasher.clone(),
            sensitive: self.sensitive.clone(),
        }
    }
}

/// What one event matched, in evaluation order, with what [`Engine::apply`] needs of the event
/// (its time, request identity and correlation group keys): the event itself is not kept.
#[derive(Debug, Default, Clone)]
pub struct Matches {
    /// Rules evaluated (for [`EngineStats`]).
    evaluations: u64,
    /// The event's time, read at its first match.
    time: Option<i64>,
    items: Vec<Matched>,
}

#[derive(Debug, Clone)]
struct Matched {
    rule: u32,
    /// Hash of (rule, request identity), `None` when the event has no request id.
    request: Option<u64>,
    /// Per correlation the rule feeds (in `CompiledRule::feeds` order): the group key and the
    /// value field, `None` when a group-by field is missing.
    feeds: Vec<Option<(String, Option<String>)>>,
}

impl Matches {
    /// Whether no rule matched (nothing to apply but the count).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn clear(&mut self) {
        self.evaluations = 0;
        self.time = None;
        self.items.clear();
    }
}

impl Matcher {
    pub fn new(set: Arc<RuleSet>) -> Self {
        Matcher {
            marks: vec![0; set.rules.len()],
            set,
            epoch: 0,
            key_buf: String::new(),
            proj_buf: None,
            candidates: Vec::new(),
            hasher: Default::default(),
            sensitive: None,
        }
    }

    /// Parses one JSON event (only the fields the rules need) and evaluates it into `out`.
    pub fn evaluate_json(&mut self, line: &[u8], out: &mut Matches) -> Result<(), JsonError> {
        let set = self.set.clone();
        let mut proj: Projection<'_> = match self.proj_buf.take() {
            Some(p) => p.recycle(),
            None => Projection::new(&set.fields),
        };
        let result = project_json(&set.fields, line, &mut proj);
        out.clear();
        if result.is_ok() {
            self.evaluate(&mut proj, line, out);
        }
        self.proj_buf = Some(proj.recycle());
        result
    }

    /// [`Matcher::evaluate_json`] on an event whose top-level members a validating scan has
    /// delimited ([`project_members`]); scans the text itself when `members` is incomplete.
    pub fn evaluate_members(
        &mut self,
        line: &[u8],
        members: &Members,
        out: &mut Matches,
    ) -> Result<(), JsonError> {
        if !members.complete {
            return self.evaluate_json(line, out);
        }
        let set = self.set.clone();
        let mut proj: Projection<'_> = match self.proj_buf.take() {
            Some(p) => p.recycle(),
            None => Projection::new(&set.fields),
        };
        let result = project_members(&set.fields, line, members, &mut proj);
        out.clear();
        if result.is_ok() {
            self.evaluate(&mut proj, line, out);
        }
        self.proj_buf = Some(proj.recycle());
        result
    }

    /// Evaluates an already projected event into `out`. `text` is the event's JSON text (read
    /// by keyword searches and the sensitive-field test).
    pub fn evaluate(&mut self, ev: &mut Projection, text: &[u8], out: &mut Matches) {
        let set = self.set.clone();
        out.clear();
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.epoch = 1;
        }
        // Candidates: the undispatched rules plus those indexed under the event's values.
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        candidates.extend_from_slice(&set.always);
        if let Some((a, b, index)) = &set.pair {
            for va in ev.values(*a) {
                let Some(x) = va.as_text() else { continue };
                for vb in ev.values(*b) {
                    let Some(y) = vb.as_text() else { continue };
                    self.key_buf.clear();
                    self.key_buf.push_str(x);
                    self.key_buf.push('\u{1f}');
                    self.key_buf.push_str(y);
                    if self.key_buf.is_ascii() {
                        self.key_buf.make_ascii_lowercase();
                    } else {
                        self.key_buf = self.key_buf.to_lowercase();
                    }
                    if let Some(list) = index.get(self.key_buf.as_str()) {
                        candidates.extend_from_slice(list);
                    }
                }
            }
        }
        for (field, index) in &set.dispatch {
            for v in ev.values(*field) {
                let Some(t) = v.as_text() else { continue };
                let key = if t.bytes().any(|b| b.is_ascii_uppercase()) || !t.is_ascii() {
                    self.key_buf.clear();
                    self.key_buf.push_str(&t.to_lowercase());
                    self.key_buf.as_str()
                } else {
                    t
                };
                if let Some(list) = index.get(key) {
                    candidates.extend_from_slice(list);
                }
            }
        }
        for &ri in &candidates {
            let i = ri as usize;
            if self.marks[i] == self.epoch {
                continue;
            }
            self.marks[i] = self.epoch;
            if set.rules[i].needs_deferred {
                ev.expand(&set.fields);
            }
            out.evaluations += 1;
            let ctx = EvalCtx { ev: &*ev, text };
            if !set.rules[i].det.is_match(&ctx) {
                continue;
            }
            if out.items.is_empty() {
                out.time = set.time_fields.iter().find_map(|f| {
                    ev.first(*f)
                        .and_then(|v| v.as_text())
                        .and_then(kubevigil_model::time::parse_rfc3339_ms)
                });
            }
            let item = Matched {
                rule: ri,
                request: self.request_key(&set, ri, ev),
                feeds: set.rules[i]
                    .feeds
                    .iter()
                    .map(|&(ci, ii)| self.group_of(&set, &set.correlations[ci].inputs[ii], &ctx))
                    .collect(),
            };
            out.items.push(item);
        }
        self.candidates = candidates;
    }

    /// The group key and value of an event for one correlation input; `None` when a group-by
    /// field is missing (like `stats ... by` in SIEMs: such an event is not counted).
    fn group_of(
        &self,
        set: &RuleSet,
        input: &CorrInput,
        ctx: &EvalCtx,
    ) -> Option<(String, Option<String>)> {
        let mut key = String::new();
        for (gi, fields) in input.group_fields.iter().enumerate() {
            if gi > 0 {
                key.push('\u{1f}');
            }
            let (f, v) = fields
                .iter()
                .find_map(|f| ctx.ev.first(*f).map(|v| (*f, v)))
                .and_then(|(f, v)| Some((f, v.as_text()?)))
                .filter(|(_, v)| !v.is_empty())?;
            match &self.sensitive {
                Some(sensitive) if sensitive(set.fields.name(f), ctx.text) => {
                    use std::hash::BuildHasher;
                    let h = self.hasher.hash_one(v);
                    key.push_str(&format!("<redacted:{:08x}>", h as u32));
                }
                _ => key.push_str(v),
            }
        }
        let value = input
            .value_field
            .iter()
            .find_map(|f| ctx.ev.first(*f))
            .and_then(|v| v.as_text())
            .map(str::to_string);
        Some((key, value))
    }

    /// Hash of (rule, request identity), `None` when the event has no request id.
    fn request_key(&self, set: &RuleSet, ri: u32, ev: &Projection) -> Option<u64> {
        use std::hash::{BuildHasher, Hash, Hasher};
        let (&id, rest) = set.dedup_fields.split_first()?;
        let id = ev.first(id).and_then(|v| v.as_text())?;
        let mut h = self.hasher.build_hasher();
        (ri, id).hash(&mut h);
        for &f in rest {
            // Absent and present-but-empty are different requests.
            ev.first(f).and_then(|v| v.as_text()).hash(&mut h);
        }
        Some(h.finish())
    }
}

impl<S> Engine<S> {
    pub fn new(set: Arc<RuleSet>) -> Self {
        let states = set
            .correlations
            .iter()
            .map(|_| CorrState::new(set.options.max_groups, set.options.max_samples))
            .collect();
        let recent = Recent {
            seen: HashMap::default(),
            order: std::collections::VecDeque::new(),
            cap: set.options.dedup_window,
            max_age_ms: set.options.dedup_max_age_ms,
        };
        Engine {
            matcher: Matcher::new(set),
            matches: Matches::default(),
            recent,
            states,
            now: i64::MIN,
            stats: EngineStats::default(),
        }
    }

    /// Group-by values of correlations for which `sensitive(field path, event text)` holds
    /// are never kept or reported: they are replaced by `<redacted:HASH>` (a hash keyed per
    /// engine, so events with the same value still form one group, and the value cannot be
    /// recovered from the output).
    pub fn with_sensitive_fields(mut self, sensitive: SensitiveFn) -> Self {
        self.matcher.sensitive = Some(Arc::from(sensitive));
        self
    }

    pub fn rule_set(&self) -> &Arc<RuleSet> {
        &self.matcher.set
    }

    /// A matcher whose [`Matches`] this engine applies (for evaluation on other threads).
    pub fn matcher(&self) -> Matcher {
        self.matcher.clone()
    }

    /// The latest event time read so far (ms since the epoch), if any: times are read from the
    /// events that a rule matched.
    pub fn now(&self) -> Option<i64> {
        (self.now != i64::MIN).then_some(self.now)
    }

    pub fn stats(&self) -> EngineStats {
        let mut s = self.stats;
        for st in &self.states {
            s.correlation.groups += st.stats.groups;
            s.correlation.expired += st.stats.expired;
            s.correlation.evicted += st.stats.evicted;
        }
        s
    }

    /// Parses one JSON event (only the fields the rules need) and evaluates it.
    /// `sample` is called only when an alert (or a correlation) needs a copy of the event.
    pub fn process_json(
        &mut self,
        line: &[u8],
        sample: &mut dyn FnMut() -> S,
        out: &mut Vec<Alert<S>>,
    ) -> Result<(), JsonError> {
        let mut m = std::mem::take(&mut self.matches);
        let result = self.matcher.evaluate_json(line, &mut m);
        if result.is_ok() {
            self.apply(&m, sample, out);
        }
        self.matches = m;
        result
    }

    /// Evaluates a parsed JSON value.
    pub fn process_value(
        &mut self,
        value: &serde_json::Value,
        sample: &mut dyn FnMut() -> S,
        out: &mut Vec<Alert<S>>,
    ) {
        let set = self.matcher.set.clone();
        let mut proj = Projection::new(&set.fields);
        proj.fill_from_value(&set.fields, value);
        let text = if set.uses_keywords || self.matcher.sensitive.is_some() {
            value.to_string()
        } else {
            String::new()
        };
        self.process(&mut proj, text.as_bytes(), sample, out);
    }

    /// Evaluates an already projected event. `text` is the event's JSON text (only read by
    /// keyword searches and the sensitive-field test).
    pub fn process(
        &mut self,
        ev: &mut Projection,
        text: &[u8],
        sample: &mut dyn FnMut() -> S,
        out: &mut Vec<Alert<S>>,
    ) {
        let mut m = std::mem::take(&mut self.matches);
        self.matcher.evaluate(ev, text, &mut m);
        self.apply(&m, sample, out);
        self.matches = m;
    }

    /// The stateful half: applies what one event matched (from this engine's [`Matcher`] or a
    /// clone of it), events in input order. Request deduplication, then each rule's own alert,
    /// then the correlations it feeds.
    pub fn apply(&mut self, m: &Matches, sample: &mut dyn FnMut() -> S, out: &mut Vec<Alert<S>>) {
        let set = self.matcher.set.clone();
        self.stats.events += 1;
        self.stats.rule_evaluations += m.evaluations;
        if m.items.is_empty() {
            return;
        }
        if let Some(t) = m.time {
            self.now = self.now.max(t);
        }
        for item in &m.items {
            let rule = &set.rules[item.rule as usize];
            if let Some(key) = item.request
                && !self.recent.insert(key, m.time)
            {
                continue;
            }
            self.stats.matches += 1;
            if rule.emit {
                self.stats.alerts += 1;
                out.push(Alert {
                    rule: rule.meta.clone(),
                    correlation: false,
                    time_ms: m.time,
                    count: 1,
                    group: Vec::new(),
                    samples: vec![sample()],
                });
            }
            let now = m
                .time
                .unwrap_or(if self.now == i64::MIN { 0 } else { self.now });
            for (&(ci, ii), feed) in rule.feeds.iter().zip(&item.feeds) {
                let Some((key, value)) = feed else { continue };
                let corr = &set.correlations[ci];
                let mut fired = Vec::new();
                self.states[ci].observe(corr, ii, key, value.as_deref(), now, sample, &mut fired);
                self.push_fired(corr, fired, out);
            }
        }
    }

    fn push_fired(
        &mut self,
        corr: &Correlation,
        fired: Vec<crate::correlation::Fired<S>>,
        out: &mut Vec<Alert<S>>,
    ) {
        for f in fired {
            self.stats.alerts += 1;
            out.push(Alert {
                rule: corr.meta.clone(),
                correlation: true,
                time_ms: Some(f.time_ms),
                count: f.count,
                group: corr
                    .group_by
                    .iter()
                    .cloned()
                    .zip(f.key.split('\u{1f}').map(str::to_string))
                    .collect(),
                samples: f.samples,
            });
        }
    }

    /// End of input: decides open correlation windows.
    pub fn flush(&mut self, out: &mut Vec<Alert<S>>) {
        let set = self.matcher.set.clone();
        for (ci, corr) in set.correlations.iter().enumerate() {
            let mut fired = Vec::new();
            self.states[ci].flush(corr, &mut fired);
            self.push_fired(corr, fired, out);
        }
    }
}
