//! A real container registry on loopback for image tests: Debian's `docker-registry`
//! (distribution's registry v2) with htpasswd authentication, user `user`, password `pass`,
//! storage in a temporary directory; killed and removed on drop.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts the registry and returns once it accepts connections. Panics (a test failure)
    /// when `docker-registry` or `htpasswd` cannot run.
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        // bcrypt at the lowest cost: the registry checks it on every request.
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", "-C", "4", "user", "pass"])
            .output()
            .expect("htpasswd (apache2-utils) runs");
        assert!(htpasswd.status.success(), "htpasswd failed");
        let htpasswd_path = dir.path().join("htpasswd");
        std::fs::write(&htpasswd_path, htpasswd.stdout).expect("htpasswd written");
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: test\n    path: {}\n",
            dir.path().join("data").display(),
            htpasswd_path.display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("registry configuration written");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry runs");
        let registry = Registry {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
