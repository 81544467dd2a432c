//! Container image references, parsed as the container runtime does
//! (github.com/distribution/reference normalize.go `ParseNormalizedNamed`, `splitDockerDomain`):
//! the first path component is a registry when it contains `.` or `:`, is `localhost`, or has an
//! upper-case letter (repository paths must be lower case); otherwise the image is on Docker Hub.
//!
//! The image predicates (`is_pinned`, `latest_tag`, `allowed_by_any`) are the one decision that
//! the scan's image checks (`image-tag-latest`, `image-not-pinned-by-digest`,
//! `image-registry-not-allowed`, `image-pull-policy-mutable-tag`) and the webhook's image policy
//! both take, so they give the same verdict on the same reference; each words it its own way.

/// How a reference that is not pinned by digest ends up on `latest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatestTag {
    /// No tag (and no digest): the runtime pulls `latest`.
    Missing,
    /// The `latest` tag.
    Latest,
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// Registry host (with port), `docker.io` when implied.
    pub registry: &'a str,
    /// Repository path without the registry, e.g. `library/nginx` is reported as `nginx`.
    pub repository: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    pub fn parse(image: &'a str) -> ImageRef<'a> {
        let (name_tag, digest) = match image.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (image, None),
        };
        // The tag follows the last ':' after the last '/' (a ':' before it is a registry port).
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => (
                &name_tag[..last_slash + i],
                Some(&name_tag[last_slash + i + 1..]),
            ),
            None => (name_tag, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                (first, rest)
            }
            _ => ("docker.io", name),
        };
        ImageRef {
            registry,
            repository,
            tag,
            digest,
        }
    }

    /// Pinned by digest (whatever its tag says): the content cannot change under it.
    pub fn is_pinned(&self) -> bool {
        self.digest.is_some()
    }

    /// Whether the reference runs `latest`: no tag or the `latest` tag, and no digest. `None`
    /// for digest-pinned references and any other tag.
    pub fn latest_tag(&self) -> Option<LatestTag> {
        if self.is_pinned() {
            return None;
        }
        match self.tag {
            None => Some(LatestTag::Missing),
            Some("latest") => Some(LatestTag::Latest),
            Some(_) => None,
        }
    }

    /// Whether an allow-list admits this image: an empty list admits every image, otherwise
    /// one entry must (see [`ImageRef::allowed_by`]).
    pub fn allowed_by_any<S: AsRef<str>>(&self, allow_list: &[S]) -> bool {
        allow_list.is_empty() || allow_list.iter().any(|e| self.allowed_by(e.as_ref()))
    }

    /// The fully qualified name as `ParseNormalizedNamed` produces it (normalize.go
    /// `splitDockerDomain`): `index.docker.io` becomes `docker.io`, and a one-component Docker Hub
    /// repository gets the `library/` prefix (`nginx` is `docker.io/library/nginx`).
    pub fn normalized_name(&self) -> String {
        let registry = if self.registry == "index.docker.io" {
            "docker.io"
        } else {
            self.registry
        };
        if registry == "docker.io" && !self.repository.contains('/') {
            format!("docker.io/library/{}", self.repository)
        } else {
            format!("{registry}/{}", self.repository)
        }
    }

    /// Whether an allow-list entry admits this image: a registry host (`ghcr.io`,
    /// `localhost:5000`) or a registry/path prefix ending on a `/` boundary (`ghcr.io/acme`
    /// admits `ghcr.io/acme/api`, not `ghcr.io/acme-evil/api`). Entries are normalized like image
    /// names, so `docker.io/library` admits `nginx`. Host names compare case-insensitively.
    pub fn allowed_by(&self, entry: &str) -> bool {
        let entry = entry.trim().trim_end_matches('/');
        let (host, path) = entry.split_once('/').unwrap_or((entry, ""));
        let host = if host.eq_ignore_ascii_case("index.docker.io") {
            "docker.io"
        } else {
            host
        };
        let name = self.normalized_name();
        let (image_host, image_path) = name.split_once('/').unwrap_or((&name, ""));
        if !image_host.eq_ignore_ascii_case(host) {
            return false;
        }
        path.is_empty()
            || image_path == path
            || (image_path.starts_with(path)
                && image_path.as_bytes().get(path.len()) == Some(&b'/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = ImageRef::parse("nginx");
        assert_eq!(
            (r.registry, r.repository, r.tag, r.digest),
            ("docker.io", "nginx", None, None)
        );
        let r = ImageRef::parse("localhost:5000/team/app:1.2");
        assert_eq!(
            (r.registry, r.repository, r.tag),
            ("localhost:5000", "team/app", Some("1.2"))
        );
        let r = ImageRef::parse("ghcr.io/acme/api@sha256:abcd");
        assert_eq!(
            (r.registry, r.repository, r.tag, r.digest),
            ("ghcr.io", "acme/api", None, Some("sha256:abcd"))
        );
        let r = ImageRef::parse("registry:5000/app");
        assert_eq!(
            (r.registry, r.repository, r.tag),
            ("registry:5000", "app", None)
        );
        // Each way the first component is a registry host, alone: a dot, a port, `localhost`,
        // an upper-case letter; otherwise it is a Docker Hub namespace.
        fn registry(image: &str) -> &str {
            ImageRef::parse(image).registry
        }
        assert_eq!(registry("localhost/app"), "localhost");
        assert_eq!(registry("registry.local/app"), "registry.local");
        assert_eq!(registry("registry:5000/app"), "registry:5000");
        assert_eq!(registry("Registry/app"), "Registry");
        assert_eq!(registry("library/nginx"), "docker.io");
        assert_eq!(registry("bitnami/redis:7"), "docker.io");
        assert_eq!(
            ImageRef::parse("bitnami/redis:7").repository,
            "bitnami/redis"
        );
        // A ':' just before the last '/' is never a tag separator (not a valid reference
        // either: the runtime refuses it; the parser must not invent a tag for it).
        let r = ImageRef::parse("localhost:/app");
        assert_eq!(
            (r.registry, r.repository, r.tag),
            ("localhost:", "app", None)
        );
        // A digest with a tag before it: both kept, the tag after the last '/'.
        let r = ImageRef::parse("registry:5000/team/app:1.2@sha256:ef01");
        assert_eq!(
            (r.registry, r.repository, r.tag, r.digest),
            (
                "registry:5000",
                "team/app",
                Some("1.2"),
                Some("sha256:ef01")
            )
        );
    }

    #[test]
    fn pinned_and_latest() {
        let latest = |image: &str| ImageRef::parse(image).latest_tag();
        assert_eq!(latest("nginx"), Some(LatestTag::Missing));
        assert_eq!(latest("nginx:latest"), Some(LatestTag::Latest));
        assert_eq!(latest("localhost:5000/app"), Some(LatestTag::Missing));
        assert_eq!(latest("nginx:1.27"), None);
        assert_eq!(latest("nginx@sha256:abc"), None);
        assert_eq!(latest("nginx:latest@sha256:abc"), None);
        assert!(ImageRef::parse("nginx:latest@sha256:abc").is_pinned());
        assert!(!ImageRef::parse("nginx:1.27").is_pinned());
        let none: [&str; 0] = [];
        assert!(ImageRef::parse("evil.io/x").allowed_by_any(&none));
        assert!(!ImageRef::parse("evil.io/x").allowed_by_any(&["ghcr.io", "docker.io"]));
        assert!(ImageRef::parse("nginx").allowed_by_any(&["ghcr.io", "docker.io"]));
    }

    #[test]
    fn normalizes_and_matches_allow_list_entries() {
        assert_eq!(
            ImageRef::parse("nginx").normalized_name(),
            "docker.io/library/nginx"
        );
        assert_eq!(
            ImageRef::parse("index.docker.io/bitnami/redis:7").normalized_name(),
            "docker.io/bitnami/redis"
        );
        let allowed = |image: &str, entry: &str| ImageRef::parse(image).allowed_by(entry);
        assert!(allowed("nginx:1.27", "docker.io"));
        assert!(allowed("nginx:1.27", "docker.io/library"));
        assert!(allowed("nginx:1.27", "index.docker.io"));
        assert!(!allowed("bitnami/redis:7", "docker.io/library"));
        assert!(allowed("ghcr.io/acme/api:1", "ghcr.io/acme"));
        assert!(allowed("ghcr.io/acme/api:1", "ghcr.io/acme/"));
        assert!(allowed("ghcr.io/acme/api:1", "GHCR.io"));
        assert!(allowed("ghcr.io/acme/api:1", "ghcr.io/acme/api"));
        assert!(!allowed("ghcr.io/acme-evil/api:1", "ghcr.io/acme"));
        assert!(!allowed("ghcr.io.evil.com/acme/api:1", "ghcr.io"));
        assert_eq!(
            ImageRef::parse("library/nginx").normalized_name(),
            "docker.io/library/nginx"
        );
        assert_eq!(
            ImageRef::parse("ghcr.io/app").normalized_name(),
            "ghcr.io/app"
        );
        // Entries as people write them in YAML: surrounding blanks and a trailing '/'.
        assert!(allowed("ghcr.io/acme/api:1", " ghcr.io/acme/ "));
        assert!(!allowed("ghcr.io/acme/api:1", "ghcr.io/acme/ap"));
        assert!(!allowed("ghcr.io/app:1", "docker.io"));
        assert!(allowed("localhost:5000/app", "localhost:5000"));
        assert!(!allowed("localhost:5001/app", "localhost:5000"));
        // An upper-case first component can only be a registry host.
        assert_eq!(ImageRef::parse("MyRegistry/app:1").registry, "MyRegistry");
        assert!(allowed("MyRegistry/app:1", "myregistry"));
    }
}
