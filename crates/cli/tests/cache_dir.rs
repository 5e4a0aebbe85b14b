//! Cache maintenance touches only what the cache wrote: a directory that
//! is not a cache is refused, whatever it is called or linked from.

mod common;

use common::{Sandbox, stderr, stdout};

const SAMPLE: &str = "Date,Ticker,Open,High,Low,Close,Adj Close,Volume\n\
                      2024-01-02,AAPL,187.2,188.4,183.9,185.6,184.9,82000000\n";

#[test]
fn a_project_folder_is_not_a_cache_and_keeps_its_files() {
    let sandbox = Sandbox::new();
    sandbox.write(".env", "AWS_S3_BUCKET_NAME=market\n");
    sandbox.write("README.md", "# my project\n");
    sandbox.write("prices.csv", SAMPLE);
    for command in ["clear", "ls", "verify"] {
        let out = sandbox.run(&["cache", command, "--cache-dir", "."]);
        assert_eq!(
            out.status.code(),
            Some(5),
            "cache {command}: {}",
            stdout(&out)
        );
        let err = stderr(&out);
        assert!(
            err.contains("is not a nasdaq-data cache") && err.contains("nothing was touched"),
            "{err}"
        );
    }
    assert_eq!(sandbox.files(), [".env", "README.md", "prices.csv"]);

    // Through a symbolic link, the files behind it are just as safe.
    std::os::unix::fs::symlink(sandbox.dir.path(), sandbox.path("linked")).unwrap();
    let out = sandbox.run(&["cache", "clear", "--cache-dir", "linked"]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        sandbox.files(),
        [".env", "README.md", "linked", "prices.csv"]
    );
}

#[test]
fn clear_removes_entries_and_leftovers_but_nothing_else() {
    let sandbox = Sandbox::new();
    let cache = sandbox.path("cache");
    // A new directory becomes a tagged cache.
    let out = sandbox.run(&["cache", "ls", "--cache-dir", "cache"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let tag = std::fs::read_to_string(cache.join("CACHEDIR.TAG")).unwrap();
    assert!(
        tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55"),
        "{tag}"
    );
    // Entries, a partial download of a killed process, and a user's file
    // put there by hand, plus a link out of the cache.
    let id = "ab".repeat(32);
    std::fs::write(cache.join(format!("{id}.data")), SAMPLE).unwrap();
    std::fs::write(cache.join(format!("{id}.json")), "{}").unwrap();
    std::fs::write(cache.join(format!(".{id}.x1y2.partial")), "half").unwrap();
    std::fs::write(sandbox.path("keep.csv"), SAMPLE).unwrap();
    std::os::unix::fs::symlink(
        sandbox.path("keep.csv"),
        cache.join(format!("{}.data", "cd".repeat(32))),
    )
    .unwrap();
    std::fs::write(cache.join("notes.txt"), "mine").unwrap();
    // The same in the parsed tables' directory.
    let tables = cache.join("tables");
    std::fs::write(tables.join(format!("{id}.arrow")), "table").unwrap();
    std::fs::write(tables.join(format!("{id}.json")), "{}").unwrap();
    std::fs::write(tables.join(format!(".{id}.a1b2.partial")), "half").unwrap();
    std::fs::write(tables.join("mine.arrow"), "mine").unwrap();
    std::os::unix::fs::symlink(
        sandbox.path("keep.csv"),
        tables.join(format!("{}.arrow", "cd".repeat(32))),
    )
    .unwrap();
    let out = sandbox.run(&["cache", "clear", "--cache-dir", "cache"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut left: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["CACHEDIR.TAG", "notes.txt", "tables"]);
    let left: Vec<String> = std::fs::read_dir(&tables)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["mine.arrow"]);
    // The link was removed as a link: the file behind it is intact.
    assert_eq!(
        std::fs::read_to_string(sandbox.path("keep.csv")).unwrap(),
        SAMPLE
    );
}

#[test]
fn a_cache_from_before_the_tag_is_adopted() {
    let sandbox = Sandbox::new();
    let cache = sandbox.path("old-cache");
    std::fs::create_dir(&cache).unwrap();
    let id = "01".repeat(32);
    std::fs::write(cache.join(format!("{id}.data")), SAMPLE).unwrap();
    std::fs::write(cache.join(format!("{id}.lock")), "").unwrap();
    let out = sandbox.run(&["cache", "verify", "--cache-dir", "old-cache"]);
    assert!(cache.join("CACHEDIR.TAG").exists(), "{}", stderr(&out));
}
