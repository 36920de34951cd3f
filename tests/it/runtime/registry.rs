//! Pulling from a real registry: Debian's `docker-registry` on 127.0.0.1, images pushed with
//! `skopeo`. Plain HTTP only when registries.yaml says so, mirrors first, multi-arch indexes
//! resolved to the node's platform with ARM variants told apart.
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use flotilla::agent::image::platform::HostPlatform;
use flotilla::agent::image::pull::Puller;
use flotilla::agent::image::registries::RegistriesConfig;
use flotilla::agent::image::ImageStore;

use super::busybox_image::{self as fixture, ImageSpec, LayerBuilder};
use super::harness::current_thread;
use super::prereq;
use crate::require;

/// A registry on 127.0.0.1 with its storage in a temporary directory; killed on drop.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let registry = Registry {
            child,
            port,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the registry did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        registry
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Pushes the OCI layout at `layout` (its image tagged `tag`) as `repository:tag`.
    fn push(&self, layout: &Path, tag: &str, repository: &str, multi_arch: bool) {
        let mut command = Command::new("skopeo");
        command.args(["--insecure-policy", "copy", "--dest-tls-verify=false"]);
        if multi_arch {
            command.args(["--multi-arch", "all"]);
        }
        let output = command
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{repository}:{tag}", self.host()))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "skopeo copy: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn registry_prerequisites() -> bool {
    prereq::require(
        prereq::has_command("docker-registry"),
        "docker-registry (apt install docker-registry)",
    ) && prereq::require(prereq::has_command("skopeo"), "skopeo (apt install skopeo)")
        && prereq::require(
            std::path::Path::new(fixture::BUSYBOX).is_file(),
            "/bin/busybox (apt install busybox-static)",
        )
}

fn plain_http(host: &str) -> RegistriesConfig {
    RegistriesConfig::parse(
        &format!("mirrors:\n  \"{host}\":\n    endpoint: [\"http://{host}\"]\n"),
        Path::new("registries.yaml"),
    )
    .unwrap()
}

fn busybox_layout(dir: &Path, tag: &str) -> PathBuf {
    let layout = dir.join(format!("layout-{tag}"));
    fixture::write_layout(
        &layout,
        &[(tag, &fixture::image_blobs(&ImageSpec::busybox()))],
    );
    layout
}

#[test]
fn an_image_pulled_from_a_plain_http_registry_configured_as_such_is_runnable() {
    require!(registry_prerequisites());
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    registry.push(
        &busybox_layout(tmp.path(), "1"),
        "1",
        "flotilla/busybox",
        false,
    );
    let store = ImageStore::open(&tmp.path().join("store"), HostPlatform::detect()).unwrap();
    let reference = format!("{}/flotilla/busybox:1", registry.host())
        .parse()
        .unwrap();
    // Without configuration, the registry is spoken to over HTTPS only: refused.
    let error =
        current_thread(Puller::new(RegistriesConfig::default()).pull(&store, &reference, None))
            .unwrap_err()
            .to_string();
    assert!(error.contains(&registry.host()), "{error}");
    assert!(store.list().is_empty());
    let seen = std::sync::Mutex::new(Vec::new());
    let progress = |p: flotilla::agent::image::pull::PullProgress| seen.lock().unwrap().push(p);
    let record = current_thread(Puller::new(plain_http(&registry.host())).pull(
        &store,
        &reference,
        Some(&progress),
    ))
    .unwrap();
    assert_eq!(record.reference, reference);
    assert!(store
        .layer_path(&record.diff_ids[0])
        .join("bin/busybox")
        .is_file());
    let seen = seen.into_inner().unwrap();
    let last = seen.last().expect("progress was reported");
    assert_eq!(last.bytes_done, last.bytes_total);
    assert!(seen.len() > 1);
    // Pulled twice: nothing downloaded again, same record.
    let again =
        current_thread(Puller::new(plain_http(&registry.host())).pull(&store, &reference, None))
            .unwrap();
    assert_eq!(again, record);
}

#[test]
fn a_docker_hub_image_comes_from_its_configured_mirror() {
    require!(registry_prerequisites());
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    registry.push(
        &busybox_layout(tmp.path(), "edge"),
        "edge",
        "library/flotilla-mirror-test",
        false,
    );
    let config = RegistriesConfig::parse(
        &format!(
            "mirrors:\n  docker.io:\n    endpoint: [\"http://{}\"]\n",
            registry.host()
        ),
        Path::new("r.yaml"),
    )
    .unwrap();
    let store = ImageStore::open(&tmp.path().join("store"), HostPlatform::detect()).unwrap();
    let reference = "flotilla-mirror-test:edge".parse().unwrap();
    let record = current_thread(Puller::new(config).pull(&store, &reference, None)).unwrap();
    assert_eq!(
        record.reference.to_string(),
        "docker.io/library/flotilla-mirror-test:edge"
    );
}

#[test]
fn a_multi_arch_index_resolves_to_the_node_platform_and_arm_variants_are_told_apart() {
    require!(registry_prerequisites());
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("multi");
    let variant = |arch: &str, variant: Option<&str>| {
        let mut spec = ImageSpec::from_layers(vec![LayerBuilder::new()
            .file("which", 0o644, format!("{arch}{variant:?}").as_bytes())
            .finish()]);
        spec.architecture = arch.to_string();
        spec.variant = variant.map(str::to_string);
        spec.cmd = vec![format!("{arch}-{}", variant.unwrap_or("none"))];
        (
            arch.to_string(),
            variant.map(str::to_string),
            fixture::image_blobs(&spec),
        )
    };
    let images = [
        variant("amd64", None),
        variant("arm64", Some("v8")),
        variant("arm", Some("v7")),
        variant("arm", Some("v6")),
    ];
    fixture::write_layout(&layout, &[]);
    let mut entries = Vec::new();
    for (arch, variant, image) in &images {
        for (digest, bytes) in &image.blobs {
            std::fs::write(layout.join("blobs/sha256").join(&digest[7..]), bytes).unwrap();
        }
        let mut platform = serde_json::json!({"os": "linux", "architecture": arch});
        if let Some(variant) = variant {
            platform["variant"] = serde_json::json!(variant);
        }
        entries.push(serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image.manifest_digest,
            "size": image.manifest.len(), "platform": platform}));
    }
    let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries})).unwrap();
    let index_digest = fixture::sha256(&index);
    std::fs::write(layout.join("blobs/sha256").join(&index_digest[7..]), &index).unwrap();
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": index_digest, "size": index.len(), "annotations": {"org.opencontainers.image.ref.name": "multi"}}]});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    registry.push(&layout, "multi", "flotilla/multi", true);
    let reference: flotilla::agent::image::ImageRef =
        format!("{}/flotilla/multi:multi", registry.host())
            .parse()
            .unwrap();
    for (platform, expected) in [
        (HostPlatform::new("linux", "arm", Some("v7")), "arm-v7"),
        (HostPlatform::new("linux", "arm", Some("v6")), "arm-v6"),
        (HostPlatform::new("linux", "arm64", Some("v8")), "arm64-v8"),
        (HostPlatform::new("linux", "amd64", None), "amd64-none"),
    ] {
        let store =
            ImageStore::open(&tmp.path().join(format!("store-{expected}")), platform).unwrap();
        let record = current_thread(
            Puller::new(plain_http(&registry.host())).pull(&store, &reference, None),
        )
        .unwrap();
        assert_eq!(
            store.config(&record).unwrap().config.cmd.unwrap(),
            vec![expected.to_string()]
        );
    }
    let store = ImageStore::open(
        &tmp.path().join("store-riscv"),
        HostPlatform::new("linux", "riscv64", None),
    )
    .unwrap();
    let error =
        current_thread(Puller::new(plain_http(&registry.host())).pull(&store, &reference, None))
            .unwrap_err()
            .to_string();
    assert!(error.contains("no manifest for linux/riscv64"), "{error}");
}
