//! Reading every rule of a site: listing and reading pipelined, under the client's limiter
//! and pacer and one circuit breaker.
//!
//! The rule list is taken twice, because the live API has been measured to skip and repeat
//! rules between the pages of one listing: `GET rule/summary` and the search
//! (`POST rule/summary`, once per state). The listings run side by side, each rule is read
//! once (the union by uuid), and [`ReadStats::listing`] says whether they agreed: a verdict
//! such as "the old token may be revoked" is only given over a list known to be complete.
//!
//! Two listings at one page size that agree are weak evidence: a site whose pages shift at
//! a boundary shifts them the same way in both forms, and both skip the same rule. So the
//! search is read again at other page sizes ([`REREAD_LIMITS`]), where the boundaries fall
//! elsewhere, and the list counts as complete only once two clean reads (no repeat, no
//! failure) at different page sizes each show every rule any read showed. At most
//! [`REREAD_LIMITS`]`.len()` extra reads, so a site that never settles costs a bounded number
//! of requests and ends as "incomplete".
//!
//! The summary list is cursor-paged, so its pages can only come one after another: at 50 ms a
//! page, 2,000 rules are a full second of paging. Instead of listing first and reading after,
//! a task walks the pages and hands each one over as it arrives, while the caller's task
//! starts rule reads from what is listed so far. The listing is not held back by the reads on
//! purpose: cursors expire after about an hour, and summaries are small.
//!
//! Results are handed to the caller's callback on the caller's own task, one at a time, in
//! completion order, and dropped right after: memory holds the summaries and the reads in
//! flight, never all rule bodies. Every request shares the client's [`super::limiter`]
//! (throttling halves the concurrency) and [`super::pacer`] (a learned rate limit spreads
//! requests out), and this read's [`super::breaker`] (a dead site ends the run in bounded
//! time instead of each rule spending its own retry budget).
//!
//! A [`RuleRead`] holds a whole unredacted rule, credentials included, so its `Debug` output
//! names the rule and says how the read went, and never shows the body.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinSet};

use std::collections::HashSet;

use super::breaker::CircuitBreaker;
use super::client::{AutomationClient, ListingForm, Pager, RuleSummary, PAGE_LIMIT, SEARCH_STATES};
use super::error::FetchError;
use super::limiter::ConcurrencyStats;
use super::pacer::PaceStats;
use crate::rule::Rule;
use crate::words::count;

/// One rule's read, as handed to the callback of [`AutomationClient::read_all_rules`].
pub struct RuleRead {
    /// The rule as listed (its name is what an error report shows).
    pub summary: RuleSummary,
    /// The rule as read, or why it could not be read.
    pub result: Result<Rule, FetchError>,
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
            Ok(rule) => out.field("body_len", &rule.body().to_string().len()),
            // Errors quote server text with known secrets masked (see `super::error`).
            Err(err) => out.field("error", err),
        };
        out.field("listed", &self.listed).finish()
    }
}

/// What a complete [`AutomationClient::read_all_rules`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadStats {
    /// Rules listed (the union of both listings), each handed over exactly once.
    pub listed: usize,
    /// Of those, how many were handed over with an error.
    pub failed: usize,
    /// What the adaptive limiter did (over the client's life so far).
    pub concurrency: ConcurrencyStats,
    /// What the rate pacer learned and did (over the client's life so far).
    pub pacing: PaceStats,
    /// Whether both listings showed the same rules, and if not, how they differed.
    pub listing: ListingCheck,
}

impl ReadStats {
    /// True when both listings finished and showed the same rules: only then may a verdict
    /// rest on "every rule was read".
    pub fn list_complete(&self) -> bool {
        self.listing.complete()
    }
}

/// How the two listings compared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListingCheck {
    /// Rules only `GET rule/summary` showed (rules in a state the search does not cover
    /// are not counted: the search cannot show them).
    pub only_get: usize,
    /// Rules only the search showed.
    pub only_search: usize,
    /// Rules a listing showed again on a later page (dropped, each read once).
    pub repeated: usize,
    /// Why the search could not be finished, if it was not.
    pub search_failed: Option<String>,
    /// How many times the search was read again at another page size.
    pub rereads: usize,
    /// Two clean reads at different page sizes showed every rule any read showed (or, when
    /// the client lists once, that one listing repeated nothing).
    pub confirmed: bool,
}

