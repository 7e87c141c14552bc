//! The `taskql` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sea_orm::DatabaseConnection;

use crate::audit::{self, Entry, Event};
use crate::client::ClientMeta;
use crate::config::{Config, generate_secret};
use crate::domain::{Role, Username};
use crate::startup::{Application, connect_and_migrate};
use crate::store::users::{self, Uncommitted};

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
    /// Make the account an administrator: it may then use the admin API.
    Promote { username: String },
    /// Make the administrator an ordinary user again; refused for the last active one.
    Demote { username: String },
}

impl UserAction {
    fn username(&self) -> &str {
        match self {
            UserAction::Activate { username }
            | UserAction::Deactivate { username }
            | UserAction::Promote { username }
            | UserAction::Demote { username } => username,
        }
    }
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
                let db = connect_and_migrate(&config).await?;
                manage_user(&db, action).await
            }
            Command::GenSecret | Command::Schema { .. } => {
                unreachable!("handled without configuration")
            }
        }
    })
}

/// Runs a `taskql user` action. Each change lands on the audit trail without an actor: it
/// was made on the machine, not by an account.
async fn manage_user(db: &DatabaseConnection, action: UserAction) -> anyhow::Result<ExitCode> {
    let username = Username::parse(action.username())?;
    let Some(account) = users::find_by_username(db, &username).await? else {
        eprintln!("error: no account is named {}", username.as_str());
        return Ok(ExitCode::FAILURE);
    };
    let name = account.username.as_str();
    let client = ClientMeta::default();
    match action {
        UserAction::Activate { .. } | UserAction::Deactivate { .. } => {
            let active = matches!(action, UserAction::Activate { .. });
            let Some(Uncommitted { txn, change }) =
                users::set_active(db, account.id, active).await?
            else {
                eprintln!("error: no account is named {name}");
                return Ok(ExitCode::FAILURE);
            };
            let entry = change
                .changed
                .then(|| Entry::on_the_machine(Event::activation(active), account.id));
            audit::commit_with(txn, entry, &client).await?;
            let state = if active { "active" } else { "deactivated" };
            match (change.changed, change.ended.len()) {
                (false, _) => println!("{name} was already {state}"),
                (true, 0) => println!("{name} is now {state}"),
                (true, ended) => println!("{name} is now {state}; {ended} session(s) ended"),
            }
        }
        UserAction::Promote { .. } | UserAction::Demote { .. } => {
            let role = if matches!(action, UserAction::Promote { .. }) {
                Role::Admin
            } else {
                Role::User
            };
            let Some(Uncommitted { txn, change }) = users::set_role(db, account.id, role).await?
            else {
                eprintln!("error: no account is named {name}");
                return Ok(ExitCode::FAILURE);
            };
            let entry = change
                .changed
                .then(|| Entry::on_the_machine(Event::RoleChanged(role), account.id));
            audit::commit_with(txn, entry, &client).await?;
            let role = match role {
                Role::Admin => "an administrator",
                Role::User => "a user",
            };
            if change.changed {
                println!("{name} is now {role}");
            } else {
                println!("{name} was already {role}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
