//! Prometheus metrics: request counts and latencies by route, and build information.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    directory: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectoryLabels {
    directory: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    directory: String,
    phase: String,
}

/// What keyward exists for, read from the database at each scrape (so every instance of a
/// shared PostgreSQL reports the same): keys, workstations, mail, rotations, sync runs.
struct Domain {
    employees: Family<StatusLabels, Gauge>,
    keys: Family<StatusLabels, Gauge>,
    workstations: Family<StatusLabels, Gauge>,
    outbox: Family<StatusLabels, Gauge>,
    rotations: Family<StatusLabels, Gauge>,
    rotations_stalled: Gauge,
    sync_runs: Family<RunLabels, Gauge>,
    last_run_read: Family<DirectoryLabels, Gauge>,
    last_run_held: Family<DirectoryLabels, Gauge>,
    last_run_finished: Family<DirectoryLabels, Gauge>,
    last_run_succeeded: Family<DirectoryLabels, Gauge>,
    last_run_phase_ms: Family<PhaseLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

/// The server's metric registry.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    rotation_steps: Family<OutcomeLabels, Counter>,
    domain: Domain,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "keyward_http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let durations = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_5, 2.0, 16))
        });
        registry.register(
            "keyward_http_request_duration_seconds",
            "Time to answer HTTP requests, by method and route template",
            durations.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").into(),
            })
            .set(1);
        registry.register("keyward_build_info", "keyward version", build);
        let rotation_steps = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "keyward_rotation_directory_steps",
            "Directory steps this server's rotation worker took, by outcome: committed (the \
             directory took the new password), refused (it refused it; the rotation rolls back), \
             retried (it could not be reached)",
            rotation_steps.clone(),
        );
        let domain = Domain::register(&mut registry);
        Self {
            registry,
            requests,
            durations,
            rotation_steps,
            domain,
        }
    }

    /// Counts one pass of the rotation worker.
    pub(crate) fn count_rotation_steps(&self, committed: usize, refused: usize, retried: usize) {
        for (outcome, n) in [
            ("committed", committed),
            ("refused", refused),
            ("retried", retried),
        ] {
            self.rotation_steps
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.to_owned(),
                })
                .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
        }
    }

    /// Reads the domain figures from the database into their gauges. A failed read leaves the
    /// previous figures and is logged; the request metrics are served either way.
    pub(crate) async fn refresh(&self, keyward: &keyward_service::Keyward) {
        if let Err(e) = self.domain.refresh(keyward).await {
            tracing::warn!(error = %e, "the domain metrics could not be read");
        }
    }

    /// The Prometheus text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The method as a label: the standard ones by name, anything else `other`, so that a client
/// cannot create a series per made-up method.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Counts and times every request. The route label is the route template (`/api/v1/employees/{id}`),
/// never the raw path, so that ids cannot blow up the number of series; every path no route
/// matches is `unmatched`.
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = method_label(request.method()).to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method.clone(),
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    state
        .metrics
        .durations
        .get_or_create(&RouteLabels { method, route })
        .observe(elapsed);
    response
}

fn set_all(family: &Family<StatusLabels, Gauge>, counts: &std::collections::BTreeMap<String, u64>) {
    family.clear();
    for (status, n) in counts {
        family
            .get_or_create(&StatusLabels {
                status: status.clone(),
            })
            .set(i64::try_from(*n).unwrap_or(i64::MAX));
    }
}

fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Domain {
    fn register(registry: &mut Registry) -> Self {
        let domain = Self {
            employees: Family::default(),
            keys: Family::default(),
            workstations: Family::default(),
            outbox: Family::default(),
            rotations: Family::default(),
            rotations_stalled: Gauge::default(),
            sync_runs: Family::default(),
            last_run_read: Family::default(),
            last_run_held: Family::default(),
            last_run_finished: Family::default(),
            last_run_succeeded: Family::default(),
            last_run_phase_ms: Family::default(),
        };
        registry.register(
            "keyward_employees",
            "Employees by origin (manual, directory)",
            domain.employees.clone(),
        );
        registry.register(
            "keyward_keys",
            "Hardware keys by status",
            domain.keys.clone(),
        );
        registry.register(
            "keyward_workstations",
            "Workstations by status (pending ones wait for approval)",
            domain.workstations.clone(),
        );
        registry.register(
            "keyward_outbox_messages",
            "Mail in the outbox by status (queued and failed ones are the depth and the failures)",
            domain.outbox.clone(),
        );
        registry.register("keyward_rotation_accounts", "Accounts keyward keeps a password for, by rotation state (every state but idle is a rotation in flight)", domain.rotations.clone());
        registry.register("keyward_rotations_stalled", "Rotations in flight waiting for their key longer than passwords.key_wait_warn_hours, or failed at the directory passwords.max_attempts times", domain.rotations_stalled.clone());
        registry.register(
            "keyward_sync_runs",
            "Stored sync runs by directory and result",
            domain.sync_runs.clone(),
        );
        registry.register(
            "keyward_sync_last_run_accounts_read",
            "Accounts the last run of each directory read",
            domain.last_run_read.clone(),
        );
        registry.register(
            "keyward_sync_last_run_removals_held",
            "Removals the last run of each directory held for confirmation",
            domain.last_run_held.clone(),
        );
        registry.register(
            "keyward_sync_last_run_finished_timestamp_seconds",
            "When the last run of each directory finished (Unix time)",
            domain.last_run_finished.clone(),
        );
        registry.register(
            "keyward_sync_last_run_succeeded",
            "1 when the last run of each directory succeeded, 0 when it failed",
            domain.last_run_succeeded.clone(),
        );
        registry.register(
            "keyward_sync_last_run_phase_milliseconds",
            "Time the last run of each directory spent in each phase (read, plan, write)",
            domain.last_run_phase_ms.clone(),
        );
        domain
    }

    async fn refresh(&self, keyward: &keyward_service::Keyward) -> keyward_service::Result<()> {
        let overview = keyward.overview().await?;
        let mut origins = std::collections::BTreeMap::new();
        origins.insert("directory".to_owned(), overview.employees_from_directory);
        origins.insert(
            "manual".to_owned(),
            overview.employees - overview.employees_from_directory,
        );
        set_all(&self.employees, &origins);
        set_all(&self.keys, &overview.keys);
        set_all(&self.workstations, &overview.workstations);
        set_all(&self.outbox, &overview.outbox);
        set_all(&self.rotations, &overview.rotations);
        self.rotations_stalled
            .set(gauge(keyward.stalled_rotations().await?));
        self.sync_runs.clear();
        for ((directory, status), n) in &overview.sync_runs {
            self.sync_runs
                .get_or_create(&RunLabels {
                    directory: directory.clone(),
                    status: status.clone(),
                })
                .set(gauge(*n));
        }
        let runs = keyward.sync().runs(500).await?;
        for directory in &keyward.settings().directories {
            let Some(run) = runs
                .iter()
                .find(|r| r.directory == directory.name && !r.dry_run)
            else {
                continue;
            };
            let labels = DirectoryLabels {
                directory: directory.name.clone(),
            };
            let report = &run.report;
            self.last_run_read
                .get_or_create(&labels)
                .set(gauge(report["read"].as_u64().unwrap_or(0)));
            self.last_run_held
                .get_or_create(&labels)
                .set(gauge(report["held"].as_u64().unwrap_or(0)));
            self.last_run_succeeded
                .get_or_create(&labels)
                .set(i64::from(run.status == "succeeded"));
            if let Some(finished) = run.finished_at {
                self.last_run_finished
                    .get_or_create(&labels)
                    .set(finished.timestamp());
            }
            for phase in ["read", "plan", "write"] {
                self.last_run_phase_ms
                    .get_or_create(&PhaseLabels {
                        directory: directory.name.clone(),
                        phase: phase.to_owned(),
                    })
                    .set(gauge(report["phases_ms"][phase].as_u64().unwrap_or(0)));
            }
        }
        Ok(())
    }
}
