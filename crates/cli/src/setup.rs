//! `nasdaq-cli setup`: the old project's `setup_s3.py`, as a wizard. It asks
//! where the data lives and how to sign in, writes `.env` (mode 0600, only
//! the keys it asks about, after confirmation), runs the connection test,
//! offers to upload the local file when the object is missing, and ends with
//! a verification load. Every step can be skipped; `--yes` takes the answers
//! from flags instead of a terminal.
//!
//! Interruptions: the prompts block the main thread, so a watcher task on
//! the runtime receives SIGINT / SIGTERM. During a prompt it exits at once
//! (but never in the middle of writing `.env`, which is a rename of a
//! complete temporary file anyway); during a network step it cancels the
//! step, so an upload in progress is aborted on the server first. In raw
//! mode Ctrl-C reaches a prompt as a key, which dialoguer reports as an
//! interrupted read: that ends the wizard the same way.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use dialoguer::theme::{ColorfulTheme, SimpleTheme, Theme};
use dialoguer::{Confirm, Input, Password, Select};
use nasdaq_config::keys;
use nasdaq_data::{LoadOptions, Purpose, Session};
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::args::{Auth, GlobalArgs, SetupArgs, Storage};
use crate::exit::{Exit, Stopped, Usage};
use crate::{check, config, fetch, load, progress};

/// Held while `.env` is being replaced, so a signal never exits mid-write.
static WRITING: Mutex<()> = Mutex::new(());
/// Whether a network step is running (then a signal cancels it instead).
static IN_STEP: AtomicBool = AtomicBool::new(false);
/// Whether `.env` has been written, for the message on interruption.
static ENV_WRITTEN: AtomicBool = AtomicBool::new(false);

/// The key the wizard sets, or `None` to remove it from `.env`.
type Changes = Vec<(&'static str, Option<String>)>;

/// Runs the wizard.
pub(crate) fn run(
    runtime: &Runtime,
    global: &GlobalArgs,
    args: SetupArgs,
) -> anyhow::Result<ExitCode> {
    let interactive = !args.yes;
    if interactive && !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(Usage(
            "setup asks questions, and this is not a terminal: run it in a terminal, or give \
             the answers as flags, e.g. `nasdaq-cli setup --yes --storage s3 --bucket NAME \
             --key NASDAQ.csv --auth profile --profile NAME` (see `nasdaq-cli setup --help`)"
                .to_owned(),
        )
        .into());
    }
    // Saved before any prompt changes it; put back if a signal ends a prompt.
    let terminal = nix::sys::termios::tcgetattr(std::io::stdin()).ok();
    let signals = watch_signals(runtime, terminal);
    let theme: Box<dyn Theme> = if crate::colour() {
        Box::new(ColorfulTheme::default())
    } else {
        Box::new(SimpleTheme)
    };
    // Where later commands will read it: --env-file, NASDAQ_ENV_FILE, ./.env.
    let env_path = global
        .env_file
        .clone()
        .or_else(|| std::env::var_os("NASDAQ_ENV_FILE").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".env"));
    let existing = read_env(&env_path)?;
    let mut wizard = Wizard {
        runtime,
        global,
        args,
        theme,
        interactive,
        existing,
        signals,
    };
    wizard.run(&env_path)
}

/// Starts the watcher; the receiver says which signal came, once one has.
fn watch_signals(
    runtime: &Runtime,
    terminal: Option<nix::sys::termios::Termios>,
) -> watch::Receiver<Option<Exit>> {
    let (sender, receiver) = watch::channel(None);
    // Installed now, before the first prompt: a signal that came before the
    // task first ran would otherwise kill the process without a word.
    let mut signals = {
        let _context = runtime.enter();
        crate::Signals::listen()
    };
    runtime.spawn(async move {
        let stop = loop {
            let stop = signals.next().await;
            // During a step its future is dropped by the wizard, which then
            // cleans up; a second signal during that clean-up exits at once.
            if !IN_STEP.load(Ordering::SeqCst) || sender.borrow().is_some() {
                break stop;
            }
            let _ = sender.send(Some(stop.exit));
        };
        let _writing = WRITING.lock();
        if let Some(modes) = &terminal {
            // A password prompt reads with echo off: never leave it so.
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                modes,
            );
        }
        let _ = dialoguer::console::Term::stderr().show_cursor();
        eprintln!("\n{}", stopped_message(stop.name));
        std::process::exit(i32::from(stop.exit.code()));
    });
    receiver
}

/// What an interruption leaves behind.
fn stopped_message(how: &str) -> String {
    if ENV_WRITTEN.load(Ordering::SeqCst) {
        format!("setup stopped by {how}; .env was already written and is complete")
    } else {
        format!("setup stopped by {how}; nothing was written")
    }
}

