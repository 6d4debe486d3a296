//! placeholder
use std::rc::Rc;

use super::node::{PodRef, PodStreams};
use crate::http::UpgradedStream;

pub const PROTOCOLS: &[&str] = &["SPDY/3.1+portforward.k8s.io"];

pub async fn serve(
    _stream: UpgradedStream,
    _node: Rc<dyn PodStreams>,
    _pod: PodRef,
    _allowed: Vec<u16>,
) {
}
