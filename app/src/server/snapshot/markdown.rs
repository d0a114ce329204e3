//! A text block's Markdown as HTML fit for a public page: whoever wrote it, the HTML it becomes
//! runs nothing, loads nothing and links only where a visitor can see it leads.
//!
//! - Raw HTML is shown as the text it is, never passed through.
//! - Links keep `http`, `https` and `mailto` targets and relative ones; any other scheme
//!   (`javascript:`, `data:`, ...) leaves the link's words without the link. Kept links open
//!   without passing on the page or a handle to it (`rel="nofollow noopener noreferrer"`).
//! - Images become their alt text: a public page loads nothing from elsewhere (its
//!   Content-Security-Policy would refuse it anyway), and a visitor is not tracked by a pixel.
//! - Headings start at `h3`, under the page's `h1` and the widget's own `h2`.

use crate::domain::wording::xml_escape;
use pulldown_cmark::{html, CowStr, Event, HeadingLevel, LinkType, Options, Parser, Tag, TagEnd};

/// `markdown` as HTML; CommonMark with strikethrough, nothing else switched on.
pub fn to_html(markdown: &str) -> String {
    // For each link open: whether its `<a>` was written, so its end writes `</a>` or nothing.
    let mut links: Vec<bool> = Vec::new();
    let events = Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH).filter_map(|event| {
        Some(match event {
            Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
            // A block of raw HTML is shown as a paragraph of its text.
            Event::Start(Tag::HtmlBlock) => Event::Start(Tag::Paragraph),
            Event::End(TagEnd::HtmlBlock) => Event::End(TagEnd::Paragraph),
            Event::Start(Tag::Heading { level, .. }) => Event::Start(Tag::Heading {
                level: under_widget(level),
                id: None,
                classes: Vec::new(),
                attrs: Vec::new(),
            }),
            Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(under_widget(level))),
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                ..
            }) => {
                let href = match link_type {
                    LinkType::Email => Some(format!("mailto:{dest_url}")),
                    _ => Some(dest_url.into_string()),
                }
                .filter(|href| is_safe_href(href));
                links.push(href.is_some());
                let href = href?;
                Event::InlineHtml(CowStr::from(format!(
                    "<a href=\"{}\" rel=\"nofollow noopener noreferrer\">",
                    xml_escape(&href)
                )))
            }
            Event::End(TagEnd::Link) => {
                links.pop().filter(|written| *written)?;
                Event::InlineHtml(CowStr::Borrowed("</a>"))
            }
            // The alt text between them flows on as text.
            Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => return None,
            other => other,
        })
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

fn under_widget(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H3,
        HeadingLevel::H2 => HeadingLevel::H4,
        HeadingLevel::H3 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    }
}

/// Whether a link may lead there: `http:`, `https:` or `mailto:`, or no scheme at all (a path,
/// a fragment, a query, or `//host/...`, which keeps the page's own scheme).
fn is_safe_href(href: &str) -> bool {
    // Browsers drop tabs and line breaks inside a URL (`java\tscript:` is `javascript:`), and
    // other control characters have no place in a link either.
    if href.chars().any(char::is_control) {
        return false;
    }
    let scheme_end = href.find(':');
    let path_start = href.find(['/', '?', '#']);
    match (scheme_end, path_start) {
        (None, _) => true,
        (Some(colon), Some(path)) if path < colon => true,
        (Some(colon), _) => {
            let scheme = href[..colon].trim().to_ascii_lowercase();
            matches!(scheme.as_str(), "http" | "https" | "mailto")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_markdown_becomes_its_html_with_headings_under_the_widgets() {
        assert_eq!(
            to_html("# Plant\n\nAll *fine*, **really**; ~~not~~ `code`.\n\n- one\n- two\n"),
            "<h3>Plant</h3>\n<p>All <em>fine</em>, <strong>really</strong>; <del>not</del> \
             <code>code</code>.</p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"
        );
        assert_eq!(to_html("###### deep"), "<h6>deep</h6>\n");
    }

    #[test]
    fn raw_html_is_shown_as_text_never_passed_through() {
        assert_eq!(
            to_html("Hi <script>alert(1)</script> there"),
            "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt; there</p>\n"
        );
        let block = to_html("<div onclick=\"x()\">\n<img src=x onerror=y>\n</div>");
        assert!(!block.contains("<div"), "{block}");
        assert!(
            block.starts_with("<p>&lt;div onclick=\"x()\"&gt;"),
            "{block}"
        );
        assert!(!block.contains("<img"), "{block}");
    }

    #[test]
    fn links_keep_safe_targets_only_and_open_without_passing_the_page_on() {
        assert_eq!(
            to_html("[docs](https://example.org/a?b=1&c=\"2\")"),
            "<p><a href=\"https://example.org/a?b=1&amp;c=&quot;2&quot;\" \
             rel=\"nofollow noopener noreferrer\">docs</a></p>\n"
        );
        assert_eq!(
            to_html("<ops@example.org>"),
            "<p><a href=\"mailto:ops@example.org\" rel=\"nofollow noopener noreferrer\">\
             ops@example.org</a></p>\n"
        );
        for relative in [
            "/status/plant",
            "#w-1",
            "?page=2",
            "other",
            "//example.org/x",
        ] {
            assert!(
                to_html(&format!("[x]({relative})")).contains("<a href="),
                "{relative}"
            );
        }
        for unsafe_target in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "java&#9;script:alert(1)",
            "data:text/html;base64,PGI+",
            "vbscript:x",
            "file:///etc/passwd",
        ] {
            let html = to_html(&format!("[click **me**]({unsafe_target}) after"));
            assert_eq!(
                html, "<p>click <strong>me</strong> after</p>\n",
                "{unsafe_target}"
            );
        }
        // A link's end closes only the link that was written, with links nested by reference.
        assert_eq!(
            to_html("[a](javascript:x) [b](https://b.example)"),
            "<p>a <a href=\"https://b.example\" rel=\"nofollow noopener noreferrer\">b</a></p>\n"
        );
    }

    #[test]
    fn images_become_their_alt_text() {
        assert_eq!(
            to_html("![the pump](https://tracker.example/p.png) runs"),
            "<p>the pump runs</p>\n"
        );
    }
}
