//! Message templates: the built-in ones, or files of `mail.templates_dir` replacing any of them.
//!
//! Placeholders are `{{name}}`; values are HTML-escaped in `.html` templates. A placeholder
//! whose value a message does not have renders empty.

use std::path::Path;

/// The values one message fills in.
#[derive(Default)]
pub(super) struct Values<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub link: &'a str,
    pub expires: &'a str,
    pub serial: &'a str,
    pub account: &'a str,
    /// Only in a key notification, only when `mail.include_activation_code` is set.
    pub activation_code: &'a str,
}

impl Values<'_> {
    fn pairs(&self) -> [(&'static str, &str); 7] {
        [
            ("name", self.name),
            ("email", self.email),
            ("link", self.link),
            ("expires", self.expires),
            ("serial", self.serial),
            ("account", self.account),
            ("activation_code", self.activation_code),
        ]
    }
}

/// Renders `file` from `dir` when it has one, else `default`.
pub(super) fn render(dir: Option<&Path>, file: &str, default: &str, values: &Values<'_>) -> String {
    let template = dir
        .and_then(|dir| std::fs::read_to_string(dir.join(file)).ok())
        .unwrap_or_else(|| default.to_owned());
    let html = Path::new(file).extension().is_some_and(|e| e == "html");
    values.pairs().iter().fold(template, |text, (key, value)| {
        let value = if html {
            escape_html(value)
        } else {
            (*value).to_owned()
        };
        text.replace(&format!("{{{{{key}}}}}"), &value)
    })
}

pub(super) fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) const INVITATION_TXT: &str = "Hello {{name}},\n\nYou are invited to enroll your security key.\nOpen this link (it works once, until {{expires}}):\n\n{{link}}\n\nIf you did not expect this message, ignore it.\n";
pub(super) const INVITATION_HTML: &str = "<p>Hello {{name}},</p><p>You are invited to enroll your security key.</p><p><a href=\"{{link}}\">Open your invitation</a> (it works once, until {{expires}}).</p><p>If you did not expect this message, ignore it.</p>";
pub(super) const KEY_TXT: &str = "Hello {{name}},\n\nThe security key {{serial}} was assigned to you. Your administrator will give you its activation code.\n";
pub(super) const KEY_HTML: &str = "<p>Hello {{name}},</p><p>The security key <b>{{serial}}</b> was assigned to you. Your administrator will give you its activation code.</p>";
/// The key notification when it carries the activation code.
pub(super) const KEY_WITH_CODE_TXT: &str = "Hello {{name}},\n\nThe security key {{serial}} was assigned to you. Its activation code is {{activation_code}}. Keep it to yourself: it activates the key once.\n";
pub(super) const KEY_WITH_CODE_HTML: &str = "<p>Hello {{name}},</p><p>The security key <b>{{serial}}</b> was assigned to you. Its activation code is <b>{{activation_code}}</b>. Keep it to yourself: it activates the key once.</p>";
pub(super) const ROTATED_TXT: &str = "Hello {{name}},\n\nThe password of your domain account {{account}} was changed and is now on your security key. You do not need to know it: sign in with your key.\n\nIf you did not expect this, tell your administrator.\n";
pub(super) const ROTATED_HTML: &str = "<p>Hello {{name}},</p><p>The password of your domain account <b>{{account}}</b> was changed and is now on your security key. You do not need to know it: sign in with your key.</p><p>If you did not expect this, tell your administrator.</p>";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_values_are_escaped_and_missing_values_render_empty() {
        let values = Values {
            name: "Ada <&> \"L\"",
            serial: "ST-1",
            ..Values::default()
        };
        let text = render(
            None,
            "key_assigned.txt",
            "{{name}} {{serial}} [{{activation_code}}]",
            &values,
        );
        assert_eq!(text, "Ada <&> \"L\" ST-1 []");
        let html = render(None, "key_assigned.html", "{{name}}", &values);
        assert_eq!(html, "Ada &lt;&amp;&gt; &quot;L&quot;");
    }

    #[test]
    fn a_file_in_the_templates_dir_replaces_the_built_in_template() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("invitation.txt"), "Hi {{name}}: {{link}}").unwrap();
        let values = Values {
            name: "Ada",
            link: "https://x/enroll/t",
            ..Values::default()
        };
        let custom = render(Some(dir.path()), "invitation.txt", INVITATION_TXT, &values);
        assert_eq!(custom, "Hi Ada: https://x/enroll/t");
        let built_in = render(
            Some(dir.path()),
            "invitation.html",
            INVITATION_HTML,
            &values,
        );
        assert!(built_in.contains("Open your invitation"), "{built_in}");
    }
}
