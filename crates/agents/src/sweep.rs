//! Finding and ending every process a run left behind.
//!
//! Killing the agent's process group is not enough: agents run shell tools in process groups
//! (and sessions) of their own, so signalling the agent's group never reaches them. Every
//! agent is therefore started with `SWITCHBOARD_RUN_ID=<run id>` in its environment, which its
//! descendants inherit; the sweep kills every process that carries the run's marker, wherever
//! it was reparented. The server is also a child subreaper, so orphans of its agents become
//! its children rather than init's, and it reaps them itself.

use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::LazyLock;
use std::time::Duration;

use parking_lot::Mutex;

/// The environment variable that marks every process of a run.
pub const RUN_MARKER: &str = "SWITCHBOARD_RUN_ID";

/// Agent processes that tokio waits on, with the run marker each was started with: the orphan
/// reaper must leave them alone, and the sweep knows their marker without reading it.
static SUPERVISED: LazyLock<Mutex<HashMap<i32, Option<OsString>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Spawns an agent and records it as supervised in one step, under the lock the orphan
/// reaper holds while it scans: the reaper can never collect an agent's exit status before
/// tokio does (an agent that exits at once would otherwise lose its exit code).
pub(crate) fn spawn_tracked(
    command: &mut tokio::process::Command,
) -> std::io::Result<tokio::process::Child> {
    let marker = command
        .as_std()
        .get_envs()
        .find(|(key, _)| *key == RUN_MARKER)
        .and_then(|(_, value)| value.map(ToOwned::to_owned));
    let mut supervised = SUPERVISED.lock();
    let child = command.spawn()?;
    if let Some(pid) = child.id() {
        supervised.insert(pid as i32, marker);
    }
    Ok(child)
}

pub(crate) fn untrack_child(pid: i32) {
    SUPERVISED.lock().remove(&pid);
}

