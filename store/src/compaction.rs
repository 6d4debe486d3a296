//! Compaction: trimming watch history on request, and rewriting the live records into a new
//! segment when dead bytes pass the threshold ("Compaction" in docs/store-format.md).
//!
//! Runs on the committer thread between batches, so no write races with it. Readers keep
//! using the old file handle until they let go of it.

use std::sync::Arc;

use crate::backend::BackendFile;
use crate::codec::{self, HEADER_LEN, Header, Record, Revision};
use crate::committer::Committer;
use crate::error::WriteError;
use crate::index::Location;
use crate::segment;

const FLUSH_BYTES: usize = 1 << 20;

impl Committer {
    /// Drops history up to `revision`, then rewrites the segment if the threshold is passed.
    pub(crate) fn compact(&mut self, revision: Revision) -> Result<(), WriteError> {
        if revision > self.last_revision() {
            return Err(WriteError::FutureRevision {
                requested: revision,
                current: self.last_revision(),
            });
        }
        self.shared.lock().history.compact(revision);
        self.maybe_rewrite();
        match &self.failed {
            Some(reason) => Err(WriteError::Failed(reason.clone())),
            None => Ok(()),
        }
    }

    pub(crate) fn maybe_rewrite(&mut self) {
        let options = &self.shared.options;
        let dead = self.dead_bytes();
        let total = self.end - HEADER_LEN as u64;
        let due = dead >= options.compaction_min_dead_bytes.max(1)
            && dead as f64 >= options.compaction_dead_ratio * total as f64
            && dead >= self.compaction_backoff;
        if self.failed.is_none() && due {
            self.rewrite();
        }
    }

    /// Writes live records to segment S+1, installs it, then drops segment S.
    fn rewrite(&mut self) {
        let next = self.sequence + 1;
        let (file, end, moves) = match self.write_compacted(next) {
            Ok(done) => done,
            Err(e) => {
                // Nothing was switched: keep the old segment and retry after more dead bytes.
                let _ = self.shared.backend.remove(&segment::temp_name(next));
                self.compaction_backoff =
                    self.dead_bytes() + self.shared.options.compaction_min_dead_bytes;
                let _ = e;
                return;
            }
        };
        let backend = self.shared.backend.clone();
        let installed = backend
            .rename(&segment::temp_name(next), &segment::segment_name(next))
            .and_then(|()| backend.sync_dir());
        if let Err(e) = installed {
            // The rename may or may not be durable: no further writes may go to either file.
            self.failed = Some(format!("compaction install: {e}"));
            return;
        }
        {
            let mut state = self.shared.lock();
            for (key, offset) in moves {
                if let Some(entry) = state.index.get_mut(&key)
                    && let Location::Disk { offset: o, .. } = &mut entry.location
                {
                    *o = offset;
                }
            }
            state.segment = file.clone();
        }
        let old = segment::segment_name(self.sequence);
        self.file = file;
        self.sequence = next;
        self.end = end;
        self.allocated = end;
        self.compaction_backoff = 0;
        if let Err(e) = backend.remove(&old).and_then(|()| backend.sync_dir()) {
            self.failed = Some(format!("removing {old} after compaction: {e}"));
        }
    }

    /// Writes and syncs `seg-next.tmp`; returns it, its length and each key's new offset.
    #[allow(clippy::type_complexity)]
    fn write_compacted(
        &mut self,
        next: u64,
    ) -> std::io::Result<(Arc<dyn BackendFile>, u64, Vec<(Arc<[u8]>, u64)>)> {
        let mut live: Vec<(Arc<[u8]>, u64, u32)> = {
            let state = self.shared.lock();
            state
                .index
                .iter()
                .filter_map(|(k, e)| match e.location {
                    Location::Disk { offset, len } => Some((k.clone(), offset, len)),
                    Location::Memory => None,
                })
                .collect()
        };
        // Offset order keeps revisions increasing through the new segment.
        live.sort_unstable_by_key(|&(_, offset, _)| offset);
        let file = self.shared.backend.open(&segment::temp_name(next), true)?;
        file.set_len(0)?;
        let mut buf = Header {
            sequence: next,
            floor: self.reserved,
        }
        .encode()
        .to_vec();
        codec::encode_record(
            &Record::Batch {
                offset: HEADER_LEN as u64,
                floor: self.reserved,
            },
            &mut buf,
        );
        let mut written = 0u64;
        let mut moves = Vec::with_capacity(live.len());
        for (key, offset, len) in live {
            moves.push((key, written + buf.len() as u64));
            buf.extend_from_slice(&segment::read_record(&*self.file, offset, len)?);
            if buf.len() >= FLUSH_BYTES {
                file.write_all_at(&buf, written)?;
                written += buf.len() as u64;
                buf.clear();
            }
        }
        file.write_all_at(&buf, written)?;
        written += buf.len() as u64;
        file.sync_data()?;
        Ok((file, written, moves))
    }
}
