//! Sigma correlation rules (SigmaHQ `specification/sigma-correlation-rules-specification.md`):
//! event_count, value_count, temporal and temporal_ordered, grouped by fields, over a
//! timespan measured in event time.
//!
//! Alerting semantics (the specification leaves them to the tool):
//! - conditions with only a lower bound (`gt`, `gte`) fire as soon as they hold in the sliding
//!   window ending at the current event; the group is then reset and muted for one timespan,
//!   so a burst raises exactly one alert per group and timespan;
//! - conditions with an upper bound (`lt`, `lte`, `eq`, ranges) can only be decided when the
//!   window closes: a window opens at a group's first event and is evaluated one timespan
//!   later (when a later event arrives, when state is swept, or at the end of the input).
//!
//! State is bounded: groups idle for longer than the timespan expire, and at most
//! `max_groups` groups are kept per correlation (the least recently seen are evicted first);
//! both are counted.

use std::collections::{HashMap, VecDeque};

use crate::event::FieldId;
use crate::rule::{LoadError, RuleMeta};
use crate::yaml::Node;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrKind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
}

/// `condition` of a correlation: a conjunction of bounds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CountCond {
    pub gt: Option<u64>,
    pub gte: Option<u64>,
    pub lt: Option<u64>,
    pub lte: Option<u64>,
    pub eq: Option<u64>,
}

impl CountCond {
    pub fn holds(&self, n: u64) -> bool {
        self.gt.is_none_or(|x| n > x)
            && self.gte.is_none_or(|x| n >= x)
            && self.lt.is_none_or(|x| n < x)
            && self.lte.is_none_or(|x| n <= x)
            && self.eq.is_none_or(|x| n == x)
    }
    /// Only lower bounds: can fire as soon as reached.
    pub fn is_threshold(&self) -> bool {
        self.lt.is_none() && self.lte.is_none() && self.eq.is_none()
    }
    /// The smallest count that satisfies the lower bounds.
    pub fn min_count(&self) -> u64 {
        let a = self.gt.map_or(0, |x| x + 1);
        let b = self.gte.unwrap_or(0);
        a.max(b).max(1)
    }
}

/// The raw, uncompiled correlation section.
#[derive(Debug, Clone)]
pub struct CorrelationDef {
    pub meta: RuleMeta,
    pub kind: CorrKind,
    pub rules: Vec<(String, usize, usize)>,
    pub group_by: Vec<String>,
    pub timespan_ms: i64,
    pub cond: CountCond,
    pub value_field: Option<String>,
    pub aliases: Vec<(String, Vec<(String, String)>)>,
    pub generate: bool,
}

