//! `tokenflow probe` against Tokenflow itself (nothing accepted, exit 0) and against a
//! deliberately weak verifier, one weakness at a time (each found, exit 1).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokenflow::dpop::ProofKey;

use crate::helpers::*;

/// A file holding `text`, removed on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(text: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("tokenflow-probe-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `tokenflow probe` with `args`: its exit code and JSON report.
fn probe(args: &[&str]) -> (i32, Value) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tokenflow"))
        .arg("probe")
        .args(args)
        .arg("--json")
        .env_clear()
        .output()
        .unwrap();
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| json!({"stderr": String::from_utf8_lossy(&output.stderr)}));
    (output.status.code().unwrap(), report)
}

fn accepted(report: &Value) -> BTreeSet<String> {
    let findings = report["findings"].as_array().unwrap_or_else(|| panic!("no report: {report}"));
    findings.iter().filter(|f| f["outcome"] == "accepted").map(|f| f["id"].as_str().unwrap().to_string()).collect()
}

/// A bound session of a new user: the access token and the file of its DPoP key.
async fn bound_token(app: &TestApp, email: &str) -> (String, TempFile) {
    app.signed_up(email).await;
    let key = ProofKey::generate_p256().unwrap();
    let proof = key.proof("POST", "http://tokenflow.test/api/auth/login", None, tokenflow::time::now()).unwrap();
    let login = json!({"email": email, "password": PASSWORD});
    let response = app.client.post(app.url("/api/auth/login")).header("DPoP", proof).json(&login).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    (body["access_token"].as_str().unwrap().to_string(), TempFile::new(&key.to_pkcs8_pem().unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokenflow_accepts_no_forgery() {
    let db = TestDb::new(Backend::Sqlite).await;
    let signing = KeyFile::new();
    let app = TestApp::start(test_config(&db.url, &[("AUTH_SIGNING_KEY_FILE", signing.as_str())])).await;
    let (token, dpop_key) = bound_token(&app, "probed@example.com").await;
    let (me, jwks) = (app.url("/api/me"), app.url("/.well-known/jwks.json"));
    let (code, report) = tokio::task::spawn_blocking(move || {
        probe(&[
            &me,
            "--token",
            &token,
            "--jwks",
            &jwks,
            "--signing-key",
            signing.as_str(),
            "--dpop-key",
            dpop_key.0.to_str().unwrap(),
            "--public-url",
            "http://tokenflow.test/api/me",
        ])
    })
    .await
    .unwrap();
    assert_eq!(accepted(&report), BTreeSet::new(), "{report}");
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["baseline"], 200);
    assert_eq!(report["attacker_keys_fetched"], 0);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 37, "18 without the key, 12 signed by it (the control is not a row), 7 of DPoP");
    assert!(findings.iter().all(|f| f["outcome"] == "refused"), "none skipped: {report}");
    let reason = |id: &str| findings.iter().find(|f| f["id"] == id).unwrap()["message"].as_str().unwrap().to_string();
    assert_eq!(reason("expired-signed"), "token expired");
    assert_eq!(reason("wrong-issuer"), "wrong issuer");
    assert_eq!(reason("dpop-as-bearer"), "token is DPoP-bound");
    assert_eq!(reason("dpop-replayed"), "DPoP proof was already used");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_says_why_it_cannot_judge() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let tokens = app.signed_up("unjudged@example.com").await;
    let me = app.url("/api/me");
    // A token the URL refuses, and a URL that accepts anything: exit 2, nothing reported.
    let refused = format!("{}x", tokens.access);
    let (code, report) = probe(&[&me, "--token", &refused]);
    assert_eq!(code, 2);
    assert!(report["stderr"].as_str().unwrap().contains("the valid token is refused"), "{report}");
    let (code, report) = probe(&[&app.url("/healthz"), "--token", &tokens.access]);
    assert_eq!(code, 2);
    assert!(report["stderr"].as_str().unwrap().contains("garbage token is accepted"), "{report}");
    // A bound token without its key.
    let (token, _key) = bound_token(&app, "bound@example.com").await;
    let (code, report) = probe(&[&me, "--token", &token]);
    assert_eq!(code, 2);
    assert!(report["stderr"].as_str().unwrap().contains("--dpop-key"), "{report}");
    app.stop().await;
}

/// What the weak verifier gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Weakness {
    None,
    AlgNone,
    NoSignatureCheck,
    HmacWithThePublicKey,
    TrustsEmbeddedJwk,
    FollowsJku,
    NoExpCheck,
    NoIssuerCheck,
    NoAudienceCheck,
    NoTypCheck,
    IgnoresCrit,
    LastDuplicateWins,
    IgnoresDpopBinding,
}

