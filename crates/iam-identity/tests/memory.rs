//! The storage conformance scenarios on the in-memory repositories.
use iam_identity::conformance;
use iam_identity::memory::{MemoryChallenges, MemoryRepositories};
use iam_identity::repository::Repositories;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_identity_scenario_passes_on_the_in_memory_repositories() {
    conformance::run_all(|| {
        (
            Repositories::from_store(
                Arc::new(MemoryRepositories::new()),
                Arc::new(MemoryChallenges::default()),
            ),
            conformance::memory_limiter(),
        )
    })
    .await;
}