/// Sends `signal` to a process group. A group that is already gone is not an error.
pub fn signal_group(pgid: i32, signal: i32) {
    if pgid > 1 {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

/// Every live process (other than this one) whose environment carries the run's marker.
///
/// The environment of a process this server started and still supervises is not read: its
/// marker was recorded when it was spawned. Reading another process's environment is the
/// costly part of the scan (the kernel maps that process's memory to copy it), and with a
/// thousand sessions running, a sweep that read every agent's spent milliseconds of kernel
/// time per finished run.
pub fn marked_processes(run_id: &str) -> Vec<i32> {
    let needle = format!("{RUN_MARKER}={run_id}");
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let pids: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .collect();
    // Split under the lock, read outside it (`spawn_tracked` waits on the lock).
    let (mut marked, unknown): (Vec<i32>, Vec<i32>) = {
        let supervised = SUPERVISED.lock();
        let mut marked = Vec::new();
        let mut unknown = Vec::new();
        for pid in pids {
            match supervised.get(&pid) {
                Some(marker) if marker.as_deref() == Some(std::ffi::OsStr::new(run_id)) => {
                    marked.push(pid)
                }
                Some(_) => {}
                None => unknown.push(pid),
            }
        }
        (marked, unknown)
    };
    marked.extend(unknown.into_iter().filter(|pid| {
        std::fs::read(format!("/proc/{pid}/environ"))
            .map(|env| env.split(|&b| b == 0).any(|var| var == needle.as_bytes()))
            .unwrap_or(false)
    }));
    marked.retain(|&pid| !is_zombie(pid));
    marked
}

fn is_zombie(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state == 'Z')
}

/// `(state, ppid)` from `/proc/<pid>/stat`.
fn proc_stat(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or parentheses.
    let after = &stat[stat.rfind(')')? + 2..];
    let mut fields = after.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Kills every process of the run that is still alive, repeating until none is left (a
/// process may fork while the sweep runs). Returns how many were killed.
pub async fn sweep_run(run_id: &str, skip_pid: Option<i32>) -> usize {
    let mut killed = 0;
    for _ in 0..20 {
        // Scanning `/proc` is blocking file I/O over every process of the machine.
        let marker = run_id.to_owned();
        let pids: Vec<i32> = tokio::task::spawn_blocking(move || marked_processes(&marker))
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|p| Some(*p) != skip_pid)
            .collect();
        if pids.is_empty() {
            break;
        }
        for &pid in &pids {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        killed += pids.len();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let _ = tokio::task::spawn_blocking(reap_orphans).await;
    }
    killed
}

/// Makes this process the reaper of its orphaned descendants (Linux), so a run's leftovers
/// are never re-parented out of reach, and starts the task that reaps them.
pub fn become_subreaper() {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) takes plain integers.
    let ok = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0;
    if !ok {
        tracing::warn!("cannot become a child subreaper; orphaned agent tools are left to init");
    }
}

/// Reaps zombie children that are not agent processes tokio waits on.
pub fn reap_orphans() {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    // Held for the whole scan: see `spawn_tracked`.
    let supervised = SUPERVISED.lock();
    for pid in entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
        if supervised.contains_key(&pid) {
            continue;
        }
        if let Some(('Z', ppid)) = proc_stat(pid) {
            if ppid == me {
                let mut status = 0;
                // SAFETY: waitpid on a specific pid with a valid status pointer.
                unsafe {
                    libc::waitpid(pid, &mut status, libc::WNOHANG);
                }
            }
        }
    }
}

/// Reaps orphans every second for as long as the runtime lives.
pub fn spawn_orphan_reaper() {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let _ = tokio::task::spawn_blocking(reap_orphans).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_of_self() {
        let (state, ppid) = proc_stat(std::process::id() as i32).unwrap();
        assert!(matches!(state, 'R' | 'S'));
        assert!(ppid > 0);
    }

    #[tokio::test]
    async fn sweeps_marked_processes_in_other_sessions() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let run_id = format!("sweep-test-{}-{nanos}", std::process::id());
        // A session of its own, set up in the child before exec (no `setsid` binary in
        // between, which would be one more exec that can fail or fork on a loaded machine).
        let mut command = std::process::Command::new("sleep");
        command.arg("30").env(RUN_MARKER, &run_id);
        // SAFETY: setsid(2) is async-signal-safe and touches no memory of ours.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().unwrap();
        // The marker is visible once the child has exec'd; allow for a loaded machine.
        for _ in 0..500 {
            if !marked_processes(&run_id).is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let marked = marked_processes(&run_id);
        assert!(
            !marked.is_empty(),
            "the marked process never showed up: child {} exit status {:?}, environ readable: {:?}",
            child.id(),
            child.try_wait(),
            std::fs::read(format!("/proc/{}/environ", child.id())).map(|e| e.len()),
        );
        assert!(sweep_run(&run_id, None).await >= 1);
        assert!(marked_processes(&run_id).is_empty());
        let _ = child.kill();
        let _ = child.wait();
    }

    #[tokio::test]
    async fn supervised_processes_are_known_by_the_marker_they_were_started_with() {
        let mine = format!("supervised-test-{}-a", std::process::id());
        let other = format!("supervised-test-{}-b", std::process::id());
        // `env -i` drops the marker from the environment as it execs `sleep`: only the
        // marker recorded at spawn can still tell whose process it is.
        let mut command = tokio::process::Command::new("env");
        command
            .args(["-i", "sleep", "30"])
            .env(RUN_MARKER, &mine)
            .kill_on_drop(true);
        let mut child = spawn_tracked(&mut command).unwrap();
        let pid = child.id().unwrap() as i32;
        for _ in 0..500 {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "sleep" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        assert!(!environ
            .windows(RUN_MARKER.len())
            .any(|w| w == RUN_MARKER.as_bytes()));
        assert_eq!(marked_processes(&mine), vec![pid]);
        assert!(!marked_processes(&other).contains(&pid));
        untrack_child(pid);
        child.kill().await.unwrap();
    }
}
