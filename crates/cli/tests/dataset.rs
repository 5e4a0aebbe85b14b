//! Parquet datasets written where the data lives (a real S3 server, moto,
//! on 127.0.0.1), read back by DuckDB, pyarrow and polars, appended,
//! replaced, raced and interrupted.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Sandbox, python_with_pyarrow, signal, stderr, stdout};
use nasdaq_testkit::{FaultProxy, S3TestServer, fault_proxy::Fault};
use serde_json::Value;

const SAMPLE: &[u8] = include_bytes!("../../../data/sample/NASDAQ.csv");
const READERS: &str = include_str!("dataset_readers.py");
const KEY_ID: &str = "AKIATESTKEY0000";
const SECRET: &str = "testsecret";

/// The sample's rows split by ticker into `parts` CSV files, each with the header.
fn split_sample(parts: usize) -> Vec<Vec<u8>> {
    let text = std::str::from_utf8(SAMPLE).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let mut tickers: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    tickers.sort_unstable();
    tickers.dedup();
    let mut files: Vec<Vec<u8>> = (0..parts).map(|_| format!("{header}\n").into()).collect();
    for line in lines {
        let ticker = line.split(',').nth(1).unwrap();
        let index = tickers.binary_search(&ticker).unwrap() % parts;
        files[index].extend_from_slice(line.as_bytes());
        files[index].push(b'\n');
    }
    files
}

/// A moto server with a bucket, a sandbox, and the Python of the test command.
struct World {
    server: S3TestServer,
    sandbox: Sandbox,
    python: std::path::PathBuf,
}

impl World {
    fn start() -> Option<Self> {
        let python = python_with_pyarrow()?;
        let server = S3TestServer::start(&["bars"])?;
        Some(Self {
            server,
            sandbox: Sandbox::new(),
            python,
        })
    }

    fn command(&self) -> Command {
        self.sandbox
            .s3_command(&self.server.endpoint, KEY_ID, SECRET)
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// Runs and expects success; returns stdout as JSON when it is JSON.
    fn ok(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?} failed: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Puts `body` at `s3://bars/KEY` the way users do: `nasdaq-cli upload`.
    fn put(&self, key: &str, body: &[u8]) {
        let name = format!("upload-{}.csv", key.replace('/', "_"));
        self.sandbox.write(&name, body);
        self.ok(&["upload", &name, &format!("s3://bars/{key}"), "--force"]);
    }

    fn readers(&self, args: &[&str]) -> String {
        let script = self.sandbox.write("dataset_readers.py", READERS);
        let out = self
            .sandbox
            .command_for(self.python.to_str().unwrap())
            .arg(script)
            .args(args)
            .env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dataset_readers.py {args:?}: {}",
            stderr(&out)
        );
        stdout(&out)
    }

    /// The objects under `s3://bars/PREFIX` (key → ETag), the newest
    /// manifest, and the multipart uploads in progress.
    fn state(&self, prefix: &str) -> Value {
        serde_json::from_str(&self.readers(&["state", &self.server.endpoint, "bars", prefix]))
            .unwrap()
    }
}

/// Every file the manifest lists exists, no part file is unlisted, and no
/// (date, ticker) pair is listed twice across files' date ranges (checked
/// on the rows by the readers elsewhere).
fn assert_consistent(state: &Value, prefix: &str) {
    let manifest = &state["manifest"];
    let objects = state["objects"].as_object().unwrap();
    let listed: Vec<String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{prefix}{}", f["path"].as_str().unwrap()))
        .collect();
    for key in &listed {
        assert!(
            objects.contains_key(key),
            "the manifest lists {key}, which is missing"
        );
    }
    for key in objects.keys().filter(|k| k.ends_with(".parquet")) {
        assert!(
            listed.contains(key),
            "{key} is in the dataset's folders but not in its manifest"
        );
    }
    let rows: u64 = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(manifest["rows"].as_u64(), Some(rows));
}

