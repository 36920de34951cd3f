//! Packaging: `install.sh` into a temporary root, the first-boot scripts against a fake root
//! and boot partition, `shellcheck` on every shell script, `systemd-analyze verify` on the units.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flotilla::flash::firstboot::{self, Generation, NodeSettings, Role, Wifi};

const EDGED: &str = env!("CARGO_BIN_EXE_edged");
const UNITS: [&str; 3] = [
    "edged-server.service",
    "edged-agent.service",
    "edged-master.service",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Fails under CI=true when a tool is missing; elsewhere says so and lets the test return.
fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let msg = format!("{tool} is not installed");
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("skipping: {msg}");
    }
    found
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn install(root: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new("sh")
        .arg(repo().join("install.sh"))
        .args(args)
        .env("INSTALL_ROOT", root)
        .env_remove("FLOTILLA_URL")
        .env_remove("FLOTILLA_TOKEN")
        .env_remove("FLOTILLA_ROLE")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn install_sh_installs_an_agent_with_a_private_token_and_uninstalls_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let out = install(
        &root,
        &[
            ("FLOTILLA_BINARY", EDGED),
            ("FLOTILLA_SKIP_CHECK", "1"),
            ("FLOTILLA_URL", "https://pi-1:7443"),
            ("FLOTILLA_TOKEN", "EDGE1.abc.node.secret"),
        ],
        &[],
    );
    assert_ok(&out);
    let edged = root.join("usr/local/bin/edged");
    assert_eq!(fs::read(&edged).unwrap(), fs::read(EDGED).unwrap());
    assert_eq!(mode(&edged), 0o755);
    let unit = root.join("etc/systemd/system/edged-agent.service");
    assert_eq!(
        fs::read_to_string(&unit).unwrap(),
        fs::read_to_string(repo().join("systemd/edged-agent.service")).unwrap()
    );
    let wants = root.join("etc/systemd/system/multi-user.target.wants/edged-agent.service");
    assert_eq!(
        fs::read_link(&wants).unwrap(),
        Path::new("/etc/systemd/system/edged-agent.service")
    );
    let env = root.join("etc/flotilla/edged.env");
    assert_eq!(mode(&env), 0o600, "the token file is root-only");
    assert_eq!(mode(&root.join("etc/flotilla")), 0o700);
    let text = fs::read_to_string(&env).unwrap();
    assert!(text.contains("FLOTILLA_URL=https://pi-1:7443\n"));
    assert!(text.contains("FLOTILLA_TOKEN=EDGE1.abc.node.secret\n"));
    assert!(!root
        .join("etc/systemd/system/edged-server.service")
        .exists());

    let uninstall = root.join("usr/local/bin/flotilla-uninstall.sh");
    assert!(uninstall.exists());
    assert_ok(&install(&root, &[], &["--uninstall"]));
    for gone in [&edged, &unit, &wants, &env, &uninstall] {
        assert!(!gone.exists(), "{} left behind", gone.display());
    }
}

#[test]
fn install_sh_installs_a_server_by_default_and_refuses_half_an_agent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let base = [("FLOTILLA_BINARY", EDGED), ("FLOTILLA_SKIP_CHECK", "1")];
    assert_ok(&install(&root, &base, &[]));
    assert!(root
        .join("etc/systemd/system/edged-server.service")
        .exists());
    let env = fs::read_to_string(root.join("etc/flotilla/edged.env")).unwrap();
    assert!(!env.contains("FLOTILLA_TOKEN"));

    let other = dir.path().join("other");
    let half = install(
        &other,
        &[base[0], base[1], ("FLOTILLA_URL", "https://pi-1:7443")],
        &[],
    );
    assert!(!half.status.success());
    assert!(String::from_utf8_lossy(&half.stderr).contains("both FLOTILLA_URL and FLOTILLA_TOKEN"));
    let evil = install(
        &other,
        &[
            base[0],
            base[1],
            ("FLOTILLA_URL", "https://pi-1:7443"),
            ("FLOTILLA_TOKEN", "x\nFOO=1"),
        ],
        &[],
    );
    assert!(
        !evil.status.success(),
        "a token cannot inject lines into the env file"
    );
    assert!(
        !other.join("usr/local/bin/edged").exists(),
        "nothing installed on refusal"
    );
}

