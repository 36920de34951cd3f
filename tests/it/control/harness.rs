//! A real master for tests: `edged master` started from the built binary on 127.0.0.1 with a
//! free port and a temporary data directory, plus `edgectl` runs against it and in-process
//! HTTPS clients. Other areas (controllers, cluster) reuse it:
//! `use crate::control::harness::Master;`.
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use flotilla::cli::client::Client;
use flotilla::pki::{Credential, Pki, Role};

/// How long a master may take to start listening (a debug build on a loaded 2-core machine).
const START_WAIT: Duration = Duration::from_secs(60);
/// How long a master may take to exit after SIGTERM.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// The `edged` binary under test.
pub fn edged_bin() -> &'static str {
    env!("CARGO_BIN_EXE_edged")
}

/// The `edgectl` binary under test.
pub fn edgectl_bin() -> &'static str {
    env!("CARGO_BIN_EXE_edgectl")
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// A running `edged master` process with its own data directory.
pub struct Master {
    /// Owns the data directory (deleted on drop).
    dir: tempfile::TempDir,
    /// The API port on 127.0.0.1.
    pub port: u16,
    /// Extra arguments given at every start.
    extra_args: Vec<String>,
    child: Option<Child>,
}

impl Master {
    /// Starts a master in a fresh data directory on a free port and waits until it serves.
    pub fn start() -> Master {
        Master::start_with(&[])
    }

    /// A master that serves the API and store only (`--api-only`): no scheduler or controllers
    /// touch what a test writes, so the API surface (tables, cascading deletes, durability) is
    /// checked on its own. The `brain` tests run the controllers.
    pub fn start_api_only() -> Master {
        Master::start_with(&["--api-only"])
    }

    /// [`Master::start`] with extra `edged master` arguments.
    pub fn start_with(extra_args: &[&str]) -> Master {
        let dir = tempfile::Builder::new()
            .prefix("flotilla-master-")
            .tempdir()
            .expect("make a data directory");
        let mut master = Master {
            dir,
            port: free_port(),
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            child: None,
        };
        master.spawn();
        master
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "the master is running already");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the master log");
        let child = Command::new(edged_bin())
            .arg("master")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--listen")
            .arg(self.address().to_string())
            .args(&self.extra_args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start edged master");
        self.child = Some(child);
        self.wait_until_serving();
    }

    fn wait_until_serving(&mut self) {
        let deadline = Instant::now() + START_WAIT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("poll the master"))
            {
                panic!("edged master exited with {status}:\n{}", self.log());
            }
            if self.admin_conf().exists() && TcpStream::connect(self.address()).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "edged master did not listen within {START_WAIT:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// 127.0.0.1 and the API port.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.address())
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The admin credential the master wrote.
    pub fn admin_conf(&self) -> PathBuf {
        self.data_dir().join("admin.conf")
    }

    fn log_path(&self) -> PathBuf {
        self.data_dir().join("master.log")
    }

    /// What the master logged so far (all its starts).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The master's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the master is running").id()
    }

    /// Kills the master with SIGKILL and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the master with SIGTERM and waits for it to exit; returns whether it exited
    /// cleanly (status 0).
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        // SAFETY: kill(2) on the pid of a child we have not reaped yet; no memory involved.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_WAIT;
        loop {
            if let Some(status) = child.try_wait().expect("poll the master") {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the master again on the same port and data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts a master that was killed or stopped.
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// Runs `edgectl` with the admin credential.
    pub fn edgectl(&self, args: &[&str]) -> Output {
        self.edgectl_with(args, None)
    }

    /// Runs `edgectl` with the admin credential, feeding `stdin`.
    pub fn edgectl_with(&self, args: &[&str], stdin: Option<&str>) -> Output {
        edgectl(&self.admin_conf(), args, stdin)
    }

    /// The admin credential.
    pub fn admin_credential(&self) -> Credential {
        Credential::load(&self.admin_conf()).expect("load admin.conf")
    }

    /// An in-process client with the admin credential.
    pub fn admin_client(&self) -> Client {
        Client::new(&self.admin_credential(), None).expect("an admin client")
    }

    /// The cluster PKI, loaded from the data directory (to issue test certificates).
    pub fn pki(&self) -> Pki {
        Pki::load_or_create(&self.data_dir().join("pki"), &[]).expect("load the cluster PKI")
    }

    /// A credential for `role`, signed by the cluster CA.
    pub fn credential_for(&self, role: &Role) -> Credential {
        self.pki()
            .credential(role, &self.url(), Duration::from_secs(3600))
            .expect("issue a credential")
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs `edgectl` with `credential` (via `EDGECONFIG`), optionally feeding `stdin`.
pub fn edgectl(credential: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(edgectl_bin())
        .args(args)
        .env("EDGECONFIG", credential)
        .env_remove("HOME")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run edgectl");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(text.as_bytes())
            .expect("feed edgectl");
    }
    child.wait_with_output().expect("wait for edgectl")
}

/// stdout of a successful run; panics with both streams otherwise.
pub fn ok(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "edgectl failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}

/// stderr of a failed run (exit status 1); panics otherwise.
pub fn fails(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "edgectl should have failed with status 1:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stderr
}

/// Writes `text` to `name` in a fresh temporary directory, returning both.
pub fn manifest_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write the manifest");
    (dir, path)
}
