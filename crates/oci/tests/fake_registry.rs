//! A registry written here (plain HTTP on loopback) for what a real one will not do on
//! request: Docker's Bearer token flow, a blob redirected to another host (which must not
//! receive the registry's Authorization), a blob or a manifest that does not match its
//! digest, a schema 1 manifest, a decompression bomb over the wire.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::select;
use kubevigil_oci::{Credentials, PullOptions, SourceError, pull};
use sha2::{Digest as _, Sha256};

fn sha(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

#[derive(Debug, Clone)]
struct Req {
    path: String,
    authorization: Option<String>,
}

type Handler = dyn Fn(&Req) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + Sync;

/// An HTTP/1.1 server with keep-alive on a loopback port; every request is logged.
fn serve(handler: Arc<Handler>) -> (u16, Arc<Mutex<Vec<Req>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let handler = handler.clone();
            let log = log2.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split(' ').nth(1).unwrap_or("").to_string();
                    let mut authorization = None;
                    let mut length = 0usize;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap();
                        match k.to_ascii_lowercase().as_str() {
                            "authorization" => authorization = Some(v.trim().to_string()),
                            "content-length" => length = v.trim().parse().unwrap(),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let req = Req {
                        path,
                        authorization,
                    };
                    log.lock().unwrap().push(req.clone());
                    let (status, headers, body) = handler(&req);
                    let mut head =
                        format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
                    for (k, v) in headers {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    head.push_str("\r\n");
                    if out.write_all(head.as_bytes()).is_err() || out.write_all(&body).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, log)
}

fn tar_with(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn manifest(config: &[u8], layer_digest: &str, layer_size: usize, mt: &str) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"{mt}","digest":"{layer_digest}","size":{layer_size}}}]}}"#,
        sha(config),
        config.len()
    )
    .into_bytes()
}

