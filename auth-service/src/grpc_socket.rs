//! The optional Unix-socket listener (`auth_service.listen_socket`): gRPC
//! for a gateway or service on the same machine or pod, without loopback
//! TCP's cost per call.
//!
//! The socket file is the one piece of state this leaves behind, so it is
//! handled with care: a file already at the path is replaced only when it
//! is a socket nobody answers on (the leftover of a crash); a live socket
//! means another auth-service is serving there and any other kind of file
//! is not ours to delete, so both stop the start with a clear error. The
//! socket is made `0660` (owner and group), since whoever can connect to
//! it can call auth-service, and it is removed when the [`GrpcSocket`]'s
//! [`SocketFile`] is dropped at shutdown.

use std::fs::Permissions;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tokio::net::{UnixListener, UnixStream};

/// The permissions of the socket: connecting needs write permission, so
/// only the service's user and group can call through it.
const SOCKET_MODE: u32 = 0o660;

/// Why the socket could not be set up; each names the path.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// Another process answers on the socket.
    #[error("{0}: another process is serving on this socket (a second auth-service?)")]
    InUse(PathBuf),
    /// Something other than a socket is at the path.
    #[error("{0}: exists and is not a socket; not replacing it")]
    NotASocket(PathBuf),
    /// A system call failed.
    #[error("{path}: cannot {doing}: {source}")]
    Io {
        path: PathBuf,
        doing: &'static str,
        source: io::Error,
    },
}

/// A bound socket and the file that names it.
pub struct GrpcSocket {
    /// The listener to serve gRPC on.
    pub listener: UnixListener,
    /// Removes the socket file when dropped.
    pub file: SocketFile,
}

/// The socket's path; dropping it removes the file, so a clean shutdown
/// leaves nothing behind.
pub struct SocketFile(PathBuf);

impl SocketFile {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        // Blocking, but a single unlink at shutdown, after serving ended.
        if let Err(e) = std::fs::remove_file(&self.0)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.0.display(), error = %e, "cannot remove the gRPC socket");
        }
    }
}

/// [`bind`], then the `socket listening on unix:PATH` line on stdout (the
/// binaries' last address line); or says why not on stderr and gives the
/// exit code. `binary` names the program in the message.
pub async fn bind_and_announce(binary: &str, path: &Path) -> Result<GrpcSocket, ExitCode> {
    let socket = bind(path).await.map_err(|e| {
        eprintln!("{binary}: auth_service.listen_socket {e}");
        ExitCode::FAILURE
    })?;
    common::startup::announce(
        binary,
        &format!("socket listening on unix:{}", path.display()),
    )?;
    Ok(socket)
}

/// Binds `path` (replacing a stale socket) with mode `0660`.
pub async fn bind(path: &Path) -> Result<GrpcSocket, SocketError> {
    let io_error = |doing| {
        move |source| SocketError::Io {
            path: path.to_owned(),
            doing,
            source,
        }
    };
    match tokio::fs::symlink_metadata(path).await {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path).await {
            Ok(_) => return Err(SocketError::InUse(path.to_owned())),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                tokio::fs::remove_file(path)
                    .await
                    .map_err(io_error("remove the stale socket"))?;
                tracing::info!(path = %path.display(), "replaced a stale gRPC socket");
            }
            Err(e) => return Err(io_error("check the existing socket")(e)),
        },
        Ok(_) => return Err(SocketError::NotASocket(path.to_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("inspect the path")(e)),
    }
    let listener = UnixListener::bind(path).map_err(io_error("listen on it"))?;
    // From here on the file is ours: removed again on any error below.
    let file = SocketFile(path.to_owned());
    tokio::fs::set_permissions(path, Permissions::from_mode(SOCKET_MODE))
        .await
        .map_err(io_error("set its permissions"))?;
    Ok(GrpcSocket { listener, file })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    #[tokio::test]
    async fn binds_with_owner_and_group_access_and_removes_the_file_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.sock");
        let socket = bind(&path).await.unwrap();
        assert_eq!(socket.file.path(), path);
        assert_eq!(mode(&path), SOCKET_MODE);
        UnixStream::connect(&path).await.unwrap();
        drop(socket);
        assert!(!path.exists(), "the socket file outlives the listener");
    }

    #[tokio::test]
    async fn replaces_a_stale_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.sock");
        // A listener dropped without removing its file: what a crash leaves.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let socket = bind(&path).await.unwrap();
        UnixStream::connect(&path).await.unwrap();
        drop(socket);
    }

    #[tokio::test]
    async fn refuses_a_live_socket_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.sock");
        let live = bind(&path).await.unwrap();
        let err = bind(&path).await.err().unwrap();
        assert!(matches!(err, SocketError::InUse(_)), "{err}");
        assert!(
            err.to_string().contains("another process is serving"),
            "{err}"
        );
        UnixStream::connect(&path).await.unwrap();
        drop(live);
    }

    #[tokio::test]
    async fn refuses_to_replace_a_file_that_is_not_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.sock");
        std::fs::write(&path, "precious").unwrap();
        let err = bind(&path).await.err().unwrap();
        assert!(matches!(err, SocketError::NotASocket(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    }

    #[tokio::test]
    async fn refuses_a_live_socket_whose_backlog_is_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.sock");
        // A server too busy to accept: once its backlog is full a connect
        // fails with EAGAIN, not ECONNREFUSED, and the socket is not stale.
        let _busy = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let mut waiting = Vec::new();
        let refused = loop {
            assert!(waiting.len() < 10_000, "the backlog never filled");
            match UnixStream::connect(&path).await {
                Ok(stream) => waiting.push(stream),
                Err(e) => break e,
            };
        };
        assert_eq!(refused.kind(), io::ErrorKind::WouldBlock, "{refused}");
        let err = bind(&path).await.err().unwrap();
        assert!(
            err.to_string().contains("cannot check the existing socket"),
            "{err}"
        );
        assert!(path.exists(), "a live socket was deleted");
    }

    #[tokio::test]
    async fn says_when_the_path_cannot_be_inspected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let err = bind(&file.join("auth.sock")).await.err().unwrap();
        assert!(err.to_string().contains("cannot inspect the path"), "{err}");
    }

    #[tokio::test]
    async fn names_the_path_when_binding_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("auth.sock");
        let err = bind(&path).await.err().unwrap();
        let text = err.to_string();
        assert!(
            text.contains("missing-dir/auth.sock") && text.contains("cannot listen on it"),
            "{text}"
        );
    }
}
