use super::*;

#[test]
fn control_bytes_are_found_anywhere_in_a_line() {
    let mut line = vec![b'a'; 100];
    assert!(!has_control_bytes(&line));
    line[5] = b'\t';
    line[70] = 0x1b;
    assert!(!has_control_bytes(&line), "tab and escape are text");
    for at in [0, 31, 32, 63, 99] {
        let mut l = line.clone();
        l[at] = 0;
        assert!(has_control_bytes(&l), "NUL at {at}");
        l[at] = 0x07;
        assert!(has_control_bytes(&l), "BEL at {at}");
    }
}

fn lines(bytes: &[u8], max: usize) -> (Vec<String>, Encoding, u64) {
    let mut r: &[u8] = bytes;
    let mut lr = LineReader::new(&mut r, max).unwrap();
    let mut out = Vec::new();
    while let Some((_, l)) = lr.next_line().unwrap() {
        out.push(l.to_string());
    }
    (out, lr.encoding, lr.cut_lines)
}

#[test]
fn reads_utf8_bom_utf16_and_crlf() {
    let (l, e, _) = lines(b"\xEF\xBB\xBFa\r\nb\n", 100);
    assert_eq!(
        (l, e),
        (vec!["a".to_string(), "b".to_string()], Encoding::Utf8Bom)
    );
    let (l, e, _) = lines(&utf16le_with_bom("é\r\n😀x\r\n"), 100);
    assert_eq!(l, vec!["é", "😀x"]);
    assert_eq!(e, Encoding::Utf16Le);
    let bomless: Vec<u8> = "hello world line\r\n"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    assert_eq!(lines(&bomless, 100).0, vec!["hello world line"]);
}

#[test]
fn long_lines_are_cut_not_buffered() {
    let mut big = vec![b'x'; 5_000_000];
    big.extend_from_slice(b"\nnext");
    let (l, _, cut) = lines(&big, 1000);
    assert_eq!(l[0].len(), 1000);
    assert_eq!(l[1], "next");
    assert_eq!(cut, 1);
}