#[test]
fn bearer_tokens_redirects_and_lying_registries() {
    let good_layer = {
        let t = tar_with(&[("etc/os-release", b"ID=fake\n")]);
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&t).unwrap();
        e.finish().unwrap()
    };
    let lying_layer = tar_with(&[("etc/os-release", b"ID=lie\n")]);
    let claimed = sha(&tar_with(&[("etc/os-release", b"ID=true\n")]));
    let bomb = {
        let size: u64 = 100 << 20;
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o644);
        b.append_data(&mut h, "var/zeros", std::io::repeat(0).take(size))
            .unwrap();
        b.into_inner().unwrap().finish().unwrap()
    };
    let config =
        br#"{"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let gz = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    let good = manifest(&config, &sha(&good_layer), good_layer.len(), gz);
    let lying = manifest(
        &config,
        &claimed,
        lying_layer.len(),
        "application/vnd.oci.image.layer.v1.tar",
    );
    let bombing = manifest(&config, &sha(&bomb), bomb.len(), gz);

    // The "CDN" serves the good layer's bytes at the address the registry redirects to.
    let cdn_layer = good_layer.clone();
    let (cdn_port, cdn_log) = serve(Arc::new(move |_req: &Req| (200, vec![], cdn_layer.clone())));

    let port_cell = Arc::new(Mutex::new(0u16));
    let port_for_handler = port_cell.clone();
    let (good_digest, good_layer_digest, claimed_digest) =
        (sha(&good), sha(&good_layer), claimed.clone());
    let handler = move |req: &Req| -> (u16, Vec<(String, String)>, Vec<u8>) {
        let port = *port_for_handler.lock().unwrap();
        let p = req.path.as_str();
        if p.starts_with("/token?") {
            // user:pass
            return if req.authorization.as_deref() == Some("Basic dXNlcjpwYXNz")
                && p.contains("scope=repository%3Ateam%2Fapp%3Apull")
            {
                (200, vec![], br#"{"access_token":"tok123"}"#.to_vec())
            } else {
                (401, vec![], b"{}".to_vec())
            };
        }
        if req.authorization.as_deref() != Some("Bearer tok123") {
            let challenge = format!(
                r#"Bearer realm="http://127.0.0.1:{port}/token",service="fake",scope="repository:team/app:pull""#
            );
            return (401, vec![("WWW-Authenticate".into(), challenge)], vec![]);
        }
        let ct = |m: &str| vec![("Content-Type".to_string(), m.to_string())];
        let docker = "application/vnd.docker.distribution.manifest.v2+json";
        match p {
            "/v2/team/app/manifests/t" => (200, ct(docker), good.clone()),
            "/v2/team/app/manifests/lying" => (200, ct(docker), lying.clone()),
            "/v2/team/app/manifests/bomb" => (200, ct(docker), bombing.clone()),
            "/v2/team/app/manifests/old" => (
                200,
                ct("application/vnd.docker.distribution.manifest.v1+prettyjws"),
                br#"{"schemaVersion":1,"name":"team/app","fsLayers":[]}"#.to_vec(),
            ),
            _ if p.starts_with("/v2/team/app/manifests/sha256:") => (200, ct(docker), good.clone()),
            _ if p == format!("/v2/team/app/blobs/{}", sha(&config)) => {
                (200, vec![], config.clone())
            }
            _ if p == format!("/v2/team/app/blobs/{}", sha(&good_layer)) => (
                307,
                vec![(
                    "Location".into(),
                    format!("http://127.0.0.1:{cdn_port}/blob?sig=1"),
                )],
                vec![],
            ),
            _ if p == format!("/v2/team/app/blobs/{claimed}") => (200, vec![], lying_layer.clone()),
            _ if p == format!("/v2/team/app/blobs/{}", sha(&bomb)) => (200, vec![], bomb.clone()),
            _ => (
                404,
                vec![],
                br#"{"errors":[{"code":"NOT_FOUND","message":"nope"}]}"#.to_vec(),
            ),
        }
    };
    let (port, log) = serve(Arc::new(handler));
    *port_cell.lock().unwrap() = port;
    let host = format!("127.0.0.1:{port}");
    let options = PullOptions {
        credentials: Credentials::basic(&host, "user", "pass"),
        insecure_registries: vec![host.clone()],
        ..PullOptions::default()
    };
    let sel = select();

    let image = pull(&format!("{host}/team/app:t"), &options, &sel).unwrap();
    assert_eq!(image.tree.read("etc/os-release"), Some(&b"ID=fake\n"[..]));
    assert_eq!(image.digest.as_deref(), Some(good_digest.as_str()));
    assert_eq!(image.layers, [good_layer_digest]);
    let cdn = cdn_log.lock().unwrap().clone();
    assert_eq!(cdn.len(), 1);
    assert_eq!(
        cdn[0].authorization, None,
        "no registry token to another host"
    );
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|r| r.path.starts_with("/token?") && r.path.contains("service=fake"))
    );

    // The token endpoint refuses wrong credentials: a 401 error, no secret shown.
    let wrong = PullOptions {
        credentials: Credentials::basic(&host, "user", "hunter2"),
        ..options.clone()
    };
    let e = pull(&format!("{host}/team/app:t"), &wrong, &sel).unwrap_err();
    assert!(matches!(e, SourceError::Unauthorized { .. }), "{e}");
    assert!(!format!("{e} {e:?}").contains("hunter2"));

    let e = pull(&format!("{host}/team/app:lying"), &options, &sel).unwrap_err();
    assert!(matches!(e, SourceError::Digest { .. }), "{e}");
    assert!(e.to_string().contains(&claimed_digest), "{e}");

    let by_digest = format!("{host}/team/app@sha256:{}", "1".repeat(64));
    let e = pull(&by_digest, &options, &sel).unwrap_err();
    assert!(matches!(e, SourceError::Digest { .. }), "{e}");

    let capped = PullOptions {
        max_layer_bytes: 16 << 20,
        ..options.clone()
    };
    let e = pull(&format!("{host}/team/app:bomb"), &capped, &sel).unwrap_err();
    assert!(matches!(e, SourceError::TooLarge { .. }), "{e}");

    let e = pull(&format!("{host}/team/app:old"), &options, &sel).unwrap_err();
    assert!(e.to_string().contains("schema 1"), "{e}");

    let e = pull(&format!("{host}/team/app:missing"), &options, &sel).unwrap_err();
    assert!(
        matches!(&e, SourceError::NotFound(m) if m.contains("NOT_FOUND")),
        "{e}"
    );
}

