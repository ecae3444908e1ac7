//! `cargo xtask pack`: the npm package, built by wasm-pack (`--target
//! web`) into `pkg/`: the glue, the `.wasm` (which the glue loads with
//! `new URL(..., import.meta.url)`, so bundlers emit it), the TypeScript
//! types, README and package.json. The effects
//! worker's bootstrap is inlined in the glue (a `blob:` URL) and imports
//! the glue by its `import.meta.url`.

use std::{path::PathBuf, process::Command};

use crate::{
    cmd::{run as run_cmd, Result},
    root, setup,
};

/// The package directory.
pub fn pkg_dir() -> PathBuf {
    root().join("pkg")
}

pub fn run(args: &[String]) -> Result<()> {
    if let Some(extra) = args.first() {
        return Err(format!(
            "`cargo xtask pack` takes no arguments (got {extra:?})"
        ));
    }
    setup::run()?;
    build()?;
    println!("pack: the npm package is in {}", pkg_dir().display());
    Ok(())
}

/// Builds `pkg/` and checks that it holds what an app needs.
pub fn build() -> Result<()> {
    println!("\n== building the npm package with wasm-pack (release)");
    run_cmd(
        Command::new("wasm-pack")
            // `no-install`: use the wasm-bindgen-cli setup installed (the
            // version in Cargo.lock) rather than downloading one.
            .args([
                "build",
                "--target",
                "web",
                "--release",
                "--mode",
                "no-install",
                // Debian's wasm-opt cannot parse the bulk-memory opcodes
                // rustc emits; the release profile already optimizes.
                "--no-opt",
            ])
            .args(["--out-dir", "pkg", "--out-name", "peerlens"])
            .current_dir(root()),
    )?;
    let pkg = pkg_dir();
    let manifest_path = pkg.join("package.json");
    let text = std::fs::read_to_string(&manifest_path)
        .map_err(|e| format!("cannot read {}: {e}", manifest_path.display()))?;
    // The effects worker is inlined in the glue (wasm-bindgen's
    // `link_to!`), which the worker then imports by its own URL.
    let glue = std::fs::read_to_string(pkg.join("peerlens.js"))
        .map_err(|e| format!("cannot read pkg/peerlens.js: {e}"))?;
    if !glue.contains("__peerlens_effects_worker") {
        return Err("pkg/peerlens.js lacks the effects worker's entry".into());
    }
    let anchor = "\"files\": [";
    let at = text
        .find(anchor)
        .ok_or_else(|| format!("{} has no \"files\" list", manifest_path.display()))?
        + anchor.len();
    let mut text = text;
    for entry in ["README.md", "LICENSE-MIT", "LICENSE-APACHE"] {
        if !text.contains(&format!("\"{entry}\"")) {
            text.insert_str(at, &format!("\n    \"{entry}\","));
        }
    }
    std::fs::write(&manifest_path, text)
        .map_err(|e| format!("cannot write {}: {e}", manifest_path.display()))?;
    for file in [
        "peerlens.js",
        "peerlens.d.ts",
        "peerlens_bg.wasm",
        "README.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
    ] {
        if !pkg.join(file).is_file() {
            return Err(format!("pkg/{file} is missing after wasm-pack"));
        }
    }
    Ok(())
}
