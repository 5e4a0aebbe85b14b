//! The S3 backend: [`MarketSource`] over object_store's `AmazonS3`, with
//! credentials and region from the AWS chains of [`crate::credentials`] and
//! S3 error codes turned into advice.

use std::fmt::{Debug, Display};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use object_store::aws::{AmazonS3Builder, Checksum};
use object_store::{BackoffConfig, ClientOptions, RetryConfig};

use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::credentials::{ChainLimits, CredentialInputs, CredentialReport, resolve};
use crate::s3_requests::{Hasher, ObjectChecksum, PART_SIZE, Reach, S3Requests};
use crate::source::{ByteStream, Fetched, GetOptions, ObjectInfo, PutOptions, PutReceipt};
use crate::{Error, MarketSource, ObjectStoreSource, Result};

/// Builds an [`S3Source`], like object_store's `AmazonS3Builder`.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use nasdaq_storage::{CredentialInputs, S3SourceBuilder};
///
/// let source = S3SourceBuilder::new("prices")
///     .with_region("eu-west-1")
///     .with_credentials(CredentialInputs::anonymous())
///     .build()
///     .await
///     .unwrap();
/// assert_eq!(source.to_string(), "s3://prices");
/// assert_eq!(source.credentials().provider, "anonymous (unsigned requests)");
/// assert_eq!(source.region(), "eu-west-1");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct S3SourceBuilder {
    bucket: String,
    region: Option<String>,
    endpoint: Option<String>,
    allow_http: bool,
    credentials: CredentialInputs,
    max_retries: usize,
    retry_timeout: Duration,
    backoff: Duration,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl S3SourceBuilder {
    /// A builder for `bucket`, with default retries and timeouts. Its
    /// region is the one given to [`Self::with_region`], else what the AWS
    /// region chain finds (`AWS_REGION`, the profile's `region`), else `us-east-1`.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            region: None,
            endpoint: None,
            allow_http: false,
            credentials: CredentialInputs::default(),
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
            backoff: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
        }
    }

    /// A builder from the process environment, as AWS tools read it: the
    /// bucket from `AWS_S3_BUCKET_NAME` (or `AWS_BUCKET`), `AWS_ENDPOINT_URL`,
    /// `AWS_ALLOW_HTTP`, and the chains' variables (see
    /// [`CredentialInputs::from_env`]; the region chain reads `AWS_REGION`).
    ///
    /// ```
    /// // SAFETY (test only): no other thread reads the environment here.
    /// unsafe { std::env::set_var("AWS_S3_BUCKET_NAME", "prices") };
    /// let builder = nasdaq_storage::S3SourceBuilder::from_env();
    /// assert!(format!("{builder:?}").contains("prices"));
    /// ```
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let bucket = var("AWS_S3_BUCKET_NAME")
            .or_else(|| var("AWS_BUCKET"))
            .unwrap_or_default();
        Self::new(bucket)
            .with_endpoint(var("AWS_ENDPOINT_URL"))
            .with_allow_http(var("AWS_ALLOW_HTTP").is_some_and(|v| v.eq_ignore_ascii_case("true")))
            .with_credentials(CredentialInputs::from_env())
    }

    /// The bucket's region, overriding the region chain.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into()).filter(|r| !r.is_empty());
        self
    }

    /// An S3-compatible endpoint (MinIO, Ceph, moto), addressed path-style.
    pub fn with_endpoint(mut self, endpoint: Option<String>) -> Self {
        self.endpoint = endpoint.filter(|e| !e.is_empty());
        self
    }

    /// Allow a plain-http endpoint.
    pub fn with_allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// What the credential chain may draw on.
    pub fn with_credentials(mut self, inputs: CredentialInputs) -> Self {
        self.credentials = inputs;
        self
    }

    /// Retries of a failed request, and how long to keep retrying.
    pub fn with_retries(
        mut self,
        max_retries: usize,
        retry_timeout: Duration,
        backoff: Duration,
    ) -> Self {
        self.max_retries = max_retries;
        self.retry_timeout = retry_timeout;
        self.backoff = backoff;
        self
    }

    /// Time allowed to connect, and for one whole request.
    pub fn with_timeouts(mut self, connect: Duration, request: Duration) -> Self {
        self.connect_timeout = connect;
        self.request_timeout = request;
        self
    }

    /// The region given, if any (else the region chain decides at [`Self::build`]).
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// Whether a plain-http endpoint is allowed.
    pub fn allow_http(&self) -> bool {
        self.allow_http
    }

    /// Retries of a failed request.
    pub fn max_retries(&self) -> usize {
        self.max_retries
    }

    /// How long to keep retrying.
    pub fn retry_timeout(&self) -> Duration {
        self.retry_timeout
    }

    /// The first backoff between retries.
    pub fn backoff(&self) -> Duration {
        self.backoff
    }

    /// Time allowed to connect.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Time allowed for one whole request.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The endpoint requests go to, for messages (with the region given, or
    /// `{region}` when the region chain is still to decide).
    pub fn endpoint(&self) -> String {
        endpoint_for(
            self.endpoint.as_deref(),
            self.region.as_deref().unwrap_or("{region}"),
        )
    }

    /// Resolves region and credentials and builds the source. Fails fast,
    /// listing what was tried, when no credentials exist.
    pub async fn build(self) -> Result<S3Source> {
        if self.bucket.is_empty() {
            return Err(Error::Config {
                message: "no bucket: give s3://BUCKET/KEY or set AWS_S3_BUCKET_NAME".to_owned(),
            });
        }
        if let Some(endpoint) = &self.endpoint {
            let parsed = url::Url::parse(endpoint).map_err(|err| Error::Config {
                message: format!(
                    "AWS_ENDPOINT_URL {:?} is not a URL ({err}): write e.g. https://s3.example.com or http://127.0.0.1:9000",
                    crate::redact_url(endpoint)
                ),
            })?;
            if parsed.scheme() == "http" && !self.allow_http {
                return Err(Error::PlainHttp {
                    endpoint: crate::redact_url(endpoint),
                });
            }
        }
        let limits = ChainLimits {
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            max_retries: self.max_retries,
        };
        let resolved = resolve(&self.credentials, self.region.as_deref(), limits).await?;
        let region = resolved.region;
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: self.backoff,
                max_backoff: Duration::from_secs(15).max(self.backoff),
                base: 2.0,
            },
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        };
        // With x-amz-checksum-sha256 (object_store sends it on every put),
        // the header AWS's SDKs send to name the algorithm; S3-compatible
        // servers such as moto store the checksum only when it is there.
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "x-amz-sdk-checksum-algorithm",
            reqwest::header::HeaderValue::from_static("SHA256"),
        );
        let client = ClientOptions::new()
            .with_default_headers(headers)
            .with_allow_http(self.allow_http)
            .with_connect_timeout(self.connect_timeout)
            .with_timeout(self.request_timeout);
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(&region)
            .with_allow_http(self.allow_http)
            .with_retry(retry)
            .with_client_options(client)
            // S3's own SHA-256 of every object and part we upload.
            .with_checksum_algorithm(Checksum::SHA256);
        if let Some(endpoint) = &self.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        builder = match &resolved.credentials {
            Some(credentials) => builder.with_credentials(Arc::clone(credentials) as _),
            None => builder.with_skip_signature(true),
        };
        let store = builder.build().map_err(|err| Error::Config {
            message: format!("s3://{}: {}", self.bucket, crate::error::error_chain(&err)),
        })?;
        let requests = S3Requests::new(
            Reach {
                bucket: &self.bucket,
                region: &region,
                endpoint: self.endpoint.as_deref(),
                connect_timeout: self.connect_timeout,
                request_timeout: self.request_timeout,
                max_retries: self.max_retries,
                backoff: self.backoff,
            },
            resolved.credentials.clone(),
        )?;
        Ok(S3Source {
            inner: ObjectStoreSource::new(Arc::new(store), format!("s3://{}", self.bucket)),
            bucket: self.bucket.clone(),
            endpoint: endpoint_for(self.endpoint.as_deref(), &region),
            region,
            credentials: resolved.report,
            requests,
        })
    }
}

