//! `GET pods/NAME/log`: the container's log from the node as `text/plain`, chunked, each
//! chunk flushed as it comes (so `-f` follows). A pod not bound to a node yet has no log:
//! upstream answers an empty 200 then, and so does this.

use std::rc::Rc;

use super::node::PodStreams;
use super::options;
use super::target::Pod;
use super::{node_error, unavailable};
use crate::api::response::ApiResponse;
use crate::object::time;
use crate::status::ApiError;

pub const CONTENT_TYPE: &str = "text/plain";

pub async fn serve(
    pod: &Pod,
    query: &[(String, String)],
    node: Option<Rc<dyn PodStreams>>,
) -> Result<ApiResponse, ApiError> {
    let opts = options::log_options(query, &pod.name, time::now_unix())?;
    let target = pod.target(options::container(query))?;
    if !pod.has_node() {
        return Ok(ApiResponse::stream(
            CONTENT_TYPE,
            Box::pin(futures_lite::stream::empty()),
        ));
    }
    let node = node.ok_or_else(unavailable)?;
    let chunks = node.logs(target, opts).await.map_err(node_error)?;
    Ok(ApiResponse::stream(CONTENT_TYPE, chunks))
}
