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
    ExitCode::from(dispatch(cli, &argv))
}

/// Runs the parsed command line; `argv` is what it was parsed from (for `reproduce` lines).
fn dispatch(cli: Cli, argv: &[String]) -> u8 {
    let plan = OutputPlan::from_args(&cli.global, std::io::stdout().is_terminal(), |k| {
        std::env::var(k).ok()
    });
    match &cli.command {
        Command::GithubAction => github_action(&plan, argv),
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
                let inputs = Inputs::load(&cli.global, argv)?;
                commands::migrate::run(&cli.global, args, &inputs).await
            })
        }
        Command::Rollback(args) => {
            let mut plan = plan;
            if cli.global.dry_run && !cli.global.quiet {
                plan.human.verbosity = shipgate::report::human::Verbosity::Verbose;
            }
            run(&plan, || async {
                let inputs = Inputs::load(&cli.global, argv)?;
                commands::rollback::run(&cli.global, args, &inputs).await
            })
        }
        Command::RateLimitTest(args) => run(&plan, || async {
            let inputs = Inputs::load(&cli.global, argv)?;
            commands::rate_limit::run(&cli.global, args, &inputs).await
        }),
        Command::Verify(args) => run(&plan, || async {
            let inputs = Inputs::load(&cli.global, argv)?;
            commands::verify::run(&cli.global, args, &inputs).await
        }),
        Command::Preflight(args) => run(&plan, || async {
            let inputs = Inputs::load(&cli.global, argv)?;
            commands::preflight::run(&cli.global, args, &inputs).await
        }),
    }
}

/// `shipgate github-action`: the command line comes from the action's inputs (`INPUT_*`), and
/// runs as if typed. Options on the `github-action` line itself would be silently replaced, so
/// they are refused.
fn github_action(plan: &OutputPlan, argv: &[String]) -> u8 {
    if argv.len() > 2 {
        output::input_error(
            plan,
            &InputError::new(format!(
                "`shipgate github-action` takes no options (got {})",
                argv[1..].join(" ")
            ))
            .help("it reads INPUT_COMMAND, INPUT_CONFIG and INPUT_ARGS, which action.yml sets; put options in the action's `args` input"),
        );
        return exit::INPUT;
    }
    let argv = match shipgate::action::argv_from_inputs(|k| std::env::var(k).ok()) {
        Ok(argv) => argv,
        Err(e) => {
            output::input_error(plan, &e);
            return exit::INPUT;
        }
    };
    match Cli::try_parse_from(&argv) {
        Ok(cli) => dispatch(cli, &argv),
        Err(e) => {
            // Usage errors print and exit 2 as on a command line; `--help` in `args` exits 0.
            let _ = e.print();
            if e.use_stderr() {
                exit::INPUT
            } else {
                exit::PASSED
            }
        }
    }
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
