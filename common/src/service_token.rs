//! The caller side of auth-service's service token: a tonic interceptor
//! that adds `authorization: Bearer <token>` to every call, the value
//! marked sensitive so it never appears in debug output.

use secrecy::{ExposeSecret, SecretString};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// The token cannot be sent as a header value.
#[derive(Debug, thiserror::Error)]
#[error("the service token contains characters not allowed in a header value")]
pub struct InvalidServiceToken;

/// Adds the service token, when there is one, to every call.
#[derive(Clone, Default)]
pub struct ServiceToken(Option<MetadataValue<Ascii>>);

impl ServiceToken {
    /// An interceptor sending `secret`, or nothing when `None`.
    pub fn new(secret: Option<&SecretString>) -> Result<Self, InvalidServiceToken> {
        let Some(secret) = secret else {
            return Ok(Self(None));
        };
        let mut value: MetadataValue<Ascii> = format!("Bearer {}", secret.expose_secret())
            .parse()
            .map_err(|_| InvalidServiceToken)?;
        value.set_sensitive(true);
        Ok(Self(Some(value)))
    }
}

impl Interceptor for ServiceToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_sent_as_a_sensitive_bearer() {
        let secret = SecretString::from("s3cret-token");
        let mut interceptor = ServiceToken::new(Some(&secret)).unwrap();
        let request = interceptor.call(Request::new(())).unwrap();
        let value = request.metadata().get("authorization").unwrap();
        assert_eq!(value.to_str().unwrap(), "Bearer s3cret-token");
        assert!(value.is_sensitive());
        let mut none = ServiceToken::new(None).unwrap();
        assert!(none.call(Request::new(())).unwrap().metadata().is_empty());
    }

    #[test]
    fn a_token_that_is_no_header_value_is_refused() {
        let secret = SecretString::from("bad\ntoken");
        assert!(ServiceToken::new(Some(&secret)).is_err());
    }
}
