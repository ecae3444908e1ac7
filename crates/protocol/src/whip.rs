//! The text formats of WHIP (RFC 9725) and WHEP: ICE servers in `Link`
//! headers, and the `application/trickle-ice-sdpfrag` bodies (RFC 8840)
//! of trickle and ICE-restart `PATCH` requests.
//!
//! Only text in and text out: the HTTP requests themselves are made by the
//! browser library.

use crate::{IceCandidate, IceServer};

/// The media type of WHIP and WHEP `PATCH` bodies.
pub const SDPFRAG_TYPE: &str = "application/trickle-ice-sdpfrag";

/// Reads the ICE servers out of `Link` header values (RFC 9725 4.6).
///
/// A browser's `fetch` joins repeated headers with `", "`, so one value may
/// hold several links; commas inside `<...>` and quoted strings do not
/// split them. Links whose `rel` is not `ice-server`, and links that are
/// not `stun:`, `stuns:`, `turn:` or `turns:` URLs, are skipped.
pub fn parse_link_ice_servers(values: &[&str]) -> Vec<IceServer> {
    let mut servers = Vec::new();
    for value in values {
        for link in split_outside_quotes(value, ',') {
            if let Some(server) = parse_link(link.trim()) {
                servers.push(server);
            }
        }
    }
    servers
}

fn parse_link(link: &str) -> Option<IceServer> {
    let rest = link.strip_prefix('<')?;
    let end = rest.find('>')?;
    let url = rest[..end].trim();
    let scheme = url.split(':').next()?.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "stun" | "stuns" | "turn" | "turns") {
        return None;
    }
    let mut rel_ok = false;
    let mut server = IceServer {
        urls: vec![url.to_owned()],
        username: None,
        credential: None,
    };
    for param in split_outside_quotes(&rest[end + 1..], ';') {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        match key.trim().to_ascii_lowercase().as_str() {
            "rel" => rel_ok = value.split_whitespace().any(|r| r == "ice-server"),
            "username" => server.username = Some(value),
            "credential" => server.credential = Some(value),
            _ => {}
        }
    }
    rel_ok.then_some(server)
}

/// Splits on `separator` where it is outside `"..."` and `<...>`.
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quoted, mut bracketed, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' if !bracketed => quoted = !quoted,
            '<' if !quoted => bracketed = true,
            '>' if !quoted => bracketed = false,
            c if c == separator && !quoted && !bracketed => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => value.to_owned(),
    }
}

/// One media section of an SDP or of a fragment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FragSection {
    /// The `m=` line, without `m=`.
    pub media: String,
    /// Its `a=mid:`.
    pub mid: Option<String>,
    /// Its `a=candidate:` lines, without `a=`.
    pub candidates: Vec<String>,
}

/// The ICE parts of an SDP or of a trickle-ice-sdpfrag body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IceFragment {
    /// `a=ice-ufrag:`, from the session level or the first section.
    pub ufrag: Option<String>,
    /// `a=ice-pwd:`, likewise.
    pub pwd: Option<String>,
    /// `a=group:BUNDLE ...`, without `a=`.
    pub group: Option<String>,
    /// The media sections, in order.
    pub sections: Vec<FragSection>,
    /// Whether `a=end-of-candidates` was present.
    pub end_of_candidates: bool,
}

/// Why a fragment could not be read or applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragError {
    /// The fragment has no `a=ice-ufrag:` or `a=ice-pwd:`.
    #[error("the fragment has no ICE credentials (a=ice-ufrag and a=ice-pwd)")]
    NoCredentials,
    /// The SDP has no media section to put candidates in.
    #[error("the session description has no media section")]
    NoMedia,
}

impl IceFragment {
    /// Reads the ICE lines of an SDP or of a fragment. Unknown lines are
    /// skipped; nothing here fails.
    pub fn parse(text: &str) -> Self {
        let mut frag = Self::default();
        for line in text.lines().map(str::trim) {
            if let Some(media) = line.strip_prefix("m=") {
                frag.sections.push(FragSection {
                    media: media.to_owned(),
                    ..FragSection::default()
                });
            } else if let Some(ufrag) = line.strip_prefix("a=ice-ufrag:") {
                frag.ufrag.get_or_insert_with(|| ufrag.to_owned());
            } else if let Some(pwd) = line.strip_prefix("a=ice-pwd:") {
                frag.pwd.get_or_insert_with(|| pwd.to_owned());
            } else if let Some(group) = line.strip_prefix("a=group:") {
                frag.group = Some(format!("group:{group}"));
            } else if let Some(mid) = line.strip_prefix("a=mid:") {
                if let Some(section) = frag.sections.last_mut() {
                    section.mid = Some(mid.to_owned());
                }
            } else if let Some(candidate) = line.strip_prefix("a=") {
                if candidate.starts_with("candidate:") {
                    // Candidates before any m= line belong to the first.
                    if frag.sections.is_empty() {
                        frag.sections.push(FragSection::default());
                    }
                    if let Some(section) = frag.sections.last_mut() {
                        section.candidates.push(candidate.to_owned());
                    }
                } else if candidate == "end-of-candidates" {
                    frag.end_of_candidates = true;
                }
            }
        }
        frag
    }

