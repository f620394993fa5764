//! The binary answers `--help` and `--version`. Its presence also makes `cargo test` build the
//! `stocktake` executable that the end-to-end tests in `tests/` run.

use std::process::Command;

#[test]
fn the_binary_describes_itself() {
    let output = Command::new(env!("CARGO_BIN_EXE_stocktake"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for subcommand in [
        "serve",
        "demo",
        "token",
        "plan",
        "history",
        "report",
        "export",
        "import",
        "import-plan",
        "verify",
        "rebuild",
    ] {
        assert!(
            help.contains(subcommand),
            "--help does not mention {subcommand}"
        );
    }
}

#[test]
fn an_unknown_subcommand_is_a_usage_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_stocktake"))
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn an_unknown_role_is_a_usage_error_that_names_the_roles() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_stocktake"))
        .args(["token", "add", "--name", "auditor", "--role", "admin"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("viewer, editor, director"), "{said}");
    assert!(output.stdout.is_empty());
}
