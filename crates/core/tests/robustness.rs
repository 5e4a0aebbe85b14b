//! Nothing panics on user input: mangled versions of every dialect's file,
//! and random bytes, load to a table or to an error, never a panic.

use std::sync::Arc;

use nasdaq_core::{LoadRequest, Loader, ReadOptions};
use nasdaq_storage::{MarketSource, ObjectStoreSource, PutOptions};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn bases() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for dialect in [
        "yahoo",
        "yfinance",
        "nasdaq-com",
        "stooq-bulk",
        "stooq",
        "alpha-vantage",
        "long",
    ] {
        for entry in std::fs::read_dir(format!("{FIXTURES}/dialects/{dialect}")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            files.push((name, std::fs::read(&path).unwrap()));
        }
    }
    files.push((
        "quality.csv".into(),
        std::fs::read(format!("{FIXTURES}/quality/quality.csv")).unwrap(),
    ));
    files
}

/// One random change: a byte replaced, a range removed, a line doubled, or
/// a troublesome byte inserted.
fn mutate(rng: &mut fastrand::Rng, data: &mut Vec<u8>) {
    if data.is_empty() {
        data.push(b',');
        return;
    }
    let at = rng.usize(..data.len());
    match rng.u8(..4) {
        0 => data[at] = rng.u8(..),
        1 => {
            let end = (at + rng.usize(..20)).min(data.len());
            data.drain(at..end);
        }
        2 => {
            let start = data[..at]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |p| p + 1);
            let end = data[at..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(data.len(), |p| at + p + 1);
            let line = data[start..end].to_vec();
            data.splice(end..end, line);
        }
        _ => {
            let troublesome = [
                b',', b'"', b'\n', b'\r', 0xff, 0x00, b'-', b'$', b'/', b'<', b'{',
            ];
            data.insert(at, troublesome[rng.usize(..troublesome.len())]);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mangled_and_random_inputs_never_panic() {
    let mut rng = fastrand::Rng::with_seed(2024);
    let bases = bases();
    let mut outcomes = (0, 0);
    for round in 0..400 {
        let (name, mut data) = if round % 10 == 9 {
            let len = rng.usize(..300);
            (
                "random.csv".to_owned(),
                (0..len).map(|_| rng.u8(..)).collect(),
            )
        } else {
            bases[round % bases.len()].clone()
        };
        for _ in 0..rng.usize(1..6) {
            mutate(&mut rng, &mut data);
        }
        let source = Arc::new(ObjectStoreSource::memory());
        source
            .put(&name, data.clone().into(), PutOptions::default())
            .await
            .unwrap();
        let options = ReadOptions {
            chunk_size: 64,
            ..ReadOptions::default()
        };
        match Loader::new(source)
            .with_read_options(options)
            .load(&LoadRequest::new(&name))
            .await
        {
            Ok(loaded) => {
                outcomes.0 += 1;
                // A table that came through is consistent with its report.
                assert_eq!(loaded.table.num_rows(), loaded.report.rows);
                assert!(loaded.report.rows_kept <= loaded.report.rows_read);
            }
            Err(err) => {
                outcomes.1 += 1;
                assert!(!err.to_string().is_empty());
            }
        }
    }
    // Both outcomes happen: the mutations are neither all harmless nor all
    // fatal (the fixtures are three rows long, so most mutations are fatal).
    assert!(outcomes.0 >= 5 && outcomes.1 >= 5, "{outcomes:?}");
}
