//! Prometheus credentials: where they come from (names of environment variables and files in the
//! checklist, never values) and the resolved values, whose Debug output is redacted.

use crate::prometheus::PromApiError;

/// A credential value; its Debug output is redacted so it cannot leak through logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    #[default]
    None,
    Bearer(Secret),
    Basic {
        username: String,
        password: Secret,
    },
}

/// Where credentials come from: names of environment variables and files, never values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthSpec {
    pub token_env: Option<String>,
    pub token_file: Option<String>,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    /// PEM file with the CA that signed Prometheus' certificate.
    pub ca_cert_file: Option<String>,
}

impl AuthSpec {
    /// Reads the credentials from the process environment and the files.
    pub fn resolve(&self) -> Result<(Auth, Option<Vec<u8>>), PromApiError> {
        self.resolve_with(|name| std::env::var(name).ok())
    }

    /// As `resolve`, with the environment given (so tests need not change the process's).
    pub fn resolve_with(&self, env: impl Fn(&str) -> Option<String>) -> Result<(Auth, Option<Vec<u8>>), PromApiError> {
        let var = |name: &str| {
            env(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| PromApiError::Credentials(format!("environment variable {name} is not set or empty")))
        };
        let read =
            |path: &str| std::fs::read(path).map_err(|e| PromApiError::Credentials(format!("cannot read {path}: {e}")));
        let has_token = self.token_env.is_some() || self.token_file.is_some();
        let has_basic = self.username_env.is_some() || self.password_env.is_some();
        if has_token && has_basic {
            return Err(PromApiError::Credentials("give a bearer token or basic auth, not both".into()));
        }
        let auth = match (&self.token_env, &self.token_file, &self.username_env, &self.password_env) {
            (Some(_), Some(_), _, _) => {
                return Err(PromApiError::Credentials("give either token_env or token_file, not both".into()));
            }
            (Some(name), None, _, _) => Auth::Bearer(Secret::new(var(name)?.trim())),
            (None, Some(path), _, _) => {
                let token = String::from_utf8(read(path)?)
                    .map_err(|_| PromApiError::Credentials(format!("token file {path} is not UTF-8")))?;
                let token = token.trim();
                if token.is_empty() {
                    return Err(PromApiError::Credentials(format!("token file {path} is empty")));
                }
                Auth::Bearer(Secret::new(token))
            }
            (None, None, Some(user), Some(pass)) => {
                Auth::Basic { username: var(user)?, password: Secret::new(var(pass)?) }
            }
            (None, None, Some(_), None) | (None, None, None, Some(_)) => {
                return Err(PromApiError::Credentials("basic auth needs both username_env and password_env".into()));
            }
            (None, None, None, None) => Auth::None,
        };
        let ca = self.ca_cert_file.as_deref().map(read).transpose()?;
        Ok((auth, ca))
    }
}
