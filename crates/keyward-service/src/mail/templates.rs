//! Message templates: the built-in ones, or files of `mail.templates_dir` replacing any of them,
//! rendered by minijinja (Jinja syntax: `{{ name }}`, `{% if activation_code %}…{% endif %}`).
//!
//! The templates are loaded and checked once ([`Templates::load`]): each is compiled, may use
//! only the placeholders of [`PLACEHOLDERS`], and is rendered with sample values. A broken file
//! is an error naming the file, the line and the problem, never a silent fallback to the built-in
//! template. Values are HTML-escaped in the `.html` templates (minijinja's auto-escape by file
//! extension); an unknown placeholder is an error (`UndefinedBehavior::Strict`). Every
//! placeholder is defined in every message, empty where the message has no value for it, so a
//! template may test one with `{% if %}`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};

use crate::{Error, Result};

/// The placeholders a template may use.
const PLACEHOLDERS: [&str; 7] = [
    "name",
    "email",
    "link",
    "expires",
    "serial",
    "account",
    "activation_code",
];

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
    fn context(&self) -> minijinja::Value {
        minijinja::context! {
            name => self.name,
            email => self.email,
            link => self.link,
            expires => self.expires,
            serial => self.serial,
            account => self.account,
            activation_code => self.activation_code,
        }
    }
}

/// Values for the check at load: every placeholder set, so that `{% if %}` branches on them
/// are rendered too.
const SAMPLE: Values<'static> = Values {
    name: "Ada Lovelace <ada>",
    email: "ada@example.com",
    link: "https://keyward.example.com/enroll/sample",
    expires: "2030-01-31 12:00 UTC",
    serial: "HK-0001",
    account: "corp1/ada",
    activation_code: "12345678",
};

/// One template a message uses: the name it is rendered by, the file in `mail.templates_dir`
/// that replaces it, and the built-in text.
struct Entry {
    name: &'static str,
    file: &'static str,
    built_in: &'static str,
}

/// Every template. The key notification has two built-in texts, with and without the code; a
/// `key_assigned.*` file replaces both.
const ENTRIES: [Entry; 8] = [
    Entry {
        name: INVITATION_TXT,
        file: INVITATION_TXT,
        built_in: BUILT_IN_INVITATION_TXT,
    },
    Entry {
        name: INVITATION_HTML,
        file: INVITATION_HTML,
        built_in: BUILT_IN_INVITATION_HTML,
    },
    Entry {
        name: KEY_TXT,
        file: KEY_TXT,
        built_in: BUILT_IN_KEY_TXT,
    },
    Entry {
        name: KEY_HTML,
        file: KEY_HTML,
        built_in: BUILT_IN_KEY_HTML,
    },
    Entry {
        name: KEY_WITH_CODE_TXT,
        file: KEY_TXT,
        built_in: BUILT_IN_KEY_WITH_CODE_TXT,
    },
    Entry {
        name: KEY_WITH_CODE_HTML,
        file: KEY_HTML,
        built_in: BUILT_IN_KEY_WITH_CODE_HTML,
    },
    Entry {
        name: ROTATED_TXT,
        file: ROTATED_TXT,
        built_in: BUILT_IN_ROTATED_TXT,
    },
    Entry {
        name: ROTATED_HTML,
        file: ROTATED_HTML,
        built_in: BUILT_IN_ROTATED_HTML,
    },
];

/// The files `mail.templates_dir` may hold.
const FILES: [&str; 6] = [
    INVITATION_TXT,
    INVITATION_HTML,
    KEY_TXT,
    KEY_HTML,
    ROTATED_TXT,
    ROTATED_HTML,
];

pub(super) const INVITATION_TXT: &str = "invitation.txt";
pub(super) const INVITATION_HTML: &str = "invitation.html";
pub(super) const KEY_TXT: &str = "key_assigned.txt";
pub(super) const KEY_HTML: &str = "key_assigned.html";
/// The names of the built-in key notification that carries the code (a `key_assigned.*` file
/// replaces these too). The extension decides the escaping.
pub(super) const KEY_WITH_CODE_TXT: &str = "key_assigned+code.txt";
pub(super) const KEY_WITH_CODE_HTML: &str = "key_assigned+code.html";
pub(super) const ROTATED_TXT: &str = "password_rotated.txt";
pub(super) const ROTATED_HTML: &str = "password_rotated.html";

