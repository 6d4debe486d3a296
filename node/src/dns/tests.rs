//! Request-path tests: queries built with simple-dns, replies parsed back with it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use simple_dns::rdata::{A, OPT, RData, SOA};
use simple_dns::{
    CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, ResourceRecord, TYPE,
};

use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn port(name: &str, protocol: PortProtocol, port: u16) -> DnsPort {
    DnsPort {
        name: name.to_owned(),
        protocol,
        port,
    }
}

fn endpoint(address: &str, hostname: Option<&str>, ready: bool) -> DnsEndpoint {
    DnsEndpoint {
        ip: ip(address),
        hostname: hostname.map(str::to_owned),
        ready,
    }
}

fn service(name: &str, cluster_ips: &[&str], ports: Vec<DnsPort>) -> DnsService {
    let cluster_ips = cluster_ips.iter().map(|s| ip(s)).collect();
    DnsService {
        namespace: "default".to_owned(),
        name: name.to_owned(),
        cluster_ips,
        ports,
        external_name: None,
    }
}

fn pod(name: &str, address: &str, hostname: Option<&str>, subdomain: Option<&str>) -> DnsPod {
    DnsPod {
        namespace: "default".to_owned(),
        name: name.to_owned(),
        ips: vec![ip(address)],
        hostname: hostname.map(str::to_owned),
        subdomain: subdomain.map(str::to_owned),
    }
}

/// web: ClusterIP with named ports; web6: IPv6 ClusterIP; db: headless with two ready
/// endpoints (one named) and a not-ready one; pods p1 (hostname h1, subdomain db) and p2.
fn cluster() -> ClusterRecords {
    let mut records = ClusterRecords::new("cluster.local.");
    let web_ports = vec![
        port("http", PortProtocol::Tcp, 80),
        port("dns", PortProtocol::Udp, 53),
    ];
    records.upsert_service(service("web", &["10.43.0.20"], web_ports));
    records.upsert_service(service(
        "web6",
        &["fd00::20"],
        vec![port("http", PortProtocol::Tcp, 80)],
    ));
    records.upsert_service(service(
        "db",
        &[],
        vec![port("mysql", PortProtocol::Tcp, 3306)],
    ));
    let addresses = vec![
        endpoint("10.42.0.5", Some("db-0"), true),
        endpoint("10.42.0.6", None, true),
        endpoint("10.42.0.7", Some("db-2"), false),
    ];
    let ports = vec![port("mysql", PortProtocol::Tcp, 3307)];
    records.set_endpoints("default", "db", DnsEndpoints { addresses, ports });
    records.upsert_pod(pod("p1", "10.42.0.9", Some("h1"), Some("db")));
    records.upsert_pod(pod("p2", "10.42.0.5", None, None));
    records
}

