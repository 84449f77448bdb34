//! One shape for every worker process: its components (servers, consumers, dispatchers)
//! run side by side until shutdown, and then get one drain deadline to finish. A component
//! that ends while nobody asked it to (it returned, failed or panicked) is a process that
//! no longer does its work: readiness turns false, the others are told to stop, and `serve`
//! returns the error, so `main` exits non-zero and the orchestrator starts a new process.

use crate::ReadinessCheck;
use futures::future::BoxFuture;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{Id, JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

/// One part of a worker that runs until shutdown is asked.
pub struct Component {
    name: &'static str,
    run: BoxFuture<'static, anyhow::Result<()>>,
}

impl Component {
    /// A part that may fail (a server whose listener breaks).
    pub fn new(
        name: &'static str,
        run: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) -> Self {
        Self {
            name,
            run: Box::pin(run),
        }
    }

    /// A loop that handles its own errors and returns only once shutdown is asked.
    pub fn looping(name: &'static str, run: impl Future<Output = ()> + Send + 'static) -> Self {
        Self::new(name, async move {
            run.await;
            Ok(())
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Trips when a component has stopped unexpectedly; a readiness check guarded by it fails
/// from then on, so that no traffic is sent to a process on its way out.
#[derive(Debug, Clone, Default)]
pub struct Tripwire(Arc<AtomicBool>);

impl Tripwire {
    pub fn new() -> Self {
        Self::default()
    }

    /// `check`, failing once this tripwire has tripped.
    pub fn guard(&self, check: ReadinessCheck) -> ReadinessCheck {
        let tripped = self.0.clone();
        Arc::new(move || {
            if tripped.load(Ordering::SeqCst) {
                Box::pin(async { Err("a component of this process stopped; it is exiting".into()) })
            } else {
                check()
            }
        })
    }

    pub fn is_tripped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn trip(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Runs `components` until `shutdown` is cancelled, then waits at most `drain` for them to
/// finish (what is still running then is abandoned; its work is redelivered). Cancels
/// `shutdown` itself, after tripping `tripwire`, when a component ends before it was asked
/// to, and then returns that component's end as the error. Otherwise returns the first
/// error a component returned while draining, if any.
pub async fn serve(
    components: Vec<Component>,
    tripwire: &Tripwire,
    shutdown: CancellationToken,
    drain: Duration,
) -> anyhow::Result<()> {
    let mut tasks = JoinSet::new();
    let mut names: Vec<(Id, &'static str)> = Vec::with_capacity(components.len());
    for component in components {
        let handle = tasks.spawn(component.run);
        names.push((handle.id(), component.name));
    }
    let name_of = |id: Id| {
        names
            .iter()
            .find(|(task, _)| *task == id)
            .map_or("a component", |(_, name)| *name)
    };

    // Until shutdown is asked or the first component ends, whichever comes first.
    let first_end = tokio::select! {
        _ = shutdown.cancelled() => None,
        ended = tasks.join_next_with_id(), if !tasks.is_empty() => ended,
    };
    let mut failure: Option<anyhow::Error> = None;
    if let Some(ended) = first_end {
        let (name, outcome) = describe(ended, &name_of);
        if shutdown.is_cancelled() {
            // Asked to stop meanwhile: an ordinary end of the drain.
            failure = outcome.err();
        } else {
            let err = match outcome {
                Ok(()) => anyhow::anyhow!("{name} stopped before shutdown was asked"),
                Err(err) => err.context(format!("{name} stopped before shutdown was asked")),
            };
            tracing::error!(
                component = name,
                error = format!("{err:#}"),
                "a component stopped; readiness is off and the process stops"
            );
            tripwire.trip();
            shutdown.cancel();
            failure = Some(err);
        }
    }

    let drained = tokio::time::timeout(drain, async {
        let mut first: Option<anyhow::Error> = None;
        while let Some(ended) = tasks.join_next_with_id().await {
            let (name, outcome) = describe(ended, &name_of);
            if let Err(err) = outcome {
                tracing::error!(
                    component = name,
                    error = format!("{err:#}"),
                    "a component failed while draining"
                );
                first.get_or_insert(err);
            }
        }
        first
    })
    .await;
    match drained {
        Ok(Some(err)) => {
            failure.get_or_insert(err);
        }
        Ok(None) => {}
        Err(_) => {
            tracing::warn!(
                deadline_ms = drain.as_millis() as u64,
                "drain deadline passed; stopping with work in flight (it will be redelivered)"
            );
            tasks.abort_all();
        }
    }
    match failure {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// The component's name and how it ended, a panic turned into an error.
fn describe<'a>(
    ended: Result<(Id, anyhow::Result<()>), JoinError>,
    name_of: &impl Fn(Id) -> &'a str,
) -> (&'a str, anyhow::Result<()>) {
    match ended {
        Ok((id, outcome)) => (name_of(id), outcome),
        Err(join) => {
            let name = name_of(join.id());
            let reason = if join.is_panic() {
                let panic = join.into_panic();
                let text = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".to_owned());
                format!("{name} panicked: {text}")
            } else {
                format!("{name} was cancelled")
            };
            (name, Err(anyhow::anyhow!(reason)))
        }
    }
}
