//! The harness the end-to-end tests share: starts the real `wisp run` binary on a free port
//! with its own data dir, waits for its `wisp ready` line, runs the real kubectl against it
//! with a private HOME (kubectl's discovery cache lives in ~/.kube/cache) and KUBECONFIG,
//! and at teardown asserts that wisp did not crash, that its resident peak stayed within a
//! budget (style.md habit 5) and that it shuts down cleanly on SIGTERM.
//!
//! Every instance has its own port and directory, so the tests run in parallel; processes
//! are killed on drop, also when a test panics, so none are left behind.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The line `wisp run` prints once its API is served.
const READY_MARKER: &str = "wisp ready";
/// How long wisp may take to print it (a debug build on a busy 2-core machine).
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one kubectl command may take before the test fails.
pub const KUBECTL_TIMEOUT: Duration = Duration::from_secs(60);
/// The resident peak (VmHWM) a test's wisp may reach: generous, so only a real regression
/// (a leak, an unbounded cache) trips it. The idle budget of the boards is 32 MiB.
pub const RSS_BUDGET_BYTES: u64 = 64 << 20;
/// How long wisp gets to exit after SIGTERM.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// The wisp binary cargo built for this test run.
pub fn wisp_binary() -> PathBuf {
    match std::env::var_os("WISP_BIN") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_BIN_EXE_wisp")),
    }
}

/// Fails the test at once, saying why, when kubectl is missing; warns when it is not the
/// 1.32 these tests were written against.
fn require_kubectl() {
    static CHECKED: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    let version = CHECKED.get_or_init(|| {
        let output = Command::new("kubectl")
            .args(["version", "--client"])
            .output()
            .map_err(|e| {
                format!("cannot run kubectl ({e}): the end-to-end tests need kubectl 1.32 on PATH")
            })?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if !text.contains("v1.32.") {
            eprintln!(
                "warning: these tests expect kubectl 1.32; found: {}",
                text.trim()
            );
        }
        Ok(text)
    });
    if let Err(e) = version {
        panic!("{e}");
    }
}

/// A running `wisp run` with its own port, data dir and kubectl home.
pub struct Wisp {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    home: PathBuf,
    tag: String,
    stderr: Arc<Mutex<Vec<String>>>,
    /// Set once the teardown checks ran (so Drop only cleans up).
    checked: bool,
}

impl Wisp {
    /// Starts wisp on a free port; retries with another port if the chosen one was taken
    /// between probing and binding.
    /// Without the node agent: the control-plane tests play the node themselves.
    pub fn start(tag: &str) -> Wisp {
        Wisp::start_with(tag, |_| "node:\n  enabled: false\n".to_owned())
    }

    /// With more configuration, made from the test's own directory (the data dir).
    pub fn start_with(tag: &str, extra_config: impl Fn(&Path) -> String) -> Wisp {
        require_kubectl();
        let mut last_error = String::new();
        for _ in 0..3 {
            match Wisp::try_start(tag, &extra_config) {
                Ok(wisp) => return wisp,
                Err(e) => last_error = e,
            }
        }
        panic!("wisp did not start: {last_error}");
    }

    fn try_start(tag: &str, extra_config: &dyn Fn(&Path) -> String) -> Result<Wisp, String> {
        let dir = unique_dir(tag);
        let port = free_port();
        std::fs::create_dir_all(dir.join("home")).map_err(|e| e.to_string())?;
        let config = dir.join("config.yaml");
        let extra = extra_config(&dir);
        std::fs::write(&config, format!("apiServer:\n  port: {port}\n{extra}"))
            .map_err(|e| e.to_string())?;
        Wisp::spawn_in(tag, dir, port)
    }

