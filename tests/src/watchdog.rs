//! A watchdog for tests that could hang: if the test is still running when
//! its limit passes, it prints the stack of every thread of the test process
//! and of every process the test started, SIGKILLs those children and exits
//! the test binary with a failure, instead of running into CI's time limit
//! with nothing to show. Stacks come from `gdb` when it is installed
//! (`.ci/run` installs it); otherwise from `/proc` (thread names, kernel wait
//! channels and kernel stacks), which still tells a futex wait from a busy
//! loop.

use std::fs;
use std::io::Write;
use std::process::Command;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Disarms on drop: the test finished (or panicked) in time.
pub struct Watchdog {
    disarm: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Arms a watchdog for the test `what`, firing after `limit`.
    pub fn arm(what: &str, limit: Duration) -> Watchdog {
        let (disarm, disarmed) = mpsc::channel::<()>();
        let what = what.to_owned();
        let thread = std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                // A message or a dropped sender both mean: finished in time.
                if let Err(RecvTimeoutError::Timeout) = disarmed.recv_timeout(limit) {
                    fire(&what, limit);
                }
            })
            .unwrap();
        Watchdog {
            disarm: Some(disarm),
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.disarm.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Dumps every stack, kills the children and fails the test binary.
fn fire(what: &str, limit: Duration) -> ! {
    let me = std::process::id();
    let children = children_of(me);
    say(&format!(
        "=== WATCHDOG: {what} still running after {limit:?}; thread dump follows ==="
    ));
    say(&format!("--- test process {me} ---\n{}", stacks(me)));
    for child in &children {
        say(&format!(
            "--- child process {child} ({}) ---\n{}",
            comm(*child),
            stacks(*child)
        ));
    }
    for child in children {
        let _ = Command::new("kill")
            .args(["-KILL", &child.to_string()])
            .status();
    }
    say(&format!("=== WATCHDOG: {what} failed: hung ==="));
    std::process::exit(101);
}

/// Writes to the real stderr: the test harness captures `eprintln!` (in
/// every thread a test spawns) and would drop it when the binary exits.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// The pids whose parent is `pid`, from `/proc/*/stat`.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|candidate| parent_of(*candidate) == Some(pid))
        .collect()
}

/// The parent pid in `/proc/PID/stat` (the field after the `)` that ends
/// the command name, which may itself contain spaces).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn comm(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Every thread's stack of `pid`: gdb's backtraces, or what `/proc` knows.
fn stacks(pid: u32) -> String {
    // `--readnever`: function names from the symbol table and unwinding
    // from .eh_frame are enough, and skipping the DWARF of a large debug
    // binary is what keeps gdb from taking minutes. SIGKILL on time-out:
    // gdb ignores SIGTERM while attached.
    let gdb = Command::new("timeout")
        .args([
            "-s",
            "KILL",
            "60",
            "gdb",
            "--readnever",
            "-p",
            &pid.to_string(),
        ])
        .args(["-batch", "-nx"])
        .args(["-ex", "set pagination off", "-ex", "thread apply all bt"])
        .output();
    if let Ok(out) = gdb
        && out.status.success()
        && !out.stdout.is_empty()
    {
        return String::from_utf8_lossy(&out.stdout).into_owned();
    }
    proc_stacks(pid)
}

/// Thread names, wait channels and kernel stacks from `/proc/PID/task`.
fn proc_stacks(pid: u32) -> String {
    let mut out = String::from("(gdb unavailable: kernel view from /proc)\n");
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.filter_map(Result::ok) {
        let dir = task.path();
        let read = |name: &str| fs::read_to_string(dir.join(name)).unwrap_or_default();
        out.push_str(&format!(
            "thread {} {:?} state={} wchan={}\n{}\n",
            task.file_name().to_string_lossy(),
            read("comm").trim(),
            read("stat")
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_owned))
                .unwrap_or_default(),
            read("wchan"),
            read("stack"),
        ));
    }
    out
}