#[test]
fn install_sh_runs_edged_check_first_and_stops_when_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("edged");
    fs::write(
        &fake,
        "#!/bin/sh\ncase \"$1\" in --version) echo edged 0;; check) echo 'memory cgroup: disabled' >&2; exit 1;; esac\n",
    )
    .unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let root = dir.path().join("root");
    let out = install(&root, &[("FLOTILLA_BINARY", fake.to_str().unwrap())], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("memory cgroup: disabled") && stderr.contains("edged check failed"),
        "{stderr}"
    );
    assert!(!root.join("usr/local/bin/edged").exists());
}

/// Lays out a boot partition as `edgectl flash` writes it (from the same renderer).
fn boot_partition(dir: &Path, generation: Generation) -> PathBuf {
    let boot = dir.join("boot");
    let keys = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx7 me@laptop\n";
    let settings = NodeSettings::new(
        "pi-7",
        Role::agent("https://pi-1:7443", "EDGE1.abc.def.ghi").unwrap(),
        "pi",
        Some(keys),
        Some(Wifi::new("home", "correct horse", None).unwrap()),
    )
    .unwrap();
    let mut files = firstboot::render(&settings, generation);
    files.push(firstboot::BootFile {
        path: "flotilla/edged".into(),
        contents: b"#!/bin/sh\necho edged\n".to_vec(),
    });
    for f in files {
        let path = boot.join(&f.path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, f.contents).unwrap();
    }
    fs::write(
        boot.join("cmdline.txt"),
        "root=PARTUUID=1-02 rootwait cgroup_memory=1 cgroup_enable=memory systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target\n",
    )
    .unwrap();
    boot
}

fn fake_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(
        root.join("etc/hosts"),
        "127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n",
    )
    .unwrap();
    root
}

#[test]
fn firstrun_installs_edged_the_unit_and_token_then_removes_its_hook() {
    let dir = tempfile::tempdir().unwrap();
    let boot = boot_partition(dir.path(), Generation::Firstrun);
    let root = fake_root(dir.path());
    let out = Command::new("sh")
        .arg(boot.join("firstrun.sh"))
        .env("FLOTILLA_BOOT", &boot)
        .env("FLOTILLA_ROOT", &root)
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(
        fs::read_to_string(root.join("usr/local/bin/edged")).unwrap(),
        "#!/bin/sh\necho edged\n"
    );
    assert_eq!(mode(&root.join("usr/local/bin/edged")), 0o755);
    let env = root.join("etc/flotilla/edged.env");
    assert_eq!(mode(&env), 0o600);
    assert!(fs::read_to_string(&env)
        .unwrap()
        .contains("FLOTILLA_TOKEN=EDGE1.abc.def.ghi"));
    assert!(root.join("etc/systemd/system/edged-agent.service").exists());
    let wants = root.join("etc/systemd/system/multi-user.target.wants/edged-agent.service");
    assert_eq!(
        fs::read_link(&wants).unwrap(),
        Path::new("/etc/systemd/system/edged-agent.service")
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/hostname")).unwrap(),
        "pi-7\n"
    );
    assert!(fs::read_to_string(root.join("etc/hosts"))
        .unwrap()
        .contains("127.0.1.1\tpi-7\n"));
    let keys = root.join("home/pi/.ssh/authorized_keys");
    assert!(fs::read_to_string(&keys)
        .unwrap()
        .starts_with("ssh-ed25519 "));
    assert_eq!(mode(&keys), 0o600);
    let wifi = root.join("etc/NetworkManager/system-connections/flotilla-wifi.nmconnection");
    assert!(fs::read_to_string(&wifi).unwrap().contains("ssid=home\n"));
    assert_eq!(mode(&wifi), 0o600);

    let cmdline = fs::read_to_string(boot.join("cmdline.txt")).unwrap();
    assert_eq!(
        cmdline,
        "root=PARTUUID=1-02 rootwait cgroup_memory=1 cgroup_enable=memory\n"
    );
    assert!(
        !boot.join("firstrun.sh").exists(),
        "the hook removes itself"
    );
    assert!(
        !boot.join("flotilla").exists(),
        "token and passphrase are gone from the boot partition"
    );
}