    /// Starts `wisp run` on an existing data dir and its config.yaml.
    fn spawn_in(tag: &str, dir: PathBuf, port: u16) -> Result<Wisp, String> {
        let config = dir.join("config.yaml");
        let mut child = Command::new(wisp_binary())
            .arg("run")
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", wisp_binary().display()))?;
        let stderr = drain_lines(child.stderr.take().expect("piped"));
        let stdout = child.stdout.take().expect("piped");
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line.starts_with(READY_MARKER) {
                    let _ = ready_tx.send(());
                }
                line.clear();
            }
        });
        let mut wisp = Wisp {
            child: Some(child),
            port,
            kubeconfig: dir.join("resources/kubeadmin/kubeconfig"),
            home: dir.join("home"),
            tag: tag.to_owned(),
            dir,
            stderr,
            checked: false,
        };
        wisp.wait_ready(&ready_rx)?;
        Ok(wisp)
    }

    /// `kill -9` of wisp, then a new `wisp run` on the same data dir and port (what a
    /// crash or an upgrade looks like to the containers).
    pub fn kill_and_restart(mut self) -> Wisp {
        let _ = self.child_mut().kill();
        let _ = self.child_mut().wait();
        self.checked = true;
        let (tag, dir, port) = (self.tag.clone(), self.dir.clone(), self.port);
        Wisp::spawn_in(&tag, dir, port).expect("wisp restarts on its data dir")
    }

    fn wait_ready(&mut self, ready: &Receiver<()>) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if ready.recv_timeout(Duration::from_millis(50)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child_mut().try_wait().expect("wait") {
                return Err(format!(
                    "wisp exited ({status}) before `{READY_MARKER}`: {}",
                    self.stderr_tail()
                ));
            }
        }
        Err(format!(
            "no `{READY_MARKER}` within {READY_TIMEOUT:?}: {}",
            self.stderr_tail()
        ))
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("wisp is running")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("wisp is running").id()
    }

    /// The last lines wisp wrote to stderr, for failure messages.
    pub fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().unwrap();
        let start = lines.len().saturating_sub(20);
        lines[start..].join("\n")
    }

    /// Paths of the admin client certificate, its key and the CA.
    pub fn pki(&self, file: &str) -> PathBuf {
        self.dir.join("pki").join(file)
    }

    /// A kubectl command with this instance's HOME and KUBECONFIG, not yet run.
    pub fn kubectl_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("kubectl");
        command
            .args(args)
            .env("HOME", &self.home)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .stdin(Stdio::null());
        command
    }

    /// Runs kubectl to completion (or kills it after [`KUBECTL_TIMEOUT`]).
    pub fn kubectl(&self, args: &[&str]) -> Run {
        run_with_timeout(self.kubectl_command(args), None, args)
    }

    /// Runs kubectl with `stdin` as its standard input (for `-f -`).
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Run {
        run_with_timeout(self.kubectl_command(args), Some(stdin), args)
    }

    /// Runs kubectl and fails the test unless it exits 0; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.kubectl(args).success()
    }

    /// `ok` with stdin.
    pub fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        self.kubectl_stdin(args, stdin).success()
    }

    /// Starts kubectl in the background (for `get -w`); it is killed when dropped.
    pub fn kubectl_background(&self, args: &[&str]) -> Background {
        let mut command = self.kubectl_command(args);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("kubectl starts");
        let stdout = drain_lines(child.stdout.take().expect("piped"));
        let stderr = drain_lines(child.stderr.take().expect("piped"));
        Background {
            child,
            stdout,
            stderr,
        }
    }

    /// VmRSS and VmHWM of wisp, in bytes.
    pub fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/<pid>/status of wisp");
        (
            status_kib(&status, "VmRSS:") * 1024,
            status_kib(&status, "VmHWM:") * 1024,
        )
    }

    /// The teardown checks: wisp is still running (did not crash), its resident peak is
    /// within `rss_budget`, and it exits 0 on SIGTERM. Returns VmHWM.
    pub fn stop_with_budget(mut self, rss_budget: u64) -> u64 {
        self.checked = true;
        if let Some(status) = self.child_mut().try_wait().expect("wait") {
            panic!(
                "wisp crashed during the test ({status}): {}",
                self.stderr_tail()
            );
        }
        let (_, hwm) = self.memory();
        eprintln!("wisp [{}]: VmHWM {} KiB at teardown", self.tag, hwm / 1024);
        let status = self.terminate();
        assert!(
            hwm <= rss_budget,
            "wisp's resident peak {hwm} B (VmHWM) is over the {rss_budget} B budget"
        );
        assert!(
            status.is_some_and(|s| s.success()),
            "wisp did not exit cleanly on SIGTERM ({status:?}): {}",
            self.stderr_tail()
        );
        hwm
    }

    /// [`Wisp::stop_with_budget`] with the default budget.
    pub fn stop(self) -> u64 {
        self.stop_with_budget(RSS_BUDGET_BYTES)
    }

    /// SIGTERM, then SIGKILL if wisp does not exit in time; None when it had to be killed.
    fn terminate(&mut self) -> Option<ExitStatus> {
        let pid = self.pid().to_string();
        // The shell's builtin kill: no dependency on a kill binary being installed.
        let _ = Command::new("sh")
            .args(["-c", &format!("kill -TERM {pid}")])
            .status();
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child_mut().try_wait().expect("wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child_mut().kill();
        let _ = self.child_mut().wait();
        None
    }
}