    /// The browser candidates of this fragment, for `addIceCandidate`.
    pub fn ice_candidates(&self) -> Vec<IceCandidate> {
        let mut out = Vec::new();
        for (index, section) in self.sections.iter().enumerate() {
            for candidate in &section.candidates {
                out.push(IceCandidate {
                    candidate: candidate.clone(),
                    sdp_mid: section.mid.clone(),
                    sdp_m_line_index: u16::try_from(index).ok(),
                    username_fragment: self.ufrag.clone(),
                });
            }
        }
        out
    }
}

/// The body of a trickle or ICE-restart `PATCH` (RFC 9725 4.3): the
/// credentials of `local_sdp` (the client's current offer) and
/// `candidates` under the section each belongs to.
///
/// With BUNDLE only the first section gathers, so candidates whose mid or
/// index is unknown go under the first section too.
pub fn build_sdpfrag(local_sdp: &str, candidates: &[IceCandidate], end: bool) -> String {
    let offer = IceFragment::parse(local_sdp);
    let mut out = String::new();
    let mut line = |text: &str| {
        out.push_str(text);
        out.push_str("\r\n");
    };
    if let Some(group) = &offer.group {
        line(&format!("a={group}"));
    }
    let section_of = |candidate: &IceCandidate| {
        offer
            .sections
            .iter()
            .position(|s| s.mid.is_some() && s.mid == candidate.sdp_mid)
            .or_else(|| {
                candidate
                    .sdp_m_line_index
                    .map(usize::from)
                    .filter(|i| *i < offer.sections.len())
            })
            .unwrap_or(0)
    };
    let mut used: Vec<usize> = candidates.iter().map(section_of).collect();
    if used.is_empty() {
        used.push(0);
    }
    used.sort_unstable();
    used.dedup();
    for index in used {
        let section = offer.sections.get(index);
        if let Some(section) = section {
            line(&format!("m={}", section.media));
            if let Some(mid) = &section.mid {
                line(&format!("a=mid:{mid}"));
            }
        }
        if let Some(ufrag) = &offer.ufrag {
            line(&format!("a=ice-ufrag:{ufrag}"));
        }
        if let Some(pwd) = &offer.pwd {
            line(&format!("a=ice-pwd:{pwd}"));
        }
        for candidate in candidates {
            let belongs = section_of(candidate);
            if belongs == index && !candidate.candidate.is_empty() {
                let text = candidate.candidate.trim();
                let text = text.strip_prefix("a=").unwrap_or(text);
                line(&format!("a={text}"));
            }
        }
        if end {
            line("a=end-of-candidates");
        }
    }
    out
}