/// The templates, compiled and checked.
pub(crate) struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Templates {
    /// Loads the built-in templates and the files of `dir` that replace them, and checks every
    /// one. Each problem is one line naming the file; all of them are returned, not only the
    /// first.
    pub(crate) fn load(dir: Option<&Path>) -> std::result::Result<Self, Vec<String>> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // A text template's last line break is part of the message.
        env.set_keep_trailing_newline(true);
        let mut problems = Vec::new();
        if let Some(dir) = dir {
            problems.extend(unused_files(dir));
        }
        for entry in &ENTRIES {
            // A file that replaces two built-in texts is checked twice and reported once.
            let second_use = entry.name != entry.file;
            let (origin, source) = match dir.map(|dir| dir.join(entry.file)) {
                Some(path) => match std::fs::read_to_string(&path) {
                    Ok(text) => (Origin::File(path), text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        (Origin::BuiltIn(entry.file), entry.built_in.to_owned())
                    }
                    Err(e) => {
                        if !second_use {
                            problems.push(format!(
                                "mail template {}: cannot read: {e}",
                                path.display()
                            ));
                        }
                        continue;
                    }
                },
                None => (Origin::BuiltIn(entry.file), entry.built_in.to_owned()),
            };
            let from_file = matches!(origin, Origin::File(_));
            if let Err(problem) = add_checked(&mut env, entry.name, source, &origin)
                && !(second_use && from_file)
            {
                problems.push(problem);
            }
        }
        if problems.is_empty() {
            Ok(Self { env })
        } else {
            Err(problems)
        }
    }

    /// Renders the template `name` with `values`.
    pub(super) fn render(&self, name: &str, values: &Values<'_>) -> Result<String> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(values.context()))
            .map_err(|e| Error::Internal {
                source: format!("mail template {name}: {}", one_line(&e)).into(),
            })
    }
}

/// Where a template's text came from, for messages.
enum Origin {
    BuiltIn(&'static str),
    File(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BuiltIn(file) => write!(f, "built-in mail template {file}"),
            Self::File(path) => write!(f, "mail template {}", path.display()),
        }
    }
}

/// Compiles `source` as `name`, refuses a placeholder that is not one of [`PLACEHOLDERS`] (in
/// any branch), and renders it with sample values.
fn add_checked(
    env: &mut Environment<'static>,
    name: &'static str,
    source: String,
    origin: &Origin,
) -> std::result::Result<(), String> {
    env.add_template_owned(name, source)
        .map_err(|e| format!("{origin}: {}", one_line(&e)))?;
    let template = env
        .get_template(name)
        .map_err(|e| format!("{origin}: {}", one_line(&e)))?;
    // Functions such as `range` are globals, not placeholders.
    let globals: BTreeSet<&str> = env.globals().map(|(name, _)| name).collect();
    let unknown: BTreeSet<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !PLACEHOLDERS.contains(&v.as_str()) && !globals.contains(v.as_str()))
        .collect();
    let rendered = template.render(SAMPLE.context());
    if !unknown.is_empty() {
        // The strict render names the line of the first one, when the sample values reach it.
        let line = rendered
            .err()
            .and_then(|e| e.line())
            .map_or_else(String::new, |line| format!("line {line}: "));
        return Err(format!(
            "{origin}: {line}unknown placeholder {} (known: {})",
            unknown
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", "),
            PLACEHOLDERS.join(", ")
        ));
    }
    rendered.map_err(|e| format!("{origin}: {}", one_line(&e)))?;
    Ok(())
}

/// `.txt` and `.html` files of `dir` that no message uses (a misspelt name would otherwise be
/// ignored and the built-in template sent), and a `dir` that cannot be listed.
fn unused_files(dir: &Path) -> Vec<String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            return vec![format!(
                "key `mail.templates_dir`: cannot read the directory {}: {e}",
                dir.display()
            )];
        }
    };
    let mut unused: Vec<String> = entries
        .filter_map(std::result::Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| {
            let ext = Path::new(name).extension().and_then(|e| e.to_str());
            matches!(ext, Some("txt" | "html")) && !FILES.contains(&name.as_str())
        })
        .collect();
    unused.sort();
    unused
        .into_iter()
        .map(|name| {
            format!(
                "mail template {}: not a template keyward uses (the templates are {})",
                dir.join(&name).display(),
                FILES.join(", ")
            )
        })
        .collect()
}

/// minijinja's error in one line: where (line) and what, without the template's name (the
/// caller names the file).
fn one_line(e: &minijinja::Error) -> String {
    let what = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    match e.line() {
        Some(line) => format!("line {line}: {what}"),
        None => what,
    }
}

