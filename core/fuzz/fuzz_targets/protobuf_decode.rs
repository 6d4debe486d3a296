//! Fuzzes the protobuf request-body transcoder: it must return a value or an error for any
//! input, never panic, hang or allocate without bound.
//!
//! Inputs that start with the `k8s\0` magic are decoded as they are (seed the corpus with
//! core/src/protobuf/testdata). Other inputs are wrapped in an envelope whose kind the first
//! byte picks, so the fuzzer spends its time inside the object schemas rather than on the
//! magic and the envelope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wisp_core::protobuf::{MAGIC, decode_to_json};

const KINDS: &[(&str, &str)] = &[
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("v1", "Pod"),
    ("v1", "ServiceAccount"),
    ("v1", "ResourceQuota"),
    ("apps/v1", "Deployment"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("authorization.k8s.io/v1", "SubjectAccessReview"),
    ("authentication.k8s.io/v1", "TokenRequest"),
    ("policy/v1", "Eviction"),
    ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "Ingress"),
];

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field(out: &mut Vec<u8>, number: u64, payload: &[u8]) {
    varint(out, number << 3 | 2);
    varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

fn wrap(selector: u8, raw: &[u8]) -> Vec<u8> {
    let (api_version, kind) = KINDS[usize::from(selector) % KINDS.len()];
    let mut type_meta = Vec::new();
    field(&mut type_meta, 1, api_version.as_bytes());
    field(&mut type_meta, 2, kind.as_bytes());
    let mut body = MAGIC.to_vec();
    field(&mut body, 1, &type_meta);
    field(&mut body, 2, raw);
    body
}

fuzz_target!(|data: &[u8]| {
    if data.starts_with(MAGIC) {
        let _ = decode_to_json(data);
    } else if let Some((&selector, raw)) = data.split_first() {
        let _ = decode_to_json(&wrap(selector, raw));
    }
});
