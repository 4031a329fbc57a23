//! WebSockets through a proxied route: the route's policy and the CSRF
//! origin check apply to the handshake, the upstream sees the identity,
//! bytes flow both ways, and an open WebSocket is closed once its session
//! is revoked (within `websocket_revalidate_interval`, 1 s here).

use crate::browser::{Browser, log_in_as_alice};
use axum::extract::ws::{Message as ServerMessage, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use futures::{SinkExt, StreamExt};
use portcullis_tests::{StackOptions, TestStack, wait_until};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A page for the browser to open WebSockets from (the gateway's own pages
/// forbid scripts any connection).
const PAGE: &str = "<!doctype html><title>ws</title><p>websocket page</p>";

/// A WebSocket upstream: greets with the `X-Auth-Email` of the handshake
/// (and whether it carried a cookie), then echoes text; `GET /ws/page` is
/// [`PAGE`].
struct Upstream {
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Upstream {
    async fn start() -> Upstream {
        let page = axum::routing::get(|| async { axum::response::Html(PAGE) });
        let app = axum::Router::new().route("/ws/page", page).fallback(
            |ws: WebSocketUpgrade, headers: HeaderMap| async move {
                let email = headers
                    .get("x-auth-email")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("nobody")
                    .to_owned();
                let cookie = headers.contains_key("cookie");
                ws.on_upgrade(move |socket| echo(socket, format!("hello {email} cookie={cookie}")))
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Upstream { url, server }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn echo(mut socket: WebSocket, greeting: String) {
    if socket
        .send(ServerMessage::Text(greeting.into()))
        .await
        .is_err()
    {
        return;
    }
    while let Some(Ok(message)) = socket.recv().await {
        if let ServerMessage::Text(text) = message
            && socket.send(ServerMessage::Text(text)).await.is_err()
        {
            return;
        }
    }
}

/// The next text message, within 10 s.
async fn next_text(ws: &mut Client) -> String {
    match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Opens `path` on the gateway with these handshake headers.
async fn open(
    stack: &TestStack,
    path: &str,
    headers: &[(&'static str, String)],
) -> Result<Client, tungstenite::Error> {
    let url = stack.url(path).replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    connect_async(request).await.map(|(ws, _)| ws)
}

/// Revokes the session of `token` (`POST /auth/logout`, as an API client).
async fn log_out(stack: &TestStack, token: &str) {
    let logout = stack
        .bare_client()
        .post(stack.url("/auth/logout"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
}

/// The HTTP status a refused handshake was answered with.
fn refused(result: Result<Client, tungstenite::Error>) -> u16 {
    match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("handshake failed without an HTTP answer: {e}"),
        Ok(_) => panic!("handshake accepted"),
    }
}

#[tokio::test]
async fn websockets_follow_the_route_policy_and_end_with_their_session() {
    let upstream = Upstream::start().await;
    let stack = TestStack::start_with(StackOptions {
        gateway_settings: "websocket_revalidate_interval = \"1s\"\n".into(),
        routes: format!(
            r#"
[[routes]]
path_prefix = "/ws/"
target = {{ upstream = "{url}" }}

[[routes]]
path_prefix = "/public-ws/"
policy = "public"
target = {{ upstream = "{url}" }}
"#,
            url = upstream.url
        ),
        ..StackOptions::default()
    })
    .await;
    let token = stack.session_token("alice").await;
    let cookie = ("cookie", format!("{}={token}", stack.session_cookie));
    let ours = ("origin", stack.public_origin.clone());

    // No session: the route's 401; a public route: open, anonymously.
    assert_eq!(
        refused(open(&stack, "/ws/x", std::slice::from_ref(&ours)).await),
        401
    );
    let mut anonymous = open(&stack, "/public-ws/x", std::slice::from_ref(&ours))
        .await
        .unwrap();
    assert_eq!(next_text(&mut anonymous).await, "hello nobody cookie=false");

    // A page of another origin cannot use the user's cookie (cross-site
    // WebSocket hijacking); a bearer client needs no origin.
    let evil = ("origin", "https://evil.example".to_owned());
    assert_eq!(
        refused(open(&stack, "/ws/x", &[cookie.clone(), evil]).await),
        403
    );
    let bearer = ("authorization", format!("Bearer {token}"));
    let mut api = open(&stack, "/ws/x", &[bearer]).await.unwrap();
    assert_eq!(
        next_text(&mut api).await,
        "hello alice@example.com cookie=false"
    );

    // Our own page: open, the upstream sees who (and never our cookie),
    // and bytes flow both ways.
    let mut ws = open(&stack, "/ws/x", &[cookie, ours]).await.unwrap();
    assert_eq!(
        next_text(&mut ws).await,
        "hello alice@example.com cookie=false"
    );
    ws.send(Message::Text("ping".into())).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "ping");

    // Revoking the session closes its WebSockets within the interval; the
    // public route's anonymous one stays open.
    log_out(&stack, &token).await;
    for socket in [&mut ws, &mut api] {
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match socket.next().await {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "still open 10 s after the revocation");
    }
    anonymous
        .send(Message::Text("still here".into()))
        .await
        .unwrap();
    assert_eq!(next_text(&mut anonymous).await, "still here");
}

#[tokio::test]
async fn a_page_in_the_browser_keeps_a_websocket_until_its_session_ends() {
    let upstream = Upstream::start().await;
    let stack = TestStack::start_with(StackOptions {
        public_port: true,
        gateway_settings: "websocket_revalidate_interval = \"1s\"\n".into(),
        routes: format!(
            "[[routes]]\npath_prefix = \"/ws/\"\ntarget = {{ upstream = \"{}\" }}\n",
            upstream.url
        ),
        ..StackOptions::default()
    })
    .await;
    let browser = Browser::start().await;
    log_in_as_alice(&stack, &browser).await;
    browser.goto(&stack.url("/ws/page")).await;
    browser.wait_for_text("websocket page").await;

    // The page's own WebSocket, with the cookie the browser attaches.
    let greeting = browser
        .run(
            "return await new Promise((resolve, reject) => {
               const ws = new WebSocket(location.origin.replace('http', 'ws') + '/ws/socket');
               window.ws = ws;
               window.closedWith = null;
               ws.onmessage = e => resolve(e.data);
               ws.onerror = () => reject('websocket error');
               ws.onclose = e => { window.closedWith = e.code; };
             });",
        )
        .await;
    assert_eq!(greeting, "hello alice@example.com cookie=false");
    let echoed = browser
        .run(
            "return await new Promise(resolve => {
               ws.onmessage = e => resolve(e.data);
               ws.send('ping');
             });",
        )
        .await;
    assert_eq!(echoed, "ping");

    // Revoke the session behind the page's back: the page sees its
    // WebSocket close within the interval.
    let token = browser.cookie(&stack.session_cookie).await;
    log_out(&stack, &token).await;
    wait_until(
        Duration::from_secs(10),
        "the page's websocket closes",
        || async { !browser.run("return window.closedWith").await.is_null() },
    )
    .await;
    browser.close().await;
}
