//! The storage error type: each variant says what the caller can do about it.

/// An error shared by every call of a source that failed to set up.
pub type SharedError = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

/// A storage result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object does not exist.
    #[error("{uri} not found: check the key (and bucket)")]
    NotFound {
        /// The full address of the missing object.
        uri: String,
    },
    /// A conditional get matched the given ETag: the caller's copy is current.
    #[error("{uri} not modified since the cached copy")]
    NotModified {
        /// The full address of the object.
        uri: String,
    },
    /// The credentials were refused or lack a permission.
    #[error("access to {uri} denied: {reason}")]
    AccessDenied {
        /// The full address of the object or bucket.
        uri: String,
        /// The S3 error code (`InvalidAccessKeyId`, `SignatureDoesNotMatch`,
        /// `AccessDenied`, `RequestTimeTooSkewed`, ...), when the server gave one.
        code: Option<String>,
        /// What went wrong and what to do, without any secret.
        reason: String,
    },
    /// The bucket does not exist.
    #[error(
        "bucket {bucket} does not exist (NoSuchBucket): check AWS_S3_BUCKET_NAME, the region and the endpoint"
    )]
    NoSuchBucket {
        /// The bucket name.
        bucket: String,
    },
    /// The bucket lives in another region than the one configured.
    #[error(
        "{uri}: the bucket is in another region{region_hint} ({code}): set AWS_REGION (or the profile's region) accordingly"
    )]
    WrongRegion {
        /// The full address of the object.
        uri: String,
        /// The S3 error code.
        code: String,
        /// ` (eu-west-1)` when the server said which, else empty.
        region_hint: String,
    },
    /// An object with different content already exists and overwriting was not allowed.
    #[error("{uri} already exists with different content; replacing it was not allowed")]
    AlreadyExists {
        /// The full address of the object.
        uri: String,
    },
    /// The key cannot be used as an object path.
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No usable credentials, or inconsistent ones.
    #[error("{message}")]
    Credentials {
        /// What was tried and how to fix it.
        message: String,
    },
    /// No provider of the chain had credentials.
    #[error(
        "no AWS credentials found. Tried: {tried}. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
         (in .env or the environment), or AWS_PROFILE, or run on AWS with an IAM role; for a \
         public bucket, turn off signing (NASDAQ_NO_SIGN_REQUEST=true)"
    )]
    NoCredentials {
        /// What was tried, and why each did not answer.
        tried: String,
    },
    /// The backend's settings are unusable (a bad endpoint, plain http not allowed, ...).
    #[error("{message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A plain-http endpoint, which was not allowed.
    #[error(
        "endpoint {endpoint} is plain http, which sends data unencrypted: set AWS_ALLOW_HTTP=true to allow it"
    )]
    PlainHttp {
        /// The endpoint as configured.
        endpoint: String,
    },
    /// The bytes do not match the SHA-256 stored with the object.
    #[error(
        "{uri}: checksum mismatch: the object's metadata says SHA-256 {expected}, the bytes received hash to {actual}; the download was corrupted (nothing was cached)"
    )]
    Checksum {
        /// The object's address.
        uri: String,
        /// The SHA-256 in the object's metadata.
        expected: String,
        /// The SHA-256 of what arrived.
        actual: String,
    },
    /// The bytes do not match S3's own full-object checksum of the object.
    #[error(
        "{uri}: checksum mismatch: S3's {algorithm} checksum of the object is {expected}, the bytes received give {actual}; the download was corrupted (nothing was cached)"
    )]
    ServerChecksum {
        /// The object's address.
        uri: String,
        /// `CRC64NVME`, `SHA256`, `CRC32C` or `CRC32`.
        algorithm: &'static str,
        /// The checksum S3 reported (base64).
        expected: String,
        /// The checksum of what arrived (base64).
        actual: String,
    },
    /// Offline mode, and the object is not in the cache.
    #[error("{uri} is not in the cache ({dir}) and offline mode makes no request")]
    NotCached {
        /// The object's address.
        uri: String,
        /// The cache directory.
        dir: String,
    },
    /// Another process held an entry's lock for longer than the wait allows.
    #[error(
        "{uri}: another process has been fetching this object into the cache for {waited_secs} s (lock {lock}); if no other nasdaq-data is running, remove the lock file, or turn the cache off (NASDAQ_CACHE_ENABLED=false)"
    )]
    LockTimeout {
        /// The object's address.
        uri: String,
        /// The lock file.
        lock: String,
        /// How long we waited.
        waited_secs: u64,
    },
    /// A directory named as the cache holds files the cache did not write.
    #[error(
        "{dir} is not a nasdaq-data cache: it holds {found:?}, which the cache did not write, and no CACHEDIR.TAG of ours; nothing was touched. Set NASDAQ_CACHE_DIR to a new or empty directory"
    )]
    NotACache {
        /// The directory.
        dir: String,
        /// The first foreign name found in it.
        found: String,
    },
    /// A source that could not even be set up (its error is kept for the report).
    #[error("{message}")]
    Unavailable {
        /// The source's address.
        uri: String,
        /// Why it could not be set up, naming the source.
        message: String,
        /// The error that kept it from being set up, whole.
        #[source]
        cause: SharedError,
    },
    /// Any other failure of the backend (network, server error after retries, ...).
    #[error("{uri}: {source}")]
    Backend {
        /// The full address of the object or bucket.
        uri: String,
        /// The backend's own error, kept for callers that inspect it.
        #[source]
        source: object_store::Error,
    },
    /// A body ended before its announced length, even after resuming.
    #[error(
        "{uri}: the body ended after {received} of {expected} bytes (after {resumes} resumes); nothing was cached"
    )]
    Truncated {
        /// The object's address.
        uri: String,
        /// Bytes received.
        received: u64,
        /// Bytes announced.
        expected: u64,
        /// Resumed requests made.
        resumes: usize,
    },
    /// The server answered in a way the protocol does not allow.
    #[error("{uri}: {message}")]
    Protocol {
        /// The object's address.
        uri: String,
        /// What the server did.
        message: String,
    },
}

