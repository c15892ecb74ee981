//! What `bench all` and `bench pipeline` record of the machine and of the processes they start:
//! the machine and its load, CPU time and peak memory from `/proc`, and `KEY=VALUE` options.

use std::collections::HashMap;
use std::time::Instant;

/// Parses a `KEY=VALUE` option.
pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))?;
    Ok((key.to_owned(), value.to_owned()))
}

/// CPU time (user and system) over a stretch of wall time: of one process, of a process and its
/// children, or of the whole machine.
pub struct CpuUsage {
    source: Source,
    /// CPU seconds of each process measured (the key 0 for the whole machine) at the start.
    start: HashMap<u32, f64>,
    wall: Instant,
}

enum Source {
    Processes(Vec<u32>),
    Tree(u32),
    Machine,
}

impl CpuUsage {
    /// Starts measuring process `pid`.
    pub fn start(pid: u32) -> Self {
        Self::of(vec![pid])
    }

    /// Starts measuring the processes `pids` together (their CPU times added up).
    pub fn of(pids: Vec<u32>) -> Self {
        Self::with(Source::Processes(pids))
    }

    /// Starts measuring process `root` and its children together, such as a PostgreSQL
    /// postmaster and its backends; a child started meanwhile counts whole, and one that exited
    /// meanwhile counts through its parent's reaped time (whole, so one that was already running
    /// at the start is over-counted by what it had used before).
    pub fn tree(root: u32) -> Self {
        Self::with(Source::Tree(root))
    }

    /// Starts measuring every process of the machine (all cores, from `/proc/stat`).
    pub fn machine() -> Self {
        Self::with(Source::Machine)
    }

    fn with(source: Source) -> Self {
        Self {
            start: source.sample(),
            source,
            wall: Instant::now(),
        }
    }

    /// CPU time since `start` over wall time since `start`, in percent of one core (so up to
    /// `nproc` x 100%); NaN when `/proc` cannot tell (or there is no process to measure).
    pub fn percent(&self) -> f64 {
        let now = self.source.sample();
        if now.is_empty() {
            return f64::NAN;
        }
        let used: f64 = now
            .iter()
            .map(|(pid, after)| match self.start.get(pid) {
                Some(before) => after - before,
                None if matches!(self.source, Source::Tree(_)) => *after,
                None => f64::NAN,
            })
            .sum();
        100.0 * used / self.wall.elapsed().as_secs_f64()
    }
}

impl Source {
    fn sample(&self) -> HashMap<u32, f64> {
        let pids = match self {
            Self::Processes(pids) => pids.clone(),
            Self::Tree(root) => {
                let mut pids = vec![*root];
                pids.extend(children(*root));
                pids
            }
            Self::Machine => {
                return machine_cpu_seconds()
                    .map(|busy| (0, busy))
                    .into_iter()
                    .collect();
            }
        };
        let mut sample: HashMap<u32, f64> = pids
            .iter()
            .filter_map(|&pid| Some((pid, cpu_seconds(pid)?)))
            .collect();
        // Children that exited meanwhile (PostgreSQL's autovacuum workers, say) are counted
        // through their parent, which has reaped them.
        if let Self::Tree(root) = self
            && let (Some(own), Some(reaped)) = (sample.get_mut(root), reaped_cpu_seconds(*root))
        {
            *own += reaped;
        }
        match self {
            // A process that is gone makes the figure meaningless.
            Self::Processes(pids) if sample.len() < pids.len() => HashMap::new(),
            _ => sample,
        }
    }
}

/// The processes whose parent is `pid`, from `/proc/<pid>/stat`.
pub fn children(pid: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&child| {
            std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, fields)| fields.split_whitespace().nth(1)?.parse().ok())
                    == Some(pid)
            })
        })
        .collect()
}

fn all_pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

