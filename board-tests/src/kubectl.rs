//! kubectl on the host, against the guest's API through QEMU's forwarded port.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::Error;

pub struct Kubectl {
    kubeconfig: PathBuf,
}

impl Kubectl {
    /// Writes the guest's kubeconfig with its server moved to the forwarded host port (the
    /// serving certificate covers 127.0.0.1).
    pub fn from_guest_kubeconfig(text: &str, port: u16, path: &Path) -> Result<Kubectl, Error> {
        let rewritten: Vec<String> = text
            .lines()
            .map(|line| match line.split_once("server:") {
                Some((indent, _)) => format!("{indent}server: https://127.0.0.1:{port}"),
                None => line.to_owned(),
            })
            .collect();
        if !rewritten
            .iter()
            .any(|l| l.contains("server: https://127.0.0.1"))
        {
            return Err(Error::Scenario(format!(
                "the guest's kubeconfig has no server line:\n{text}"
            )));
        }
        std::fs::write(path, rewritten.join("\n") + "\n").map_err(|e| Error::io(path, e))?;
        Ok(Kubectl {
            kubeconfig: path.to_owned(),
        })
    }

    /// Runs kubectl; stdout on success.
    pub fn run(&self, args: &[&str]) -> Result<String, Error> {
        self.run_with_input(args, None)
    }

    pub fn run_with_input(&self, args: &[&str], input: Option<&str>) -> Result<String, Error> {
        let mut child = Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .args(["--request-timeout=60s"])
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Command {
                command: "kubectl".into(),
                reason: e.to_string(),
            })?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin
                .write_all(text.as_bytes())
                .map_err(|e| Error::Command {
                    command: "kubectl".into(),
                    reason: e.to_string(),
                })?;
        }
        let output = child.wait_with_output().map_err(|e| Error::Command {
            command: "kubectl".into(),
            reason: e.to_string(),
        })?;
        if !output.status.success() {
            return Err(Error::Command {
                command: format!("kubectl {}", args.join(" ")),
                reason: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}
