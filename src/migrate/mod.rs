//! The migration engine: files (`source`) → history table (`history`) → what to do (`plan`) →
//! doing it in one session (`session`: connect, lock, apply; `apply`, `revert`), statement by
//! statement (`split`), with failures mapped back to `file:line:column` (`position`); where a
//! run is, for its deadline (`step`); what a rollback destroys (`guard`); a backup taken
//! (`backup`) and proved by restoring it (`restore`).
//!
//! Commands use the names re-exported here, not the modules.

mod adopt;
mod apply;
mod backup;
mod concurrent_index;
mod guard;
mod history;
pub mod lint;
mod lock;
mod plan;
mod position;
mod restore;
mod revert;
mod session;
mod source;
mod split;
pub mod step;

pub use adopt::{initial_rows, record_initial};
pub use apply::{Done, Failure, own_transaction_control, runs_in_transaction, statements};
pub use backup::{Backup, preflight as backup_preflight, take as take_backup};
pub use guard::{
    COUNT_CAP, Down, Method as GuardMethod, Settings as GuardSettings, Verdict, assess, count_words,
};
pub use history::{History, NewRow, Row, Status as HistoryStatus, applied_by};
pub use plan::{Item, Options as PlanOptions, Plan, State, find, title};
pub use position::line_col;
pub use restore::{
    Cleanup as RestoreCleanup, Counts as TableCounts, Verification, count_tables, throwaway_kind,
    verify as verify_backup,
};
pub use revert::{Range, Refusal, Reverted, Step, refusal, select as select_reverts};
pub use session::{
    Applied, Dialect, Error as SessionError, Locked, Prepared, Repair, Session, blocked,
    blocked_before_lock,
};
pub use source::{Layout, Migration, Script, Source, load};
pub use split::split as split_statements;
pub use step::{Stopped, within_deadline};
