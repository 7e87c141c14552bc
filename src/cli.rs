//! The `taskql` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::audit::{self, Event};
use crate::client::ClientMeta;
use crate::config::{Config, generate_secret};
use crate::domain::Username;
use crate::startup::{Application, connect_and_migrate};
use crate::store::users;

/// taskql: a multi-user task API served as one GraphQL schema.
#[derive(Debug, Parser)]
#[command(name = "taskql", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a fresh random SECRET_KEY.
    GenSecret,
    /// Print the GraphQL schema (SDL), or check a file against it.
    Schema {
        /// Exit with status 1 when FILE differs from the schema.
        #[arg(long, value_name = "FILE")]
        check: Option<PathBuf>,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Debug, Subcommand)]
enum UserAction {
    /// Allow the account to log in again; no session from before comes back.
    Activate { username: String },
    /// Refuse the account's logins and end every session it has, for good.
    Deactivate { username: String },
}

impl Cli {
    /// Runs the command and reports failure as one line on stderr.
    pub fn run(self) -> ExitCode {
        match self.command.unwrap_or(Command::Serve) {
            Command::GenSecret => {
                println!("{}", generate_secret());
                ExitCode::SUCCESS
            }
            Command::Schema { check: None } => {
                print!("{}", crate::graphql::sdl());
                ExitCode::SUCCESS
            }
            Command::Schema { check: Some(path) } => check_schema(&path),
            command => match run_with_config(command) {
                Ok(code) => code,
                Err(err) => {
                    eprintln!("error: {err:#}");
                    ExitCode::FAILURE
                }
            },
        }
    }
}

fn check_schema(path: &PathBuf) -> ExitCode {
    match std::fs::read_to_string(path) {
        Ok(committed) if committed == crate::graphql::sdl() => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!(
                "error: {} differs from the schema; regenerate it with `taskql schema > {}`",
                path.display(),
                path.display()
            );
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: cannot read {}: {err}", path.display());
            ExitCode::FAILURE
        }
    }
}

fn run_with_config(command: Command) -> anyhow::Result<ExitCode> {
    let config = Config::from_env()?;
    crate::telemetry::init(config.app_env)?;
    if let Some(path) = &config.generated_key_file {
        tracing::warn!(
            path = %path.display(),
            "SECRET_KEY is not set: signing tokens with a development key kept in this file; set SECRET_KEY in production"
        );
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        match command {
            Command::Serve => {
                let app = Application::build(config).await?;
                tracing::info!("taskql listening on http://{}/graphql", app.address());
                app.run_until_stopped().await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Migrate => {
                connect_and_migrate(&config).await?;
                tracing::info!("database is up to date");
                Ok(ExitCode::SUCCESS)
            }
            Command::User { action } => {
                let (username, active) = match action {
                    UserAction::Activate { username } => (username, true),
                    UserAction::Deactivate { username } => (username, false),
                };
                let username = Username::parse(&username)?;
                let db = connect_and_migrate(&config).await?;
                if let Some(activation) = users::set_active(&db, &username, active).await? {
                    if activation.changed {
                        let event = if active {
                            Event::AccountActivated
                        } else {
                            Event::AccountDeactivated
                        };
                        audit::account(
                            &db,
                            event,
                            Some(activation.user_id),
                            &ClientMeta::default(),
                        )
                        .await;
                    }
                    let state = if active { "active" } else { "deactivated" };
                    match (activation.changed, activation.ended.len()) {
                        (false, _) => println!("{} was already {state}", username.as_str()),
                        (true, 0) => println!("{} is now {state}", username.as_str()),
                        (true, ended) => println!(
                            "{} is now {state}; {ended} session(s) ended",
                            username.as_str()
                        ),
                    }
                    Ok(ExitCode::SUCCESS)
                } else {
                    eprintln!("error: no account is named {}", username.as_str());
                    Ok(ExitCode::FAILURE)
                }
            }
            Command::GenSecret | Command::Schema { .. } => {
                unreachable!("handled without configuration")
            }
        }
    })
}