#[test]
fn a_partitioned_dataset_on_s3_reads_back_the_same_rows_in_duckdb_pyarrow_and_polars() {
    let Some(world) = World::start() else { return };
    for (i, body) in split_sample(4).iter().enumerate() {
        world.put(&format!("raw/part{i}.csv"), body);
    }
    let report = world.ok(&[
        "fetch",
        "s3://bars/raw/",
        "--output",
        "s3://bars/curated/",
        "--partition-by",
        "month",
        "--target-file-size",
        "1",
        "--json",
    ]);
    assert_eq!(report["version"], 1);
    assert_eq!(report["committed"], true);
    assert_eq!(report["added"].as_array().unwrap().len(), 4);
    assert_eq!(report["rows"], 5220);
    // Twelve months of four sources.
    assert_eq!(report["files_written"].as_array().unwrap().len(), 48);

    let state = world.state("curated/");
    assert_consistent(&state, "curated/");
    let manifest = &state["manifest"];
    assert_eq!(manifest["partition_by"], "month");
    for file in manifest["files"].as_array().unwrap() {
        let path = file["path"].as_str().unwrap();
        assert!(
            path.starts_with("year=2024/month=") && path.contains("/part-"),
            "{path}"
        );
        // The content hash in the name is the file's own.
        let hash = file["sha256"].as_str().unwrap();
        assert!(
            path.ends_with(&format!("part-{}.parquet", &hash[..32])),
            "{path}"
        );
        assert!(
            file["source"]
                .as_str()
                .unwrap()
                .starts_with("s3://bars/raw/part")
        );
    }
    for source in manifest["sources"].as_array().unwrap() {
        assert!(source["etag"].is_string() && source["sha256"].as_str().unwrap().len() == 64);
    }

    // The same sources loaded plainly, for the readers to compare with.
    world.ok(&["fetch", "s3://bars/raw/", "--output", "direct.parquet"]);
    let copy = world.sandbox.path("copy");
    let summary = world.readers(&[
        "compare",
        &world.server.endpoint,
        "bars",
        "curated/",
        world.sandbox.path("direct.parquet").to_str().unwrap(),
        copy.to_str().unwrap(),
    ]);
    let summary: Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["rows"], 5220, "{summary}");

    // Read back by us, pruned by the manifest: a month of two tickers.
    let pruned = world.ok(&[
        "fetch",
        "s3://bars/curated/",
        "--tickers",
        "AAPL,MSFT",
        "--from",
        "2024-03-01",
        "--to",
        "2024-03-31",
        "--json",
    ]);
    let direct = world.ok(&[
        "fetch",
        "s3://bars/raw/",
        "--tickers",
        "AAPL,MSFT",
        "--from",
        "2024-03-01",
        "--to",
        "2024-03-31",
        "--json",
    ]);
    assert_eq!(pruned["rows"], direct["rows"]);
    assert!(pruned["rows"].as_u64().unwrap() > 30, "{pruned}");
    let files = pruned["files"].as_array().unwrap();
    // Only March's files of the sources holding AAPL or MSFT.
    assert!(
        !files.is_empty() && files.len() <= 2,
        "{} files read of 48",
        files.len()
    );
    for file in files {
        assert!(
            file["uri"]
                .as_str()
                .unwrap()
                .contains("/year=2024/month=3/"),
            "{file}"
        );
        assert!(
            file["dialect"]
                .as_str()
                .unwrap()
                .starts_with("parquet (dataset version 1)")
        );
    }
}

