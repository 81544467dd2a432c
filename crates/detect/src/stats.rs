//! `audit detect --stats`: per rule, how many alerts it raised and for whom, so a user can see
//! in minutes which exceptions or dedup settings to write.

use std::collections::HashMap;

use kubevigil_model::Severity;

use crate::DetectionAlert;
use crate::alert::Labels;

/// Most distinct actors (and objects) counted per rule; later ones are counted as others, so a
/// hostile stream of made-up user names cannot grow memory.
pub const MAX_TRACKED: usize = 1_000;

/// How many top actors and objects a rule's line shows.
pub const TOP: usize = 5;

/// Counts per rule.
#[derive(Debug, Clone, Default)]
pub struct RuleStats {
    pub rule: String,
    pub name: String,
    pub title: String,
    pub severity: Option<Severity>,
    /// Matches the rule raised (before deduplication, after exceptions).
    pub matches: u64,
    /// Events in those matches (a correlation's count).
    pub events: u64,
    /// Alerts emitted (after deduplication), and updates of them.
    pub alerts: u64,
    pub updates: u64,
    /// Matches dropped by exceptions.
    pub excepted: u64,
    actors: Counter,
    objects: Counter,
}

impl RuleStats {
    /// The most frequent actors (by matches), at most [`TOP`], and the matches of the others.
    pub fn top_actors(&self) -> (Vec<(&str, u64)>, u64) {
        self.actors.top(TOP)
    }

    pub fn top_objects(&self) -> (Vec<(&str, u64)>, u64) {
        self.objects.top(TOP)
    }
}

#[derive(Debug, Clone, Default)]
struct Counter {
    counts: HashMap<String, u64, ahash::RandomState>,
    /// Counted beyond [`MAX_TRACKED`] distinct values.
    untracked: u64,
}

impl Counter {
    fn add(&mut self, key: String) {
        if let Some(n) = self.counts.get_mut(&key) {
            *n += 1;
        } else if self.counts.len() < MAX_TRACKED {
            self.counts.insert(key, 1);
        } else {
            self.untracked += 1;
        }
    }

    fn top(&self, n: usize) -> (Vec<(&str, u64)>, u64) {
        let mut all: Vec<(&str, u64)> = self.counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let others: u64 = all.iter().skip(n).map(|(_, c)| c).sum::<u64>() + self.untracked;
        all.truncate(n);
        (all, others)
    }
}

/// Counts per rule of one run.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    rules: HashMap<String, RuleStats, ahash::RandomState>,
}

impl Stats {
    fn entry(&mut self, a: &DetectionAlert) -> &mut RuleStats {
        let key = format!("{}\u{0}{}", a.rule, a.name());
        self.rules.entry(key).or_insert_with(|| RuleStats {
            rule: a.rule.clone(),
            name: a.name().to_string(),
            title: a.title.clone(),
            severity: Some(a.severity),
            ..RuleStats::default()
        })
    }

    /// A match of the engine, kept by the exceptions.
    /// `labels` are the alert's ([`DetectionAlert::labels`]).
    pub fn matched(&mut self, a: &DetectionAlert, labels: &Labels) {
        let s = self.entry(a);
        s.matches += 1;
        s.events += a.count;
        s.actors
            .add(a.group_label().unwrap_or_else(|| labels.actor.clone()));
        s.objects.add(labels.object.clone());
    }

    pub fn excepted(&mut self, a: &DetectionAlert) {
        self.entry(a).excepted += 1;
    }

    /// An alert or update emitted.
    pub fn emitted(&mut self, a: &DetectionAlert) {
        let s = self.entry(a);
        if a.update {
            s.updates += 1;
        } else {
            s.alerts += 1;
        }
    }

    /// Every rule that matched, the busiest first (then by name).
    pub fn rules(&self) -> Vec<&RuleStats> {
        let mut all: Vec<&RuleStats> = self.rules.values().collect();
        all.sort_by(|a, b| {
            (b.matches + b.excepted)
                .cmp(&(a.matches + a.excepted))
                .then(a.name.cmp(&b.name))
                .then(a.rule.cmp(&b.rule))
        });
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn top_actors_and_objects_are_bounded() {
        let mut stats = Stats::default();
        let n = 2 * MAX_TRACKED + 20;
        for i in 0..n {
            let user = if i % 2 == 0 {
                "busy".to_string()
            } else {
                format!("u{i}")
            };
            let a = DetectionAlert {
                rule: "r".into(),
                events: vec![
                    json!({"user": {"username": user}, "objectRef": {"resource": "secrets", "namespace": "ns", "name": "s"}}).into(),
                ],
                ..DetectionAlert::default()
            };
            stats.matched(&a, &a.labels());
        }
        let rules = stats.rules();
        assert_eq!(rules.len(), 1);
        let (top, others) = rules[0].top_actors();
        assert_eq!(top[0], ("busy", n as u64 / 2));
        assert_eq!(top.len(), TOP);
        assert_eq!(top.iter().map(|t| t.1).sum::<u64>() + others, n as u64);
        assert_eq!(rules[0].actors.counts.len(), MAX_TRACKED);
        assert_eq!(rules[0].top_objects().0, [("secrets ns/s", n as u64)]);
    }
}
