//! Running one engine as a process: its wall time and peak resident memory, from the kernel's
//! own accounting (`wait4`). Knows nothing of engines or reports.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

/// A finished process: its wall time and peak resident memory.
pub struct Measured {
    pub wall_s: f64,
    pub peak_rss: Option<u64>,
}

/// Runs `command` to completion; fails on a non-zero exit.
pub fn measure(command: &mut Command) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let child = command.spawn().with_context(|| format!("cannot start {command:?}"))?;
    let (success, peak_rss, status) = wait_with_rusage(child)?;
    let wall_s = started.elapsed().as_secs_f64();
    if !success {
        bail!("{command:?} failed ({status})");
    }
    Ok(Measured { wall_s, peak_rss })
}

/// Waits for `child` and reads its peak RSS from the kernel's accounting (`wait4`).
#[cfg(unix)]
fn wait_with_rusage(child: std::process::Child) -> anyhow::Result<(bool, Option<u64>, String)> {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our child, not yet reaped (std's `Child` is never waited on here);
        // `status` and `usage` are valid for writes.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4 failed");
        }
    }
    drop(child);
    // Linux reports KiB, macOS bytes.
    let unit: u64 = if cfg!(target_os = "macos") { 1 } else { 1024 };
    let peak = u64::try_from(usage.ru_maxrss).ok().map(|v| v * unit);
    let success = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let described = if libc::WIFEXITED(status) {
        format!("exit status {}", libc::WEXITSTATUS(status))
    } else {
        format!("wait status {status}")
    };
    Ok((success, peak, described))
}

/// Waits for `child`; no peak RSS on this platform.
#[cfg(not(unix))]
fn wait_with_rusage(mut child: std::process::Child) -> anyhow::Result<(bool, Option<u64>, String)> {
    let status = child.wait().context("cannot wait for the runner")?;
    Ok((status.success(), None, status.to_string()))
}
