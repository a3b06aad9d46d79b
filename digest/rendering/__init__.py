"""Rendering: an Edition made into its Email. Jinja2 templates (the built-in theme and an
editor's overrides, theme.py) → MJML, checked by MJML's own rules (mjml_lint.py) → HTML (MRML) →
inlined CSS (inliner.py), with the lead's body as the email shows it (lead_body.py)."""
