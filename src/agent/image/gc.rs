//! Image garbage collection, with the kubelet's policy: when the file system holding the image
//! store is at least `high_percent` full, unused images are removed, least recently used first,
//! until it is at most `low_percent` full. An image is in use while a container made from it
//! exists or a desired pod names it (so a pod still pulling, or waiting on its init containers,
//! keeps its images); an image used or recorded less than `min_age` ago is not removed either
//! (an air-gap import waiting for its pods).
//!
//! The decisions (`GcPolicy`, `removal_order`) are pure; `collect` applies them to a store and a
//! disk measure, removing one image at a time and measuring again, since layers shared with kept
//! images free nothing.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::digest::Digest;
use super::reference::ImageRef;
use super::store::{ImageStore, StoreError};

/// When and how far images are collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcPolicy {
    /// Collection starts when the file system is at least this full (percent).
    pub high_percent: u8,
    /// Collection stops once the file system is at most this full (percent).
    pub low_percent: u8,
    /// How often disk usage is checked (a `statvfs`, nothing written).
    pub interval: Duration,
    /// Images used or recorded more recently than this are kept (the kubelet's
    /// `--minimum-image-ttl-duration`).
    pub min_age: Duration,
}

/// Why a policy is refused. The names are `edged agent`'s flags.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GcPolicyError {
    #[error("image-gc-high-percent {0} is above 100")]
    HighAbove100(u8),
    #[error("image-gc-low-percent {low} must be below image-gc-high-percent {high}")]
    LowNotBelowHigh { low: u8, high: u8 },
    #[error("image-gc-interval-seconds must be at least 1")]
    ZeroInterval,
}

impl Default for GcPolicy {
    /// The kubelet's defaults: 85 %, 80 %, every 5 minutes, images older than 2 minutes.
    fn default() -> GcPolicy {
        GcPolicy {
            high_percent: 85,
            low_percent: 80,
            interval: Duration::from_secs(300),
            min_age: Duration::from_secs(120),
        }
    }
}

impl GcPolicy {
    /// A validated policy: `low_percent < high_percent <= 100`, a non-zero interval.
    pub fn new(
        high_percent: u8,
        low_percent: u8,
        interval: Duration,
        min_age: Duration,
    ) -> Result<GcPolicy, GcPolicyError> {
        if high_percent > 100 {
            return Err(GcPolicyError::HighAbove100(high_percent));
        }
        if low_percent >= high_percent {
            return Err(GcPolicyError::LowNotBelowHigh {
                low: low_percent,
                high: high_percent,
            });
        }
        if interval.is_zero() {
            return Err(GcPolicyError::ZeroInterval);
        }
        Ok(GcPolicy {
            high_percent,
            low_percent,
            interval,
            min_age,
        })
    }

    /// Whether a collection starts at this usage.
    pub fn is_due(&self, usage: DiskUsage) -> bool {
        usage.used_percent() >= self.high_percent
    }

    /// Whether a running collection may stop at this usage.
    pub fn is_satisfied(&self, usage: DiskUsage) -> bool {
        u128::from(usage.available_bytes) * 100
            >= u128::from(usage.capacity_bytes) * u128::from(100 - self.low_percent)
    }
}

/// Size and free space of a file system, as an unprivileged user sees them (root's reserved
/// blocks count as used, as in the kubelet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    pub capacity_bytes: u64,
    pub available_bytes: u64,
}

impl DiskUsage {
    /// The file system holding `path`.
    pub fn measure(path: &Path) -> io::Result<DiskUsage> {
        let stat = nix::sys::statvfs::statvfs(path)?;
        let fragment = stat.fragment_size() as u64;
        Ok(DiskUsage {
            capacity_bytes: stat.blocks() as u64 * fragment,
            available_bytes: stat.blocks_available() as u64 * fragment,
        })
    }

    /// Percentage in use, rounded up (the kubelet's `100 - available * 100 / capacity`).
    pub fn used_percent(&self) -> u8 {
        if self.capacity_bytes == 0 {
            return 0;
        }
        let available = u128::from(self.available_bytes.min(self.capacity_bytes));
        (100 - available * 100 / u128::from(self.capacity_bytes)) as u8
    }
}

/// One image as the collector weighs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUse {
    /// The image's config digest (its identity; several references may share it).
    pub config: Digest,
    /// When a pod last used it, or when it was recorded if no pod used it since the agent
    /// started; milliseconds since the Unix epoch.
    pub last_used_ms: u64,
}

/// The images to remove, in order: those not `in_use` and last used at least `min_age` before
/// `now_ms`, least recently used first (ties by digest, so that the order is stable).
pub fn removal_order(
    images: &[ImageUse],
    in_use: &HashSet<Digest>,
    now_ms: u64,
    min_age: Duration,
) -> Vec<Digest> {
    let mut latest: BTreeMap<&Digest, u64> = BTreeMap::new();
    for image in images.iter().filter(|i| !in_use.contains(&i.config)) {
        let entry = latest.entry(&image.config).or_default();
        *entry = (*entry).max(image.last_used_ms);
    }
    let old_enough =
        |last_used_ms: u64| u128::from(now_ms.saturating_sub(last_used_ms)) >= min_age.as_millis();
    let mut order: Vec<(u64, &Digest)> = latest
        .into_iter()
        .filter(|(_, t)| old_enough(*t))
        .map(|(d, t)| (t, d))
        .collect();
    order.sort();
    order.into_iter().map(|(_, d)| d.clone()).collect()
}

