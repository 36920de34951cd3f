//! The runtime helper process: started on first use, closed by the agent when idle, started
//! again by the next request.
use std::path::Path;
use std::time::Duration;

use flotilla::agent::runtime::helper::{HelperClient, Request};

#[test]
fn an_idle_helper_is_closed_and_the_next_request_starts_a_new_one() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let state_root = tempfile::tempdir().unwrap();
    runtime.block_on(async {
        let client = HelperClient::with_idle_close(
            Path::new(env!("CARGO_BIN_EXE_edged")),
            Duration::from_secs(3),
        );
        assert_eq!(
            client.helper_pid().await,
            None,
            "no helper before the first request"
        );
        let request = || Request::Delete {
            id: "no-such-container".to_string(),
            state_root: state_root.path().to_path_buf(),
        };
        let _ = client.call(request()).await;
        let first = client
            .helper_pid()
            .await
            .expect("a helper after the first request");
        assert!(Path::new(&format!("/proc/{first}")).exists());
        // Requests keep it: one a second for 4 s (longer than the 3 s idle time, with 2 s to
        // spare on a loaded machine), the same helper serves them all.
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = client.call(request()).await;
            assert_eq!(client.helper_pid().await, Some(first));
        }
        // Idle: closed (and reaped: no zombie left behind).
        let mut waited = Duration::ZERO;
        while client.helper_pid().await.is_some() {
            assert!(
                waited < Duration::from_secs(15),
                "the idle helper was not closed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += Duration::from_millis(100);
        }
        let mut waited = Duration::ZERO;
        while Path::new(&format!("/proc/{first}")).exists() {
            assert!(
                waited < Duration::from_secs(10),
                "helper {first} still exists after closing"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += Duration::from_millis(100);
        }
        // The next request starts a new helper and is answered.
        let _ = client.call(request()).await;
        let second = client.helper_pid().await.expect("a new helper");
        assert_ne!(second, first);
    });
}