impl Error {
    /// Whether the endpoint could not be reached at all (refused, reset,
    /// unresolvable, timed out while connecting): the cause is the network or
    /// the endpoint setting, not the object.
    pub fn is_unreachable(&self) -> bool {
        let Self::Backend { source, .. } = self else {
            return false;
        };
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source);
        while let Some(err) = cause {
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind as K;
                if matches!(
                    io.kind(),
                    K::ConnectionRefused
                        | K::ConnectionReset
                        | K::ConnectionAborted
                        | K::NotConnected
                        | K::HostUnreachable
                        | K::NetworkUnreachable
                        | K::AddrNotAvailable
                        | K::TimedOut
                ) {
                    return true;
                }
            }
            // hyper and reqwest describe a failed connect in their Display
            // without exposing an io::Error for every case (DNS failures).
            let text = err.to_string();
            if text.contains("error trying to connect")
                || text.contains("dns error")
                || text.contains("tcp connect error")
            {
                return true;
            }
            cause = err.source();
        }
        false
    }
}

impl Error {
    /// Turns an `object_store` error into ours, naming the object by `uri`.
    pub(crate) fn from_object_store(err: object_store::Error, uri: String) -> Self {
        use object_store::Error as E;
        let text = error_chain(&err);
        let detail = S3Detail::parse(&text);
        if let Some(detail) = &detail {
            match detail.code.as_str() {
                "NoSuchBucket" => {
                    return Self::NoSuchBucket {
                        bucket: bucket_of(&uri),
                    };
                }
                "PermanentRedirect"
                | "AuthorizationHeaderMalformed"
                | "IllegalLocationConstraintException" => {
                    return Self::WrongRegion {
                        uri,
                        code: detail.code.clone(),
                        region_hint: detail
                            .region
                            .as_ref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default(),
                    };
                }
                _ => {}
            }
        }
        // Listing errors arrive as Generic; the status in the text tells them apart.
        let denied = matches!(err, E::PermissionDenied { .. } | E::Unauthenticated { .. })
            || text.contains("status code: 403")
            || text.contains("status code: 401")
            || detail.as_ref().is_some_and(|d| {
                matches!(
                    d.code.as_str(),
                    "InvalidAccessKeyId"
                        | "SignatureDoesNotMatch"
                        | "RequestTimeTooSkewed"
                        | "ExpiredToken"
                        | "TokenRefreshRequired"
                        | "AccessDenied"
                )
            });
        match err {
            E::NotFound { .. } => Self::NotFound { uri },
            E::NotModified { .. } => Self::NotModified { uri },
            E::AlreadyExists { .. } | E::Precondition { .. } => Self::AlreadyExists { uri },
            _ if denied => {
                let method = text
                    .split("Error performing ")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .unwrap_or("GET");
                let listing = text.contains("list-type=");
                let code = detail.as_ref().map(|d| d.code.clone());
                let reason = denial_reason(code.as_deref(), method, listing, &uri);
                Self::AccessDenied { uri, code, reason }
            }
            E::InvalidPath { source } => Self::InvalidKey {
                key: uri,
                reason: source.to_string(),
            },
            other => Self::Backend { uri, source: other },
        }
    }
}

