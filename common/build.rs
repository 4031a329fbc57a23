//! Compiles `proto/` with protox (pure Rust, so no system `protoc` is needed)
//! and generates the tonic client and server. The encoded descriptor set is
//! kept in OUT_DIR for gRPC server reflection.

use prost::Message;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../proto");
    let proto_file = proto_root.join("auth/v1/auth.proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let fds = protox::compile([&proto_file], [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("auth_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        // Decode failures of requests are INVALID_ARGUMENT, not INTERNAL.
        .codec_path("crate::grpc_codec::Codec")
        // Messages that carry tokens get a redacting Debug in `proto.rs`.
        .skip_debug([
            ".auth.v1.BeginLoginResponse",
            ".auth.v1.CompleteLoginRequest",
            ".auth.v1.ExchangeTokenRequest",
            ".auth.v1.LoginResponse",
            ".auth.v1.ValidateSessionRequest",
            ".auth.v1.RevokeSessionRequest",
            ".auth.v1.RevokeSessionResponse",
            ".auth.v1.BackchannelLogoutRequest",
        ])
        .compile_fds(fds)?;
    Ok(())
}
