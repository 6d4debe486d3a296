//! Blob downloads streamed into the `BlobSink` through a reader that hashes and counts as
//! the sink reads. When the bytes do not match the descriptor (size or SHA-256), the reader
//! fails the sink's final read instead of reporting a clean end, so a sink that commits only
//! on a clean end never stores tampered content.

use std::io::{self, Read};

use ring::digest::{Context, SHA256};

use super::http::TransportError;
use super::manifest::Descriptor;
use super::session::Session;
use super::{BlobSink, PullError, PullProgress};
use crate::image::digest;

/// Progress events for one blob come at most once per this many bytes.
const PROGRESS_STEP: u64 = 1024 * 1024;

pub fn fetch_blob(
    session: &mut Session<'_>,
    repository: &str,
    desc: &Descriptor,
    sink: &dyn BlobSink,
    progress: &mut dyn FnMut(PullProgress),
) -> Result<(), PullError> {
    let digest = desc.digest.clone();
    if sink.has_blob(&digest) {
        progress(PullProgress::BlobCached {
            digest,
            size: desc.size,
        });
        return Ok(());
    }
    let target = format!("/v2/{repository}/blobs/{digest}");
    let mut resp = session.request("GET", &target, "*/*", &format!("blob {digest}"))?;
    if let Some(len) = resp.body.content_length().filter(|len| *len != desc.size) {
        return Err(PullError::SizeMismatch {
            digest,
            expected: desc.size,
            actual: len,
        });
    }
    progress(PullProgress::BlobStarted {
        digest: digest.clone(),
        size: desc.size,
    });
    let mut reader = VerifyingReader::new(&mut resp.body, desc, progress);
    let stored = sink.put_blob(&digest, &mut reader);
    let outcome = reader.outcome.take();
    judge(desc, outcome, stored)?;
    progress(PullProgress::BlobDone { digest });
    Ok(())
}

/// The verdict on one download from what the reader saw and what the sink said.
fn judge(
    desc: &Descriptor,
    outcome: Option<Outcome>,
    stored: Result<(), String>,
) -> Result<(), PullError> {
    let digest = desc.digest.clone();
    match (outcome, stored) {
        (Some(Outcome::Verified), Ok(())) => Ok(()),
        (Some(Outcome::WrongDigest(actual)), _) => Err(PullError::DigestMismatch {
            expected: digest,
            actual,
        }),
        (Some(Outcome::WrongSize(actual)), _) => Err(PullError::SizeMismatch {
            digest,
            expected: desc.size,
            actual,
        }),
        (Some(Outcome::Network(source)), _) => Err(PullError::Transport(TransportError::Io {
            addr: format!("blob {digest}"),
            source,
        })),
        (_, Err(detail)) => Err(PullError::Sink { digest, detail }),
        (None, Ok(())) => Err(PullError::Sink {
            digest,
            detail: "sink returned before reading the whole blob".into(),
        }),
    }
}

#[derive(Debug)]
enum Outcome {
    Verified,
    WrongDigest(String),
    WrongSize(u64),
    Network(io::Error),
}

/// Hashes and counts what passes through; see the module comment for its end-of-stream rule.
pub struct VerifyingReader<'a, R> {
    inner: R,
    expected_digest: &'a str,
    expected_size: u64,
    hasher: Context,
    read: u64,
    reported: u64,
    outcome: Option<Outcome>,
    progress: &'a mut dyn FnMut(PullProgress),
}

impl<'a, R: Read> VerifyingReader<'a, R> {
    fn new(
        inner: R,
        desc: &'a Descriptor,
        progress: &'a mut dyn FnMut(PullProgress),
    ) -> VerifyingReader<'a, R> {
        VerifyingReader {
            inner,
            expected_digest: &desc.digest,
            expected_size: desc.size,
            hasher: Context::new(&SHA256),
            read: 0,
            reported: 0,
            outcome: None,
            progress,
        }
    }

    fn fail(&mut self, outcome: Outcome) -> io::Error {
        let message = match &outcome {
            Outcome::WrongDigest(actual) => {
                format!(
                    "digest mismatch: want {}, got {actual}",
                    self.expected_digest
                )
            }
            Outcome::WrongSize(actual) => {
                format!("size mismatch: want {}, got {actual}", self.expected_size)
            }
            Outcome::Network(e) => e.to_string(),
            Outcome::Verified => String::new(),
        };
        self.outcome = Some(outcome);
        io::Error::new(io::ErrorKind::InvalidData, message)
    }

    fn finish(&mut self) -> io::Result<usize> {
        if self.read != self.expected_size {
            return Err(self.fail(Outcome::WrongSize(self.read)));
        }
        let actual = digest::name_of(&self.hasher.clone().finish());
        if actual != self.expected_digest {
            return Err(self.fail(Outcome::WrongDigest(actual)));
        }
        self.outcome = Some(Outcome::Verified);
        Ok(0)
    }
}

impl<R: Read> Read for VerifyingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(Outcome::Verified) = self.outcome {
            return Ok(0);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.outcome = Some(Outcome::Network(e));
                return Err(copy);
            }
        };
        if n == 0 {
            return self.finish();
        }
        self.read += n as u64;
        if self.read > self.expected_size {
            return Err(self.fail(Outcome::WrongSize(self.read)));
        }
        self.hasher.update(&buf[..n]);
        if self.read - self.reported >= PROGRESS_STEP || self.read == self.expected_size {
            self.reported = self.read;
            (self.progress)(PullProgress::BlobProgress {
                digest: self.expected_digest.to_owned(),
                done: self.read,
                total: self.expected_size,
            });
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc_of(data: &[u8]) -> Descriptor {
        Descriptor {
            media_type: String::new(),
            digest: digest::of_bytes(data),
            size: data.len() as u64,
            ..Descriptor::default()
        }
    }

    fn drain(reader: &mut impl Read) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        reader.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn matching_content_reads_to_a_clean_end() {
        let data = vec![7u8; 3 * 1024 * 1024 + 5];
        let desc = desc_of(&data);
        let mut events = 0;
        let mut progress = |_: PullProgress| events += 1;
        let mut reader = VerifyingReader::new(&data[..], &desc, &mut progress);
        assert_eq!(drain(&mut reader).unwrap().len(), data.len());
        assert!(matches!(reader.outcome, Some(Outcome::Verified)));
        assert!((3..=5).contains(&events), "{events} progress events");
    }

    #[test]
    fn tampered_or_resized_content_fails_the_last_read() {
        let desc = desc_of(b"original");
        let mut progress = |_: PullProgress| {};
        let mut reader = VerifyingReader::new(&b"tampered"[..], &desc, &mut progress);
        let err = drain(&mut reader).unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        let verdict = judge(&desc, reader.outcome.take(), Ok(()));
        assert!(matches!(verdict, Err(PullError::DigestMismatch { .. })));

        let mut reader = VerifyingReader::new(&b"original plus"[..], &desc, &mut progress);
        assert!(drain(&mut reader).is_err());
        assert!(matches!(reader.outcome, Some(Outcome::WrongSize(_))));

        let mut reader = VerifyingReader::new(&b"orig"[..], &desc, &mut progress);
        assert!(drain(&mut reader).is_err());
        assert!(matches!(reader.outcome, Some(Outcome::WrongSize(4))));
    }

    #[test]
    fn a_sink_that_stops_early_is_an_error() {
        let desc = desc_of(b"x");
        let verdict = judge(&desc, None, Ok(()));
        assert!(matches!(verdict, Err(PullError::Sink { .. })));
    }
}