pub(crate) fn parse_correlation(doc: &Node, meta: RuleMeta) -> Result<CorrelationDef, LoadError> {
    let c = doc
        .get("correlation")
        .ok_or_else(|| LoadError::at(doc, "missing `correlation`"))?;
    let kind_node = c
        .get("type")
        .ok_or_else(|| LoadError::at(c, "correlation has no `type`"))?;
    let kind = match kind_node.as_str() {
        Some("event_count") => CorrKind::EventCount,
        Some("value_count") => CorrKind::ValueCount,
        Some("temporal") => CorrKind::Temporal,
        Some("temporal_ordered") => CorrKind::TemporalOrdered,
        Some(other) => {
            return Err(LoadError::at(
                kind_node,
                format!("unsupported correlation type `{other}`"),
            ));
        }
        None => {
            return Err(LoadError::at(
                kind_node,
                "correlation `type` must be a string",
            ));
        }
    };
    let rules_node = c
        .get("rules")
        .ok_or_else(|| LoadError::at(c, "correlation has no `rules`"))?;
    let rules: Vec<(String, usize, usize)> = match rules_node.as_seq() {
        Some(items) => items
            .iter()
            .filter_map(|n| n.scalar_text().map(|s| (s, n.line, n.col)))
            .collect(),
        None => rules_node
            .scalar_text()
            .map(|s| vec![(s, rules_node.line, rules_node.col)])
            .unwrap_or_default(),
    };
    if rules.is_empty() {
        return Err(LoadError::at(rules_node, "correlation `rules` is empty"));
    }
    let group_by = c
        .get("group-by")
        .and_then(|n| n.str_list())
        .unwrap_or_default();
    let ts_node = c
        .get("timespan")
        .ok_or_else(|| LoadError::at(c, "correlation has no `timespan`"))?;
    let timespan_ms = ts_node
        .scalar_text()
        .and_then(|s| crate::time::parse_timespan_ms(&s))
        .ok_or_else(|| {
            LoadError::at(
                ts_node,
                "`timespan` must be a number followed by s, m, h or d",
            )
        })?;
    let mut cond = CountCond::default();
    let mut value_field = None;
    match c.get("condition") {
        Some(cn) => {
            let entries = cn
                .as_map()
                .ok_or_else(|| LoadError::at(cn, "correlation `condition` must be a map"))?;
            for (k, v) in entries {
                let key = k.as_str().unwrap_or_default();
                if key == "field" {
                    value_field = v.scalar_text();
                    continue;
                }
                let n = match v.kind {
                    crate::yaml::Kind::Int(i) if i >= 0 => i as u64,
                    _ => {
                        return Err(LoadError::at(
                            v,
                            "correlation condition values must be non-negative integers",
                        ));
                    }
                };
                match key {
                    "gt" => cond.gt = Some(n),
                    "gte" => cond.gte = Some(n),
                    "lt" => cond.lt = Some(n),
                    "lte" => cond.lte = Some(n),
                    "eq" => cond.eq = Some(n),
                    other => {
                        return Err(LoadError::at(
                            k,
                            format!("unsupported correlation condition `{other}`"),
                        ));
                    }
                }
            }
        }
        None if matches!(kind, CorrKind::Temporal | CorrKind::TemporalOrdered) => {
            cond.gte = Some(rules.len() as u64);
        }
        None => return Err(LoadError::at(c, "correlation has no `condition`")),
    }
    if kind == CorrKind::ValueCount && value_field.is_none() {
        return Err(LoadError::at(
            c,
            "value_count needs `field` in its condition",
        ));
    }
    if group_by.is_empty() && kind != CorrKind::EventCount && kind != CorrKind::ValueCount {
        // Allowed: everything is one group.
    }
    let mut aliases = Vec::new();
    if let Some(an) = c.get("aliases") {
        for (alias, map) in an.as_map().unwrap_or_default() {
            let per_rule = map
                .as_map()
                .unwrap_or_default()
                .iter()
                .filter_map(|(r, f)| Some((r.scalar_text()?, f.scalar_text()?)))
                .collect();
            aliases.push((alias.scalar_text().unwrap_or_default(), per_rule));
        }
    }
    let generate = doc
        .get("generate")
        .or_else(|| c.get("generate"))
        .is_some_and(|n| n.kind == crate::yaml::Kind::Bool(true));
    Ok(CorrelationDef {
        meta,
        kind,
        rules,
        group_by,
        timespan_ms,
        cond,
        value_field,
        aliases,
        generate,
    })
}

/// A compiled correlation, ready to receive matches of its base rules.
#[derive(Debug, Clone)]
pub struct Correlation {
    pub meta: std::sync::Arc<RuleMeta>,
    pub kind: CorrKind,
    pub timespan_ms: i64,
    pub cond: CountCond,
    pub group_by: Vec<String>,
    /// For each base rule (by position in `rules`): its rule index, group-by fields and
    /// value field.
    pub inputs: Vec<CorrInput>,
}

#[derive(Debug, Clone)]
pub struct CorrInput {
    pub rule: usize,
    pub group_fields: Vec<Vec<FieldId>>,
    pub value_field: Vec<FieldId>,
}

/// Per-group state.
#[derive(Debug)]
struct Group<S> {
    last_seen: i64,
    window_start: i64,
    muted_until: i64,
    count: u64,
    times: VecDeque<i64>,
    values: HashMap<String, i64, ahash::RandomState>,
    /// temporal: last time each rule matched; temporal_ordered: chain start time per step.
    steps: Vec<Option<i64>>,
    samples: Vec<S>,
}

