//! Fuzzes cluster DNS's request path, which runs on bytes from any pod: `answer` over UDP
//! and TCP never panics, replies carry the query's id, are valid messages by our own
//! writer's reckoning (at least a header) and fit the UDP limit; forwarded queries get a
//! key of the same name the query asks. The same bytes also go through the relay path as if
//! an upstream had sent them (`cache_ttl`, `client_reply`), since upstream replies are
//! untrusted input too.
//!
//! The first byte picks the transport.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use wisp_node::dns::{
    ClusterRecords, DnsEndpoint, DnsEndpoints, DnsPod, DnsPort, DnsService, Outcome, PortProtocol, Transport,
    answer, cache_ttl, client_reply,
};

fn records() -> ClusterRecords {
    let mut records = ClusterRecords::new("cluster.local");
    let ip = |last: u8| IpAddr::V4(Ipv4Addr::new(10, 42, 0, last));
    let http = DnsPort { name: "http".to_owned(), protocol: PortProtocol::Tcp, port: 80 };
    let service = |name: &str, cluster_ips: Vec<IpAddr>| DnsService {
        namespace: "default".to_owned(),
        name: name.to_owned(),
        cluster_ips,
        ports: vec![http.clone()],
        external_name: None,
    };
    records.upsert_service(service("web", vec![IpAddr::V4(Ipv4Addr::new(10, 43, 0, 20))]));
    records.upsert_service(service("db", Vec::new()));
    let addresses = (1..=60).map(|i| DnsEndpoint { ip: ip(i), hostname: (i == 1).then(|| "db-0".to_owned()), ready: i % 7 != 0 });
    records.set_endpoints("default", "db", DnsEndpoints { addresses: addresses.collect(), ports: vec![http] });
    records.upsert_pod(DnsPod {
        namespace: "default".to_owned(),
        name: "p".to_owned(),
        ips: vec![ip(9), "fd00::9".parse().unwrap()],
        hostname: Some("h".to_owned()),
        subdomain: Some("db".to_owned()),
    });
    records
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, query)) = data.split_first() else {
        return;
    };
    let transport = if mode & 1 == 0 { Transport::Udp } else { Transport::Tcp };
    match answer(&records(), query, transport) {
        Outcome::Reply(reply) => {
            assert!(reply.len() >= 12, "a reply has at least a header");
            assert_eq!(reply[..2], query[..2], "the id is echoed");
            assert!(reply[2] & 0x80 != 0, "a reply is a response");
            if transport == Transport::Udp {
                assert!(reply.len() <= 1232, "udp replies fit the advertised payload size");
            }
        }
        Outcome::Forward(forward) => {
            assert_eq!(forward.query, query);
            assert!(forward.limit >= 512);
            let _ = cache_ttl(query);
            if let Some(reply) = client_reply(&forward, query, u32::from(mode)) {
                assert!(reply.len() <= forward.limit || forward.limit < 12);
            }
        }
        Outcome::Ignore => assert!(query.len() < 12 || query[2] & 0x80 != 0),
    }
});
