//! Crafted malicious layers: every escape attempt is refused with an error naming the entry,
//! and nothing is written outside the layer directory.
use std::fs;
use std::path::Path;

use flotilla::agent::image::extract::{extract_layer, ExtractError};

use super::busybox_image::LayerBuilder;
use super::prereq;
use crate::require;

/// Extracts `layer` into `<tmp>/a/b/layer` and returns the error, after checking that nothing
/// appeared anywhere in `<tmp>` outside the layer directory.
fn extract_refused(layer: Vec<u8>) -> (String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("a/b/layer");
    fs::create_dir_all(&dest).unwrap();
    fs::create_dir_all(tmp.path().join("outside")).unwrap();
    let error = extract_layer(&layer[..], &dest).expect_err("the layer must be refused");
    let outside: Vec<_> = walk(tmp.path())
        .into_iter()
        .filter(|p| !p.starts_with(&dest) && p != &tmp.path().join("outside"))
        .filter(|p| !dest.starts_with(p))
        .collect();
    assert!(outside.is_empty(), "written outside the layer: {outside:?}");
    match error {
        ExtractError::Unsafe { entry, reason } => (entry, reason),
        other => panic!("expected a refusal, got {other}"),
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        out.push(path.clone());
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(&path));
        }
    }
    out
}

#[test]
fn a_dotdot_path_is_refused_and_nothing_lands_outside() {
    let layer = LayerBuilder::new()
        .file("ok", 0o644, b"x")
        .file("../../etc/x", 0o644, b"pwned")
        .finish();
    let (entry, reason) = extract_refused(layer);
    assert_eq!(entry, "../../etc/x");
    assert!(reason.contains(".."), "{reason}");
}

#[test]
fn an_absolute_path_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("absolute-target");
    let name = target.to_str().unwrap().to_string();
    let layer = LayerBuilder::new().file(&name, 0o644, b"pwned").finish();
    let (entry, reason) = extract_refused(layer);
    assert_eq!(entry, name);
    assert!(reason.contains("absolute"), "{reason}");
    assert!(!target.exists());
}

#[test]
fn a_symlink_pointing_outside_the_layer_is_refused() {
    let layer = LayerBuilder::new()
        .dir("etc", 0o755)
        .symlink("etc/evil", "../../../outside")
        .finish();
    let (entry, reason) = extract_refused(layer);
    assert_eq!(entry, "etc/evil");
    assert!(reason.contains("outside"), "{reason}");
}

#[test]
fn writing_through_a_symlinked_parent_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim");
    fs::create_dir(&victim).unwrap();
    // An absolute symlink is legitimate in an image (it is resolved inside the container), but a
    // later entry beneath it would be written through it on the host.
    let layer = LayerBuilder::new()
        .symlink("escape", victim.to_str().unwrap())
        .file("escape/pwned", 0o644, b"pwned")
        .finish();
    let (entry, reason) = extract_refused(layer);
    assert_eq!(entry, "escape/pwned");
    assert!(reason.contains("symlink"), "{reason}");
    assert!(!victim.join("pwned").exists());
}

#[test]
fn a_hardlink_to_a_file_outside_the_layer_is_refused() {
    let (entry, reason) = extract_refused(
        LayerBuilder::new()
            .hardlink("passwd", "../../../etc/passwd")
            .finish(),
    );
    assert_eq!(entry, "passwd");
    assert!(reason.contains("hard link"), "{reason}");
    let (entry, reason) = extract_refused(
        LayerBuilder::new()
            .hardlink("passwd", "/etc/passwd")
            .finish(),
    );
    assert_eq!(entry, "passwd");
    assert!(reason.contains("absolute"), "{reason}");
}

#[test]
fn a_hardlink_through_a_symlinked_directory_is_refused() {
    let layer = LayerBuilder::new()
        .symlink("etc", "/etc")
        .hardlink("shadow", "etc/passwd")
        .finish();
    let (entry, reason) = extract_refused(layer);
    assert_eq!(entry, "shadow");
    assert!(reason.contains("symlink"), "{reason}");
}

#[test]
fn whiteouts_become_overlay_whiteouts_and_opaque_markers() {
    require!(prereq::require(
        prereq::is_root(),
        "root (mknod of overlay whiteouts)"
    ));
    let tmp = tempfile::tempdir().unwrap();
    let layer = LayerBuilder::new()
        .dir("a", 0o755)
        .file("a/.wh.gone", 0o644, b"")
        .dir("b", 0o755)
        .file("b/.wh..wh..opq", 0o644, b"")
        .file("b/kept", 0o644, b"y")
        .finish();
    let stats = extract_layer(&layer[..], tmp.path()).unwrap();
    assert_eq!(stats.whiteouts, 2);
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let whiteout = fs::symlink_metadata(tmp.path().join("a/gone")).unwrap();
    assert!(whiteout.file_type().is_char_device());
    assert_eq!(whiteout.rdev(), 0);
    let opaque = xattr(&tmp.path().join("b"), "trusted.overlay.opaque");
    assert_eq!(opaque.as_deref(), Some(&b"y"[..]));
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    let mut buf = [0u8; 64];
    // SAFETY: valid NUL-terminated strings and a buffer of the stated length.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}
