//! Reads a process's memory figures from /proc/<pid>/status: VmRSS (resident now) and
//! VmHWM (the resident peak since it started), both reported by the kernel in kB.

use std::fmt;
use std::io;

/// Resident memory of one process at one moment, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySample {
    pub vm_rss: u64,
    pub vm_hwm: u64,
}

#[derive(Debug)]
pub enum StatusError {
    Read { pid: u32, source: io::Error },
    MissingField { pid: u32, field: &'static str },
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusError::Read { pid, source } => {
                write!(f, "cannot read /proc/{pid}/status: {source}")
            }
            StatusError::MissingField { pid, field } => {
                write!(f, "/proc/{pid}/status has no {field} line")
            }
        }
    }
}

impl std::error::Error for StatusError {}

/// Samples the process `pid` now.
pub fn sample(pid: u32) -> Result<MemorySample, StatusError> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|source| StatusError::Read { pid, source })?;
    parse_status(&text).map_err(|field| StatusError::MissingField { pid, field })
}

/// Parses the status text; the error names the missing field (kernel threads and
/// zombies have no Vm* lines).
pub fn parse_status(text: &str) -> Result<MemorySample, &'static str> {
    Ok(MemorySample {
        vm_rss: field_kib(text, "VmRSS").ok_or("VmRSS")? * 1024,
        vm_hwm: field_kib(text, "VmHWM").ok_or("VmHWM")? * 1024,
    })
}

fn field_kib(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_and_hwm_are_read_in_bytes() {
        let text = "Name:\twisp\nVmPeak:\t  9000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1536 kB\n";
        assert_eq!(
            parse_status(text).unwrap(),
            MemorySample {
                vm_rss: 1536 * 1024,
                vm_hwm: 2048 * 1024
            }
        );
    }

    #[test]
    fn a_missing_field_is_named() {
        assert_eq!(parse_status("Name:\tkthreadd\n"), Err("VmRSS"));
        assert_eq!(parse_status("VmRSS:\t 4 kB\n"), Err("VmHWM"));
    }

    #[test]
    fn a_real_process_has_plausible_figures() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let s = sample(child.id()).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(s.vm_rss > 0 && s.vm_rss < 64 << 20, "{s:?}");
        assert!(s.vm_hwm >= s.vm_rss, "{s:?}");
    }
}
