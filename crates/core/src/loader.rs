//! The `Loader`: a source and a request in, a sorted, checked table and a
//! report with its lineage out.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::compute::{filter_record_batch, take_record_batch};
use arrow::datatypes::Date32Type;
use arrow::datatypes::{DataType, Field, Schema};
use nasdaq_storage::{GetOptions, MarketSource, ObjectInfo};

use crate::dataset;
use crate::quality::{Origins, Policies, QualityReport, Ranks, evaluate};
use crate::reader::{BatchLines, ParseOptions, ReadOptions, read_csv};
use crate::report::{EngineFacts, FileLineage, Role, SourceFailure};
use crate::table::{FileRows, Summary, Table, format_date, slices, sort_rows, summarize};
use crate::table_cache::{Hit, Identity, StoredFacts, TableCache, TableKey};
use crate::{Error, LoadReport, Result};

/// CSV objects of a prefix read at once.
const FILES_AT_ONCE: usize = 4;

/// What to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadRequest {
    /// The object's key; or a prefix (empty, or ending in `/`): every object under it.
    pub key: String,
    /// With a prefix: only objects whose name matches this glob (`*.csv`).
    pub glob: Option<String>,
    /// Dialect, ticker and row filter.
    pub parse: ParseOptions,
    /// A policy per quality rule.
    pub policies: Policies,
    /// Whether an `error` rule fails the load (`fetch`), or only reports (`validate`).
    pub fail_on_error_rules: bool,
    /// Whether to return the rejected rows with their reasons.
    pub collect_rejects: bool,
}

impl LoadRequest {
    /// A request for the object (or prefix) at `key`, with default policies.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            glob: None,
            parse: ParseOptions::default(),
            policies: Policies::default(),
            fail_on_error_rules: true,
            collect_rejects: false,
        }
    }

    /// Whether `key` names a prefix rather than one object.
    pub fn is_prefix(&self) -> bool {
        self.key.is_empty() || self.key.ends_with('/')
    }
}

/// The result of a load.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The rows, sorted by (date, ticker), without the dropped ones.
    pub table: Table,
    /// How the load went, with lineage.
    pub report: LoadReport,
    /// The quality report, with examples.
    pub quality: QualityReport,
    /// With `collect_rejects`: the rejected rows, canonical columns plus
    /// `rule`, `file` and `line`.
    pub rejects: Option<RecordBatch>,
}

/// One place a load may be served from.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The source.
    pub source: Arc<dyn MarketSource>,
    /// The key to read there, when it differs from the request's (a local fallback file).
    pub key: Option<String>,
    /// Its part in the chain, for reports.
    pub role: Role,
}

/// What one source yielded, before the report is made.
struct Read {
    table: Table,
    quality: QualityReport,
    rejects: Option<RecordBatch>,
    facts: EngineFacts,
}

/// Loads market data from a source, or from the first of a chain of sources
/// that works. Cheap to clone; embed it in a service.
#[derive(Debug, Clone)]
pub struct Loader {
    chain: Vec<Candidate>,
    options: ReadOptions,
    tables: Option<TableCacheUse>,
}

/// How a loader uses a table cache.
#[derive(Debug, Clone)]
struct TableCacheUse {
    cache: TableCache,
    /// False with `--refresh`: parse again, store the result.
    read: bool,
}

/// What a load reads, once its source has answered.
enum Input {
    /// One object, its body not yet read.
    Object(nasdaq_storage::Fetched),
    /// The CSV objects of a prefix.
    Objects(Vec<ObjectInfo>),
    /// A dataset's files.
    Dataset(dataset::Manifest),
}

impl Loader {
    /// A loader reading from `source`.
    pub fn new(source: Arc<dyn MarketSource>) -> Self {
        Self::chain(vec![Candidate {
            source,
            key: None,
            role: Role::Primary,
        }])
    }

