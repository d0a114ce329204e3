//! The colour theme a visitor chose: the system's (the default), light or dark. Remembered per
//! browser in a cookie, and applied by one small stylesheet whose content depends on it
//! ([`THEME_CSS`], served by `server/src/theme.rs`), so every page, the cached public status
//! pages included, follows the choice without a script and without its HTML varying per visitor.
//! `style/main.css` writes every colour as `light-dark(light, dark)`, so a theme is nothing but
//! a `color-scheme`.

/// The stylesheet that applies the choice; every page links it after the main one.
pub const THEME_CSS: &str = "/theme.css";
/// Where the theme buttons post `theme` (a [`Theme::key`]) to; the answer goes back to the page.
pub const CHOOSE_THEME: &str = "/theme";
/// The cookie that remembers the choice; absent for the system's theme.
pub const THEME_COOKIE: &str = "lookout_theme";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Theme {
    /// Whatever the browser's `prefers-color-scheme` says.
    #[default]
    System,
    Light,
    Dark,
}

impl Theme {
    pub const ALL: [Theme; 3] = [Theme::System, Theme::Light, Theme::Dark];

    pub fn key(self) -> &'static str {
        match self {
            Theme::System => "system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Theme::System => "Theme of the system",
            Theme::Light => "Light theme",
            Theme::Dark => "Dark theme",
        }
    }

    /// The button's face; [`Theme::label`] is its name. Text presentation (U+FE0E), so no
    /// system draws them as coloured emoji.
    pub fn symbol(self) -> &'static str {
        match self {
            Theme::System => "\u{25D0}\u{FE0E}",
            Theme::Light => "\u{2600}\u{FE0E}",
            Theme::Dark => "\u{263E}\u{FE0E}",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|theme| theme.key() == key)
    }

    /// The theme a `Cookie` header's value names; the system's when it names none or another.
    pub fn from_cookies(cookies: &str) -> Self {
        cookies
            .split(';')
            .filter_map(|cookie| cookie.trim().split_once('='))
            .find(|(name, _)| *name == THEME_COOKIE)
            .and_then(|(_, value)| Self::from_key(value.trim()))
            .unwrap_or_default()
    }

    /// What [`THEME_CSS`] holds for this choice: the colour scheme (`html:root` outranks the main
    /// stylesheet's `:root` whatever the order they load in), and the chosen button marked for
    /// the eye (the buttons themselves are the same on every page, which may be a cached one).
    pub fn stylesheet(self) -> String {
        let scheme = match self {
            Theme::System => "",
            Theme::Light => "html:root{color-scheme:light}",
            Theme::Dark => "html:root{color-scheme:dark}",
        };
        format!(
            "{scheme}.theme-choice button[value=\"{}\"]{{background:var(--surface-2);\
             font-weight:700;text-decoration:underline}}\n",
            self.key()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_names_the_theme_and_anything_else_is_the_system_one() {
        assert_eq!(Theme::from_cookies("a=1; lookout_theme=dark"), Theme::Dark);
        assert_eq!(Theme::from_cookies("lookout_theme=light;b=2"), Theme::Light);
        assert_eq!(Theme::from_cookies("lookout_theme=purple"), Theme::System);
        assert_eq!(Theme::from_cookies("xlookout_theme=dark"), Theme::System);
        assert_eq!(Theme::from_cookies(""), Theme::System);
    }

    #[test]
    fn each_stylesheet_sets_its_scheme_and_marks_its_button() {
        assert!(Theme::Dark
            .stylesheet()
            .starts_with("html:root{color-scheme:dark}"));
        assert!(Theme::Light.stylesheet().contains("color-scheme:light"));
        assert!(!Theme::System.stylesheet().contains("color-scheme"));
        assert!(Theme::System.stylesheet().contains("[value=\"system\"]"));
    }
}