#[test]
fn append_loads_only_what_is_new_and_a_changed_source_replaces_its_rows() {
    let Some(world) = World::start() else { return };
    let parts = split_sample(4);
    for (i, body) in parts.iter().take(3).enumerate() {
        world.put(&format!("raw/part{i}.csv"), body);
    }
    let append = [
        "fetch",
        "s3://bars/raw/",
        "-o",
        "s3://bars/curated/",
        "--partition-by",
        "year",
        "--append",
        "--json",
    ];
    let first = world.ok(&append);
    assert_eq!(
        (first["version"].as_u64(), first["committed"].as_bool()),
        (Some(1), Some(true))
    );
    let before = world.state("curated/");

    // Nothing new: nothing changes, not even an object's ETag.
    let again = world.ok(&append);
    assert_eq!(again["committed"], false, "{again}");
    assert_eq!(again["version"], 1);
    assert_eq!(again["unchanged"], 3);
    assert!(
        again["loads"].as_array().unwrap().is_empty(),
        "a seen source was loaded again"
    );
    assert_eq!(world.state("curated/")["objects"], before["objects"]);

    // A new source: only it is loaded.
    world.put("raw/part3.csv", &parts[3]);
    let grown = world.ok(&append);
    assert_eq!(grown["version"], 2);
    assert_eq!(
        grown["added"],
        serde_json::json!(["s3://bars/raw/part3.csv"])
    );
    assert_eq!(grown["unchanged"], 3);
    assert_eq!(grown["rows"], 5220);
    assert_consistent(&world.state("curated/"), "curated/");
    let grown_state = world.state("curated/");
    let again = world.ok(&append);
    assert_eq!(
        (again["committed"].as_bool(), again["version"].as_u64()),
        (Some(false), Some(2))
    );
    assert_eq!(world.state("curated/")["objects"], grown_state["objects"]);

    // A new version of part0: one close changed, one row fewer.
    let text = String::from_utf8(parts[0].clone()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut fields: Vec<String> = lines[1].split(',').map(str::to_owned).collect();
    let (date, ticker) = (fields[0].clone(), fields[1].clone());
    fields[5] = "999.5".to_owned();
    fields[3] = "1000".to_owned(); // high stays above close
    lines[1] = fields.join(",");
    lines.pop();
    world.put(
        "raw/part0.csv",
        format!("{}\n", lines.join("\n")).as_bytes(),
    );
    let replaced = world.ok(&append);
    assert_eq!(replaced["version"], 3, "{replaced}");
    assert_eq!(
        replaced["replaced"],
        serde_json::json!(["s3://bars/raw/part0.csv"])
    );
    assert!(!replaced["files_removed"].as_array().unwrap().is_empty());
    assert_eq!(replaced["rows"], 5219);
    let state = world.state("curated/");
    assert_consistent(&state, "curated/");
    for removed in replaced["files_removed"].as_array().unwrap() {
        let key = format!("curated/{}", removed.as_str().unwrap());
        assert!(
            state["objects"].get(&key).is_none(),
            "{key} was not removed"
        );
    }
    // Read back: the new value, once.
    world.ok(&["fetch", "s3://bars/curated/", "-o", "back.parquet"]);
    let check = format!(
        "import pyarrow.parquet as pq, pyarrow.compute as pc, sys\n\
         t = pq.read_table(sys.argv[1])\n\
         pairs = set(zip(t['date'].to_pylist(), t['ticker'].to_pylist()))\n\
         assert len(pairs) == t.num_rows == 5219, (len(pairs), t.num_rows)\n\
         m = t.filter(pc.and_(pc.equal(pc.cast(t['date'], 'string'), '{date}'), pc.equal(t['ticker'], '{ticker}')))\n\
         print(m['close'].to_pylist())"
    );
    let closes = common::python(&world.python, &check, &world.sandbox.path("back.parquet"));
    assert_eq!(closes.trim(), "[999.5]");

    // A source that repeats another's pairs is refused; nothing changes.
    world.put("raw/copy-of-part1.csv", &parts[1]);
    let before = world.state("curated/");
    let out = world.run(&append);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains("s3://bars/raw/copy-of-part1.csv")
            && message.contains("s3://bars/raw/part1.csv")
            && message.contains("nothing was committed"),
        "{message}"
    );
    assert_eq!(world.state("curated/")["objects"], before["objects"]);
}

