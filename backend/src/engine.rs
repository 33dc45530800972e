//! The engine's threads. Verdicts, graphs, baselines and masks are CPU work: they run on tokio's
//! blocking threads, at most `Limits::engine_threads` at once (a semaphore), never on the async
//! workers, so `/api/v1/health` and uploads answer while heavy requests run.
//!
//! Each piece of work has a deadline, counted from its request (the wait for a thread included).
//! When it passes, or the request is dropped (the client went away, the request timeout fired),
//! the work's [`Cancel`] is set; loops over hosts check it, and each engine call inside them is
//! bounded by the input limits of `crate::limits`. A thread is given back only when its work has
//! stopped, so abandoned work never runs beside more than the limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// The pool: a permit per engine thread, and the deadline of each piece of work.
#[derive(Debug)]
pub struct Engine {
    permits: Arc<Semaphore>,
    deadline: Duration,
}

/// Set when the work should stop: its deadline passed or its request went away.
#[derive(Clone, Debug)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
    deadline: Instant,
    seconds: u64,
}

impl Cancel {
    fn new(limit: Duration) -> Self {
        Self {
            flag: Arc::default(),
            deadline: Instant::now() + limit,
            seconds: limit.as_secs().max(1),
        }
    }

    /// Whether the work should stop.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }

    /// `Err` (the request is over) when the work should stop: call it in every long loop.
    pub fn check(&self) -> Result<(), ApiError> {
        if self.is_cancelled() {
            Err(ApiError::Timeout {
                seconds: self.seconds,
            })
        } else {
            Ok(())
        }
    }

    fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }
}

/// Engine threads run at a lower priority than the async workers (nice 10, per thread on Linux),
/// so health checks and uploads are answered first when the CPU is short.
fn yield_to_async_workers() {
    thread_local!(static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    if !LOWERED.get() {
        if let Err(e) = rustix::process::setpriority_process(None, 10) {
            tracing::debug!(error = %e, "cannot lower an engine thread's priority");
        }
        LOWERED.set(true);
    }
}

/// Cancels the work when the request's future is dropped before the work finished.
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl Engine {
    /// The pool of a server's limits.
    pub fn for_limits(limits: &crate::limits::Limits) -> Arc<Self> {
        Arc::new(Self::new(limits.engine_threads, limits.engine_deadline))
    }

    pub fn new(threads: usize, deadline: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(threads.max(1))),
            deadline,
        }
    }

    /// Run `work` on an engine thread and answer with its result as JSON, written there too (an
    /// answer of megabytes is CPU work as well).
    pub async fn answer<T, F>(&self, work: F) -> Result<Response, ApiError>
    where
        T: serde::Serialize,
        F: FnOnce(&Cancel) -> Result<T, ApiError> + Send + 'static,
    {
        let body = self
            .run(move |cancel| {
                let answer = work(cancel)?;
                cancel.check()?;
                serde_json::to_vec(&answer)
                    .map_err(|e| ApiError::Internal(format!("writing an answer: {e}")))
            })
            .await?;
        Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
    }

    /// Run `work` on an engine thread and answer with the JSON it wrote there.
    pub async fn answer_written<F>(&self, work: F) -> Result<Response, ApiError>
    where
        F: FnOnce(&Cancel) -> Result<Vec<u8>, ApiError> + Send + 'static,
    {
        let body = self.run(work).await?;
        Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
    }

    /// Run `work` on an engine thread and wait for its answer, at most until the deadline.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Cancel) -> Result<T, ApiError> + Send + 'static,
    {
        let cancel = Cancel::new(self.deadline);
        let deadline = cancel.deadline;
        let _on_drop = CancelOnDrop(cancel.clone());
        let timeout = || ApiError::Timeout {
            seconds: cancel.seconds,
        };
        let permit =
            tokio::time::timeout_at(deadline.into(), Arc::clone(&self.permits).acquire_owned())
                .await
                .map_err(|_| timeout())?
                .map_err(|e| ApiError::Internal(format!("engine pool closed: {e}")))?;
        let theirs = cancel.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            yield_to_async_workers();
            theirs.check()?;
            work(&theirs)
        });
        match tokio::time::timeout_at(deadline.into(), task).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => Err(ApiError::Internal(format!("engine work failed: {e}"))),
            Err(_) => Err(timeout()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Work that runs until it is told to stop; counts how many have stopped.
    fn endless(stopped: Arc<AtomicUsize>) -> impl FnOnce(&Cancel) -> Result<(), ApiError> {
        move |cancel| {
            while !cancel.is_cancelled() {
                std::thread::sleep(Duration::from_millis(1));
            }
            stopped.fetch_add(1, Ordering::SeqCst);
            cancel.check()
        }
    }

    async fn wait_for(stopped: &AtomicUsize, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while stopped.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "the work did not stop");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_deadline_stops_the_work_and_answers_503() {
        let engine = Engine::new(1, Duration::from_millis(300));
        let stopped = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        let e = engine
            .run(endless(Arc::clone(&stopped)))
            .await
            .expect_err("timeout");
        assert_eq!(e.status_code(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        wait_for(&stopped, 1).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_request_stops_its_work_and_frees_its_thread() {
        let engine = Engine::new(1, Duration::from_secs(60));
        let stopped = Arc::new(AtomicUsize::new(0));
        // The client goes away: its request's future is dropped while the work runs.
        let gone = tokio::time::timeout(
            Duration::from_millis(100),
            engine.run(endless(Arc::clone(&stopped))),
        );
        assert!(gone.await.is_err());
        wait_for(&stopped, 1).await;
        // The only thread is free again.
        let answer = tokio::time::timeout(Duration::from_secs(2), engine.run(|_| Ok(7)))
            .await
            .expect("the thread was given back");
        assert_eq!(answer.expect("answer"), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_the_limit_runs_at_once() {
        let engine = Arc::new(Engine::new(2, Duration::from_secs(10)));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..6)
            .map(|_| {
                let (engine, running, most) =
                    (Arc::clone(&engine), Arc::clone(&running), Arc::clone(&most));
                tokio::spawn(async move {
                    engine
                        .run(move |_| {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(50));
                            running.fetch_sub(1, Ordering::SeqCst);
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        for j in jobs {
            j.await.expect("join").expect("work");
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }
}