/// The wizard's state: its answers so far and how to ask.
struct Wizard<'a> {
    runtime: &'a Runtime,
    global: &'a GlobalArgs,
    args: SetupArgs,
    theme: Box<dyn Theme>,
    interactive: bool,
    /// The values already in `.env`: the defaults offered.
    existing: BTreeMap<String, String>,
    signals: watch::Receiver<Option<Exit>>,
}

/// Where the answers lead.
struct Plan {
    storage: Storage,
    changes: Changes,
    /// The local file to offer for upload, if any.
    local_file: Option<PathBuf>,
}

impl Wizard<'_> {
    fn run(&mut self, env_path: &Path) -> anyhow::Result<ExitCode> {
        eprintln!(
            "nasdaq-cli setup: where the data lives, how to sign in, then a connection test and \
             a verification load. Ctrl-C stops at any point; nothing is written before you confirm."
        );
        let plan = self.plan()?;
        let written = self.write_step(env_path, &plan.changes)?;
        // The answers are the top layer, so the steps use them whether or not
        // they were written.
        let mut sources = config::sources(self.global);
        sources.env_file = env_path.exists().then(|| env_path.to_path_buf());
        if !written {
            sources.flags.extend(
                plan.changes
                    .iter()
                    .filter_map(|(key, value)| value.clone().map(|v| (*key, v))),
            );
        }
        let session = Session::new(config::load_from(self.global, sources)?);

        let mut check_failed = false;
        if plan.storage != Storage::Local {
            check_failed = !self.check_step(&session, plan.local_file.as_deref())?;
        }
        self.verify_step(&session)?;
        println!(
            "\nNext:\n  nasdaq-cli fetch                    load and preview the data\n  \
             nasdaq-cli fetch -o bars.parquet    write it to Parquet\n  \
             nasdaq-cli check                    test the connection again\n  \
             nasdaq-cli config show              every setting and where it came from"
        );
        if check_failed {
            println!(
                "The connection test failed: see the troubleshooting table in docs/aws-setup.md, \
                 then run `nasdaq-cli check`."
            );
            return Ok(Exit::Source.into());
        }
        Ok(ExitCode::SUCCESS)
    }

    /// The questions about storage and sign-in, as the keys they set.
    fn plan(&self) -> anyhow::Result<Plan> {
        let storage = match self.args.storage {
            Some(storage) => storage,
            None if !self.interactive => match &self.args.bucket {
                Some(_) if self.global.endpoint.is_some() => Storage::Compatible,
                Some(_) => Storage::S3,
                None => {
                    return Err(Usage(
                        "setup --yes needs --storage s3|compatible|local (or --bucket)".to_owned(),
                    )
                    .into());
                }
            },
            None => {
                let default = if self.old("USE_S3") == Some("false") {
                    2
                } else if self.old("AWS_ENDPOINT_URL").is_some() {
                    1
                } else {
                    0
                };
                match self.select(
                    "Where does the data live?",
                    &[
                        "Amazon S3",
                        "An S3-compatible store (MinIO, Ceph, Cloudflare R2, ...) at an endpoint URL",
                        "Local files only (no cloud account)",
                    ],
                    default,
                )? {
                    0 => Storage::S3,
                    1 => Storage::Compatible,
                    _ => Storage::Local,
                }
            }
        };
        if storage == Storage::Local {
            let file = self.local_file(true)?;
            let file = file.context("a local file is needed for --storage local")?;
            return Ok(Plan {
                storage,
                changes: vec![
                    ("USE_S3", Some("false".to_owned())),
                    ("LOCAL_FALLBACK", Some(file.display().to_string())),
                ],
                local_file: Some(file),
            });
        }
        let mut changes: Changes = vec![("USE_S3", Some("true".to_owned()))];
        let bucket = self.text(
            "S3 bucket",
            self.args.bucket.clone(),
            self.old("AWS_S3_BUCKET_NAME"),
            "--bucket",
            validate_bucket,
        )?;
        changes.push(("AWS_S3_BUCKET_NAME", Some(bucket)));
        let key = self.text(
            "Object key in the bucket",
            self.args.key.clone(),
            Some(self.old("AWS_S3_KEY").unwrap_or("NASDAQ.csv")),
            "--key",
            validate_key,
        )?;
        changes.push(("AWS_S3_KEY", Some(key)));
        // Without an answer the region chain decides (the profile's region,
        // else us-east-1): nothing is pinned that the profile should say.
        match (&self.global.region, self.interactive) {
            (Some(region), _) => {
                validate_region(region)
                    .map_err(|why| Usage(format!("--region {region}: {why}")))?;
                changes.push(("AWS_REGION", Some(region.clone())));
            }
            (None, false) => {}
            (None, true) => {
                let mut input = Input::<String>::with_theme(self.theme.as_ref())
                    .with_prompt(format!(
                        "AWS region of the bucket (empty: the profile's region, else {})",
                        nasdaq_storage::DEFAULT_REGION
                    ))
                    .allow_empty(true)
                    .validate_with(|s: &String| {
                        let s = s.trim();
                        if s.is_empty() {
                            Ok(())
                        } else {
                            validate_region(s)
                        }
                    });
                if let Some(old) = self.old("AWS_REGION") {
                    input = input.default(old.to_owned());
                }
                let region = self.prompt(input.interact_text())?.trim().to_owned();
                changes.push(("AWS_REGION", (!region.is_empty()).then_some(region)));
            }
        }
        if storage == Storage::Compatible {
            let endpoint = self.text(
                "Endpoint URL of the store",
                self.global.endpoint.clone(),
                // An endpoint with a password in it is not shown (nor offered).
                self.old("AWS_ENDPOINT_URL")
                    .filter(|url| nasdaq_storage::redact_url(url) == *url),
                "--endpoint",
                validate_endpoint,
            )?;
            let plain = endpoint.starts_with("http://");
            changes.push(("AWS_ENDPOINT_URL", Some(endpoint)));
            changes.push(("AWS_ALLOW_HTTP", plain.then(|| "true".to_owned())));
        } else {
            changes.push(("AWS_ENDPOINT_URL", None));
            changes.push(("AWS_ALLOW_HTTP", None));
        }
        let local_file = self.local_file(false)?;
        changes.push((
            "LOCAL_FALLBACK",
            local_file.as_ref().map(|p| p.display().to_string()),
        ));
        self.auth(&mut changes)?;
        Ok(Plan {
            storage,
            changes,
            local_file,
        })
    }

    /// How requests are signed, as the keys that say it.
    fn auth(&self, changes: &mut Changes) -> anyhow::Result<()> {
        let auth = match self.args.auth {
            Some(auth) => auth,
            None if !self.interactive => {
                return Err(
                    Usage("setup --yes needs --auth profile|keys|role|public".to_owned()).into(),
                );
            }
            None => {
                let default = if self.old("NASDAQ_NO_SIGN_REQUEST") == Some("true") {
                    3
                } else if self.old("AWS_ACCESS_KEY_ID").is_some() {
                    1
                } else {
                    0
                };
                match self.select(
                    "How should requests be signed?",
                    &[
                        "An AWS profile (static keys, SSO, or a role to assume) from ~/.aws/config",
                        "Access keys, stored in .env (mode 600)",
                        "An IAM role where this runs (EC2, ECS, Lambda, EKS) or the environment",
                        "None: the bucket is public (unsigned requests)",
                    ],
                    default,
                )? {
                    0 => Auth::Profile,
                    1 => Auth::Keys,
                    2 => Auth::Role,
                    _ => Auth::Public,
                }
            }
        };
        let keys_removed = [
            ("AWS_ACCESS_KEY_ID", None),
            ("AWS_SECRET_ACCESS_KEY", None),
            ("AWS_SESSION_TOKEN", None),
        ];
        match auth {
            Auth::Profile => {
                let profile = self.profile()?;
                changes.push(("AWS_PROFILE", Some(profile)));
                changes.extend(keys_removed);
                changes.push(("NASDAQ_NO_SIGN_REQUEST", None));
            }
            Auth::Keys => {
                let (id, secret, token) = self.keys()?;
                changes.push(("AWS_ACCESS_KEY_ID", Some(id)));
                changes.push(("AWS_SECRET_ACCESS_KEY", Some(secret)));
                // Temporary keys keep their token; typed long-term keys have none.
                changes.push(("AWS_SESSION_TOKEN", token));
                changes.push(("AWS_PROFILE", None));
                changes.push(("NASDAQ_NO_SIGN_REQUEST", None));
            }
            Auth::Role => {
                changes.extend(keys_removed);
                changes.push(("AWS_PROFILE", None));
                changes.push(("NASDAQ_NO_SIGN_REQUEST", None));
            }
            Auth::Public => {
                changes.extend(keys_removed);
                changes.push(("NASDAQ_NO_SIGN_REQUEST", Some("true".to_owned())));
            }
        }
        Ok(())
    }

    /// The profile: one of those defined, or a name typed.
    fn profile(&self) -> anyhow::Result<String> {
        if let Some(profile) = &self.global.profile {
            return Ok(profile.clone());
        }
        if !self.interactive {
            return Ok(self.old("AWS_PROFILE").unwrap_or("default").to_owned());
        }
        let inputs = nasdaq_storage::CredentialInputs::from_env();
        let names = self
            .runtime
            .block_on(inputs.profile_names())
            .unwrap_or_default();
        if names.is_empty() {
            eprintln!(
                "No profiles in ~/.aws/config or ~/.aws/credentials yet: create one with \
                 `aws configure` (keys) or `aws configure sso` (SSO), then type its name."
            );
            return self.text(
                "Profile name",
                None,
                Some(self.old("AWS_PROFILE").unwrap_or("default")),
                "--profile",
                validate_profile,
            );
        }
        let mut items: Vec<String> = names.clone();
        items.push("another name...".to_owned());
        let default = self
            .old("AWS_PROFILE")
            .and_then(|old| names.iter().position(|n| n == old))
            .unwrap_or(0);
        let choice = self.select("Which profile?", &items, default)?;
        match names.get(choice) {
            Some(name) => Ok(name.clone()),
            None => self.text("Profile name", None, None, "--profile", validate_profile),
        }
    }

    /// Access keys: typed (the secret without echo), kept, or with `--yes`
    /// read from the environment: never from a flag.
    fn keys(&self) -> anyhow::Result<(String, String, Option<String>)> {
        if !self.interactive {
            let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
            return match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
                (Some(id), Some(secret)) => Ok((id, secret, var("AWS_SESSION_TOKEN"))),
                _ => Err(Usage(
                    "setup --yes --auth keys reads the keys from the environment variables \
                     AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (never from flags): set both"
                        .to_owned(),
                )
                .into()),
            };
        }
        if let (Some(id), Some(secret)) = (
            self.old("AWS_ACCESS_KEY_ID"),
            self.old("AWS_SECRET_ACCESS_KEY"),
        ) {
            let keep = self.confirm(
                &format!(
                    "Keep the access key already in .env ({}...)?",
                    nasdaq_storage::credentials::key_id_prefix(id)
                ),
                true,
            )?;
            if keep {
                let token = self.old("AWS_SESSION_TOKEN").map(str::to_owned);
                return Ok((id.to_owned(), secret.to_owned(), token));
            }
        }
        let id = self.text("AWS access key id", None, None, "", validate_key_id)?;
        let secret = self.prompt(
            Password::with_theme(self.theme.as_ref())
                .with_prompt("AWS secret access key (not shown)")
                .validate_with(|s: &String| -> Result<(), String> {
                    if s.trim().is_empty() {
                        Err("the secret access key cannot be empty".to_owned())
                    } else {
                        Ok(())
                    }
                })
                .interact(),
        )?;
        Ok((id, secret.trim().to_owned(), None))
    }

    /// The local file: the source itself (`required`) or the fallback.
    fn local_file(&self, required: bool) -> anyhow::Result<Option<PathBuf>> {
        if let Some(file) = &self.args.local_file {
            if !(file.is_file() || (required && file.is_dir())) {
                return Err(Usage(format!(
                    "--local-file {}: no such file; give the path of a CSV file",
                    file.display()
                ))
                .into());
            }
            return Ok(Some(file.clone()));
        }
        let default = self.old("LOCAL_FALLBACK").map(str::to_owned).or_else(|| {
            Path::new("NASDAQ.csv")
                .is_file()
                .then(|| "NASDAQ.csv".to_owned())
        });
        if !self.interactive {
            if required {
                return Err(
                    Usage("setup --yes --storage local needs --local-file PATH".into()).into(),
                );
            }
            return Ok(default.map(PathBuf::from).filter(|p| p.is_file()));
        }
        let prompt = if required {
            "Path of the local CSV file (or directory)"
        } else {
            "Local CSV file to fall back to when S3 fails, and to offer for upload (empty: none)"
        };
        let mut input = Input::<String>::with_theme(self.theme.as_ref())
            .with_prompt(prompt)
            .allow_empty(!required)
            .validate_with(move |s: &String| -> Result<(), String> {
                let s = s.trim();
                let path = Path::new(s);
                if (s.is_empty() && !required) || path.is_file() || (required && path.is_dir()) {
                    Ok(())
                } else {
                    Err(format!("{s}: no such file or directory"))
                }
            });
        if let Some(default) = default {
            input = input.default(default);
        }
        let answer = self.prompt(input.interact_text())?;
        let answer = answer.trim();
        Ok((!answer.is_empty()).then(|| PathBuf::from(answer)))
    }

    /// Shows the changes and writes them after confirmation; whether written.
    fn write_step(&self, path: &Path, changes: &Changes) -> anyhow::Result<bool> {
        let effective: Changes = changes
            .iter()
            .filter(|(key, value)| self.old(key) != value.as_deref())
            .cloned()
            .collect();
        if effective.is_empty() {
            println!(
                "{} already holds these settings: nothing to write.",
                path.display()
            );
            return Ok(true);
        }
        println!("\nSettings for {}:", path.display());
        for (key, value) in &effective {
            match (value, keys::by_env(key)) {
                (Some(value), Some(spec)) => println!(
                    "  {key}={}",
                    nasdaq_storage::redact_url(&keys::redact(spec, value))
                ),
                (Some(value), None) => println!("  {key}={value}"),
                (None, _) => println!("  {key} (removed)"),
            }
        }
        let exists = path.exists();
        let write = if !self.interactive {
            if exists && !self.args.update_env {
                println!(
                    "{} exists and was kept as it is (pass --update-env to update these keys in it); \
                     the steps below use the settings above.",
                    path.display()
                );
            }
            !exists || self.args.update_env
        } else if exists {
            self.confirm(
                &format!(
                    "{} exists: update these keys in it (its other lines are kept)?",
                    path.display()
                ),
                false,
            )?
        } else {
            self.confirm(&format!("Write {} (mode 600)?", path.display()), true)?
        };
        if !write {
            if effective.iter().any(|(_, value)| value.is_none()) {
                println!(
                    "note: {} keeps the keys marked (removed); the steps below still see them",
                    path.display()
                );
            }
            return Ok(false);
        }
        let old = if exists {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        } else {
            String::new()
        };
        let merged = merge_env(&old, &effective);
        check_merge(path, &self.existing, &merged, &effective)?;
        write_private(path, &merged)?;
        println!("Wrote {} (mode 600).", path.display());
        for (key, _) in effective.iter().filter(|(_, value)| value.is_some()) {
            if std::env::var_os(key).is_some_and(|v| !v.is_empty()) {
                println!(
                    "note: {key} is also set in this shell's environment, which takes precedence \
                     over {}: unset it to use the value written here",
                    path.display()
                );
            }
        }
        Ok(true)
    }

    /// The connection test, and the upload when the object is missing.
    /// Whether the connection works.
    fn check_step(&mut self, session: &Session, local: Option<&Path>) -> anyhow::Result<bool> {
        let run = if self.interactive {
            self.confirm("Run the connection test now?", true)?
        } else {
            !self.args.skip_check
        };
        if !run {
            return Ok(true);
        }
        println!();
        let report = self.step(check::report(session, None, true))?;
        if report.ok || !report.missing {
            return Ok(report.ok);
        }
        let Some(local) = local else {
            println!(
                "s3://{}/{} does not exist yet: upload a file there with `nasdaq-cli upload FILE`.",
                report.bucket, report.key
            );
            return Ok(false);
        };
        let upload = if self.interactive {
            self.confirm(
                &format!(
                    "s3://{}/{} does not exist yet. Upload {} there now?",
                    report.bucket,
                    report.key,
                    local.display()
                ),
                true,
            )?
        } else {
            self.args.upload
        };
        if !upload {
            return Ok(false);
        }
        let uploaded = self.step(async {
            session
                .upload(local, None, false)
                .await
                .map_err(anyhow::Error::from)
        })?;
        println!(
            "Uploaded {} -> {} ({} bytes, SHA-256 {})",
            local.display(),
            uploaded.uri,
            uploaded.bytes,
            uploaded.sha256
        );
        Ok(true)
    }

    /// A load with the new settings, summarised as `fetch` does.
    fn verify_step(&mut self, session: &Session) -> anyhow::Result<()> {
        let run = if self.interactive {
            self.confirm("Run a verification load?", true)?
        } else {
            !self.args.skip_verify
        };
        if !run {
            return Ok(());
        }
        let options = LoadOptions {
            purpose: Purpose::Fetch,
            progress: progress::bar(self.global.quiet),
            ..LoadOptions::default()
        };
        let quiet = self.global.quiet;
        let loaded = self.step(load::run_in(session, quiet, &options))?;
        println!("\n{}", fetch::summary(&loaded.report));
        println!("Served by the {}.", loaded.report.served_by);
        Ok(())
    }

    /// Runs a network step; a signal cancels it (dropping the future aborts
    /// an upload in progress, as for any command).
    fn step<T>(&mut self, future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
        IN_STEP.store(true, Ordering::SeqCst);
        let signals = &mut self.signals;
        let outcome = self.runtime.block_on(async {
            tokio::select! {
                outcome = future => outcome.map_err(Some),
                _ = signals.wait_for(Option::is_some) => Err(None),
            }
        });
        IN_STEP.store(false, Ordering::SeqCst);
        // A signal that came as the step ended still stops the wizard.
        let outcome = match outcome {
            Ok(_) | Err(Some(_)) if self.signals.borrow().is_some() => Err(None),
            outcome => outcome,
        };
        match outcome {
            Ok(value) => Ok(value),
            Err(Some(err)) => Err(err),
            Err(None) => {
                self.runtime.block_on(nasdaq_storage::cleanup::finish(
                    std::time::Duration::from_secs(10),
                ));
                let exit = (*self.signals.borrow()).unwrap_or(Exit::Interrupted);
                let name = if exit == Exit::Terminated {
                    "SIGTERM"
                } else {
                    "SIGINT"
                };
                Err(Stopped {
                    exit,
                    message: stopped_message(name),
                }
                .into())
            }
        }
    }

    /// A value from `.env`, if set there.
    fn old(&self, key: &str) -> Option<&str> {
        self.existing
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// One text answer: the flag's value, or the prompt's, or (with `--yes`)
    /// the default.
    fn text(
        &self,
        prompt: &str,
        flag: Option<String>,
        default: Option<&str>,
        flag_name: &str,
        validate: fn(&str) -> Result<(), String>,
    ) -> anyhow::Result<String> {
        if let Some(value) = flag {
            validate(&value).map_err(|why| {
                Usage(format!(
                    "{flag_name} {}: {why}",
                    nasdaq_storage::redact_url(&value)
                ))
            })?;
            return Ok(value);
        }
        if !self.interactive {
            return match default {
                Some(default) => Ok(default.to_owned()),
                None => Err(Usage(format!("setup --yes needs {flag_name}")).into()),
            };
        }
        let mut input = Input::<String>::with_theme(self.theme.as_ref())
            .with_prompt(prompt)
            .validate_with(move |s: &String| validate(s.trim()));
        if let Some(default) = default {
            input = input.default(default.to_owned());
        }
        Ok(self.prompt(input.interact_text())?.trim().to_owned())
    }

    fn select<S: std::fmt::Display>(
        &self,
        prompt: &str,
        items: &[S],
        default: usize,
    ) -> anyhow::Result<usize> {
        self.prompt(
            Select::with_theme(self.theme.as_ref())
                .with_prompt(prompt)
                .items(items)
                .default(default)
                .interact(),
        )
    }

    fn confirm(&self, prompt: &str, default: bool) -> anyhow::Result<bool> {
        self.prompt(
            Confirm::with_theme(self.theme.as_ref())
                .with_prompt(prompt)
                .default(default)
                .interact(),
        )
    }

    /// A prompt's answer; Ctrl-C typed at it ends the wizard.
    fn prompt<T>(&self, answer: dialoguer::Result<T>) -> anyhow::Result<T> {
        match answer {
            Ok(value) => Ok(value),
            Err(dialoguer::Error::IO(err)) if err.kind() == std::io::ErrorKind::Interrupted => {
                // The console crate raises SIGINT whenever a read is
                // interrupted (Ctrl-C typed in raw mode, or EINTR from any
                // signal), so the watcher is already exiting with the right
                // code and message: leave it the terminal. This is reached
                // only if it did not.
                std::thread::sleep(std::time::Duration::from_secs(5));
                let _ = dialoguer::console::Term::stderr().show_cursor();
                Err(Stopped {
                    exit: Exit::Interrupted,
                    message: stopped_message("Ctrl-C"),
                }
                .into())
            }
            Err(dialoguer::Error::IO(err)) => {
                Err(anyhow::Error::new(err).context("reading the answer"))
            }
        }
    }
}

