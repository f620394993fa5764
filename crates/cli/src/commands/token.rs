//! `stocktake token add|list|revoke`: works while no server runs on the data directory.

use std::path::Path;

use chrono::Utc;
use stocktake_gateway::tokens::{Role, TokenStore};

use crate::cli::TokenAction;
use crate::data_dir;

/// Token commands take the data directory's lock like any other, so they cannot race a
/// server that read the token file at start.
fn store(data_dir: &Path) -> anyhow::Result<TokenStore> {
    let _lock = data_dir::open_log(
        data_dir,
        "tokens are managed while the server is stopped; stop it, change tokens, start it again",
    )?;
    Ok(TokenStore::load(data_dir)?)
}

pub fn run(action: TokenAction) -> anyhow::Result<()> {
    match action {
        TokenAction::Add { data, name, role } => {
            let role: Role = role.parse()?;
            let mut tokens = store(&data.data_dir)?;
            let token = tokens.add(&name, role, Utc::now())?;
            println!("{token}");
        }
        TokenAction::List { data } => {
            let tokens = store(&data.data_dir)?;
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
            store(&data.data_dir)?.revoke(&name, Utc::now())?;
            println!("revoked {name}");
        }
    }
    Ok(())
}
