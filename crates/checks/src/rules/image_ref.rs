//! Container image references, parsed as the container runtime does
//! (github.com/distribution/reference `ParseNormalizedNamed`): the first path component is a
//! registry when it contains `.` or `:` or is `localhost`; otherwise the image is on Docker Hub.

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
                if first.contains('.') || first.contains(':') || first == "localhost" =>
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

    /// `registry/repository`, the form matched against registry allow-lists.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
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
    }
}
