//! Where a Report goes: stdout in the chosen format, `--output` files, and in GitHub Actions
//! the step summary, step outputs, annotations and masks. The bytes come from the pure
//! renderers in `crate::report`; this module only writes them.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::{Format, GlobalArgs, OutputTarget};
use crate::error::InputError;
use crate::report::human::{HumanOptions, Verbosity};
use crate::report::{Report, github, human, json, junit, markdown};
use crate::secret::Redactor;

/// A report file, step summary or step output that could not be written.
#[derive(Debug)]
pub struct WriteError {
    pub path: PathBuf,
    /// The step summary and outputs are appended to; report files are replaced.
    pub appending: bool,
    pub cause: std::io::Error,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.appending {
            "cannot append to"
        } else {
            "cannot write"
        };
        write!(f, "{verb} {}: {}", self.path.display(), self.cause)
    }
}

impl std::error::Error for WriteError {}

/// Every file [`OutputPlan::emit`] could not write (at least one), a line each.
#[derive(Debug)]
pub struct WriteErrors(pub Vec<WriteError>);

impl fmt::Display for WriteErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for WriteErrors {}

/// The GitHub Actions files of this step, when GitHub mode is on.
#[derive(Clone, Debug, Default)]
pub struct GithubEnv {
    pub step_summary: Option<PathBuf>,
    pub output: Option<PathBuf>,
    /// Where to put the JSON report when no `--output json=…` names one.
    pub temp_dir: PathBuf,
}

impl GithubEnv {
    /// GitHub mode is on inside GitHub Actions (`GITHUB_ACTIONS=true`) or with `--github`.
    pub fn detect(forced: bool, get: impl Fn(&str) -> Option<String>) -> Option<GithubEnv> {
        if !forced && get("GITHUB_ACTIONS").as_deref() != Some("true") {
            return None;
        }
        let path = |name: &str| get(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        Some(GithubEnv {
            step_summary: path("GITHUB_STEP_SUMMARY"),
            output: path("GITHUB_OUTPUT"),
            temp_dir: path("RUNNER_TEMP").unwrap_or_else(std::env::temp_dir),
        })
    }
}

pub struct OutputPlan {
    pub stdout: Format,
    pub files: Vec<OutputTarget>,
    pub human: HumanOptions,
    pub github: Option<GithubEnv>,
}

impl OutputPlan {
    pub fn from_args(
        global: &GlobalArgs,
        stdout_is_terminal: bool,
        get: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let no_color_env = get("NO_COLOR").is_some_and(|v| !v.is_empty());
        let verbosity = if global.quiet {
            Verbosity::Quiet
        } else if global.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        };
        OutputPlan {
            stdout: global.format,
            files: global.output.clone(),
            human: HumanOptions {
                color: stdout_is_terminal && !global.no_color && !no_color_env,
                verbosity,
            },
            github: GithubEnv::detect(global.github, get),
        }
    }

    /// Refuses output files whose folder does not exist, before any check runs.
    pub fn validate(&self) -> Result<(), InputError> {
        for target in &self.files {
            let parent = target.path.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(parent) = parent
                && !parent.is_dir()
            {
                return Err(InputError::new(format!(
                    "cannot write {}: the folder {} does not exist",
                    target.path.display(),
                    parent.display()
                ))
                .help("create the folder first, or choose another --output path"));
            }
        }
        Ok(())
    }

    /// Workflow commands share stdout only with the human view; any other format may be
    /// redirected into a file (`> report.json`, `> comment.md`) that they would corrupt. The
    /// runner reads commands from stderr as well.
    fn commands_to_stderr(&self) -> bool {
        self.stdout != Format::Human
    }

    fn render(&self, format: Format, report: &Report, for_file: bool) -> String {
        match format {
            Format::Human => human::render(
                report,
                HumanOptions {
                    color: self.human.color && !for_file,
                    ..self.human
                },
            ),
            Format::Json => json::render(report),
            Format::Junit => junit::render(report),
            Format::Markdown => markdown::render(report),
        }
    }

