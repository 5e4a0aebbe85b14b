//! The conformance suite: scenarios every `MarketSource` backend must pass.
//!
//! Each backend's tests call [`run_all`] (or single scenarios) on a fresh,
//! empty source, the way object_store keeps its backends honest. Scenarios
//! panic, with a message naming the broken rule of the `MarketSource` contract.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::TryStreamExt;
use nasdaq_storage::cache::SHA256_METADATA;
use nasdaq_storage::{Error, GetOptions, MarketSource, MarketSourceExt, PutOptions};

/// Runs every scenario. `stores_metadata` is false for backends that drop user metadata.
pub async fn run_all(source: &dyn MarketSource, stores_metadata: bool) {
    put_then_get_roundtrip(source).await;
    get_missing_is_not_found(source).await;
    head_matches_get(source).await;
    ranged_get(source).await;
    if_none_match_current_etag_is_not_modified(source).await;
    list_by_prefix(source).await;
    overwrite_replaces(source).await;
    create_only_never_replaces(source).await;
    large_put_roundtrip(source).await;
    delete_removes(source).await;
    multipart_visible_only_when_finished(source).await;
    if stores_metadata {
        metadata_roundtrip(source).await;
    }
}

/// A create-only put stores a new object, and over an existing one fails
/// with `AlreadyExists`, leaving it as it was.
pub async fn create_only_never_replaces(source: &dyn MarketSource) {
    let create = PutOptions {
        create_only: true,
        ..PutOptions::default()
    };
    // A key of its own each time: suites run twice over one source.
    let key = format!("create/h-{}.csv", fastrand::u64(..));
    let key = key.as_str();
    source
        .put(key, Bytes::from_static(b"first"), create.clone())
        .await
        .unwrap_or_else(|err| panic!("{source}: create-only put of a new key: {err}"));
    let err = source
        .put(key, Bytes::from_static(b"second"), create)
        .await
        .expect_err("a create-only put over an existing object must fail");
    assert!(
        matches!(err, Error::AlreadyExists { .. }),
        "{source}: create-only over an existing object: {err:?}"
    );
    assert_eq!(
        &source.get_bytes(key).await.expect("get")[..],
        b"first",
        "{source}: a refused create-only put changed the object"
    );
}

/// Bytes put are the bytes got, in one piece or many.
pub async fn put_then_get_roundtrip(source: &dyn MarketSource) {
    let body = Bytes::from_static(b"Date,Ticker,Open\n2024-01-02,AAPL,187.15\n");
    source
        .put("roundtrip/a.csv", body.clone(), PutOptions::default())
        .await
        .expect("put succeeds");
    let got = source
        .get_bytes("roundtrip/a.csv")
        .await
        .expect("get succeeds");
    assert_eq!(got, body, "{source}: get must yield exactly the bytes put");
}

/// A missing key is NotFound, from get and head alike.
pub async fn get_missing_is_not_found(source: &dyn MarketSource) {
    let err = source
        .get("missing/nothing.csv", GetOptions::default())
        .await
        .expect_err("get of a missing key fails");
    assert!(
        matches!(err, Error::NotFound { ref uri } if uri.ends_with("missing/nothing.csv")),
        "{source}: get of a missing key must be NotFound naming it, got {err:?}"
    );
    let err = source
        .head("missing/nothing.csv")
        .await
        .expect_err("head of a missing key fails");
    assert!(
        matches!(err, Error::NotFound { .. }),
        "{source}: head of a missing key must be NotFound, got {err:?}"
    );
    assert!(
        !source
            .exists("missing/nothing.csv")
            .await
            .expect("exists answers")
    );
}

/// get's info equals head's.
pub async fn head_matches_get(source: &dyn MarketSource) {
    let body = Bytes::from(vec![b'x'; 1000]);
    source
        .put("head/b.bin", body, PutOptions::default())
        .await
        .expect("put succeeds");
    let head = source.head("head/b.bin").await.expect("head succeeds");
    let fetched = source
        .get("head/b.bin", GetOptions::default())
        .await
        .expect("get succeeds");
    assert_eq!(head.size, 1000, "{source}: head size");
    assert_eq!(head.key, "head/b.bin", "{source}: head key");
    assert_eq!(head.uri, source.uri("head/b.bin"), "{source}: head uri");
    assert_eq!(fetched.info.size, head.size, "{source}: get size vs head");
    assert_eq!(fetched.info.etag, head.etag, "{source}: get etag vs head");
    assert!(head.etag.is_some(), "{source}: objects carry an ETag");
}

