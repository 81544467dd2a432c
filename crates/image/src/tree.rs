//! The root filesystem of an image, reduced to what an inventory reads: package databases,
//! lock files and manifests (with their content), symbolic links (so that `/etc/os-release ->
//! ../usr/lib/os-release` resolves), and the packages found in binaries (analysed when the
//! layer was read, so that their bytes are not kept).
//!
//! Paths are kept normalized and relative to the root (`etc/os-release`). A path that climbs
//! above the root (`../x`) is refused. Symbolic links resolve as inside a chroot: an absolute
//! target starts at the image's root and `..` at the root stays there, so no link leads out.
//!
//! Layers are applied in order by the image readers with [`Tree::insert`] (a non-directory
//! replaces whatever was at its path, children included), [`Tree::whiteout`] (`.wh.<name>`)
//! and [`Tree::clear_dir`] (`.wh..wh..opq`), as the OCI image specification's layer changeset
//! rules say (<https://github.com/opencontainers/image-spec/blob/main/layer.md>).

use std::collections::BTreeMap;

use crate::package::Package;

/// What is known of one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir,
    /// A regular file whose content an inventory reads.
    File(Vec<u8>),
    /// A symbolic link and its target, as written.
    Symlink(String),
    /// An executable analysed as it was read: the packages built into it (Go build info,
    /// cargo-auditable's dependency list). Empty when it carries none.
    Binary(Vec<Package>),
}

/// Whether an image reader keeps a regular file (see [`Node`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Not read by any inventory: only its path's removal of what was there matters.
    No,
    /// Kept whole, as [`Node::File`].
    Content,
    /// Read whole, analysed for embedded packages, and kept as [`Node::Binary`].
    Binary,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("path {0:?} leads out of the image's root")]
    Escapes(String),
    #[error("path {0:?} is not valid (empty, or a NUL byte)")]
    Invalid(String),
}

/// Symbolic links followed while resolving one path, as Linux's `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

/// See the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    entries: BTreeMap<String, Node>,
}

