//! SHA-256 content addresses ("sha256:<hex>"): checking their syntax, computing them for
//! bytes and for streams, for the image store and registry pulls alike.

use std::io::{self, Read};
use std::path::Path;

use ring::digest::{Context, Digest, SHA256};

use super::error::ImageError;

/// `sha256:` and 64 lowercase hex digits: the only digest form stored or pulled (the hex
/// names files in the blob store, so nothing else may pass).
pub fn is_sha256_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Checks "sha256:<64 lowercase hex>" and returns the hex part.
pub fn hex_of(digest: &str) -> Result<&str, ImageError> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if is_sha256_digest(digest) => Ok(hex),
        _ => Err(ImageError::InvalidDigest(digest.to_string())),
    }
}

/// "sha256:<hex>" of a byte slice.
pub fn of_bytes(bytes: &[u8]) -> String {
    name_of(&ring::digest::digest(&SHA256, bytes))
}

/// "sha256:<hex>" of a finished SHA-256 sum.
pub fn name_of(sum: &Digest) -> String {
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in sum.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The digests a directory holds as files named by their hex (blobs, unpacked layers);
/// other entries (temporaries) are passed over.
pub fn listed_in(dir: &Path) -> io::Result<Vec<String>> {
    let names = std::fs::read_dir(dir)?.filter_map(|e| e.ok()?.file_name().into_string().ok());
    Ok(names
        .map(|hex| format!("sha256:{hex}"))
        .filter(|d| is_sha256_digest(d))
        .collect())
}

/// A reader that hashes and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    context: Context,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            context: Context::new(&SHA256),
            count: 0,
        }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Reads the rest (so the digest covers the whole stream) and returns (digest, bytes).
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((name_of(&self.context.finish()), self.count))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.context.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sha256() {
        assert_eq!(
            of_bytes(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut r = HashingReader::new(&b"abc"[..]);
        let mut first = [0u8; 1];
        r.read_exact(&mut first).unwrap();
        assert_eq!(r.finish().unwrap(), (of_bytes(b"abc"), 3));
    }

    #[test]
    fn directories_list_their_digest_named_files() {
        let dir = tempfile::tempdir().unwrap();
        let digest = of_bytes(b"x");
        std::fs::write(dir.path().join(hex_of(&digest).unwrap()), b"x").unwrap();
        std::fs::write(dir.path().join("blob-1-2"), b"temporary").unwrap();
        std::fs::create_dir(dir.path().join("ABC")).unwrap();
        assert_eq!(listed_in(dir.path()).unwrap(), vec![digest]);
        assert!(listed_in(&dir.path().join("absent")).is_err());
    }

    #[test]
    fn digest_syntax_is_checked() {
        assert!(hex_of(&of_bytes(b"")).is_ok());
        assert!(hex_of("sha256:ABC").is_err());
        assert!(hex_of("sha512:00").is_err());
        assert!(hex_of(&format!("sha256:{}", "0".repeat(63) + "G")).is_err());
        assert!(hex_of(&format!("sha256:{}", "0".repeat(65))).is_err());
        let digest = of_bytes(b"");
        assert_eq!(hex_of(&digest).unwrap(), &digest[7..]);
        assert!(is_sha256_digest(&digest));
        assert!(!is_sha256_digest(&digest.to_uppercase()));
        assert!(!is_sha256_digest(&digest[..70]));
    }
}
