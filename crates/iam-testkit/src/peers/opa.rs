//! Open Policy Agent: `opa run --server` on a free loopback port, serving the policy and data
//! files it is given.
use super::Peer;
use std::time::Duration;

/// A running OPA server.
#[derive(Debug)]
pub struct Opa {
    /// The process (killed on drop).
    pub peer: Peer,
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
}

/// Start OPA with `files` (`(relative path, content)`: `.rego` modules, `data.json` documents
/// loaded at the path of their directory, as `opa run DIR` does), wait until `/health`
/// answers 200, and return it.
pub async fn start(files: &[(&str, &str)]) -> Opa {
    let port = crate::scratch::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut peer = Peer::spawn(
        "opa",
        &[
            "run",
            "--server",
            "--addr",
            &addr,
            "--disable-telemetry",
            "--log-level",
            "error",
            "bundle",
        ],
        &[],
        |dir| {
            for (path, content) in files {
                let path = dir.join("bundle").join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, content).unwrap();
            }
        },
    );
    let url = format!("http://{addr}");
    peer.wait_ready(&format!("{url}/health"), Duration::from_secs(30))
        .await;
    Opa { peer, url }
}
