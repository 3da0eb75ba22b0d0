use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use shipgate::cli::{Cli, Command};
use shipgate::commands::{self, Inputs};
use shipgate::error::InputError;
use shipgate::exit;
use shipgate::output::{self, OutputPlan};

fn main() -> ExitCode {
    // Lossy: a path argument need not be UTF-8, and `args()` would panic on it.
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cli = Cli::parse();
    let plan = OutputPlan::from_args(&cli.global, std::io::stdout().is_terminal(), |k| {
        std::env::var(k).ok()
    });
    let code = match &cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "shipgate",
                &mut std::io::stdout(),
            );
            exit::PASSED
        }
        Command::Migrate(args) => {
            // A dry run exists to be read: show the SQL of every migration.
            let mut plan = plan;
            if cli.global.dry_run && !cli.global.quiet {
                plan.human.verbosity = shipgate::report::human::Verbosity::Verbose;
            }
            run(&plan, || async {
                let inputs = Inputs::load(&cli.global, &argv)?;
                commands::migrate::run(&cli.global, args, &inputs).await
            })
        }
        Command::Rollback(args) => {
            let mut plan = plan;
            if cli.global.dry_run && !cli.global.quiet {
                plan.human.verbosity = shipgate::report::human::Verbosity::Verbose;
            }
            run(&plan, || async {
                let inputs = Inputs::load(&cli.global, &argv)?;
                commands::rollback::run(&cli.global, args, &inputs).await
            })
        }
        Command::RateLimitTest(args) => run(&plan, || async {
            let inputs = Inputs::load(&cli.global, &argv)?;
            commands::rate_limit::run(&cli.global, args, &inputs).await
        }),
        Command::Verify(args) => run(&plan, || async {
            let inputs = Inputs::load(&cli.global, &argv)?;
            commands::verify::run(&cli.global, args, &inputs).await
        }),
        Command::Preflight(args) => run(&plan, || async {
            let inputs = Inputs::load(&cli.global, &argv)?;
            commands::preflight::run(&cli.global, args, &inputs).await
        }),
    };
    ExitCode::from(code)
}

/// Runs a subcommand and turns its outcome into output and an exit code.
fn run<F, Fut>(plan: &OutputPlan, command: F) -> u8
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<commands::Outcome, InputError>>,
{
    if let Err(e) = plan.validate() {
        output::input_error(plan, &e);
        return exit::INPUT;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::FAILED;
        }
    };
    let outcome = runtime.block_on(command());
    // Probes may leave connections closing in the background; do not wait for them.
    runtime.shutdown_background();
    match outcome {
        Ok(mut outcome) => {
            outcome.report.redact(&outcome.secrets);
            match plan.emit(&outcome.report, &outcome.secrets) {
                Ok(()) => outcome.report.exit_code(),
                Err(e) => {
                    eprintln!("error: {}", outcome.secrets.redact(&e));
                    // A failed check outranks a report that could not be written.
                    match outcome.report.exit_code() {
                        exit::PASSED => exit::OUTPUT,
                        failed => failed,
                    }
                }
            }
        }
        Err(e) => {
            output::input_error(plan, &e);
            exit::INPUT
        }
    }
}
