//! The `clawhost` command: parse flags, load config, and run one subcommand.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::{self, Config, Flags};
use crate::store::SharedStore;
use crate::store::sqlite::SqliteStore;

mod backups;
mod update;
use crate::{auth, fsutil, logging, server};

#[derive(Parser)]
#[command(
    name = "clawhost",
    about = "Host an OpenClaw gateway on your own server, safely."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Default)]
struct DataDirArgs {
    /// Config file (TOML); also CLAWHOST_CONFIG.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory; also CLAWHOST_DATA_DIR.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web service.
    #[command(after_long_help = config::help())]
    Serve {
        #[command(flatten)]
        common: DataDirArgs,
        /// Address to listen on, e.g. 127.0.0.1:8080; also CLAWHOST_LISTEN.
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// URL browsers use to reach clawhost; also CLAWHOST_PUBLIC_URL.
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// Allow running as root (not recommended: run as a dedicated user).
        #[arg(long)]
        allow_root: bool,
        /// Check the settings, say what they come to, and exit without serving.
        #[arg(long)]
        check_config: bool,
    },
    /// Issue a new one-time claim code for an instance without an owner.
    ClaimCode {
        #[command(flatten)]
        common: DataDirArgs,
    },
    /// Manage the owner.
    Owner {
        #[command(subcommand)]
        command: OwnerCommand,
    },
    /// Install Node 24 and OpenClaw into the runtime directory (needs npm).
    InstallOpenclaw {
        #[command(flatten)]
        common: DataDirArgs,
        /// OpenClaw version; default: the one this clawhost is tested with.
        #[arg(long, value_name = "V")]
        version: Option<String>,
        /// Runtime directory; also CLAWHOST_RUNTIME_DIR (default <data-dir>/runtime).
        #[arg(long, value_name = "DIR")]
        runtime_dir: Option<PathBuf>,
    },
    /// Back up the instance: clawhost's database, OpenClaw's state, the configuration.
    Backup {
        #[command(flatten)]
        common: DataDirArgs,
        /// Where to write it; default: a new file in <data-dir>/backups.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// A 0600 file whose first line is a passphrase: the backup is encrypted (age) and
        /// holds the secret key, so a restore elsewhere keeps the provider key.
        #[arg(long, value_name = "F")]
        passphrase_file: Option<PathBuf>,
    },
    /// Restore a backup (clawhost stopped): checked whole before anything changes.
    Restore {
        #[command(flatten)]
        common: DataDirArgs,
        /// The backup file.
        file: PathBuf,
        /// The file holding the passphrase of an encrypted backup.
        #[arg(long, value_name = "F")]
        passphrase_file: Option<PathBuf>,
    },
    /// Update OpenClaw (clawhost stopped): installed beside the current one, checked, backed
    /// up, switched, and rolled back if it does not come up healthy.
    UpdateOpenclaw {
        #[command(flatten)]
        common: DataDirArgs,
        /// The OpenClaw release, e.g. 2026.9.6.
        version: String,
    },
    /// Print the version.
    Version,
    /// Internal: one password hash, for the server (stdin in, stdout out).
    #[command(hide = true)]
    HashWorker,
}

#[derive(Subcommand)]
enum OwnerCommand {
    /// Remove the owner and every session, and print a new claim code.
    Reset {
        #[command(flatten)]
        common: DataDirArgs,
    },
}

