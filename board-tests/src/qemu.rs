//! One emulated board: qemu-system with the board's machine, CPU and memory, the kernel
//! and initramfs, the data disk as a virtio block device, and user-mode networking that
//! forwards a host port on 127.0.0.1 to the guest's API port. The serial console is the
//! process's stdin and stdout: the guest's lines are collected (and logged to a file) and
//! the harness's commands are written to it. Dropping or `power_cut` kills QEMU outright,
//! which is a power cut for the guest: what it had not written to the disk is lost.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wisp_targets::Board;

use crate::error::Error;

pub struct VmSpec<'a> {
    pub board: &'a Board,
    pub kernel: &'a Path,
    pub initramfs: &'a Path,
    pub disk: &'a Path,
    pub api_port: u16,
    pub console_log: PathBuf,
}

#[derive(Default)]
struct Console {
    lines: Vec<String>,
    closed: bool,
}

pub struct Vm {
    child: Child,
    stdin: ChildStdin,
    console: Arc<(Mutex<Console>, Condvar)>,
    /// Lines before this index were consumed by `wait_for`.
    cursor: usize,
}

impl Vm {
    pub fn boot(spec: &VmSpec<'_>) -> Result<Vm, Error> {
        let qemu = &spec.board.qemu_system;
        let mut command = Command::new(&qemu.binary);
        command
            .args(["-machine", &qemu.machine, "-cpu", &qemu.cpu])
            .args(["-smp", "2", "-m", &qemu.memory_mib.to_string()])
            .args([
                "-display",
                "none",
                "-monitor",
                "none",
                "-serial",
                "stdio",
                "-no-reboot",
            ])
            .arg("-kernel")
            .arg(spec.kernel)
            .arg("-initrd")
            .arg(spec.initramfs)
            .args([
                "-append",
                &format!("console={} panic=-1 quiet", qemu.console),
            ])
            .arg("-drive")
            .arg(format!(
                "file={},if=none,format=raw,id=data,cache=writeback",
                spec.disk.display()
            ))
            .args(["-device", "virtio-blk-pci,drive=data"])
            .arg("-netdev")
            .arg(format!(
                "user,id=net,hostfwd=tcp:127.0.0.1:{}-:6443",
                spec.api_port
            ))
            // No option ROM: the guest boots from -kernel, so iPXE's ROM file is not needed.
            .args(["-device", "virtio-net-pci,netdev=net,romfile="])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().map_err(|e| Error::Command {
            command: qemu.binary.clone(),
            reason: e.to_string(),
        })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::Guest("no console pipe".into()))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| Error::Guest("no console pipe".into()))?;
        let console = Arc::new((Mutex::new(Console::default()), Condvar::new()));
        let log = File::create(&spec.console_log).map_err(|e| Error::io(&spec.console_log, e))?;
        spawn_reader(stdout, log, Arc::clone(&console));
        Ok(Vm {
            child,
            stdin,
            console,
            cursor: 0,
        })
    }

    /// Waits for a console line starting with `prefix` after the last one consumed; returns
    /// it. Fails when the guest stops or `timeout` passes, quoting the console's last lines.
    pub fn wait_for(&mut self, prefix: &str, timeout: Duration) -> Result<String, Error> {
        let deadline = Instant::now() + timeout;
        let (lock, changed) = &*self.console;
        let mut console = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(offset) = console.lines[self.cursor..]
                .iter()
                .position(|l| l.starts_with(prefix))
            {
                self.cursor += offset + 1;
                return Ok(console.lines[self.cursor - 1].clone());
            }
            let now = Instant::now();
            if console.closed || now >= deadline {
                let tail: Vec<&str> = console
                    .lines
                    .iter()
                    .rev()
                    .take(15)
                    .map(String::as_str)
                    .collect();
                let why = if console.closed {
                    "the guest stopped"
                } else {
                    "timed out"
                };
                return Err(Error::Guest(format!(
                    "{why} waiting for `{prefix}`; last console lines:\n  {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n  ")
                )));
            }
            console = changed
                .wait_timeout(console, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Console lines between the next `begin` and `end` markers.
    pub fn block(&mut self, begin: &str, end: &str, timeout: Duration) -> Result<String, Error> {
        self.wait_for(begin, timeout)?;
        let start = self.cursor;
        self.wait_for(end, timeout)?;
        let (lock, _) = &*self.console;
        let console = lock.lock().unwrap_or_else(|p| p.into_inner());
        Ok(console.lines[start..self.cursor - 1].join("\n"))
    }

    /// Sends one command line to the guest's console.
    pub fn send(&mut self, command: &str) -> Result<(), Error> {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(|e| Error::Guest(format!("console write: {e}")))
    }

    /// Whether a console line so far contains `needle` (for failure diagnosis).
    pub fn console_contains(&self, needle: &str) -> bool {
        let (lock, _) = &*self.console;
        let console = lock.lock().unwrap_or_else(|p| p.into_inner());
        console.lines.iter().any(|l| l.contains(needle))
    }

    /// Kills QEMU at once: no shutdown, no sync, as if the board lost power.
    pub fn power_cut(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_reader(
    stdout: std::process::ChildStdout,
    mut log: File,
    console: Arc<(Mutex<Console>, Condvar)>,
) {
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut raw = Vec::new();
        loop {
            raw.clear();
            match reader.read_until(b'\n', &mut raw) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let _ = log.write_all(&raw);
                    let line = String::from_utf8_lossy(&raw)
                        .trim_end_matches(['\r', '\n'])
                        .to_owned();
                    let (lock, changed) = &*console;
                    lock.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .lines
                        .push(line);
                    changed.notify_all();
                }
            }
        }
        let (lock, changed) = &*console;
        lock.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        changed.notify_all();
    });
}
