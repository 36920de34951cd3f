//! Safe layer extraction: unpacks one layer tar into an empty directory, turning OCI whiteouts
//! into overlayfs whiteouts, and refusing every entry that could write outside that directory.
//!
//! Rules (each refusal names the entry): no absolute entry paths, no `..` components, no parent
//! that is a symlink (checked component by component with `lstat`, so nothing is ever written
//! through a link), relative symlink targets must stay inside the layer, hard-link targets must be
//! inside the layer and not directories. Absolute symlink targets are kept: they are resolved
//! against the container's root at run time and never followed here.
use std::ffi::{CString, OsStr};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
/// Entries accepted in one layer; a layer with more is refused rather than filling the inode table.
const LAYER_ENTRIES_MAX: u64 = 1_000_000;

/// Why a layer could not be extracted.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// an entry would write outside the layer directory or is otherwise refused
    #[error("layer entry {entry:?} refused: {reason}")]
    Unsafe { entry: String, reason: String },
    /// writing an entry failed
    #[error("layer entry {entry:?}: {source}")]
    Io { entry: String, source: io::Error },
    /// the tar stream itself is damaged
    #[error("reading the layer archive: {0}")]
    Archive(io::Error),
    /// the layer has more entries than accepted
    #[error("layer has more than {LAYER_ENTRIES_MAX} entries")]
    TooManyEntries,
}

/// What an extraction did, for progress and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExtractStats {
    pub entries: u64,
    pub file_bytes: u64,
    pub whiteouts: u64,
}