/// After an import, an image scanned before is matched again from the packages its scan kept:
/// no request reaches the registry, and the result is what a fresh pull and scan gives.
#[test]
fn an_import_rematches_the_kept_packages_without_a_pull() {
    use kubevigil_oci::scan::{Came, ScanOptions, Target, scan, scan_digest, scan_reference};

    let status = b"Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\n\
Source: openssl\nVersion: 3.0.11-1~deb12u2\n\n\
Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\n\
Version: 1:1.2.13.dfsg-1\n\n";
    let layer = tar_with(&[
        ("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n"),
        ("var/lib/dpkg/status", status),
    ]);
    let config = br#"{"os":"linux","architecture":"amd64","created":"2025-01-02T03:04:05Z","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
    let manifest = manifest(
        &config,
        &sha(&layer),
        layer.len(),
        "application/vnd.oci.image.layer.v1.tar",
    );
    let digest = sha(&manifest);
    let handler = move |req: &Req| -> (u16, Vec<(String, String)>, Vec<u8>) {
        let docker = "application/vnd.docker.distribution.manifest.v2+json";
        let p = req.path.as_str();
        if p == "/v2/shop/web/manifests/1.0" || p.starts_with("/v2/shop/web/manifests/sha256:") {
            (
                200,
                vec![("Content-Type".into(), docker.into())],
                manifest.clone(),
            )
        } else if p == format!("/v2/shop/web/blobs/{}", sha(&config)) {
            (200, vec![], config.clone())
        } else if p == format!("/v2/shop/web/blobs/{}", sha(&layer)) {
            (200, vec![], layer.clone())
        } else {
            (404, vec![], b"{}".to_vec())
        }
    };
    let (port, log) = serve(Arc::new(handler));
    let host = format!("127.0.0.1:{port}");
    let reference = format!("{host}/shop/web:1.0");
    let options = ScanOptions {
        pull: PullOptions {
            insecure_registries: vec![host.clone()],
            ..PullOptions::default()
        },
        image_ref: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut db = kubevigil_vulndb::Db::open(&dir.path().join("db")).unwrap();
    let before_import = db.generation().unwrap();
    let first = scan_reference(&reference, &options, &db, before_import).unwrap();
    assert_eq!((first.came, first.summary.total()), (Came::Scanned, 0));
    assert_eq!(first.digest, digest);

    // A Debian advisory written against the source package of libssl3.
    let record = dir.path().join("DEBIAN-CVE-2024-0727.json");
    std::fs::write(
        &record,
        r#"{"schema_version":"1.6.0","id":"DEBIAN-CVE-2024-0727","modified":"2024-09-18T03:15:10Z",
          "upstream":["CVE-2024-0727"],
          "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},
            "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.13-1~deb12u1"}]}]}]}"#,
    )
    .unwrap();
    let imported = db.import(&[record]).unwrap();
    assert!(imported.errors.is_empty(), "{:?}", imported.errors);
    let generation = db.generation().unwrap();
    assert!(generation > before_import);

    let requests = log.lock().unwrap().len();
    let again = scan_digest(&reference, digest.clone(), &options, &db, generation).unwrap();
    assert_eq!(again.came, Came::Rematched);
    assert_eq!(
        log.lock().unwrap().len(),
        requests,
        "a rematch asks the registry nothing"
    );
    assert_eq!(again.summary.total(), 1);
    // Shown by its upstream CVE, as every scan shows a distribution advisory.
    assert_eq!(again.summary.top[0].id, "CVE-2024-0727");
    assert_eq!(again.summary.top[0].package, "libssl3");
    assert_eq!(
        again.summary.created.as_deref(),
        Some("2025-01-02T03:04:05Z")
    );

    // Exactly what pulling and scanning the image now gives.
    let fresh = scan(&Target::Reference(reference.clone()), &options, &db).unwrap();
    assert!(log.lock().unwrap().len() > requests, "a scan pulls");
    assert_eq!(fresh.summary, again.summary);

    // Matched at this generation now: the cached summary, still without a pull.
    let requests = log.lock().unwrap().len();
    let cached = scan_digest(&reference, digest, &options, &db, generation).unwrap();
    assert_eq!((cached.came, cached.summary), (Came::Cached, again.summary));
    assert_eq!(log.lock().unwrap().len(), requests);
}
