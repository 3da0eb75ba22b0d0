//! `[[…command]]`: a program run (without a shell unless `shell = true`), its exit code and
//! output judged with the expectations HTTP bodies use, retried like HTTP checks. Also the
//! argv every kind that runs a program shares (tools, hooks, log sources).

use std::path::PathBuf;
use std::time::Duration;

use super::Planner;
use super::http::{consecutive, retry, text_expect};
use crate::checks::command::{CommandProbe, Invocation};
use crate::checks::{Aspect, Probe, Unit};
use crate::config::checks::CommandConfig;
use crate::config::{Located, Resolver, Text};
use crate::error::InputError;
use crate::secret::{Secret, name_looks_secret};

impl Planner<'_> {
    pub(super) fn command(&mut self, command: &Located<CommandConfig>) -> Result<(), InputError> {
        let loc = self.resolver.table_location(&command.span);
        let needs = self.needs(&command.needs)?;
        let shell = self.resolver.value_or(command.shell.as_ref(), false)?;
        let timeout = self
            .resolver
            .duration_or(command.timeout.as_ref(), self.check_timeout)?;
        let argv = if shell {
            let script = self.resolver.string(&command.command)?;
            if script.trim().is_empty() {
                return Err(self
                    .resolver
                    .error(&command.command.span, "the command is empty")
                    .help(
                        "write the script to run, e.g. command = \"./validate.sh | tee out.log\"",
                    ));
            }
            vec!["sh".to_string(), "-c".to_string(), script]
        } else {
            argv(&mut self.resolver, &command.command)?
        };
        let mut run = invocation(&self.resolver, argv, timeout);
        run.shell = shell;
        for (name, value) in &command.env {
            let value = self.resolver.string(value)?;
            // Values from secret-looking variables are secrets already (the resolver met them);
            // a value under a secret-looking name is one too, however it was written.
            if name_looks_secret(name) && !crate::env::is_plainly_not_secret(&value) {
                self.resolver.secrets.add(&value);
            }
            run.env.push((name.clone(), Secret::new(value)));
        }
        if let Some(cwd) = &command.cwd {
            let dir = PathBuf::from(self.resolver.string(cwd)?);
            if dir.as_os_str().is_empty() {
                return Err(self
                    .resolver
                    .error(&cwd.span, "the working directory is empty")
                    .help("set `cwd` to a directory (its variable may be unset), or remove it"));
            }
            run.cwd = Some(dir);
        }
        let expect_exit = command
            .expect_exit
            .as_ref()
            .map_or_else(|| vec![0], |codes| codes.codes());
        if let Some(code) = expect_exit.iter().find(|c| !(0..=255).contains(*c)) {
            return Err(self
                .resolver
                .error(
                    &command.span,
                    format!("expect_exit = {code}: a program exits with 0 to 255"),
                )
                .help("a program killed by a signal has no exit code: it fails the check"));
        }
        if expect_exit.is_empty() {
            return Err(self
                .resolver
                .error(&command.span, "expect_exit = []: no exit code would pass")
                .help("list the accepted codes, e.g. expect_exit = [0, 3], or remove it for 0"));
        }
        let stdout = text_expect(
            &mut self.resolver,
            &command.stdout_contains,
            &command.stdout_matches,
            &command.expect_json,
        )?;
        let stderr = text_expect(
            &mut self.resolver,
            &command.stderr_contains,
            &command.stderr_matches,
            &[],
        )?;
        let retry = command
            .retry
            .as_ref()
            .map(|r| retry(&mut self.resolver, r))
            .transpose()?;
        let consecutive = consecutive(
            &mut self.resolver,
            command.consecutive.as_ref(),
            &command.span,
        )?;
        let program = if shell {
            "sh".to_string()
        } else {
            std::path::Path::new(&run.argv[0])
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "command".into())
        };
        let label = command.name.clone().unwrap_or(program);
        let name = self.claim("command", &label, command.name.is_some(), &command.span)?;
        // Room for every run: the retry window, then `consecutive` runs to their timeout.
        let budget = retry.as_ref().map_or(Duration::ZERO, |r| r.timeout)
            + (timeout + Duration::from_secs(1)) * consecutive;
        self.push(
            Unit {
                kind: "command",
                needs,
                aspects: vec![Aspect::new(
                    format!("command.{name}"),
                    format!("command {label}"),
                    loc,
                )],
                timeout: budget + Duration::from_secs(1),
                probe: Probe::Command(CommandProbe {
                    run,
                    expect_exit,
                    stdout,
                    stderr,
                    retry,
                    consecutive,
                }),
            },
            &label,
        );
        Ok(())
    }
}

/// A command written as one string, split into words as a shell would (quotes respected, no
/// expansion): what runs without a shell.
/// A program to run with the `--env-file` variables the process lacks: every kind that runs
/// one (command checks, log commands, hooks) starts it from here.
pub fn invocation(resolver: &Resolver<'_>, argv: Vec<String>, timeout: Duration) -> Invocation {
    let mut run = Invocation::new(argv, timeout);
    run.env_file = resolver
        .env
        .file_only()
        .map(|(name, value)| (name.to_string(), Secret::new(value.to_string())))
        .collect();
    run
}

pub fn argv(resolver: &mut Resolver<'_>, text: &Text) -> Result<Vec<String>, InputError> {
    let value = resolver.string(text)?;
    match shlex::split(&value) {
        Some(words) if !words.is_empty() => Ok(words),
        Some(_) => Err(resolver.error(&text.span, "the command is empty").help(
            "write the program and its arguments, e.g. \"kubectl rollout status deploy/api\"",
        )),
        None => Err(resolver
            .error(
                &text.span,
                format!("cannot split the command `{value}` into words"),
            )
            .help("close every quote; for pipes or `&&`, set shell = true")),
    }
}