impl ListingCheck {
    /// Two reads at different page sizes agreed and repeated nothing: a listing that shows
    /// a rule twice moved under its cursor, and may have skipped another one no read showed.
    pub fn complete(&self) -> bool {
        self.confirmed && self.search_failed.is_none()
    }

    /// For `-v`: how many reads it took to confirm the list.
    pub fn note(&self) -> Option<String> {
        (self.complete() && self.rereads > 0).then(|| {
            format!(
                "rule list: confirmed by {} of the search at other page sizes",
                count(self.rereads, "read", "reads")
            )
        })
    }

    /// One line for the admin when the list could not be confirmed; `None` when it was.
    pub fn warning(&self) -> Option<String> {
        if self.complete() {
            return None;
        }
        let again = match self.rereads {
            0 => String::new(),
            n => format!(
                " (read again {} at other page sizes: no two reads at different page sizes \
                 agreed)",
                count(n, "time", "times")
            ),
        };
        self.first_difference().map(|w| format!("{w}{again}"))
    }

    fn first_difference(&self) -> Option<String> {
        if let Some(why) = &self.search_failed {
            return Some(format!(
                "the rule list could not be checked against a second listing ({why}); \
                 rules the site skipped between pages would not have been read"
            ));
        }
        let only_one = self.only_get + self.only_search;
        if only_one == 0 && self.repeated > 0 {
            return Some(format!(
                "the site's rule listing showed {} twice, a sign that its pages moved while \
                 it was read; every rule listed was read, but the list may still be \
                 incomplete: run again to check",
                count(self.repeated, "rule", "rules")
            ));
        }
        if only_one == 0 {
            return Some(
                "the site's two rule listings agreed, but a read at another page size showed \
                 a different list; every rule any read showed was read, but the list may \
                 still be incomplete: run again to check"
                    .into(),
            );
        }
        Some(format!(
            "the site's two rule listings differed: {} in only one ({} only in GET \
             rule/summary, {} only in the search), {} repeated; every rule either showed was \
             read, but the list may still be incomplete: run again to check",
            count(only_one, "rule showed", "rules showed"),
            self.only_get,
            self.only_search,
            self.repeated
        ))
    }
}

/// Page sizes of the search's re-reads, in order: none divides another or 100, so their
/// page boundaries fall on other rules than the first read's.
pub const REREAD_LIMITS: [u32; 3] = [61, 37, 83];

/// What a listing task sends, tagged with its read (an index into `Compare::reads`): pages
/// as they come, then how it ended.
enum Listed {
    Page(usize, ListingForm, Vec<RuleSummary>),
    Failed(usize, ListingForm, FetchError),
    /// The listing reached its last page, having dropped this many repeats, with the
    /// sizes of its pages but the last.
    Done(usize, usize, std::collections::BTreeSet<usize>),
}
type Read = (RuleSummary, Result<Rule, FetchError>);

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
        let breaker = Arc::new(CircuitBreaker::default());
        let (pages_tx, pages) = mpsc::unbounded_channel();
        let mut run = Run {
            client: self,
            breaker,
            on_each,
            // A JoinSet aborts the listings if this future is dropped half-way.
            listing: JoinSet::new(),
            pages,
            tx: Some(pages_tx),
            open_listings: 0,
            listing_open: true,
            queue: VecDeque::new(),
            reads: JoinSet::new(),
            listed: 0,
            failed: 0,
            listing_error: None,
            stop: None,
            queued: HashSet::new(),
            compare: Compare::default(),
            // The search starts once the first page came back: a refused login is then one
            // failed request, not three (failed logins can lock the account).
            search_pending: self.inner.list_twice,
        };
        run.start_read(ListingForm::Get, PAGE_LIMIT);
        run.drive().await;
        run.finish()
    }
}

/// Sends each page of summaries as it arrives, then how the listing ended.
async fn list_into(
    client: AutomationClient,
    breaker: Arc<CircuitBreaker>,
    (read, form, limit): (usize, ListingForm, u32),
    pages: mpsc::UnboundedSender<Listed>,
) {
    let mut pager = Pager::sized(&client, form, limit);
    loop {
        let message = match pager.next_page(&client, Some(&breaker)).await {
            Ok(Some(page)) => Listed::Page(read, form, page),
            Ok(None) => Listed::Done(read, pager.repeated, pager.full_pages.clone()),
            Err(err) => Listed::Failed(read, form, err),
        };
        let last = !matches!(message, Listed::Page(..));
        if pages.send(message).is_err() || last {
            return;
        }
    }
}