/// A ranged get yields exactly the range, clamped at the end.
pub async fn ranged_get(source: &dyn MarketSource) {
    let body: Vec<u8> = (0..=255u8).collect();
    source
        .put(
            "range/c.bin",
            Bytes::from(body.clone()),
            PutOptions::default(),
        )
        .await
        .expect("put succeeds");
    let fetched = source
        .get(
            "range/c.bin",
            GetOptions {
                range: Some(10..20),
                ..Default::default()
            },
        )
        .await
        .expect("ranged get succeeds");
    let chunks: Vec<Bytes> = fetched.stream.try_collect().await.expect("range body");
    assert_eq!(chunks.concat(), &body[10..20], "{source}: ranged get bytes");
    let fetched = source
        .get(
            "range/c.bin",
            GetOptions {
                range: Some(250..1000),
                ..Default::default()
            },
        )
        .await
        .expect("ranged get past the end succeeds");
    let chunks: Vec<Bytes> = fetched.stream.try_collect().await.expect("range body");
    assert_eq!(
        chunks.concat(),
        &body[250..],
        "{source}: range clamped at the end"
    );
}

/// If-None-Match with the current ETag is NotModified; with another ETag it reads.
pub async fn if_none_match_current_etag_is_not_modified(source: &dyn MarketSource) {
    source
        .put(
            "etag/d.csv",
            Bytes::from_static(b"v1"),
            PutOptions::default(),
        )
        .await
        .expect("put succeeds");
    let etag = source.head("etag/d.csv").await.expect("head").etag;
    let err = source
        .get(
            "etag/d.csv",
            GetOptions {
                if_none_match: etag.clone(),
                ..Default::default()
            },
        )
        .await
        .expect_err("matching If-None-Match must not send the body");
    assert!(
        matches!(err, Error::NotModified { .. }),
        "{source}: expected NotModified, got {err:?}"
    );
    let fetched = source
        .get(
            "etag/d.csv",
            GetOptions {
                if_none_match: Some("\"some-other-etag\"".to_owned()),
                ..Default::default()
            },
        )
        .await
        .expect("a different ETag reads the object");
    assert_eq!(
        fetched.info.etag, etag,
        "{source}: etag stable between reads"
    );
}

/// list(prefix) finds exactly the keys starting with prefix, sorted.
pub async fn list_by_prefix(source: &dyn MarketSource) {
    for key in [
        "list/prices/b.csv",
        "list/prices/a.csv",
        "list/pricesX.csv",
        "list/other/c.csv",
    ] {
        source
            .put(key, Bytes::from_static(b"1"), PutOptions::default())
            .await
            .expect("put succeeds");
    }
    let keys = |objects: Vec<nasdaq_storage::ObjectInfo>| -> Vec<String> {
        objects.into_iter().map(|o| o.key).collect()
    };
    let dir = keys(source.list("list/prices/").await.expect("list dir"));
    assert_eq!(
        dir,
        ["list/prices/a.csv", "list/prices/b.csv"],
        "{source}: list of a folder"
    );
    let partial = keys(source.list("list/prices").await.expect("list partial"));
    assert_eq!(
        partial,
        ["list/prices/a.csv", "list/prices/b.csv", "list/pricesX.csv"],
        "{source}: list of a partial name"
    );
    let none = source.list("list/nothing/").await.expect("list empty");
    assert!(none.is_empty(), "{source}: empty listing");
}

/// A second put replaces the first, and the ETag changes.
pub async fn overwrite_replaces(source: &dyn MarketSource) {
    let first = source
        .put(
            "over/e.csv",
            Bytes::from_static(b"first"),
            PutOptions::default(),
        )
        .await
        .expect("put succeeds");
    let second = source
        .put(
            "over/e.csv",
            Bytes::from_static(b"second!"),
            PutOptions::default(),
        )
        .await
        .expect("put succeeds");
    assert_eq!(
        source.get_bytes("over/e.csv").await.expect("get"),
        Bytes::from_static(b"second!"),
        "{source}: overwrite"
    );
    assert_ne!(
        first.etag, second.etag,
        "{source}: ETag changes with content"
    );
}

