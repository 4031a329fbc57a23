//! Groups from the provider: read from a configured claim (OpenID
//! providers) or built from organisations and teams (GitHub), bounded, and
//! checked against a provider's allow-list so a login can be refused before
//! any session exists.
//!
//! A group list is refused, never trimmed: dropping the groups past a limit
//! would silently change what a user may reach.

use crate::domain::error::AuthError;
use common::reason::Reason;
use serde_json::Value;

/// The most groups a user may carry. Every gateway request forwards them
/// (`X-Auth-Groups`), so the bound keeps headers and session records small;
/// Entra ID puts at most 200 in a token for the same reason.
pub const MAX_GROUPS: usize = 256;

/// The longest group name, in bytes.
pub const MAX_GROUP_BYTES: usize = 256;

fn malformed(detail: String) -> AuthError {
    AuthError::rejected(Reason::GroupsMalformed, detail)
}

/// The groups in claim `name`: `None` when the claim is absent (or null),
/// its strings when it is a flat list of strings, a rejection otherwise.
pub(crate) fn from_claim(
    name: &str,
    value: Option<&Value>,
) -> Result<Option<Vec<String>>, AuthError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(malformed(format!(
                "the provider's {name:?} claim is not a list of strings"
            )));
        }
    };
    let names = items
        .iter()
        .map(|item| item.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| malformed(format!("the provider's {name:?} claim holds a non-string")))?;
    checked(names).map(Some)
}

/// The groups, without duplicates (first occurrence kept), if they are
/// within [`MAX_GROUPS`] and each is 1 to [`MAX_GROUP_BYTES`] bytes.
pub(crate) fn checked(names: Vec<String>) -> Result<Vec<String>, AuthError> {
    let mut groups: Vec<String> = Vec::with_capacity(names.len().min(MAX_GROUPS));
    for name in names {
        if name.is_empty() || name.len() > MAX_GROUP_BYTES {
            return Err(malformed(format!(
                "the provider reports a group name that is empty or longer than {MAX_GROUP_BYTES} bytes"
            )));
        }
        if !groups.contains(&name) {
            groups.push(name);
        }
        if groups.len() > MAX_GROUPS {
            return Err(malformed(format!(
                "the provider reports more than {MAX_GROUPS} groups for the user"
            )));
        }
    }
    Ok(groups)
}

/// Refuses the login unless `allowed` is empty or the user is in one of its
/// groups (exact match); `what` names the list for the message.
pub(crate) fn require_allowed(
    allowed: &[String],
    groups: &[String],
    what: &str,
) -> Result<(), AuthError> {
    if allowed.is_empty() || allowed.iter().any(|a| groups.contains(a)) {
        Ok(())
    } else {
        Err(AuthError::rejected(
            Reason::GroupNotAllowed,
            format!("the user is in none of the provider's {what}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(e: AuthError) -> &'static str {
        match e {
            AuthError::TokenRejected(r) => r.code.code(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_claim_is_a_flat_list_of_strings_or_absent() {
        assert_eq!(from_claim("groups", None).unwrap(), None);
        assert_eq!(from_claim("groups", Some(&Value::Null)).unwrap(), None);
        assert_eq!(
            from_claim("groups", Some(&json!(["a", "b", "a"]))).unwrap(),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(
            from_claim("groups", Some(&json!([]))).unwrap(),
            Some(Vec::new())
        );
        for bad in [
            json!("admins"),
            json!({"admins": true}),
            json!(["a", 1]),
            json!([["nested"]]),
            json!(true),
        ] {
            let e = from_claim("groups", Some(&bad)).unwrap_err();
            assert_eq!(code(e), "groups_malformed", "{bad}");
        }
    }

    #[test]
    fn limits_refuse_rather_than_trim() {
        let at_limit: Vec<String> = (0..MAX_GROUPS).map(|i| format!("g{i}")).collect();
        assert_eq!(checked(at_limit.clone()).unwrap().len(), MAX_GROUPS);
        let mut over = at_limit.clone();
        over.push("one-more".into());
        assert_eq!(code(checked(over).unwrap_err()), "groups_malformed");
        // Duplicates do not count toward the limit.
        let mut repeated = at_limit;
        repeated.push("g0".into());
        assert_eq!(checked(repeated).unwrap().len(), MAX_GROUPS);
        assert!(checked(vec!["x".repeat(MAX_GROUP_BYTES)]).is_ok());
        for bad in ["x".repeat(MAX_GROUP_BYTES + 1), String::new()] {
            assert_eq!(code(checked(vec![bad]).unwrap_err()), "groups_malformed");
        }
    }

    #[test]
    fn an_allow_list_needs_one_exact_match() {
        let groups = vec!["staff".to_owned(), "admins".to_owned()];
        assert!(require_allowed(&[], &groups, "groups").is_ok());
        assert!(require_allowed(&[], &[], "groups").is_ok());
        assert!(require_allowed(&["admins".into()], &groups, "groups").is_ok());
        for allowed in [
            vec!["Admins".to_owned()],
            vec!["admin".into()],
            vec!["x".into()],
        ] {
            let e = require_allowed(&allowed, &groups, "allowed_groups").unwrap_err();
            assert_eq!(code(e), "group_not_allowed", "{allowed:?}");
        }
        let e = require_allowed(&["staff".into()], &[], "allowed_groups").unwrap_err();
        assert_eq!(code(e), "group_not_allowed");
    }
}
