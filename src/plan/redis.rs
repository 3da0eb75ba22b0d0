//! `[[…redis]]` and `--redis-url`: one unit per server, one aspect per thing it checks.

use std::time::Duration;

use super::Planner;
use crate::checks::redis::{KeyRules, RedisAspect, RedisProbe};
use crate::checks::redis_info::{InfoAssertion, ParseError as InfoParseError};
use crate::checks::{Aspect, Probe, Unit};
use crate::config::checks::RedisConfig;
use crate::config::{Located, Resolver, Text};
use crate::error::InputError;
use crate::secret::{Secret, mask_url};

impl Planner<'_> {
    pub(super) fn redis(&mut self, redis: &Located<RedisConfig>) -> Result<(), InputError> {
        let loc = self.resolver.table_location(&redis.span);
        let default_name = "cache";
        let name = self.claim(
            "redis",
            redis.name.as_deref().unwrap_or(default_name),
            redis.name.is_some(),
            &redis.span,
        )?;
        // Ids are made id-safe; people read the name as written.
        let label = redis.name.clone().unwrap_or_else(|| name.clone());
        let url = self.resolver.text(&redis.url)?;
        let problem = (url.value.trim().is_empty()).then(|| {
            if url.unset.is_empty() {
                "URL is empty".to_string()
            } else {
                format!("is not configured: {} is not set", url.unset.join(", "))
            }
        });
        if problem.is_none() && redis::parse_redis_url(&url.value).is_none() {
            let err = self.resolver.error(
                &redis.url.span,
                format!("`{}` is not a Redis URL", mask_url(&url.value)),
            );
            return Err(err.help(
                "write redis://[:password@]host:6379[/db], rediss://… for TLS, or unix:///path",
            ));
        }
        let timeout = self
            .resolver
            .duration_or(redis.timeout.as_ref(), self.check_timeout)?;
        let min_version = redis
            .min_version
            .as_ref()
            .map(|v| self.resolver.version(v))
            .transpose()?;
        let maxmemory_policy = redis
            .maxmemory_policy
            .as_ref()
            .map(|p| self.resolver.string(p))
            .transpose()?;
        let mut plan = vec![RedisAspect::Ping];
        if min_version.is_some() {
            plan.push(RedisAspect::Version);
        }
        if maxmemory_policy.is_some() {
            plan.push(RedisAspect::MaxmemoryPolicy);
        }
        if redis.persistence.is_some() {
            plan.push(RedisAspect::Persistence);
        }
        let strings = |r: &mut Resolver<'_>, list: &[Text]| {
            list.iter()
                .map(|k| r.string(k))
                .collect::<Result<Vec<_>, _>>()
        };
        let mut keys = KeyRules {
            present: strings(&mut self.resolver, &redis.keys_present)?,
            absent: strings(&mut self.resolver, &redis.keys_absent)?,
            equals: Vec::new(),
        };
        for (key, value) in &redis.key_equals {
            keys.equals
                .push((key.clone(), self.resolver.string(value)?));
        }
        if let Some(both) = keys.present.iter().find(|k| keys.absent.contains(k)) {
            return Err(self
                .resolver
                .error(
                    &redis.span,
                    format!("key `{both}` is in both keys_present and keys_absent"),
                )
                .help("keep it in the one that says what the deployment must leave"));
        }
        let mut info = Vec::with_capacity(redis.info.len());
        for text in &redis.info {
            let value = self.resolver.string(text)?;
            info.push(InfoAssertion::parse(&value).map_err(|e| {
                let help = match e {
                    InfoParseError::Usage(_) => "fields are INFO's numeric `name:value` lines plus keyspace_hit_ratio and used_memory_ratio (see the README)",
                    InfoParseError::NotValue { .. } => "a size takes a unit: `2GiB`, `512MiB`, `500MB`",
                };
                self.resolver.error(&text.span, e).help(help)
            })?);
        }
        // INFO before the keys: its hit ratio must not count this check's own EXISTS and GETs.
        if !info.is_empty() {
            plan.push(RedisAspect::Info);
        }
        if !keys.present.is_empty() || !keys.absent.is_empty() || !keys.equals.is_empty() {
            plan.push(RedisAspect::Keys);
        }
        let latency_warn = self
            .resolver
            .duration_or(redis.latency_warn.as_ref(), Duration::from_millis(100))?;
        let latency_fail = self
            .resolver
            .duration_or(redis.latency_fail.as_ref(), Duration::from_millis(500))?;
        self.ordered(
            "latency_warn",
            latency_warn,
            "latency_fail",
            latency_fail,
            &redis.span,
        )?;
        let ca_file = self.resolver.optional_path(redis.ca_file.as_ref())?;
        let aspects = Aspect::for_steps(&plan, "redis", &name, &label, loc);
        let needs = self.needs(&redis.needs)?;
        self.units.push(Unit {
            kind: "redis",
            needs,
            aspects,
            timeout: timeout + Duration::from_secs(1),
            probe: Probe::Redis(RedisProbe {
                name,
                shown_url: mask_url(&url.value),
                url: Secret::new(url.value),
                optional: self.resolver.value_or(redis.optional.as_ref(), false)?,
                problem,
                timeout,
                latency_warn,
                latency_fail,
                min_version,
                maxmemory_policy,
                persistence: redis.persistence,
                ca_file,
                keys,
                info,
                aspects: plan,
            }),
        });
        Ok(())
    }
}
