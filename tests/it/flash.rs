//! `edgectl flash` end to end: synthetic Raspberry Pi images (an MBR, a FAT32 boot partition
//! made by `mkfs.vfat` and filled by `mcopy`, a placeholder root partition) are flashed by the
//! real binary and read back with Debian's mtools and checked with `fsck.fat`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flotilla::flash::mbr;

const EDGECTL: &str = env!("CARGO_BIN_EXE_edgectl");
/// The boot partition starts at 1 MiB, like Raspberry Pi OS images (LBA 8192 there; 2048 here).
const BOOT_LBA: u32 = 2048;
/// 40 MiB: big enough to be FAT32 with 512-byte clusters.
const BOOT_SECTORS: u32 = 81_920;
const ROOT_SECTORS: u32 = 8192;
const ROOT_MARKER: &[u8] = b"placeholder ext4 root partition: must survive flashing";
const TOKEN: &str = "EDGE1.0123abcd.node-2.s3cr3t";
const BOOKWORM_CMDLINE: &str = "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n";
const CONFIG_TXT: &str = "# For more options and information see\n# http://rptl.io/configtxt\ndtparam=audio=on\ncamera_auto_detect=1\n\n[cm4]\notg_mode=1\n\n[all]\n";

/// Fails under CI=true when a tool is missing; elsewhere says so and lets the test return.
fn have(tools: &[&str]) -> bool {
    let missing: Vec<&&str> = tools
        .iter()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!("missing tools {missing:?} (apt-get install mtools dosfstools)");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    false
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// An mtools drive spec for the boot partition of an image.
fn drive(image: &Path) -> String {
    format!("{}@@{}", image.display(), u64::from(BOOT_LBA) * 512)
}

fn mtools(tool: &str) -> Command {
    let mut cmd = Command::new(tool);
    cmd.env("MTOOLS_SKIP_CHECK", "1");
    cmd
}

fn mtype(image: &Path, path: &str) -> String {
    let out = run(mtools("mtype").args(["-i", &drive(image), &format!("::{path}")]));
    String::from_utf8(out.stdout).unwrap()
}

fn mcopy_out(image: &Path, path: &str, dest: &Path) -> Vec<u8> {
    run(mtools("mcopy")
        .args(["-n", "-i", &drive(image), &format!("::{path}")])
        .arg(dest));
    fs::read(dest).unwrap()
}

/// Bare names in a directory of the boot partition (`mdir -b` prints full paths).
fn mdir(image: &Path, dir: &str) -> Vec<String> {
    let out = Command::new("mdir")
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-b", "-i", &drive(image), &format!("::{dir}")])
        .output()
        .unwrap();
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            l.trim_start_matches("::/")
                .trim_end_matches('/')
                .to_string()
        })
        .map(|l| l.rsplit('/').next().unwrap_or("").to_string())
        .filter(|l| !l.is_empty())
        .collect();
    names.sort();
    names
}

/// `fsck.fat -n` on a copy of the boot partition: no repairs needed means a consistent FAT.
fn assert_fat_consistent(image: &Path, work: &Path) {
    let bytes = fs::read(image).unwrap();
    let start = BOOT_LBA as usize * 512;
    let part = work.join("boot-check.fat");
    fs::write(&part, &bytes[start..start + BOOT_SECTORS as usize * 512]).unwrap();
    let out = Command::new("fsck.fat")
        .arg("-n")
        .arg(&part)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fsck.fat found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    fs::remove_file(part).unwrap();
}

/// What goes on the synthetic boot partition.
struct Base {
    arm64: bool,
    cloud_init: bool,
}

