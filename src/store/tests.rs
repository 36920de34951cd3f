//! Store behaviour against real redb files in temporary directories.
use std::time::Duration;

use serde_json::json;

use super::*;

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("store.redb")).unwrap()
}

fn pod(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        kind: Kind::Pod,
        namespace: Some(namespace.into()),
        name: name.into(),
    }
}

fn node(name: &str) -> ObjectKey {
    ObjectKey {
        kind: Kind::Node,
        namespace: None,
        name: name.into(),
    }
}

fn pod_body(image: &str) -> Object {
    json!({"spec": {"containers": [{"name": "c", "image": image}]}})
}

fn version(object: &Object) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn names(objects: &[Object]) -> Vec<String> {
    objects
        .iter()
        .map(|o| {
            let ns = o["metadata"]["namespace"].as_str().unwrap_or("");
            format!("{ns}/{}", o["metadata"]["name"].as_str().unwrap())
        })
        .collect()
}

#[test]
fn created_objects_can_be_read_back_with_store_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let created = store
        .create(&pod("default", "web"), pod_body("nginx"))
        .unwrap();
    assert_eq!(store.revision(), 1);
    assert_eq!(version(&created), 1);
    assert_eq!(created["metadata"]["generation"], 1);
    let uid = created["metadata"]["uid"].as_str().unwrap();
    assert_eq!(uid.len(), 36);
    assert_eq!(&uid[14..15], "4", "a version 4 uuid: {uid}");
    assert_eq!(store.get(&pod("default", "web")).unwrap(), created);
}

#[test]
fn creating_an_existing_object_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .create(&pod("default", "web"), pod_body("nginx"))
        .unwrap();
    let again = store.create(&pod("default", "web"), pod_body("nginx"));
    assert!(matches!(again, Err(StoreError::AlreadyExists(_))));
    assert_eq!(store.revision(), 1);
}

#[test]
fn missing_objects_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let key = pod("default", "web");
    assert!(matches!(store.get(&key), Err(StoreError::NotFound(_))));
    assert!(matches!(
        store.update(&key, pod_body("nginx")),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete(&key, None),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn lists_are_sorted_by_namespace_then_name_and_filtered_by_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for (ns, name) in [
        ("kube", "b"),
        ("default", "z"),
        ("default", "a"),
        ("defaultx", "a"),
    ] {
        store.create(&pod(ns, name), pod_body("nginx")).unwrap();
    }
    store.create(&node("pi-1"), json!({})).unwrap();
    let (all, revision) = store.list(Kind::Pod, None).unwrap();
    assert_eq!(
        names(&all),
        ["default/a", "default/z", "defaultx/a", "kube/b"]
    );
    assert_eq!(revision, 5);
    let (default, _) = store.list(Kind::Pod, Some("default")).unwrap();
    assert_eq!(names(&default), ["default/a", "default/z"]);
    let (nodes, _) = store.list(Kind::Node, None).unwrap();
    assert_eq!(names(&nodes), ["/pi-1"]);
}

#[test]
fn updates_keep_identity_and_bump_generation_only_on_spec_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let key = pod("default", "web");
    let created = store.create(&key, pod_body("nginx")).unwrap();

    let mut with_status = created.clone();
    with_status["status"] = json!({"phase": "Running"});
    let status_updated = store.update(&key, with_status).unwrap();
    assert_eq!(status_updated["metadata"]["generation"], 1);
    assert_eq!(version(&status_updated), 2);

    let spec_updated = store.update(&key, pod_body("nginx:1.27")).unwrap();
    assert_eq!(spec_updated["metadata"]["generation"], 2);
    assert_eq!(version(&spec_updated), 3);
    assert_eq!(spec_updated["metadata"]["uid"], created["metadata"]["uid"]);
    assert_eq!(
        spec_updated["metadata"]["creationTimestamp"],
        created["metadata"]["creationTimestamp"]
    );
}

#[test]
fn an_update_that_changes_nothing_uses_no_revision() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let key = pod("default", "web");
    let created = store.create(&key, pod_body("nginx")).unwrap();
    let unchanged = store.update(&key, pod_body("nginx")).unwrap();
    assert_eq!(unchanged, created);
    assert_eq!(store.revision(), 1);
}

