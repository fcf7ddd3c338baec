//! What the bench reads about the server process from `/proc`: CPU time and memory.

use std::time::Duration;

use anyhow::{Context, Result};

/// User + system CPU time of a process (its own threads, not its children).
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat[stat.rfind(')').context("stat")? + 2..]
        .split(' ')
        .collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Ok(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

/// Resident memory now (`VmRSS`) and at its peak (`VmHWM`), in bytes.
pub fn rss(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("{name} in /proc/{pid}/status"))?;
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()?;
        Ok(kib * 1024)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Server CPU spent while `work` runs.
pub struct CpuMeter {
    pid: u32,
    before: Duration,
}

impl CpuMeter {
    pub fn start(pid: u32) -> Result<Self> {
        Ok(Self {
            pid,
            before: cpu_time(pid)?,
        })
    }

    pub fn elapsed(&self) -> Result<Duration> {
        Ok(cpu_time(self.pid)?.saturating_sub(self.before))
    }
}
