//! RAM mode: starts the native `wisp run` on a throwaway data dir, waits for its
//! `wisp ready` line, runs a workload, lets it settle, samples VmRSS and VmHWM and
//! compares the resident peak seen while sampling with the board's RAM budget.
//!
//! It measures the host build of wisp: RSS on x86_64 tracks aarch64 closely for the same
//! code (same pointer width), and board tests measure under emulation.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::proc_status::{self, StatusError};
use crate::ready_process::{ReadyError, ReadyProcess};

/// The line `wisp run` prints once its API is up.
pub const READY_MARKER: &str = "wisp ready";

/// What wisp is asked to do while it is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// An empty node: no pods, no clients.
    Idle,
    /// 2,000 ConfigMaps created through the API with kubectl, then no clients.
    Api2000,
}

/// How many objects the `api-2000` workload creates.
const API_OBJECTS: usize = 2000;

impl Workload {
    pub fn from_name(name: &str) -> Result<Workload, RamError> {
        match name {
            "idle" => Ok(Workload::Idle),
            "api-2000" => Ok(Workload::Api2000),
            other => Err(RamError::UnknownWorkload(other.to_owned())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Workload::Idle => "idle",
            Workload::Api2000 => "api-2000",
        }
    }

    /// Which budget of a board profile applies.
    pub fn budget_of(self, board: &wisp_targets::Board) -> u64 {
        match self {
            Workload::Idle => board.ram_idle_budget_bytes,
            Workload::Api2000 => board.ram_loaded_budget_bytes,
        }
    }

    fn apply(self, data_dir: &Path) -> Result<(), RamError> {
        match self {
            Workload::Idle => Ok(()),
            Workload::Api2000 => create_configmaps(data_dir, API_OBJECTS),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RamOptions {
    pub wisp: PathBuf,
    pub workload: Workload,
    pub ready_timeout: Duration,
    pub settle: Duration,
    pub samples: u32,
    pub interval: Duration,
}

/// What was sampled: the highest VmRSS seen and the kernel's VmHWM at the last sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamReport {
    pub peak_rss: u64,
    pub vm_hwm: u64,
    pub samples: u32,
}

#[derive(Debug)]
pub enum RamError {
    UnknownWorkload(String),
    MissingBinary(PathBuf),
    DataDir(std::io::Error),
    Ready(ReadyError),
    ExitedWhileMeasured {
        status: ExitStatus,
        tail: Vec<String>,
    },
    Status(StatusError),
    Workload(String),
}

impl fmt::Display for RamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RamError::UnknownWorkload(name) => {
                write!(f, "unknown workload `{name}` (known: idle, api-2000)")
            }
            RamError::MissingBinary(path) => write!(
                f,
                "{} does not exist: build it (cargo build --release) or pass --wisp PATH",
                path.display()
            ),
            RamError::DataDir(e) => write!(f, "cannot create a temporary data dir: {e}"),
            RamError::Ready(e) => write!(f, "wisp run: {e}"),
            RamError::ExitedWhileMeasured { status, tail } => write!(
                f,
                "wisp run exited ({status}) while being measured; last output: {}",
                tail.join(" | ")
            ),
            RamError::Status(e) => e.fmt(f),
            RamError::Workload(e) => write!(f, "workload: {e}"),
        }
    }
}

impl std::error::Error for RamError {}

/// Runs `wisp run --data-dir <tmp>` and measures it.
pub fn measure_wisp(options: &RamOptions) -> Result<RamReport, RamError> {
    if !options.wisp.is_file() {
        return Err(RamError::MissingBinary(options.wisp.clone()));
    }
    let data_dir = temp_data_dir().map_err(RamError::DataDir)?;
    let mut command = Command::new(&options.wisp);
    command.arg("run").arg("--data-dir").arg(&data_dir);
    let result = ReadyProcess::spawn(command, READY_MARKER, options.ready_timeout)
        .map_err(RamError::Ready)
        .and_then(|mut process| {
            let report = options
                .workload
                .apply(&data_dir)
                .and_then(|()| measure_process(&mut process, options));
            process.stop();
            report
        });
    let _ = std::fs::remove_dir_all(&data_dir);
    result
}

/// Waits `settle`, then samples `samples` times `interval` apart.
pub fn measure_process(
    process: &mut ReadyProcess,
    options: &RamOptions,
) -> Result<RamReport, RamError> {
    sleep_while_alive(process, options.settle)?;
    let mut report = RamReport {
        peak_rss: 0,
        vm_hwm: 0,
        samples: 0,
    };
    for i in 0..options.samples {
        if i > 0 {
            sleep_while_alive(process, options.interval)?;
        }
        let sample = proc_status::sample(process.pid()).map_err(RamError::Status)?;
        report.peak_rss = report.peak_rss.max(sample.vm_rss);
        report.vm_hwm = sample.vm_hwm;
        report.samples += 1;
    }
    Ok(report)
}

fn sleep_while_alive(process: &mut ReadyProcess, total: Duration) -> Result<(), RamError> {
    let step = Duration::from_millis(100);
    let mut slept = Duration::ZERO;
    loop {
        if let Some(status) = process.exit_status() {
            return Err(RamError::ExitedWhileMeasured {
                status,
                tail: process.tail(),
            });
        }
        if slept >= total {
            return Ok(());
        }
        std::thread::sleep(step.min(total - slept));
        slept += step;
    }
}