    /// A loader trying each candidate in turn: a failure of one source
    /// (network, server error after retries, access denied, not found,
    /// checksum mismatch) moves to the next; a data error does not.
    pub fn chain(chain: Vec<Candidate>) -> Self {
        Self {
            chain,
            options: ReadOptions::default(),
            tables: None,
        }
    }

    /// Serves a repeated load of unchanged objects under unchanged options
    /// from `cache` (when `read`), and stores what it parses there. Loads
    /// that collect rejected rows, and dataset reads, bypass it.
    pub fn with_table_cache(mut self, cache: TableCache, read: bool) -> Self {
        self.tables = Some(TableCacheUse { cache, read });
        self
    }

    /// Overrides how the reader cuts and schedules work.
    pub fn with_read_options(mut self, options: ReadOptions) -> Self {
        self.options = options;
        self
    }

    /// Loads the requested object(s) into a sorted, checked table, from the
    /// first source of the chain that serves them.
    pub async fn load(&self, request: &LoadRequest) -> Result<Loaded> {
        let mut failures: Vec<SourceFailure> = Vec::new();
        let mut errors: Vec<Error> = Vec::new();
        for (index, candidate) in self.chain.iter().enumerate() {
            let mut attempt = request.clone();
            if let Some(key) = &candidate.key {
                attempt.key = key.clone();
            }
            let err = match self.load_from(&candidate.source, &attempt).await {
                Ok(read) => {
                    let Read {
                        table,
                        quality,
                        rejects,
                        facts,
                    } = read;
                    return Ok(Loaded {
                        table,
                        report: LoadReport::new(facts, candidate.role, failures),
                        quality,
                        rejects,
                    });
                }
                Err(err) => err,
            };
            // A data error would fail the same way anywhere: no point going on.
            if !err.is_source_failure() && failures.is_empty() {
                return Err(err);
            }
            failures.push(SourceFailure {
                role: candidate.role,
                uri: candidate.source.uri(&attempt.key),
                error: nasdaq_storage::error_chain(&err),
            });
            let last = !err.is_source_failure() || index + 1 == self.chain.len();
            if last && failures.len() == 1 {
                return Err(err);
            }
            tracing::info!(role = %candidate.role, error = %nasdaq_storage::error_chain(&err), "source failed");
            errors.push(err);
            if last {
                let primary = errors.remove(0);
                return Err(Error::AllSourcesFailed {
                    failures,
                    primary: Box::new(primary),
                    others: errors,
                });
            }
        }
        Err(Error::Internal {
            message: "the loader has no source".to_owned(),
        })
    }

