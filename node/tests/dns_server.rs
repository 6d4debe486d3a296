//! Cluster DNS end to end on loopback: the server bound on a free port answers cluster
//! names over UDP and TCP and forwards other names to a small upstream server this test runs
//! (UDP and TCP, with a truncated UDP answer to force the TCP retry), caching its replies.

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::rc::Rc;
use std::time::Duration;

use async_io::{Async, Timer};
use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
use simple_dns::rdata::{A, OPT, RData, SOA};
use simple_dns::{
    CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, ResourceRecord, TYPE,
};
use wisp_node::dns::{
    ClusterRecords, DnsEndpoint, DnsEndpoints, DnsPort, DnsServer, DnsService, PortProtocol,
    Upstreams,
};

const LOOPBACK: &str = "127.0.0.1:0";

fn query(id: u16, name: &str, qtype: TYPE, edns: bool) -> Vec<u8> {
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    packet.questions.push(Question::new(
        Name::new(name).unwrap(),
        QTYPE::TYPE(qtype),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    if edns {
        *packet.opt_mut() = Some(OPT {
            opt_codes: Vec::new(),
            udp_packet_size: 1232,
            version: 0,
        });
    }
    packet.build_bytes_vec().unwrap()
}

fn addresses(reply: &[u8]) -> Vec<Ipv4Addr> {
    let packet = Packet::parse(reply).unwrap();
    let ips = packet.answers.iter().filter_map(|rr| match rr.rdata {
        RData::A(A { address }) => Some(Ipv4Addr::from(address)),
        _ => None,
    });
    ips.collect()
}

fn rcode(reply: &[u8]) -> RCODE {
    Packet::parse(reply).unwrap().rcode()
}

async fn ask_udp(server: SocketAddr, message: &[u8]) -> Vec<u8> {
    let socket = Async::<UdpSocket>::bind(LOOPBACK.parse::<SocketAddr>().unwrap()).unwrap();
    socket.send_to(message, server).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    let receive = async { socket.recv(&mut buf).await.unwrap() };
    let n = future::or(receive, async {
        Timer::after(Duration::from_secs(10)).await;
        panic!("no udp reply from {server}")
    })
    .await;
    buf.truncate(n);
    buf
}

async fn ask_tcp(server: SocketAddr, messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut stream = Async::<TcpStream>::connect(server).await.unwrap();
    let mut replies = Vec::new();
    for message in messages {
        let mut framed = u16::try_from(message.len()).unwrap().to_be_bytes().to_vec();
        framed.extend_from_slice(message);
        stream.write_all(&framed).await.unwrap();
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.unwrap();
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut reply).await.unwrap();
        replies.push(reply);
    }
    replies
}

/// The upstream: `outside.example` is 192.0.2.7 (TTL 60), `big.example` has 50 addresses
/// but is truncated over UDP, everything else is NXDOMAIN with an SOA. Counts its queries.
struct FakeUpstream {
    udp: Async<UdpSocket>,
    tcp: Async<TcpListener>,
    udp_queries: Cell<usize>,
    tcp_queries: Cell<usize>,
}

impl FakeUpstream {
    fn bind() -> FakeUpstream {
        let udp = Async::<UdpSocket>::bind(LOOPBACK.parse::<SocketAddr>().unwrap()).unwrap();
        let tcp = Async::<TcpListener>::bind(udp.get_ref().local_addr().unwrap()).unwrap();
        FakeUpstream {
            udp,
            tcp,
            udp_queries: Cell::new(0),
            tcp_queries: Cell::new(0),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.udp.get_ref().local_addr().unwrap()
    }

    async fn serve(&self) {
        future::or(self.serve_udp(), self.serve_tcp()).await;
    }

    async fn serve_udp(&self) {
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, peer) = self.udp.recv_from(&mut buf).await.unwrap();
            self.udp_queries.set(self.udp_queries.get() + 1);
            let reply = reply_for(&buf[..n], true);
            self.udp.send_to(&reply, peer).await.unwrap();
        }
    }

    async fn serve_tcp(&self) {
        loop {
            let (mut stream, _) = self.tcp.accept().await.unwrap();
            self.tcp_queries.set(self.tcp_queries.get() + 1);
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).await.unwrap();
            let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut message).await.unwrap();
            let reply = reply_for(&message, false);
            let mut framed = u16::try_from(reply.len()).unwrap().to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            stream.write_all(&framed).await.unwrap();
        }
    }
}

