//! Authentication of auth-service's callers (the gateway, internal services)
//! with a shared service token in `authorization: Bearer <token>` metadata,
//! compared in constant time. Without a configured token the service only
//! listens on loopback (enforced by configuration validation), unless the
//! operator explicitly chose `insecure_listen`.

use common::token::SecretHash;
use secrecy::{ExposeSecret, SecretString};
use tonic::{Request, Status};

/// Checks every call's service token.
#[derive(Clone)]
pub struct CallerAuth {
    /// Hash of the expected token: compared hash-to-hash in constant time,
    /// so neither timing nor length reveals the token.
    expected: Option<SecretHash>,
}

impl CallerAuth {
    /// `None` lets every caller through (loopback or `insecure_listen`).
    pub fn new(token: Option<&SecretString>) -> Self {
        Self {
            expected: token.map(|t| SecretHash::of(t.expose_secret())),
        }
    }

    /// The tonic interceptor.
    #[allow(clippy::result_large_err)] // tonic's interceptor signature
    pub fn check(&self, request: Request<()>) -> Result<Request<()>, Status> {
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
        let auth = CallerAuth::new(Some(&token));
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
        assert!(CallerAuth::new(None).check(request(None)).is_ok());
    }
}
