//! Offline and online maintenance: consistent snapshots of a running store, restore into an
//! empty directory, a read-only `check`, and `repair` that truncates at the first bad record
//! after saying what it drops. These back `wisp store snapshot|restore|check|repair`.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::{Backend, BackendFile, FsBackend};
use crate::codec::{self, HEADER_LEN, Header, Record, Revision};
use crate::error::OpenError;
use crate::index::Location;
use crate::options::Options;
use crate::recovery::{self, io_err};
use crate::segment;
use crate::store::Store;

#[derive(Debug)]
pub enum BackupError {
    Io {
        file: String,
        error: io::Error,
    },
    Open(OpenError),
    /// `restore` only writes into a directory without a segment.
    NotEmpty {
        dir: String,
    },
    /// The snapshot file is damaged or not a snapshot.
    Invalid {
        file: String,
        reason: String,
    },
}

impl fmt::Display for BackupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { file, error } => write!(f, "{file}: {error}"),
            Self::Open(e) => e.fmt(f),
            Self::NotEmpty { dir } => write!(
                f,
                "{dir} already holds a store; restore needs an empty directory"
            ),
            Self::Invalid { file, reason } => write!(f, "{file}: not a valid snapshot ({reason})"),
        }
    }
}

impl std::error::Error for BackupError {}

impl From<OpenError> for BackupError {
    fn from(e: OpenError) -> BackupError {
        BackupError::Open(e)
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> BackupError {
    let file = path.display().to_string();
    move |error| BackupError::Io { file, error }
}

/// What a snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub revision: Revision,
    pub keys: usize,
    pub bytes: u64,
}

/// Writes a consistent snapshot of the durable keys of a running store to `path`
/// (`path.tmp`, fsync, rename, directory fsync). Volatile keys are not included.
pub fn snapshot_to(store: &Store, path: &Path) -> Result<SnapshotInfo, BackupError> {
    let (mut records, file, floor, revision) = {
        let state = store.shared().lock();
        let records: Vec<(Revision, u64, u32)> = state
            .index
            .iter()
            .filter_map(|(_, e)| match e.location {
                Location::Disk { offset, len } => Some((e.mod_revision, offset, len)),
                Location::Memory => None,
            })
            .collect();
        (
            records,
            state.segment.clone(),
            state.floor.max(state.revision),
            state.revision,
        )
    };
    // Revision order: the format requires revisions to increase through a segment.
    records.sort_unstable();
    let mut bytes = Header { sequence: 1, floor }.encode().to_vec();
    codec::encode_record(
        &Record::Batch {
            offset: HEADER_LEN as u64,
            floor,
        },
        &mut bytes,
    );
    for &(_, offset, len) in &records {
        let record =
            segment::read_record(&*file, offset, len).map_err(io_at(Path::new("store segment")))?;
        bytes.extend_from_slice(&record);
    }
    write_durably(path, &bytes)?;
    Ok(SnapshotInfo {
        revision,
        keys: records.len(),
        bytes: bytes.len() as u64,
    })
}

fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, bytes).map_err(io_at(&tmp))?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io_at(&tmp))?;
    fs::rename(&tmp, path).map_err(io_at(path))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|f| f.sync_all())
        .map_err(io_at(parent))
}

/// Verifies the snapshot at `file` and installs it as the only segment of the empty store
/// directory `dir`.
pub fn restore_from(file: &Path, dir: &Path) -> Result<SnapshotInfo, BackupError> {
    let bytes = fs::read(file).map_err(io_at(file))?;
    let info = verify_snapshot(&bytes).map_err(|reason| BackupError::Invalid {
        file: file.display().to_string(),
        reason,
    })?;
    let backend = FsBackend::new(dir).map_err(io_at(dir))?;
    restore_with(&backend, &bytes)?;
    Ok(info)
}

