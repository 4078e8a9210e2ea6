//! A zip writer that writes whatever it is told, lies included: sizes, CRCs, offsets, file
//! types and names are taken as given, so a test can build the archives a hostile sender would.

/// One member as it will be written.
#[derive(Clone)]
pub struct Member {
    pub name: Vec<u8>,
    /// Bytes stored (already compressed when `method` is not 0).
    pub data: Vec<u8>,
    pub method: u16,
    /// Declared sizes; default to the true ones.
    pub claimed_size: Option<u64>,
    pub claimed_compressed: Option<u64>,
    pub crc: Option<u32>,
    /// Unix mode in the high half of the external attributes (e.g. `0o120777` for a symlink).
    pub unix_mode: Option<u32>,
    /// Point the central record at another member's local header (overlapping entries).
    pub same_offset_as: Option<usize>,
    /// Write sizes in a zip64 extra field, with 0xFFFFFFFF in the 32-bit fields.
    pub zip64: bool,
    /// Extra-field bytes appended in the central directory record only, taken as given.
    pub central_extra: Vec<u8>,
}

impl Member {
    pub fn stored(name: &[u8], data: &[u8]) -> Self {
        Member {
            name: name.to_vec(),
            data: data.to_vec(),
            method: 0,
            claimed_size: None,
            claimed_compressed: None,
            crc: None,
            unix_mode: None,
            same_offset_as: None,
            zip64: false,
            central_extra: Vec::new(),
        }
    }

    /// A Deflate member holding `plain`.
    pub fn deflated(name: &[u8], plain: &[u8]) -> Self {
        let mut m = Member::stored(name, &deflate(plain));
        m.method = 8;
        m.claimed_size = Some(plain.len() as u64);
        m.crc = Some(crc32(plain));
        m
    }
}

pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Raw Deflate of `plain`, taken from a zip the `zip` crate writes.
pub fn deflate(plain: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zw.start_file("x", o).expect("start");
    zw.write_all(plain).expect("write");
    let z = zw.finish().expect("finish").into_inner();
    let mut a = zip::ZipArchive::new(std::io::Cursor::new(z.clone())).expect("reread");
    let f = a.by_index_raw(0).expect("member");
    let start = f.data_start().expect("data start") as usize;
    let len = f.compressed_size() as usize;
    z[start..start + len].to_vec()
}

fn u16le(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn u32le(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

/// The archive: local headers and data, central directory, end record.
pub fn write(members: &[Member]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    let mut central = Vec::new();
    for m in members {
        let size = m.claimed_size.unwrap_or(m.data.len() as u64);
        let csize = m.claimed_compressed.unwrap_or(m.data.len() as u64);
        let crc = m.crc.unwrap_or_else(|| crc32(&m.data));
        let extra = if m.zip64 {
            let mut e = Vec::new();
            u16le(&mut e, 0x0001);
            u16le(&mut e, 16);
            e.extend_from_slice(&size.to_le_bytes());
            e.extend_from_slice(&csize.to_le_bytes());
            e
        } else {
            Vec::new()
        };
        let (s32, c32) = if m.zip64 {
            (u32::MAX, u32::MAX)
        } else {
            (size as u32, csize as u32)
        };
        offsets.push(out.len() as u32);
        u32le(&mut out, 0x0403_4b50);
        u16le(&mut out, if m.zip64 { 45 } else { 20 });
        u16le(&mut out, 0x0800); // UTF-8 names
        u16le(&mut out, m.method);
        u16le(&mut out, 0);
        u16le(&mut out, 0x4c21);
        u32le(&mut out, crc);
        u32le(&mut out, c32);
        u32le(&mut out, s32);
        u16le(&mut out, m.name.len() as u16);
        u16le(&mut out, extra.len() as u16);
        out.extend_from_slice(&m.name);
        out.extend_from_slice(&extra);
        out.extend_from_slice(&m.data);

        let made_by = if m.unix_mode.is_some() {
            0x0314
        } else {
            0x0014
        };
        u32le(&mut central, 0x0201_4b50);
        u16le(&mut central, made_by);
        u16le(&mut central, if m.zip64 { 45 } else { 20 });
        u16le(&mut central, 0x0800);
        u16le(&mut central, m.method);
        u16le(&mut central, 0);
        u16le(&mut central, 0x4c21);
        u32le(&mut central, crc);
        u32le(&mut central, c32);
        u32le(&mut central, s32);
        u16le(&mut central, m.name.len() as u16);
        u16le(&mut central, (extra.len() + m.central_extra.len()) as u16);
        u16le(&mut central, 0);
        u16le(&mut central, 0);
        u16le(&mut central, 0);
        u32le(&mut central, m.unix_mode.map_or(0, |mode| mode << 16));
        let offset = match m.same_offset_as {
            Some(i) => offsets[i],
            None => *offsets.last().expect("offset"),
        };
        u32le(&mut central, offset);
        central.extend_from_slice(&m.name);
        central.extend_from_slice(&extra);
        central.extend_from_slice(&m.central_extra);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    u32le(&mut out, 0x0605_4b50);
    u16le(&mut out, 0);
    u16le(&mut out, 0);
    u16le(&mut out, members.len() as u16);
    u16le(&mut out, members.len() as u16);
    u32le(&mut out, central.len() as u32);
    u32le(&mut out, cd_offset);
    u16le(&mut out, 0);
    out
}
