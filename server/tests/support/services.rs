//! A Mosquitto and a PostgreSQL that a test owns, so it can stop and restart them mid-stream
//! without disturbing other tests. Both are the real servers from the machine's packages.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_until_listening(port: u16, what: &str) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not listen on port {port}");
}

fn scratch_dir(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(super::unique_name(kind));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The broker settings Lookout's at-least-once storage needs (see docs/ingest.md): queues large
/// enough to hold what arrives while Lookout holds back, no cap on messages in flight, and
/// persistence so a broker restart keeps the queued messages.
pub const BROKER_SETTINGS: &str = "\
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 0
persistence true
autosave_interval 1
";

pub struct TestBroker {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl TestBroker {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A broker that admits only `user` with `password`.
    pub async fn start_with_login(user: &str, password: &str) -> Self {
        Self::start_with(Some((user, password))).await
    }

    async fn start_with(login: Option<(&str, &str)>) -> Self {
        let dir = scratch_dir("mosquitto");
        // Mosquitto started as root drops to its own user, which must be able to write here.
        let _ = Command::new("chmod").arg("0777").arg(&dir).status();
        let port = free_port();
        let access = match login {
            None => "allow_anonymous true\n".to_owned(),
            Some((user, password)) => {
                let file = dir.join("passwords");
                let status = Command::new("mosquitto_passwd")
                    .args(["-c", "-b"])
                    .arg(&file)
                    .args([user, password])
                    .status()
                    .expect("mosquitto_passwd is installed with mosquitto");
                assert!(status.success());
                let _ = Command::new("chmod").arg("0644").arg(&file).status();
                format!("allow_anonymous false\npassword_file {}\n", file.display())
            }
        };
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!(
                "listener {port} 127.0.0.1\n{access}{BROKER_SETTINGS}persistence_location {}/\n\
                 log_dest file {}/mosquitto.log\n",
                dir.display(),
                dir.display()
            ),
        )
        .unwrap();
        let mut broker = Self {
            port,
            dir,
            child: None,
        };
        broker.launch().await;
        broker
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    async fn launch(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed (scripts/bootstrap.sh)");
        self.child = Some(child);
        wait_until_listening(self.port, "mosquitto").await;
    }

    /// Stops the broker the way an operator would (it saves its queues), then starts it again.
    pub async fn restart(&mut self, down_for: Duration) {
        self.stop();
        tokio::time::sleep(down_for).await;
        self.launch().await;
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The PostgreSQL server programs: on PATH on some machines, under /usr/lib/postgresql on Debian.
fn postgres_program(name: &str) -> PathBuf {
    if let Ok(path) = which(name) {
        return path;
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    versions.sort();
    versions
        .into_iter()
        .rev()
        .map(|version| version.join("bin").join(name))
        .find(|path| path.exists())
        .unwrap_or_else(|| panic!("{name} not found: install postgresql"))
}

fn which(name: &str) -> Result<PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or(())
}

/// A throwaway PostgreSQL cluster with trust authentication on a free port.
pub struct TestPostgres {
    pub port: u16,
    dir: PathBuf,
    as_postgres: bool,
}

impl TestPostgres {
    pub async fn start() -> Self {
        let dir = scratch_dir("postgres");
        // initdb refuses to run as root; the postgres user the package created runs it then.
        let as_postgres = running_as_root();
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .unwrap();
            assert!(status.success());
        }
        let cluster = Self {
            port: free_port(),
            dir,
            as_postgres,
        };
        let data = cluster.dir.join("data");
        cluster.run(
            postgres_program("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ],
        );
        cluster.launch().await;
        cluster
    }

    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, program: PathBuf, args: &[&str]) {
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        let output = command.args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{} failed: {}",
            program.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts a stopped server again.
    pub async fn launch(&self) {
        let data = self.dir.join("data");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        self.run(
            postgres_program("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                self.dir.join("postgres.log").to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        wait_until_listening(self.port, "postgres").await;
    }

    /// Stops the server, dropping every connection.
    pub fn stop(&self) {
        let data = self.dir.join("data");
        self.run(
            postgres_program("pg_ctl"),
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command
                .args(["-u", "postgres", "--"])
                .arg(postgres_program("pg_ctl"));
            command
        } else {
            Command::new(postgres_program("pg_ctl"))
        };
        let _ = command
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
