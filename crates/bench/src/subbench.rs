//! The other crates' benches, run as `cargo bench` subprocesses; their
//! `RESULT` lines are the figures. A bench that does not exist yet is
//! skipped with a note.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::figure::Figure;

#[derive(Debug)]
pub struct SubBench {
    pub package: &'static str,
    pub bench: &'static str,
}

/// The outcome of one sub-bench.
#[derive(Debug)]
pub enum Ran {
    Figures(Vec<Figure>),
    Skipped(String),
}

impl SubBench {
    pub fn command(&self) -> String {
        format!("cargo bench -p {} --bench {}", self.package, self.bench)
    }

    /// Runs the bench, echoing its output to stderr and keeping a copy in
    /// `log_dir`.
    pub fn run(&self, root: &Path, log_dir: &Path, scale: u64) -> Ran {
        if !self.exists(root) {
            return Ran::Skipped(format!(
                "`{}`: no such bench target yet, skipped",
                self.command()
            ));
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let log_path = log_dir.join(format!("{}-{}.txt", self.package, self.bench));
        let mut log = std::fs::File::create(&log_path).ok();
        // Build first, then write every dirty page back: a build leaves
        // hundreds of megabytes for the kernel to flush, and a bench started
        // meanwhile measures its fsyncs queued behind that writeback (the
        // log bench read 20 to 30 % lower in runs started right after one).
        let built = Command::new(&cargo)
            .args([
                "bench",
                "-p",
                self.package,
                "--bench",
                self.bench,
                "--no-run",
            ])
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status();
        if !built.is_ok_and(|s| s.success()) {
            return Ran::Skipped(format!("`{}` did not build", self.command()));
        }
        crate::machine::write_back_dirty_pages();
        eprintln!("running `{}`", self.command());
        let child = Command::new(cargo)
            .args(["bench", "-p", self.package, "--bench", self.bench])
            .env("STOCKTAKE_BENCH_SCALE", scale.to_string())
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) => return Ran::Skipped(format!("`{}` could not start: {e}", self.command())),
        };
        let mut figures = Vec::new();
        let mut bad = Vec::new();
        let stdout = child.stdout.take().expect("piped stdout");
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            eprintln!("  | {line}");
            if let Some(log) = log.as_mut() {
                let _ = writeln!(log, "{line}");
            }
            match Figure::parse_line(&line) {
                Some(Ok(figure)) => figures.push(figure),
                Some(Err(e)) => bad.push(format!("{line}: {e}")),
                None => {}
            }
        }
        let status = child.wait();
        let failed = match status {
            Ok(s) if s.success() => None,
            Ok(s) => Some(s.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if !bad.is_empty() {
            eprintln!("unreadable RESULT lines from `{}`: {bad:?}", self.command());
        }
        match failed {
            Some(why) if figures.is_empty() => Ran::Skipped(format!(
                "`{}` failed ({why}); its output is in {}",
                self.command(),
                log_path.display()
            )),
            Some(why) => {
                eprintln!(
                    "`{}` failed ({why}) after {} figures; keeping them",
                    self.command(),
                    figures.len()
                );
                Ran::Figures(figures)
            }
            None if figures.is_empty() => {
                Ran::Skipped(format!("`{}` printed no RESULT lines", self.command()))
            }
            None => Ran::Figures(figures),
        }
    }

    /// Whether the package declares this bench, per `cargo metadata`.
    fn exists(&self, root: &Path) -> bool {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let Ok(output) = Command::new(cargo)
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .current_dir(root)
            .stderr(Stdio::null())
            .output()
        else {
            return false;
        };
        let Ok(metadata) = serde_json::from_slice::<serde_json::Value>(&output.stdout) else {
            return false;
        };
        let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
        packages
            .iter()
            .filter(|p| p["name"] == self.package)
            .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
            .any(|t| {
                t["name"] == self.bench
                    && t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == "bench"))
            })
    }
}
