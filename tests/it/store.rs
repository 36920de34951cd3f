//! The store across processes: what an acknowledged write is worth when the writer is killed.
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use flotilla::api::Kind;
use flotilla::store::{ObjectKey, Store};
use serde_json::json;

/// Tells the re-executed test binary to act as the writer, and where its store is.
const WRITER_STORE_ENV: &str = "FLOTILLA_TEST_STORE_WRITER";
/// Acknowledged writes to see before the writer is killed.
const ACKS_BEFORE_KILL: u64 = 25;
/// The writer gives up after this many writes, so that a lost parent cannot leave it running.
const WRITES_MAX: u64 = 100_000;

fn config_map(i: u64) -> ObjectKey {
    ObjectKey {
        kind: Kind::ConfigMap,
        namespace: Some("default".into()),
        name: format!("cm-{i}"),
    }
}

/// The child half of `acknowledged_writes_survive_kill_9`: writes until killed, printing
/// `ack <i>` after each write returns. Run only by that test, which sets the environment.
#[test]
#[ignore = "run as a child process by acknowledged_writes_survive_kill_9"]
fn kill_9_writer() {
    let path = std::env::var(WRITER_STORE_ENV).expect("run by acknowledged_writes_survive_kill_9");
    let store = Store::open(Path::new(&path)).unwrap();
    for i in 0..WRITES_MAX {
        store
            .create(&config_map(i), json!({"data": {"i": i.to_string()}}))
            .unwrap();
        println!("ack {i}");
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "store::kill_9_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WRITER_STORE_ENV, &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut last_ack = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if let Some(i) = line.unwrap().strip_prefix("ack ") {
            let i: u64 = i.parse().unwrap();
            last_ack = Some(i);
            if i + 1 == ACKS_BEFORE_KILL {
                // Child::kill sends SIGKILL: no destructor, no flush, no clean close.
                child.kill().unwrap();
                break;
            }
        }
    }
    child.wait().unwrap();
    let last_ack = last_ack.expect("the writer acknowledged writes");
    assert_eq!(last_ack + 1, ACKS_BEFORE_KILL);

    let store = Store::open(&path).unwrap();
    for i in 0..=last_ack {
        let object = store.get(&config_map(i)).unwrap();
        assert_eq!(object["data"]["i"], i.to_string());
    }
    assert!(store.revision() > last_ack);
}