struct Weak {
    weakness: Weakness,
    public_x: String,
    url: String,
}

fn part(token: &str, index: usize) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(token.split('.').nth(index)?).ok()
}

impl Weak {
    fn has(&self, weakness: Weakness) -> bool {
        self.weakness == weakness
    }

    async fn signature_holds(&self, token: &str, header: &Value) -> bool {
        let input = token.rsplit_once('.').map(|(input, _)| input).unwrap_or_default();
        let signature = part(token, 2).unwrap_or_default();
        let ed25519 = |x: &str| {
            let key: Option<[u8; 32]> = URL_SAFE_NO_PAD.decode(x).ok().and_then(|b| b.try_into().ok());
            let key = key.and_then(|k| VerifyingKey::from_bytes(&k).ok());
            let signature = Signature::from_slice(&signature).ok();
            matches!((key, signature), (Some(k), Some(s)) if k.verify(input.as_bytes(), &s).is_ok())
        };
        let alg = header["alg"].as_str().unwrap_or_default();
        if self.has(Weakness::NoSignatureCheck) || (self.has(Weakness::AlgNone) && alg.eq_ignore_ascii_case("none")) {
            return true;
        }
        if self.has(Weakness::HmacWithThePublicKey) && alg == "HS256" {
            let mut mac = Hmac::<Sha256>::new_from_slice(self.public_x.as_bytes()).unwrap();
            mac.update(input.as_bytes());
            return mac.verify_slice(&signature).is_ok();
        }
        if self.has(Weakness::TrustsEmbeddedJwk) && header["jwk"]["x"].is_string() {
            return ed25519(header["jwk"]["x"].as_str().unwrap());
        }
        if self.has(Weakness::FollowsJku)
            && let Some(jku) = header["jku"].as_str()
        {
            let keys: Value = reqwest::get(jku).await.unwrap().json().await.unwrap();
            return ed25519(keys["keys"][0]["x"].as_str().unwrap_or_default());
        }
        alg == "EdDSA" && ed25519(&self.public_x)
    }

    async fn judge(&self, headers: &HeaderMap) -> Result<Value, String> {
        let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let (scheme, token) = authorization.split_once(' ').ok_or("no token")?;
        let header: Value = serde_json::from_slice(&part(token, 0).ok_or("header")?).map_err(|_| "header")?;
        let claims_text = String::from_utf8(part(token, 1).ok_or("claims")?).map_err(|_| "claims")?;
        let claims: Value = serde_json::from_str(&claims_text).map_err(|_| "claims")?;
        if !self.signature_holds(token, &header).await {
            return Err("signature does not verify".into());
        }
        let now = tokenflow::time::now();
        if !self.has(Weakness::NoExpCheck) && claims["exp"].as_i64().is_none_or(|exp| exp <= now) {
            return Err("expired".into());
        }
        if claims["nbf"].as_i64().is_some_and(|nbf| nbf > now + 30)
            || claims["iat"].as_i64().is_some_and(|iat| iat > now + 30)
        {
            return Err("not yet valid".into());
        }
        if !claims["sub"].is_string() {
            return Err("sub".into());
        }
        if !self.has(Weakness::NoIssuerCheck) && claims["iss"] != "http://tokenflow.test" {
            return Err("issuer".into());
        }
        if !self.has(Weakness::NoAudienceCheck) && claims["aud"] != "tokenflow" {
            return Err("audience".into());
        }
        if !self.has(Weakness::NoTypCheck) && header["typ"] != "at+jwt" {
            return Err("typ".into());
        }
        if !self.has(Weakness::IgnoresCrit) && header.get("crit").is_some() {
            return Err("crit".into());
        }
        if !self.has(Weakness::LastDuplicateWins) && claims_text.matches("\"role\":").count() > 1 {
            return Err("duplicate members".into());
        }
        match (claims["cnf"]["jkt"].as_str(), scheme) {
            (Some(_), "Bearer") if !self.has(Weakness::IgnoresDpopBinding) => return Err("token is DPoP-bound".into()),
            (Some(jkt), "DPoP") => {
                let proof = headers.get("dpop").and_then(|v| v.to_str().ok()).ok_or("no proof")?;
                let request =
                    tokenflow::dpop::Request { method: "GET", url: &self.url, access_token: Some(token), now };
                let proof = tokenflow::dpop::verify(proof, &request).map_err(|e| e.to_string())?;
                if proof.jkt != jkt {
                    return Err("wrong key".into());
                }
            }
            _ => {}
        }
        Ok(claims)
    }
}

