//! The API server's Prometheus metrics: requests by verb and code, open watches, and objects by
//! kind (counted from the store when scraped, so an idle master does no work for them).
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::api::Kind;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    verb: String,
    code: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

/// Metrics shared by every connection.
pub struct Metrics {
    registry: Registry,
    /// Requests served, by verb and HTTP code.
    requests: Family<RequestLabels, Counter>,
    /// Watches currently streaming.
    watchers: Gauge,
    /// Objects in the store by kind, refreshed at each scrape.
    objects: Family<KindLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("flotilla_apiserver");
        let requests = Family::<RequestLabels, Counter>::default();
        let watchers = Gauge::default();
        let objects = Family::<KindLabels, Gauge>::default();
        registry.register(
            "requests",
            "API requests served, by verb and HTTP code",
            requests.clone(),
        );
        registry.register("watchers", "Watches currently streaming", watchers.clone());
        registry.register("objects", "Objects in the store, by kind", objects.clone());
        Metrics {
            registry,
            requests,
            watchers,
            objects,
        }
    }

    /// Counts one request.
    pub fn request(&self, verb: &str, code: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                verb: verb.to_string(),
                code,
            })
            .inc();
    }

    /// A watch started; the guard counts it until dropped.
    pub fn watch_started(&self) -> WatcherGuard {
        self.watchers.inc();
        WatcherGuard(self.watchers.clone())
    }

    /// Watches currently streaming.
    pub fn watchers(&self) -> i64 {
        self.watchers.get()
    }

    /// Prometheus text, with `counts` as the objects-by-kind figures.
    pub fn render(&self, counts: &[(Kind, usize)]) -> String {
        for (kind, count) in counts {
            let count = i64::try_from(*count).unwrap_or(i64::MAX);
            self.objects
                .get_or_create(&KindLabels {
                    kind: kind.name().to_string(),
                })
                .set(count);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// Decrements the watcher gauge when a watch ends.
pub struct WatcherGuard(Gauge);

impl Drop for WatcherGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_names_requests_watchers_and_objects() {
        let metrics = Metrics::new();
        metrics.request("create", 201);
        let guard = metrics.watch_started();
        let text = metrics.render(&[(Kind::Pod, 3)]);
        assert!(
            text.contains("flotilla_apiserver_requests_total{verb=\"create\",code=\"201\"} 1"),
            "{text}"
        );
        assert!(text.contains("flotilla_apiserver_watchers 1"), "{text}");
        assert!(
            text.contains("flotilla_apiserver_objects{kind=\"Pod\"} 3"),
            "{text}"
        );
        drop(guard);
        assert_eq!(metrics.watchers(), 0);
    }
}
