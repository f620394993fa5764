//! A CPU profile of the log's append path at 64 writers, for the report of
//! a missed target: `perf` where the machine has hardware counters,
//! otherwise valgrind's callgrind (instructions, which is what the writer
//! thread spends when it is the bottleneck).
//!
//! Callgrind counts only inside the log's own functions and what they call.
//! Valgrind runs one thread at a time, so a thread spinning on a flag (sled's
//! pool threads do while their pool is made) spins until the thread holding
//! it is scheduled again, and counted whole that spinning was 97 % of the
//! instructions: a profile of valgrind's scheduling, not of appends.

use std::path::Path;
use std::process::Command;

#[derive(Debug)]
pub struct Profile {
    pub tool: String,
    pub command: String,
    /// Already formatted for a code block.
    pub inclusive: Vec<String>,
    pub exclusive: Vec<String>,
    /// Inclusive time in system calls, where the tool measures it.
    pub system: Vec<String>,
}

/// Appends in the profiled run (64 writers).
pub const PROFILED_APPENDS: u64 = 6_400;

/// Where callgrind counts: inside the log's functions, so that its pool threads' spinning
/// under valgrind's scheduling is left out (see the module's comment).
const COLLECT_IN_THE_LOG: &str = "--toggle-collect=*stocktake_log::*";

pub fn perf_works() -> bool {
    Command::new("perf")
        .args(["stat", "-e", "instructions", "true"])
        .output()
        .is_ok_and(|o| {
            o.status.success() && !String::from_utf8_lossy(&o.stderr).contains("not supported")
        })
}

/// Profiles `exe profile-append` (see `main.rs`) in `work`.
pub fn append_path(exe: &Path, work: &Path) -> Result<Profile, String> {
    if perf_works() {
        perf(exe, work)
    } else {
        callgrind(exe, work)
    }
}

fn callgrind(exe: &Path, work: &Path) -> Result<Profile, String> {
    let out = work.join("callgrind.out");
    let mut command = Command::new("valgrind");
    command
        .args([
            "--tool=callgrind",
            "--dump-instr=no",
            "--collect-systime=nsec",
            COLLECT_IN_THE_LOG,
        ])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(exe)
        .args(["profile-append", &PROFILED_APPENDS.to_string()]);
    let shown = format!(
        "valgrind --tool=callgrind --collect-systime=nsec '{COLLECT_IN_THE_LOG}' stocktake-bench profile-append {PROFILED_APPENDS}"
    );
    let status = command
        .output()
        .map_err(|e| format!("valgrind could not start (apt-get install valgrind): {e}"))?;
    if !status.status.success() {
        return Err(format!(
            "{shown} failed: {}",
            String::from_utf8_lossy(&status.stderr)
        ));
    }
    let annotate = |inclusive: bool, event: &str, n: usize| -> Result<Vec<String>, String> {
        let o = Command::new("callgrind_annotate")
            // Function totals only, not the source lines of the busiest functions.
            .arg("--auto=no")
            .arg(format!(
                "--inclusive={}",
                if inclusive { "yes" } else { "no" }
            ))
            .arg(format!("--show={event}"))
            .arg(format!("--sort={event}"))
            .arg(&out)
            .output()
            .map_err(|e| format!("callgrind_annotate: {e}"))?;
        Ok(top_lines(&String::from_utf8_lossy(&o.stdout), n))
    };
    Ok(Profile {
        tool: "valgrind --tool=callgrind: instructions executed (Ir) and nanoseconds inside system calls (sysTime), \
               counted inside the log's functions and what they call; \
               `perf stat -e instructions` is not supported on this machine"
            .to_owned(),
        command: shown,
        inclusive: annotate(true, "Ir", 25)?,
        exclusive: annotate(false, "Ir", 15)?,
        system: annotate(false, "sysTime", 10)?,
    })
}

fn perf(exe: &Path, work: &Path) -> Result<Profile, String> {
    let data = work.join("perf.data");
    let shown = format!("perf record -g stocktake-bench profile-append {PROFILED_APPENDS}");
    let status = Command::new("perf")
        .args(["record", "-F", "999", "-g", "-o"])
        .arg(&data)
        .arg("--")
        .arg(exe)
        .args(["profile-append", &PROFILED_APPENDS.to_string()])
        .output()
        .map_err(|e| format!("perf: {e}"))?;
    if !status.status.success() {
        return Err(format!(
            "{shown} failed: {}",
            String::from_utf8_lossy(&status.stderr)
        ));
    }
    let report = |children: bool| -> Result<Vec<String>, String> {
        let o = Command::new("perf")
            .args(["report", "--stdio", "-g", "none", "--percent-limit", "1"])
            .arg(if children {
                "--children"
            } else {
                "--no-children"
            })
            .arg("-i")
            .arg(&data)
            .output()
            .map_err(|e| format!("perf report: {e}"))?;
        Ok(String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .take(30)
            .map(shorten)
            .collect())
    };
    Ok(Profile {
        tool: "perf (cycles)".to_owned(),
        command: shown,
        inclusive: report(true)?,
        exclusive: report(false)?,
        system: Vec::new(),
    })
}

/// Frames every thread starts with: they say nothing about where time goes.
const PLUMBING: &[&str] = &[
    "std::sys::",
    "pthread_create",
    "thread_start",
    "call_once",
    "__rust_begin_short_backtrace",
    "clone3",
    "std::rt::",
    "std::panicking",
    "__libc_start",
    "(below main)",
    "tokio::runtime::",
];

/// The function lines of a `callgrind_annotate` report, largest first,
/// without thread plumbing and recursion duplicates.
fn top_lines(report: &str, n: usize) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    report
        .lines()
        .filter(|l| l.contains('(') && l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .map(shorten)
        .filter(|l| !PLUMBING.iter().any(|p| l.contains(p)))
        .filter(|l| {
            let function = l.split_once("  ").map_or(l.as_str(), |(_, f)| f);
            seen.insert(
                function
                    .trim_end_matches(|c: char| c == '\'' || c.is_ascii_digit())
                    .to_owned(),
            )
        })
        .take(n)
        .collect()
}

/// Keeps the counts and the bare function name, so a line fits a page.
fn shorten(line: &str) -> String {
    let mut counts = Vec::new();
    let mut rest = line.trim();
    loop {
        let (token, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let is_count = token
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
            || (token.starts_with('(') && token.ends_with("%)"));
        if !is_count || token.is_empty() {
            break;
        }
        counts.push(token);
        rest = after.trim_start();
    }
    // "…/src/foo.rs:crate::module::function [binary]" → "crate::module::function"
    let function = rest.rsplit_once(".rs:").map_or(rest, |(_, f)| f);
    let function = function.split_once(" [").map_or(function, |(f, _)| f);
    // "/root/.cargo/…/malloc.c:_int_free" → "malloc.c:_int_free"
    let function = function.rsplit_once('/').map_or(function, |(_, f)| f);
    let mut s = format!("{}  {function}", counts.join(" "));
    if s.chars().count() > 160 {
        s = s.chars().take(157).collect::<String>() + "...";
    }
    s
}