fn reply_for(message: &[u8], over_udp: bool) -> Vec<u8> {
    let query = Packet::parse(message).unwrap();
    let mut reply = Packet::new_reply(query.id());
    reply.questions = query.questions.clone();
    let name = query.questions[0].qname.clone();
    let a = |ip: Ipv4Addr| {
        ResourceRecord::new(
            name.clone(),
            CLASS::IN,
            60,
            RData::A(A {
                address: u32::from(ip),
            }),
        )
    };
    match name.to_string().as_str() {
        "outside.example" => reply.answers.push(a(Ipv4Addr::new(192, 0, 2, 7))),
        "big.example" if over_udp => reply.set_flags(PacketFlag::TRUNCATION),
        "big.example" => {
            reply.answers = (1..=50)
                .map(|i| a(Ipv4Addr::new(198, 51, 100, i)))
                .collect()
        }
        _ => {
            *reply.rcode_mut() = RCODE::NameError;
            let zone = Name::new("example").unwrap();
            let soa = SOA {
                mname: zone.clone(),
                rname: zone.clone(),
                serial: 1,
                refresh: 1,
                retry: 1,
                expire: 1,
                minimum: 20,
            };
            reply
                .name_servers
                .push(ResourceRecord::new(zone, CLASS::IN, 20, RData::SOA(soa)));
        }
    }
    reply.build_bytes_vec().unwrap()
}

fn cluster() -> ClusterRecords {
    let mut records = ClusterRecords::new("cluster.local");
    let http = DnsPort {
        name: "http".to_owned(),
        protocol: PortProtocol::Tcp,
        port: 80,
    };
    let web = DnsService {
        namespace: "default".to_owned(),
        name: "web".to_owned(),
        cluster_ips: vec![IpAddr::V4(Ipv4Addr::new(10, 43, 0, 20))],
        ports: vec![http],
        external_name: None,
    };
    records.upsert_service(web);
    let db = DnsService {
        namespace: "default".to_owned(),
        name: "db".to_owned(),
        cluster_ips: Vec::new(),
        ports: Vec::new(),
        external_name: None,
    };
    records.upsert_service(db);
    let ready = |last: u8| DnsEndpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 42, 0, last)),
        hostname: None,
        ready: true,
    };
    records.set_endpoints(
        "default",
        "db",
        DnsEndpoints {
            addresses: vec![ready(5), ready(6)],
            ports: Vec::new(),
        },
    );
    records
}

async fn stopped(server: impl Future<Output = wisp_node::dns::DnsError>) {
    let error = server.await;
    panic!("dns server stopped: {error}");
}

#[test]
fn answers_cluster_names_and_forwards_the_rest_over_udp_and_tcp() {
    async_io::block_on(async {
        let upstream = FakeUpstream::bind();
        let server = DnsServer::bind(LOOPBACK.parse().unwrap()).unwrap();
        let addr = server.local_addr().unwrap();
        let records = Rc::new(RefCell::new(cluster()));
        let serving = server.run(records.clone(), Upstreams::new(vec![upstream.addr()]));
        let client = async {
            let web = ask_udp(
                addr,
                &query(1, "web.default.svc.cluster.local", TYPE::A, false),
            )
            .await;
            assert_eq!(addresses(&web), vec![Ipv4Addr::new(10, 43, 0, 20)]);

            let over_tcp = ask_tcp(
                addr,
                &[
                    query(2, "db.default.svc.cluster.local", TYPE::A, false),
                    query(
                        3,
                        "_http._tcp.web.default.svc.cluster.local",
                        TYPE::SRV,
                        false,
                    ),
                    query(4, "outside.example", TYPE::A, false),
                ],
            )
            .await;
            assert_eq!(
                addresses(&over_tcp[0]),
                vec![Ipv4Addr::new(10, 42, 0, 5), Ipv4Addr::new(10, 42, 0, 6)]
            );
            assert_eq!(Packet::parse(&over_tcp[1]).unwrap().answers.len(), 1);
            assert_eq!(addresses(&over_tcp[2]), vec![Ipv4Addr::new(192, 0, 2, 7)]);
            assert_eq!(Packet::parse(&over_tcp[2]).unwrap().id(), 4);

            let cached = ask_udp(addr, &query(5, "Outside.Example", TYPE::A, false)).await;
            assert_eq!(addresses(&cached), vec![Ipv4Addr::new(192, 0, 2, 7)]);
            let ttl = Packet::parse(&cached).unwrap().answers[0].ttl;
            assert!(ttl <= 30, "cached TTL is capped at 30 s, got {ttl}");
            assert_eq!(
                upstream.udp_queries.get(),
                1,
                "the second query came from the cache"
            );

            let nx = ask_udp(addr, &query(6, "missing.example", TYPE::A, false)).await;
            assert_eq!(rcode(&nx), RCODE::NameError);
            let nx_again = ask_udp(addr, &query(7, "missing.example", TYPE::A, false)).await;
            assert_eq!(rcode(&nx_again), RCODE::NameError);
            assert_eq!(upstream.udp_queries.get(), 2, "NXDOMAIN is cached too");

            let big = ask_udp(addr, &query(8, "big.example", TYPE::A, true)).await;
            assert_eq!(
                addresses(&big).len(),
                50,
                "truncated upstream UDP retried over TCP"
            );
            assert_eq!(upstream.tcp_queries.get(), 1);
            let big_plain = ask_udp(addr, &query(9, "big.example", TYPE::A, false)).await;
            assert!(
                Packet::parse(&big_plain)
                    .unwrap()
                    .has_flags(PacketFlag::TRUNCATION),
                "over 512 bytes: TC"
            );

            let before = ask_udp(
                addr,
                &query(10, "new.default.svc.cluster.local", TYPE::A, false),
            )
            .await;
            assert_eq!(rcode(&before), RCODE::NameError);
            let new = DnsService {
                namespace: "default".to_owned(),
                name: "new".to_owned(),
                cluster_ips: vec![IpAddr::V4(Ipv4Addr::new(10, 43, 0, 30))],
                ports: Vec::new(),
                external_name: None,
            };
            records.borrow_mut().upsert_service(new);
            let after = ask_udp(
                addr,
                &query(11, "new.default.svc.cluster.local", TYPE::A, false),
            )
            .await;
            assert_eq!(
                addresses(&after),
                vec![Ipv4Addr::new(10, 43, 0, 30)],
                "updates apply at once"
            );
        };
        future::or(client, future::or(stopped(serving), upstream.serve())).await;
    });
}

