"""MJML's rules over rendered templates (digest/rendering/mjml_lint.py): the component list is
MJML's own, and each mistake is named at its template's line."""

import json
import subprocess
from datetime import date

import pytest
from conftest import REPO

from digest.rendering.mjml_lint import lint, mark, schema, unmarked

NODE = REPO / ".ci" / "node"


def test_the_component_list_is_the_one_of_the_mjml_package_tests_run_sh_installs():
    # tests/run.sh installs mjml (.ci/node/package-lock.json) beside axe-core and html-validate
    assert (NODE / "node_modules" / "mjml").is_dir(), "run tests/run.sh to install .ci/node"
    made = subprocess.run(["node", str(NODE / "mjml_schema.js")], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    kept = (REPO / "digest" / "rendering" / "mjml_schema.json").read_text(encoding="utf-8")
    assert json.loads(made) == json.loads(kept), "regenerate digest/rendering/mjml_schema.json"
    assert {"mj-text", "mj-section", "mj-column", "mj-button", "mjml"} <= set(schema())


def lines_of(template: str, name: str = "t.mjml.j2") -> list[tuple[str, int, str]]:
    return [(f.name, f.line, f.message) for f in lint(mark(template, name))]


WRAP = ("<mjml>\n<mj-body>\n<mj-section>\n<mj-column>\n{}\n</mj-column>\n</mj-section>\n"
        "</mj-body>\n</mjml>")


def test_a_correct_template_has_no_finding_and_its_marks_leave_no_trace():
    source = WRAP.format('<mj-text css-class="x" mj-class="y" padding="0">Texte <b>gras</b>'
                         '</mj-text>\n<mj-image src="a.png" alt="" />')
    assert lines_of(source) == []
    assert unmarked(mark(source, "t.mjml.j2")) == source
    assert mark(source, "t.mjml.j2").count("<!--@") == source.count("<mj") + source.count("</mj")


@pytest.mark.parametrize("inner, expected", [
    ("<mj-txet>x</mj-txet>", [(5, "<mj-txet> is not an MJML tag (did you mean <mj-text>?)")]),
    ('<mj-text paddng="1px">x</mj-text>',
     [(5, '<mj-text> has no attribute "paddng" (did you mean "padding"?); MRML ignores it')]),
    ("<mj-section>\n<mj-column>x</mj-column></mj-section>",
     [(5, "<mj-section> cannot be inside <mj-column>; it goes inside <mj-body>, <mj-wrapper>")]),
    ("<mj-text>x", [(5, "<mj-text> is never closed; add </mj-text>")]),
    ("<mj-button>ok</mj-button>\n</mj-text>",
     [(6, "</mj-text> closes nothing: no <mj-text> is open here; remove it or add the "
          "opening tag")]),
    ("<mj-group>\n<mj-spacer />",
     [(5, "<mj-group> cannot be inside <mj-column>; it goes inside <mj-section>"),
      (6, "<mj-spacer> cannot be inside <mj-group>; it goes inside <mj-column>, "
          "<mj-hero>"),
      (5, "<mj-group> is not closed before </mj-column> (t.mjml.j2:7); add </mj-group>")]),
])
def test_each_mistake_is_named_at_its_line(inner, expected):
    assert lines_of(WRAP.format(inner)) == [("t.mjml.j2", line, message)
                                             for line, message in expected]


def test_a_partial_repeated_in_a_loop_is_named_once(newsletter):
    """An editor's blurb with a typo, rendered once per blurb: one line, not one per blurb."""
    for n in range(4):
        newsletter.article(f"a{n}", f"Texte distinct {n}. " * 20, title=f"Sujet {n}",
                           group=False)
    templates = newsletter.root / "templates"
    templates.mkdir()
    source = (REPO / "templates" / "blurb.mjml.j2").read_text()
    assert "<mj-text" in source
    (templates / "blurb.mjml.j2").write_text(source.replace("<mj-text", "<mj-txet", 1)
                                             .replace("</mj-text>", "</mj-txet>", 1))
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0, result.stderr
    named = [line for line in result.stderr.splitlines() if "<mj-txet>" in line]
    assert len(named) == 1 and named[0].startswith("warning: templates/blurb.mjml.j2:"), named


def test_mjml_in_a_comment_is_no_tag():
    source = WRAP.format("<!-- <mj-section> the old layout\n <mj-txet> -->\n<mj-text>x</mj-text>")
    assert lines_of(source) == []
    assert unmarked(mark(source, "t.mjml.j2")) == source
    assert lines_of(WRAP.format("<!-- a note --><mj-txet>x</mj-txet>")) == [
        ("t.mjml.j2", 5, "<mj-txet> is not an MJML tag (did you mean <mj-text>?)")]


def test_the_content_of_an_ending_tag_is_html_not_mjml():
    # an mj-text holds HTML: an <mj-…> written in it is its text, as MJML reads it
    assert lines_of(WRAP.format("<mj-text><p>écrire &lt;mj-txet&gt;</p><mj-x></mj-text>")) == []
    assert lines_of(WRAP.format("<mj-raw><div><!-- x --></div></mj-raw>")) == []


def test_mj_attributes_take_any_tag_with_that_tags_own_attributes():
    head = ("<mjml lang=\"fr\">\n<mj-head>\n<mj-attributes>\n<mj-all font-family=\"Arial\" />\n"
            "<mj-class name=\"small\" font-size=\"12px\" />\n<mj-text colr=\"red\" />\n"
            "</mj-attributes>\n</mj-head>\n<mj-body></mj-body>\n</mjml>")
    assert lines_of(head) == [
        ("t.mjml.j2", 6, '<mj-text> has no attribute "colr" (did you mean "color"?); MRML '
                         "ignores it")]


def test_the_built_in_theme_breaks_no_rule(newsletter):
    """Every branch of the theme (the sample edition where every field is set), rendered."""
    from digest.check import sample_edition
    from digest.config import load_config
    from digest.rendering.render import render, web_page

    config = load_config(newsletter.config)
    problems: list = []
    edition = sample_edition(date(2025, 4, 22), config.tz)
    render(edition, config, problems)
    web_page(edition, config, problems)
    assert problems == []