/// The variables of an existing `.env`, for defaults. A line it cannot
/// parse is an error naming the line by its key (the value may be a
/// secret): setup would otherwise rewrite a file it does not understand.
fn read_env(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    // The settings' own reader, so setup and every command agree.
    let pairs = nasdaq_config::read_env_file(path)?;
    Ok(pairs.into_iter().collect())
}

/// The variable a `.env` line assigns, if it assigns one.
fn assigned_name(line: &str) -> Option<&str> {
    let line = line.trim_start();
    if line.starts_with('#') {
        return None;
    }
    let line = line
        .strip_prefix("export")
        .filter(|rest| rest.starts_with([' ', '\t']))
        .map_or(line, str::trim_start);
    let (name, _) = line.split_once('=')?;
    let name = name.trim();
    (!name.is_empty()).then_some(name)
}

/// `old` with each changed key replaced in place (or removed), every other
/// line kept as it was (comments, `export`, line endings), and new keys
/// appended.
pub(crate) fn merge_env(old: &str, changes: &Changes) -> String {
    let newline = if old.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out = String::new();
    let mut done: Vec<&str> = Vec::new();
    for line in old.split_inclusive('\n') {
        let change = assigned_name(line).and_then(|name| changes.iter().find(|(k, _)| *k == name));
        match change {
            Some((key, value)) => {
                if !done.contains(key) {
                    if let Some(value) = value {
                        out.push_str(&format!("{key}={}{newline}", quote(value)));
                    }
                    done.push(key);
                }
            }
            None => {
                out.push_str(line);
                if !line.ends_with('\n') {
                    out.push_str(newline);
                }
            }
        }
    }
    let added: Vec<_> = changes
        .iter()
        .filter_map(|(key, value)| Some((*key, value.as_ref()?)))
        .filter(|(key, _)| !done.contains(key))
        .collect();
    if !added.is_empty() {
        if !out.is_empty() && !out.ends_with(&format!("{newline}{newline}")) {
            out.push_str(newline);
        }
        out.push_str(&format!("# Written by `nasdaq-cli setup`.{newline}"));
        for (key, value) in added {
            out.push_str(&format!("{key}={}{newline}", quote(value)));
        }
    }
    out
}