    async fn load_from(
        &self,
        source: &Arc<dyn MarketSource>,
        request: &LoadRequest,
    ) -> Result<Read> {
        let started = Instant::now();
        let input = if request.is_prefix() {
            let listed = source.list(&request.key).await?;
            let keys = listed.iter().map(|o| o.key.as_str());
            match dataset::latest_manifest(&**source, &request.key, keys).await? {
                Some(manifest) => Input::Dataset(manifest),
                None => Input::Objects(matching_objects(
                    listed,
                    &request.key,
                    &source.uri(&request.key),
                    request.glob.as_deref(),
                )?),
            }
        } else {
            Input::Object(source.get(&request.key, GetOptions::default()).await?)
        };
        let table_key = match (&self.tables, &input) {
            (Some(_), _) if request.collect_rejects => None,
            (Some(_), Input::Object(fetched)) => {
                Some(TableKey::new(request, vec![Identity::of(&fetched.info)]))
            }
            (Some(_), Input::Objects(objects)) => Some(TableKey::new(
                request,
                objects.iter().map(Identity::of).collect(),
            )),
            _ => None,
        };
        let today = chrono::Utc::now().date_naive();
        if let (Some(tables), Some(key)) = (&self.tables, &table_key)
            && tables.read
        {
            let cache = tables.cache.clone();
            let lookup = key.clone();
            // A decoder stopped by a damaged entry is a miss, never a
            // failed load: the table is parsed again and the entry replaced.
            let hit = tokio::task::spawn_blocking(move || cache.get(&lookup, today))
                .await
                .unwrap_or_else(|err| {
                    tracing::warn!(entry = %key.id, error = %err, "reading the cached table stopped; parsing again");
                    None
                });
            if let Some(hit) = hit {
                tracing::debug!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    rows = hit.table.num_rows(),
                    "served from the table cache"
                );
                return self.served(source, request, &input, hit, started);
            }
        }
        let (files, lineage) = match input {
            Input::Dataset(manifest) => self.read_dataset(source, request, &manifest).await?,
            Input::Objects(objects) => self.read_csv_files(source, request, objects).await?,
            Input::Object(fetched) => self
                .read_fetched(fetched, request, &self.options)
                .await
                .map(|(rows, lineage)| (vec![rows], vec![lineage]))?,
        };
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            files = lineage.len(),
            "read and parsed"
        );
        let names: Vec<String> = lineage.iter().map(|l| l.uri.clone()).collect();
        let policies = request.policies.clone();
        let collect_rejects = request.collect_rejects;
        let (table, summary, quality, rejects) = tokio::task::spawn_blocking(move || {
            check_and_keep(files, &names, &policies, collect_rejects)
        })
        .await
        .map_err(|err| Error::Internal {
            message: format!("sorting stopped: {err}"),
        })??;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "sorted and checked"
        );
        if quality.failed && request.fail_on_error_rules {
            return Err(Error::Quality {
                uri: source.uri(&request.key),
                summary: quality.failure_summary(),
            });
        }
        // Only a load of several files is named by its prefix; asking the
        // source for an address it does not need is a call too.
        let requested_uri = (lineage.len() != 1).then(|| source.uri(&request.key));
        let mut table_cache = None;
        if let (Some(tables), Some(key)) = (&self.tables, table_key) {
            table_cache = Some("miss".to_owned());
            // What was read must be what the key names: an object replaced
            // between the listing and its read is not stored under the old name.
            let same = key.objects.len() == lineage.len()
                && key.objects.iter().zip(&lineage).all(|(k, l)| k.matches(l));
            if !same {
                tracing::debug!("an object changed while it was read; its table is not stored");
            } else if !key.settled(chrono::Utc::now()) {
                tracing::debug!(
                    "a file changed seconds ago, too recently for its time to tell a \
                     rewrite; its table is stored by a later load"
                );
            } else {
                let facts = StoredFacts {
                    requested_uri: requested_uri.clone(),
                    summary: summary.clone(),
                    files: lineage.clone(),
                    quality: quality.clone(),
                };
                let (cache, stored) = (tables.cache.clone(), table.clone());
                let put =
                    tokio::task::spawn_blocking(move || cache.put(&key, &stored, facts, today))
                        .await;
                match put {
                    Ok(Ok(())) => tracing::debug!(
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "stored in the table cache"
                    ),
                    // An optimisation: a full disk or a read-only cache
                    // costs the next load a parse, not this load its table.
                    Ok(Err(err)) => tracing::warn!(
                        error = %nasdaq_storage::error_chain(&err),
                        "the table cache cannot be written; the next load parses again"
                    ),
                    Err(err) => tracing::warn!(error = %err, "storing in the table cache stopped"),
                }
            }
        }
        Ok(Read {
            table,
            facts: EngineFacts {
                requested_uri,
                summary,
                rejected: quality.rejected(),
                warnings: quality.warnings(),
                files: lineage,
                elapsed: started.elapsed(),
                table_cache,
            },
            quality,
            rejects,
        })
    }

    /// The result of a load served from the table cache: the stored facts,
    /// with how the object cache answered this time.
    fn served(
        &self,
        source: &Arc<dyn MarketSource>,
        request: &LoadRequest,
        input: &Input,
        hit: Hit,
        started: Instant,
    ) -> Result<Read> {
        let Hit { table, facts } = hit;
        let StoredFacts {
            requested_uri,
            summary,
            mut files,
            quality,
        } = facts;
        if quality.failed && request.fail_on_error_rules {
            return Err(Error::Quality {
                uri: source.uri(&request.key),
                summary: quality.failure_summary(),
            });
        }
        match input {
            Input::Object(fetched) => {
                for file in &mut files {
                    file.cache = fetched.cache.as_ref().map(|c| c.status().to_owned());
                    file.stale_reason = match &fetched.cache {
                        Some(nasdaq_storage::CacheOutcome::Stale { reason }) => {
                            Some(reason.clone())
                        }
                        _ => None,
                    };
                }
            }
            // Not fetched at all this time.
            _ => {
                for file in &mut files {
                    file.cache = None;
                    file.stale_reason = None;
                }
            }
        }
        Ok(Read {
            table,
            facts: EngineFacts {
                requested_uri,
                summary,
                rejected: quality.rejected(),
                warnings: quality.warnings(),
                files,
                elapsed: started.elapsed(),
                table_cache: Some("hit".to_owned()),
            },
            quality,
            rejects: None,
        })
    }
}