/// An S3 bucket as a [`MarketSource`].
#[derive(Clone)]
pub struct S3Source {
    inner: ObjectStoreSource,
    // Kept for Debug output: which bucket, region and endpoint a source talks to.
    bucket: String,
    region: String,
    endpoint: String,
    credentials: CredentialReport,
    /// The requests object_store cannot make.
    requests: S3Requests,
}

impl S3Source {
    /// Which provider supplied the credentials (never the secret).
    pub fn credentials(&self) -> &CredentialReport {
        &self.credentials
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Uploads the file at `path` as `key`, streamed in parts (memory is a
    /// few parts, whatever the file's size), each with S3's own SHA-256
    /// checksum. `sha256` is the file's SHA-256 (hex), computed beforehand:
    /// if the bytes read differ (the file changed meanwhile) nothing is
    /// stored. With `options.create_only` the upload completes only if no
    /// object is at the key by then ([`Error::AlreadyExists`] otherwise).
    /// An interrupted or failed upload stores nothing and aborts its
    /// multipart upload.
    pub async fn upload_file(
        &self,
        key: &str,
        path: &Path,
        sha256: &str,
        options: PutOptions,
    ) -> Result<PutReceipt> {
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let size = tokio::fs::metadata(path).await.map_err(io)?.len();
        if size <= PART_SIZE as u64 {
            let body = tokio::fs::read(path).await.map_err(io)?;
            check_unchanged(path, sha256, &hex::encode(Sha256::digest(&body)))?;
            return self.inner.put(key, body.into(), options).await;
        }
        self.requests
            .upload_file(key, path, sha256, &options.metadata, options.create_only)
            .await
    }
}

/// The bytes sent must be the bytes hashed.
pub(crate) fn check_unchanged(path: &Path, expected: &str, actual: &str) -> Result<()> {
    if expected == actual {
        return Ok(());
    }
    Err(Error::Io {
        path: path.display().to_string(),
        source: std::io::Error::other(
            "the file changed while it was uploaded (its SHA-256 differs from the one computed first): nothing was stored; upload it again",
        ),
    })
}

/// `stream`, ending in an error if its bytes do not give `checksum`.
fn verified(stream: ByteStream, checksum: ObjectChecksum, uri: String) -> ByteStream {
    let hasher = Some(Hasher::new(checksum.algorithm));
    futures::stream::unfold(
        (stream, hasher, checksum, uri),
        |(mut stream, mut hasher, checksum, uri)| async move {
            match stream.next().await {
                Some(Ok(chunk)) => {
                    if let Some(hasher) = hasher.as_mut() {
                        hasher.update(&chunk);
                    }
                    Some((Ok(chunk), (stream, hasher, checksum, uri)))
                }
                Some(Err(err)) => Some((Err(err), (stream, None, checksum, uri))),
                None => {
                    let actual = hasher.take()?.finish();
                    if actual == checksum.value {
                        return None;
                    }
                    let err = Error::ServerChecksum {
                        uri: uri.clone(),
                        algorithm: checksum.algorithm.name(),
                        expected: checksum.value.clone(),
                        actual,
                    };
                    Some((Err(err), (stream, None, checksum, uri)))
                }
            }
        },
    )
    .boxed()
}

/// S3's endpoint for `region`, unless another is configured.
fn endpoint_for(endpoint: Option<&str>, region: &str) -> String {
    endpoint.map_or_else(
        || format!("https://s3.{region}.amazonaws.com"),
        str::to_owned,
    )
}

impl Display for S3Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Display::fmt(&self.inner, f)
    }
}