/// Reads `merged` back as the settings will and checks it says exactly
/// what was meant: the changes applied, every other variable unchanged. A
/// file this line-by-line edit cannot handle (a value spanning lines) is
/// refused rather than damaged.
fn check_merge(
    path: &Path,
    old: &BTreeMap<String, String>,
    merged: &str,
    changes: &Changes,
) -> anyhow::Result<()> {
    let mut expected = old.clone();
    for (key, value) in changes {
        match value {
            Some(value) => expected.insert((*key).to_owned(), value.clone()),
            None => expected.remove(*key),
        };
    }
    let read: Option<BTreeMap<String, String>> = dotenvy::from_read_iter(merged.as_bytes())
        .collect::<Result<_, _>>()
        .ok();
    if read.as_ref() == Some(&expected) {
        return Ok(());
    }
    Err(Usage(format!(
        "{}: cannot update it safely (a value spanning lines, or a line setup cannot edit in \
         place); nothing was written: edit it by hand (`nasdaq-cli config show` lists the keys), \
         or move it aside and run setup again",
        path.display()
    ))
    .into())
}

/// A value as `.env` spells it so that it reads back the same.
fn quote(value: &str) -> String {
    let plain = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-./:@+,=%".contains(c));
    if plain && !value.is_empty() {
        value.to_owned()
    } else if !value.contains(['\'', '\\', '\n', '\r']) {
        // Single quotes: taken literally, no expansion.
        format!("'{value}'")
    } else {
        let escaped = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$")
            .replace('\n', "\\n")
            .replace('\r', "\\r");
        format!("\"{escaped}\"")
    }
}

