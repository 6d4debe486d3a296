//! Objects as the API server holds them: JSON documents (`miniserde::json::Value` while
//! being changed, serialized bytes in the store), their metadata, and
//! the timestamps and UIDs the server stamps on them.

pub mod conditions;
pub mod keys;
pub mod meta;
pub mod time;
pub mod uid;
