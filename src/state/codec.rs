//! Little-endian binary encoding for checkpoints: the few primitives they need, with reads that
//! fail cleanly on truncated input instead of panicking.

/// A checkpoint body that does not decode: where reading it failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("checkpoint truncated or malformed at byte {0}")]
pub struct Malformed(pub(crate) usize);

#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
    }
}

pub struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, at: 0 }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or(Malformed(self.at))?;
        let out = &self.buf[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        Ok(self.take(N)?.try_into().expect("length checked"))
    }
    pub fn u32(&mut self) -> Result<u32, Malformed> {
        self.array().map(u32::from_le_bytes)
    }
    pub fn u64(&mut self) -> Result<u64, Malformed> {
        self.array().map(u64::from_le_bytes)
    }
    pub fn i64(&mut self) -> Result<i64, Malformed> {
        self.array().map(i64::from_le_bytes)
    }
    pub fn i32(&mut self) -> Result<i32, Malformed> {
        self.array().map(i32::from_le_bytes)
    }
    pub fn str(&mut self) -> Result<&'a str, Malformed> {
        let n = self.u32()? as usize;
        let at = self.at;
        std::str::from_utf8(self.take(n)?).map_err(|_| Malformed(at))
    }
    /// A count of items that each take at least `min_size` bytes: bounded by what is left, so
    /// a corrupt length cannot make the reader allocate without limit.
    pub fn count(&mut self, min_size: usize) -> Result<usize, Malformed> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size.max(1)) > self.buf.len() - self.at {
            return Err(Malformed(self.at));
        }
        Ok(n)
    }
    pub fn is_done(&self) -> bool {
        self.at == self.buf.len()
    }
    /// The error for a value that reads but makes no sense, at the reader's position.
    pub fn malformed(&self) -> Malformed {
        Malformed(self.at)
    }
}
