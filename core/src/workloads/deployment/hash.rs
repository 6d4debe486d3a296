//! The pod-template-hash: FNV-32a over the pod template, plus the collision count as
//! four little-endian bytes padded to eight, its decimal rendered with upstream's
//! SafeEncodeString alphabet. Upstream hashes a spew dump of the Go struct, which cannot
//! be reproduced outside Go; wisp hashes the template's canonical JSON (sorted keys)
//! instead, so names have upstream's shape but not its exact letters.

use miniserde::json::Value;

/// apimachinery's `rand.SafeEncodeString` alphabet: no vowels, no 0/1/3 look-alikes.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn fnv32a(state: u32, bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(state, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

const FNV_OFFSET: u32 = 0x811c_9dc5;

/// Maps each byte of `s` into the safe alphabet.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// The hash of `template` (without its pod-template-hash label) and `collision_count`.
pub fn template_hash(template: &Value, collision_count: Option<u32>) -> String {
    let json = miniserde::json::to_string(template);
    let mut h = fnv32a(FNV_OFFSET, json.as_bytes());
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&count.to_le_bytes());
        h = fnv32a(h, &bytes);
    }
    safe_encode(&h.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv32a_matches_the_reference_vectors() {
        assert_eq!(fnv32a(FNV_OFFSET, b""), 0x811c_9dc5);
        assert_eq!(fnv32a(FNV_OFFSET, b"a"), 0xe40c_292c);
        assert_eq!(fnv32a(FNV_OFFSET, b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn safe_encoding_maps_digits_like_apimachinery() {
        // '0' is byte 48: 48 % 27 = 21 -> '4'; '9' is 57 % 27 = 3 -> 'f'.
        assert_eq!(safe_encode("0"), "4");
        assert_eq!(safe_encode("9"), "f");
    }

    #[test]
    fn collision_count_changes_the_hash() {
        let t = crate::patch::value::parse(r#"{"metadata":{"labels":{"app":"web"}}}"#).unwrap();
        assert_ne!(template_hash(&t, None), template_hash(&t, Some(1)));
        assert_eq!(template_hash(&t, Some(0)), template_hash(&t, Some(0)));
    }
}
