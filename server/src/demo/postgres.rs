//! A private PostgreSQL cluster for the demo when no `DATABASE_URL` is given: created once with
//! the machine's `initdb` under the demo's data directory, started for the run and stopped when
//! the demo ends (also when start-up fails or is interrupted, since [`PrivatePostgres`] stops it
//! on drop).
//!
//! It listens on a Unix socket inside its own directory and on no TCP port: no free port to
//! race for, and with `trust` authentication nobody else on the machine can connect (the
//! directory is private to its owner).

use anyhow::{bail, Context};
use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// PostgreSQL refuses to run as root; then the cluster belongs to this system user, which
/// Debian's `postgresql` package creates.
const SYSTEM_USER: &str = "postgres";
/// The socket is `.s.PGSQL.<port>` in the cluster's directory; no other server uses that
/// directory, so the standard port is never taken.
const PORT: u16 = 5432;
const DATABASE: &str = "lookout";

pub struct PrivatePostgres {
    bin: PathBuf,
    cluster: PathBuf,
    as_system_user: bool,
    running: bool,
}

impl PrivatePostgres {
    /// Creates the cluster under `data_dir` if it is not there yet, starts it, and creates the
    /// `lookout` database in it if missing.
    pub async fn start(data_dir: &Path) -> anyhow::Result<Self> {
        let bin = find_bin()?;
        let as_system_user = running_as_root()?;
        std::fs::create_dir_all(data_dir).with_context(|| {
            format!(
                "cannot create the demo's data directory {}",
                data_dir.display()
            )
        })?;
        let data_dir = data_dir
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", data_dir.display()))?;
        let cluster = data_dir.join("postgres");
        let mut postgres = Self {
            bin,
            cluster,
            as_system_user,
            running: false,
        };
        tokio::task::block_in_place(|| postgres.create_and_start())?;
        postgres.create_database().await?;
        Ok(postgres)
    }

    /// Where the cluster keeps its files (and its socket).
    pub fn directory(&self) -> &Path {
        &self.cluster
    }

    pub fn url(&self) -> String {
        url_for(&self.cluster, DATABASE)
    }

