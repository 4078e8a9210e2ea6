//! A zip's central directory, split into its records: used only when the `zip` crate cannot
//! give every member on its own terms.
//!
//! The crate refuses a whole archive when one record is malformed (an extra field that runs past
//! its record gives "failed to fill whole buffer"), and keeps one member per exact name. Both
//! are answered the same way, without a zip reader of our own: the records are split here (the
//! fixed 46-byte header and three lengths, nothing more), the ones the crate refuses are left
//! out, exact-name twins are given distinct names, and the crate reads a rebuilt directory laid
//! over the original file ([`super::source::SharedFile`] with a tail). Member data is still read
//! by the crate, from the original local headers.
//!
//! Only the classic end record is handled: a zip64 archive the crate refuses stays refused.

/// One central-directory record, as stored.
#[derive(Clone)]
pub(super) struct Record {
    pub bytes: Vec<u8>,
}

impl Record {
    pub fn name(&self) -> &[u8] {
        let n = u16::from_le_bytes([self.bytes[28], self.bytes[29]]) as usize;
        &self.bytes[46..46 + n]
    }

    /// The same record under another name (a twin's), everything else unchanged.
    pub fn renamed(&self, name: &[u8]) -> Option<Record> {
        let n = self.name().len();
        let len = u16::try_from(name.len()).ok()?;
        let mut bytes = Vec::with_capacity(self.bytes.len() - n + name.len());
        bytes.extend_from_slice(&self.bytes[..28]);
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(&self.bytes[30..46]);
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(&self.bytes[46 + n..]);
        Some(Record { bytes })
    }
}

/// The directory: where it starts in the file, the offset its end record declares (they differ
/// by any prefix, e.g. a self-extractor stub) and its records.
pub(super) struct Directory {
    pub start: u64,
    declared_offset: u32,
    pub records: Vec<Record>,
}

const EOCD: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
const CDFH: [u8; 4] = [0x50, 0x4b, 0x01, 0x02];
/// A directory this large is not read into memory here (20,000 entries with long names and
/// extra fields stay far below it).
const MAX_DIRECTORY: u64 = 64 << 20;

fn u16_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?) as u64)
}

fn u32_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?) as u64)
}

/// Splits the central directory of the zip read by `read_at`, `len` bytes long; `None` when
/// there is no classic end record with a directory before it.
pub(super) fn read(
    len: u64,
    read_at: impl Fn(u64, &mut [u8]) -> std::io::Result<()>,
) -> Option<Directory> {
    let tail_len = len.min(22 + 0xFFFF);
    let mut tail = vec![0u8; tail_len as usize];
    read_at(len - tail_len, &mut tail).ok()?;
    // The last end record whose directory fits before it.
    let mut at = tail.len().checked_sub(22)?;
    loop {
        if tail[at..at + 4] == EOCD {
            let e = &tail[at..];
            let (disk, cd_disk) = (u16_at(e, 4)?, u16_at(e, 6)?);
            let (count, size, offset) = (u16_at(e, 10)?, u32_at(e, 12)?, u32_at(e, 16)?);
            let eocd_pos = len - tail_len + at as u64;
            let zip64 = count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF;
            if disk == 0 && cd_disk == 0 && !zip64 && size <= eocd_pos && size <= MAX_DIRECTORY {
                let start = eocd_pos - size;
                let mut cd = vec![0u8; size as usize];
                read_at(start, &mut cd).ok()?;
                return Some(Directory {
                    start,
                    declared_offset: offset as u32,
                    records: split(&cd),
                });
            }
        }
        at = at.checked_sub(1)?;
    }
}

/// The records of a directory, up to the first that does not parse.
fn split(cd: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while cd.get(at..at + 4) == Some(&CDFH[..]) {
        let Some(lens) =
            (|| Some(u16_at(cd, at + 28)? + u16_at(cd, at + 30)? + u16_at(cd, at + 32)?))()
        else {
            break;
        };
        let end = at + 46 + lens as usize;
        let Some(bytes) = cd.get(at..end) else { break };
        out.push(Record {
            bytes: bytes.to_vec(),
        });
        at = end;
    }
    out
}

impl Directory {
    /// A directory of `records` (in this order) and its end record, to lay over the file at
    /// [`Directory::start`].
    pub fn rebuild<'a>(&self, records: impl IntoIterator<Item = &'a Record>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut count = 0u16;
        for r in records {
            out.extend_from_slice(&r.bytes);
            count = count.saturating_add(1);
        }
        let size = out.len() as u32;
        out.extend_from_slice(&EOCD);
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&self.declared_offset.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }
}
