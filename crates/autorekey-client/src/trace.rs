//! `-vv` request traces: one line per HTTP attempt (method, scheme, host and path, status or
//! failure, time).
//!
//! A line never holds a header, a body or a query string: headers carry the credentials,
//! bodies carry rules full of them, and a query can carry a cursor or, on a hostile link,
//! anything at all. The path alone says which endpoint and which rule, and it goes through
//! the transport's masker first: a rule id is the server's text and may be a token.
//!
//! "Nothing here prints" still holds for the fetch stage: the command layer installs a
//! sink (which writes through its `Ui`) once per process, and with none installed a request
//! goes out untouched. Kept out of `transport` so the transport keeps one call to
//! [`traced`] and no output concern.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Instant;

use reqwest::RequestBuilder;

type Sink = Box<dyn Fn(&str) + Send + Sync>;

static SINK: OnceLock<Sink> = OnceLock::new();

/// Send each trace line to `sink` from now on (the first call wins; later ones are
/// ignored, as a process has one verbosity).
pub fn install_request_trace(sink: impl Fn(&str) + Send + Sync + 'static) {
    let _ = SINK.set(Box::new(sink));
}

/// Run `send` on `request`, tracing it when a sink is installed. `status` reads the HTTP
/// status from a successful answer; `clean` masks the path, which holds ids the server
/// chose (a rule id may be a token).
pub(crate) async fn traced<T, F, Fut>(
    request: RequestBuilder,
    send: F,
    status: impl Fn(&T) -> u16,
    clean: impl Fn(&str) -> String,
) -> Result<T, reqwest::Error>
where
    F: FnOnce(RequestBuilder) -> Fut,
    Fut: Future<Output = Result<T, reqwest::Error>>,
{
    let Some(sink) = SINK.get() else {
        return send(request).await;
    };
    let (client, built) = request.build_split();
    let built = built?;
    // The host says which of the site, the gateway or Atlassian's identity service was
    // asked; it is the configured or Atlassian's own, never the server's text.
    let url = built.url();
    let what = format!(
        "{} {}{}",
        built.method(),
        url.origin().ascii_serialization(),
        clean(url.path())
    );
    let started = Instant::now();
    let result = send(RequestBuilder::from_parts(client, built)).await;
    sink(&line(
        &what,
        result.as_ref().map(&status),
        started.elapsed(),
    ));
    result
}

fn line(what: &str, outcome: Result<u16, &reqwest::Error>, took: std::time::Duration) -> String {
    let outcome = match outcome {
        Ok(status) => status.to_string(),
        // The error's own text names the URL, query included: only its kind is shown.
        Err(e) if e.is_timeout() => "timed out".into(),
        Err(e) if e.is_connect() => "connection failed".into(),
        Err(e) if e.is_body() || e.is_decode() => "answer cut off".into(),
        Err(_) => "no answer".into(),
    };
    format!("-> {what} {outcome} {} ms", took.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_method_path_status_and_time() {
        let took = std::time::Duration::from_millis(42);
        assert_eq!(
            line(
                "GET https://acme.atlassian.net/rest/v1/rule/u1",
                Ok(200),
                took
            ),
            "-> GET https://acme.atlassian.net/rest/v1/rule/u1 200 42 ms"
        );
    }
}
