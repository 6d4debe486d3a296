//! The optional audit log: one JSON line per API request (time, user, groups, verb,
//! resource, namespace, name, response code, latency) appended to
//! `<data-dir>/audit/audit.log` and rotated by size. Lines go through a bounded channel to
//! a writer thread, so file I/O never runs on the control-plane executor; when the writer
//! falls behind, lines are dropped and counted instead of slowing the API down. When the
//! log is off nothing is created or written at all (the caller simply holds no
//! [`AuditLog`]). Latency runs to the moment the handler produced its response: for a
//! watch that is when the stream starts, not its end.

use std::cell::Cell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use miniserde::json::{Array, Number, Object, Value};

use crate::api::route::{self, Route, Verb};
use crate::object::time::format_rfc3339_micros;

/// Lines waiting for the writer; beyond this they are dropped.
const QUEUE_LINES: usize = 1024;

/// Size at which `audit.log` is rotated, and how many rotated files are kept.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    pub max_bytes: u64,
    pub keep: usize,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_bytes: 10 * 1024 * 1024,
            keep: 3,
        }
    }
}

/// The sending end; dropping it lets the writer thread finish and exit.
#[derive(Debug)]
pub struct AuditLog {
    lines: SyncSender<String>,
    dropped: Cell<u64>,
    writer: Option<JoinHandle<()>>,
}

/// What one request contributes to its line.
#[derive(Debug)]
pub struct AuditEvent<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub watch: bool,
    pub user: Option<(&'a str, &'a [String])>,
    pub code: u16,
    pub latency: Duration,
    /// Audit annotations (Pod Security audit mode), written as upstream's `annotations`.
    pub annotations: &'a [(String, String)],
}

impl AuditLog {
    /// The log if `enabled` (see [`AuditLog::start`]); when off, touches nothing.
    pub fn open(
        enabled: bool,
        data_dir: &Path,
        rotation: Rotation,
    ) -> io::Result<Option<AuditLog>> {
        enabled
            .then(|| AuditLog::start(data_dir, rotation))
            .transpose()
    }

    /// Starts the writer for `<data_dir>/audit/audit.log`.
    pub fn start(data_dir: &Path, rotation: Rotation) -> io::Result<AuditLog> {
        let dir = data_dir.join("audit");
        fs::create_dir_all(&dir)?;
        let writer = Writer::open(dir.join("audit.log"), rotation)?;
        let (lines, rx) = sync_channel(QUEUE_LINES);
        let writer = std::thread::Builder::new()
            .name("wisp-audit".into())
            .spawn(move || writer.run(rx))?;
        Ok(AuditLog {
            lines,
            dropped: Cell::new(0),
            writer: Some(writer),
        })
    }

    /// Writes out the queued lines and stops the writer (blocking: call off the executor,
    /// or at exit).
    pub fn close(mut self) {
        let writer = self.writer.take();
        drop(self);
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }

    /// Queues the line for `event`; never blocks.
    pub fn record(&self, event: &AuditEvent<'_>) {
        let line = event_line(event, SystemTime::now());
        match self.lines.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.set(self.dropped.get() + 1);
            }
        }
    }

    /// Lines dropped because the writer was behind (or had failed).
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }
}

/// The JSON line (without newline) for `event` at `now`.
pub fn event_line(event: &AuditEvent<'_>, now: SystemTime) -> String {
    let mut line = Object::new();
    let text = |s: &str| Value::String(s.to_owned());
    line.insert("timestamp".into(), text(&format_rfc3339_micros(now)));
    let (user, groups) = event.user.unwrap_or(("", &[]));
    line.insert("user".into(), text(user));
    let groups = groups.iter().map(|g| text(g)).collect::<Array>();
    line.insert("groups".into(), Value::Array(groups));
    line.insert("verb".into(), text(&verb(event)));
    line.insert("requestURI".into(), text(event.path));
    if let Route::Resource(r) = route::parse(event.path) {
        let fields = [
            ("apiGroup", Some(r.group)),
            ("resource", Some(r.plural)),
            ("subresource", r.subresource),
            ("namespace", r.namespace),
            ("name", r.name),
        ];
        for (key, value) in fields {
            if let Some(value) = value.filter(|v| !v.is_empty() || key == "apiGroup") {
                line.insert(key.into(), text(value));
            }
        }
    }
    line.insert("code".into(), Value::Number(Number::U64(event.code.into())));
    if !event.annotations.is_empty() {
        let mut annotations = Object::new();
        for (k, v) in event.annotations {
            annotations.insert(k.clone(), text(v));
        }
        line.insert("annotations".into(), Value::Object(annotations));
    }
    let micros = u64::try_from(event.latency.as_micros()).unwrap_or(u64::MAX);
    line.insert("latencyMicros".into(), Value::Number(Number::U64(micros)));
    miniserde::json::to_string(&Value::Object(line))
}

/// The Kubernetes verb on resource paths, the lower-case method elsewhere (as upstream).
fn verb(event: &AuditEvent<'_>) -> String {
    if let Route::Resource(r) = route::parse(event.path)
        && let Some(verb) = Verb::from_request(event.method, r.name.is_some(), event.watch)
    {
        return verb.as_str().to_owned();
    }
    event.method.to_ascii_lowercase()
}

/// The writer thread's file and its size.
struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
}

