//! Small HTTP servers on 127.0.0.1 standing in for the AWS endpoints that
//! hand out credentials and that moto does not serve: the container
//! credentials endpoint (ECS/EKS), instance metadata (IMDSv2) and the SSO
//! portal. Each logs every request and stops when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the stub received.
#[derive(Debug, Clone)]
pub struct StubRequest {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The path with its query: `/latest/api/token`.
    pub path: String,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl StubRequest {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The stub's answer.
#[derive(Debug, Clone)]
pub struct StubResponse {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: String,
    /// Headers besides the content type and length.
    pub headers: Vec<(String, String)>,
}

impl StubResponse {
    /// 200 with a JSON body.
    pub fn json(value: &serde_json::Value) -> Self {
        Self {
            status: 200,
            body: value.to_string(),
            headers: Vec::new(),
        }
    }

    /// Any status with a text body.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// With one more header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

type Handler = dyn Fn(&StubRequest) -> StubResponse + Send + Sync;

/// A running stub server.
pub struct HttpStub {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    log: Arc<Mutex<Vec<StubRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for HttpStub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpStub")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl HttpStub {
    /// Serves `handler` on a port the OS picks, one connection at a time.
    pub fn start(handler: impl Fn(&StubRequest) -> StubResponse + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the HTTP stub");
        let port = listener.local_addr().expect("stub address").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let thread = {
            let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let _ = serve(stream, handler.as_ref(), &log);
                    }
                }
            })
        };
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
            stop,
            thread: Some(thread),
        }
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<StubRequest> {
        self.log.lock().expect("stub log").clone()
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.endpoint.trim_start_matches("http://"));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request, answers it and closes the connection.
fn serve(
    stream: TcpStream,
    handler: &Handler,
    log: &Mutex<Vec<StubRequest>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Ok(());
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.trim_end().split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_owned());
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            }
            headers.push((name, value));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let request = StubRequest {
        method,
        path,
        headers,
    };
    let response = handler(&request);
    log.lock().expect("stub log").push(request);
    let mut stream = stream;
    let extra: String = response
        .headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    write!(
        stream,
        "HTTP/1.1 {} Stub\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{}",
        response.status,
        response.body.len(),
        response.body
    )?;
    stream.flush()
}

/// The temporary credentials a stub hands out, each valid for `lifetime`
/// from when it is handed out. They are the S3 test server's own STS
/// credentials ([`crate::TestSession`]), so an auth-enforcing server accepts exactly them.
pub struct IssuedKeys {
    /// The access key id.
    pub key_id: String,
    /// The secret (to check that it is never printed).
    pub secret: String,
    /// The session token sent with them.
    pub token: String,
    /// How long each issue is valid.
    pub lifetime: Duration,
    issued: AtomicUsize,
}

impl std::fmt::Debug for IssuedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKeys")
            .field("key_id", &self.key_id)
            .field("issued", &self.issued())
            .finish_non_exhaustive()
    }
}

impl IssuedKeys {
    /// The credentials of `session`, said to be valid for `lifetime` each time.
    pub fn new(session: &crate::TestSession, lifetime: Duration) -> Arc<Self> {
        Arc::new(Self {
            key_id: session.key_id.clone(),
            secret: session.secret.clone(),
            token: session.token.clone(),
            lifetime,
            issued: AtomicUsize::new(0),
        })
    }

    /// How many keys were handed out.
    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }

    /// The key id and its expiry (RFC 3339), counted as one more issue.
    fn next(&self) -> (String, String) {
        self.issued.fetch_add(1, Ordering::SeqCst);
        let expiry = chrono::Utc::now()
            + chrono::Duration::from_std(self.lifetime).expect("a short lifetime");
        (
            self.key_id.clone(),
            expiry.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
    }
}

/// A container credentials endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI`)
/// at any path, refusing requests without `Authorization: {token}` when a
/// token is given.
pub fn container_endpoint(keys: Arc<IssuedKeys>, token: Option<String>) -> HttpStub {
    HttpStub::start(move |request| {
        if let Some(token) = &token
            && request.header("authorization") != Some(token.as_str())
        {
            return StubResponse::text(401, r#"{"message":"bad authorization token"}"#);
        }
        let (key_id, expiry) = keys.next();
        StubResponse::json(&serde_json::json!({
            "AccessKeyId": key_id,
            "SecretAccessKey": keys.secret,
            "Token": keys.token,
            "Expiration": expiry,
        }))
    })
}

/// Instance metadata (IMDSv2): a session token from `PUT /latest/api/token`,
/// then the role and its credentials, each asked with that token.
pub fn instance_metadata(keys: Arc<IssuedKeys>, role: &'static str) -> HttpStub {
    let session = format!("imds-session-{}", fastrand::u64(..));
    HttpStub::start(move |request| {
        let path = request.path.as_str();
        if request.method == "PUT" && path == "/latest/api/token" {
            let ttl = request
                .header("x-aws-ec2-metadata-token-ttl-seconds")
                .unwrap_or("21600")
                .to_owned();
            return StubResponse::text(200, session.clone())
                .with_header("x-aws-ec2-metadata-token-ttl-seconds", ttl);
        }
        if request.header("x-aws-ec2-metadata-token") != Some(session.as_str()) {
            return StubResponse::text(401, "");
        }
        let listing = "/latest/meta-data/iam/security-credentials/";
        if path == listing {
            return StubResponse::text(200, role);
        }
        if path.strip_prefix(listing) == Some(role) {
            let (key_id, expiry) = keys.next();
            return StubResponse::json(&serde_json::json!({
                "Code": "Success",
                "LastUpdated": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "Type": "AWS-HMAC",
                "AccessKeyId": key_id,
                "SecretAccessKey": keys.secret,
                "Token": keys.token,
                "Expiration": expiry,
            }));
        }
        StubResponse::text(404, "")
    })
}

/// The SSO portal's `GetRoleCredentials`, answering only the bearer `token`.
pub fn sso_portal(keys: Arc<IssuedKeys>, token: String) -> HttpStub {
    HttpStub::start(move |request| {
        if !request.path.starts_with("/federation/credentials") {
            return StubResponse::text(404, "");
        }
        if request.header("x-amz-sso_bearer_token") != Some(token.as_str()) {
            return StubResponse::text(401, r#"{"message":"Session token not found or invalid"}"#);
        }
        let (key_id, _) = keys.next();
        let expiry_ms = (chrono::Utc::now()
            + chrono::Duration::from_std(keys.lifetime).expect("a short lifetime"))
        .timestamp_millis();
        StubResponse::json(&serde_json::json!({
            "roleCredentials": {
                "accessKeyId": key_id,
                "secretAccessKey": keys.secret,
                "sessionToken": keys.token,
                "expiration": expiry_ms,
            }
        }))
    })
}