#[test]
fn concurrent_appends_commit_one_version_each_and_keep_the_manifest_consistent() {
    let Some(world) = World::start() else { return };
    let parts = split_sample(5);
    world.put("raw/part0.csv", &parts[0]);
    world.ok(&[
        "fetch",
        "s3://bars/raw/",
        "-o",
        "s3://bars/curated/",
        "--append",
    ]);
    for (i, body) in parts.iter().enumerate().skip(1) {
        world.put(&format!("raw/part{i}.csv"), body);
    }
    // Four writers at once, each appending its own new source: they all
    // read version 1, so all but one lose the first commit.
    let writers: Vec<Child> = (1..5)
        .map(|i| {
            world
                .command()
                .args([
                    "fetch",
                    "s3://bars/raw/",
                    "--glob",
                    &format!("part[0{i}].csv"),
                    "-o",
                    "s3://bars/curated/",
                    "--append",
                    "--json",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut versions = Vec::new();
    let mut attempts = 0;
    for writer in writers {
        let out = writer.wait_with_output().unwrap();
        if out.status.success() {
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(report["committed"], true);
            versions.push(report["version"].as_u64().unwrap());
            attempts += report["attempts"].as_u64().unwrap();
        } else {
            // A writer that lost every attempt says so and commits nothing.
            assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
            assert!(
                stderr(&out).contains("other writers committed"),
                "{}",
                stderr(&out)
            );
        }
    }
    versions.sort_unstable();
    let expected: Vec<u64> = (2..2 + versions.len() as u64).collect();
    assert_eq!(
        versions, expected,
        "each successful writer committed its own version"
    );
    eprintln!(
        "{} writers committed, in {attempts} attempts",
        versions.len()
    );
    let state = world.state("curated/");
    assert_consistent(&state, "curated/");
    let sources = state["manifest"]["sources"].as_array().unwrap().len();
    assert_eq!(sources, 1 + versions.len());
    // Whatever lost for good may simply run again.
    world.ok(&[
        "fetch",
        "s3://bars/raw/",
        "-o",
        "s3://bars/curated/",
        "--append",
    ]);
    let state = world.state("curated/");
    assert_consistent(&state, "curated/");
    assert_eq!(state["manifest"]["rows"], 5220);
}

#[test]
fn an_s3_output_is_written_in_parts_and_an_interrupted_one_leaves_nothing() {
    let Some(world) = World::start() else { return };
    world.sandbox.write("NASDAQ.csv", SAMPLE);
    world.ok(&["fetch", "NASDAQ.csv", "-o", "s3://bars/out/bars.parquet"]);
    world.ok(&["fetch", "NASDAQ.csv", "-o", "local.parquet"]);
    let state = world.state("out/");
    assert!(
        state["objects"].get("out/bars.parquet").is_some(),
        "{state}"
    );
    let code = "import pyarrow.parquet as pq, sys, os\n\
                import pyarrow.fs as fs\n\
                s3 = fs.S3FileSystem(endpoint_override=os.environ['ENDPOINT'], scheme='http', region='us-east-1', access_key=os.environ['AWS_ACCESS_KEY_ID'], secret_key=os.environ['AWS_SECRET_ACCESS_KEY'])\n\
                a = pq.read_table('bars/out/bars.parquet', filesystem=s3)\n\
                b = pq.read_table(sys.argv[1])\n\
                assert a.equals(b), 'rows differ'\n\
                assert b'nasdaq.load_report' in a.schema.metadata\n\
                print(a.num_rows)";
    let out = world
        .sandbox
        .command_for(world.python.to_str().unwrap())
        .args(["-c", code])
        .arg(world.sandbox.path("local.parquet"))
        .env("ENDPOINT", &world.server.endpoint)
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "5220");

    // A big table, interrupted while its parts are uploading.
    big_csv(&world.sandbox.path("big.csv"), 2500, 400);
    let child = world
        .command()
        .args([
            "fetch",
            "big.csv",
            "-o",
            "s3://bars/out/big.parquet",
            "--quiet",
        ])
        .env("NASDAQ_QUALITY_MISSING_SESSIONS", "drop")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    world.readers(&["wait-upload", &world.server.endpoint, "bars"]);
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let state = world.state("out/");
    assert!(state["objects"].get("out/big.parquet").is_none(), "{state}");
    assert_eq!(state["uploads"], 0, "the multipart upload was not aborted");
}

/// Starts a dataset write from `s3://bars/raw/` (two sources) into the
/// local folder `dataset`, with one source's body stalled by a proxy, and
/// returns once the other source's part files are in the folder.
fn stalled_write(world: &World, proxy: &FaultProxy, dataset: &Path) -> Child {
    let parts = split_sample(2);
    world.put("raw/part0.csv", &parts[0]);
    world.put("raw/part1.csv", &parts[1]);
    proxy.inject(Fault::Stall, Some(1));
    let child = world
        .sandbox
        .s3_command(&proxy.endpoint, KEY_ID, SECRET)
        .args(["fetch", "s3://bars/raw/", "-o"])
        .arg(dataset)
        .args(["--partition-by", "year", "--quiet", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while parquet_files(dataset).is_empty() {
        assert!(Instant::now() < deadline, "no part file was written");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

fn no_version(dataset: &Path) -> bool {
    std::fs::read_dir(dataset.join("_manifest")).map_or(true, |mut d| d.next().is_none())
}

#[test]
fn an_interrupted_dataset_write_leaves_no_file_and_no_version() {
    let Some(world) = World::start() else { return };
    let proxy = FaultProxy::start(&world.server.endpoint);
    let dataset = world.sandbox.path("dataset");
    let child = stalled_write(&world, &proxy, &dataset);
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(parquet_files(&dataset), Vec::<String>::new());
    assert!(no_version(&dataset), "a version was committed");
}

#[test]
fn part_files_of_a_killed_write_are_removed_by_a_later_one_once_a_day_old() {
    let Some(world) = World::start() else { return };
    let proxy = FaultProxy::start(&world.server.endpoint);
    let dataset = world.sandbox.path("dataset");
    let mut child = stalled_write(&world, &proxy, &dataset);
    // SIGKILL: no chance to clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    let orphans = parquet_files(&dataset);
    assert!(!orphans.is_empty());
    assert!(no_version(&dataset), "a version was committed");
    proxy.heal();

    // A write soon after leaves them: they could be another writer's.
    let args = [
        "fetch",
        "s3://bars/raw/",
        "-o",
        "dataset",
        "--partition-by",
        "year",
        "--json",
    ];
    let report = world.ok(&args);
    assert_eq!(report["orphans_removed"], serde_json::json!([]));
    for orphan in &orphans {
        assert!(Path::new(orphan).exists(), "{orphan} was removed too soon");
    }
    // A day later they go, and only they.
    let old = std::time::SystemTime::now() - Duration::from_secs(25 * 3600);
    for orphan in &orphans {
        std::fs::File::options()
            .write(true)
            .open(orphan)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let listed_before = listed_files(&dataset);
    let report = world.ok(&[&args[..], &["--append"]].concat());
    let removed = report["orphans_removed"].as_array().unwrap();
    let unlisted = orphans
        .iter()
        .filter(|o| !listed_before.iter().any(|l| o.ends_with(l.as_str())))
        .count();
    assert_eq!(removed.len(), unlisted, "{report}");
    let mut left = parquet_files(&dataset);
    left.sort();
    let mut listed: Vec<String> = listed_files(&dataset)
        .iter()
        .map(|p| dataset.join(p).display().to_string())
        .collect();
    listed.sort();
    assert_eq!(left, listed);
}

/// The paths the newest manifest of a local dataset lists.
fn listed_files(dataset: &Path) -> Vec<String> {
    let mut manifests: Vec<_> = std::fs::read_dir(dataset.join("_manifest"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    manifests.sort();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(manifests.last().unwrap()).unwrap()).unwrap();
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_damaged_dataset_is_refused_naming_the_file() {
    let sandbox = Sandbox::new();
    sandbox.write("NASDAQ.csv", SAMPLE);
    let out = sandbox.run(&[
        "fetch",
        "NASDAQ.csv",
        "-o",
        "ds/",
        "--partition-by",
        "month",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ok = sandbox.run(&["fetch", "ds/", "--json"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let report: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(report["rows"], 5220);

    // One month's file replaced by another's: the manifest's SHA-256 catches it.
    let files = listed_files(&sandbox.path("ds"));
    let (a, b) = (
        sandbox.path("ds").join(&files[0]),
        sandbox.path("ds").join(&files[1]),
    );
    let good = std::fs::read(&a).unwrap();
    std::fs::copy(&b, &a).unwrap();
    let out = sandbox.run(&["fetch", "ds/"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("differs from the dataset's manifest")
            && stderr(&out).contains(&files[0]),
        "{}",
        stderr(&out)
    );
    std::fs::write(&a, good).unwrap();

    // A manifest cut short.
    let manifest = sandbox.path("ds/_manifest/_00000000000000000001.json");
    let text = std::fs::read(&manifest).unwrap();
    std::fs::write(&manifest, &text[..text.len() / 2]).unwrap();
    let out = sandbox.run(&["fetch", "ds/"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("_manifest/_00000000000000000001.json")
            && stderr(&out).contains("not a readable dataset manifest"),
        "{}",
        stderr(&out)
    );
    // An append cannot go on from it; a rewrite, as the hint says, can.
    let append = [
        "fetch",
        "NASDAQ.csv",
        "-o",
        "ds/",
        "--partition-by",
        "month",
        "--append",
    ];
    let out = sandbox.run(&append);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("without --append"),
        "{}",
        stderr(&out)
    );
    let out = sandbox.run(&append[..6]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = sandbox.run(&["fetch", "ds/", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows"], 5220);
    assert!(
        report["files"][0]["dialect"]
            .as_str()
            .unwrap()
            .contains("version 2")
    );
}

#[test]
fn a_location_holding_other_files_is_not_taken_for_a_dataset() {
    let sandbox = Sandbox::new();
    sandbox.write("NASDAQ.csv", SAMPLE);
    std::fs::create_dir_all(sandbox.path("lake/year=2024")).unwrap();
    // Another tool's part file, as Spark names them.
    let spark = sandbox.write("lake/year=2024/part-00000-1b2c.snappy.parquet", "not ours");
    let out = sandbox.run(&[
        "fetch",
        "NASDAQ.csv",
        "-o",
        "lake/",
        "--partition-by",
        "year",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("part-00000-1b2c.snappy.parquet")
            && stderr(&out).contains("a location of its own"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&spark).unwrap(), b"not ours");
    assert!(!sandbox.path("lake/_manifest").exists());
}

#[test]
fn watch_appends_new_source_files_and_stops_cleanly_on_sigterm() {
    let Some(world) = World::start() else { return };
    let parts = split_sample(2);
    world.put("raw/part0.csv", &parts[0]);
    let child = world
        .command()
        .args([
            "watch",
            "s3://bars/raw/",
            "-o",
            "s3://bars/curated/",
            "--partition-by",
            "year",
            "--every",
            "200ms",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let version = |world: &World| world.state("curated/")["manifest"]["version"].as_u64();
    wait_for(|| version(&world) == Some(1), "the first round");
    world.put("raw/part1.csv", &parts[1]);
    wait_for(|| version(&world) == Some(2), "the new file");
    signal(&child, libc::SIGTERM);
    let out = wait_with_timeout(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stopped by SIGTERM"),
        "{}",
        stderr(&out)
    );
    let rounds: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let committed: Vec<u64> = rounds
        .iter()
        .filter(|r| r["committed"] == true)
        .map(|r| r["version"].as_u64().unwrap())
        .collect();
    assert_eq!(committed, [1, 2]);
    assert_consistent(&world.state("curated/"), "curated/");
    assert_eq!(world.state("curated/")["manifest"]["rows"], 5220);
}

fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "watch never committed {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_with_timeout(mut child: Child, timeout: Duration) -> Output {
    let deadline = Instant::now() + timeout;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not stop within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn parquet_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().contains(".parquet") {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// `days` weekdays of `tickers` tickers, in the long layout.
fn big_csv(path: &Path, tickers: usize, days: i64) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(file, "Date,Ticker,Open,High,Low,Close,Adj Close,Volume").unwrap();
    let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 6).unwrap();
    for day in 0..days {
        let date = start + chrono::Duration::days(day / 5 * 7 + day % 5);
        for ticker in 0..tickers {
            let close = 10.0 + ((day as usize * 31 + ticker * 17) % 997) as f64 / 10.0;
            writeln!(
                file,
                "{date},T{ticker:04},{close},{},{},{close},{close},{}",
                close + 1.0,
                close - 1.0,
                1000 + ticker
            )
            .unwrap();
        }
    }
}

#[test]
fn a_source_touched_but_unchanged_updates_only_its_manifest_entry() {
    let sandbox = Sandbox::new();
    std::fs::create_dir(sandbox.path("raw")).unwrap();
    let parts = split_sample(2);
    sandbox.write("raw/a.csv", &parts[0]);
    sandbox.write("raw/b.csv", &parts[1]);
    let append = [
        "fetch",
        "raw/",
        "-o",
        "ds/",
        "--partition-by",
        "year",
        "--append",
        "--json",
    ];
    let run = |args: &[&str]| -> Value {
        let out = sandbox.run(args);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let first = run(&append);
    assert_eq!(first["version"], 1);
    let files = listed_files(&sandbox.path("ds"));
    // A new modification time is a new ETag for a local file; the bytes are the same.
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(sandbox.path("raw/a.csv"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    let touched = run(&append);
    assert_eq!(touched["version"], 2, "{touched}");
    assert_eq!(touched["committed"], true);
    assert_eq!(touched["files_written"], serde_json::json!([]));
    assert_eq!(touched["replaced"], serde_json::json!([]));
    assert_eq!(touched["unchanged"], 1);
    assert_eq!(listed_files(&sandbox.path("ds")), files);
    // And the new ETag is the one remembered: the next run reads nothing.
    let again = run(&append);
    assert_eq!(again["committed"], false, "{again}");
    assert_eq!(again["unchanged"], 2);
}

#[test]
fn a_file_url_output_is_a_local_file_and_a_file_url_dataset_a_folder() {
    let sandbox = Sandbox::new();
    sandbox.write("NASDAQ.csv", SAMPLE);
    let file = format!("file://{}", sandbox.path("bars.parquet").display());
    let out = sandbox.run(&["fetch", "NASDAQ.csv", "-o", &file]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(sandbox.path("bars.parquet").is_file());
    assert!(
        !sandbox.path("file:").exists(),
        "the URL was taken as a relative path"
    );
    let folder = format!("file://{}/", sandbox.path("ds").display());
    let out = sandbox.run(&["fetch", "NASDAQ.csv", "-o", &folder, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["version"].as_u64(), report["rows"].as_u64()),
        (Some(1), Some(5220))
    );
    assert_eq!(report["partition_by"], "none");
    assert_eq!(listed_files(&sandbox.path("ds")).len(), 1);
}

#[test]
fn a_rewrite_may_change_the_layout_and_an_append_may_not() {
    let sandbox = Sandbox::new();
    sandbox.write("NASDAQ.csv", SAMPLE);
    let write = |layout: &str, append: bool| {
        let mut args = vec![
            "fetch",
            "NASDAQ.csv",
            "-o",
            "ds/",
            "--partition-by",
            layout,
            "--json",
        ];
        if append {
            args.push("--append");
        }
        sandbox.run(&args)
    };
    assert!(write("month", false).status.success());
    let out = write("year", true);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("partitioned by month, not year"),
        "{}",
        stderr(&out)
    );
    // Nor may an append keep other rows of its sources than the dataset does.
    let out = sandbox.run(&[
        "fetch",
        "NASDAQ.csv",
        "-o",
        "ds/",
        "--partition-by",
        "month",
        "--append",
        "--tickers",
        "AAPL",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("holds the rows of tickers all")
            && stderr(&out).contains("asks for tickers AAPL"),
        "{}",
        stderr(&out)
    );
    let out = write("year", false);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["version"], 2);
    assert_eq!(report["files_removed"].as_array().unwrap().len(), 12);
    let mut left = parquet_files(&sandbox.path("ds"));
    left.sort();
    let listed = listed_files(&sandbox.path("ds"));
    assert_eq!(listed.len(), 1);
    assert!(listed[0].starts_with("year=2024/part-"), "{listed:?}");
    assert_eq!(
        left,
        [sandbox.path("ds").join(&listed[0]).display().to_string()]
    );
}
