//! Start-up time to serving: the real `stocktake serve` on a data directory,
//! timed from spawn until `GET /healthz` answers 200. The server builds its
//! read models before it listens, so an answer means it is ready.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a start may take before the run gives up on it.
const START_LIMIT: Duration = Duration::from_secs(600);

/// A start of the server, measured.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    /// From spawning the process to its first healthy answer.
    pub elapsed: Duration,
    /// The process's resident set at that answer: the read models built, the log open, nothing
    /// yet asked of it.
    pub resident_bytes: Option<u64>,
}

/// Spawns the server, waits for a healthy answer, stops it with SIGTERM
/// (so it saves its read models' checkpoint) and returns the time to the
/// answer and the memory it then held.
pub fn time_to_healthy(bin: &Path, data_dir: &Path) -> Result<Started, String> {
    // A file, not a pipe: nobody reads it while the server runs.
    let log = tempfile::tempfile().map_err(|e| format!("a file for the server's log: {e}"))?;
    let for_child = log.try_clone().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(for_child))
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    let result = wait_healthy(&mut child, start);
    let resident_bytes = resident_bytes(child.id());
    let stopped = stop(&mut child);
    let with_log = |e: String| format!("{e}; its log ends: {}", tail(&log));
    let elapsed = result.map_err(with_log)?;
    stopped.map_err(with_log)?;
    Ok(Started {
        elapsed,
        resident_bytes,
    })
}

/// `VmRSS` of a running process, from `/proc` (Linux only; `None` elsewhere).
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line.split_whitespace().skip(1);
    let kib: u64 = words.next()?.parse().ok()?;
    (words.next()? == "kB").then_some(kib * 1024)
}

fn wait_healthy(child: &mut Child, start: Instant) -> Result<Duration, String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(address) = line.split("listening on http://").nth(1) {
                let _ = tx.send(address.trim().to_owned());
            }
        }
    });
    let address: SocketAddr = loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(address) => break address.parse().map_err(|e| format!("{address}: {e}"))?,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err("the server exited before listening".to_owned())
            }
        }
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("the server exited ({status})"));
        }
        if start.elapsed() > START_LIMIT {
            return Err("the server did not listen within 10 minutes".to_owned());
        }
    };
    loop {
        if healthz(address) {
            return Ok(start.elapsed());
        }
        if start.elapsed() > START_LIMIT {
            return Err("the server did not answer /healthz within 10 minutes".to_owned());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One `GET /healthz`; true on a 200.
pub fn healthz(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

fn stop(child: &mut Child) -> Result<(), String> {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return if status.success() {
                Ok(())
            } else {
                Err(format!("the server stopped with {status}"))
            };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err("the server did not stop within 2 minutes of SIGTERM".to_owned())
}

fn tail(mut log: &std::fs::File) -> String {
    let mut text = String::new();
    let _ = std::io::Seek::rewind(&mut log);
    let _ = log.read_to_string(&mut text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_set_from_proc_status() {
        let status = "Name:\tstocktake\nVmPeak:\t  900 kB\nVmRSS:\t  123456 kB\nThreads:\t9\n";
        assert_eq!(parse_vm_rss(status), Some(123_456 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert_eq!(parse_vm_rss("VmRSS:\t12 MB\n"), None);
    }

    #[test]
    fn this_process_has_a_resident_set() {
        assert!(resident_bytes(std::process::id()).is_some_and(|b| b > 0));
    }
}
