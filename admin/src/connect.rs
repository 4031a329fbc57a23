//! The connection to auth-service, made the way the gateway makes its own
//! (`api-gateway/src/auth_client.rs`): the service token in every call's
//! `authorization` metadata through [`ServiceToken`], and for an `https`
//! URL TLS trusting `--ca-file` alone when given (an internal CA must not be
//! mixed with the public roots), presenting the client certificate when
//! given. Files are read and checked by [`common::tls`] before anything
//! dials, so a bad one is a configuration error (exit 2) naming the flag.

use crate::cli::ConnectionArgs;
use crate::error::{AdminError, Credentials};
use common::error_chain::error_chain;
use common::proto::auth_service_client::AuthServiceClient;
use common::service_token::ServiceToken;
use common::tls::{CaCertificates, Identity, PairKeys, TlsFiles};
use secrecy::SecretString;
use std::path::Path;
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// The environment variable that may hold the service token itself.
pub const SERVICE_TOKEN_ENV: &str = "PORTCULLIS_SERVICE_TOKEN";

/// How long dialling (TCP and TLS) may take before auth-service counts as
/// unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The deadline of each call; a page of 1000 users is well within it.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The client every command uses.
pub(crate) type Client = AuthServiceClient<InterceptedService<Channel, ServiceToken>>;

/// Everything needed to dial, read and checked from the invocation.
pub struct Target {
    url: url::Url,
    token: ServiceToken,
    ca: Option<CaCertificates>,
    identity: Option<Identity>,
    server_name: Option<String>,
    /// What is presented, for the refusal message.
    pub credentials: Credentials,
}

