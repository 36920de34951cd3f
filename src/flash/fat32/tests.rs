//! Unit tests of the FAT32 code on memory images formatted by `format`.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::format::{format, SECTOR_BYTES, SMALLEST_FAT32_SECTORS};
use super::*;

const NOW: FatTimestamp = FatTimestamp::EPOCH;
const LIMIT: u64 = 1 << 24;

fn fresh() -> FileSystem<Vec<u8>> {
    let image = format(SMALLEST_FAT32_SECTORS);
    let len = image.len() as u64;
    FileSystem::open(image, 0, len, NOW).unwrap()
}

fn reopen(fs: FileSystem<Vec<u8>>) -> FileSystem<Vec<u8>> {
    let image = fs.into_storage();
    let len = image.len() as u64;
    FileSystem::open(image, 0, len, NOW).unwrap()
}

/// Every cluster in use is reachable from exactly one file or directory, and vice versa.
fn assert_no_leaks_or_sharing(fs: &FileSystem<Vec<u8>>) {
    let mut owned = BTreeSet::new();
    let mut stack = vec![(String::new(), fs.geometry().root_cluster)];
    while let Some((path, cluster)) = stack.pop() {
        for c in fs.fat().chain(cluster).unwrap() {
            assert!(owned.insert(c), "cluster {c} shared ({path})");
        }
        for e in fs.list_dir(&path).unwrap() {
            let child = format!("{path}/{}", e.name);
            if e.is_dir() {
                stack.push((child, e.first_cluster));
            } else if e.first_cluster != 0 {
                for c in fs.fat().chain(e.first_cluster).unwrap() {
                    assert!(owned.insert(c), "cluster {c} shared ({child})");
                }
            }
        }
    }
    assert_eq!(
        owned,
        fs.fat().used_clusters(),
        "leaked or dangling clusters"
    );
}

#[test]
fn small_volume_is_rejected_as_not_fat32() {
    let mut image = format(SMALLEST_FAT32_SECTORS);
    // Claim fewer sectors: the cluster count drops below the FAT32 minimum.
    image[32..36].copy_from_slice(&40_000u32.to_le_bytes());
    let len = image.len() as u64;
    let err = FileSystem::open(image, 0, len, NOW).err().unwrap();
    assert!(matches!(err, FatError::NotFat32 { .. }), "{err}");
}

#[test]
fn volume_larger_than_its_partition_is_rejected() {
    let image = format(SMALLEST_FAT32_SECTORS);
    let err = FileSystem::open(image, 0, 1024 * 1024, NOW).err().unwrap();
    assert!(matches!(err, FatError::VolumeTooLarge { .. }), "{err}");
}

#[test]
fn written_file_reads_back_after_reopening() {
    let mut fs = fresh();
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    fs.write_file("/config.txt", &data).unwrap();
    let fs = reopen(fs);
    assert_eq!(fs.read_file("config.txt", LIMIT).unwrap(), data);
    assert_eq!(
        fs.read_file("CONFIG.TXT", LIMIT).unwrap(),
        data,
        "lookups ignore case"
    );
    assert_no_leaks_or_sharing(&fs);
}

#[test]
fn replacing_a_file_frees_its_old_clusters() {
    let mut fs = fresh();
    let free_before = fs.free_bytes();
    fs.write_file("edged", &vec![7u8; 100_000]).unwrap();
    fs.write_file("edged", &vec![8u8; 3_000]).unwrap();
    assert_eq!(fs.free_bytes(), free_before - 3_072);
    assert_eq!(fs.read_file("edged", LIMIT).unwrap(), vec![8u8; 3_000]);
    assert_eq!(
        fs.list_dir("/").unwrap().len(),
        1,
        "replaced in place, not duplicated"
    );
    assert_no_leaks_or_sharing(&fs);
}

#[test]
fn nested_directories_are_created_on_demand() {
    let mut fs = fresh();
    fs.write_file("/flotilla/units/edged-agent.service", b"[Unit]\n")
        .unwrap();
    let fs = reopen(fs);
    let top = fs.list_dir("/").unwrap();
    assert_eq!(top.len(), 1);
    assert!(top[0].is_dir());
    assert_eq!(top[0].name, "flotilla");
    assert_eq!(
        fs.read_file("flotilla/units/edged-agent.service", LIMIT)
            .unwrap(),
        b"[Unit]\n"
    );
    assert_no_leaks_or_sharing(&fs);
}

#[test]
fn a_file_in_the_way_of_a_directory_is_an_error() {
    let mut fs = fresh();
    fs.write_file("flotilla", b"x").unwrap();
    let err = fs.write_file("flotilla/edged", b"y").unwrap_err();
    assert!(matches!(err, FatError::NotDirectory { .. }), "{err}");
}

#[test]
fn directories_grow_past_one_cluster() {
    let mut fs = fresh();
    // 512-byte clusters hold 16 slots; each of these names takes 3.
    for i in 0..40 {
        fs.write_file(&format!("a-long-file-name-{i:03}.txt"), &[i as u8])
            .unwrap();
    }
    let fs = reopen(fs);
    let names: BTreeSet<String> = fs
        .list_dir("")
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names.len(), 40);
    assert!(names.contains("a-long-file-name-039.txt"));
    assert_no_leaks_or_sharing(&fs);
}

