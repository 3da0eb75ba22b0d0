//! What each Squawk rule means for a table of a given size: the severity of a finding and the
//! sentence that says why.

use squawk_linter::Rule;

use super::Severity;
use super::facts::TableFacts;

/// shipgate's own rule: a table rewrite sharing its transaction with other statements.
pub const REWRITE_IN_SHARED_TRANSACTION: &str = "rewrite-in-shared-transaction";

/// Rules shipgate turns off: it sets `lock_timeout` (from `--lock-timeout`) and, with a
/// deadline, `statement_timeout` on every migration's session itself, so a file need not.
pub const OFF_BY_DEFAULT: &[Rule] = &[
    Rule::RequireTimeoutSettings,
    Rule::RequireLockTimeout,
    Rule::RequireStatementTimeout,
];

/// What a statement a rule flags does to the table it works on, while other sessions use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Builds an index while writes wait (`CREATE INDEX` without `CONCURRENTLY`).
    BlocksWrites,
    /// Scans every row under a lock that stops reads and writes (a constraint validated, a
    /// unique index built, `SET NOT NULL`).
    Scans,
    /// Rewrites the whole table under an ACCESS EXCLUSIVE lock.
    Rewrite,
    /// Takes an ACCESS EXCLUSIVE lock, briefly if nothing else holds the table.
    Locks,
    /// Fails outright on a table that has rows (`ADD COLUMN … NOT NULL` without a default).
    FailsWithRows,
}

impl Effect {
    fn describe(self) -> &'static str {
        match self {
            Effect::BlocksWrites => "blocks writes for the build",
            Effect::Scans => "blocks reads and writes while every row is checked",
            Effect::Rewrite => "rewrites the table: reads and writes wait for the whole rewrite",
            Effect::Locks => "takes an ACCESS EXCLUSIVE lock: reads and writes wait behind it",
            Effect::FailsWithRows => "fails on a table that has rows",
        }
    }
}

/// The effect of the statements a rule flags, for the rules whose cost is the table's size.
pub fn effect(rule: Rule) -> Option<Effect> {
    Some(match rule {
        Rule::RequireConcurrentIndexCreation | Rule::RequireConcurrentReindex => {
            Effect::BlocksWrites
        }
        Rule::RequireConcurrentIndexDeletion | Rule::RequireConcurrentPartitionDetach => {
            Effect::Locks
        }
        Rule::ConstraintMissingNotValid
        | Rule::AddingForeignKeyConstraint
        | Rule::AddingNotNullableField
        | Rule::DisallowedUniqueConstraint => Effect::Scans,
        Rule::ChangingColumnType
        | Rule::AddingFieldWithDefault
        | Rule::AddingSerialPrimaryKeyField
        | Rule::PreferRepack => Effect::Rewrite,
        Rule::AddingRequiredField => Effect::FailsWithRows,
        _ => return None,
    })
}

/// Style rules (a better type, a robust statement): a warning, whatever the table.
fn is_advice(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::PreferBigintOverInt
            | Rule::PreferBigintOverSmallint
            | Rule::PreferIdentity
            | Rule::PreferTextField
            | Rule::PreferTimestampTz
            | Rule::PreferRobustStmts
            | Rule::BanCharField
            | Rule::IdentifierTooLong
            | Rule::UnusedIgnore
    )
}

/// What is known of a finding's statement besides the rule.
pub struct Context<'a> {
    /// The table it works on, as written.
    pub table: Option<&'a str>,
    /// The pending migration that creates that table, when one does.
    pub created_by: Option<&'a str>,
    pub facts: Option<&'a TableFacts>,
    /// Lint had a database to ask.
    pub connected: bool,
    pub large_rows: u64,
    /// The migration runs statement by statement, outside a transaction.
    pub no_transaction: bool,
}

