//! The runc/crun command line: create, start, kill, delete, state, list and exec.
//!
//! Containers are started as `create` + `start`, so runc exits and the container's init is
//! reparented to wisp (a subreaper, see `runtime::reaper`) instead of living under a runc
//! that lingers. Each invocation is spawned as an owned child, so the reaper never steals its
//! exit status. runc's own errors go to a log file in the bundle, not into the container's
//! stderr, and come back in `OciError::Failed`.

mod console;

use std::fmt;
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use miniserde::json::Value;

pub use console::ConsoleSocket;

use crate::preflight::{CgroupMode, HostPaths, cgroup_mode};
use crate::runtime::reaper;

/// Which OCI runtime binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    Runc,
    Crun,
}

impl RuntimeKind {
    fn binary_name(self) -> &'static str {
        match self {
            RuntimeKind::Runc => "runc",
            RuntimeKind::Crun => "crun",
        }
    }
}

/// A detected runtime binary and the state directory it keeps containers in.
#[derive(Debug, Clone)]
pub struct OciRuntime {
    pub binary: PathBuf,
    pub kind: RuntimeKind,
    /// First line of `--version`, e.g. "runc version 1.1.5+ds1".
    pub version: String,
    pub state_root: PathBuf,
}

/// Where the container's stdio goes.
#[derive(Debug)]
pub enum Stdio {
    /// Plain file descriptors (pipe ends, log files); stdin None means /dev/null.
    Fds {
        stdin: Option<OwnedFd>,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A terminal: runc sends the pty master to this socket (see `ConsoleSocket`).
    Console(PathBuf),
}

/// A container as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub id: String,
    /// "creating", "created", "running", "paused" or "stopped".
    pub status: String,
    /// 0 once stopped.
    pub pid: i32,
    pub bundle: PathBuf,
}

#[derive(Debug)]
pub enum OciError {
    /// Neither the configured nor a preferred binary was found.
    NoRuntime(String),
    /// crun cannot drive v1 controllers on a hybrid host; runc can.
    CrunOnHybridCgroups,
    /// The container id is unknown to the runtime.
    NotFound(String),
    /// The runtime exited non-zero; `message` is its last error line.
    Failed {
        op: &'static str,
        id: String,
        message: String,
    },
    BadOutput(&'static str),
    Io(io::Error),
}

impl fmt::Display for OciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OciError::NoRuntime(what) => write!(f, "no OCI runtime found ({what})"),
            OciError::CrunOnHybridCgroups => {
                write!(
                    f,
                    "crun does not support hybrid cgroups (v1 controllers with v2 at unified/); use runc or boot with cgroup v2"
                )
            }
            OciError::NotFound(id) => write!(f, "container {id} does not exist"),
            OciError::Failed { op, id, message } => write!(f, "{op} {id}: {message}"),
            OciError::BadOutput(what) => write!(f, "unexpected runtime output: {what}"),
            OciError::Io(e) => write!(f, "running the OCI runtime: {e}"),
        }
    }
}

impl std::error::Error for OciError {}

impl From<io::Error> for OciError {
    fn from(e: io::Error) -> Self {
        OciError::Io(e)
    }
}

impl OciRuntime {
    /// Uses `configured` if given, else `prefer` then the other one from $PATH.
    pub fn detect(
        configured: Option<&Path>,
        prefer: RuntimeKind,
        state_root: &Path,
    ) -> Result<OciRuntime, OciError> {
        let hybrid = cgroup_mode(&HostPaths::default()) == CgroupMode::Hybrid;
        let binary = match configured {
            Some(path) => path.to_path_buf(),
            None => pick_from_path(prefer, hybrid)?,
        };
        let mut version = Command::new(&binary);
        version
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let output = reaper::output_owned(&mut version)
            .map_err(|e| OciError::NoRuntime(format!("{}: {e}", binary.display())))?;
        let version = String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        let kind = if version.starts_with("crun") {
            RuntimeKind::Crun
        } else {
            RuntimeKind::Runc
        };
        if kind == RuntimeKind::Crun && hybrid {
            return Err(OciError::CrunOnHybridCgroups);
        }
        fs::create_dir_all(state_root)?;
        Ok(OciRuntime {
            binary,
            kind,
            version,
            state_root: state_root.to_path_buf(),
        })
    }

    fn command(&self, log: Option<&Path>) -> Command {
        let mut command = Command::new(&self.binary);
        command.arg("--root").arg(&self.state_root);
        if let Some(log) = log {
            command
                .arg("--log")
                .arg(log)
                .arg("--log-format")
                .arg("json");
        }
        command
    }

