//! Opening a store directory: lock, clean up after interrupted compactions, pick the active
//! segment, replay it into the index, and tell a torn tail (truncate) from corruption of
//! synced data (refuse). Follows "Open" and "Recovery" in docs/store-format.md.

use std::sync::Arc;

use crate::backend::{Backend, BackendFile};
use crate::codec::{Header, Record, Revision};
use crate::error::OpenError;
use crate::index::{Entry, Index, Location};
use crate::options::Options;
use crate::segment::{self, BadRecord, Tail};

/// What open found and did, for logs and `wisp store check`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segment: String,
    pub records: u64,
    /// Bytes of a torn tail that were cut off, and where.
    pub truncated: Option<(u64, u64)>,
    /// Leftover files of an interrupted compaction or restore that were removed.
    pub removed_files: Vec<String>,
}

/// The state rebuilt from disk.
pub struct Recovered {
    pub lock: Box<dyn Send + Sync>,
    pub file: Arc<dyn BackendFile>,
    pub sequence: u64,
    pub end: u64,
    /// File length: the records end at `end`, zeros follow up to here.
    pub allocated: u64,
    pub index: Index,
    /// Highest revision seen or reserved: the counter starts here.
    pub revision: Revision,
    pub live_bytes: u64,
    pub report: RecoveryReport,
}

pub fn io_err(backend: &dyn Backend, name: &str) -> impl FnOnce(std::io::Error) -> OpenError {
    let file = backend.describe(name);
    move |error| OpenError::Io { file, error }
}

pub fn recover(backend: &dyn Backend, options: &Options) -> Result<Recovered, OpenError> {
    let lock = backend.lock().map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => OpenError::Locked {
            dir: backend.describe(""),
        },
        _ => OpenError::Io {
            file: backend.describe("LOCK"),
            error: e,
        },
    })?;
    let mut report = RecoveryReport::default();
    let sequence = choose_segment(backend, &mut report)?;
    let name = segment::segment_name(sequence);
    report.segment = backend.describe(&name);
    let file = backend.open(&name, false).map_err(io_err(backend, &name))?;
    let header = segment::read_header(&*file)
        .map_err(io_err(backend, &name))?
        .map_err(|e| OpenError::BadHeader {
            file: backend.describe(&name),
            reason: e.to_string(),
        })?;
    let replay = replay(&*file, header, options).map_err(io_err(backend, &name))?;
    let end = replay.scan_end;
    let mut allocated = replay.file_len;
    if let Some(bad) = replay.bad {
        let tail = segment::classify_tail(&*file, bad.offset).map_err(io_err(backend, &name))?;
        match tail {
            Tail::Preallocated => {}
            Tail::Corrupt => {
                return Err(OpenError::Corrupt {
                    file: backend.describe(&name),
                    offset: bad.offset,
                    reason: bad.reason,
                });
            }
            Tail::Torn => {
                file.set_len(end)
                    .and_then(|()| file.sync_data())
                    .map_err(io_err(backend, &name))?;
                report.truncated = Some((end, replay.file_len - end));
                allocated = end;
            }
        }
    }
    report.records = replay.records;
    Ok(Recovered {
        lock,
        file,
        sequence,
        end,
        allocated,
        index: replay.index,
        revision: replay.revision,
        live_bytes: replay.live_bytes,
        report,
    })
}

/// Removes leftovers and returns the active segment's sequence, creating the first one.
fn choose_segment(backend: &dyn Backend, report: &mut RecoveryReport) -> Result<u64, OpenError> {
    let names = backend.list().map_err(io_err(backend, ""))?;
    let mut segments: Vec<u64> = Vec::new();
    for name in &names {
        match segment::parse_name(name) {
            Some((_, true)) => {
                backend.remove(name).map_err(io_err(backend, name))?;
                report.removed_files.push(name.clone());
            }
            Some((seq, false)) => segments.push(seq),
            None => {}
        }
    }
    segments.sort_unstable();
    let Some(&active) = segments.last() else {
        let header = Header {
            sequence: 1,
            floor: 0,
        }
        .encode();
        segment::install(backend, 1, &header)
            .map_err(io_err(backend, &segment::segment_name(1)))?;
        return Ok(1);
    };
    for &old in &segments[..segments.len() - 1] {
        let name = segment::segment_name(old);
        backend.remove(&name).map_err(io_err(backend, &name))?;
        report.removed_files.push(name);
    }
    if !report.removed_files.is_empty() {
        backend.sync_dir().map_err(io_err(backend, ""))?;
    }
    Ok(active)
}

pub(crate) struct Replay {
    pub index: Index,
    pub revision: Revision,
    pub live_bytes: u64,
    pub records: u64,
    pub scan_end: u64,
    pub file_len: u64,
    pub bad: Option<BadRecord>,
}

pub(crate) fn replay(
    file: &dyn BackendFile,
    header: Header,
    options: &Options,
) -> std::io::Result<Replay> {
    let mut index = Index::default();
    let mut revision = header.floor;
    let mut last_write: Revision = 0;
    let mut live_bytes = 0u64;
    let mut records = 0u64;
    let end = segment::scan(file, |offset, len, record| {
        if let Some(rev) = record.revision() {
            if rev <= last_write {
                return Err(format!("revision {rev} does not follow {last_write}"));
            }
            last_write = rev;
        }
        records += 1;
        revision = revision.max(record.revision().unwrap_or(0));
        match record {
            Record::Put {
                revision: rev,
                key,
                create_revision,
                version,
                ..
            } => {
                if options.is_volatile(key.0) {
                    return Ok(());
                }
                let entry = Entry {
                    create_revision: *create_revision,
                    mod_revision: *rev,
                    version: *version,
                    location: Location::Disk { offset, len },
                    value: None,
                };
                live_bytes += u64::from(len);
                if let Some(old) = index.insert(Arc::from(key.0), entry) {
                    live_bytes -= disk_len(&old);
                }
            }
            Record::Delete { key, .. } => {
                if let Some(old) = index.remove(key.0) {
                    live_bytes -= disk_len(&old);
                }
            }
            Record::Batch { floor, .. } => revision = revision.max(*floor),
        }
        Ok(())
    })?;
    Ok(Replay {
        index,
        revision,
        live_bytes,
        records,
        scan_end: end.end,
        file_len: end.file_len,
        bad: end.bad,
    })
}

pub fn disk_len(entry: &Entry) -> u64 {
    match entry.location {
        Location::Disk { len, .. } => u64::from(len),
        Location::Memory => 0,
    }
}
