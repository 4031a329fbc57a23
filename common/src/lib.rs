//! Code shared by the Portcullis services: configuration types and loading,
//! telemetry, shutdown signals, token types and the generated gRPC code.

pub mod config;
pub mod error_chain;
pub mod grpc_codec;
pub mod in_process;
pub mod proto;
pub mod reason;
pub mod service_token;
pub mod shutdown;
pub mod startup;
pub mod telemetry;
pub mod tls;
pub mod token;