/// Runs the command line; the exit code says whether it worked.
pub fn main() -> ExitCode {
    // Everything clawhost creates is private to its user.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("clawhost: {error:#}");
            // A setting to correct (what `serve --check-config` reports) is 2, as for a
            // command line clap refuses; anything else that failed is 1.
            if error.downcast_ref::<config::ConfigError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn load(
    common: &DataDirArgs,
    listen: Option<String>,
    public_url: Option<String>,
) -> anyhow::Result<Config> {
    let flags = Flags {
        config: common.config.clone(),
        listen,
        public_url,
        data_dir: common.data_dir.clone(),
        runtime_dir: None,
    };
    Ok(Config::load(&flags)?)
}

fn install_openclaw(
    common: &DataDirArgs,
    version: Option<String>,
    runtime_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    let flags = Flags {
        config: common.config.clone(),
        data_dir: common.data_dir.clone(),
        runtime_dir,
        ..Flags::default()
    };
    let config = Config::load(&flags)?;
    let version = match version {
        Some(v) => config::parse_version(&v).map_err(|e| anyhow::anyhow!("--version: {e}"))?,
        None => config.gateway.openclaw_version.clone(),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let manifest = runtime.block_on(crate::gateway::runtime::install(
        &config.runtime_dir,
        &version,
        &|line: String| println!("{line}"),
    ))?;
    println!(
        "OpenClaw {} with Node {} is ready in {}",
        manifest.openclaw_version,
        manifest.node_version,
        config.runtime_dir.join("current").display()
    );
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::InstallOpenclaw {
            common,
            version,
            runtime_dir,
        } => install_openclaw(&common, version, runtime_dir),
        Command::Version => {
            println!("clawhost {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::HashWorker => Ok(auth::password::hash_worker()?),
        Command::Serve {
            common,
            listen,
            public_url,
            allow_root,
            check_config,
        } => {
            let config = load(&common, listen, public_url)?;
            if check_config {
                println!("{}", config.summary());
                return Ok(());
            }
            if nix::unistd::geteuid().is_root() && !allow_root {
                anyhow::bail!(
                    "refusing to run as root: run clawhost as a dedicated user: deploy/install.sh in the source installs it as a service (deploy/clawhost.service) that runs as the user clawhost, with only the right to bind ports below 1024; or pass --allow-root if you really mean it"
                );
            }
            logging::init(&config.log_level, config.log_format);
            let runtime = server_runtime()?;
            runtime.block_on(async {
                let shutdown = server::shutdown_signal()?;
                crate::run(config, shutdown).await
            })
        }
        Command::ClaimCode { common } => {
            let config = load(&common, None, None)?;
            let store = open_store_for_cli(&config)?;
            match auth::issue_claim_code(&store, config.claim_code_ttl)? {
                Some(code) => {
                    println!(
                        "New claim code (single use, valid for {}; any earlier code no longer works):",
                        config::format_duration(config.claim_code_ttl)
                    );
                    println!("{code}");
                    Ok(())
                }
                None => anyhow::bail!(
                    "this instance already has an owner; to start over, run 'clawhost owner reset'"
                ),
            }
        }
        Command::Backup {
            common,
            output,
            passphrase_file,
        } => {
            let config = load(&common, None, None)?;
            let store: SharedStore = Arc::new(open_store_for_cli(&config)?);
            let runtime = server_runtime()?;
            backups::backup(&runtime, &config, store, output, passphrase_file.as_deref())
        }
        Command::Restore {
            common,
            file,
            passphrase_file,
        } => {
            let config = load(&common, None, None)?;
            let open =
                || -> anyhow::Result<SharedStore> { Ok(Arc::new(open_store_for_cli(&config)?)) };
            backups::restore(
                &server_runtime()?,
                &config,
                open,
                &file,
                passphrase_file.as_deref(),
            )
        }
        Command::UpdateOpenclaw { common, version } => {
            let config = load(&common, None, None)?;
            let open =
                || -> anyhow::Result<SharedStore> { Ok(Arc::new(open_store_for_cli(&config)?)) };
            update::update_openclaw(&server_runtime()?, &config, open, &version)
        }
        Command::Owner {
            command: OwnerCommand::Reset { common },
        } => {
            let config = load(&common, None, None)?;
            let store = open_store_for_cli(&config)?;
            let code = auth::reset_owner(&store, config.claim_code_ttl)?;
            println!(
                "The owner and every session were removed. Claim the instance again with this code:"
            );
            println!("{code}");
            Ok(())
        }
    }
}

/// The server runs on one thread. Its work is moving bytes between sockets for one owner:
/// one thread does that with less CPU per request than two handing tasks and memory to each
/// other (docs/BENCHMARKS.md, 2026-12-01), and holds less memory idle. What blocks (SQLite,
/// files) runs on tokio's blocking threads; a password hash in a process of its own.
fn server_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Opens the server's database from the command line. Run as root against a directory that
/// belongs to the service user, it would leave root-owned files the server cannot open, so
/// that is refused with the command to use instead.
fn open_store_for_cli(config: &Config) -> anyhow::Result<SqliteStore> {
    let dir: &Path = &config.data_dir;
    if nix::unistd::geteuid().is_root()
        && let Some(uid) = fsutil::owner_uid(dir).filter(|uid| *uid != 0)
    {
        anyhow::bail!(
            "{} belongs to uid {uid}; run this command as that user, e.g. sudo -u '#{uid}' clawhost …",
            dir.display()
        );
    }
    fsutil::ensure_private_dir(dir)?;
    // What it would change now, the unfinished restore would undo when it is finished.
    if crate::backup::commit::unfinished(dir) {
        anyhow::bail!(
            "a restore in {} is not finished yet: start clawhost (or run 'clawhost restore' again), which finishes it first",
            dir.display()
        );
    }
    Ok(SqliteStore::open(&config.database_path())?)
}
