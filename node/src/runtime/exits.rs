//! Knowing when a container's init process exits, without polling and without a shim: wisp
//! is the subreaper, so after `runc create` returns the init process is wisp's child. A
//! pidfd for it becomes readable when it exits; `waitid` on the pidfd then reaps it and
//! gives the exit code. A container adopted after a wisp restart is no longer wisp's
//! child: its exit is still seen through the pidfd, but the code is unknown. Statuses are
//! decoded as the reaper decodes them (`reaper::ExitStatus`). Short-lived commands that
//! must not outlive a deadline are waited for here too (`wait_until`).

use std::io;
use std::os::fd::OwnedFd;
use std::process::Child;
use std::time::Instant;

use async_io::Async;
use rustix::process::{Pid, PidfdFlags, WaitIdOptions, WaitIdStatus};

use super::reaper::ExitStatus;

/// How a container's init process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Known(ExitStatus),
    /// Not wisp's child (adopted after a restart): it is gone, the code is lost.
    Unknown,
}

impl Exit {
    /// The exit code Kubernetes reports: 128 + signal for a signal, as upstream, and 137
    /// (killed) when the code is lost.
    pub fn code(self) -> i32 {
        match self {
            Exit::Known(status) => status.code(),
            Exit::Unknown => 137,
        }
    }
}

/// A watch on one process.
pub struct ExitWatch {
    pidfd: Async<OwnedFd>,
}

impl ExitWatch {
    /// Fails when the process is already gone (ESRCH) or pidfds are unsupported.
    pub fn new(pid: i32) -> std::io::Result<ExitWatch> {
        let pid = Pid::from_raw(pid).ok_or_else(|| std::io::Error::other("pid 0"))?;
        let fd = rustix::process::pidfd_open(pid, PidfdFlags::NONBLOCK)?;
        Ok(ExitWatch {
            pidfd: Async::new(fd)?,
        })
    }

    /// Waits until the process exits and reaps it when it is this process's child.
    pub async fn exited(self) -> Exit {
        loop {
            if self.pidfd.readable().await.is_err() {
                return Exit::Unknown;
            }
            match rustix::process::waitid(
                rustix::process::WaitId::PidFd(std::os::fd::AsFd::as_fd(self.pidfd.get_ref())),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
            ) {
                Ok(Some(status)) => return exit_of(&status),
                // Readable but not yet waitable: wait for the next readiness.
                Ok(None) => continue,
                // ECHILD: exited, but someone else's child.
                Err(_) => return Exit::Unknown,
            }
        }
    }
}

/// Waits for `child` until `deadline`, sleeping on its pidfd rather than in a polling loop;
/// `None` when it is still running then (the caller decides whether to kill it).
pub fn wait_until(
    child: &mut Child,
    deadline: Instant,
) -> io::Result<Option<std::process::ExitStatus>> {
    let pid = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
    let pid = pid.ok_or_else(|| io::Error::other("child without a valid pid"))?;
    let pidfd = rustix::process::pidfd_open(pid, PidfdFlags::empty())?;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let timeout = rustix::event::Timespec::try_from(left).map_err(io::Error::other)?;
        let mut fds = [rustix::event::PollFd::new(
            &pidfd,
            rustix::event::PollFlags::IN,
        )];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

fn exit_of(status: &WaitIdStatus) -> Exit {
    ExitStatus::decode(status.exit_status(), status.terminating_signal())
        .map_or(Exit::Unknown, Exit::Known)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch_child(args: &[&str]) -> (ExitWatch, std::process::Child) {
        let child = std::process::Command::new("/bin/sh")
            .args(args)
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        (ExitWatch::new(pid).unwrap(), child)
    }

    #[test]
    fn waits_until_exit_or_deadline() {
        let mut quick = std::process::Command::new("/bin/sh")
            .args(["-c", "exit 4"])
            .spawn()
            .unwrap();
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        let status = wait_until(&mut quick, deadline).unwrap().unwrap();
        assert_eq!(status.code(), Some(4));
        assert!(Instant::now() < deadline);

        let mut slow = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let started = Instant::now();
        let deadline = started + std::time::Duration::from_millis(200);
        assert!(wait_until(&mut slow, deadline).unwrap().is_none());
        let waited = started.elapsed();
        assert!(
            waited >= std::time::Duration::from_millis(200),
            "{waited:?}"
        );
        assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
        slow.kill().unwrap();
        slow.wait().unwrap();
    }

    #[test]
    fn reports_the_exit_code_of_a_child() {
        let (watch, _child) = watch_child(&["-c", "exit 3"]);
        assert_eq!(
            futures_lite::future::block_on(watch.exited()),
            Exit::Known(ExitStatus::Code(3))
        );
    }

    #[test]
    fn reports_a_kill_as_128_plus_the_signal() {
        let (watch, child) = watch_child(&["-c", "sleep 30"]);
        rustix::process::kill_process(
            Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap(),
            rustix::process::Signal::KILL,
        )
        .unwrap();
        let exit = futures_lite::future::block_on(watch.exited());
        assert_eq!(exit, Exit::Known(ExitStatus::Signal(9)));
        assert_eq!(exit.code(), 137);
    }
}