impl Debug for S3Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Source")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &crate::redact_url(&self.endpoint))
            .field("credentials", &self.credentials.provider)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl MarketSource for S3Source {
    fn uri(&self, key: &str) -> String {
        self.inner.uri(key)
    }

    /// Reads the object; a whole-object read is checked against S3's own
    /// full-object checksum when the object has one (the stream ends in
    /// [`Error::ServerChecksum`] if the bytes differ).
    async fn get(&self, key: &str, mut options: GetOptions) -> Result<Fetched> {
        if options.range.is_some() || options.if_none_match.is_some() {
            return self.inner.get(key, options).await;
        }
        let checksum = match self.requests.head_checksum(key).await {
            Ok(checksum) => checksum,
            // The read itself says what is wrong, with the detail a HEAD's
            // empty body lacks (NoSuchBucket, InvalidAccessKeyId, ...).
            Err(err) => {
                tracing::debug!(%err, "no S3 checksum: HEAD failed");
                None
            }
        };
        let Some(checksum) = checksum else {
            return self.inner.get(key, options).await;
        };
        // The bytes must be those of the object the checksum is of.
        if options.if_match.is_none() {
            options.if_match = checksum.etag.clone();
        }
        let mut fetched = self.inner.get(key, options).await?;
        tracing::debug!(
            algorithm = checksum.algorithm.name(),
            "verifying S3's checksum"
        );
        fetched.stream = verified(fetched.stream, checksum, fetched.info.uri.clone());
        Ok(fetched)
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo> {
        self.inner.head(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        self.inner.list(prefix).await
    }

    async fn put(&self, key: &str, body: Bytes, options: PutOptions) -> Result<PutReceipt> {
        self.inner.put(key, body, options).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.inner.delete(key).await
    }

    async fn put_multipart(
        &self,
        key: &str,
        options: PutOptions,
    ) -> Result<Box<dyn crate::ObjectWriter>> {
        self.inner.put_multipart(key, options).await
    }
}
