//! `[preflight.env]` and `--require-env`/`--env-example`: the variables a deployment needs, planned
//! as one unit so a variable named in both the config and the flags is checked once.

use std::path::PathBuf;

use super::Planner;
use crate::checks::env::{EnvProbe, ExampleRule, VarRule};
use crate::checks::{Aspect, Probe, Unit};
use crate::cli::PreflightArgs;
use crate::config::Located;
use crate::config::checks::{EnvConfig, VarType};
use crate::error::InputError;
use crate::report::Location;
use crate::secret::name_looks_secret;

impl Planner<'_> {
    pub(super) fn env(
        &mut self,
        config: Option<&Located<EnvConfig>>,
        args: &PreflightArgs,
    ) -> Result<(), InputError> {
        let mut names: Vec<(String, Option<Location>)> = Vec::new();
        let mut vars = Vec::new();
        let mut aspects = Vec::new();
        let mut placeholders = Vec::new();
        let mut example = None;
        if let Some(env) = config {
            placeholders = env.placeholders.clone();
            for name in &env.required {
                let value = self.resolver.string(name)?;
                if !names.iter().any(|(n, _)| *n == value) {
                    names.push((value, self.location(&name.span)));
                }
            }
            for (name, rule) in &env.vars {
                names.retain(|(n, _)| n != name);
                // The whole value must match, whatever the alternatives or quantifiers.
                let pattern = rule
                    .pattern
                    .as_ref()
                    .map(|p| self.resolver.anchored_regex(p))
                    .transpose()?;
                if rule.kind != VarType::Integer && (rule.min.is_some() || rule.max.is_some()) {
                    return Err(self.resolver.error(
                        &rule.span,
                        format!("`min`/`max` of {name} need `type = \"integer\"`"),
                    ));
                }
                if rule.kind != VarType::Url && !rule.schemes.is_empty() {
                    return Err(self.resolver.error(
                        &rule.span,
                        format!("`schemes` of {name} needs `type = \"url\"`"),
                    ));
                }
                vars.push((
                    self.resolver.table_location(&rule.span),
                    VarRule {
                        name: name.clone(),
                        value: None,
                        required: self.resolver.value_or(rule.required.as_ref(), true)?,
                        kind: rule.kind,
                        min: self.resolver.optional(rule.min.as_ref())?,
                        max: self.resolver.optional(rule.max.as_ref())?,
                        schemes: rule.schemes.clone(),
                        one_of: rule.one_of.clone(),
                        pattern,
                        secret: self.resolver.value_or(rule.secret.as_ref(), false)?,
                    },
                ));
            }
            if let Some(path) = &env.example {
                let path = PathBuf::from(self.resolver.string(path)?);
                example = Some((
                    path,
                    self.location(&env.example.as_ref().expect("checked").span),
                ));
            }
        }
        for name in &args.require_env {
            if !names.iter().any(|(n, _)| n == name) && !vars.iter().any(|(_, v)| &v.name == name) {
                names.push((name.clone(), None));
            }
        }
        if let Some(path) = &args.env_example {
            example = Some((path.clone(), None));
        }
        let plain = names.into_iter().map(|(name, loc)| {
            (
                loc,
                VarRule {
                    name,
                    value: None,
                    required: true,
                    kind: VarType::String,
                    min: None,
                    max: None,
                    schemes: vec![],
                    one_of: vec![],
                    pattern: None,
                    secret: false,
                },
            )
        });
        let all: Vec<(Option<Location>, VarRule)> = plain.chain(vars).collect();
        let mut rules = Vec::new();
        for (loc, mut rule) in all {
            rule.value = self.resolver.env.get(&rule.name).map(str::to_string);
            rule.secret |= name_looks_secret(&rule.name);
            if let Some(v) = &rule.value {
                if rule.secret {
                    self.resolver.secrets.add(v);
                }
                // DATABASE_URL is not secret by name, but its password is.
                self.resolver.secrets.add_url(v);
            }
            let id = self.claim("env", &rule.name, true, &(0..0))?;
            aspects.push(Aspect::new(
                format!("env.{id}"),
                format!("env {}", rule.name),
                loc,
            ));
            rules.push(rule);
        }
        let example = match example {
            Some((path, loc)) => {
                // Placed in the example file itself (its line), which the message names.
                let keys = crate::env::read_env_file(&path).map_err(|e| {
                    let mut err = InputError::new(format!(
                        "cannot use the env example {}: {}",
                        path.display(),
                        e.message
                    ))
                    .at(e.location.clone().or(loc.clone()));
                    err.help = e.help.clone();
                    err
                })?;
                let keys: Vec<(String, Option<String>)> = keys
                    .keys()
                    .map(|k| (k.clone(), self.resolver.env.get(k).map(str::to_string)))
                    .collect();
                for (k, v) in &keys {
                    if let Some(v) = v {
                        if name_looks_secret(k) {
                            self.resolver.secrets.add(v);
                        }
                        self.resolver.secrets.add_url(v);
                    }
                }
                let extras = self
                    .resolver
                    .env
                    .file_keys()
                    .filter(|k| !keys.iter().any(|(e, _)| e == k))
                    .map(str::to_string)
                    .collect();
                self.claim("env", "example", true, &(0..0))?;
                aspects.push(Aspect::new(
                    "env.example",
                    format!("env example {}", path.display()),
                    loc,
                ));
                Some(ExampleRule { path, keys, extras })
            }
            None => None,
        };
        // An empty `[preflight.env]` checks nothing.
        if aspects.is_empty() {
            return Ok(());
        }
        self.units.push(Unit {
            kind: "env",
            needs: Vec::new(),
            aspects,
            timeout: self.check_timeout,
            probe: Probe::Env(EnvProbe {
                vars: rules,
                example,
                placeholders,
            }),
        });
        Ok(())
    }
}
