//! Groups from the provider: an OpenID provider's `groups_claim`, GitHub
//! organisations and teams, the provider allow-lists that refuse a login,
//! and groups reaching `ValidateSession`.

use crate::support::*;
use common::proto::ValidateSessionRequest;
use common::proto::exchange_token_request::Token;
use serde_json::json;

/// The dev provider again, limited to the `admins` group, and GitHub
/// limited to a team, and to an organisation.
fn limited_providers(issuer: &str) -> String {
    format!(
        r#"
[[providers]]
id = "admins-only"
kind = "oidc"
client_id = "{DEV_CLIENT}"
token_endpoint_auth = "none"
issuer = "{issuer}"
groups_claim = "groups"
allowed_groups = ["admins"]
{team}{org}"#,
        team = github_provider(
            issuer,
            "github-team",
            r#"allowed_teams = ["PORTCULLIS-DEV/admins"]"#
        ),
        org = github_provider(issuer, "github-org", r#"allowed_orgs = ["portcullis-dev"]"#),
    )
}

/// A GitHub-kind provider `id` on the dev-idp, with `extra` keys.
fn github_provider(issuer: &str, id: &str, extra: &str) -> String {
    format!(
        r#"
[[providers]]
id = "{id}"
kind = "github"
client_id = "{GITHUB_CLIENT}"
client_secret_env = "GITHUB_SECRET"
authorization_endpoint = "{issuer}/authorize"
token_endpoint = "{issuer}/token"
api_base_url = "{issuer}/github"
{extra}
"#
    )
}

fn groups(login: &common::proto::LoginResponse) -> Vec<String> {
    login.user.as_ref().unwrap().groups.clone()
}

#[tokio::test]
async fn the_groups_claim_becomes_the_users_groups_and_reaches_validation() {
    let h = Harness::start().await;
    let alice = h.code_flow("dev", "alice").await.unwrap();
    assert_eq!(groups(&alice), ["admins", "staff"]);
    let validated = h
        .client
        .clone()
        .validate_session(ValidateSessionRequest {
            session_token: alice.session_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(validated.user.unwrap().groups, ["admins", "staff"]);

    // A front-end's ID token carries them too; mallory has none.
    let bob = h
        .exchange_id_token("dev", &h.id_token("bob"))
        .await
        .unwrap();
    assert_eq!(groups(&bob), ["staff"]);
    let token = h.id_token_with("mallory", |c| c["email_verified"] = json!(true));
    let mallory = h.exchange_id_token("dev", &token).await.unwrap();
    assert!(groups(&mallory).is_empty());

    // Without `groups_claim`, the same provider's claim is ignored.
    let google = h.code_flow("google", "alice").await.unwrap();
    assert!(groups(&google).is_empty(), "{:?}", groups(&google));
}

#[tokio::test]
async fn groups_are_refreshed_at_each_login() {
    let h = Harness::start().await;
    let first = h
        .exchange_id_token(
            "dev",
            &h.id_token_with("bob", |c| c["groups"] = json!(["old"])),
        )
        .await
        .unwrap();
    assert_eq!(groups(&first), ["old"]);
    let second = h
        .exchange_id_token("dev", &h.id_token("bob"))
        .await
        .unwrap();
    assert_eq!(groups(&second), ["staff"]);
    assert_eq!(first.user.unwrap().id, second.user.unwrap().id);
}

#[tokio::test]
async fn a_malformed_groups_claim_refuses_the_login() {
    let h = Harness::start().await;
    let too_many: Vec<String> = (0..=256).map(|i| format!("g{i}")).collect();
    for value in [
        json!("admins"),
        json!(["admins", 7]),
        json!({"admins": true}),
        json!(too_many),
        json!(["x".repeat(257)]),
    ] {
        let token = h.id_token_with("alice", |c| c["groups"] = value.clone());
        assert_rejected(h.exchange_id_token("dev", &token).await, "groups_malformed");
    }
}

#[tokio::test]
async fn allowed_groups_refuses_everyone_outside_them() {
    let h = Harness::start_with(limited_providers).await;
    let alice = h.code_flow("admins-only", "alice").await.unwrap();
    assert_eq!(groups(&alice), ["admins", "staff"]);
    assert_rejected(h.code_flow("admins-only", "bob").await, "group_not_allowed");
    // A forged claim is still a bad signature, not a way in; a signed
    // token without the claim is in no group.
    let without = h.id_token_with("alice", |c| {
        c.as_object_mut().unwrap().remove("groups");
    });
    assert_rejected(
        h.exchange_id_token("admins-only", &without).await,
        "group_not_allowed",
    );
}

#[tokio::test]
async fn github_groups_are_organisations_and_teams_in_lower_case() {
    let h = Harness::start_with(limited_providers).await;
    let alice = h.code_flow("github-team", "alice").await.unwrap();
    assert_eq!(
        groups(&alice),
        [
            "portcullis-dev",
            "portcullis-dev/admins",
            "portcullis-dev/staff"
        ]
    );
    // (The dev-idp lists memberships only to a token with `read:org`, so
    // these groups also show the allow-list asked for that scope.)

    // bob is in the organisation but not the team.
    assert_rejected(h.code_flow("github-team", "bob").await, "group_not_allowed");
    let bob = h.code_flow("github-org", "bob").await.unwrap();
    assert_eq!(groups(&bob), ["portcullis-dev", "portcullis-dev/staff"]);

    // A front-end's access token is held to the same rule.
    let token = h
        .idp
        .issue_access_token_with_scope("bob", GITHUB_CLIENT, "read:user read:org");
    assert_rejected(
        h.exchange("github-team", Token::AccessToken(token)).await,
        "group_not_allowed",
    );

    // Without `read:org` GitHub is not asked: no groups.
    let plain = h.code_flow("github", "alice").await.unwrap();
    assert!(groups(&plain).is_empty(), "{:?}", groups(&plain));
}

/// The Google-kind provider reading Workspace groups, limited to admins.
fn workspace(issuer: &str) -> String {
    format!(
        r#"
[[providers]]
id = "workspace"
kind = "google"
client_id = "{GOOGLE_CLIENT}"
client_secret_env = "GOOGLE_SECRET"
issuer = "{issuer}"
tokeninfo_endpoint = "{issuer}/tokeninfo"
workspace_groups = true
cloud_identity_url = "{issuer}"
allowed_groups = ["admins@example.com"]
"#
    )
}

#[tokio::test]
async fn google_workspace_groups_come_from_cloud_identity_with_the_users_token() {
    let h = Harness::start_with(workspace).await;
    let alice = h.code_flow("workspace", "alice").await.unwrap();
    assert_eq!(groups(&alice), ["admins@example.com", "staff@example.com"]);
    assert_rejected(h.code_flow("workspace", "bob").await, "group_not_allowed");

    // A front-end access token granted the groups scope works the same;
    // one without it cannot be judged, so the login fails (502), never
    // going on without its groups.
    let scope = "openid email https://www.googleapis.com/auth/cloud-identity.groups.readonly";
    let token = h
        .idp
        .issue_access_token_with_scope("alice", GOOGLE_CLIENT, scope);
    let login = h
        .exchange("workspace", Token::AccessToken(token))
        .await
        .unwrap();
    assert_eq!(groups(&login), ["admins@example.com", "staff@example.com"]);
    let token = h
        .idp
        .issue_access_token_with_scope("alice", GOOGLE_CLIENT, "openid email");
    let err = h
        .exchange("workspace", Token::AccessToken(token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert!(
        err.message().contains("Cloud Identity"),
        "{}",
        err.message()
    );
}