#[test]
fn unpaired_surrogates_become_replacement_chars() {
    let mut b = vec![0xFF, 0xFE];
    b.extend_from_slice(&0xD800u16.to_le_bytes());
    b.extend_from_slice(&(b'a' as u16).to_le_bytes());
    assert_eq!(lines(&b, 100).0, vec!["\u{FFFD}a"]);
    let mut r: &[u8] = &b;
    let mut lr = LineReader::new(&mut r, 100).unwrap();
    while lr.next_line().unwrap().is_some() {}
    let d = lr.damage().unwrap_or_default();
    assert!(d.contains("1 invalid UTF-16 code unit"), "{d}");
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

fn read_all(bytes: &[u8]) -> (Vec<String>, Vec<Switch>, Option<String>) {
    let mut r: &[u8] = bytes;
    let mut lr = LineReader::new(&mut r, 1 << 20).unwrap();
    let mut out = Vec::new();
    while let Some((_, l)) = lr.next_line().unwrap() {
        out.push(l.to_string());
    }
    (out, lr.switches(), lr.damage())
}

#[test]
fn a_utf16_run_appended_to_utf8_is_decoded_as_utf16() {
    let first =
        "[12/01/2026 10:00:00.0000] [0] Starting Microsoft Exchange Server Setup\r\n".repeat(3);
    let second = "[12/02/2026 11:00:00.0000] [1] [ERROR] The appended run failed.\r\n";
    for bom in [false, true] {
        // Far from the start and across the decoder's read size, so a switch straddling
        // two reads is seen.
        let mut bytes = first.repeat(3000).into_bytes();
        let at = bytes.len() as u64;
        if bom {
            bytes.extend_from_slice(&[0xFF, 0xFE]);
        }
        bytes.extend(utf16le(second));
        let (lines, switches, damage) = read_all(&bytes);
        assert_eq!(
            lines.last().map(String::as_str),
            Some(second.trim_end()),
            "bom {bom}"
        );
        assert_eq!(lines.len(), 9001);
        assert_eq!(
            switches,
            vec![Switch {
                at,
                to: Encoding::Utf16Le
            }]
        );
        assert!(damage.unwrap().contains("encoding changes to Utf16Le"));
    }
}

#[test]
fn an_8bit_run_appended_to_utf16_is_decoded_as_utf8() {
    let first = "[12/01/2026 10:00:00.0000] [0] Starting Microsoft Exchange Server Setup\r\n";
    let second = "[12/02/2026 11:00:00.0000] [1] [ERROR] The appended run failed.\r\n";
    let mut bytes = utf16le_with_bom(&first.repeat(5000));
    // An odd length before the switch: a half unit left by a crash.
    bytes.push(0xE9);
    let at = bytes.len() as u64;
    bytes.extend_from_slice(second.repeat(2).as_bytes());
    let (lines, switches, _) = read_all(&bytes);
    assert_eq!(lines.last().map(String::as_str), Some(second.trim_end()));
    assert_eq!(
        switches,
        vec![Switch {
            at,
            to: Encoding::Utf8
        }]
    );
}

#[test]
fn text_in_one_encoding_never_switches() {
    let text = "[12/01/2026 10:00:00.0000] [0] Ünïcödé text, 中文字符, ok\r\n".repeat(20_000);
    assert!(read_all(text.as_bytes()).1.is_empty());
    assert!(read_all(&utf16le_with_bom(&text)).1.is_empty());
    // NUL runs are damage, not UTF-16.
    let mut nuls = text.clone().into_bytes();
    nuls.extend(vec![0u8; 100_000]);
    nuls.extend_from_slice(b"\r\n");
    let (_, sw, damage) = read_all(&nuls);
    assert!(sw.is_empty());
    assert!(damage.unwrap().contains("binary data"));
}

/// A reader that hands out at most `chunk` bytes per read, as a pipe or a zip member may.
struct Trickle<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn lines_across_reads_and_at_the_cut_length_are_read_whole_or_cut_as_said() {
    // Lines of 0 to 99 bytes, over several of the decoder's reads, some ending in CR LF.
    let mut text = String::new();
    let mut want = Vec::new();
    for i in 0..30_000usize {
        let line: String = (0..i % 100)
            .map(|k| char::from(b'a' + (k % 26) as u8))
            .collect();
        text.push_str(&line);
        text.push_str(if i % 3 == 0 { "\r\n" } else { "\n" });
        want.push(line);
    }
    let max = 50;
    let cut: Vec<String> = want
        .iter()
        .map(|l| {
            if l.len() < max {
                l.clone()
            } else {
                l[..max].to_string()
            }
        })
        .collect();
    // The line ending counts towards the limit: a 49-byte line and its LF fit, not its CR LF
    // (the text is whole, the line is still counted as cut).
    let cuts = (0..want.len())
        .filter(|&i| want[i].len() + if i % 3 == 0 { 2 } else { 1 } > max)
        .count() as u64;
    for chunk in [1 << 20, 4096, 7] {
        let mut r = Trickle {
            data: text.as_bytes(),
            chunk,
        };
        let mut lr = LineReader::new(&mut r, max).unwrap();
        let mut got = Vec::new();
        while let Some((n, l)) = lr.next_line().unwrap() {
            assert_eq!(n as usize, got.len() + 1);
            got.push(l.to_string());
        }
        assert_eq!(got, cut, "reads of {chunk} bytes");
        assert_eq!(lr.cut_lines, cuts);
        assert!(!lr.unterminated);
        assert!(lr.damage().is_some_and(|d| d.contains("were cut")));
    }
}

#[test]
fn the_decoded_reader_passes_utf8_through_byte_for_byte() {
    let mut text = Vec::new();
    for i in 0..40_000u32 {
        text.extend_from_slice(format!("[{i}] Ünïcödé line {i}\r\n").as_bytes());
    }
    // Invalid UTF-8 is passed on as it is, not repaired.
    text.extend_from_slice(b"\xff\xfe\xc3 tail");
    for (prefix, encoding) in [
        (&b""[..], Encoding::Utf8),
        (b"\xEF\xBB\xBF", Encoding::Utf8Bom),
    ] {
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(&text);
        for chunk in [1 << 20, 1000] {
            let mut r = Trickle {
                data: &bytes,
                chunk,
            };
            let (e, mut reader) = decoded_reader(&mut r).unwrap();
            let mut out = Vec::new();
            reader.read_to_end(&mut out).unwrap();
            assert_eq!(e, encoding);
            assert!(out == text, "reads of {chunk} bytes, {encoding:?}");
        }
    }
}

#[test]
fn invalid_and_binary_lines_are_counted_wherever_the_line_lies() {
    let mut bytes = Vec::new();
    for _ in 0..20_000 {
        bytes.extend_from_slice(b"good line of text\n");
        bytes.extend_from_slice(b"bad \xff byte\n");
        bytes.extend_from_slice(b"nul \x00 byte\n");
    }
    let mut r: &[u8] = &bytes;
    let mut lr = LineReader::new(&mut r, 1 << 20).unwrap();
    let mut bad = 0;
    while let Some((_, l)) = lr.next_line().unwrap() {
        bad += usize::from(l == "bad \u{FFFD} byte");
    }
    assert_eq!(
        (lr.invalid_lines, lr.binary_lines, bad),
        (20_000, 20_000, 20_000)
    );
}
