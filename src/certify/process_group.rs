//! Driver processes in a process group of their own, ended as a whole.
//!
//! `--driver CMD` runs as `sh -c CMD`, and a driver may start helpers of its own (a Python
//! script, an adb client, a browser): killing only the process the harness started left the
//! rest running into the next case and past the end of `certify`. Each driver therefore
//! starts as the leader of a new process group, and ending it sends SIGKILL to the whole
//! group. The leader is reaped only after that signal, so its id cannot have been reused as a
//! group id when the signal is sent.
//!
//! The groups alive at any moment are registered here, so that Ctrl-C, SIGTERM or SIGHUP of
//! `certify` ends them too ([`end_groups_on_signals`]): a driver in its own group no longer
//! gets the terminal's Ctrl-C by itself. A process that leaves the group on purpose (`setsid`)
//! is out of reach, as is everything after a SIGKILL of `certify` itself.

use std::collections::BTreeSet;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdin, ChildStdout, Command};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// The process groups of the drivers running now (their leaders' ids).
static LIVE_GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn live_groups() -> MutexGuard<'static, BTreeSet<i32>> {
    // The set stays consistent whatever panicked while holding it (insert and remove only).
    LIVE_GROUPS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A child process leading its own process group; dropping it ends the whole group.
pub(crate) struct GroupLeader {
    child: Child,
    group: Pid,
}

impl GroupLeader {
    /// Starts `command` as the leader of a new process group.
    pub(crate) fn spawn(command: &mut Command) -> std::io::Result<GroupLeader> {
        // Held across the spawn: a signal handled meanwhile waits and then sees the group.
        let mut groups = live_groups();
        let mut child = command.process_group(0).spawn()?;
        let Ok(raw) = i32::try_from(child.id()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("a process id beyond i32"));
        };
        groups.insert(raw);
        Ok(GroupLeader {
            child,
            group: Pid::from_raw(raw),
        })
    }

    /// The leader's stdin and stdout pipes (once).
    pub(crate) fn take_pipes(&mut self) -> (Option<ChildStdin>, Option<ChildStdout>) {
        (self.child.stdin.take(), self.child.stdout.take())
    }

    /// How the leader ended, if it has, without reaping it (the group id stays reserved).
    fn exit_status(&self) -> Option<String> {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(self.group), flags) {
            Ok(WaitStatus::Exited(_, code)) => Some(format!("exit status {code}")),
            Ok(WaitStatus::Signaled(_, signal, _)) => Some(format!("killed by {signal}")),
            _ => None,
        }
    }

    /// Waits up to `timeout` for the leader to end by itself.
    pub(crate) fn wait_exit(&self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for GroupLeader {
    fn drop(&mut self) {
        // ESRCH (nobody left in the group) is the usual answer after a clean exit.
        let _ = killpg(self.group, Signal::SIGKILL);
        let status = self.child.wait();
        live_groups().remove(&self.group.as_raw());
        if let Ok(status) = status {
            tracing::debug!(
                group = self.group.as_raw(),
                signal = status.signal(),
                code = status.code(),
                "driver process group ended"
            );
        }
    }
}

/// Ends every registered group with SIGKILL.
fn end_all_groups() {
    for group in live_groups().iter() {
        let _ = killpg(Pid::from_raw(*group), Signal::SIGKILL);
    }
}

/// From now on, SIGINT, SIGTERM and SIGHUP end every driver's process group and then this
/// process (exit status 128 + the signal's number, as a shell reports it). No report is
/// written for a run stopped this way.
pub(crate) fn end_groups_on_signals() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut interrupt, mut terminate, mut hangup) = runtime.block_on(async {
        Ok::<_, std::io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        ))
    })?;
    std::thread::Builder::new()
        .name("certify-signals".into())
        .spawn(move || {
            let (name, number) = runtime.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => ("SIGINT", 2),
                    _ = terminate.recv() => ("SIGTERM", 15),
                    _ = hangup.recv() => ("SIGHUP", 1),
                }
            });
            end_all_groups();
            eprintln!(
                "certify: stopped by {name}; the driver's processes were ended, no report written"
            );
            std::process::exit(128 + number);
        })?;
    Ok(())
}
