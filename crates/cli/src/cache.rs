//! `nasdaq-cli cache ls|verify|clear`.

use std::process::ExitCode;

use nasdaq_storage::DiskCache;

use crate::args::{CacheCommand, GlobalArgs};
use crate::config;

pub(crate) fn run(global: &GlobalArgs, command: CacheCommand) -> anyhow::Result<ExitCode> {
    let configured = config::load(global)?;
    let cache = DiskCache::open(configured.cache_dir())?;
    match command {
        CacheCommand::Ls { json } => {
            let entries = cache.entries()?;
            if json {
                println!("{}", serde_json::to_string(&entries)?);
            } else if entries.is_empty() {
                println!("The cache ({}) is empty.", cache.dir().display());
            } else {
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
                println!("{} entries in {}", entries.len(), cache.dir().display());
            }
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Verify { json } => {
            let checks = cache.verify()?;
            let bad = checks.iter().filter(|c| c.problem.is_some()).count();
            if json {
                println!("{}", serde_json::to_string(&checks)?);
            } else {
                for check in &checks {
                    let name = check.uri.as_deref().unwrap_or(&check.id);
                    match &check.problem {
                        None => println!("ok    {name}"),
                        Some(problem) => println!("BAD   {name}: {problem}"),
                    }
                }
                println!(
                    "{} entries, {bad} unsound, in {}",
                    checks.len(),
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
            let removed = cache.clear()?;
            println!("Removed {removed} entries from {}", cache.dir().display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
