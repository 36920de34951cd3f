//! The SD-card rules: an acknowledged apply survives `kill -9`, and an idle master writes
//! nothing at all.
use std::time::Duration;

use super::apply::{MY_SERVICE, NGINX_DEPLOYMENT};
use super::harness::{manifest_file, ok, Master};

#[test]
fn an_acknowledged_apply_survives_kill_9() {
    let mut master = Master::start_api_only();
    let (_dir, file) = manifest_file("app.yaml", &format!("{NGINX_DEPLOYMENT}---\n{MY_SERVICE}"));
    ok(master.edgectl(&["apply", "-f", file.to_str().unwrap()]));
    let before = ok(master.edgectl(&["get", "deploy,svc", "-o", "json"]));
    master.kill9();
    master.start_again();
    let after = ok(master.edgectl(&["get", "deploy,svc", "-o", "json"]));
    assert_eq!(before, after);
    let again = ok(master.edgectl(&["apply", "-f", file.to_str().unwrap()]));
    assert_eq!(
        again,
        "deployment.apps/nginx-deployment unchanged\nservice/my-service unchanged\n"
    );
}

/// `write_bytes` (bytes sent to the block layer) and `wchar` (bytes passed to any write
/// call: files, sockets, logs) of a process.
fn written(pid: u32) -> (u64, u64) {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("read /proc/PID/io");
    let field = |name: &str| {
        io.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /proc/{pid}/io"))
    };
    (field("write_bytes:"), field("wchar:"))
}

#[test]
fn an_idle_master_writes_nothing() {
    let master = Master::start();
    let (_dir, file) = manifest_file("app.yaml", &format!("{NGINX_DEPLOYMENT}---\n{MY_SERVICE}"));
    ok(master.edgectl(&["apply", "-f", file.to_str().unwrap()]));
    ok(master.edgectl(&["get", "all"]));
    // The controllers and the scheduler still act on the apply after it returned (replica
    // set, pods, events, statuses), and the last connection closes with a log line: wait
    // until a second passes without a write. A master that never stops writing fails here.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut before = written(master.pid());
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = written(master.pid());
        if now == before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the master kept writing for 30 s after the apply: {before:?} then {now:?}\n{}",
            master.log()
        );
        before = now;
    }
    // The property holds for any window; ten seconds keeps the suite short.
    std::thread::sleep(Duration::from_secs(10));
    let after = written(master.pid());
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (0, 0),
        "an idle master wrote (block bytes, any bytes)"
    );
}
