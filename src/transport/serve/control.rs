//! Driving a running server: insertion and removal on demand, status, shutdown.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{lock_card, ServeError, SharedCard};

/// A physical event on the card slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CardEvent {
    /// Put the card into the virtual slot.
    Insert,
    /// Take the card out (its state is kept).
    Remove,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    Event(CardEvent),
    Shutdown,
}

/// What the server is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ServeStatus {
    /// The card is in the (virtual) slot.
    pub inserted: bool,
    /// Connected to vpcd / the serial port is open.
    pub link_up: bool,
    /// The reader has powered the card.
    pub powered: bool,
    /// How many times the link came up (reconnections show here).
    pub links: u64,
    /// C-APDUs answered so far.
    pub(crate) commands: u64,
    /// The server thread has finished.
    pub(crate) stopped: bool,
}

/// Status shared between the server thread and handles, with a condition variable so that
/// callers can wait for a state instead of sleeping.
#[derive(Debug, Default)]
pub(crate) struct StatusCell {
    status: Mutex<ServeStatus>,
    changed: Condvar,
}

impl StatusCell {
    pub(crate) fn update(&self, change: impl FnOnce(&mut ServeStatus)) {
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut status);
        self.changed.notify_all();
    }

    pub(crate) fn get(&self) -> ServeStatus {
        *self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait_for(
        &self,
        timeout: Duration,
        accept: impl Fn(&ServeStatus) -> bool,
    ) -> Result<ServeStatus, ServeStatus> {
        let deadline = Instant::now() + timeout;
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if accept(&status) {
                return Ok(*status);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(*status);
            }
            status = self
                .changed
                .wait_timeout(status, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Controls a running server. Cheap to clone; all clones drive the same server.
pub struct ServeHandle<C> {
    commands: Sender<Command>,
    card: SharedCard<C>,
    status: Arc<StatusCell>,
}

impl<C> Clone for ServeHandle<C> {
    fn clone(&self) -> Self {
        ServeHandle {
            commands: self.commands.clone(),
            card: Arc::clone(&self.card),
            status: Arc::clone(&self.status),
        }
    }
}

impl<C> ServeHandle<C> {
    pub(crate) fn new(
        commands: Sender<Command>,
        card: SharedCard<C>,
        status: Arc<StatusCell>,
    ) -> ServeHandle<C> {
        ServeHandle {
            commands,
            card,
            status,
        }
    }

    /// Puts the card into the slot (a no-op when it is already there).
    pub fn insert(&self) {
        self.send(Command::Event(CardEvent::Insert));
    }

    /// Takes the card out; its state (retry counters, files) is kept for re-insertion.
    pub fn remove(&self) {
        self.send(Command::Event(CardEvent::Remove));
    }

    /// Asks the server to close its link and stop.
    pub(crate) fn shutdown(&self) {
        self.send(Command::Shutdown);
    }

    fn send(&self, command: Command) {
        // A send fails only when the server already stopped, which is what the caller wanted
        // or will see through status().stopped.
        if self.commands.send(command).is_err() {
            tracing::debug!(?command, "server already stopped");
        }
    }

    /// Looks at or changes the card (e.g. reads its PIN counters) between exchanges.
    pub fn with_card<R>(&self, inspect: impl FnOnce(&mut C) -> R) -> R {
        inspect(&mut lock_card(&self.card))
    }

    /// What the server is doing now.
    pub fn status(&self) -> ServeStatus {
        self.status.get()
    }

    /// Waits until `accept` holds; returns the last status seen as the error on timeout.
    pub fn wait_for(
        &self,
        timeout: Duration,
        accept: impl Fn(&ServeStatus) -> bool,
    ) -> Result<ServeStatus, ServeStatus> {
        self.status.wait_for(timeout, accept)
    }
}

/// A server running on its own thread.
pub struct RunningServer<C> {
    handle: ServeHandle<C>,
    thread: JoinHandle<Result<(), ServeError>>,
}

impl<C> RunningServer<C> {
    /// Pairs a server thread with the handle that controls it.
    pub fn new(
        handle: ServeHandle<C>,
        thread: JoinHandle<Result<(), ServeError>>,
    ) -> RunningServer<C> {
        RunningServer { handle, thread }
    }

    /// Controls the running server (insert, remove, inspect the card).
    pub fn handle(&self) -> &ServeHandle<C> {
        &self.handle
    }

    /// Shuts the server down and waits for it; returns the card with its final state.
    pub fn stop(self) -> Result<C, ServeError> {
        self.handle.shutdown();
        self.join()
    }

    /// Waits for the server to end (after a shutdown from some handle).
    pub(crate) fn join(self) -> Result<C, ServeError> {
        let RunningServer { handle, thread } = self;
        thread.join().map_err(|_| ServeError::Panicked)??;
        let ServeHandle { card, .. } = handle;
        match Arc::try_unwrap(card) {
            Ok(card) => Ok(card.into_inner().unwrap_or_else(PoisonError::into_inner)),
            // Other handles are still alive; the card stays with them.
            Err(_) => Err(ServeError::CardStillShared),
        }
    }
}

/// What the server loop should do after looking at its commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pending {
    Nothing,
    Event(CardEvent),
    Shutdown,
}

/// Takes the next command without blocking. A dropped last handle counts as shutdown.
pub(crate) fn poll(commands: &Receiver<Command>) -> Pending {
    match commands.try_recv() {
        Ok(Command::Event(event)) => Pending::Event(event),
        Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => Pending::Shutdown,
        Err(TryRecvError::Empty) => Pending::Nothing,
    }
}

/// Waits up to `timeout` for a command.
pub(crate) fn wait(commands: &Receiver<Command>, timeout: Duration) -> Pending {
    match commands.recv_timeout(timeout) {
        Ok(Command::Event(event)) => Pending::Event(event),
        Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => Pending::Shutdown,
        Err(RecvTimeoutError::Timeout) => Pending::Nothing,
    }
}

/// Exponential backoff for reconnecting to vpcd or reopening a serial port.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    first: Duration,
    max: Duration,
}

impl Backoff {
    pub(super) fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            next: first,
            first,
            max,
        }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    pub(super) fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(300));
        let delays: Vec<u128> = (0..5).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [50, 100, 200, 300, 300]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(50));
    }
}
