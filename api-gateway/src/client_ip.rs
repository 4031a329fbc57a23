//! Who the client is, network-wise: the TCP peer, or, when the peer is one
//! of `gateway.trusted_proxies`, the address that proxy says it saw.
//!
//! `X-Forwarded-For` is a list each proxy appends its own peer to, so only
//! its right-hand end is written by machines we trust. Reading from the
//! right, every entry added by a trusted proxy is skipped; the first entry
//! that is not a trusted proxy is the client (it was appended by a trusted
//! proxy, so it is what that proxy saw). Everything to its left was written
//! by the client and is ignored. An unparseable entry stops the walk: what
//! lies beyond it cannot be attributed, so the last trusted hop is used
//! (fail safe: a garbled header never lets a client pick its IP). This is
//! the "right-most untrusted" rule of MDN's `X-Forwarded-For` page and of
//! nginx's `real_ip_recursive`.
//!
//! The resolved address is used for login rate limits, the session's
//! `ClientInfo.ip` and the `X-Forwarded-For` the proxy sends upstream.
//! Client-sent `X-Forwarded-*` headers themselves are never forwarded (see
//! [`crate::proxy`]). `Forwarded` (RFC 7239) is not read.

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderName};
use common::config::GatewayConfig;
use ipnet::IpNet;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// `X-Forwarded-For` (de facto standard; RFC 7239 section 5.2 describes its
/// `for=` successor).
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The `gateway.trusted_proxies` blocks.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// The blocks of the `[gateway]` section (parsed at load, host bits
    /// cleared).
    pub(crate) fn from_config(config: &GatewayConfig) -> Self {
        Self(config.trusted_proxies.clone())
    }

    /// Trusts exactly `nets` (tests).
    #[cfg(test)]
    pub(crate) fn new(nets: Vec<IpNet>) -> Self {
        Self(nets.into_iter().map(|n| n.trunc()).collect())
    }

    /// Whether `ip` is one of the trusted proxies.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client IP for a request that arrived from `peer` with `headers`:
    /// see the module docs.
    pub(crate) fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        for entry in forwarded_for_entries(headers).rev() {
            match entry {
                Some(ip) if self.contains(ip) => client = ip,
                Some(ip) => return ip,
                None => return client,
            }
        }
        client
    }
}

/// The entries of every `X-Forwarded-For` header, in order (several
/// headers are one comma-separated list, RFC 9110 5.3); `None` for an entry
/// that is not an address. Entries may carry a port (`1.2.3.4:5678`,
/// `[::1]:80`), which is dropped. Never panics, whatever the bytes.
pub(crate) fn forwarded_for_entries(
    headers: &HeaderMap,
) -> impl DoubleEndedIterator<Item = Option<IpAddr>> + '_ {
    headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .flat_map(|value| match value.to_str() {
            Ok(text) => text.split(',').map(parse_entry).collect::<Vec<_>>(),
            Err(_) => vec![None],
        })
}

/// One `X-Forwarded-For` entry.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The client's IP address (see the module docs); `None` only when the
/// request did not come through the gateway's accept loop (unit tests).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// Resolves the client of a request from its extensions (the peer
    /// address the accept loop recorded) and headers.
    pub(crate) fn of(
        extensions: &Extensions,
        headers: &HeaderMap,
        trusted: &TrustedProxies,
    ) -> Self {
        Self(
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| trusted.resolve(c.0.ip(), headers)),
        )
    }
}

