//! The correlation id of the work in hand. A span that carries a `correlation_id` field
//! (the gateway's request span, a worker's job span) makes it known to everything done
//! inside it, so that an outgoing call can pass it on without every function taking it as
//! an argument.

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry};

pub const FIELD: &str = "correlation_id";

struct CorrelationId(String);

#[derive(Default)]
struct Find(Option<String>);

impl Visit for Find {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == FIELD && !value.is_empty() {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == FIELD {
            let value = format!("{value:?}");
            let value = value.trim_matches('"');
            if !value.is_empty() {
                self.0 = Some(value.to_owned());
            }
        }
    }
}

/// Keeps each span's `correlation_id` where `current` finds it.
pub(crate) struct CorrelationLayer;

impl<S> Layer<S> for CorrelationLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut find = Find::default();
        attrs.record(&mut find);
        if let (Some(value), Some(span)) = (find.0, ctx.span(id)) {
            span.extensions_mut().insert(CorrelationId(value));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut find = Find::default();
        values.record(&mut find);
        if let (Some(value), Some(span)) = (find.0, ctx.span(id)) {
            span.extensions_mut().replace(CorrelationId(value));
        }
    }
}

/// The correlation id of the innermost current span that has one.
pub fn current() -> Option<String> {
    let id = tracing::Span::current().id()?;
    tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let span = registry.span(&id)?;
        span.scope()
            .find_map(|s| s.extensions().get::<CorrelationId>().map(|c| c.0.clone()))
    })
}