/// What went wrong, without any text the server sent: the search's failure is only a
/// warning, and a hostile server's error text may echo secrets the client does not yet
/// know to mask (the rules' own credentials, read later).
fn brief(err: &FetchError) -> String {
    match err {
        FetchError::Unauthorized { .. } => "authentication failed (401)".into(),
        FetchError::Forbidden { .. } => "access denied (403)".into(),
        FetchError::NotFound { .. } => "not found (404)".into(),
        FetchError::BadRequest { status, .. } => format!("request rejected ({status})"),
        FetchError::RateLimited { .. }
        | FetchError::Server { .. }
        | FetchError::Timeout
        | FetchError::ResponseTooLarge { .. } => err.to_string(),
        FetchError::Network(_) => "a network error".into(),
        _ => "an unexpected answer".into(),
    }
}

/// One read of the rule list: the GET listing, or the search over every state, at one
/// page size.
#[derive(Default)]
struct ListRead {
    form_is_get: bool,
    limit: u32,
    /// The sizes of its pages but the last (see `Pager::full_pages`).
    full_pages: std::collections::BTreeSet<usize>,
    seen: HashSet<String>,
    repeated: usize,
    failed: bool,
    /// Listings of this read still paging (the search has one per state).
    open: usize,
}

impl ListRead {
    fn clean(&self) -> bool {
        !self.failed && self.repeated == 0 && self.open == 0
    }

    /// The page size this read really had: one page for everything (no boundary to skip
    /// at: the size asked for tells reads apart), or every full page the same size. Pages
    /// of several sizes: `None`, no evidence.
    fn page_size(&self) -> Option<(bool, usize)> {
        let mut sizes = self.full_pages.iter();
        match (sizes.next(), sizes.next()) {
            (None, _) => Some((true, self.limit as usize)),
            (Some(n), None) => Some((false, *n)),
            _ => None,
        }
    }
}

/// What each read showed, to compare them.
#[derive(Default)]
struct Compare {
    /// Read 0 is the GET listing, read 1 the first search, then the re-reads.
    reads: Vec<ListRead>,
    /// Listed by GET in a state the search does not cover.
    odd_state: HashSet<String>,
    search_failed: Option<String>,
    /// The search was started (it is not when the client is told to list once).
    searched: bool,
}

impl Compare {
    fn note(&mut self, read: usize, summary: &RuleSummary) {
        if self.reads[read].form_is_get && !SEARCH_STATES.contains(&summary.state.as_str()) {
            self.odd_state.insert(summary.uuid.clone());
        }
        self.reads[read].seen.insert(summary.uuid.clone());
    }

    /// The rules a read showed that the search can show.
    fn searchable<'a>(&'a self, read: &'a ListRead) -> impl Iterator<Item = &'a String> {
        read.seen.iter().filter(|u| !self.odd_state.contains(*u))
    }

    /// Two clean reads at different page sizes, as the server really paged them, each
    /// showed every rule any read showed.
    fn agreed(&self) -> bool {
        let all: HashSet<&String> = self.reads.iter().flat_map(|r| self.searchable(r)).collect();
        let mut full = self
            .reads
            .iter()
            .filter(|r| r.clean() && self.searchable(r).count() == all.len())
            .filter_map(ListRead::page_size);
        let first = full.next();
        full.any(|size| Some(size) != first)
    }

    fn check(&self) -> ListingCheck {
        let (get, search) = (self.reads.first(), self.reads.get(1));
        let repeated = get.map_or(0, |r| r.repeated) + search.map_or(0, |r| r.repeated);
        let (Some(get), Some(search), true) = (get, search, self.searched) else {
            return ListingCheck {
                repeated,
                confirmed: repeated == 0,
                ..ListingCheck::default()
            };
        };
        ListingCheck {
            only_get: self
                .searchable(get)
                .filter(|u| !search.seen.contains(*u))
                .count(),
            only_search: search.seen.difference(&get.seen).count(),
            repeated,
            search_failed: self.search_failed.clone(),
            rereads: self.reads.len() - 2,
            confirmed: self.agreed(),
        }
    }
}