/// Creates `count` ConfigMaps of about 400 bytes in `default` with one `kubectl create`
/// (kubectl must be on PATH), using the admin kubeconfig wisp wrote into `data_dir`.
fn create_configmaps(data_dir: &Path, count: usize) -> Result<(), RamError> {
    let mut manifest = String::new();
    for i in 0..count {
        manifest.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ram-{i:04}\n  labels:\n    app: ram\n    tier: backend\n    team: platform\ndata:\n  mode: fast\n  level: \"3\"\n  endpoint: https://service.example.internal:8443/v1/things\n  note: a little realistic payload\n"
        ));
    }
    let mut child = Command::new("kubectl")
        .args(["create", "-f", "-", "-o", "name"])
        .env(
            "KUBECONFIG",
            data_dir.join("resources/kubeadmin/kubeconfig"),
        )
        .env("HOME", data_dir.join("kubectl-home"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RamError::Workload(format!("cannot run kubectl: {e}")))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let writer = std::thread::spawn(move || stdin.write_all(manifest.as_bytes()));
    let output = child
        .wait_with_output()
        .map_err(|e| RamError::Workload(format!("kubectl: {e}")))?;
    let _ = writer.join();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(RamError::Workload(format!(
            "kubectl create exited ({}): {}",
            output.status,
            tail.join(" | ")
        )));
    }
    Ok(())
}

fn temp_data_dir() -> std::io::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("wisp-ram-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

/// The result line CI prints: board, workload, figures in bytes and MiB, budget, headroom.
pub fn format_report(board: &str, workload: Workload, report: &RamReport, budget: u64) -> String {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let headroom = (budget as f64 - report.peak_rss as f64) * 100.0 / budget.max(1) as f64;
    format!(
        "{:<12} {:<9} {:>12} {:>12} {:>12} {:>9}\n\
         {board:<12} {:<9} {:>12} {:>12} {:>12} {headroom:>8.1}%\n\
         ({} samples; VmRSS {:.1} MiB, VmHWM {:.1} MiB, budget {:.1} MiB)\n",
        "board",
        "workload",
        "VmRSS peak",
        "VmHWM",
        "budget",
        "headroom",
        workload.name(),
        report.peak_rss,
        report.vm_hwm,
        budget,
        report.samples,
        mib(report.peak_rss),
        mib(report.vm_hwm),
        mib(budget),
    )
}

/// The default binary: the native release build in the workspace.
pub fn default_wisp_binary(root: &Path) -> PathBuf {
    root.join("target/release/wisp")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(wisp: &str) -> RamOptions {
        RamOptions {
            wisp: PathBuf::from(wisp),
            workload: Workload::Idle,
            ready_timeout: Duration::from_secs(5),
            settle: Duration::from_millis(200),
            samples: 3,
            interval: Duration::from_millis(100),
        }
    }

    #[test]
    fn a_ready_process_is_sampled() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo wisp ready; exec sleep 10"]);
        let mut p = ReadyProcess::spawn(cmd, READY_MARKER, Duration::from_secs(5)).unwrap();
        let report = measure_process(&mut p, &options("unused")).unwrap();
        p.stop();
        assert_eq!(report.samples, 3);
        assert!(
            report.peak_rss > 0 && report.vm_hwm >= report.peak_rss,
            "{report:?}"
        );
    }

    #[test]
    fn a_process_dying_while_measured_is_an_error() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo wisp ready; echo bye; exit 0"]);
        let mut p = ReadyProcess::spawn(cmd, READY_MARKER, Duration::from_secs(5)).unwrap();
        let e = measure_process(&mut p, &options("unused")).unwrap_err();
        assert!(matches!(e, RamError::ExitedWhileMeasured { .. }), "{e}");
    }

    #[test]
    fn a_wisp_that_exits_before_ready_fails_clearly() {
        // `false` stands in for a wisp whose `run` exits at once with an error.
        let e = measure_wisp(&options("/bin/false"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("exited") && e.contains("before printing `wisp ready`"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_binary_says_how_to_build_it() {
        let e = measure_wisp(&options("/nonexistent/wisp"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cargo build --release"), "{e}");
    }

    #[test]
    fn the_report_shows_figures_and_headroom() {
        let report = RamReport {
            peak_rss: 8 << 20,
            vm_hwm: 10 << 20,
            samples: 5,
        };
        let text = format_report("native", Workload::Idle, &report, 32 << 20);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("board") && lines[0].ends_with("headroom"));
        assert!(lines[1].starts_with("native       idle"), "{text}");
        assert!(
            lines[1].contains("8388608") && lines[1].ends_with("75.0%"),
            "{text}"
        );
        assert!(lines[2].contains("VmHWM 10.0 MiB"), "{text}");
    }

    #[test]
    fn only_known_workloads_parse() {
        assert_eq!(Workload::from_name("idle").unwrap(), Workload::Idle);
        assert_eq!(Workload::from_name("api-2000").unwrap(), Workload::Api2000);
        let e = Workload::from_name("100-pods").unwrap_err().to_string();
        assert_eq!(e, "unknown workload `100-pods` (known: idle, api-2000)");
    }
}
