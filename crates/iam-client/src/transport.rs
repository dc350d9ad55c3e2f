//! The HTTP client every flow of this crate uses: reqwest, no redirects, bounded bodies.
//! It also serves the `oauth2` and `openidconnect` crates through their `AsyncHttpClient`
//! trait, so the whole crate runs on one `reqwest::Client` that the user may supply.
use std::time::Duration;

/// Why an HTTP exchange failed. Never carries a request body (it may hold secrets).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// Connection, TLS or timeout failure.
    #[error("request failed: {0}")]
    Transport(&'static str),
    /// The response body is larger than allowed.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    /// The request could not be built.
    #[error("invalid request")]
    InvalidRequest,
}

/// A `reqwest::Client` with the limits this crate applies to every exchange.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    timeout: Duration,
    max_body: usize,
}

impl HttpClient {
    /// A client with a 5 s connect timeout, 10 s total, no redirects, 1 MiB bodies.
    pub fn new() -> Result<Self, HttpError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| HttpError::InvalidRequest)?;
        Ok(Self::with_client(client))
    }

    /// Use your own `reqwest::Client` (proxy, custom CA, mTLS). Configure it without
    /// redirects: a token endpoint that redirects must not receive the credentials again.
    pub fn with_client(client: reqwest::Client) -> Self {
        Self {
            client,
            timeout: Duration::from_secs(10),
            max_body: 1024 * 1024,
        }
    }

    /// The underlying client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Send one request and read the whole (bounded) response.
    pub async fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, HttpError> {
        let (parts, body) = request.into_parts();
        let url =
            reqwest::Url::parse(&parts.uri.to_string()).map_err(|_| HttpError::InvalidRequest)?;
        let mut res = self
            .client
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(transport)?;
        if res
            .content_length()
            .is_some_and(|l| l > self.max_body as u64)
        {
            return Err(HttpError::TooLarge(self.max_body));
        }
        let mut out = http::Response::builder().status(res.status());
        if let Some(h) = out.headers_mut() {
            *h = res.headers().clone();
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(HttpError::TooLarge(self.max_body));
            }
            body.extend_from_slice(&chunk);
        }
        out.body(body).map_err(|_| HttpError::InvalidRequest)
    }
}

fn transport(e: reqwest::Error) -> HttpError {
    HttpError::Transport(if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "http error"
    })
}

impl<'c> oauth2::AsyncHttpClient<'c> for HttpClient {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, HttpError>> + Send + 'c>,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(HttpClient::call(self, request))
    }
}