impl Loader {
    /// Reads and parses the CSV objects of a prefix, a few at once (many
    /// small objects are mostly waiting on the network), in key order,
    /// drawn as one progress bar.
    async fn read_csv_files(
        &self,
        source: &Arc<dyn MarketSource>,
        request: &LoadRequest,
        objects: Vec<ObjectInfo>,
    ) -> Result<(Vec<FileRows>, Vec<FileLineage>)> {
        use futures::{FutureExt, StreamExt, TryStreamExt};
        let mut options = self.options.clone();
        if let Some(bar) = &self.options.progress {
            let total = objects.iter().map(|o| o.size).sum();
            bar.start(&source.uri(&request.key), Some(total));
            options.progress = Some(Arc::new(nasdaq_storage::SharedBar(bar.clone())));
        }
        let options = &options;
        let read = futures::stream::iter(objects)
            .map(|object: ObjectInfo| {
                async move {
                    self.read_csv_file(source, request, &object.key, options)
                        .await
                }
                // Boxed: an unboxed stream of borrowing futures is not
                // `Send` for every lifetime.
                .boxed()
            })
            .buffered(FILES_AT_ONCE)
            .try_collect::<Vec<_>>()
            .await;
        if let Some(bar) = &self.options.progress {
            bar.finish();
        }
        Ok(read?.into_iter().unzip())
    }

    /// Reads and parses the CSV object at `key`.
    async fn read_csv_file(
        &self,
        source: &Arc<dyn MarketSource>,
        request: &LoadRequest,
        key: &str,
        options: &ReadOptions,
    ) -> Result<(FileRows, FileLineage)> {
        let fetched = source.get(key, GetOptions::default()).await?;
        self.read_fetched(fetched, request, options).await
    }

    /// Reads and parses a CSV object whose source has answered.
    async fn read_fetched(
        &self,
        fetched: nasdaq_storage::Fetched,
        request: &LoadRequest,
        options: &ReadOptions,
    ) -> Result<(FileRows, FileLineage)> {
        let info = fetched.info;
        if let Some(progress) = &options.progress {
            progress.start(&info.uri, Some(info.size));
        }
        let expected = info.metadata.get(nasdaq_storage::cache::SHA256_METADATA);
        let read = read_csv(
            fetched.stream,
            &info.uri,
            expected.map(String::as_str),
            &request.parse,
            options,
        )
        .await;
        if let Some(progress) = &options.progress {
            progress.finish();
        }
        let read = read?;
        let lineage = FileLineage {
            uri: info.uri.clone(),
            etag: info.etag.clone(),
            version: info.version.clone(),
            last_modified: Some(info.last_modified.to_rfc3339()),
            sha256: read.sha256.clone(),
            bytes: read.bytes,
            dialect: read.dialect.to_owned(),
            rows_read: read.rows_read,
            cache: fetched.cache.as_ref().map(|c| c.status().to_owned()),
            stale_reason: match &fetched.cache {
                Some(nasdaq_storage::CacheOutcome::Stale { reason }) => Some(reason.clone()),
                _ => None,
            },
        };
        let rows = FileRows {
            batches: read.batches,
            lines: read.lines,
            negative_volume: read.negative_volume,
        };
        Ok((rows, lineage))
    }

