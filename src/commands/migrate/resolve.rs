//! `migrate`'s resolution step: flags, environment and config into one [`Settings`], checked
//! against the migration files once they are read.

use super::View;
use crate::cli::{GlobalArgs, MigrateArgs};
use crate::commands::Inputs;
use crate::commands::target::{MigrationTarget, resolve_target};
use crate::config::migrate::LintConfig;
use crate::config::{Resolver, Text};
use crate::error::InputError;
use crate::migrate::{self as engine, Repair, Source, lint};
use crate::plan::hooks::{HookDatabase, Hooks};

/// Everything a run needs, resolved from flags, environment and config.
pub(super) struct Settings {
    pub(super) target: MigrationTarget,
    pub(super) require_tables: Vec<String>,
    pub(super) plan: engine::PlanOptions,
    pub(super) check: bool,
    pub(super) resume: bool,
    pub(super) dry_run: bool,
    pub(super) baseline: Option<String>,
    /// `--accept-checksum` or `--mark-resolved` and its version (the first given: a repair is
    /// its own run).
    pub(super) repair: Option<(Repair, String)>,
    pub(super) reason: String,
    /// `--verify-backup`: restore the backup and compare it before anything changes.
    pub(super) verify_backup: bool,
    /// `--lint` (or `--lint-all` alone): lint and apply nothing.
    pub(super) lint_only: bool,
    /// What to lint, when this run lints (`--lint`, `--check`, `--dry-run`, unless `--no-lint`).
    pub(super) lint: Option<LintPlan>,
}

/// The lint a run does.
pub(super) struct LintPlan {
    /// `--lint-all`: every file, not only the pending ones.
    pub(super) all: bool,
    pub(super) settings: lint::Settings,
}

pub(super) fn resolve(
    global: &GlobalArgs,
    args: &MigrateArgs,
    inputs: &Inputs,
    resolver: &mut Resolver<'_>,
) -> Result<Settings, InputError> {
    let config = inputs.config.config.migrate.as_ref();
    let target = resolve_target(global, &args.target, inputs, resolver)?;
    let allow_out_of_order_config =
        resolver.value_or(config.and_then(|c| c.allow_out_of_order.as_ref()), false)?;
    let require_tables = config
        .map(|c| {
            c.require_tables
                .iter()
                .map(|t| resolver.string(t))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    if args.no_lint && !args.check && !global.dry_run {
        return Err(InputError::new(
            "--no-lint leaves the lint rows out of --check and --dry-run, and this run is neither",
        )
        .help("add --check or --dry-run, or leave --no-lint out (applying runs no lint)"));
    }
    let lint_only = lint_only(global, args);
    let lint = if lint_only || ((args.check || global.dry_run) && !args.no_lint) {
        Some(lint_plan(args, inputs, resolver)?)
    } else {
        None
    };
    Ok(Settings {
        target,
        require_tables,
        plan: engine::PlanOptions {
            to: args.to.clone(),
            allow_out_of_order: args.allow_out_of_order || allow_out_of_order_config,
        },
        check: args.check,
        resume: args.resume,
        dry_run: global.dry_run,
        baseline: args.baseline.clone(),
        repair: match (&args.accept_checksum, &args.mark_resolved) {
            (Some(v), _) => Some((Repair::AcceptChecksum, v.clone())),
            (None, Some(v)) => Some((Repair::MarkResolved, v.clone())),
            (None, None) => None,
        },
        reason: args.reason.clone().unwrap_or_default(),
        verify_backup: args.verify_backup,
        lint_only,
        lint,
    })
}

/// `--lint`, or `--lint-all` without `--check` or `--dry-run`: lint and apply nothing.
pub(super) fn lint_only(global: &GlobalArgs, args: &MigrateArgs) -> bool {
    args.lint || (args.lint_all && !args.check && !global.dry_run)
}

pub(super) fn lint_plan(
    args: &MigrateArgs,
    inputs: &Inputs,
    resolver: &mut Resolver<'_>,
) -> Result<LintPlan, InputError> {
    let config = inputs.config.config.migrate.as_ref();
    Ok(LintPlan {
        all: args.lint_all,
        settings: lint_settings(config.and_then(|c| c.lint.as_ref()), resolver)?,
    })
}

/// `[migrate.lint]`, each rule name checked (a misspelt one is an error at its line).
fn lint_settings(
    config: Option<&LintConfig>,
    resolver: &mut Resolver<'_>,
) -> Result<lint::Settings, InputError> {
    let mut settings = lint::Settings::default();
    let Some(config) = config else {
        return Ok(settings);
    };
    settings.large_table_rows =
        resolver.value_or(config.large_table_rows.as_ref(), settings.large_table_rows)?;
    if let Some(level) = &config.level {
        settings.warn_only = match resolver.string(level)?.trim() {
            "fail" => false,
            "warn" => true,
            other => {
                return Err(resolver.error(
                    &level.span,
                    format!("level `{other}`: expected `fail` or `warn`"),
                ));
            }
        };
    }
    let mut rules = |texts: &[Text]| -> Result<Vec<squawk_linter::Rule>, InputError> {
        texts
            .iter()
            .map(|t| {
                let name = resolver.string(t)?;
                lint::parse_rule(name.trim()).map_err(|e| resolver.error(&t.span, e))
            })
            .collect()
    };
    settings.disable = rules(&config.disable)?;
    settings.enable = rules(&config.enable)?;
    settings.ignore = config
        .ignore
        .iter()
        .map(|t| {
            let text = resolver.string(t)?;
            lint::Ignore::parse(&text).map_err(|e| resolver.error(&t.span, e))
        })
        .collect::<Result<_, _>>()?;
    Ok(settings)
}

impl Settings {
    pub(super) fn view(&self) -> View {
        View {
            backend: self.target.backend,
            check: self.check,
            allow_out_of_order: self.plan.allow_out_of_order,
            has_target: self.plan.to.is_some(),
        }
    }
}

/// `[[migrate.hooks]]`, planned against the migrated database (its `sql` hooks run there).
pub(super) fn hooks(
    settings: &Settings,
    inputs: &Inputs,
    resolver: &mut Resolver<'_>,
) -> Result<Hooks, InputError> {
    let Some(config) = inputs.config.config.migrate.as_ref() else {
        return Ok(Hooks::default());
    };
    let target = &settings.target;
    let database = HookDatabase {
        url: &target.url,
        shown_url: &target.shown_url,
        backend: target.backend,
        lock_timeout: target.lock_timeout,
    };
    crate::plan::hooks::hooks(&config.hooks, Some(&database), resolver)
}

/// Versions named by flags must be files' versions (exit 2 otherwise).
pub(super) fn check_versions(settings: &Settings, source: &Source) -> Result<(), InputError> {
    let repair = settings.repair.as_ref();
    for (flag, version) in [
        ("--baseline", settings.baseline.as_ref()),
        (repair.map_or("", |(r, _)| r.flag()), repair.map(|(_, v)| v)),
        ("--to", settings.plan.to.as_ref()),
    ] {
        if let Some(v) = version {
            find_version(flag, v, source)?;
        }
    }
    Ok(())
}

/// The index of the migration a flag names by its version (exit 2 when no file has it).
pub(super) fn find_version(
    flag: &str,
    version: &str,
    source: &Source,
) -> Result<usize, InputError> {
    engine::find(source, version).ok_or_else(|| {
        InputError::new(format!(
            "{flag} {version}: no migration in {} has that version",
            source.dir.display()
        ))
        .help("versions are the file names' first part, e.g. 001-lp-base or 20240101120000")
    })
}
