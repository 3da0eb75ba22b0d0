use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use shipgate::cli::{Cli, Command, GlobalArgs};
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
        Command::Rerun { report } => rerun(&plan, report, argv),
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
            run(&plan, &cli.global, argv, async |inputs: &Inputs| {
                commands::migrate::run(&cli.global, args, inputs).await
            })
        }
        Command::Rollback(args) => {
            let mut plan = plan;
            if cli.global.dry_run && !cli.global.quiet {
                plan.human.verbosity = shipgate::report::human::Verbosity::Verbose;
            }
            run(&plan, &cli.global, argv, async |inputs: &Inputs| {
                commands::rollback::run(&cli.global, args, inputs).await
            })
        }
        Command::RateLimitTest(args) => run(&plan, &cli.global, argv, async |inputs: &Inputs| {
            commands::rate_limit::run(&cli.global, args, inputs).await
        }),
        Command::Verify(args) => run(&plan, &cli.global, argv, async |inputs: &Inputs| {
            commands::verify::run(&cli.global, args, inputs).await
        }),
        Command::Preflight(args) => run(&plan, &cli.global, argv, async |inputs: &Inputs| {
            commands::preflight::run(&cli.global, args, inputs).await
        }),
    }
}

/// `shipgate rerun REPORT.json [options]`: the report's run again, selecting what failed. The
/// options around `rerun` (output format, `-v`, …) are added to the report's command line.
fn rerun(plan: &OutputPlan, report: &std::path::Path, argv: &[String]) -> u8 {
    let text = match shipgate::files::read_text_bounded(report, shipgate::files::PAYLOAD_LIMIT) {
        Ok(text) => text,
        Err(e) => {
            output::input_error(
                plan,
                &InputError::new(format!("cannot read the report {}: {e}", report.display())),
            );
            return exit::INPUT;
        }
    };
    let rerun = match shipgate::rerun::plan(report, &text, |k| std::env::var(k).ok()) {
        Ok(r) => r,
        Err(e) => {
            output::input_error(plan, &e);
            return exit::INPUT;
        }
    };
    // The options around `rerun REPORT` (output format, -v, …) are added to the report's line:
    // every argument but the program, the first `rerun` and the report after it.
    let mut new_argv = rerun.argv;
    let at = argv.iter().position(|a| a == "rerun").unwrap_or(argv.len());
    let report_at = argv[at..]
        .iter()
        .position(|a| std::path::Path::new(a) == report)
        .map(|i| at + i);
    new_argv.extend(
        argv.iter()
            .enumerate()
            .skip(1)
            .filter(|(i, _)| *i != at && Some(*i) != report_at)
            .map(|(_, a)| a.clone()),
    );
    eprintln!("{}", rerun.note);
    redispatch(&new_argv)
}

/// Parses and runs a command line shipgate built itself (from a report, from the action's
/// inputs). Usage errors print and exit 2 as on a typed command line; `--help` exits 0.
fn redispatch(argv: &[String]) -> u8 {
    match Cli::try_parse_from(argv) {
        Ok(cli) => dispatch(cli, argv),
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                exit::INPUT
            } else {
                exit::PASSED
            }
        }
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
                argv[2..]
                    .iter()
                    .map(|a| shipgate::secret::mask_url(a))
                    .collect::<Vec<_>>()
                    .join(" ")
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
    redispatch(&argv)
}

/// Runs a subcommand and turns its outcome into output and an exit code: the report is
/// printed and written first, then published to GitHub (`--pr-comment`, `--check-run`), then
/// sent to the `[[notify]]` webhooks.
fn run(
    plan: &OutputPlan,
    global: &GlobalArgs,
    argv: &[String],
    command: impl AsyncFnOnce(&Inputs) -> Result<commands::Outcome, InputError>,
) -> u8 {
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
    let outcome = runtime.block_on(async {
        let inputs = Inputs::load(global, argv)?;
        let outcome = command(&inputs).await?;
        Ok::<_, InputError>((outcome, inputs))
    });
    let code = match outcome {
        Ok((mut outcome, inputs)) => {
            outcome.report.invocation = Some(inputs.reproduce_base);
            let github = inputs.github;
            let notify = inputs.notify;
            // The webhook URLs and their header credentials are masked like the run's own
            // secrets, in the report and in anything said about sending it.
            outcome.secrets.extend(&notify.secrets);
            outcome.report.redact(&outcome.secrets);
            let mut sink_failed = false;
            if let Err(e) = plan.emit(&outcome.report, &outcome.secrets) {
                eprintln!("error: {}", outcome.secrets.redact(&e.to_string()));
                sink_failed = true;
            }
            let published = runtime.block_on(shipgate::github::publish(
                &github,
                &outcome.report,
                global.dry_run,
            ));
            for note in &published.notes {
                eprintln!("github: {}", outcome.secrets.redact(note));
            }
            for problem in &published.problems {
                output::warning(
                    plan,
                    "shipgate: GitHub API",
                    &outcome.secrets.redact(problem),
                );
                sink_failed = true;
            }
            // Last, from the redacted report: a notification that fails is a warning and
            // never changes the exit code (unlike a report that could not be written).
            let notified = runtime.block_on(shipgate::notify::send(
                &notify,
                &outcome.report,
                global.dry_run,
            ));
            for note in &notified.notes {
                if !global.quiet || global.dry_run {
                    eprintln!("notify: {}", outcome.secrets.redact(note));
                }
            }
            for problem in &notified.problems {
                output::warning(
                    plan,
                    "shipgate: notification",
                    &outcome.secrets.redact(problem),
                );
            }
            // A failed check outranks a report that could not be written.
            match outcome.report.exit_code() {
                exit::PASSED if sink_failed => exit::OUTPUT,
                code => code,
            }
        }
        Err(e) => {
            output::input_error(plan, &e);
            exit::INPUT
        }
    };
    // Probes may leave connections closing in the background; do not wait for them.
    runtime.shutdown_background();
    code
}
