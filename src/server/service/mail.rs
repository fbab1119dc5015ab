//! The mail sender: delivers queued mail through the relay, off every request path. Each
//! instance claims due mail with a lease (so two never send the same mail at once, and a
//! mail whose sender died is sent again when the lease ends), retries with backoff, and gives
//! up when the mail's link has expired. With the built-in outbox there is nothing to send.

use std::sync::Weak;
use std::time::Duration;

use crate::store::mail;
use crate::time::now;

use super::Inner;

/// How long a claimed mail is left to its sender before another may try.
const LEASE_SECS: i64 = 60;
/// Between looks at the queue when nothing wakes the sender (mail queued by other instances).
const TICK: Duration = Duration::from_secs(1);
/// Retries wait 2, 4, 8 … seconds, at most this long.
const MAX_BACKOFF_SECS: i64 = 30;

pub(super) async fn deliver(inner: Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else { return };
        if strong.mailer.is_outbox() {
            return;
        }
        drain(&strong).await;
        tokio::select! {
            () = strong.mail_queued.notified() => {}
            () = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Send every due mail.
async fn drain(inner: &Inner) {
    loop {
        let now = now();
        let claimed = match mail::claim_due(&inner.db.pool, now, LEASE_SECS).await {
            Ok(Some(claimed)) => claimed,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "reading the mail queue failed");
                return;
            }
        };
        let outcome = inner.mailer.send(&claimed.recipient, &claimed.subject, &claimed.body).await;
        crate::meter::mail(if outcome.is_ok() { "delivered" } else { "failed" });
        let recorded = match &outcome {
            Ok(()) => {
                tracing::info!(mail_id = %claimed.id, attempts = claimed.attempts, "mail delivered");
                mail::delivered(&inner.db.pool, &claimed.id, now).await
            }
            Err(e) => {
                let backoff =
                    2_i64.saturating_pow(u32::try_from(claimed.attempts).unwrap_or(u32::MAX)).min(MAX_BACKOFF_SECS);
                tracing::warn!(mail_id = %claimed.id, attempts = claimed.attempts, retry_in = backoff, error = %e, "mail not delivered; will retry");
                mail::failed(&inner.db.pool, &claimed.id, now + backoff, e).await
            }
        };
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "recording a delivery failed; the lease will expire and the mail be retried");
        }
        if outcome.is_err() {
            // The relay is failing: leave the rest for the next tick rather than hammer it.
            return;
        }
    }
}
