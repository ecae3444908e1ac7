//! Time-limited TURN credentials in coturn's shared-secret scheme (the
//! "TURN REST API" draft, `use-auth-secret` in coturn): the username is
//! `expiry:peer`, the password is base64(HMAC-SHA1(secret, username)). The
//! TURN server checks them with the same secret, so no per-user state is
//! shared.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use peerlens_protocol::IceServer;
use sha1::Sha1;

/// What the server needs to hand out TURN credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnConfig {
    /// The secret shared with coturn (`static-auth-secret`).
    pub secret: String,
    /// `turn:` / `turns:` URLs.
    pub urls: Vec<String>,
    /// How long a credential stays valid.
    pub ttl: Duration,
}

impl std::fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("TurnConfig")
            .field("urls", &self.urls)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TurnConfig {
    /// Credentials for `peer`, valid for the configured time from `now`.
    pub fn credentials(&self, peer: &str, now: SystemTime) -> IceServer {
        let expiry = now
            .checked_add(self.ttl)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let username = format!("{expiry}:{peer}");
        IceServer {
            urls: self.urls.clone(),
            credential: Some(password(&self.secret, &username)),
            username: Some(username),
        }
    }
}

fn password(secret: &str, username: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independent_hmac_sha1() {
        // Computed with Python's hmac module:
        // base64(hmac.new(b"north-wind", b"1700000000:alice", sha1).digest())
        assert_eq!(
            password("north-wind", "1700000000:alice"),
            "Oko4dt8u/EbTRjRUJWQDFm/zTCc="
        );
    }

    #[test]
    fn usernames_carry_the_expiry_and_the_peer() {
        let config = TurnConfig {
            secret: "s".into(),
            urls: vec!["turn:127.0.0.1:3478".into()],
            ttl: Duration::from_secs(600),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let server = config.credentials("p1", now);
        assert_eq!(server.username.as_deref(), Some("1600:p1"));
        assert_eq!(server.credential, Some(password("s", "1600:p1")));
        assert!(
            !format!("{config:?}").contains("\"s\""),
            "Debug hides the secret"
        );
    }
}