/// The code, message and region of an S3 XML error body found in `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct S3Detail {
    code: String,
    region: Option<String>,
}

impl S3Detail {
    fn parse(text: &str) -> Option<Self> {
        let tag = |name: &str| -> Option<String> {
            let open = format!("<{name}>");
            let start = text.find(&open)? + open.len();
            let end = text[start..].find("</")? + start;
            Some(text[start..end].to_owned())
        };
        Some(Self {
            code: tag("Code")?,
            region: tag("Region"),
        })
    }
}

/// The bucket of an `s3://bucket/key` address (or the address itself).
fn bucket_of(uri: &str) -> String {
    uri.strip_prefix("s3://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or(uri)
        .to_owned()
}

/// The IAM action a request needs.
fn action_for(method: &str, listing: bool) -> &'static str {
    match method {
        _ if listing => "s3:ListBucket",
        "PUT" | "POST" => "s3:PutObject",
        "DELETE" => "s3:DeleteObject",
        _ => "s3:GetObject",
    }
}

/// What a 401/403 means, and what to do about it.
fn denial_reason(code: Option<&str>, method: &str, listing: bool, uri: &str) -> String {
    match code {
        Some("InvalidAccessKeyId") => "the access key id is not known to the server (InvalidAccessKeyId): \
             check AWS_ACCESS_KEY_ID (or the profile's aws_access_key_id)"
            .to_owned(),
        Some("SignatureDoesNotMatch") => "the secret access key does not match the access key id \
             (SignatureDoesNotMatch): check AWS_SECRET_ACCESS_KEY"
            .to_owned(),
        Some("RequestTimeTooSkewed") => "this machine's clock differs from the server's by more than \
             15 minutes (RequestTimeTooSkewed): synchronise the clock (e.g. `timedatectl set-ntp true`)"
            .to_owned(),
        Some("ExpiredToken" | "TokenRefreshRequired") => format!(
            "the session token has expired ({}): get new temporary credentials",
            code.unwrap_or_default()
        ),
        _ => {
            let action = action_for(method, listing);
            let bucket = bucket_of(uri);
            let resource = if action == "s3:ListBucket" {
                format!("arn:aws:s3:::{bucket}")
            } else {
                let key = uri.strip_prefix(&format!("s3://{bucket}/")).unwrap_or("*");
                format!("arn:aws:s3:::{bucket}/{key}")
            };
            format!(
                "the credentials lack the permission {action} ({}): grant it with the IAM policy statement \
                 {{\"Effect\": \"Allow\", \"Action\": \"{action}\", \"Resource\": \"{resource}\"}}",
                code.unwrap_or("AccessDenied")
            )
        }
    }
}

