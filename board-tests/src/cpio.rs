//! The initramfs archive: the "newc" cpio format the kernel unpacks at boot
//! (Documentation/driver-api/early-userspace/buffer-format.rst), gzip-compressed.

use std::io::{self, Write};

/// One member of the archive.
pub enum Member<'a> {
    Dir { mode: u32 },
    File { mode: u32, data: &'a [u8] },
    Symlink { target: &'a str },
}

/// Writes newc members; `finish` appends the trailer.
pub struct CpioWriter<W: Write> {
    out: W,
    next_inode: u32,
}

impl<W: Write> CpioWriter<W> {
    pub fn new(out: W) -> Self {
        CpioWriter { out, next_inode: 1 }
    }

    /// Appends `path` (relative, no leading slash).
    pub fn append(&mut self, path: &str, member: &Member<'_>) -> io::Result<()> {
        let (mode, data): (u32, &[u8]) = match member {
            Member::Dir { mode } => (0o040000 | mode, &[]),
            Member::File { mode, data } => (0o100000 | mode, data),
            Member::Symlink { target } => (0o120777, target.as_bytes()),
        };
        let inode = self.next_inode;
        self.next_inode += 1;
        let nlink = if matches!(member, Member::Dir { .. }) {
            2
        } else {
            1
        };
        self.entry(inode, mode, nlink, path, data)
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.entry(0, 0, 1, "TRAILER!!!", &[])?;
        Ok(self.out)
    }

    fn entry(
        &mut self,
        inode: u32,
        mode: u32,
        nlink: u32,
        name: &str,
        data: &[u8],
    ) -> io::Result<()> {
        let size = u32::try_from(data.len())
            .map_err(|_| io::Error::other(format!("{name}: larger than 4 GiB")))?;
        let name_size = u32::try_from(name.len() + 1)
            .map_err(|_| io::Error::other("cpio member name too long"))?;
        // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
        let fields = [inode, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, name_size, 0];
        let mut header = String::from("070701");
        for field in fields {
            header.push_str(&format!("{field:08X}"));
        }
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(&[0])?;
        self.pad(110 + name.len() + 1)?;
        self.out.write_all(data)?;
        self.pad(data.len())
    }

    fn pad(&mut self, written: usize) -> io::Result<()> {
        let zeros = (4 - written % 4) % 4;
        self.out.write_all(&[0; 3][..zeros])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_aligned_and_end_with_the_trailer() {
        let mut cpio = CpioWriter::new(Vec::new());
        cpio.append("bin", &Member::Dir { mode: 0o755 }).unwrap();
        cpio.append(
            "bin/x",
            &Member::File {
                mode: 0o755,
                data: b"abcde",
            },
        )
        .unwrap();
        cpio.append("bin/y", &Member::Symlink { target: "x" })
            .unwrap();
        let bytes = cpio.finish().unwrap();
        assert_eq!(bytes.len() % 4, 0);
        assert!(bytes.starts_with(b"070701"));
        let text = String::from_utf8_lossy(&bytes);
        // header (110) + "bin\0" (4) = 114, padded to 116: the next header starts there.
        assert_eq!(&bytes[116..122], b"070701");
        assert!(text.contains("bin/x\0"));
        assert!(text.contains("abcde"));
        assert!(text.ends_with("TRAILER!!!\0\0\0\0"), "{text:?}");
    }

    #[test]
    fn the_file_size_field_is_hex() {
        let mut cpio = CpioWriter::new(Vec::new());
        cpio.append(
            "f",
            &Member::File {
                mode: 0o644,
                data: &[7; 300],
            },
        )
        .unwrap();
        let bytes = cpio.finish().unwrap();
        // filesize is the 7th field: 6 + 6 * 8 = 54.
        assert_eq!(&bytes[54..62], b"0000012C");
    }
}
