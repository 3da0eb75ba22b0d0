//! `rate-limit-test`'s engine: resolve a target ([`target`]), send a bounded burst ([`send`]),
//! read the rate-limit headers of every syntax ([`headers`]), judge what the limiter did
//! ([`analyze`]), and probe it further: bypass and recovery ([`probe`]).

pub mod analyze;
pub mod conn;
pub mod headers;
pub mod probe;
pub mod send;
pub mod target;
