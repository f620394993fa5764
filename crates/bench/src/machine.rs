//! The machine a run was on, and its load while the run went.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub kernel: String,
    pub memory: String,
    /// The device, file system and mount options of the bench directory.
    pub disk: String,
}

impl Machine {
    pub fn describe(bench_dir: &Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| format!("Linux {}", k.trim()))
            .unwrap_or_else(|_| std::env::consts::OS.to_owned());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let kb: f64 = m.lines().next()?.split_whitespace().nth(1)?.parse().ok()?;
                Some(format!("{:.0} GiB", kb / 1024.0 / 1024.0))
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let mount = output(
            Command::new("findmnt")
                .args(["-n", "-o", "SOURCE,FSTYPE,OPTIONS", "--target"])
                .arg(bench_dir),
        );
        let disk = match mount {
            Some(mount) => {
                let source = mount.split_whitespace().next().unwrap_or("").to_owned();
                let device = source.trim_start_matches("/dev/");
                let rotational =
                    std::fs::read_to_string(format!("/sys/block/{device}/queue/rotational"))
                        .map(|r| {
                            if r.trim() == "1" {
                                ", rotational"
                            } else {
                                ", non-rotational"
                            }
                        })
                        .unwrap_or("");
                let model = std::fs::read_to_string(format!("/sys/block/{device}/device/model"))
                    .ok()
                    .map(|m| format!(", model {}", m.trim()))
                    .unwrap_or_default();
                format!(
                    "{}{rotational}{model} ({})",
                    mount
                        .split_whitespace()
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" "),
                    mount.split_whitespace().nth(2).unwrap_or("")
                )
            }
            None => "unknown".to_owned(),
        };
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            kernel,
            memory,
            disk,
        }
    }
}

fn output(command: &mut Command) -> Option<String> {
    let out = command.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The 1-minute load average, sampled every few seconds on a thread.
#[derive(Debug)]
pub struct LoadSampler {
    samples: Arc<Mutex<Vec<f64>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub min: f64,
    pub mean: f64,
    pub max: f64,
    pub samples: usize,
}

/// Writes every dirty page back to disk (`sync(1)`), so that what runs next
/// does not queue its own flushes behind the writeback of a build.
pub fn write_back_dirty_pages() {
    if let Err(e) = Command::new("sync").status() {
        eprintln!("could not run sync(1): {e}");
    }
}

pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl LoadSampler {
    pub fn start(every: Duration) -> LoadSampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (samples, stop) = (samples.clone(), stop.clone());
            std::thread::spawn(move || {
                let tick = Duration::from_millis(100);
                let mut waited = every;
                while !stop.load(Ordering::Relaxed) {
                    if waited >= every {
                        if let Some(l) = load_average() {
                            samples.lock().expect("load samples").push(l);
                        }
                        waited = Duration::ZERO;
                    }
                    std::thread::sleep(tick);
                    waited += tick;
                }
            })
        };
        LoadSampler {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> Option<Load> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let samples = self.samples.lock().expect("load samples").clone();
        if samples.is_empty() {
            return None;
        }
        Some(Load {
            min: samples.iter().copied().fold(f64::INFINITY, f64::min),
            max: samples.iter().copied().fold(0.0, f64::max),
            mean: samples.iter().sum::<f64>() / samples.len() as f64,
            samples: samples.len(),
        })
    }
}
