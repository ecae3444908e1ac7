//! Reading the demo page (www/) the way its user sees it: the remote
//! tiles, their video, the status line and the listed errors.

use std::time::Duration;

use serde_json::Value;

use crate::{wait_for, Browser};

#[derive(Debug, Clone)]
pub struct Tile {
    pub peer: String,
    pub width: u64,
    pub frames: u64,
    pub audio_bytes: f64,
}

pub fn tiles(browser: &Browser) -> Vec<Tile> {
    let value = browser.execute(
        "return [...document.querySelectorAll('#grid figure[data-peer]')].map(f => {
            const v = f.querySelector('video');
            return { peer: f.dataset.peer, width: v.videoWidth,
                     frames: v.getVideoPlaybackQuality().totalVideoFrames,
                     audio: Number(f.dataset.audioBytes || 0) };
        });",
    );
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|t| Tile {
                    peer: t["peer"].as_str().unwrap_or_default().to_owned(),
                    width: t["width"].as_u64().unwrap_or(0),
                    frames: t["frames"].as_u64().unwrap_or(0),
                    audio_bytes: t["audio"].as_f64().unwrap_or(0.0),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn text(browser: &Browser, selector: &str) -> String {
    browser
        .execute(&format!(
            "const el = document.querySelector({selector:?}); return el ? el.textContent : '';"
        ))
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The names of the error events the page listed.
pub fn logged_errors(browser: &Browser) -> Vec<String> {
    browser
        .execute("return [...document.querySelectorAll('#log li')].map(li => li.dataset.name + ' | ' + li.textContent);")
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Waits until the page shows `count` remote tiles that play video.
pub fn wait_for_videos(browser: &Browser, who: &str, count: usize, timeout: Duration) -> Vec<Tile> {
    wait_for(
        &format!("{who} to see {count} remote videos"),
        timeout,
        || {
            let tiles = tiles(browser);
            (tiles.len() == count && tiles.iter().all(|t| t.width > 0 && t.frames > 0))
                .then_some(tiles)
        },
    )
}

/// Asserts that every remote tile keeps receiving frames.
pub fn assert_frames_advance(browser: &Browser, who: &str) {
    let before = tiles(browser);
    wait_for(
        &format!("{who}'s remote videos to advance"),
        Duration::from_secs(10),
        || {
            let after = tiles(browser);
            let advanced = before.iter().all(|b| {
                after
                    .iter()
                    .any(|a| a.peer == b.peer && a.frames >= b.frames + 10)
            });
            advanced.then_some(())
        },
    );
}

/// The colour the effects draw face boxes in.
pub const BOX_COLOUR: [u8; 3] = [0, 230, 118];

/// The most pixels within 40 of the box colour in any remote tile's frame,
/// or -1 while no tile shows a frame.
pub fn box_pixels(browser: &Browser) -> i64 {
    browser
        .execute(&format!(
            "let best = -1;
             for (const v of document.querySelectorAll('#grid figure[data-peer] video')) {{
               if (!v.videoWidth) continue;
               const c = document.createElement('canvas');
               c.width = v.videoWidth; c.height = v.videoHeight;
               const x = c.getContext('2d', {{ willReadFrequently: true }});
               x.drawImage(v, 0, 0);
               const d = x.getImageData(0, 0, c.width, c.height).data;
               const [r, g, b] = {BOX_COLOUR:?};
               let n = 0;
               for (let i = 0; i < d.length; i += 4)
                 if (Math.abs(d[i] - r) <= 40 && Math.abs(d[i + 1] - g) <= 40 && Math.abs(d[i + 2] - b) <= 40) n++;
               best = Math.max(best, n);
             }}
             return best;"
        ))
        .as_i64()
        .unwrap_or(-1)
}
