//! The API request path: routing, then (as it lands) authentication, admission, storage and
//! response encoding. One request flows top to bottom through these modules.

pub mod negotiate;
pub mod params;
pub mod route;