impl Writer {
    fn open(path: PathBuf, rotation: Rotation) -> io::Result<Writer> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(Writer {
            path,
            file,
            size,
            rotation,
        })
    }

    fn run(mut self, lines: Receiver<String>) {
        for mut line in lines {
            line.push('\n');
            // A full disk must not stop the API; the lines are lost until it recovers.
            let _ = self.write(line.as_bytes());
        }
    }

    fn write(&mut self, line: &[u8]) -> io::Result<()> {
        if self.size > 0 && self.size + line.len() as u64 > self.rotation.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// audit.log -> audit.log.1 -> ... -> audit.log.<keep>; the oldest is overwritten.
    fn rotate(&mut self) -> io::Result<()> {
        let numbered = |n: usize| PathBuf::from(format!("{}.{n}", self.path.display()));
        for n in (1..self.rotation.keep).rev() {
            let from = numbered(n);
            if from.exists() {
                fs::rename(&from, numbered(n + 1))?;
            }
        }
        if self.rotation.keep > 0 {
            fs::rename(&self.path, numbered(1))?;
        } else {
            fs::remove_file(&self.path)?;
        }
        *self = Writer::open(self.path.clone(), self.rotation)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wisp-audit-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn event<'a>(path: &'a str, groups: &'a [String]) -> AuditEvent<'a> {
        AuditEvent {
            method: "GET",
            path,
            watch: false,
            user: Some(("alice", groups)),
            code: 200,
            latency: Duration::from_micros(1500),
            annotations: &[],
        }
    }

    fn all_lines(dir: &Path) -> Vec<String> {
        let mut lines = Vec::new();
        for name in ["audit.log.3", "audit.log.2", "audit.log.1", "audit.log"] {
            if let Ok(text) = fs::read_to_string(dir.join("audit").join(name)) {
                lines.extend(text.lines().map(str::to_owned));
            }
        }
        lines
    }

    #[test]
    fn line_names_user_verb_resource_and_code() {
        let groups = vec!["system:authenticated".to_owned()];
        let e = AuditEvent {
            method: "GET",
            watch: true,
            ..event("/api/v1/namespaces/default/pods", &groups)
        };
        let line = event_line(&e, SystemTime::UNIX_EPOCH);
        assert_eq!(
            line,
            concat!(
                r#"{"apiGroup":"","code":200,"groups":["system:authenticated"],"#,
                r#""latencyMicros":1500,"namespace":"default","#,
                r#""requestURI":"/api/v1/namespaces/default/pods","resource":"pods","#,
                r#""timestamp":"1970-01-01T00:00:00.000000Z","user":"alice","verb":"watch"}"#
            )
        );
        let e = AuditEvent {
            method: "PATCH",
            user: None,
            code: 401,
            ..event("/apis/apps/v1/namespaces/x/deployments/web/scale", &groups)
        };
        let line = event_line(&e, SystemTime::UNIX_EPOCH);
        for part in [
            r#""apiGroup":"apps","code":401,"groups":[]"#,
            r#""name":"web","namespace":"x""#,
            r#""resource":"deployments","subresource":"scale""#,
            r#""user":"","verb":"patch"}"#,
        ] {
            assert!(line.contains(part), "{part} missing in {line}");
        }
        let annotations = [(
            "pod-security.kubernetes.io/audit-violations".to_owned(),
            "x".to_owned(),
        )];
        let e = AuditEvent {
            annotations: &annotations,
            ..event("/api/v1/namespaces/default/pods", &groups)
        };
        let line = event_line(&e, SystemTime::UNIX_EPOCH);
        assert!(
            line.contains(r#""annotations":{"pod-security.kubernetes.io/audit-violations":"x"}"#),
            "{line}"
        );
    }

    #[test]
    fn enabled_log_writes_lines_and_rotates_by_size() {
        let dir = temp_dir("rotate");
        let rotation = Rotation {
            max_bytes: 1000,
            keep: 2,
        };
        let log = AuditLog::start(&dir, rotation).unwrap();
        let groups = vec!["g".to_owned()];
        for _ in 0..40 {
            log.record(&event("/api/v1/namespaces/default/configmaps/c", &groups));
        }
        assert_eq!(log.dropped(), 0);
        log.close();
        let lines = all_lines(&dir);
        let audit = dir.join("audit");
        assert!(audit.join("audit.log.1").exists());
        assert!(audit.join("audit.log.2").exists());
        assert!(
            !audit.join("audit.log.3").exists(),
            "keeps only 2 rotated files"
        );
        for name in ["audit.log", "audit.log.1", "audit.log.2"] {
            let size = fs::metadata(audit.join(name)).unwrap().len();
            assert!(size <= 1000, "{name} is {size} bytes");
        }
        assert!(lines.len() >= 3, "{} lines", lines.len());
        assert!(lines.len() < 40, "the oldest lines were rotated away");
        for line in &lines {
            let value: Value = miniserde::json::from_str(line).unwrap();
            let Value::Object(o) = value else { panic!() };
            assert!(matches!(o.get("name"), Some(Value::String(n)) if n == "c"));
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn disabled_log_creates_nothing() {
        let dir = temp_dir("off");
        let log = AuditLog::open(false, &dir, Rotation::default()).unwrap();
        assert!(log.is_none());
        assert!(!dir.join("audit").exists());
        let log = AuditLog::open(true, &dir, Rotation::default())
            .unwrap()
            .unwrap();
        log.close();
        assert!(dir.join("audit/audit.log").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn full_queue_drops_and_counts_instead_of_blocking() {
        let (lines, _rx) = sync_channel(2);
        let log = AuditLog {
            lines,
            dropped: Cell::new(0),
            writer: None,
        };
        let groups = Vec::new();
        for _ in 0..5 {
            log.record(&event("/api", &groups));
        }
        assert_eq!(log.dropped(), 3);
    }
}