#[test]
fn a_silent_upstream_gives_servfail_after_the_timeout_and_none_gives_refused() {
    async_io::block_on(async {
        let silent = UdpSocket::bind(LOOPBACK).unwrap();
        let server = DnsServer::bind(LOOPBACK.parse().unwrap()).unwrap();
        let addr = server.local_addr().unwrap();
        let records = Rc::new(RefCell::new(cluster()));
        let upstreams = Upstreams {
            servers: vec![silent.local_addr().unwrap()],
            timeout: Duration::from_millis(200),
        };
        let client = async {
            let reply = ask_udp(addr, &query(1, "outside.example", TYPE::A, false)).await;
            assert_eq!(rcode(&reply), RCODE::ServerFailure);
        };
        future::or(client, stopped(server.run(records.clone(), upstreams))).await;

        let lone = DnsServer::bind(LOOPBACK.parse().unwrap()).unwrap();
        let lone_addr = lone.local_addr().unwrap();
        let client = async {
            let reply = ask_udp(lone_addr, &query(2, "outside.example", TYPE::A, false)).await;
            assert_eq!(rcode(&reply), RCODE::Refused);
        };
        future::or(
            client,
            stopped(lone.run(records, Upstreams::new(Vec::new()))),
        )
        .await;
    });
}

/// Sequential UDP queries for a cluster name from one client: queries/s and p99 latency.
/// `cargo test --release -p wisp-node --test dns_server -- --ignored --nocapture`
#[test]
#[ignore = "benchmark: run on demand"]
fn benchmark_cluster_queries_over_udp() {
    async_io::block_on(async {
        let server = DnsServer::bind(LOOPBACK.parse().unwrap()).unwrap();
        let addr = server.local_addr().unwrap();
        let records = Rc::new(RefCell::new(cluster()));
        let client = async {
            let message = query(1, "web.default.svc.cluster.local", TYPE::A, false);
            let socket = Async::<UdpSocket>::bind(LOOPBACK.parse::<SocketAddr>().unwrap()).unwrap();
            let mut buf = [0u8; 512];
            let mut latencies = Vec::new();
            let start = std::time::Instant::now();
            for _ in 0..20_000 {
                let sent = std::time::Instant::now();
                socket.send_to(&message, addr).await.unwrap();
                socket.recv(&mut buf).await.unwrap();
                latencies.push(sent.elapsed());
            }
            let total = start.elapsed();
            latencies.sort();
            let p99 = latencies[latencies.len() * 99 / 100];
            let qps = latencies.len() as f64 / total.as_secs_f64();
            println!(
                "dns udp: {qps:.0} queries/s, p50 {:?}, p99 {p99:?}",
                latencies[latencies.len() / 2]
            );
        };
        future::or(
            client,
            stopped(server.run(records, Upstreams::new(Vec::new()))),
        )
        .await;
    });
}
