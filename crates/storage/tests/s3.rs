//! The S3 backend against a real S3 server (moto) on 127.0.0.1.

use std::time::Duration;

use nasdaq_storage::{
    CredentialInputs, Error, MarketSource, MarketSourceExt, PutOptions, S3Source, S3SourceBuilder,
};
use nasdaq_testkit::{S3TestServer, conformance};

fn keys(key_id: &str, secret: &str) -> CredentialInputs {
    CredentialInputs::default().with_keys(key_id, secret, None, "the test")
}

fn builder(server: &S3TestServer, bucket: &str, credentials: CredentialInputs) -> S3SourceBuilder {
    S3SourceBuilder::new(bucket)
        .with_endpoint(Some(server.endpoint.clone()))
        .with_allow_http(true)
        .with_credentials(credentials)
        .with_retries(2, Duration::from_secs(5), Duration::from_millis(10))
}

async fn source(server: &S3TestServer, bucket: &str, credentials: CredentialInputs) -> S3Source {
    builder(server, bucket, credentials)
        .build()
        .await
        .expect("S3 source builds")
}

/// Requests the server logged, once the log has settled.
async fn settled_requests(server: &S3TestServer) -> usize {
    tokio::task::block_in_place(|| server.settled_request_count())
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_backend_conforms() {
    let Some(server) = S3TestServer::start(&["conformance"]) else {
        return;
    };
    let s3 = source(&server, "conformance", keys("AKIATESTKEY", "testsecret")).await;
    conformance::run_all(&s3, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_errors_are_distinct_clear_and_not_retried() {
    let Some(server) = S3TestServer::start_with_auth(&["secured"]) else {
        return;
    };
    let admin = server.user("admin").clone();
    let reader = server.user("reader").clone();
    let s3 = source(&server, "secured", keys(&admin.key_id, &admin.secret)).await;
    s3.put("NASDAQ.csv", "x".into(), PutOptions::default())
        .await
        .unwrap();

    let mut codes = Vec::new();
    let cases: [(&str, CredentialInputs, &str); 3] = [
        (
            "wrong key id",
            keys("AKIANOTAREALKEY00000", &admin.secret),
            "AWS_ACCESS_KEY_ID",
        ),
        (
            "wrong secret",
            keys(&admin.key_id, "not-the-secret"),
            "AWS_SECRET_ACCESS_KEY",
        ),
        (
            "read-only upload",
            keys(&reader.key_id, &reader.secret),
            "s3:PutObject",
        ),
    ];
    for (case, credentials, advice) in cases {
        let s3 = source(&server, "secured", credentials.clone()).await;
        let before = settled_requests(&server).await;
        let err = if case == "read-only upload" {
            s3.put("NASDAQ.csv", "y".into(), PutOptions::default())
                .await
                .unwrap_err()
        } else {
            s3.get("NASDAQ.csv", Default::default()).await.unwrap_err()
        };
        let text = err.to_string();
        // A read is the checksum lookup (HEAD) and the GET; neither is retried.
        let requests = if case == "read-only upload" { 1 } else { 2 };
        assert_eq!(
            settled_requests(&server).await,
            before + requests,
            "{case}: no retry"
        );
        let Error::AccessDenied { ref code, .. } = err else {
            panic!("{case}: {text}")
        };
        codes.push(code.clone());
        assert!(
            text.contains("s3://secured/NASDAQ.csv") && text.contains(advice),
            "{case}: {text}"
        );
        for secret in [&admin.secret, &reader.secret, &"not-the-secret".to_owned()] {
            assert!(!text.contains(secret.as_str()), "{case}: secret in {text}");
        }
    }
    assert_eq!(
        codes,
        [
            Some("InvalidAccessKeyId".to_owned()),
            Some("SignatureDoesNotMatch".to_owned()),
            Some("AccessDenied".to_owned())
        ]
    );
    // The reader can still read.
    let reader_source = source(&server, "secured", keys(&reader.key_id, &reader.secret)).await;
    assert_eq!(
        &reader_source.get_bytes("NASDAQ.csv").await.unwrap()[..],
        b"x"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_credentials_file_profile_is_used_and_reported() {
    let Some(server) = S3TestServer::start_with_auth(&["profiled"]) else {
        return;
    };
    let admin = server.user("admin").clone();
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/credentials"),
        format!(
            "[default]\naws_access_key_id = AKIAWRONGDEFAULT0000\naws_secret_access_key = nope\n\n\
             [trading]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            admin.key_id, admin.secret
        ),
    )
    .unwrap();
    let home_var = home.path().display().to_string();
    let inputs = CredentialInputs::default()
        .with_var("AWS_PROFILE", Some("trading"))
        .with_var("HOME", Some(home_var.as_str()));
    let s3 = source(&server, "profiled", inputs).await;
    let report = s3.credentials();
    assert_eq!(report.provider, "profile trading (static keys)", "{report}");
    assert_eq!(
        report.key_id.as_deref(),
        Some(&format!("{}…", &admin.key_id[..4])[..])
    );
    s3.put("a.csv", "1".into(), PutOptions::default())
        .await
        .unwrap();

    // A profile that does not exist is an error naming it.
    let inputs = CredentialInputs::default()
        .with_var("AWS_PROFILE", Some("missing"))
        .with_var("HOME", Some(home_var.as_str()));
    let err = builder(&server, "profiled", inputs)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Credentials { .. }), "{err:?}");
    let err = err.to_string();
    assert!(
        err.contains("AWS_PROFILE is missing") && err.contains("profiles there: default, trading"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_credentials_it_fails_fast_listing_what_was_tried() {
    let Some(server) = S3TestServer::start(&["nocreds"]) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home_var = home.path().display().to_string();
    let inputs = CredentialInputs::default()
        .with_var("HOME", Some(home_var.as_str()))
        // Nothing listens on port 1: the metadata endpoint does not answer.
        .with_var(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            Some("http://127.0.0.1:1"),
        );
    let started = std::time::Instant::now();
    let err = builder(&server, "nocreds", inputs)
        .build()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::NoCredentials { .. }), "{text}");
    // Not a timing target: a bound that catches a chain retrying for minutes.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    for tried in [
        "Environment",
        "Profile",
        "WebIdentityToken",
        "EcsContainer",
        "Ec2InstanceMetadata",
    ] {
        assert!(text.contains(tried), "{tried:?} missing from {text}");
    }
    assert!(text.contains("NASDAQ_NO_SIGN_REQUEST=true"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_access_reads_a_public_bucket() {
    let Some(server) = S3TestServer::start(&["public"]) else {
        return;
    };
    let writer = source(&server, "public", keys("AKIATESTKEY", "testsecret")).await;
    writer
        .put("open.csv", "open".into(), PutOptions::default())
        .await
        .unwrap();
    let anonymous = source(&server, "public", CredentialInputs::anonymous()).await;
    assert_eq!(
        anonymous.credentials().provider,
        "anonymous (unsigned requests)"
    );
    assert_eq!(&anonymous.get_bytes("open.csv").await.unwrap()[..], b"open");
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_needs_permission_and_a_missing_bucket_is_named() {
    let Some(server) = S3TestServer::start(&["present"]) else {
        return;
    };
    let err = builder(&server, "present", keys("AKIATESTKEY", "testsecret"))
        .with_allow_http(false)
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("plain http") && err.contains("AWS_ALLOW_HTTP=true"),
        "{err}"
    );

    let s3 = source(&server, "absent-bucket", keys("AKIATESTKEY", "testsecret")).await;
    let err = s3.get("NASDAQ.csv", Default::default()).await.unwrap_err();
    assert!(
        matches!(err, Error::NoSuchBucket { ref bucket } if bucket == "absent-bucket"),
        "{err}"
    );
    let err = s3.list("").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("bucket absent-bucket does not exist"),
        "{err}"
    );
}