#[tokio::test]
async fn reads_watches_and_unchanged_updates_leave_the_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let store = Store::open(&path).unwrap();
    let key = pod("default", "web");
    store.create(&key, pod_body("nginx")).unwrap();
    let token = store
        .create_token(
            &"0".repeat(64),
            Duration::from_secs(60),
            "",
            SystemTime::now(),
        )
        .unwrap();
    let before = std::fs::read(&path).unwrap();

    store.get(&key).unwrap();
    store.list(Kind::Pod, None).unwrap();
    store.update(&key, pod_body("nginx")).unwrap();
    store
        .batch(vec![Op::Update(key.clone(), pod_body("nginx"))])
        .unwrap();
    let _watch = store.watch(None, None, store.revision()).unwrap();
    store.list_tokens().unwrap();
    store.prune_expired_tokens(SystemTime::now()).unwrap();
    assert!(store.revoke_token("absent").is_err());
    let wrong = crate::pki::token::JoinToken::parse(&format!(
        "EDGE1.{}.{}.aaaaaaaaaaaaaaaa",
        "0".repeat(64),
        token.id()
    ))
    .unwrap();
    assert!(store.consume_token(&wrong, SystemTime::now()).is_err());

    assert!(
        std::fs::read(&path).unwrap() == before,
        "the store file changed"
    );
}

#[test]
fn stale_resource_versions_conflict_on_update_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let key = pod("default", "web");
    let first = store.create(&key, pod_body("nginx")).unwrap();
    let mut second = first.clone();
    second["spec"]["containers"][0]["image"] = json!("nginx:2");
    store.update(&key, second).unwrap();

    let mut stale = first.clone();
    stale["spec"]["containers"][0]["image"] = json!("nginx:3");
    assert!(matches!(
        store.update(&key, stale),
        Err(StoreError::Conflict {
            given: 1,
            current: 2,
            ..
        })
    ));
    assert!(matches!(
        store.delete(&key, Some(1)),
        Err(StoreError::Conflict {
            given: 1,
            current: 2,
            ..
        })
    ));
    let deleted = store.delete(&key, Some(2)).unwrap();
    assert_eq!(version(&deleted), 3);
    assert!(matches!(store.get(&key), Err(StoreError::NotFound(_))));
}

#[test]
fn a_failing_operation_leaves_the_whole_batch_unapplied() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .create(&pod("default", "exists"), pod_body("nginx"))
        .unwrap();
    let result = store.batch(vec![
        Op::Create(pod("default", "new"), pod_body("nginx")),
        Op::Delete(pod("default", "exists"), None),
        Op::Create(pod("default", "new"), pod_body("nginx")),
    ]);
    assert!(matches!(result, Err(StoreError::AlreadyExists(_))));
    assert_eq!(store.revision(), 1);
    assert!(store.get(&pod("default", "exists")).is_ok());
    assert!(matches!(
        store.get(&pod("default", "new")),
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_failed_batch_publishes_no_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut watch = store.watch(None, None, 0).unwrap();
    let failed = store.batch(vec![
        Op::Create(pod("default", "a"), pod_body("nginx")),
        Op::Update(pod("default", "missing"), pod_body("nginx")),
    ]);
    assert!(matches!(failed, Err(StoreError::NotFound(_))));
    store
        .create(&pod("default", "b"), pod_body("nginx"))
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (event.revision, event.object["metadata"]["name"].as_str()),
        (1, Some("b"))
    );
}

#[test]
fn a_batch_commits_consecutive_revisions_and_sees_its_own_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let results = store
        .batch(vec![
            Op::Create(pod("default", "a"), pod_body("nginx")),
            Op::Update(pod("default", "a"), pod_body("nginx:2")),
            Op::Create(pod("default", "b"), pod_body("nginx")),
            Op::Delete(pod("default", "a"), Some(2)),
        ])
        .unwrap();
    let versions: Vec<u64> = results.iter().map(version).collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    assert_eq!(store.revision(), 4);
    let (left, revision) = store.list(Kind::Pod, None).unwrap();
    assert_eq!(names(&left), ["default/b"]);
    assert_eq!(revision, 4);
}

#[test]
fn acknowledged_writes_survive_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let created = {
        let store = open(&dir);
        store
            .create(&pod("default", "web"), pod_body("nginx"))
            .unwrap();
        store.create(&node("pi-1"), json!({})).unwrap()
    };
    let store = open(&dir);
    assert_eq!(store.revision(), 2);
    assert_eq!(store.get(&node("pi-1")).unwrap(), created);
    let next = store
        .create(&pod("default", "api"), pod_body("nginx"))
        .unwrap();
    assert_eq!(version(&next), 3);
}