/// The state of one [`AutomationClient::read_all_rules`].
struct Run<'c, F> {
    client: &'c AutomationClient,
    breaker: Arc<CircuitBreaker>,
    on_each: F,
    listing: JoinSet<()>,
    pages: mpsc::UnboundedReceiver<Listed>,
    /// Kept while another read may start; dropped when the listing ends.
    tx: Option<mpsc::UnboundedSender<Listed>>,
    /// Listing tasks still paging, over every read.
    open_listings: usize,
    listing_open: bool,
    /// Listed, not yet started.
    queue: VecDeque<RuleSummary>,
    reads: JoinSet<Read>,
    listed: usize,
    failed: usize,
    listing_error: Option<FetchError>,
    /// Why no further read may start (a 401, or the breaker open).
    stop: Option<FetchError>,
    /// Every uuid either listing showed: each is read once.
    queued: HashSet<String>,
    compare: Compare,
    /// The first search is still to start (after the first GET page).
    search_pending: bool,
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
        if self.stop.is_none() && self.breaker.is_open() {
            self.stop = Some(self.breaker.unavailable());
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
            let (client, breaker) = (self.client.clone(), Arc::clone(&self.breaker));
            self.reads.spawn(async move {
                let result = client.get_rule_limited(&summary.uuid, Some(&breaker)).await;
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
        self.tx = None;
        while let Ok(page) = self.pages.try_recv() {
            self.take_page(Some(page));
        }
    }

    fn take_page(&mut self, page: Option<Listed>) {
        match page {
            None => self.listing_open = false,
            Some(Listed::Page(read, form, summaries)) => {
                if form == ListingForm::Get {
                    self.start_search();
                }
                for summary in summaries {
                    self.compare.note(read, &summary);
                    if self.queued.insert(summary.uuid.clone()) {
                        self.listed += 1;
                        self.queue.push_back(summary);
                    }
                }
            }
            Some(Listed::Done(read, repeated, full_pages)) => {
                self.compare.reads[read].repeated += repeated;
                self.compare.reads[read].full_pages.extend(full_pages);
                self.listing_ended(read);
            }
            // The GET listing is the one every run has relied on: without it the list is
            // incomplete and the run fails, as before.
            Some(Listed::Failed(read, ListingForm::Get, err)) => {
                self.search_pending = false;
                self.note_stop(&err);
                self.listing_error.get_or_insert(err);
                self.compare.reads[read].failed = true;
                self.listing_ended(read);
            }
            // The search only checks the GET listing: its failure (an older site without
            // it, say) makes the list unconfirmed, not the run failed. A re-read's failure
            // only leaves that read out of the comparison.
            Some(Listed::Failed(read, ListingForm::Search(state), err)) => {
                self.note_stop(&err);
                if read == 1 {
                    self.compare.search_failed.get_or_insert_with(|| {
                        format!("the search by state {state}: {}", brief(&err))
                    });
                }
                self.compare.reads[read].failed = true;
                self.listing_ended(read);
            }
        }
    }

    /// Starts one read of the list: one listing task per form (the search: per state).
    fn start_read(&mut self, form: ListingForm, limit: u32) {
        let Some(tx) = self.tx.clone() else {
            return;
        };
        let forms: Vec<ListingForm> = match form {
            ListingForm::Get => vec![form],
            ListingForm::Search(_) => SEARCH_STATES.map(ListingForm::Search).to_vec(),
        };
        let read = self.compare.reads.len();
        self.compare.reads.push(ListRead {
            form_is_get: form == ListingForm::Get,
            limit,
            open: forms.len(),
            ..ListRead::default()
        });
        self.open_listings += forms.len();
        for form in forms {
            let (client, breaker) = (self.client.clone(), Arc::clone(&self.breaker));
            self.listing
                .spawn(list_into(client, breaker, (read, form, limit), tx.clone()));
        }
    }

    /// Starts the search listings, once, unless the run is stopping.
    fn start_search(&mut self) {
        if !std::mem::take(&mut self.search_pending) || self.stop.is_some() || !self.listing_open {
            return;
        }
        self.start_read(ListingForm::Search(SEARCH_STATES[0]), PAGE_LIMIT);
        self.compare.searched = true;
    }

    /// Once every listing has ended: reads the search again at the next page size while
    /// the reads so far do not confirm the list, else ends the listing.
    fn listing_ended(&mut self, read: usize) {
        self.compare.reads[read].open -= 1;
        self.open_listings -= 1;
        if self.open_listings > 0 {
            return;
        }
        let rereads = self.compare.reads.len().saturating_sub(2);
        let next = REREAD_LIMITS.get(rereads).copied().filter(|_| {
            self.compare.searched
                && self.compare.search_failed.is_none()
                && self.stop.is_none()
                && !self.breaker.is_open()
                && self.listing_error.is_none()
                && !self.compare.agreed()
        });
        match next {
            Some(limit) => self.start_read(ListingForm::Search(SEARCH_STATES[0]), limit),
            None => {
                self.listing_open = false;
                self.tx = None;
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

    fn give(&mut self, summary: RuleSummary, result: Result<Rule, FetchError>) {
        self.failed += usize::from(result.is_err());
        // The tokens of a rule read are secrets from now on: no later server text (another
        // rule's failed read, a write's error) may quote them. Errors handed over before
        // this rule was read are the caller's to clean once the read is over.
        if let Ok(rule) = &result {
            self.client
                .also_mask(&crate::detect::masking_forms(&[rule.body()]));
        }
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
                concurrency: self.client.concurrency_stats(),
                pacing: self.client.pace_stats(),
                listing: self.compare.check(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read_of(result: Result<Rule, FetchError>) -> RuleRead {
        RuleRead {
            summary: serde_json::from_value(json!({"uuid": "u-1", "name": "Notify"})).unwrap(),
            result,
            listed: 3,
        }
    }

    fn list_read(get: bool, limit: u32, uuids: &[&str], repeated: usize) -> ListRead {
        ListRead {
            form_is_get: get,
            limit,
            full_pages: Default::default(),
            seen: uuids.iter().map(|u| u.to_string()).collect(),
            repeated,
            failed: false,
            open: 0,
        }
    }

    fn compare(reads: Vec<ListRead>) -> Compare {
        Compare {
            reads,
            searched: true,
            ..Compare::default()
        }
    }

    #[test]
    fn two_reads_agree_only_at_different_page_sizes_and_showing_every_rule() {
        // GET and the search at 100 a page drift the same way: no evidence.
        let same = compare(vec![
            list_read(true, 100, &["a", "b"], 0),
            list_read(false, 100, &["a", "b"], 0),
        ]);
        assert!(!same.agreed());
        assert!(!same.check().complete());
        // A re-read at another size that shows what they did confirms it.
        let mut confirmed = same;
        confirmed.reads.push(list_read(false, 61, &["a", "b"], 0));
        assert!(confirmed.agreed());
        let check = confirmed.check();
        assert!(check.complete() && check.warning().is_none(), "{check:?}");
        assert_eq!(check.rereads, 1);
        // One that shows a rule both missed: the two at 100 no longer show every rule.
        let mut found = compare(vec![
            list_read(true, 100, &["a", "b"], 0),
            list_read(false, 100, &["a", "b"], 0),
            list_read(false, 61, &["a", "b", "c"], 0),
        ]);
        assert!(!found.agreed());
        let warning = found.check().warning().unwrap();
        assert!(
            warning.contains("agreed, but a read at another page size"),
            "{warning}"
        );
        found.reads.push(list_read(false, 37, &["a", "b", "c"], 0));
        assert!(found.agreed());
        // A read that repeated a rule is no evidence, even if it shows every rule.
        let repeating = compare(vec![
            list_read(true, 100, &["a", "b"], 1),
            list_read(false, 61, &["a", "b"], 0),
        ]);
        assert!(!repeating.agreed());
    }

    #[test]
    fn debug_output_names_the_rule_and_never_shows_its_body() {
        let token = format!("FAKE-{}", uuid::Uuid::new_v4());
        let envelope = json!({"rule": {"uuid": "u-1", "components": [
            {"type": "jira.issue.outgoing.webhook",
             "value": {"headers": [{"name": "Authorization", "value": format!("Basic {token}")}]}}
        ]}, "connections": []});
        let rule = crate::rule::Rule::from_envelope(envelope).unwrap();
        let shown = format!("{:?}", read_of(Ok(rule)));
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
