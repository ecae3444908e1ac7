//! The vision module's files: both builds of `peerlens-vision-wasm`
//! (simd128 and relaxed SIMD, each in a target directory of its own, so
//! that their RUSTFLAGS never invalidate the shared one, where the main
//! module is built without SIMD), bound by wasm-bindgen,
//! with the worker bootstrap and the loader. The npm package, the demo,
//! the test site and the browser tests all take them from here.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::{cmd::Result, root, target_dir};

/// The two builds, as (file stem, extra target features).
pub const BUILDS: [(&str, &str); 2] = [
    ("peerlens_vision", ""),
    ("peerlens_vision_relaxed", ",+relaxed-simd"),
];

/// The cargo target directory of a build: one per build, apart from the
/// shared one.
pub fn build_target_dir(features: &str) -> PathBuf {
    if features.is_empty() {
        target_dir().join("simd128")
    } else {
        target_dir().join("relaxed-simd")
    }
}

/// The RUSTFLAGS of a vision build for wasm32: simd128 plus `features`.
pub fn rustflags(features: &str) -> String {
    format!("-C target-feature=+simd128{features}")
}

/// Where the browser tests find the debug builds: inside the checkout,
/// because wasm-bindgen-test-runner serves files from the crate's
/// directory (as `/target/vision-web/`).
pub fn test_dir() -> PathBuf {
    root().join("target/vision-web")
}

/// Builds both builds (`release` or the dev profile) and writes them,
/// bound and with the bootstrap and loader, into `out`.
pub fn build(release: bool, out: &Path) -> Result<()> {
    println!(
        "\n== building the vision module, both builds ({}) into {}",
        if release { "release" } else { "debug" },
        out.display()
    );
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    for (stem, features) in BUILDS {
        let target = build_target_dir(features);
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo
            .args([
                "build",
                "-p",
                "peerlens-vision-wasm",
                "--lib",
                "--target",
                "wasm32-unknown-unknown",
            ])
            .env("CARGO_TARGET_DIR", &target)
            .env(
                "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
                rustflags(features),
            )
            .current_dir(root());
        if release {
            cargo.arg("--release");
        }
        crate::cmd::run(&mut cargo)?;
        let wasm = target
            .join("wasm32-unknown-unknown")
            .join(if release { "release" } else { "debug" })
            .join("peerlens_vision_wasm.wasm");
        crate::cmd::run(
            Command::new("wasm-bindgen")
                .args(["--target", "web", "--out-name", stem, "--out-dir"])
                .arg(out)
                .arg(&wasm),
        )?;
        if release {
            strip(&out.join(format!("{stem}_bg.wasm")))?;
        }
    }
    let js = root().join("crates/vision-wasm");
    for (from, to) in [
        ("worker.js", "peerlens_worker.js"),
        ("loader.js", "peerlens_vision_loader.js"),
    ] {
        std::fs::copy(js.join(from), out.join(to))
            .map_err(|e| format!("cannot copy {from} to {}: {e}", out.display()))?;
    }
    Ok(())
}

/// The files of [`build`]'s output, for package lists and copies.
pub fn files() -> Vec<String> {
    let mut files = vec![
        "peerlens_worker.js".to_owned(),
        "peerlens_vision_loader.js".to_owned(),
    ];
    for (stem, _) in BUILDS {
        files.push(format!("{stem}.js"));
        files.push(format!("{stem}.d.ts"));
        files.push(format!("{stem}_bg.wasm"));
        files.push(format!("{stem}_bg.wasm.d.ts"));
    }
    files
}

/// Copies [`build`]'s output from `from` into `to`.
pub fn copy(from: &Path, to: &Path) -> Result<()> {
    for file in files() {
        std::fs::copy(from.join(&file), to.join(&file))
            .map_err(|e| format!("cannot copy {file} into {}: {e}", to.display()))?;
    }
    Ok(())
}