/// CPU seconds every core of the machine spent on anything but idling and waiting for I/O,
/// from the first line of `/proc/stat`.
fn machine_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<f64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq; then steal, the time the hypervisor gave to
    // other guests, which is no work of this machine's (guest time is already in user).
    let busy: f64 = ticks.iter().take(7).sum::<f64>() - ticks.get(3)? - ticks.get(4)?;
    Some(busy / clock_ticks()?)
}

fn clock_ticks() -> Option<f64> {
    static TICKS: std::sync::OnceLock<Option<f64>> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| command_output("getconf", &["CLK_TCK"]).parse().ok())
}

/// User plus system CPU seconds of process `pid` (`utime` and `stime`).
fn cpu_seconds(pid: u32) -> Option<f64> {
    tick_pair_seconds(pid, 14)
}

/// User plus system CPU seconds of the children of process `pid` that have exited and been
/// waited for (`cutime` and `cstime`).
fn reaped_cpu_seconds(pid: u32) -> Option<f64> {
    tick_pair_seconds(pid, 16)
}

/// Fields `field` and `field + 1` of `/proc/<pid>/stat` (numbered from 1, as in `proc(5)`),
/// clock ticks added up, in seconds.
fn tick_pair_seconds(pid: u32, field: usize) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces) start with the state, field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let index = field - 3;
    let ticks: f64 =
        fields.get(index)?.parse::<f64>().ok()? + fields.get(index + 1)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks()?)
}

/// The state letter of process `pid` (`R`, `S`, `T` for stopped, ...), from `/proc/<pid>/stat`.
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// The processes with a command-line argument for which `matches` holds, from
/// `/proc/<pid>/cmdline`; for servers started through launchers, such as SecantusDB.
pub fn pids_with_argument(matches: impl Fn(&str) -> bool) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                cmdline
                    .split(|&byte| byte == 0)
                    .any(|argument| matches(&String::from_utf8_lossy(argument)))
            })
        })
        .collect()
}

/// Microseconds of CPU per order: `percent` of one core (a [`CpuUsage`] figure) spent while
/// `orders_per_sec` orders a second were handled.
pub fn micros_per_order(percent: f64, orders_per_sec: f64) -> f64 {
    percent / 100.0 * 1e6 / orders_per_sec
}

/// The peak resident set size of process `pid` in MiB, from `VmHWM` in `/proc/<pid>/status`.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// What `program args` prints on stdout, trimmed, or why it could not run.
pub fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|error| format!("({program}: {error})"))
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

/// `nproc`, the CPU model, memory and load, as the benchmark records them.
pub fn machine_description() -> String {
    let model = command_output("lscpu", &[])
        .lines()
        .find_map(|line| line.strip_prefix("Model name:").map(str::trim))
        .unwrap_or("unknown")
        .to_owned();
    let memory = command_output("free", &["-h"])
        .lines()
        .find(|line| line.starts_with("Mem:"))
        .map(|line| line.split_whitespace().nth(1).unwrap_or("?").to_owned())
        .unwrap_or_else(|| "unknown".into());
    format!(
        "machine: {} CPUs (nproc), {model}, {memory} memory; load {}\nkernel: {}",
        command_output("nproc", &[]),
        load_average(),
        command_output("uname", &["-sr"]),
    )
}

/// Sends `signal` (`TERM`, `STOP`, `CONT`, ...) to process `pid` with kill(1).
pub fn send_signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -{signal} {pid} failed: {status}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_and_the_machine_are_found_in_proc() {
        let pid = std::process::id();
        assert!(process_state(pid).is_some());
        assert!(CpuUsage::start(pid).percent() >= 0.0);
        assert!(CpuUsage::of(Vec::new()).percent().is_nan());
        assert!(CpuUsage::tree(pid).percent() >= 0.0);
        assert!(CpuUsage::machine().percent() >= 0.0);
        assert_eq!(
            parse_key_value("A=b=c"),
            Ok(("A".to_owned(), "b=c".to_owned()))
        );
        assert!(parse_key_value("A").is_err());
    }
}
