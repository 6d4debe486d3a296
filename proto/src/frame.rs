//! Framing: `u32` little-endian length, then a postcard body of at most
//! [`MAX_FRAME_BYTES`]. Reading is async over any byte stream; a short or oversized frame
//! is an error, never a partial message.

use std::fmt;

use futures_lite::{AsyncRead, AsyncReadExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Larger frames are refused: an object is at most 3 MiB in the API server, plus room.
pub const MAX_FRAME_BYTES: usize = 4 << 20;

#[derive(Debug)]
pub enum FrameError {
    Io(std::io::Error),
    TooLarge(usize),
    Decode(postcard::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "reading a frame: {e}"),
            FrameError::TooLarge(n) => {
                write!(f, "frame of {n} bytes exceeds {MAX_FRAME_BYTES}")
            }
            FrameError::Decode(e) => write!(f, "decoding a frame: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// One frame: length prefix and body.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    // Serializing owned strings and byte vectors into a Vec cannot fail.
    out = postcard::to_extend(message, out).unwrap_or_default();
    let len = u32::try_from(out.len() - 4).unwrap_or(u32::MAX);
    out[..4].copy_from_slice(&len.to_le_bytes());
    out
}

/// Reads frames one at a time from a byte stream.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner,
            buf: Vec::new(),
        }
    }

    /// The next message, or `Ok(None)` at a clean end of stream (between frames).
    pub async fn next<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        let mut len = [0u8; 4];
        match self.inner.read_exact(&mut len).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(FrameError::Io(e)),
        }
        let len = usize::try_from(u32::from_le_bytes(len)).unwrap_or(usize::MAX);
        if len > MAX_FRAME_BYTES {
            return Err(FrameError::TooLarge(len));
        }
        self.buf.resize(len, 0);
        self.inner
            .read_exact(&mut self.buf)
            .await
            .map_err(FrameError::Io)?;
        let message = postcard::from_bytes(&self.buf).map_err(FrameError::Decode)?;
        if self.buf.capacity() > 64 << 10 {
            self.buf = Vec::new();
        }
        Ok(Some(message))
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future::block_on;

    use super::*;
    use crate::{FromNode, ToNode, VERSION};

    #[test]
    fn frames_round_trip_in_order() {
        let mut bytes = encode(&ToNode::Hello { version: VERSION });
        bytes.extend(encode(&ToNode::PodUpsert {
            uid: "u1".into(),
            json: br#"{"kind":"Pod"}"#.to_vec(),
        }));
        let mut r = FrameReader::new(&bytes[..]);
        block_on(async {
            assert_eq!(
                r.next::<ToNode>().await.unwrap(),
                Some(ToNode::Hello { version: VERSION })
            );
            assert!(matches!(
                r.next::<ToNode>().await.unwrap(),
                Some(ToNode::PodUpsert { uid, .. }) if uid == "u1"
            ));
            assert_eq!(r.next::<ToNode>().await.unwrap(), None);
        });
    }

    #[test]
    fn a_truncated_frame_is_an_error_not_a_message() {
        let bytes = encode(&FromNode::Hello {
            version: VERSION,
            node_name: "n".into(),
        });
        let mut r = FrameReader::new(&bytes[..bytes.len() - 1]);
        assert!(matches!(
            block_on(r.next::<FromNode>()),
            Err(FrameError::Io(_))
        ));
    }

    #[test]
    fn oversized_and_garbage_frames_are_refused() {
        let mut big = (u32::try_from(MAX_FRAME_BYTES).unwrap() + 1)
            .to_le_bytes()
            .to_vec();
        big.extend([0u8; 8]);
        assert!(matches!(
            block_on(FrameReader::new(&big[..]).next::<ToNode>()),
            Err(FrameError::TooLarge(_))
        ));
        let garbage = [3u8, 0, 0, 0, 0xff, 0xff, 0xff];
        assert!(matches!(
            block_on(FrameReader::new(&garbage[..]).next::<ToNode>()),
            Err(FrameError::Decode(_))
        ));
    }
}
