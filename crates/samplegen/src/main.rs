//! `make-samples [DIR]`: writes every sample bundle into DIR (default `samples`) and the
//! scenario library, each bundle with its `<name>.labels.json`, into DIR/scenarios.
//! `make-samples --bench DIR`: writes the large benchmark bundles into DIR (not committed):
//! setup-200mb, evtx-1gb and evtx-1gb-setup-200mb.

use samplegen::Form;
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--bench") {
        let dir = PathBuf::from(args.get(1).map(String::as_str).unwrap_or("bench-out"));
        let path = dir.join("setup-200mb");
        samplegen::bench::big_setup_bundle(200 << 20).write(&path, Form::Folder)?;
        println!("wrote {}", path.display());
        let evtx = dir.join("evtx-1gb");
        let records = samplegen::bench::big_evtx_bundle(&evtx, 1 << 30, None)?;
        println!("wrote {} ({records} records)", evtx.display());
        let big = dir.join("evtx-1gb-setup-200mb");
        let records = samplegen::bench::big_evtx_bundle(&big, 1 << 30, Some(200 << 20))?;
        println!("wrote {} ({records} records)", big.display());
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("--batch") {
        let dir = PathBuf::from(args.get(1).map(String::as_str).unwrap_or("bench-out/batch"));
        let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
        let pool = samplegen::batch_pool();
        for i in 0..n {
            let (name, builder) = &pool[i % pool.len()];
            let path = dir.join(format!("{i:04}-{name}"));
            builder.write(&path, Form::Zip)?;
        }
        println!("wrote {n} bundles into {}", dir.display());
        return Ok(());
    }
    let dir = PathBuf::from(args.first().cloned().unwrap_or_else(|| "samples".into()));
    for (name, builder) in samplegen::samples() {
        let path = dir.join(name);
        builder.write(&path, Form::Zip)?;
        println!("wrote {}", path.display());
    }
    let scenarios = dir.join("scenarios");
    for path in samplegen::catalog_scenarios::write_all(&scenarios)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}
