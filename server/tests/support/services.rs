//! A Mosquitto and a PostgreSQL that a test owns, so it can stop and restart them mid-stream
//! without disturbing other tests. Both are the real servers from the machine's packages.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn free_port() -> u16 {
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
    /// Plain MQTT.
    pub port: u16,
    /// MQTT over TLS, when started with [`TestBroker::start_with_tls`].
    pub tls_port: Option<u16>,
    dir: PathBuf,
    child: Option<Child>,
}

impl TestBroker {
    pub async fn start() -> Self {
        Self::start_with(None, None, "").await
    }

    /// A broker that admits only `user` with `password`.
    pub async fn start_with_login(user: &str, password: &str) -> Self {
        Self::start_with(Some((user, password)), None, "").await
    }

    /// A broker with a plain listener and a TLS listener that presents `certificates`' server
    /// certificate and admits only clients with a certificate from the same authority.
    pub async fn start_with_tls(certificates: &TestCertificates) -> Self {
        Self::start_with(None, Some(certificates), "").await
    }

    /// A broker with `settings` (lines of mosquitto.conf) added to the usual ones.
    pub async fn start_with_settings(settings: &str) -> Self {
        Self::start_with(None, None, settings).await
    }

    async fn start_with(
        login: Option<(&str, &str)>,
        certificates: Option<&TestCertificates>,
        settings: &str,
    ) -> Self {
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
        let tls_port = certificates.map(|_| free_port());
        let tls_listener = match (certificates, tls_port) {
            (Some(certificates), Some(tls_port)) => format!(
                "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n\
                 require_certificate true\n",
                certificates.ca.display(),
                certificates.server_cert.display(),
                certificates.server_key.display()
            ),
            _ => String::new(),
        };
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!(
                "listener {port} 127.0.0.1\n{tls_listener}{access}{BROKER_SETTINGS}{settings}\n\
                 persistence_location {}/\nlog_dest file {}/mosquitto.log\n",
                dir.display(),
                dir.display()
            ),
        )
        .unwrap();
        let mut broker = Self {
            port,
            tls_port,
            dir,
            child: None,
        };
        broker.launch().await;
        broker
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// What the broker logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }

    /// Starts a stopped broker again.
    pub async fn launch(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed (scripts/bootstrap.sh)");
        self.child = Some(child);
        wait_until_listening(self.port, "mosquitto").await;
        if let Some(tls_port) = self.tls_port {
            wait_until_listening(tls_port, "mosquitto (TLS)").await;
        }
    }

    /// Stops the broker the way an operator would (it saves its queues), then starts it again.
    pub async fn restart(&mut self, down_for: Duration) {
        self.stop();
        tokio::time::sleep(down_for).await;
        self.launch().await;
    }

    /// Stops the broker the way an operator would: it saves its queues first.
    pub fn stop(&mut self) {
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

/// A private certificate authority with a server certificate (for `localhost` and 127.0.0.1)
/// and a client certificate, made with the machine's `openssl`.
pub struct TestCertificates {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    dir: PathBuf,
}

impl TestCertificates {
    pub fn generate() -> Self {
        let dir = scratch_dir("certificates");
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("openssl is installed (scripts/bootstrap.sh)");
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let new_key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=Lookout test CA"];
        ca.extend(new_key);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&ca);
        for (name, usage) in [
            (
                "server",
                "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
            ),
            ("client", "extendedKeyUsage=clientAuth\n"),
        ] {
            std::fs::write(dir.join(format!("{name}.ext")), usage).unwrap();
            let mut request = vec!["req", "-subj"];
            let subject = format!("/CN=lookout-test-{name}");
            request.push(&subject);
            request.extend(new_key);
            let (key, csr, cert, ext) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.crt"),
                format!("{name}.ext"),
            );
            request.extend(["-keyout", &key, "-out", &csr]);
            openssl(&request);
            openssl(&[
                "x509",
                "-req",
                "-days",
                "2",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &cert,
                "-extfile",
                &ext,
            ]);
        }
        // Mosquitto started as root reads them as its own user.
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("a+rX")
            .arg(&dir)
            .status();
        Self {
            ca: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
            dir,
        }
    }
}

/// A TLS acceptor presenting the certificate chain in `cert` with the key in `key` (PEM files),
/// for the test's own servers.
pub fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}

impl Drop for TestCertificates {
    fn drop(&mut self) {
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

/// A real SMTP server (Debian's aiosmtpd) on a port of its own, keeping what it receives in a
/// Maildir; stopped when dropped.
pub struct TestMailServer {
    child: std::process::Child,
    pub port: u16,
    maildir: std::path::PathBuf,
}

impl TestMailServer {
    pub async fn start() -> Self {
        let port = free_port();
        let maildir = std::env::temp_dir().join(super::unique_name("lookout-mail"));
        std::fs::create_dir_all(&maildir).unwrap();
        let child = std::process::Command::new("aiosmtpd")
            .args(["-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.join("mail"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("aiosmtpd starts (scripts/bootstrap.sh installs it)");
        let server = Self {
            child,
            port,
            maildir,
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("aiosmtpd did not listen on {port}");
    }

    /// Every message received so far, as its raw text.
    pub fn messages(&self) -> Vec<String> {
        let new = self.maildir.join("mail").join("new");
        let mut messages: Vec<String> = std::fs::read_dir(new)
            .map(|entries| {
                entries
                    .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        messages.sort();
        messages
    }
}

impl Drop for TestMailServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}
