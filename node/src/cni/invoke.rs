//! Running one CNI plugin binary: the `CNI_*` environment, the configuration on stdin, a
//! deadline after which the plugin is killed, and the error document it prints on failure.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use miniserde::json::{self, Value};

use super::error::CniError;
use crate::json::{as_object, as_u64, str_field};
use crate::runtime::exits::wait_until;

/// The CNI operations wisp performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Del,
    Check,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Add => "ADD",
            Op::Del => "DEL",
            Op::Check => "CHECK",
        }
    }
}

/// One call's parameters, passed in the environment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Invocation<'a> {
    pub op: Op,
    pub container_id: &'a str,
    /// Empty when the namespace is gone (allowed for DEL).
    pub netns: &'a str,
    pub ifname: &'a str,
    /// `CNI_ARGS`, `K=V;K=V`.
    pub args: &'a str,
}

/// Where plugins are found and how long each may run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Runner<'a> {
    pub bin_dirs: &'a [PathBuf],
    pub timeout: Duration,
}

impl Runner<'_> {
    /// Runs plugin `kind` and returns its stdout on success.
    pub fn run(&self, kind: &str, call: &Invocation<'_>, stdin: &str) -> Result<String, CniError> {
        let binary = self.find(kind)?;
        let mut child = self
            .spawn(&binary, call)
            .map_err(|e| CniError::io(&binary, e))?;
        let input = child.stdin.take().map(|mut pipe| {
            let bytes = stdin.as_bytes().to_vec();
            thread::spawn(move || pipe.write_all(&bytes))
        });
        let stdout = child
            .stdout
            .take()
            .map(|pipe| thread::spawn(move || read_all(pipe)));
        let stderr = child
            .stderr
            .take()
            .map(|pipe| thread::spawn(move || read_all(pipe)));
        let status = match wait_until(&mut child, Instant::now() + self.timeout) {
            Ok(Some(status)) => status,
            Ok(None) => {
                // The plugin may hold locks (iptables, host-local); killing it is the only
                // way to free the caller, and the plugins are written to be re-run.
                let _ = child.kill();
                let _ = child.wait();
                return Err(CniError::Timeout {
                    plugin: kind.to_owned(),
                    command: call.op.name(),
                    after: self.timeout,
                });
            }
            Err(e) => return Err(CniError::io(&binary, e)),
        };
        if let Some(input) = input {
            let _ = input.join();
        }
        let out = stdout.and_then(|t| t.join().ok()).unwrap_or_default();
        let err = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
        if status.success() {
            return Ok(out);
        }
        Err(plugin_error(kind, call.op, &status, &out, &err))
    }

    fn find(&self, kind: &str) -> Result<PathBuf, CniError> {
        let found = self
            .bin_dirs
            .iter()
            .map(|d| d.join(kind))
            .find(|p| is_executable(p));
        found.ok_or_else(|| CniError::PluginNotFound {
            plugin: kind.to_owned(),
            dirs: self.bin_dirs.to_vec(),
        })
    }

    fn spawn(&self, binary: &Path, call: &Invocation<'_>) -> std::io::Result<Child> {
        let path = std::env::join_paths(self.bin_dirs).unwrap_or_default();
        let mut cmd = Command::new(binary);
        // Plugins need the inherited PATH (bridge and portmap run iptables), but no CNI_*
        // variable of our own environment may leak into the call.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CNI_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("CNI_COMMAND", call.op.name())
            .env("CNI_CONTAINERID", call.container_id)
            .env("CNI_NETNS", call.netns)
            .env("CNI_IFNAME", call.ifname)
            .env("CNI_ARGS", call.args)
            .env("CNI_PATH", path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn read_all(mut pipe: impl Read) -> String {
    let mut bytes = Vec::new();
    let _ = pipe.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The typed error for a failed plugin: its CNI error document when it printed one.
fn plugin_error(kind: &str, op: Op, status: &ExitStatus, out: &str, err: &str) -> CniError {
    let doc: Option<Value> = json::from_str(out.trim()).ok();
    let fields = doc.as_ref().and_then(as_object).and_then(|o| {
        let code = o.get("code").and_then(as_u64)?;
        let msg = str_field(o, "msg").unwrap_or_default().to_owned();
        let details = str_field(o, "details").unwrap_or_default().to_owned();
        Some((code, msg, details))
    });
    match fields {
        Some((code, msg, details)) => CniError::Plugin {
            plugin: kind.to_owned(),
            command: op.name(),
            code,
            msg,
            details,
        },
        None => CniError::PluginFailed {
            plugin: kind.to_owned(),
            command: op.name(),
            status: status.to_string(),
            stderr: if err.trim().is_empty() {
                out.to_owned()
            } else {
                err.to_owned()
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shell script standing in for a plugin: the real plugins cannot be made to hang or
    /// to print arbitrary error documents on demand.
    fn fake_plugin(dir: &Path, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn call(op: Op) -> Invocation<'static> {
        Invocation {
            op,
            container_id: "c1",
            netns: "/x",
            ifname: "eth0",
            args: "A=1",
        }
    }

    #[test]
    fn environment_stdin_errors_and_timeout() {
        let dir = std::env::temp_dir().join(format!("wisp-cni-invoke-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        fake_plugin(
            &dir,
            "echoenv",
            r#"echo "$CNI_COMMAND $CNI_CONTAINERID $CNI_NETNS $CNI_IFNAME $CNI_ARGS $(cat)""#,
        );
        fake_plugin(
            &dir,
            "fails",
            r#"echo '{"cniVersion":"1.0.0","code":11,"msg":"no luck","details":"d"}'; exit 1"#,
        );
        fake_plugin(&dir, "crashes", "echo boom >&2; exit 2");
        fake_plugin(&dir, "hangs", "exec sleep 30");
        let dirs = [PathBuf::from("/nonexistent"), dir.clone()];
        let runner = Runner {
            bin_dirs: &dirs,
            timeout: Duration::from_millis(300),
        };

        let out = runner.run("echoenv", &call(Op::Del), "{}").unwrap();
        assert_eq!(out.trim(), "DEL c1 /x eth0 A=1 {}");
        match runner.run("fails", &call(Op::Add), "{}").unwrap_err() {
            CniError::Plugin {
                code: 11,
                msg,
                details,
                command: "ADD",
                ..
            } => {
                assert_eq!((msg.as_str(), details.as_str()), ("no luck", "d"));
            }
            other => panic!("unexpected {other}"),
        }
        let e = runner.run("crashes", &call(Op::Add), "{}").unwrap_err();
        assert!(
            matches!(&e, CniError::PluginFailed { stderr, .. } if stderr.trim() == "boom"),
            "{e}"
        );
        let started = Instant::now();
        let e = runner.run("hangs", &call(Op::Add), "{}").unwrap_err();
        assert!(matches!(e, CniError::Timeout { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let e = runner.run("absent", &call(Op::Add), "{}").unwrap_err();
        assert!(matches!(e, CniError::PluginNotFound { .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
