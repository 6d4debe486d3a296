//! Segment files: names, creation, sequential scanning and single-record reads.
//!
//! Owns the file-level rules of docs/store-format.md (header at 0, records back to back, the
//! search for a later `Batch` that tells corruption from a torn tail). What records mean is
//! the caller's business.

use std::io;
use std::sync::Arc;

use crate::backend::{Backend, BackendFile, read_exact_at};
use crate::codec::{self, FRAME_LEN, HEADER_LEN, Header, Record, RecordError};

const CHUNK: usize = 1 << 20;

pub fn segment_name(sequence: u64) -> String {
    format!("seg-{sequence:016x}.log")
}

pub fn temp_name(sequence: u64) -> String {
    format!("seg-{sequence:016x}.tmp")
}

/// `(sequence, is_temp)` for a segment file name.
pub fn parse_name(name: &str) -> Option<(u64, bool)> {
    let rest = name.strip_prefix("seg-")?;
    let (hex, tmp) = match (rest.strip_suffix(".log"), rest.strip_suffix(".tmp")) {
        (Some(h), _) => (h, false),
        (_, Some(h)) => (h, true),
        _ => return None,
    };
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(|s| (s, tmp))
}

/// Writes `bytes` (header and records) as segment `sequence`: `.tmp`, fdatasync, rename,
/// directory fsync. Returns the open file.
pub fn install(
    backend: &dyn Backend,
    sequence: u64,
    bytes: &[u8],
) -> io::Result<Arc<dyn BackendFile>> {
    let tmp = temp_name(sequence);
    let file = backend.open(&tmp, true)?;
    file.set_len(0)?;
    file.write_all_at(bytes, 0)?;
    file.sync_data()?;
    backend.rename(&tmp, &segment_name(sequence))?;
    backend.sync_dir()?;
    Ok(file)
}

/// Reads and checks the header of `file`.
pub fn read_header(file: &dyn BackendFile) -> io::Result<Result<Header, codec::HeaderError>> {
    let mut buf = [0u8; HEADER_LEN];
    let n = file.read_at(&mut buf, 0)?;
    Ok(Header::decode(&buf[..n]))
}

/// Why a scan stopped before the end of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    pub offset: u64,
    pub reason: String,
}

/// Result of scanning a segment's records.
#[derive(Debug)]
pub struct ScanEnd {
    /// End of the last good record.
    pub end: u64,
    pub file_len: u64,
    pub bad: Option<BadRecord>,
}

/// Calls `visit(offset, framed_len, record)` for each good record from the header on, and
/// stops at the first bad one. `visit` may refuse a record by returning an error reason.
pub fn scan(
    file: &dyn BackendFile,
    mut visit: impl FnMut(u64, u32, &Record<'_>) -> Result<(), String>,
) -> io::Result<ScanEnd> {
    let file_len = file.len()?;
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_start = HEADER_LEN as u64;
    let mut pos = HEADER_LEN as u64;
    loop {
        let at = usize::try_from(pos - buf_start).unwrap_or(usize::MAX);
        let outcome = codec::decode_record(&buf[at.min(buf.len())..]);
        let reason = match outcome {
            Ok((record, len)) => match check_batch_offset(&record, pos)
                .and_then(|()| visit(pos, u32::try_from(len).unwrap_or(u32::MAX), &record))
            {
                Ok(()) => {
                    pos += len as u64;
                    continue;
                }
                Err(reason) => reason,
            },
            Err(RecordError::Truncated { needed }) if pos + (needed as u64) <= file_len => {
                let want = needed.max(CHUNK);
                buf.drain(..at.min(buf.len()));
                buf_start = pos;
                let have = buf.len();
                let to_read = usize::try_from((file_len - pos).min(want as u64)).unwrap_or(want);
                buf.resize(to_read.max(have), 0);
                read_exact_at(file, &mut buf[have..], pos + have as u64)?;
                continue;
            }
            Err(RecordError::Truncated { .. }) if pos == file_len => {
                return Ok(ScanEnd {
                    end: pos,
                    file_len,
                    bad: None,
                });
            }
            Err(e) => e.to_string(),
        };
        return Ok(ScanEnd {
            end: pos,
            file_len,
            bad: Some(BadRecord {
                offset: pos,
                reason,
            }),
        });
    }
}

fn check_batch_offset(record: &Record<'_>, pos: u64) -> Result<(), String> {
    match record {
        Record::Batch { offset, .. } if *offset != pos => {
            Err(format!("batch record says offset {offset}"))
        }
        _ => Ok(()),
    }
}

/// Whether a valid `Batch` record whose offset field equals its position starts at some
/// byte offset after `from`: proof that the damage at `from` had been synced.
pub fn later_batch_exists(file: &dyn BackendFile, from: u64) -> io::Result<bool> {
    // A Batch body is at most 1 + 10 + 10 bytes.
    const MAX_BATCH: usize = FRAME_LEN + 21;
    let file_len = file.len()?;
    let mut chunk_start = from + 1;
    let mut buf = vec![0u8; CHUNK + MAX_BATCH];
    while chunk_start < file_len {
        let n = usize::try_from((file_len - chunk_start).min(buf.len() as u64)).unwrap_or(0);
        read_exact_at(file, &mut buf[..n], chunk_start)?;
        for i in 0..n.min(CHUNK) {
            if is_batch_at(&buf[i..n], chunk_start + i as u64) {
                return Ok(true);
            }
        }
        chunk_start += CHUNK as u64;
    }
    Ok(false)
}

fn is_batch_at(bytes: &[u8], pos: u64) -> bool {
    match codec::frame_body_len(bytes) {
        Ok(len) if (3..=21).contains(&len) => {
            matches!(codec::decode_record(bytes), Ok((Record::Batch { offset, .. }, _)) if offset == pos)
        }
        _ => false,
    }
}

/// Whether every byte from `from` to the end of the file is zero (preallocated space).
pub fn zeros_from(file: &dyn BackendFile, from: u64) -> io::Result<bool> {
    let file_len = file.len()?;
    let mut buf = vec![0u8; CHUNK];
    let mut pos = from;
    while pos < file_len {
        let n = usize::try_from((file_len - pos).min(CHUNK as u64)).unwrap_or(CHUNK);
        read_exact_at(file, &mut buf[..n], pos)?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        pos += n as u64;
    }
    Ok(true)
}

/// What the bytes from the first bad record on are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// Zeros to the end of the file: preallocated space, the records simply end here.
    Preallocated,
    /// Damage in the last batch: a write that never completed.
    Torn,
    /// Damage followed by a later batch: data that had been synced.
    Corrupt,
}

