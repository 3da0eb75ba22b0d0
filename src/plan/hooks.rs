//! Hooks (`[[rollback.hooks]]`) as check units: an `http` hook is a request of the HTTP check
//! kind and a `command` hook a command of the command kind, each bounded by the hook's own
//! timeout rather than a check's, reported as `hook.<name>`.

use std::time::Duration;

use crate::checks::command::CommandProbe;
use crate::checks::http::HttpProbe;
use crate::checks::{Aspect, Probe, Unit, id_part};
use crate::config::checks::HttpConfig;
use crate::config::rollback::HookConfig;
use crate::config::{Located, Resolver};
use crate::error::InputError;

/// A hook's deadline when it names none.
const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// The hooks, in config order, as check units (one aspect each).
pub fn hook_units(
    hooks: &[Located<HookConfig>],
    resolver: &mut Resolver<'_>,
) -> Result<Vec<Unit>, InputError> {
    hooks.iter().map(|hook| hook_unit(hook, resolver)).collect()
}

fn hook_unit(hook: &Located<HookConfig>, resolver: &mut Resolver<'_>) -> Result<Unit, InputError> {
    let location = resolver.table_location(&hook.span);
    let timeout = resolver.duration_or(hook.timeout.as_ref(), HOOK_TIMEOUT)?;
    let probe = match (&hook.http, &hook.command) {
        (Some(http), None) => Probe::Http(http_probe(resolver, http, timeout)?),
        (None, Some(command)) => {
            let words = super::command::argv(resolver, command)?;
            Probe::Command(CommandProbe::new(words, timeout))
        }
        _ => {
            return Err(resolver
                .error(
                    &hook.span,
                    format!(
                        "hook `{}` needs exactly one of `http` or `command`",
                        hook.name
                    ),
                )
                .help("e.g. command = \"kubectl rollout undo deployment/api-server\""));
        }
    };
    Ok(Unit {
        kind: "hook",
        needs: Vec::new(),
        aspects: vec![Aspect::new(
            format!("hook.{}", id_part(&hook.name)),
            format!("hook {}", hook.name),
            location,
        )],
        timeout: timeout + Duration::from_secs(1),
        probe,
    })
}

/// The probe of an `http` hook: every request attempt is bounded by `timeout`.
fn http_probe(
    resolver: &mut Resolver<'_>,
    http: &Located<HttpConfig>,
    timeout: Duration,
) -> Result<HttpProbe, InputError> {
    let url = resolver.text(&http.url)?;
    let mut probe = super::http::http_probe(resolver, http, url, timeout)?;
    probe.timeout = timeout;
    Ok(probe)
}
