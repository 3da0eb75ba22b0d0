//! The migration engine: files (`source`) → history table (`history`) → what to do (`plan`) →
//! doing it under a lock (`lock`, `apply`), statement by statement (`split`), with failures
//! mapped back to `file:line:column` (`position`); where a run is, for its deadline (`step`).

pub mod adopt;
pub mod apply;
pub mod backup;
pub mod concurrent_index;
pub mod guard;
pub mod history;
pub mod lock;
pub mod plan;
pub mod position;
pub mod revert;
pub mod session;
pub mod source;
pub mod split;
pub mod step;
