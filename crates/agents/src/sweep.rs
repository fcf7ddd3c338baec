//! Finding and ending every process a run left behind.
//!
//! Killing the agent's process group is not enough: agents run shell tools in process groups
//! (and sessions) of their own, so signalling the agent's group never reaches them. Every
//! agent is therefore started with `SWITCHBOARD_RUN_ID=<run id>` in its environment, which its
//! descendants inherit; the sweep kills every process that carries the run's marker, wherever
//! it was reparented. The server is also a child subreaper, so orphans of its agents become
//! its children rather than init's, and it reaps them itself.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
#[cfg(test)]
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::LazyLock;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;

/// The environment variable that marks every process of a run.
pub const RUN_MARKER: &str = "SWITCHBOARD_RUN_ID";

/// Agent processes that tokio waits on, with the run marker each was started with: the orphan
/// reaper must leave them alone, and the sweep knows their marker without reading it.
static SUPERVISED: LazyLock<Mutex<HashMap<i32, Option<OsString>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Spawns an agent and records it as supervised in one step, under the lock the orphan
/// reaper holds while it decides what to reap: the reaper can never collect an agent's exit
/// status before tokio does (an agent that exits at once would otherwise lose its exit code).
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

/// Every process of the machine, as `/proc` lists them.
fn all_pids() -> Option<Vec<i32>> {
    let entries = std::fs::read_dir("/proc").ok()?;
    Some(
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .collect(),
    )
}

/// Whose a process is, as far as the supervised agents tell, for the runs asked about.
enum Owner<'r> {
    /// A supervised agent of one of the runs.
    Run(&'r str),
    /// A supervised agent of another run (or of none).
    OtherRun,
    /// Not an agent this server supervises: only its environment can tell.
    Unknown,
}

fn owner<'r>(
    supervised: &HashMap<i32, Option<OsString>>,
    pid: i32,
    runs: &HashSet<&'r str>,
) -> Owner<'r> {
    match supervised.get(&pid) {
        None => Owner::Unknown,
        Some(marker) => match marker
            .as_deref()
            .and_then(|marker| marker.to_str())
            .and_then(|run| runs.get(run))
        {
            Some(run) => Owner::Run(run),
            None => Owner::OtherRun,
        },
    }
}

/// Every live process (other than this one) whose environment carries the run's marker.
pub fn marked_processes(run_id: &str) -> Vec<i32> {
    marked_by_run(&HashSet::from([run_id]))
        .remove(run_id)
        .unwrap_or_default()
}

/// One scan of `/proc` for several runs at once: the live processes (other than this one)
/// carrying each run's marker, by run. Runs without any are absent.
///
/// The environment of a process this server started and still supervises is not read: its
/// marker was recorded when it was spawned. Reading another process's environment is the
/// costly part of the scan (the kernel maps that process's memory to copy it), and with a
/// thousand sessions running, a sweep that read every agent's spent milliseconds of kernel
/// time per finished run.
fn marked_by_run(runs: &HashSet<&str>) -> HashMap<String, Vec<i32>> {
    let mut marked: HashMap<String, Vec<i32>> = HashMap::new();
    let me = std::process::id() as i32;
    let Some(pids) = all_pids() else {
        return marked;
    };
    // Split under the lock, read outside it (`spawn_tracked` waits on the lock).
    let unknown: Vec<i32> = {
        let supervised = SUPERVISED.lock();
        let mut unknown = Vec::new();
        for pid in pids.into_iter().filter(|&pid| pid != me) {
            match owner(&supervised, pid, runs) {
                Owner::Run(run) => marked.entry(run.to_owned()).or_default().push(pid),
                Owner::OtherRun => {}
                Owner::Unknown => unknown.push(pid),
            }
        }
        unknown
    };
    let prefix = format!("{RUN_MARKER}=");
    for pid in unknown {
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        for var in environ.split(|&b| b == 0) {
            let Some(value) = var.strip_prefix(prefix.as_bytes()) else {
                continue;
            };
            if let Some(run) = std::str::from_utf8(value)
                .ok()
                .filter(|run| runs.contains(run))
            {
                let pids = marked.entry(run.to_owned()).or_default();
                if !pids.contains(&pid) {
                    pids.push(pid);
                }
            }
        }
    }
    for pids in marked.values_mut() {
        pids.retain(|&pid| !is_zombie(pid));
    }
    marked.retain(|_, pids| !pids.is_empty());
    marked
}

