//! SPDY/3.1 (draft-mbelshe-httpbis-spdy-00, as moby/spdystream speaks it): the frame
//! codec and the zlib header-block compression with the SPDY dictionary.

pub mod frame;
pub mod headers;
