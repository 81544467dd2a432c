//! An unpacked root filesystem, walked without following symbolic links: a link is recorded
//! as [`Node::Symlink`] (the tree resolves it inside the image), FIFOs, sockets and devices
//! are skipped without being opened, so a link to `/` or a FIFO neither escapes nor hangs.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use kubevigil_image::tree::{Keep, Node, Tree};

use crate::{Image, Limits, Select, SourceError};

/// Opens `path` for reading only if it is a regular file, without following a symbolic link
/// in its last component and without blocking (a FIFO swapped in after a check would
/// otherwise hang the open).
pub(crate) fn open_regular(path: &Path) -> io::Result<File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(file)
}

pub(crate) fn read(dir: &Path, select: &Select, limits: &Limits) -> Result<Image, SourceError> {
    let meta = fs::metadata(dir).map_err(|e| SourceError::io(dir.display().to_string(), e))?;
    if !meta.is_dir() {
        return Err(SourceError::invalid(
            dir.display().to_string(),
            "not a directory",
        ));
    }
    let mut image = Image {
        target: dir.display().to_string(),
        digest: None,
        config: None,
        layers: Vec::new(),
        tree: Tree::new(),
        errors: Vec::new(),
    };
    // An explicit stack: a deep tree must not overflow ours.
    let mut pending: Vec<(PathBuf, String)> = vec![(dir.to_path_buf(), String::new())];
    while let Some((host, rel)) = pending.pop() {
        let entries = match fs::read_dir(&host) {
            Ok(e) => e,
            Err(e) => {
                image.errors.push(SourceError::io(format!("/{rel}"), e));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    image.errors.push(SourceError::io(format!("/{rel}"), e));
                    continue;
                }
            };
            let name = String::from_utf8_lossy(entry.file_name().as_bytes()).into_owned();
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let host_path = entry.path();
            // lstat: the entry itself, never what a link points to.
            let meta = match fs::symlink_metadata(&host_path) {
                Ok(m) => m,
                Err(e) => {
                    image.errors.push(SourceError::io(format!("/{path}"), e));
                    continue;
                }
            };
            let ft = meta.file_type();
            if ft.is_symlink() {
                match fs::read_link(&host_path) {
                    Ok(t) => {
                        let target = String::from_utf8_lossy(t.as_os_str().as_bytes()).into_owned();
                        let _ = image.tree.insert(&path, Node::Symlink(target));
                    }
                    Err(e) => image.errors.push(SourceError::io(format!("/{path}"), e)),
                }
            } else if ft.is_dir() {
                let _ = image.tree.insert(&path, Node::Dir);
                pending.push((host_path, path));
            } else if ft.is_file() {
                let size = meta.len();
                let executable = meta.permissions().mode() & 0o111 != 0;
                let keep = (select.keep)(&path, size, executable);
                if keep == Keep::No {
                    continue;
                }
                if size > limits.max_file_bytes {
                    image.errors.push(SourceError::TooLarge {
                        what: format!("/{path}"),
                        limit: limits.max_file_bytes,
                    });
                    continue;
                }
                let mut data = Vec::new();
                // The file may grow between the lstat and the read: the cap holds regardless.
                let read = open_regular(&host_path).and_then(|f| {
                    f.take(limits.max_file_bytes.saturating_add(1))
                        .read_to_end(&mut data)
                });
                match read {
                    Ok(_) if data.len() as u64 > limits.max_file_bytes => {
                        image.errors.push(SourceError::TooLarge {
                            what: format!("/{path}"),
                            limit: limits.max_file_bytes,
                        });
                    }
                    Ok(_) => {
                        let node = if keep == Keep::Binary {
                            Node::Binary((select.binary)(&path, &data))
                        } else {
                            Node::File(data)
                        };
                        let _ = image.tree.insert(&path, node);
                    }
                    Err(e) => image.errors.push(SourceError::io(format!("/{path}"), e)),
                }
            }
            // FIFOs, sockets, devices: nothing an inventory reads.
        }
    }
    Ok(image)
}
