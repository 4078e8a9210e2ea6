//! `make-samples [DIR]`: writes every sample bundle into DIR (default `samples`).

use samplegen::Form;
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "samples".into()));
    for (name, builder) in samplegen::samples() {
        let path = dir.join(name);
        builder.write(&path, Form::Zip)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