#[test]
fn both_fats_and_fsinfo_are_updated() {
    let mut fs = fresh();
    fs.write_file("big", &vec![1u8; 40_000]).unwrap();
    let geometry = *fs.geometry();
    let free = fs.fat().free_clusters();
    let image = fs.into_storage();
    let fat = |copy: u32| {
        let at = geometry.fat_offset_bytes(copy) as usize;
        image[at..at + geometry.fat_bytes() as usize].to_vec()
    };
    assert_eq!(fat(0), fat(1));
    let info = &image[SECTOR_BYTES as usize..2 * SECTOR_BYTES as usize];
    let word = |at: usize| u32::from_le_bytes(info[at..at + 4].try_into().unwrap());
    assert_eq!(word(0), 0x4161_5252, "lead signature intact");
    assert_eq!(word(484), 0x6141_7272, "structure signature intact");
    assert_eq!(word(488), free);
}

#[test]
fn running_out_of_space_changes_nothing() {
    let mut fs = fresh();
    let too_big = vec![0u8; fs.free_bytes() as usize + 1];
    let err = fs.write_file("huge", &too_big).unwrap_err();
    assert!(matches!(err, FatError::NoSpace { .. }), "{err}");
    let fs = reopen(fs);
    assert!(!fs.exists("huge").unwrap());
    assert_no_leaks_or_sharing(&fs);
}

#[test]
fn reads_larger_than_the_limit_are_refused() {
    let mut fs = fresh();
    fs.write_file("cmdline.txt", &[b'x'; 100]).unwrap();
    let err = fs.read_file("cmdline.txt", 99).unwrap_err();
    assert!(
        matches!(
            err,
            FatError::TooLarge {
                size_bytes: 100,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn removed_files_disappear_and_their_slots_are_reused() {
    let mut fs = fresh();
    fs.write_file("firstrun.sh", b"#!/bin/sh\n").unwrap();
    fs.remove_file("FIRSTRUN.SH").unwrap();
    assert!(!fs.exists("firstrun.sh").unwrap());
    fs.write_file("user-data", b"#cloud-config\n").unwrap();
    let entries = fs.list_dir("/").unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].first_slot, 0, "deleted slots are reused");
    assert_no_leaks_or_sharing(&fs);
}

#[test]
fn cyclic_chains_are_reported_as_corruption() {
    let mut fs = fresh();
    fs.write_file("loop", &[1u8; 2048]).unwrap();
    let first = fs.list_dir("/").unwrap()[0].first_cluster;
    let geometry = *fs.geometry();
    let mut image = fs.into_storage();
    // Point the last cluster of the file back at its first.
    let last = first + 3;
    let at = geometry.fat_offset_bytes(0) as usize + last as usize * 4;
    image[at..at + 4].copy_from_slice(&first.to_le_bytes());
    let len = image.len() as u64;
    let fs = FileSystem::open(image, 0, len, NOW).unwrap();
    let err = fs.read_file("loop", LIMIT).unwrap_err();
    assert!(matches!(err, FatError::Corrupt { .. }), "{err}");
}

/// One step of the model-based test.
#[derive(Debug, Clone)]
enum Op {
    Write { path: String, len: usize, seed: u8 },
    Remove { path: String },
}

fn path_strategy() -> impl Strategy<Value = String> {
    let names = prop::sample::select(vec![
        "config.txt",
        "CMDLINE.TXT",
        "user-data",
        "a very long name that needs several lfn slots.txt",
        "ünïcödé",
        "x",
    ]);
    let dirs = prop::sample::select(vec!["", "flotilla/", "flotilla/units/", "overlays/"]);
    (dirs, names).prop_map(|(d, n)| format!("{d}{n}"))
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (path_strategy(), 0usize..6_000, any::<u8>())
            .prop_map(|(path, len, seed)| Op::Write { path, len, seed }),
        1 => path_strategy().prop_map(|path| Op::Remove { path }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever sequence of writes and removals, the volume reads back as a map of path → bytes
    /// would, before and after reopening, and no cluster is leaked or shared.
    #[test]
    fn writes_and_removals_read_back_like_a_map(ops in prop::collection::vec(op_strategy(), 1..24)) {
        let mut fs = fresh();
        let free_at_start = fs.free_bytes();
        let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for op in &ops {
            match op {
                Op::Write { path, len, seed } => {
                    let data: Vec<u8> = (0..*len).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
                    fs.write_file(path, &data).unwrap();
                    model.insert(path.to_lowercase(), data);
                }
                Op::Remove { path } => {
                    let expected = model.remove(&path.to_lowercase());
                    let result = fs.remove_file(path);
                    prop_assert_eq!(result.is_ok(), expected.is_some(), "{:?}", result.err());
                }
            }
        }
        let fs = reopen(fs);
        for (path, data) in &model {
            prop_assert_eq!(&fs.read_file(path, LIMIT).unwrap(), data);
        }
        assert_no_leaks_or_sharing(&fs);
        prop_assert!(fs.free_bytes() <= free_at_start);
    }
}