/// A body larger than the multipart threshold survives the trip.
pub async fn large_put_roundtrip(source: &dyn MarketSource) {
    let body: Vec<u8> = (0..(20 * 1024 * 1024u32))
        .map(|i| (i % 251) as u8)
        .collect();
    let body = Bytes::from(body);
    source
        .put("large/f.bin", body.clone(), PutOptions::default())
        .await
        .expect("large put succeeds");
    let got = source.get_bytes("large/f.bin").await.expect("large get");
    assert!(got == body, "{source}: large body differs after roundtrip");
}

/// User metadata put comes back from head and get.
///
/// The `sha256` entry is the body's true SHA-256: that key is the one
/// `nasdaq-cli upload` writes and the disk cache checks downloads against, so
/// a made-up value would be (rightly) refused by a caching source as a
/// corrupted download rather than test the round trip. `origin` is metadata
/// no layer interprets.
pub async fn metadata_roundtrip(source: &dyn MarketSource) {
    let metadata = BTreeMap::from([
        (
            SHA256_METADATA.to_owned(),
            // SHA-256 of the body `x`.
            "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881".to_owned(),
        ),
        ("origin".to_owned(), "conformance".to_owned()),
    ]);
    source
        .put(
            "meta/g.csv",
            Bytes::from_static(b"x"),
            PutOptions {
                metadata: metadata.clone(),
                ..PutOptions::default()
            },
        )
        .await
        .expect("put with metadata");
    let head = source.head("meta/g.csv").await.expect("head");
    assert_eq!(head.metadata, metadata, "{source}: head metadata");
    let got = source
        .get("meta/g.csv", GetOptions::default())
        .await
        .expect("get");
    assert_eq!(got.info.metadata, metadata, "{source}: get metadata");
}

/// A deleted object is gone; deleting a missing one succeeds.
pub async fn delete_removes(source: &dyn MarketSource) {
    let key = format!("delete/d-{}.csv", fastrand::u64(..));
    source
        .put(&key, Bytes::from_static(b"x"), PutOptions::default())
        .await
        .expect("put");
    source
        .delete(&key)
        .await
        .unwrap_or_else(|err| panic!("{source}: delete of an object: {err}"));
    assert!(
        matches!(source.head(&key).await, Err(Error::NotFound { .. })),
        "{source}: a deleted object is still there"
    );
    source
        .delete(&key)
        .await
        .unwrap_or_else(|err| panic!("{source}: delete of a missing object must succeed: {err}"));
}

/// An object written in parts appears whole when the writer finishes, and
/// not at all when the writer is dropped before.
pub async fn multipart_visible_only_when_finished(source: &dyn MarketSource) {
    // Three parts and a tail: more than one part size, not a multiple of it.
    let body: Vec<u8> = (0..(17 * 1024 * 1024 + 123u32))
        .map(|i| (i % 253) as u8)
        .collect();
    let key = format!("parts/p-{}.bin", fastrand::u64(..));
    let mut writer = source
        .put_multipart(&key, PutOptions::default())
        .await
        .unwrap_or_else(|err| panic!("{source}: put_multipart: {err}"));
    for piece in body.chunks(3 * 1024 * 1024 + 7) {
        writer
            .write(Bytes::copy_from_slice(piece))
            .await
            .expect("write a piece");
        assert!(
            matches!(source.head(&key).await, Err(Error::NotFound { .. })),
            "{source}: an object written in parts is visible before it is finished"
        );
    }
    writer.finish().await.expect("finish");
    let got = source.get_bytes(&key).await.expect("get after finish");
    assert!(
        got[..] == body[..],
        "{source}: object written in parts differs"
    );

    let dropped = format!("parts/dropped-{}.bin", fastrand::u64(..));
    let mut writer = source
        .put_multipart(&dropped, PutOptions::default())
        .await
        .expect("put_multipart");
    writer
        .write(Bytes::from(vec![1u8; 9 * 1024 * 1024]))
        .await
        .expect("write");
    drop(writer);
    nasdaq_storage::cleanup::finish(std::time::Duration::from_secs(10)).await;
    assert!(
        matches!(source.head(&dropped).await, Err(Error::NotFound { .. })),
        "{source}: a writer dropped before finishing left an object"
    );
}