/// Removes the custom sections a browser does not need (the `name`
/// section of function names, `producers`, `target_features`, DWARF) from
/// a wasm file, in place. Returns the bytes removed.
pub fn strip(path: &Path) -> Result<usize> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let stripped = strip_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let removed = bytes.len() - stripped.len();
    std::fs::write(path, stripped).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(removed)
}

/// Reads an unsigned LEB128 at `at`; returns it and the offset after it.
fn leb128(bytes: &[u8], mut at: usize) -> std::result::Result<(usize, usize), String> {
    let (mut value, mut shift) = (0usize, 0u32);
    loop {
        let byte = *bytes.get(at).ok_or("truncated LEB128")?;
        at += 1;
        if shift >= 35 {
            return Err("LEB128 too long".into());
        }
        value |= usize::from(byte & 0x7f) << shift;
        shift += 7;
        if byte < 0x80 {
            return Ok((value, at));
        }
    }
}

/// Calls `keep(id, custom_name, whole_section)` for each section; builds
/// the module of the sections it keeps.
fn walk(
    bytes: &[u8],
    mut keep: impl FnMut(u8, &str, &[u8]) -> bool,
) -> std::result::Result<Vec<u8>, String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err("not a wasm module".into());
    }
    let mut out = bytes[..8].to_vec();
    let mut at = 8;
    while at < bytes.len() {
        let id = bytes[at];
        let (size, body) = leb128(bytes, at + 1)?;
        let end = body
            .checked_add(size)
            .filter(|&end| end <= bytes.len())
            .ok_or("a section runs past the end")?;
        let name = if id == 0 {
            let (len, start) = leb128(bytes, body)?;
            let name = bytes
                .get(start..start + len)
                .ok_or("bad custom section name")?;
            String::from_utf8_lossy(name).into_owned()
        } else {
            String::new()
        };
        if keep(id, &name, &bytes[at..end]) {
            out.extend_from_slice(&bytes[at..end]);
        }
        at = end;
    }
    Ok(out)
}

