//! Byte layout of segment headers and records, exactly as docs/store-format.md gives it.
//!
//! alloc-only (no std): encoding appends to a `Vec<u8>`, decoding borrows from a slice.
//! It knows nothing of files; `segment.rs` does the I/O.

use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::crc32c;

/// Global revision: strictly increasing, 1 for the first write.
pub type Revision = u64;

/// `wisp-log`: first 8 bytes of every segment.
pub const MAGIC: [u8; 8] = *b"wisp-log";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the segment header.
pub const HEADER_LEN: usize = 32;
/// Size of a record's length + CRC prefix.
pub const FRAME_LEN: usize = 8;
/// Largest record body accepted (64 MiB).
pub const MAX_BODY_LEN: u32 = 64 << 20;

/// Segment header fields (docs/store-format.md, "Segment header").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub sequence: u64,
    pub floor: Revision,
}

/// Why a header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    Short,
    BadMagic,
    BadCrc,
    UnsupportedVersion(u32),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Short => write!(f, "segment header is shorter than {HEADER_LEN} bytes"),
            Self::BadMagic => write!(f, "segment header has the wrong magic"),
            Self::BadCrc => write!(f, "segment header checksum mismatch"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
        }
    }
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[12..20].copy_from_slice(&self.sequence.to_le_bytes());
        out[20..28].copy_from_slice(&self.floor.to_le_bytes());
        let crc = crc32c::checksum(&out[0..28]);
        out[28..32].copy_from_slice(&crc.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Header, HeaderError> {
        let b = bytes.get(..HEADER_LEN).ok_or(HeaderError::Short)?;
        if b[0..8] != MAGIC {
            return Err(HeaderError::BadMagic);
        }
        if crc32c::checksum(&b[0..28]) != le_u32(&b[28..32]) {
            return Err(HeaderError::BadCrc);
        }
        let version = le_u32(&b[8..12]);
        if version != FORMAT_VERSION {
            return Err(HeaderError::UnsupportedVersion(version));
        }
        Ok(Header {
            sequence: le_u64(&b[12..20]),
            floor: le_u64(&b[20..28]),
        })
    }
}

/// A record body. Variant order is the on-disk variant index: never reorder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record<'a> {
    Put {
        revision: Revision,
        #[serde(borrow)]
        key: Bytes<'a>,
        #[serde(borrow)]
        value: Bytes<'a>,
        create_revision: Revision,
        version: u64,
    },
    Delete {
        revision: Revision,
        #[serde(borrow)]
        key: Bytes<'a>,
    },
    Batch {
        offset: u64,
        floor: Revision,
    },
}

impl Record<'_> {
    /// Revision of a `Put` or `Delete`; `None` for `Batch`.
    pub fn revision(&self) -> Option<Revision> {
        match self {
            Record::Put { revision, .. } | Record::Delete { revision, .. } => Some(*revision),
            Record::Batch { .. } => None,
        }
    }
}

/// Borrowed bytes encoded as postcard `bytes` (varint length + raw), not as a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes<'a>(pub &'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Bytes<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a [u8]>::deserialize(d).map(Bytes)
    }
}

/// Why a record could not be read at some offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// The slice ends before the record does (a torn tail, or read more).
    Truncated {
        needed: usize,
    },
    BadLength(u32),
    BadCrc,
    BadBody,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed } => write!(f, "record truncated ({needed} bytes needed)"),
            Self::BadLength(n) => write!(f, "record length {n} out of range"),
            Self::BadCrc => write!(f, "record checksum mismatch"),
            Self::BadBody => write!(f, "record body does not decode"),
        }
    }
}

