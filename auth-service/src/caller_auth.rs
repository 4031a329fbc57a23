//! Authentication of auth-service's callers (the gateway, internal services)
//! with a shared service token in `authorization: Bearer <token>` metadata,
//! compared in constant time, and/or a client certificate (mutual TLS,
//! `auth_service.client_ca`). The certificate is verified by rustls during
//! the handshake, so a caller without a valid one never gets here; the
//! interceptor only checks again that the connection did present one, so a
//! server accidentally built without TLS cannot silently accept anyone.
//! With both configured, a caller needs both (defence in depth: a leaked
//! token alone, or a stolen certificate alone, is not enough). With
//! neither, the service only listens on loopback (enforced by configuration
//! validation), unless the operator explicitly chose `insecure_listen`.

use common::token::SecretHash;
use secrecy::{ExposeSecret, SecretString};
use tonic::{Request, Status};

/// Checks every call's service token and client certificate.
#[derive(Clone)]
pub struct CallerAuth {
    /// Hash of the expected token: compared hash-to-hash in constant time,
    /// so neither timing nor length reveals the token.
    expected: Option<SecretHash>,
    /// Whether the connection must have presented a client certificate.
    require_client_cert: bool,
}

impl CallerAuth {
    /// `token`: the service token every call must carry, if any.
    /// `require_client_cert`: whether `client_ca` is configured. With
    /// neither, every caller passes (loopback or `insecure_listen`).
    pub fn new(token: Option<&SecretString>, require_client_cert: bool) -> Self {
        Self {
            expected: token.map(|t| SecretHash::of(t.expose_secret())),
            require_client_cert,
        }
    }

    /// The tonic interceptor.
    #[allow(clippy::result_large_err)] // tonic's interceptor signature
    pub fn check(&self, request: Request<()>) -> Result<Request<()>, Status> {
        if self.require_client_cert
            && request
                .peer_certs()
                .is_none_or(|certificates| certificates.is_empty())
        {
            return Err(Status::unauthenticated(
                "caller authentication required: present a client certificate",
            ));
        }
        let Some(expected) = &self.expected else {
            return Ok(request);
        };
        let presented = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match presented {
            Some(token) if SecretHash::of(token).ct_eq(expected) => Ok(request),
            Some(_) => Err(Status::unauthenticated(
                "caller authentication failed: wrong service token",
            )),
            None => Err(Status::unauthenticated(
                "caller authentication required: send the service token",
            )),
        }
    }
}

/// So one `CallerAuth` guards every authenticated service (`AuthService`
/// and, when enabled, reflection) with the same rules.
impl tonic::service::Interceptor for CallerAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        self.check(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(auth: Option<&str>) -> Request<()> {
        let mut r = Request::new(());
        if let Some(a) = auth {
            r.metadata_mut().insert("authorization", a.parse().unwrap());
        }
        r
    }

    #[test]
    fn only_the_right_token_passes() {
        let token = SecretString::from("t".repeat(40));
        let auth = CallerAuth::new(Some(&token), false);
        assert!(
            auth.check(request(Some(&format!("Bearer {}", "t".repeat(40)))))
                .is_ok()
        );
        for bad in [
            None,
            Some("Bearer wrong"),
            Some("t".repeat(40).as_str()),
            Some("Bearer "),
        ] {
            let err = auth.check(request(bad)).unwrap_err();
            assert_eq!(err.code(), tonic::Code::Unauthenticated);
            assert!(!err.message().contains("tttt"));
        }
    }

    #[test]
    fn without_a_token_everyone_passes() {
        assert!(CallerAuth::new(None, false).check(request(None)).is_ok());
    }

    #[test]
    fn a_required_client_certificate_must_be_on_the_connection() {
        // A request that did not come over a TLS connection with a client
        // certificate (here: none at all) is refused even with the token.
        let token = SecretString::from("t".repeat(40));
        for auth in [
            CallerAuth::new(None, true),
            CallerAuth::new(Some(&token), true),
        ] {
            let err = auth
                .check(request(Some(&format!("Bearer {}", "t".repeat(40)))))
                .unwrap_err();
            assert_eq!(err.code(), tonic::Code::Unauthenticated);
            assert!(err.message().contains("client certificate"), "{err:?}");
        }
    }
}
