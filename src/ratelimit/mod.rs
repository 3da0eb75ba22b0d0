//! `rate-limit-test`'s engine: send a bounded burst ([`send`]), read the rate-limit headers of
//! every syntax ([`headers`]), and judge what the limiter did ([`analyze`]).

pub mod analyze;
pub mod conn;
pub mod headers;
pub mod send;
