//! Every way AWS hands out credentials, each against a real server on
//! 127.0.0.1: moto for STS and S3 (with IAM auth enforced, so a read
//! succeeds only with the credentials the provider was meant to produce),
//! small stubs for the container, instance-metadata and SSO endpoints.

use std::path::Path;
use std::time::Duration;

use nasdaq_storage::{
    CredentialInputs, Error, MarketSource, MarketSourceExt, PutOptions, S3SourceBuilder,
};
use nasdaq_testkit::S3TestServer;
use nasdaq_testkit::http_stub::{self, IssuedKeys};

const BODY: &[u8] = b"Date,Ticker,Open,High,Low,Close,Volume\n2024-01-02,AAPL,1,2,0.5,1.5,100\n";

/// An auth-enforcing server with `NASDAQ.csv` in `bucket`, put by the admin.
async fn server_with_object(bucket: &str) -> Option<S3TestServer> {
    let server = S3TestServer::start_with_auth(&[bucket])?;
    let admin = server.user("admin").clone();
    put_object(&server, bucket, &admin.key_id, &admin.secret).await;
    Some(server)
}

async fn put_object(server: &S3TestServer, bucket: &str, key_id: &str, secret: &str) {
    builder(server, bucket)
        .with_credentials(CredentialInputs::default().with_keys(key_id, secret, None, "the test"))
        .build()
        .await
        .unwrap()
        .put("NASDAQ.csv", BODY.into(), PutOptions::default())
        .await
        .unwrap();
}

fn builder(server: &S3TestServer, bucket: &str) -> S3SourceBuilder {
    S3SourceBuilder::new(bucket)
        .with_endpoint(Some(server.endpoint.clone()))
        .with_allow_http(true)
        .with_retries(1, Duration::from_secs(5), Duration::from_millis(10))
}

/// A home directory with `~/.aws/config` and `~/.aws/credentials`.
fn aws_home(config: &str, credentials: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".aws")).unwrap();
    std::fs::write(home.path().join(".aws/config"), config).unwrap();
    std::fs::write(home.path().join(".aws/credentials"), credentials).unwrap();
    home
}