#[test]
fn keys_that_do_not_fit_their_kind_are_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let bad = ObjectKey {
        kind: Kind::Node,
        namespace: Some("default".into()),
        name: "pi-1".into(),
    };
    assert!(matches!(
        store.create(&bad, json!({})),
        Err(StoreError::Invalid(_))
    ));
    let mismatched = json!({"metadata": {"name": "other"}});
    let error = store
        .create(&pod("default", "web"), mismatched)
        .unwrap_err();
    assert!(error.to_string().contains("metadata.name"), "{error}");
}

mod watching {
    use super::*;

    async fn next(watch: &mut Watch) -> WatchEvent {
        tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("an event within 10 s")
            .expect("an open watch")
            .expect("no error")
    }

    fn summary(event: &WatchEvent) -> (EventType, String, u64) {
        let name = event.object["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        (event.event_type, name, event.revision)
    }

    #[tokio::test]
    async fn a_watch_replays_history_then_follows_live_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let key = pod("default", "web");
        store.create(&key, pod_body("nginx")).unwrap();
        store.update(&key, pod_body("nginx:2")).unwrap();
        let mut watch = store.watch(Some(Kind::Pod), None, 1).unwrap();
        assert_eq!(
            summary(&next(&mut watch).await),
            (EventType::Modified, "web".into(), 2)
        );
        store.delete(&key, None).unwrap();
        let deleted = next(&mut watch).await;
        assert_eq!(summary(&deleted), (EventType::Deleted, "web".into(), 3));
        assert_eq!(deleted.object["metadata"]["resourceVersion"], "3");
    }

    #[tokio::test]
    async fn a_watch_sees_only_its_kind_and_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let mut watch = store.watch(Some(Kind::Pod), Some("default"), 0).unwrap();
        store.create(&node("pi-1"), json!({})).unwrap();
        store.create(&pod("other", "a"), pod_body("nginx")).unwrap();
        store
            .create(&pod("default", "b"), pod_body("nginx"))
            .unwrap();
        assert_eq!(
            summary(&next(&mut watch).await),
            (EventType::Added, "b".into(), 3)
        );
        let mut everything = store.watch(None, None, 0).unwrap();
        assert_eq!(next(&mut everything).await.revision, 1);
        assert_eq!(next(&mut everything).await.revision, 2);
    }

    #[tokio::test]
    async fn a_watch_resumes_where_a_previous_one_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        for name in ["a", "b", "c"] {
            store
                .create(&pod("default", name), pod_body("nginx"))
                .unwrap();
        }
        let mut first = store.watch(None, None, 0).unwrap();
        let seen = next(&mut first).await.revision;
        drop(first);
        let mut resumed = store.watch(None, None, seen).unwrap();
        assert_eq!(summary(&next(&mut resumed).await).1, "b");
        assert_eq!(summary(&next(&mut resumed).await).1, "c");
    }

    #[tokio::test]
    async fn watching_from_before_the_kept_history_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            history_events_max: 2,
            ..StoreOptions::default()
        };
        let store = Store::open_with(&dir.path().join("store.redb"), options).unwrap();
        for name in ["a", "b", "c", "d"] {
            store
                .create(&pod("default", name), pod_body("nginx"))
                .unwrap();
        }
        assert!(matches!(
            store.watch(None, None, 1),
            Err(StoreError::Gone {
                requested: 1,
                oldest: 2
            })
        ));
        let mut kept = store.watch(None, None, 2).unwrap();
        assert_eq!(next(&mut kept).await.revision, 3);
    }

    #[tokio::test]
    async fn after_a_restart_only_the_current_revision_can_be_watched() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(&dir);
            store
                .create(&pod("default", "a"), pod_body("nginx"))
                .unwrap();
            store
                .create(&pod("default", "b"), pod_body("nginx"))
                .unwrap();
        }
        let store = open(&dir);
        assert!(matches!(
            store.watch(None, None, 1),
            Err(StoreError::Gone {
                requested: 1,
                oldest: 2
            })
        ));
        let mut watch = store.watch(None, None, 2).unwrap();
        store
            .create(&pod("default", "c"), pod_body("nginx"))
            .unwrap();
        assert_eq!(summary(&next(&mut watch).await).1, "c");
    }

    #[tokio::test]
    async fn a_lagging_watcher_catches_up_from_history() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            live_events_max: 2,
            ..StoreOptions::default()
        };
        let store = Store::open_with(&dir.path().join("store.redb"), options).unwrap();
        let mut watch = store.watch(None, None, 0).unwrap();
        let ops = (0..10)
            .map(|i| Op::Create(pod("default", &format!("p{i}")), pod_body("nginx")))
            .collect();
        store.batch(ops).unwrap();
        for revision in 1..=10 {
            assert_eq!(next(&mut watch).await.revision, revision);
        }
    }

    #[tokio::test]
    async fn a_watcher_lagging_beyond_history_is_told_to_relist() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            live_events_max: 2,
            history_events_max: 4,
            ..StoreOptions::default()
        };
        let store = Store::open_with(&dir.path().join("store.redb"), options).unwrap();
        let mut watch = store.watch(None, None, 0).unwrap();
        let ops = (0..10)
            .map(|i| Op::Create(pod("default", &format!("p{i}")), pod_body("nginx")))
            .collect();
        store.batch(ops).unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .unwrap();
        assert!(
            matches!(outcome, Some(Err(StoreError::Gone { .. }))),
            "{outcome:?}"
        );
        assert!(watch.next().await.is_none());
    }

    #[tokio::test]
    async fn a_watch_ends_when_the_store_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let mut watch = store.watch(None, None, 0).unwrap();
        drop(store);
        let outcome = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .unwrap();
        assert!(outcome.is_none());
    }
}

