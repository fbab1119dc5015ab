//! Second factors over HTTP: TOTP enrolment and sign-in, recovery codes, the challenge's
//! limits, throttling of parallel guesses, step-up, an admin's reset, admins held to MFA.
//! Passkeys, with a software authenticator, are in `passkeys.rs`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokenflow::mfa::{STEP_SECS, TotpSecret};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    the_operator_resets_the_factors_of_someone_locked_out,
    a_password_change_or_a_logout_everywhere_kills_sign_ins_waiting_for_their_second_factor,
    an_app_is_enrolled_with_a_first_code_and_then_signs_in_as_a_second_factor,
    a_code_and_a_recovery_code_work_once,
    a_challenge_dies_after_five_wrong_answers_and_opens_nothing_else,
    parallel_wrong_codes_are_held_to_the_accounts_throttle,
    a_stale_or_weak_authentication_is_asked_to_step_up_then_allowed,
    an_admin_resets_a_users_factors_and_signs_them_out,
    admins_can_be_held_to_a_second_factor,
);

/// The claims of an access token.
pub fn claims(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Sleep past the end of the current TOTP step if fewer than 5 s of it are left, so that the
/// codes a test computes (this step and its neighbours) stay within the server's window.
pub async fn early_in_a_step() {
    let now = tokenflow::time::now();
    let left = STEP_SECS - now.rem_euclid(STEP_SECS);
    if left < 5 {
        tokio::time::sleep(std::time::Duration::from_secs(left.unsigned_abs() + 1)).await;
    }
}

/// The code of the step `offset` steps from now.
pub fn code(secret: &TotpSecret, offset: i64) -> String {
    secret.code_at(tokenflow::time::now() + offset * STEP_SECS)
}

/// Enrol an app for `actor` (signed in just now) with the previous step's code; returns its
/// secret and the recovery codes.
pub async fn enrol_totp(actor: &Actor<'_>) -> (TotpSecret, Vec<String>) {
    let begun = actor.post_json("/api/me/totp", &json!({})).await;
    assert_eq!(begun.status(), StatusCode::CREATED);
    let begun: Value = begun.json().await.unwrap();
    let secret = TotpSecret::from_base32(begun["secret"].as_str().unwrap()).unwrap();
    let confirmed = actor.post_json("/api/me/totp/confirm", &json!({"code": code(&secret, -1)})).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let codes: Value = confirmed.json().await.unwrap();
    let codes = codes["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    (secret, codes)
}

/// A password sign-in that must stop at a second-factor challenge; returns the challenge.
pub async fn challenged(app: &TestApp, email: &str) -> Value {
    let response = app.login(email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["second_factor_required"], true, "{body}");
    assert!(body.get("access_token").is_none(), "no token before the second factor");
    body
}

async fn answer(app: &TestApp, challenge: &Value, answer: Value) -> reqwest::Response {
    let mut body = answer;
    body["challenge"] = challenge["challenge"].clone();
    app.post_json("/api/auth/second-factor", &body).await
}

async fn an_app_is_enrolled_with_a_first_code_and_then_signs_in_as_a_second_factor(backend: Backend) {
    early_in_a_step().await;
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let ada = app.user("ada@example.com").await;

    let begun = ada.post_json("/api/me/totp", &json!({})).await;
    assert_eq!(begun.status(), StatusCode::CREATED);
    let begun: Value = begun.json().await.unwrap();
    let uri = begun["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Tokenflow:ada%40example.com?"), "{uri}");
    assert!(begun["qr_svg"].as_str().unwrap().starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    let secret = TotpSecret::from_base32(begun["secret"].as_str().unwrap()).unwrap();
    // Not on until a code proves the app has the secret: a sign-in still needs no code.
    let not_yet: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    assert!(not_yet["access_token"].is_string());
    expect_error(
        ada.post_json("/api/me/totp/confirm", &json!({"code": code(&secret, 3)})).await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    )
    .await;

    let confirmed = ada.post_json("/api/me/totp/confirm", &json!({"code": code(&secret, -1)})).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let codes: Value = confirmed.json().await.unwrap();
    assert_eq!(codes["recovery_codes"].as_array().unwrap().len(), 10);
    let factors: Value = ada.get("/api/me/factors").await.json().await.unwrap();
    assert_eq!(factors["totp"], true);
    assert_eq!(factors["recovery_codes_left"], 10);
    // Stored sealed or not, never the recovery codes themselves.
    let pool = db.pool().await;
    let plain = codes["recovery_codes"][0].as_str().unwrap();
    let (hash,): (String,) =
        sqlx::query_as("SELECT code_hash FROM recovery_codes LIMIT 1").fetch_one(&pool).await.unwrap();
    assert_ne!(hash, plain);

    let challenge = challenged(&app, "ada@example.com").await;
    assert_eq!(challenge["factors"], json!(["totp", "recovery_code"]));
    assert_eq!(challenge["expires_in"], 300);
    let response = answer(&app, &challenge, json!({"code": code(&secret, 0)})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens = Tokens::from(response.json::<Value>().await.unwrap());
    let c = claims(&tokens.access);
    assert_eq!(c["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(c["acr"], "2");
    assert!((c["auth_time"].as_i64().unwrap() - tokenflow::time::now()).abs() <= 5);
    // The session keeps how it was opened: a refreshed token says the same.
    let refreshed: Value = app.refresh(&tokens.refresh).await.json().await.unwrap();
    let again = claims(refreshed["access_token"].as_str().unwrap());
    assert_eq!((again["amr"].clone(), again["auth_time"].clone()), (c["amr"].clone(), c["auth_time"].clone()));
    // The audit log says how.
    let activity: Value = app.get_with("/api/me/activity", &tokens.access).await.json().await.unwrap();
    let kinds: Vec<&str> = activity["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"totp_enabled") && kinds.contains(&"login"), "{kinds:?}");
}

async fn a_code_and_a_recovery_code_work_once(backend: Backend) {
    early_in_a_step().await;
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let ada = app.user("ada@example.com").await;
    let (secret, recovery) = enrol_totp(&ada).await;

    let now_code = code(&secret, 0);
    let first = answer(&app, &challenged(&app, "ada@example.com").await, json!({"code": now_code})).await;
    assert_eq!(first.status(), StatusCode::OK);
    // Replayed, on a new challenge: the step is spent. And the step confirmation used is too.
    for spent in [now_code.clone(), code(&secret, -1)] {
        let replay = answer(&app, &challenged(&app, "ada@example.com").await, json!({"code": spent})).await;
        expect_error(replay, StatusCode::UNAUTHORIZED, "invalid_code").await;
    }

    let used = answer(&app, &challenged(&app, "ada@example.com").await, json!({"recovery_code": recovery[0]})).await;
    assert_eq!(used.status(), StatusCode::OK);
    let tokens = Tokens::from(used.json::<Value>().await.unwrap());
    assert_eq!(claims(&tokens.access)["amr"], json!(["pwd", "otp", "mfa"]));
    // Typed loosely (upper case, spaces for the dash), still the same code: spent.
    let loose = recovery[0].to_uppercase().replace('-', " ");
    let again = answer(&app, &challenged(&app, "ada@example.com").await, json!({"recovery_code": loose})).await;
    expect_error(again, StatusCode::UNAUTHORIZED, "invalid_code").await;
    let factors: Value = app.get_with("/api/me/factors", &tokens.access).await.json().await.unwrap();
    assert_eq!(factors["recovery_codes_left"], 9);
    let activity: Value = app.get_with("/api/me/activity", &tokens.access).await.json().await.unwrap();
    let kinds: Vec<&str> = activity["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"recovery_code_used") && kinds.contains(&"second_factor_failed"), "{kinds:?}");

    // Parallel: eight copies of one fresh code on eight challenges open one session.
    let next = code(&secret, 1);
    let mut challenges = Vec::new();
    for _ in 0..8 {
        challenges.push(challenged(&app, "ada@example.com").await);
    }
    let answers = challenges.iter().map(|c| answer(&app, c, json!({"code": next})));
    let statuses: Vec<StatusCode> = futures::future::join_all(answers).await.iter().map(|r| r.status()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
}

async fn a_challenge_dies_after_five_wrong_answers_and_opens_nothing_else(backend: Backend) {
    early_in_a_step().await;
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_LOGIN_MAX_FAILURES", "50")])).await;
    let ada = app.user("ada@example.com").await;
    let (secret, _) = enrol_totp(&ada).await;
    let challenge = challenged(&app, "ada@example.com").await;
    let secret_text = challenge["challenge"].as_str().unwrap();

    // Not a token, not a refresh token, not another purpose's challenge.
    expect_error(app.get_with("/api/me", secret_text).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    expect_error(app.refresh(secret_text).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    let register = json!({"challenge": secret_text, "credential": {}});
    expect_error(ada.post_json("/api/me/passkeys", &register).await, StatusCode::UNAUTHORIZED, "invalid_challenge")
        .await;
    // Exactly one answer.
    let both = json!({"code": "123456", "recovery_code": "abcde-fghij"});
    expect_error(answer(&app, &challenge, both).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;

    let wrong = if code(&secret, 0) == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        expect_error(answer(&app, &challenge, json!({"code": wrong})).await, StatusCode::UNAUTHORIZED, "invalid_code")
            .await;
    }
    let right = answer(&app, &challenge, json!({"code": code(&secret, 0)})).await;
    expect_error(right, StatusCode::UNAUTHORIZED, "invalid_challenge").await;

    // An expired challenge is dead too (the clock moved past it in the database).
    let late = challenged(&app, "ada@example.com").await;
    sqlx::query("UPDATE auth_challenges SET expires_at = 0").execute(&db.pool().await).await.unwrap();
    expect_error(
        answer(&app, &late, json!({"code": code(&secret, 0)})).await,
        StatusCode::UNAUTHORIZED,
        "invalid_challenge",
    )
    .await;
    // A used challenge opens no second session.
    let fresh = challenged(&app, "ada@example.com").await;
    assert_eq!(answer(&app, &fresh, json!({"code": code(&secret, 0)})).await.status(), StatusCode::OK);
    let reused = answer(&app, &fresh, json!({"code": code(&secret, 1)})).await;
    expect_error(reused, StatusCode::UNAUTHORIZED, "invalid_challenge").await;
}

async fn parallel_wrong_codes_are_held_to_the_accounts_throttle(backend: Backend) {
    early_in_a_step().await;
    let db = TestDb::new(backend).await;
    let app =
        TestApp::start(test_config(&db.url, &[("AUTH_LOGIN_MAX_FAILURES", "3"), ("AUTH_RATE_LIMIT_PER_MIN", "1000")]))
            .await;
    let ada = app.user("ada@example.com").await;
    let (secret, _) = enrol_totp(&ada).await;
    let mut challenges = Vec::new();
    for _ in 0..4 {
        challenges.push(challenged(&app, "ada@example.com").await);
    }
    let wrong = if code(&secret, 0) == "000000" { "111111" } else { "000000" };
    // Twelve wrong guesses at once, three per challenge: the account admits three at most
    // (insert-then-count: a guess refused in parallel may still be counted by another).
    let guesses =
        challenges.iter().flat_map(|c| std::iter::repeat_n(c, 3)).map(|c| answer(&app, c, json!({"code": wrong})));
    let mut codes = Vec::new();
    for response in futures::future::join_all(guesses).await {
        codes.push(response.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_string());
    }
    let checked = codes.iter().filter(|c| *c == "invalid_code").count();
    assert!((1..=3).contains(&checked), "{codes:?}");
    assert_eq!(codes.iter().filter(|c| *c == "rate_limited").count(), 12 - checked, "{codes:?}");
    // Sequential wrong codes fill the window to its three (a fresh challenge: attempts left).
    let fresh = challenged(&app, "ada@example.com").await;
    let mut refused = false;
    for _ in 0..3 {
        let status = answer(&app, &fresh, json!({"code": wrong})).await.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused = true;
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert!(refused, "three failures in the window throttle the account");
    // While throttled, even the right code is not checked.
    let right = answer(&app, &fresh, json!({"code": code(&secret, 0)})).await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(right.headers().contains_key("retry-after"));
}

/// Make the session of `tokens` look authenticated `ago` seconds back, and answer a token
/// that says so (as one refreshed long after sign-in would).
async fn aged(app: &TestApp, db: &TestDb, tokens: &Tokens, ago: i64) -> Tokens {
    sqlx::query("UPDATE sessions SET auth_time = $1 WHERE id = $2")
        .bind(tokenflow::time::now() - ago)
        .bind(tokens.sid())
        .execute(&db.pool().await)
        .await
        .unwrap();
    let response = app.refresh(&tokens.refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    Tokens::from(response.json::<Value>().await.unwrap())
}

async fn a_stale_or_weak_authentication_is_asked_to_step_up_then_allowed(backend: Backend) {
    early_in_a_step().await;
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let tokens = app.signed_up("ada@example.com").await;
    let stale = aged(&app, &db, &tokens, 601).await;

    // Eleven minutes after sign-in: a password change asks to authenticate again.
    let change = json!({"current_password": PASSWORD, "new_password": "another fine password"});
    let refused =
        app.client.post(app.url("/api/auth/password")).bearer_auth(&stale.access).json(&change).send().await.unwrap();
    assert_eq!(
        refused.headers()["www-authenticate"],
        r#"Bearer error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age="600""#
    );
    expect_error(refused, StatusCode::UNAUTHORIZED, "insufficient_user_authentication").await;
    let delete = app.client.delete(app.url("/api/me")).bearer_auth(&stale.access).json(&json!({"password": PASSWORD}));
    expect_error(delete.send().await.unwrap(), StatusCode::UNAUTHORIZED, "insufficient_user_authentication").await;
    // Reading is not sensitive.
    assert_eq!(app.get_with("/api/me", &stale.access).await.status(), StatusCode::OK);

    let step_up = |token: &str, body: Value| {
        app.client.post(app.url("/api/me/step-up")).bearer_auth(token.to_string()).json(&body).send()
    };
    let wrong = step_up(&stale.access, json!({"password": "not the password"})).await.unwrap();
    expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let stepped = step_up(&stale.access, json!({"password": PASSWORD})).await.unwrap();
    assert_eq!(stepped.status(), StatusCode::OK);
    assert_eq!(stepped.headers()["cache-control"], "no-store");
    let stepped: Value = stepped.json().await.unwrap();
    assert_eq!(stepped["token_type"], "Bearer");
    let fresh = stepped["access_token"].as_str().unwrap();
    let c = claims(fresh);
    assert_eq!(c["amr"], json!(["pwd"]));
    assert_eq!(c["sid"], tokens.sid(), "the same session");
    assert!((c["auth_time"].as_i64().unwrap() - tokenflow::time::now()).abs() <= 5);
    let changed = app.client.post(app.url("/api/auth/password")).bearer_auth(fresh).json(&change).send().await.unwrap();
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);

    // An account with a second factor: a password alone is not enough, recent or not.
    let bob = app.user("bob@example.com").await;
    let (secret, _) = enrol_totp(&bob).await;
    let refused = bob.delete("/api/me/totp").await;
    assert!(refused.headers()["www-authenticate"].to_str().unwrap().ends_with(r#"max_age="600", acr_values="2""#));
    expect_error(refused, StatusCode::UNAUTHORIZED, "insufficient_user_authentication").await;
    let weak = step_up(bob.access(), json!({"password": PASSWORD})).await.unwrap();
    expect_error(weak, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let strong = step_up(bob.access(), json!({"password": PASSWORD, "code": code(&secret, 0)})).await.unwrap();
    assert_eq!(strong.status(), StatusCode::OK);
    let strong: Value = strong.json().await.unwrap();
    let strong = strong["access_token"].as_str().unwrap();
    assert_eq!(claims(strong)["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(app.delete_with("/api/me/totp", strong).await.status(), StatusCode::NO_CONTENT);
    let factors: Value = app.get_with("/api/me/factors", strong).await.json().await.unwrap();
    assert_eq!((factors["totp"].clone(), factors["recovery_codes_left"].clone()), (json!(false), json!(0)));
}

async fn an_admin_resets_a_users_factors_and_signs_them_out(backend: Backend) {
    early_in_a_step().await;
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let admin = app.admin(&db.url, "root@example.com").await;
    let ada = app.user("ada@example.com").await;
    enrol_totp(&ada).await;
    let id = ada.tokens.as_ref().unwrap().user["id"].as_str().unwrap().to_string();

    // Not for users; and an admin whose sign-in is stale must step up first.
    expect_error(
        ada.delete(&format!("/api/admin/users/{id}/factors")).await,
        StatusCode::FORBIDDEN,
        "insufficient_role",
    )
    .await;
    let stale = aged(&app, &db, admin.tokens.as_ref().unwrap(), 900).await;
    let refused = app.delete_with(&format!("/api/admin/users/{id}/factors"), &stale.access).await;
    expect_error(refused, StatusCode::UNAUTHORIZED, "insufficient_user_authentication").await;
    assert_eq!(admin.delete("/api/admin/users/no-such-user/factors").await.status(), StatusCode::NOT_FOUND);

    assert_eq!(admin.delete(&format!("/api/admin/users/{id}/factors")).await.status(), StatusCode::NO_CONTENT);
    // Every session of theirs ends; their password alone signs in again.
    eventually(3, "the user's sessions are revoked", async || {
        ada.get("/api/me").await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    let plain: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    assert!(plain["access_token"].is_string(), "{plain}");
    let audit: Value = admin.get("/api/admin/audit?type=factors_reset").await.json().await.unwrap();
    let event = &audit["events"][0];
    assert_eq!(event["type"], "factors_reset", "{audit}");
    assert!(event["detail"].as_str().unwrap().contains("authenticator app"), "{event}");
}

async fn admins_can_be_held_to_a_second_factor(backend: Backend) {
    early_in_a_step().await;
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_ADMIN_REQUIRE_MFA", "true")])).await;
    let admin = app.admin(&db.url, "root@example.com").await;
    // A password alone: the admin role does not count, even to read.
    let refused = admin.get("/api/admin/users").await;
    assert!(refused.headers()["www-authenticate"].to_str().unwrap().ends_with(r#"max_age="600", acr_values="2""#));
    expect_error(refused, StatusCode::UNAUTHORIZED, "insufficient_user_authentication").await;
    // Their own account still works: they enrol, sign in with the code, and act.
    let (secret, _) = enrol_totp(&admin).await;
    let challenge = challenged(&app, "root@example.com").await;
    let tokens =
        Tokens::from(answer(&app, &challenge, json!({"code": code(&secret, 0)})).await.json::<Value>().await.unwrap());
    assert_eq!(app.get_with("/api/admin/users", &tokens.access).await.status(), StatusCode::OK);
}

async fn a_password_change_or_a_logout_everywhere_kills_sign_ins_waiting_for_their_second_factor(backend: Backend) {
    early_in_a_step().await;
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let admin = app.admin(&db.url, "root@example.com").await;
    let ada = app.user("ada@example.com").await;
    let (secret, recovery) = enrol_totp(&ada).await;
    let id = ada.tokens.as_ref().unwrap().user["id"].as_str().unwrap().to_string();
    let strong = answer(&app, &challenged(&app, "ada@example.com").await, json!({"code": code(&secret, 0)})).await;
    let strong = Tokens::from(strong.json::<Value>().await.unwrap());

    // Someone else holds the old password and is one code away from a session.
    let pending = challenged(&app, "ada@example.com").await;
    let change = json!({"current_password": PASSWORD, "new_password": "a brand new password"});
    let changed = app.client.post(app.url("/api/auth/password")).bearer_auth(&strong.access).json(&change);
    assert_eq!(changed.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let late = answer(&app, &pending, json!({"recovery_code": recovery[0]})).await;
    expect_error(late, StatusCode::UNAUTHORIZED, "invalid_challenge").await;

    // An admin's "log out everywhere" ends waiting sign-ins too.
    let response = app.login("ada@example.com", "a brand new password").await;
    let pending: Value = response.json().await.unwrap();
    assert_eq!(admin.delete(&format!("/api/admin/users/{id}/sessions")).await.status(), StatusCode::NO_CONTENT);
    let late = answer(&app, &pending, json!({"recovery_code": recovery[1]})).await;
    expect_error(late, StatusCode::UNAUTHORIZED, "invalid_challenge").await;
}

async fn the_operator_resets_the_factors_of_someone_locked_out(backend: Backend) {
    early_in_a_step().await;
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[])).await;
    let ada = app.user("ada@example.com").await;
    enrol_totp(&ada).await;
    // Phone and codes lost: the password alone stops at the challenge. The operator steps in.
    challenged(&app, "ada@example.com").await;
    users_cli(&db.url, &["reset-factors", "ada@example.com"]);
    let plain: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    assert!(plain["access_token"].is_string(), "{plain}");
    eventually(3, "the old session is revoked", async || ada.get("/api/me").await.status() == StatusCode::UNAUTHORIZED)
        .await;
    let pool = db.pool().await;
    let sql = "SELECT COUNT(*) FROM audit_events WHERE type = 'factors_reset' AND actor_id IS NULL";
    assert_eq!(count(&pool, sql).await, 1, "recorded as the operator's");
}