/// Whether this process is a child subreaper (see [`become_subreaper`]).
static SUBREAPER: AtomicBool = AtomicBool::new(false);

/// Whether no process of `runs` can be alive, known without scanning every process of the
/// machine. Only for runs whose agents this server started and has reaped.
///
/// The server is a child subreaper, so a process its agents left behind is re-parented to
/// the server, or stays below a parent that is itself below the server: everything a
/// finished run left hangs below one of the server's own children. Those children are
/// listed by the kernel (`/proc/self/task/*/children`). If each of them is an agent of
/// another run that the server still supervises (its descendants are that run's), or a
/// zombie, nothing of `runs` is left.
///
/// The kernel's list is exact only while no thread of the server exits (a thread's children
/// move to another thread as it does), so it is read twice and both must be clean. Any
/// doubt (not a subreaper, no such files, a child that is not an agent) answers `false`,
/// and the caller scans.
fn nothing_left_below_us(runs: &HashSet<&str>) -> bool {
    if !SUBREAPER.load(Ordering::Acquire) {
        return false;
    }
    (0..2).all(|_| {
        let Some(children) = own_children() else {
            return false;
        };
        let others: Vec<i32> = {
            let supervised = SUPERVISED.lock();
            children
                .into_iter()
                .filter(|&pid| !matches!(owner(&supervised, pid, runs), Owner::OtherRun))
                .collect()
        };
        others.into_iter().all(is_zombie)
    })
}

/// Whether the kernel lists a thread's children (`CONFIG_PROC_CHILDREN`). Checked once, so
/// that a missing file below means a thread that has exited, never a kernel without lists
/// (which would read as "no children" and let a sweep skip its scan).
static CHILDREN_LISTED: LazyLock<bool> =
    LazyLock::new(|| std::path::Path::new("/proc/thread-self/children").exists());

/// This process's children, from every thread's list; `None` where the kernel does not
/// list them.
fn own_children() -> Option<Vec<i32>> {
    if !*CHILDREN_LISTED {
        return None;
    }
    let mut children = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let Ok(task) = task else { continue };
        match std::fs::read_to_string(task.path().join("children")) {
            Ok(list) => children.extend(
                list.split_ascii_whitespace()
                    .filter_map(|pid| pid.parse::<i32>().ok()),
            ),
            // The thread has exited since it was listed (its children moved to another).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(_) => return None,
        }
    }
    Some(children)
}

/// A sweep waiting for a scan.
struct ScanRequest {
    run_id: String,
    /// The run's processes descend from agents this server started (not a previous
    /// server's), so [`nothing_left_below_us`] may answer without a scan.
    started_here: bool,
    reply: oneshot::Sender<Vec<i32>>,
}

/// The scanner thread's queue; `None` if the thread could not be started.
///
/// Runs that end together (a thousand sessions finishing in the same second) each need a scan
/// of `/proc`, and a scan's cost grows with the number of processes on the machine, agents
/// included: one scan per run made the cost grow with the square of the session count. So
/// one thread scans for every sweep that is waiting when it starts, and each scan answers
/// them all. A scan always begins after the request it answers was queued, so it sees every
/// process the run could have left.
static SCANNER: LazyLock<Option<std_mpsc::Sender<ScanRequest>>> = LazyLock::new(|| {
    let (requests, queue) = std_mpsc::channel();
    std::thread::Builder::new()
        .name("process-sweep".into())
        .spawn(move || scan_for_waiting_sweeps(&queue))
        .map_err(|e| tracing::warn!(error = %e, "cannot start the process-sweep thread"))
        .ok()?;
    Some(requests)
});

