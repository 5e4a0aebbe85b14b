//! Streaming uploads and S3's own checksums against moto on 127.0.0.1:
//! parts with their SHA-256, a conditional completion that lets one of two
//! racing uploads win, nothing stored when the file changes mid-upload, and
//! downloads checked against the object's full-object checksum.

use std::collections::BTreeMap;
use std::time::Duration;

use nasdaq_storage::{
    CredentialInputs, Error, MarketSource, MarketSourceExt, PutOptions, S3Source, S3SourceBuilder,
};
use nasdaq_testkit::{Fault, FaultProxy, S3TestServer};
use sha2::{Digest, Sha256};

async fn source(endpoint: &str, bucket: &str) -> S3Source {
    S3SourceBuilder::new(bucket)
        .with_endpoint(Some(endpoint.to_owned()))
        .with_allow_http(true)
        .with_credentials(CredentialInputs::default().with_keys(
            "AKIAUPLOADTEST00",
            "upload-secret",
            None,
            "the test",
        ))
        .with_retries(0, Duration::from_secs(5), Duration::from_millis(10))
        .build()
        .await
        .unwrap()
}

/// A file of `size` bytes whose content depends on `seed`.
fn file(
    dir: &tempfile::TempDir,
    name: &str,
    size: usize,
    seed: u8,
) -> (std::path::PathBuf, String) {
    let body: Vec<u8> = (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    let path = dir.path().join(name);
    std::fs::write(&path, &body).unwrap();
    (path, hex::encode(Sha256::digest(&body)))
}

fn create_only() -> PutOptions {
    PutOptions {
        create_only: true,
        ..PutOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_file_goes_up_in_checksummed_parts_and_reads_back() {
    let Some(server) = S3TestServer::start(&["parts"]) else {
        return;
    };
    let s3 = source(&server.endpoint, "parts").await;
    let dir = tempfile::tempdir().unwrap();
    let (path, sha) = file(&dir, "big.bin", 20 * 1024 * 1024 + 17, 1);
    let options = PutOptions {
        metadata: BTreeMap::from([("sha256".to_owned(), sha.clone())]),
        ..create_only()
    };
    s3.upload_file("big.bin", &path, &sha, options)
        .await
        .unwrap();
    let back = s3.get_bytes("big.bin").await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&back)), sha);
    assert_eq!(s3.head("big.bin").await.unwrap().metadata["sha256"], sha);
    let log = tokio::task::block_in_place(|| server.requests());
    let parts = log.iter().filter(|l| l.contains("partNumber=")).count();
    assert_eq!(parts, 3, "8 MiB parts: {log:#?}");
    assert!(
        log.iter()
            .any(|l| l.contains("POST /parts/big.bin?uploads")),
        "{log:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn of_two_racing_uploads_to_a_new_key_one_wins_and_the_other_is_refused() {
    let Some(server) = S3TestServer::start(&["race"]) else {
        return;
    };
    let s3 = source(&server.endpoint, "race").await;
    let dir = tempfile::tempdir().unwrap();
    // Both start while the key is free; the small one completes first, so
    // the large one's completion meets an object that was not there when it
    // began: only a conditional completion can refuse it.
    let (a, sha_a) = file(&dir, "a.bin", 9 * 1024 * 1024, 2);
    let (b, sha_b) = file(&dir, "b.bin", 48 * 1024 * 1024, 3);
    let (first, second) = tokio::join!(
        s3.upload_file("NASDAQ.bin", &a, &sha_a, create_only()),
        s3.upload_file("NASDAQ.bin", &b, &sha_b, create_only()),
    );
    let winner = match (&first, &second) {
        (Ok(_), Err(Error::AlreadyExists { .. })) => &sha_a,
        (Err(Error::AlreadyExists { .. }), Ok(_)) => &sha_b,
        other => panic!("exactly one upload must win: {other:?}"),
    };
    let stored = s3.get_bytes("NASDAQ.bin").await.unwrap();
    assert_eq!(&hex::encode(Sha256::digest(&stored)), winner);
    // The loser's multipart upload was aborted, not left to accrue storage.
    let aborted = || {
        server
            .requests()
            .iter()
            .any(|l| l.contains("DELETE /race/NASDAQ.bin?uploadId="))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !tokio::task::block_in_place(aborted) {
        assert!(
            std::time::Instant::now() < deadline,
            "the losing upload was not aborted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A create-only upload over an existing object: refused, object kept.
    let (small, sha_small) = file(&dir, "small.bin", 1000, 4);
    let err = s3
        .upload_file("NASDAQ.bin", &small, &sha_small, create_only())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
    assert_eq!(
        &hex::encode(Sha256::digest(s3.get_bytes("NASDAQ.bin").await.unwrap())),
        winner
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_changes_while_uploading_stores_nothing() {
    let Some(server) = S3TestServer::start(&["moving"]) else {
        return;
    };
    let s3 = source(&server.endpoint, "moving").await;
    let dir = tempfile::tempdir().unwrap();
    // The SHA-256 computed first no longer matches what is read.
    let (big, _) = file(&dir, "big.bin", 12 * 1024 * 1024, 5);
    let (small, _) = file(&dir, "small.bin", 4096, 6);
    let stale = hex::encode(Sha256::digest(b"what the file held before"));
    for (name, path) in [("big.bin", &big), ("small.bin", &small)] {
        let err = s3
            .upload_file(name, path, &stale, PutOptions::default())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("changed while it was uploaded"),
            "{err}"
        );
        assert!(!s3.exists(name).await.unwrap(), "{name} was stored");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_is_checked_against_s3s_own_checksum() {
    let Some(server) = S3TestServer::start(&["sums"]) else {
        return;
    };
    let direct = source(&server.endpoint, "sums").await;
    let dir = tempfile::tempdir().unwrap();
    // Uploaded in one piece with x-amz-checksum-sha256 and no metadata of ours:
    // S3's checksum is all there is to catch a corrupted read.
    let (path, sha) = file(&dir, "one.bin", 64 * 1024, 7);
    direct
        .upload_file("one.bin", &path, &sha, PutOptions::default())
        .await
        .unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(direct.get_bytes("one.bin").await.unwrap())),
        sha
    );

    let proxy = FaultProxy::start(&server.endpoint);
    let through = source(&proxy.endpoint, "sums").await;
    proxy.inject(Fault::FlipByte(1000), Some(1));
    let err = through.get_bytes("one.bin").await.unwrap_err();
    match &err {
        Error::ServerChecksum { algorithm, .. } => assert_eq!(*algorithm, "SHA256"),
        other => panic!("a flipped byte must fail S3's checksum: {other:?}"),
    }
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    // Healed, the same read passes.
    assert_eq!(
        hex::encode(Sha256::digest(through.get_bytes("one.bin").await.unwrap())),
        sha
    );
}
