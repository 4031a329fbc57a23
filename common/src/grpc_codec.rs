//! The protobuf codec of the generated `auth.v1` client and server: prost's,
//! except for what a message that fails to decode is called.
//!
//! `tonic_prost::ProstCodec` answers every decode failure with `INTERNAL`
//! (a string field that is not UTF-8, a truncated varint, ...). On the
//! server that blames auth-service for a caller's malformed request, so
//! `ValidateSession` with a non-UTF-8 token looked like a server fault, set
//! off alerts and told the caller nothing useful. Here the code depends on
//! which message failed, through [`DecodeFailure`]: a request the server
//! cannot read is `INVALID_ARGUMENT` (the gRPC status-code guide's "client
//! specified an invalid argument"); a response the client cannot read stays
//! `INTERNAL`, as it is the server's fault. Every RPC message type must say
//! which it is (see `proto.rs`), so a new RPC cannot silently fall back.
//! The message never echoes the bytes that failed: they may hold a token.

use prost::Message;
use std::marker::PhantomData;
use tonic::codec::{DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::{ProstDecoder, ProstEncoder};

/// How a message that cannot be decoded is reported.
pub trait DecodeFailure {
    /// The status code of a decode failure of this message type.
    const CODE: Code;
}

/// The codec named by `codec_path` in `build.rs`.
#[derive(Debug, Clone)]
pub struct Codec<T, U> {
    _messages: PhantomData<(T, U)>,
}

impl<T, U> Default for Codec<T, U> {
    fn default() -> Self {
        Self {
            _messages: PhantomData,
        }
    }
}

impl<T, U> tonic::codec::Codec for Codec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + DecodeFailure + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = MessageDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        MessageDecoder {
            inner: ProstDecoder::default(),
        }
    }
}

/// prost's decoder with the status code of [`DecodeFailure`].
#[derive(Debug, Clone)]
pub struct MessageDecoder<U> {
    inner: ProstDecoder<U>,
}

impl<U> Decoder for MessageDecoder<U>
where
    U: Message + Default + DecodeFailure,
{
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.inner.decode(buf).map_err(|_| decode_failure::<U>())
    }

    fn buffer_settings(&self) -> tonic::codec::BufferSettings {
        self.inner.buffer_settings()
    }
}

/// The status of a message of type `U` that is not valid protobuf (or has
/// a string field that is not UTF-8); names the type, never the content.
pub fn decode_failure<U: DecodeFailure>() -> Status {
    let name = std::any::type_name::<U>()
        .rsplit("::")
        .next()
        .unwrap_or("message");
    Status::new(
        U::CODE,
        format!("{name} is not a valid protobuf message (or a string field is not UTF-8)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ValidateSessionRequest, ValidateSessionResponse};

    #[test]
    fn requests_are_invalid_arguments_responses_internal() {
        let request = decode_failure::<ValidateSessionRequest>();
        assert_eq!(request.code(), Code::InvalidArgument);
        assert!(request.message().starts_with("ValidateSessionRequest "));
        assert_eq!(
            decode_failure::<ValidateSessionResponse>().code(),
            Code::Internal
        );
    }
}