fn query_with(name: &str, qtype: QTYPE, edns: Option<u16>) -> Vec<u8> {
    let mut packet = Packet::new_query(0x1234);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    packet.questions.push(Question::new(
        Name::new(name).unwrap(),
        qtype,
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    if let Some(size) = edns {
        *packet.opt_mut() = Some(OPT {
            opt_codes: Vec::new(),
            udp_packet_size: size,
            version: 0,
        });
    }
    packet.build_bytes_vec().unwrap()
}

fn query(name: &str, qtype: TYPE) -> Vec<u8> {
    query_with(name, QTYPE::TYPE(qtype), None)
}

fn reply_bytes(records: &ClusterRecords, query: &[u8], transport: Transport) -> Vec<u8> {
    match answer(records, query, transport) {
        Outcome::Reply(bytes) => bytes,
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn ask(name: &str, qtype: TYPE) -> Vec<u8> {
    reply_bytes(&cluster(), &query(name, qtype), Transport::Udp)
}

fn ips(reply: &Packet<'_>) -> Vec<IpAddr> {
    reply
        .answers
        .iter()
        .filter_map(|rr| match &rr.rdata {
            RData::A(a) => Some(IpAddr::V4(Ipv4Addr::from(a.address))),
            RData::AAAA(a) => Some(IpAddr::V6(Ipv6Addr::from(a.address))),
            _ => None,
        })
        .collect()
}

fn soa_in_authority(reply: &Packet<'_>) -> SOA<'static> {
    match &reply.name_servers[..] {
        [
            ResourceRecord {
                rdata: RData::SOA(soa),
                ..
            },
        ] => soa.clone().into_owned(),
        other => panic!("expected one SOA in authority, got {other:?}"),
    }
}

#[test]
fn a_service_resolves_to_its_cluster_ip_with_ttl_5_and_the_query_case() {
    let bytes = ask("Web.Default.svc.Cluster.Local", TYPE::A);
    let reply = Packet::parse(&bytes).unwrap();
    assert_eq!((reply.id(), reply.rcode()), (0x1234, RCODE::NoError));
    assert!(reply.has_flags(
        PacketFlag::AUTHORITATIVE_ANSWER | PacketFlag::RESPONSE | PacketFlag::RECURSION_DESIRED
    ));
    assert_eq!(ips(&reply), vec![ip("10.43.0.20")]);
    assert_eq!(reply.answers[0].ttl, 5);
    assert_eq!(
        reply.answers[0].name.to_string(),
        "Web.Default.svc.Cluster.Local"
    );
}

#[test]
fn aaaa_answers_ipv6_services_and_nodata_with_soa_for_ipv4_only_ones() {
    let v6 = ask("web6.default.svc.cluster.local", TYPE::AAAA);
    assert_eq!(ips(&Packet::parse(&v6).unwrap()), vec![ip("fd00::20")]);
    let v4only = ask("web.default.svc.cluster.local", TYPE::AAAA);
    let reply = Packet::parse(&v4only).unwrap();
    assert_eq!(reply.rcode(), RCODE::NoError);
    assert!(reply.answers.is_empty());
    assert_eq!(soa_in_authority(&reply).minimum, CLUSTER_TTL);
}

#[test]
fn a_headless_service_resolves_to_its_ready_endpoints_only() {
    let bytes = ask("db.default.svc.cluster.local", TYPE::A);
    assert_eq!(
        ips(&Packet::parse(&bytes).unwrap()),
        vec![ip("10.42.0.5"), ip("10.42.0.6")]
    );
}

#[test]
fn headless_endpoint_names_by_hostname_dashed_ip_and_pod_subdomain() {
    for (name, expected) in [
        ("db-0.db.default.svc.cluster.local", "10.42.0.5"),
        ("10-42-0-6.db.default.svc.cluster.local", "10.42.0.6"),
        ("h1.db.default.svc.cluster.local", "10.42.0.9"),
    ] {
        let bytes = ask(name, TYPE::A);
        assert_eq!(
            ips(&Packet::parse(&bytes).unwrap()),
            vec![ip(expected)],
            "{name}"
        );
    }
    let not_ready = ask("db-2.db.default.svc.cluster.local", TYPE::A);
    assert_eq!(Packet::parse(&not_ready).unwrap().rcode(), RCODE::NameError);
    let not_headless = ask("h1.web.default.svc.cluster.local", TYPE::A);
    assert_eq!(
        Packet::parse(&not_headless).unwrap().rcode(),
        RCODE::NameError
    );
}

fn srv(reply: &Packet<'_>) -> Vec<(u16, String)> {
    let mut out: Vec<(u16, String)> = reply
        .answers
        .iter()
        .filter_map(|rr| match &rr.rdata {
            RData::SRV(s) => Some((s.port, s.target.to_string())),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

#[test]
fn srv_of_a_cluster_ip_service_port_points_at_the_service_with_its_address() {
    let bytes = ask("_http._tcp.web.default.svc.cluster.local", TYPE::SRV);
    let reply = Packet::parse(&bytes).unwrap();
    assert_eq!(
        srv(&reply),
        vec![(80, "web.default.svc.cluster.local".to_owned())]
    );
    let extra = &reply.additional_records;
    assert_eq!(extra.len(), 1);
    assert_eq!(extra[0].name.to_string(), "web.default.svc.cluster.local");
    assert!(
        matches!(extra[0].rdata, RData::A(A { address }) if address == u32::from(Ipv4Addr::new(10, 43, 0, 20)))
    );
    let udp = ask("_dns._udp.web.default.svc.cluster.local", TYPE::SRV);
    assert_eq!(
        srv(&Packet::parse(&udp).unwrap()),
        vec![(53, "web.default.svc.cluster.local".to_owned())]
    );
}

#[test]
fn srv_of_a_headless_service_lists_each_ready_endpoint_on_the_target_port() {
    let bytes = ask("_mysql._tcp.db.default.svc.cluster.local", TYPE::SRV);
    let reply = Packet::parse(&bytes).unwrap();
    let expected = vec![
        (3307, "10-42-0-6.db.default.svc.cluster.local".to_owned()),
        (3307, "db-0.db.default.svc.cluster.local".to_owned()),
    ];
    assert_eq!(srv(&reply), expected);
    assert_eq!(reply.additional_records.len(), 2);
}

#[test]
fn srv_of_an_unknown_port_or_protocol_is_nxdomain() {
    for name in [
        "_http._udp.web.default.svc.cluster.local",
        "_ftp._tcp.web.default.svc.cluster.local",
    ] {
        let reply_bytes = ask(name, TYPE::SRV);
        assert_eq!(
            Packet::parse(&reply_bytes).unwrap().rcode(),
            RCODE::NameError,
            "{name}"
        );
    }
}

fn ptr(name: &str) -> String {
    let bytes = ask(name, TYPE::PTR);
    let reply = Packet::parse(&bytes).unwrap();
    match &reply.answers[..] {
        [
            ResourceRecord {
                rdata: RData::PTR(target),
                ..
            },
        ] => target.0.to_string(),
        other => panic!("expected one PTR for {name}, got {other:?}"),
    }
}

#[test]
fn ptr_names_services_headless_endpoints_and_pods() {
    assert_eq!(
        ptr("20.0.43.10.in-addr.arpa"),
        "web.default.svc.cluster.local"
    );
    assert_eq!(
        ptr("5.0.42.10.in-addr.arpa"),
        "db-0.db.default.svc.cluster.local"
    );
    assert_eq!(
        ptr("9.0.42.10.in-addr.arpa"),
        "10-42-0-9.default.pod.cluster.local"
    );
    let v6 = "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa";
    assert_eq!(ptr(v6), "web6.default.svc.cluster.local");
}

#[test]
fn ptr_of_an_unknown_ip_is_forwarded() {
    let outcome = answer(
        &cluster(),
        &query("1.2.0.192.in-addr.arpa", TYPE::PTR),
        Transport::Udp,
    );
    assert!(
        matches!(outcome, Outcome::Forward(f) if f.key == ("1.2.0.192.in-addr.arpa".to_owned(), 12, 1))
    );
}

#[test]
fn pod_names_by_dashed_ip_exist_only_for_known_pods() {
    let known = ask("10-42-0-9.default.pod.cluster.local", TYPE::A);
    assert_eq!(ips(&Packet::parse(&known).unwrap()), vec![ip("10.42.0.9")]);
    let unknown = ask("10-42-0-99.default.pod.cluster.local", TYPE::A);
    assert_eq!(Packet::parse(&unknown).unwrap().rcode(), RCODE::NameError);
}

#[test]
fn unknown_cluster_names_are_nxdomain_with_the_zone_soa() {
    let mut records = cluster();
    let serial = records.serial();
    let bytes = reply_bytes(
        &records,
        &query("nope.default.svc.cluster.local", TYPE::A),
        Transport::Udp,
    );
    let reply = Packet::parse(&bytes).unwrap();
    assert_eq!(reply.rcode(), RCODE::NameError);
    assert!(reply.answers.is_empty());
    let soa = soa_in_authority(&reply);
    assert_eq!(soa.mname.to_string(), "ns.dns.cluster.local");
    assert_eq!(soa.rname.to_string(), "hostmaster.cluster.local");
    assert_eq!((soa.serial, soa.minimum), (serial, 5));
    assert_eq!(reply.name_servers[0].name.to_string(), "cluster.local");
    records.remove_service("default", "web");
    assert!(records.serial() != serial, "changes move the serial");
    let gone = reply_bytes(
        &records,
        &query("web.default.svc.cluster.local", TYPE::A),
        Transport::Udp,
    );
    assert_eq!(Packet::parse(&gone).unwrap().rcode(), RCODE::NameError);
}

#[test]
fn namespaces_and_the_zone_apex_exist_without_addresses() {
    for name in [
        "default.svc.cluster.local",
        "svc.cluster.local",
        "cluster.local",
    ] {
        let bytes = ask(name, TYPE::A);
        let reply = Packet::parse(&bytes).unwrap();
        assert_eq!(
            (reply.rcode(), reply.answers.len()),
            (RCODE::NoError, 0),
            "{name}"
        );
    }
    let apex = ask("cluster.local", TYPE::SOA);
    let reply = Packet::parse(&apex).unwrap();
    assert!(matches!(
        reply.answers[..],
        [ResourceRecord {
            rdata: RData::SOA(_),
            ..
        }]
    ));
    let other_ns = ask("kube-system.svc.cluster.local", TYPE::A);
    assert_eq!(Packet::parse(&other_ns).unwrap().rcode(), RCODE::NameError);
}

#[test]
fn names_outside_the_zone_are_forwarded_with_the_client_limit() {
    let records = cluster();
    let cases = [
        (query("Example.ORG", TYPE::A), Transport::Udp, 512),
        (
            query_with("example.org", QTYPE::TYPE(TYPE::A), Some(4096)),
            Transport::Udp,
            1232,
        ),
        (
            query_with("example.org", QTYPE::TYPE(TYPE::A), Some(100)),
            Transport::Udp,
            512,
        ),
        (query("example.org", TYPE::A), Transport::Tcp, 65_535),
    ];
    for (bytes, transport, limit) in cases {
        let Outcome::Forward(forward) = answer(&records, &bytes, transport) else {
            panic!("not forwarded")
        };
        assert_eq!(forward.key, ("example.org".to_owned(), 1, 1));
        assert_eq!(forward.limit, limit);
        assert_eq!(forward.query, bytes);
    }
}

fn rcode_of(bytes: &[u8]) -> (u16, u8) {
    (u16::from_be_bytes([bytes[0], bytes[1]]), bytes[3] & 0xF)
}

#[test]
fn malformed_headers_get_formerr_and_other_opcodes_notimp() {
    let records = cluster();
    let mut no_question = query("web.default.svc.cluster.local", TYPE::A);
    no_question[5] = 0;
    assert_eq!(
        rcode_of(&reply_bytes(&records, &no_question, Transport::Udp)),
        (0x1234, 1)
    );
    let mut two_questions = query("web.default.svc.cluster.local", TYPE::A);
    two_questions[5] = 2;
    assert_eq!(
        rcode_of(&reply_bytes(&records, &two_questions, Transport::Udp)),
        (0x1234, 1)
    );
    let mut cut = query("web.default.svc.cluster.local", TYPE::A);
    cut.truncate(20);
    assert_eq!(
        rcode_of(&reply_bytes(&records, &cut, Transport::Udp)),
        (0x1234, 1)
    );
    let mut update = query("web.default.svc.cluster.local", TYPE::A);
    update[2] |= 5 << 3;
    let notimp = reply_bytes(&records, &update, Transport::Udp);
    assert_eq!(rcode_of(&notimp), (0x1234, 4));
    assert_eq!((notimp[2] >> 3) & 0xF, 5, "the opcode is echoed");
}

#[test]
fn responses_and_runts_are_ignored() {
    let records = cluster();
    let mut response = query("web.default.svc.cluster.local", TYPE::A);
    response[2] |= 0x80;
    assert_eq!(answer(&records, &response, Transport::Udp), Outcome::Ignore);
    assert_eq!(answer(&records, &[0; 11], Transport::Udp), Outcome::Ignore);
}

#[test]
fn unknown_query_types_are_notimp() {
    let mut bytes = query("web.default.svc.cluster.local", TYPE::A);
    let at = bytes.len() - 4;
    bytes[at..at + 2].copy_from_slice(&9999u16.to_be_bytes());
    assert_eq!(
        rcode_of(&reply_bytes(&cluster(), &bytes, Transport::Udp)).1,
        4
    );
}

#[test]
fn zone_transfers_and_other_classes_are_refused() {
    let records = cluster();
    let axfr = query_with("cluster.local", QTYPE::AXFR, None);
    assert_eq!(rcode_of(&reply_bytes(&records, &axfr, Transport::Tcp)).1, 5);
    let mut chaos = Packet::new_query(7);
    let name = Name::new("web.default.svc.cluster.local").unwrap();
    chaos.questions.push(Question::new(
        name,
        QTYPE::TYPE(TYPE::A),
        QCLASS::CLASS(CLASS::CH),
        false,
    ));
    let bytes = chaos.build_bytes_vec().unwrap();
    assert_eq!(
        rcode_of(&reply_bytes(&records, &bytes, Transport::Udp)),
        (7, 5)
    );
}

#[test]
fn edns_queries_get_our_opt_and_unknown_versions_badvers() {
    let records = cluster();
    let bytes = query_with(
        "web.default.svc.cluster.local",
        QTYPE::TYPE(TYPE::A),
        Some(4096),
    );
    let reply_bytes_edns = reply_bytes(&records, &bytes, Transport::Udp);
    let reply = Packet::parse(&reply_bytes_edns).unwrap();
    assert_eq!(
        reply.opt().map(|o| (o.udp_packet_size, o.version)),
        Some((EDNS_PAYLOAD, 0))
    );
    let plain = ask("web.default.svc.cluster.local", TYPE::A);
    assert!(Packet::parse(&plain).unwrap().opt().is_none());
    let mut v1 = Packet::parse(&bytes).unwrap();
    v1.opt_mut().as_mut().unwrap().version = 1;
    let v1_bytes = v1.build_bytes_vec().unwrap();
    let badvers = reply_bytes(&records, &v1_bytes, Transport::Udp);
    assert_eq!(Packet::parse(&badvers).unwrap().rcode(), RCODE::BADVERS);
}

fn big_headless(count: u8) -> ClusterRecords {
    let mut records = ClusterRecords::new("cluster.local");
    records.upsert_service(service("big", &[], Vec::new()));
    let addresses = (1..=count)
        .map(|i| endpoint(&format!("10.42.1.{i}"), None, true))
        .collect();
    records.set_endpoints(
        "default",
        "big",
        DnsEndpoints {
            addresses,
            ports: Vec::new(),
        },
    );
    records
}

#[test]
fn large_answers_set_tc_over_udp_and_come_whole_over_tcp() {
    let records = big_headless(100);
    let name = "big.default.svc.cluster.local";
    let udp = reply_bytes(&records, &query(name, TYPE::A), Transport::Udp);
    let truncated = Packet::parse(&udp).unwrap();
    assert!(truncated.has_flags(PacketFlag::TRUNCATION));
    assert!(truncated.answers.is_empty() && udp.len() <= 512);
    assert_eq!(truncated.questions.len(), 1);
    let tcp = reply_bytes(&records, &query(name, TYPE::A), Transport::Tcp);
    let whole = Packet::parse(&tcp).unwrap();
    assert!(!whole.has_flags(PacketFlag::TRUNCATION));
    assert_eq!(whole.answers.len(), 100);
    let small = reply_bytes(&big_headless(20), &query(name, TYPE::A), Transport::Udp);
    assert_eq!(
        Packet::parse(&small).unwrap().answers.len(),
        20,
        "20 A records fit in 512 bytes"
    );
}

fn upstream_reply(
    id: u16,
    name: &str,
    rcode: RCODE,
    answers: &[(u32, [u8; 4])],
    soa: Option<(u32, u32)>,
) -> Vec<u8> {
    let mut reply = Packet::new_reply(id);
    let qname = Name::new(name).unwrap();
    reply.questions.push(Question::new(
        qname.clone(),
        QTYPE::TYPE(TYPE::A),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    *reply.rcode_mut() = rcode;
    for (ttl, octets) in answers {
        let rdata = RData::A(A {
            address: u32::from(Ipv4Addr::from(*octets)),
        });
        reply
            .answers
            .push(ResourceRecord::new(qname.clone(), CLASS::IN, *ttl, rdata));
    }
    if let Some((ttl, minimum)) = soa {
        let org = Name::new("org").unwrap();
        let soa = SOA {
            mname: org.clone(),
            rname: org.clone(),
            serial: 1,
            refresh: 1,
            retry: 1,
            expire: 1,
            minimum,
        };
        reply
            .name_servers
            .push(ResourceRecord::new(org, CLASS::IN, ttl, RData::SOA(soa)));
    }
    reply.build_bytes_vec().unwrap()
}

fn forward_of(bytes: &[u8]) -> Forward {
    match answer(&cluster(), bytes, Transport::Udp) {
        Outcome::Forward(forward) => forward,
        other => panic!("expected a forward, got {other:?}"),
    }
}

#[test]
fn cache_ttls_follow_answers_and_rfc_2308_for_negative_replies() {
    let ok = upstream_reply(
        1,
        "example.org",
        RCODE::NoError,
        &[(20, [192, 0, 2, 1]), (12, [192, 0, 2, 2])],
        None,
    );
    assert_eq!(cache_ttl(&ok), Some(12));
    let long = upstream_reply(
        1,
        "example.org",
        RCODE::NoError,
        &[(86_400, [192, 0, 2, 1])],
        None,
    );
    assert_eq!(cache_ttl(&long), Some(MAX_CACHE_TTL));
    let nx = upstream_reply(1, "example.org", RCODE::NameError, &[], Some((20, 7)));
    assert_eq!(cache_ttl(&nx), Some(7));
    let nodata = upstream_reply(1, "example.org", RCODE::NoError, &[], Some((3, 60)));
    assert_eq!(cache_ttl(&nodata), Some(3));
    let nx_without_soa = upstream_reply(1, "example.org", RCODE::NameError, &[], None);
    assert_eq!(cache_ttl(&nx_without_soa), None);
    let servfail = upstream_reply(1, "example.org", RCODE::ServerFailure, &[], None);
    assert_eq!(cache_ttl(&servfail), None);
}

#[test]
fn relayed_replies_carry_the_client_id_and_case_and_aged_ttls() {
    let forward = forward_of(&query("Example.Org", TYPE::A));
    let upstream = upstream_reply(
        999,
        "example.org",
        RCODE::NoError,
        &[(20, [192, 0, 2, 1])],
        None,
    );
    let bytes = client_reply(&forward, &upstream, 8).unwrap();
    let reply = Packet::parse(&bytes).unwrap();
    assert_eq!(reply.id(), 0x1234);
    assert_eq!(reply.questions[0].qname.to_string(), "Example.Org");
    assert!(!reply.has_flags(PacketFlag::AUTHORITATIVE_ANSWER));
    assert!(reply.has_flags(PacketFlag::RECURSION_AVAILABLE));
    assert_eq!(ips(&reply), vec![ip("192.0.2.1")]);
    assert_eq!(reply.answers[0].ttl, 12);
    let long = upstream_reply(
        999,
        "example.org",
        RCODE::NoError,
        &[(86_400, [192, 0, 2, 1])],
        None,
    );
    let capped = client_reply(&forward, &long, 0).unwrap();
    assert_eq!(
        Packet::parse(&capped).unwrap().answers[0].ttl,
        MAX_CACHE_TTL
    );
}

#[test]
fn upstream_replies_must_match_our_id_and_question() {
    let forward = forward_of(&query("example.org", TYPE::A));
    let good = upstream_reply(42, "EXAMPLE.org", RCODE::NoError, &[], None);
    assert!(relay::matches(&forward, 42, &good));
    assert!(!relay::matches(&forward, 43, &good));
    let other = upstream_reply(42, "example.net", RCODE::NoError, &[], None);
    assert!(!relay::matches(&forward, 42, &other));
    assert!(
        !relay::matches(&forward, 42, &query("example.org", TYPE::A)),
        "a query is no reply"
    );
}

#[test]
fn odd_bytes_in_labels_are_escaped_so_names_stay_distinct() {
    let key = |bytes: &[u8]| {
        let label = simple_dns::Label::new(bytes.to_vec()).unwrap();
        answer::lowercase_labels(&Name::new_with_labels(&[label]))
    };
    assert_eq!(key(b"A.b"), vec![r"a\046b".to_owned()]);
    assert_ne!(key(&[0xff]), key(&[0xfe]));
    assert_eq!(key(b"Web_1-x"), vec!["web_1-x".to_owned()]);
}

#[test]
fn an_external_name_service_is_a_cname_for_any_type() {
    let mut records = cluster();
    let mut external = service("ext", &[], Vec::new());
    external.external_name = Some("db.example.org.".to_owned());
    records.upsert_service(external);
    for qtype in [TYPE::A, TYPE::AAAA, TYPE::CNAME] {
        let bytes = reply_bytes(
            &records,
            &query("ext.default.svc.cluster.local", qtype),
            Transport::Udp,
        );
        let reply = Packet::parse(&bytes).unwrap();
        assert_eq!(reply.rcode(), RCODE::NoError);
        match &reply.answers[..] {
            [
                ResourceRecord {
                    rdata: RData::CNAME(target),
                    ttl: 5,
                    ..
                },
            ] => {
                assert_eq!(target.0.to_string(), "db.example.org");
            }
            other => panic!("expected one CNAME for {qtype:?}, got {other:?}"),
        }
    }
}
