//! Ory Oathkeeper v0.40.9 with a given configuration and rule files, on free loopback ports.
use super::Peer;
use crate::scratch::free_port;
use std::time::Duration;

/// A running Oathkeeper.
#[derive(Debug)]
pub struct Oathkeeper {
    /// The process (killed on drop).
    pub peer: Peer,
    /// The proxy port.
    pub proxy: u16,
    /// The API port (`/decisions`, health).
    pub api: u16,
}

/// Start Oathkeeper with `config` (an Oathkeeper config document; `serve` and
/// `access_rules.repositories` are set here) and `rule_files` (name, JSON text) written next
/// to it. Waits until `/health/ready` answers 200.
pub async fn start(mut config: serde_json::Value, rule_files: &[(&str, String)]) -> Oathkeeper {
    let (proxy, api) = (free_port(), free_port());
    let files: Vec<(String, String)> = rule_files
        .iter()
        .map(|(n, t)| (n.to_string(), t.clone()))
        .collect();
    let mut peer = Peer::spawn(
        "oathkeeper",
        &["serve", "--config", "config.yaml"],
        &[],
        |dir| {
            let repos: Vec<String> = files
                .iter()
                .map(|(name, text)| {
                    std::fs::write(dir.join(name), text).unwrap();
                    format!("file://{}", dir.join(name).display())
                })
                .collect();
            config["serve"] = serde_json::json!({
                "proxy": {"host": "127.0.0.1", "port": proxy},
                "api": {"host": "127.0.0.1", "port": api},
            });
            config["access_rules"]["repositories"] = serde_json::json!(repos);
            config["log"] = serde_json::json!({"level": "error"});
            // YAML is a superset of JSON.
            std::fs::write(dir.join("config.yaml"), config.to_string()).unwrap();
        },
    );
    peer.wait_ready(
        &format!("http://127.0.0.1:{api}/health/ready"),
        Duration::from_secs(30),
    )
    .await;
    Oathkeeper { peer, proxy, api }
}
