//! Reading every rule of a site: listing and reading pipelined, under one limiter and one
//! circuit breaker.
//!
//! The summary list is cursor-paged, so its pages can only come one after another: at 50 ms a
//! page, 2,000 rules are a full second of paging. Instead of listing first and reading after,
//! a task walks the pages and hands each one over as it arrives, while the caller's task
//! starts rule reads from what is listed so far. The listing is not held back by the reads on
//! purpose: cursors expire after about an hour, and summaries are small.
//!
//! Results are handed to the caller's callback on the caller's own task, one at a time, in
//! completion order, and dropped right after: memory holds the summaries and the reads in
//! flight, never all rule bodies. Every request shares the [`super::limiter`] (throttling
//! halves the concurrency) and the [`super::breaker`] (a dead site ends the run in bounded
//! time instead of each rule spending its own retry budget).
//!
//! A [`RuleRead`] holds a whole unredacted rule, credentials included, so its `Debug` output
//! names the rule and says how the read went, and never shows the body.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinSet};

use super::client::{AutomationClient, Pager, RuleSummary};
use super::error::FetchError;
use super::limiter::ConcurrencyStats;
use super::transport::Pacing;

/// One rule's read, as handed to the callback of [`AutomationClient::read_all_rules`].
pub struct RuleRead {
    /// The rule as listed (its name is what an error report shows).
    pub summary: RuleSummary,
    /// The envelope `{"rule": {...}, "connections": [...]}`, or why it could not be read.
    pub result: Result<Value, FetchError>,
    /// Rules listed so far. It grows while the listing runs, and is the total once the
    /// listing is complete: the length of a progress bar.
    pub listed: usize,
}

impl fmt::Debug for RuleRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("RuleRead");
        out.field("uuid", &self.summary.uuid)
            .field("name", &self.summary.name);
        match &self.result {
            // The size says a body came back; the body itself may hold tokens.
            Ok(envelope) => out.field("body_len", &envelope.to_string().len()),
            // Errors quote server text with known secrets masked (see `super::error`).
            Err(err) => out.field("error", err),
        };
        out.field("listed", &self.listed).finish()
    }
}

/// What a complete [`AutomationClient::read_all_rules`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    /// Rules listed, each handed over exactly once.
    pub listed: usize,
    /// Of those, how many were handed over with an error.
    pub failed: usize,
    /// What the adaptive limiter did.
    pub concurrency: ConcurrencyStats,
}

type PageResult = Result<Vec<RuleSummary>, FetchError>;
type Read = (RuleSummary, Result<Value, FetchError>);

impl AutomationClient {
    /// Lists every rule and reads each one (`GET rule/{uuid}`, unredacted), reading while the
    /// listing is still paging. `on_each` gets every listed rule exactly once, on the caller's
    /// task, as soon as its read ends; concurrency is bounded and adaptive, as in
    /// [`super::limiter`], and each read retries under the client's [`super::RetryPolicy`].
    ///
    /// A rule that cannot be read is handed over with its error and the run goes on. The run
    /// ends with `Err`, always *after* every read already started has been handed over:
    ///
    /// - when the listing fails (a 401/403 on the first page, a pagination loop, a foreign
    ///   next link...): the rules listed before that are still read and handed over, then the
    ///   listing's error is returned, since the list is incomplete;
    /// - on a 401 anywhere: no new request is sent (failed logins can lock the account); rules
    ///   not yet read are handed over with that error;
    /// - when the site stops answering ([`super::breaker`]): no new request is sent, reads
    ///   waiting to retry stop, and every rule not read is handed over with
    ///   [`FetchError::SiteUnavailable`], which is also returned.
    ///
    /// How long a dead site takes to end the run, with the default policy (8 attempts, 120 s,
    /// backoff ceilings 0.5 s doubling to 30 s, 30 s per attempt): if connections are refused,
    /// the first read in flight gives up after at most 61.5 s of backoff, which makes the
    /// breaker suspect; the other reads are woken and fail at their next attempt, so it opens
    /// within about a minute. If the site swallows requests without answering, every attempt
    /// waits out its 30 s time-out: the first read gives up within 150 s (no attempt starts
    /// after 120 s), the breaker needs two more single-attempt failures (parallel when two
    /// reads are in flight), so about 3 minutes, 3.5 at concurrency 1. Never hours.
    pub async fn read_all_rules<F>(&self, on_each: F) -> Result<ReadStats, FetchError>
    where
        F: FnMut(RuleRead),
    {
        let pacing = Arc::new(Pacing::new(self.inner.concurrency));
        let (pages_tx, pages) = mpsc::unbounded_channel();
        // A JoinSet aborts the listing if this future is dropped half-way.
        let mut listing = JoinSet::new();
        listing.spawn(list_into(self.clone(), Arc::clone(&pacing), pages_tx));
        let mut run = Run {
            client: self,
            pacing,
            on_each,
            listing,
            pages,
            listing_open: true,
            queue: VecDeque::new(),
            reads: JoinSet::new(),
            listed: 0,
            failed: 0,
            listing_error: None,
            stop: None,
        };
        run.drive().await;
        run.finish()
    }
}

