//! Exit codes, documented in the README.

/// A data directory another Stocktake process (a server) holds.
pub const IN_USE: u8 = 3;
/// The log's hash chain does not verify.
pub const VERIFY_FAILED: u8 = 4;
/// An input file (an export, a spreadsheet) was refused; nothing was imported.
pub const INPUT_REFUSED: u8 = 5;
/// Anything else.
pub const FAILED: u8 = 1;

/// A failure that knows its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Coded {
    pub code: u8,
    pub message: String,
}

pub fn fail(code: u8, message: impl Into<String>) -> anyhow::Error {
    Coded {
        code,
        message: message.into(),
    }
    .into()
}

pub fn code_for(error: &anyhow::Error) -> u8 {
    error.downcast_ref::<Coded>().map_or(FAILED, |c| c.code)
}
