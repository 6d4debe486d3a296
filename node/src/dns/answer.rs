//! The request path: one DNS message in, one out, no I/O. Checks the header as CoreDNS's
//! server does (FORMERR, NOTIMP), answers cluster names from `ClusterRecords`, hands other
//! names back as `Outcome::Forward`, and sizes replies for the transport (EDNS0 payload size,
//! TC bit over UDP so the client retries over TCP).

use std::net::IpAddr;

use simple_dns::rdata::{A, AAAA, CNAME, OPT, PTR, RData, SOA, SRV};
use simple_dns::{
    CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, ResourceRecord, SimpleDnsError,
};

use super::records::ClusterRecords;
use super::zone::{self, Data, Lookup, Rr};

/// TTL of cluster answers and of the SOA minimum, CoreDNS kubernetes plugin's default.
pub const CLUSTER_TTL: u32 = 5;
/// UDP payload size we advertise and honour at most (the DNS flag day 2020 value).
pub const EDNS_PAYLOAD: u16 = 1232;
const PLAIN_UDP_LIMIT: usize = 512;
const TCP_LIMIT: usize = 65_535;
const HEADER_LEN: usize = 12;
const FORMERR: u8 = 1;
const NOTIMP: u8 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// What to do with one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Not a cluster name: resolve it upstream and build the reply with `relay`.
    Forward(Forward),
    /// Not answerable at all (too short, or a response): send nothing, as CoreDNS does.
    Ignore,
}

/// A query for the upstream forwarder, with what its reply needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forward {
    /// The client's message, parsed again when its reply is built.
    pub query: Vec<u8>,
    /// Largest reply the client accepts on its transport.
    pub limit: usize,
    /// Lowercase name, type and class: the cache key.
    pub key: (String, u16, u16),
}

/// Answers one request. Pure: the same records and bytes give the same reply.
pub fn answer(records: &ClusterRecords, query: &[u8], transport: Transport) -> Outcome {
    let Some(header) = query.get(..HEADER_LEN) else {
        return Outcome::Ignore;
    };
    let flags = u16::from_be_bytes([header[2], header[3]]);
    if flags & 0x8000 != 0 {
        return Outcome::Ignore;
    }
    if let Some(rcode) = reject_header(header, flags) {
        return Outcome::Reply(bare_reply(header, rcode));
    }
    let packet = match Packet::parse(query) {
        Ok(packet) => packet,
        Err(SimpleDnsError::InvalidQType(_) | SimpleDnsError::InvalidQClass(_)) => {
            return Outcome::Reply(bare_reply(header, NOTIMP));
        }
        Err(_) => return Outcome::Reply(bare_reply(header, FORMERR)),
    };
    let limit = reply_limit(&packet, transport);
    if packet.opt().is_some_and(|opt| opt.version != 0) {
        let mut reply = reply_to(&packet);
        *reply.rcode_mut() = RCODE::BADVERS;
        return Outcome::Reply(encode(reply, limit));
    }
    let question = &packet.questions[0];
    let labels = lowercase_labels(&question.qname);
    if !zone::in_zone(records, &labels) && !is_reverse(&labels) {
        return Outcome::Forward(forward(query, question, &labels, limit));
    }
    cluster_reply(records, query, &packet, &labels, limit)
}

/// FORMERR and NOTIMP decisions from the header alone, the rules of miekg/dns's default
/// accept function that CoreDNS uses (one question; at most one answer/authority record and
/// two additional ones; only QUERY).
fn reject_header(header: &[u8], flags: u16) -> Option<u8> {
    let count = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
    let opcode = (flags >> 11) & 0xF;
    if opcode != 0 {
        return Some(NOTIMP);
    }
    let malformed = count(4) != 1 || count(6) > 1 || count(8) > 1 || count(10) > 2;
    malformed.then_some(FORMERR)
}

/// A header-only reply echoing id, opcode and RD.
fn bare_reply(header: &[u8], code: u8) -> Vec<u8> {
    let opcode = (header[2] >> 3) & 0xF;
    let rd = header[2] & 1;
    let mut out = vec![header[0], header[1], 0x80 | (opcode << 3) | rd, 0x80 | code];
    out.extend_from_slice(&[0; 8]);
    out
}

fn reply_limit(packet: &Packet<'_>, transport: Transport) -> usize {
    match (transport, packet.opt()) {
        (Transport::Tcp, _) => TCP_LIMIT,
        (Transport::Udp, None) => PLAIN_UDP_LIMIT,
        (Transport::Udp, Some(opt)) => usize::from(opt.udp_packet_size.clamp(512, EDNS_PAYLOAD)),
    }
}

/// A reply skeleton: same id and question, RD copied, RA set (we recurse), our OPT when the
/// client sent one.
pub(super) fn reply_to<'a>(query: &Packet<'a>) -> Packet<'a> {
    let mut reply = Packet::new_reply(query.id());
    reply.set_flags(PacketFlag::RECURSION_AVAILABLE);
    if query.has_flags(PacketFlag::RECURSION_DESIRED) {
        reply.set_flags(PacketFlag::RECURSION_DESIRED);
    }
    reply.questions = query.questions.clone();
    if query.opt().is_some() {
        *reply.opt_mut() = Some(OPT {
            opt_codes: Vec::new(),
            udp_packet_size: EDNS_PAYLOAD,
            version: 0,
        });
    }
    reply
}

