//! The GitHub-like API: user, e-mails, and the application token check.

use crate::support::*;

#[tokio::test]
async fn user_and_emails_for_a_token() {
    let idp = start().await;
    let token = idp.issue_access_token("bob", CONFIDENTIAL_CLIENT);
    let user = http()
        .get(format!("{}/github/user", idp.issuer()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 200);
    let user = json(user).await;
    assert_eq!(user["id"], 1002);
    assert_eq!(user["login"], "bob");
    assert_eq!(user["name"], "Bob Example");
    assert_eq!(user["email"], "bob@example.com");
    assert!(user["avatar_url"].is_string());

    // GitHub's older `token` scheme works too.
    let emails = http()
        .get(format!("{}/github/user/emails", idp.issuer()))
        .header("authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    let emails = json(emails).await;
    assert_eq!(emails[0]["email"], "bob@example.com");
    assert_eq!(emails[0]["primary"], true);
    assert_eq!(emails[0]["verified"], true);

    let mallory = idp.issue_access_token("mallory", CONFIDENTIAL_CLIENT);
    let emails = http()
        .get(format!("{}/github/user/emails", idp.issuer()))
        .bearer_auth(&mallory)
        .send()
        .await
        .unwrap();
    assert_eq!(json(emails).await[0]["verified"], false);

    let anonymous = http()
        .get(format!("{}/github/user", idp.issuer()))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn application_token_check() {
    let idp = start().await;
    let url = format!(
        "{}/github/applications/{CONFIDENTIAL_CLIENT}/token",
        idp.issuer()
    );
    let ours = idp.issue_access_token("alice", CONFIDENTIAL_CLIENT);
    let theirs = idp.issue_access_token("alice", PUBLIC_CLIENT);

    let response = http()
        .post(&url)
        .basic_auth(CONFIDENTIAL_CLIENT, Some(CONFIDENTIAL_SECRET))
        .json(&serde_json::json!({ "access_token": ours }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = json(response).await;
    assert_eq!(body["token"], ours.as_str());
    assert_eq!(body["user"]["id"], 1001);
    assert_eq!(body["user"]["login"], "alice");

    for token in [theirs.as_str(), "garbage"] {
        let response = http()
            .post(&url)
            .basic_auth(CONFIDENTIAL_CLIENT, Some(CONFIDENTIAL_SECRET))
            .json(&serde_json::json!({ "access_token": token }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
    }

    let response = http()
        .post(&url)
        .basic_auth(CONFIDENTIAL_CLIENT, Some("wrong"))
        .json(&serde_json::json!({ "access_token": ours }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // A public client has no secret to authenticate with.
    let response = http()
        .post(format!(
            "{}/github/applications/{PUBLIC_CLIENT}/token",
            idp.issuer()
        ))
        .basic_auth(PUBLIC_CLIENT, Some(""))
        .json(&serde_json::json!({ "access_token": theirs }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}
