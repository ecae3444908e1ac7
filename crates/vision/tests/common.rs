//! Fixture loading shared by the native vision tests.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// This crate's directory: `cargo test` sets it at run time too, and the
/// path compiled in is stale when the test binary was built in another
/// checkout that shares the target directory.
pub fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

pub fn fixtures() -> PathBuf {
    crate_dir().join("tests/fixtures")
}

pub fn model_bytes(name: &str) -> Vec<u8> {
    let path = crate_dir()
        .join("../../models")
        .join(format!("{name}.onnx"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

pub fn f32_file(relative: &str) -> Vec<f32> {
    let bytes = std::fs::read(fixtures().join(relative)).unwrap();
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

pub fn json(relative: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(relative)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// An RGBA image decoded from a fixture PNG.
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

pub fn png(relative: &str) -> Image {
    let file = std::fs::File::open(fixtures().join(relative)).unwrap();
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let pixels = &buf[..info.buffer_size()];
    let rgba = match info.color_type {
        png::ColorType::Rgba => pixels.to_vec(),
        png::ColorType::Rgb => pixels
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        png::ColorType::Grayscale => pixels.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    Image {
        width: info.width,
        height: info.height,
        rgba,
    }
}

pub fn f(value: &Value) -> f32 {
    value.as_f64().unwrap_or(f64::NAN) as f32
}