/// The chains' inputs for `home`, with instance metadata pointed at a port
/// where nothing listens (this machine's own would otherwise answer).
fn inputs(home: &Path) -> CredentialInputs {
    CredentialInputs::default()
        .with_var("HOME", Some(home.display().to_string()))
        .with_var(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            Some("http://127.0.0.1:1"),
        )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_assume_role_profile_reads_with_the_roles_credentials() {
    let Some(server) = server_with_object("roles").await else {
        return;
    };
    let assumer = server.user("assumer").clone();
    let role = server.role_arn.clone().unwrap();
    let home = aws_home(
        &format!(
            "[profile base]\nregion = us-east-1\n\n\
             [profile analyst]\nrole_arn = {role}\nsource_profile = base\nrole_session_name = nasdaq-test\n"
        ),
        &format!(
            "[base]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            assumer.key_id, assumer.secret
        ),
    );
    let sts = Some(server.endpoint.as_str());

    // The base profile alone may not read: only the role may.
    let base = builder(&server, "roles")
        .with_credentials(
            inputs(home.path())
                .with_var("AWS_PROFILE", Some("base"))
                .with_var("AWS_ENDPOINT_URL_STS", sts),
        )
        .build()
        .await
        .unwrap();
    assert_eq!(base.credentials().provider, "profile base (static keys)");
    let denied = base.get_bytes("NASDAQ.csv").await.unwrap_err();
    assert!(matches!(denied, Error::AccessDenied { .. }), "{denied:?}");

    let analyst = builder(&server, "roles")
        .with_credentials(
            inputs(home.path())
                .with_var("AWS_PROFILE", Some("analyst"))
                .with_var("AWS_ENDPOINT_URL_STS", sts),
        )
        .build()
        .await
        .unwrap();
    let report = analyst.credentials();
    assert_eq!(
        report.provider,
        format!("assume-role (profile analyst, role {role})")
    );
    // Assumed-role keys from STS, never the base profile's.
    let key_id = report.key_id.clone().unwrap();
    assert_ne!(key_id, format!("{}…", &assumer.key_id[..4]));
    assert_eq!(&analyst.get_bytes("NASDAQ.csv").await.unwrap()[..], BODY);
    assert!(
        server.requests().iter().any(|line| line.contains("POST /")),
        "STS was never asked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn web_identity_assumes_the_role_through_sts() {
    // moto cannot serve AssumeRoleWithWebIdentity (an unsigned call) while it
    // enforces auth: this server does not, and its log shows the call.
    let Some(server) = S3TestServer::start(&["webid"]) else {
        return;
    };
    put_object(&server, "webid", "AKIASETUP0000000", "setup").await;
    let role = "arn:aws:iam::123456789012:role/pod-reader";
    let home = aws_home("", "");
    let token_file = home.path().join("token.jwt");
    let token =
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlLXNlY3JldA";
    std::fs::write(&token_file, token).unwrap();
    let s3 = builder(&server, "webid")
        .with_credentials(
            inputs(home.path())
                .with_var(
                    "AWS_WEB_IDENTITY_TOKEN_FILE",
                    Some(token_file.display().to_string()),
                )
                .with_var("AWS_ROLE_ARN", Some(role))
                .with_var("AWS_ROLE_SESSION_NAME", Some("pod-7"))
                .with_var("AWS_ENDPOINT_URL_STS", Some(server.endpoint.as_str())),
        )
        .build()
        .await
        .unwrap();
    assert_eq!(
        s3.credentials().provider,
        format!("web identity (role {role})")
    );
    assert_eq!(&s3.get_bytes("NASDAQ.csv").await.unwrap()[..], BODY);
    assert!(!format!("{s3:?}").contains(token));
    // moto's STS issued the keys: they start ASIA (temporary), not our AKIA.
    assert!(
        s3.credentials()
            .key_id
            .as_deref()
            .unwrap()
            .starts_with("ASIA")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn credential_process_runs_the_profiles_helper() {
    let Some(server) = server_with_object("process").await else {
        return;
    };
    let reader = server.user("reader").clone();
    let home = aws_home("", "");
    let helper = home.path().join("issue-credentials.sh");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\ncat <<'JSON'\n{{\"Version\": 1, \"AccessKeyId\": \"{}\", \"SecretAccessKey\": \"{}\"}}\nJSON\n",
            reader.key_id, reader.secret
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(
        home.path().join(".aws/config"),
        format!(
            "[profile vault]\ncredential_process = {}\n",
            helper.display()
        ),
    )
    .unwrap();
    let s3 = builder(&server, "process")
        .with_credentials(inputs(home.path()).with_var("AWS_PROFILE", Some("vault")))
        .build()
        .await
        .unwrap();
    let report = s3.credentials();
    assert_eq!(report.provider, "credential_process (profile vault)");
    assert_eq!(report.key_id, Some(format!("{}…", &reader.key_id[..4])));
    assert_eq!(&s3.get_bytes("NASDAQ.csv").await.unwrap()[..], BODY);
}

#[tokio::test(flavor = "multi_thread")]
async fn container_credentials_with_a_token_a_token_file_or_none() {
    let Some(server) = server_with_object("container").await else {
        return;
    };
    let issued = server.session.clone().unwrap();
    let home = aws_home("", "");
    let keys = IssuedKeys::new(&issued, Duration::from_secs(3600));
    let token = "container-authorization-secret".to_owned();
    let guarded = http_stub::container_endpoint(keys.clone(), Some(token.clone()));
    let open = http_stub::container_endpoint(keys.clone(), None);
    let token_file = home.path().join("eks-pod-identity-token");
    std::fs::write(&token_file, &token).unwrap();

    let cases = [
        (
            "a token",
            &guarded,
            Some(("AWS_CONTAINER_AUTHORIZATION_TOKEN", token.clone())),
        ),
        (
            "a token file",
            &guarded,
            Some((
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token_file.display().to_string(),
            )),
        ),
        ("no token", &open, None),
    ];
    for (case, stub, authorization) in cases {
        let mut inputs = inputs(home.path()).with_var(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            Some(format!("{}/v2/credentials/task", stub.endpoint)),
        );
        if let Some((name, value)) = authorization {
            inputs = inputs.with_var(name, Some(value));
        }
        let s3 = builder(&server, "container")
            .with_credentials(inputs)
            .build()
            .await
            .unwrap_or_else(|err| panic!("{case}: {err}"));
        assert_eq!(
            s3.credentials().provider,
            "container credentials endpoint (task role)",
            "{case}"
        );
        assert_eq!(
            &s3.get_bytes("NASDAQ.csv").await.unwrap()[..],
            BODY,
            "{case}"
        );
    }
    let asked = guarded.requests();
    assert_eq!(asked.len(), 2);
    assert!(
        asked
            .iter()
            .all(|r| r.header("authorization") == Some(token.as_str()))
    );

    // A wrong token is refused by the endpoint, and the error says where.
    let err = builder(&server, "container")
        .with_credentials(
            inputs(home.path())
                .with_var(
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    Some(format!("{}/v2/credentials/task", guarded.endpoint)),
                )
                .with_var("AWS_CONTAINER_AUTHORIZATION_TOKEN", Some("wrong")),
        )
        .build()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        !text.contains(&token) && !text.contains(&issued.secret),
        "{text}"
    );
    assert!(
        text.contains("401") || text.to_lowercase().contains("authoriz"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn instance_metadata_v2_asks_for_a_session_token_first() {
    let Some(server) = server_with_object("instance").await else {
        return;
    };
    let issued = server.session.clone().unwrap();
    let home = aws_home("", "");
    let keys = IssuedKeys::new(&issued, Duration::from_secs(3600));
    let imds = http_stub::instance_metadata(keys, "nasdaq-reader");
    let s3 = builder(&server, "instance")
        .with_credentials(inputs(home.path()).with_var(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            Some(imds.endpoint.as_str()),
        ))
        .build()
        .await
        .unwrap();
    assert_eq!(s3.credentials().provider, "IMDSv2 (instance role)");
    assert_eq!(&s3.get_bytes("NASDAQ.csv").await.unwrap()[..], BODY);
    let asked = imds.requests();
    assert_eq!(asked[0].method, "PUT", "{asked:?}");
    assert_eq!(asked[0].path, "/latest/api/token");
    assert!(
        asked
            .iter()
            .any(|r| r.path == "/latest/meta-data/iam/security-credentials/nasdaq-reader"),
        "{asked:?}"
    );
}

/// A config with an `sso_session` profile, and the session's cached token.
fn sso_home(token: &str, expires_at: &str) -> tempfile::TempDir {
    let home = aws_home(
        "[profile sso-analyst]\nsso_session = corp\nsso_account_id = 123456789012\n\
         sso_role_name = MarketDataReader\nregion = us-east-1\n\n\
         [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n\
         sso_registration_scopes = sso:account:access\n",
        "",
    );
    let cache = home.path().join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    let name = {
        use sha1::Digest;
        hex::encode(sha1::Sha1::digest(b"corp"))
    };
    std::fs::write(
        cache.join(format!("{name}.json")),
        serde_json::json!({
            "accessToken": token,
            "expiresAt": expires_at,
            "region": "us-east-1",
            "startUrl": "https://corp.awsapps.com/start",
        })
        .to_string(),
    )
    .unwrap();
    home
}

#[tokio::test(flavor = "multi_thread")]
async fn an_sso_session_profile_gets_role_credentials_from_the_portal() {
    let Some(server) = server_with_object("sso").await else {
        return;
    };
    let issued = server.session.clone().unwrap();
    let token = "sso-access-token-secret";
    let keys = IssuedKeys::new(&issued, Duration::from_secs(3600));
    let portal = http_stub::sso_portal(keys, token.to_owned());
    let home = sso_home(token, "2099-01-01T00:00:00Z");
    let s3 = builder(&server, "sso")
        .with_credentials(
            inputs(home.path())
                .with_var("AWS_PROFILE", Some("sso-analyst"))
                .with_var("AWS_ENDPOINT_URL_SSO", Some(portal.endpoint.as_str())),
        )
        .build()
        .await
        .unwrap();
    assert_eq!(s3.credentials().provider, "SSO (profile sso-analyst)");
    assert_eq!(&s3.get_bytes("NASDAQ.csv").await.unwrap()[..], BODY);
    let asked = portal.requests();
    assert!(
        asked[0].path.contains("role_name=MarketDataReader")
            && asked[0].path.contains("account_id=123456789012"),
        "{asked:?}"
    );

    // An expired token is a clear error that says how to renew it.
    let expired = sso_home(token, "2020-01-01T00:00:00Z");
    let err = builder(&server, "sso")
        .with_credentials(
            inputs(expired.path())
                .with_var("AWS_PROFILE", Some("sso-analyst"))
                .with_var("AWS_ENDPOINT_URL_SSO", Some(portal.endpoint.as_str())),
        )
        .build()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("aws sso login"), "{text}");
    assert!(!text.contains(token), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn short_lived_credentials_are_refreshed_and_a_long_load_succeeds() {
    let Some(server) = server_with_object("refresh").await else {
        return;
    };
    let issued = server.session.clone().unwrap();
    let home = aws_home("", "");
    // Each issue lives 4 s, so it is renewed after 2 s.
    let keys = IssuedKeys::new(&issued, Duration::from_secs(4));
    let stub = http_stub::container_endpoint(keys.clone(), None);
    let s3 = builder(&server, "refresh")
        .with_credentials(inputs(home.path()).with_var(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            Some(format!("{}/creds", stub.endpoint)),
        ))
        .build()
        .await
        .unwrap();
    assert_eq!(keys.issued(), 1);
    // Reads over 6 s: past the first credentials' expiry.
    for _ in 0..4 {
        assert_eq!(&s3.get_bytes("NASDAQ.csv").await.unwrap()[..], BODY);
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    assert_eq!(&s3.get_bytes("NASDAQ.csv").await.unwrap()[..], BODY);
    let issued = keys.issued();
    assert!((3..=5).contains(&issued), "issued {issued} times over 6 s");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_region_comes_from_the_profile_unless_set() {
    let home = aws_home(
        "[default]\nregion = eu-central-1\n\n[profile tokyo]\nregion = ap-northeast-1\n",
        "[default]\naws_access_key_id = AKIAREGIONTEST00\naws_secret_access_key = x\n\n\
         [tokyo]\naws_access_key_id = AKIAREGIONTEST01\naws_secret_access_key = y\n",
    );
    let region = |inputs: CredentialInputs, explicit: Option<&str>| {
        let mut builder = S3SourceBuilder::new("b").with_credentials(inputs);
        if let Some(region) = explicit {
            builder = builder.with_region(region);
        }
        async move { builder.build().await.unwrap().region().to_owned() }
    };
    assert_eq!(region(inputs(home.path()), None).await, "eu-central-1");
    assert_eq!(
        region(
            inputs(home.path()).with_var("AWS_PROFILE", Some("tokyo")),
            None
        )
        .await,
        "ap-northeast-1"
    );
    assert_eq!(
        region(
            inputs(home.path()).with_var("AWS_REGION", Some("us-west-2")),
            None
        )
        .await,
        "us-west-2"
    );
    assert_eq!(
        region(inputs(home.path()), Some("sa-east-1")).await,
        "sa-east-1"
    );
    let empty = aws_home(
        "",
        "[default]\naws_access_key_id = AKIAREGIONTEST00\naws_secret_access_key = x\n",
    );
    assert_eq!(region(inputs(empty.path()), None).await, "us-east-1");
}