/// Text as it may be shown: a password in any URL in it
/// (`https://user:pass@host`) becomes `***`.
pub fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(['/', '?', '#', ' ', '"', '\'', ')', '\n'])
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(userinfo_end) => {
                let userinfo = &authority[..userinfo_end];
                match userinfo.split_once(':') {
                    Some((user, _password)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => out.push_str("***"),
                }
                out.push_str(&authority[userinfo_end..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Joins an error and its sources with `: `, the way `anyhow` prints `{:#}`
/// (with any password in a URL hidden),
/// leaving out a cause whose text the message already holds (object_store
/// repeats its source in its own message).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    redact_url(&message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An object_store error as S3 reports it: the status and the XML body in the text.
    fn s3_error(status: &str, body: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: format!(
                "Error performing GET http://127.0.0.1:9/b/k - Server returned non-2xx status code: {status}: {body}"
            )
            .into(),
        }
    }

    fn mapped(status: &str, code: &str, extra: &str) -> Error {
        let body = format!("<Error><Code>{code}</Code><Message>m</Message>{extra}</Error>");
        Error::from_object_store(s3_error(status, &body), "s3://b/k".to_owned())
    }

    #[test]
    fn each_s3_code_says_what_to_do() {
        let cases = [
            (
                "403 Forbidden",
                "InvalidAccessKeyId",
                "",
                "check AWS_ACCESS_KEY_ID",
            ),
            (
                "403 Forbidden",
                "SignatureDoesNotMatch",
                "",
                "check AWS_SECRET_ACCESS_KEY",
            ),
            (
                "403 Forbidden",
                "RequestTimeTooSkewed",
                "",
                "synchronise the clock",
            ),
            (
                "400 Bad Request",
                "ExpiredToken",
                "",
                "session token has expired",
            ),
            (
                "403 Forbidden",
                "AccessDenied",
                "",
                "\"Action\": \"s3:GetObject\", \"Resource\": \"arn:aws:s3:::b/k\"",
            ),
        ];
        for (status, code, extra, advice) in cases {
            let err = mapped(status, code, extra);
            let text = err.to_string();
            assert!(text.contains(advice), "{code}: {text}");
            assert!(
                text.starts_with("access to s3://b/k denied"),
                "{code}: {text}"
            );
        }
    }

    #[test]
    fn wrong_region_and_missing_bucket_are_named() {
        let err = mapped(
            "400 Bad Request",
            "AuthorizationHeaderMalformed",
            "<Region>eu-west-1</Region>",
        );
        let text = err.to_string();
        assert!(matches!(err, Error::WrongRegion { .. }), "{text}");
        assert!(
            text.contains("another region (eu-west-1)") && text.contains("AWS_REGION"),
            "{text}"
        );
        let err = mapped("301 Moved Permanently", "PermanentRedirect", "");
        assert!(matches!(err, Error::WrongRegion { .. }), "{err}");
        let err = mapped("404 Not Found", "NoSuchBucket", "");
        assert_eq!(
            err.to_string(),
            "bucket b does not exist (NoSuchBucket): check AWS_S3_BUCKET_NAME, the region and the endpoint"
        );
    }

    #[test]
    fn a_listing_denial_asks_for_list_bucket_on_the_bucket() {
        let source = "Error performing GET http://127.0.0.1:9/b?list-type=2&prefix=k - Server returned non-2xx status code: 403 Forbidden: <Error><Code>AccessDenied</Code></Error>";
        let err = object_store::Error::Generic {
            store: "S3",
            source: source.into(),
        };
        let text = Error::from_object_store(err, "s3://b/k".to_owned()).to_string();
        assert!(
            text.contains("s3:ListBucket") && text.contains("arn:aws:s3:::b\""),
            "{text}"
        );
    }
}
