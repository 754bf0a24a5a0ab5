//! The worker's HTTP server: results by root (`crate::server`), `/metrics` and `/healthz`.

use super::Worker;
use axum::{extract::State, http::StatusCode, response::IntoResponse, routing::get, Router};
use std::sync::Arc;

impl Worker {
    pub(super) fn health(&self) -> (StatusCode, String) {
        let rpc_age = self
            .rpc_ok_at
            .lock()
            .unwrap()
            .map(|t| t.elapsed().as_secs());
        let body = serde_json::json!({
            "status": if self.stopping() { "stopping" } else { "ok" },
            "provider": self.me().to_string(),
            "market": self.market.address.to_string(),
            "websocket_connected": self.metrics.value("cmkt_worker_websocket_connected", &[]) == 1.0,
            "seconds_since_rpc_ok": rpc_age,
            "in_flight": self.active.lock().unwrap().len(),
            "pending": self.journal.pending().len(),
        });
        let healthy = !self.stopping() && rpc_age.is_some_and(|a| a < 120);
        let code = if healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (code, format!("{body}\n"))
    }

    /// Result routes plus `/metrics` and `/healthz`.
    pub fn router(self: &Arc<Self>) -> Router {
        let extra = Router::new()
            .route(
                "/metrics",
                get(|State(w): State<Arc<Worker>>| async move {
                    (
                        [("content-type", "text/plain; version=0.0.4")],
                        w.metrics.render(),
                    )
                }),
            )
            .route(
                "/healthz",
                get(|State(w): State<Arc<Worker>>| async move { w.health().into_response() }),
            )
            .with_state(self.clone());
        crate::server::router(self.journal.clone()).merge(extra)
    }
}
