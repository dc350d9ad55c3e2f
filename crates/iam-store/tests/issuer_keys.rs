//! iam-issuer's key ring on the SQL store: the store contract on the three backends, keys
//! surviving a restart, tampering refused, and instances ticking concurrently on one database
//! ending with exactly one current key.
use iam_core::clock::FixedClock;
use iam_issuer::{
    Issuer, IssuerErrorKind, KeyAlgorithm, KeyEncryptionKey, KeyRing, KeyState, KeyStore,
    RotationPolicy, StoredKey, Transition,
};
use iam_store::{Database, SqlKeyStore};
use iam_testkit::services;
use serde_json::Map;
use std::sync::Arc;
use std::time::Duration;

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

fn policy() -> RotationPolicy {
    RotationPolicy::new(
        Duration::from_secs(DAY as u64),
        Duration::from_secs(600),
        Duration::from_secs(3_600),
    )
}

/// A store on `url`, its table emptied.
async fn fresh(url: &str) -> SqlKeyStore {
    let db = Database::connect(url).await.unwrap();
    let store = SqlKeyStore::open(db).await.unwrap();
    iam_store::sqlx::query("DELETE FROM iam_issuer_keys")
        .execute(store.database().pool())
        .await
        .unwrap();
    store
}

fn key(kid: &str, generation: i64, state: KeyState) -> StoredKey {
    StoredKey {
        kid: kid.into(),
        generation,
        algorithm: "ES256".into(),
        state,
        created_at: NOW,
        activated_at: (state == KeyState::Current).then_some(NOW),
        retired_at: None,
        public_jwk: r#"{"kty":"EC"}"#.into(),
        sealed_private_key: vec![1, 0, 255, 7],
        kek_id: "0011223344556677".into(),
    }
}

fn t(kid: &str, from: KeyState, to: KeyState) -> Transition {
    Transition {
        kid: kid.into(),
        from,
        to,
        at: NOW + 5,
    }
}

async fn the_store_contract_holds(url: &str) {
    let store = fresh(url).await;
    assert!(store.insert(&key("a", 1, KeyState::Current)).await.unwrap());
    assert_eq!(
        store.load().await.unwrap(),
        [key("a", 1, KeyState::Current)],
        "read back as written"
    );
    assert!(
        !store.insert(&key("a", 2, KeyState::Next)).await.unwrap(),
        "kid taken"
    );
    assert!(
        !store.insert(&key("b", 1, KeyState::Next)).await.unwrap(),
        "generation taken"
    );
    assert!(
        !store.insert(&key("b", 2, KeyState::Current)).await.unwrap(),
        "second current"
    );
    assert!(store.insert(&key("b", 2, KeyState::Next)).await.unwrap());

    // Promoting b alone would make two current keys: refused, nothing changed.
    assert!(!store
        .transition(&[t("b", KeyState::Next, KeyState::Current)])
        .await
        .unwrap());
    let rotate = [
        t("b", KeyState::Next, KeyState::Current),
        t("a", KeyState::Current, KeyState::Retired),
    ];
    assert!(store.transition(&rotate).await.unwrap());
    assert!(!store.transition(&rotate).await.unwrap(), "states changed");
    // A missing key: nothing applies, not even the part that could.
    assert!(!store
        .transition(&[
            t("b", KeyState::Current, KeyState::Retired),
            t("zz", KeyState::Next, KeyState::Current),
        ])
        .await
        .unwrap());
    let mut keys = store.load().await.unwrap();
    keys.sort_by_key(|k| k.generation);
    assert_eq!(
        (keys[0].state, keys[0].retired_at),
        (KeyState::Retired, Some(NOW + 5))
    );
    assert_eq!(
        (keys[1].state, keys[1].activated_at),
        (KeyState::Current, Some(NOW + 5))
    );
    store.delete("a").await.unwrap();
    store.delete("a").await.unwrap();
    assert_eq!(store.load().await.unwrap().len(), 1);
}

