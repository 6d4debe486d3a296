//! Container logs in the CRI format kubectl and log shippers expect, under
//! `<log root>/<namespace>_<pod>_<uid>/<container>/<restart count>.log`: one line per write,
//! `<RFC 3339 nanos> <stdout|stderr> <F|P> <text>`. A container writes to FIFOs that it
//! holds open for reading and writing itself, so a wisp restart never breaks its stdout
//! (writes wait in the pipe until the new wisp reads again) and no helper process is
//! needed. Files rotate by size.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use async_io::Async;
use event_listener::Event;
use futures_lite::AsyncReadExt;
use rustix::fs::{Mode, OFlags};

/// A line longer than this is split into `P` (partial) records, as the CRI does.
const MAX_LINE: usize = 16 * 1024;
/// Rotated files kept per container beside the live one.
const KEEP_ROTATED: usize = 4;

/// Where a container's logs go.
#[derive(Debug, Clone)]
pub struct LogPaths {
    pub dir: PathBuf,
}

impl LogPaths {
    pub fn new(root: &Path, namespace: &str, pod: &str, uid: &str, container: &str) -> LogPaths {
        LogPaths {
            dir: root
                .join(format!("{namespace}_{pod}_{uid}"))
                .join(container),
        }
    }

    pub fn file(&self, restart_count: u32) -> PathBuf {
        self.dir.join(format!("{restart_count}.log"))
    }
}

/// Creates a FIFO (replacing a stale one) and opens the end the container gets: read and
/// write, so the pipe always has a reader and the container never sees EPIPE.
pub fn container_fifo(path: &Path) -> std::io::Result<OwnedFd> {
    let _absent = std::fs::remove_file(path);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        Mode::from_raw_mode(0o600),
        0,
    )?;
    Ok(rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// wisp's end of a FIFO: read only, non-blocking. EOF comes once every writer (the
/// container) has closed it.
pub fn reader_end(path: &Path) -> std::io::Result<Async<File>> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Async::new(File::from(fd))
}

/// Notifies followers (`kubectl logs -f`) of new lines and of the end of the container.
#[derive(Default)]
pub struct LogSignal {
    pub written: Event,
    pub finished: Cell<bool>,
}

/// Appends CRI records for both streams of one container run to its log file.
pub struct CriWriter {
    path: PathBuf,
    file: RefCell<File>,
    written: Cell<u64>,
    max_bytes: u64,
    signal: Rc<LogSignal>,
}

impl CriWriter {
    pub fn open(path: &Path, max_bytes: u64, signal: Rc<LogSignal>) -> std::io::Result<CriWriter> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let written = file.metadata()?.len();
        Ok(CriWriter {
            path: path.to_owned(),
            file: RefCell::new(file),
            written: Cell::new(written),
            max_bytes,
            signal,
        })
    }

    /// Writes one record. Page-cache appends of a few hundred bytes; a full disk loses the
    /// line rather than stalling the container.
    fn record(&self, stream: &str, partial: bool, text: &[u8]) {
        let mut line = Vec::with_capacity(text.len() + 48);
        line.extend_from_slice(rfc3339_nanos_now().as_bytes());
        line.push(b' ');
        line.extend_from_slice(stream.as_bytes());
        line.extend_from_slice(if partial { b" P " } else { b" F " });
        line.extend_from_slice(text);
        line.push(b'\n');
        if self.written.get() + line.len() as u64 > self.max_bytes {
            self.rotate();
        }
        if self.file.borrow_mut().write_all(&line).is_ok() {
            self.written.set(self.written.get() + line.len() as u64);
        }
        self.signal.written.notify(usize::MAX);
    }

    fn rotate(&self) {
        for n in (1..KEEP_ROTATED).rev() {
            let _absent = std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1));
        }
        let _ = std::fs::rename(&self.path, rotated(&self.path, 1));
        if let Ok(file) = File::create(&self.path) {
            *self.file.borrow_mut() = file;
            self.written.set(0);
        }
    }
}

fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Copies one stream into the writer until the container closes it.
pub async fn copy_stream(mut from: Async<File>, stream: &'static str, to: Rc<CriWriter>) {
    // Small: one per stream of every running container, and log lines are short.
    let mut buf = vec![0u8; 2048];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
            to.record(stream, false, &pending[..pos]);
            pending.drain(..=pos);
        }
        while pending.len() >= MAX_LINE {
            to.record(stream, true, &pending[..MAX_LINE]);
            pending.drain(..MAX_LINE);
        }
    }
    if !pending.is_empty() {
        to.record(stream, false, &pending);
    }
}

/// Now as `2026-11-21T09:15:41.123456789Z`.
pub fn rfc3339_nanos_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    crate::agent::time::format_nanos(now.as_secs(), now.subsec_nanos())
}

/// One parsed CRI record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub timestamp: &'a str,
    pub stream: &'a str,
    pub partial: bool,
    pub text: &'a [u8],
}

pub fn parse_record(line: &[u8]) -> Option<Record<'_>> {
    let mut parts = line.splitn(4, |&b| b == b' ');
    let timestamp = std::str::from_utf8(parts.next()?).ok()?;
    let stream = std::str::from_utf8(parts.next()?).ok()?;
    let tag = parts.next()?;
    let text = parts.next().unwrap_or(&[]);
    Some(Record {
        timestamp,
        stream,
        partial: tag == b"P",
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_back() {
        let r = parse_record(b"2026-11-21T09:15:41.000000001Z stderr P a b c").unwrap();
        assert_eq!(r.stream, "stderr");
        assert!(r.partial);
        assert_eq!(r.text, b"a b c");
        let empty = parse_record(b"2026-11-21T09:15:41.000000001Z stdout F ").unwrap();
        assert_eq!(empty.text, b"");
    }

    #[test]
    fn lines_are_split_written_and_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let signal = Rc::new(LogSignal::default());
        let w = Rc::new(CriWriter::open(&path, 200, signal).unwrap());
        let fifo = dir.path().join("out");
        let container_end = container_fifo(&fifo).unwrap();
        let reader = reader_end(&fifo).unwrap();
        let mut writer = File::from(container_end);
        writer.write_all(b"one\ntwo\nthree").unwrap();
        drop(writer);
        futures_lite::future::block_on(copy_stream(reader, "stdout", Rc::clone(&w)));
        let text = std::fs::read_to_string(&path).unwrap();
        let texts: Vec<&[u8]> = text
            .lines()
            .map(|l| parse_record(l.as_bytes()).unwrap().text)
            .collect();
        assert_eq!(texts, vec![&b"one"[..], b"two", b"three"]);
        for _ in 0..10 {
            w.record("stdout", false, b"0123456789012345678901234567890123456789");
        }
        assert!(rotated(&path, 1).exists(), "rotated past 200 bytes");
        assert!(std::fs::metadata(&path).unwrap().len() <= 200);
    }
}