impl Drop for Wisp {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut()
            && child.try_wait().ok().flatten().is_none()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !self.checked && !std::thread::panicking() {
            eprintln!("wisp test harness: Wisp dropped without stop(); teardown checks skipped");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A finished kubectl run.
#[derive(Debug)]
pub struct Run {
    pub command: String,
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn status_ok(&self) -> bool {
        self.status == Some(0)
    }

    /// Fails the test unless the command exited 0; returns stdout.
    pub fn success(self) -> String {
        assert_eq!(self.status, Some(0), "{self}");
        self.stdout
    }

    /// Fails the test unless the command exited with `code`; returns stderr.
    pub fn failure(self, code: i32) -> String {
        assert_eq!(self.status, Some(code), "{self}");
        self.stderr
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

impl From<(String, Output)> for Run {
    fn from((command, output): (String, Output)) -> Run {
        Run {
            command,
            status: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// A kubectl running in the background, its output collected line by line.
pub struct Background {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Background {
    /// Waits until a stdout line satisfies `predicate`; returns it, or panics after
    /// `timeout` with everything seen.
    pub fn wait_line(&self, timeout: Duration, predicate: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.stdout.lock().unwrap().iter().find(|l| predicate(l)) {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no matching line within {timeout:?}; stdout: {:?}; stderr: {:?}",
                self.stdout.lock().unwrap(),
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Waits for the command to exit; returns its exit code, or panics after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "still running after {timeout:?}; stdout: {:?}; stderr: {:?}",
                self.stdout.lock().unwrap(),
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_with_timeout(mut command: Command, stdin: Option<&str>, args: &[&str]) -> Run {
    let name = format!("kubectl {}", args.join(" "));
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("piped");
        let text = text.to_owned();
        std::thread::spawn(move || pipe.write_all(text.as_bytes()));
    }
    let stdout = read_all(child.stdout.take().expect("piped"));
    let stderr = read_all(child.stderr.take().expect("piped"));
    let deadline = Instant::now() + KUBECTL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} did not finish within {KUBECTL_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let output = Output {
        status,
        stdout: stdout.join().expect("reader"),
        stderr: stderr.join().expect("reader"),
    };
    Run::from((name, output))
}

fn read_all(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Keeps a pipe drained into a shared list of lines.
fn drain_lines(pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// A port nobody listens on right now: bound on 127.0.0.1:0, then released.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

fn unique_dir(tag: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!("wisp-e2e-{tag}-{}-{n}-{nanos}", std::process::id()))
}

fn status_kib(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/<pid>/status"))
}

/// Writes `text` to `<wisp dir>/<name>` and returns the path (for `-f FILE`).
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a manifest");
    path
}

/// Parses kubectl's `-o json` output.
pub fn json(text: &str) -> miniserde::json::Value {
    miniserde::json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The value at a dotted path (`metadata.labels.app`, `items.0.metadata.name`), rendered
/// as text (strings without quotes); None when absent.
pub fn at(value: &miniserde::json::Value, path: &str) -> Option<String> {
    use miniserde::json::{Number, Value};
    let mut here = value;
    for step in path.split('.') {
        here = match here {
            Value::Object(map) => map.get(step)?,
            Value::Array(items) => items.get(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(match here {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(Number::U64(n)) => n.to_string(),
        Value::Number(Number::I64(n)) => n.to_string(),
        Value::Number(Number::F64(n)) => n.to_string(),
        Value::String(s) => s.clone(),
        other => miniserde::json::to_string(other),
    })
}

/// The number of items of the array at `path`.
pub fn len_at(value: &miniserde::json::Value, path: &str) -> usize {
    let mut here = value;
    for step in path.split('.').filter(|s| !s.is_empty()) {
        here = match here {
            miniserde::json::Value::Object(map) => &map[step],
            other => panic!(
                "{path}: {} is not an object",
                miniserde::json::to_string(other)
            ),
        };
    }
    match here {
        miniserde::json::Value::Array(items) => items.len(),
        other => panic!(
            "{path} is not an array: {}",
            miniserde::json::to_string(other)
        ),
    }
}