async fn keys_survive_a_restart_and_a_wrong_or_tampered_key_is_refused(url: &str) {
    // RS256: the largest record (a sealed RSA 2048 key).
    let clock = Arc::new(FixedClock::new(NOW));
    let kek = KeyEncryptionKey::generate();
    let store = fresh(url).await;
    let ring = KeyRing::open(
        Arc::new(store.clone()),
        kek.clone(),
        KeyAlgorithm::Rs256,
        policy(),
        clock.clone(),
    )
    .await
    .unwrap();
    let issuer = Issuer::new("https://auth.example.com", ring.clone());
    let before = issuer.mint(Map::new(), Duration::from_secs(60)).unwrap();

    // A new process: another pool on the same database, the same key-encryption key.
    let reopened = KeyRing::open(
        Arc::new(
            SqlKeyStore::open(Database::connect(url).await.unwrap())
                .await
                .unwrap(),
        ),
        kek.clone(),
        KeyAlgorithm::Rs256,
        policy(),
        clock.clone(),
    )
    .await
    .unwrap();
    assert_eq!(reopened.keys(), ring.keys());
    assert_eq!(reopened.signing_kid(), Some(before.kid.clone()));

    let err = KeyRing::open(
        Arc::new(store.clone()),
        KeyEncryptionKey::generate(),
        KeyAlgorithm::Rs256,
        policy(),
        clock.clone(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), &IssuerErrorKind::WrongKeyEncryptionKey);

    // The stored text holds only the sealed form.
    let row = iam_store::sqlx::query(
        &store
            .database()
            .sql("SELECT sealed_private_key FROM iam_issuer_keys WHERE kid = ?"),
    )
    .bind(&before.kid)
    .fetch_one(store.database().pool())
    .await
    .unwrap();
    let sealed: String = iam_store::sqlx::Row::try_get(&row, "sealed_private_key").unwrap();
    // Swap one base64 character: the record no longer authenticates.
    let mut tampered = sealed.into_bytes();
    tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
    iam_store::sqlx::query(
        &store
            .database()
            .sql("UPDATE iam_issuer_keys SET sealed_private_key = ? WHERE kid = ?"),
    )
    .bind(String::from_utf8(tampered).unwrap())
    .bind(&before.kid)
    .execute(store.database().pool())
    .await
    .unwrap();
    let err = KeyRing::open(
        Arc::new(store.clone()),
        kek,
        KeyAlgorithm::Rs256,
        policy(),
        clock,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), &IssuerErrorKind::SealedKeyRejected);
}

async fn concurrent_ticks_from_two_instances_leave_one_current_key(url: &str) {
    let clock = Arc::new(FixedClock::new(NOW));
    let kek = KeyEncryptionKey::generate();
    fresh(url).await;
    let open = || async {
        let store = SqlKeyStore::open(Database::connect(url).await.unwrap())
            .await
            .unwrap();
        KeyRing::open(
            Arc::new(store),
            kek.clone(),
            KeyAlgorithm::Es256,
            policy(),
            clock.clone(),
        )
        .await
        .unwrap()
    };
    // Both open on the empty database at once: one first key, one successor.
    let (a, b) = tokio::join!(open(), open());
    let check = async |round: usize| {
        let keys = fresh_view(url).await;
        let current: Vec<_> = keys
            .iter()
            .filter(|k| k.state == KeyState::Current)
            .collect();
        let next = keys.iter().filter(|k| k.state == KeyState::Next).count();
        assert_eq!(current.len(), 1, "round {round}: {keys:?}");
        assert_eq!(next, 1, "round {round}: {keys:?}");
        current[0].kid.clone()
    };
    check(0).await;
    let mut promotions = 0;
    for round in 1..=6 {
        clock.advance(DAY);
        let (ra, rb) = tokio::join!(
            tokio::spawn({
                let a = a.clone();
                async move { a.tick().await }
            }),
            tokio::spawn({
                let b = b.clone();
                async move { b.tick().await }
            })
        );
        let (ra, rb) = (ra.unwrap().unwrap(), rb.unwrap().unwrap());
        promotions += usize::from(ra.promoted.is_some()) + usize::from(rb.promoted.is_some());
        let current = check(round).await;
        assert_eq!(a.signing_kid(), Some(current.clone()), "round {round}");
        assert_eq!(b.signing_kid(), Some(current), "round {round}");
    }
    assert_eq!(promotions, 6, "one promotion per round");
}

async fn fresh_view(url: &str) -> Vec<StoredKey> {
    SqlKeyStore::open(Database::connect(url).await.unwrap())
        .await
        .unwrap()
        .load()
        .await
        .unwrap()
}

#[tokio::test]
async fn sqlite_store_contract() {
    let (_dir, url) = iam_testkit::scratch::temp_sqlite();
    the_store_contract_holds(&url).await;
}

#[tokio::test]
async fn sqlite_keys_survive_a_restart_and_tampering_is_refused() {
    let (_dir, url) = iam_testkit::scratch::temp_sqlite();
    keys_survive_a_restart_and_a_wrong_or_tampered_key_is_refused(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_ticks_leave_one_current_key() {
    let (_dir, url) = iam_testkit::scratch::temp_sqlite();
    concurrent_ticks_from_two_instances_leave_one_current_key(&url).await;
}

/// The three scenarios one after the other: they share the server's database.
async fn all_scenarios(url: &str) {
    the_store_contract_holds(url).await;
    keys_survive_a_restart_and_a_wrong_or_tampered_key_is_refused(url).await;
    concurrent_ticks_from_two_instances_leave_one_current_key(url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: scripts/test"]
async fn postgres_store_contract_restart_tampering_and_concurrent_ticks() {
    all_scenarios(&services::postgres_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mariadb: scripts/test"]
async fn mariadb_store_contract_restart_tampering_and_concurrent_ticks() {
    all_scenarios(&services::mysql_url()).await;
}