const BUILT_IN_INVITATION_TXT: &str = "Hello {{name}},\n\nYou are invited to enroll your security key.\nOpen this link (it works once, until {{expires}}):\n\n{{link}}\n\nIf you did not expect this message, ignore it.\n";
const BUILT_IN_INVITATION_HTML: &str = "<p>Hello {{name}},</p><p>You are invited to enroll your security key.</p><p><a href=\"{{link}}\">Open your invitation</a> (it works once, until {{expires}}).</p><p>If you did not expect this message, ignore it.</p>";
const BUILT_IN_KEY_TXT: &str = "Hello {{name}},\n\nThe security key {{serial}} was assigned to you. Your administrator will give you its activation code.\n";
const BUILT_IN_KEY_HTML: &str = "<p>Hello {{name}},</p><p>The security key <b>{{serial}}</b> was assigned to you. Your administrator will give you its activation code.</p>";
/// The key notification when it carries the activation code.
const BUILT_IN_KEY_WITH_CODE_TXT: &str = "Hello {{name}},\n\nThe security key {{serial}} was assigned to you. Its activation code is {{activation_code}}. Keep it to yourself: it activates the key once.\n";
const BUILT_IN_KEY_WITH_CODE_HTML: &str = "<p>Hello {{name}},</p><p>The security key <b>{{serial}}</b> was assigned to you. Its activation code is <b>{{activation_code}}</b>. Keep it to yourself: it activates the key once.</p>";
const BUILT_IN_ROTATED_TXT: &str = "Hello {{name}},\n\nThe password of your domain account {{account}} was changed and is now on your security key. You do not need to know it: sign in with your key.\n\nIf you did not expect this, tell your administrator.\n";
const BUILT_IN_ROTATED_HTML: &str = "<p>Hello {{name}},</p><p>The password of your domain account <b>{{account}}</b> was changed and is now on your security key. You do not need to know it: sign in with your key.</p><p>If you did not expect this, tell your administrator.</p>";

/// The loaded templates of an installation, read on first use (the server loads them at start,
/// so that a broken file stops it there) and kept; shared by the clones of a `Keyward`.
#[derive(Clone, Default)]
pub(crate) struct TemplatesCell(std::sync::Arc<std::sync::OnceLock<std::sync::Arc<Templates>>>);

impl TemplatesCell {
    /// The templates of `dir`, loaded and checked on the first call. A problem is a
    /// configuration error listing every broken file, on one line.
    pub(crate) fn get(&self, dir: Option<&Path>) -> Result<std::sync::Arc<Templates>> {
        if let Some(loaded) = self.0.get() {
            return Ok(loaded.clone());
        }
        let loaded = std::sync::Arc::new(
            Templates::load(dir).map_err(|problems| Error::Config(problems.join("; ")))?,
        );
        Ok(self.0.get_or_init(|| loaded).clone())
    }
}