/// What a collection did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub before: DiskUsage,
    pub after: DiskUsage,
    /// References forgotten, in removal order.
    pub removed: Vec<ImageRef>,
}

/// Why a collection stopped short.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("image store: {0}")]
    Store(#[from] StoreError),
    #[error("measuring disk usage of {path}: {source}")]
    Measure { path: PathBuf, source: io::Error },
}

/// Runs one collection on `store` if `measure` says it is due: first a sweep of blobs and
/// layers no image reaches, then unused images one by one (see [`removal_order`]) until the
/// policy is satisfied or nothing unused is left. `last_used_ms` holds when the agent last saw
/// each image used; others count from when they were recorded. `now_ms` is the wall clock
/// (milliseconds since the Unix epoch). Returns `None` when not due.
///
/// The caller holds the store lock exclusive and computed `in_use` after taking it.
pub fn collect(
    store: &ImageStore,
    policy: &GcPolicy,
    in_use: &HashSet<Digest>,
    last_used_ms: &HashMap<Digest, u64>,
    now_ms: u64,
    mut measure: impl FnMut() -> io::Result<DiskUsage>,
) -> Result<Option<GcReport>, GcError> {
    let mut measure = || {
        measure().map_err(|source| GcError::Measure {
            path: store.root().to_path_buf(),
            source,
        })
    };
    let before = measure()?;
    if !policy.is_due(before) {
        return Ok(None);
    }
    store.sweep()?;
    let mut usage = measure()?;
    let images: Vec<ImageUse> = store
        .list()
        .iter()
        .map(|record| ImageUse {
            config: record.config.clone(),
            last_used_ms: last_used_ms
                .get(&record.config)
                .copied()
                .unwrap_or(0)
                .max(store.recorded_at_ms(record)),
        })
        .collect();
    let mut removed = Vec::new();
    for config in removal_order(&images, in_use, now_ms, policy.min_age) {
        if policy.is_satisfied(usage) {
            break;
        }
        removed.extend(store.remove_image(&config)?);
        store.sweep()?;
        usage = measure()?;
    }
    Ok(Some(GcReport {
        before,
        after: usage,
        removed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::image::oci::Manifest;
    use crate::agent::image::platform::HostPlatform;
    use crate::agent::runtime::now_ms;

    const MIB: u64 = 1024 * 1024;

    fn digest(n: u8) -> Digest {
        Digest::of(&[n])
    }

    fn policy(high_percent: u8, low_percent: u8) -> GcPolicy {
        GcPolicy::new(high_percent, low_percent, SECOND, Duration::ZERO).unwrap()
    }

    const SECOND: Duration = Duration::from_secs(1);

    fn usage(used_bytes: u64) -> DiskUsage {
        DiskUsage {
            capacity_bytes: 100 * MIB,
            available_bytes: 100 * MIB - used_bytes,
        }
    }

    #[test]
    fn a_policy_needs_low_below_high_and_high_at_most_100() {
        assert_eq!(
            GcPolicy::new(101, 80, SECOND, SECOND),
            Err(GcPolicyError::HighAbove100(101))
        );
        assert_eq!(
            GcPolicy::new(80, 80, SECOND, SECOND),
            Err(GcPolicyError::LowNotBelowHigh { low: 80, high: 80 })
        );
        assert_eq!(
            GcPolicy::new(85, 80, Duration::ZERO, SECOND),
            Err(GcPolicyError::ZeroInterval)
        );
        assert_eq!(
            GcPolicy::new(85, 80, 300 * SECOND, 120 * SECOND),
            Ok(GcPolicy::default())
        );
    }

    #[test]
    fn collection_starts_at_the_high_mark_and_stops_at_the_low_mark() {
        let policy = policy(85, 80);
        assert!(!policy.is_due(usage(84 * MIB)));
        assert!(policy.is_due(usage(85 * MIB)));
        // Rounded up, as the kubelet does: a byte over 84 % is 85 %.
        assert!(policy.is_due(usage(84 * MIB + 1)));
        assert!(!policy.is_satisfied(usage(80 * MIB + 1)));
        assert!(policy.is_satisfied(usage(80 * MIB)));
        assert_eq!(
            DiskUsage {
                capacity_bytes: 0,
                available_bytes: 0
            }
            .used_percent(),
            0
        );
    }

    #[test]
    fn unused_images_go_least_recently_used_first() {
        let images = [
            ImageUse {
                config: digest(1),
                last_used_ms: 300,
            },
            ImageUse {
                config: digest(2),
                last_used_ms: 100,
            },
            ImageUse {
                config: digest(3),
                last_used_ms: 50,
            },
            // A second reference to image 1, used earlier: the latest use counts.
            ImageUse {
                config: digest(1),
                last_used_ms: 10,
            },
        ];
        let in_use = HashSet::from([digest(3)]);
        assert_eq!(
            removal_order(&images, &in_use, 1_000, Duration::ZERO),
            vec![digest(2), digest(1)]
        );
        let all = HashSet::from([digest(1), digest(2), digest(3)]);
        assert!(removal_order(&images, &all, 1_000, Duration::ZERO).is_empty());
    }

    #[test]
    fn images_used_or_recorded_within_the_minimum_age_stay() {
        let images = [
            ImageUse {
                config: digest(1),
                last_used_ms: 10_000,
            },
            ImageUse {
                config: digest(2),
                last_used_ms: 70_000,
            },
        ];
        let none = HashSet::new();
        assert_eq!(
            removal_order(&images, &none, 130_000, 120 * SECOND),
            vec![digest(1)]
        );
        assert_eq!(
            removal_order(&images, &none, 190_000, 120 * SECOND),
            vec![digest(1), digest(2)]
        );
        assert!(removal_order(&images, &none, 100_000, 120 * SECOND).is_empty());
    }

    /// Records an image of one layer holding `size_bytes` of a repeated `fill` byte.
    fn add_image(store: &ImageStore, name: &str, fill: u8, size_bytes: usize) -> Digest {
        let mut layer = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(size_bytes as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        layer
            .append_data(&mut header, "data", &vec![fill; size_bytes][..])
            .unwrap();
        let layer = layer.into_inner().unwrap();
        let (layer_digest, layer_size) = store.write_blob(&layer[..], None).unwrap();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer_digest.to_string()]},
        }))
        .unwrap();
        let config_digest = store.write_document(&config).unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.to_string(), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest.to_string(), "size": layer_size}],
        });
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let manifest_digest = store.write_document(&bytes).unwrap();
        let manifest: Manifest = serde_json::from_slice(&bytes).unwrap();
        store
            .commit_image(&name.parse().unwrap(), &manifest_digest, &manifest)
            .unwrap();
        config_digest
    }

    fn names(report: &GcReport) -> Vec<String> {
        report.removed.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn a_collection_removes_unused_images_until_the_low_mark_and_keeps_those_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path(), HostPlatform::detect()).unwrap();
        // Each image takes 2 MiB and a little: its layer blob and the unpacked layer.
        let old = add_image(&store, "flotilla.test/old:1", b'o', MIB as usize);
        let running = add_image(&store, "flotilla.test/running:1", b'r', MIB as usize);
        let recent = add_image(&store, "flotilla.test/recent:1", b'n', MIB as usize);
        let newest = add_image(&store, "flotilla.test/newest:1", b'w', MIB as usize);
        // A disk of 20 MiB holding only the store.
        let measure = || {
            Ok(DiskUsage {
                capacity_bytes: 20 * MIB,
                available_bytes: 20 * MIB - store.disk_usage_bytes(),
            })
        };
        assert!(measure().unwrap().used_percent() > 40);
        // `recent` was recorded before `newest` but used after it.
        let last_used = HashMap::from([(recent.clone(), u64::MAX / 2)]);
        let in_use = HashSet::from([running.clone()]);
        // Below the high mark: nothing happens.
        assert_eq!(
            collect(
                &store,
                &policy(90, 10),
                &in_use,
                &last_used,
                now_ms(),
                measure
            )
            .unwrap(),
            None
        );
        assert_eq!(store.list().len(), 4);
        // Above it: the two least recently used unused images go (one would leave 30 %), and
        // the third stays since 20 % is below the low mark.
        let report = collect(
            &store,
            &policy(35, 25),
            &in_use,
            &last_used,
            now_ms(),
            measure,
        )
        .unwrap()
        .unwrap();
        let mut removed = names(&report);
        removed.sort();
        assert_eq!(removed, ["flotilla.test/newest:1", "flotilla.test/old:1"]);
        assert!(report.after.used_percent() <= 25, "{report:?}");
        let left: Vec<Digest> = store.list().into_iter().map(|r| r.config).collect();
        assert!(left.contains(&running) && left.contains(&recent));
        assert!(!left.contains(&old) && !left.contains(&newest));
        // Their blobs and layers are gone too; the kept images are whole.
        assert_eq!(store.disk_usage_bytes() / MIB, 4);
        // A low mark out of reach removes every unused image and nothing in use.
        let report = collect(
            &store,
            &policy(1, 0),
            &in_use,
            &last_used,
            now_ms(),
            measure,
        )
        .unwrap()
        .unwrap();
        assert_eq!(names(&report), ["flotilla.test/recent:1"]);
        assert_eq!(
            store
                .list()
                .into_iter()
                .map(|r| r.config)
                .collect::<Vec<_>>(),
            vec![running]
        );
    }
}
