//! The per-client-IP connection cap (`gateway.max_connections_per_ip`).
//!
//! `max_connections` alone lets one client take every slot: with 1,024
//! sockets that never send a byte it locked every other client out (issue
//! 9). Counting open connections per TCP peer bounds what one address can
//! hold, so the rest of the slots stay free for everyone else while the
//! idle timeouts ([`crate::conn_idle`]) reclaim the silent ones.
//!
//! The key is the TCP peer, never a header: the cap applies before a byte
//! is read. IPv6 peers count per /64, the block one host usually owns (as
//! the login rate limit does), so rotating addresses inside it gains
//! nothing. Peers in `trusted_proxies` are not counted: every client behind
//! a proxy shares its address.
//!
//! A std `Mutex` is right here: it guards a map update and is never held
//! across an `.await`.

use crate::rate_limit::bucket_key;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open connections per client key.
#[derive(Debug)]
pub(crate) struct ConnLimit {
    max_per_ip: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One counted connection; dropping it gives the slot back.
#[derive(Debug)]
pub(crate) struct ConnSlot {
    key: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ConnLimit {
    /// At most `max_per_ip` open connections per client key.
    pub(crate) fn new(max_per_ip: usize) -> Self {
        Self {
            max_per_ip,
            open: Arc::default(),
        }
    }

    /// A slot for one more connection from `peer`, or `None` when that
    /// client already holds `max_per_ip`.
    pub(crate) fn try_acquire(&self, peer: IpAddr) -> Option<ConnSlot> {
        let key = bucket_key(peer);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= self.max_per_ip {
            return None;
        }
        *count += 1;
        Some(ConnSlot {
            key,
            open: self.open.clone(),
        })
    }

    /// How many connections `peer`'s key holds now (tests).
    #[cfg(test)]
    pub(crate) fn open_from(&self, peer: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&bucket_key(peer)).copied().unwrap_or(0)
    }

    /// How many client keys hold a connection now (tests).
    #[cfg(test)]
    pub(crate) fn clients(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        // Entries at zero are removed, so the map only holds clients that
        // have a connection open: its size is bounded by max_connections.
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn each_client_gets_its_own_cap() {
        let limit = ConnLimit::new(2);
        let a1 = limit.try_acquire(ip("192.0.2.1")).unwrap();
        let _a2 = limit.try_acquire(ip("192.0.2.1")).unwrap();
        assert!(limit.try_acquire(ip("192.0.2.1")).is_none());
        assert_eq!(limit.open_from(ip("192.0.2.1")), 2);
        // Another client is not affected.
        let _b = limit.try_acquire(ip("192.0.2.2")).unwrap();
        assert_eq!(limit.open_from(ip("192.0.2.2")), 1);
        // Closing one gives exactly one slot back.
        drop(a1);
        assert_eq!(limit.open_from(ip("192.0.2.1")), 1);
        let _a3 = limit.try_acquire(ip("192.0.2.1")).unwrap();
        assert!(limit.try_acquire(ip("192.0.2.1")).is_none());
    }

    #[test]
    fn closed_clients_leave_no_entry() {
        let limit = ConnLimit::new(1);
        let slot = limit.try_acquire(ip("192.0.2.1")).unwrap();
        assert_eq!(limit.clients(), 1);
        drop(slot);
        assert_eq!(limit.clients(), 0);
        assert_eq!(limit.open_from(ip("192.0.2.1")), 0);
    }

    #[test]
    fn ipv6_clients_count_per_slash_64() {
        let limit = ConnLimit::new(1);
        let _slot = limit.try_acquire(ip("2001:db8:1:2::1")).unwrap();
        assert!(limit.try_acquire(ip("2001:db8:1:2::ffff")).is_none());
        assert!(limit.try_acquire(ip("2001:db8:1:3::1")).is_some());
        // An IPv4-mapped address is the IPv4 client.
        let _v4 = limit.try_acquire(ip("192.0.2.9")).unwrap();
        assert!(limit.try_acquire(ip("::ffff:192.0.2.9")).is_none());
    }
}