    /// `create`: the init process is set up and waits for `start`; returns its host pid.
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        stdio: Stdio,
        pid_file: &Path,
    ) -> Result<i32, OciError> {
        let log = bundle.join("runtime.log");
        let _ = fs::remove_file(&log);
        let mut command = self.command(Some(&log));
        command
            .args(["create", "--bundle"])
            .arg(bundle)
            .arg("--pid-file")
            .arg(pid_file);
        match stdio {
            Stdio::Fds {
                stdin,
                stdout,
                stderr,
            } => {
                command
                    .stdin(stdin.map_or_else(std::process::Stdio::null, std::process::Stdio::from));
                command.stdout(stdout).stderr(stderr);
            }
            Stdio::Console(socket) => {
                command.arg("--console-socket").arg(socket);
                command
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null());
            }
        }
        command.arg(id);
        let status = run_owned(&mut command)?;
        if !status.success() {
            return Err(OciError::Failed {
                op: "create",
                id: id.to_string(),
                message: last_log_error(&log),
            });
        }
        let pid = fs::read_to_string(pid_file)?;
        pid.trim()
            .parse()
            .map_err(|_| OciError::BadOutput("pid file"))
    }

    pub fn start(&self, id: &str) -> Result<(), OciError> {
        self.simple("start", id, &["start"])
    }

    /// Sends `signal` to the init (or with `all`, every process of the container).
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), OciError> {
        let signal = signal.to_string();
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.push(id);
        args.push(&signal);
        self.run("kill", id, &args).map(drop)
    }

    /// Removes the container's state and cgroup; `force` kills it first if it still runs.
    pub fn delete(&self, id: &str, force: bool) -> Result<(), OciError> {
        self.simple(
            "delete",
            id,
            if force {
                &["delete", "--force"]
            } else {
                &["delete"]
            },
        )
    }

    pub fn state(&self, id: &str) -> Result<State, OciError> {
        let output = self.run("state", id, &["state", id])?;
        let value: Value = miniserde::json::from_str(&output)
            .map_err(|_| OciError::BadOutput("state is not JSON"))?;
        parse_state(&value).ok_or(OciError::BadOutput("state fields"))
    }

    /// Every container in the state root (adoption after a wisp restart).
    pub fn list(&self) -> Result<Vec<State>, OciError> {
        let output = self.run("list", "", &["list", "--format", "json"])?;
        let value: Value = miniserde::json::from_str(output.trim())
            .map_err(|_| OciError::BadOutput("list is not JSON"))?;
        match value {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items
                .iter()
                .map(|i| parse_state(i).ok_or(OciError::BadOutput("list fields")))
                .collect(),
            _ => Err(OciError::BadOutput("list is not an array")),
        }
    }

    /// Runs another process in the container with plain stdio; the caller waits on the child
    /// (runc stays its parent), then calls `reaper::release(child.id())`. A terminal needs
    /// `exec_tty`: runc refuses a console socket unless it detaches.
    pub fn exec(&self, id: &str, process_json: &str, stdio: Stdio) -> Result<Child, OciError> {
        let Stdio::Fds {
            stdin,
            stdout,
            stderr,
        } = stdio
        else {
            return Err(OciError::Failed {
                op: "exec",
                id: id.to_string(),
                message: "a terminal needs exec_tty".into(),
            });
        };
        let mut command = self.command(None);
        let process = console::process_file(process_json)?;
        command
            .arg("exec")
            .arg("--process")
            .arg(process.path())
            .arg(id);
        command.stdin(stdin.map_or_else(std::process::Stdio::null, std::process::Stdio::from));
        command.stdout(stdout).stderr(stderr);
        process.pass_to(&mut command);
        Ok(reaper::spawn_owned(&mut command)?)
    }

    /// Runs another process with a terminal: runc detaches, sends the pty master to
    /// `console_socket` and exits; the process (its own session leader) is adopted by wisp
    /// like a container init. Returns its host pid; `process_json` must have terminal: true.
    pub fn exec_tty(
        &self,
        id: &str,
        process_json: &str,
        console_socket: &Path,
        pid_file: &Path,
    ) -> Result<i32, OciError> {
        let mut command = self.command(None);
        let process = console::process_file(process_json)?;
        command
            .arg("exec")
            .arg("--detach")
            .arg("--tty")
            .arg("--console-socket")
            .arg(console_socket);
        command
            .arg("--pid-file")
            .arg(pid_file)
            .arg("--process")
            .arg(process.path())
            .arg(id);
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        command.stderr(std::process::Stdio::piped());
        process.pass_to(&mut command);
        let output = reaper::output_owned(&mut command)?;
        if !output.status.success() {
            let message = error_line(&String::from_utf8_lossy(&output.stderr));
            return Err(OciError::Failed {
                op: "exec",
                id: id.to_string(),
                message,
            });
        }
        let pid = fs::read_to_string(pid_file)?;
        pid.trim()
            .parse()
            .map_err(|_| OciError::BadOutput("exec pid file"))
    }

    fn simple(&self, op: &'static str, id: &str, args: &[&str]) -> Result<(), OciError> {
        let mut args = args.to_vec();
        args.push(id);
        self.run(op, id, &args).map(drop)
    }

    /// Runs a short command and returns its stdout.
    fn run(&self, op: &'static str, id: &str, args: &[&str]) -> Result<String, OciError> {
        let mut command = self.command(None);
        command.args(args);
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let output = reaper::output_owned(&mut command)?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = error_line(&stderr);
        if message.contains("does not exist")
            || message.contains("not found")
            || message.contains("No such file")
        {
            return Err(OciError::NotFound(id.to_string()));
        }
        Err(OciError::Failed {
            op,
            id: id.to_string(),
            message,
        })
    }
}

