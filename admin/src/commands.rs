//! Each subcommand: the calls it makes and what it prints. A command that
//! names a user checks first that the user exists, so a mistyped id is
//! "user ... not found" (exit 1) rather than an empty list or "revoked 0".

use crate::cli::{Command, SessionsCommand, UsersCommand};
use crate::connect::Client;
use crate::error::{AdminError, Credentials};
use crate::render::{self, ProviderList, Revoked, SessionList, UserList, UserView};
use common::proto::{
    self, FindUserByEmailRequest, GetUserRequest, ListProvidersRequest, ListSessionsRequest,
    ListUsersRequest, RevokeSessionRequest, RevokeUserSessionsRequest, revoke_session_request,
};

/// What a command produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// For stdout: the table or the JSON document.
    pub stdout: String,
    /// For stderr, after a success (e.g. how to get the next page).
    pub note: Option<String>,
    /// For stderr, and exit status 1: the command found nothing (after
    /// printing its empty result, so scripts still get a document).
    pub not_found: Option<String>,
}

/// The most pages `users list --all` follows: 1000 pages of up to 1000
/// users. A server whose tokens never end the list cannot loop us forever.
const MAX_PAGES: usize = 1000;

/// Runs `command` over `client`.
pub(crate) async fn run(
    client: &Client,
    command: &Command,
    json: bool,
    sent: Credentials,
) -> Result<Outcome, AdminError> {
    let calls = Calls { client, sent };
    match command {
        Command::Users(UsersCommand::List {
            page_size,
            page_token,
            all,
        }) => {
            calls
                .list_users(
                    page_size.unwrap_or(0),
                    page_token.as_deref().unwrap_or(""),
                    *all,
                    json,
                )
                .await
        }
        Command::Users(UsersCommand::Show { user_id }) => {
            let user = UserView::from(&calls.user(user_id).await?);
            Ok(print(json, &user, UserView::table))
        }
        Command::Users(UsersCommand::Find { email }) => calls.find_users(email, json).await,
        Command::Sessions(SessionsCommand::List { user_id }) => {
            calls.user(user_id).await?;
            let sessions = calls
                .call(
                    &format!("user {user_id}"),
                    calls.client.clone().list_sessions(ListSessionsRequest {
                        user_id: user_id.clone(),
                    }),
                )
                .await?
                .sessions;
            Ok(print(
                json,
                &SessionList::new(user_id, &sessions),
                SessionList::table,
            ))
        }
        Command::Sessions(SessionsCommand::Revoke {
            session_id,
            user_id,
        }) => {
            let what = match user_id {
                Some(user) => format!("session {session_id} of user {user}"),
                None => format!("session {session_id}"),
            };
            let revoked = calls
                .call(
                    &what,
                    calls.client.clone().revoke_session(RevokeSessionRequest {
                        target: Some(revoke_session_request::Target::SessionId(
                            session_id.clone(),
                        )),
                        user_id: user_id.clone().unwrap_or_default(),
                    }),
                )
                .await?;
            let done = Revoked::session(&revoked.session_id, user_id.as_deref());
            Ok(print(json, &done, Revoked::text))
        }
        Command::Sessions(SessionsCommand::RevokeAll { user_id }) => {
            calls.user(user_id).await?;
            let revoked = calls
                .call(
                    &format!("user {user_id}"),
                    calls
                        .client
                        .clone()
                        .revoke_user_sessions(RevokeUserSessionsRequest {
                            user_id: user_id.clone(),
                        }),
                )
                .await?
                .revoked;
            Ok(print(
                json,
                &Revoked::all_of(user_id, revoked),
                Revoked::text,
            ))
        }
        Command::Providers => {
            let providers = calls
                .call(
                    "providers",
                    calls.client.clone().list_providers(ListProvidersRequest {}),
                )
                .await?
                .providers;
            Ok(print(
                json,
                &ProviderList::new(&providers),
                ProviderList::table,
            ))
        }
    }
}

/// The table or the JSON of `value`.
fn print<T: serde::Serialize>(json: bool, value: &T, table: impl Fn(&T) -> String) -> Outcome {
    Outcome {
        stdout: if json {
            render::json(value)
        } else {
            table(value)
        },
        ..Outcome::default()
    }
}

struct Calls<'a> {
    client: &'a Client,
    sent: Credentials,
}

impl Calls<'_> {
    /// Awaits one call; a failure becomes an [`AdminError`] about `what`.
    async fn call<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, AdminError> {
        call.await
            .map(tonic::Response::into_inner)
            .map_err(|status| AdminError::from_status(&status, what, self.sent))
    }

    async fn user(&self, user_id: &str) -> Result<proto::User, AdminError> {
        let what = format!("user {user_id}");
        self.call(
            &what,
            self.client.clone().get_user(GetUserRequest {
                user_id: user_id.to_owned(),
            }),
        )
        .await?
        .user
        .ok_or_else(|| AdminError::Failed(format!("auth-service sent no {what}")))
    }

    async fn list_users(
        &self,
        page_size: u32,
        first_token: &str,
        all: bool,
        json: bool,
    ) -> Result<Outcome, AdminError> {
        let mut users = Vec::new();
        let mut token = first_token.to_owned();
        for _ in 0..MAX_PAGES {
            let page = self
                .call(
                    "users",
                    self.client.clone().list_users(ListUsersRequest {
                        page_size,
                        page_token: token.clone(),
                    }),
                )
                .await?;
            users.extend(page.users);
            token = page.next_page_token;
            if !all || token.is_empty() {
                break;
            }
        }
        if all && !token.is_empty() {
            return Err(AdminError::Failed(format!(
                "the user list did not end after {MAX_PAGES} pages"
            )));
        }
        let list = UserList::new(&users, &token);
        let mut outcome = print(json, &list, UserList::table);
        if !json && !token.is_empty() {
            outcome.note = Some(format!(
                "more users follow: add --page-token {token} (or use --all)"
            ));
        }
        Ok(outcome)
    }

    async fn find_users(&self, email: &str, json: bool) -> Result<Outcome, AdminError> {
        let users = self
            .call(
                &format!("e-mail {email}"),
                self.client
                    .clone()
                    .find_user_by_email(FindUserByEmailRequest {
                        email: email.to_owned(),
                    }),
            )
            .await?
            .users;
        let list = UserList::new(&users, "");
        if list.is_empty() {
            return Ok(Outcome {
                stdout: if json {
                    render::json(&list)
                } else {
                    String::new()
                },
                note: None,
                not_found: Some(format!("no user has the e-mail address {email}")),
            });
        }
        Ok(print(json, &list, UserList::table))
    }
}
