//! wisp-proto: the internal protocol between the control plane and the node agent.
//!
//! Both ends exchange frames: a little-endian `u32` body length, then the postcard encoding
//! of a [`ToNode`] or [`FromNode`] message. The first frame each way is `Hello` with
//! [`VERSION`]; a peer that sees another version closes the link. Objects travel as the
//! JSON bytes the store holds, so neither end re-encodes what it does not read. The layout
//! and the rules are in docs/protocol.md. In `wisp run` the link runs in-process over a pair
//! of byte pipes, with exactly the frames a separate node process would exchange.

mod frame;
mod messages;

pub use frame::{FrameError, FrameReader, MAX_FRAME_BYTES, encode};
pub use messages::*;

/// The protocol version both ends must agree on.
pub const VERSION: u16 = 1;