/// Builds `base.img`: MBR, FAT32 boot partition with the Pi's files, a marked root partition.
fn build_image(work: &Path, base: Base) -> PathBuf {
    let fat = work.join("boot.fat");
    let _ = fs::remove_file(&fat);
    run(Command::new("mkfs.vfat")
        .args(["-C", "-F", "32", "-s", "1", "-n", "bootfs"])
        .arg(&fat)
        .arg((BOOT_SECTORS / 2).to_string()));
    let files = work.join("files");
    fs::create_dir_all(&files).unwrap();
    let mut names = vec![("cmdline.txt", BOOKWORM_CMDLINE.to_string())];
    let config = if base.arm64 {
        format!("{CONFIG_TXT}arm_64bit=1\n")
    } else {
        CONFIG_TXT.to_string()
    };
    names.push(("config.txt", config));
    names.push(("start4.elf", "firmware".repeat(500)));
    if base.arm64 {
        names.push(("kernel8.img", "arm64 kernel".repeat(2000)));
        names.push(("kernel_2712.img", "pi5 kernel".repeat(2000)));
    } else {
        names.push(("kernel7l.img", "armhf kernel".repeat(2000)));
        names.push(("kernel8.img", "arm64 kernel".repeat(2000)));
    }
    if base.cloud_init {
        names.push(("user-data", "#cloud-config\n# placeholder\n".into()));
        names.push(("meta-data", "instance-id: rpios-image\n".into()));
        names.push(("network-config", "network:\n  version: 2\n".into()));
    }
    for (name, contents) in &names {
        let path = files.join(name);
        fs::write(&path, contents).unwrap();
        run(mtools("mcopy")
            .args(["-i"])
            .arg(&fat)
            .arg(&path)
            .arg(format!("::{name}")));
    }
    run(mtools("mmd").args(["-i"]).arg(&fat).arg("::overlays"));
    let image = work.join("base.img");
    let sector = mbr::encode(&[
        (0x0C, BOOT_LBA, BOOT_SECTORS),
        (0x83, BOOT_LBA + BOOT_SECTORS, ROOT_SECTORS),
    ]);
    let mut bytes = vec![0u8; (BOOT_LBA + BOOT_SECTORS + ROOT_SECTORS) as usize * 512];
    bytes[..512].copy_from_slice(&sector);
    let fat_bytes = fs::read(&fat).unwrap();
    let start = BOOT_LBA as usize * 512;
    bytes[start..start + fat_bytes.len()].copy_from_slice(&fat_bytes);
    let root = (BOOT_LBA + BOOT_SECTORS) as usize * 512;
    bytes[root..root + ROOT_MARKER.len()].copy_from_slice(ROOT_MARKER);
    fs::write(&image, bytes).unwrap();
    image
}

/// A stand-in `edged`: a valid ELF header for the machine, then 3 MiB of varied bytes so the
/// file spans thousands of clusters.
fn fake_edged(work: &Path, arm64: bool) -> PathBuf {
    let mut bytes = vec![0u8; 64];
    bytes[..4].copy_from_slice(b"\x7fELF");
    bytes[5] = 1;
    if arm64 {
        bytes[4] = 2;
        bytes[18..20].copy_from_slice(&183u16.to_le_bytes());
    } else {
        bytes[4] = 1;
        bytes[18..20].copy_from_slice(&40u16.to_le_bytes());
        bytes[36..40].copy_from_slice(&0x0500_0400u32.to_le_bytes());
    }
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    bytes.extend((0..3 * 1024 * 1024).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }));
    let path = work.join(if arm64 {
        "edged-aarch64"
    } else {
        "edged-armv7"
    });
    fs::write(&path, bytes).unwrap();
    path
}

fn flash(args: &[&str]) -> Output {
    Command::new(EDGECTL)
        .arg("flash")
        .args(args)
        .output()
        .unwrap()
}

fn agent_args<'a>(image: &'a str, edged: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "--image",
        image,
        "--hostname",
        "pi-2",
        "--master",
        "https://pi-1:7443",
        "--join",
        TOKEN,
        "--edged",
        edged,
        "--out",
        out,
    ]
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "edgectl flash failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.split_whitespace().filter(|t| *t == needle).count()
}

