//! `cargo xtask bench size`: what users download. Builds the npm package,
//! packs it with `npm pack`, and measures every file of the tarball raw,
//! gzipped (`gzip -9`) and brotli'd (`brotli -q 11`); then what the largest
//! crates contribute to each wasm, from the function bodies of the cargo
//! output (which still has its name section).

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use crate::{
    cmd::{run as run_cmd, Result},
    setup, target_dir, vision,
};

/// The targets, in bytes (gzip): the main wasm, and each vision build.
const MAIN_GZ_TARGET: usize = 350_000;
const VISION_GZ_TARGET: usize = 2_500_000;

fn compressed(program: &str, args: &[&str], path: &Path) -> Result<usize> {
    let output = Command::new(program)
        .args(args)
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !output.status.success() {
        return Err(format!("{program} failed on {}", path.display()));
    }
    Ok(output.stdout.len())
}

/// (raw, gzip -9, brotli -q 11) bytes of a file.
fn sizes(path: &Path) -> Result<(usize, usize, usize)> {
    let raw = fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len() as usize;
    let gz = compressed("gzip", &["-9", "-c"], path)?;
    let br = compressed("brotli", &["-q", "11", "-c"], path)?;
    Ok((raw, gz, br))
}

fn kb(bytes: usize) -> String {
    format!("{:.1}", bytes as f64 / 1000.0)
}

pub fn run() -> Result<()> {
    setup::run()?;
    crate::pack::build()?;
    let out = target_dir().join("bench/size");
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    println!("\n== npm pack");
    let packed = Command::new("npm")
        .args(["pack", "--silent", "--pack-destination"])
        .arg(&out)
        .current_dir(crate::pack::pkg_dir())
        .output()
        .map_err(|e| format!("cannot run npm: {e}"))?;
    if !packed.status.success() {
        return Err(format!(
            "npm pack failed: {}",
            String::from_utf8_lossy(&packed.stderr)
        ));
    }
    let tarball = out.join(String::from_utf8_lossy(&packed.stdout).trim());
    run_cmd(
        Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&out),
    )?;
    let root = out.join("package");
    let mut files = Vec::new();
    collect(&root, &root, &mut files)?;
    files.sort();

    println!();
    println!(
        "npm package {} ({} files, tarball {} KB), measured raw, gzip -9 and brotli -q 11",
        tarball.file_name().unwrap_or_default().to_string_lossy(),
        files.len(),
        kb(fs::metadata(&tarball).map_err(|e| e.to_string())?.len() as usize),
    );
    println!();
    println!("| file | raw KB | gzip KB | brotli KB | fetched by |");
    println!("|---|---|---|---|---|");
    let mut measured = BTreeMap::new();
    for file in &files {
        let (raw, gz, br) = sizes(&root.join(file))?;
        measured.insert(file.clone(), (raw, gz, br));
        println!(
            "| {file} | {} | {} | {} | {} |",
            kb(raw),
            kb(gz),
            kb(br),
            fetched_by(file)
        );
    }
    let sum = |filter: &dyn Fn(&str) -> bool| {
        measured
            .iter()
            .filter(|(f, _)| filter(f))
            .fold((0, 0, 0), |a, (_, s)| (a.0 + s.0, a.1 + s.1, a.2 + s.2))
    };
    let calls = sum(&|f| fetched_by(f) == "init()");
    println!(
        "| **a calls-only app (init)** | {} | {} | {} | |",
        kb(calls.0),
        kb(calls.1),
        kb(calls.2)
    );
    for (stem, _) in vision::BUILDS {
        let effects = sum(&|f| {
            matches!(
                f,
                "peerlens_worker.js"
                    | "peerlens_vision_loader.js"
                    | "peerlens_vision.js"
                    | "peerlens_vision_relaxed.js"
            ) || f == format!("{stem}_bg.wasm")
        });
        println!(
            "| **effects add, {stem} build** | {} | {} | {} | |",
            kb(effects.0),
            kb(effects.1),
            kb(effects.2)
        );
    }

    println!();
    println!("| wasm | gzip KB | target KB | |");
    println!("|---|---|---|---|");
    let mut wasm_rows = vec![("peerlens_bg.wasm".to_owned(), MAIN_GZ_TARGET)];
    for (stem, _) in vision::BUILDS {
        wasm_rows.push((format!("{stem}_bg.wasm"), VISION_GZ_TARGET));
    }
    for (file, target) in wasm_rows {
        let gz = measured.get(&file).map_or(0, |s| s.1);
        let verdict = if gz <= target { "met" } else { "MISSED" };
        println!("| {file} | {} | {} | {verdict} |", kb(gz), kb(target));
    }

    let release = |dir: PathBuf, name: &str| {
        dir.join("wasm32-unknown-unknown/release")
            .join(format!("{name}.wasm"))
    };
    for (label, path) in [
        ("main (peerlens)", release(target_dir(), "peerlens")),
        (
            "vision (simd128)",
            release(vision::build_target_dir(""), "peerlens_vision_wasm"),
        ),
    ] {
        crates_table(label, &path)?;
    }
    Ok(())
}