/// Unpacks the (already decompressed) layer tar `archive` into `dest`, an existing directory that
/// only this extraction writes to.
pub fn extract_layer<R: Read>(archive: R, dest: &Path) -> Result<ExtractStats, ExtractError> {
    let mut archive = tar::Archive::new(archive);
    let is_root = nix::unistd::geteuid().is_root();
    let mut stats = ExtractStats::default();
    for entry in archive.entries().map_err(ExtractError::Archive)? {
        let mut entry = entry.map_err(ExtractError::Archive)?;
        stats.entries += 1;
        if stats.entries > LAYER_ENTRIES_MAX {
            return Err(ExtractError::TooManyEntries);
        }
        let raw_path = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_path).into_owned();
        let unsafe_entry = |reason: &str| ExtractError::Unsafe {
            entry: name.clone(),
            reason: reason.to_string(),
        };
        let io_error = |source: io::Error| ExtractError::Io {
            entry: name.clone(),
            source,
        };
        let relative = normalise(&raw_path).map_err(&unsafe_entry)?;
        let Some(file_name) = relative.file_name().map(|n| n.to_owned()) else {
            // The archive's own root (`./`): the layer directory already exists.
            continue;
        };
        let parent_rel = relative.parent().unwrap_or(Path::new(""));
        let parent = ensure_parent(dest, parent_rel).map_err(|e| match e {
            ParentError::Unsafe(reason) => unsafe_entry(&reason),
            ParentError::Io(source) => io_error(source),
        })?;
        let file_name_str = file_name.to_string_lossy();
        if file_name_str == OPAQUE_WHITEOUT {
            set_xattr(&parent, "trusted.overlay.opaque", b"y").map_err(io_error)?;
            stats.whiteouts += 1;
            continue;
        }
        if let Some(hidden) = file_name_str.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.is_empty() || hidden == "." || hidden == ".." || hidden.contains('/') {
                return Err(unsafe_entry("malformed whiteout"));
            }
            let target = parent.join(hidden);
            remove_existing(&target).map_err(io_error)?;
            mknod(&target, libc::S_IFCHR, 0).map_err(io_error)?;
            stats.whiteouts += 1;
            continue;
        }
        let target = parent.join(&file_name);
        let header = entry.header().clone();
        let mode = header.mode().map_err(ExtractError::Archive)? & 0o7777;
        let uid = header.uid().map_err(ExtractError::Archive)? as u32;
        let gid = header.gid().map_err(ExtractError::Archive)? as u32;
        let mtime = header.mtime().map_err(ExtractError::Archive)?;
        let kind = header.entry_type();
        let existing = fs::symlink_metadata(&target).ok();
        if kind.is_dir() {
            if existing.as_ref().is_some_and(|m| m.is_dir()) {
                // A directory listed twice (or after its children) keeps its contents.
            } else {
                remove_existing(&target).map_err(io_error)?;
                fs::create_dir(&target).map_err(io_error)?;
            }
            set_owner_and_mode(&target, uid, gid, mode, is_root).map_err(io_error)?;
        } else {
            if existing.is_some() {
                remove_existing(&target).map_err(io_error)?;
            }
            match kind {
                tar::EntryType::Regular
                | tar::EntryType::Continuous
                | tar::EntryType::GNUSparse => {
                    let mut file = fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .custom_flags(libc::O_NOFOLLOW)
                        .open(&target)
                        .map_err(io_error)?;
                    stats.file_bytes += io::copy(&mut entry, &mut file).map_err(io_error)?;
                    set_owner_and_mode(&target, uid, gid, mode, is_root).map_err(io_error)?;
                    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
                    file.set_modified(when).map_err(io_error)?;
                }
                tar::EntryType::Symlink => {
                    let link = entry
                        .link_name_bytes()
                        .ok_or_else(|| unsafe_entry("symlink without a target"))?
                        .into_owned();
                    check_symlink_target(parent_rel, &link).map_err(&unsafe_entry)?;
                    std::os::unix::fs::symlink(OsStr::from_bytes(&link), &target)
                        .map_err(io_error)?;
                    if is_root {
                        std::os::unix::fs::lchown(&target, Some(uid), Some(gid))
                            .map_err(io_error)?;
                    }
                }
                tar::EntryType::Link => {
                    let link = entry
                        .link_name_bytes()
                        .ok_or_else(|| unsafe_entry("hard link without a target"))?
                        .into_owned();
                    let link_rel = normalise(&link)
                        .map_err(|r| unsafe_entry(&format!("hard link target: {r}")))?;
                    if link_rel.as_os_str().is_empty() {
                        return Err(unsafe_entry("hard link to the layer root"));
                    }
                    let link_parent =
                        ensure_existing_parent(dest, link_rel.parent().unwrap_or(Path::new("")))
                            .map_err(|e| match e {
                                ParentError::Unsafe(reason) => {
                                    unsafe_entry(&format!("hard link target: {reason}"))
                                }
                                ParentError::Io(source) => io_error(source),
                            })?;
                    let source = link_parent.join(link_rel.file_name().expect("non-empty path"));
                    let meta = fs::symlink_metadata(&source).map_err(|_| {
                        unsafe_entry("hard link target is not an earlier entry of this layer")
                    })?;
                    if meta.is_dir() {
                        return Err(unsafe_entry("hard link to a directory"));
                    }
                    fs::hard_link(&source, &target).map_err(io_error)?;
                }
                tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                    let major = header.device_major().ok().flatten().unwrap_or(0);
                    let minor = header.device_minor().ok().flatten().unwrap_or(0);
                    let file_type = match kind {
                        tar::EntryType::Char => libc::S_IFCHR,
                        tar::EntryType::Block => libc::S_IFBLK,
                        _ => libc::S_IFIFO,
                    };
                    mknod(&target, file_type | mode, libc::makedev(major, minor))
                        .map_err(io_error)?;
                    set_owner_and_mode(&target, uid, gid, mode, is_root).map_err(io_error)?;
                }
                // Pax and GNU long-name headers are consumed by the tar crate; anything else
                // (e.g. Solaris ACLs) carries nothing a container needs.
                _ => continue,
            }
        }
        if let Some(extensions) = entry.pax_extensions().map_err(ExtractError::Archive)? {
            for extension in extensions.flatten() {
                let Ok(key) = extension.key() else { continue };
                // Only capabilities and user attributes: `trusted.*` (overlayfs' own) and
                // `security.selinux` labels from an image must not reach the host.
                if let Some(attr) = key.strip_prefix("SCHILY.xattr.") {
                    if (attr == "security.capability" || attr.starts_with("user."))
                        && !kind.is_symlink()
                    {
                        set_xattr(&target, attr, extension.value_bytes()).map_err(io_error)?;
                    }
                }
            }
        }
    }
    Ok(stats)
}