    fn create_and_start(&mut self) -> anyhow::Result<()> {
        let cluster = self.cluster.clone();
        if !cluster.join("PG_VERSION").exists() {
            self.initdb()?;
        }
        if cluster.join("postmaster.pid").exists() && self.pg_ctl(["status"])?.status.success() {
            bail!(
                "a PostgreSQL server already runs in {} (another `lookout demo`?). Stop that \
                 demo, or the server with `{} -D {} stop`",
                cluster.display(),
                self.bin.join("pg_ctl").display(),
                cluster.display()
            );
        }
        tracing::info!(cluster = %cluster.display(), "starting the demo's PostgreSQL");
        // pg_ctl hands -o to a shell, so the path is quoted for one.
        let options = format!(
            "-c listen_addresses='' -c port={PORT} -c unix_socket_directories={}",
            shell_quote(&cluster.to_string_lossy())
        );
        let log = cluster.join("server.log");
        // Set before starting: should this run be interrupted, dropping it still stops a server
        // that came up.
        self.running = true;
        let started = self.pg_ctl([
            OsStr::new("start"),
            OsStr::new("--wait"),
            OsStr::new("--timeout=60"),
            OsStr::new("--log"),
            log.as_os_str(),
            OsStr::new("-o"),
            OsStr::new(&options),
        ])?;
        if !started.status.success() {
            self.running = false;
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(10).collect();
            bail!(
                "the demo's PostgreSQL did not start: {}{}\n(from {}:)\n{}",
                String::from_utf8_lossy(&started.stdout),
                String::from_utf8_lossy(&started.stderr),
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }

    fn initdb(&self) -> anyhow::Result<()> {
        let cluster = &self.cluster;
        tracing::info!(cluster = %cluster.display(), "creating the demo's PostgreSQL cluster");
        std::fs::create_dir_all(cluster)
            .with_context(|| format!("cannot create {}", cluster.display()))?;
        if self.as_system_user {
            run(Command::new("chown")
                .arg(format!("{SYSTEM_USER}:"))
                .arg(cluster))?;
            let reachable = self.command("test").arg("-w").arg(cluster).status();
            if !reachable.is_ok_and(|status| status.success()) {
                bail!(
                    "the {SYSTEM_USER} user cannot reach {} (PostgreSQL refuses to run as root, so \
                     the demo runs it as {SYSTEM_USER}); choose a data directory it can reach with \
                     --data-dir, such as /var/lib/lookout/demo",
                    cluster.display()
                );
            }
        }
        // UTF-8 and the C locale whatever the machine's locale: the same sorting everywhere,
        // and no SQL_ASCII database where LANG is unset.
        let output = self
            .command(self.bin.join("initdb"))
            .arg("--pgdata")
            .arg(cluster)
            .args(["--auth=trust", "--username=postgres"])
            .args(["--encoding=UTF8", "--locale=C"])
            .output()
            .context("cannot run initdb")?;
        if !output.status.success() {
            bail!(
                "initdb failed for {}: {}",
                cluster.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    async fn create_database(&self) -> anyhow::Result<()> {
        use sqlx::Connection;
        let mut connection = sqlx::PgConnection::connect(&url_for(&self.cluster, "postgres"))
            .await
            .context("cannot connect to the demo's PostgreSQL")?;
        let exists = sqlx::query_scalar!(
            r#"select true as "exists!" from pg_database where datname::text = $1"#,
            DATABASE,
        )
        .fetch_optional(&mut connection)
        .await?;
        if exists.is_none() {
            // Built at run time: a database's name cannot be a parameter.
            sqlx::query(&format!("create database {DATABASE}"))
                .execute(&mut connection)
                .await
                .context("cannot create the demo's database")?;
        }
        connection.close().await?;
        Ok(())
    }

    /// Stops the server (fast: open sessions are ended, what was committed stays) and waits for
    /// it to be down.
    pub fn stop(&mut self) {
        if !std::mem::take(&mut self.running) {
            return;
        }
        tracing::info!(cluster = %self.cluster.display(), "stopping the demo's PostgreSQL");
        match self.pg_ctl(["stop", "--wait", "--mode=fast"]) {
            Ok(output) if output.status.success() => {}
            Ok(output) => tracing::warn!(
                output = %String::from_utf8_lossy(&output.stderr),
                "stopping the demo's PostgreSQL failed"
            ),
            Err(error) => tracing::warn!(error = %error, "stopping the demo's PostgreSQL failed"),
        }
    }

    fn pg_ctl<I, S>(&self, args: I) -> anyhow::Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command(self.bin.join("pg_ctl"))
            .arg("--pgdata")
            .arg(&self.cluster)
            .args(args)
            .output()
            .context("cannot run pg_ctl")
    }

    /// `program`, run as the cluster's owner. From `/`: the system user may not be allowed into
    /// the current directory, and every path given is absolute.
    fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = if self.as_system_user {
            let mut command = Command::new("runuser");
            command.args(["-u", SYSTEM_USER, "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command.current_dir("/");
        command
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A URL to the cluster's socket (`host=` a directory is libpq's and sqlx's way to say so).
fn url_for(cluster: &Path, database: &str) -> String {
    let socket_dir: String =
        url::form_urlencoded::byte_serialize(cluster.to_string_lossy().as_bytes()).collect();
    format!("postgres://postgres@localhost:{PORT}/{database}?host={socket_dir}")
}

/// The newest PostgreSQL's programs: Debian keeps each major version under
/// /usr/lib/postgresql/<version>/bin; elsewhere `initdb` is usually on PATH.
fn find_bin() -> anyhow::Result<PathBuf> {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max();
    if let Some((_, bin)) = newest {
        return Ok(bin);
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists());
    on_path.context(
        "DATABASE_URL is not set and PostgreSQL's initdb was not found (looked in \
         /usr/lib/postgresql/*/bin and on PATH): install PostgreSQL (Debian: apt-get install \
         postgresql) or set DATABASE_URL to a database the demo may use",
    )
}

/// Linux names the process's effective owner as the owner of /proc/self; no unsafe call needed.
pub(super) fn running_as_root() -> anyhow::Result<bool> {
    let owner = std::fs::metadata("/proc/self").context("cannot read /proc/self")?;
    Ok(owner.uid() == 0)
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_url_names_the_directory_and_the_database() {
        let url = url_for(Path::new("/tmp/a dir/postgres"), "lookout");
        assert_eq!(
            url,
            "postgres://postgres@localhost:5432/lookout?host=%2Ftmp%2Fa+dir%2Fpostgres"
        );
        let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
        assert_eq!(
            options.get_socket(),
            Some(&PathBuf::from("/tmp/a dir/postgres"))
        );
        assert_eq!(options.get_database(), Some("lookout"));
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(shell_quote("/tmp/it's"), r"'/tmp/it'\''s'");
    }
}
