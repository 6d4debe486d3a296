//! Authentication: the client certificate the TLS layer verified (CN user, O groups), or
//! else an `Authorization: Bearer` ServiceAccount token. Every authenticated user also gets
//! system:authenticated. Anonymous requests are refused (401); the health endpoints never
//! reach this module.

use super::subjects::with_authenticated;
use super::{Auth, Identity, service_account};
use crate::api::server::{ApiRequest, User};
use crate::object::time::now_unix;
use crate::status::ApiError;

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub fn authenticate(auth: &Auth, req: &ApiRequest) -> Result<Identity, ApiError> {
    if let Some(user) = &req.user {
        return Ok(Identity::from_user(User {
            name: user.name.clone(),
            groups: with_authenticated(user.groups.clone()),
        }));
    }
    let token = bearer(req.authorization.as_deref()).ok_or_else(ApiError::unauthorized)?;
    let key = auth.key().ok_or_else(ApiError::unauthorized)?;
    let audiences = [super::token::ISSUER.to_owned()];
    service_account::authenticate_token(auth.store(), &key, token, &audiences, now_unix())
        .map(|(identity, _)| identity)
        .map_err(|_| ApiError::unauthorized())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_headers() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }
}