/// Turns an archive path into a relative path of normal components, or says why it cannot be.
fn normalise(raw: &[u8]) -> Result<PathBuf, &'static str> {
    if raw.first() == Some(&b'/') {
        return Err("absolute path");
    }
    if raw.contains(&0) {
        return Err("NUL byte in path");
    }
    let mut out = PathBuf::new();
    for component in Path::new(OsStr::from_bytes(raw)).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("path contains .."),
            Component::RootDir | Component::Prefix(_) => return Err("absolute path"),
        }
    }
    Ok(out)
}

/// A relative symlink target must not climb above the layer root from the link's directory.
fn check_symlink_target(link_dir: &Path, target: &[u8]) -> Result<(), &'static str> {
    if target.is_empty() {
        return Err("symlink with an empty target");
    }
    let absolute = target.first() == Some(&b'/');
    let mut depth: i64 = if absolute {
        0
    } else {
        link_dir.components().count() as i64
    };
    for component in Path::new(OsStr::from_bytes(target)).components() {
        match component {
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err("symlink target points outside the layer");
                }
            }
            Component::Normal(_) => depth += 1,
            _ => {}
        }
    }
    Ok(())
}

enum ParentError {
    Unsafe(String),
    Io(io::Error),
}

/// Walks `rel` from `dest`, creating missing directories, refusing any component that is a
/// symlink or not a directory. Returns the absolute parent path.
fn ensure_parent(dest: &Path, rel: &Path) -> Result<PathBuf, ParentError> {
    walk_parent(dest, rel, true)
}

/// Like `ensure_parent`, but every component must already exist.
fn ensure_existing_parent(dest: &Path, rel: &Path) -> Result<PathBuf, ParentError> {
    walk_parent(dest, rel, false)
}

fn walk_parent(dest: &Path, rel: &Path, create: bool) -> Result<PathBuf, ParentError> {
    let mut current = dest.to_path_buf();
    for part in rel.components() {
        current.push(part);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(ParentError::Unsafe(format!(
                    "parent {:?} is a symlink",
                    current.strip_prefix(dest).unwrap_or(&current)
                )))
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(ParentError::Unsafe(format!(
                    "parent {:?} is not a directory",
                    current.strip_prefix(dest).unwrap_or(&current)
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                fs::create_dir(&current).map_err(ParentError::Io)?;
            }
            Err(e) => return Err(ParentError::Io(e)),
        }
    }
    Ok(current)
}

fn remove_existing(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn set_owner_and_mode(path: &Path, uid: u32, gid: u32, mode: u32, is_root: bool) -> io::Result<()> {
    if is_root {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    }
    // After chown: changing the owner clears set-id bits.
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn mknod(path: &Path, mode: u32, dev: libc::dev_t) -> io::Result<()> {
    let path = c_path(path)?;
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    let rc = unsafe { libc::mknod(path.as_ptr(), mode, dev) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let path = c_path(path)?;
    let name = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: both strings are NUL-terminated and `value` is valid for `value.len()` bytes.
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_dotdot_or_a_leading_slash_are_refused() {
        assert_eq!(normalise(b"../etc/x"), Err("path contains .."));
        assert_eq!(normalise(b"a/../../etc/x"), Err("path contains .."));
        assert_eq!(normalise(b"/etc/x"), Err("absolute path"));
        assert_eq!(normalise(b"./a/./b").unwrap(), PathBuf::from("a/b"));
    }

    #[test]
    fn symlink_targets_may_not_climb_out_of_the_layer() {
        assert!(check_symlink_target(Path::new("bin"), b"busybox").is_ok());
        assert!(check_symlink_target(Path::new("bin"), b"/bin/busybox").is_ok());
        assert!(check_symlink_target(Path::new("usr/bin"), b"../../bin/sh").is_ok());
        assert!(check_symlink_target(Path::new("usr/bin"), b"../../../etc/passwd").is_err());
        assert!(check_symlink_target(Path::new(""), b"..").is_err());
        assert!(check_symlink_target(Path::new(""), b"/../etc").is_err());
    }
}
