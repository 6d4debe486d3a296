//! SPDY/3 frames on the wire: the 8-byte common header, then the type's fields. Header
//! blocks stay compressed here (their zlib stream spans the whole connection; see
//! [`super::headers`]), so decoding is stateless and cannot allocate more than one frame.

use std::fmt;

pub const VERSION: u16 = 3;
pub const FLAG_FIN: u8 = 0x01;
/// The largest frame payload accepted: SPDY allows 16 MiB, kubectl writes at most 32 KiB.
pub const MAX_PAYLOAD: usize = 1024 * 1024;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// RST_STREAM status codes used here.
pub const RST_PROTOCOL_ERROR: u32 = 1;
pub const RST_CANCEL: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        associated: u32,
        priority: u8,
        flags: u8,
        header_block: Vec<u8>,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        header_block: Vec<u8>,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        header_block: Vec<u8>,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        flags: u8,
        data: Vec<u8>,
    },
    /// SETTINGS or a control type this server has no use for: skipped whole.
    Ignored {
        kind: u16,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    UnsupportedVersion(u16),
    TooLarge(usize),
    Short {
        kind: u16,
        length: usize,
    },
    /// A header block that does not inflate or parse.
    HeaderBlock(&'static str),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::UnsupportedVersion(v) => write!(f, "unsupported spdy version {v}"),
            FrameError::TooLarge(n) => write!(f, "spdy frame of {n} bytes is too large"),
            FrameError::Short { kind, length } => {
                write!(
                    f,
                    "spdy control frame type {kind} too short ({length} bytes)"
                )
            }
            FrameError::HeaderBlock(why) => write!(f, "bad spdy header block: {why}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Decodes the first frame of `buf`: `Ok(None)` until a whole frame is there, else the
/// frame and how many bytes it used.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    let Some(head) = buf.get(..8) else {
        return Ok(None);
    };
    let length = usize::from(head[5]) << 16 | usize::from(head[6]) << 8 | usize::from(head[7]);
    if length > MAX_PAYLOAD {
        return Err(FrameError::TooLarge(length));
    }
    let Some(payload) = buf.get(8..8 + length) else {
        return Ok(None);
    };
    let flags = head[4];
    let frame = if head[0] & 0x80 == 0 {
        Frame::Data {
            stream_id: be32(head) & 0x7fff_ffff,
            flags,
            data: payload.to_vec(),
        }
    } else {
        let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
        if version != VERSION {
            return Err(FrameError::UnsupportedVersion(version));
        }
        control(u16::from_be_bytes([head[2], head[3]]), flags, payload)?
    };
    Ok(Some((frame, 8 + length)))
}

fn control(kind: u16, flags: u8, p: &[u8]) -> Result<Frame, FrameError> {
    let need = match kind {
        SYN_STREAM => 10,
        SYN_REPLY | HEADERS | PING | SETTINGS => 4,
        RST_STREAM | GOAWAY | WINDOW_UPDATE => 8,
        _ => 0,
    };
    if p.len() < need {
        return Err(FrameError::Short {
            kind,
            length: p.len(),
        });
    }
    let id = || be32(p) & 0x7fff_ffff;
    Ok(match kind {
        SYN_STREAM => Frame::SynStream {
            stream_id: id(),
            associated: be32(&p[4..]) & 0x7fff_ffff,
            priority: p[8] >> 5,
            flags,
            header_block: p[10..].to_vec(),
        },
        SYN_REPLY => Frame::SynReply {
            stream_id: id(),
            flags,
            header_block: p[4..].to_vec(),
        },
        RST_STREAM => Frame::RstStream {
            stream_id: id(),
            status: be32(&p[4..]),
        },
        PING => Frame::Ping { id: be32(p) },
        GOAWAY => Frame::GoAway {
            last_good: id(),
            status: be32(&p[4..]),
        },
        HEADERS => Frame::Headers {
            stream_id: id(),
            flags,
            header_block: p[4..].to_vec(),
        },
        WINDOW_UPDATE => Frame::WindowUpdate {
            stream_id: id(),
            delta: be32(&p[4..]) & 0x7fff_ffff,
        },
        other => Frame::Ignored { kind: other },
    })
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Appends `frame` to `out`. Payloads over 16 MiB cannot be framed; callers split data.
pub fn encode(frame: &Frame, out: &mut Vec<u8>) {
    let mut payload = Vec::new();
    let (kind, flags) = match frame {
        Frame::Data {
            stream_id,
            flags,
            data,
        } => {
            out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
            push_length(out, *flags, data.len());
            out.extend_from_slice(data);
            return;
        }
        Frame::SynStream {
            stream_id,
            associated,
            priority,
            flags,
            header_block,
        } => {
            payload.extend_from_slice(&stream_id.to_be_bytes());
            payload.extend_from_slice(&associated.to_be_bytes());
            payload.extend_from_slice(&[priority << 5, 0]);
            payload.extend_from_slice(header_block);
            (SYN_STREAM, *flags)
        }
        Frame::SynReply {
            stream_id,
            flags,
            header_block,
        } => {
            payload.extend_from_slice(&stream_id.to_be_bytes());
            payload.extend_from_slice(header_block);
            (SYN_REPLY, *flags)
        }
        Frame::Headers {
            stream_id,
            flags,
            header_block,
        } => {
            payload.extend_from_slice(&stream_id.to_be_bytes());
            payload.extend_from_slice(header_block);
            (HEADERS, *flags)
        }
        Frame::RstStream { stream_id, status } => {
            payload.extend_from_slice(&stream_id.to_be_bytes());
            payload.extend_from_slice(&status.to_be_bytes());
            (RST_STREAM, 0)
        }
        Frame::Ping { id } => {
            payload.extend_from_slice(&id.to_be_bytes());
            (PING, 0)
        }
        Frame::GoAway { last_good, status } => {
            payload.extend_from_slice(&last_good.to_be_bytes());
            payload.extend_from_slice(&status.to_be_bytes());
            (GOAWAY, 0)
        }
        Frame::WindowUpdate { stream_id, delta } => {
            payload.extend_from_slice(&stream_id.to_be_bytes());
            payload.extend_from_slice(&delta.to_be_bytes());
            (WINDOW_UPDATE, 0)
        }
        Frame::Ignored { kind } => (*kind, 0),
    };
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    push_length(out, flags, payload.len());
    out.extend_from_slice(&payload);
}

fn push_length(out: &mut Vec<u8>, flags: u8, length: usize) {
    let length = u32::try_from(length).unwrap_or(u32::MAX).min(0x00ff_ffff);
    let [_, a, b, c] = length.to_be_bytes();
    out.extend_from_slice(&[flags, a, b, c]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(frame: Frame) {
        let mut bytes = Vec::new();
        encode(&frame, &mut bytes);
        bytes.extend_from_slice(b"next");
        let (decoded, used) = decode(&bytes).unwrap().unwrap();
        assert_eq!(decoded, frame);
        assert_eq!(used, bytes.len() - 4);
        // Every strict prefix is incomplete, never an error.
        for cut in 0..used {
            assert_eq!(decode(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn frames_round_trip() {
        round_trip(Frame::SynStream {
            stream_id: 1,
            associated: 0,
            priority: 0,
            flags: FLAG_FIN,
            header_block: vec![1, 2, 3],
        });
        round_trip(Frame::SynReply {
            stream_id: 3,
            flags: 0,
            header_block: vec![9; 10],
        });
        round_trip(Frame::RstStream {
            stream_id: 5,
            status: RST_CANCEL,
        });
        round_trip(Frame::Ping { id: 7 });
        round_trip(Frame::GoAway {
            last_good: 9,
            status: 0,
        });
        round_trip(Frame::WindowUpdate {
            stream_id: 1,
            delta: 4096,
        });
        round_trip(Frame::Data {
            stream_id: 1,
            flags: FLAG_FIN,
            data: b"hello".to_vec(),
        });
    }

    #[test]
    fn ping_matches_the_spec_bytes() {
        let mut bytes = Vec::new();
        encode(&Frame::Ping { id: 1 }, &mut bytes);
        assert_eq!(bytes, [0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]);
    }

    #[test]
    fn hostile_frames_are_errors_not_panics() {
        let mut huge = vec![0x80, 3, 0, 1, 0, 0xff, 0xff, 0xff];
        assert_eq!(decode(&huge), Err(FrameError::TooLarge(0x00ff_ffff)));
        huge[1] = 2;
        huge[5] = 0;
        huge[6] = 0;
        huge[7] = 0;
        assert_eq!(decode(&huge), Err(FrameError::UnsupportedVersion(2)));
        let short_syn = [0x80, 3, 0, 1, 0, 0, 0, 2, 0, 0];
        assert!(matches!(decode(&short_syn), Err(FrameError::Short { .. })));
        let settings = [0x80, 3, 0, 4, 0, 0, 0, 4, 0, 0, 0, 0];
        assert_eq!(
            decode(&settings).unwrap().unwrap().0,
            Frame::Ignored { kind: 4 }
        );
    }
}
