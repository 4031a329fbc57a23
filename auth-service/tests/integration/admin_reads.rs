//! The administration reads (`GetUser`, `ListUsers`, `FindUserByEmail`,
//! used by portcullis-admin): behind the same caller authentication as
//! every other RPC, with NOT_FOUND and INVALID_ARGUMENT where the contract
//! says.

use crate::support::*;
use common::proto::{FindUserByEmailRequest, GetUserRequest, ListUsersRequest};
use tonic::Code;

#[tokio::test]
async fn the_admin_reads_need_the_service_token() {
    let h = Harness::start_with_settings("service_token_env = \"SERVICE_TOKEN\"\n").await;
    let mut c = h.client.clone();
    let refusals = [
        c.get_user(GetUserRequest {
            user_id: "u_x".into(),
        })
        .await
        .map(drop)
        .unwrap_err(),
        c.list_users(ListUsersRequest::default())
            .await
            .map(drop)
            .unwrap_err(),
        c.find_user_by_email(FindUserByEmailRequest {
            email: "alice@example.com".into(),
        })
        .await
        .map(drop)
        .unwrap_err(),
    ];
    for err in refusals {
        assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
        assert!(err.message().contains("caller authentication"), "{err:?}");
    }
    let mut wrong = tonic::Request::new(ListUsersRequest::default());
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer not-the-token".parse().unwrap());
    let err = c.list_users(wrong).await.unwrap_err();
    assert!(err.message().contains("wrong service token"), "{err:?}");

    let mut right = tonic::Request::new(ListUsersRequest::default());
    right.metadata_mut().insert(
        "authorization",
        format!("Bearer {SERVICE_TOKEN}").parse().unwrap(),
    );
    let users = c.list_users(right).await.unwrap().into_inner();
    assert!(users.users.is_empty());
    assert!(users.next_page_token.is_empty());
}

#[tokio::test]
async fn users_are_read_by_id_listed_in_pages_and_found_by_email() {
    let h = Harness::start().await;
    let alice = h
        .exchange_id_token("dev", &h.id_token("alice"))
        .await
        .unwrap()
        .user
        .unwrap();
    let bob = h
        .exchange_id_token("dev", &h.id_token("bob"))
        .await
        .unwrap()
        .user
        .unwrap();
    let mut c = h.client.clone();

    let got = c
        .get_user(GetUserRequest {
            user_id: alice.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(got, alice);
    let err = c
        .get_user(GetUserRequest {
            user_id: "u_nobody".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    assert_eq!(err.message(), "user not found");
    let err = c.get_user(GetUserRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");

    // Page by page, one user each: both, in id order, then the end.
    let mut seen = Vec::new();
    let mut token = String::new();
    for _ in 0..3 {
        let page = c
            .list_users(ListUsersRequest {
                page_size: 1,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.users.len() <= 1);
        seen.extend(page.users.into_iter().map(|u| u.id));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let mut expected = vec![alice.id.clone(), bob.id.clone()];
    expected.sort();
    assert_eq!(seen, expected);
    assert!(token.is_empty(), "the list ends");
    // 0 is the default page size; everything fits.
    let all = c
        .list_users(ListUsersRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.users.len(), 2);
    assert!(all.next_page_token.is_empty());

    let err = c
        .list_users(ListUsersRequest {
            page_size: 1,
            page_token: "not-a-token".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("page_token"), "{err:?}");

    let found = c
        .find_user_by_email(FindUserByEmailRequest {
            email: "ALICE@Example.COM".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .users;
    assert_eq!(found, vec![alice]);
    let none = c
        .find_user_by_email(FindUserByEmailRequest {
            email: "carol@example.com".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .users;
    assert!(none.is_empty());
    let err = c
        .find_user_by_email(FindUserByEmailRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("email"), "{err:?}");
}