/// Sends each page of summaries as it arrives; an error is the last message.
async fn list_into(
    client: AutomationClient,
    pacing: Arc<Pacing>,
    pages: mpsc::UnboundedSender<PageResult>,
) {
    let mut pager = Pager::new(&client);
    while let Some(page) = pager.next_page(&client, Some(&pacing)).await.transpose() {
        let failed = page.is_err();
        if pages.send(page).is_err() || failed {
            return;
        }
    }
}

/// The state of one [`AutomationClient::read_all_rules`].
struct Run<'c, F> {
    client: &'c AutomationClient,
    pacing: Arc<Pacing>,
    on_each: F,
    listing: JoinSet<()>,
    pages: mpsc::UnboundedReceiver<PageResult>,
    listing_open: bool,
    /// Listed, not yet started.
    queue: VecDeque<RuleSummary>,
    reads: JoinSet<Read>,
    listed: usize,
    failed: usize,
    listing_error: Option<FetchError>,
    /// Why no further read may start (a 401, or the breaker open).
    stop: Option<FetchError>,
}

impl<F: FnMut(RuleRead)> Run<'_, F> {
    async fn drive(&mut self) {
        loop {
            self.start_reads();
            tokio::select! {
                page = self.pages.recv(), if self.listing_open => self.take_page(page),
                joined = self.reads.join_next(), if !self.reads.is_empty() => {
                    self.take_read(joined);
                }
                else => break,
            }
        }
    }

    /// Fills the free slots from the queue, or, once stopped, hands the queue over unread.
    fn start_reads(&mut self) {
        if self.stop.is_none() && self.pacing.breaker.is_open() {
            self.stop = Some(self.pacing.breaker.unavailable());
        }
        if let Some(stop) = self.stop.clone() {
            self.end_listing();
            while let Some(summary) = self.queue.pop_front() {
                self.give(summary, Err(stop.clone()));
            }
            return;
        }
        while self.reads.len() < self.client.inner.concurrency {
            let Some(summary) = self.queue.pop_front() else {
                break;
            };
            let (client, pacing) = (self.client.clone(), Arc::clone(&self.pacing));
            self.reads.spawn(async move {
                let result = client.get_rule_limited(&summary.uuid, Some(&pacing)).await;
                (summary, result)
            });
        }
    }

    /// Stops paging, keeping the pages that already arrived (they are handed over unread).
    fn end_listing(&mut self) {
        if !self.listing_open {
            return;
        }
        self.listing.abort_all();
        self.listing_open = false;
        while let Ok(page) = self.pages.try_recv() {
            self.take_page(Some(page));
        }
    }

    fn take_page(&mut self, page: Option<PageResult>) {
        match page {
            None => self.listing_open = false,
            Some(Ok(summaries)) => {
                self.listed += summaries.len();
                self.queue.extend(summaries);
            }
            Some(Err(err)) => {
                self.note_stop(&err);
                self.listing_error.get_or_insert(err);
            }
        }
    }

    fn take_read(&mut self, joined: Option<Result<Read, JoinError>>) {
        match joined {
            Some(Ok((summary, result))) => {
                if let Err(err) = &result {
                    self.note_stop(err);
                }
                self.give(summary, result);
            }
            Some(Err(joined)) if joined.is_panic() => {
                std::panic::resume_unwind(joined.into_panic())
            }
            // Cancelled: only when the runtime shuts down.
            Some(Err(_)) | None => {}
        }
    }

    /// A 401 ends the run: every further request would be one more failed login.
    fn note_stop(&mut self, err: &FetchError) {
        if self.stop.is_none() && matches!(err, FetchError::Unauthorized { .. }) {
            self.stop = Some(err.clone());
        }
    }

    fn give(&mut self, summary: RuleSummary, result: Result<Value, FetchError>) {
        self.failed += usize::from(result.is_err());
        (self.on_each)(RuleRead {
            summary,
            result,
            listed: self.listed,
        });
    }

    fn finish(self) -> Result<ReadStats, FetchError> {
        match self.stop.or(self.listing_error) {
            Some(err) => Err(err),
            None => Ok(ReadStats {
                listed: self.listed,
                failed: self.failed,
                concurrency: self.pacing.limiter.stats(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read_of(result: Result<Value, FetchError>) -> RuleRead {
        RuleRead {
            summary: serde_json::from_value(json!({"uuid": "u-1", "name": "Notify"})).unwrap(),
            result,
            listed: 3,
        }
    }

    #[test]
    fn debug_output_names_the_rule_and_never_shows_its_body() {
        let token = format!("FAKE-{}", uuid::Uuid::new_v4());
        let envelope = json!({"rule": {"uuid": "u-1", "components": [
            {"type": "jira.issue.outgoing.webhook",
             "value": {"headers": [{"name": "Authorization", "value": format!("Basic {token}")}]}}
        ]}, "connections": []});
        let shown = format!("{:?}", read_of(Ok(envelope)));
        assert!(!shown.contains(&token), "{shown}");
        assert!(
            shown.contains("u-1") && shown.contains("body_len"),
            "{shown}"
        );

        let failed = format!("{:?}", read_of(Err(FetchError::Timeout)));
        assert!(
            failed.contains("u-1") && failed.contains("Timeout"),
            "{failed}"
        );
    }
}
