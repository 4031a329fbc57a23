//! Start-up steps the binaries share: load the configuration (exit 2 with a
//! message naming the key when it is bad), bind the listener, and announce
//! the bound address on stdout, the one line tests and scripts read to learn
//! a port chosen by the OS (`listen = "127.0.0.1:0"`).

use crate::config::Config;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use tokio::net::TcpListener;

/// Exit status for a bad configuration (as for usage errors).
pub const CONFIG_ERROR: u8 = 2;

/// Loads the configuration, or prints why not and gives the exit code.
pub fn load_config(binary: &str, path: Option<&Path>) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("{binary}: {e}");
        ExitCode::from(CONFIG_ERROR)
    })
}

/// Binds `addr` and prints `listening on {scheme}{bound address}` on stdout.
/// `scheme` is `"http://"`, `"https://"` or `""` (gRPC).
pub async fn bind_and_announce(
    binary: &str,
    addr: SocketAddr,
    scheme: &str,
) -> Result<TcpListener, ExitCode> {
    bind_and_announce_as(binary, "listening on", addr, scheme).await
}

/// Binds a secondary plain-HTTP listener (metrics, ext_authz) when it is
/// configured (`None`: `"off"`), announced as `{label} http://{bound
/// address}` (e.g. `metrics listening on http://127.0.0.1:9090`) on a line
/// after the main one, so whoever reads only the first line still finds the
/// main address there.
pub async fn bind_and_announce_secondary(
    binary: &str,
    label: &str,
    addr: Option<SocketAddr>,
) -> Result<Option<TcpListener>, ExitCode> {
    match addr {
        Some(addr) => bind_and_announce_as(binary, label, addr, "http://")
            .await
            .map(Some),
        None => Ok(None),
    }
}

/// Binds `addr` and prints `{label} {scheme}{bound address}` on stdout.
pub async fn bind_and_announce_as(
    binary: &str,
    label: &str,
    addr: SocketAddr,
    scheme: &str,
) -> Result<TcpListener, ExitCode> {
    let fail = |what: String| {
        eprintln!("{binary}: {what}");
        ExitCode::FAILURE
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| fail(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| fail(format!("cannot read the bound address: {e}")))?;
    announce(binary, &format!("{label} {scheme}{bound}"))?;
    Ok(listener)
}

/// Prints one address line on stdout (flushed: a reader waits for it), or
/// says why it could not and gives the exit code.
pub fn announce(binary: &str, line: &str) -> Result<(), ExitCode> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|e| {
            eprintln!("{binary}: cannot write to stdout: {e}");
            ExitCode::FAILURE
        })
}
