//! The detect function's alert enrichment: each paging alert gets its
//! principal's stored identity (and the events since the inventory refresh)
//! from [`okta_itdr_core::posture::enrich::enrich`], the code `replay --okta`
//! runs, before it is claimed and published.

use std::future::Future;
use std::pin::Pin;

use okta_itdr_core::alert::Alert;
use okta_itdr_core::detect::Enricher;
use okta_itdr_core::ports::{ActivityStore, IdentityStore};
use okta_itdr_core::posture::enrich::enrich;
use okta_itdr_core::time::Millis;

/// Without a stored inventory (no Okta API access) alerts pass unchanged; an
/// enrichment that fails (the table unreachable) leaves the alert as
/// rendered, with a warning: enrichment never holds an alert back.
pub struct IdentityEnricher<I, A> {
    pub identities: I,
    pub activity: A,
    pub clock: fn() -> Millis,
}

impl<I: IdentityStore, A: ActivityStore> Enricher for IdentityEnricher<I, A> {
    fn enrich<'a>(&'a self, alert: &'a mut Alert) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            let mut enriched = alert.clone();
            match enrich(
                &mut enriched,
                &self.identities,
                &self.activity,
                (self.clock)(),
            )
            .await
            {
                Ok(true) => *alert = enriched,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(uid = %alert.uid, error = %e, "alert without its identity enrichment");
                }
            }
        })
    }
}