/// Scans done by the scanner thread, for the test that checks that scans are shared.
#[cfg(test)]
static SCANS: AtomicU64 = AtomicU64::new(0);

fn scan_for_waiting_sweeps(queue: &std_mpsc::Receiver<ScanRequest>) {
    while let Ok(first) = queue.recv() {
        let mut waiting = vec![first];
        waiting.extend(queue.try_iter());
        let runs: HashSet<&str> = waiting.iter().map(|r| r.run_id.as_str()).collect();
        let all_started_here = waiting.iter().all(|r| r.started_here);
        let marked = if all_started_here && nothing_left_below_us(&runs) {
            HashMap::new()
        } else {
            marked_by_run(&runs)
        };
        #[cfg(test)]
        SCANS.fetch_add(1, Ordering::Relaxed);
        for request in waiting {
            let pids = marked.get(&request.run_id).cloned().unwrap_or_default();
            let _ = request.reply.send(pids);
        }
    }
}

/// [`marked_processes`], from a scan shared with every other sweep waiting at the time.
async fn marked_processes_shared(run_id: &str, started_here: bool) -> Vec<i32> {
    if let Some(scanner) = SCANNER.as_ref() {
        let (reply, answer) = oneshot::channel();
        let request = ScanRequest {
            run_id: run_id.to_owned(),
            started_here,
            reply,
        };
        if scanner.send(request).is_ok() {
            if let Ok(pids) = answer.await {
                return pids;
            }
        }
    }
    // No scanner thread: scan alone, off the runtime's threads (blocking file I/O).
    let run_id = run_id.to_owned();
    tokio::task::spawn_blocking(move || marked_processes(&run_id))
        .await
        .unwrap_or_default()
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

/// Kills every process of a run of this server that is still alive, repeating until none is
/// left (a process may fork while the sweep runs). Returns how many were killed. The run's
/// agent must have been reaped (or never been a process of its own).
pub async fn sweep_run(run_id: &str, skip_pid: Option<i32>) -> usize {
    sweep(run_id, skip_pid, true).await
}

/// [`sweep_run`] for a run of a server that is gone: its leftovers were re-parented away from
/// this server, so only a scan of every process can find them.
pub async fn sweep_previous_server_run(run_id: &str) -> usize {
    sweep(run_id, None, false).await
}

async fn sweep(run_id: &str, skip_pid: Option<i32>, started_here: bool) -> usize {
    let mut killed = 0;
    for _ in 0..20 {
        let pids: Vec<i32> = marked_processes_shared(run_id, started_here)
            .await
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
    SUBREAPER.store(ok, Ordering::Release);
    if !ok {
        tracing::warn!("cannot become a child subreaper; orphaned agent tools are left to init");
    }
}

/// Reaps zombie children that are not agent processes tokio waits on.
pub fn reap_orphans() {
    let me = std::process::id() as i32;
    // Only a child can be ours to reap: the kernel's list of them spares reading the state of
    // every process of the machine; without it, every process is a candidate.
    let Some(candidates) = own_children().or_else(all_pids) else {
        return;
    };
    // Listed before the lock, decided under it: an agent in the list was forked by
    // `spawn_tracked`, which holds the lock until the agent is recorded, so it is known by
    // the time the reaper looks (see `spawn_tracked`).
    let supervised = SUPERVISED.lock();
    for pid in candidates {
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

    fn unique_run_id(name: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("{name}-{}-{nanos}", std::process::id())
    }

    /// `sleep 30` with the run's marker, in a session of its own (out of reach of any group
    /// signal), once its marker is visible in `/proc`.
    async fn marked_sleeper(run_id: &str) -> std::process::Child {
        // `setsid` in the child before exec (no `setsid` binary in between, which would be
        // one more exec that can fail or fork on a loaded machine).
        let mut command = std::process::Command::new("sleep");
        command.arg("30").env(RUN_MARKER, run_id);
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
            if !marked_processes(run_id).is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            !marked_processes(run_id).is_empty(),
            "the marked process never showed up: child {} exit status {:?}, environ readable: {:?}",
            child.id(),
            child.try_wait(),
            std::fs::read(format!("/proc/{}/environ", child.id())).map(|e| e.len()),
        );
        child
    }

    #[tokio::test]
    async fn sweeps_marked_processes_in_other_sessions() {
        let run_id = unique_run_id("sweep-test");
        let mut child = marked_sleeper(&run_id).await;
        assert!(sweep_run(&run_id, None).await >= 1);
        assert!(marked_processes(&run_id).is_empty());
        let _ = child.kill();
        let _ = child.wait();
    }

    #[tokio::test]
    async fn one_scan_finds_the_processes_of_every_run_asked_for() {
        let first = unique_run_id("scan-first");
        let second = unique_run_id("scan-second");
        let idle = unique_run_id("scan-idle");
        let mut a = marked_sleeper(&first).await;
        let mut b = marked_sleeper(&second).await;
        let found = marked_by_run(&HashSet::from([
            first.as_str(),
            second.as_str(),
            idle.as_str(),
        ]));
        assert_eq!(found.get(&first), Some(&vec![a.id() as i32]));
        assert_eq!(found.get(&second), Some(&vec![b.id() as i32]));
        assert!(
            !found.contains_key(&idle),
            "a run with no process: {found:?}"
        );
        for child in [&mut a, &mut b] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    #[tokio::test]
    async fn sweeps_waiting_together_share_a_scan() {
        const SWEEPS: u64 = 40;
        let run_id = unique_run_id("shared-scan");
        let mut child = marked_sleeper(&run_id).await;
        let before = SCANS.load(Ordering::Relaxed);
        let answers = futures_util::future::join_all((0..SWEEPS).map(|i| {
            let run_id = if i == SWEEPS / 2 {
                run_id.clone()
            } else {
                unique_run_id("shared-scan-none")
            };
            async move { marked_processes_shared(&run_id, true).await }
        }))
        .await;
        let scans = SCANS.load(Ordering::Relaxed) - before;
        // Other tests of this binary may sweep meanwhile; one scan per sweep would be 40.
        assert!(scans < SWEEPS / 2, "{SWEEPS} sweeps took {scans} scans");
        assert_eq!(answers[(SWEEPS / 2) as usize], vec![child.id() as i32]);
        assert_eq!(answers.iter().filter(|pids| !pids.is_empty()).count(), 1);
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn own_children_lists_a_child_until_it_is_reaped() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert!(own_children().unwrap().contains(&pid));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!own_children().unwrap().contains(&pid));
    }

    /// What a sweep that may skip its scan must still find: an agent started here exits and
    /// leaves a process in a session of its own, which the kernel re-parents to this
    /// (subreaper) process.
    #[tokio::test]
    async fn a_sweep_after_an_agent_exits_finds_what_it_left() {
        become_subreaper();
        assert!(
            SUBREAPER.load(Ordering::Acquire),
            "prctl(PR_SET_CHILD_SUBREAPER) failed"
        );
        let run_id = unique_run_id("left-behind");
        let mut command = tokio::process::Command::new("sh");
        command
            .args(["-c", "setsid sleep 30 </dev/null >/dev/null 2>&1 & exit 0"])
            .env(RUN_MARKER, &run_id);
        let mut agent = spawn_tracked(&mut command).unwrap();
        let agent_pid = agent.id().unwrap() as i32;
        assert!(agent.wait().await.unwrap().success());
        untrack_child(agent_pid);
        // `setsid` may still be starting `sleep`: wait until the marked process is there.
        let mut left = Vec::new();
        for _ in 0..500 {
            left = marked_processes(&run_id);
            if !left.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!left.is_empty(), "the agent's leftover never showed up");
        assert!(!nothing_left_below_us(&HashSet::from([run_id.as_str()])));
        assert_eq!(sweep_run(&run_id, None).await, left.len());
        assert!(marked_processes(&run_id).is_empty());
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
