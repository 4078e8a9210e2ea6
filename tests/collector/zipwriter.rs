//! The script's C# zip writer, compiled with mono's `mcs` in C# 2 mode and run with `mono`.

use super::ps::script_source;
use std::path::{Path, PathBuf};

/// The C# source of the script's zip writer (the `$ZipWriterSource` here-string).
pub fn zip_writer_source(src: &str) -> String {
    let start = src
        .find("$ZipWriterSource = @'\n")
        .or_else(|| src.find("$ZipWriterSource = @'\r\n"))
        .expect("$ZipWriterSource here-string");
    let body = &src[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let end = body.find("\n'@").expect("end of the here-string");
    body[..end].to_string()
}

pub const DRIVER: &str = r#"
using System;
using System.IO;
public static class Driver
{
    // zip-path, then pairs of (source file, entry name). As Write-ZipWithHelper does, a file
    // that cannot be added is reported and skipped; exit 3 when any was, or on an exception.
    public static int Main(string[] args)
    {
        try
        {
            int failed = 0;
            Exhume.Collector.ZipWriter zip = new Exhume.Collector.ZipWriter(args[0]);
            try
            {
                for (int i = 1; i + 1 < args.Length; i += 2)
                {
                    try { zip.AddFile(args[i], args[i + 1], File.GetLastWriteTime(args[i])); }
                    catch (Exception e) { Console.Error.WriteLine(e.Message); failed++; }
                }
                zip.Finish();
            }
            finally { zip.Dispose(); }
            return failed == 0 ? 0 : 3;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e.Message);
            return 3;
        }
    }
}
"#;

pub fn have(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Compiles the zip writer in C# 2 mode (what csc of .NET 2.0 accepts); `None` without mono.
pub fn build_zip_writer(work: &Path) -> Option<PathBuf> {
    if !have("mcs") || !have("mono") {
        eprintln!(
            "SKIPPED: mono is not installed (apt-get install mono-mcs mono-runtime); the C# zip writer was not compiled or run"
        );
        return None;
    }
    let cs = work.join("ZipWriter.cs");
    std::fs::write(&cs, zip_writer_source(&script_source())).unwrap();
    let driver = work.join("Driver.cs");
    std::fs::write(&driver, DRIVER).unwrap();
    let exe = work.join("zipwriter.exe");
    let out = std::process::Command::new("mcs")
        .arg("-langversion:ISO-2")
        .arg("-warnaserror+")
        .arg(format!("-out:{}", exe.display()))
        .arg(&cs)
        .arg(&driver)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the script's C# zip writer does not compile as C# 2:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(exe)
}

pub fn run_zip_writer(
    exe: &Path,
    zip: &Path,
    members: &[(PathBuf, String)],
) -> std::process::Output {
    let mut cmd = std::process::Command::new("mono");
    cmd.arg(exe).arg(zip);
    for (src, name) in members {
        cmd.arg(src).arg(name);
    }
    cmd.output().unwrap()
}
