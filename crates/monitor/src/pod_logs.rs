//! Pod logs followed live (issue 19, point 1): the containers of the running pods that the
//! options select (namespaces, a label selector), at most [`LogOptions::max_streams`] at once,
//! each followed with the API server's log subresource (`follow`, `timestamps`) and, when its
//! stream ends (a container restart, a dropped connection, the API server's idle timeout),
//! followed again from the time of its last line (`sinceTime`), without repeating a line.
//!
//! Each line becomes the event `kubevigil logs detect` makes of it
//! ([`kubevigil_detect::pod_logs::event_json`]: namespace, pod, container, node, time, message,
//! JSON fields, credentials named) plus the pod's `workload` `{kind, name}` (the top of its
//! controllers, as the inventory knows them), sent as one spool line to `tx`.
//!
//! Which containers are followed is decided again every [`RECONCILE`] from the objects the
//! monitor watches (its published snapshot): new pods are followed, deleted ones dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;
use kubevigil_detect::PodRef;
use kubevigil_detect::pod_logs::MAX_LINE;
use kubevigil_model::Store;

/// How often the followed containers are decided again.
pub const RECONCILE: Duration = Duration::from_secs(2);

/// Which pods' logs are followed.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Empty: every namespace.
    pub namespaces: Vec<String>,
    /// Labels a pod must carry (`key=value`, all of them); empty: any pod.
    pub selector: Vec<(String, String)>,
    /// The most containers followed at once (the first in namespace, pod, container order).
    pub max_streams: usize,
}

impl LogOptions {
    /// Parses a label selector of equality requirements (`app=web,tier=frontend`; `==` too).
    pub fn parse_selector(s: &str) -> Result<Vec<(String, String)>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p
                    .split_once("==")
                    .or_else(|| p.split_once('='))
                    .ok_or_else(|| format!("{p:?}: expected key=value"))?;
                let (k, v) = (k.trim(), v.trim());
                if k.is_empty() || k.contains(['!', ' ']) {
                    return Err(format!("{p:?}: expected key=value"));
                }
                Ok((k.to_string(), v.to_string()))
            })
            .collect()
    }
}

/// One followed container.
type Key = (String, String, String);

/// The running pods' containers `opts` selects in `store`, with their nodes, in order.
pub fn wanted(store: &Store, opts: &LogOptions) -> BTreeMap<Key, Option<String>> {
    let mut out = BTreeMap::new();
    for pod in store.of_kind("Pod") {
        let Some(ns) = pod.namespace.as_deref() else {
            continue;
        };
        if !opts.namespaces.is_empty() && !opts.namespaces.iter().any(|n| n == ns) {
            continue;
        }
        let labels = &pod.value["metadata"]["labels"];
        if !opts
            .selector
            .iter()
            .all(|(k, v)| labels[k].as_str() == Some(v.as_str()))
        {
            continue;
        }
        if pod.value["status"]["phase"].as_str() != Some("Running") {
            continue;
        }
        let node = pod.value["spec"]["nodeName"].as_str().map(str::to_string);
        for c in pod.value["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(name) = c["name"].as_str() {
                out.insert(
                    (ns.to_string(), pod.name.clone(), name.to_string()),
                    node.clone(),
                );
            }
        }
    }
    out
}

/// Where a followed stream stands: the time of the last line told, and how many lines with
/// exactly that time were told (a stream followed again from `sinceTime`, a whole second,
/// repeats them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resume {
    last: Option<i64>,
    at_last: usize,
    /// Lines at `last` still to skip in the stream now read.
    skip: usize,
}

impl Resume {
    /// Whether a line stamped `micros` is new; counts it when it is.
    pub fn admit(&mut self, micros: i64) -> bool {
        match self.last {
            Some(last) if micros < last => false,
            Some(last) if micros == last && self.skip > 0 => {
                self.skip -= 1;
                false
            }
            Some(last) if micros == last => {
                self.at_last += 1;
                true
            }
            _ => {
                self.last = Some(micros);
                self.at_last = 1;
                self.skip = 0;
                true
            }
        }
    }

    /// Before reading a stream again: the `sinceTime` to ask for, and the lines at the last
    /// time to skip.
    pub fn restart(&mut self) -> Option<jiff::Timestamp> {
        self.skip = self.at_last;
        let last = self.last?;
        jiff::Timestamp::from_microsecond(last).ok()
    }
}

/// Follows the containers `opts` selects among the objects `live` publishes, forever, sending
/// each line's event to `tx`. `counts` gets the number of streams followed.
pub async fn run(
    client: kube::Client,
    live: Arc<crate::dashboard::LiveObjects>,
    opts: LogOptions,
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
) {
    let mut streams: BTreeMap<Key, tokio::task::JoinHandle<()>> = BTreeMap::new();
    let mut told_cap = false;
    loop {
        if let Some(store) = live.latest() {
            let all = wanted(&store, &opts);
            if all.len() > opts.max_streams && !told_cap {
                tracing::warn!(
                    matching = all.len(),
                    followed = opts.max_streams,
                    "more containers match the pod-log selection than --max-log-streams: the first are followed"
                );
                told_cap = true;
            }
            let want: BTreeMap<Key, Option<String>> =
                all.into_iter().take(opts.max_streams).collect();
            let gone: BTreeSet<Key> = streams
                .keys()
                .filter(|k| !want.contains_key(*k))
                .cloned()
                .collect();
            for k in gone {
                if let Some(h) = streams.remove(&k) {
                    h.abort();
                }
            }
            for (key, node) in want {
                if streams.contains_key(&key) {
                    continue;
                }
                tracing::info!(namespace = %key.0, pod = %key.1, container = %key.2, "following pod log");
                let workload = crate::falco::enrichment(&store, &key.0, &key.1)
                    .workload
                    .map(|(kind, name)| serde_json::json!({"kind": kind, "name": name}));
                let task = follow(client.clone(), key.clone(), node, workload, tx.clone());
                streams.insert(key, tokio::spawn(task));
            }
        }
        tokio::time::sleep(RECONCILE).await;
    }
}