impl Target {
    /// Reads the token and the TLS files the flags name. `env` looks up an
    /// environment variable (the process's own outside tests).
    pub fn from_args(
        args: &ConnectionArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, AdminError> {
        let url = args.auth_service_url.clone();
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(AdminError::Config(format!(
                    "--auth-service-url: scheme {other:?} is not http or https"
                )));
            }
        };
        if url.host().is_none() {
            return Err(AdminError::Config(
                "--auth-service-url: the URL names no host".into(),
            ));
        }
        let secret = service_token(args.service_token_file.as_deref(), env)?;
        let token = ServiceToken::new(secret.as_ref())
            .map_err(|e| AdminError::Config(format!("the service token cannot be sent: {e}")))?;
        let files = TlsFiles::pair(
            PairKeys {
                cert: "--client-cert",
                key: "--client-key",
            },
            args.client_cert.clone(),
            args.client_key.clone(),
        )
        .map_err(tls_error)?;
        if !tls && (args.ca_file.is_some() || files.is_some() || args.tls_server_name.is_some()) {
            return Err(AdminError::Config(
                "--ca-file, --client-cert, --client-key and --tls-server-name need an https:// \
                 --auth-service-url"
                    .into(),
            ));
        }
        let ca = args
            .ca_file
            .clone()
            .map(|path| CaCertificates::load("--ca-file", path))
            .transpose()
            .map_err(tls_error)?;
        let identity = files
            .map(|f| {
                f.load(PairKeys {
                    cert: "--client-cert",
                    key: "--client-key",
                })
            })
            .transpose()
            .map_err(tls_error)?;
        Ok(Self {
            credentials: Credentials {
                token: secret.is_some(),
                client_cert: identity.is_some(),
            },
            url,
            token,
            ca,
            identity,
            server_name: args.tls_server_name.clone(),
        })
    }

    /// Dials auth-service now, so that an unreachable one is one clear
    /// error before any command runs.
    pub(crate) async fn connect(&self) -> Result<Client, AdminError> {
        let shown = self.url.as_str().trim_end_matches('/').to_owned();
        let unreachable = |cause: String| AdminError::Unreachable {
            url: shown.clone(),
            cause,
        };
        let mut endpoint = Endpoint::from_shared(shown.clone())
            .map_err(|e| AdminError::Config(format!("--auth-service-url {shown}: {e}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT);
        if self.url.scheme() == "https" {
            endpoint = endpoint
                .tls_config(self.tls())
                .map_err(|e| unreachable(error_chain(&e)))?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| unreachable(error_chain(&e)))?;
        Ok(AuthServiceClient::with_interceptor(
            channel,
            self.token.clone(),
        ))
    }

    fn tls(&self) -> ClientTlsConfig {
        let mut tls = ClientTlsConfig::new().timeout(CONNECT_TIMEOUT);
        if let Some(name) = &self.server_name {
            tls = tls.domain_name(name.clone());
        }
        let tls = match &self.ca {
            Some(ca) => tls.ca_certificate(Certificate::from_pem(ca.pem())),
            None => tls.with_webpki_roots(),
        };
        match &self.identity {
            Some(identity) => {
                let (cert, key) = identity.pem();
                tls.identity(tonic::transport::Identity::from_pem(cert, key))
            }
            None => tls,
        }
    }
}

fn tls_error(e: common::tls::TlsFileError) -> AdminError {
    AdminError::Config(format!("{}: {}", e.key, e.reason))
}

/// The service token from `--service-token-file` or the environment: not
/// both (which one would win is a guess), never empty.
fn service_token(
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<SecretString>, AdminError> {
    let from_env = env(SERVICE_TOKEN_ENV);
    let text = match (file, from_env) {
        (Some(_), Some(_)) => {
            return Err(AdminError::Config(format!(
                "set --service-token-file or ${SERVICE_TOKEN_ENV}, not both"
            )));
        }
        (None, None) => return Ok(None),
        (None, Some(token)) => token,
        (Some(path), None) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                AdminError::Config(format!(
                    "--service-token-file: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            // A file written with `echo` ends in a newline that is no part
            // of the token (as auth-service reads its service_token_file).
            let text = text.strip_suffix('\n').unwrap_or(&text);
            text.strip_suffix('\r').unwrap_or(text).to_owned()
        }
    };
    if text.is_empty() {
        return Err(AdminError::Config(
            "the service token is empty (--service-token-file or $PORTCULLIS_SERVICE_TOKEN)".into(),
        ));
    }
    Ok(Some(SecretString::from(text)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;
    use secrecy::ExposeSecret;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn args(extra: &[&str]) -> ConnectionArgs {
        let mut argv = vec!["portcullis-admin"];
        argv.extend_from_slice(extra);
        argv.push("providers");
        Cli::try_parse_from(argv).unwrap().connection
    }

    #[test]
    fn the_token_comes_from_a_file_or_the_environment_not_both() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let token = service_token(Some(&file), &no_env).unwrap().unwrap();
        assert_eq!(token.expose_secret(), "from-file");

        let env = |name: &str| (name == SERVICE_TOKEN_ENV).then(|| "from-env".to_owned());
        let token = service_token(None, &env).unwrap().unwrap();
        assert_eq!(token.expose_secret(), "from-env");

        let both = service_token(Some(&file), &env).err().unwrap();
        assert_eq!(both.exit_code(), 2);
        assert!(both.to_string().contains("not both"), "{both}");

        assert!(service_token(None, &no_env).unwrap().is_none());

        std::fs::write(&file, "\n").unwrap();
        let empty = service_token(Some(&file), &no_env).err().unwrap();
        assert!(empty.to_string().contains("empty"), "{empty}");

        let missing = service_token(Some(&dir.path().join("nope")), &no_env)
            .err()
            .unwrap();
        assert!(missing.to_string().contains("nope"), "{missing}");
        assert_eq!(missing.exit_code(), 2);
    }

    #[test]
    fn bad_connection_settings_are_configuration_errors() {
        for (extra, says) in [
            (
                vec!["--auth-service-url", "ftp://127.0.0.1:1"],
                "not http or https",
            ),
            (
                vec!["--ca-file", "/nonexistent.pem"],
                "need an https:// --auth-service-url",
            ),
            (
                vec![
                    "--auth-service-url",
                    "https://127.0.0.1:1",
                    "--client-cert",
                    "/c.pem",
                ],
                "--client-key",
            ),
            (
                vec![
                    "--auth-service-url",
                    "https://127.0.0.1:1",
                    "--ca-file",
                    "/nonexistent.pem",
                ],
                "--ca-file",
            ),
        ] {
            let err = Target::from_args(&args(&extra), &no_env).err().unwrap();
            assert_eq!(err.exit_code(), 2, "{extra:?}");
            assert!(err.to_string().contains(says), "{extra:?}: {err}");
        }
        let target = Target::from_args(&args(&[]), &no_env).unwrap();
        assert!(!target.credentials.token);
    }

    #[tokio::test]
    async fn an_unreachable_service_is_one_clear_error() {
        // Port 0: no server can listen there, so the dial is refused.
        let url = "http://127.0.0.1:0".to_owned();
        let target = Target::from_args(&args(&["--auth-service-url", &url]), &no_env).unwrap();
        let err = target.connect().await.err().unwrap();
        assert_eq!(err.exit_code(), 1);
        assert!(
            err.to_string()
                .starts_with(&format!("cannot reach auth-service at {url}: ")),
            "{err}"
        );
    }
}