/// Classifies the bytes from the bad record at `offset` on (docs/store-format.md, Recovery).
pub fn classify_tail(file: &dyn BackendFile, offset: u64) -> io::Result<Tail> {
    if offset < HEADER_LEN as u64 || later_batch_exists(file, offset)? {
        Ok(Tail::Corrupt)
    } else if zeros_from(file, offset)? {
        Ok(Tail::Preallocated)
    } else {
        Ok(Tail::Torn)
    }
}

/// Reads and checks the framed record at `offset`.
pub fn read_record(file: &dyn BackendFile, offset: u64, len: u32) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len as usize];
    read_exact_at(file, &mut buf, offset)?;
    codec::decode_record(&buf).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("record at offset {offset}: {e}"),
        )
    })?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Bytes;
    use crate::sim_backend::SimBackend;

    fn segment_with(records: &[Record<'_>]) -> (Vec<u8>, Vec<u64>) {
        let mut bytes = Header {
            sequence: 1,
            floor: 0,
        }
        .encode()
        .to_vec();
        let mut offsets = Vec::new();
        for r in records {
            offsets.push(bytes.len() as u64);
            codec::encode_record(r, &mut bytes);
        }
        (bytes, offsets)
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_name(&segment_name(42)), Some((42, false)));
        assert_eq!(parse_name(&temp_name(7)), Some((7, true)));
        assert_eq!(parse_name("seg-1.log"), None);
        assert_eq!(parse_name("LOCK"), None);
    }

    #[test]
    fn scan_visits_records_and_spots_damage_and_later_batches() {
        let put = Record::Put {
            revision: 1,
            key: Bytes(b"k"),
            value: Bytes(&[5; 2000]),
            create_revision: 1,
            version: 1,
        };
        let (mut bytes, offs) = segment_with(&[
            Record::Batch {
                offset: 32,
                floor: 0,
            },
            put.clone(),
        ]);
        let second_batch = bytes.len() as u64;
        codec::encode_record(
            &Record::Batch {
                offset: second_batch,
                floor: 1,
            },
            &mut bytes,
        );
        let sim = SimBackend::new();
        let file = sim.open("s", true).unwrap();
        file.write_all_at(&bytes, 0).unwrap();
        let mut seen = Vec::new();
        let end = scan(&*file, |off, _, r| {
            seen.push((off, r.revision()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![(offs[0], None), (offs[1], Some(1)), (second_batch, None)]
        );
        assert_eq!((end.end, end.bad), (bytes.len() as u64, None));

        bytes[offs[1] as usize + 20] ^= 0x40;
        file.write_all_at(&bytes, 0).unwrap();
        let end = scan(&*file, |_, _, _| Ok(())).unwrap();
        assert_eq!(end.bad.unwrap().offset, offs[1]);
        assert!(later_batch_exists(&*file, offs[1]).unwrap());
        assert!(!later_batch_exists(&*file, second_batch).unwrap());
    }
}
