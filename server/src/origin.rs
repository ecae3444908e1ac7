//! Which web pages may open a WebSocket to the server.
//!
//! Browsers send `Origin` with every WebSocket handshake, and a page on any
//! site can try to connect. By default the server accepts its own origin
//! (the demo it serves) and pages on localhost or 127.0.0.1 at any port,
//! which covers `trunk serve`, Vite and test runners. Clients that are not
//! browsers send no `Origin` and are accepted.

/// The allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPolicy {
    /// Accept `http(s)://localhost`, `127.0.0.1` and `[::1]` at any port.
    pub allow_local: bool,
    /// Exact origins to accept, such as `https://call.example.org`. `*`
    /// accepts every origin.
    pub allowed: Vec<String>,
}

impl Default for OriginPolicy {
    fn default() -> Self {
        Self {
            allow_local: true,
            allowed: Vec::new(),
        }
    }
}

fn host_of(origin: &str) -> Option<&str> {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))?;
    // `[::1]:8080`, `localhost:5173`, `example.org`
    if let Some(v6) = rest.strip_prefix('[') {
        return v6.split(']').next();
    }
    rest.split(':').next()
}

impl OriginPolicy {
    /// Whether a handshake with this `Origin`, made to this `Host`, is
    /// accepted.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        let origin = origin.trim_end_matches('/');
        if self
            .allowed
            .iter()
            .any(|a| a == "*" || a.trim_end_matches('/') == origin)
        {
            return true;
        }
        if self.allow_local && matches!(host_of(origin), Some("localhost" | "127.0.0.1" | "::1")) {
            return true;
        }
        // The server's own pages: the origin's authority is the Host the
        // browser connected to.
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_allow_own_and_local_pages_only() {
        let policy = OriginPolicy::default();
        assert!(policy.allows(None, Some("x")), "non-browser clients");
        assert!(policy.allows(Some("http://localhost:5173"), Some("10.0.0.1:8080")));
        assert!(policy.allows(Some("http://127.0.0.1:9999"), Some("10.0.0.1:8080")));
        assert!(policy.allows(Some("http://[::1]:1"), Some("10.0.0.1:8080")));
        assert!(policy.allows(Some("https://call.example.org"), Some("call.example.org")));
        assert!(!policy.allows(Some("https://evil.example"), Some("call.example.org")));
        assert!(!policy.allows(
            Some("https://localhost.evil.example"),
            Some("call.example.org")
        ));
        assert!(!policy.allows(Some("null"), Some("call.example.org")));
    }

    #[test]
    fn the_list_and_the_wildcard() {
        let policy = OriginPolicy {
            allow_local: false,
            allowed: vec!["https://app.example.org/".into()],
        };
        assert!(policy.allows(Some("https://app.example.org"), Some("api.example.org")));
        assert!(!policy.allows(Some("http://localhost:5173"), Some("api.example.org")));
        let any = OriginPolicy {
            allow_local: false,
            allowed: vec!["*".into()],
        };
        assert!(any.allows(Some("https://anything.example"), None));
    }
}
