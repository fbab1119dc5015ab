//! `spawn_app`: the real router on port 0 with a fresh database (a SQLite file in a temporary
//! directory, or a new PostgreSQL database), plus typed helpers that read like the contract.

use std::path::PathBuf;

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use server::Config;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A key the tests know, so they can sign tokens the server must judge on their claims alone.
pub const TEST_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";

/// [`TEST_KEY_PEM`] in a file of its own, for `AUTH_SIGNING_KEY_FILE`; removed on drop.
pub struct KeyFile {
    dir: PathBuf,
    pub path: PathBuf,
}

impl KeyFile {
    pub fn new() -> KeyFile {
        let dir = std::env::temp_dir().join(format!("tokenflow-key-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key.pem");
        std::fs::write(&path, TEST_KEY_PEM).unwrap();
        KeyFile { dir, path }
    }

    pub fn as_str(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn postgres_base_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database that exists for one test and is removed after it, however the test ends.
pub struct TestDb {
    pub url: String,
    backend: Backend,
    dir: Option<PathBuf>,
    name: String,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let name = format!("tokenflow_test_{}", uuid::Uuid::new_v4().simple());
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).unwrap();
                let url = format!("sqlite://{}?mode=rwc", dir.join("tokenflow.db").display());
                TestDb { url, backend, dir: Some(dir), name }
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", postgres_base_url())).await.expect(
                    "PostgreSQL must answer on 127.0.0.1:5432 (TEST_POSTGRES_URL overrides); scripts/test starts it",
                );
                sqlx::Executor::execute(&mut admin, sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .unwrap();
                TestDb { url: format!("{}/{name}", postgres_base_url()), backend, dir: None, name }
            }
        }
    }

    /// A second connection, for asserting on rows.
    pub async fn pool(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::any::AnyPoolOptions::new().max_connections(2).connect(&self.url).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if self.backend == Backend::Postgres {
            let name = self.name.clone();
            // Drop runs inside a runtime; a fresh thread with its own runtime may block.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    use sqlx::Connection;
                    if let Ok(mut admin) =
                        sqlx::PgConnection::connect(&format!("{}/postgres", postgres_base_url())).await
                    {
                        let _ = sqlx::Executor::execute(
                            &mut admin,
                            sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
                        )
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub client: Client,
    /// The core behind the server, for test hooks (a simulated partition).
    pub auth: tokenflow::AuthService,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Settings for a test server: the contract's defaults, the test key, and `vars` on top.
pub fn test_config(db_url: &str, vars: &[(&str, &str)]) -> Config {
    let mut map: std::collections::HashMap<String, String> =
        [("DATABASE_URL", db_url), ("LEPTOS_SITE_ADDR", "127.0.0.1:0"), ("AUTH_ISSUER", "http://tokenflow.test")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    for (k, v) in vars {
        map.insert(k.to_string(), v.to_string());
    }
    let mut config = Config::from_lookup(|k| map.get(k).cloned()).unwrap();
    // Tests poll faster than production so that "within 2 s" is asserted, not waited for.
    config.auth.revocation_poll = std::time::Duration::from_millis(200);
    config.auth.key_reload = std::time::Duration::from_millis(300);
    config
}

impl TestApp {
    pub async fn start(config: Config) -> TestApp {
        if std::env::var("TEST_LOG").is_ok() {
            server::middleware::telemetry::init(false);
        }
        let state = server::build_state(&config).await.expect("server starts");
        let auth = state.auth.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server::serve(state, listener, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        TestApp { base: format!("http://{addr}"), client: Client::new(), auth, stop: Some(stop), task: Some(task) }
    }

    /// Stop gracefully and wait until the server is gone.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.unwrap()
    }

    pub async fn signup(&self, email: &str, password: &str) -> Response {
        self.post_json("/api/auth/signup", &json!({"email": email, "password": password})).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json("/api/auth/login", &json!({"email": email, "password": password})).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/api/auth/refresh", &json!({"refresh_token": refresh_token})).await
    }

    pub async fn get_with(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    /// A server function, as the app's pages call it: a form body, and the token if any.
    pub async fn call_fn(&self, name: &str, token: Option<&str>, form: &str) -> Response {
        let mut request = self
            .client
            .post(self.url(&format!("/fn/{name}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    pub async fn delete_with(&self, path: &str, token: &str) -> Response {
        self.client.delete(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    pub async fn change_password(&self, token: &str, current: &str, new: &str) -> Response {
        self.client
            .post(self.url("/api/auth/password"))
            .bearer_auth(token)
            .json(&json!({"current_password": current, "new_password": new}))
            .send()
            .await
            .unwrap()
    }

    pub async fn logout(&self, token: &str) -> Response {
        self.client.post(self.url("/api/auth/logout")).bearer_auth(token).send().await.unwrap()
    }

    /// Sign up and return the token response.
    pub async fn signed_up(&self, email: &str) -> Tokens {
        let response = self.signup(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::CREATED, "sign-up of {email}");
        Tokens::from(response.json::<Value>().await.unwrap())
    }
}

pub const PASSWORD: &str = "correct horse battery";

/// Someone calling the API, as the tests' actors: anonymous, or carrying a bearer token.
pub struct Actor<'a> {
    app: &'a TestApp,
    pub tokens: Option<Tokens>,
}

impl<'a> Actor<'a> {
    fn with_bearer(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.tokens {
            Some(tokens) => request.bearer_auth(&tokens.access),
            None => request,
        }
    }

    /// The access token (panics for the anonymous actor: a test bug).
    pub fn access(&self) -> &str {
        &self.tokens.as_ref().expect("an actor with a token").access
    }

    pub async fn get(&self, path: &str) -> Response {
        self.with_bearer(self.app.client.get(self.app.url(path))).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.with_bearer(self.app.client.delete(self.app.url(path))).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.with_bearer(self.app.client.post(self.app.url(path)).json(body)).send().await.unwrap()
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> Response {
        self.with_bearer(self.app.client.patch(self.app.url(path)).json(body)).send().await.unwrap()
    }

    /// A server function, with this actor's token.
    pub async fn call_fn(&self, name: &str, form: &str) -> Response {
        self.app.call_fn(name, self.tokens.as_ref().map(|t| t.access.as_str()), form).await
    }
}

impl TestApp {
    /// Nobody in particular: no token.
    pub fn anon(&self) -> Actor<'_> {
        Actor { app: self, tokens: None }
    }

    /// A new account with role `user`, signed in.
    pub async fn user(&self, email: &str) -> Actor<'_> {
        Actor { app: self, tokens: Some(self.signed_up(email).await) }
    }

    /// A new account made admin by the operator (`tokenflow users promote`), signed in again so
    /// its token carries the role.
    pub async fn admin(&self, db_url: &str, email: &str) -> Actor<'_> {
        self.signed_up(email).await;
        users_cli(db_url, &["promote", email]);
        self.logged_in(email).await
    }

    /// An existing account (password [`PASSWORD`]), signed in.
    pub async fn logged_in(&self, email: &str) -> Actor<'_> {
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {email}");
        Actor { app: self, tokens: Some(Tokens::from(response.json::<Value>().await.unwrap())) }
    }

    /// The published keys.
    pub async fn jwks(&self) -> Value {
        self.client.get(self.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap()
    }
}

/// Assert a whole error answer: status and the exact body, pinned.
pub async fn expect_body(response: Response, status: StatusCode, body: Value) {
    assert_eq!(response.status(), status, "status");
    assert_eq!(response.json::<Value>().await.unwrap(), body);
}

/// `tokenflow keys rotate` against a database, as an operator runs it; returns the new kid.
pub fn rotate_keys_cli(db_url: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokenflow"))
        .args(["keys", "rotate"])
        .env("DATABASE_URL", db_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run tokenflow keys rotate");
    assert!(out.status.success(), "keys rotate failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `tokenflow users <args>` against a database, as an operator runs it; returns stdout.
pub fn users_cli(db_url: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokenflow"))
        .arg("users")
        .args(args)
        .env("DATABASE_URL", db_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run tokenflow users");
    assert!(out.status.success(), "users {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The `kid` in a token's header.
pub fn kid_of(token: &str) -> String {
    use base64::Engine;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap();
    serde_json::from_slice::<Value>(&header).unwrap()["kid"].as_str().unwrap().to_string()
}

/// Fixed one-minute windows: start a burst early in a window so it cannot straddle two.
pub async fn at_start_of_a_minute_window() {
    let second = tokenflow::time::now().rem_euclid(60);
    if second > 45 {
        tokio::time::sleep(std::time::Duration::from_secs((61 - second) as u64)).await;
    }
}

/// Poll `check` every 50 ms until it holds, for at most `secs` seconds.
pub async fn eventually(secs: u64, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "not within {secs} s: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The interesting parts of a token response.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub user: Value,
}

impl Tokens {
    /// The session id (`sid` claim) of the access token.
    pub fn sid(&self) -> String {
        use base64::Engine;
        let claims = self.access.split('.').nth(1).unwrap();
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap();
        serde_json::from_slice::<Value>(&claims).unwrap()["sid"].as_str().unwrap().to_string()
    }
}

/// One count from the database.
pub async fn count(pool: &sqlx::AnyPool, sql: &'static str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(pool).await.unwrap();
    n
}

impl From<Value> for Tokens {
    fn from(v: Value) -> Tokens {
        Tokens {
            access: v["access_token"].as_str().expect("access_token").to_string(),
            refresh: v["refresh_token"].as_str().expect("refresh_token").to_string(),
            user: v["user"].clone(),
        }
    }
}

/// Assert a contract error: status, code, and return the message.
pub async fn expect_error(response: Response, status: StatusCode, code: &str) -> String {
    assert_eq!(response.status(), status, "status");
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json")),
        "error bodies are JSON"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    body["message"].as_str().expect("message").to_string()
}

/// Run a check against SQLite and against PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}