/// The process JSON for `exec`: the container's own process from its bundle (user, env,
/// capabilities, cwd) with `args` and `terminal` replaced, as `kubectl exec` expects.
pub fn exec_process_json(
    bundle: &Path,
    args: &[String],
    terminal: bool,
) -> Result<String, OciError> {
    let config = fs::read_to_string(bundle.join("config.json"))?;
    let Ok(Value::Object(mut config)) = miniserde::json::from_str::<Value>(&config) else {
        return Err(OciError::BadOutput("bundle config.json is not an object"));
    };
    let Some(Value::Object(mut process)) = config.remove("process") else {
        return Err(OciError::BadOutput("bundle config.json has no process"));
    };
    let mut list = miniserde::json::Array::new();
    list.extend(args.iter().map(|a| Value::String(a.clone())));
    process.insert("args".to_string(), Value::Array(list));
    process.insert("terminal".to_string(), Value::Bool(terminal));
    Ok(miniserde::json::to_string(&Value::Object(process)))
}

fn run_owned(command: &mut Command) -> Result<std::process::ExitStatus, OciError> {
    let mut child = reaper::spawn_owned(command)?;
    let status = child.wait();
    reaper::release(child.id());
    Ok(status?)
}

/// The preferred runtime from $PATH, else the other; on a hybrid host runc wins when present.
fn pick_from_path(prefer: RuntimeKind, hybrid: bool) -> Result<PathBuf, OciError> {
    let other = if prefer == RuntimeKind::Runc {
        RuntimeKind::Crun
    } else {
        RuntimeKind::Runc
    };
    let order = if hybrid {
        [RuntimeKind::Runc, RuntimeKind::Crun]
    } else {
        [prefer, other]
    };
    order
        .iter()
        .find_map(|k| find_in_path(k.binary_name()))
        .ok_or_else(|| OciError::NoRuntime("runc or crun in $PATH".into()))
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The last non-empty stderr line, with runc's `time=... level=error msg="..."` unwrapped.
fn error_line(stderr: &str) -> String {
    let line = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    match line.split_once("msg=") {
        Some((_, msg)) => msg.trim_matches('"').to_string(),
        None => line.to_string(),
    }
}

/// The last error message from a `--log-format json` log.
fn last_log_error(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    for line in text.lines().rev() {
        let Ok(Value::Object(entry)) = miniserde::json::from_str::<Value>(line) else {
            continue;
        };
        let level = entry.get("level");
        if matches!(level, Some(Value::String(l)) if l == "error" || l == "fatal")
            && let Some(Value::String(msg)) = entry.get("msg")
        {
            return msg.clone();
        }
    }
    "runtime failed without a message".to_string()
}

fn parse_state(value: &Value) -> Option<State> {
    let Value::Object(o) = value else { return None };
    let text = |key: &str| match o.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let pid = match o.get("pid") {
        Some(Value::Number(miniserde::json::Number::U64(p))) => i32::try_from(*p).ok()?,
        Some(Value::Number(miniserde::json::Number::I64(p))) => i32::try_from(*p).ok()?,
        _ => 0,
    };
    Some(State {
        id: text("id")?,
        status: text("status")?,
        pid,
        bundle: PathBuf::from(text("bundle").unwrap_or_default()),
    })
}

#[cfg(test)]
mod tests;
