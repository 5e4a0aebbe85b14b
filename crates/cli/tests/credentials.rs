//! Credentials as users configure them, through the command: a role assumed
//! from `~/.aws/config`, the container endpoint, web identity and SSO, each
//! against a real server on 127.0.0.1; the report names the provider, and no
//! secret shows at any verbosity.

mod common;

use std::time::Duration;

use common::{Sandbox, stderr, stdout};
use nasdaq_testkit::http_stub::{self, IssuedKeys};
use nasdaq_testkit::{BarsSpec, S3TestServer, generate_csv};

fn sample() -> Vec<u8> {
    generate_csv(&BarsSpec {
        days: 20,
        ..BarsSpec::new(3, 1)
    })
}

/// An auth-enforcing server with `s3://{bucket}/NASDAQ.csv`, uploaded by the admin.
fn server_with_object(sandbox: &Sandbox, bucket: &str) -> Option<S3TestServer> {
    let server = S3TestServer::start_with_auth(&[bucket])?;
    let admin = server.user("admin").clone();
    sandbox.write("NASDAQ.csv", sample());
    let out = sandbox
        .s3_command(&server.endpoint, &admin.key_id, &admin.secret)
        .args(["upload", "NASDAQ.csv", &format!("s3://{bucket}/NASDAQ.csv")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    Some(server)
}

/// The command pointed at `server` with no keys: the chain decides.
fn keyless(sandbox: &Sandbox, server: &S3TestServer) -> std::process::Command {
    let mut command = sandbox.command();
    command
        .env("AWS_ENDPOINT_URL", &server.endpoint)
        .env("AWS_ALLOW_HTTP", "true");
    command
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

#[test]
fn a_role_from_aws_config_is_assumed_through_the_endpoint_and_named() {
    let sandbox = Sandbox::new();
    let Some(server) = server_with_object(&sandbox, "desk") else {
        return;
    };
    let assumer = server.user("assumer").clone();
    let role = server.role_arn.clone().unwrap();
    std::fs::create_dir(sandbox.path(".aws")).unwrap();
    sandbox.write(
        ".aws/config",
        format!(
            "[profile base]\nregion = us-east-1\n\n[profile analyst]\nrole_arn = {role}\nsource_profile = base\n"
        ),
    );
    sandbox.write(
        ".aws/credentials",
        format!(
            "[base]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            assumer.key_id, assumer.secret
        ),
    );
    let provider = format!("assume-role (profile analyst, role {role})");

    // AWS_ENDPOINT_URL alone sends STS to the same server, as in the AWS CLI.
    let out = keyless(&sandbox, &server)
        .args([
            "fetch",
            "s3://desk/NASDAQ.csv",
            "--json",
            "--profile",
            "analyst",
            "-v",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    // "PROVIDER, key id ASIA…": temporary keys from STS, 4 characters shown.
    let named = report["credentials"].as_str().unwrap();
    assert_eq!(named, format!("{provider}, key id ASIA…"));
    assert!(stderr(&out).contains(&provider), "{}", stderr(&out));
    assert_eq!(report["rows"], 60);

    // The same profile through AWS_PROFILE, and `check` names it.
    let out = keyless(&sandbox, &server)
        .env("AWS_PROFILE", "analyst")
        .args(["check", "s3://desk/NASDAQ.csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(&provider), "{}", stdout(&out));

    // The base profile's own keys may not read: the role is what let it through.
    let out = keyless(&sandbox, &server)
        .args(["ls", "s3://desk/", "--profile", "base"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("access denied") || stderr(&out).contains("AccessDenied"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn no_secret_of_any_provider_shows_even_at_trace() {
    let sandbox = Sandbox::new();
    let Some(server) = server_with_object(&sandbox, "vault") else {
        return;
    };
    let issued = server.session.clone().unwrap();
    let assumer = server.user("assumer").clone();
    let keys = IssuedKeys::new(&issued, Duration::from_secs(3600));
    let container_token = "container-token-never-printed";
    let container = http_stub::container_endpoint(keys.clone(), Some(container_token.to_owned()));
    let sso_token = "sso-access-token-never-printed";
    let portal = http_stub::sso_portal(keys.clone(), sso_token.to_owned());
    let role = server.role_arn.clone().unwrap();

    std::fs::create_dir_all(sandbox.path(".aws/sso/cache")).unwrap();
    sandbox.write(
        ".aws/config",
        format!(
            "[profile analyst]\nrole_arn = {role}\nsource_profile = base\n\n\
             [profile sso-analyst]\nsso_session = corp\nsso_account_id = 123456789012\n\
             sso_role_name = Reader\nregion = us-east-1\n\n\
             [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n"
        ),
    );
    sandbox.write(
        ".aws/credentials",
        format!(
            "[base]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            assumer.key_id, assumer.secret
        ),
    );
    let cache_name = {
        use sha1::Digest;
        hex::encode(sha1::Sha1::digest(b"corp"))
    };
    sandbox.write(
        &format!(".aws/sso/cache/{cache_name}.json"),
        serde_json::json!({
            "accessToken": sso_token,
            "expiresAt": "2099-01-01T00:00:00Z",
            "region": "us-east-1",
            "startUrl": "https://corp.awsapps.com/start",
        })
        .to_string(),
    );

    let full_uri = format!("{}/v2/credentials", container.endpoint);
    // (case, the variables that select the provider, how the report names it)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 3] = [
        (
            "assume-role",
            vec![("AWS_PROFILE", "analyst")],
            "assume-role",
        ),
        (
            "container",
            vec![
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri.as_str()),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN", container_token),
            ],
            "container credentials endpoint",
        ),
        (
            "sso",
            vec![
                ("AWS_PROFILE", "sso-analyst"),
                ("AWS_ENDPOINT_URL_SSO", portal.endpoint.as_str()),
            ],
            "SSO (profile sso-analyst)",
        ),
    ];
    let secrets = [
        assumer.secret.as_str(),
        issued.secret.as_str(),
        issued.token.as_str(),
        container_token,
        sso_token,
    ];
    for (case, vars, provider) in cases {
        let mut command = keyless(&sandbox, &server);
        command.envs(vars).env("RUST_LOG", "trace").args([
            "-vvv",
            "fetch",
            "s3://vault/NASDAQ.csv",
            "--json",
        ]);
        let out = command.output().unwrap();
        let (text, log) = (stdout(&out), stderr(&out));
        assert!(out.status.success(), "{case}: {log}");
        assert!(text.contains(provider), "{case}: {text}");
        assert!(log.lines().count() > 20, "{case}: trace logging is on");
        for secret in secrets {
            assert!(
                !text.contains(secret) && !log.contains(secret),
                "{case}: a secret was printed"
            );
        }
    }
}

#[test]
fn a_web_identity_token_is_never_printed() {
    // moto cannot answer AssumeRoleWithWebIdentity while it enforces auth.
    let Some(server) = S3TestServer::start(&["pods"]) else {
        return;
    };
    let sandbox = Sandbox::new();
    sandbox.write("NASDAQ.csv", sample());
    let out = sandbox
        .s3_command(&server.endpoint, "AKIASETUP0000000", "setup")
        .args(["upload", "NASDAQ.csv", "s3://pods/NASDAQ.csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwb2QifQ.d2ViLWlkZW50aXR5LXNlY3JldA";
    let token_file = sandbox.write("token", token);
    let out = keyless(&sandbox, &server)
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token_file)
        .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/pod-reader")
        .env("RUST_LOG", "trace")
        .args(["-vvv", "fetch", "s3://pods/NASDAQ.csv", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        json(&out)["credentials"],
        "web identity (role arn:aws:iam::123456789012:role/pod-reader), key id ASIA…"
    );
    assert!(!stdout(&out).contains(token) && !stderr(&out).contains(token));
}