/// `path` made relative to the root, with `.` and empty components removed and `..` applied;
/// an error when `..` climbs above the root. The root itself is `""`.
pub fn normalize(path: &str) -> Result<String, TreeError> {
    if path.contains('\0') {
        return Err(TreeError::Invalid(path.to_string()));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(TreeError::Escapes(path.to_string()));
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

impl Tree {
    pub fn new() -> Self {
        Tree::default()
    }

    /// Puts `node` at `path` (normalized). A non-directory replaces what was there, children
    /// included; a directory over a directory keeps its children.
    pub fn insert(&mut self, path: &str, node: Node) -> Result<(), TreeError> {
        let path = normalize(path)?;
        if path.is_empty() {
            return Ok(());
        }
        if node != Node::Dir || !matches!(self.entries.get(&path), Some(Node::Dir)) {
            self.remove_children(&path);
        }
        self.entries.insert(path, node);
        Ok(())
    }

    /// A whiteout: removes `path` and everything under it.
    pub fn whiteout(&mut self, path: &str) -> Result<(), TreeError> {
        let path = normalize(path)?;
        if path.is_empty() {
            self.entries.clear();
            return Ok(());
        }
        self.entries.remove(&path);
        self.remove_children(&path);
        Ok(())
    }

    /// An opaque whiteout: removes everything under the directory `path`, keeping it.
    pub fn clear_dir(&mut self, path: &str) -> Result<(), TreeError> {
        let path = normalize(path)?;
        if path.is_empty() {
            self.entries.clear();
        } else {
            self.remove_children(&path);
        }
        Ok(())
    }

    fn remove_children(&mut self, path: &str) {
        let prefix = format!("{path}/");
        let doomed: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.entries.remove(&k);
        }
    }

    /// The node at `path` without following a link in its last component (links in the
    /// directories above it are followed).
    pub fn get(&self, path: &str) -> Option<&Node> {
        let path = normalize(path).ok()?;
        let dir = self.resolve(parent(&path))?;
        let name = path.rsplit('/').next()?;
        self.entries.get(&join(&dir, name))
    }

    /// `path` with every symbolic link followed (chroot semantics), or `None` when a link
    /// loops or the path names nothing known. Directories need not be recorded: a path under
    /// an unknown directory resolves to itself.
    pub fn resolve(&self, path: &str) -> Option<String> {
        let mut pending: Vec<String> = path
            .split('/')
            .rev()
            .filter(|p| !p.is_empty() && *p != ".")
            .map(str::to_string)
            .collect();
        let mut resolved = String::new();
        let mut links = 0;
        while let Some(part) = pending.pop() {
            if part == ".." {
                resolved = parent(&resolved).to_string();
                continue;
            }
            let candidate = join(&resolved, &part);
            match self.entries.get(&candidate) {
                Some(Node::Symlink(target)) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return None;
                    }
                    if target.starts_with('/') {
                        resolved.clear();
                    }
                    pending.extend(
                        target
                            .split('/')
                            .rev()
                            .filter(|p| !p.is_empty() && *p != ".")
                            .map(str::to_string),
                    );
                }
                _ => resolved = candidate,
            }
        }
        Some(resolved)
    }

    /// The node at `path`, every link followed.
    pub fn lookup(&self, path: &str) -> Option<&Node> {
        self.entries.get(&self.resolve(path)?)
    }

    /// The content of the regular file at `path`, every link followed.
    pub fn read(&self, path: &str) -> Option<&[u8]> {
        match self.lookup(path)? {
            Node::File(data) => Some(data),
            _ => None,
        }
    }

    /// The entries directly under the directory `dir` (links in `dir` followed), by name.
    pub fn children<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a str, &'a Node)> + 'a {
        let prefix = self
            .resolve(dir)
            .map(|d| if d.is_empty() { d } else { format!("{d}/") });
        let start = prefix.clone().unwrap_or_default();
        self.entries
            .range(start.clone()..)
            .take_while(move |(k, _)| prefix.is_some() && k.starts_with(&start))
            .filter_map({
                let len = self
                    .resolve(dir)
                    .map_or(0, |d| d.len() + usize::from(!d.is_empty()));
                move |(k, v)| {
                    let name = &k[len..];
                    (!name.contains('/')).then_some((name, v))
                }
            })
    }

    /// Every entry, in path order (paths relative to the root, without links followed).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(t: &mut Tree, p: &str, s: &str) {
        t.insert(p, Node::File(s.as_bytes().to_vec())).unwrap();
    }

    #[test]
    fn paths_are_normalized_and_may_not_climb_out() {
        assert_eq!(normalize("/etc/./os-release").unwrap(), "etc/os-release");
        assert_eq!(normalize("./a/b/../c").unwrap(), "a/c");
        assert_eq!(
            normalize("a/../../etc/passwd"),
            Err(TreeError::Escapes("a/../../etc/passwd".into()))
        );
        assert!(normalize("a\0b").is_err());
    }

    #[test]
    fn links_resolve_inside_the_root() {
        let mut t = Tree::new();
        file(&mut t, "usr/lib/os-release", "ID=debian\n");
        t.insert(
            "etc/os-release",
            Node::Symlink("../usr/lib/os-release".into()),
        )
        .unwrap();
        assert_eq!(t.read("/etc/os-release"), Some(&b"ID=debian\n"[..]));
        // An absolute target starts at the image's root; `..` at the root stays there.
        t.insert(
            "etc/escape",
            Node::Symlink("../../../../usr/lib/os-release".into()),
        )
        .unwrap();
        assert_eq!(t.read("etc/escape"), Some(&b"ID=debian\n"[..]));
        t.insert("lib", Node::Symlink("/usr/lib".into())).unwrap();
        assert_eq!(t.read("lib/os-release"), Some(&b"ID=debian\n"[..]));
        t.insert("loop", Node::Symlink("loop".into())).unwrap();
        assert_eq!(t.read("loop"), None);
    }

    #[test]
    fn whiteouts_and_replacements_follow_the_layer_rules() {
        let mut t = Tree::new();
        t.insert("var/lib/dpkg", Node::Dir).unwrap();
        file(&mut t, "var/lib/dpkg/status", "a");
        file(&mut t, "var/lib/dpkg/status.d/x", "b");
        t.insert("var/lib/dpkg", Node::Dir).unwrap();
        assert!(
            t.read("var/lib/dpkg/status").is_some(),
            "a directory over a directory merges"
        );
        t.clear_dir("var/lib/dpkg").unwrap();
        assert_eq!(t.len(), 1);
        file(&mut t, "opt/a/b", "c");
        file(&mut t, "opt/a", "now a file");
        assert_eq!(t.read("opt/a/b"), None);
        file(&mut t, "opt/b/c", "c");
        file(&mut t, "opt/bc", "d");
        t.whiteout("opt/b").unwrap();
        assert_eq!(t.read("opt/b/c"), None);
        assert!(
            t.read("opt/bc").is_some(),
            "a sibling sharing the prefix stays"
        );
    }

    #[test]
    fn children_lists_one_level() {
        let mut t = Tree::new();
        file(&mut t, "lib/apk/db/installed", "");
        file(&mut t, "a/x", "");
        file(&mut t, "a/y/z", "");
        t.insert("a/y", Node::Dir).unwrap();
        t.insert("b", Node::Symlink("a".into())).unwrap();
        let names: Vec<&str> = t.children("b").map(|(n, _)| n).collect();
        assert_eq!(names, ["x", "y"]);
        let root: Vec<&str> = t.children("/").map(|(n, _)| n).collect();
        assert_eq!(root, ["b"]);
    }
}
