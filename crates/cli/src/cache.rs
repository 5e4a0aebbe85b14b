//! `nasdaq-cli cache ls|verify|clear`: the downloaded objects and the parsed
//! tables, both kept in the cache directory.

use std::process::ExitCode;

use nasdaq_core::TableCache;
use nasdaq_storage::DiskCache;

use crate::args::{CacheCommand, GlobalArgs};
use crate::config;

pub(crate) fn run(global: &GlobalArgs, command: CacheCommand) -> anyhow::Result<ExitCode> {
    let configured = config::load(global)?;
    let cache = DiskCache::open(configured.cache_dir())?;
    let tables = TableCache::open(&cache)?;
    match command {
        CacheCommand::Ls { json } => {
            let entries = cache.entries()?;
            let table_entries = tables.entries()?;
            if json {
                let listing = serde_json::json!({ "objects": entries, "tables": table_entries });
                println!("{}", serde_json::to_string(&listing)?);
                return Ok(ExitCode::SUCCESS);
            }
            if entries.is_empty() && table_entries.is_empty() {
                println!("The cache ({}) is empty.", cache.dir().display());
                return Ok(ExitCode::SUCCESS);
            }
            if !entries.is_empty() {
                println!("{:12} {:25} {:36} URI", "SIZE", "FETCHED", "ETAG");
                for e in &entries {
                    println!(
                        "{:>12} {:25} {:36} {}",
                        e.size,
                        e.fetched_at.get(..19).unwrap_or(&e.fetched_at),
                        e.etag.as_deref().unwrap_or("-"),
                        e.uri
                    );
                }
            }
            if !table_entries.is_empty() {
                if !entries.is_empty() {
                    println!();
                }
                println!("{:12} {:10} {:25} PARSED FROM", "SIZE", "ROWS", "STORED");
                for t in &table_entries {
                    println!(
                        "{:>12} {:>10} {:25} {}",
                        t.bytes,
                        t.rows,
                        t.stored_at.get(..19).unwrap_or(&t.stored_at),
                        t.sources.join(", ")
                    );
                }
            }
            println!(
                "{} objects and {} parsed tables in {}",
                entries.len(),
                table_entries.len(),
                cache.dir().display()
            );
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Verify { json } => {
            let checks = cache.verify()?;
            let table_checks = tables.verify()?;
            let bad = checks
                .iter()
                .chain(&table_checks)
                .filter(|c| c.problem.is_some())
                .count();
            if json {
                let listing = serde_json::json!({ "objects": checks, "tables": table_checks });
                println!("{}", serde_json::to_string(&listing)?);
            } else {
                let kinds = [("object", &checks), ("table", &table_checks)];
                for (kind, checks) in kinds {
                    for check in checks {
                        let name = check.uri.as_deref().unwrap_or(&check.id);
                        match &check.problem {
                            None => println!("ok    {kind:6} {name}"),
                            Some(problem) => println!("BAD   {kind:6} {name}: {problem}"),
                        }
                    }
                }
                println!(
                    "{} entries, {bad} unsound, in {}",
                    checks.len() + table_checks.len(),
                    cache.dir().display()
                );
            }
            Ok(if bad == 0 {
                ExitCode::SUCCESS
            } else {
                crate::exit::Exit::Data.into()
            })
        }
        CacheCommand::Clear => {
            let objects = cache.clear()?;
            let parsed = tables.clear()?;
            println!(
                "Removed {objects} objects and {parsed} parsed tables from {}",
                cache.dir().display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