/// Reads the next line of `r` into `buf` (without its line break), keeping at most `max` bytes
/// of it and consuming the rest: a container may print a line without end. `None` at the end of
/// the stream, else whether the line was cut.
async fn next_line<R: futures::AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    use futures::AsyncBufReadExt as _;
    buf.clear();
    let (mut any, mut cut) = (false, false);
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(any.then_some(cut));
        }
        any = true;
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        let room = max.saturating_sub(buf.len());
        cut |= take > room;
        buf.extend_from_slice(&chunk[..take.min(room)]);
        r.consume_unpin(take + usize::from(done));
        if done {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Some(cut));
        }
    }
}

/// Follows one container's log until aborted, again from its last line whenever it ends.
async fn follow(
    client: kube::Client,
    key: Key,
    node: Option<String>,
    workload: Option<serde_json::Value>,
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
) {
    let (ns, pod, container) = key;
    let api: kube::Api<Pod> = kube::Api::namespaced(client, &ns);
    let who = PodRef {
        namespace: Some(ns.clone()),
        pod: Some(pod.clone()),
        container: Some(container.clone()),
        node,
    };
    let mut resume = Resume::default();
    let mut backoff = Duration::from_secs(1);
    let mut told_unstamped = false;
    let mut told_long = false;
    loop {
        let params = LogParams {
            container: Some(container.clone()),
            follow: true,
            timestamps: true,
            since_time: resume.restart(),
            ..LogParams::default()
        };
        match api.log_stream(&pod, &params).await {
            Ok(reader) => {
                backoff = Duration::from_secs(1);
                let mut reader = Box::pin(reader);
                let mut buf = Vec::new();
                loop {
                    let cut = match next_line(&mut reader, &mut buf, MAX_LINE).await {
                        Ok(Some(cut)) => cut,
                        Ok(None) | Err(_) => break,
                    };
                    if cut && !told_long {
                        tracing::warn!(namespace = %ns, pod = %pod, container = %container,
                            "a pod log line longer than 1 MiB was cut there (further ones are not told)");
                        told_long = true;
                    }
                    let line = String::from_utf8_lossy(&buf);
                    // `timestamps`: the kubelet's RFC 3339 time, a space, the line.
                    let (time, message) = line.split_once(' ').unwrap_or((&line, ""));
                    let Some(micros) = kubevigil_model::time::parse_rfc3339_micros(time) else {
                        // The API server stamps every line it was asked to: not a log line.
                        if !told_unstamped {
                            tracing::warn!(namespace = %ns, pod = %pod, container = %container,
                                "a pod log line without its timestamp was skipped (further ones are not told)");
                            told_unstamped = true;
                        }
                        continue;
                    };
                    if !resume.admit(micros) {
                        continue;
                    }
                    let mut event =
                        kubevigil_detect::pod_logs::event_json(&who, Some(time), None, message);
                    // The workload at the top of the pod's controllers, as a first member.
                    if let Some(w) = &workload {
                        event = format!("{{\"workload\":{w},{}", &event[1..]);
                    }
                    if tx.send(event.into_bytes()).is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(namespace = %ns, pod = %pod, container = %container,
                    error = %kubevigil_model::Escaped(&e.to_string()), "pod log not readable; retrying");
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_read_again_repeats_no_line() {
        let mut r = Resume::default();
        assert!(r.admit(10) && r.admit(20) && r.admit(20) && r.admit(30) && r.admit(30));
        assert!(r.restart().is_some());
        // The stream again from the last second: what was told is skipped, the rest is new.
        assert!(!r.admit(20));
        assert!(!r.admit(30) && !r.admit(30));
        assert!(r.admit(30), "a third line at the same time is new");
        assert!(r.admit(40));
        let mut fresh = Resume::default();
        assert!(fresh.restart().is_none());
    }

    #[test]
    fn lines_are_capped_and_the_rest_consumed() {
        let text = format!("short\r\n{}\nafter\nlast", "x".repeat(100));
        let mut r = futures::io::BufReader::with_capacity(16, text.as_bytes());
        let mut buf = Vec::new();
        let mut got = Vec::new();
        futures::executor::block_on(async {
            while let Some(cut) = next_line(&mut r, &mut buf, 10).await.unwrap() {
                got.push((String::from_utf8(buf.clone()).unwrap(), cut));
            }
        });
        assert_eq!(
            got,
            [
                ("short".to_string(), false),
                ("x".repeat(10), true),
                ("after".to_string(), false),
                ("last".to_string(), false)
            ]
        );
    }

    #[test]
    fn selectors() {
        assert_eq!(
            LogOptions::parse_selector("app=web, tier==frontend").unwrap(),
            [
                ("app".into(), "web".into()),
                ("tier".into(), "frontend".into())
            ]
        );
        for bad in ["app", "app!=web", "=x"] {
            assert!(LogOptions::parse_selector(bad).is_err(), "{bad}");
        }
    }
}
