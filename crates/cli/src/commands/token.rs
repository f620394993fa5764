//! `stocktake token add|list|revoke`: works while no server runs on the data directory.

use std::path::Path;

use chrono::Utc;
use stocktake_gateway::tokens::TokenStore;

use crate::cli::TokenAction;
use crate::data_dir;

/// Token commands take the data directory's lock like any other and hold it until they have
/// written the token file, so they cannot race a server that reads it at start.
fn store(data_dir: &Path) -> anyhow::Result<(stocktake_log::Log, TokenStore)> {
    let lock = data_dir::open_log(
        data_dir,
        "tokens are managed while the server is stopped; stop it, change tokens, start it again",
    )?;
    Ok((lock, TokenStore::load(data_dir)?))
}

pub fn run(action: TokenAction) -> anyhow::Result<()> {
    match action {
        TokenAction::Add { data, name, role } => {
            let (_lock, mut tokens) = store(&data.data_dir)?;
            let token = tokens.add(&name, role, Utc::now())?;
            println!("{token}");
        }
        TokenAction::List { data } => {
            let (_lock, tokens) = store(&data.data_dir)?;
            for record in tokens.records() {
                let state = match record.revoked_at {
                    Some(at) => format!("revoked {}", at.format("%Y-%m-%d %H:%M")),
                    None => "active".to_owned(),
                };
                println!(
                    "{:<30} {:<9} created {}  {state}",
                    record.name,
                    record.role.as_str(),
                    record.created_at.format("%Y-%m-%d %H:%M")
                );
            }
        }
        TokenAction::Revoke { data, name } => {
            let (_lock, mut tokens) = store(&data.data_dir)?;
            tokens.revoke(&name, Utc::now())?;
            println!("revoked {name}");
        }
    }
    Ok(())
}
