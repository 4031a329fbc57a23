//! Logging in, as tests need it: the gateway's code flow step by step or
//! whole, a session token for bearer requests, and the provider's own
//! tokens as a front-end would obtain them.

use crate::auth_config::DEV_CLIENT_ID;
use crate::http::{cookie_value, location, set_cookie};
use crate::stack::TestStack;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

impl TestStack {
    /// Runs the code flow in `client` up to (not including) the callback:
    /// login at the gateway, then the provider with `login_hint`. Returns the
    /// callback URL (on the gateway's real address).
    pub async fn authorize(&self, client: &reqwest::Client, user: &str, return_to: &str) -> String {
        self.authorize_at("dev", client, user, return_to).await
    }

    /// [`Self::authorize`] at the configured provider `provider`.
    pub async fn authorize_at(
        &self,
        provider: &str,
        client: &reqwest::Client,
        user: &str,
        return_to: &str,
    ) -> String {
        let login = client
            .get(self.url(&format!("/auth/login/{provider}")))
            .query(&[("return_to", return_to)])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 302, "login did not redirect");
        let authorize = location(&login);
        assert!(authorize.starts_with(&self.idp_url), "{authorize}");
        let consent = client
            .get(format!("{authorize}&login_hint={user}"))
            .send()
            .await
            .unwrap();
        assert!(
            consent.status().is_redirection(),
            "provider answered {}",
            consent.status()
        );
        self.follow(&location(&consent))
    }

    /// A full code-flow login as `user` in `client`; returns the callback's
    /// response (303 with the session cookie).
    pub async fn login_as(&self, client: &reqwest::Client, user: &str) -> reqwest::Response {
        self.login_at("dev", client, user).await
    }

    /// [`Self::login_as`] at the configured provider `provider`.
    pub async fn login_at(
        &self,
        provider: &str,
        client: &reqwest::Client,
        user: &str,
    ) -> reqwest::Response {
        let callback = self.authorize_at(provider, client, user, "/").await;
        let response = client.get(callback).send().await.unwrap();
        assert_eq!(response.status(), 303, "callback failed for {user}");
        response
    }

    /// Logs `user` in with a fresh cookie jar and returns the session token
    /// (for bearer requests).
    pub async fn session_token(&self, user: &str) -> String {
        self.session_token_at("dev", user).await
    }

    /// [`Self::session_token`] at the configured provider `provider`.
    pub async fn session_token_at(&self, provider: &str, user: &str) -> String {
        let response = self.login_at(provider, &self.browser(), user).await;
        cookie_value(set_cookie(&response, &self.session_cookie).expect("session cookie"))
            .to_owned()
    }

    /// An ID token for `user`, obtained as a front-end would: a code flow
    /// with PKCE run directly against the dev-idp.
    pub async fn id_token(&self, user: &str) -> String {
        self.provider_tokens(user).await["id_token"]
            .as_str()
            .expect("id_token")
            .to_owned()
    }

    /// An access token for `user` from the dev-idp (see [`Self::id_token`]).
    pub async fn access_token(&self, user: &str) -> String {
        self.provider_tokens(user).await["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// The dev-idp's token response for `user`.
    async fn provider_tokens(&self, user: &str) -> serde_json::Value {
        let client = self.bare_client();
        let verifier = common::token::random_text::<32>().unwrap();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let redirect_uri = "http://127.0.0.1/frontend-callback";
        let response = client
            .get(format!("{}/authorize", self.idp_url))
            .query(&[
                ("response_type", "code"),
                ("client_id", DEV_CLIENT_ID),
                ("redirect_uri", redirect_uri),
                ("scope", "openid email profile"),
                ("state", "front-end-state"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("login_hint", user),
            ])
            .send()
            .await
            .unwrap();
        let target = url::Url::parse(&location(&response)).unwrap();
        let code = target
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("code in the provider's redirect");
        let tokens: serde_json::Value = client
            .post(format!("{}/token", self.idp_url))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect_uri),
                ("client_id", DEV_CLIENT_ID),
                ("code_verifier", &verifier),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens
    }
}