/// Who fetches a file of the package: `init()`, the effects, or nobody
/// (types, docs).
fn fetched_by(file: &str) -> &'static str {
    match file {
        "peerlens.js" | "peerlens_bg.wasm" => "init()",
        f if f.starts_with("snippets/") => "init()",
        "peerlens_worker.js" | "peerlens_vision_loader.js" => "first vision use",
        "peerlens_vision.js" | "peerlens_vision_relaxed.js" => "first vision use (both glues)",
        f if f.starts_with("peerlens_vision") && f.ends_with("_bg.wasm") => {
            "first vision use (one build)"
        }
        _ => "never (types, docs)",
    }
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect(root, &path, files)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            files.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// The crates with the most function-body bytes in one wasm.
fn crates_table(label: &str, path: &Path) -> Result<()> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let bodies = vision::function_sizes(&bytes)?;
    let total: usize = bodies.iter().map(|(_, size)| size).sum();
    let mut by_crate: BTreeMap<String, usize> = BTreeMap::new();
    for (name, size) in &bodies {
        *by_crate.entry(crate_of(name)).or_default() += size;
    }
    let mut rows: Vec<(String, usize)> = by_crate.into_iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1));
    println!();
    println!(
        "{label}: {} KB of function bodies in {} functions, by crate (the crate of each function's path; generic code counts where it is defined)",
        kb(total),
        bodies.len()
    );
    println!();
    println!("| crate | KB | share |");
    println!("|---|---|---|");
    for (krate, size) in rows.iter().take(12) {
        println!(
            "| {krate} | {} | {:.1}% |",
            kb(*size),
            100.0 * *size as f64 / total.max(1) as f64
        );
    }
    let rest: usize = rows.iter().skip(12).map(|r| r.1).sum();
    println!(
        "| ({} more) | {} | |",
        rows.len().saturating_sub(12),
        kb(rest)
    );
    Ok(())
}

/// The crate a function name belongs to: the first path segment
/// (`tract_core::ops::...` → `tract_core`), looking inside `<...>` for
/// trait impls. Legacy-mangled names (`_ZN10tract_core3ops...E`, what
/// rustc writes in the name section) are read the same way.
fn crate_of(name: &str) -> String {
    if let Some(mangled) = name.strip_prefix("_ZN") {
        let digits: String = mangled.chars().take_while(char::is_ascii_digit).collect();
        let len: usize = digits.parse().unwrap_or(0);
        let first = mangled.get(digits.len()..digits.len() + len).unwrap_or("");
        let first = first.strip_prefix("_$LT$").unwrap_or(first);
        let first = first.trim_start_matches("$RF$").trim_start_matches("$BP$");
        let krate: String = first
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        return if krate.is_empty() {
            "(unnamed)".to_owned()
        } else {
            krate
        };
    }
    let trimmed = name.trim_start_matches(['<', '&', '*', ' ']);
    let trimmed = trimmed
        .strip_prefix("impl ")
        .or_else(|| trimmed.strip_prefix("dyn "))
        .unwrap_or(trimmed);
    match trimmed.find("::") {
        Some(at)
            if trimmed[..at]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            trimmed[..at].to_owned()
        }
        _ => "(unnamed)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::crate_of;

    #[test]
    fn functions_are_attributed_to_the_crate_of_their_path() {
        assert_eq!(crate_of("tract_core::ops::cnn::conv::eval"), "tract_core");
        assert_eq!(
            crate_of("<tract_linalg::frame::Mmm as core::fmt::Debug>::fmt"),
            "tract_linalg"
        );
        assert_eq!(crate_of("core::ptr::drop_in_place<alloc::Vec<u8>>"), "core");
        assert_eq!(crate_of("__wbindgen_malloc"), "(unnamed)");
        assert_eq!(
            crate_of("_ZN10tract_core3ops4conv4eval17h0123456789abcdefE"),
            "tract_core"
        );
        assert_eq!(
            crate_of("_ZN64_$LT$tract_linalg..Mmm$u20$as$u20$core..fmt..Debug$GT$3fmt17habcE"),
            "tract_linalg"
        );
    }
}
