"""The pages readers see on `digest serve`: one small HTML page in the newsletter's language, a
message and at most a form or two. Every value is escaped; no page holds an address."""

from __future__ import annotations

from html import escape

from werkzeug.wrappers import Response

PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title} · {name}</title>
<style>
body {{ font: 17px/1.5 Georgia, serif; margin: 0; padding: 12vh 1.5rem; color: #1a1a1a;
        background: #faf8f5; }}
main {{ max-width: 32rem; margin: 0 auto; }}
h1 {{ font-size: 1.1rem; text-transform: uppercase; letter-spacing: .08em; color: #6b6258; }}
button {{ font: inherit; padding: .6rem 1.4rem; border: 0; border-radius: 4px; color: #fff;
          background: #9b2c1f; cursor: pointer; }}
label {{ display: block; margin: 0 0 .9rem; }}
input[type=email], input[type=text], select {{ display: block; box-sizing: border-box;
        width: 100%; margin-top: .25rem; padding: .5rem; font: inherit; border: 1px solid #b8ada0;
        border-radius: 4px; background: #fff; color: #1a1a1a; }}
fieldset {{ border: 0; padding: 0; margin: 0 0 .9rem; }}
.choice {{ display: flex; gap: .5rem; align-items: baseline; }}
.trap {{ position: absolute; left: -10000px; width: 1px; height: 1px; overflow: hidden; }}
.quiet {{ font-size: .9rem; color: #6b6258; }}
.quiet button {{ background: #6b6258; }}
@media (prefers-color-scheme: dark) {{ body {{ color: #eee; background: #1c1b1a; }}
        input[type=email], input[type=text], select {{ background: #2a2826; color: #eee; }} }}
</style>
</head>
<body>
<main>
<h1>{name}</h1>
<p>{message}</p>
{form}
</main>
</body>
</html>
"""


def text(value: str) -> str:
    """Text between tags: quotes need no escaping there."""
    return escape(value, quote=False)


def attribute(value: str) -> str:
    return escape(value, quote=True)


def html_page(status: int, *, lang: str, title: str, name: str, message: str,
              form: str = "") -> Response:
    """A page of `message` (plain text; `{newsletter}` becomes the name) and `form` (HTML made
    of escaped values)."""
    name = text(name)
    html = PAGE.format(lang=lang, title=text(title), name=name,
                       message=text(message).replace("{newsletter}", name), form=form)
    return Response(html, status, content_type="text/html; charset=utf-8")


def button_form(action: str, label: str, css_class: str = "") -> str:
    shown = f' class="{css_class}"' if css_class else ""
    return (f'<form method="post" action="{attribute(action)}"{shown}>'
            f'<button type="submit">{text(label)}</button></form>')


def checkboxes(legend: str, sections: dict[str, str], chosen: tuple[str, ...]) -> str:
    if not sections:
        return ""
    boxes = "".join(
        f'<label class="choice"><input type="checkbox" name="sections" value="{attribute(name)}"'
        f'{" checked" if name in chosen else ""}> {text(label)}</label>'
        for name, label in sections.items())
    return f"<fieldset><legend>{text(legend)}</legend>{boxes}</fieldset>"


def signup_form(action: str, labels: dict[str, str], sections: dict[str, str],
                consent: str) -> str:
    """The sign-up form, also what a newsroom pastes into its own pages (docs/joining.md)."""
    return (
        f'<form method="post" action="{attribute(action)}">'
        f'<label>{text(labels["subscribe_email"])}'
        '<input type="email" name="email" required autocomplete="email" maxlength="254"></label>'
        f'<label>{text(labels["subscribe_name"])}'
        '<input type="text" name="name" autocomplete="name" maxlength="120"></label>'
        + checkboxes(labels["subscribe_sections"], sections, ())
        # a field people never see, that robots filling every field do
        + '<label class="trap" aria-hidden="true">Website<input type="text" name="website" '
        'tabindex="-1" autocomplete="off"></label>'
        f'<label class="choice"><input type="checkbox" name="consent" value="yes" required> '
        f"{text(consent)}</label>"
        f'<button type="submit">{text(labels["subscribe_button"])}</button></form>'
    )


def preferences_form(action: str, labels: dict[str, str], name: str,
                     sections: dict[str, str], chosen: tuple[str, ...], language: str,
                     languages: dict[str, str]) -> str:
    options = "".join(f'<option value="{attribute(code)}"{" selected" if code == language else ""}>'
                      f"{text(shown)}</option>" for code, shown in languages.items())
    return (
        f'<form method="post" action="{attribute(action)}">'
        f'<label>{text(labels["subscribe_name"])}<input type="text" name="name" '
        f'value="{attribute(name)}" autocomplete="name" maxlength="120"></label>'
        + checkboxes(labels["subscribe_sections"], sections, chosen)
        + f'<label>{text(labels["preferences_language"])}<select name="language">{options}'
        f'</select></label><button type="submit">{text(labels["preferences_save"])}</button>'
        "</form>"
    )
