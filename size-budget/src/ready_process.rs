//! Starts a process and waits for the line that says it is ready (`wisp ready` for
//! `wisp run`), keeping its stdout and stderr drained so it never blocks on a full pipe,
//! and the last lines at hand for the error when it dies first.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

const TAIL_LINES: usize = 10;

/// A running child that has printed its ready line.
#[derive(Debug)]
pub struct ReadyProcess {
    child: Child,
    lines: Receiver<String>,
    tail: VecDeque<String>,
}

#[derive(Debug)]
pub enum ReadyError {
    Spawn {
        program: String,
        source: io::Error,
    },
    ExitedBeforeReady {
        marker: String,
        status: ExitStatus,
        tail: Vec<String>,
    },
    NotReady {
        marker: String,
        waited: Duration,
        tail: Vec<String>,
    },
}

impl fmt::Display for ReadyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadyError::Spawn { program, source } => write!(f, "cannot start {program}: {source}"),
            ReadyError::ExitedBeforeReady {
                marker,
                status,
                tail,
            } => write!(
                f,
                "the process exited ({status}) before printing `{marker}`; its last output: {}",
                quote_tail(tail)
            ),
            ReadyError::NotReady {
                marker,
                waited,
                tail,
            } => write!(
                f,
                "no `{marker}` line after {:.0} s; its last output: {}",
                waited.as_secs_f64(),
                quote_tail(tail)
            ),
        }
    }
}

impl std::error::Error for ReadyError {}

fn quote_tail(tail: &[String]) -> String {
    if tail.is_empty() {
        "(none)".to_owned()
    } else {
        tail.join(" | ")
    }
}

impl ReadyProcess {
    /// Spawns `command` and returns once a stdout or stderr line starts with `marker`.
    pub fn spawn(
        mut command: Command,
        marker: &str,
        timeout: Duration,
    ) -> Result<ReadyProcess, ReadyError> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| ReadyError::Spawn {
            program: command.get_program().to_string_lossy().into_owned(),
            source,
        })?;
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            forward_lines(out, tx.clone());
        }
        if let Some(err) = child.stderr.take() {
            forward_lines(err, tx);
        }
        let mut process = ReadyProcess {
            child,
            lines,
            tail: VecDeque::new(),
        };
        process.wait_for(marker, timeout)?;
        Ok(process)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Drains pending output and tells whether the process has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        while let Ok(line) = self.lines.try_recv() {
            self.remember(line);
        }
        self.child.try_wait().ok().flatten()
    }

    pub fn tail(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }

    /// Kills the process (SIGKILL: the measurement is over and its data dir is thrown
    /// away) and reaps it.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn wait_for(&mut self, marker: &str, timeout: Duration) -> Result<(), ReadyError> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.starts_with(marker) => return Ok(()),
                Ok(line) => self.remember(line),
                Err(RecvTimeoutError::Timeout) => self.fail_if_exited(marker)?,
                // Both pipes closed: recv no longer waits, so poll at the same pace.
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail_if_exited(marker)?;
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        let tail = self.tail();
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err(ReadyError::NotReady {
            marker: marker.to_owned(),
            waited: started.elapsed(),
            tail,
        })
    }

    /// Lines still in the channel are read first: a process may print the marker and
    /// exit between two polls.
    fn fail_if_exited(&mut self, marker: &str) -> Result<(), ReadyError> {
        let Some(status) = self.child.try_wait().ok().flatten() else {
            return Ok(());
        };
        while let Ok(line) = self.lines.try_recv() {
            if line.starts_with(marker) {
                return Ok(());
            }
            self.remember(line);
        }
        Err(ReadyError::ExitedBeforeReady {
            marker: marker.to_owned(),
            status,
            tail: self.tail(),
        })
    }

    fn remember(&mut self, line: String) {
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}

fn forward_lines(pipe: impl Read + Send + 'static, tx: Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn a_process_that_prints_the_marker_is_ready() {
        let mut p = ReadyProcess::spawn(
            sh("echo starting; echo 'wisp ready: api on :6443'; exec sleep 10"),
            "wisp ready",
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(p.exit_status(), None);
        assert_eq!(p.tail(), ["starting"]);
        p.stop();
    }

    #[test]
    fn the_marker_may_come_on_stderr() {
        let p = ReadyProcess::spawn(
            sh("echo 'wisp ready' >&2; exec sleep 10"),
            "wisp ready",
            Duration::from_secs(5),
        )
        .unwrap();
        p.stop();
    }

    #[test]
    fn exiting_before_ready_is_an_error_with_the_last_output() {
        let e = ReadyProcess::spawn(
            sh("echo 'wisp: run is not available' >&2; exit 3"),
            "wisp ready",
            Duration::from_secs(5),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, ReadyError::ExitedBeforeReady { .. }), "{text}");
        assert!(text.contains("before printing `wisp ready`"), "{text}");
        assert!(text.contains("wisp: run is not available"), "{text}");
    }

    #[test]
    fn silence_past_the_timeout_is_an_error() {
        let e = ReadyProcess::spawn(
            sh("exec sleep 10"),
            "wisp ready",
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(matches!(e, ReadyError::NotReady { .. }), "{e}");
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let e = ReadyProcess::spawn(
            Command::new("/nonexistent/wisp"),
            "wisp ready",
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("cannot start /nonexistent/wisp"),
            "{e}"
        );
    }
}
