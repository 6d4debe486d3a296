//! wisp as a child subreaper: container inits reparent to it when `runc create` exits, and
//! their exit statuses are collected here.
//!
//! Only adopted processes are reaped: runc's init calls setsid, so a container init (and any
//! orphan of a host-PID container) lives in another session than wisp, while every command
//! wisp spawns itself (CNI plugins, iptables, runc invocations) stays in wisp's session and is
//! left to its own `Child::wait`. Commands spawned through `spawn_owned` are additionally
//! never reaped even if they call setsid (exec sessions); spawning and the scan share one
//! lock, so a child cannot be reaped between its fork and its registration.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard};

use rustix::process::{Pid, WaitOptions, waitpid};

static OWNED: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl ExitStatus {
    /// The shell convention: the exit code, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Code(code) => code,
            ExitStatus::Signal(signal) => 128 + signal,
        }
    }

    /// From what `waitpid` or `waitid` report: an exit code, else a terminating signal;
    /// None when the process has not ended (stopped or continued).
    pub fn decode(code: Option<i32>, signal: Option<i32>) -> Option<ExitStatus> {
        match (code, signal) {
            (Some(code), _) => Some(ExitStatus::Code(code)),
            (None, Some(signal)) => Some(ExitStatus::Signal(signal)),
            (None, None) => None,
        }
    }
}

/// Makes orphaned descendants (container inits) children of this process.
pub fn become_subreaper() -> io::Result<()> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).map_err(io::Error::from)
}

fn owned() -> MutexGuard<'static, BTreeSet<i32>> {
    OWNED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Spawns a command whose exit the caller collects itself; `release` it after waiting.
pub fn spawn_owned(command: &mut Command) -> io::Result<Child> {
    let mut set = owned();
    let child = command.spawn()?;
    set.insert(pid_i32(child.id()));
    Ok(child)
}

/// `Command::output` for code that may run while the reaper does: spawned owned, waited,
/// released. Every short-lived command in the agent should go through here (or
/// `spawn_owned`), or the reaper may collect its exit first and the wait fails with ECHILD.
pub fn output_owned(command: &mut Command) -> io::Result<std::process::Output> {
    command.stdout(std::process::Stdio::piped());
    let child = spawn_owned(command)?;
    let pid = child.id();
    let output = child.wait_with_output();
    release(pid);
    output
}

/// Hands a waited-for owned pid back, so a later process reusing the number is reaped.
pub fn release(pid: u32) {
    owned().remove(&pid_i32(pid));
}

/// Reaps every exited adopted child that nobody owns, without blocking.
///
/// Do not mix with per-pid waiting (pidfd `waitid`, `wait_pid_nonblocking`) on pids that are
/// not registered with `own`: this collects their exit first.
pub fn wait_any_nonblocking() -> Vec<(i32, ExitStatus)> {
    let set = owned();
    let own_session = own_session_id();
    let mut exits = Vec::new();
    for pid in child_pids() {
        if set.contains(&pid) || session_of(pid).is_none_or(|sid| sid == own_session) {
            continue;
        }
        if let Some(status) = reap(pid) {
            exits.push((pid, status));
        }
    }
    exits
}

/// Reaps one child if it has exited, without blocking.
pub fn wait_pid_nonblocking(pid: i32) -> Option<ExitStatus> {
    reap(pid)
}

/// Marks an existing child (a container init someone waits on by pidfd) as owned, so
/// `wait_any_nonblocking` leaves it alone; `release` it once waited for.
pub fn own(pid: i32) {
    owned().insert(pid);
}

fn reap(pid: i32) -> Option<ExitStatus> {
    let (_, status) = waitpid(Some(Pid::from_raw(pid)?), WaitOptions::NOHANG).ok()??;
    ExitStatus::decode(status.exit_status(), status.terminating_signal())
}

/// Children of every thread of this process, from /proc/self/task/*/children.
fn child_pids() -> Vec<i32> {
    let mut pids = Vec::new();
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return pids;
    };
    for task in tasks.flatten() {
        let children = fs::read_to_string(task.path().join("children")).unwrap_or_default();
        pids.extend(
            children
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// This process's session id. It is 0 when wisp was started by a process outside any session
/// (a container's init, some CI runners); rustix's `getsid` cannot represent that and panics,
/// so the call goes through libc.
fn own_session_id() -> i32 {
    // SAFETY: getsid(0) only reads the calling process's session id; it takes no pointers.
    unsafe { libc::getsid(0) }
}

/// The session id from /proc/<pid>/stat (kept while the process is a zombie).
fn session_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; the fields after the last ')' are
    // state, ppid, pgrp, session.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(3)?.parse().ok()
}

fn pid_i32(pid: u32) -> i32 {
    i32::try_from(pid).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn statuses_decode_to_the_shell_convention() {
        assert_eq!(ExitStatus::decode(Some(3), None), Some(ExitStatus::Code(3)));
        let killed = ExitStatus::decode(None, Some(9)).unwrap();
        assert_eq!((killed, killed.code()), (ExitStatus::Signal(9), 137));
        assert_eq!(ExitStatus::decode(None, None), None);
    }

    #[test]
    fn own_session_children_are_left_to_their_owner() {
        let mut child = Command::new("true").spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && session_of(pid_i32(child.id())).is_some() {
            assert!(
                wait_any_nonblocking()
                    .iter()
                    .all(|(p, _)| *p != pid_i32(child.id()))
            );
            if fs::read_to_string(format!("/proc/{}/stat", child.id()))
                .is_ok_and(|s| s.contains(") Z "))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            wait_any_nonblocking()
                .iter()
                .all(|(p, _)| *p != pid_i32(child.id()))
        );
        assert!(
            child.wait().unwrap().success(),
            "the owner still gets the exit status"
        );
    }

    #[test]
    fn session_is_read_from_proc_stat() {
        // A child, not this process: qemu-user fakes /proc for the emulated process itself.
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        let sid = own_session_id();
        let seen = session_of(pid_i32(child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(seen, Some(sid));
    }
}
