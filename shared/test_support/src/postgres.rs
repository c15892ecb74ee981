//! A throwaway PostgreSQL cluster: `initdb` + `pg_ctl` in a temporary folder, on a free port.

use crate::HarnessError;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

/// How to start the cluster.
#[derive(Debug, Clone, Copy)]
pub struct PostgresOptions {
    /// Keep `fsync` and `synchronous_commit` on, as in production. Benchmarks that claim durable
    /// storage need it; functional tests run faster without.
    pub durable: bool,
    /// `max_connections` of the server.
    pub max_connections: u32,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            durable: false,
            max_connections: 100,
        }
    }
}

/// A running PostgreSQL cluster, stopped and deleted when dropped.
///
/// The binaries come from `PATH` or `/usr/lib/postgresql/<version>/bin`. As root (CI), the
/// cluster runs as the `postgres` user, because `initdb` refuses to run as root.
#[derive(Debug)]
pub struct PostgresServer {
    dir: TempDir,
    bin_dir: PathBuf,
    port: u16,
    run_as: Option<String>,
}

impl PostgresServer {
    /// Starts a cluster with the default options.
    pub fn start() -> Result<Self, HarnessError> {
        Self::start_with(PostgresOptions::default())
    }

    /// Starts a cluster with `options`.
    pub fn start_with(options: PostgresOptions) -> Result<Self, HarnessError> {
        let bin_dir = find_bin_dir()?;
        let run_as = is_root().then(|| "postgres".to_owned());
        let dir = tempfile::Builder::new().prefix("pg-test-").tempdir()?;
        let server = Self {
            dir,
            bin_dir,
            port: crate::free_port(),
            run_as,
        };
        if let Some(user) = &server.run_as {
            std::fs::create_dir(server.data_dir())?;
            // The unprivileged user must reach its folder inside root's private temp folder.
            run(Command::new("chmod").arg("755").arg(server.dir.path()))?;
            run(Command::new("chown").arg(user).arg(server.data_dir()))?;
        }
        server.initdb()?;
        server.start_cluster(options)?;
        Ok(server)
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for `database` as the superuser `postgres` (trust authentication).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates `database` and returns its URL.
    pub fn create_database(&self, database: &str) -> Result<String, HarnessError> {
        let mut command = self.command("createdb");
        command
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .arg(database);
        run(&mut command)?;
        Ok(self.url(database))
    }

    /// The process id of the postmaster, the parent of every backend, from `postmaster.pid`.
    pub fn postmaster_pid(&self) -> Result<u32, HarnessError> {
        let pid_file = std::fs::read_to_string(self.data_dir().join("postmaster.pid"))?;
        pid_file
            .lines()
            .next()
            .and_then(|line| line.trim().parse().ok())
            .ok_or_else(|| HarnessError::NotReady("postmaster.pid holds no pid".into()))
    }

    /// Sends `signal` (a name such as `STOP` or `CONT`) to every process of the cluster: the
    /// postmaster and its children. `STOP` makes a database that stops answering without closing
    /// its connections, as a hung host or a stalled disk would.
    pub fn signal_all(&self, signal: &str) -> Result<(), HarnessError> {
        let postmaster = self.postmaster_pid()?;
        let mut pids = vec![postmaster];
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid ...`; the command name may hold spaces and parentheses.
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|ppid| ppid.parse::<u32>().ok());
            if parent == Some(postmaster) {
                pids.push(pid);
            }
        }
        let mut command = Command::new("kill");
        command
            .arg(format!("-{signal}"))
            .args(pids.iter().map(u32::to_string));
        match run(&mut command) {
            Ok(_) => Ok(()),
            // A backend whose client went away exits between the listing and the signal; only
            // the postmaster must be there.
            Err(HarnessError::CommandFailed { output, .. })
                if output.lines().all(|line| line.contains("No such process"))
                    && !output.contains(&format!("({postmaster})")) =>
            {
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let binary = self.bin_dir.join(program);
        match &self.run_as {
            Some(user) => {
                // runuser lives in /usr/sbin, which a test's PATH may leave out.
                let runuser = ["/usr/sbin/runuser", "/sbin/runuser"]
                    .into_iter()
                    .find(|path| Path::new(path).is_file())
                    .unwrap_or("runuser");
                let mut command = Command::new(runuser);
                command.args(["-u", user, "--"]).arg(binary);
                command
            }
            None => Command::new(binary),
        }
    }

    fn initdb(&self) -> Result<(), HarnessError> {
        let mut command = self.command("initdb");
        command
            .arg("-D")
            .arg(self.data_dir())
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .arg("--no-instructions");
        run(&mut command).map(drop)
    }

    fn start_cluster(&self, options: PostgresOptions) -> Result<(), HarnessError> {
        let durability = if options.durable {
            "-c fsync=on -c synchronous_commit=on"
        } else {
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        };
        let server_options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} \
             -c max_connections={} {durability}",
            self.port,
            self.data_dir().display(),
            options.max_connections,
        );
        let mut command = self.command("pg_ctl");
        command
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.data_dir().join("server.log"))
            .args(["-o", &server_options, "-w", "-t", "60", "start"]);
        run(&mut command).map(drop).map_err(|error| {
            let log =
                std::fs::read_to_string(self.data_dir().join("server.log")).unwrap_or_default();
            match error {
                HarnessError::CommandFailed { command, output } => HarnessError::CommandFailed {
                    command,
                    output: format!("{output}\nserver log:\n{log}"),
                },
                other => other,
            }
        })
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let mut command = self.command("pg_ctl");
        command
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = command.output();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Finds the folder holding `initdb` and `pg_ctl`: on `PATH`, else the newest
/// `/usr/lib/postgresql/<version>/bin`.
fn find_bin_dir() -> Result<PathBuf, HarnessError> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    // PATH may hold symlinks to the real folder (which also has createdb): follow them.
    if let Some(dir) = on_path
        .into_iter()
        .filter_map(|dir| std::fs::canonicalize(dir.join("initdb")).ok())
        .filter_map(|initdb| initdb.parent().map(Path::to_path_buf))
        .find(|dir| dir.join("pg_ctl").is_file() && dir.join("createdb").is_file())
    {
        return Ok(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| HarnessError::NotInstalled {
            program: "initdb".into(),
            hint:
                "install PostgreSQL (`apt-get install -y postgresql`) or put its bin folder on PATH"
                    .into(),
        })
}

fn run(command: &mut Command) -> Result<Output, HarnessError> {
    let description = describe(command);
    let output = command.output().map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => HarnessError::NotInstalled {
            program: command.get_program().to_string_lossy().into_owned(),
            hint: error.to_string(),
        },
        _ => HarnessError::Io(error),
    })?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(HarnessError::CommandFailed {
            command: description,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        })
    }
}

fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| Path::new(part).display().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}