/// `restore_from` on any backend (tests use the simulator).
pub fn restore_with(backend: &dyn Backend, bytes: &[u8]) -> Result<(), BackupError> {
    let _lock = backend.lock().map_err(|error| BackupError::Io {
        file: backend.describe("LOCK"),
        error,
    })?;
    let names = backend.list().map_err(|error| BackupError::Io {
        file: backend.describe(""),
        error,
    })?;
    if names
        .iter()
        .any(|n| matches!(segment::parse_name(n), Some((_, false))))
    {
        return Err(BackupError::NotEmpty {
            dir: backend.describe(""),
        });
    }
    segment::install(backend, 1, bytes).map_err(|error| BackupError::Io {
        file: backend.describe(&segment::segment_name(1)),
        error,
    })?;
    Ok(())
}

fn verify_snapshot(bytes: &[u8]) -> Result<SnapshotInfo, String> {
    let header = Header::decode(bytes).map_err(|e| e.to_string())?;
    if header.sequence != 1 {
        return Err(format!("header sequence {} is not 1", header.sequence));
    }
    let mut pos = HEADER_LEN;
    let mut keys = 0;
    let mut revision = 0;
    while pos < bytes.len() {
        let (record, len) =
            codec::decode_record(&bytes[pos..]).map_err(|e| format!("offset {pos}: {e}"))?;
        if let Record::Put { revision: r, .. } = record {
            keys += 1;
            revision = revision.max(r);
        }
        pos += len;
    }
    Ok(SnapshotInfo {
        revision: revision.max(header.floor),
        keys,
        bytes: bytes.len() as u64,
    })
}

/// The first problem `check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Damage in the last batch only: open will cut it off.
    TornTail { offset: u64, bytes: u64 },
    /// Damage followed by synced data: open refuses; `repair` truncates at `offset`.
    Corrupt { offset: u64, reason: String },
}

/// What `check` read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub segment: String,
    pub records: u64,
    pub live_keys: usize,
    pub live_bytes: u64,
    /// Bytes of records (preallocated zeros not counted).
    pub file_bytes: u64,
    pub revision: Revision,
    pub problem: Option<Problem>,
}

impl CheckReport {
    pub fn dead_bytes(&self) -> u64 {
        self.file_bytes
            .saturating_sub(self.live_bytes + HEADER_LEN as u64)
    }
}

/// Reads the store in `dir` without changing it (the store must not be running).
pub fn check(dir: &Path) -> Result<CheckReport, BackupError> {
    let backend = FsBackend::new(dir).map_err(io_at(dir))?;
    check_with(&backend)
}

/// `check` on any backend.
pub fn check_with(backend: &dyn Backend) -> Result<CheckReport, BackupError> {
    let _lock = backend.lock().map_err(|error| BackupError::Io {
        file: backend.describe("LOCK"),
        error,
    })?;
    let (name, file) = active_segment(backend)?;
    let header = segment::read_header(&*file)
        .map_err(io_err(backend, &name))?
        .map_err(|e| OpenError::BadHeader {
            file: backend.describe(&name),
            reason: e.to_string(),
        })?;
    let replay =
        recovery::replay(&*file, header, &Options::default()).map_err(io_err(backend, &name))?;
    let mut file_bytes = replay.file_len;
    let problem = match replay.bad {
        None => None,
        Some(bad) => {
            match segment::classify_tail(&*file, bad.offset).map_err(io_err(backend, &name))? {
                segment::Tail::Preallocated => {
                    file_bytes = bad.offset;
                    None
                }
                segment::Tail::Corrupt => Some(Problem::Corrupt {
                    offset: bad.offset,
                    reason: bad.reason,
                }),
                segment::Tail::Torn => Some(Problem::TornTail {
                    offset: bad.offset,
                    bytes: replay.file_len - bad.offset,
                }),
            }
        }
    };
    Ok(CheckReport {
        segment: backend.describe(&name),
        records: replay.records,
        live_keys: replay.index.len(),
        live_bytes: replay.live_bytes,
        file_bytes,
        revision: replay.revision,
        problem,
    })
}

