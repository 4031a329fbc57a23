//! What the single-node binary (`portcullis`: auth-service and the gateway
//! in one process) asks of a configuration beyond what each service asks:
//! no key that would be silently unused there, and one log format for the
//! one log.

use super::{Config, ConfigError};

impl Config {
    /// The rules of the single-node binary, checked after [`Config::load`].
    pub fn check_single_node(&self) -> Result<(), ConfigError> {
        if self.gateway.auth_service_url_written {
            return Err(ConfigError::invalid(
                "gateway.auth_service_url",
                "not used by the single-node binary, which calls the auth-service in its own \
                 process; remove it (internal services and portcullis-admin reach auth-service \
                 at auth_service.listen)",
            ));
        }
        if self.gateway.service_token.is_some() {
            return Err(ConfigError::invalid(
                "gateway.service_token_env",
                "(or service_token_file) not used by the single-node binary: calls to the auth-service in the same \
                 process carry no token (auth_service.service_token_env still guards \
                 auth_service.listen)",
            ));
        }
        if self.gateway.log_format != self.auth_service.log_format {
            return Err(ConfigError::invalid(
                "gateway.log_format",
                "must equal auth_service.log_format in the single-node binary, which writes \
                 one log",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<(), String> {
        let env = |name: &str| (name == "TOKEN").then(|| "t0ken-t0ken-t0ken-t0ken-t0ken-t0".into());
        Config::from_toml(text, &env)
            .map_err(|e| e.to_string())?
            .check_single_node()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn one_file_for_both_services_passes() {
        check(
            "[auth_service]\nlog_format = \"json\"\nservice_token_env = \"TOKEN\"\n\
             [gateway]\nlog_format = \"json\"\n",
        )
        .unwrap();
        check("").unwrap();
    }

    #[test]
    fn an_auth_service_address_is_refused() {
        for key in [
            "auth_service_url = \"http://127.0.0.1:50051\"",
            "auth_service_urls = [\"http://127.0.0.1:50051\", \"http://127.0.0.1:50052\"]",
        ] {
            let e = check(&format!("[gateway]\n{key}\n")).unwrap_err();
            assert!(e.contains("gateway.auth_service_url"), "{e}");
            assert!(e.contains("in its own process"), "{e}");
        }
    }

    #[test]
    fn a_gateway_service_token_is_refused() {
        let e = check("[gateway]\nservice_token_env = \"TOKEN\"\n").unwrap_err();
        assert!(e.contains("gateway.service_token_env"), "{e}");
    }

    #[test]
    fn two_log_formats_are_refused() {
        let e = check("[gateway]\nlog_format = \"json\"\n").unwrap_err();
        assert!(e.contains("gateway.log_format"), "{e}");
        assert!(e.contains("auth_service.log_format"), "{e}");
    }
}