/// Replaces `path` with `text` at mode 0600: a complete temporary file in
/// the same directory, renamed over it, so an interrupted write leaves the
/// old file or the new one, never half of one.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let _writing = WRITING.lock();
    // A linked .env is updated where it lives; the link stays.
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let path = target.as_path();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let what = || format!("writing {}", path.display());
    // tempfile creates the file with mode 0600.
    let mut file = tempfile::Builder::new()
        .prefix(".env.setup-")
        .tempfile_in(dir)
        .with_context(what)?;
    file.write_all(text.as_bytes()).with_context(what)?;
    file.as_file().sync_all().with_context(what)?;
    file.persist(path)
        .map_err(|err| err.error)
        .with_context(what)?;
    ENV_WRITTEN.store(true, Ordering::SeqCst);
    Ok(())
}

fn validate_bucket(name: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !name.starts_with(['-', '.'])
        && !name.ends_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err("a bucket name is 3-63 lowercase letters, digits, '-' or '.' (no s3:// prefix)".into())
    }
}

fn validate_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.starts_with('/') || key.starts_with("s3://") {
        Err("give the key inside the bucket, e.g. NASDAQ.csv or daily/ (no leading /)".into())
    } else {
        Ok(())
    }
}

fn validate_region(region: &str) -> Result<(), String> {
    let ok = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err("a region looks like us-east-1 or eu-west-2".into())
    }
}