    /// Reads the files of a dataset that the request's filter needs (the
    /// manifest's dates and tickers prune the rest), each checked against
    /// the SHA-256 the manifest lists.
    async fn read_dataset(
        &self,
        source: &Arc<dyn MarketSource>,
        request: &LoadRequest,
        manifest: &dataset::Manifest,
    ) -> Result<(Vec<FileRows>, Vec<FileLineage>)> {
        use futures::{FutureExt, StreamExt, TryStreamExt};
        // Owned: a stream over borrowed entries would tie its futures to
        // a lifetime of their own.
        let wanted: Vec<dataset::DataFile> = manifest
            .prune(&request.parse.filter)
            .into_iter()
            .cloned()
            .collect();
        tracing::info!(
            version = manifest.version,
            files = wanted.len(),
            of = manifest.files.len(),
            "reading a dataset"
        );
        if let Some(progress) = &self.options.progress {
            let total = wanted.iter().map(|f| f.bytes).sum();
            progress.start(&source.uri(&request.key), Some(total));
        }
        let read = futures::stream::iter(wanted)
            .map(|file: dataset::DataFile| {
                async move {
                    let (body, info, cache) =
                        dataset::read_part(&**source, &request.key, &file).await?;
                    if let Some(progress) = &self.options.progress {
                        progress.advance(body.len() as u64);
                    }
                    let sha256 = file.sha256.clone();
                    let bytes = body.len() as u64;
                    let filter = request.parse.filter.clone();
                    let uri = info.uri.clone();
                    let batches = tokio::task::spawn_blocking(move || {
                        dataset::decode_file(body, &uri, &filter)
                    })
                    .await
                    .map_err(|err| Error::Internal {
                        message: format!("decoding stopped: {err}"),
                    })??;
                    // A part file's "line" is its row number, counted from 1.
                    let lines = batches
                        .iter()
                        .scan(0u64, |seen, batch| {
                            let offset = *seen;
                            *seen += batch.num_rows() as u64;
                            Some(BatchLines {
                                offset,
                                relative: Vec::new(),
                            })
                        })
                        .collect();
                    let negative_volume = vec![Vec::new(); batches.len()];
                    let lineage = FileLineage {
                        uri: info.uri.clone(),
                        etag: info.etag.clone(),
                        version: info.version.clone(),
                        last_modified: Some(info.last_modified.to_rfc3339()),
                        sha256,
                        bytes,
                        dialect: format!("parquet (dataset version {})", manifest.version),
                        rows_read: file.rows,
                        cache: cache.as_ref().map(|c| c.status().to_owned()),
                        stale_reason: None,
                    };
                    Ok::<_, Error>((
                        FileRows {
                            batches,
                            lines,
                            negative_volume,
                        },
                        lineage,
                    ))
                }
                // Boxed: the futures borrow the request, and an unboxed
                // stream of them is not `Send` for every lifetime.
                .boxed()
            })
            .buffered(4)
            .try_collect::<Vec<_>>()
            .await;
        if let Some(progress) = &self.options.progress {
            progress.finish();
        }
        Ok(read?.into_iter().unzip())
    }
}

