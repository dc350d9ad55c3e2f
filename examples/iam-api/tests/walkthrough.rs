//! The README's curl walkthrough, run as written: the `sh` block under `## Walkthrough` is cut
//! into its numbered steps and run in order by one `bash`, and each step's outcome is checked.
//!
//! Only what the machine needs changes: `cargo run -p iam-api` and `cargo run -p sample-app
//! --bin sample-app-axum` start the binaries already built (a shell function named `cargo`
//! that also sends their logs to files, away from the steps' output), ports 8080 and 3000
//! become free ports, and the working directory is an empty scratch directory (so
//! `./iam-data` is new). Needs `bash`, `curl`, `jq` and `python3` (Debian packages
//! `bash curl jq python3`), and `sample-app-axum` built next to this test
//! (`cargo build -p sample-app --bin sample-app-axum`).
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

const README: &str = include_str!("../README.md");

/// The first ```` ```sh ```` block after `## Walkthrough`.
fn walkthrough_block() -> &'static str {
    let section = &README[README
        .find("## Walkthrough")
        .expect("a Walkthrough section")..];
    let start = section
        .find("```sh\n")
        .expect("an sh block in the Walkthrough")
        + 6;
    let len = section[start..].find("\n```").expect("the sh block ends");
    &section[start..start + len]
}

/// The block's setup (the lines before `# 1.`) and its steps (`# N. …` up to the next one).
fn steps(block: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for line in block.lines() {
        let numbered = line
            .strip_prefix("# ")
            .and_then(|rest| rest.split_once(". "))
            .is_some_and(|(n, _)| n.parse::<u32>().is_ok());
        if numbered {
            out.push(String::new());
        }
        let last = out.last_mut().expect("at least the setup");
        last.push_str(line);
        last.push('\n');
    }
    out
}

/// A binary of this workspace built into the same target directory as this test.
fn built_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    // target/<profile>/deps/walkthrough-<hash> → target/<profile>/<name>
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("the profile directory")
        .join(name)
}

fn is_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty())
}