fn validate_endpoint(url: &str) -> Result<(), String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err("an endpoint is a URL such as https://minio.example.com:9000".into())
    }
}

fn validate_profile(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains(char::is_whitespace) {
        Err("a profile name has no spaces".into())
    } else {
        Ok(())
    }
}

fn validate_key_id(id: &str) -> Result<(), String> {
    if id.len() >= 16 && id.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err("an access key id is 16 or more letters and digits, e.g. AKIA...".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_comments_and_other_keys_and_reads_back() {
        let old = "# mine\nAWS_REGION=eu-west-1\nOTHER=1\nexport AWS_PROFILE=old\nAWS_ACCESS_KEY_ID=AKIAOLD\n";
        let changes: Changes = vec![
            ("AWS_REGION", Some("us-east-2".into())),
            ("AWS_PROFILE", Some("new prof".into())),
            ("AWS_ACCESS_KEY_ID", None),
            ("AWS_S3_BUCKET_NAME", Some("it's \"odd\" $x".into())),
        ];
        let merged = merge_env(old, &changes);
        assert!(
            merged.starts_with("# mine\nAWS_REGION=us-east-2\nOTHER=1\n"),
            "{merged}"
        );
        assert!(!merged.contains("AKIAOLD"), "{merged}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, &merged).unwrap();
        let values = read_env(&path).unwrap();
        assert_eq!(values["AWS_PROFILE"], "new prof");
        assert_eq!(values["AWS_S3_BUCKET_NAME"], "it's \"odd\" $x");
        assert_eq!(values["OTHER"], "1");
        assert!(!values.contains_key("AWS_ACCESS_KEY_ID"));
    }

    /// Writes `text` and reads it back as the settings do.
    fn read_back(text: &str) -> BTreeMap<String, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, text).unwrap();
        read_env(&path).unwrap()
    }

    #[test]
    fn merge_replaces_in_place_and_keeps_everything_else_as_written() {
        let old = "# mine\r\nexport\tAWS_PROFILE=old\r\nOTHER=\"a b\"  # note\r\nAWS_PROFILE=dup\r\nLAST=1";
        let changes: Changes = vec![
            ("AWS_PROFILE", Some("new".into())),
            ("NEW_KEY", Some("v".into())),
        ];
        let merged = merge_env(old, &changes);
        assert_eq!(
            merged,
            "# mine\r\nAWS_PROFILE=new\r\nOTHER=\"a b\"  # note\r\nLAST=1\r\n\r\n\
             # Written by `nasdaq-cli setup`.\r\nNEW_KEY=v\r\n"
        );
        // A removed key goes, whichever way it was written.
        let merged = merge_env(
            "export\tAWS_SECRET_ACCESS_KEY=s\n AWS_ACCESS_KEY_ID = AKIA\n",
            &vec![("AWS_SECRET_ACCESS_KEY", None), ("AWS_ACCESS_KEY_ID", None)],
        );
        assert_eq!(merged, "");
    }

    #[test]
    fn awkward_values_read_back_exactly() {
        for value in [
            "plain",
            "with space",
            "it's",
            "ends with \\",
            "\\' both",
            "$HOME and ${HOME}",
            "two\nlines",
            "quote \" inside",
            "#not a comment",
            "",
        ] {
            let merged = merge_env("", &vec![("KEY", Some(value.to_owned()))]);
            assert_eq!(read_back(&merged)["KEY"], value, "{merged}");
        }
    }

    #[test]
    fn a_file_the_edit_cannot_handle_is_refused() {
        let old = "AWS_REGION=\"eu-west-1\nstill the value\"\nOTHER=1\n";
        let existing = read_back(old);
        let changes: Changes = vec![("AWS_REGION", Some("us-east-2".into()))];
        let merged = merge_env(old, &changes);
        let err = check_merge(Path::new(".env"), &existing, &merged, &changes).unwrap_err();
        assert!(err.to_string().contains("cannot update it safely"), "{err}");
        // What it can handle passes the same check.
        let old = "AWS_REGION=eu-west-1\nOTHER=1\n";
        let merged = merge_env(old, &changes);
        check_merge(Path::new(".env"), &read_back(old), &merged, &changes).unwrap();
    }

    #[test]
    fn a_bad_line_is_named_by_its_key_never_its_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "AWS_SECRET_ACCESS_KEY=abc def ghi\n").unwrap();
        let err = format!("{:#}", read_env(&path).unwrap_err());
        assert!(
            err.contains("line 1") && err.contains("AWS_SECRET_ACCESS_KEY"),
            "{err}"
        );
        assert!(!err.contains("abc") && !err.contains("ghi"), "{err}");
    }

    #[test]
    fn bucket_names_are_checked() {
        assert!(validate_bucket("my-bucket.data").is_ok());
        assert!(validate_bucket("s3://my-bucket").is_err());
        assert!(validate_bucket("My_Bucket").is_err());
        assert!(validate_bucket("ab").is_err());
    }
}
