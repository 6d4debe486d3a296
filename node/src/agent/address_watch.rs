//! Notices when the host's IP addresses change (a DHCP lease renewed to a new address, an
//! interface coming up or going away) without polling: a `NETLINK_ROUTE` socket joined to
//! the IPv4 and IPv6 address groups, read on the async executor. Only the netlink message
//! headers are read (type and length), so nothing of the kernel's address records is
//! trusted beyond "something changed"; callers re-read whatever they derive from the
//! addresses. Bursts (a lease renewal removes and adds several addresses) are coalesced:
//! [`AddressWatch::changed`] returns once [`QUIET`] passed without another change.

use std::io;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SocketFlags, SocketType};

/// Quiet time after the last address event before a change is reported.
pub const QUIET: Duration = Duration::from_millis(500);
/// A change is reported at the latest this long after it started, even if events go on.
const MAX_DELAY: Duration = Duration::from_secs(5);

/// `RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR` (linux/rtnetlink.h).
const ADDRESS_GROUPS: u32 = 0x10 | 0x100;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
/// `sizeof(struct nlmsghdr)`.
const HEADER_LEN: usize = 16;
/// One datagram holds whole messages; address messages are ~100 bytes, so a burst fits.
const BUFFER_LEN: usize = 8192;

/// A subscription to the kernel's address change notifications.
pub struct AddressWatch {
    socket: Async<OwnedFd>,
    buffer: Vec<u8>,
}

impl AddressWatch {
    /// Opens the netlink socket (must run inside an async-io reactor's reach, as any
    /// `Async` does; no privileges needed).
    pub fn open() -> io::Result<AddressWatch> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            None,
        )?;
        rustix::net::bind(&fd, &SocketAddrNetlink::new(0, ADDRESS_GROUPS))?;
        Ok(AddressWatch {
            socket: Async::new(fd)?,
            buffer: vec![0; BUFFER_LEN],
        })
    }

    /// Waits for an address to be added or removed, then for [`QUIET`] without another
    /// such event (at most [`MAX_DELAY`] in all).
    pub async fn changed(&mut self) -> io::Result<()> {
        while !self.next_datagram_has_address_event().await? {}
        let deadline = Instant::now() + MAX_DELAY;
        loop {
            let wait = QUIET.min(deadline.saturating_duration_since(Instant::now()));
            let event = futures_lite::future::or(
                async { Some(self.next_datagram_has_address_event().await) },
                async {
                    Timer::after(wait).await;
                    None
                },
            )
            .await;
            match event {
                None => return Ok(()),
                Some(Err(e)) => return Err(e),
                Some(Ok(_)) if Instant::now() >= deadline => return Ok(()),
                Some(Ok(_)) => {}
            }
        }
    }

    /// Reads one datagram. An overflowed socket buffer (ENOBUFS: events were lost) counts
    /// as a change, since the lost events may have been ones.
    async fn next_datagram_has_address_event(&mut self) -> io::Result<bool> {
        let buffer = &mut self.buffer;
        let read = self
            .socket
            .read_with(|fd| Ok(rustix::net::recv(fd, &mut buffer[..], RecvFlags::empty())?))
            .await;
        match read {
            Ok((_, len)) => Ok(has_address_event(&buffer[..len.min(buffer.len())])),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(true),
            Err(e) => Err(e),
        }
    }
}

/// Whether a datagram carries an RTM_NEWADDR or RTM_DELADDR message. Walks the netlink
/// headers only; stops at the first header whose length does not fit.
pub fn has_address_event(datagram: &[u8]) -> bool {
    let mut rest = datagram;
    while rest.len() >= HEADER_LEN {
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        if kind == RTM_NEWADDR || kind == RTM_DELADDR {
            return true;
        }
        let aligned = len.checked_add(3).map(|l| l & !3);
        match aligned {
            Some(step) if step >= HEADER_LEN && step <= rest.len() => rest = &rest[step..],
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u32, kind: u16) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&[0; 10]);
        out
    }

    #[test]
    fn address_messages_are_found_after_other_messages() {
        let mut datagram = header(20, 16); // RTM_NEWLINK with a 4-byte body
        datagram.extend_from_slice(&[0; 4]);
        assert!(!has_address_event(&datagram));
        datagram.extend(header(16, RTM_DELADDR));
        assert!(has_address_event(&datagram));
    }

    #[test]
    fn malformed_lengths_end_the_walk() {
        let mut zero = header(0, 16);
        zero.extend(header(16, RTM_NEWADDR));
        assert!(!has_address_event(&zero), "a zero length cannot advance");
        let mut huge = header(u32::MAX, 16);
        huge.extend(header(16, RTM_NEWADDR));
        assert!(!has_address_event(&huge));
        assert!(!has_address_event(&[0; 15]));
        assert!(!has_address_event(&[]));
    }

    /// Adds two addresses 100 ms apart in a throwaway network namespace and sees the
    /// watcher report one change after the quiet time (root only; skipped otherwise).
    #[test]
    fn a_burst_of_new_addresses_is_reported_once_after_the_quiet_time() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipping: not root");
            return;
        }
        let ns = format!("wawatch{}", std::process::id());
        let ip = |args: &[&str]| {
            let ok = std::process::Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "ip {args:?}");
        };
        ip(&["netns", "add", &ns]);
        let path = format!("/run/netns/{ns}");
        // The watcher's socket lives in the namespace of the thread that opens it.
        let result = std::thread::spawn(move || {
            let file = std::fs::File::open(path).unwrap();
            rustix::thread::move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&file),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .unwrap();
            let mut watch = AddressWatch::open().unwrap();
            futures_lite::future::block_on(async {
                let started = Instant::now();
                let change = async {
                    ip(&["link", "set", "lo", "up"]);
                    ip(&["addr", "add", "10.250.0.1/32", "dev", "lo"]);
                    Timer::after(Duration::from_millis(100)).await;
                    ip(&["addr", "add", "10.250.0.2/32", "dev", "lo"]);
                };
                let (_, seen) = futures_lite::future::zip(change, watch.changed()).await;
                seen.unwrap();
                let took = started.elapsed();
                let nothing_more = futures_lite::future::or(
                    async { watch.changed().await.map(|()| true) },
                    async {
                        Timer::after(QUIET * 2).await;
                        Ok(false)
                    },
                )
                .await
                .unwrap();
                (took, nothing_more)
            })
        })
        .join();
        ip(&["netns", "del", &ns]);
        let (took, more) = result.unwrap();
        assert!(took >= QUIET + Duration::from_millis(100), "{took:?}");
        assert!(took < QUIET + Duration::from_secs(2), "{took:?}");
        assert!(!more, "one burst, one change");
    }
}
