//! `[[…tls]]` and `--tls-host`: a certificate's validity and remaining days.

use std::time::Duration;

use super::Planner;
use crate::checks::tls::TlsProbe;
use crate::checks::{Aspect, Probe, Unit};
use crate::config::Located;
use crate::config::checks::TlsConfig;
use crate::error::InputError;

impl Planner<'_> {
    pub(super) fn tls(&mut self, tls: &Located<TlsConfig>) -> Result<(), InputError> {
        let loc = self.resolver.table_location(&tls.span);
        let host = self.resolver.string(&tls.host)?;
        if host.trim().is_empty() {
            return Err(self.resolver.error(&tls.host.span, "the TLS host is empty"));
        }
        let name = self.claim(
            "tls",
            tls.name.as_deref().unwrap_or(&host),
            tls.name.is_some(),
            &tls.span,
        )?;
        // Ids are made id-safe; people read the name as written.
        let label = tls.name.clone().unwrap_or_else(|| name.clone());
        let ca_file = self.resolver.optional_path(tls.ca_file.as_ref())?;
        let (warn_days, fail_days) = (
            self.resolver.value_or(tls.warn_days.as_ref(), 30)?,
            self.resolver.value_or(tls.fail_days.as_ref(), 7)?,
        );
        let port = self.resolver.value_or(tls.port.as_ref(), 443)?;
        if fail_days > warn_days {
            return Err(self.resolver.error(
                &tls.span,
                format!("fail_days ({fail_days}) is above warn_days ({warn_days})"),
            ));
        }
        let timeout = self
            .resolver
            .duration_or(tls.timeout.as_ref(), self.check_timeout)?;
        self.units.push(Unit {
            kind: "tls",
            needs: Vec::new(),
            aspects: vec![Aspect::new(
                format!("tls.{name}"),
                format!("tls {label}"),
                loc,
            )],
            timeout: timeout + Duration::from_secs(1),
            probe: Probe::Tls(TlsProbe {
                host,
                port,
                ca_file,
                warn_days,
                fail_days,
                timeout,
            }),
        });
        Ok(())
    }
}