/// Encodes `reply`; when it exceeds `limit`, sends the question alone with TC set instead.
pub(super) fn encode(mut reply: Packet<'_>, limit: usize) -> Vec<u8> {
    let bytes = reply.build_bytes_vec_compressed().unwrap_or_default();
    if bytes.len() <= limit && !bytes.is_empty() {
        return bytes;
    }
    reply.answers.clear();
    reply.name_servers.clear();
    reply.additional_records.clear();
    reply.set_flags(PacketFlag::TRUNCATION);
    reply.build_bytes_vec_compressed().unwrap_or_default()
}

/// Labels in lowercase presentation form: bytes other than letters, digits, `-` and `_` are
/// escaped as `\DDD`, so distinct names never share a cache key or match a cluster name.
pub(super) fn lowercase_labels(name: &Name<'_>) -> Vec<String> {
    name.as_bytes().map(presentation).collect()
}

fn presentation(label: &[u8]) -> String {
    let mut out = String::with_capacity(label.len());
    for &byte in label {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            out.push(char::from(byte.to_ascii_lowercase()));
        } else {
            out.push_str(&format!("\\{byte:03}"));
        }
    }
    out
}

fn is_reverse(labels: &[String]) -> bool {
    let tail: Vec<&str> = labels.iter().rev().take(2).map(String::as_str).collect();
    matches!(tail.as_slice(), ["arpa", "in-addr" | "ip6"])
}

fn forward(query: &[u8], question: &Question<'_>, labels: &[String], limit: usize) -> Forward {
    let key = (
        labels.join("."),
        u16::from(question.qtype),
        u16::from(question.qclass),
    );
    Forward {
        query: query.to_vec(),
        limit,
        key,
    }
}

/// The reply for a name under the cluster domain or a reverse name.
fn cluster_reply(
    records: &ClusterRecords,
    query: &[u8],
    packet: &Packet<'_>,
    labels: &[String],
    limit: usize,
) -> Outcome {
    let question = &packet.questions[0];
    let zone_name = zone::in_zone(records, labels);
    if zone_name && !matches!(question.qclass, QCLASS::CLASS(CLASS::IN) | QCLASS::ANY) {
        return Outcome::Reply(refused(packet, limit));
    }
    if zone_name && matches!(question.qtype, QTYPE::AXFR | QTYPE::IXFR) {
        return Outcome::Reply(refused(packet, limit));
    }
    let qtype = u16::from(question.qtype);
    let (answers, additional) = match zone::lookup(records, labels, qtype) {
        Lookup::Outside => return Outcome::Forward(forward(query, question, labels, limit)),
        Lookup::NxDomain => (None, Vec::new()),
        Lookup::Found {
            answers,
            additional,
        } => (Some(answers), additional),
    };
    let mut reply = reply_to(packet);
    reply.set_flags(PacketFlag::AUTHORITATIVE_ANSWER);
    let owner = question.qname.clone();
    match answers {
        None => {
            *reply.rcode_mut() = RCODE::NameError;
            reply.name_servers.push(soa_record(records));
        }
        Some(answers) if answers.is_empty() => reply.name_servers.push(soa_record(records)),
        Some(answers) => {
            reply.answers = answers
                .iter()
                .filter_map(|d| record(records, owner.clone(), d))
                .collect();
            reply.additional_records = additional
                .iter()
                .filter_map(|rr| owned_record(records, rr))
                .collect();
        }
    }
    Outcome::Reply(encode(reply, limit))
}

fn refused(packet: &Packet<'_>, limit: usize) -> Vec<u8> {
    let mut reply = reply_to(packet);
    *reply.rcode_mut() = RCODE::Refused;
    encode(reply, limit)
}

fn owned_name(text: &str) -> Option<Name<'static>> {
    Name::new(text).ok().map(Name::into_owned)
}

fn owned_record(records: &ClusterRecords, rr: &Rr) -> Option<ResourceRecord<'static>> {
    record(records, owned_name(&rr.owner)?, &rr.data)
}

fn record<'a>(
    records: &ClusterRecords,
    owner: Name<'a>,
    data: &Data,
) -> Option<ResourceRecord<'a>> {
    let rdata = match data {
        Data::Ip(IpAddr::V4(ip)) => RData::A(A {
            address: u32::from(*ip),
        }),
        Data::Ip(IpAddr::V6(ip)) => RData::AAAA(AAAA {
            address: u128::from(*ip),
        }),
        Data::Srv {
            weight,
            port,
            target,
        } => RData::SRV(SRV {
            priority: 0,
            weight: *weight,
            port: *port,
            target: owned_name(target)?,
        }),
        Data::Ptr(target) => RData::PTR(PTR(owned_name(target)?)),
        Data::Cname(target) => RData::CNAME(CNAME(owned_name(target)?)),
        Data::Soa => soa_data(records)?,
    };
    Some(ResourceRecord::new(owner, CLASS::IN, CLUSTER_TTL, rdata))
}

/// The zone's SOA as CoreDNS writes it (ns.dns.<zone>, hostmaster.<zone>, 7200/1800/86400).
fn soa_data(records: &ClusterRecords) -> Option<RData<'static>> {
    let zone = records.domain();
    Some(RData::SOA(SOA {
        mname: owned_name(&format!("ns.dns.{zone}"))?,
        rname: owned_name(&format!("hostmaster.{zone}"))?,
        serial: records.serial(),
        refresh: 7200,
        retry: 1800,
        expire: 86400,
        minimum: CLUSTER_TTL,
    }))
}

fn soa_record(records: &ClusterRecords) -> ResourceRecord<'static> {
    let zone = owned_name(records.domain()).unwrap_or_else(|| Name::new_unchecked("").into_owned());
    let rdata = soa_data(records).unwrap_or(RData::Empty(simple_dns::TYPE::SOA));
    ResourceRecord::new(zone, CLASS::IN, CLUSTER_TTL, rdata)
}