/// Applies the answer fragment of an ICE restart to the previous remote
/// description (RFC 9725 4.3.2: only ICE information changes): every
/// `a=ice-ufrag`/`a=ice-pwd` takes the new value, the old candidates go,
/// and the fragment's candidates go into their sections (by mid, else the
/// first).
pub fn apply_restart_answer(previous_sdp: &str, answer: &IceFragment) -> Result<String, FragError> {
    let (Some(ufrag), Some(pwd)) = (&answer.ufrag, &answer.pwd) else {
        return Err(FragError::NoCredentials);
    };
    let mut sections: Vec<Vec<String>> = vec![Vec::new()];
    for line in previous_sdp.lines().map(str::trim_end) {
        if line.is_empty() {
            continue;
        }
        if line.starts_with("m=") {
            sections.push(Vec::new());
        }
        let replaced = if line.starts_with("a=ice-ufrag:") {
            format!("a=ice-ufrag:{ufrag}")
        } else if line.starts_with("a=ice-pwd:") {
            format!("a=ice-pwd:{pwd}")
        } else if line.starts_with("a=candidate:") || line == "a=end-of-candidates" {
            continue;
        } else {
            line.to_owned()
        };
        if let Some(section) = sections.last_mut() {
            section.push(replaced);
        }
    }
    if sections.len() < 2 {
        return Err(FragError::NoMedia);
    }
    for frag_section in &answer.sections {
        let target = frag_section
            .mid
            .as_ref()
            .and_then(|mid| {
                sections[1..]
                    .iter()
                    .position(|s| s.iter().any(|l| l == &format!("a=mid:{mid}")))
            })
            .unwrap_or(0);
        let section = &mut sections[target + 1];
        for candidate in &frag_section.candidates {
            section.push(format!("a={candidate}"));
        }
        if answer.end_of_candidates {
            section.push("a=end-of-candidates".to_owned());
        }
    }
    let mut out = sections.concat().join("\r\n");
    out.push_str("\r\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\n\
o=- 1 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
c=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:EsAw\r\n\
a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n\
a=mid:0\r\n\
a=sendonly\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
c=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:EsAw\r\n\
a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n\
a=mid:1\r\n\
a=sendonly\r\n";

    fn candidate(text: &str, mid: &str, index: u16) -> IceCandidate {
        IceCandidate {
            candidate: text.into(),
            sdp_mid: Some(mid.into()),
            sdp_m_line_index: Some(index),
            username_fragment: None,
        }
    }

    #[test]
    fn link_headers_give_ice_servers_with_credentials() {
        let joined = r#"<stun:127.0.0.1:3478>; rel="ice-server", <turn:127.0.0.1:3478?transport=udp>; rel="ice-server"; username="peer,lens"; credential="se;cret"; credential-type="password", <https://example.com/doc>; rel="help""#;
        let servers =
            parse_link_ice_servers(&[joined, "<turn:t.example?transport=tcp>; rel=ice-server"]);
        assert_eq!(servers.len(), 3, "{servers:?}");
        assert_eq!(servers[0].urls, ["stun:127.0.0.1:3478"]);
        assert_eq!(servers[0].username, None);
        assert_eq!(servers[1].urls, ["turn:127.0.0.1:3478?transport=udp"]);
        assert_eq!(servers[1].username.as_deref(), Some("peer,lens"));
        assert_eq!(servers[1].credential.as_deref(), Some("se;cret"));
        assert_eq!(servers[2].urls, ["turn:t.example?transport=tcp"]);
        assert!(parse_link_ice_servers(&["garbage", "<stun:x>; rel=\"next\"", ""]).is_empty());
    }

    #[test]
    fn a_trickle_fragment_carries_credentials_and_candidates_under_their_section() {
        let text = build_sdpfrag(
            OFFER,
            &[
                candidate("candidate:1 1 udp 2122260223 192.0.2.1 61764 typ host", "0", 0),
                candidate("a=candidate:2 1 udp 1686052607 198.51.100.1 61764 typ srflx raddr 192.0.2.1 rport 61764", "0", 0),
            ],
            true,
        );
        assert_eq!(
            text,
            "a=group:BUNDLE 0 1\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
a=mid:0\r\n\
a=ice-ufrag:EsAw\r\n\
a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n\
a=candidate:1 1 udp 2122260223 192.0.2.1 61764 typ host\r\n\
a=candidate:2 1 udp 1686052607 198.51.100.1 61764 typ srflx raddr 192.0.2.1 rport 61764\r\n\
a=end-of-candidates\r\n"
        );
        let parsed = IceFragment::parse(&text);
        assert_eq!(parsed.ufrag.as_deref(), Some("EsAw"));
        assert!(parsed.end_of_candidates);
        let candidates = parsed.ice_candidates();
        assert_eq!(candidates.len(), 2);
        assert_eq!(candidates[1].sdp_mid.as_deref(), Some("0"));
        assert!(candidates[1].candidate.starts_with("candidate:2 "));
    }

    #[test]
    fn a_restart_fragment_without_candidates_still_has_the_first_section() {
        let text = build_sdpfrag(OFFER, &[], false);
        assert!(text.contains("m=audio 9"), "{text}");
        assert!(text.contains("a=ice-ufrag:EsAw"));
        assert!(!text.contains("m=video"));
        assert!(!text.contains("end-of-candidates"));
    }

    #[test]
    fn a_restart_answer_replaces_credentials_and_candidates() {
        let previous = format!(
            "{}a=candidate:9 1 udp 1 10.0.0.1 9 typ host\r\na=end-of-candidates\r\n",
            OFFER
                .replace("EsAw", "old1")
                .replace("P2uYro0UCOQ4zxjKXaWCBui1", "oldpassword")
        );
        let answer = IceFragment::parse(
            "a=ice-ufrag:NEWU\r\na=ice-pwd:newpasswordnewpassword\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:5 1 udp 2 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n",
        );
        let sdp = apply_restart_answer(&previous, &answer).unwrap();
        assert!(
            !sdp.contains("old1") && !sdp.contains("oldpassword"),
            "{sdp}"
        );
        assert_eq!(sdp.matches("a=ice-ufrag:NEWU").count(), 2);
        assert!(!sdp.contains("10.0.0.1"));
        let audio = &sdp[sdp.find("m=audio").unwrap()..sdp.find("m=video").unwrap()];
        assert!(audio.contains("a=candidate:5 1 udp 2 127.0.0.1 5000 typ host"));
        assert!(audio.contains("a=end-of-candidates"));
        assert!(sdp.starts_with("v=0\r\n") && sdp.ends_with("\r\n"));

        let no_credentials = IceFragment::parse("a=candidate:5 1 udp 2 127.0.0.1 5000 typ host");
        assert_eq!(
            apply_restart_answer(&previous, &no_credentials),
            Err(FragError::NoCredentials)
        );
        assert_eq!(
            apply_restart_answer("v=0\r\n", &answer),
            Err(FragError::NoMedia)
        );
    }
}
