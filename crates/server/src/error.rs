use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot read the config file {path}: {source}")]
    ConfigRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is invalid: {message}")]
    ConfigParse { path: PathBuf, message: String },
    #[error("invalid setting: {0}")]
    Setting(String),
    #[error("cannot use the data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read or write the token file {path}: {source}")]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("project {path} cannot be registered: {message}")]
    Project { path: PathBuf, message: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] switchboard_store::SqliteStoreError),
    #[error(transparent)]
    Registry(#[from] switchboard_core::RegistryError),
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}
