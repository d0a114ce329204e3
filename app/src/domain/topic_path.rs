//! The address of a topic's page, and the way back from an address to its topic. Topic names may
//! hold any character, so both directions are spelled out here rather than left to URL parsers.

use std::fmt::Write;

/// The path of a topic's page: each level percent-encoded, levels joined by `/`. A `/` next to
/// an empty, `.` or `..` level is encoded too (`%2F`): URL parsers would otherwise merge double
/// slashes or resolve dot segments and so open another topic.
pub fn topic_path(name: &str) -> String {
    let plain = |level: &str| !matches!(level, "" | "." | "..");
    let mut path = String::from("/topic/");
    let mut previous: Option<&str> = None;
    for level in name.split('/') {
        if let Some(previous) = previous {
            path.push_str(if plain(previous) && plain(level) {
                "/"
            } else {
                "%2F"
            });
        }
        for byte in level.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                path.push(char::from(byte));
            } else {
                let _ = write!(path, "%{byte:02X}");
            }
        }
        previous = Some(level);
    }
    path
}

/// The topic of a page path, [`topic_path`] undone. Pages read it from the location rather than
/// from the route's params: leptos_router 0.8 percent-decodes params once more than the path was
/// encoded, which changes names holding `%` (`50%41` would become `50A`).
pub fn topic_of_path(path: &str) -> Option<String> {
    let encoded = path.strip_prefix("/topic/")?.as_bytes();
    let hex = |byte: Option<&u8>| byte.and_then(|b| char::from(*b).to_digit(16));
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut index = 0;
    while index < encoded.len() {
        match (
            encoded[index],
            hex(encoded.get(index + 1)),
            hex(encoded.get(index + 2)),
        ) {
            (b'%', Some(high), Some(low)) => {
                bytes.push((high * 16 + low) as u8);
                index += 3;
            }
            (byte, _, _) => {
                bytes.push(byte);
                index += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// `rel` for links to a topic's page. In the browser, leptos_router decodes a followed link's
/// path once more than the server does, which changes names holding `%`, `\` or control
/// characters (`a%41` would open `aA`); such links load the page from the server instead.
pub fn topic_link_rel(name: &str) -> Option<&'static str> {
    name.chars()
        .any(|c| c == '%' || c == '\\' || c.is_control())
        .then_some("external")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_paths_encode_each_level_and_keep_the_separators() {
        assert_eq!(topic_path("plant/boiler/temp"), "/topic/plant/boiler/temp");
        assert_eq!(
            topic_path("a b/50%/#/+/é"),
            "/topic/a%20b/50%25/%23/%2B/%C3%A9"
        );
        assert_eq!(topic_path("a?x=1&y"), "/topic/a%3Fx%3D1%26y");
    }

    #[test]
    fn slashes_around_empty_and_dot_levels_are_encoded() {
        assert_eq!(topic_path("/a"), "/topic/%2Fa");
        assert_eq!(topic_path("a//b"), "/topic/a%2F%2Fb");
        assert_eq!(topic_path("a/"), "/topic/a%2F");
        assert_eq!(topic_path("a/../b/./c"), "/topic/a%2F..%2Fb%2F.%2Fc");
    }

    #[test]
    fn a_path_gives_back_its_topic() {
        for name in [
            "plant/boiler/temp",
            "a b/50%41/100%/é °C",
            "/lead//empty/",
            "a/../b/./c",
            "q?x=1&y#z+",
        ] {
            assert_eq!(topic_of_path(&topic_path(name)).as_deref(), Some(name));
        }
        assert_eq!(topic_of_path("/topic/a%2"), Some("a%2".to_owned()));
        assert_eq!(topic_of_path("/topics/a"), None);
    }

    #[test]
    fn only_names_the_browser_router_would_change_load_from_the_server() {
        assert_eq!(topic_link_rel("plant/é #+ x"), None);
        assert_eq!(topic_link_rel("50%41"), Some("external"));
        assert_eq!(topic_link_rel("a\\b"), Some("external"));
    }
}