#[test]
fn firstboot_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let root = fake_root(dir.path());
    for round in 0..2 {
        let boot = boot_partition(
            &dir.path().join(format!("round{round}")),
            Generation::CloudInit,
        );
        let out = Command::new("sh")
            .arg(boot.join("flotilla/firstboot.sh"))
            .env("FLOTILLA_ROOT", &root)
            .output()
            .unwrap();
        assert_ok(&out);
        assert!(!boot.join("flotilla").exists());
    }
    let hosts = fs::read_to_string(root.join("etc/hosts")).unwrap();
    assert_eq!(
        hosts.matches("pi-7").count(),
        0,
        "cloud-init images set the hostname themselves"
    );
    assert!(root.join("etc/systemd/system/edged-agent.service").exists());
    assert_eq!(mode(&root.join("etc/flotilla/edged.env")), 0o600);
}

#[test]
fn shell_scripts_pass_shellcheck() {
    if !have("shellcheck") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    assert_ok(&install(
        &root,
        &[("FLOTILLA_BINARY", EDGED), ("FLOTILLA_SKIP_CHECK", "1")],
        &[],
    ));
    let scripts = [
        repo().join("install.sh"),
        repo().join("firmware-configs/raspberry-pi/firstboot.sh"),
        repo().join("firmware-configs/raspberry-pi/firstrun.sh"),
        repo().join(".ci/packaging.sh"),
        root.join("usr/local/bin/flotilla-uninstall.sh"),
    ];
    let out = Command::new("shellcheck").args(&scripts).output().unwrap();
    assert_ok(&out);
}

#[test]
fn units_pass_systemd_analyze_verify() {
    if !have("systemd-analyze") {
        return;
    }
    // verify insists that ExecStart= exists and is executable; point it at a binary that does.
    let dir = tempfile::tempdir().unwrap();
    for unit in UNITS {
        let text = fs::read_to_string(repo().join("systemd").join(unit)).unwrap();
        assert!(text.contains("ExecStart=/usr/local/bin/edged "), "{unit}");
        fs::write(
            dir.path().join(unit),
            text.replace("/usr/local/bin/edged", EDGED),
        )
        .unwrap();
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(UNITS.map(|u| dir.path().join(u)))
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn container_units_have_what_the_runtime_needs() {
    for unit in ["edged-server.service", "edged-agent.service"] {
        let text = fs::read_to_string(repo().join("systemd").join(unit)).unwrap();
        for line in [
            "Type=notify",
            "WatchdogSec=30s",
            "Delegate=yes",
            "KillMode=process",
            "Restart=always",
            "LimitNOFILE=1048576",
            "TasksMax=80%",
            "EnvironmentFile=-/etc/flotilla/edged.env",
            "ExecStartPre=-/sbin/modprobe overlay",
            "ExecStartPre=-/sbin/modprobe br_netfilter",
            "After=network-online.target",
            "Wants=network-online.target",
        ] {
            assert!(text.lines().any(|l| l == line), "{unit} lacks {line}");
        }
        for inherited in [
            "NoNewPrivileges=",
            "SystemCallFilter=",
            "ProtectSystem=",
            "PrivateTmp=",
            "RestrictNamespaces=",
        ] {
            assert!(
                !text.lines().any(|l| l.starts_with(inherited)),
                "{unit} sets {inherited}, which containers would inherit"
            );
        }
    }
}
