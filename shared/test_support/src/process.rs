//! A service's real binary run as a child process, its output collected for assertions.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A running service process, killed when dropped.
///
/// Its stdout and stderr are collected line by line; tests wait for and inspect them.
#[derive(Debug)]
pub struct ServiceProcess {
    child: Child,
    stdout: Arc<Lines>,
    stderr: Arc<Lines>,
}

#[derive(Debug, Default)]
struct Lines {
    lines: Mutex<Vec<String>>,
    changed: Condvar,
}

impl Lines {
    fn collect(self: &Arc<Self>, source: impl Read + Send + 'static, echo_to_stderr: bool) {
        let lines = Arc::clone(self);
        std::thread::spawn(move || {
            for line in BufReader::new(source).lines() {
                let Ok(line) = line else { break };
                if echo_to_stderr {
                    eprintln!("  | {line}");
                }
                lines.lines.lock().unwrap().push(line);
                lines.changed.notify_all();
            }
        });
    }

    fn snapshot(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn wait_for(&self, mut accept: impl FnMut(&[String]) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut lines = self.lines.lock().unwrap();
        loop {
            if accept(&lines) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            lines = self.changed.wait_timeout(lines, left).unwrap().0;
        }
    }
}

impl ServiceProcess {
    /// Starts `binary` with `args` and the environment variables `env` added to this process's.
    /// Its log (stderr) is echoed to the test's stderr, which the test runner shows on failure.
    pub fn spawn(
        binary: impl AsRef<Path>,
        args: &[&str],
        env: &[(&str, String)],
    ) -> std::io::Result<Self> {
        let mut command = Command::new(binary.as_ref());
        command
            .args(args)
            .envs(env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn()?;
        let stdout = Arc::new(Lines::default());
        let stderr = Arc::new(Lines::default());
        stdout.collect(child.stdout.take().expect("piped stdout"), false);
        stderr.collect(child.stderr.take().expect("piped stderr"), true);
        Ok(Self {
            child,
            stdout,
            stderr,
        })
    }

    /// Everything the process printed to stdout so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.snapshot()
    }

    /// Everything the process logged to stderr so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.snapshot()
    }

    /// Waits until stdout satisfies `accept`; false on timeout.
    pub fn wait_for_stdout(
        &self,
        accept: impl FnMut(&[String]) -> bool,
        timeout: Duration,
    ) -> bool {
        self.stdout.wait_for(accept, timeout)
    }

    /// Waits until stderr satisfies `accept`; false on timeout.
    pub fn wait_for_stderr(
        &self,
        accept: impl FnMut(&[String]) -> bool,
        timeout: Duration,
    ) -> bool {
        self.stderr.wait_for(accept, timeout)
    }

    /// Whether the process has exited, and with which code.
    pub fn try_exit_code(&mut self) -> Option<Option<i32>> {
        self.child
            .try_wait()
            .ok()
            .flatten()
            .map(|status| status.code())
    }

    /// Waits for the process to exit by itself and returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<Option<i32>> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(code) = self.try_exit_code() {
                return Some(code);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) with `kill`; `false` when that failed.
    pub fn signal(&self, signal: &str) -> bool {
        Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Sends SIGTERM and waits for a graceful exit (SIGKILL after `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        if let Some(code) = self.wait_exit(timeout) {
            return code;
        }
        self.kill();
        None
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
