//! Fuzzes the record and header decoders: any bytes must decode or fail cleanly, and every
//! record that decodes must re-encode to exactly the same bytes (no two encodings).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wisp_store::codec::{decode_record, encode_record, Header};

fuzz_target!(|data: &[u8]| {
    let _ = Header::decode(data);
    let mut pos = 0;
    while pos < data.len() {
        match decode_record(&data[pos..]) {
            Ok((record, len)) => {
                let mut again = Vec::new();
                assert_eq!(encode_record(&record, &mut again), len);
                assert_eq!(&again[..], &data[pos..pos + len]);
                pos += len;
            }
            Err(_) => pos += 1,
        }
    }
});