mod tokens {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::*;
    use crate::pki::token::JoinToken;

    const PIN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_320_444)
    }

    #[test]
    fn a_fresh_token_can_be_used_and_its_uses_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let token = store.create_token(PIN, DAY, "pi-2", now()).unwrap();
        assert_eq!(token.ca_pin(), PIN);
        store.consume_token(&token, now()).unwrap();
        store.consume_token(&token, now() + DAY / 2).unwrap();
        let listed = store.list_tokens().unwrap();
        assert_eq!(
            listed,
            [TokenRecord {
                id: token.id().to_string(),
                expires: now() + DAY,
                uses: 2,
                description: "pi-2".into(),
                created: now(),
            }]
        );
    }

    #[test]
    fn the_store_file_never_holds_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let token = {
            let store = Store::open(&path).unwrap();
            store.create_token(PIN, DAY, "", now()).unwrap()
        };
        let bytes = std::fs::read(&path).unwrap();
        let secret = token.secret().as_bytes();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret));
        let listed =
            serde_json::to_string(&Store::open(&path).unwrap().list_tokens().unwrap()).unwrap();
        assert!(!listed.contains(token.secret()));
    }

    #[test]
    fn expired_revoked_and_wrong_tokens_are_refused_distinctly() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let token = store.create_token(PIN, DAY, "", now()).unwrap();

        let expired = store.consume_token(&token, now() + DAY).unwrap_err();
        assert!(matches!(expired, TokenError::Expired { .. }), "{expired}");
        assert!(expired
            .to_string()
            .contains("expired at 2026-11-23T04:07:24Z"));

        let forged =
            JoinToken::parse(&format!("EDGE1.{PIN}.{}.aaaaaaaaaaaaaaaa", token.id())).unwrap();
        let wrong = store.consume_token(&forged, now()).unwrap_err();
        assert!(matches!(wrong, TokenError::WrongSecret { .. }), "{wrong}");

        store.revoke_token(token.id()).unwrap();
        let revoked = store.consume_token(&token, now()).unwrap_err();
        assert_eq!(
            revoked.to_string(),
            format!("unknown or revoked token id {:?}", token.id())
        );
        assert!(matches!(
            store.revoke_token(token.id()),
            Err(TokenError::Revoked { .. })
        ));
        assert!(store.list_tokens().unwrap().is_empty());
    }

    #[test]
    fn pruning_removes_only_expired_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        store.create_token(PIN, DAY, "short", now()).unwrap();
        let long = store.create_token(PIN, 2 * DAY, "long", now()).unwrap();
        assert_eq!(store.prune_expired_tokens(now() + DAY).unwrap(), 1);
        let left: Vec<_> = store
            .list_tokens()
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(left, [long.id().to_string()]);
    }

    #[test]
    fn token_writes_do_not_move_the_object_revision() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let token = store.create_token(PIN, DAY, "", now()).unwrap();
        store.consume_token(&token, now()).unwrap();
        assert_eq!(store.revision(), 0);
    }
}