#[test]
fn bookworm_image_flashed_for_an_agent_reads_back_with_mtools() {
    if !have(&["mkfs.vfat", "fsck.fat", "mcopy", "mtype", "mdir", "mmd"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let base = build_image(
        work,
        Base {
            arm64: true,
            cloud_init: false,
        },
    );
    let edged = fake_edged(work, true);
    let out = work.join("pi-2.img");
    let key = work.join("id.pub");
    fs::write(&key, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx7 me@laptop\n").unwrap();
    let mut args = agent_args(
        base.to_str().unwrap(),
        edged.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    args.extend([
        "--ssh-key",
        key.to_str().unwrap(),
        "--wifi",
        "home net",
        "--wifi-psk",
        "correct horse",
        "--wifi-country",
        "GB",
    ]);
    let result = flash(&args);
    assert_ok(&result);

    let cmdline = mtype(&out, "cmdline.txt");
    assert_eq!(cmdline.lines().count(), 1, "{cmdline}");
    for flag in [
        "cgroup_memory=1",
        "cgroup_enable=memory",
        "systemd.run=/boot/firstrun.sh",
    ] {
        assert_eq!(count(&cmdline, flag), 1, "{flag} in {cmdline}");
    }
    assert!(
        cmdline.starts_with(BOOKWORM_CMDLINE.trim_end()),
        "original parameters kept: {cmdline}"
    );
    let config = mtype(&out, "config.txt");
    assert!(config.starts_with(CONFIG_TXT));
    assert_eq!(config.matches("# >>> flotilla").count(), 1);
    assert!(config.contains("\ngpu_mem=16\n"));

    let root = mdir(&out, "/");
    assert!(root.contains(&"firstrun.sh".to_string()), "{root:?}");
    assert!(!root.contains(&"user-data".to_string()));
    let flotilla = mdir(&out, "/flotilla");
    for name in [
        "edged",
        "edged.env",
        "edged-agent.service",
        "firstboot.sh",
        "unit",
        "hostname",
        "authorized_keys",
        "wifi-ssid",
        "wifi-psk",
        "wifi-country",
        "enable-ssh",
        "user",
    ] {
        assert!(
            flotilla.contains(&name.to_string()),
            "flotilla/{name} missing: {flotilla:?}"
        );
    }
    assert_eq!(
        mcopy_out(&out, "flotilla/edged", &work.join("edged.back")),
        fs::read(&edged).unwrap()
    );
    assert!(mtype(&out, "flotilla/edged.env").contains(&format!("FLOTILLA_TOKEN={TOKEN}\n")));
    assert_eq!(mtype(&out, "flotilla/hostname"), "pi-2\n");
    assert!(mtype(&out, "flotilla/edged-agent.service").contains("Delegate=yes"));
    assert!(mtype(&out, "firstrun.sh").starts_with("#!/bin/sh"));
    // Files of the base image are untouched.
    assert_eq!(mtype(&out, "kernel8.img"), "arm64 kernel".repeat(2000));
    assert_fat_consistent(&out, work);

    let base_bytes = fs::read(&base).unwrap();
    let out_bytes = fs::read(&out).unwrap();
    assert_eq!(out_bytes.len(), base_bytes.len());
    let root_at = (BOOT_LBA + BOOT_SECTORS) as usize * 512;
    assert_eq!(
        &out_bytes[root_at..],
        &base_bytes[root_at..],
        "root partition untouched"
    );
    assert_eq!(
        &out_bytes[..512],
        &base_bytes[..512],
        "partition table untouched"
    );
}

#[test]
fn flashing_a_flashed_image_again_changes_nothing() {
    if !have(&["mkfs.vfat", "fsck.fat", "mcopy", "mtype", "mdir", "mmd"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let base = build_image(
        work,
        Base {
            arm64: true,
            cloud_init: false,
        },
    );
    let edged = fake_edged(work, true);
    let once = work.join("once.img");
    let twice = work.join("twice.img");
    assert_ok(&flash(&agent_args(
        base.to_str().unwrap(),
        edged.to_str().unwrap(),
        once.to_str().unwrap(),
    )));
    assert_ok(&flash(&agent_args(
        once.to_str().unwrap(),
        edged.to_str().unwrap(),
        twice.to_str().unwrap(),
    )));
    for path in [
        "cmdline.txt",
        "config.txt",
        "firstrun.sh",
        "flotilla/edged.env",
        "flotilla/unit",
    ] {
        assert_eq!(
            mtype(&once, path),
            mtype(&twice, path),
            "{path} changed on the second run"
        );
    }
    let cmdline = mtype(&twice, "cmdline.txt");
    for flag in [
        "cgroup_memory=1",
        "cgroup_enable=memory",
        "systemd.run=/boot/firstrun.sh",
        "systemd.run_success_action=reboot",
        "systemd.unit=kernel-command-line.target",
    ] {
        assert_eq!(count(&cmdline, flag), 1, "{flag} in {cmdline}");
    }
    assert_eq!(mdir(&once, "/"), mdir(&twice, "/"));
    assert_eq!(mdir(&once, "/flotilla"), mdir(&twice, "/flotilla"));
    assert_eq!(
        mcopy_out(&twice, "flotilla/edged", &work.join("e2")),
        fs::read(&edged).unwrap()
    );
    assert_fat_consistent(&twice, work);
}

#[test]
fn trixie_image_gets_cloud_init_seed_files_instead_of_firstrun() {
    if !have(&["mkfs.vfat", "fsck.fat", "mcopy", "mtype", "mdir", "mmd"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let base = build_image(
        work,
        Base {
            arm64: true,
            cloud_init: true,
        },
    );
    let edged = fake_edged(work, true);
    let out = work.join("pi-1.img");
    let result = flash(&[
        "--image",
        base.to_str().unwrap(),
        "--hostname",
        "pi-1",
        "--server",
        "--wifi",
        "home",
        "--wifi-psk",
        "correct horse",
        "--wifi-country",
        "DE",
        "--radios-off",
        "--edged",
        edged.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_ok(&result);
    let user_data = mtype(&out, "user-data");
    assert!(user_data.starts_with("#cloud-config\n"), "{user_data}");
    assert!(user_data.contains("hostname: pi-1\n"));
    assert!(user_data.contains("/boot/firmware/flotilla/firstboot.sh"));
    assert!(mtype(&out, "meta-data").contains("instance-id: flotilla-pi-1"));
    let network = mtype(&out, "network-config");
    assert!(
        network.contains("\"home\":") && network.contains("regulatory-domain: \"DE\""),
        "{network}"
    );
    let cmdline = mtype(&out, "cmdline.txt");
    assert_eq!(count(&cmdline, "cgroup_enable=memory"), 1);
    assert!(
        !cmdline.contains("systemd.run"),
        "no legacy hook on cloud-init images: {cmdline}"
    );
    assert!(!mdir(&out, "/").contains(&"firstrun.sh".to_string()));
    assert_eq!(mtype(&out, "flotilla/unit"), "edged-server.service\n");
    let config = mtype(&out, "config.txt");
    assert!(config.contains("\ndtoverlay=disable-bt\n"));
    assert!(
        config.contains("\n#dtoverlay=disable-wifi\n"),
        "wifi stays on with --wifi"
    );
    assert_fat_consistent(&out, work);
}

#[test]
fn armhf_image_takes_only_an_armv7_edged() {
    if !have(&["mkfs.vfat", "fsck.fat", "mcopy", "mtype", "mdir", "mmd"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let base = build_image(
        work,
        Base {
            arm64: false,
            cloud_init: false,
        },
    );
    let wrong = fake_edged(work, true);
    let out = work.join("pi-3.img");
    let result = flash(&agent_args(
        base.to_str().unwrap(),
        wrong.to_str().unwrap(),
        out.to_str().unwrap(),
    ));
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("built for aarch64, but the image runs armv7"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing is written when the plan fails");

    let right = fake_edged(work, false);
    assert_ok(&flash(&agent_args(
        base.to_str().unwrap(),
        right.to_str().unwrap(),
        out.to_str().unwrap(),
    )));
    let cmdline = mtype(&out, "cmdline.txt");
    assert_eq!(count(&cmdline, "cgroup_enable=cpuset"), 1, "{cmdline}");
    let config = mtype(&out, "config.txt");
    assert!(
        !config.contains("\narm_64bit=1"),
        "32-bit images keep their kernel choice"
    );
    assert_eq!(
        mcopy_out(&out, "flotilla/edged", &work.join("e")),
        fs::read(&right).unwrap()
    );
    assert_fat_consistent(&out, work);
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let out = work.join("out.img");
    let not_an_image = work.join("notes.txt");
    fs::write(&not_an_image, "hello").unwrap();
    let edged = fake_edged(work, true);
    let result = flash(&agent_args(
        not_an_image.to_str().unwrap(),
        edged.to_str().unwrap(),
        out.to_str().unwrap(),
    ));
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("notes.txt") && stderr.contains("too small"),
        "{stderr}"
    );
    assert!(!out.exists());

    let bad_host = flash(&[
        "--image",
        "x.img",
        "--hostname",
        "Pi_2",
        "--server",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&bad_host.stderr).contains("--hostname"));
    let both = flash(&[
        "--image",
        "x",
        "--hostname",
        "a",
        "--server",
        "--master",
        "https://m",
        "--join",
        "t",
        "--out",
        "o",
    ]);
    assert!(
        !both.status.success(),
        "--server and --master exclude each other"
    );
    let device_file = flash(&[
        "--image",
        not_an_image.to_str().unwrap(),
        "--hostname",
        "pi-2",
        "--server",
        "--edged",
        edged.to_str().unwrap(),
        "--device",
        not_an_image.to_str().unwrap(),
        "--yes",
    ]);
    assert!(!device_file.status.success());
}

/// Writing to a real block device: a loop device over a file, so the worst a bug could do is
/// scribble on that file. Needs root (CI runs as root).
#[test]
fn device_target_refuses_a_mounted_disk_and_writes_an_unmounted_one() {
    if !have(&[
        "losetup",
        "mount",
        "umount",
        "mkfs.ext4",
        "mkfs.vfat",
        "fsck.fat",
        "mcopy",
        "mtype",
        "mdir",
        "mmd",
    ]) {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run this test as root"
        );
        eprintln!("skipping: needs root for a loop device");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let base = build_image(
        work,
        Base {
            arm64: true,
            cloud_init: false,
        },
    );
    let edged = fake_edged(work, true);
    let card = work.join("card.img");
    fs::write(&card, vec![0xA5u8; 64 * 1024 * 1024]).unwrap();
    let out = run(Command::new("losetup")
        .args(["-f", "--show", "-P"])
        .arg(&card));
    let loop_dev = String::from_utf8(out.stdout).unwrap().trim().to_string();
    struct Detach(String);
    impl Drop for Detach {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(format!("{}p1", self.0)).output();
            let _ = Command::new("losetup").args(["-d", &self.0]).output();
        }
    }
    let _detach = Detach(loop_dev.clone());
    let args = |dev: &str| {
        vec![
            "--image".to_string(),
            base.display().to_string(),
            "--hostname".into(),
            "pi-2".into(),
            "--server".into(),
            "--edged".into(),
            edged.display().to_string(),
            "--device".into(),
            dev.to_string(),
        ]
    };
    // Without --yes and with "no" on stdin: refused.
    let mut child = Command::new(EDGECTL)
        .arg("flash")
        .args(args(&loop_dev))
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"no\n").unwrap();
    let refused = child.wait_with_output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not confirmed"));

    // Written with --yes; then its partitions appear.
    let mut yes = args(&loop_dev);
    yes.push("--yes".into());
    let written = Command::new(EDGECTL)
        .arg("flash")
        .args(&yes)
        .output()
        .unwrap();
    assert_ok(&written);
    run(Command::new("losetup").args(["-c", &loop_dev]));
    let _ = Command::new("partx").args(["-u", &loop_dev]).output();
    let boot_part = format!("{loop_dev}p1");
    let root_part = format!("{loop_dev}p2");
    for _ in 0..50 {
        if Path::new(&root_part).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // A mounted partition (the root one, as ext4: this kernel may lack vfat): refused, naming it.
    run(Command::new("mkfs.ext4").args(["-q", "-F", &root_part]));
    let mnt = work.join("mnt");
    fs::create_dir(&mnt).unwrap();
    run(Command::new("mount")
        .args(["-o", "ro", &root_part])
        .arg(&mnt));
    let busy = Command::new(EDGECTL)
        .arg("flash")
        .args(&yes)
        .output()
        .unwrap();
    run(Command::new("umount").arg(&mnt));
    assert!(!busy.status.success());
    let stderr = String::from_utf8_lossy(&busy.stderr);
    assert!(stderr.contains("p2 is mounted on"), "{stderr}");

    // A partition instead of the whole disk: refused.
    let mut on_part = args(&boot_part);
    on_part.push("--yes".into());
    let partition = Command::new(EDGECTL)
        .arg("flash")
        .args(&on_part)
        .output()
        .unwrap();
    assert!(!partition.status.success());
    let stderr = String::from_utf8_lossy(&partition.stderr);
    assert!(stderr.contains("is a partition"), "{stderr}");

    // The card holds the image followed by what was there before.
    let card_bytes = fs::read(&card).unwrap();
    let base_len = fs::metadata(&base).unwrap().len() as usize;
    assert!(card_bytes[base_len..].iter().all(|&b| b == 0xA5));
    let base_bytes = fs::read(&base).unwrap();
    assert_eq!(
        &card_bytes[..512],
        &base_bytes[..512],
        "the image's partition table is on the card"
    );
    let snapshot = work.join("snapshot.img");
    fs::write(&snapshot, &card_bytes[..base_len]).unwrap();
    assert_eq!(mtype(&snapshot, "flotilla/unit"), "edged-server.service\n");
    assert_fat_consistent(&snapshot, work);
}
