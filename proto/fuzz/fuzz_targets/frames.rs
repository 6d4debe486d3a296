//! Arbitrary bytes on the link, read as frames by both ends (a node agent in its own
//! process is a peer the control plane must not trust): every frame is a message or a
//! typed error, never a panic, and a decoded message re-encodes to a frame that decodes
//! to the same message.
#![no_main]

use futures_lite::future::block_on;
use libfuzzer_sys::fuzz_target;
use wisp_proto::{FrameReader, FromNode, ToNode, encode};

fn read_all<T>(bytes: &[u8]) -> Vec<T>
where
    T: serde_like::Message,
{
    let mut reader = FrameReader::new(bytes);
    let mut out = Vec::new();
    while let Ok(Some(m)) = block_on(reader.next::<T>()) {
        out.push(m);
        if out.len() > 64 {
            break;
        }
    }
    out
}

mod serde_like {
    pub trait Message: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug {}
    impl<T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug> Message for T {}
}

fuzz_target!(|data: &[u8]| {
    for m in read_all::<FromNode>(data) {
        let again = read_all::<FromNode>(&encode(&m));
        assert_eq!(again, vec![m]);
    }
    for m in read_all::<ToNode>(data) {
        let again = read_all::<ToNode>(&encode(&m));
        assert_eq!(again, vec![m]);
    }
});