/// Takes the trusted proxies from any state that holds them (`FromRef`).
impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    Arc<TrustedProxies>: FromRef<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let trusted = Arc::<TrustedProxies>::from_ref(state);
        Ok(Self::of(&parts.extensions, &parts.headers, &trusted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    fn trusted(blocks: &[&str]) -> TrustedProxies {
        TrustedProxies::new(blocks.iter().map(|b| b.parse().unwrap()).collect())
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_claims() {
        let t = trusted(&["10.0.0.0/8"]);
        let h = xff(&["1.2.3.4"]);
        assert_eq!(t.resolve(ip("203.0.113.9"), &h), ip("203.0.113.9"));
        let none = TrustedProxies::default();
        assert_eq!(none.resolve(ip("10.1.1.1"), &h), ip("10.1.1.1"));
    }

    #[test]
    fn right_most_untrusted_entry_wins() {
        let t = trusted(&["10.0.0.0/8", "127.0.0.1/32"]);
        // Client-forged left part, real client, then two of our proxies.
        let h = xff(&["6.6.6.6, 198.51.100.7", "10.0.0.2"]);
        assert_eq!(t.resolve(ip("127.0.0.1"), &h), ip("198.51.100.7"));
        // Ports and IPv6 brackets are accepted.
        let h = xff(&["[2001:db8::1]:443, 10.0.0.3:80"]);
        assert_eq!(t.resolve(ip("10.0.0.1"), &h), ip("2001:db8::1"));
    }

    #[test]
    fn trusted_peer_without_header_or_all_trusted_keeps_the_last_hop() {
        let t = trusted(&["10.0.0.0/8"]);
        assert_eq!(t.resolve(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        let h = xff(&["10.9.9.9, 10.0.0.2"]);
        assert_eq!(t.resolve(ip("10.0.0.1"), &h), ip("10.9.9.9"));
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_trusted_hop() {
        let t = trusted(&["10.0.0.0/8"]);
        let h = xff(&["1.2.3.4, unknown, 10.0.0.2"]);
        assert_eq!(t.resolve(ip("10.0.0.1"), &h), ip("10.0.0.2"));
        let h = xff(&["1.2.3.4, "]);
        assert_eq!(t.resolve(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn mapped_ipv4_peers_match_ipv4_blocks() {
        let t = trusted(&["127.0.0.1/32"]);
        let h = xff(&["192.0.2.1"]);
        assert_eq!(t.resolve(ip("::ffff:127.0.0.1"), &h), ip("192.0.2.1"));
        let h = xff(&["::ffff:192.0.2.1"]);
        assert_eq!(t.resolve(ip("127.0.0.1"), &h), ip("192.0.2.1"));
    }

    #[test]
    fn config_blocks_become_networks() {
        let config = common::config::Config::from_toml(
            "[gateway]\ntrusted_proxies = [\"10.1.2.3/8\", \"::1\"]\n",
            &|_| None,
        )
        .unwrap();
        let t = TrustedProxies::from_config(&config.gateway);
        assert!(t.contains(ip("10.200.0.1")));
        assert!(t.contains(ip("::1")));
        assert!(!t.contains(ip("11.0.0.1")));
    }

    proptest! {
        /// Arbitrary header bytes never panic, and the answer is always the
        /// peer or an address that appears in the header.
        #[test]
        fn any_forwarded_for_is_safe(
            values in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..64),
                    "[0-9a-f:.,\\[\\] ]{0,48}".prop_map(String::into_bytes),
                    "((10\\.0\\.0\\.[0-9]|[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}|::1|unknown)(:[0-9]{1,5})?, ?){0,5}"
                        .prop_map(String::into_bytes),
                ],
                0..4,
            ),
            peer_trusted in any::<bool>(),
        ) {
            let mut h = HeaderMap::new();
            for v in &values {
                if let Ok(v) = HeaderValue::from_bytes(v) {
                    h.append("x-forwarded-for", v);
                }
            }
            let t = trusted(&["10.0.0.0/8"]);
            let peer = if peer_trusted { ip("10.0.0.1") } else { ip("198.51.100.1") };
            let resolved = t.resolve(peer, &h);
            let listed: Vec<IpAddr> = forwarded_for_entries(&h).flatten().collect();
            if peer_trusted {
                prop_assert!(resolved == peer || listed.contains(&resolved));
            } else {
                prop_assert_eq!(resolved, peer);
            }
        }
    }
}