async fn weak_verifier(State(weak): State<Arc<Weak>>, headers: HeaderMap) -> axum::response::Response {
    match weak.judge(&headers).await {
        Ok(claims) => axum::Json(json!({"claims": claims})).into_response(),
        Err(message) => (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!({"message": message}))).into_response(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_weakness_of_a_weak_verifier_is_found() {
    let db = TestDb::new(Backend::Sqlite).await;
    let signing = KeyFile::new();
    let app = TestApp::start(test_config(&db.url, &[("AUTH_SIGNING_KEY_FILE", signing.as_str())])).await;
    let public_x = app.jwks().await["keys"][0]["x"].as_str().unwrap().to_string();
    let bearer = app.signed_up("weak@example.com").await.access;
    let (bound, dpop_key) = bound_token(&app, "weak-bound@example.com").await;
    let jwks = app.url("/.well-known/jwks.json");
    let cases: [(Weakness, &[&str]); 13] = [
        (Weakness::None, &[]),
        (Weakness::AlgNone, &["alg-none", "alg-none-capitalised", "alg-none-mixed", "alg-none-upper"]),
        (Weakness::NoSignatureCheck, &["role-admin", "signature-stripped", "other-key", "unknown-kid"]),
        (Weakness::HmacWithThePublicKey, &["hs256-public-key"]),
        (Weakness::TrustsEmbeddedJwk, &["embedded-jwk"]),
        (Weakness::FollowsJku, &["jku"]),
        (Weakness::NoExpCheck, &["expired-signed", "no-exp", "exp-as-string"]),
        (Weakness::NoIssuerCheck, &["wrong-issuer"]),
        (Weakness::NoAudienceCheck, &["wrong-audience-signed", "audience-list-of-others"]),
        (Weakness::NoTypCheck, &["wrong-typ"]),
        (Weakness::IgnoresCrit, &["unknown-crit"]),
        (Weakness::LastDuplicateWins, &["duplicate-role"]),
        (Weakness::IgnoresDpopBinding, &["dpop-as-bearer"]),
    ];
    for (weakness, expected) in cases {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/protected", listener.local_addr().unwrap());
        let weak = Arc::new(Weak { weakness, public_x: public_x.clone(), url: url.clone() });
        let router = axum::Router::new().route("/protected", axum::routing::get(weak_verifier)).with_state(weak);
        let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let token = if weakness == Weakness::IgnoresDpopBinding { &bound } else { &bearer };
        let mut args = vec![url.as_str(), "--token", token, "--jwks", &jwks, "--signing-key", signing.as_str()];
        if weakness == Weakness::IgnoresDpopBinding {
            args.extend(["--dpop-key", dpop_key.0.to_str().unwrap()]);
        }
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (code, report) =
            tokio::task::spawn_blocking(move || probe(&args.iter().map(String::as_str).collect::<Vec<_>>()))
                .await
                .unwrap();
        let expected: BTreeSet<String> = expected.iter().map(|id| id.to_string()).collect();
        let found = accepted(&report);
        assert!(expected.is_subset(&found), "{weakness:?}: expected {expected:?}, found {found:?}");
        if weakness == Weakness::None {
            assert_eq!(found, BTreeSet::new(), "a sound verifier: nothing accepted: {report}");
            assert_eq!(code, 0);
        } else {
            assert_eq!(code, 1, "{weakness:?}: a finding fails the run");
        }
        if weakness == Weakness::FollowsJku {
            assert!(report["attacker_keys_fetched"].as_u64().unwrap() > 0, "the fetch is reported");
        }
        server.abort();
    }
    app.stop().await;
}