impl std::fmt::Debug for TemplatesCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TemplatesCell")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(dir: Option<&Path>) -> Templates {
        Templates::load(dir).unwrap_or_else(|problems| panic!("{problems:?}"))
    }

    fn refused(dir: &Path) -> Vec<String> {
        match Templates::load(Some(dir)) {
            Ok(_) => panic!("{} was accepted", dir.display()),
            Err(problems) => problems,
        }
    }

    fn templates_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn the_built_in_templates_render_as_before() {
        let t = loaded(None);
        let values = Values {
            name: "Ada",
            serial: "ST-1",
            ..Values::default()
        };
        assert_eq!(
            t.render(KEY_TXT, &values).unwrap(),
            "Hello Ada,\n\nThe security key ST-1 was assigned to you. Your administrator will \
             give you its activation code.\n"
        );
        let with_code = Values {
            activation_code: "12345678",
            ..values
        };
        assert!(
            t.render(KEY_WITH_CODE_HTML, &with_code)
                .unwrap()
                .contains("<b>12345678</b>")
        );
    }

    #[test]
    fn html_values_are_escaped_and_text_values_are_not() {
        let dir = templates_dir(&[
            (KEY_TXT, "{{name}} {{serial}} [{{activation_code}}]"),
            (KEY_HTML, "<p>{{ name }} &amp; {{serial}}</p>"),
        ]);
        let t = loaded(Some(dir.path()));
        let values = Values {
            name: "Ada <&> \"L\"",
            serial: "ST-1",
            ..Values::default()
        };
        assert_eq!(
            t.render(KEY_TXT, &values).unwrap(),
            "Ada <&> \"L\" ST-1 []",
            "a value the message lacks is empty"
        );
        assert_eq!(
            t.render(KEY_HTML, &values).unwrap(),
            "<p>Ada &lt;&amp;&gt; &quot;L&quot; &amp; ST-1</p>"
        );
        // One `key_assigned` file replaces both built-in texts.
        assert_eq!(
            t.render(KEY_WITH_CODE_TXT, &values).unwrap(),
            "Ada <&> \"L\" ST-1 []"
        );
    }

    #[test]
    fn a_file_in_the_templates_dir_replaces_only_its_built_in_template() {
        let dir = templates_dir(&[(INVITATION_TXT, "Hi {{name}}: {{link}}\n")]);
        let t = loaded(Some(dir.path()));
        let values = Values {
            name: "Ada",
            link: "https://x/enroll/t",
            ..Values::default()
        };
        assert_eq!(
            t.render(INVITATION_TXT, &values).unwrap(),
            "Hi Ada: https://x/enroll/t\n"
        );
        let built_in = t.render(INVITATION_HTML, &values).unwrap();
        assert!(built_in.contains("Open your invitation"), "{built_in}");
    }

    #[test]
    fn a_template_may_test_a_placeholder() {
        let dir = templates_dir(&[(
            KEY_TXT,
            "Key {{serial}}.{% if activation_code %} Code: {{activation_code}}.{% endif %}",
        )]);
        let t = loaded(Some(dir.path()));
        let values = Values {
            serial: "ST-1",
            ..Values::default()
        };
        assert_eq!(t.render(KEY_TXT, &values).unwrap(), "Key ST-1.");
        let with_code = Values {
            activation_code: "42",
            ..values
        };
        assert_eq!(
            t.render(KEY_WITH_CODE_TXT, &with_code).unwrap(),
            "Key ST-1. Code: 42."
        );
    }

    #[test]
    fn an_unknown_placeholder_is_an_error_naming_file_and_line() {
        let dir = templates_dir(&[(INVITATION_HTML, "<p>Hello</p>\n<p>{{ nmae }}</p>")]);
        let problems = refused(dir.path());
        assert_eq!(problems.len(), 1, "{problems:?}");
        let path = dir.path().join(INVITATION_HTML).display().to_string();
        assert!(
            problems[0].starts_with(&format!("mail template {path}: line 2: ")),
            "{problems:?}"
        );
        assert!(
            problems[0].contains("unknown placeholder `nmae`"),
            "{problems:?}"
        );
        // In a branch the sample values do not take, it is still found.
        let dir = templates_dir(&[(
            ROTATED_TXT,
            "{% if not account %}{{ acount }}{% endif %}{{ account }}",
        )]);
        let problems = refused(dir.path());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("unknown placeholder `acount`")
                && problems[0].contains("known: name, email"),
            "{problems:?}"
        );
    }

    #[test]
    fn every_broken_file_is_reported_once() {
        let dir = templates_dir(&[
            (KEY_TXT, "Hello {{ name }"),
            (KEY_HTML, "{% if serial %}no end"),
            (ROTATED_TXT, "{{ account | no_such_filter }}"),
            ("invitaton.txt", "misspelt"),
            ("notes.md", "not a template, ignored"),
        ]);
        let problems = refused(dir.path());
        assert_eq!(problems.len(), 4, "{problems:#?}");
        let has = |file: &str, what: &str| {
            problems.iter().any(|p| {
                p.contains(&dir.path().join(file).display().to_string()) && p.contains(what)
            })
        };
        assert!(
            has("invitaton.txt", "not a template keyward uses"),
            "{problems:#?}"
        );
        assert!(has(KEY_TXT, "line 1: syntax error"), "{problems:#?}");
        assert!(has(KEY_HTML, "syntax error"), "{problems:#?}");
        assert!(has(ROTATED_TXT, "no_such_filter"), "{problems:#?}");
        assert!(problems.iter().all(|p| !p.contains('\n')), "{problems:#?}");
    }

    #[test]
    fn a_templates_dir_that_cannot_be_read_is_an_error() {
        let problems = refused(Path::new("/nonexistent/keyward-templates"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("mail.templates_dir")
                && problems[0].contains("/nonexistent/keyward-templates"),
            "{problems:?}"
        );
    }

    #[test]
    fn the_cell_loads_once_and_reports_problems_on_one_line() {
        let cell = TemplatesCell::default();
        let dir = templates_dir(&[(KEY_TXT, "{{ x }}"), (ROTATED_TXT, "{{ y }}")]);
        let err = cell.get(Some(dir.path())).unwrap_err().to_string();
        assert!(
            err.starts_with("configuration error: ")
                && err.contains(KEY_TXT)
                && err.contains(ROTATED_TXT)
                && !err.contains('\n'),
            "{err}"
        );
        let good = templates_dir(&[]);
        let first = cell.get(Some(good.path())).unwrap();
        let again = cell.get(None).unwrap();
        assert!(std::sync::Arc::ptr_eq(&first, &again));
    }
}
