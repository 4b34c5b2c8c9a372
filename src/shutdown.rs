//! Graceful shutdown: SIGINT or SIGTERM asks the run to stop taking new work and finish what it
//! holds within a deadline; a second signal exits at once.
//!
//! The flag is shared by the synchronous stages (which poll it) and the asynchronous ones
//! (which await [`Shutdown::wait`]), so it is an atomic plus a `tokio::sync::Notify` rather than
//! either alone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

#[derive(Default)]
pub struct Shutdown {
    requested: AtomicBool,
    notify: Notify,
}

impl Shutdown {
    pub fn new() -> Arc<Self> {
        Arc::new(Shutdown::default())
    }

    pub fn request(&self) {
        self.requested.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// Returns once shutdown was requested (at once if it already was).
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a request between the two is not missed.
            notified.as_mut().enable();
            if self.is_requested() {
                return;
            }
            notified.await;
        }
    }

    /// Requests shutdown on the first SIGINT or SIGTERM and exits the process (status 130) on
    /// the second. Needs a tokio runtime with I/O and time enabled.
    pub fn listen_for_signals(self: &Arc<Self>, rt: &tokio::runtime::Handle) {
        let me = self.clone();
        rt.spawn(async move {
            let mut count = 0;
            loop {
                wait_for_signal().await;
                count += 1;
                if count == 1 {
                    tracing::warn!(
                        "shutdown requested: finishing the work in hand (signal again to exit at once)"
                    );
                    me.request();
                } else {
                    tracing::error!("second signal: exiting now");
                    std::process::exit(130);
                }
            }
        });
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops gracefully");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
