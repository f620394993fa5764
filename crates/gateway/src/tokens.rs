//! Bearer tokens: random, shown once, stored only as BLAKE3 hashes in the data directory.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use stocktake_domain::text::ActorName;

const FILE_NAME: &str = "tokens.json";
const PREFIX: &str = "stk_";

/// What a token may do. Each role can do everything the one before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Reads, and updates actions: status, progress, evidence.
    Editor,
    /// Everything.
    Director,
}

impl std::str::FromStr for Role {
    type Err = TokenError;
    fn from_str(raw: &str) -> Result<Self, TokenError> {
        match raw {
            "viewer" => Ok(Role::Viewer),
            "editor" => Ok(Role::Editor),
            "director" => Ok(Role::Director),
            other => Err(TokenError::UnknownRole(other.chars().take(40).collect())),
        }
    }
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Director => "director",
        }
    }
}

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub name: String,
    pub role: Role,
    /// BLAKE3 of the token, hex. The token itself is never stored.
    hash: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("role `{0}` is not one of viewer, editor, director")]
    UnknownRole(String),
    #[error("name: {0}")]
    BadName(String),
    #[error("a token named `{0}` already exists; revoke it first or choose another name")]
    Duplicate(String),
    #[error("no active token is named `{0}`")]
    NoSuchToken(String),
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the token file {} is unreadable: {source}", path.display())]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// The tokens of one data directory.
#[derive(Debug, Clone, Default)]
pub struct TokenStore {
    path: PathBuf,
    records: Vec<TokenRecord>,
}

fn hash(token: &str) -> blake3::Hash {
    blake3::hash(token.as_bytes())
}

impl TokenStore {
    /// Reads the tokens of a data directory; none when the file does not exist yet.
    pub fn load(data_dir: &Path) -> Result<Self, TokenError> {
        let path = data_dir.join(FILE_NAME);
        let records = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| TokenError::Format {
                path: path.clone(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                return Err(TokenError::Io {
                    action: "read",
                    path,
                    source,
                })
            }
        };
        Ok(TokenStore { path, records })
    }

    pub fn records(&self) -> &[TokenRecord] {
        &self.records
    }

    pub fn has_active(&self) -> bool {
        self.records.iter().any(|r| r.revoked_at.is_none())
    }

    /// Makes a new token, saves its hash, and returns the token: the only time it is seen.
    pub fn add(
        &mut self,
        name: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        let name = ActorName::parse(name).map_err(|e| TokenError::BadName(e.to_string()))?;
        if self
            .records
            .iter()
            .any(|r| r.name == name.as_str() && r.revoked_at.is_none())
        {
            return Err(TokenError::Duplicate(name.to_string()));
        }
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let token = format!("{PREFIX}{}", hex::encode(secret));
        self.records.push(TokenRecord {
            name: name.to_string(),
            role,
            hash: hash(&token).to_hex().to_string(),
            created_at: now,
            revoked_at: None,
        });
        self.save()?;
        Ok(token)
    }

    pub fn revoke(&mut self, name: &str, now: DateTime<Utc>) -> Result<(), TokenError> {
        let record = self
            .records
            .iter_mut()
            .find(|r| r.name == name && r.revoked_at.is_none())
            .ok_or_else(|| TokenError::NoSuchToken(name.to_owned()))?;
        record.revoked_at = Some(now);
        self.save()
    }

    /// The principal a token belongs to. Compares hashes in constant time (`blake3::Hash`'s
    /// equality is), and checks every record so timing does not tell how far the search got.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        let presented = hash(token);
        let mut found = None;
        for record in &self.records {
            let Ok(stored) = blake3::Hash::from_hex(&record.hash) else {
                continue;
            };
            if stored == presented && record.revoked_at.is_none() {
                found = Some(Principal {
                    name: record.name.clone(),
                    role: record.role,
                });
            }
        }
        found
    }

    /// Writes the file owner-only, atomically: a temporary file, synced, then renamed.
    fn save(&self) -> Result<(), TokenError> {
        let io = |action: &'static str, path: &Path| {
            let path = path.to_owned();
            move |source| TokenError::Io {
                action,
                path,
                source,
            }
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(io("create", dir))?;
        let temp = self.path.with_extension("json.tmp");
        let mut file = private_file(&temp).map_err(io("create", &temp))?;
        let bytes = serde_json::to_vec_pretty(&self.records).expect("token records serialize");
        file.write_all(&bytes).map_err(io("write", &temp))?;
        file.sync_all().map_err(io("sync", &temp))?;
        fs::rename(&temp, &self.path).map_err(io("replace", &self.path))?;
        Ok(())
    }
}

/// Creates a directory readable by its owner only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates (or truncates) a file readable and writable by its owner only.
pub fn private_file(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_token_authenticates_as_its_name_and_role_until_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = TokenStore::load(dir.path()).unwrap();
        let token = store
            .add("programme-director", Role::Director, now())
            .unwrap();
        assert!(token.starts_with("stk_") && token.len() == 68);
        let reloaded = TokenStore::load(dir.path()).unwrap();
        assert_eq!(
            reloaded.authenticate(&token),
            Some(Principal {
                name: "programme-director".into(),
                role: Role::Director
            })
        );
        assert_eq!(reloaded.authenticate("stk_wrong"), None);
        store.revoke("programme-director", now()).unwrap();
        assert_eq!(
            TokenStore::load(dir.path()).unwrap().authenticate(&token),
            None
        );
    }

    #[test]
    fn the_token_itself_is_never_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = TokenStore::load(dir.path()).unwrap();
        let token = store.add("auditor", Role::Viewer, now()).unwrap();
        let file = fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(!file.contains(&token[PREFIX.len()..]));
    }

    #[cfg(unix)]
    #[test]
    fn the_token_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut store = TokenStore::load(dir.path()).unwrap();
        store.add("auditor", Role::Viewer, now()).unwrap();
        let mode = fs::metadata(dir.path().join(FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn names_are_unique_among_active_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = TokenStore::load(dir.path()).unwrap();
        store.add("auditor", Role::Viewer, now()).unwrap();
        assert!(matches!(
            store.add("auditor", Role::Editor, now()),
            Err(TokenError::Duplicate(_))
        ));
        store.revoke("auditor", now()).unwrap();
        assert!(store.add("auditor", Role::Editor, now()).is_ok());
    }
}
