//! `cargo xtask pack`: the npm package, in `pkg/`. wasm-pack (`--target
//! web`) builds the main module: its glue, its `.wasm` (which the glue
//! loads with `new URL(..., import.meta.url)`, so bundlers emit it), the
//! loader snippet, the TypeScript types, README and package.json. Next to
//! them go the vision module's two builds with their glue, the effects
//! worker's bootstrap and the vision loader ([`crate::vision`]), which the
//! snippet reaches with literal `new URL(...)` and `import(...)` paths.
//! Both modules ship without their name sections.

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
    crate::vision::strip(&pkg.join("peerlens_bg.wasm"))?;
    let vision_out = root().join("target/vision-web/release");
    crate::vision::build(true, &vision_out)?;
    crate::vision::copy(&vision_out, &pkg)?;
    let manifest_path = pkg.join("package.json");
    let text = std::fs::read_to_string(&manifest_path)
        .map_err(|e| format!("cannot read {}: {e}", manifest_path.display()))?;
    // The glue must not hold the vision module (it is fetched on first
    // use), and the vision glue must hold the worker's entry.
    let glue = std::fs::read_to_string(pkg.join("peerlens.js"))
        .map_err(|e| format!("cannot read pkg/peerlens.js: {e}"))?;
    let vision_glue = std::fs::read_to_string(pkg.join("peerlens_vision.js"))
        .map_err(|e| format!("cannot read pkg/peerlens_vision.js: {e}"))?;
    if glue.contains("__peerlens_effects_worker")
        || !vision_glue.contains("__peerlens_effects_worker")
    {
        return Err("the effects worker's entry is not in the vision module alone".into());
    }
    let anchor = "\"files\": [";
    let at = text
        .find(anchor)
        .ok_or_else(|| format!("{} has no \"files\" list", manifest_path.display()))?
        + anchor.len();
    let mut text = text;
    let mut entries: Vec<String> = ["README.md", "LICENSE-MIT", "LICENSE-APACHE", "snippets/"]
        .map(String::from)
        .to_vec();
    entries.extend(crate::vision::files());
    for entry in &entries {
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
    ]
    .into_iter()
    .map(String::from)
    .chain(crate::vision::files())
    {
        if !pkg.join(&file).is_file() {
            return Err(format!("pkg/{file} is missing after wasm-pack"));
        }
    }
    Ok(())
}