    /// Writes everything. Errors name the file that could not be written; the report has then
    /// still been printed on stdout.
    pub fn emit(&self, report: &Report, secrets: &Redactor) -> Result<(), WriteErrors> {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let commands_to_stderr = self.commands_to_stderr();
        let mut commands = String::new();
        if self.github.is_some() {
            commands.push_str(&github::add_mask_commands(secrets.values()));
            commands.push_str(&github::annotations(report));
        }
        // Masks first, before any other line of output.
        if !commands.is_empty() {
            if commands_to_stderr {
                let _ = std::io::stderr().write_all(commands.as_bytes());
            } else {
                let _ = out.write_all(commands.as_bytes());
            }
        }
        let _ = out.write_all(self.render(self.stdout, report, false).as_bytes());
        let _ = out.flush();

        let mut errors = Vec::new();
        let mut json_path = None;
        for target in &self.files {
            let text = self.render(target.format, report, true);
            match std::fs::write(&target.path, text) {
                Ok(()) if target.format == Format::Json => json_path = Some(target.path.clone()),
                Ok(()) => {}
                Err(cause) => errors.push(WriteError {
                    path: target.path.clone(),
                    appending: false,
                    cause,
                }),
            }
        }
        if let Some(gh) = &self.github {
            errors.extend(write_github_files(gh, report, json_path));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(WriteErrors(errors))
        }
    }
}

/// Says why nothing ran: on stderr, and as an annotation on the config line in GitHub mode.
pub fn input_error(plan: &OutputPlan, error: &InputError) {
    eprintln!("error: {error}");
    if plan.github.is_some() {
        let annotation =
            github::input_error_annotation(&error.to_string(), error.location.as_ref());
        if plan.commands_to_stderr() {
            eprint!("{annotation}");
        } else {
            print!("{annotation}");
        }
    }
}

/// A warning about the run's output (not a check's): on stderr, and in GitHub mode as a
/// `::warning` annotation too.
pub fn warning(plan: &OutputPlan, title: &str, message: &str) {
    eprintln!("warning: {message}");
    if plan.github.is_some() {
        let annotation = github::warning_annotation(title, message);
        if plan.commands_to_stderr() {
            eprint!("{annotation}");
        } else {
            print!("{annotation}");
        }
    }
}

/// Writes the JSON report (unless `--output json=…` did), the step summary and the step
/// outputs. Each is attempted even when another failed: a later step still gets `status`.
/// Returns the failures.
fn write_github_files(
    gh: &GithubEnv,
    report: &Report,
    json_path: Option<PathBuf>,
) -> Vec<WriteError> {
    let mut errors = Vec::new();
    let json_path = match json_path {
        Some(p) => Some(p),
        None => {
            let p = gh.temp_dir.join(format!(
                "shipgate-{}-{}.json",
                report.command,
                uuid::Uuid::new_v4().simple()
            ));
            match std::fs::write(&p, json::render(report)) {
                Ok(()) => Some(p),
                Err(cause) => {
                    errors.push(WriteError {
                        path: p,
                        appending: false,
                        cause,
                    });
                    None
                }
            }
        }
    };
    // A later step may run in another working directory: hand it an absolute path.
    let json_path = json_path.map(|p| std::path::absolute(&p).unwrap_or(p));
    if let Some(path) = &gh.step_summary {
        let existing = std::fs::metadata(path)
            .map(|m| m.len() as usize)
            .unwrap_or(0);
        let text = github::step_summary(&markdown::render(report), existing);
        if let Err(e) = append(path, &text) {
            errors.push(e);
        }
    }
    if let Some(path) = &gh.output {
        let delimiter = format!("ghadelimiter_{}", uuid::Uuid::new_v4());
        let report_path = json_path.as_ref().map(|p| p.display().to_string());
        let text = github::output_entries(report, report_path.as_deref(), &delimiter);
        if let Err(e) = append(path, &text) {
            errors.push(e);
        }
    }
    errors
}

fn append(path: &Path, text: &str) -> Result<(), WriteError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|cause| WriteError {
            path: path.to_path_buf(),
            appending: true,
            cause,
        })
}