impl<S> Group<S> {
    fn new(now: i64, n_rules: usize) -> Self {
        Group {
            last_seen: now,
            window_start: now,
            muted_until: i64::MIN,
            count: 0,
            times: VecDeque::new(),
            values: HashMap::default(),
            steps: vec![None; n_rules],
            samples: Vec::new(),
        }
    }
    fn reset(&mut self, now: i64) {
        self.window_start = now;
        self.count = 0;
        self.times.clear();
        self.values.clear();
        self.steps.iter_mut().for_each(|s| *s = None);
        self.samples.clear();
    }
}

/// Counters about correlation state, for operators and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CorrStats {
    pub groups: u64,
    pub expired: u64,
    pub evicted: u64,
}

/// A correlation that fired.
#[derive(Debug, Clone)]
pub struct Fired<S> {
    pub time_ms: i64,
    pub count: u64,
    /// The group key (group-by values joined by U+001F).
    pub key: String,
    pub samples: Vec<S>,
}

/// Windowed state of one correlation.
#[derive(Debug)]
pub struct CorrState<S> {
    /// Keyed by input values: a randomly seeded hasher, so a log cannot flood it.
    groups: HashMap<String, Group<S>, ahash::RandomState>,
    pub stats: CorrStats,
    max_groups: usize,
    max_samples: usize,
    last_sweep: i64,
}

