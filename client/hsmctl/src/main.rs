//! hsmctl: the Keyhold operator CLI. This file parses the command line, runs the chosen
//! command and prints its result; a failure prints one line to stderr and exits 1 (clap
//! exits 2 on usage errors).
//!
//! - `cli`: the clap definitions;
//! - `commands`: cluster, key, sign/decrypt, certificates and the PKI commands' output;
//! - `pki`: the development CA and certificates;
//! - `dev`: `dev up` / `dev down`, a local three-node cluster;
//! - `commands::drill`: `drill NAME`, a failover drill on a fresh local cluster;
//! - `commands::audit`: `audit show` / `audit verify`, each node's audit trail;
//! - `output`: text and JSON rendering; `files`: file writes with the right modes;
//! - `error`: the error every command ends with.

mod cli;
mod commands;
mod dev;
mod error;
mod files;
mod output;
mod pki;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use keyhold_client::certs::IssueOptions;

use crate::cli::{AuditCommand, Cli, ClusterCommand, Command, DevCommand, KeyCommand, PkiCommand};
use crate::error::CliError;
use crate::output::{OutputFormat, Render};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&format!("cannot start the async runtime: {err}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err.to_string()),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("hsmctl: error: {}", output::one_line(message));
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let format = cli.output;
    let result: Box<dyn Render> = match cli.command {
        Command::Pki(command) => pki_command(command)?,
        Command::Dev(DevCommand::Up {
            dir,
            base_port,
            hsmd,
            wait_secs,
        }) => {
            let wait = Duration::from_secs(wait_secs);
            let options = dev::UpOptions {
                dir,
                base_port,
                hsmd,
                wait,
            };
            // Prints its own ready line, then runs until stopped.
            return Ok(dev::up(&options, format).await?);
        }
        Command::Dev(DevCommand::Down { dir }) => Box::new(dev::down(&dir).await?),
        Command::Cluster(command) => {
            let client = commands::connect(&cli.config).await?;
            match command {
                ClusterCommand::Init => Box::new(commands::cluster::init(&client).await?),
                ClusterCommand::Status => Box::new(commands::cluster::status(&client).await?),
            }
        }
        Command::Key(command) => key_command(&cli.config, command).await?,
        Command::Sign(args) => {
            let client = commands::connect(&cli.config).await?;
            Box::new(commands::crypto::sign(&client, args).await?)
        }
        Command::Decrypt(args) => {
            let client = commands::connect(&cli.config).await?;
            Box::new(commands::crypto::decrypt(&client, args).await?)
        }
        Command::Drill(args) => {
            let file = args.report.clone();
            let report = commands::drill::run(args).await?;
            print(format, &report)?;
            return commands::drill::verdict(&report, file);
        }
        Command::Audit(command) => return audit_command(&cli.config, format, command).await,
    };
    print(format, result.as_ref())
}

fn pki_command(command: PkiCommand) -> Result<Box<dyn Render>, CliError> {
    Ok(match command {
        PkiCommand::Init {
            dir,
            nodes,
            sans,
            client_name,
            force,
        } => {
            let options = pki::InitOptions {
                nodes,
                sans,
                client_name,
                force,
            };
            Box::new(commands::pki::init(&dir, &options)?)
        }
        PkiCommand::Issue {
            dir,
            csr,
            out,
            days,
            client_auth,
            chain,
        } => {
            let options = IssueOptions {
                validity_days: days,
                server_auth: true,
                client_auth,
            };
            Box::new(commands::cert::issue(&dir, &csr, &options, chain, out)?)
        }
        PkiCommand::IssueClient { dir, name, force } => {
            Box::new(commands::pki::issue_client(&dir, &name, force)?)
        }
    })
}

/// A key command; each connects where it needs to (csr and self-sign through a signer).
async fn key_command(config: &Path, command: KeyCommand) -> Result<Box<dyn Render>, CliError> {
    use commands::{cert, connect, key};
    Ok(match command {
        KeyCommand::Generate {
            algorithm,
            label,
            usage,
        } => Box::new(key::generate(&connect(config).await?, &algorithm, &label, usage).await?),
        KeyCommand::Import { file, label, usage } => {
            Box::new(key::import(&connect(config).await?, &file, &label, usage).await?)
        }
        KeyCommand::List {
            label,
            page_size,
            page_token,
            all,
        } => {
            let client = connect(config).await?;
            Box::new(key::list(&client, label, page_size, page_token, all).await?)
        }
        KeyCommand::Show { id } => Box::new(key::show(&connect(config).await?, &id).await?),
        KeyCommand::Public { id, out } => {
            Box::new(key::public(&connect(config).await?, &id, out).await?)
        }
        KeyCommand::Destroy { id } => Box::new(key::destroy(&connect(config).await?, &id).await?),
        KeyCommand::Csr { id, subject, out } => {
            Box::new(cert::csr(config, &id, subject, out).await?)
        }
        KeyCommand::SelfSign {
            id,
            subject,
            days,
            out,
        } => Box::new(cert::self_sign(config, &id, subject, days, out).await?),
    })
}

/// An audit command; each prints its own result (`show --json` as JSON lines, `verify`
/// before failing on a broken trail).
async fn audit_command(
    config: &Path,
    format: OutputFormat,
    command: AuditCommand,
) -> Result<(), CliError> {
    let client = commands::connect(config).await?;
    match command {
        AuditCommand::Show {
            node,
            from,
            limit,
            json,
        } => {
            let page = commands::audit::show(&client, node, from, limit).await?;
            if json {
                return commands::audit::print_lines(&page);
            }
            print(format, &page)
        }
        AuditCommand::Verify {
            node,
            all: _,
            expect,
        } => {
            // clap requires exactly one of --node and --all: no node means every node.
            let report = commands::audit::verify(&client, node, expect).await?;
            print(format, &report)?;
            commands::audit::verdict(&report)
        }
    }
}

fn print(format: OutputFormat, result: &dyn Render) -> Result<(), CliError> {
    output::print(format, result).map_err(CliError::Stdout)
}
