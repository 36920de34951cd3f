//! The image store with real archives: OCI layouts, OCI archives (plain, gzip, zstd) and
//! `docker save` archives import, layers are unpacked once, tampering is caught, whiteouts hide
//! lower files through a real overlay mount.
use std::fs;
use std::io::Write;
use std::path::Path;

use flotilla::agent::image::import::import_path;
use flotilla::agent::image::platform::HostPlatform;
use flotilla::agent::image::{ImageRef, ImageStore, StoreError};

use super::busybox_image::{self as fixture, ImageSpec, LayerBuilder};
use super::prereq;
use crate::require;

fn store(dir: &Path) -> ImageStore {
    ImageStore::open(&dir.join("images"), HostPlatform::detect()).unwrap()
}

fn busybox_present(store: &ImageStore, name: &str) {
    let reference: ImageRef = name.parse().unwrap();
    let record = store
        .resolve(&reference)
        .unwrap_or_else(|| panic!("{name} not in the store"));
    assert_eq!(record.diff_ids.len(), 1);
    let layer = store.layer_path(&record.diff_ids[0]);
    assert!(layer.join("bin/busybox").is_file());
    assert_eq!(
        fs::read_link(layer.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    let config = store.config(&record).unwrap();
    assert_eq!(config.config.cmd.as_deref(), Some(&["sh".to_string()][..]));
}

#[test]
fn oci_archives_import_plain_gzip_and_zstd() {
    require!(prereq::containers());
    let tmp = tempfile::tempdir().unwrap();
    let archive = fixture::busybox_archive(tmp.path(), "flotilla.test/busybox:plain");
    let bytes = fs::read(&archive).unwrap();
    let gz = tmp.path().join("busybox-gz.tar.gz");
    let mut encoder =
        flate2::write::GzEncoder::new(fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    encoder.write_all(&bytes).unwrap();
    encoder.finish().unwrap();
    let zst = tmp.path().join("busybox-zst.tar.zst");
    fs::write(
        &zst,
        ruzstd::encoding::compress_to_vec(&bytes[..], ruzstd::encoding::CompressionLevel::Fastest),
    )
    .unwrap();
    for path in [&archive, &gz, &zst] {
        let store = store(&tmp.path().join(format!(
            "store-{}",
            path.file_name().unwrap().to_str().unwrap()
        )));
        let records = import_path(&store, path).unwrap();
        assert_eq!(records.len(), 1, "{path:?}");
        busybox_present(&store, "flotilla.test/busybox:plain");
    }
}

#[test]
fn oci_layout_directories_and_docker_save_archives_import() {
    require!(prereq::containers());
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let image = fixture::image_blobs(&ImageSpec::busybox());
    // A tag-only name takes the repository from the directory name.
    fixture::write_layout(&layout, &[("1.0", &image)]);
    let store_a = store(&tmp.path().join("a"));
    import_path(&store_a, &layout).unwrap();
    busybox_present(&store_a, "layout:1.0");

    let docker = tmp.path().join("saved.tar");
    fixture::write_docker_archive(&docker, "busybox:saved", &ImageSpec::busybox());
    let store_b = store(&tmp.path().join("b"));
    import_path(&store_b, &docker).unwrap();
    busybox_present(&store_b, "docker.io/library/busybox:saved");
}

#[test]
fn two_images_sharing_a_layer_unpack_it_once() {
    require!(prereq::containers());
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let base = LayerBuilder::new().file("base", 0o644, b"base").finish();
    let one = fixture::image_blobs(&ImageSpec::from_layers(vec![
        base.clone(),
        LayerBuilder::new().file("one", 0o644, b"1").finish(),
    ]));
    let two = fixture::image_blobs(&ImageSpec::from_layers(vec![
        base,
        LayerBuilder::new().file("two", 0o644, b"2").finish(),
    ]));
    let layout = tmp.path().join("layout");
    fixture::write_layout(&layout, &[("test/one:1", &one), ("test/two:1", &two)]);
    let records = import_path(&store, &layout).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].diff_ids[0], records[1].diff_ids[0]);
    assert_eq!(
        fs::read_dir(store.root().join("layers")).unwrap().count(),
        3
    );
}

#[test]
fn a_tampered_blob_is_refused_with_its_digest() {
    require!(prereq::containers());
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let image = fixture::image_blobs(&ImageSpec::from_layers(vec![LayerBuilder::new()
        .file("f", 0o644, b"original")
        .finish()]));
    fixture::write_layout(&layout, &[("test/tampered:1", &image)]);
    let layer_digest = &image.blobs[0].0;
    let tampered = LayerBuilder::new().file("f", 0o644, b"tampered").finish();
    fs::write(
        layout.join("blobs/sha256").join(&layer_digest[7..]),
        tampered,
    )
    .unwrap();
    let store = store(tmp.path());
    let error = import_path(&store, &layout).unwrap_err().to_string();
    assert!(
        error.contains(&layer_digest[..]) && error.contains("tampered"),
        "{error}"
    );
    assert!(store.list().is_empty());
}

#[test]
fn a_layer_escaping_its_directory_fails_the_import_and_names_the_entry() {
    require!(prereq::containers());
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let evil = LayerBuilder::new()
        .file("../../etc/x", 0o644, b"pwned")
        .finish();
    fixture::write_layout(
        &layout,
        &[(
            "test/evil:1",
            &fixture::image_blobs(&ImageSpec::from_layers(vec![evil])),
        )],
    );
    let store = store(tmp.path());
    let error = import_path(&store, &layout).unwrap_err().to_string();
    assert!(error.contains("../../etc/x"), "{error}");
    assert!(store.list().is_empty());
    assert_eq!(
        fs::read_dir(store.root().join("layers")).unwrap().count(),
        0
    );
    assert!(!tmp.path().join("images/etc/x").exists() && !Path::new("/etc/x").exists());
}

#[test]
fn a_multi_arch_index_resolves_to_this_host() {
    require!(prereq::containers());
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let mut mine = ImageSpec::from_layers(vec![LayerBuilder::new()
        .file("mine", 0o644, b"host")
        .finish()]);
    mine.cmd = vec!["host".to_string()];
    let mut other = ImageSpec::from_layers(vec![LayerBuilder::new()
        .file("other", 0o644, b"other")
        .finish()]);
    other.architecture = "s390x".to_string();
    let (mine, other) = (fixture::image_blobs(&mine), fixture::image_blobs(&other));
    fixture::write_layout(&layout, &[]);
    for image in [&mine, &other] {
        for (digest, bytes) in &image.blobs {
            fs::write(layout.join("blobs/sha256").join(&digest[7..]), bytes).unwrap();
        }
    }
    let entry = |image: &fixture::WrittenImage, arch: &str| {
        serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image.manifest_digest,
            "size": image.manifest.len(), "platform": {"os": "linux", "architecture": arch}})
    };
    let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry(&other, "s390x"), entry(&mine, fixture::host_architecture())]})).unwrap();
    let index_digest = fixture::sha256(&index);
    fs::write(layout.join("blobs/sha256").join(&index_digest[7..]), &index).unwrap();
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": index_digest, "size": index.len(), "annotations": {"org.opencontainers.image.ref.name": "test/multi:1"}}]});
    fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    let store = store(tmp.path());
    let records = import_path(&store, &layout).unwrap();
    assert_eq!(records[0].manifest.to_string(), mine.manifest_digest);
    assert_eq!(
        store.config(&records[0]).unwrap().config.cmd.unwrap(),
        vec!["host".to_string()]
    );
}