/// The objects of a listing of `prefix` that a load takes: not hidden, and
/// matching `glob` (by name, or by the path under the prefix). None is
/// [`Error::NoFiles`], naming the prefix by its address `prefix_uri`.
pub fn matching_objects(
    listed: Vec<ObjectInfo>,
    prefix: &str,
    prefix_uri: &str,
    glob: Option<&str>,
) -> Result<Vec<ObjectInfo>> {
    let pattern = match glob {
        Some(glob) => Some(glob::Pattern::new(glob).map_err(|err| Error::BadGlob {
            glob: glob.to_owned(),
            message: err.to_string(),
        })?),
        None => None,
    };
    let objects: Vec<ObjectInfo> = listed
        .into_iter()
        .filter(|object| {
            let key = &object.key;
            let name = key.rsplit('/').next().unwrap_or(key);
            let hidden = name.starts_with('.');
            let wanted = match &pattern {
                Some(p) => p.matches(name) || p.matches(&key[prefix.len().min(key.len())..]),
                None => true,
            };
            !hidden && wanted
        })
        .collect();
    if objects.is_empty() {
        return Err(Error::NoFiles {
            prefix: prefix_uri.to_owned(),
            glob: glob.unwrap_or("*").to_owned(),
        });
    }
    Ok(objects)
}

/// Sorts, checks the quality rules, drops what the policies drop.
fn check_and_keep(
    files: Vec<FileRows>,
    names: &[String],
    policies: &Policies,
    collect_rejects: bool,
) -> Result<(Table, Summary, QualityReport, Option<RecordBatch>)> {
    let started = Instant::now();
    let sorted = sort_rows(files, names)?;
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "sorted");
    let ranks = Ranks {
        ranks: &sorted.ranks,
        tickers: sorted.tickers,
    };
    let today = chrono::Utc::now().date_naive();
    let verdict = evaluate(
        &sorted.table,
        &sorted.origins,
        &ranks,
        sorted.flags,
        policies,
        today,
    );
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "quality rules checked"
    );
    let rejects = if collect_rejects {
        Some(rejected_rows(
            &sorted.table,
            &sorted.origins,
            &verdict.rejected_by,
        )?)
    } else {
        None
    };
    let dropped = verdict.report.dropped > 0;
    let kept = if dropped {
        filter_record_batch(&sorted.table, &verdict.keep)?
    } else {
        sorted.table
    };
    let table = Table {
        schema: crate::schema::canonical(),
        batches: slices(&kept),
    };
    // Sorted by date: the bounds are the ends; the tickers were counted while sorting.
    let summary = if dropped {
        summarize(&table)
    } else {
        let dates = kept.column(0).as_primitive::<Date32Type>();
        let bound = |i: usize| (!dates.is_empty()).then(|| format_date(dates.value(i)));
        Summary {
            rows: kept.num_rows(),
            tickers: sorted.tickers,
            first_date: bound(0),
            last_date: bound(dates.len().saturating_sub(1)),
        }
    };
    Ok((table, summary, verdict.report, rejects))
}

/// The rejected rows with `rule`, `file` and `line` columns.
fn rejected_rows(
    table: &RecordBatch,
    origins: &Origins,
    rejected_by: &[Option<crate::Rule>],
) -> Result<RecordBatch> {
    let rows: Vec<u32> = rejected_by
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_some())
        .map(|(i, _)| i as u32)
        .collect();
    let taken = take_record_batch(table, &UInt32Array::from(rows.clone()))?;
    let rule: StringArray = rows
        .iter()
        .map(|r| rejected_by[*r as usize].map(|rule| rule.name()))
        .collect();
    let file: StringArray = rows.iter().map(|r| origins.at(*r as usize).0).collect();
    let line = UInt64Array::from_iter_values(rows.iter().map(|r| origins.at(*r as usize).1));
    let mut fields: Vec<Field> = taken
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("rule", DataType::Utf8, false));
    fields.push(Field::new("file", DataType::Utf8, false));
    fields.push(Field::new("line", DataType::UInt64, false));
    let mut columns: Vec<ArrayRef> = taken.columns().to_vec();
    columns.push(Arc::new(rule));
    columns.push(Arc::new(file));
    columns.push(Arc::new(line));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
