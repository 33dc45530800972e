//! Which database `--db` names: a SQLite file path, or a PostgreSQL URL.

use std::path::{Path, PathBuf};

/// Where the store lives. `--db` / `FLEETCOMPAT_DB` take either form.
#[derive(Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// A SQLite database file (created if missing), or `:memory:`.
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL, as libpq and sqlx read it (a unix socket folder as
    /// `?host=/run/postgresql`).
    Postgres(String),
}

impl DbTarget {
    /// A `postgres://` or `postgresql://` URL is PostgreSQL; anything else is a SQLite file
    /// path, taken as is (a path may hold `?` or `#`: it is never parsed as a URL).
    pub fn parse(db: &Path) -> Self {
        match db.to_str() {
            Some(s) if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
                Self::Postgres(s.to_owned())
            }
            _ => Self::Sqlite(db.to_owned()),
        }
    }

    /// The target for messages and logs: a URL without its password.
    pub fn shown(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres(url) => redact(url),
        }
    }
}

impl std::fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

impl std::fmt::Display for DbTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`: the userinfo is what
/// precedes the first `@` of the authority (RFC 3986 section 3.2).
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_postgres_and_everything_else_a_path() {
        assert_eq!(
            DbTarget::parse(Path::new("postgresql://u@h/db")),
            DbTarget::Postgres("postgresql://u@h/db".into())
        );
        assert_eq!(
            DbTarget::parse(Path::new("dir/a?b#c.db")),
            DbTarget::Sqlite(PathBuf::from("dir/a?b#c.db"))
        );
        assert_eq!(
            DbTarget::parse(Path::new("sqlite://x.db")),
            DbTarget::Sqlite(PathBuf::from("sqlite://x.db"))
        );
    }

    #[test]
    fn passwords_are_not_shown() {
        let t = DbTarget::parse(Path::new(
            "postgres://fleet:s3cret@db.example:5432/fleet?x=1",
        ));
        assert_eq!(t.shown(), "postgres://fleet:***@db.example:5432/fleet?x=1");
        assert!(!format!("{t:?}").contains("s3cret"));
        let t = DbTarget::parse(Path::new("postgres://fleet@/fleet?host=/run/postgresql"));
        assert_eq!(t.shown(), "postgres://fleet@/fleet?host=/run/postgresql");
    }
}
