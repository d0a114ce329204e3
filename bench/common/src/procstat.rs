//! CPU time and memory of processes, read from /proc.

use std::collections::HashMap;
use std::fs;

/// utime + stime of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields are counted after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `rest` starts at field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn parent(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// VmRSS and VmHWM (peak) in KiB.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// A process and all its direct children (PostgreSQL's postmaster and its backends).
pub fn with_children(root: u32) -> Vec<u32> {
    let mut pids = vec![root];
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            {
                if parent(pid) == Some(root) {
                    pids.push(pid);
                }
            }
        }
    }
    pids
}

/// CPU time used by a set of processes between `start` and `stop`.
#[derive(Default)]
pub struct CpuMeter {
    start: HashMap<u32, u64>,
}

impl CpuMeter {
    pub fn start(pids: &[u32]) -> Self {
        let start = pids
            .iter()
            .filter_map(|pid| Some((*pid, cpu_ticks(*pid)?)))
            .collect();
        Self { start }
    }

    /// Ticks since `start` of the processes alive now; ones started since count from zero.
    pub fn ticks_since(&self, pids: &[u32]) -> u64 {
        pids.iter()
            .filter_map(|pid| {
                let now = cpu_ticks(*pid)?;
                Some(now.saturating_sub(self.start.get(pid).copied().unwrap_or(0)))
            })
            .sum()
    }
}
