//! A reader that enforces the bundle limits on the bytes actually produced, because a zip's
//! declared sizes are written by whoever made it.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which limit stopped a read, and the flag that raises it. Carried inside `io::Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitHit {
    pub limit: &'static str,
    pub value: u64,
    pub flag: &'static str,
}

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "limit reached: {} ({}); raise it with {}",
            self.limit, self.value, self.flag
        )
    }
}

impl std::error::Error for LimitHit {}

pub(super) struct Caps {
    pub per_file: u64,
    pub compressed: u64,
    pub ratio: Option<u64>,
    pub total: u64,
    pub deadline: super::limits::Deadline,
}

pub(super) struct LimitedReader<'a> {
    inner: &'a mut dyn Read,
    caps: Caps,
    read: u64,
    total: &'a AtomicU64,
}

impl<'a> LimitedReader<'a> {
    pub fn new(inner: &'a mut dyn Read, caps: Caps, total: &'a AtomicU64) -> Self {
        LimitedReader {
            inner,
            caps,
            read: 0,
            total,
        }
    }

    fn check(&self) -> Result<(), LimitHit> {
        self.caps.deadline.check()?;
        if self.read > self.caps.per_file {
            return Err(LimitHit {
                limit: "member size",
                value: self.caps.per_file,
                flag: "--max-file-size",
            });
        }
        if let Some(ratio) = self.caps.ratio
            && self.read > super::Limits::RATIO_FLOOR
            && self.read / self.caps.compressed.max(1) > ratio
        {
            return Err(LimitHit {
                limit: "compression ratio",
                value: ratio,
                flag: "--max-ratio",
            });
        }
        Ok(())
    }
}

impl Read for LimitedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        let before = self.total.fetch_add(n as u64, Ordering::Relaxed);
        if before + n as u64 > self.caps.total {
            return Err(std::io::Error::other(LimitHit {
                limit: "bundle expanded size",
                value: self.caps.total,
                flag: "--max-total-size",
            }));
        }
        self.check().map_err(std::io::Error::other)?;
        Ok(n)
    }
}

/// Hashes what passes through; `finish` drains the rest so the digest covers the whole member.
pub(super) struct HashingReader<'a> {
    inner: &'a mut dyn Read,
    hasher: sha2::Sha256,
    len: u64,
    failed: Option<String>,
}

impl<'a> HashingReader<'a> {
    pub fn new(inner: &'a mut dyn Read) -> Self {
        HashingReader {
            inner,
            hasher: sha2::Digest::new(),
            len: 0,
            failed: None,
        }
    }

    pub fn finish(mut self) -> std::io::Result<(String, u64)> {
        if let Some(e) = self.failed.take() {
            return Err(std::io::Error::other(e));
        }
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = self.read(&mut buf)?;
            if n == 0 {
                break;
            }
        }
        let digest = sha2::Digest::finalize(self.hasher);
        Ok((super::hex(&digest), self.len))
    }
}

impl Read for HashingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                sha2::Digest::update(&mut self.hasher, &buf[..n]);
                self.len += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.failed = Some(e.to_string());
                Err(e)
            }
        }
    }
}