impl<S> CorrState<S> {
    pub fn new(max_groups: usize, max_samples: usize) -> Self {
        CorrState {
            groups: HashMap::default(),
            stats: CorrStats::default(),
            max_groups: max_groups.max(1),
            max_samples,
            last_sweep: i64::MIN,
        }
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Records one match of base rule number `input` (position in the correlation's rule
    /// list) for `key` at event time `now`.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &mut self,
        corr: &Correlation,
        input: usize,
        key: &str,
        value: Option<&str>,
        now: i64,
        sample: &mut dyn FnMut() -> S,
        out: &mut Vec<Fired<S>>,
    ) {
        let span = corr.timespan_ms;
        if now.saturating_sub(self.last_sweep) > span {
            self.sweep(corr, now, out);
        }
        if !self.groups.contains_key(key) {
            if self.groups.len() >= self.max_groups {
                self.make_room(corr, now, out);
            }
            self.groups
                .insert(key.to_string(), Group::new(now, corr.inputs.len()));
            self.stats.groups = self.groups.len() as u64;
        }
        let threshold = corr.cond.is_threshold();
        let max_samples = self.max_samples;
        let Some(g) = self.groups.get_mut(key) else {
            return;
        };
        g.last_seen = g.last_seen.max(now);
        if now < g.muted_until {
            return;
        }
        // Windows with an upper bound close one timespan after they open.
        if !threshold && now - g.window_start > span {
            close_window(corr, key, g, out);
            g.reset(now);
        }
        let fired = match corr.kind {
            CorrKind::EventCount => {
                g.count += 1;
                if threshold {
                    let need = corr.cond.min_count() as usize;
                    g.times.push_back(now);
                    while g.times.len() > need {
                        g.times.pop_front();
                    }
                    while g.times.front().is_some_and(|t| now - *t > span) {
                        g.times.pop_front();
                    }
                    (g.times.len() >= need).then_some(g.times.len() as u64)
                } else {
                    None
                }
            }
            CorrKind::ValueCount => {
                if let Some(v) = value {
                    g.values.insert(v.to_string(), now);
                }
                if threshold {
                    g.values.retain(|_, t| now - *t <= span);
                    let n = g.values.len() as u64;
                    corr.cond.holds(n).then_some(n)
                } else {
                    None
                }
            }
            CorrKind::Temporal => {
                g.steps[input] = Some(now);
                let n = g
                    .steps
                    .iter()
                    .filter(|s| s.is_some_and(|t| now - t <= span))
                    .count() as u64;
                (threshold && corr.cond.holds(n)).then_some(n)
            }
            CorrKind::TemporalOrdered => {
                if input == 0 {
                    g.steps[0] = Some(now);
                } else if let Some(start) = g.steps[input - 1].filter(|s| now - s <= span) {
                    g.steps[input] = Some(g.steps[input].map_or(start, |x| x.max(start)));
                }
                let n = g
                    .steps
                    .iter()
                    .take_while(|s| s.is_some_and(|t| now - t <= span))
                    .count() as u64;
                (threshold && corr.cond.holds(n)).then_some(n)
            }
        };
        if g.samples.len() < max_samples {
            g.samples.push(sample());
        }
        if let Some(count) = fired {
            out.push(Fired {
                time_ms: now,
                count,
                key: key.to_string(),
                samples: std::mem::take(&mut g.samples),
            });
            g.reset(now);
            g.muted_until = now.saturating_add(span);
        }
    }

    /// Removes groups idle for more than a timespan, deciding their closed windows first.
    pub fn sweep(&mut self, corr: &Correlation, now: i64, out: &mut Vec<Fired<S>>) {
        self.last_sweep = now;
        let span = corr.timespan_ms;
        let before = self.groups.len();
        self.groups.retain(|key, g| {
            let idle = now - g.last_seen > span && now >= g.muted_until;
            if idle && !corr.cond.is_threshold() {
                close_window(corr, key, g, out);
            }
            !idle
        });
        self.stats.expired += (before - self.groups.len()) as u64;
        self.stats.groups = self.groups.len() as u64;
    }

    fn make_room(&mut self, corr: &Correlation, now: i64, out: &mut Vec<Fired<S>>) {
        self.sweep(corr, now, out);
        if self.groups.len() < self.max_groups {
            return;
        }
        // Evict the least recently seen tenth.
        let mut seen: Vec<i64> = self.groups.values().map(|g| g.last_seen).collect();
        let k = (seen.len() / 10).max(1);
        let (_, cut, _) = seen.select_nth_unstable(k - 1);
        let cut = *cut;
        let before = self.groups.len();
        let mut budget = k;
        self.groups.retain(|_, g| {
            if budget > 0 && g.last_seen <= cut {
                budget -= 1;
                false
            } else {
                true
            }
        });
        self.stats.evicted += (before - self.groups.len()) as u64;
        self.stats.groups = self.groups.len() as u64;
    }

    /// End of input: decides every open window with an upper-bounded condition.
    pub fn flush(&mut self, corr: &Correlation, out: &mut Vec<Fired<S>>) {
        if !corr.cond.is_threshold() {
            for (key, g) in self.groups.iter_mut() {
                close_window(corr, key, g, out);
            }
        }
        self.groups.clear();
        self.stats.groups = 0;
    }
}

fn close_window<S>(corr: &Correlation, key: &str, g: &mut Group<S>, out: &mut Vec<Fired<S>>) {
    let span = corr.timespan_ms;
    let end = g.window_start + span;
    let n = match corr.kind {
        CorrKind::EventCount => g.count,
        CorrKind::ValueCount => g.values.len() as u64,
        CorrKind::Temporal => g.steps.iter().filter(|s| s.is_some()).count() as u64,
        CorrKind::TemporalOrdered => g.steps.iter().take_while(|s| s.is_some()).count() as u64,
    };
    if n > 0 && corr.cond.holds(n) {
        out.push(Fired {
            time_ms: end.min(g.last_seen),
            count: n,
            key: key.to_string(),
            samples: std::mem::take(&mut g.samples),
        });
    }
    g.count = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_conditions() {
        let c = CountCond {
            gt: Some(100),
            lte: Some(200),
            ..Default::default()
        };
        assert!(!c.holds(100) && c.holds(101) && c.holds(200) && !c.holds(201));
        assert!(!c.is_threshold());
        let c = CountCond {
            gte: Some(10),
            ..Default::default()
        };
        assert!(c.is_threshold() && c.min_count() == 10);
    }
}
