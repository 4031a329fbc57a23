//! Google Workspace groups: the groups a user is directly in, read at login
//! from the Cloud Identity API (`groups.memberships.searchDirectGroups`)
//! with the user's own access token and the
//! `cloud-identity.groups.readonly` scope. No service account and no
//! domain-wide delegation: the user sees what they may see, and Google
//! silently leaves out groups whose memberships they may not view (the
//! docs say so). Groups are named by their e-mail address, lower case.

use super::groups;
use super::http::ProviderHttp;
use crate::domain::error::AuthError;
use crate::metrics::Endpoint;
use common::reason::Reason;
use serde::Deserialize;
use url::Url;

/// Groups per page (Google's maximum is 1000, its default 200).
const PAGE_SIZE: usize = 200;

/// Pages read before the user counts as having too many groups.
const MAX_PAGES: usize = groups::MAX_GROUPS / PAGE_SIZE + 1;

// The pages read hold every group a user may have, and not a page more.
const _: () = assert!(MAX_PAGES * PAGE_SIZE > groups::MAX_GROUPS);
const _: () = assert!((MAX_PAGES - 1) * PAGE_SIZE <= groups::MAX_GROUPS);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchDirectGroups {
    #[serde(default)]
    memberships: Vec<MembershipRelation>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MembershipRelation {
    group_key: EntityKey,
}

#[derive(Deserialize)]
struct EntityKey {
    id: String,
}

/// The CEL query for `email`'s direct groups. Google e-mail addresses have
/// no quote or backslash; one that did could rewrite the query, so it is
/// refused rather than escaped.
fn query(email: &str) -> Result<String, AuthError> {
    if email.is_empty() || email.contains(['\'', '\\']) {
        return Err(AuthError::rejected(
            Reason::GroupsMalformed,
            "the account's e-mail address cannot be used to look up its groups",
        ));
    }
    Ok(format!(
        "member_key_id == '{email}' && 'cloudidentity.googleapis.com/groups.discussion_forum' in labels"
    ))
}

/// The groups `email` is directly in, as `access_token`'s user may see
/// them, page by page.
pub(super) async fn direct_groups(
    http: &ProviderHttp,
    api: &Url,
    access_token: &str,
    email: &str,
) -> Result<Vec<String>, AuthError> {
    let query = query(email)?;
    let endpoint = Url::parse(&format!(
        "{}/v1/groups/-/memberships:searchDirectGroups",
        api.as_str().trim_end_matches('/')
    ))
    .map_err(|e| AuthError::InvalidArgument(format!("cloud_identity_url: {e}")))?;
    let mut names = Vec::new();
    let mut page_token = String::new();
    for _ in 0..MAX_PAGES {
        let mut url = endpoint.clone();
        url.query_pairs_mut()
            .append_pair("query", &query)
            .append_pair("pageSize", &PAGE_SIZE.to_string());
        if !page_token.is_empty() {
            url.query_pairs_mut().append_pair("pageToken", &page_token);
        }
        let request = http.get(url).bearer_auth(access_token);
        let response = http
            .send_json::<SearchDirectGroups>(
                request,
                Endpoint::GoogleGroups,
                "Cloud Identity groups",
            )
            .await?;
        if !response.status.is_success() {
            // 403: the scope was not granted, or the Cloud Identity API is
            // not enabled for the project. The login cannot be judged
            // without its groups, so it fails rather than going on without.
            return Err(AuthError::ProviderUnavailable(format!(
                "Cloud Identity groups answered HTTP {} (is the Cloud Identity API enabled and \
                 the cloud-identity.groups.readonly scope granted?)",
                response.status.as_u16()
            )));
        }
        let page = response.body.map_err(AuthError::ProviderUnavailable)?;
        names.extend(
            page.memberships
                .into_iter()
                .map(|m| m.group_key.id.to_ascii_lowercase()),
        );
        match page.next_page_token {
            Some(token) if !token.is_empty() => page_token = token,
            _ => return groups::checked(names),
        }
    }
    Err(AuthError::rejected(
        Reason::GroupsMalformed,
        format!(
            "Google lists more than {} groups for the user",
            MAX_PAGES * PAGE_SIZE
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_names_the_member_and_refuses_what_could_rewrite_it() {
        assert_eq!(
            query("alice@example.com").unwrap(),
            "member_key_id == 'alice@example.com' && \
             'cloudidentity.googleapis.com/groups.discussion_forum' in labels"
        );
        for bad in ["", "a'@x.com", "x' || true || 'y@x.com", "a\\@x.com"] {
            assert!(query(bad).is_err(), "{bad}");
        }
    }
}