/// Each defined function's name (from the name section, `#N` without
/// one) and body size in bytes.
pub fn function_sizes(bytes: &[u8]) -> Result<Vec<(String, usize)>> {
    let mut imported = 0usize;
    let mut bodies: Vec<usize> = Vec::new();
    let mut names: std::collections::HashMap<usize, String> = std::collections::HashMap::new();
    let mut failure: Option<String> = None;
    walk(bytes, |id, name, section| {
        let (_, body) = match leb128(section, 1) {
            Ok(v) => v,
            Err(e) => {
                failure = Some(e);
                return false;
            }
        };
        let parsed = match (id, name) {
            (2, _) => count_function_imports(section, body).map(|n| imported = n),
            (10, _) => code_sizes(section, body).map(|sizes| bodies = sizes),
            (0, "name") => function_names(section, body).map(|n| names = n),
            _ => Ok(()),
        };
        if let Err(e) = parsed {
            failure = Some(e);
        }
        false
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(bodies
        .into_iter()
        .enumerate()
        .map(|(i, size)| {
            let index = imported + i;
            (
                names.remove(&index).unwrap_or_else(|| format!("#{index}")),
                size,
            )
        })
        .collect())
}

/// Skips a `limits` (flags, min, max when flagged).
fn skip_limits(b: &[u8], at: usize) -> std::result::Result<usize, String> {
    let flags = *b.get(at).ok_or("truncated limits")?;
    let (_, at) = leb128(b, at + 1)?;
    if flags & 1 == 1 {
        Ok(leb128(b, at)?.1)
    } else {
        Ok(at)
    }
}

fn count_function_imports(b: &[u8], at: usize) -> std::result::Result<usize, String> {
    let (count, mut at) = leb128(b, at)?;
    let mut functions = 0;
    for _ in 0..count {
        for _ in 0..2 {
            let (len, start) = leb128(b, at)?;
            at = start + len;
        }
        let kind = *b.get(at).ok_or("truncated import")?;
        at += 1;
        at = match kind {
            0 => {
                functions += 1;
                leb128(b, at)?.1
            }
            1 => skip_limits(b, at + 1)?,
            2 => skip_limits(b, at)?,
            3 => at + 2,
            4 => leb128(b, at + 1)?.1,
            other => return Err(format!("unknown import kind {other}")),
        };
    }
    Ok(functions)
}

fn code_sizes(b: &[u8], at: usize) -> std::result::Result<Vec<usize>, String> {
    let (count, mut at) = leb128(b, at)?;
    let mut sizes = Vec::with_capacity(count);
    for _ in 0..count {
        let (size, start) = leb128(b, at)?;
        sizes.push(size + (start - at));
        at = start + size;
    }
    Ok(sizes)
}

fn function_names(
    b: &[u8],
    at: usize,
) -> std::result::Result<std::collections::HashMap<usize, String>, String> {
    let (len, start) = leb128(b, at)?;
    let mut at = start + len;
    let mut names = std::collections::HashMap::new();
    while at < b.len() {
        let kind = b[at];
        let (size, body) = leb128(b, at + 1)?;
        if kind == 1 {
            let (count, mut p) = leb128(b, body)?;
            for _ in 0..count {
                let (index, q) = leb128(b, p)?;
                let (len, q) = leb128(b, q)?;
                let name = b.get(q..q + len).ok_or("truncated function name")?;
                names.insert(index, String::from_utf8_lossy(name).into_owned());
                p = q + len;
            }
        }
        at = body + size;
    }
    Ok(names)
}

fn strip_bytes(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    walk(bytes, |id, name, _| {
        id != 0
            || !(name == "name"
                || name == "producers"
                || name == "target_features"
                || name.starts_with(".debug"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The custom sections of a module: (name, bytes with the header).
    fn custom_sections(bytes: &[u8]) -> std::result::Result<Vec<(String, usize)>, String> {
        let mut sections = Vec::new();
        walk(bytes, |id, name, section| {
            if id == 0 {
                sections.push((name.to_owned(), section.len()));
            }
            true
        })?;
        Ok(sections)
    }

    /// A module with a type section, a `name` section and another custom
    /// section.
    fn module() -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]);
        m.extend_from_slice(&[0, 7, 4, b'n', b'a', b'm', b'e', 9, 9]);
        m.extend_from_slice(&[0, 4, 3, b'k', b'e', b'p']);
        m
    }

    #[test]
    fn strips_the_name_section_and_keeps_the_rest() {
        let m = module();
        let stripped = strip_bytes(&m).unwrap();
        assert_eq!(stripped.len(), m.len() - 9);
        assert_eq!(
            custom_sections(&stripped).unwrap(),
            [("kep".to_owned(), 6)],
            "only the unknown custom section stays"
        );
        assert_eq!(&stripped[8..14], &[1, 4, 1, 0x60, 0, 0]);
    }

    #[test]
    fn function_sizes_are_named_from_the_name_section() {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        // (type (func)), one imported function, two defined ones.
        m.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]);
        m.extend_from_slice(&[2, 7, 1, 1, b'm', 1, b'f', 0, 0]);
        m.extend_from_slice(&[3, 3, 2, 0, 0]);
        m.extend_from_slice(&[10, 8, 2, 2, 0, 0x0b, 3, 0, 0x01, 0x0b]);
        // name section: function 2 is "two".
        m.extend_from_slice(&[
            0, 13, 4, b'n', b'a', b'm', b'e', 1, 6, 1, 2, 3, b't', b'w', b'o',
        ]);
        let sizes = function_sizes(&m).unwrap();
        assert_eq!(sizes, [("#1".to_owned(), 3), ("two".to_owned(), 4)]);
    }

    #[test]
    fn a_truncated_module_is_an_error() {
        let m = module();
        assert!(strip_bytes(&m[..m.len() - 2]).is_err());
        assert!(strip_bytes(b"nope").is_err());
    }
}