/// The severity of a finding and its message: Squawk's explanation, then what it means for
/// this table on this database.
pub fn judge(rule: Rule, explanation: &str, cx: &Context<'_>) -> (Severity, String) {
    let explanation = explanation.trim_end_matches('.');
    let (table, created_by, facts, connected, large_rows) = (
        cx.table,
        cx.created_by,
        cx.facts,
        cx.connected,
        cx.large_rows,
    );
    if rule == Rule::PreferRobustStmts && cx.no_transaction {
        // Squawk's concern is a re-run of the whole file after a failure part-way.
        return (
            Severity::Warn,
            format!(
                "{explanation}: this migration runs outside a transaction, so a failure leaves \
                 the statements before it applied; shipgate's --resume starts at the statement \
                 that failed (an INVALID index left by CREATE INDEX CONCURRENTLY is dropped and \
                 rebuilt), but running the file again by hand or with another tool fails at \
                 \"already exists\""
            ),
        );
    }
    let Some(effect) = effect(rule) else {
        let severity = if is_advice(rule) {
            Severity::Warn
        } else {
            Severity::Fail
        };
        return (severity, format!("{explanation}."));
    };
    let Some(table) = table else {
        return (Severity::Fail, format!("{explanation}."));
    };
    if let Some(version) = created_by {
        return (
            Severity::Pass,
            format!(
                "{explanation}; but {table} is created by {version} in this same run: no one \
                 else uses it yet"
            ),
        );
    }
    let Some(f) = facts else {
        return if connected {
            (
                Severity::Warn,
                format!(
                    "{explanation}; {table} is not in the database and no migration of this run \
                     creates it, so its size is unknown"
                ),
            )
        } else {
            (
                Severity::Fail,
                format!("{explanation} (no database to weigh {table} against)."),
            )
        };
    };
    let size = f.describe();
    let what = effect.describe();
    match effect {
        Effect::FailsWithRows if f.rows == 0 => (
            Severity::Warn,
            format!(
                "{explanation}; {table} is empty now ({size}), but the statement fails once it has rows"
            ),
        ),
        Effect::FailsWithRows => (
            Severity::Fail,
            format!("{explanation}: {table} ({size}) has rows, so the statement fails"),
        ),
        _ if f.rows >= large_rows => (
            Severity::Fail,
            format!("{explanation}: {table} ({size}) {what}"),
        ),
        _ => (
            Severity::Warn,
            format!(
                "{explanation}: {table} ({size}) {what}; brief at this size (large from \
                 {large_rows} rows: [migrate.lint] large_table_rows)"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context<'a>(facts: Option<&'a TableFacts>, no_transaction: bool) -> Context<'a> {
        Context {
            table: Some("orders"),
            created_by: None,
            facts,
            connected: true,
            large_rows: 100_000,
            no_transaction,
        }
    }

    /// Squawk's worry about a statement that cannot run twice is a re-run of the whole file;
    /// shipgate's --resume is not one, and the message says who still meets it.
    #[test]
    fn a_statement_that_cannot_run_twice_outside_a_transaction_says_what_resume_does() {
        let (severity, message) = judge(
            Rule::PreferRobustStmts,
            "Missing `IF NOT EXISTS`, the migration can't be rerun if it fails part way through.",
            &context(None, true),
        );
        assert_eq!(severity, Severity::Warn);
        assert!(
            message.contains("--resume starts at the statement that failed"),
            "{message}"
        );
        assert!(
            message.contains("by hand or with another tool"),
            "{message}"
        );
    }

    #[test]
    fn the_size_of_the_table_decides_the_severity() {
        let rows = |n| TableFacts {
            rows: n,
            bytes: n * 100,
            estimated: true,
        };
        let index = Rule::RequireConcurrentIndexCreation;
        let judge_rows = |n| {
            judge(
                index,
                "Builds block writes.",
                &context(Some(&rows(n)), false),
            )
        };
        assert_eq!(judge_rows(100_000).0, Severity::Fail);
        let (severity, message) = judge_rows(99_999);
        assert_eq!(severity, Severity::Warn);
        assert!(message.contains("brief at this size"), "{message}");
        let large = rows(5_000_000);
        let created = Context {
            created_by: Some("20240101"),
            ..context(Some(&large), false)
        };
        assert_eq!(
            judge(index, "Builds block writes.", &created).0,
            Severity::Pass
        );
        // Advice is a warning whatever the table.
        let big = rows(50_000_000);
        assert_eq!(
            judge(
                Rule::PreferTextField,
                "Use text.",
                &context(Some(&big), false)
            )
            .0,
            Severity::Warn
        );
    }
}