fn active_segment(backend: &dyn Backend) -> Result<(String, Arc<dyn BackendFile>), BackupError> {
    let names = backend.list().map_err(|error| BackupError::Io {
        file: backend.describe(""),
        error,
    })?;
    let newest = names
        .iter()
        .filter_map(|n| segment::parse_name(n))
        .filter(|(_, tmp)| !tmp)
        .map(|(s, _)| s)
        .max();
    let Some(seq) = newest else {
        return Err(BackupError::Invalid {
            file: backend.describe(""),
            reason: "no segment".into(),
        });
    };
    let name = segment::segment_name(seq);
    let file = backend.open(&name, false).map_err(io_err(backend, &name))?;
    Ok((name, file))
}

/// What `repair` drops (or dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairPlan {
    pub segment: String,
    pub offset: u64,
    pub bytes_dropped: u64,
    /// Intact records found after the damage that go with it, and their revision span.
    pub records_dropped: u64,
    pub revisions_dropped: Option<(Revision, Revision)>,
}

impl fmt::Display for RepairPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: truncating at offset {} drops {} bytes holding {} intact records",
            self.segment, self.offset, self.bytes_dropped, self.records_dropped
        )?;
        match self.revisions_dropped {
            Some((a, b)) => write!(f, " (revisions {a}..={b})"),
            None => Ok(()),
        }
    }
}

/// What `repair` would drop; `None` when the store has no bad record.
pub fn plan_repair(dir: &Path) -> Result<Option<RepairPlan>, BackupError> {
    let backend = FsBackend::new(dir).map_err(io_at(dir))?;
    plan_repair_with(&backend)
}

/// Truncates the store in `dir` at its first bad record; returns what was dropped.
pub fn repair(dir: &Path) -> Result<Option<RepairPlan>, BackupError> {
    let backend = FsBackend::new(dir).map_err(io_at(dir))?;
    repair_with(&backend)
}

pub fn plan_repair_with(backend: &dyn Backend) -> Result<Option<RepairPlan>, BackupError> {
    let report = check_with(backend)?;
    let offset = match report.problem {
        None => return Ok(None),
        Some(Problem::TornTail { offset, .. } | Problem::Corrupt { offset, .. }) => offset,
    };
    let (_, file) = active_segment(backend)?;
    let (records_dropped, revisions_dropped) =
        salvage_count(&*file, offset).map_err(|error| BackupError::Io {
            file: report.segment.clone(),
            error,
        })?;
    Ok(Some(RepairPlan {
        segment: report.segment,
        offset,
        bytes_dropped: report.file_bytes - offset,
        records_dropped,
        revisions_dropped,
    }))
}

pub fn repair_with(backend: &dyn Backend) -> Result<Option<RepairPlan>, BackupError> {
    let Some(plan) = plan_repair_with(backend)? else {
        return Ok(None);
    };
    let _lock = backend.lock().map_err(|error| BackupError::Io {
        file: backend.describe("LOCK"),
        error,
    })?;
    let (name, file) = active_segment(backend)?;
    file.set_len(plan.offset)
        .and_then(|()| file.sync_data())
        .map_err(io_err(backend, &name))?;
    Ok(Some(plan))
}

/// Counts intact records after `from` by trying every byte offset.
fn salvage_count(
    file: &dyn BackendFile,
    from: u64,
) -> io::Result<(u64, Option<(Revision, Revision)>)> {
    let len = usize::try_from(file.len()?.saturating_sub(from)).unwrap_or(0);
    let mut bytes = vec![0u8; len];
    crate::backend::read_exact_at(file, &mut bytes, from)?;
    let (mut count, mut span): (u64, Option<(Revision, Revision)>) = (0, None);
    let mut pos = 1;
    while pos < bytes.len() {
        match codec::decode_record(&bytes[pos..]) {
            Ok((record, n)) => {
                if let Some(r) = record.revision() {
                    count += 1;
                    span = Some(span.map_or((r, r), |(a, b)| (a.min(r), b.max(r))));
                }
                pos += n;
            }
            Err(_) => pos += 1,
        }
    }
    Ok((count, span))
}
