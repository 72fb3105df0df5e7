//! The detect function's alert sink: each alert is enriched with its
//! principal's stored identity (and the events since the inventory refresh)
//! by [`okta_itdr_core::posture::enrich::enrich`], the code `replay --okta`
//! runs, then published.

use okta_itdr_core::alert::Alert;
use okta_itdr_core::ports::{ActivityStore, AlertSink, IdentityStore, SinkError};
use okta_itdr_core::posture::enrich::enrich;
use okta_itdr_core::time::Millis;

/// Enriches, then hands on to `sink`. Without a stored inventory (no Okta API
/// access) alerts pass unchanged; an enrichment that fails (the table
/// unreachable) publishes the alert as it is: enrichment never holds one back.
pub struct EnrichingSink<K, I, A> {
    pub sink: K,
    pub identities: I,
    pub activity: A,
    pub clock: fn() -> Millis,
}

impl<K: AlertSink, I: IdentityStore, A: ActivityStore> AlertSink for EnrichingSink<K, I, A> {
    async fn publish(&self, alert: &Alert) -> Result<(), SinkError> {
        let mut enriched = alert.clone();
        match enrich(
            &mut enriched,
            &self.identities,
            &self.activity,
            (self.clock)(),
        )
        .await
        {
            Ok(_) => self.sink.publish(&enriched).await,
            Err(e) => {
                tracing::warn!(uid = %alert.uid, error = %e, "publishing the alert without its identity enrichment");
                self.sink.publish(alert).await
            }
        }
    }
}
