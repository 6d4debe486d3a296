//! Terminals and exec process files: the pty master runc sends over `--console-socket`, and
//! the process JSON handed to `runc exec --process` through an inherited pipe (no temp file
//! to clean up).

use std::io::{self, IoSliceMut, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};

/// A listening unix socket runc connects to with the terminal's master end.
#[derive(Debug)]
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    pub fn bind(path: &Path) -> io::Result<ConsoleSocket> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(ConsoleSocket {
            listener,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits up to `timeout` for runc to connect and send the pty master.
    pub fn receive_master(&self, timeout: Duration) -> io::Result<OwnedFd> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match self.listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "runtime sent no console",
                    ));
                }
                Err(e) => return Err(e),
            }
        };
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))?;
        let mut name = [0u8; 4096];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        recvmsg(
            &stream,
            &mut [IoSliceMut::new(&mut name)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )?;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(mut fds) = message
                && let Some(fd) = fds.next()
            {
                return Ok(fd);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "console message carried no file descriptor",
        ))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The read end of a pipe holding the process JSON; the child sees it as fd 3.
pub(crate) struct ProcessFile {
    read: OwnedFd,
}

const CHILD_FD: i32 = 3;

pub(crate) fn process_file(json: &str) -> io::Result<ProcessFile> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let mut write = std::fs::File::from(write);
    let bytes = json.as_bytes().to_vec();
    // A pipe holds 64 KiB; a larger document is written while the runtime reads it.
    if bytes.len() < 32 * 1024 {
        write.write_all(&bytes)?;
    } else {
        std::thread::spawn(move || write.write_all(&bytes));
    }
    Ok(ProcessFile { read })
}

impl ProcessFile {
    pub(crate) fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{CHILD_FD}"))
    }

    /// Makes the pipe fd 3 of the spawned command; the parent's copy closes when `self` drops.
    pub(crate) fn pass_to(self, command: &mut Command) {
        let raw = self.read.as_raw_fd();
        // SAFETY: the closure runs between fork and exec and only calls dup2, which is
        // async-signal-safe (as is fcntl); `raw` stays open in the parent until `command` is spawned because
        // the OwnedFd moves into the closure, which lives as long as `command`.
        unsafe {
            command.pre_exec(move || {
                let _keep = &self.read;
                // dup2 onto itself would keep FD_CLOEXEC, so clear the flag instead.
                let result = if raw == CHILD_FD {
                    libc::fcntl(raw, libc::F_SETFD, 0)
                } else {
                    libc::dup2(raw, CHILD_FD)
                };
                if result < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
        }
    }
}
