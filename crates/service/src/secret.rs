//! `Secret<T>`: a value that must not reach logs or panic messages (passwords, PINs,
//! keys). Its `Debug` prints `Secret(***)`, so a request struct can keep deriving
//! `Debug`; reading the value takes an explicit [`Secret::expose`], which is easy to
//! find in review. It deserializes exactly as `T` does (the JSON is unchanged) and
//! deliberately does not implement `Serialize` or `Display`.

use serde::Deserialize;

#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The secret itself: only where it is checked, hashed or passed on.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// The secret itself, by value.
    pub fn into_exposed(self) -> T {
        self.0
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret<String> {
    fn from(s: String) -> Secret<String> {
        Secret(s)
    }
}

impl From<&str> for Secret<String> {
    fn from(s: &str) -> Secret<String> {
        Secret(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_and_json_is_read_as_the_value() {
        let s: Secret<String> = serde_json::from_str("\"hunter2-pass\"").unwrap_or_default();
        assert_eq!(s.expose(), "hunter2-pass");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert!(!format!("{:?}", Some(&s)).contains("hunter2"));
        let key = Secret::new([7u8; 32]);
        assert_eq!(format!("{key:?}"), "Secret(***)");
    }
}
