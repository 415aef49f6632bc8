//! SHA-256 of the set's files, computed while they are written or read.

use std::io::{self, Write};

use sha2::{Digest, Sha256};

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A writer that counts, hashes and passes bytes on.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    pub bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The inner writer, the byte count and the digest in hex.
    pub fn finish(self) -> (W, u64, String) {
        (self.inner, self.bytes, hex(&self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The byte count and SHA-256 of a file.
pub(crate) fn of_file(path: &std::path::Path) -> io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut w = HashingWriter::new(io::sink());
    io::copy(&mut file, &mut w)?;
    let (_, bytes, digest) = w.finish();
    Ok((bytes, digest))
}
