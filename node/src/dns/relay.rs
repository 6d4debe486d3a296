//! Replies for forwarded names: the upstream query we send, the checks an upstream reply
//! must pass (id, question), the TTL it may be cached for (RFC 2308 for negative answers),
//! and the client's reply built from a cached upstream reply with its TTLs aged.

use simple_dns::rdata::{OPT, RData};
use simple_dns::{Packet, PacketFlag, RCODE, ResourceRecord};

use super::answer::{EDNS_PAYLOAD, Forward, encode, lowercase_labels, reply_to};

/// No cached answer outlives this, the `cache 30` of kubeadm's and k3s's Corefile.
pub const MAX_CACHE_TTL: u32 = 30;

/// The message sent upstream for `forward`: its question, RD, our EDNS payload size.
pub fn upstream_query(forward: &Forward, id: u16) -> Option<Vec<u8>> {
    let client = Packet::parse(&forward.query).ok()?;
    let mut query = Packet::new_query(id);
    query.set_flags(PacketFlag::RECURSION_DESIRED);
    query.questions = client.questions.clone();
    *query.opt_mut() = Some(OPT {
        opt_codes: Vec::new(),
        udp_packet_size: EDNS_PAYLOAD,
        version: 0,
    });
    query.build_bytes_vec().ok()
}

/// Whether `reply` answers our query `id` for `forward`'s question (anything else on the
/// socket is ignored: stale or spoofed).
pub fn matches(forward: &Forward, id: u16, reply: &[u8]) -> bool {
    let Ok(packet) = Packet::parse(reply) else {
        return false;
    };
    let Some(question) = packet.questions.first() else {
        return false;
    };
    let key = (
        lowercase_labels(&question.qname).join("."),
        u16::from(question.qtype),
        u16::from(question.qclass),
    );
    packet.id() == id
        && packet.has_flags(PacketFlag::RESPONSE)
        && packet.questions.len() == 1
        && key == forward.key
}

/// Seconds an upstream reply may be cached: the smallest answer TTL, or for NXDOMAIN and
/// NODATA the SOA's min(TTL, MINIMUM); `None` for failures, truncation and no SOA.
pub fn cache_ttl(reply: &[u8]) -> Option<u32> {
    let packet = Packet::parse(reply).ok()?;
    if packet.has_flags(PacketFlag::TRUNCATION) {
        return None;
    }
    let negative = match packet.rcode() {
        RCODE::NameError => true,
        RCODE::NoError => packet.answers.is_empty(),
        _ => return None,
    };
    let ttl = if negative {
        packet.name_servers.iter().find_map(|rr| match &rr.rdata {
            RData::SOA(soa) => Some(rr.ttl.min(soa.minimum)),
            _ => None,
        })?
    } else {
        packet.answers.iter().map(|rr| rr.ttl).min()?
    };
    Some(ttl.min(MAX_CACHE_TTL))
}

/// The client's reply from an upstream reply received `age` seconds ago; TTLs are capped
/// as the cache caps them, so no client keeps an answer longer than we would.
pub fn client_reply(forward: &Forward, upstream: &[u8], age: u32) -> Option<Vec<u8>> {
    let client = Packet::parse(&forward.query).ok()?;
    let from = Packet::parse(upstream).ok()?;
    let mut reply = reply_to(&client);
    let rcode = from.rcode();
    *reply.rcode_mut() =
        if client.opt().is_none() && matches!(rcode, RCODE::BADVERS | RCODE::Reserved) {
            RCODE::ServerFailure
        } else {
            rcode
        };
    if from.has_flags(PacketFlag::TRUNCATION) {
        reply.set_flags(PacketFlag::TRUNCATION);
    }
    reply.answers = aged(from.answers, age);
    reply.name_servers = aged(from.name_servers, age);
    reply.additional_records = aged(from.additional_records, age);
    Some(encode(reply, forward.limit))
}

fn aged(mut records: Vec<ResourceRecord<'_>>, age: u32) -> Vec<ResourceRecord<'_>> {
    for rr in &mut records {
        rr.ttl = rr.ttl.min(MAX_CACHE_TTL).saturating_sub(age);
    }
    records
}

/// SERVFAIL for `forward` when no upstream answered.
pub fn server_failure(forward: &Forward) -> Vec<u8> {
    reply_with(forward, RCODE::ServerFailure)
}

/// REFUSED for `forward` when no upstream is configured, as CoreDNS without `forward`.
pub fn refused(forward: &Forward) -> Vec<u8> {
    reply_with(forward, RCODE::Refused)
}

fn reply_with(forward: &Forward, rcode: RCODE) -> Vec<u8> {
    let Ok(client) = Packet::parse(&forward.query) else {
        return Vec::new();
    };
    let mut reply = reply_to(&client);
    *reply.rcode_mut() = rcode;
    encode(reply, forward.limit)
}