#[test]
#[ignore = "needs bash, curl, jq, python3 and sample-app-axum built: cargo build -p sample-app --bin sample-app-axum"]
fn the_readme_walkthrough_works_as_written() {
    let sample_app = built_binary("sample-app-axum");
    assert!(
        sample_app.is_file(),
        "{} is missing: cargo build -p sample-app --bin sample-app-axum",
        sample_app.display()
    );
    let dir = iam_testkit::scratch::TempDir::new();
    let (api, app) = (
        iam_testkit::scratch::free_port(),
        iam_testkit::scratch::free_port(),
    );
    let steps = steps(walkthrough_block());
    assert_eq!(steps.len(), 9, "setup and eight steps: {steps:#?}");
    // Every background job of the script ends with it, whatever happens.
    let mut script = String::from(
        "trap 'kill $(jobs -p) 2>/dev/null' EXIT\n\
         cargo() {\n\
           case \"$*\" in\n\
             'run -p iam-api') exec \"$IAM_API_BIN\" >iam-api.log 2>&1 ;;\n\
             'run -p sample-app --bin sample-app-axum') exec \"$SAMPLE_APP_BIN\" >sample-app.log 2>&1 ;;\n\
             *) echo \"unexpected: cargo $*\" >&2; return 97 ;;\n\
           esac\n\
         }\n",
    );
    for (n, step) in steps.iter().enumerate() {
        let step = step
            .replace(":8080", &format!(":{api}"))
            .replace(":3000", &format!(":{app}"));
        script.push_str(&format!("echo '@@step {n}'\n{step}"));
        // What the step left in the shell's variables.
        for var in ["ADMIN", "ALICE", "SECRET", "MFA", "TOKENS", "ACCESS"] {
            script.push_str(&format!("echo \"@@var {var}=${{{var}:-}}\"\n"));
        }
    }
    script.push_str("echo '@@end'\n");
    let out = Command::new("timeout")
        .args(["300", "bash", "-c", &script])
        .current_dir(dir.path())
        .env("IAM_API_BIN", env!("CARGO_BIN_EXE_iam-api"))
        .env("SAMPLE_APP_BIN", &sample_app)
        .env("IAM_API_LISTEN", format!("127.0.0.1:{api}"))
        .env_remove("IAM_API_DATABASE_URL")
        .env_remove("IAM_API_REDIS_URL")
        .env_remove("IAM_API_KEY_ENCRYPTION_KEY")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    let context = format!(
        "stdout:\n{stdout}\nstderr:\n{stderr}\niam-api:\n{}\nsample-app-axum:\n{}",
        log("iam-api.log"),
        log("sample-app.log")
    );
    assert!(
        stdout.contains("@@end"),
        "the script ran to its end\n{context}"
    );
    // Each step's output (without the variable lines) and the variables after it.
    let mut printed: Vec<String> = Vec::new();
    let mut vars: Vec<HashMap<String, String>> = Vec::new();
    for line in stdout.lines() {
        if line == "@@end" {
            break;
        } else if line.starts_with("@@step ") {
            printed.push(String::new());
            vars.push(HashMap::new());
        } else if let Some(kv) = line.strip_prefix("@@var ") {
            let (k, v) = kv.split_once('=').expect("NAME=value");
            vars.last_mut()
                .expect("in a step")
                .insert(k.into(), v.into());
        } else if let Some(p) = printed.last_mut() {
            p.push_str(line);
            p.push('\n');
        }
    }
    assert_eq!(printed.len(), 9, "{context}");
    let var = |step: usize, name: &str| vars[step][name].clone();
    // 1. The bootstrap admin logs in.
    assert!(
        is_jwt(&var(1, "ADMIN")),
        "step 1: an access token\n{context}"
    );
    // 2. It creates a user.
    let user: serde_json::Value = serde_json::from_str(&printed[2])
        .unwrap_or_else(|e| panic!("step 2 prints the user as JSON ({e})\n{context}"));
    assert_eq!(user["username"], "alice", "step 2\n{context}");
    // 3. The user logs in.
    assert!(
        is_jwt(&var(3, "ALICE")),
        "step 3: an access token\n{context}"
    );
    // 4. Enrolment: a base32 secret, then ten recovery codes.
    let secret = var(4, "SECRET");
    assert!(
        secret.len() >= 16
            && secret
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
        "step 4: a base32 secret, got {secret:?}\n{context}"
    );
    let codes: serde_json::Value = serde_json::from_str(&printed[4])
        .unwrap_or_else(|e| panic!("step 4 prints the recovery codes as JSON ({e})\n{context}"));
    assert_eq!(
        codes["recovery_codes"].as_array().map(Vec::len),
        Some(10),
        "step 4\n{context}"
    );
    // 5. Login with MFA: a challenge, then tokens whose access token says acr mfa, amr otp.
    assert!(
        !matches!(var(5, "MFA").as_str(), "" | "null"),
        "step 5: an MFA token\n{context}"
    );
    let tokens: serde_json::Value =
        serde_json::from_str(&var(5, "TOKENS")).expect("step 5: the token answer is JSON");
    assert!(
        tokens["access_token"].as_str().is_some_and(is_jwt),
        "{context}"
    );
    let payload = printed[5].trim();
    assert!(
        payload.contains(r#""acr":"mfa""#) && payload.contains(r#""otp""#),
        "step 5 prints the access token's claims with acr mfa and amr otp: {payload}\n{context}"
    );
    // 6. Refresh: a new pair.
    let refreshed: serde_json::Value =
        serde_json::from_str(&var(6, "TOKENS")).expect("step 6: the token answer is JSON");
    assert_ne!(
        refreshed["refresh_token"], tokens["refresh_token"],
        "{context}"
    );
    assert!(
        is_jwt(&var(6, "ACCESS")),
        "step 6: an access token\n{context}"
    );
    // 7. The sample app shows the user's tenant.
    let me: serde_json::Value = serde_json::from_str(&printed[7])
        .unwrap_or_else(|e| panic!("step 7 prints /me as JSON ({e})\n{context}"));
    assert_eq!(me["tenant"], "default", "step 7\n{context}");
    assert_eq!(me["subject"], user["id"], "step 7\n{context}");
    // 8. Logout: 204, then the refresh token is refused.
    let lines: Vec<&str> = printed[8].lines().collect();
    assert_eq!(lines, ["204", "\"invalid_grant\""], "step 8\n{context}");
}
