//! Every limit, hit by a parallel burst rather than one request at a time.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    a_parallel_burst_of_wrong_passwords_checks_at_most_the_limit,
    a_client_over_its_limit_is_refused_without_a_database_write,
    password_changes_through_server_functions_count_toward_the_client_limit,
    password_changes_are_limited_per_user,
    a_parallel_burst_of_password_changes_is_held_to_the_per_user_limit,
    parallel_password_changes_commit_exactly_once,
    a_burst_of_sign_ins_leaves_at_most_the_session_cap,
);

async fn a_parallel_burst_of_wrong_passwords_checks_at_most_the_limit(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vars = [("AUTH_RATE_LIMIT_PER_MIN", "0"), ("AUTH_LOGIN_MAX_FAILURES", "5")];
    let app = TestApp::start(test_config(&db.url, &vars)).await;
    app.signed_up("target@example.com").await;
    let guesses = (0..40).map(|i| {
        let app = &app;
        async move { app.login("target@example.com", &format!("guess number {i}")).await.status() }
    });
    let statuses = join_all(guesses).await;
    let mut checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    // Insert-then-count is strict, not fair: if every attempt writes before any counts, all are
    // refused (none checked), which is still within the limit.
    assert!(checked <= 5, "at most 5 passwords checked, got {checked}: {statuses:?}");
    assert_eq!(checked + refused, 40, "{statuses:?}");
    let pool = db.pool().await;
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM login_failures").await, checked as i64, "refused ones left no row");
    // Attempts in flight crowd each other out, so the burst may have checked fewer than 5 (even 0);
    // one at a time, the rest of the budget goes, and not one guess more.
    loop {
        let status = app.login("target@example.com", "one more guess").await.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        checked += 1;
    }
    assert_eq!(checked, 5, "exactly the limit of wrong passwords was checked");
    // And the right password is refused too while throttled.
    expect_error(app.login("target@example.com", PASSWORD).await, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    app.stop().await;
}

async fn a_client_over_its_limit_is_refused_without_a_database_write(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "3")])).await;
    at_start_of_a_minute_window().await;
    let statuses = join_all((0..20).map(|_| app.refresh("not-a-token"))).await;
    let limited = statuses.iter().filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(limited, 17, "{:?}", statuses.iter().map(|r| r.status()).collect::<Vec<_>>());
    for _ in 0..10 {
        assert_eq!(app.refresh("not-a-token").await.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    // The shared counter stopped at the first refusals the burst raced into it; the ten
    // sequential requests after them were answered from memory.
    let pool = db.pool().await;
    let hits = count(&pool, "SELECT MAX(hits) FROM rate_limits").await;
    assert!(hits <= 20, "hits {hits}: requests over the limit kept writing");
    app.stop().await;
}

async fn password_changes_through_server_functions_count_toward_the_client_limit(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "2")])).await;
    at_start_of_a_minute_window().await;
    let tokens = app.signed_up("hasher@example.com").await; // 1 of 2
    let form = format!("current_password={}&new_password=another-secret-1", PASSWORD.replace(' ', "+"));
    assert_eq!(app.call_fn("change_password", Some(&tokens.access), &form).await.status(), StatusCode::OK);
    let third = app.call_fn("change_password", Some(&tokens.access), "current_password=x&new_password=y").await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS, "the server function skipped the per-IP limit");
    assert!(third.headers().contains_key("retry-after"));
    app.stop().await;
}

async fn password_changes_are_limited_per_user(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0")]);
    config.auth.password_changes_per_hour = 2;
    let app = TestApp::start(config).await;
    let tokens = app.signed_up("changer@example.com").await;
    let passwords = [PASSWORD, "second-secret-2", "third-secret-3", "fourth-secret-4"];
    for pair in passwords[..3].windows(2) {
        assert_eq!(app.change_password(&tokens.access, pair[0], pair[1]).await.status(), StatusCode::NO_CONTENT);
    }
    // With the right current password every time, the per-email login limit never trips:
    // this one must.
    let third = app.change_password(&tokens.access, passwords[2], passwords[3]).await;
    expect_error(third, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(app.login("changer@example.com", passwords[2]).await.status(), StatusCode::OK, "nothing changed");
    app.stop().await;
}

async fn a_parallel_burst_of_password_changes_is_held_to_the_per_user_limit(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0"), ("AUTH_LOGIN_MAX_FAILURES", "0")]);
    config.auth.password_changes_per_hour = 2;
    let app = TestApp::start(config).await;
    let tokens = app.signed_up("burst@example.com").await;
    let changes = (0..8).map(|i| {
        let (app, token) = (&app, tokens.access.clone());
        async move { app.change_password(&token, "a wrong guess", &format!("new-secret-{i}")).await.status() }
    });
    let statuses = join_all(changes).await;
    let limited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    // Counted before any hash: at most 2 of the 8 reach the (wrong) password check.
    assert_eq!(limited, 6, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS));
    app.stop().await;
}

async fn parallel_password_changes_commit_exactly_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::start(test_config(&db.url, &[("AUTH_RATE_LIMIT_PER_MIN", "0")])).await;
    let tokens = app.signed_up("cas@example.com").await;
    let changes = ["first-new-secret", "second-new-secret"].map(|new| {
        let (app, token) = (&app, tokens.access.clone());
        async move { (new, app.change_password(&token, PASSWORD, new).await.status()) }
    });
    let results = join_all(changes).await;
    let won: Vec<_> = results.iter().filter(|(_, s)| *s == StatusCode::NO_CONTENT).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    let (_, lost) = results.iter().find(|(_, s)| *s != StatusCode::NO_CONTENT).unwrap();
    assert!(*lost == StatusCode::CONFLICT || *lost == StatusCode::UNAUTHORIZED, "{results:?}");
    assert_eq!(app.login("cas@example.com", won[0].0).await.status(), StatusCode::OK, "the winner's password holds");
    app.stop().await;
}

async fn a_burst_of_sign_ins_leaves_at_most_the_session_cap(backend: Backend) {
    let db = TestDb::new(backend).await;
    // Correct passwords in flight count as attempts until they succeed: lift the per-email
    // limit, which this burst of one account's logins would otherwise trip.
    let vars =
        [("AUTH_RATE_LIMIT_PER_MIN", "0"), ("AUTH_MAX_SESSIONS_PER_USER", "3"), ("AUTH_LOGIN_MAX_FAILURES", "0")];
    let app = TestApp::start(test_config(&db.url, &vars)).await;
    let first = app.signed_up("many@example.com").await;
    let logins = join_all((0..12).map(|_| app.login("many@example.com", PASSWORD))).await;
    let mut newest = Vec::new();
    for response in logins {
        assert_eq!(response.status(), StatusCode::OK);
        newest.push(Tokens::from(response.json::<Value>().await.unwrap()));
    }
    let pool = db.pool().await;
    let live = count(&pool, "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL").await;
    assert_eq!(live, 3, "the cap holds under a burst");
    let mut working = Vec::new();
    for tokens in &newest {
        if app.get_with("/api/me", &tokens.access).await.status() == StatusCode::OK {
            working.push(tokens);
        }
    }
    assert_eq!(working.len(), 3, "exactly the cap's worth of sessions still works");
    let listed: Value = app.get_with("/api/sessions", &working[0].access).await.json().await.unwrap();
    assert_eq!(listed["sessions"].as_array().map(Vec::len), Some(3));
    // The oldest session was pushed out, everywhere at once.
    expect_error(app.get_with("/api/me", &first.access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    app.stop().await;
}