#[test]
fn whiteouts_hide_lower_files_in_the_overlay_root() {
    require!(prereq::containers());
    let tmp = tempfile::tempdir().unwrap();
    let lower = LayerBuilder::new()
        .dir("a", 0o755)
        .file("a/gone", 0o644, b"1")
        .file("a/kept", 0o644, b"2")
        .dir("b", 0o755)
        .file("b/old", 0o644, b"3")
        .finish();
    let upper = LayerBuilder::new()
        .dir("a", 0o755)
        .file("a/.wh.gone", 0o644, b"")
        .dir("b", 0o755)
        .file("b/.wh..wh..opq", 0o644, b"")
        .file("b/new", 0o644, b"4")
        .finish();
    let layout = tmp.path().join("layout");
    fixture::write_layout(
        &layout,
        &[(
            "test/wh:1",
            &fixture::image_blobs(&ImageSpec::from_layers(vec![lower, upper])),
        )],
    );
    let store = store(tmp.path());
    let record = import_path(&store, &layout).unwrap().remove(0);
    let lowerdirs: Vec<String> = record
        .diff_ids
        .iter()
        .rev()
        .map(|d| store.layer_path(d).display().to_string())
        .collect();
    let merged = tmp.path().join("merged");
    fs::create_dir(&merged).unwrap();
    nix::mount::mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        nix::mount::MsFlags::MS_RDONLY,
        Some(format!("lowerdir={}", lowerdirs.join(":")).as_str()),
    )
    .unwrap();
    let seen = (
        merged.join("a/gone").exists(),
        merged.join("a/kept").exists(),
        merged.join("b/old").exists(),
        merged.join("b/new").exists(),
    );
    nix::mount::umount(&merged).unwrap();
    assert_eq!(seen, (false, true, false, true));
}

#[test]
fn removing_an_image_and_sweeping_frees_its_blobs_and_layers() {
    require!(prereq::containers());
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let layout = tmp.path().join("layout");
    fixture::write_layout(
        &layout,
        &[(
            "test/gc:1",
            &fixture::image_blobs(&ImageSpec::from_layers(vec![LayerBuilder::new()
                .file("f", 0o644, &[1; 4096])
                .finish()])),
        )],
    );
    import_path(&store, &layout).unwrap();
    assert!(store.disk_usage_bytes() > 4096);
    store.remove(&"test/gc:1".parse().unwrap()).unwrap();
    assert!(matches!(
        store.remove(&"test/gc:1".parse().unwrap()),
        Err(StoreError::NotFound(_))
    ));
    store.sweep().unwrap();
    assert_eq!(store.disk_usage_bytes(), 0);
}