/// Appends the framed record (length, CRC, body) to `out`; returns the framed size.
pub fn encode_record(record: &Record<'_>, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_LEN]);
    let out_vec = core::mem::take(out);
    // Encoding into a Vec cannot fail: every field type is supported by postcard.
    *out = postcard::to_extend(record, out_vec).unwrap_or_default();
    let body_len = out.len() - start - FRAME_LEN;
    let len_bytes = u32::try_from(body_len).unwrap_or(u32::MAX).to_le_bytes();
    out[start..start + 4].copy_from_slice(&len_bytes);
    let crc = crc32c::extend(crc32c::checksum(&len_bytes), &out[start + FRAME_LEN..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    out.len() - start
}

/// Framed size a record body of `body_len` bytes takes.
pub fn framed_len(body_len: usize) -> usize {
    FRAME_LEN + body_len
}

/// Body length announced by a frame prefix, checked against the limits.
pub fn frame_body_len(bytes: &[u8]) -> Result<usize, RecordError> {
    let prefix = bytes
        .get(..FRAME_LEN)
        .ok_or(RecordError::Truncated { needed: FRAME_LEN })?;
    let len = le_u32(&prefix[0..4]);
    if len == 0 || len > MAX_BODY_LEN {
        return Err(RecordError::BadLength(len));
    }
    Ok(len as usize)
}

/// Decodes the record at the start of `bytes`; returns it and its framed size.
pub fn decode_record(bytes: &[u8]) -> Result<(Record<'_>, usize), RecordError> {
    let body_len = frame_body_len(bytes)?;
    let total = FRAME_LEN + body_len;
    let framed = bytes
        .get(..total)
        .ok_or(RecordError::Truncated { needed: total })?;
    let crc = crc32c::extend(crc32c::checksum(&framed[0..4]), &framed[FRAME_LEN..]);
    if crc != le_u32(&framed[4..8]) {
        return Err(RecordError::BadCrc);
    }
    match postcard::take_from_bytes::<Record<'_>>(&framed[FRAME_LEN..]) {
        Ok((record, [])) => Ok((record, total)),
        _ => Err(RecordError::BadBody),
    }
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put<'a>(revision: u64, key: &'a [u8], value: &'a [u8]) -> Record<'a> {
        Record::Put {
            revision,
            key: Bytes(key),
            value: Bytes(value),
            create_revision: revision,
            version: 1,
        }
    }

    #[test]
    fn put_body_matches_the_documented_bytes() {
        let mut out = Vec::new();
        let n = encode_record(&put(5, b"a", b"xy"), &mut out);
        assert_eq!(n, 17);
        assert_eq!(&out[0..4], &[9, 0, 0, 0]);
        assert_eq!(
            &out[8..],
            &[0x00, 0x05, 0x01, 0x61, 0x02, 0x78, 0x79, 0x05, 0x01]
        );
        let crc = crc32c::checksum(&[
            9, 0, 0, 0, 0x00, 0x05, 0x01, 0x61, 0x02, 0x78, 0x79, 0x05, 0x01,
        ]);
        assert_eq!(&out[4..8], &crc.to_le_bytes());
    }

    #[test]
    fn delete_and_batch_bodies_match_the_documented_bytes() {
        let mut out = Vec::new();
        encode_record(
            &Record::Delete {
                revision: 300,
                key: Bytes(b"k"),
            },
            &mut out,
        );
        assert_eq!(&out[8..], &[0x01, 0xAC, 0x02, 0x01, b'k']);
        out.clear();
        encode_record(
            &Record::Batch {
                offset: 32,
                floor: 7,
            },
            &mut out,
        );
        assert_eq!(&out[8..], &[0x02, 32, 7]);
    }

    #[test]
    fn records_round_trip_and_report_their_size() {
        let mut out = Vec::new();
        let a = put(1, b"key", &[7u8; 300]);
        let b = Record::Delete {
            revision: 2,
            key: Bytes(b"key"),
        };
        let na = encode_record(&a, &mut out);
        let nb = encode_record(&b, &mut out);
        assert_eq!(decode_record(&out).unwrap(), (a, na));
        assert_eq!(decode_record(&out[na..]).unwrap(), (b, nb));
        assert_eq!(out.len(), na + nb);
    }

    #[test]
    fn every_damage_is_detected() {
        let mut out = Vec::new();
        encode_record(&put(9, b"k", b"value"), &mut out);
        for cut in 0..out.len() {
            assert!(matches!(
                decode_record(&out[..cut]),
                Err(RecordError::Truncated { .. })
            ));
        }
        for i in 0..out.len() {
            for bit in 0..8 {
                let mut bad = out.clone();
                bad[i] ^= 1 << bit;
                assert!(
                    decode_record(&bad).is_err(),
                    "flip at byte {i} bit {bit} undetected"
                );
            }
        }
        assert_eq!(decode_record(&[0u8; 8]), Err(RecordError::BadLength(0)));
    }

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let h = Header {
            sequence: 3,
            floor: 99,
        };
        let bytes = h.encode();
        assert_eq!(&bytes[0..8], b"wisp-log");
        assert_eq!(&bytes[8..12], &[1, 0, 0, 0]);
        assert_eq!(Header::decode(&bytes), Ok(h));
        assert_eq!(Header::decode(&bytes[..31]), Err(HeaderError::Short));
        let mut bad = bytes;
        bad[21] ^= 1;
        assert_eq!(Header::decode(&bad), Err(HeaderError::BadCrc));
        let mut v2 = bytes;
        v2[8] = 2;
        let crc = crc32c::checksum(&v2[0..28]);
        v2[28..32].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(Header::decode(&v2), Err(HeaderError::UnsupportedVersion(2)));
        assert_eq!(Header::decode(&[0u8; 32]), Err(HeaderError::BadMagic));
    }

    #[test]
    fn overlong_varints_are_read_but_never_written() {
        // Batch { offset: 32, floor: 7 } with the floor written as two bytes (0x87 0x00).
        let body = [0x02, 32, 0x87, 0x00];
        let mut framed = (body.len() as u32).to_le_bytes().to_vec();
        let crc = crc32c::extend(crc32c::checksum(&framed), &body);
        framed.extend_from_slice(&crc.to_le_bytes());
        framed.extend_from_slice(&body);
        let (record, len) = decode_record(&framed).unwrap();
        assert_eq!(
            (record.clone(), len),
            (
                Record::Batch {
                    offset: 32,
                    floor: 7
                },
                12
            )
        );
        let mut again = Vec::new();
        assert_eq!(encode_record(&record, &mut again), 11);
    }
}
